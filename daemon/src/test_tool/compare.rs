//! Compares what a pipeline wrote with what a test case expects, and says every
//! difference as a diff a person can act on.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

use super::format::{Expect, ExpectedError};

/// What a run wrote: rows per object key, and dead letters in key order.
#[derive(Debug, Default)]
pub struct Written {
    pub objects: BTreeMap<String, Vec<Value>>,
    pub errors: Vec<Value>,
}

/// Every difference between `written` and `expect`; empty when the case passes.
pub fn differences(expect: &Expect, written: &Written) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut claimed = vec![false; written.objects.len()];
    for (wanted, rows) in &expect.objects {
        let expected = parse_lines(rows).map_err(|e| format!("expect.objects.{wanted}: {e}"))?;
        let mut actual = Vec::new();
        for (i, (key, got)) in written.objects.iter().enumerate() {
            if key == wanted || folder(key) == wanted.trim_end_matches('/') {
                claimed[i] = true;
                actual.extend(got.iter().cloned());
            }
        }
        if let Some(diff) = diff_rows(&expected, &actual) {
            out.push(format!("rows under `{wanted}`:\n{diff}"));
        }
    }
    for (i, (key, rows)) in written.objects.iter().enumerate() {
        if !claimed[i] {
            out.push(format!(
                "unexpected object `{key}` ({} rows); first: {}",
                rows.len(),
                rows.first().map_or(String::new(), Value::to_string)
            ));
        }
    }
    out.extend(error_differences(&expect.errors, &written.errors));
    Ok(out)
}

fn folder(key: &str) -> &str {
    key.rsplit_once('/').map_or("", |(f, _)| f)
}

fn parse_lines(text: &str) -> Result<Vec<Value>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("row {}: not JSON: {e}", i + 1)))
        .collect()
}

/// A line-by-line diff of expected and actual rows (`-` expected, `+` actual), or
/// `None` when each expected row matches the actual row at its place.
fn diff_rows(expected: &[Value], actual: &[Value]) -> Option<String> {
    let same =
        expected.len() == actual.len() && expected.iter().zip(actual).all(|(e, a)| matches(e, a));
    if same {
        return None;
    }
    let mut diff = String::new();
    if expected.len() != actual.len() {
        writeln!(
            diff,
            "  expected {} rows, got {}",
            expected.len(),
            actual.len()
        )
        .unwrap();
    }
    for i in 0..expected.len().max(actual.len()) {
        match (expected.get(i), actual.get(i)) {
            (Some(e), Some(a)) if matches(e, a) => writeln!(diff, "    {e}").unwrap(),
            (e, a) => {
                if let Some(e) = e {
                    writeln!(diff, "  - {e}").unwrap();
                }
                if let Some(a) = a {
                    // Only the fields the expectation names, so the difference stands out.
                    let shown = e.map_or(a.clone(), |e| narrowed(e, a));
                    writeln!(diff, "  + {shown}").unwrap();
                }
            }
        }
    }
    Some(diff)
}

/// Whether `actual` has every field `expected` names, with the same value (objects
/// compared the same way, field by field; anything else compared whole).
fn matches(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| matches(v, av))),
        (Value::Number(e), Value::Number(a)) => e.as_f64() == a.as_f64(),
        _ => expected == actual,
    }
}

/// `actual` cut down to the fields `expected` names.
fn narrowed(expected: &Value, actual: &Value) -> Value {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => Value::Object(
            e.iter()
                .map(|(k, ev)| {
                    let av = a
                        .get(k)
                        .map_or(Value::String("<missing>".into()), |av| narrowed(ev, av));
                    (k.clone(), av)
                })
                .collect(),
        ),
        _ => actual.clone(),
    }
}

fn error_differences(expected: &[ExpectedError], actual: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    if expected.len() != actual.len() {
        let types: Vec<&str> = actual
            .iter()
            .filter_map(|a| a["error_type"].as_str())
            .collect();
        out.push(format!(
            "expected {} dead letters, got {} ({})",
            expected.len(),
            actual.len(),
            types.join(", ")
        ));
    }
    for (i, (e, a)) in expected.iter().zip(actual).enumerate() {
        let (ty, reason, raw) = (
            a["error_type"].as_str().unwrap_or_default(),
            a["reason"].as_str().unwrap_or_default(),
            a["raw"]
                .as_str()
                .or(a["raw_base64"].as_str())
                .unwrap_or_default(),
        );
        let fits = ty == e.error_type
            && e.reason
                .as_ref()
                .is_none_or(|r| reason.contains(r.as_str()))
            && e.raw.as_ref().is_none_or(|r| raw_contains(raw, r));
        if !fits {
            out.push(format!(
                "dead letter {}:\n  - type {}{}{}\n  + type {ty}, reason {reason:?}, raw {raw:?}",
                i + 1,
                e.error_type,
                e.reason
                    .as_ref()
                    .map_or(String::new(), |r| format!(", reason containing {r:?}")),
                e.raw
                    .as_ref()
                    .map_or(String::new(), |r| format!(", raw containing {r:?}")),
            ));
        }
    }
    out
}

/// Whether the record a dead letter keeps contains `wanted`: as kept, or once decoded
/// when it is base64 (binary records, and records of base64 input lines).
fn raw_contains(raw: &str, wanted: &str) -> bool {
    use base64::Engine;
    raw.contains(wanted)
        || base64::engine::general_purpose::STANDARD
            .decode(raw)
            .is_ok_and(|bytes| String::from_utf8_lossy(&bytes).contains(wanted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_match_on_the_fields_they_name_and_numbers_by_value() {
        assert!(matches(&json!({"a": 1}), &json!({"a": 1.0, "b": 2})));
        assert!(matches(
            &json!({"c": {"d": "x"}}),
            &json!({"c": {"d": "x", "e": 1}})
        ));
        assert!(!matches(&json!({"a": 1}), &json!({"b": 1})));
        assert!(!matches(&json!({"a": [1]}), &json!({"a": [1, 2]})));
    }

    #[test]
    fn a_difference_shows_the_expected_and_the_narrowed_actual_row() {
        let diff = diff_rows(
            &[json!({"id": 1, "email": "***"})],
            &[json!({"id": 1, "email": "a@b.c", "x": 0})],
        )
        .unwrap();
        assert_eq!(
            diff,
            "  - {\"id\":1,\"email\":\"***\"}\n  + {\"id\":1,\"email\":\"a@b.c\"}\n"
        );
        let missing =
            diff_rows(&[json!({"id": 1}), json!({"id": 2})], &[json!({"id": 1})]).unwrap();
        assert!(
            missing.starts_with("  expected 2 rows, got 1\n    {\"id\":1}\n  - {\"id\":2}\n"),
            "{missing}"
        );
    }
}

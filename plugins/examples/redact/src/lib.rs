//! `redact`: masks configured JSON fields (e.g. email, phone) wherever they occur.
//!
//! Config: `fields` (comma-separated names, required), `mask` (default `***`),
//! `keep_last` (characters to leave visible at the end, default 0).

use serde_json::Value;
use weir_plugin::{Config, Output, Record, Transform};

pub struct Redact {
    fields: Vec<String>,
    mask: String,
    keep_last: usize,
}

impl Redact {
    /// Masks every matching field of a document, at any depth; true if any was.
    pub fn redact(&self, value: &mut Value) -> bool {
        match value {
            Value::Object(map) => {
                let mut changed = false;
                for (k, v) in map.iter_mut() {
                    if self.fields.iter().any(|f| f == k) && !v.is_null() {
                        *v = Value::String(self.masked(v));
                        changed = true;
                    } else {
                        changed |= self.redact(v);
                    }
                }
                changed
            }
            Value::Array(items) => items
                .iter_mut()
                .fold(false, |changed, v| self.redact(v) | changed),
            _ => false,
        }
    }

    fn masked(&self, v: &Value) -> String {
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let chars: Vec<char> = text.chars().collect();
        let keep = self.keep_last.min(chars.len());
        let tail: String = chars[chars.len() - keep..].iter().collect();
        format!("{}{tail}", self.mask)
    }

    /// The whole transform on raw bytes: what the plugin does for one record.
    pub fn apply(&self, value: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let mut doc: Value =
            serde_json::from_slice(value).map_err(|e| format!("value is not valid JSON: {e}"))?;
        if !self.redact(&mut doc) {
            return Ok(None);
        }
        serde_json::to_vec(&doc)
            .map(Some)
            .map_err(|e| e.to_string())
    }
}

impl Transform for Redact {
    fn init(config: &Config) -> Result<Self, String> {
        config.only(&["fields", "mask", "keep_last"])?;
        let fields: Vec<String> = config
            .list("fields")
            .into_iter()
            .map(String::from)
            .collect();
        if fields.is_empty() {
            return Err("`fields` must name at least one field to redact".into());
        }
        let keep_last = match config.get("keep_last") {
            Some(n) => n
                .parse()
                .map_err(|_| format!("`keep_last` must be a number, got `{n}`"))?,
            None => 0,
        };
        Ok(Self {
            fields,
            mask: config.get("mask").unwrap_or("***").to_string(),
            keep_last,
        })
    }

    fn process(&mut self, record: &Record<'_>) -> Result<Output, String> {
        Ok(match self.apply(record.value)? {
            Some(v) => Output::value(v),
            None => Output::keep(),
        })
    }
}

weir_plugin::export!(Redact);

#[cfg(test)]
mod tests {
    use super::*;
    use weir_plugin::testing::Harness;

    #[test]
    fn masks_fields_at_any_depth() {
        let mut h =
            Harness::<Redact>::new(&[("fields", "email, phone"), ("keep_last", "2")]).unwrap();
        let out = h.run(&[
            r#"{"id":1,"customer":{"email":"ann@example.com","phone":"555-0100"},"items":[{"email":"x@y.z"}]}"#,
            r#"{"id":2,"note":"nothing to hide"}"#,
        ]);
        assert_eq!(
            out.records[0].json(),
            serde_json::json!({"id":1,"customer":{"email":"***om","phone":"***00"},"items":[{"email":"***.z"}]})
        );
        assert_eq!(
            out.records[1].text(),
            r#"{"id":2,"note":"nothing to hide"}"#
        );
        assert!(out.errors.is_empty());
    }

    #[test]
    fn invalid_json_is_a_record_error() {
        let mut h = Harness::<Redact>::new(&[("fields", "email")]).unwrap();
        let out = h.run(&["not json", r#"{"email":"a"}"#]);
        assert_eq!(out.records.len(), 1);
        assert_eq!(out.errors[0].0, 0);
        assert!(out.errors[0].1.starts_with("value is not valid JSON"));
    }

    #[test]
    fn config_is_checked() {
        assert!(Harness::<Redact>::new(&[]).is_err());
        let err = Harness::<Redact>::new(&[("fields", "a"), ("keep_last", "x")])
            .err()
            .unwrap();
        assert_eq!(err, "`keep_last` must be a number, got `x`");
    }
}

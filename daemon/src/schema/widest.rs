//! The widest Avro reader schema of a subject: its newest version's record plus every
//! field an older version has and the newest lacks, made nullable with a `null` default.
//! Data written with any of those versions reads into it without losing a field, so one
//! set of columns serves them all and files do not split when producers flip versions.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema};
use serde_json::{Map, Value};

/// The same for Arrow columns (used for Protobuf): columns of older versions that the
/// newest lacks are appended as nullable, and columns an older version lacks become
/// nullable (its records have no value for them); nested structs merge the same way.
pub fn widen_arrow(newest: &Schema, older: &[Schema]) -> Schema {
    let mut fields = newest.fields().clone();
    for old in older {
        fields = widen_fields(&fields, old.fields());
    }
    Schema::new(fields)
}

fn widen_fields(into: &Fields, from: &Fields) -> Fields {
    let mut out: Vec<Field> = into
        .iter()
        .map(|f| {
            let f = f.as_ref().clone();
            if from.find(f.name()).is_some() {
                f
            } else {
                f.with_nullable(true)
            }
        })
        .collect();
    for f in from {
        match out.iter_mut().find(|o| o.name() == f.name()) {
            Some(o) => {
                if let (DataType::Struct(a), DataType::Struct(b)) = (o.data_type(), f.data_type()) {
                    let merged = widen_fields(a, b);
                    *o = o.clone().with_data_type(DataType::Struct(merged));
                }
            }
            None => out.push(f.as_ref().clone().with_nullable(true)),
        }
    }
    Fields::from(out.into_iter().map(Arc::new).collect::<Vec<_>>())
}

/// Merges the fields of `older` records (newest first) into `newest`.
pub fn widest(newest: &Value, older: &[Value]) -> Value {
    let mut merged = newest.clone();
    for old in older {
        merge_record(&mut merged, old);
    }
    merged
}

fn merge_record(into: &mut Value, from: &Value) {
    let Some(from_fields) = from.get("fields").and_then(Value::as_array) else {
        return;
    };
    let Some(into_fields) = into.get_mut("fields").and_then(Value::as_array_mut) else {
        return;
    };
    for field in from_fields {
        let Some(name) = field.get("name").and_then(Value::as_str) else {
            continue;
        };
        match into_fields
            .iter_mut()
            .find(|f| f.get("name").and_then(Value::as_str) == Some(name))
        {
            Some(existing) => {
                if let (Some(a), Some(b)) = (record_of(existing), record_of_ref(field)) {
                    let b = b.clone();
                    merge_record(a, &b);
                }
            }
            None => into_fields.push(nullable(field)),
        }
    }
}

/// The record schema of a field's type, directly or inside a `[null, record]` union.
fn record_of(field: &mut Value) -> Option<&mut Value> {
    let t = field.get_mut("type")?;
    if is_record(t) {
        return Some(t);
    }
    t.as_array_mut()?.iter_mut().find(|b| is_record(b))
}

fn record_of_ref(field: &Value) -> Option<&Value> {
    let t = field.get("type")?;
    if is_record(t) {
        return Some(t);
    }
    t.as_array()?.iter().find(|b| is_record(b))
}

fn is_record(t: &Value) -> bool {
    t.get("type").and_then(Value::as_str) == Some("record")
}

/// The field as an optional one: `null` first in its union, default `null`.
fn nullable(field: &Value) -> Value {
    let mut f: Map<String, Value> = field.as_object().cloned().unwrap_or_default();
    let t = f.remove("type").unwrap_or(Value::Null);
    let branches = match t {
        Value::Array(mut branches) => {
            branches.retain(|b| b != "null");
            branches
        }
        other => vec![other],
    };
    let mut union = vec![Value::from("null")];
    union.extend(branches);
    f.insert("type".into(), Value::Array(union));
    f.insert("default".into(), Value::Null);
    Value::Object(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_fields_the_newest_version_dropped() {
        let v1 = json!({"type": "record", "name": "R", "fields": [
            {"name": "id", "type": "long"},
            {"name": "note", "type": "string"},
            {"name": "geo", "type": {"type": "record", "name": "G", "fields": [
                {"name": "lat", "type": "double"}, {"name": "alt", "type": "double"}]}}
        ]});
        let v2 = json!({"type": "record", "name": "R", "fields": [
            {"name": "id", "type": "long"},
            {"name": "geo", "type": {"type": "record", "name": "G", "fields": [
                {"name": "lat", "type": "double"}]}},
            {"name": "tag", "type": ["null", "string"], "default": null}
        ]});
        let w = widest(&v2, &[v1]);
        let names: Vec<&str> = w["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["id", "geo", "tag", "note"]);
        assert_eq!(w["fields"][3]["type"], json!(["null", "string"]));
        assert_eq!(w["fields"][3]["default"], Value::Null);
        assert_eq!(w["fields"][1]["type"]["fields"][1]["name"], "alt");
        apache_avro::Schema::parse_str(&w.to_string()).expect("the merged schema parses");
    }
}

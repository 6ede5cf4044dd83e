//! Avro schemas describing JSON records: the Arrow mapping and a validator that walks a
//! parsed JSON value against the schema (plain JSON, not Avro's JSON encoding).

use std::sync::Arc;

use apache_avro::Schema as Avro;
use apache_avro::schema::{RecordSchema, UnionSchema};
use arrow_schema::{DataType, Field, Fields, Schema, TimeUnit};
use sonic_rs::{JsonContainerTrait, JsonValueTrait};

use super::record_json::{Value, member};

pub fn to_arrow(schema: &Avro) -> Result<Schema, String> {
    match schema {
        Avro::Record(r) => Ok(Schema::new(record_fields(r)?)),
        _ => Err("the top level of an Avro record schema must be a `record`".into()),
    }
}

fn record_fields(r: &RecordSchema) -> Result<Fields, String> {
    r.fields
        .iter()
        .map(|f| {
            let (t, nullable) = convert(&f.schema)?;
            Ok(Field::new(&f.name, t, nullable))
        })
        .collect::<Result<Vec<_>, String>>()
        .map(Fields::from)
}

fn non_null(u: &UnionSchema) -> Option<&Avro> {
    match u.variants() {
        [Avro::Null, t] | [t, Avro::Null] => Some(t),
        _ => None,
    }
}

fn convert(schema: &Avro) -> Result<(DataType, bool), String> {
    let t = match schema {
        Avro::Union(u) => {
            let inner = non_null(u).ok_or("unions other than [null, T] have no column type")?;
            return convert(inner).map(|(t, _)| (t, true));
        }
        Avro::Null => DataType::Null,
        Avro::Boolean => DataType::Boolean,
        Avro::Int => DataType::Int32,
        Avro::Long => DataType::Int64,
        Avro::Float => DataType::Float32,
        Avro::Double => DataType::Float64,
        Avro::String | Avro::Uuid | Avro::Enum(_) => DataType::Utf8,
        Avro::Date => DataType::Date32,
        Avro::TimestampMillis | Avro::LocalTimestampMillis => {
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
        }
        Avro::TimestampMicros | Avro::LocalTimestampMicros => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        }
        Avro::Array(a) => {
            let (item, null) = convert(&a.items)?;
            DataType::List(Arc::new(Field::new("item", item, null)))
        }
        Avro::Map(m) => {
            let (value, null) = convert(&m.types)?;
            let entries = Fields::from(vec![
                Field::new("keys", DataType::Utf8, false),
                Field::new("values", value, null),
            ]);
            DataType::Map(
                Arc::new(Field::new("entries", DataType::Struct(entries), false)),
                false,
            )
        }
        Avro::Record(r) => DataType::Struct(record_fields(r)?),
        other => {
            return Err(format!(
                "Avro type {other:?} is not supported for JSON records"
            ));
        }
    };
    Ok((t, matches!(schema, Avro::Null)))
}

/// Checks a JSON record against an Avro schema; the error names the path.
pub fn validate(schema: &Avro, value: &Value) -> Result<(), String> {
    check(schema, value, &mut String::new())
}

fn check(schema: &Avro, v: &Value, path: &mut String) -> Result<(), String> {
    let fail = |expected: &str, path: &str| {
        let at = if path.is_empty() { "record" } else { path };
        Err(format!("{at}: expected {expected}, got {}", kind(v)))
    };
    let timestamp = matches!(
        schema,
        Avro::TimestampMillis
            | Avro::TimestampMicros
            | Avro::LocalTimestampMillis
            | Avro::LocalTimestampMicros
    );
    match schema {
        Avro::Union(u) => match non_null(u) {
            Some(_) if v.is_null() => Ok(()),
            Some(inner) => check(inner, v, path),
            None => fail("a supported union", path),
        },
        Avro::Null if v.is_null() => Ok(()),
        Avro::Boolean if v.is_boolean() => Ok(()),
        Avro::Int | Avro::Date if v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()) => Ok(()),
        Avro::Long if v.as_i64().is_some() => Ok(()),
        Avro::Float | Avro::Double if v.is_number() => Ok(()),
        Avro::String | Avro::Uuid | Avro::Date if v.is_str() => Ok(()),
        _ if timestamp && v.as_i64().is_some() => Ok(()),
        _ if timestamp && v.is_str() => {
            let s = v.as_str().unwrap_or_default();
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|_| ())
                .map_err(|_| format!("{path}: `{s}` is not an RFC 3339 timestamp"))
        }
        Avro::Enum(e) => match v.as_str() {
            Some(s) if e.symbols.iter().any(|x| x == s) => Ok(()),
            Some(s) => Err(format!(
                "{path}: `{s}` is not one of the symbols {:?}",
                e.symbols
            )),
            None => fail(&format!("one of {:?}", e.symbols), path),
        },
        Avro::Array(a) if v.is_array() => {
            let len = path.len();
            for (i, item) in v.as_array().into_iter().flat_map(|x| x.iter()).enumerate() {
                path.push_str(&format!("[{i}]"));
                check(&a.items, item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Avro::Map(m) if v.is_object() => {
            let len = path.len();
            for (k, item) in v.as_object().into_iter().flat_map(|o| o.iter()) {
                path.push_str(&format!(".{k}"));
                check(&m.types, item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Avro::Record(r) if v.is_object() => check_record(r, v, path),
        Avro::Boolean => fail("a boolean", path),
        Avro::Int | Avro::Date => fail("a 32-bit integer", path),
        Avro::Long => fail("a 64-bit integer", path),
        Avro::Float | Avro::Double => fail("a number", path),
        Avro::Array(_) => fail("an array", path),
        Avro::Map(_) | Avro::Record(_) => fail("an object", path),
        _ => fail("a string", path),
    }
}

fn check_record(r: &RecordSchema, v: &Value, path: &mut String) -> Result<(), String> {
    let o = v.as_object().expect("checked to be an object");
    if let Some((extra, _)) = o.iter().find(|(k, _)| !r.lookup.contains_key(*k)) {
        return Err(format!(
            "{}{extra}: field is not in the schema",
            if path.is_empty() {
                String::new()
            } else {
                format!("{path}.")
            }
        ));
    }
    let len = path.len();
    for f in &r.fields {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(&f.name);
        match member(o, &f.name) {
            Some(item) => check(&f.schema, item, path)?,
            None if f.default.is_some()
                || matches!(&f.schema, Avro::Union(u) if non_null(u).is_some()) => {}
            None => return Err(format!("{path}: required field is missing")),
        }
        path.truncate(len);
    }
    Ok(())
}

fn kind(v: &Value) -> &'static str {
    match v.get_type() {
        sonic_rs::JsonType::Null => "null",
        sonic_rs::JsonType::Boolean => "a boolean",
        sonic_rs::JsonType::Number => "a number",
        sonic_rs::JsonType::String => "a string",
        sonic_rs::JsonType::Array => "an array",
        sonic_rs::JsonType::Object => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonic_rs::json;

    const SCHEMA: &str = r#"{"type": "record", "name": "Click", "fields": [
        {"name": "id", "type": "string"},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "ref", "type": ["null", "string"], "default": null},
        {"name": "tags", "type": {"type": "array", "items": "string"}}
    ]}"#;

    #[test]
    fn maps_and_validates() {
        let s = Avro::parse_str(SCHEMA).unwrap();
        let arrow = to_arrow(&s).unwrap();
        assert_eq!(
            arrow.field(1).data_type(),
            &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
        );
        assert!(arrow.field(2).is_nullable());
        assert!(validate(&s, &json!({"id": "a", "at": 1, "tags": []})).is_ok());
        assert_eq!(
            validate(&s, &json!({"id": "a", "tags": []})).unwrap_err(),
            "at: required field is missing"
        );
        assert_eq!(
            validate(&s, &json!({"id": "a", "at": 1, "tags": [1]})).unwrap_err(),
            "tags[0]: expected a string, got a number"
        );
        assert_eq!(
            validate(&s, &json!({"id": "a", "at": 1, "tags": [], "x": 1})).unwrap_err(),
            "x: field is not in the schema"
        );
    }
}

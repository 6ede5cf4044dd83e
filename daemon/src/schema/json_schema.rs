//! JSON Schema to Arrow: objects become structs, arrays lists, `date-time` strings UTC
//! timestamps, `date` strings dates; a property is nullable unless it is required and
//! its type excludes `null`.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema, TimeUnit};
use serde_json::Value;

pub fn to_arrow(root: &Value) -> Result<Schema, String> {
    let (data_type, _) = convert(root, root, "")?;
    match data_type {
        DataType::Struct(fields) => Ok(Schema::new(fields)),
        _ => Err("the top level of a record schema must be an object with `properties`".into()),
    }
}

/// Returns the Arrow type and whether the schema itself admits `null`.
fn convert(schema: &Value, root: &Value, at: &str) -> Result<(DataType, bool), String> {
    let schema = resolve_ref(schema, root, at)?;
    if let Some(options) = schema
        .get("anyOf")
        .or_else(|| schema.get("oneOf"))
        .and_then(Value::as_array)
    {
        let (nulls, others): (Vec<&Value>, Vec<&Value>) = options
            .iter()
            .partition(|o| o.get("type").and_then(Value::as_str) == Some("null"));
        return match others.as_slice() {
            [one] => convert(one, root, at).map(|(t, n)| (t, n || !nulls.is_empty())),
            _ => Err(format!(
                "`{at}`: anyOf/oneOf is only supported as one type or null"
            )),
        };
    }
    let (ty, nullable) = type_of(schema, at)?;
    let data_type = match ty {
        "object" => object(schema, root, at)?,
        "array" => {
            let items = schema
                .get("items")
                .ok_or_else(|| format!("`{at}`: an array needs `items` to have a column type"))?;
            let (item, item_null) = convert(items, root, &format!("{at}[]"))?;
            DataType::List(Arc::new(Field::new("item", item, item_null)))
        }
        "string" => match schema.get("format").and_then(Value::as_str) {
            Some("date-time") => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Some("date") => DataType::Date32,
            _ => DataType::Utf8,
        },
        "integer" => DataType::Int64,
        "number" => DataType::Float64,
        "boolean" => DataType::Boolean,
        other => return Err(format!("`{at}`: type `{other}` has no column type")),
    };
    Ok((data_type, nullable))
}

fn object(schema: &Value, root: &Value, at: &str) -> Result<DataType, String> {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return match schema.get("additionalProperties") {
            Some(values @ Value::Object(_)) => {
                let (value, value_null) = convert(values, root, &format!("{at}.*"))?;
                let entries = Fields::from(vec![
                    Field::new("keys", DataType::Utf8, false),
                    Field::new("values", value, value_null),
                ]);
                Ok(DataType::Map(
                    Arc::new(Field::new("entries", DataType::Struct(entries), false)),
                    false,
                ))
            }
            _ => Err(format!(
                "`{}`: an object needs `properties`, or `additionalProperties` with a schema, to have columns",
                if at.is_empty() { "(root)" } else { at }
            )),
        };
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let fields = props
        .iter()
        .map(|(name, prop)| {
            let path = if at.is_empty() {
                name.clone()
            } else {
                format!("{at}.{name}")
            };
            let (t, null) = convert(prop, root, &path)?;
            Ok(Field::new(
                name,
                t,
                null || !required.contains(&name.as_str()),
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(DataType::Struct(Fields::from(fields)))
}

/// The declared type, allowing `["T", "null"]`; `enum`/`const` without a type are strings.
fn type_of<'s>(schema: &'s Value, at: &str) -> Result<(&'s str, bool), String> {
    match schema.get("type") {
        Some(Value::String(t)) => Ok((t.as_str(), false)),
        Some(Value::Array(ts)) => {
            let names: Vec<&str> = ts.iter().filter_map(Value::as_str).collect();
            let nullable = names.contains(&"null");
            match names
                .iter()
                .filter(|t| **t != "null")
                .collect::<Vec<_>>()
                .as_slice()
            {
                [one] => Ok((one, nullable)),
                _ => Err(format!(
                    "`{at}`: a column needs one type (optionally with null), got {names:?}"
                )),
            }
        }
        None if schema.get("enum").is_some() || schema.get("const").is_some() => {
            Ok(("string", false))
        }
        None if schema.get("properties").is_some() => Ok(("object", false)),
        _ => Err(format!(
            "`{}`: no `type`; every property needs one to be a column",
            if at.is_empty() { "(root)" } else { at }
        )),
    }
}

fn resolve_ref<'s>(schema: &'s Value, root: &'s Value, at: &str) -> Result<&'s Value, String> {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let pointer = r.strip_prefix('#').ok_or_else(|| {
                format!("`{at}`: only local references (`#/$defs/...`) are supported")
            })?;
            let target = root
                .pointer(pointer)
                .ok_or_else(|| format!("`{at}`: `{r}` points nowhere"))?;
            resolve_ref(target, root, at)
        }
        None => Ok(schema),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_types_and_nullability() {
        let schema = to_arrow(&json!({
            "type": "object",
            "required": ["id", "at"],
            "properties": {
                "id": {"type": "string"},
                "at": {"type": "string", "format": "date-time"},
                "n": {"type": ["integer", "null"]},
                "tags": {"type": "array", "items": {"type": "string"}},
                "geo": {"$ref": "#/$defs/geo"}
            },
            "$defs": {"geo": {"type": "object", "required": ["lat"], "properties": {"lat": {"type": "number"}}}}
        }))
        .unwrap();
        let f = |n: &str| schema.field_with_name(n).unwrap().clone();
        assert_eq!(f("id").data_type(), &DataType::Utf8);
        assert!(!f("id").is_nullable());
        assert_eq!(
            f("at").data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(f("n").data_type(), &DataType::Int64);
        assert!(f("n").is_nullable());
        assert!(matches!(f("tags").data_type(), DataType::List(_)));
        let DataType::Struct(geo) = f("geo").data_type().clone() else {
            panic!()
        };
        assert_eq!(geo[0].data_type(), &DataType::Float64);
    }

    #[test]
    fn untyped_property_is_an_error() {
        let err = to_arrow(&json!({"type": "object", "properties": {"x": {}}})).unwrap_err();
        assert_eq!(
            err,
            "`x`: no `type`; every property needs one to be a column"
        );
    }
}

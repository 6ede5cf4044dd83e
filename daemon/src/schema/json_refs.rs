//! JSON Schema references: a version whose `$ref`s name other subjects' schemas (by the
//! references' names, e.g. `customer.json#/$defs/address`) is made self-contained. Each
//! referenced document moves under `$defs/ref-N` of the root and every `$ref` to it
//! becomes a local pointer, so the validator and the column mapping read one document.

use std::borrow::Cow;

use serde_json::Value;

use super::registry::{Import, Version};

impl Version {
    /// The JSON Schema text with the documents of its references embedded.
    pub fn json_text(&self) -> Result<Cow<'_, str>, String> {
        if self.imports.is_empty() {
            return Ok(Cow::Borrowed(&self.text));
        }
        let mut root: Value = serde_json::from_str(&self.text)
            .map_err(|e| format!("version {} is not valid JSON: {e}", self.version))?;
        let mut embedded = serde_json::Map::new();
        for (k, import) in self.imports.iter().enumerate() {
            let mut doc: Value = serde_json::from_str(&import.text)
                .map_err(|e| format!("reference `{}` is not JSON: {e}", import.name))?;
            if let Some(o) = doc.as_object_mut() {
                // Its own id and dialect would change how the pointers resolve.
                o.remove("$id");
                o.remove("$schema");
            }
            rewrite(&mut doc, &self.imports, Some(k))?;
            embedded.insert(format!("ref-{k}"), doc);
        }
        rewrite(&mut root, &self.imports, None)?;
        let Some(o) = root.as_object_mut() else {
            return Err("the schema is not an object".into());
        };
        let defs = o
            .entry("$defs")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        let Some(defs) = defs.as_object_mut() else {
            return Err("`$defs` is not an object".into());
        };
        defs.extend(embedded);
        Ok(Cow::Owned(root.to_string()))
    }
}

/// Points every `$ref` of a document (the root, or embedded import `within`) at the
/// embedded copies.
fn rewrite(node: &mut Value, imports: &[Import], within: Option<usize>) -> Result<(), String> {
    match node {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get_mut("$ref") {
                *r = target(r, imports, within)?;
            }
            for (key, child) in o.iter_mut() {
                if key != "$ref" {
                    rewrite(child, imports, within)?;
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                rewrite(item, imports, within)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn target(r: &str, imports: &[Import], within: Option<usize>) -> Result<String, String> {
    let (name, fragment) = r.split_once('#').unwrap_or((r, ""));
    let base = match (name, within) {
        ("", None) => return Ok(r.to_string()),
        ("", Some(k)) => k,
        (name, _) => imports
            .iter()
            .position(|i| i.name == name || i.name.trim_start_matches("./") == name)
            .ok_or_else(|| {
                let names: Vec<&str> = imports.iter().map(|i| i.name.as_str()).collect();
                format!(
                    "`$ref: {r}` names no reference of this version (references: {})",
                    names.join(", ")
                )
            })?,
    };
    Ok(format!("#/$defs/ref-{base}{fragment}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Schema, SchemaType, schema_id};

    #[test]
    fn referenced_documents_are_embedded_and_pointers_follow() {
        let customer = r##"{"$id": "https://example.com/customer.json", "type": "object",
            "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
            "required": ["name"],
            "$defs": {"address": {"type": "object", "properties": {"city": {"type": "string"}}}}}"##;
        let order = r#"{"type": "object", "properties": {
            "id": {"type": "integer"},
            "customer": {"$ref": "customer.json"},
            "ship_to": {"$ref": "customer.json#/$defs/address"}}, "required": ["id"]}"#;
        let v = Version {
            subject: "orders".into(),
            version: 1,
            schema_type: SchemaType::Json,
            text: order.into(),
            id: schema_id(SchemaType::Json, order),
            path: "orders/1.json".into(),
            references: Vec::new(),
            imports: vec![Import {
                name: "customer.json".into(),
                text: customer.into(),
            }],
        };
        let schema = Schema::compile(&v).unwrap();
        let names: Vec<String> = schema
            .arrow
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["id", "customer", "ship_to"]);
        let ok = sonic_rs::json!({"id": 1, "customer": {"name": "a", "address": {"city": "b"}},
                                    "ship_to": {"city": "c"}});
        assert!(schema.validate(&ok).is_ok());
        let bad = sonic_rs::json!({"id": 1, "customer": {"address": {"city": 5}}});
        assert!(schema.validate(&bad).is_err());
        let dangling = Version {
            text: r#"{"type": "object", "properties": {"x": {"$ref": "nope.json"}}}"#.into(),
            ..v
        };
        assert!(
            dangling
                .json_text()
                .unwrap_err()
                .contains("names no reference")
        );
    }
}

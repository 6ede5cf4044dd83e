//! Avro schema references: a version that uses named types from other subjects is made
//! self-contained by writing each referenced definition out at its first use, as one
//! Avro document must. Every reader (compatibility, columns, the binary decoder) then
//! sees a plain schema.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::registry::Version;

const PRIMITIVES: &[&str] = &[
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

impl Version {
    /// The Avro schema text with the named types of its references written in.
    pub fn avro_text(&self) -> Result<Cow<'_, str>, String> {
        if self.imports.is_empty() {
            return Ok(Cow::Borrowed(&self.text));
        }
        let mut defs = HashMap::new();
        for import in &self.imports {
            let doc: Value = serde_json::from_str(&import.text)
                .map_err(|e| format!("reference `{}` is not JSON: {e}", import.name))?;
            collect(&doc, "", &mut defs);
        }
        let mut doc: Value = serde_json::from_str(&self.text)
            .map_err(|e| format!("version {} is not valid JSON: {e}", self.version))?;
        let mut inliner = Inliner {
            defs,
            defined: HashSet::new(),
        };
        inliner.visit(&mut doc, "");
        Ok(Cow::Owned(doc.to_string()))
    }
}

fn full_name(name: &str, namespace: Option<&str>, enclosing: &str) -> String {
    if name.contains('.') {
        return name.to_string();
    }
    match namespace.unwrap_or(enclosing) {
        "" => name.to_string(),
        ns => format!("{ns}.{name}"),
    }
}

/// The namespace a named type gives the types nested in it.
fn namespace_of(full: &str) -> &str {
    full.rsplit_once('.').map(|(ns, _)| ns).unwrap_or("")
}

/// If `o` defines a named type, its full name.
fn defined_name(o: &serde_json::Map<String, Value>, enclosing: &str) -> Option<String> {
    let kind = o.get("type")?.as_str()?;
    if !matches!(kind, "record" | "error" | "enum" | "fixed") {
        return None;
    }
    let name = o.get("name")?.as_str()?;
    Some(full_name(
        name,
        o.get("namespace").and_then(Value::as_str),
        enclosing,
    ))
}

/// Every named type defined in `node`, by full name, with its name written in full so
/// that it means the same wherever it is inlined.
fn collect(node: &Value, enclosing: &str, out: &mut HashMap<String, Value>) {
    match node {
        Value::Object(o) => {
            let mut inner = enclosing.to_string();
            if let Some(full) = defined_name(o, enclosing) {
                let mut def = o.clone();
                def.insert("name".into(), Value::String(full.clone()));
                def.remove("namespace");
                inner = namespace_of(&full).to_string();
                out.entry(full).or_insert(Value::Object(def));
            }
            o.values().for_each(|v| collect(v, &inner, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, enclosing, out)),
        _ => {}
    }
}

struct Inliner {
    defs: HashMap<String, Value>,
    defined: HashSet<String>,
}

impl Inliner {
    /// Walks a type position; a name not defined yet that a reference defines is
    /// replaced by its definition.
    fn visit(&mut self, node: &mut Value, enclosing: &str) {
        match node {
            Value::String(name) if !PRIMITIVES.contains(&name.as_str()) => {
                let candidates = [full_name(name, None, enclosing), name.clone()];
                let Some(full) = candidates
                    .into_iter()
                    .find(|n| !self.defined.contains(n) && self.defs.contains_key(n))
                else {
                    return;
                };
                *node = self.defs[&full].clone();
                self.visit(node, enclosing);
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.visit(i, enclosing)),
            Value::Object(o) => {
                let mut inner = enclosing.to_string();
                if let Some(full) = defined_name(o, enclosing) {
                    inner = namespace_of(&full).to_string();
                    self.defined.insert(full);
                }
                match o.get("type").and_then(Value::as_str) {
                    Some("record" | "error") => {
                        if let Some(Value::Array(fields)) = o.get_mut("fields") {
                            for f in fields.iter_mut().filter_map(|f| f.get_mut("type")) {
                                self.visit(f, &inner);
                            }
                        }
                    }
                    Some("array") => {
                        if let Some(items) = o.get_mut("items") {
                            self.visit(items, &inner);
                        }
                    }
                    Some("map") => {
                        if let Some(values) = o.get_mut("values") {
                            self.visit(values, &inner);
                        }
                    }
                    Some("enum" | "fixed") => {}
                    _ => {
                        if let Some(t) = o.get_mut("type") {
                            self.visit(t, &inner);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Import, SchemaType, schema_id};

    fn version(text: &str, imports: &[(&str, &str)]) -> Version {
        Version {
            subject: "orders".into(),
            version: 1,
            schema_type: SchemaType::Avro,
            text: text.into(),
            id: schema_id(SchemaType::Avro, text),
            path: "orders/1.avsc".into(),
            references: Vec::new(),
            imports: imports
                .iter()
                .map(|(n, t)| Import {
                    name: n.to_string(),
                    text: t.to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn referenced_types_are_written_at_first_use_only() {
        let money = r#"{"type": "record", "name": "Money", "namespace": "shop",
            "fields": [{"name": "currency", "type": {"type": "enum", "name": "Currency",
                        "symbols": ["EUR", "USD"]}},
                       {"name": "cents", "type": "long"}]}"#;
        let order = r#"{"type": "record", "name": "Order", "namespace": "shop",
            "fields": [{"name": "total", "type": "Money"},
                       {"name": "tax", "type": ["null", "shop.Money"]},
                       {"name": "fallback", "type": "Currency"}]}"#;
        let v = version(order, &[("shop.Money", money)]);
        let text = v.avro_text().unwrap();
        let schema = apache_avro::Schema::parse_str(&text).expect("self-contained schema");
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["fields"][0]["type"]["name"], "shop.Money");
        assert_eq!(doc["fields"][1]["type"][1], "shop.Money");
        assert_eq!(doc["fields"][2]["type"], "Currency");
        assert!(matches!(schema, apache_avro::Schema::Record(_)));
    }

    #[test]
    fn without_references_the_text_is_unchanged() {
        let v = version(r#"{"type": "string"}"#, &[]);
        assert!(matches!(v.avro_text().unwrap(), Cow::Borrowed(_)));
    }
}

//! Whether JSON written against one JSON Schema is valid against another, following
//! Confluent's rules for the parts that matter to columns: types (integer widens to
//! number), required properties, closed and open content models, enums, array items,
//! and local `$ref`s. Other keywords (patterns, lengths, bounds) are not compared.

use serde_json::Value;

pub fn can_read(writer: &Value, reader: &Value) -> Result<(), String> {
    Pair {
        writer_root: writer,
        reader_root: reader,
    }
    .check(writer, reader, "")
}

struct Pair<'a> {
    writer_root: &'a Value,
    reader_root: &'a Value,
}

impl Pair<'_> {
    fn check(&self, w: &Value, r: &Value, at: &str) -> Result<(), String> {
        let w = resolve(w, self.writer_root);
        let r = resolve(r, self.reader_root);
        if r == &Value::Bool(true) || r.as_object().is_some_and(|o| o.is_empty()) {
            return Ok(());
        }
        let place = if at.is_empty() { "the record" } else { at };
        let (wt, rt) = (types(w), types(r));
        if let (Some(wt), Some(rt)) = (&wt, &rt) {
            for t in wt {
                let widened = *t == "integer" && rt.contains(&"number");
                if !rt.contains(t) && !widened {
                    return Err(format!(
                        "{place}: type `{t}` is no longer allowed (now {rt:?})"
                    ));
                }
            }
        }
        if let Some(r_enum) = r.get("enum").and_then(Value::as_array) {
            match w.get("enum").and_then(Value::as_array) {
                Some(w_enum) => {
                    if let Some(v) = w_enum.iter().find(|v| !r_enum.contains(v)) {
                        return Err(format!("{place}: enum value {v} was removed"));
                    }
                }
                None => return Err(format!("{place}: an enum was added to an open value")),
            }
        }
        if let (Some(wi), Some(ri)) = (w.get("items"), r.get("items")) {
            self.check(wi, ri, &format!("{at}[]"))?;
        }
        self.properties(w, r, at)
    }

    fn properties(&self, w: &Value, r: &Value, at: &str) -> Result<(), String> {
        let empty = serde_json::Map::new();
        let wp = w
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let rp = r
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        if wp.is_empty() && rp.is_empty() {
            return Ok(());
        }
        let path = |name: &str| {
            if at.is_empty() {
                name.to_string()
            } else {
                format!("{at}.{name}")
            }
        };
        let w_required = required(w);
        for name in required(r) {
            if !w_required.contains(&name) {
                return Err(format!(
                    "`{}` became required; data written before may lack it",
                    path(name)
                ));
            }
        }
        let r_closed = closed(r);
        let w_closed = closed(w);
        for (name, ws) in wp {
            match rp.get(name) {
                Some(rs) => self.check(ws, rs, &path(name))?,
                None if r_closed => {
                    return Err(format!(
                        "`{}` was removed from a closed content model (additionalProperties: false)",
                        path(name)
                    ));
                }
                None => {}
            }
        }
        for name in rp.keys().filter(|n| !wp.contains_key(*n)) {
            if !w_closed {
                return Err(format!(
                    "`{}` was added to an open content model: data written before may hold \
                     `{}` with any type; close the writer's model (additionalProperties: false) \
                     or use compatibility NONE",
                    path(name),
                    path(name)
                ));
            }
        }
        Ok(())
    }
}

fn resolve<'v>(schema: &'v Value, root: &'v Value) -> &'v Value {
    match schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|p| root.pointer(p))
    {
        Some(target) => resolve(target, root),
        None => schema,
    }
}

fn types(schema: &Value) -> Option<Vec<&str>> {
    match schema.get("type")? {
        Value::String(t) => Some(vec![t.as_str()]),
        Value::Array(ts) => Some(ts.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

fn required(schema: &Value) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn closed(schema: &Value) -> bool {
    schema.get("additionalProperties") == Some(&Value::Bool(false))
}

//! `explode`: one output record per element of an array field.
//!
//! Config: `field` (dotted path to the array, required), `into` (name of the field
//! that holds the element in each output, default the last segment of `field`),
//! `index` (if set, the name of a field that receives the element's position).
//! Each output is the record with the array replaced by one element. An empty or
//! missing array produces no output.

use serde_json::Value;
use weir_plugin::{Config, Output, Record, Transform};

pub struct Explode {
    path: Vec<String>,
    into: String,
    index: Option<String>,
}

impl Transform for Explode {
    fn init(config: &Config) -> Result<Self, String> {
        config.only(&["field", "into", "index"])?;
        let field = config.require("field")?;
        let path: Vec<String> = field.split('.').map(String::from).collect();
        let into = config
            .get("into")
            .unwrap_or(&path[path.len() - 1])
            .to_string();
        Ok(Self {
            path,
            into,
            index: config.get("index").map(String::from),
        })
    }

    fn process(&mut self, record: &Record<'_>) -> Result<Output, String> {
        let mut doc: Value = record.json()?;
        let (last, parents) = self.path.split_last().expect("path is never empty");
        let parent = parents
            .iter()
            .try_fold(&mut doc, |v, k| v.get_mut(k))
            .and_then(Value::as_object_mut);
        let Some(parent) = parent else {
            return Ok(Output::drop());
        };
        let items = match parent.remove(last) {
            Some(Value::Array(items)) => items,
            None | Some(Value::Null) => return Ok(Output::drop()),
            Some(_) => return Err(format!("field `{}` is not an array", self.path.join("."))),
        };
        let mut outputs = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let mut one = doc.clone();
            let target = parents
                .iter()
                .try_fold(&mut one, |v, k| v.get_mut(k))
                .and_then(Value::as_object_mut)
                .expect("the parent object exists in every copy");
            target.insert(self.into.clone(), item);
            if let Some(name) = &self.index {
                target.insert(name.clone(), Value::from(i));
            }
            outputs.push(serde_json::to_vec(&one).map_err(|e| e.to_string())?);
        }
        Ok(Output::many(outputs))
    }
}

weir_plugin::export!(Explode);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use weir_plugin::testing::Harness;

    #[test]
    fn one_record_per_element() {
        let mut h =
            Harness::<Explode>::new(&[("field", "items"), ("into", "item"), ("index", "n")])
                .unwrap();
        let out = h.run(&[
            r#"{"id":1,"items":[{"sku":"a"},{"sku":"b"}]}"#,
            r#"{"id":2,"items":[]}"#,
            r#"{"id":3,"items":"x"}"#,
        ]);
        let docs: Vec<_> = out.records.iter().map(|r| (r.parent, r.json())).collect();
        assert_eq!(
            docs,
            vec![
                (0, json!({"id":1,"item":{"sku":"a"},"n":0})),
                (0, json!({"id":1,"item":{"sku":"b"},"n":1})),
            ]
        );
        assert_eq!(
            out.errors,
            vec![(2, "field `items` is not an array".to_string())]
        );
    }

    #[test]
    fn nested_arrays() {
        let mut h = Harness::<Explode>::new(&[("field", "order.lines")]).unwrap();
        let out = h.run(&[r#"{"order":{"id":9,"lines":[1,2]}}"#]);
        assert_eq!(out.records[1].json(), json!({"order":{"id":9,"lines":2}}));
    }
}

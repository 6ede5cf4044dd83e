//! `route`: sets a partition key from a record field, for prefixes such as
//! `region=!{partition:region}/`.
//!
//! Config: `field` (dotted path, required), `key` (partition key name, default the
//! last segment of `field`), `default` (used when the field is missing or null;
//! without it such a record is an error).

use serde_json::Value;
use weir_plugin::{Config, Output, Record, Transform, json_path};

pub struct Route {
    field: String,
    key: String,
    default: Option<String>,
}

impl Transform for Route {
    fn init(config: &Config) -> Result<Self, String> {
        config.only(&["field", "key", "default"])?;
        let field = config.require("field")?.to_string();
        let key = config
            .get("key")
            .unwrap_or_else(|| field.rsplit('.').next().unwrap_or(&field))
            .to_string();
        Ok(Self {
            field,
            key,
            default: config.get("default").map(String::from),
        })
    }

    fn process(&mut self, record: &Record<'_>) -> Result<Output, String> {
        let doc: Value = record.json()?;
        let value = match json_path(&doc, &self.field) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => self.default.clone().ok_or_else(|| {
                format!("field `{}` is missing and no default is set", self.field)
            })?,
            Some(other) => other.to_string(),
        };
        Ok(Output::keep().partition(&self.key, value))
    }
}

weir_plugin::export!(Route);

#[cfg(test)]
mod tests {
    use super::*;
    use weir_plugin::testing::Harness;

    #[test]
    fn keys_records_by_field() {
        let mut h = Harness::<Route>::new(&[("field", "customer.region")]).unwrap();
        let out = h.run(&[r#"{"customer":{"region":"eu"}}"#, r#"{"customer":{}}"#]);
        assert_eq!(
            out.records[0].partitions,
            vec![("region".into(), "eu".into())]
        );
        assert_eq!(out.records[0].text(), r#"{"customer":{"region":"eu"}}"#);
        assert_eq!(out.errors[0].0, 1);
    }

    #[test]
    fn default_and_key_name() {
        let mut h =
            Harness::<Route>::new(&[("field", "r"), ("key", "zone"), ("default", "none")]).unwrap();
        let out = h.run(&[r#"{"r":7}"#, r#"{"x":1}"#]);
        let keys: Vec<_> = out
            .records
            .iter()
            .map(|r| r.partitions[0].clone())
            .collect();
        assert_eq!(
            keys,
            vec![("zone".into(), "7".into()), ("zone".into(), "none".into())]
        );
    }
}

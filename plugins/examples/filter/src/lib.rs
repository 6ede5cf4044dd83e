//! `filter`: keeps the records whose field matches a condition, drops the rest.
//!
//! Config: `field` (dotted path, required) and one of `equals`, `not_equals`,
//! `in` (comma-separated), `exists` (`true`/`false`), `greater_than`, `less_than`
//! (numbers). A value is compared as text (`"eu"` and `eu` match; so do `1` and `"1"`).

use serde_json::Value;
use weir_plugin::{Config, Output, Record, Transform, json_path};

pub struct Filter {
    field: String,
    condition: Condition,
}

enum Condition {
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    Exists(bool),
    GreaterThan(f64),
    LessThan(f64),
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Filter {
    pub fn keeps(&self, doc: &Value) -> bool {
        let found = json_path(doc, &self.field).filter(|v| !v.is_null());
        match (&self.condition, found) {
            (Condition::Exists(want), v) => v.is_some() == *want,
            (Condition::NotEquals(x), None) => !x.is_empty(),
            (_, None) => false,
            (Condition::Equals(x), Some(v)) => text(v) == *x,
            (Condition::NotEquals(x), Some(v)) => text(v) != *x,
            (Condition::In(xs), Some(v)) => xs.contains(&text(v)),
            (Condition::GreaterThan(x), Some(v)) => v.as_f64().is_some_and(|n| n > *x),
            (Condition::LessThan(x), Some(v)) => v.as_f64().is_some_and(|n| n < *x),
        }
    }
}

impl Transform for Filter {
    fn init(config: &Config) -> Result<Self, String> {
        let ops = [
            "equals",
            "not_equals",
            "in",
            "exists",
            "greater_than",
            "less_than",
        ];
        config.only(&[&["field"][..], &ops].concat())?;
        let field = config.require("field")?.to_string();
        let set: Vec<&str> = ops
            .iter()
            .copied()
            .filter(|o| config.get(o).is_some())
            .collect();
        let [op] = set[..] else {
            return Err(format!("set exactly one of: {}", ops.join(", ")));
        };
        let arg = config.require(op)?;
        let number = || {
            arg.parse::<f64>()
                .map_err(|_| format!("`{op}` must be a number, got `{arg}`"))
        };
        let condition = match op {
            "equals" => Condition::Equals(arg.into()),
            "not_equals" => Condition::NotEquals(arg.into()),
            "in" => Condition::In(config.list("in").into_iter().map(String::from).collect()),
            "exists" => Condition::Exists(
                arg.parse()
                    .map_err(|_| format!("`exists` must be true or false, got `{arg}`"))?,
            ),
            "greater_than" => Condition::GreaterThan(number()?),
            _ => Condition::LessThan(number()?),
        };
        Ok(Self { field, condition })
    }

    fn process(&mut self, record: &Record<'_>) -> Result<Output, String> {
        let doc: Value = record.json()?;
        Ok(if self.keeps(&doc) {
            Output::keep()
        } else {
            Output::drop()
        })
    }
}

weir_plugin::export!(Filter);

#[cfg(test)]
mod tests {
    use super::*;
    use weir_plugin::testing::Harness;

    fn kept(config: &[(&str, &str)], values: &[&str]) -> Vec<usize> {
        let mut h = Harness::<Filter>::new(config).unwrap();
        h.run(values).records.iter().map(|r| r.parent).collect()
    }

    #[test]
    fn conditions() {
        let docs = [
            r#"{"region":"eu","total":10,"c":{"vip":true}}"#,
            r#"{"region":"us","total":99.5}"#,
            r#"{"region":null,"total":"n/a"}"#,
        ];
        assert_eq!(
            kept(&[("field", "region"), ("equals", "eu")], &docs),
            vec![0]
        );
        assert_eq!(
            kept(&[("field", "region"), ("in", "us, eu")], &docs),
            vec![0, 1]
        );
        assert_eq!(
            kept(&[("field", "region"), ("not_equals", "eu")], &docs),
            vec![1, 2]
        );
        assert_eq!(
            kept(&[("field", "c.vip"), ("exists", "true")], &docs),
            vec![0]
        );
        assert_eq!(
            kept(&[("field", "total"), ("greater_than", "50")], &docs),
            vec![1]
        );
        assert_eq!(
            kept(&[("field", "total"), ("less_than", "50")], &docs),
            vec![0]
        );
    }

    #[test]
    fn config_needs_one_condition() {
        let err = Harness::<Filter>::new(&[("field", "a")]).err().unwrap();
        assert!(err.starts_with("set exactly one of"));
        let err = Harness::<Filter>::new(&[("field", "a"), ("greater_than", "x")])
            .err()
            .unwrap();
        assert_eq!(err, "`greater_than` must be a number, got `x`");
    }
}

//! Record fields as prefix templates and the event time read them: a dotted path into a
//! parsed record, whichever form it was parsed into, down to a scalar.

use serde_json::Number;
use sonic_rs::{JsonContainerTrait, JsonValueTrait};

/// A field's value, as far as a prefix or an event time cares.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    Str(&'a str),
    Number(Number),
    Bool(bool),
    /// Null, an array or an object.
    Other,
}

/// A parsed record whose fields can be read by path.
pub trait Fields {
    /// The value at `path` (object keys, outermost first), if every step exists.
    fn scalar(&self, path: &[String]) -> Option<Scalar<'_>>;
}

impl Fields for serde_json::Value {
    fn scalar(&self, path: &[String]) -> Option<Scalar<'_>> {
        use serde_json::Value;
        let value = path
            .iter()
            .try_fold(self, |v, key| v.as_object()?.get(key))?;
        Some(match value {
            Value::String(s) => Scalar::Str(s),
            Value::Number(n) => Scalar::Number(n.clone()),
            Value::Bool(b) => Scalar::Bool(*b),
            _ => Scalar::Other,
        })
    }
}

impl Fields for sonic_rs::Value {
    fn scalar(&self, path: &[String]) -> Option<Scalar<'_>> {
        use crate::schema::record_json::member;
        let value = path
            .iter()
            .try_fold(self, |v, key| member(v.as_object()?, key))?;
        if let Some(s) = value.as_str() {
            return Some(Scalar::Str(s));
        }
        if let Some(b) = value.as_bool() {
            return Some(Scalar::Bool(b));
        }
        let number = if let Some(u) = value.as_u64() {
            Number::from(u)
        } else if let Some(i) = value.as_i64() {
            Number::from(i)
        } else if let Some(f) = value.as_f64() {
            Number::from_f64(f)?
        } else {
            return Some(Scalar::Other);
        };
        Some(Scalar::Number(number))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_read_alike() {
        let text = br#"{"a": {"b": "x", "n": 42, "f": 1.5, "t": true, "z": null, "l": [1]}}"#;
        let serde: serde_json::Value = serde_json::from_slice(text).unwrap();
        let sonic = crate::schema::record_json::parse(text).unwrap();
        for key in ["b", "n", "f", "t", "z", "l", "missing"] {
            let path = vec!["a".to_string(), key.to_string()];
            assert_eq!(serde.scalar(&path), sonic.scalar(&path), "{key}");
        }
        let n = sonic.scalar(&["a".into(), "f".into()]).unwrap();
        assert_eq!(n, Scalar::Number(Number::from_f64(1.5).unwrap()));
    }
}

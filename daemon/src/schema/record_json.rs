//! JSON records in memory. A record is parsed once with sonic-rs into one compact value,
//! validated in place (the JSON Schema validator reads sonic-rs values through the
//! representation below), then serialized into Arrow columns. Building a
//! `serde_json::Value` instead costs several times the parse: a map and a string per
//! member, allocated and freed per record.
//!
//! A key written twice in one object reads as its last occurrence, as with serde_json and
//! Arrow's JSON decoder, so what is validated is what is stored.

use std::borrow::Cow;

use jsonschema::JsonType;
use jsonschema::json::{Array, Json, JsonNumber, Node, NodeIdentity, Object};
use sonic_rs::{JsonContainerTrait, JsonNumberTrait, JsonValueTrait};

pub use sonic_rs::Value;

/// Parses one record. Errors carry serde_json's wording (`expected value at line 1
/// column 1`), short and stable, which dead letters have always used.
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    sonic_rs::from_slice(bytes).map_err(|e| {
        match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Err(serde) => serde.to_string(),
            Ok(_) => e.to_string().lines().next().unwrap_or_default().to_string(),
        }
    })
}

/// The last member named `key`.
pub fn member<'a>(object: &'a sonic_rs::Object, key: &str) -> Option<&'a Value> {
    let mut found = None;
    for (name, value) in object.iter() {
        if name == key {
            found = Some(value);
        }
    }
    found
}

/// Records as the JSON Schema validator sees them.
pub struct SonicJson;

impl Json for SonicJson {
    type Node<'a> = &'a Value;
    type PreparedKey = String;
    type StringBuffer = Value;

    // A lookup scans the members, so a pass over the members is never dearer.
    const KEYS_PER_LOOKUP: usize = 16;

    fn prepare_key(key: &str) -> String {
        key.to_owned()
    }

    fn with_string_node<T>(buffer: &mut Value, string: &str, f: impl FnOnce(&Value) -> T) -> T {
        *buffer = Value::from(string);
        f(buffer)
    }
}

impl<'a> Node<'a, SonicJson> for &'a Value {
    type Object = &'a sonic_rs::Object;
    type Array = &'a sonic_rs::Array;
    type Number = Number;

    fn as_object(&self) -> Option<&'a sonic_rs::Object> {
        JsonContainerTrait::as_object(*self)
    }

    fn as_array(&self) -> Option<&'a sonic_rs::Array> {
        JsonContainerTrait::as_array(*self)
    }

    fn as_string(&self) -> Option<Cow<'a, str>> {
        JsonValueTrait::as_str(*self).map(Cow::Borrowed)
    }

    fn as_number(&self) -> Option<Number> {
        JsonValueTrait::as_number(*self).map(Number)
    }

    fn as_boolean(&self) -> Option<bool> {
        JsonValueTrait::as_bool(*self)
    }

    fn is_null(&self) -> bool {
        JsonValueTrait::is_null(*self)
    }

    fn is_number(&self) -> bool {
        JsonValueTrait::is_number(*self)
    }

    fn json_type(&self) -> JsonType {
        match self.get_type() {
            sonic_rs::JsonType::Null => JsonType::Null,
            sonic_rs::JsonType::Boolean => JsonType::Boolean,
            sonic_rs::JsonType::Number => JsonType::Number,
            sonic_rs::JsonType::String => JsonType::String,
            sonic_rs::JsonType::Array => JsonType::Array,
            sonic_rs::JsonType::Object => JsonType::Object,
        }
    }

    fn to_value(&self) -> Cow<'a, serde_json::Value> {
        Cow::Owned(to_serde(self))
    }

    fn identity(&self) -> Option<NodeIdentity> {
        Some(NodeIdentity::new(
            std::ptr::from_ref::<Value>(*self) as usize
        ))
    }
}

/// A record value as a `serde_json::Value`, for error messages and annotations.
pub fn to_serde(value: &Value) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

impl<'a> Object<'a, SonicJson> for &'a sonic_rs::Object {
    type Node = &'a Value;
    type MemberName = &'a str;
    type MembersIter = sonic_rs::value::object::Iter<'a>;

    fn len(&self) -> usize {
        sonic_rs::Object::len(self)
    }

    fn get(&self, key: &String) -> Option<&'a Value> {
        member(self, key)
    }

    fn members(&self) -> Self::MembersIter {
        self.iter()
    }
}

impl<'a> Array<'a, SonicJson> for &'a sonic_rs::Array {
    type Node = &'a Value;
    type ElementsIter = std::slice::Iter<'a, Value>;

    fn len(&self) -> usize {
        sonic_rs::Array::len(self)
    }

    fn elements(&self) -> Self::ElementsIter {
        self.as_slice().iter()
    }
}

/// A number of a record.
pub struct Number(sonic_rs::Number);

impl JsonNumber for Number {
    fn as_u64(&self) -> Option<u64> {
        self.0.as_u64()
    }

    fn as_i64(&self) -> Option<i64> {
        self.0.as_i64()
    }

    fn as_f64(&self) -> Option<f64> {
        self.0.as_f64()
    }

    fn as_str(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_number().to_string())
    }

    fn to_number(&self) -> Cow<'_, serde_json::Number> {
        let n = &self.0;
        Cow::Owned(if let Some(u) = n.as_u64() {
            u.into()
        } else if let Some(i) = n.as_i64() {
            i.into()
        } else {
            // sonic-rs refuses non-finite numbers, so every float converts.
            serde_json::Number::from_f64(n.as_f64().unwrap_or_default()).unwrap_or_else(|| 0.into())
        })
    }

    fn is_integer(&self) -> bool {
        let n = &self.0;
        n.is_u64() || n.is_i64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
    }

    fn is_written_as_integer(&self) -> bool {
        self.0.is_u64() || self.0.is_i64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_representation_meets_the_validators_contract() {
        let text = jsonschema::json::conformance::document().to_string();
        let value = parse(text.as_bytes()).unwrap();
        jsonschema::json::conformance::assert_conformance::<SonicJson>(&&value);
    }

    #[test]
    fn a_repeated_key_reads_as_its_last_occurrence() {
        let schema = serde_json::json!({"properties": {"n": {"type": "integer"}}});
        let validator = jsonschema::options_for::<SonicJson>()
            .build(&schema)
            .unwrap();
        let last_ok = parse(br#"{"n": "x", "n": 1}"#).unwrap();
        let last_bad = parse(br#"{"n": 1, "n": "x"}"#).unwrap();
        assert!(validator.is_valid(&last_ok));
        assert!(!validator.is_valid(&last_bad));
    }

    #[test]
    fn parse_errors_read_as_before() {
        assert_eq!(
            parse(b"{\"a\": tru}").unwrap_err(),
            "expected ident at line 1 column 10"
        );
        assert_eq!(
            parse(b"{} x").unwrap_err(),
            "trailing characters at line 1 column 4"
        );
    }

    #[test]
    fn numbers_keep_their_kind() {
        let v = parse(br#"[1, -2, 1.0, 18446744073709551615, 2.5e3]"#).unwrap();
        let kinds: Vec<(bool, bool, String)> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                let n = Number(n.as_number().unwrap());
                (n.is_integer(), n.is_written_as_integer(), n.as_str().into())
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                (true, true, "1".into()),
                (true, true, "-2".into()),
                (true, false, "1.0".into()),
                (true, true, "18446744073709551615".into()),
                (true, false, "2500.0".into()),
            ]
        );
    }
}

//! Schemas: a local registry directory, JSON Schema and Avro (`.avsc`) descriptions of
//! JSON records, each giving a validator and the Arrow schema of the Parquet columns.

mod avro;
mod json_schema;
mod registry;

pub use registry::{LocalRegistry, SchemaError};

use std::sync::Arc;

use arrow_schema::SchemaRef;
use serde_json::Value;

/// A resolved, compiled schema version.
pub struct Schema {
    pub subject: String,
    pub version: u32,
    /// The Parquet columns and their types.
    pub arrow: SchemaRef,
    validator: Validator,
}

enum Validator {
    Json(Box<jsonschema::Validator>),
    Avro(apache_avro::Schema),
}

impl Schema {
    /// Checks one parsed record; the error is the first reason it does not match.
    pub fn validate(&self, record: &Value) -> Result<(), String> {
        match &self.validator {
            Validator::Json(v) => v.validate(record).map_err(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            }),
            Validator::Avro(s) => avro::validate(s, record),
        }
    }

    pub(crate) fn from_json_schema(
        subject: &str,
        version: u32,
        doc: &Value,
    ) -> Result<Self, String> {
        let arrow = Arc::new(json_schema::to_arrow(doc)?);
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(doc)
            .map_err(|e| format!("invalid JSON Schema: {e}"))?;
        Ok(Self {
            subject: subject.into(),
            version,
            arrow,
            validator: Validator::Json(Box::new(validator)),
        })
    }

    pub(crate) fn from_avro(subject: &str, version: u32, text: &str) -> Result<Self, String> {
        let schema = apache_avro::Schema::parse_str(text)
            .map_err(|e| format!("invalid Avro schema: {e}"))?;
        let arrow = Arc::new(avro::to_arrow(&schema)?);
        Ok(Self {
            subject: subject.into(),
            version,
            arrow,
            validator: Validator::Avro(schema),
        })
    }
}

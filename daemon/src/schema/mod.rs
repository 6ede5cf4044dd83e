//! Schemas: a local registry directory of JSON Schema, Avro and Protobuf versions; the
//! compatibility rules between versions; and, per pipeline, the Parquet columns with
//! either a validator for JSON records or a decoder for Avro or Protobuf records.

mod avro;
mod avro_refs;
pub mod compat;
#[cfg(test)]
mod compat_tests;
mod id_index;
mod json_compat;
mod json_refs;
mod json_schema;
pub mod proto_print;
pub mod protobuf;
pub mod record_json;
mod registry;
pub mod remote;
mod resolve;
mod store;
mod widest;

pub use compat::Compatibility;
pub use id_index::IdIndex;
pub use registry::{
    Import, LocalRegistry, Reference, SchemaError, SchemaType, Version, schema_id, subject_dir,
};
pub use resolve::resolve;
pub use store::RegisterError;

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
    /// The decoder of Avro or Protobuf records; `None` for JSON records.
    pub wire: Option<crate::wire::WireSpec>,
    /// Versions whose records are refused, with the reason.
    pub refused: Vec<(u32, String)>,
    /// For JSON records: the framing and the schema ids records may name.
    pub frames: Option<crate::wire::json::JsonFrames>,
    /// Why the schema maps to no Parquet columns (`oneOf`, a property without `type`):
    /// records are still validated, but only a JSON-lines sink can take them.
    pub no_columns: Option<String>,
}

enum Validator {
    Json(Box<jsonschema::Validator<record_json::SonicJson>>),
    Avro(apache_avro::Schema),
    /// Binary records are checked by their decoder.
    Binary,
}

impl Schema {
    /// Checks one parsed record; the error is the first reason it does not match.
    pub fn validate(&self, record: &record_json::Value) -> Result<(), String> {
        match &self.validator {
            // The quick check first; the error is worked out only for a bad record.
            Validator::Json(v) if v.is_valid(record) => Ok(()),
            Validator::Json(v) => v.validate(record).map_err(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            }),
            Validator::Avro(s) => avro::validate(s, record),
            Validator::Binary => Ok(()),
        }
    }

    pub(crate) fn from_json_schema(
        subject: &str,
        version: u32,
        doc: &Value,
    ) -> Result<Self, String> {
        // Columns are needed by Parquet only; a raw archive validates against any schema.
        let (arrow, no_columns) = match json_schema::to_arrow(doc) {
            Ok(arrow) => (Arc::new(arrow), None),
            Err(reason) => (Arc::new(arrow_schema::Schema::empty()), Some(reason)),
        };
        let validator = jsonschema::options_for::<record_json::SonicJson>()
            .should_validate_formats(true)
            .build(doc)
            .map_err(|e| format!("invalid JSON Schema: {e}"))?;
        Ok(Self {
            subject: subject.into(),
            version,
            arrow,
            validator: Validator::Json(Box::new(validator)),
            wire: None,
            refused: Vec::new(),
            frames: None,
            no_columns,
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
            wire: None,
            refused: Vec::new(),
            frames: None,
            no_columns: None,
        })
    }

    /// The schema of records in a binary format, read by `wire`.
    pub(crate) fn binary(version: &Version, wire: crate::wire::WireSpec) -> Self {
        Self {
            subject: version.subject.clone(),
            version: version.version,
            arrow: wire.arrow().clone(),
            validator: Validator::Binary,
            wire: Some(wire),
            refused: Vec::new(),
            frames: None,
            no_columns: None,
        }
    }

    /// Compiles a version that describes JSON records.
    pub fn compile(v: &Version) -> Result<Self, String> {
        match v.schema_type {
            SchemaType::Avro => Self::from_avro(&v.subject, v.version, &v.avro_text()?),
            SchemaType::Json => {
                let doc =
                    serde_json::from_str(&v.json_text()?).map_err(|e| format!("not JSON: {e}"))?;
                Self::from_json_schema(&v.subject, v.version, &doc)
            }
            SchemaType::Protobuf => {
                let file = protobuf::compile_version(v, None)?;
                let message = protobuf::message(&file, None)?;
                protobuf::to_arrow(&message)?;
                Err(
                    "a .proto schema describes Protobuf records; set `schema.encoding: protobuf`"
                        .into(),
                )
            }
        }
    }
}

//! Binary record formats: framing (Confluent, Avro single-object, bare datums) and the
//! Avro and Protobuf decoders that turn records straight into Arrow rows, and the
//! framing of JSON records.

pub mod avro;
mod columns;
pub mod framing;
pub mod json;
pub mod proto_desc;
mod proto_plan;
mod proto_wire;
pub mod protobuf;

use serde::Deserialize;

use crate::record::ErrorKind;

/// Why a record could not be read, and the error kind it goes out with.
pub type Rejection = (ErrorKind, String);

/// The rejection of a record naming schema `id`, which this pipeline's subject does
/// not have: another subject's (`foreign`), or none in the registry.
pub fn unknown_id(id: u32, foreign: &std::collections::HashMap<u32, String>) -> Rejection {
    match foreign.get(&id) {
        Some(subject) => (
            ErrorKind::SchemaIncompatible,
            format!("schema id {id} belongs to subject `{subject}`, not this pipeline's"),
        ),
        None => (
            ErrorKind::UnknownSchemaId,
            format!("schema id {id} is not in the registry"),
        ),
    }
}

/// How record values are encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// One JSON document per record, validated against the schema.
    #[default]
    Json,
    Avro,
    Protobuf,
}

/// A binary format's decoder settings for one pipeline.
pub enum WireSpec {
    Avro(avro::AvroSpec),
    Protobuf(protobuf::ProtoSpec),
}

impl WireSpec {
    pub fn arrow(&self) -> &arrow_schema::SchemaRef {
        match self {
            Self::Avro(a) => &a.arrow,
            Self::Protobuf(p) => &p.arrow,
        }
    }
}

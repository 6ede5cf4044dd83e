//! The kinds of bad record, shared by every stage that can refuse one: decoding,
//! validation, transforms and prefix rendering.

/// The kinds of bad record; the name is what `!{error:type}` renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidJson,
    SchemaMismatch,
    PartitionFailed,
    ProcessingFailed,
    BadFraming,
    UnknownSchemaId,
    DecodeFailed,
    SchemaIncompatible,
    /// Longer than the source's record limit (`max_record_bytes`).
    RecordTooLarge,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidJson => "invalid-json",
            ErrorKind::SchemaMismatch => "schema-mismatch",
            ErrorKind::PartitionFailed => "partition-failed",
            ErrorKind::ProcessingFailed => "processing-failed",
            ErrorKind::BadFraming => "bad-framing",
            ErrorKind::UnknownSchemaId => "unknown-schema-id",
            ErrorKind::DecodeFailed => "decode-failed",
            ErrorKind::SchemaIncompatible => "schema-incompatible",
            ErrorKind::RecordTooLarge => "record-too-large",
        }
    }
}

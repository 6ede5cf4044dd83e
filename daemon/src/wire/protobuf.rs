//! Protobuf records to Arrow: each record is parsed with its own writer's descriptor
//! (named by Confluent framing and message indexes, or the pipeline's message for bare
//! records) and its fields are matched into the subject's widest columns by name.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;

use arrow_array::{Array, RecordBatch, StructArray};
use arrow_schema::{DataType, SchemaRef};
use prost_reflect::{DynamicMessage, FileDescriptor, MessageDescriptor};

use super::Rejection;
use super::columns::Col;
use super::framing::{Frame, Framing, message_indexes, split};
use crate::schema::protobuf::by_indexes;
use crate::sink::ErrorKind;

/// How records of one schema id are read.
#[derive(Debug, Clone)]
pub enum ProtoWriter {
    Readable(FileDescriptor),
    Refused(String),
}

pub struct ProtoSpec {
    framing: Framing,
    pub arrow: SchemaRef,
    writers: HashMap<u32, ProtoWriter>,
    /// The message bare records are parsed as.
    raw: MessageDescriptor,
    foreign: HashMap<u32, String>,
}

impl ProtoSpec {
    pub fn new(
        framing: Framing,
        arrow: SchemaRef,
        writers: HashMap<u32, ProtoWriter>,
        raw: MessageDescriptor,
        foreign: HashMap<u32, String>,
    ) -> Result<Self, String> {
        if framing == Framing::SingleObject {
            return Err(
                "single-object framing is Avro's; Protobuf records use `confluent` or `raw`".into(),
            );
        }
        Ok(Self {
            framing,
            arrow,
            writers,
            raw,
            foreign,
        })
    }

    fn message_of<'b>(&self, bytes: &'b [u8]) -> Result<(MessageDescriptor, &'b [u8]), Rejection> {
        let frame = split(self.framing, bytes).map_err(|e| (ErrorKind::BadFraming, e))?;
        let (id, body) = match frame {
            Frame::Raw(body) => return Ok((self.raw.clone(), body)),
            Frame::Confluent { id, body } => (id, body),
            Frame::SingleObject { .. } => {
                return Err((
                    ErrorKind::BadFraming,
                    "Avro single-object framing on a Protobuf record".into(),
                ));
            }
        };
        let file = match self.writers.get(&id) {
            Some(ProtoWriter::Readable(file)) => file,
            Some(ProtoWriter::Refused(reason)) => {
                return Err((ErrorKind::SchemaIncompatible, reason.clone()));
            }
            None => {
                return Err(match self.foreign.get(&id) {
                    Some(s) => (
                        ErrorKind::SchemaIncompatible,
                        format!("schema id {id} belongs to subject `{s}`, not this pipeline's"),
                    ),
                    None => (
                        ErrorKind::UnknownSchemaId,
                        format!("schema id {id} is not in the registry"),
                    ),
                });
            }
        };
        let (path, body) = message_indexes(body).map_err(|e| (ErrorKind::BadFraming, e))?;
        let message = by_indexes(file, &path).map_err(|e| (ErrorKind::SchemaIncompatible, e))?;
        if message.name() != self.raw.name() {
            return Err((
                ErrorKind::SchemaIncompatible,
                format!(
                    "record is a `{}`, the pipeline reads `{}`",
                    message.full_name(),
                    self.raw.full_name()
                ),
            ));
        }
        Ok((message, body))
    }

    pub fn rows(&self) -> ProtoRows<'_> {
        ProtoRows {
            spec: self,
            record: Col::new(&DataType::Struct(self.arrow.fields().clone())),
            rows: Vec::new(),
        }
    }
}

pub struct ProtoRows<'s> {
    spec: &'s ProtoSpec,
    record: Col,
    rows: Vec<usize>,
}

impl ProtoRows<'_> {
    /// Parses record `i`, whose value is `bytes`, and appends it; a record that fails
    /// leaves no trace.
    pub fn push(&mut self, i: usize, bytes: &[u8]) -> Result<(), Rejection> {
        let (message, body) = self.spec.message_of(bytes)?;
        let parsed =
            std::panic::catch_unwind(AssertUnwindSafe(|| DynamicMessage::decode(message, body)));
        let m = match parsed {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => return Err((ErrorKind::DecodeFailed, format!("corrupt Protobuf: {e}"))),
            Err(_) => {
                return Err((
                    ErrorKind::DecodeFailed,
                    "corrupt Protobuf: the parser failed".into(),
                ));
            }
        };
        self.record.append_message(&m);
        self.rows.push(i);
        Ok(())
    }

    pub fn finish(mut self) -> Option<(RecordBatch, Vec<usize>)> {
        if self.rows.is_empty() {
            return None;
        }
        let array = self.record.finish();
        let array = array
            .as_any()
            .downcast_ref::<StructArray>()
            .expect("records are structs")
            .clone();
        let batch = RecordBatch::from(array).with_schema(self.spec.arrow.clone());
        Some((batch.expect("columns follow the schema"), self.rows))
    }
}

//! Protobuf records to Arrow: each record is read with its own writer's descriptor
//! (named by Confluent framing and message indexes, or the pipeline's message for bare
//! records), straight from its bytes into the subject's widest columns, fields matched
//! by name (`proto_plan`).

use std::collections::HashMap;

use arrow_array::{Array, RecordBatch, StructArray};
use arrow_schema::{DataType, SchemaRef};
use prost_reflect::{FileDescriptor, MessageDescriptor};

use super::Rejection;
use super::columns::Col;
use super::framing::{Frame, Framing, indexes_match, message_indexes, split};
use super::proto_desc::{by_indexes, index_path};
use super::proto_plan::Plan;
use crate::record::ErrorKind;

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
    /// How bare records fill the columns.
    raw_plan: Plan,
    /// For each readable writer id: the message indexes of the pipeline's message in
    /// its file, and how that message fills the columns. Few, so searched in order.
    readers: Vec<(u32, Vec<usize>, Plan)>,
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
        let columns = &arrow.fields().clone();
        let mut readers = Vec::new();
        for (id, writer) in &writers {
            if let ProtoWriter::Readable(file) = writer {
                let message = super::proto_desc::message(file, Some(raw.full_name()))
                    .or_else(|_| super::proto_desc::message(file, Some(raw.name())));
                if let Ok(m) = message {
                    let path = index_path(file, &m).expect("a message of the file has a path");
                    readers.push((*id, path, Plan::new(&m, columns)));
                }
            }
        }
        Ok(Self {
            framing,
            arrow,
            writers,
            raw_plan: Plan::new(&raw, columns),
            raw,
            foreign,
            readers,
        })
    }

    /// The plan that reads a record, and the message bytes.
    fn plan_of<'b>(&self, bytes: &'b [u8]) -> Result<(&Plan, &'b [u8]), Rejection> {
        let frame = split(self.framing, bytes).map_err(|e| (ErrorKind::BadFraming, e))?;
        let (id, body) = match frame {
            Frame::Raw(body) => return Ok((&self.raw_plan, body)),
            Frame::Confluent { id, body } => (id, body),
            Frame::SingleObject { .. } => {
                return Err((
                    ErrorKind::BadFraming,
                    "Avro single-object framing on a Protobuf record".into(),
                ));
            }
        };
        // The common case: a known writer, and the pipeline's message.
        if let Some((_, path, plan)) = self.readers.iter().find(|(w, ..)| *w == id)
            && let Some(rest) = indexes_match(body, path)
        {
            return Ok((plan, rest));
        }
        let file = match self.writers.get(&id) {
            Some(ProtoWriter::Readable(file)) => file,
            Some(ProtoWriter::Refused(reason)) => {
                return Err((ErrorKind::SchemaIncompatible, reason.clone()));
            }
            None => return Err(super::unknown_id(id, &self.foreign)),
        };
        let (path, body) = message_indexes(body).map_err(|e| (ErrorKind::BadFraming, e))?;
        let message = by_indexes(file, &path).map_err(|e| (ErrorKind::SchemaIncompatible, e))?;
        match self.readers.iter().find(|(w, ..)| *w == id) {
            Some((_, _, plan)) if plan.full_name == message.full_name() => Ok((plan, body)),
            _ => Err((
                ErrorKind::SchemaIncompatible,
                format!(
                    "record is a `{}`, the pipeline reads `{}`",
                    message.full_name(),
                    self.raw.full_name()
                ),
            )),
        }
    }

    pub fn rows(&self) -> ProtoRows<'_> {
        ProtoRows {
            spec: self,
            record: self.empty(),
            rows: Vec::new(),
            bodies: Vec::new(),
            accepted: Vec::new(),
        }
    }

    fn empty(&self) -> Col {
        Col::new(&DataType::Struct(self.arrow.fields().clone()))
    }
}

pub struct ProtoRows<'s> {
    spec: &'s ProtoSpec,
    record: Col,
    rows: Vec<usize>,
    /// Copies of the accepted records' bodies, and the plan each was read with: a
    /// corrupt record is found while it is appended, and the rows are then rebuilt
    /// without it.
    bodies: Vec<u8>,
    accepted: Vec<(&'s Plan, std::ops::Range<usize>)>,
}

impl ProtoRows<'_> {
    /// Parses record `i`, whose value is `bytes`, and appends it; a record that fails
    /// leaves no trace.
    pub fn push(&mut self, i: usize, bytes: &[u8]) -> Result<(), Rejection> {
        let (plan, body) = self.spec.plan_of(bytes)?;
        if let Err(e) = plan.append(body, &mut self.record) {
            self.rebuild();
            return Err((ErrorKind::DecodeFailed, format!("corrupt Protobuf: {e}")));
        }
        let start = self.bodies.len();
        self.bodies.extend_from_slice(body);
        self.accepted.push((plan, start..self.bodies.len()));
        self.rows.push(i);
        Ok(())
    }

    /// Appends the accepted records again into fresh columns.
    fn rebuild(&mut self) {
        self.record = self.spec.empty();
        for (plan, range) in &self.accepted {
            plan.append(&self.bodies[range.clone()], &mut self.record)
                .expect("an accepted record reads again");
        }
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, Int64Type};

    use super::*;

    const PROTO: &str = r#"syntax = "proto3";
        message M {
          string id = 1;
          repeated int32 nums = 2;
          map<string, int64> attrs = 3;
          Inner inner = 4;
          repeated Inner items = 5;
          optional uint32 n = 6;
          message Inner { sint64 a = 1; string b = 2; }
        }"#;

    fn key(n: u32, wire: u32) -> Vec<u8> {
        varint(u64::from(n << 3 | wire))
    }
    fn varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
        out
    }
    fn len(n: u32, body: &[u8]) -> Vec<u8> {
        [key(n, 2), varint(body.len() as u64), body.to_vec()].concat()
    }
    fn int(n: u32, v: u64) -> Vec<u8> {
        [key(n, 0), varint(v)].concat()
    }

    #[test]
    fn wire_bytes_fill_columns_and_a_corrupt_record_leaves_no_row() {
        let file = crate::schema::protobuf::compile("m.proto", PROTO, &[], None).unwrap();
        let message = file.messages().next().unwrap();
        let arrow = Arc::new(crate::schema::protobuf::to_arrow(&message).unwrap());
        let spec =
            ProtoSpec::new(Framing::Raw, arrow, HashMap::new(), message, HashMap::new()).unwrap();
        let entry = |k: &str, v: u64| len(3, &[len(1, k.as_bytes()), int(2, v)].concat());
        let records = [
            // Packed numbers, a map, a nested message, a repeated message.
            [
                len(1, b"x"),
                len(2, &[1, 2, 3]),
                entry("k", 1),
                len(4, &[int(1, 9), len(2, b"q")].concat()),
                len(5, &int(1, 2)),
            ]
            .concat(),
            // A repeated map key (the last wins) and a message field written twice
            // (the occurrences merge).
            [
                entry("k", 1),
                entry("k", 2),
                len(4, &int(1, 14)),
                len(4, &len(2, b"z")),
            ]
            .concat(),
            // Corrupt deep inside: the second item's string is not UTF-8.
            [
                len(1, b"bad"),
                len(2, &[9]),
                len(5, &int(1, 2)),
                len(5, &len(2, &[0xff])),
            ]
            .concat(),
            // Unpacked numbers, and `optional` set.
            [len(1, b"y"), int(2, 4), int(2, 5), int(6, 7)].concat(),
        ];
        let mut rows = spec.rows();
        let results: Vec<bool> = records
            .iter()
            .enumerate()
            .map(|(i, r)| rows.push(i, r).is_ok())
            .collect();
        assert_eq!(results, [true, true, false, true]);
        let (batch, positions) = rows.finish().unwrap();
        assert_eq!(positions, [0, 1, 3]);
        let ids: Vec<&str> = batch
            .column(0)
            .as_string::<i32>()
            .iter()
            .flatten()
            .collect();
        assert_eq!(ids, ["x", "", "y"], "proto3 defaults for an absent string");
        let nums = batch.column(1).as_list::<i32>();
        let nums: Vec<Vec<i32>> = (0..3)
            .map(|i| nums.value(i).as_primitive::<Int32Type>().values().to_vec())
            .collect();
        assert_eq!(nums, [vec![1, 2, 3], vec![], vec![4, 5]]);
        let attrs = batch.column(2).as_map();
        let values = attrs.values().as_primitive::<Int64Type>();
        assert_eq!(attrs.value_offsets(), [0, 1, 2, 2]);
        assert_eq!(values.values().to_vec(), [1, 2]);
        let inner = batch.column(3).as_struct();
        let a = inner.column(0).as_primitive::<Int64Type>();
        assert_eq!(
            (a.value(0), a.value(1)),
            (-5, 7),
            "zigzag, and merged occurrences"
        );
        assert_eq!(inner.column(1).as_string::<i32>().value(1), "z");
        assert!(inner.is_null(2));
        assert_eq!(
            batch.column(4).as_list::<i32>().value_offsets(),
            [0, 1, 1, 1]
        );
        let n = batch
            .column(5)
            .as_primitive::<arrow_array::types::UInt32Type>();
        assert_eq!((n.is_null(0), n.value(2)), (true, 7));
    }

    #[test]
    fn wrong_wire_types_and_truncation_are_rejected() {
        let file = crate::schema::protobuf::compile("m.proto", PROTO, &[], None).unwrap();
        let message = file.messages().next().unwrap();
        let arrow = Arc::new(crate::schema::protobuf::to_arrow(&message).unwrap());
        let spec =
            ProtoSpec::new(Framing::Raw, arrow, HashMap::new(), message, HashMap::new()).unwrap();
        let mut rows = spec.rows();
        for (bad, why) in [
            (int(1, 5), "a String field holds a varint value"),
            (len(4, &[0x08]), "truncated varint"),
            (int(3, 1), "a map entry holds a varint value"),
            (vec![0x0a, 0x05, b'a'], "runs past the end"),
        ] {
            let (kind, reason) = rows.push(0, &bad).unwrap_err();
            assert_eq!(kind, ErrorKind::DecodeFailed);
            assert!(reason.contains(why), "{reason}");
        }
        assert!(rows.finish().is_none());
    }
}

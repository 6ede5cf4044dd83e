//! Parsed JSON values to Arrow columns, a chunk at a time, for one batch; each chunk is
//! flushed to its own Arrow batch and the chunks are joined at the end. A chunk that
//! Arrow rejects as a whole is retried value by value so only the bad ones are set aside.

use crate::position::Position;
use arrow_array::RecordBatch;
use arrow_json::reader::Decoder as JsonDecoder;
use arrow_schema::SchemaRef;

use crate::schema::record_json::Value;

/// The rows of a batch in Arrow, with each row's prefix index, source position and its
/// record's index in the source batch.
pub struct Converted {
    pub rows: RecordBatch,
    pub prefix: Vec<u32>,
    pub positions: Vec<Position>,
    pub indexes: Vec<usize>,
}

pub struct Columns {
    schema: SchemaRef,
    decoder: JsonDecoder,
    done: Vec<RecordBatch>,
    /// Per converted row: its prefix index, source position and index in the batch.
    prefix: Vec<u32>,
    positions: Vec<Position>,
    indexes: Vec<usize>,
}

impl Columns {
    pub fn new(schema: SchemaRef) -> Self {
        let decoder = Self::decoder(&schema);
        Self {
            schema,
            decoder,
            done: Vec::new(),
            prefix: Vec::new(),
            positions: Vec::new(),
            indexes: Vec::new(),
        }
    }

    fn decoder(schema: &SchemaRef) -> JsonDecoder {
        arrow_json::ReaderBuilder::new(schema.clone())
            .with_batch_size(1024)
            .build_decoder()
            .expect("schema-derived decoders build")
    }

    /// Appends `(batch index, prefix, value)` rows; returns the rows Arrow rejected with
    /// the reason, by batch index.
    pub fn append(
        &mut self,
        rows: Vec<(usize, u32, Value)>,
        position: impl Fn(usize) -> Position,
    ) -> Vec<(usize, String)> {
        if rows.is_empty() {
            return Vec::new();
        }
        let values: Vec<&Value> = rows.iter().map(|(_, _, v)| v).collect();
        if self.decoder.serialize(&values).is_ok()
            && let Ok(batch) = self.decoder.flush()
        {
            self.done.extend(batch);
            self.record(rows.iter().map(|(i, p, _)| (*i, *p)), &position);
            return Vec::new();
        }
        // Earlier chunks are already flushed; the decoder may hold part of this one.
        self.decoder = Self::decoder(&self.schema);
        let mut rejected = Vec::new();
        for (i, prefix, value) in &rows {
            let mut probe = Self::decoder(&self.schema);
            match probe
                .serialize(std::slice::from_ref(value))
                .and_then(|_| probe.flush())
            {
                Ok(_) => {
                    self.decoder
                        .serialize(std::slice::from_ref(value))
                        .expect("the probe passed");
                    self.record(std::iter::once((*i, *prefix)), &position);
                }
                Err(e) => rejected.push((*i, e.to_string())),
            }
        }
        self.done
            .extend(self.decoder.flush().expect("every row was probed"));
        rejected
    }

    fn record(
        &mut self,
        rows: impl Iterator<Item = (usize, u32)>,
        position: &impl Fn(usize) -> Position,
    ) {
        for (i, p) in rows {
            self.prefix.push(p);
            self.positions.push(position(i));
            self.indexes.push(i);
        }
    }

    /// The rows as one batch.
    pub fn finish(mut self) -> Option<Converted> {
        if self.done.is_empty() {
            return None;
        }
        let batch = if self.done.len() == 1 {
            self.done.pop().expect("one batch")
        } else {
            arrow_select::concat::concat_batches(&self.schema, &self.done).expect("same schema")
        };
        Some(Converted {
            rows: batch,
            prefix: self.prefix,
            positions: self.positions,
            indexes: self.indexes,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_schema::{DataType, Field, Schema};
    use sonic_rs::json;

    use super::*;

    #[test]
    fn a_value_arrow_cannot_hold_is_set_aside_alone() {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let mut columns = Columns::new(schema);
        let first = vec![(0, 0, json!({"n": 1})), (1, 0, json!({"n": 2}))];
        assert!(
            columns
                .append(first, |i| Position::offset(i as u64 * 10))
                .is_empty()
        );
        let second = vec![
            (2, 1, json!({"n": 3})),
            (3, 1, json!({"n": "not a number"})),
            (4, 0, json!({"n": 5})),
        ];
        let rejected = columns.append(second, |i| Position::offset(i as u64 * 10));
        assert_eq!(
            rejected.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            vec![3]
        );
        let Converted {
            rows: batch,
            prefix,
            positions,
            indexes,
        } = columns.finish().unwrap();
        assert_eq!(indexes, vec![0, 1, 2, 4]);
        let n = batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow_array::Int64Array>()
            .unwrap();
        assert_eq!(
            n.values().to_vec(),
            vec![1, 2, 3, 5],
            "rows before and after the bad one survive"
        );
        assert_eq!(prefix, vec![0, 0, 1, 0]);
        assert_eq!(positions, crate::position::offsets(&[0, 10, 20, 40]));
    }
}

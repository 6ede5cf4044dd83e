//! The decode stage for Avro and Protobuf records: the whole batch is decoded into
//! Arrow rows first, prefixes are rendered from the decoded columns, and every record
//! that failed on the way is handled in position order, as the JSON path does.

use std::collections::HashMap;

use arrow_array::{BooleanArray, RecordBatch};
use base64::Engine;

use super::arrow_fields::{FieldReader, record_of};
use super::decode::{Decoder, StopAt};
use crate::position::Position;
use crate::record::Batch;
use crate::record::ErrorKind;
use crate::sink::template::RenderInput;
use crate::sink::{PrefixedRows, Routed};
use crate::transform::{Failed, Next, in_position_order};
use crate::wire::WireSpec;

/// A record that does not reach the columns: where it is, and why.
struct Refusal {
    position: Position,
    /// Its index in the output batch, or in the failed batch of the chain.
    at: Next,
    kind: ErrorKind,
    reason: String,
}

impl Decoder {
    pub(super) fn decode_binary(
        &self,
        wire: &WireSpec,
        batch: &Batch,
        failed: Option<&Failed>,
    ) -> (Routed, Option<StopAt>) {
        let mut refusals = Vec::new();
        let base64 = self.base64();
        let mut scratch = Vec::new();
        let decoded = {
            let mut push_all = |push: &mut dyn FnMut(usize) -> Result<(), (ErrorKind, String)>| {
                for next in in_position_order(batch, failed.map(|x| &x.batch)) {
                    let (position, outcome) = match next {
                        Next::Failed(f) => {
                            let x = failed.expect("failed records come from a chain");
                            let reason = x.reasons[f].clone();
                            (
                                x.batch.position(f).clone(),
                                Err((ErrorKind::ProcessingFailed, reason)),
                            )
                        }
                        Next::Output(i) => (batch.position(i).clone(), push(i)),
                    };
                    if let Err((kind, reason)) = outcome {
                        refusals.push(Refusal {
                            position,
                            at: next,
                            kind,
                            reason,
                        });
                    }
                }
            };
            match wire {
                WireSpec::Avro(spec) => {
                    let mut rows = spec.rows();
                    push_all(&mut |i| rows.push(i, record_bytes(batch, i, base64, &mut scratch)?));
                    rows.finish()
                }
                WireSpec::Protobuf(spec) => {
                    let mut rows = spec.rows();
                    push_all(&mut |i| rows.push(i, record_bytes(batch, i, base64, &mut scratch)?));
                    rows.finish()
                }
            }
        };
        let mut prefixes: HashMap<String, u32> = HashMap::new();
        let mut kept = Vec::new();
        if let Some((rows, indexes)) = &decoded {
            let readers: Vec<FieldReader> = self
                .field_paths()
                .iter()
                .filter_map(|p| FieldReader::new(rows, p))
                .collect();
            let mut scratch = String::new();
            for (row, i) in indexes.iter().enumerate() {
                let record = record_of(&readers, row);
                match self.render_prefix(&record, batch.timestamp(*i), batch, *i, &mut scratch) {
                    Ok(()) => {
                        let next = prefixes.len() as u32;
                        let ix = *prefixes.entry(scratch.clone()).or_insert(next);
                        kept.push(Some(ix));
                    }
                    Err(reason) => {
                        refusals.push(Refusal {
                            position: batch.position(*i).clone(),
                            at: Next::Output(*i),
                            kind: ErrorKind::PartitionFailed,
                            reason,
                        });
                        kept.push(None);
                    }
                }
            }
        }
        refusals.sort_by(|a, b| a.position.cmp(&b.position));
        let mut dead = HashMap::new();
        let mut stop = None;
        for r in &refusals {
            let (b, i) = match r.at {
                Next::Output(i) => (batch, i),
                Next::Failed(f) => (&failed.expect("failed records come from a chain").batch, f),
            };
            if let Some(s) = self.reject(b, i, r.kind, &r.reason, &mut dead) {
                stop = Some(s);
                break;
            }
        }
        let stop_at = stop.as_ref().map(|s: &StopAt| &s.position);
        let rows = decoded.and_then(|(rows, indexes)| {
            let keep: Vec<bool> = indexes
                .iter()
                .zip(&kept)
                .map(|(i, p)| p.is_some() && stop_at.is_none_or(|s| batch.position(*i) < s))
                .collect();
            let positions: Vec<Position> = indexes
                .iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(i, _)| batch.position(*i).clone())
                .collect();
            if positions.is_empty() {
                return None;
            }
            let prefix: Vec<u32> = kept
                .iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(p, _)| p.expect("kept rows have a prefix"))
                .collect();
            let kept_records: Vec<usize> = indexes
                .iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(i, _)| *i)
                .collect();
            let rows = if keep.iter().all(|k| *k) {
                rows
            } else {
                filter(&rows, keep)
            };
            let columns = &self.sink().metadata_columns;
            let rows = crate::sink::metadata::append(rows, batch, &kept_records, columns);
            let mut names = vec![String::new(); prefixes.len()];
            for (name, ix) in prefixes {
                names[ix as usize] = name;
            }
            Some(PrefixedRows {
                batch: rows,
                prefix,
                positions,
                names,
            })
        });
        let routed = Routed {
            partition: batch.partition.clone(),
            next_position: stop_at
                .cloned()
                .unwrap_or_else(|| batch.next_position.clone()),
            rows,
            data: Vec::new(),
            dead_letters: dead.into_values().collect(),
        };
        (routed, stop)
    }

    /// Renders the prefix of one decoded record into `out`.
    fn render_prefix(
        &self,
        record: &serde_json::Value,
        arrival_ms: i64,
        batch: &Batch,
        i: usize,
        out: &mut String,
    ) -> Result<(), String> {
        let time = self.record_time(record, arrival_ms)?;
        out.clear();
        let input = RenderInput {
            time,
            record: Some(record),
            partition_keys: batch.partition_keys(i),
            error_type: None,
        };
        self.sink().prefix.render(out, &input)
    }
}

/// A record's bytes: as stored, or decoded from a base64 line into `scratch`.
pub(super) fn record_bytes<'a>(
    batch: &'a Batch,
    i: usize,
    base64: bool,
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8], (ErrorKind, String)> {
    if !base64 {
        return Ok(batch.value(i));
    }
    scratch.clear();
    base64::engine::general_purpose::STANDARD
        .decode_vec(batch.value(i), scratch)
        .map_err(|e| {
            (
                ErrorKind::DecodeFailed,
                format!("the line is not valid base64: {e}"),
            )
        })?;
    Ok(scratch)
}

fn filter(rows: &RecordBatch, keep: Vec<bool>) -> RecordBatch {
    arrow_select::filter::filter_record_batch(rows, &BooleanArray::from(keep))
        .expect("a mask of the batch's length")
}

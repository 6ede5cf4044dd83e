//! The decode stage: each record is parsed once into JSON, validated against the schema,
//! given its prefix, and the valid ones of a batch become one Arrow batch that is split
//! by prefix. Bad records become dead letters, are dropped, or stop the pipeline.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use chrono::TimeZone;
use serde_json::Value;

use crate::config::{ErrorAction, Format, OnErrorConfig};
use crate::record::Batch;
use crate::schema::Schema;
use crate::sink::spec::SinkSpec;
use crate::sink::template::{RenderInput, lookup};
use crate::sink::{DeadLetter, ErrorKind, Group, GroupData, PrefixedRows, Routed};

/// Why the pipeline must stop: a record whose error kind is set to `stop`.
#[derive(Debug)]
pub struct StopAt {
    pub position: u64,
    pub kind: ErrorKind,
    pub reason: String,
}

/// Decodes batches; cheap to clone, so several batches can be decoded in parallel.
#[derive(Clone)]
pub struct Decoder {
    pipeline: String,
    schema: Option<Arc<Schema>>,
    sink: Arc<SinkSpec>,
    on_error: OnErrorConfig,
}

/// Valid records of one batch, in order, with their prefix index and position.
struct Accepted {
    values: Vec<Value>,
    raw: Vec<usize>,
    prefix: Vec<u32>,
    /// Distinct prefixes of the batch and their index; one allocation per prefix.
    prefixes: HashMap<String, u32>,
    /// The prefix being rendered, reused for every record.
    scratch: String,
}

impl Decoder {
    pub fn new(
        pipeline: &str,
        schema: Option<Arc<Schema>>,
        sink: Arc<SinkSpec>,
        on_error: OnErrorConfig,
    ) -> Self {
        Self {
            pipeline: pipeline.into(),
            schema,
            sink,
            on_error,
        }
    }

    /// Routes one batch. With `Err`, the routed part holds the records before the stop.
    pub fn decode(&self, batch: &Batch) -> (Routed, Option<StopAt>) {
        let mut accepted = Accepted {
            values: Vec::with_capacity(batch.len()),
            raw: Vec::with_capacity(batch.len()),
            prefix: Vec::with_capacity(batch.len()),
            prefixes: HashMap::new(),
            scratch: String::new(),
        };
        let mut routed = Routed {
            partition: batch.partition.clone(),
            next_position: batch.next_position,
            rows: None,
            data: Vec::new(),
            dead_letters: Vec::new(),
        };
        let mut dead: HashMap<String, Group> = HashMap::new();
        let mut stop = None;
        for i in 0..batch.len() {
            if let Err((kind, reason)) = self.accept(batch, i, &mut accepted) {
                if let Some(s) = self.reject(batch, i, kind, &reason, &mut dead) {
                    routed.next_position = s.position;
                    stop = Some(s);
                    break;
                }
            }
        }
        self.build_groups(batch, accepted, &mut routed, &mut dead);
        routed.dead_letters = dead.into_values().collect();
        (routed, stop)
    }

    fn accept(
        &self,
        batch: &Batch,
        i: usize,
        out: &mut Accepted,
    ) -> Result<(), (ErrorKind, String)> {
        let value: Value = serde_json::from_slice(batch.value(i))
            .map_err(|e| (ErrorKind::InvalidJson, e.to_string()))?;
        if let Some(schema) = &self.schema {
            schema
                .validate(&value)
                .map_err(|r| (ErrorKind::SchemaMismatch, r))?;
        }
        let time = self
            .record_time(&value, batch.timestamp(i))
            .map_err(|r| (ErrorKind::PartitionFailed, r))?;
        out.scratch.clear();
        self.sink
            .prefix
            .render(
                &mut out.scratch,
                &RenderInput {
                    time,
                    record: Some(&value),
                    error_type: None,
                },
            )
            .map_err(|r| (ErrorKind::PartitionFailed, r))?;
        let next = out.prefixes.len() as u32;
        let index = match out.prefixes.get(out.scratch.as_str()) {
            Some(ix) => *ix,
            None => {
                out.prefixes.insert(out.scratch.clone(), next);
                next
            }
        };
        out.values.push(value);
        out.raw.push(i);
        out.prefix.push(index);
        Ok(())
    }

    fn record_time(
        &self,
        value: &Value,
        arrival_ms: i64,
    ) -> Result<chrono::DateTime<chrono_tz::Tz>, String> {
        let tz = self.sink.timezone;
        let Some(path) = &self.sink.time_field else {
            return Ok(tz
                .timestamp_millis_opt(arrival_ms)
                .single()
                .expect("arrival time in range"));
        };
        let field = || path.join(".");
        match lookup(value, path) {
            Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&tz))
                .map_err(|_| {
                    format!(
                        "event time `{}` = `{s}` is not an RFC 3339 timestamp",
                        field()
                    )
                }),
            Some(Value::Number(n)) => n
                .as_i64()
                .and_then(|ms| tz.timestamp_millis_opt(ms).single())
                .ok_or_else(|| format!("event time `{}` = {n} is not epoch milliseconds", field())),
            Some(_) => Err(format!(
                "event time `{}` must be a string or a number",
                field()
            )),
            None => Err(format!("event time `{}` is missing", field())),
        }
    }

    /// Applies the configured action; returns `Some` when the pipeline must stop.
    fn reject(
        &self,
        batch: &Batch,
        i: usize,
        kind: ErrorKind,
        reason: &str,
        dead: &mut HashMap<String, Group>,
    ) -> Option<StopAt> {
        let action = match kind {
            ErrorKind::InvalidJson => self.on_error.invalid_json,
            ErrorKind::SchemaMismatch => self.on_error.schema_mismatch,
            ErrorKind::PartitionFailed => self.on_error.partition_failed,
        };
        let position = batch.position(i);
        match action {
            ErrorAction::Drop => None,
            ErrorAction::Stop => Some(StopAt {
                position,
                kind,
                reason: reason.to_string(),
            }),
            ErrorAction::DeadLetter => {
                let arrival = batch.timestamp(i);
                let time = self
                    .sink
                    .timezone
                    .timestamp_millis_opt(arrival)
                    .single()
                    .expect("arrival time in range");
                let mut prefix = String::new();
                self.sink
                    .error_prefix
                    .render(
                        &mut prefix,
                        &RenderInput {
                            time,
                            record: None,
                            error_type: Some(kind.as_str()),
                        },
                    )
                    .expect("error prefixes only use time and error type");
                let group = dead.entry(prefix.clone()).or_insert_with(|| Group {
                    prefix,
                    data: GroupData::Lines(Vec::new()),
                    records: 0,
                    first_position: position,
                    last_position: position,
                });
                let GroupData::Lines(lines) = &mut group.data else {
                    unreachable!("dead letters are lines")
                };
                DeadLetter::new(
                    kind,
                    reason,
                    &self.pipeline,
                    &batch.partition,
                    position,
                    arrival,
                    batch.value(i),
                )
                .write_line(lines);
                group.records += 1;
                group.last_position = position;
                None
            }
        }
    }

    fn build_groups(
        &self,
        batch: &Batch,
        mut accepted: Accepted,
        routed: &mut Routed,
        dead: &mut HashMap<String, Group>,
    ) {
        if accepted.values.is_empty() {
            return;
        }
        let prefixes = std::mem::take(&mut accepted.prefixes);
        let mut names: Vec<&str> = vec![""; prefixes.len()];
        for (name, ix) in &prefixes {
            names[*ix as usize] = name;
        }
        match self.sink.format {
            Format::Jsonl => {
                let mut groups: Vec<Option<Group>> = (0..names.len()).map(|_| None).collect();
                for (k, &i) in accepted.raw.iter().enumerate() {
                    let ix = accepted.prefix[k] as usize;
                    let position = batch.position(i);
                    let g = groups[ix].get_or_insert_with(|| Group {
                        prefix: names[ix].to_string(),
                        data: GroupData::Lines(Vec::new()),
                        records: 0,
                        first_position: position,
                        last_position: position,
                    });
                    let GroupData::Lines(lines) = &mut g.data else {
                        unreachable!()
                    };
                    lines.extend_from_slice(batch.value(i));
                    lines.push(b'\n');
                    g.records += 1;
                    g.last_position = position;
                }
                routed.data.extend(groups.into_iter().flatten());
            }
            Format::Parquet => {
                let (rows, keep) = self.to_arrow(batch, &accepted, dead);
                if let Some(rows) = rows {
                    routed.rows = Some(PrefixedRows {
                        prefix: keep.iter().map(|k| accepted.prefix[*k]).collect(),
                        positions: keep
                            .iter()
                            .map(|k| batch.position(accepted.raw[*k]))
                            .collect(),
                        names: names.iter().map(|n| n.to_string()).collect(),
                        batch: rows,
                    });
                }
            }
        }
    }

    /// Converts accepted values to one Arrow batch. Values the schema validator passed
    /// but Arrow cannot hold (e.g. an integer beyond i64) are isolated one by one and
    /// dead-lettered; `keep` lists the accepted indexes that made it.
    fn to_arrow(
        &self,
        batch: &Batch,
        accepted: &Accepted,
        dead: &mut HashMap<String, Group>,
    ) -> (Option<RecordBatch>, Vec<usize>) {
        let schema = self
            .schema
            .as_ref()
            .expect("parquet sinks have a schema")
            .arrow
            .clone();
        let decoder = || {
            arrow_json::ReaderBuilder::new(schema.clone())
                .build_decoder()
                .expect("schema-derived decoders build")
        };
        let mut d = decoder();
        if d.serialize(&accepted.values).is_ok() {
            if let Ok(rows) = d.flush() {
                return (rows, (0..accepted.values.len()).collect());
            }
        }
        let mut keep = Vec::with_capacity(accepted.values.len());
        let mut good = decoder();
        for (k, value) in accepted.values.iter().enumerate() {
            let mut probe = decoder();
            match probe
                .serialize(std::slice::from_ref(value))
                .and_then(|_| probe.flush())
            {
                Ok(_) => {
                    good.serialize(std::slice::from_ref(value)).expect("probed");
                    keep.push(k);
                }
                Err(e) => {
                    let reason = format!("cannot be stored in the schema's column types: {e}");
                    let _ = self.reject(
                        batch,
                        accepted.raw[k],
                        ErrorKind::SchemaMismatch,
                        &reason,
                        dead,
                    );
                }
            }
        }
        (good.flush().expect("every row was probed"), keep)
    }
}

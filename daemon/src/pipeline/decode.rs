//! The decode stage: each record is parsed once into JSON, validated against the schema
//! and given its prefix. Valid records are turned into Arrow a chunk at a time, so only
//! a chunk of parsed values is alive at once; bad records become dead letters, are
//! dropped, or stop the pipeline.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::TimeZone;

use super::columns::Columns;
use crate::config::{ErrorAction, Format, OnErrorConfig};
use crate::metrics::PipelineMetrics;
use crate::position::Position;
use crate::record::Batch;
use crate::record::ErrorKind;
use crate::schema::Schema;
use crate::schema::record_json::{self, Value};
use crate::sink::dead_letter_times::DeadLetterTimes;
use crate::sink::fields::{Fields, Scalar};
use crate::sink::metadata;
use crate::sink::spec::SinkSpec;
use crate::sink::template::RenderInput;
use crate::sink::{DeadLetter, Group, GroupData, PrefixedRows, Routed};
use crate::transform::{Chain, Next, in_position_order};

/// Parsed values converted to Arrow together; bounds the memory of parsed JSON.
const CHUNK: usize = 256;

/// Why the pipeline must stop: a record whose error kind is set to `stop`.
#[derive(Debug)]
pub struct StopAt {
    pub position: Position,
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
    chain: Option<Arc<Chain>>,
    /// Binary records arrive as base64 lines.
    base64: bool,
    metrics: PipelineMetrics,
    /// Recorded times of dead-letter cuts to replay (from the writer).
    dead_letter_times: DeadLetterTimes,
}

/// The state of decoding one batch.
struct Work {
    /// Distinct prefixes of the batch and their index; one allocation per prefix.
    prefixes: HashMap<String, u32>,
    /// The prefix being rendered, reused for every record.
    scratch: String,
    /// Valid records waiting for conversion: batch index, prefix index, parsed value.
    pending: Vec<(usize, u32, Value)>,
    /// Parquet: the Arrow rows so far. JSON lines: one group per prefix.
    columns: Option<Columns>,
    lines: Vec<Option<Group>>,
    dead: HashMap<String, Group>,
    /// A base64 line's bytes, reused for every record.
    raw: Vec<u8>,
}

impl Decoder {
    pub fn new(
        pipeline: &str,
        schema: Option<Arc<Schema>>,
        sink: Arc<SinkSpec>,
        on_error: OnErrorConfig,
        chain: Option<Arc<Chain>>,
    ) -> Self {
        Self {
            pipeline: pipeline.into(),
            schema,
            sink,
            on_error,
            chain,
            base64: false,
            metrics: PipelineMetrics::disabled(),
            dead_letter_times: DeadLetterTimes::default(),
        }
    }

    /// A dead letter read again inside a recorded cut renders its prefix with the
    /// cut's time, so it lands in the same object.
    pub fn with_dead_letter_times(mut self, times: DeadLetterTimes) -> Self {
        self.dead_letter_times = times;
        self
    }

    /// Where rejected records and transform times are counted.
    pub fn with_metrics(mut self, metrics: PipelineMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn metrics(&self) -> &PipelineMetrics {
        &self.metrics
    }

    /// Records are base64 lines of binary records (the file source's `encoding: base64`).
    pub fn with_base64_lines(mut self, yes: bool) -> Self {
        self.base64 = yes;
        self
    }

    pub(super) fn base64(&self) -> bool {
        self.base64
    }

    /// The error prefix of a dead letter of `kind` that arrived at `arrival`.
    fn error_prefix(&self, arrival: i64, kind: ErrorKind) -> String {
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
                    partition_keys: &[],
                    error_type: Some(kind.as_str()),
                },
            )
            .expect("error prefixes only use time and error type");
        prefix
    }

    /// Routes one batch, after the transform chain if there is one. With a stop, the
    /// routed part holds the records before it.
    pub fn decode(&self, batch: Batch) -> (Routed, Option<StopAt>) {
        crate::fault::hit("decode", &self.pipeline);
        if let Some(length) = batch.oversized {
            return self.refuse_oversized(&batch, length);
        }
        let (batch, failed) = match &self.chain {
            Some(chain) => {
                let observe = |step: &str, took: std::time::Duration| {
                    self.metrics.transform(step, took.as_secs_f64())
                };
                let (batch, failed) = chain.apply_observed(batch, observe);
                (batch, Some(failed))
            }
            None => (batch, None),
        };
        let batch = &batch;
        if let Some(wire) = self.schema.as_ref().and_then(|s| s.wire.as_ref()) {
            return self.decode_binary(wire, batch, failed.as_ref());
        }
        let columns = match (self.sink.format, &self.schema) {
            (Format::Parquet, Some(schema)) => Some(Columns::new(schema.arrow.clone())),
            _ => None,
        };
        let mut work = Work {
            prefixes: HashMap::new(),
            scratch: String::new(),
            pending: Vec::with_capacity(CHUNK),
            columns,
            lines: Vec::new(),
            dead: HashMap::new(),
            raw: Vec::new(),
        };
        let mut next_position = batch.next_position.clone();
        let mut stop = None;
        // Records a transform failed are handled in position order with the rest, so
        // every group's positions stay ascending.
        for next in in_position_order(batch, failed.as_ref().map(|x| &x.batch)) {
            let result = match next {
                Next::Failed(f) => {
                    let x = failed.as_ref().expect("failed records come from a chain");
                    let kind = ErrorKind::ProcessingFailed;
                    self.reject(&x.batch, f, kind, &x.reasons[f], &mut work.dead)
                }
                Next::Output(i) => match self.accept(batch, i, &mut work) {
                    Ok(()) if work.pending.len() >= CHUNK => {
                        self.convert(batch, &mut work);
                        None
                    }
                    Ok(()) => None,
                    Err((kind, reason)) => self.reject(batch, i, kind, &reason, &mut work.dead),
                },
            };
            if let Some(s) = result {
                next_position = s.position.clone();
                stop = Some(s);
                break;
            }
        }
        self.convert(batch, &mut work);
        let mut names = vec![String::new(); work.prefixes.len()];
        for (name, ix) in work.prefixes {
            names[ix as usize] = name;
        }
        let columns = &self.sink.metadata_columns;
        let rows = work.columns.and_then(|c| c.finish()).map(|c| PrefixedRows {
            batch: metadata::append(c.rows, batch, &c.indexes, columns),
            prefix: c.prefix,
            positions: c.positions,
            names,
        });
        let routed = Routed {
            partition: batch.partition.clone(),
            next_position,
            rows,
            data: work.lines.into_iter().flatten().collect(),
            dead_letters: work.dead.into_values().collect(),
        };
        (routed, stop)
    }

    /// A record the source could not hold whole: to the error prefix (or as `on_error`
    /// says), never through transforms or decoding.
    fn refuse_oversized(&self, batch: &Batch, length: u64) -> (Routed, Option<StopAt>) {
        let reason = format!(
            "the record is {length} bytes, over the source's max_record_bytes; its first {} bytes are kept",
            batch.value(0).len()
        );
        let mut dead = HashMap::new();
        let stop = self.reject(batch, 0, ErrorKind::RecordTooLarge, &reason, &mut dead);
        let next_position = match &stop {
            Some(s) => s.position.clone(),
            None => batch.next_position.clone(),
        };
        let routed = Routed {
            partition: batch.partition.clone(),
            next_position,
            rows: None,
            data: Vec::new(),
            dead_letters: dead.into_values().collect(),
        };
        (routed, stop)
    }

    pub(super) fn sink(&self) -> &SinkSpec {
        &self.sink
    }

    /// Record fields the prefix and the event time read.
    pub(super) fn field_paths(&self) -> Vec<Vec<String>> {
        let mut paths: Vec<Vec<String>> = self
            .sink
            .prefix
            .fields()
            .map(|f| f.split('.').map(str::to_string).collect())
            .collect();
        paths.extend(self.sink.time_field.clone());
        paths
    }

    fn accept(&self, batch: &Batch, i: usize, work: &mut Work) -> Result<(), (ErrorKind, String)> {
        let mut raw = std::mem::take(&mut work.raw);
        let result = self.accept_json(batch, i, &mut raw, work);
        work.raw = raw;
        result
    }

    /// A JSON record: the base64 line decoded, the Confluent framing checked and
    /// dropped, then the text parsed, validated and routed.
    fn accept_json(
        &self,
        batch: &Batch,
        i: usize,
        raw: &mut Vec<u8>,
        work: &mut Work,
    ) -> Result<(), (ErrorKind, String)> {
        let mut bytes = super::binary::record_bytes(batch, i, self.base64, raw)?;
        if let Some(frames) = self.schema.as_ref().and_then(|s| s.frames.as_ref()) {
            bytes = frames.body(bytes)?;
        }
        let value = record_json::parse(bytes).map_err(|e| (ErrorKind::InvalidJson, e))?;
        if let Some(schema) = &self.schema {
            schema
                .validate(&value)
                .map_err(|r| (ErrorKind::SchemaMismatch, r))?;
        }
        let time = self
            .record_time(&value, batch.timestamp(i))
            .map_err(|r| (ErrorKind::PartitionFailed, r))?;
        work.scratch.clear();
        let input = RenderInput {
            time,
            record: Some(&value),
            partition_keys: batch.partition_keys(i),
            error_type: None,
        };
        self.sink
            .prefix
            .render(&mut work.scratch, &input)
            .map_err(|r| (ErrorKind::PartitionFailed, r))?;
        let next = work.prefixes.len() as u32;
        let index = match work.prefixes.get(work.scratch.as_str()) {
            Some(ix) => *ix,
            None => {
                work.prefixes.insert(work.scratch.clone(), next);
                next
            }
        };
        if work.columns.is_some() {
            work.pending.push((i, index, value));
        } else {
            self.push_line(batch, i, bytes, index, work);
        }
        Ok(())
    }

    /// JSON lines keep the record's text exactly as it arrived.
    fn push_line(&self, batch: &Batch, i: usize, text: &[u8], index: u32, work: &mut Work) {
        let ix = index as usize;
        if work.lines.len() <= ix {
            work.lines.resize_with(ix + 1, || None);
        }
        let position = batch.position(i).clone();
        let prefix = &work.scratch;
        let group = work.lines[ix].get_or_insert_with(|| Group {
            prefix: prefix.clone(),
            data: GroupData::Lines(Vec::new()),
            positions: Vec::new(),
        });
        let GroupData::Lines(lines) = &mut group.data else {
            unreachable!("line groups hold lines")
        };
        lines.extend_from_slice(text);
        lines.push(b'\n');
        group.positions.push(position);
    }

    /// Converts the pending values to Arrow. Values the validator passed but the column
    /// types cannot hold (e.g. an integer beyond 64 bits) are dead-lettered one by one.
    fn convert(&self, batch: &Batch, work: &mut Work) {
        let Some(columns) = work.columns.as_mut() else {
            return;
        };
        let pending = std::mem::take(&mut work.pending);
        for (i, reason) in columns.append(pending, |i| batch.position(i).clone()) {
            let reason = format!("cannot be stored in the schema's column types: {reason}");
            let _ = self.reject(batch, i, ErrorKind::SchemaMismatch, &reason, &mut work.dead);
        }
    }

    pub(super) fn record_time(
        &self,
        value: &dyn Fields,
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
        match value.scalar(path) {
            Some(Scalar::Str(s)) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&tz))
                .map_err(|_| {
                    format!(
                        "event time `{}` = `{s}` is not an RFC 3339 timestamp",
                        field()
                    )
                }),
            Some(Scalar::Number(n)) => n
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
    pub(super) fn reject(
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
            ErrorKind::ProcessingFailed => self.on_error.processing_failed,
            ErrorKind::BadFraming => self.on_error.bad_framing,
            ErrorKind::UnknownSchemaId => self.on_error.unknown_schema_id,
            ErrorKind::DecodeFailed => self.on_error.decode_failed,
            ErrorKind::SchemaIncompatible => self.on_error.schema_incompatible,
            ErrorKind::RecordTooLarge => self.on_error.record_too_large,
        };
        let position = batch.position(i).clone();
        if action != ErrorAction::Stop {
            self.metrics
                .rejected(kind.as_str(), action == ErrorAction::Drop);
        }
        match action {
            ErrorAction::Drop => None,
            ErrorAction::Stop => Some(StopAt {
                position,
                kind,
                reason: reason.to_string(),
            }),
            ErrorAction::DeadLetter => {
                let arrival = batch.timestamp(i);
                let rendered = self
                    .dead_letter_times
                    .time_for(&batch.partition, &position, |at| {
                        self.error_prefix(at, kind)
                    })
                    .unwrap_or(arrival);
                let prefix = self.error_prefix(rendered, kind);
                let group = dead.entry(prefix.clone()).or_insert_with(|| Group {
                    prefix,
                    data: GroupData::Lines(Vec::new()),
                    positions: Vec::new(),
                });
                let GroupData::Lines(lines) = &mut group.data else {
                    unreachable!("dead letters are lines")
                };
                DeadLetter::new(
                    kind,
                    reason,
                    &self.pipeline,
                    &batch.partition,
                    position.clone(),
                    arrival,
                    batch.value(i),
                )
                .write_line(lines);
                group.positions.push(position);
                None
            }
        }
    }
}

//! Avro records to Arrow with `arrow-avro`, straight from the bytes (no intermediate
//! values). Each record names its writer schema through its framing; every writer of
//! the subject is read into the one widest reader schema, so a batch has one set of
//! columns whatever mix of versions produced it.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_avro::codec::Tz;
use arrow_avro::reader::{Decoder, DecoderMode, ReaderBuilder};
use arrow_avro::schema::{AvroSchema, Fingerprint, FingerprintAlgorithm, SchemaStore};
use arrow_schema::SchemaRef;

use super::Rejection;
use super::framing::{Frame, Framing, split};
use crate::record::ErrorKind;

/// Rows per Arrow batch out of one decoder.
const ROWS: usize = 1024;

/// How records of one schema id are read.
#[derive(Debug, Clone)]
pub enum Writer {
    Readable(AvroSchema),
    /// Records written with it go to the error prefix with this reason.
    Refused(String),
}

/// What the decode stage needs to read a subject's Avro records.
pub struct AvroSpec {
    framing: Framing,
    reader: AvroSchema,
    pub arrow: SchemaRef,
    writers: HashMap<u32, Writer>,
    /// Single-object fingerprints (CRC-64-AVRO) of the readable writers, to their ids.
    fingerprints: HashMap<u64, u32>,
    /// The schema id bare datums are read with.
    raw: u32,
    /// Ids of other subjects, for a clearer error than "unknown".
    foreign: HashMap<u32, String>,
    /// Idle decoders by writer id, reused across batches.
    pool: Mutex<HashMap<u32, Vec<Decoder>>>,
}

impl AvroSpec {
    /// `reader` is the widest reader schema; `raw` the id bare datums use.
    pub fn new(
        framing: Framing,
        reader: &str,
        writers: HashMap<u32, Writer>,
        raw: u32,
        foreign: HashMap<u32, String>,
    ) -> Result<Self, String> {
        let reader = AvroSchema::new(reader.to_string());
        let mut spec = Self {
            framing,
            reader,
            arrow: Arc::new(arrow_schema::Schema::empty()),
            writers,
            fingerprints: HashMap::new(),
            raw,
            foreign,
            pool: Mutex::new(HashMap::new()),
        };
        // A writer whose resolution into the reader fails is refused up front.
        let ids: Vec<u32> = spec.writers.keys().copied().collect();
        for id in ids {
            if let Some(Writer::Readable(schema)) = spec.writers.get(&id) {
                let schema = schema.clone();
                match spec.decoder_for(id, &schema) {
                    Ok(d) => {
                        if id == raw || spec.arrow.fields().is_empty() {
                            spec.arrow = d.schema();
                        }
                        if let Ok(Fingerprint::Rabin(fp)) =
                            schema.fingerprint(FingerprintAlgorithm::Rabin)
                        {
                            spec.fingerprints.insert(fp, id);
                        }
                    }
                    Err(e) => {
                        spec.writers.insert(id, Writer::Refused(e));
                    }
                }
            }
        }
        if spec.arrow.fields().is_empty() {
            return Err("no version of the subject can be read into its columns".into());
        }
        Ok(spec)
    }

    fn decoder_for(&self, id: u32, writer: &AvroSchema) -> Result<Decoder, String> {
        let mut store = SchemaStore::new_with_type(FingerprintAlgorithm::Id);
        store
            .set(Fingerprint::Id(id), writer.clone())
            .map_err(|e| e.to_string())?;
        ReaderBuilder::new()
            .with_writer_schema_store(store)
            .with_active_fingerprint(Fingerprint::Id(id))
            .with_reader_schema(self.reader.clone())
            .with_decoder_mode(DecoderMode::UnframedDatum)
            .with_tz(Tz::Utc)
            .with_batch_size(ROWS)
            .build_decoder()
            .map_err(|e| e.to_string())
    }

    fn take_decoder(&self, id: u32) -> Result<Decoder, Rejection> {
        let pooled = self
            .pool
            .lock()
            .expect("pool lock")
            .get_mut(&id)
            .and_then(Vec::pop);
        match pooled {
            Some(d) => Ok(d),
            None => self.take_fresh(id),
        }
    }

    fn give_back(&self, id: u32, decoder: Decoder) {
        self.pool
            .lock()
            .expect("pool lock")
            .entry(id)
            .or_default()
            .push(decoder);
    }

    fn unknown(&self, id: u32) -> Rejection {
        super::unknown_id(id, &self.foreign)
    }

    /// The writer id of a record and the offset of its datum.
    fn writer_of(&self, bytes: &[u8]) -> Result<(u32, usize), Rejection> {
        let frame = split(self.framing, bytes).map_err(|e| (ErrorKind::BadFraming, e))?;
        let (id, body) = match frame {
            Frame::Confluent { id, body } => (id, body),
            Frame::SingleObject { fingerprint, body } => {
                let id = *self.fingerprints.get(&fingerprint).ok_or_else(|| {
                    (
                        ErrorKind::UnknownSchemaId,
                        format!(
                            "no readable version of the subject has fingerprint {fingerprint:016x}"
                        ),
                    )
                })?;
                (id, body)
            }
            Frame::Raw(body) => (self.raw, body),
        };
        match self.writers.get(&id) {
            Some(Writer::Refused(reason)) => Err((ErrorKind::SchemaIncompatible, reason.clone())),
            Some(Writer::Readable(_)) => Ok((id, bytes.len() - body.len())),
            None => Err(self.unknown(id)),
        }
    }

    /// A decoder for the records of one batch.
    pub fn rows(&self) -> AvroRows<'_> {
        AvroRows {
            spec: self,
            active: None,
            since_flush: Vec::new(),
            bodies: Vec::new(),
            body_ends: Vec::new(),
            done: Vec::new(),
            rows: Vec::new(),
        }
    }
}

/// Decodes the records of one batch, in order, into Arrow rows.
pub struct AvroRows<'s> {
    spec: &'s AvroSpec,
    active: Option<(u32, Decoder)>,
    /// Records decoded into the active decoder since its last flush: their indexes and
    /// bodies, kept to rebuild the decoder's rows after a corrupt record.
    since_flush: Vec<usize>,
    bodies: Vec<u8>,
    body_ends: Vec<usize>,
    done: Vec<RecordBatch>,
    /// Batch index of each row in `done`, in order.
    rows: Vec<usize>,
}

impl AvroRows<'_> {
    /// Decodes record `i`, whose value is `bytes`; a record that fails leaves no trace
    /// in the rows.
    pub fn push(&mut self, i: usize, bytes: &[u8]) -> Result<(), Rejection> {
        let (id, start) = self.spec.writer_of(bytes)?;
        if self.active.as_ref().is_none_or(|(a, _)| *a != id) {
            self.flush();
            if let Some((old, d)) = self.active.take() {
                self.spec.give_back(old, d);
            }
            self.active = Some((id, self.spec.take_decoder(id)?));
        }
        let (_, decoder) = self.active.as_mut().expect("set above");
        let body = &bytes[start..];
        match decode_one(decoder, body) {
            Ok(()) => {
                self.since_flush.push(i);
                self.bodies.extend_from_slice(body);
                self.body_ends.push(self.bodies.len());
                if decoder.batch_is_full() {
                    self.flush();
                }
                Ok(())
            }
            Err(reason) => {
                // The failed datum may have left part of a row; start over with the
                // records before it.
                let mut fresh = self.spec.take_fresh(id)?;
                let mut from = 0;
                for end in &self.body_ends {
                    decode_one(&mut fresh, &self.bodies[from..*end])
                        .expect("a record that decoded once decodes again");
                    from = *end;
                }
                self.active = Some((id, fresh));
                Err((ErrorKind::DecodeFailed, reason))
            }
        }
    }

    fn flush(&mut self) {
        let Some((_, decoder)) = self.active.as_mut() else {
            return;
        };
        match decoder.flush() {
            Ok(Some(batch)) => {
                self.done.push(batch);
                self.rows.append(&mut self.since_flush);
                self.bodies.clear();
                self.body_ends.clear();
            }
            Ok(None) => {}
            Err(e) => unreachable!("flushing whole rows cannot fail: {e}"),
        }
    }

    /// The rows decoded, as one Arrow batch, with the batch index of each row.
    pub fn finish(mut self) -> Option<(RecordBatch, Vec<usize>)> {
        self.flush();
        if let Some((id, d)) = self.active.take() {
            self.spec.give_back(id, d);
        }
        let batch = match self.done.len() {
            0 => return None,
            1 => self.done.pop().expect("one batch"),
            _ => arrow_select::concat::concat_batches(&self.spec.arrow, &self.done)
                .expect("every writer reads into the same columns"),
        };
        Some((batch, self.rows))
    }
}

impl AvroSpec {
    fn take_fresh(&self, id: u32) -> Result<Decoder, Rejection> {
        match self.writers.get(&id) {
            Some(Writer::Readable(schema)) => self
                .decoder_for(id, schema)
                .map_err(|e| (ErrorKind::SchemaIncompatible, e)),
            Some(Writer::Refused(reason)) => Err((ErrorKind::SchemaIncompatible, reason.clone())),
            None => Err(self.unknown(id)),
        }
    }
}

/// Decodes exactly one datum; a panic in the decoder is an error of this record.
fn decode_one(decoder: &mut Decoder, body: &[u8]) -> Result<(), String> {
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| decoder.decode(body)));
    match result {
        Ok(Ok(n)) if n == body.len() => Ok(()),
        Ok(Ok(n)) => Err(format!(
            "{} bytes left over after the datum: not written with this schema version",
            body.len() - n
        )),
        Ok(Err(e)) => Err(format!("corrupt or truncated Avro: {e}")),
        Err(_) => Err("corrupt Avro: the decoder failed on this record".into()),
    }
}

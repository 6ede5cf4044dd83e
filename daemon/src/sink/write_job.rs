//! One object write, run beside the writer loop: encode, upload, retry what a retry
//! can cure. Carries everything it needs so it can be spawned.

use std::time::Instant;

use arrow_schema::SchemaRef;
use object_store::path::Path;
use parquet::file::properties::WriterProperties;

use super::buffers::Buffer;
use super::encode::{write_lines, write_parquet};
use super::retry::{Failure, backoff};
use super::store::Store;
use super::writer::SinkError;
use crate::config::Compression;
use crate::metrics::PipelineMetrics;
use crate::state::PipelineState;

/// Attempts per object before the pipeline gives up (positions stay uncommitted).
pub const ATTEMPTS: u32 = 5;

/// Why a buffer was flushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Size,
    Count,
    Interval,
    Idle,
    /// The memory budget was reached and this was the largest buffer.
    Memory,
    /// A replayed cut was complete.
    Replay,
    /// The source released the partition (revoked, or finished with).
    Release,
    /// The source ended or the pipeline is stopping.
    Shutdown,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Size => "size",
            Reason::Count => "count",
            Reason::Interval => "interval",
            Reason::Idle => "idle",
            Reason::Memory => "memory",
            Reason::Replay => "replay",
            Reason::Release => "release",
            Reason::Shutdown => "shutdown",
        }
    }
}

/// A finished object write.
pub struct Written {
    pub id: u64,
    pub dead_letter: bool,
    /// Flushed because the memory budget was reached.
    pub budget: bool,
    pub records: usize,
    pub buffered: usize,
    /// When the buffer received its first record.
    pub opened: Instant,
    /// The object's path and encoded size.
    pub result: Result<(Path, usize), SinkError>,
}

pub enum Encoding {
    Lines(Compression),
    Parquet(SchemaRef, Box<WriterProperties>),
}

/// One object to write, with everything it needs, so it runs beside the writer loop.
pub struct WriteJob {
    pub pipeline: String,
    pub store: Store,
    pub state: PipelineState,
    pub metrics: PipelineMetrics,
    pub path: Path,
    pub encoding: Encoding,
    pub buffer: Buffer,
}

impl WriteJob {
    /// Writes the object, retrying what a retry can cure, with backoff and jitter.
    pub async fn run(mut self) -> Result<(Path, usize), SinkError> {
        // JSON lines are shared by every attempt instead of copied for each.
        let lines = bytes::Bytes::from(std::mem::take(&mut self.buffer.lines));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let f = match self.write(&lines).await {
                Ok(n) => {
                    crate::fault::hit("object-written", &self.pipeline);
                    return Ok((self.path, n));
                }
                Err(f) => f,
            };
            // Another daemon took the partition: it replays this cut itself.
            self.state.check_scope().await?;
            if f.permanent || attempt >= ATTEMPTS {
                return Err(SinkError::Write {
                    key: self.path.to_string(),
                    attempts: attempt,
                    reason: f.reason,
                    permanent: f.permanent,
                });
            }
            self.metrics.retried();
            let wait = backoff(attempt);
            tracing::warn!(pipeline = %self.pipeline, object = %self.path, attempt, reason = %f.reason, ?wait, "write failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }

    async fn write(&self, lines: &bytes::Bytes) -> Result<usize, Failure> {
        let written = self.encode(lines).await?;
        if let Some(dir) = self.store.local_dir.clone() {
            let key = self.path.clone();
            tokio::task::spawn_blocking(move || super::store::sync_local(&dir, &key))
                .await
                .map_err(|e| Failure::of(&e))?
                .map_err(|e| Failure::of(&e))?;
        }
        Ok(written)
    }

    async fn encode(&self, lines: &bytes::Bytes) -> Result<usize, Failure> {
        let (store, path, buffer) = (&self.store, &self.path, &self.buffer);
        match &self.encoding {
            Encoding::Lines(compression) => {
                let written = write_lines(&store.objects, path, lines.clone(), *compression).await;
                self.metrics.store_request("put", written.is_ok());
                written.map_err(|e| Failure::of(&e))
            }
            Encoding::Parquet(schema, props) => write_parquet(
                store,
                (&self.state, &self.metrics),
                path,
                schema.clone(),
                &buffer.batches,
                (**props).clone(),
            )
            .await
            .map_err(|e| Failure::of(&e)),
        }
    }
}

//! The writing end of a pipeline: owns the buffers, decides when each flushes (size,
//! record count, interval, idle, memory budget), writes objects under deterministic
//! keys, and persists the watermark after every flush.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_schema::SchemaRef;
use object_store::path::Path;
use tokio::task::JoinSet;

use super::buffers::{BufferKey, Buffers, Routed};
use super::ledger::Plan;
use super::replay::{Replay, Step};
use super::spec::SinkSpec;
use super::store::Store;
use super::write_job::{Encoding, Reason, WriteJob, Written};

mod lifecycle;
use crate::config::{Compression, Format};
use crate::metrics::PipelineMetrics;
use crate::position::Position;
use crate::record::PartitionId;
use crate::state::{Cut, PipelineState, Positions, Snapshot, StateError};
use lifecycle::lost_partitions;

/// At most this often, memory freed by budget flushes is handed back to the OS: at
/// the budget, the allocator's delayed purging would otherwise let RSS run far past it.
const RELEASE_PERIOD: Duration = Duration::from_millis(50);

/// Objects written at once, beside the writer loop: encoding a large Parquet object
/// takes long enough that the decode stage would otherwise stall behind it.
const WRITES_IN_FLIGHT: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The store kept failing, or refused the write; a restart replays the data.
    #[error("writing `{key}` failed after {attempts} attempt(s): {reason}")]
    Write {
        key: String,
        attempts: u32,
        reason: String,
        /// The store refused the write; running the pipeline again cannot help.
        permanent: bool,
    },
    #[error(transparent)]
    State(#[from] StateError),
    /// The last run recorded cuts it did not write under another routing than this
    /// version's: replaying them could stall or write records twice.
    #[error(
        "the pipeline changed (prefixes, time, format, on_error, schema or transforms) while the last run had objects recorded but unwritten: {cuts}; to keep each record once, put the previous version of the pipeline file back and let it stop cleanly (its input's end or SIGTERM), then apply the change; or delete the pipeline's cut ledger (cuts.jsonl in its state folder) to accept that these positions may be written twice"
    )]
    Rerouted { cuts: String },
}

/// Counters reported when a pipeline ends.
#[derive(Debug, Default, Clone, Copy)]
pub struct SinkStats {
    pub objects: u64,
    pub records: u64,
    pub dead_letters: u64,
    pub bytes: u64,
}

impl SinkStats {
    /// The counts of two runs together.
    pub fn then(self, other: SinkStats) -> SinkStats {
        SinkStats {
            objects: self.objects + other.objects,
            records: self.records + other.records,
            dead_letters: self.dead_letters + other.dead_letters,
            bytes: self.bytes + other.bytes,
        }
    }
}

pub struct SinkWriter {
    pipeline: String,
    spec: Arc<SinkSpec>,
    schema: Option<SchemaRef>,
    store: Store,
    buffers: Buffers,
    state: PipelineState,
    committed: Positions,
    /// The durable positions, for the source: its acknowledgements.
    acks: tokio::sync::watch::Sender<Positions>,
    replay: Replay,
    /// Partitions another daemon claimed: their records are ignored until the source
    /// takes them on again.
    fenced: HashSet<PartitionId>,
    /// Observed encoded bytes per buffered byte, to turn `max_bytes` into object size.
    ratio: f64,
    /// When freed memory was last handed back to the OS after budget flushes.
    last_release: Instant,
    /// Objects being written.
    writes: JoinSet<Written>,
    /// Batches that can be in flight between the source and this writer.
    batches_in_flight: usize,
    /// Recent memory of one decoded batch (a moving average).
    batch_bytes: f64,
    /// What the pipeline's plugin instances hold, counted against the budget.
    plugins: crate::transform::PluginMemory,
    /// The times of the dead-letter cuts to replay, for the decode stage.
    dead_letter_times: super::dead_letter_times::DeadLetterTimes,
    metrics: PipelineMetrics,
    pub stats: SinkStats,
}

impl SinkWriter {
    /// A writer resuming from the stored state: the cuts recorded after its positions
    /// are replayed, and what the last run left half-written is cleaned up first.
    pub async fn new(
        pipeline: &str,
        spec: Arc<SinkSpec>,
        schema: Option<SchemaRef>,
        store: Store,
        state: PipelineState,
        stored: Snapshot,
    ) -> Result<Self, SinkError> {
        super::ledger::check_routing(&stored.cuts, &stored.positions, &spec.routing)?;
        let plan = super::ledger::plan(&stored.cuts, &stored.positions);
        if !plan.is_empty() {
            tracing::info!(
                pipeline,
                cuts = plan.values().map(|c| c.len()).sum::<usize>(),
                "replaying the cuts recorded before the last stop"
            );
        }
        if let Some(multipart) = &store.multipart {
            let aborted =
                super::upload::recover(&stored.uploads, multipart.as_ref(), &state).await?;
            if aborted > 0 {
                tracing::info!(
                    pipeline,
                    uploads = aborted,
                    "aborted the uploads the last run left unfinished"
                );
            }
        }
        let dead_letter_times = super::dead_letter_times::DeadLetterTimes::default();
        dead_letter_times.set(&stored.cuts, &stored.positions);
        let ratio = if spec.format == Format::Parquet {
            0.25
        } else {
            1.0
        };
        let mut writer = Self {
            pipeline: pipeline.into(),
            spec,
            schema,
            store,
            buffers: Buffers::default(),
            state,
            acks: tokio::sync::watch::Sender::new(stored.positions.clone()),
            committed: stored.positions,
            replay: Replay::default(),
            fenced: HashSet::new(),
            ratio,
            last_release: Instant::now(),
            writes: JoinSet::new(),
            batches_in_flight: 0,
            batch_bytes: 0.0,
            plugins: Default::default(),
            dead_letter_times,
            metrics: PipelineMetrics::disabled(),
            stats: SinkStats::default(),
        };
        writer.remove_staged(&plan);
        writer.replay = Replay::new(plan);
        Ok(writer)
    }

    /// The durable positions as they advance: every record before a partition's
    /// position is in a written object or the error prefix.
    pub fn acknowledgements(&self) -> tokio::sync::watch::Receiver<Positions> {
        self.acks.subscribe()
    }

    /// Where the writer reports what it does.
    pub fn with_metrics(mut self, metrics: PipelineMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// How many batches the stages before the writer can hold at once; the memory budget
    /// keeps room for them.
    pub fn with_batches_in_flight(mut self, batches: usize) -> Self {
        self.batches_in_flight = batches;
        self
    }

    /// The times of the dead-letter cuts to replay: the decode stage renders a dead
    /// letter read again inside one with its recorded time.
    pub fn dead_letter_times(&self) -> super::dead_letter_times::DeadLetterTimes {
        self.dead_letter_times.clone()
    }

    /// Counts the linear memory of the pipeline's plugin instances against the budget.
    pub fn with_plugin_memory(mut self, plugins: crate::transform::PluginMemory) -> Self {
        self.plugins = plugins;
        self
    }

    /// What buffers may hold: the memory budget less the batches in flight between the
    /// stages (each counted twice: its records as read and as decoded) and the plugin
    /// instances' memory, so the budget bounds all the data the pipeline holds. At least
    /// a quarter of the budget stays for buffers.
    fn buffer_budget(&self) -> u64 {
        let budget = self.spec.buffer.memory_budget.0;
        let in_flight = (2 * self.batches_in_flight) as f64 * self.batch_bytes;
        let held = in_flight as u64 + self.plugins.bytes();
        budget.saturating_sub(held).max(budget / 4)
    }

    /// Takes one routed batch; flushes what became full and keeps within the budget.
    pub async fn accept(&mut self, routed: Routed) -> Result<(), SinkError> {
        if self.fenced.contains(&routed.partition) {
            return Ok(());
        }
        let size = routed.memory_size() as f64;
        self.batch_bytes = if self.batch_bytes == 0.0 {
            size
        } else {
            0.8 * self.batch_bytes + 0.2 * size
        };
        let mut touched = Vec::with_capacity(routed.data.len() + routed.dead_letters.len());
        let split = routed.rows.map(|rows| rows.split()).unwrap_or_default();
        let data = split.into_iter().chain(routed.data).map(|g| (g, false));
        let groups: Vec<_> = data
            .chain(routed.dead_letters.into_iter().map(|g| (g, true)))
            .collect();
        for (group, dead_letter) in groups {
            for step in self.replay.route(&routed.partition, dead_letter, group) {
                match step {
                    Step::Append(g) => {
                        touched.push(self.buffers.append(&routed.partition, g, dead_letter))
                    }
                    Step::Flush {
                        prefix,
                        first,
                        last,
                    } => {
                        let key = BufferKey {
                            prefix,
                            partition: routed.partition.clone(),
                            dead_letter,
                        };
                        self.buffers.span(&key, first, last);
                        self.flush(&key, Reason::Replay).await?;
                    }
                }
            }
        }
        self.buffers
            .advance(&routed.partition, routed.next_position);
        touched.sort();
        touched.dedup();
        let limits = self.spec.buffer.clone();
        for key in touched {
            if self.replay.holds(&key) {
                continue;
            }
            let full = self.buffers.get(&key).and_then(|b| {
                if b.records >= limits.max_records {
                    Some(Reason::Count)
                } else if (b.bytes as f64 * self.ratio) as u64 >= limits.max_bytes.0 {
                    Some(Reason::Size)
                } else {
                    None
                }
            });
            if let Some(reason) = full {
                self.flush(&key, reason).await?;
            }
        }
        // Buffers being written count until their objects are durable; this is where
        // the source slows down.
        let budget = self.buffer_budget();
        while self.buffers.total_bytes() as u64 > budget {
            match self.buffers.largest(|k| !self.replay.holds(k)) {
                Some(key) => {
                    tracing::debug!(pipeline = %self.pipeline, prefix = %key.prefix, "memory budget reached; flushing the largest buffer");
                    self.flush(&key, Reason::Memory).await?;
                }
                None if self.writing() => self.settle().await?,
                None => break,
            }
        }
        self.commit().await
    }

    /// Flushes buffers whose interval or idle time has passed.
    pub async fn tick(&mut self) -> Result<(), SinkError> {
        let (interval, idle) = (self.spec.buffer.interval.0, self.spec.buffer.idle.0);
        let now = Instant::now();
        let due = self
            .buffers
            .due(|b| now - b.opened >= interval || now - b.last_write >= idle);
        for key in due {
            let reason = match self.buffers.get(&key) {
                Some(b) if now - b.opened >= interval => Reason::Interval,
                _ => Reason::Idle,
            };
            if !self.replay.holds(&key) {
                self.flush(&key, reason).await?;
            }
        }
        self.commit().await
    }

    /// How often `tick` should run.
    pub fn tick_period(&self) -> Duration {
        let finest = self.spec.buffer.interval.0.min(self.spec.buffer.idle.0);
        (finest / 4).clamp(Duration::from_millis(50), Duration::from_secs(1))
    }

    /// Flushes everything and commits; used at shutdown and when a source ends. A buffer
    /// still short of its replayed cut stays unwritten (and its positions uncommitted):
    /// writing it under another key would duplicate the records of the earlier object.
    pub async fn flush_all(&mut self) -> Result<(), SinkError> {
        for key in self.buffers.keys() {
            if !self.replay.holds(&key) {
                self.flush(&key, Reason::Shutdown).await?;
            }
        }
        while self.writing() {
            self.settle().await?;
        }
        self.commit().await
    }

    /// Persists the watermark if it moved. The watermark covers only the partitions this
    /// run has read; every other partition keeps its stored position.
    pub async fn commit(&mut self) -> Result<(), SinkError> {
        let mut next = self.committed.advanced_to(&self.buffers.watermarks());
        if next != self.committed {
            if let Err(e) = self.state.commit(&next).await {
                let lost = lost_partitions(&e);
                self.fence(e).await?;
                // The others were stored; nothing is known here of the lost ones.
                for partition in lost {
                    next.0.remove(&partition);
                }
            }
            crate::fault::hit("committed", &self.pipeline);
            self.metrics.committed(&next.0);
            self.acks.send_replace(next.clone());
            self.committed = next;
        }
        let buffers = &self.buffers;
        self.metrics
            .buffers(buffers.total_bytes(), buffers.open_count(), buffers.lags());
        self.metrics.plugin_memory(self.plugins.bytes());
        Ok(())
    }

    /// The key of the object holding positions `first..=last` of a buffer.
    fn object_path(&self, key: &BufferKey, first: &Position, last: &Position) -> Path {
        let ext = if key.dead_letter {
            "jsonl"
        } else {
            self.spec.extension()
        };
        let name = format!(
            "{}{}-{}-{}-{}.{ext}",
            key.prefix,
            self.pipeline,
            key.partition,
            first.key_text(),
            last.key_text()
        );
        let mut parts: Vec<_> = self.store.root.parts().collect();
        let relative = Path::from(name.as_str());
        parts.extend(relative.parts());
        Path::from_iter(parts)
    }

    /// Removes the files a local store staged for the replayed cuts' objects when the
    /// last run stopped mid-write (`<key>#<n>`); the replay writes each object again.
    fn remove_staged(&self, plan: &Plan) {
        let Some(dir) = &self.store.local_dir else {
            return;
        };
        for ((prefix, partition, dead_letter), cuts) in plan {
            let key = BufferKey {
                prefix: prefix.clone(),
                partition: partition.as_str().into(),
                dead_letter: *dead_letter,
            };
            for cut in cuts.iter().filter(|c| !c.written) {
                let object = dir.join(self.object_path(&key, &cut.first, &cut.last).as_ref());
                let pattern = format!("{}#*", glob::Pattern::escape(&object.to_string_lossy()));
                for staged in glob::glob(&pattern).into_iter().flatten().flatten() {
                    match std::fs::remove_file(&staged) {
                        Ok(()) => {
                            tracing::info!(file = %staged.display(), "removed a file staged by the last run")
                        }
                        Err(e) => {
                            tracing::warn!(file = %staged.display(), error = %e, "could not remove a staged file")
                        }
                    }
                }
            }
        }
    }

    /// Starts writing a buffer's object, once fewer than `WRITES_IN_FLIGHT` are being
    /// written. The cut is recorded first, so a restart writes the same object.
    async fn flush(&mut self, key: &BufferKey, reason: Reason) -> Result<(), SinkError> {
        if self.buffers.get(key).is_none() {
            return Ok(());
        }
        while self.writes.len() >= WRITES_IN_FLIGHT {
            self.settle().await?;
        }
        let Some((id, buffer)) = self.buffers.begin_write(key) else {
            return Ok(());
        };
        let (first, last) = buffer
            .span
            .clone()
            .unwrap_or((buffer.first_position.clone(), buffer.last_position.clone()));
        let path = self.object_path(key, &first, &last);
        let cut = Cut {
            prefix: key.prefix.clone(),
            partition: key.partition.to_string(),
            dead_letter: key.dead_letter,
            first,
            last,
            routing: Some(self.spec.routing.clone()),
            rendered_at: key
                .dead_letter
                .then(|| super::dead_letter_times::first_arrival(&buffer.lines))
                .flatten(),
        };
        tracing::debug!(pipeline = %self.pipeline, partition = %cut.partition, prefix = %cut.prefix, first = %cut.first, last = %cut.last, reason = reason.as_str(), "cut");
        if let Err(e) = self.state.record_cut(cut).await {
            self.buffers.written(id);
            return self.fence(e).await;
        }
        crate::fault::hit("cut-recorded", &self.pipeline);
        self.metrics.flushed(reason.as_str());
        let job = WriteJob {
            pipeline: self.pipeline.clone(),
            store: self.store.clone(),
            state: self.state.for_partition(&key.partition),
            metrics: self.metrics.clone(),
            path,
            encoding: self.encoding(key.dead_letter),
            buffer,
        };
        let dead_letter = key.dead_letter;
        self.writes.spawn(async move {
            let (records, buffered) = (job.buffer.records, job.buffer.bytes);
            let opened = job.buffer.opened;
            let result = job.run().await;
            Written {
                id,
                dead_letter,
                budget: reason == Reason::Memory,
                records,
                buffered,
                opened,
                result,
            }
        });
        Ok(())
    }

    /// Whether objects are being written.
    pub fn writing(&self) -> bool {
        !self.writes.is_empty()
    }

    /// Waits for one object write to finish and accounts for it. A write that failed
    /// every attempt stops the pipeline; its records stay uncommitted.
    pub async fn settle(&mut self) -> Result<(), SinkError> {
        let Some(done) = self.writes.join_next().await else {
            return Ok(());
        };
        let done = done.map_err(|e| SinkError::Write {
            key: "(unknown)".into(),
            attempts: 1,
            reason: format!("the write task failed: {e}"),
            permanent: true,
        })?;
        self.buffers.written(done.id);
        let (path, written) = match done.result {
            Ok(w) => w,
            Err(SinkError::State(e)) => return self.fence(e).await,
            Err(e) => return Err(e),
        };
        if !done.dead_letter && done.buffered > 0 {
            let observed = written as f64 / done.buffered as f64;
            self.ratio = 0.8 * self.ratio + 0.2 * observed;
        }
        tracing::debug!(pipeline = %self.pipeline, object = %path, records = done.records, bytes = written, "object written");
        let waited = done.opened.elapsed().as_secs_f64();
        self.metrics
            .written(done.records, written, done.dead_letter, waited);
        self.stats.objects += 1;
        self.stats.bytes += written as u64;
        if done.dead_letter {
            self.stats.dead_letters += done.records as u64;
        } else {
            self.stats.records += done.records as u64;
        }
        if done.budget && self.last_release.elapsed() >= RELEASE_PERIOD {
            crate::alloc::release_freed();
            self.last_release = Instant::now();
        }
        Ok(())
    }

    /// How a buffer's object is encoded: dead letters are always plain JSON lines.
    fn encoding(&self, dead_letter: bool) -> Encoding {
        if dead_letter {
            return Encoding::Lines(Compression::None);
        }
        match self.spec.format {
            Format::Jsonl => Encoding::Lines(self.spec.compression),
            Format::Parquet => Encoding::Parquet(
                self.schema
                    .clone()
                    .expect("parquet sinks are validated to have a schema"),
                Box::new(self.spec.parquet_properties()),
            ),
        }
    }
}

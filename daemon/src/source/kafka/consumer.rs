//! The consumer thread: polls librdkafka, builds one batch per topic partition (key,
//! headers, broker timestamp, offset; `topic` and `partition` as partition keys for
//! prefixes) and hands full or lingering batches to the pipeline. The rebalance
//! callback runs on this thread: an assigned partition starts at its durable position,
//! a revoked one is flushed and released (and its offset committed) before it is
//! given up, a lost one is dropped without recording anything.
//!
//! The poll loop never blocks on the pipeline for long: a batch the pipeline cannot take
//! within a second is held and every assigned partition paused until it is taken, so
//! the member keeps polling (and stays in its group past `max.poll.interval.ms`) while
//! the sink is stalled, e.g. with S3 down.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};
use tokio::runtime::Handle;

use super::offsets::{Tracked, Verdict};
use super::{KafkaSource, Start, partition_id};
use crate::position::Position;
use crate::record::Batch;
use crate::source::{SourceContext, SourceError};
use crate::state::Positions;

/// A partly filled batch waits at most this long for more records.
const LINGER: Duration = Duration::from_millis(100);
const POLL: Duration = Duration::from_millis(100);
/// A batch is sent once its values reach this size, whatever `batch_size` says.
const MAX_BATCH_BYTES: usize = 8 << 20;
/// How long the poll loop waits for a full pipeline before pausing the partitions.
const BEFORE_PAUSE: Duration = Duration::from_secs(1);
/// A pause at least this long is logged when it ends.
const LONG_PAUSE: Duration = Duration::from_secs(5);
/// librdkafka calls made from the rebalance callback wait at most this long.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

pub type Weir = BaseConsumer<Member>;

/// The group member's side of the consumer: what it owns and what it has read.
pub struct Member {
    ctx: SourceContext,
    handle: Handle,
    start: Start,
    /// Owned partitions and what was read of each.
    owned: Mutex<HashMap<(String, i32), Tracked>>,
    seek_back: i64,
    /// Partly filled batches per partition, with when their first record came.
    pending: Mutex<HashMap<(String, i32), (Batch, Instant)>>,
    /// Batches due that the pipeline has not taken yet, oldest first; while there are
    /// any, the assigned partitions are paused.
    held: Mutex<VecDeque<Batch>>,
    /// Since when the partitions are paused, while they are.
    paused_since: Mutex<Option<Instant>>,
    closing: AtomicBool,
    /// Partitions started at `start` time: records before the first one at or after
    /// it (milliseconds) are skipped. A broker may answer the time lookup with the
    /// start of the record batch holding that time (tansu answers the log start).
    not_before: Mutex<HashMap<(String, i32), i64>>,
}

impl Member {
    /// The owned partitions: (topic, partition, source partition id).
    pub fn owned(&self) -> Vec<(String, i32, String)> {
        let owned = self.owned.lock().expect("owned lock");
        owned
            .keys()
            .map(|(t, p)| (t.clone(), *p, partition_id(t, *p)))
            .collect()
    }

    /// Where the source reports lag and rebalances.
    pub fn metrics(&self) -> &crate::metrics::PipelineMetrics {
        &self.ctx.metrics
    }

    /// The consumer is being closed: rebalance callbacks no longer wait on the pipeline.
    pub fn closing(&self) {
        self.closing.store(true, Ordering::SeqCst);
    }

    /// What to do with a delivered record: nothing unless its partition is owned (it
    /// was not revoked meanwhile).
    fn check(&self, key: &(String, i32), offset: i64) -> Verdict {
        let mut owned = self.owned.lock().expect("owned lock");
        match owned.get_mut(key) {
            Some(tracked) => tracked.check(offset, self.seek_back),
            None => Verdict::Skip,
        }
    }

    /// Whether the pipeline no longer takes part: the consumer is closing or the input
    /// ended. Callbacks then neither send nor wait (closing may run on an async worker).
    fn stopped(&self) -> bool {
        self.closing.load(Ordering::SeqCst) || self.ctx.is_closed()
    }

    fn paused(&self) -> bool {
        self.paused_since
            .lock()
            .expect("paused_since lock")
            .is_some()
    }

    /// The held batches of one partition, in order, taken out of the queue.
    fn take_held(&self, id: &str) -> Vec<Batch> {
        let mut held = self.held.lock().expect("held lock");
        let (mine, others): (VecDeque<Batch>, VecDeque<Batch>) =
            held.drain(..).partition(|b| &*b.partition == id);
        *held = others;
        mine.into()
    }

    /// Moves the batches that are full, that lingered, or all when the poll was idle,
    /// from the pending ones to the end of the held queue.
    fn hold_due(&self, batch_size: usize, idle: bool) {
        let mut pending = self.pending.lock().expect("pending lock");
        let keys: Vec<_> = pending
            .iter()
            .filter(|(_, (b, since))| {
                idle || b.len() >= batch_size
                    || b.value_bytes() >= MAX_BATCH_BYTES
                    || since.elapsed() >= LINGER
            })
            .map(|(k, _)| k.clone())
            .collect();
        let mut held = self.held.lock().expect("held lock");
        held.extend(
            keys.iter()
                .filter_map(|k| pending.remove(k))
                .map(|(b, _)| b),
        );
    }

    /// Pauses every assigned partition (`stall`) or resumes them, on a change.
    fn stall(&self, consumer: &Weir, stall: bool) {
        let mut since = self.paused_since.lock().expect("paused_since lock");
        if since.is_some() == stall {
            return;
        }
        let Ok(assignment) = consumer.assignment() else {
            return;
        };
        let done = if stall {
            tracing::debug!("the pipeline is full; pausing the partitions and polling on");
            *since = Some(Instant::now());
            consumer.pause(&assignment)
        } else {
            let paused = since.take().map(|t| t.elapsed()).unwrap_or_default();
            if paused >= LONG_PAUSE {
                tracing::info!(paused = ?paused, "resuming the partitions: the pipeline was full (the sink is slow or failing) and takes input again");
            }
            consumer.resume(&assignment)
        };
        if let Err(e) = done {
            tracing::warn!(error = %e, stall, "could not pause or resume the partitions");
        }
    }

    fn assign(&self, consumer: &Weir, tpl: &mut TopicPartitionList) {
        let parts: Vec<(String, i32)> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition()))
            .collect();
        // Where the group left each partition: another member may have read it last.
        let group = consumer.committed_offsets(tpl.clone(), CALL_TIMEOUT).ok();
        let mut fresh = TopicPartitionList::new();
        for (topic, partition) in &parts {
            let floor = group
                .as_ref()
                .and_then(|g| g.find_partition(topic, *partition))
                .and_then(|e| match e.offset() {
                    Offset::Offset(n) if n >= 0 => Some(Position::offset(n as u64)),
                    _ => None,
                });
            let id = partition_id(topic, *partition);
            if self.stopped() {
                return;
            }
            let Ok(start) = self
                .handle
                .block_on(self.ctx.assign(id.as_str().into(), floor))
            else {
                tracing::warn!(partition = %id, "the pipeline stopped before the partition was taken on");
                return;
            };
            let start = start.as_ref().and_then(Position::as_offset);
            match start {
                Some(offset) => {
                    let from = (offset as i64 - self.seek_back).max(0);
                    let _ = tpl.set_partition_offset(topic, *partition, Offset::Offset(from));
                }
                None => {
                    fresh.add_partition(topic, *partition);
                }
            }
            let tracked = Tracked::new(start.map(|o| o as i64));
            self.owned
                .lock()
                .expect("owned lock")
                .insert((topic.clone(), *partition), tracked);
        }
        if let Start::At(ms) = self.start
            && fresh.count() > 0
        {
            start_at_time(consumer, tpl, &fresh, ms);
            let mut not_before = self.not_before.lock().expect("not_before lock");
            for e in fresh.elements() {
                not_before.insert((e.topic().to_string(), e.partition()), ms);
            }
        }
        tracing::info!(partitions = ?parts, "partitions assigned");
        self.ctx.metrics.rebalanced("assigned", parts.len());
        let assigned = match consumer.rebalance_protocol() {
            RebalanceProtocol::Cooperative => consumer.incremental_assign(tpl),
            _ => consumer.assign(tpl),
        };
        if let Err(e) = assigned {
            tracing::error!(error = %e, "could not take the assigned partitions");
        }
        if self.paused()
            && let Err(e) = consumer.pause(tpl)
        {
            tracing::warn!(error = %e, "could not pause the assigned partitions");
        }
    }

    fn revoke(&self, consumer: &Weir, tpl: &TopicPartitionList) {
        let lost = consumer.assignment_lost();
        let mut commit = Positions::default();
        for e in tpl.elements() {
            let key = (e.topic().to_string(), e.partition());
            let id = partition_id(&key.0, key.1);
            let mut unsent = self.take_held(&id);
            let pending = self.pending.lock().expect("pending lock").remove(&key);
            unsent.extend(pending.map(|(batch, _)| batch));
            self.owned.lock().expect("owned lock").remove(&key);
            self.not_before
                .lock()
                .expect("not_before lock")
                .remove(&key);
            if self.stopped() {
                continue;
            }
            if lost {
                tracing::warn!(partition = %id, "partition lost (this member was out of the group); dropping what it buffered");
                let _ = self
                    .handle
                    .block_on(self.ctx.drop_partition(id.as_str().into()));
                continue;
            }
            for batch in unsent {
                let _ = self.handle.block_on(self.ctx.send(batch));
            }
            match self.handle.block_on(self.ctx.release(id.as_str().into())) {
                Ok(Some(position)) => {
                    commit.0.insert(id, position);
                }
                Ok(None) => {}
                Err(_) => {
                    tracing::warn!(partition = %id, "the pipeline stopped before the partition was released")
                }
            }
        }
        let offsets = offsets_of(tpl, &commit);
        if offsets.count() > 0
            && let Err(e) = consumer.commit(&offsets, CommitMode::Sync)
        {
            tracing::warn!(error = %e, "could not commit the released partitions' offsets");
        }
        tracing::info!(partitions = tpl.count(), lost, "partitions revoked");
        let kind = if lost { "lost" } else { "revoked" };
        self.ctx.metrics.rebalanced(kind, tpl.count());
        let unassigned = match consumer.rebalance_protocol() {
            RebalanceProtocol::Cooperative => consumer.incremental_unassign(tpl),
            _ => consumer.unassign(),
        };
        if let Err(e) = unassigned {
            tracing::error!(error = %e, "could not give up the revoked partitions");
        }
    }
}

/// Partitions with nothing stored, here or in the group, start at the first record at
/// or after `ms`.
fn start_at_time(
    consumer: &Weir,
    tpl: &mut TopicPartitionList,
    fresh: &TopicPartitionList,
    ms: i64,
) {
    let mut by_time = TopicPartitionList::new();
    for e in fresh.elements() {
        let _ = by_time.add_partition_offset(e.topic(), e.partition(), Offset::Offset(ms));
    }
    match consumer.offsets_for_times(by_time, CALL_TIMEOUT) {
        Ok(found) => {
            for e in found.elements() {
                let _ = tpl.set_partition_offset(e.topic(), e.partition(), e.offset());
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "could not find the offsets for `start`; those partitions start at the earliest record")
        }
    }
}

/// The offsets to commit for the partitions of `tpl` with a durable position.
fn offsets_of(tpl: &TopicPartitionList, durable: &Positions) -> TopicPartitionList {
    let mut out = TopicPartitionList::new();
    for e in tpl.elements() {
        let id = partition_id(e.topic(), e.partition());
        if let Some(offset) = durable.0.get(&id).and_then(Position::as_offset) {
            let _ =
                out.add_partition_offset(e.topic(), e.partition(), Offset::Offset(offset as i64));
        }
    }
    out
}

impl ClientContext for Member {}

impl ConsumerContext for Member {
    fn rebalance(&self, consumer: &Weir, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.assign(consumer, tpl),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => self.revoke(consumer, tpl),
            other => tracing::error!(error = ?other, "rebalance failed"),
        }
    }
}

/// A connected, subscribed consumer, ready to run on its own thread.
pub struct Running {
    consumer: Arc<Weir>,
    batch_size: usize,
}

/// The commit loop of a connected consumer: it ends once the pipeline's writer is gone,
/// after a last commit and closing the consumer.
pub type Committer = tokio::task::JoinHandle<()>;

pub fn connect(
    source: &KafkaSource,
    ctx: SourceContext,
    handle: Handle,
) -> Result<(Running, Committer), SourceError> {
    let mut config = ClientConfig::new();
    for (k, v) in &source.client {
        config.set(k, v);
    }
    let acks = ctx.acknowledgements();
    let member = Member {
        ctx,
        handle: handle.clone(),
        start: source.start,
        seek_back: source.seek_back,
        owned: Mutex::new(HashMap::new()),
        pending: Mutex::new(HashMap::new()),
        held: Mutex::new(VecDeque::new()),
        paused_since: Mutex::new(None),
        closing: AtomicBool::new(false),
        not_before: Mutex::new(HashMap::new()),
    };
    let consumer: Weir = config
        .create_with_context(member)
        .map_err(|e| SourceError::Kafka(format!("cannot create the consumer: {e}")))?;
    let topics: Vec<&str> = source.subscription.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|e| SourceError::Kafka(format!("cannot subscribe to {topics:?}: {e}")))?;
    let consumer = Arc::new(consumer);
    let committer = handle.spawn(super::commit::follow(consumer.clone(), acks));
    let running = Running {
        consumer,
        batch_size: source.batch_size,
    };
    Ok((running, committer))
}

impl Running {
    /// Polls until shutdown or until the pipeline stops taking input.
    pub fn run(self) -> Result<(), SourceError> {
        let member = self.consumer.context().clone();
        let mut errors = 0u64;
        while !member.ctx.shutdown.is_cancelled() && !member.ctx.is_closed() {
            // While batches are held, waiting for room happens in `send_due`.
            let stalled = !member.held.lock().expect("held lock").is_empty();
            let idle = match self
                .consumer
                .poll(if stalled { Duration::ZERO } else { POLL })
            {
                Some(Ok(message)) => {
                    self.take(&member, &message);
                    false
                }
                Some(Err(e)) => {
                    errors += 1;
                    if errors.is_power_of_two() {
                        tracing::warn!(error = %e, errors, "the Kafka consumer reports an error");
                    }
                    true
                }
                None => true,
            };
            if self.send_due(&member, idle).is_err() {
                break;
            }
        }
        member.hold_due(self.batch_size, true);
        let rest: Vec<Batch> = member.held.lock().expect("held lock").drain(..).collect();
        for batch in rest {
            let _ = member.handle.block_on(member.ctx.send(batch));
        }
        // The consumer outlives this loop (offsets are committed until the pipeline
        // is done), and its callbacks hold the context: end the input explicitly.
        member.ctx.close();
        Ok(())
    }

    fn take(&self, member: &Member, message: &BorrowedMessage<'_>) {
        let key = (message.topic().to_string(), message.partition());
        let offset = message.offset();
        match member.check(&key, offset) {
            Verdict::Keep => {}
            Verdict::Skip => return,
            Verdict::Rewind(from) => {
                tracing::info!(partition = %partition_id(&key.0, key.1), from, got = offset, "offsets were skipped; fetching again from before them");
                if let Err(e) =
                    self.consumer
                        .seek(&key.0, key.1, Offset::Offset(from), CALL_TIMEOUT)
                {
                    tracing::warn!(error = %e, "could not fetch again; the skipped offsets stay skipped");
                }
                return;
            }
        }
        let time = message.timestamp().to_millis();
        {
            let mut not_before = member.not_before.lock().expect("not_before lock");
            if let Some(ms) = not_before.get(&key) {
                if time.is_some_and(|t| t < *ms) {
                    return;
                }
                not_before.remove(&key);
            }
        }
        let mut pending = member.pending.lock().expect("pending lock");
        let (batch, _) = pending.entry(key.clone()).or_insert_with(|| {
            (
                Batch::new(partition_id(&key.0, key.1).into()),
                Instant::now(),
            )
        });
        if let Some(headers) = message.headers() {
            for h in headers.iter() {
                batch.push_header(h.key.as_bytes(), h.value.unwrap_or_default());
            }
        }
        batch.push_partition_key(b"topic", key.0.as_bytes());
        batch.push_partition_key(b"partition", key.1.to_string().as_bytes());
        let time = time.unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
        batch.push(
            message.payload().unwrap_or_default(),
            message.key(),
            time,
            Position::offset(offset as u64),
        );
        batch.next_position = Position::offset(offset as u64 + 1);
    }

    /// Sends the batches that are due, oldest first. The pipeline has `BEFORE_PAUSE` to
    /// take one (a moment's fill is waited out: pausing drops what librdkafka prefetched);
    /// what it cannot take stays held, with the partitions paused, and is offered for a
    /// poll interval on each later turn.
    fn send_due(&self, member: &Member, idle: bool) -> Result<(), crate::source::Closed> {
        member.hold_due(self.batch_size, idle);
        loop {
            let Some(batch) = member.held.lock().expect("held lock").pop_front() else {
                break;
            };
            let patience = if member.paused() { POLL } else { BEFORE_PAUSE };
            let wait = member.ctx.send_within(batch, patience);
            if let Some(batch) = member.handle.block_on(wait)? {
                member.held.lock().expect("held lock").push_front(batch);
                break;
            }
        }
        let stalled = !member.held.lock().expect("held lock").is_empty();
        member.stall(&self.consumer, stalled);
        Ok(())
    }
}

//! What a running source is given: where to start, where to send batches, the
//! acknowledgements flowing back (the durable position of every partition as it
//! advances), control over a partition's lifecycle, and the shutdown signal.
//!
//! Batches and partition control travel in one ordered stream through decode and
//! transforms to the sink, so a partition released after its last batch is flushed
//! with that batch in it.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::metrics::PipelineMetrics;
use crate::position::Position;
use crate::record::{Batch, PartitionId};
use crate::state::{PipelineState, Positions, StateError};

/// One item of a source's output stream.
// Nearly every item is a batch: boxing it to shrink the rare control items would cost
// an allocation per batch.
#[allow(clippy::large_enum_variant)]
pub enum SourceEvent {
    Batch(Batch),
    /// Take a partition on: claim its state where each partition's is its own, replay
    /// its recorded cuts; answered with where reading it starts.
    Assign {
        partition: PartitionId,
        floor: Option<Position>,
        done: oneshot::Sender<Option<Position>>,
    },
    /// Flush every buffer of the partition, record its position, forget it; answered
    /// with its durable position once that is stored.
    Release {
        partition: PartitionId,
        done: oneshot::Sender<Option<Position>>,
    },
    /// Forget the partition's buffered records without recording anything; another
    /// reader (or a later run) reads them again from the stored position.
    Drop {
        partition: PartitionId,
    },
}

/// The pipeline stopped taking input (it is shutting down or failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the pipeline no longer takes input")]
pub struct Closed;

pub struct SourceContext {
    start: Positions,
    /// Taken out by `close`: the input ends once no send is under way.
    events: Mutex<Option<mpsc::Sender<SourceEvent>>>,
    acks: watch::Receiver<Positions>,
    pub shutdown: CancellationToken,
    /// Where the source reports what only it knows (lag in the source, rebalances).
    pub metrics: PipelineMetrics,
    /// Where the source's notes are kept; none in unit tests (kept in memory only).
    state: Option<PipelineState>,
}

impl SourceContext {
    pub fn new(
        start: Positions,
        events: mpsc::Sender<SourceEvent>,
        acks: watch::Receiver<Positions>,
        (shutdown, metrics): (CancellationToken, PipelineMetrics),
    ) -> Self {
        Self {
            start,
            events: Mutex::new(Some(events)),
            acks,
            shutdown,
            metrics,
            state: None,
        }
    }

    /// Keeps the source's notes in the pipeline's state.
    pub fn with_state(mut self, state: PipelineState) -> Self {
        self.state = Some(state);
        self
    }

    /// The notes the source saved in an earlier run.
    pub async fn notes(&self) -> Result<Option<serde_json::Value>, StateError> {
        match &self.state {
            Some(state) => state.source_notes().await,
            None => Ok(None),
        }
    }

    /// Saves the source's notes; returns once they are durable, so the source may then
    /// send what depends on them.
    pub async fn save_notes(&self, notes: serde_json::Value) -> Result<(), StateError> {
        match &self.state {
            Some(state) => state.save_source_notes(notes).await,
            None => Ok(()),
        }
    }

    /// The stored positions when the pipeline started: resume each partition there.
    pub fn start(&self) -> &Positions {
        &self.start
    }

    /// The durable position of a partition now (its stored one until this run wrote):
    /// where to start a partition assigned mid-run.
    pub fn durable(&self, partition: &str) -> Option<Position> {
        self.acks.borrow().0.get(partition).cloned()
    }

    fn events(&self) -> Result<mpsc::Sender<SourceEvent>, Closed> {
        self.events
            .lock()
            .expect("events lock")
            .clone()
            .ok_or(Closed)
    }

    /// Sends a batch on; waits while the pipeline is full (back-pressure).
    pub async fn send(&self, batch: Batch) -> Result<(), Closed> {
        let events = self.events()?;
        events
            .send(SourceEvent::Batch(batch))
            .await
            .map_err(|_| Closed)
    }

    /// Sends a batch on if the pipeline takes it within `wait`; otherwise hands it back,
    /// so a source can keep serving its own protocol (a Kafka member keeps polling with
    /// its partitions paused) instead of blocking.
    pub async fn send_within(&self, batch: Batch, wait: Duration) -> Result<Option<Batch>, Closed> {
        let events = self.events()?;
        match tokio::time::timeout(wait, events.reserve()).await {
            Ok(Ok(permit)) => {
                permit.send(SourceEvent::Batch(batch));
                Ok(None)
            }
            Ok(Err(_)) => Err(Closed),
            Err(_) => Ok(Some(batch)),
        }
    }

    /// Ends the source's input: the pipeline flushes once what was sent is through.
    /// Dropping the context does the same; a source that keeps its context alive past
    /// its run (a Kafka consumer's callbacks) closes it when it stops reading.
    pub fn close(&self) {
        self.events.lock().expect("events lock").take();
    }

    /// Takes a partition on (assigned to this reader) and answers where to read it from:
    /// its durable position, or `floor` (e.g. the group's committed offset) when that is
    /// further. With per-partition state the partition is claimed first, which fences
    /// the daemon that read it before, and the cuts it recorded are replayed here.
    pub async fn assign(
        &self,
        partition: PartitionId,
        floor: Option<Position>,
    ) -> Result<Option<Position>, Closed> {
        let (done, answer) = oneshot::channel();
        self.events()?
            .send(SourceEvent::Assign {
                partition,
                floor,
                done,
            })
            .await
            .map_err(|_| Closed)?;
        answer.await.map_err(|_| Closed)
    }

    /// Flushes and releases a partition (revoked, or finished): returns once every
    /// record sent for it is durable, with the position stored for it.
    pub async fn release(&self, partition: PartitionId) -> Result<Option<Position>, Closed> {
        let (done, answer) = oneshot::channel();
        self.events()?
            .send(SourceEvent::Release { partition, done })
            .await
            .map_err(|_| Closed)?;
        answer.await.map_err(|_| Closed)
    }

    /// Drops a partition's buffered records without recording anything (lost, not
    /// revoked: another reader may already own it).
    pub async fn drop_partition(&self, partition: PartitionId) -> Result<(), Closed> {
        self.events()?
            .send(SourceEvent::Drop { partition })
            .await
            .map_err(|_| Closed)
    }

    /// Whether the pipeline stopped taking input.
    pub fn is_closed(&self) -> bool {
        self.events().ok().is_none_or(|e| e.is_closed())
    }

    /// The acknowledgements: durable positions per partition, updated as they advance
    /// (every record before a partition's position is in a written object or the error
    /// prefix). A Kafka source commits offsets from here; an HTTP endpoint answers.
    pub fn acknowledgements(&self) -> watch::Receiver<Positions> {
        self.acks.clone()
    }
}

//! What a running source is given: where to start, where to send batches, the
//! acknowledgements flowing back (the durable position of every partition as it
//! advances), control over a partition's lifecycle, and the shutdown signal.
//!
//! Batches and partition control travel in one ordered stream through decode and
//! transforms to the sink, so a partition released after its last batch is flushed
//! with that batch in it.

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::position::Position;
use crate::record::{Batch, PartitionId};
use crate::state::Positions;

/// One item of a source's output stream.
// Nearly every item is a batch: boxing it to shrink the rare control items would cost
// an allocation per batch.
#[allow(clippy::large_enum_variant)]
pub enum SourceEvent {
    Batch(Batch),
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
    events: mpsc::Sender<SourceEvent>,
    acks: watch::Receiver<Positions>,
    pub shutdown: CancellationToken,
}

impl SourceContext {
    pub fn new(
        start: Positions,
        events: mpsc::Sender<SourceEvent>,
        acks: watch::Receiver<Positions>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            start,
            events,
            acks,
            shutdown,
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

    /// Sends a batch on; waits while the pipeline is full (back-pressure).
    pub async fn send(&self, batch: Batch) -> Result<(), Closed> {
        self.events
            .send(SourceEvent::Batch(batch))
            .await
            .map_err(|_| Closed)
    }

    /// Flushes and releases a partition (revoked, or finished): returns once every
    /// record sent for it is durable, with the position stored for it.
    pub async fn release(&self, partition: PartitionId) -> Result<Option<Position>, Closed> {
        let (done, answer) = oneshot::channel();
        self.events
            .send(SourceEvent::Release { partition, done })
            .await
            .map_err(|_| Closed)?;
        answer.await.map_err(|_| Closed)
    }

    /// Drops a partition's buffered records without recording anything (lost, not
    /// revoked: another reader may already own it).
    pub async fn drop_partition(&self, partition: PartitionId) -> Result<(), Closed> {
        self.events
            .send(SourceEvent::Drop { partition })
            .await
            .map_err(|_| Closed)
    }

    /// Whether the pipeline stopped taking input.
    pub fn is_closed(&self) -> bool {
        self.events.is_closed()
    }

    /// The acknowledgements: durable positions per partition, updated as they advance
    /// (every record before a partition's position is in a written object or the error
    /// prefix). A Kafka source commits offsets from here; an HTTP endpoint answers.
    pub fn acknowledgements(&self) -> watch::Receiver<Positions> {
        self.acks.clone()
    }
}

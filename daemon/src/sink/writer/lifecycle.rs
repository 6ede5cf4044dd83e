//! A partition's life in the writer: taken on when the source is assigned it (claimed,
//! its cuts replayed), released when revoked (flushed, recorded), dropped when lost
//! (nothing recorded), and fenced when another daemon claimed its state.

use super::{Reason, SinkError, SinkWriter};
use crate::position::Position;
use crate::record::PartitionId;
use crate::state::{Positions, StateError};

impl SinkWriter {
    /// Flushes and releases one partition: its buffers are written and its position
    /// stored, then it is forgotten. A buffer waiting for its replayed cut is dropped
    /// instead (writing it short would give its records a second key); its records
    /// stay after the stored position. Returns the partition's stored position.
    pub async fn release(
        &mut self,
        partition: &PartitionId,
    ) -> Result<Option<Position>, SinkError> {
        for key in self.buffers.keys() {
            if key.partition != *partition {
                continue;
            }
            if self.replay.holds(&key) {
                self.buffers.discard(&key);
            } else {
                self.flush(&key, Reason::Release).await?;
            }
        }
        while self.writing() {
            self.settle().await?;
        }
        self.commit().await?;
        self.buffers.forget(partition);
        self.state.forget(partition).await;
        Ok(self.committed.0.get(&**partition).cloned())
    }

    /// Drops one partition's open buffers without recording anything for it.
    pub async fn drop_partition(&mut self, partition: &PartitionId) {
        for key in self.buffers.keys() {
            if key.partition == *partition {
                self.buffers.discard(&key);
            }
        }
        self.buffers.forget(partition);
        self.state.forget(partition).await;
    }

    /// Takes a partition on (assigned to the source): claims its state where each
    /// partition's is its own, replays the cuts recorded for it, and returns where its
    /// reading starts: the stored position, or `floor` when that is further on (another
    /// reader made the records before it durable).
    pub async fn assign(
        &mut self,
        partition: &PartitionId,
        floor: Option<Position>,
    ) -> Result<Option<Position>, SinkError> {
        self.fenced.remove(partition);
        let claimed = self.state.claim(partition).await?;
        let stored_here = match &claimed {
            Some(snapshot) => snapshot.positions.0.get(&**partition).cloned(),
            None => self.committed.0.get(&**partition).cloned(),
        };
        let start = stored_here.clone().max(floor.clone());
        tracing::info!(pipeline = %self.pipeline, %partition, stored = ?stored_here.map(|p| p.to_string()), floor = ?floor.map(|p| p.to_string()), start = ?start.as_ref().map(|p| p.to_string()), "taking the partition on");
        let mut stored = Positions::default();
        if let Some(p) = &start {
            stored.0.insert(partition.to_string(), p.clone());
        }
        let cuts = match claimed {
            Some(snapshot) => {
                if let Some(multipart) = &self.store.multipart {
                    let state = self.state.for_partition(partition);
                    crate::sink::upload::recover(&snapshot.uploads, multipart.as_ref(), &state)
                        .await?;
                }
                self.dead_letter_times.set(&snapshot.cuts, &stored);
                snapshot.cuts
            }
            None => self.replay.cuts_of(partition),
        };
        crate::sink::ledger::check_routing(&cuts, &stored, &self.spec.routing)?;
        let plan = crate::sink::ledger::plan(&cuts, &stored);
        tracing::debug!(pipeline = %self.pipeline, %partition, ?plan, "replay plan");
        self.remove_staged(&plan);
        self.replay.restart(partition, plan);
        if self.committed.0.get(&**partition) != start.as_ref() {
            let mut next = self.committed.clone();
            match &start {
                Some(p) => next.0.insert(partition.to_string(), p.clone()),
                None => next.0.remove(&**partition),
            };
            self.state.commit(&next).await?;
            self.metrics.committed(&next.0);
            self.acks.send_replace(next.clone());
            self.committed = next;
        }
        Ok(start)
    }

    /// Handles a state write refused because another daemon claimed partitions: their
    /// buffers are dropped and their records ignored until they are assigned here
    /// again. Any other error is returned.
    pub(super) async fn fence(&mut self, error: StateError) -> Result<(), SinkError> {
        let StateError::PartitionLost { partitions, .. } = &error else {
            return Err(error.into());
        };
        for partition in partitions {
            let partition: PartitionId = partition.as_str().into();
            tracing::warn!(pipeline = %self.pipeline, %partition, "another daemon claimed the partition; dropping what this one buffered for it");
            self.drop_partition(&partition).await;
            // Its position is the new owner's to acknowledge now.
            self.committed.0.remove(&*partition);
            self.fenced.insert(partition);
        }
        self.acks.send_replace(self.committed.clone());
        Ok(())
    }
}

/// The partitions a `PartitionLost` error names.
pub(super) fn lost_partitions(error: &StateError) -> Vec<String> {
    match error {
        StateError::PartitionLost { partitions, .. } => partitions.clone(),
        _ => Vec::new(),
    }
}

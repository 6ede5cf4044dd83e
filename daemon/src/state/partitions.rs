//! Object-store state kept per source partition, for sources whose partitions are
//! handed out by someone else (a Kafka consumer group): each partition's positions,
//! cuts and uploads are one object (`<url>/<pipeline>/partitions/<partition>.json`),
//! claimed by whichever daemon is assigned the partition. A claim raises the object's
//! epoch with a conditional put, so a daemon that lost the partition (paused past its
//! session, cut off) fails its next write for it and writes nothing more for it.

use std::collections::HashMap;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::path::Path;
use tokio::sync::Mutex;

use super::object::ObjectState;
use super::{Cut, Positions, Snapshot, StateError, Upload};
use crate::metrics::PipelineMetrics;

pub struct PartitionedState {
    store: Arc<dyn ObjectStore>,
    /// `<root>/<pipeline>/partitions`.
    folder: Path,
    /// The same, as a URL for messages.
    pub url: String,
    holder: String,
    metrics: PipelineMetrics,
    claimed: Mutex<HashMap<String, Arc<ObjectState>>>,
}

impl PartitionedState {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        folder: Path,
        url: String,
        holder: String,
        metrics: PipelineMetrics,
    ) -> Self {
        Self {
            store,
            folder,
            url,
            holder,
            metrics,
            claimed: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a partition's state over (whoever held it before) and returns it.
    pub async fn claim(&self, partition: &str) -> Result<Snapshot, StateError> {
        let path = self.folder.clone().join(format!("{partition}.json"));
        let url = format!("{}/{partition}.json", self.url);
        let state = ObjectState::claim(
            self.store.clone(),
            path,
            url,
            self.holder.clone(),
            self.metrics.clone(),
        )
        .await?;
        let snapshot = state.load().await;
        self.claimed
            .lock()
            .await
            .insert(partition.to_string(), Arc::new(state));
        Ok(snapshot)
    }

    /// Forgets a partition: nothing more is written for it from here.
    pub async fn forget(&self, partition: &str) {
        self.claimed.lock().await.remove(partition);
    }

    /// Whether writes for this partition can still succeed (claimed and not lost).
    pub async fn holds(&self, partition: &str) -> bool {
        let claimed = self.claimed.lock().await;
        claimed
            .get(partition)
            .is_some_and(|s| !s.lost.is_cancelled())
    }

    async fn of(&self, partition: &str) -> Result<Arc<ObjectState>, StateError> {
        let claimed = self.claimed.lock().await;
        match claimed.get(partition) {
            Some(s) if !s.lost.is_cancelled() => Ok(s.clone()),
            _ => Err(self.lost(partition)),
        }
    }

    fn lost(&self, partition: &str) -> StateError {
        StateError::PartitionLost {
            url: self.url.clone(),
            partitions: vec![partition.to_string()],
        }
    }

    /// Applies `change` to one partition's object; a lost claim is `PartitionLost`.
    async fn write(
        &self,
        partition: &str,
        change: impl FnOnce(&mut super::object::Doc),
    ) -> Result<(), StateError> {
        let state = self.of(partition).await?;
        match state.write(change).await {
            Err(StateError::LeaseLost { holder, .. }) => {
                tracing::warn!(partition, state = %state.url, %holder, "another daemon claimed the partition; writing nothing more for it");
                self.forget(partition).await;
                Err(self.lost(partition))
            }
            other => other,
        }
    }

    pub async fn record_cut(&self, cut: Cut) -> Result<(), StateError> {
        let partition = cut.partition.clone();
        self.write(&partition, |doc| doc.cuts.push(cut)).await
    }

    /// Stores the positions of the claimed partitions that moved; every partition whose
    /// claim was lost meanwhile is named in one `PartitionLost` at the end.
    pub async fn commit(&self, positions: &Positions) -> Result<(), StateError> {
        let claimed: Vec<(String, Arc<ObjectState>)> = {
            let claimed = self.claimed.lock().await;
            claimed
                .iter()
                .map(|(p, s)| (p.clone(), s.clone()))
                .collect()
        };
        let mut lost = Vec::new();
        for (partition, state) in claimed {
            let Some(position) = positions.0.get(&partition) else {
                continue;
            };
            if state.position(&partition).await.as_ref() == Some(position) {
                continue;
            }
            let mut one = Positions::default();
            one.0.insert(partition.clone(), position.clone());
            let written = self
                .write(&partition, |doc| {
                    super::prune(&mut doc.cuts, &one);
                    doc.positions = one;
                })
                .await;
            match written {
                Ok(()) => {}
                Err(StateError::PartitionLost { .. }) => lost.push(partition),
                Err(e) => return Err(e),
            }
        }
        if lost.is_empty() {
            Ok(())
        } else {
            Err(StateError::PartitionLost {
                url: self.url.clone(),
                partitions: lost,
            })
        }
    }

    pub async fn upload_started(&self, partition: &str, upload: Upload) -> Result<(), StateError> {
        self.write(partition, |doc| doc.uploads.push(upload)).await
    }

    pub async fn upload_finished(&self, partition: &str, id: &str) -> Result<(), StateError> {
        self.write(partition, |doc| doc.uploads.retain(|u| u.id != id))
            .await
    }

    pub async fn clear_uploads(&self, partition: &str) -> Result<(), StateError> {
        self.write(partition, |doc| doc.uploads.clear()).await
    }
}

//! A pipeline's durable state: the source positions to resume from, the cut ledger
//! (what each object about to be written holds) and the multipart uploads begun. It
//! lives in the local state directory (the default) or in an object store, where a
//! lease lets one daemon write while others stand by, or, for a source whose partitions
//! a consumer group hands out, one object per partition claimed by its reader. Every
//! operation is async and runs blocking file work off the async workers.

mod lease;
mod local;
mod notes;
mod object;
mod partitions;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::metrics::PipelineMetrics;
use crate::position::Position;
pub use lease::{LeaseRecord, process_holder};
use local::LocalState;
use object::ObjectState;
use partitions::PartitionedState;

/// For each source partition, the position to resume from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Positions(pub BTreeMap<String, Position>);

impl Positions {
    /// These positions moved forward to `marks`: a partition missing from `marks` keeps
    /// its position (this run did not touch it), and no position ever moves backwards.
    pub fn advanced_to(&self, marks: &BTreeMap<String, Position>) -> Positions {
        let mut next = self.clone();
        for (partition, mark) in marks {
            let position = next
                .0
                .entry(partition.clone())
                .or_insert_with(|| mark.clone());
            if *mark > *position {
                *position = mark.clone();
            }
        }
        next
    }

    /// The stored offset of a partition whose positions are offsets. A stored position
    /// of another shape was written by another kind of source: it is ignored, loudly.
    pub fn offset_of(&self, partition: &str) -> Option<u64> {
        let position = self.0.get(partition)?;
        let offset = position.as_offset();
        if offset.is_none() {
            tracing::warn!(partition, %position, "the stored position is not an offset (was the source changed?); reading the partition from the start");
        }
        offset
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "cannot read state `{path}`: {source}; fix or remove the file (removing it replays the source from the start)"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state `{path}` is corrupt: {source}; remove it to replay the source from the start")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "state `{path}` is corrupt at line {line}: {source}; restore it from a backup, or remove it to give up exactly-once for the records it covers"
    )]
    CorruptLine {
        path: PathBuf,
        line: usize,
        source: serde_json::Error,
    },
    #[error("cannot write state `{path}`: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state `{url}`: {source}")]
    Store {
        url: String,
        source: object_store::Error,
    },
    #[error(
        "state `{url}` was written by a newer Weir (format {format}); run that version or newer"
    )]
    Newer { url: String, format: u32 },
    #[error("lost the lease on `{url}` to {holder}; this daemon stopped writing and stands by")]
    LeaseLost { url: String, holder: String },
    /// Another daemon claimed these partitions (a consumer group moved them): nothing
    /// more is written for them here.
    #[error("partitions {partitions:?} of `{url}` were claimed by another daemon")]
    PartitionLost {
        url: String,
        partitions: Vec<String>,
    },
}

impl StateError {
    /// Whether trying again later can succeed: the store was unreachable or failing, or
    /// the lease went to another daemon (this one then stands by).
    pub fn transient(&self) -> bool {
        match self {
            StateError::LeaseLost { .. } | StateError::PartitionLost { .. } => true,
            StateError::Store { source, .. } => !crate::sink::retry::Failure::of(source).permanent,
            _ => false,
        }
    }
}

/// A recorded cut: the prefix, source partition and positions of one object's records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cut {
    pub prefix: String,
    pub partition: String,
    pub dead_letter: bool,
    pub first: Position,
    pub last: Position,
    /// The routing the cut was made under (`SinkSpec::routing`); none in ledgers
    /// written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<String>,
    /// A dead-letter cut: the arrival time its prefix was rendered with, which a dead
    /// letter read again inside it renders with too (`DeadLetterTimes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered_at: Option<i64>,
}

/// A multipart upload begun and not known to be finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    pub key: String,
    pub id: String,
}

/// Everything stored, as read at start.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub positions: Positions,
    pub cuts: Vec<Cut>,
    pub uploads: Vec<Upload>,
}

/// Where a pipeline's state lives, when not in the local state directory.
#[derive(Debug, Clone)]
pub struct RemoteState {
    pub location: crate::sink::spec::Location,
    /// The URL as written, for messages.
    pub url: String,
    /// How long a holder may go silent before a standby takes over.
    pub lease: Duration,
}

/// One pipeline's state, shared by its writer and its uploads.
#[derive(Clone)]
pub struct PipelineState {
    backend: Backend,
    lost: CancellationToken,
    /// The source partition an upload's journal entries belong to (per-partition state).
    scope: Option<String>,
}

#[derive(Clone)]
enum Backend {
    Local(Arc<Mutex<Local>>),
    Object(Arc<ObjectState>),
    Partitions(Arc<PartitionedState>),
}

struct Local {
    files: LocalState,
    /// The cuts recorded and not yet pruned.
    cuts: Vec<Cut>,
}

impl PipelineState {
    /// State in `<state_dir>/<pipeline>/`.
    pub fn local(state_dir: &Path, pipeline: &str) -> Self {
        PipelineState {
            backend: Backend::Local(Arc::new(Mutex::new(Local {
                files: LocalState::new(state_dir, pipeline),
                cuts: Vec::new(),
            }))),
            lost: CancellationToken::new(),
            scope: None,
        }
    }

    /// State in an object store, one object per source partition, each claimed by the
    /// daemon its source is assigned the partition to (no pipeline lease).
    pub fn partitioned(
        remote: &RemoteState,
        pipeline: &str,
        metrics: PipelineMetrics,
    ) -> Result<Self, StateError> {
        let url = format!("{}/{pipeline}/partitions", remote.url.trim_end_matches('/'));
        let store = open(remote, &url)?;
        let folder = store.root.clone().join(pipeline).join("partitions");
        let state =
            PartitionedState::new(store.objects, folder, url, process_holder().into(), metrics);
        Ok(PipelineState {
            backend: Backend::Partitions(Arc::new(state)),
            lost: CancellationToken::new(),
            scope: None,
        })
    }

    /// This state as seen by the writes of one source partition's objects.
    pub fn for_partition(&self, partition: &str) -> Self {
        PipelineState {
            scope: Some(partition.to_string()),
            ..self.clone()
        }
    }

    /// Takes a source partition on: with per-partition state, claims it (the previous
    /// holder is fenced) and returns what is stored for it; otherwise `None`, as
    /// everything stored was loaded at start.
    pub async fn claim(&self, partition: &str) -> Result<Option<Snapshot>, StateError> {
        match &self.backend {
            Backend::Partitions(p) => p.claim(partition).await.map(Some),
            Backend::Local(_) | Backend::Object(_) => Ok(None),
        }
    }

    /// Gives a partition up: with per-partition state, nothing more is written for it.
    pub async fn forget(&self, partition: &str) {
        if let Backend::Partitions(p) = &self.backend {
            p.forget(partition).await;
        }
    }

    /// `PartitionLost` when the partition this state is scoped to was claimed by
    /// another daemon since: its object writes stop instead of retrying.
    pub async fn check_scope(&self) -> Result<(), StateError> {
        match (&self.backend, &self.scope) {
            (Backend::Partitions(p), Some(partition)) if !p.holds(partition).await => {
                Err(StateError::PartitionLost {
                    url: p.url.clone(),
                    partitions: vec![partition.clone()],
                })
            }
            _ => Ok(()),
        }
    }

    /// State in an object store, once this daemon holds the pipeline's lease; `None`
    /// when `shutdown` fires while standing by. `on_standby` hears who holds it.
    pub async fn remote(
        remote: &RemoteState,
        pipeline: &str,
        (shutdown, metrics): (&CancellationToken, PipelineMetrics),
        on_standby: impl Fn(&str),
    ) -> Result<Option<Self>, StateError> {
        let url = format!("{}/{pipeline}/state.json", remote.url.trim_end_matches('/'));
        let store = open(remote, &url)?;
        let path = store.root.clone().join(pipeline).join("state.json");
        let holder = process_holder().to_string();
        let acquired = ObjectState::acquire(
            store.objects,
            path,
            url,
            holder,
            remote.lease,
            (shutdown, metrics),
            on_standby,
        )
        .await?;
        let Some(state) = acquired else {
            return Ok(None);
        };
        tokio::spawn(renew(Arc::downgrade(&state)));
        Ok(Some(PipelineState {
            lost: state.lost.clone(),
            backend: Backend::Object(state),
            scope: None,
        }))
    }

    /// Where the state lives, for messages.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Local(l) => l
                .lock()
                .expect("state lock")
                .files
                .dir()
                .display()
                .to_string(),
            Backend::Object(o) => o.url.clone(),
            Backend::Partitions(p) => p.url.clone(),
        }
    }

    /// Fires when another daemon took the lease: stop without writing anything more.
    pub fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }

    /// The lease's holder, for the status API; `None` for local state.
    pub async fn lease(&self) -> Option<LeaseRecord> {
        match &self.backend {
            Backend::Local(_) | Backend::Partitions(_) => None,
            Backend::Object(o) => Some(o.lease().await),
        }
    }

    pub async fn load(&self) -> Result<Snapshot, StateError> {
        match &self.backend {
            Backend::Local(l) => {
                let l = l.clone();
                blocking(move || {
                    let mut l = l.lock().expect("state lock");
                    let snapshot = l.files.load()?;
                    l.cuts = snapshot.cuts.clone();
                    Ok(snapshot)
                })
                .await
            }
            Backend::Object(o) => Ok(o.load().await),
            // Partitions are loaded as they are claimed.
            Backend::Partitions(_) => Ok(Snapshot::default()),
        }
    }

    /// Durably records a cut before its object is written.
    pub async fn record_cut(&self, cut: Cut) -> Result<(), StateError> {
        match &self.backend {
            Backend::Local(l) => {
                let l = l.clone();
                blocking(move || {
                    let mut l = l.lock().expect("state lock");
                    l.files.record_cut(&cut)?;
                    l.cuts.push(cut);
                    Ok(())
                })
                .await
            }
            Backend::Object(o) => o.write(|doc| doc.cuts.push(cut)).await,
            Backend::Partitions(p) => p.record_cut(cut).await,
        }
    }

    /// Stores new positions and drops the cuts entirely before them.
    pub async fn commit(&self, positions: &Positions) -> Result<(), StateError> {
        let positions = positions.clone();
        match &self.backend {
            Backend::Local(l) => {
                let l = l.clone();
                blocking(move || {
                    let mut l = l.lock().expect("state lock");
                    let pruned = prune(&mut l.cuts, &positions);
                    let Local { files, cuts } = &mut *l;
                    files.commit(&positions, cuts, pruned)
                })
                .await
            }
            Backend::Object(o) => {
                o.write(|doc| {
                    prune(&mut doc.cuts, &positions);
                    doc.positions = positions;
                })
                .await
            }
            Backend::Partitions(p) => p.commit(&positions).await,
        }
    }

    /// Journals a multipart upload before its first part is sent.
    pub async fn upload_started(&self, upload: Upload) -> Result<(), StateError> {
        match &self.backend {
            Backend::Local(l) => {
                let l = l.clone();
                blocking(move || l.lock().expect("state lock").files.upload_started(&upload)).await
            }
            Backend::Object(o) => o.write(|doc| doc.uploads.push(upload)).await,
            Backend::Partitions(p) => p.upload_started(self.scoped(), upload).await,
        }
    }

    /// Forgets a journaled upload that completed or was aborted.
    pub async fn upload_finished(&self, id: &str) -> Result<(), StateError> {
        match &self.backend {
            Backend::Local(l) => {
                let l = l.clone();
                blocking(move || l.lock().expect("state lock").files.upload_finished()).await
            }
            Backend::Object(o) => o.write(|doc| doc.uploads.retain(|u| u.id != id)).await,
            Backend::Partitions(p) => p.upload_finished(self.scoped(), id).await,
        }
    }

    /// Forgets every journaled upload (after aborting those the last run left).
    pub async fn clear_uploads(&self) -> Result<(), StateError> {
        match &self.backend {
            Backend::Local(l) => {
                let l = l.clone();
                blocking(move || l.lock().expect("state lock").files.clear_uploads()).await
            }
            Backend::Object(o) => o.write(|doc| doc.uploads.clear()).await,
            Backend::Partitions(p) => match &self.scope {
                Some(partition) => p.clear_uploads(partition).await,
                None => Ok(()),
            },
        }
    }

    /// Gives the lease up at a clean stop, so a standby takes over at once.
    pub async fn release(&self) {
        if let Backend::Object(o) = &self.backend
            && let Err(e) = o.release().await
        {
            tracing::warn!(state = %o.url, error = %e, "could not release the lease; a standby takes over when it expires");
        }
    }
}

impl PipelineState {
    /// The partition per-partition state journals uploads under.
    fn scoped(&self) -> &str {
        self.scope
            .as_deref()
            .expect("per-partition state is used through for_partition")
    }
}

/// The object store holding remote state.
fn open(remote: &RemoteState, url: &str) -> Result<crate::sink::Store, StateError> {
    crate::sink::open_store(&remote.location).map_err(|e| StateError::Store {
        url: url.to_string(),
        source: match e {
            crate::sink::StoreError::Config(source) => source,
            other => object_store::Error::Generic {
                store: "state",
                source: Box::new(other),
            },
        },
    })
}

/// Drops the cuts whose last position is before the stored one; whether any went.
fn prune(cuts: &mut Vec<Cut>, positions: &Positions) -> bool {
    let before = cuts.len();
    cuts.retain(|c| positions.0.get(&c.partition).is_none_or(|p| c.last >= *p));
    cuts.len() != before
}

/// Runs blocking state work (file writes and fsync) off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StateError> + Send + 'static,
) -> Result<T, StateError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Keeps the lease renewed while the state is in use and the lease held.
async fn renew(state: std::sync::Weak<ObjectState>) {
    let mut wait = Duration::ZERO;
    loop {
        tokio::time::sleep(wait).await;
        let Some(state) = state.upgrade() else { return };
        if state.lost.is_cancelled() {
            return;
        }
        match state.renew_if_due().await {
            Ok(next) => wait = next,
            Err(StateError::LeaseLost { .. }) => return,
            Err(e) => {
                tracing::warn!(state = %state.url, error = %e, "could not renew the lease; trying again");
                wait = Duration::from_secs(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at<const N: usize>(pairs: [(&str, u64); N]) -> BTreeMap<String, Position> {
        pairs
            .into_iter()
            .map(|(p, n)| (p.to_string(), Position::offset(n)))
            .collect()
    }

    #[tokio::test]
    async fn local_state_round_trips_and_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let state = PipelineState::local(dir.path(), "p");
        assert_eq!(state.load().await.unwrap().positions, Positions::default());
        let mut p = Positions::default();
        p.0.insert("file-a".into(), Position::offset(42));
        state.commit(&p).await.unwrap();
        assert_eq!(state.load().await.unwrap().positions, p);
    }

    #[test]
    fn a_partition_missing_from_the_marks_keeps_its_position() {
        let stored = Positions(at([("a", 10), ("b", 20)]));
        assert_eq!(stored.advanced_to(&BTreeMap::new()), stored);
        let marks = at([("b", 25), ("c", 3)]);
        let expected = at([("a", 10), ("b", 25), ("c", 3)]);
        assert_eq!(stored.advanced_to(&marks).0, expected);
    }

    #[test]
    fn positions_never_move_backwards() {
        let stored = Positions(at([("a", 10)]));
        let marks = at([("a", 4)]);
        assert_eq!(stored.advanced_to(&marks), stored);
    }
}

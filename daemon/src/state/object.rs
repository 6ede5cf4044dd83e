//! The object-store state backend: one JSON object per pipeline (`<url>/<pipeline>/
//! state.json`) holding the lease, the positions, the cut ledger and the open uploads.
//! Every change rewrites it with a conditional put on the version this process last
//! read or wrote, so the lease and the state move together: a holder that lost its
//! lease (a standby took over while it was paused or cut off) fails its next write and
//! stops before writing another object or position.

use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::lease::{Claim, LeaseRecord, Seen};
use super::{Cut, Positions, Snapshot, StateError, Upload};
use crate::metrics::PipelineMetrics;

/// Attempts for one state write whose store failure a retry can cure.
const WRITE_ATTEMPTS: u32 = 4;

/// The state object's content.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Doc {
    /// The layout of this document; read to refuse a newer one.
    pub format: u32,
    /// Who may write; no holder once the last one stopped cleanly.
    pub lease: LeaseRecord,
    pub positions: Positions,
    pub cuts: Vec<Cut>,
    pub uploads: Vec<Upload>,
    /// What the source keeps of its own (`PipelineState::source_notes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<serde_json::Value>,
}

const FORMAT: u32 = 1;

pub struct ObjectState {
    store: Arc<dyn ObjectStore>,
    path: Path,
    /// Where the state lives, for messages.
    pub url: String,
    holder: String,
    ttl: Duration,
    held: Mutex<Held>,
    /// Fires when the lease is lost: the pipeline must stop without writing.
    pub lost: CancellationToken,
    metrics: PipelineMetrics,
}

struct Held {
    doc: Doc,
    version: UpdateVersion,
    written_at: Instant,
}

impl ObjectState {
    /// Takes the pipeline's lease, standing by while another live holder has it;
    /// `None` when `shutdown` fires first. `on_standby` is told who holds it.
    pub async fn acquire(
        store: Arc<dyn ObjectStore>,
        path: Path,
        url: String,
        holder: String,
        ttl: Duration,
        (shutdown, metrics): (&CancellationToken, PipelineMetrics),
        on_standby: impl Fn(&str),
    ) -> Result<Option<Arc<ObjectState>>, StateError> {
        let mut seen: Option<Seen> = None;
        loop {
            let current = read(store.as_ref(), &path, &url, &metrics).await?;
            let claim = super::lease::decide(current.as_ref(), &holder, ttl, &mut seen);
            let taken = match claim {
                Claim::Wait(other) => {
                    on_standby(&other);
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(None),
                        _ = tokio::time::sleep(super::lease::poll_period(ttl)) => {}
                    }
                    continue;
                }
                Claim::Take(record) => {
                    let (mut doc, mode) = match current {
                        Some((doc, version)) => (doc, PutMode::Update(version)),
                        None => (Doc::default(), PutMode::Create),
                    };
                    doc.format = FORMAT;
                    doc.lease = record;
                    put(store.as_ref(), &path, &doc, mode, &metrics)
                        .await
                        .map(|v| (doc, v))
                }
            };
            match taken {
                Ok((doc, version)) => {
                    let epoch = doc.lease.epoch;
                    tracing::info!(state = %url, holder = %holder, epoch, "holding the pipeline's lease");
                    let at = (store, path, url);
                    let state = ObjectState::held(at, holder, ttl, (doc, version), metrics);
                    return Ok(Some(Arc::new(state)));
                }
                // Someone else wrote between our read and our claim: look again.
                Err(PutFailure::Conflict) => continue,
                Err(PutFailure::Store(e)) => return Err(store_error(&url, e)),
            }
        }
    }

    /// Takes the object over at once, whoever held it: for state whose owner is decided
    /// elsewhere (a consumer group assigning partitions). The epoch grows by one, so the
    /// previous holder's next write fails.
    pub async fn claim(
        store: Arc<dyn ObjectStore>,
        path: Path,
        url: String,
        holder: String,
        metrics: PipelineMetrics,
    ) -> Result<ObjectState, StateError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let claimed = async {
                let current = read(store.as_ref(), &path, &url, &metrics).await?;
                let (mut doc, mode) = match current {
                    Some((doc, version)) => (doc, PutMode::Update(version)),
                    None => (Doc::default(), PutMode::Create),
                };
                doc.format = FORMAT;
                doc.lease = LeaseRecord::new(&holder, doc.lease.epoch + 1, Duration::ZERO);
                match put(store.as_ref(), &path, &doc, mode, &metrics).await {
                    Ok(version) => Ok(Some((doc, version))),
                    // Written between our read and our claim: look again.
                    Err(PutFailure::Conflict) => Ok(None),
                    Err(PutFailure::Store(e)) => Err(store_error(&url, e)),
                }
            };
            match claimed.await {
                Ok(Some(held)) => {
                    let at = (store, path, url);
                    return Ok(ObjectState::held(at, holder, Duration::ZERO, held, metrics));
                }
                Ok(None) => {}
                Err(e) if !e.transient() || attempt >= WRITE_ATTEMPTS => return Err(e),
                Err(e) => {
                    let wait = crate::sink::retry::backoff(attempt);
                    tracing::warn!(state = %url, error = %e, ?wait, "claiming state failed; retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    fn held(
        (store, path, url): (Arc<dyn ObjectStore>, Path, String),
        holder: String,
        ttl: Duration,
        (doc, version): (Doc, UpdateVersion),
        metrics: PipelineMetrics,
    ) -> ObjectState {
        ObjectState {
            store,
            path,
            url,
            holder,
            ttl,
            held: Mutex::new(Held {
                doc,
                version,
                written_at: Instant::now(),
            }),
            lost: CancellationToken::new(),
            metrics,
        }
    }

    /// The stored position of one partition, without copying the rest of the state.
    pub async fn position(&self, partition: &str) -> Option<crate::position::Position> {
        self.held
            .lock()
            .await
            .doc
            .positions
            .0
            .get(partition)
            .cloned()
    }

    pub async fn load(&self) -> Snapshot {
        let held = self.held.lock().await;
        Snapshot {
            positions: held.doc.positions.clone(),
            cuts: held.doc.cuts.clone(),
            uploads: held.doc.uploads.clone(),
        }
    }

    /// The source's notes as last written.
    pub async fn source_notes(&self) -> Option<serde_json::Value> {
        self.held.lock().await.doc.source.clone()
    }

    /// Applies `change` and writes the document; the lease is renewed with it.
    pub async fn write(&self, change: impl FnOnce(&mut Doc)) -> Result<(), StateError> {
        if self.lost.is_cancelled() {
            return Err(self.lost_error(None));
        }
        let mut held = self.held.lock().await;
        let mut doc = held.doc.clone();
        change(&mut doc);
        doc.lease.renew(self.ttl);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mode = PutMode::Update(held.version.clone());
            match put(self.store.as_ref(), &self.path, &doc, mode, &self.metrics).await {
                Ok(version) => {
                    *held = Held {
                        doc,
                        version,
                        written_at: Instant::now(),
                    };
                    return Ok(());
                }
                Err(PutFailure::Conflict) => {
                    let now =
                        read(self.store.as_ref(), &self.path, &self.url, &self.metrics).await?;
                    // An earlier attempt landed though its answer was lost: ours it is.
                    if let Some((current, version)) =
                        now.as_ref().filter(|(d, _)| d.lease == doc.lease)
                    {
                        *held = Held {
                            doc: current.clone(),
                            version: version.clone(),
                            written_at: Instant::now(),
                        };
                        return Ok(());
                    }
                    self.lost.cancel();
                    let holder = now.and_then(|(d, _)| d.lease.holder);
                    return Err(self.lost_error(holder));
                }
                Err(PutFailure::Store(e)) if attempt >= WRITE_ATTEMPTS => {
                    return Err(store_error(&self.url, e));
                }
                Err(PutFailure::Store(e)) => {
                    let wait = crate::sink::retry::backoff(attempt);
                    tracing::warn!(state = %self.url, error = %e, ?wait, "state write failed; retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Renews the lease when nothing was written for a third of its time. Returns how
    /// long to wait before asking again.
    pub async fn renew_if_due(&self) -> Result<Duration, StateError> {
        let period = self.ttl / 3;
        let since = self.held.lock().await.written_at.elapsed();
        if since < period {
            return Ok(period - since);
        }
        self.write(|_| {}).await?;
        Ok(period)
    }

    /// Gives the lease up so a standby takes over at once; the state stays.
    pub async fn release(&self) -> Result<(), StateError> {
        let holder = self.holder.clone();
        self.write(|doc| doc.lease.holder = None).await?;
        tracing::info!(state = %self.url, holder = %holder, "released the pipeline's lease");
        Ok(())
    }

    /// The lease's holder and epoch as last written.
    pub async fn lease(&self) -> LeaseRecord {
        self.held.lock().await.doc.lease.clone()
    }

    fn lost_error(&self, holder: Option<String>) -> StateError {
        StateError::LeaseLost {
            url: self.url.clone(),
            holder: holder.unwrap_or_else(|| "another daemon".into()),
        }
    }
}

enum PutFailure {
    /// The object changed since we read it, or appeared when we meant to create it.
    Conflict,
    Store(object_store::Error),
}

async fn put(
    store: &dyn ObjectStore,
    path: &Path,
    doc: &Doc,
    mode: PutMode,
    metrics: &PipelineMetrics,
) -> Result<UpdateVersion, PutFailure> {
    let bytes = serde_json::to_vec_pretty(doc).expect("state serializes");
    let options = PutOptions {
        mode,
        ..Default::default()
    };
    let result = store.put_opts(path, PutPayload::from(bytes), options).await;
    metrics.store_request("state_put", result.is_ok());
    match result {
        Ok(r) => Ok(UpdateVersion {
            e_tag: r.e_tag,
            version: r.version,
        }),
        Err(
            object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. },
        ) => Err(PutFailure::Conflict),
        Err(e) => Err(PutFailure::Store(e)),
    }
}

/// The state document and its version; `None` when there is none yet.
pub async fn read(
    store: &dyn ObjectStore,
    path: &Path,
    url: &str,
    metrics: &PipelineMetrics,
) -> Result<Option<(Doc, UpdateVersion)>, StateError> {
    let got = store.get(path).await;
    metrics.store_request(
        "state_get",
        matches!(&got, Ok(_) | Err(object_store::Error::NotFound { .. })),
    );
    let got = match got {
        Ok(g) => g,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(store_error(url, e)),
    };
    let version = UpdateVersion {
        e_tag: got.meta.e_tag.clone(),
        version: got.meta.version.clone(),
    };
    let bytes = got.bytes().await.map_err(|e| store_error(url, e))?;
    let doc: Doc = serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt {
        path: url.into(),
        source,
    })?;
    if doc.format > FORMAT {
        return Err(StateError::Newer {
            url: url.into(),
            format: doc.format,
        });
    }
    Ok(Some((doc, version)))
}

fn store_error(url: &str, source: object_store::Error) -> StateError {
    StateError::Store {
        url: url.into(),
        source,
    }
}

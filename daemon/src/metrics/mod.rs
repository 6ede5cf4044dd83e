//! Live metrics and status: one registry for the daemon, one view per pipeline fed by
//! every stage (source, decode, transforms, sink), read by the admin API.

mod pipeline;
mod registry;
mod reload;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, oneshot};

pub use pipeline::{Flush, Lease, PipelineMetrics, State, Status};
pub use registry::Families;
pub use reload::{ReloadMetrics, ReloadResult, ReloadStatus, ReloadSummary};

/// A request to read the pipeline directory again (SIGHUP, `POST /reload`); the
/// answer, if asked for, says what changed.
pub struct ReloadRequest {
    pub answer: Option<oneshot::Sender<ReloadSummary>>,
}

/// A pipeline the daemon knows: where it came from and its live view.
#[derive(Clone)]
pub struct Entry {
    pub file: PathBuf,
    /// SHA-256 of the pipeline file as it was loaded.
    pub digest: String,
    pub metrics: PipelineMetrics,
}

/// The daemon's registry and the pipelines it runs.
pub struct Hub {
    registry: Registry,
    families: Families,
    pipelines: RwLock<BTreeMap<String, Entry>>,
    /// Pipeline files that did not validate, with their errors.
    refused: RwLock<BTreeMap<PathBuf, String>>,
    reload_metrics: ReloadMetrics,
    /// The last reload of each file.
    reloads: RwLock<BTreeMap<PathBuf, ReloadStatus>>,
    requests: mpsc::UnboundedSender<ReloadRequest>,
    /// Taken by the daemon's reload loop.
    requested: Mutex<Option<mpsc::UnboundedReceiver<ReloadRequest>>>,
}

impl Default for Hub {
    fn default() -> Self {
        let mut registry = Registry::default();
        let families = Families::register(&mut registry);
        let reload_metrics = ReloadMetrics::register(&mut registry);
        let (requests, requested) = mpsc::unbounded_channel();
        Self {
            registry,
            families,
            pipelines: RwLock::new(BTreeMap::new()),
            refused: RwLock::new(BTreeMap::new()),
            reload_metrics,
            reloads: RwLock::new(BTreeMap::new()),
            requests,
            requested: Mutex::new(Some(requested)),
        }
    }
}

impl Hub {
    /// A pipeline's view, registered under its name.
    pub fn add(&self, name: &str, file: PathBuf, digest: String) -> PipelineMetrics {
        let metrics = PipelineMetrics::new(&self.families, name);
        let entry = Entry {
            file,
            digest,
            metrics: metrics.clone(),
        };
        self.pipelines
            .write()
            .expect("pipelines lock")
            .insert(name.to_string(), entry);
        metrics
    }

    /// The SHA-256 of the file a running pipeline now comes from.
    pub fn set_digest(&self, name: &str, digest: String) {
        if let Some(entry) = self
            .pipelines
            .write()
            .expect("pipelines lock")
            .get_mut(name)
        {
            entry.digest = digest;
        }
    }

    /// A pipeline the daemon no longer runs (its file was removed or renamed it).
    pub fn remove(&self, name: &str) {
        let removed = self.pipelines.write().expect("pipelines lock").remove(name);
        if let Some(entry) = removed {
            entry.metrics.retire();
        }
    }

    /// A pipeline file that did not validate and is not running.
    pub fn refuse(&self, file: &Path, errors: String) {
        self.refused
            .write()
            .expect("refused lock")
            .insert(file.to_path_buf(), errors);
    }

    /// A file that validates again, or is gone.
    pub fn unrefuse(&self, file: &Path) {
        self.refused.write().expect("refused lock").remove(file);
    }

    /// Records what a reload did with a file: status, log-visible metrics.
    pub fn reloaded(&self, status: ReloadStatus) {
        self.reload_metrics.record(&status);
        self.reloads
            .write()
            .expect("reloads lock")
            .insert(status.file.clone(), status);
    }

    /// The last reload of `file`.
    pub fn last_reload(&self, file: &Path) -> Option<ReloadStatus> {
        self.reloads
            .read()
            .expect("reloads lock")
            .get(file)
            .cloned()
    }

    /// Asks the reload loop to read the pipeline directory again; the receiver gets
    /// what changed (it closes if the daemon does not reload, e.g. under `--once`).
    pub fn request_reload(&self) -> oneshot::Receiver<ReloadSummary> {
        let (answer, answered) = oneshot::channel();
        let _ = self.requests.send(ReloadRequest {
            answer: Some(answer),
        });
        answered
    }

    /// The reload requests; only the first caller gets them.
    pub fn reload_requests(&self) -> Option<mpsc::UnboundedReceiver<ReloadRequest>> {
        self.requested.lock().expect("requests lock").take()
    }

    pub fn refused(&self) -> BTreeMap<PathBuf, String> {
        self.refused.read().expect("refused lock").clone()
    }

    pub fn pipelines(&self) -> BTreeMap<String, Entry> {
        self.pipelines.read().expect("pipelines lock").clone()
    }

    /// Every series in the Prometheus (OpenMetrics) text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// SHA-256 of a file's bytes in hex, or an empty string when it cannot be read.
pub fn digest_of(file: &Path) -> String {
    use sha2::Digest;
    std::fs::read(file)
        .map(|bytes| {
            sha2::Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        })
        .unwrap_or_default()
}

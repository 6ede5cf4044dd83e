//! Live metrics and status: one registry for the daemon, one view per pipeline fed by
//! every stage (source, decode, transforms, sink), read by the admin API.

mod pipeline;
mod registry;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::RwLock;

use prometheus_client::registry::Registry;

pub use pipeline::{Flush, Lease, PipelineMetrics, State, Status};
pub use registry::Families;

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
}

impl Default for Hub {
    fn default() -> Self {
        let mut registry = Registry::default();
        let families = Families::register(&mut registry);
        Self {
            registry,
            families,
            pipelines: RwLock::new(BTreeMap::new()),
            refused: RwLock::new(BTreeMap::new()),
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

    /// A pipeline file that did not validate and is not running.
    pub fn refuse(&self, file: &std::path::Path, errors: String) {
        self.refused
            .write()
            .expect("refused lock")
            .insert(file.to_path_buf(), errors);
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
pub fn digest_of(file: &std::path::Path) -> String {
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

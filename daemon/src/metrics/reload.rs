//! What the daemon last did with each pipeline file when it (re)loaded the directory:
//! the status the admin API shows, the reload metrics, and the answer to a reload
//! request (`POST /reload`, SIGHUP).

use std::path::PathBuf;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;

use crate::config::ConfigError;

/// What a reload did with one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReloadResult {
    /// A new file's pipeline was started.
    Started,
    /// The running pipeline was drained and the new version started from its positions.
    Applied,
    /// Only comments or layout changed: the running pipeline was kept as it is.
    Kept,
    /// The new version was refused; the previous one (if any) runs on untouched.
    Failed,
    /// The file was removed: its pipeline was drained and stopped.
    Stopped,
}

impl ReloadResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadResult::Started => "started",
            ReloadResult::Applied => "applied",
            ReloadResult::Kept => "kept",
            ReloadResult::Failed => "failed",
            ReloadResult::Stopped => "stopped",
        }
    }
}

/// The last reload of one file.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadStatus {
    pub file: PathBuf,
    /// The pipeline's name, once the file parsed.
    pub pipeline: Option<String>,
    pub result: ReloadResult,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Why a version was refused: file, line, column, key, message and hint.
    pub errors: Vec<ConfigError>,
}

/// The answer to one reload request: what happened to every file that changed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReloadSummary {
    pub changes: Vec<ReloadStatus>,
}

impl ReloadSummary {
    pub fn failed(&self) -> bool {
        self.changes
            .iter()
            .any(|c| c.result == ReloadResult::Failed)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    file: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FileLabel {
    file: String,
}

/// The reload series: counts by file and result, and whether a file's newest version
/// was refused.
#[derive(Clone)]
pub struct ReloadMetrics {
    reloads: Family<ReloadLabels, Counter>,
    refused: Family<FileLabel, Gauge>,
}

impl ReloadMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            reloads: Family::default(),
            refused: Family::default(),
        };
        registry.register(
            "weir_config_reloads",
            "Pipeline file changes acted on, by file and result: started, applied, kept, failed, stopped",
            m.reloads.clone(),
        );
        registry.register(
            "weir_config_refused",
            "1 while a pipeline file's newest version is refused (the previous version, if any, runs on)",
            m.refused.clone(),
        );
        m
    }

    pub fn record(&self, status: &ReloadStatus) {
        let file = status.file.display().to_string();
        let labels = ReloadLabels {
            file: file.clone(),
            result: status.result.as_str().to_string(),
        };
        self.reloads.get_or_create(&labels).inc();
        let refused = status.result == ReloadResult::Failed;
        self.refused
            .get_or_create(&FileLabel { file })
            .set(refused as i64);
    }
}

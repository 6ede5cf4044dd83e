//! Reloading the pipeline directory: every file's footprint is compared with what runs;
//! a changed file is validated and its plugins loaded while the old pipeline runs on,
//! and only then is the old one drained and the new one started from its positions.
//! A change that fails leaves the old pipeline untouched and is reported.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use super::fleet::{Fleet, Report};
use super::footprint::{Footprint, Watched, footprint};
use super::watch::directory;
use crate::config::{ConfigErrors, name_taken};
use crate::daemon::pipeline_files;
use crate::metrics::{Hub, ReloadResult, ReloadStatus, ReloadSummary};
use crate::pipeline::{Prepared, prepare};

pub struct Reloader {
    dir: PathBuf,
    state_dir: PathBuf,
    hub: Arc<Hub>,
    pub fleet: Fleet,
    /// The last footprint of every file in the directory.
    footprints: BTreeMap<PathBuf, Footprint>,
    /// Files whose current version was refused, by its digest, with the errors.
    refused: BTreeMap<PathBuf, (String, ConfigErrors)>,
}

impl Reloader {
    pub fn new(dir: &Path, state_dir: &Path, hub: Arc<Hub>, shutdown: CancellationToken) -> Self {
        Self {
            dir: dir.to_path_buf(),
            state_dir: state_dir.to_path_buf(),
            fleet: Fleet::new(state_dir, hub.clone(), shutdown),
            hub,
            footprints: BTreeMap::new(),
            refused: BTreeMap::new(),
        }
    }

    /// Acts on every change since the last reload. `explicit` (SIGHUP, `POST /reload`)
    /// also restarts a failed pipeline whose file did not change, and reports refused
    /// files again.
    pub async fn reload(&mut self, explicit: bool) -> ReloadSummary {
        let mut summary = ReloadSummary::default();
        let (dir, state_dir) = (self.dir.clone(), self.state_dir.clone());
        let scanned = tokio::task::spawn_blocking(move || scan(&dir, &state_dir)).await;
        let footprints = match scanned {
            Ok(Ok(f)) => f,
            Ok(Err(e)) => {
                // A folder briefly unreadable (being replaced) stops nothing.
                tracing::error!(dir = %self.dir.display(), error = %e, "cannot read the pipeline directory; every pipeline runs on as it was");
                return summary;
            }
            Err(e) => {
                tracing::error!(error = %e, "reading the pipeline directory failed");
                return summary;
            }
        };
        for file in self.fleet.files() {
            if !footprints.contains_key(&file) {
                self.remove(&file, &mut summary).await;
            }
        }
        let gone: Vec<PathBuf> = (self.refused.keys())
            .filter(|f| !footprints.contains_key(*f))
            .cloned()
            .collect();
        for file in gone {
            self.refused.remove(&file);
            self.hub.unrefuse(&file);
        }
        self.footprints = footprints;
        let files: Vec<PathBuf> = self.footprints.keys().cloned().collect();
        for file in files {
            self.consider(&file, explicit, &mut summary).await;
        }
        summary
    }

    /// Reloads `file` if its footprint changed (or `explicit` asks to restart it).
    async fn consider(&mut self, file: &Path, explicit: bool, summary: &mut ReloadSummary) {
        let print = self.footprints[file].clone();
        let member = self.fleet.get(file);
        if let Some(m) = member
            && m.digest == print.digest
            && !(explicit && m.failed())
        {
            // Back to the running version (or only comments changed): nothing to drain.
            if self.refused.remove(file).is_some() || explicit {
                self.hub
                    .set_digest(&m.name, crate::metrics::digest_of(file));
                self.note(
                    file,
                    Some(m.name.clone()),
                    ReloadResult::Kept,
                    Vec::new(),
                    summary,
                );
            }
            return;
        }
        let known = self.refused.get(file).map(|(d, _)| d);
        if !explicit && known == Some(&print.digest) {
            return;
        }
        let (path, state_dir) = (file.to_path_buf(), self.state_dir.clone());
        let prepared = tokio::task::spawn_blocking(move || prepare(&path, &state_dir))
            .await
            .unwrap_or_else(|e| {
                Err(
                    crate::config::ConfigError::new(file, "", format!("loading failed: {e}"))
                        .into(),
                )
            })
            .and_then(|p| self.unique(file, p));
        match prepared {
            Ok(p) => self.replace(file, p, print.digest, summary).await,
            Err(errors) => self.refuse(file, print, errors, summary),
        }
    }

    /// Refuses a pipeline whose name another file in the directory gives too, unless it
    /// is the one running under that name.
    fn unique(&self, file: &Path, prepared: Prepared) -> Result<Prepared, ConfigErrors> {
        let name = &prepared.spec.name;
        if self.fleet.get(file).is_some_and(|m| &m.name == name) {
            return Ok(prepared);
        }
        let others: Vec<&Path> = (self.footprints.iter())
            .filter(|(f, p)| f.as_path() != file && p.name.as_ref() == Some(name))
            .map(|(f, _)| f.as_path())
            .collect();
        if others.is_empty() {
            Ok(prepared)
        } else {
            Err(name_taken(&prepared.spec, &others).into())
        }
    }

    /// Drains the file's running pipeline, if any, and starts the new one.
    async fn replace(
        &mut self,
        file: &Path,
        prepared: Prepared,
        digest: String,
        summary: &mut ReloadSummary,
    ) {
        let name = prepared.spec.name.clone();
        let result = match self.fleet.stop(file).await {
            Some(old) => {
                tracing::info!(pipeline = %old, file = %file.display(), "pipeline changed: drained; starting the new version from its positions");
                if old != name {
                    self.hub.remove(&old);
                }
                ReloadResult::Applied
            }
            None => ReloadResult::Started,
        };
        self.fleet.start(file, prepared, digest);
        self.refused.remove(file);
        self.hub.unrefuse(file);
        self.note(file, Some(name), result, Vec::new(), summary);
    }

    fn refuse(
        &mut self,
        file: &Path,
        print: Footprint,
        errors: ConfigErrors,
        summary: &mut ReloadSummary,
    ) {
        let running = self.fleet.get(file).map(|m| m.name.clone());
        match &running {
            Some(name) => {
                tracing::error!(pipeline = %name, file = %file.display(), "pipeline change refused; the running version continues:\n{errors}")
            }
            None => {
                tracing::error!(file = %file.display(), "invalid pipeline, not started:\n{errors}");
                self.hub.refuse(file, errors.to_string());
            }
        }
        let name = running.or(print.name);
        self.note(file, name, ReloadResult::Failed, errors.0.clone(), summary);
        self.refused
            .insert(file.to_path_buf(), (print.digest, errors));
    }

    async fn remove(&mut self, file: &Path, summary: &mut ReloadSummary) {
        if let Some(name) = self.fleet.stop(file).await {
            tracing::info!(pipeline = %name, file = %file.display(), "pipeline file removed: drained and stopped");
            self.hub.remove(&name);
            self.note(file, Some(name), ReloadResult::Stopped, Vec::new(), summary);
        }
    }

    fn note(
        &self,
        file: &Path,
        pipeline: Option<String>,
        result: ReloadResult,
        errors: Vec<crate::config::ConfigError>,
        summary: &mut ReloadSummary,
    ) {
        let at_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let status = ReloadStatus {
            file: file.to_path_buf(),
            pipeline,
            result,
            at_ms,
            errors,
        };
        self.hub.reloaded(status.clone());
        summary.changes.push(status);
    }

    /// Every path whose change may change a pipeline: the directory, plugin folders and
    /// local registries.
    pub fn watch_set(&self) -> BTreeSet<Watched> {
        let mut set = BTreeSet::from([directory(&self.dir)]);
        for print in self.footprints.values() {
            set.extend(print.watch.iter().cloned());
        }
        set
    }

    /// How often remote registries should be asked for new versions, if any is used.
    pub fn refresh_period(&self) -> Option<Duration> {
        self.footprints.values().filter_map(|p| p.refresh).min()
    }

    /// Waits for every pipeline to end and reports each, refused files included.
    pub async fn finish(self) -> Vec<Report> {
        let mut reports = self.fleet.finish().await;
        for (file, (_, errors)) in self.refused {
            if !reports.iter().any(|r| r.file == file) {
                reports.push(Report {
                    file,
                    name: String::new(),
                    result: Err(errors.to_string()),
                });
            }
        }
        reports
    }
}

/// Every pipeline file's footprint. Blocking.
fn scan(dir: &Path, state_dir: &Path) -> std::io::Result<BTreeMap<PathBuf, Footprint>> {
    Ok(pipeline_files(dir)?
        .into_iter()
        .map(|file| {
            let print = footprint(&file, state_dir);
            (file, print)
        })
        .collect())
}

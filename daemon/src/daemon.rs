//! The daemon: runs every valid pipeline file of a directory side by side, each failing
//! alone; watches the directory (and the plugins and schemas pipelines use) and reloads
//! what changed; drains everything when the shutdown token fires.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::{ConfigErrors, name_taken};
use crate::metrics::Hub;
use crate::pipeline::{Prepared, prepare};
use crate::runtime::{Reloader, Watcher};

pub use crate::runtime::Report;

/// Pipeline files in `dir`: every `*.yaml` and `*.yml`, sorted.
pub fn pipeline_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Checks every pipeline file in `dir` as a start or a reload would: validated, schemas
/// resolved, plugins loaded and initialised. Two files that give the same `name` are
/// both refused: the name keys a pipeline's state and its object keys.
pub fn validate_dir(
    dir: &Path,
    state_dir: &Path,
) -> std::io::Result<Vec<(PathBuf, Result<Prepared, ConfigErrors>)>> {
    let mut checked: Vec<_> = pipeline_files(dir)?
        .into_iter()
        .map(|file| {
            let prepared = prepare(&file, state_dir);
            (file, prepared)
        })
        .collect();
    let names: Vec<(PathBuf, String)> = checked
        .iter()
        .filter_map(|(file, p)| Some((file.clone(), p.as_ref().ok()?.spec.name.clone())))
        .collect();
    for (file, result) in &mut checked {
        let Ok(prepared) = result else { continue };
        let others: Vec<&Path> = names
            .iter()
            .filter(|(f, n)| *n == prepared.spec.name && f != file)
            .map(|(f, _)| f.as_path())
            .collect();
        if !others.is_empty() {
            *result = Err(name_taken(&prepared.spec, &others).into());
        }
    }
    Ok(checked)
}

/// How `run_dir` treats the directory after starting its pipelines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Watch files and reload changes until shutdown.
    Watch,
    /// Run the pipelines as they are until every one has ended.
    Once,
}

/// Runs every valid pipeline in `dir` until shutdown (or, with [`Mode::Once`], until
/// each has ended). Invalid files are reported and do not stop the others, nor does a
/// pipeline that fails or panics: it is reported with its reason.
pub async fn run_dir(
    dir: &Path,
    state_dir: &Path,
    hub: Arc<Hub>,
    shutdown: CancellationToken,
    mode: Mode,
) -> std::io::Result<Vec<Report>> {
    pipeline_files(dir)?;
    let mut reloader = Reloader::new(dir, state_dir, hub.clone(), shutdown.clone());
    reloader.reload(false).await;
    // systemd (`Type=notify`) learns the daemon is up; nothing without NOTIFY_SOCKET.
    let status = format!("{} pipelines started", hub.pipelines().len());
    let _ = sd_notify::notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(&status),
    ]);
    if mode == Mode::Once {
        // No reload loop: a request is answered at once (`POST /reload` says so).
        drop(hub.reload_requests());
        while reloader.fleet.running() {
            tokio::select! {
                _ = reloader.fleet.next_end() => {}
                _ = shutdown.cancelled() => break,
            }
        }
        return Ok(reloader.finish().await);
    }
    let mut watcher = Watcher::new().map_err(std::io::Error::other)?;
    let mut requests = hub.reload_requests().expect("one reload loop per hub");
    let mut refresh = Refresh::default();
    loop {
        watcher.watch_only(reloader.watch_set());
        refresh.set(reloader.refresh_period());
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = watcher.changed() => {
                reloader.reload(false).await;
            }
            Some(request) = requests.recv() => {
                let summary = reloader.reload(true).await;
                if let Some(answer) = request.answer {
                    let _ = answer.send(summary);
                }
            }
            _ = refresh.tick() => {
                reloader.reload(false).await;
            }
            _ = reloader.fleet.next_end() => {}
        }
    }
    Ok(reloader.finish().await)
}

/// A ticker at the shortest remote-registry refresh period, if any.
#[derive(Default)]
struct Refresh {
    period: Option<Duration>,
    ticker: Option<tokio::time::Interval>,
}

impl Refresh {
    fn set(&mut self, period: Option<Duration>) {
        if period != self.period {
            self.period = period;
            self.ticker = period.map(|p| {
                let mut t = tokio::time::interval_at(tokio::time::Instant::now() + p, p);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                t
            });
        }
    }

    async fn tick(&mut self) {
        match &mut self.ticker {
            Some(t) => {
                t.tick().await;
            }
            None => std::future::pending().await,
        }
    }
}

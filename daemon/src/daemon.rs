//! The daemon: validates every pipeline file of a directory, runs the valid ones side by
//! side, each failing alone, and drains them all when the shutdown token fires.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::{ConfigErrors, PipelineSpec, name_taken, validate_in};
use crate::metrics::{Hub, State, digest_of};
use crate::runtime::supervise;

/// How one pipeline ended.
pub struct Report {
    pub file: PathBuf,
    pub name: String,
    pub result: Result<String, String>,
}

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

/// Validates every pipeline file in `dir`. Two files that give the same `name` are
/// both refused: the name keys a pipeline's state and its object keys.
pub fn validate_dir(
    dir: &Path,
    state_dir: &Path,
) -> std::io::Result<Vec<(PathBuf, Result<PipelineSpec, ConfigErrors>)>> {
    let mut checked: Vec<_> = pipeline_files(dir)?
        .into_iter()
        .map(|file| {
            let spec = validate_in(&file, state_dir);
            (file, spec)
        })
        .collect();
    let names: Vec<(PathBuf, String)> = checked
        .iter()
        .filter_map(|(file, spec)| Some((file.clone(), spec.as_ref().ok()?.name.clone())))
        .collect();
    for (file, result) in &mut checked {
        let Ok(spec) = result else { continue };
        let others: Vec<&Path> = names
            .iter()
            .filter(|(f, n)| *n == spec.name && f != file)
            .map(|(f, _)| f.as_path())
            .collect();
        if !others.is_empty() {
            *result = Err(name_taken(spec, &others).into());
        }
    }
    Ok(checked)
}

/// Runs every valid pipeline in `dir` until each ends or `shutdown` fires. Invalid
/// files are reported and do not stop the others, nor does a pipeline that fails or
/// panics: it is reported with its reason.
pub async fn run_dir(
    dir: &Path,
    state_dir: &Path,
    hub: Arc<Hub>,
    shutdown: CancellationToken,
) -> std::io::Result<Vec<Report>> {
    let mut reports = Vec::new();
    let mut running = tokio::task::JoinSet::new();
    let mut started = HashMap::new();
    // Validation may ask a remote registry and compile schemas: off the async workers.
    let (files_dir, cache_dir) = (dir.to_path_buf(), state_dir.to_path_buf());
    let validated = tokio::task::spawn_blocking(move || validate_dir(&files_dir, &cache_dir))
        .await
        .map_err(std::io::Error::other)??;
    for (file, checked) in validated {
        match checked {
            Err(errors) => {
                tracing::error!("invalid pipeline, not started:\n{errors}");
                hub.refuse(&file, errors.to_string());
                reports.push(Report {
                    name: String::new(),
                    file,
                    result: Err(errors.to_string()),
                });
            }
            Ok(spec) => {
                // Its own cancellation, under the daemon's: it can be stopped alone.
                let (state_dir, token) = (state_dir.to_path_buf(), shutdown.child_token());
                tracing::info!(pipeline = %spec.name, file = %file.display(), sink = %spec.sink.location_display(), "pipeline started");
                let name = spec.name.clone();
                let metrics = hub.add(&name, file.clone(), digest_of(&file));
                let spec = Arc::new(spec);
                let task = running.spawn(supervise(spec, state_dir, metrics, token));
                started.insert(task.id(), (file, name));
            }
        }
    }
    while let Some(done) = running.join_next_with_id().await {
        let (id, result) = match done {
            Ok((id, result)) => (
                id,
                result.map_err(|(o, e)| (o.stats.records, e.to_string())),
            ),
            Err(e) => (e.id(), Err((0, panic_reason(e)))),
        };
        let (file, name) = started.remove(&id).expect("every task was started here");
        let result = match result {
            Ok(o) => {
                let s = o.stats;
                tracing::info!(pipeline = %name, records = s.records, objects = s.objects, dead_letters = s.dead_letters, "pipeline finished");
                Ok(format!(
                    "{} records in {} objects under {} ({} dead letters)",
                    s.records, s.objects, o.location, s.dead_letters
                ))
            }
            Err((records, e)) => {
                tracing::error!(pipeline = %name, error = %e, records, "pipeline failed");
                // `supervise` records its own failures; a panicked task never got there.
                if let Some(entry) = hub.pipelines().get(&name) {
                    entry.metrics.set_state(State::Failed, Some(e.clone()));
                }
                Err(e)
            }
        };
        reports.push(Report { file, name, result });
    }
    Ok(reports)
}

/// Why a pipeline task ended without a result: its panic message, or its cancellation.
fn panic_reason(e: tokio::task::JoinError) -> String {
    if !e.is_panic() {
        return "the pipeline task was cancelled".into();
    }
    let payload = e.into_panic();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into());
    format!(
        "internal error: the pipeline panicked ({message}); its unwritten records stay uncommitted and are read again at the next start; please report it"
    )
}

//! The daemon: validates every pipeline file of a directory, runs the valid ones side by
//! side, and drains them all when the shutdown token fires.

use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use crate::config::validate_in;
use crate::pipeline::run_pipeline;

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

/// Runs every valid pipeline in `dir` until each ends or `shutdown` fires. Invalid
/// files are reported and do not stop the others.
pub async fn run_dir(
    dir: &Path,
    state_dir: &Path,
    shutdown: CancellationToken,
) -> std::io::Result<Vec<Report>> {
    let mut reports = Vec::new();
    let mut running = tokio::task::JoinSet::new();
    for file in pipeline_files(dir)? {
        match validate_in(&file, state_dir) {
            Err(errors) => {
                tracing::error!("invalid pipeline, not started:\n{errors}");
                reports.push(Report {
                    name: String::new(),
                    file,
                    result: Err(errors.to_string()),
                });
            }
            Ok(spec) => {
                let (state_dir, token) = (state_dir.to_path_buf(), shutdown.clone());
                tracing::info!(pipeline = %spec.name, file = %file.display(), sink = %spec.sink.location_display(), "pipeline started");
                running.spawn(async move {
                    let name = spec.name.clone();
                    let result = run_pipeline(spec, &state_dir, token).await;
                    (file, name, result)
                });
            }
        }
    }
    while let Some(done) = running.join_next().await {
        let (file, name, result) = done.expect("pipeline tasks do not panic");
        let result = match result {
            Ok(o) => {
                let s = o.stats;
                tracing::info!(pipeline = %name, records = s.records, objects = s.objects, dead_letters = s.dead_letters, "pipeline finished");
                Ok(format!(
                    "{} records in {} objects under {} ({} dead letters)",
                    s.records, s.objects, o.location, s.dead_letters
                ))
            }
            Err((o, e)) => {
                tracing::error!(pipeline = %name, error = %e, records = o.stats.records, "pipeline failed");
                Err(e.to_string())
            }
        };
        reports.push(Report { file, name, result });
    }
    Ok(reports)
}

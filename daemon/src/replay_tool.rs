//! `weir replay`: a pipeline's dead letters, chosen by error type and arrival time, run
//! again through its current definition (schema, plugins, prefixes) into the lake —
//! once: the replay keeps its own positions under `<state-dir>/replay/`, so a second
//! replay skips what the first one delivered, and a record that fails again becomes a
//! new dead letter that a later replay can take.

use std::fmt::Write;
use std::path::Path;
use std::sync::Arc;

use object_store::path::Path as Key;
use tokio_util::sync::CancellationToken;

use crate::metrics::PipelineMetrics;
use crate::pipeline::{Prepared, prepare, run_pipeline};
use crate::sink::open_store;
use crate::source::Source;
use crate::source::dead_letters::{DeadLetterSource, Selection};

/// Replays the dead letters of the pipeline in `file` that `selection` takes, or with
/// `dry_run` only lists them. The report, or why it could not run.
pub async fn replay(
    file: &Path,
    state_dir: &Path,
    selection: Selection,
    dry_run: bool,
    shutdown: CancellationToken,
) -> Result<String, String> {
    let (path, dir) = (file.to_path_buf(), state_dir.to_path_buf());
    let prepared = tokio::task::spawn_blocking(move || prepare(&path, &dir))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let spec = &prepared.spec;
    let store = open_store(&spec.sink.location).map_err(|e| e.to_string())?;
    let head = spec.sink.error_prefix.literal_head();
    // Listing goes by folder: the head's last full folder.
    let folder = head.rsplit_once('/').map_or("", |(f, _)| f);
    let folder = Key::from(folder);
    let mut parts: Vec<_> = store.root.parts().collect();
    parts.extend(folder.parts());
    let prefix = Key::from_iter(parts);
    let source = DeadLetterSource::select(store.objects.clone(), &prefix, &spec.name, &selection)
        .await
        .map_err(|e| e.to_string())?;
    let mut report = String::new();
    let total: usize = source.chosen.iter().map(|c| c.records).sum();
    for c in &source.chosen {
        writeln!(
            report,
            "{}\t{}\t{} dead letters",
            c.key, c.error_type, c.records
        )
        .expect("writing to a String cannot fail");
    }
    if dry_run || source.chosen.is_empty() {
        writeln!(
            report,
            "{total} dead letters in {} objects would be replayed",
            source.chosen.len()
        )
        .expect("writing to a String cannot fail");
        return Ok(report);
    }
    // State in the replay folder, never the pipeline's own: a running daemon keeps that.
    let replaying = Prepared {
        spec: Arc::new(spec.rewired(Source::DeadLetters(source), spec.sink.clone())),
        chain: prepared.chain.clone(),
    };
    let outcome = run_pipeline(
        replaying,
        &state_dir.join("replay"),
        PipelineMetrics::default(),
        shutdown,
    )
    .await
    .map_err(|(_, e)| e.to_string())?;
    let s = outcome.stats;
    writeln!(
        report,
        "replayed: {} records into {} objects under {} ({} dead letters again)",
        s.records, s.objects, outcome.location, s.dead_letters
    )
    .expect("writing to a String cannot fail");
    Ok(report)
}

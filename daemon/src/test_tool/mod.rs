//! `weir test`: whole-pipeline tests. A test file names a pipeline and its cases; each
//! case's input runs through the pipeline's real path — validation, plugins, prefixes,
//! encoders, dead letters — in process, into a temporary directory instead of its sink,
//! and what was written is compared with what the case expects.

mod compare;
mod format;
mod lake;

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use tokio_util::sync::CancellationToken;

use crate::metrics::PipelineMetrics;
use crate::pipeline::{Prepared, prepare, run_pipeline};
use crate::sink::SinkSpec;
use crate::sink::spec::Location;
use crate::source::Source;
use crate::source::file::{FileMode, FileSource, LineEncoding};
use format::{Case, TestFile};

/// How one case went: its name and every difference (none: it passed).
pub struct CaseReport {
    pub name: String,
    pub failures: Vec<String>,
}

/// Runs every case of the test file `file`. An error means the file or its pipeline
/// could not be used at all.
pub async fn run_file(file: &Path) -> Result<Vec<CaseReport>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("{}: cannot read the test file: {e}", file.display()))?;
    let tests: TestFile =
        marked_yaml::from_yaml(0, &text).map_err(|e| format!("{}: {e}", file.display()))?;
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let pipeline = base.join(&tests.pipeline);
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let state = scratch.path().join("state");
    let prepared = tokio::task::spawn_blocking(move || prepare(&pipeline, &state))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let mut reports = Vec::new();
    for case in &tests.cases {
        let failures = match run_case(&prepared, case, &base).await {
            Ok(f) => f,
            Err(e) => vec![e],
        };
        reports.push(CaseReport {
            name: case.name.clone(),
            failures,
        });
    }
    Ok(reports)
}

async fn run_case(prepared: &Prepared, case: &Case, base: &Path) -> Result<Vec<String>, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let input = dir.path().join("input");
    std::fs::create_dir_all(&input).map_err(|e| e.to_string())?;
    let encoding = write_input(case, base, &input.join("input.ndjson"))?;
    let lake = dir.path().join("lake");
    let source = Source::File(FileSource {
        pattern: input.join("*.ndjson").display().to_string(),
        mode: FileMode::Once,
        batch_size: 1000,
        poll_interval: std::time::Duration::from_secs(1),
        encoding,
        partition_keys: case.input.partition_keys.clone().into_iter().collect(),
        turn_bytes: crate::source::file::TURN_BYTES,
        max_record_bytes: match &prepared.spec.source {
            Source::File(f) => f.max_record_bytes,
            _ => 1 << 20,
        },
    });
    let sink = SinkSpec {
        location: Location::Local(lake.clone()),
        ..prepared.spec.sink.as_ref().clone()
    };
    let under_test = Prepared {
        spec: Arc::new(prepared.spec.rewired(source, Arc::new(sink))),
        chain: prepared.chain.clone(),
    };
    let ran = run_pipeline(
        under_test,
        &dir.path().join("state"),
        PipelineMetrics::default(),
        CancellationToken::new(),
    )
    .await;
    if let Err((_, e)) = ran {
        return Ok(vec![format!("the pipeline failed: {e}")]);
    }
    let head = prepared.spec.sink.error_prefix.literal_head();
    let written = lake::read(&lake, head).map_err(|e| format!("reading the output: {e}"))?;
    compare::differences(&case.expect, &written)
}

/// Writes the case's records as the input file; binary records make every line base64.
fn write_input(case: &Case, base: &Path, to: &Path) -> Result<LineEncoding, String> {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    if let Some(text) = &case.input.lines {
        lines.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| l.as_bytes().to_vec()),
        );
    }
    for f in &case.input.files {
        let text = read(&base.join(f))?;
        lines.extend(
            text.split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec),
        );
    }
    let binary: Vec<Vec<u8>> = (case.input.binary.iter())
        .map(|f| read(&base.join(f)))
        .collect::<Result<_, _>>()?;
    let encoding = if binary.is_empty() {
        LineEncoding::Text
    } else {
        let b64 = base64::engine::general_purpose::STANDARD;
        lines = lines
            .iter()
            .chain(&binary)
            .map(|r| b64.encode(r).into_bytes())
            .collect();
        LineEncoding::Base64
    };
    let mut text = lines.join(&b'\n');
    text.push(b'\n');
    std::fs::write(to, text).map_err(|e| e.to_string())?;
    Ok(encoding)
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("input `{}`: {e}", path.display()))
}

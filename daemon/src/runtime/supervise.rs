//! Supervises one pipeline: runs it until its source ends, it fails for good, or the
//! daemon stops; a transient failure (the object store unreachable or failing on every
//! attempt) restarts it from its stored positions after a growing, jittered wait.

use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::metrics::{PipelineMetrics, State};
use crate::pipeline::{PipelineError, PipelineOutcome, Prepared, run_pipeline};
use crate::sink::retry::jittered;

/// The first restart waits about this long; each later one up to twice as long.
const FIRST_RESTART: Duration = Duration::from_secs(1);
/// No wait between restarts is longer than this.
const LONGEST_RESTART: Duration = Duration::from_secs(60);

pub async fn supervise(
    prepared: Prepared,
    state_dir: PathBuf,
    metrics: PipelineMetrics,
    shutdown: CancellationToken,
) -> Result<PipelineOutcome, (PipelineOutcome, PipelineError)> {
    let spec = prepared.spec.clone();
    let mut failures = 0;
    let mut done = PipelineOutcome {
        stats: Default::default(),
        location: spec.sink.location_display(),
    };
    loop {
        let run = run_pipeline(
            prepared.clone(),
            &state_dir,
            metrics.clone(),
            shutdown.clone(),
        );
        let (outcome, error) = match run.await {
            Ok(outcome) => {
                metrics.set_state(State::Finished, None);
                return Ok(done.then(outcome));
            }
            Err(failed) => failed,
        };
        let progressed = outcome.stats.objects > 0;
        done = done.then(outcome);
        if !error.transient() || shutdown.is_cancelled() {
            metrics.set_state(State::Failed, Some(error.to_string()));
            return Err((done, error));
        }
        // A run that wrote something shows the store is back: start the waits over.
        // A lost lease is no fault: the pipeline stands by again at once.
        let fenced = matches!(error, PipelineError::LeaseLost { .. });
        failures = if progressed || fenced {
            1
        } else {
            failures + 1
        };
        let wait = jittered(failures, FIRST_RESTART, LONGEST_RESTART);
        tracing::warn!(pipeline = %spec.name, %error, ?wait, "transient failure; the pipeline restarts from its stored positions");
        metrics.set_state(State::Restarting, Some(error.to_string()));
        metrics.restarted();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => {
                metrics.set_state(State::Failed, Some(error.to_string()));
                return Err((done, error));
            }
        }
    }
}

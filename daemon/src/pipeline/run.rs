//! Runs one validated pipeline until its source ends, it stops on a bad record, or the
//! shutdown token fires; in every case buffers are flushed and positions committed.

use std::path::Path;
use std::sync::Arc;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::decode::{Decoder, StopAt};
use crate::config::PipelineSpec;
use crate::metrics::{PipelineMetrics, State};
use crate::record::Batch;
use crate::sink::writer::SinkStats;
use crate::sink::{Routed, SinkError, SinkWriter, StoreError, open_store};
use crate::source::SourceError;
use crate::state::{StateError, StateStore};
use crate::transform::{Chain, CompileCache};

/// Batches waiting between the source and the decode stage, and between the decode stage
/// and the writer; the memory budget keeps room for them.
const CHANNEL_DEPTH: usize = 2;
const ROUTED_DEPTH: usize = 1;

/// Batches decoded at once.
fn decode_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8))
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A transform plugin could not be loaded or rejected its configuration.
    #[error("{0}")]
    Plugin(String),
    /// A bug in Weir; the positions of unwritten records stay uncommitted.
    #[error("internal error in the {stage} stage: {reason}; please report it")]
    Internal { stage: &'static str, reason: String },
    #[error(
        "stopped at position {position}: {kind} record ({reason}); fix or remove the record, or set on_error to dead_letter, then restart"
    )]
    Stopped {
        position: u64,
        kind: &'static str,
        reason: String,
    },
}

impl PipelineError {
    /// Whether running the pipeline again later can succeed: the object store failed
    /// in a way a retry can cure (unreachable, 5xx, timeouts) on every attempt.
    pub fn transient(&self) -> bool {
        matches!(
            self,
            PipelineError::Sink(SinkError::Write {
                permanent: false,
                ..
            })
        )
    }
}

/// What a pipeline did before it ended.
#[derive(Debug)]
pub struct PipelineOutcome {
    pub stats: SinkStats,
    pub location: String,
}

impl PipelineOutcome {
    /// This outcome followed by a later run's.
    pub fn then(self, later: PipelineOutcome) -> PipelineOutcome {
        PipelineOutcome {
            stats: self.stats.then(later.stats),
            location: later.location,
        }
    }
}

pub async fn run_pipeline(
    spec: Arc<PipelineSpec>,
    state_dir: &Path,
    metrics: PipelineMetrics,
    shutdown: CancellationToken,
) -> Result<PipelineOutcome, (PipelineOutcome, PipelineError)> {
    let location = spec.sink.location_display();
    let failed = |e: PipelineError| {
        (
            PipelineOutcome {
                stats: SinkStats::default(),
                location: location.clone(),
            },
            e,
        )
    };
    // Compiling plugins blocks: it runs off the async workers.
    let (dir, loading_spec) = (state_dir.to_path_buf(), spec.clone());
    let loading = tokio::task::spawn_blocking(move || load_chain(&loading_spec, &dir));
    let chain = loading.await.map_err(|e| {
        failed(PipelineError::Internal {
            stage: "plugin loading",
            reason: e.to_string(),
        })
    })?;
    let chain = chain.map_err(failed)?;
    let state = StateStore::new(state_dir, &spec.name);
    let positions = state.load().map_err(|e| failed(e.into()))?;
    let store = open_store(&spec.sink.location).map_err(|e| failed(e.into()))?;
    let schema = spec.schema.as_ref().map(|s| s.arrow.clone());
    let mut writer = SinkWriter::new(
        &spec.name,
        spec.sink.clone(),
        schema,
        store,
        state,
        positions.clone(),
    )
    .await
    .map_err(|e| failed(e.into()))?
    .with_batches_in_flight(CHANNEL_DEPTH + decode_workers() + ROUTED_DEPTH + 1)
    .with_metrics(metrics.clone());

    let source_stop = shutdown.child_token();
    let (batch_tx, batch_rx) = mpsc::channel::<Batch>(CHANNEL_DEPTH);
    let (routed_tx, mut routed_rx) = mpsc::channel::<(Routed, Option<StopAt>)>(ROUTED_DEPTH);
    let source = tokio::spawn(
        spec.source
            .clone()
            .run(positions, batch_tx, source_stop.clone()),
    );
    let decoder = Decoder::new(
        &spec.name,
        spec.schema.clone(),
        spec.sink.clone(),
        spec.on_error,
        chain,
    )
    .with_base64_lines(spec.source.base64_lines())
    .with_metrics(metrics.clone());
    let decode = tokio::spawn(decode_in_order(decoder, batch_rx, routed_tx));
    metrics.set_state(State::Running, None);

    let result = drive(&mut writer, &mut routed_rx, &source_stop).await;
    source_stop.cancel();
    drop(routed_rx);
    let decoded = decode
        .await
        .map_err(|e| PipelineError::Internal {
            stage: "decode",
            reason: e.to_string(),
        })
        .and_then(|r| r);
    let source_result = source.await.map_err(|e| PipelineError::Internal {
        stage: "source",
        reason: e.to_string(),
    });
    tracing::info!(pipeline = %spec.name, "input ended; flushing every buffer");
    let flushed = writer.flush_all().await;
    let outcome = PipelineOutcome {
        stats: writer.stats,
        location,
    };
    let error = [
        result.err(),
        decoded.err(),
        source_result
            .and_then(|r| r.map_err(PipelineError::from))
            .err(),
        flushed.err().map(PipelineError::from),
    ]
    .into_iter()
    .flatten()
    .next();
    match error {
        Some(e) => Err((outcome, e)),
        None => Ok(outcome),
    }
}

/// Loads the pipeline's transform plugins (compiled components are cached next to the
/// state directory). Blocking: it may compile.
fn load_chain(spec: &PipelineSpec, state_dir: &Path) -> Result<Option<Arc<Chain>>, PipelineError> {
    if spec.transforms.is_empty() {
        return Ok(None);
    }
    let cache = CompileCache::new(plugin_cache_dir(state_dir));
    crate::config::load_plugins(spec, &cache)
        .map(|c| c.map(Arc::new))
        .map_err(|e| PipelineError::Plugin(e.to_string()))
}

/// Where compiled plugins are cached: `cache/plugins` beside the state directory.
pub fn plugin_cache_dir(state_dir: &Path) -> std::path::PathBuf {
    let parent = state_dir.parent().unwrap_or(state_dir);
    parent.join("cache").join("plugins")
}

/// Decodes batches on blocking threads, several at once, and forwards the results in
/// source order (the watermark relies on it). Stops after a batch that asks to stop.
async fn decode_in_order(
    decoder: Decoder,
    batches: mpsc::Receiver<Batch>,
    routed: mpsc::Sender<(Routed, Option<StopAt>)>,
) -> Result<(), PipelineError> {
    let workers = decode_workers();
    let mut decoded = tokio_stream::wrappers::ReceiverStream::new(batches)
        .map(|batch| {
            decoder.metrics().read(batch.len(), batch.value_bytes());
            let decoder = decoder.clone();
            tokio::task::spawn_blocking(move || {
                let out = decoder.decode(batch);
                crate::alloc::answer_pressure();
                out
            })
        })
        .buffered(workers);
    while let Some(result) = decoded.next().await {
        let out = result.map_err(|e| PipelineError::Internal {
            stage: "decode",
            reason: e.to_string(),
        })?;
        let stop = out.1.is_some();
        if routed.send(out).await.is_err() || stop {
            break;
        }
    }
    Ok(())
}

/// The writer loop: routed batches in, time-based flushes on a ticker.
async fn drive(
    writer: &mut SinkWriter,
    routed: &mut mpsc::Receiver<(Routed, Option<StopAt>)>,
    source_stop: &CancellationToken,
) -> Result<(), PipelineError> {
    let mut ticker = tokio::time::interval(writer.tick_period());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = routed.recv() => {
                let Some((batch, stop)) = message else { return Ok(()) };
                writer.accept(batch).await?;
                if let Some(s) = stop {
                    source_stop.cancel();
                    return Err(PipelineError::Stopped { position: s.position, kind: s.kind.as_str(), reason: s.reason });
                }
            }
            _ = ticker.tick() => writer.tick().await?,
            // Objects finishing between batches advance the watermark promptly.
            written = writer.settle(), if writer.writing() => {
                written?;
                writer.commit()?;
            }
        }
    }
}

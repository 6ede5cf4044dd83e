//! Runs one validated pipeline until its source ends, it stops on a bad record, or the
//! shutdown token fires; in every case buffers are flushed and positions committed,
//! unless another daemon took the lease on its state (then nothing more is written).

use std::path::Path;
use std::sync::Arc;

use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::decode::{Decoder, StopAt};
use super::prepare::Prepared;
use crate::config::PipelineSpec;
use crate::metrics::{Lease, PipelineMetrics, State};
use crate::position::Position;
use crate::record::PartitionId;
use crate::sink::writer::SinkStats;
use crate::sink::{Routed, SinkError, SinkWriter, StoreError, open_store};
use crate::source::{SourceContext, SourceError, SourceEvent};
use crate::state::{PipelineState, Positions, StateError};
use crate::transform::Chain;

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
    /// A bug in Weir; the positions of unwritten records stay uncommitted.
    #[error("internal error in the {stage} stage: {reason}; please report it")]
    Internal { stage: &'static str, reason: String },
    /// Another daemon took the lease on the pipeline's state.
    #[error(
        "another daemon took the lease on state `{state}`; this one stopped without writing and stands by"
    )]
    LeaseLost { state: String },
    #[error(
        "stopped at position {position}: {kind} record ({reason}); fix or remove the record, or set on_error to dead_letter, then restart"
    )]
    Stopped {
        position: crate::position::Position,
        kind: &'static str,
        reason: String,
    },
}

impl PipelineError {
    /// Whether running the pipeline again later can succeed: the object store failed
    /// in a way a retry can cure (unreachable, 5xx, timeouts) on every attempt.
    pub fn transient(&self) -> bool {
        match self {
            PipelineError::Sink(SinkError::Write { permanent, .. }) => !permanent,
            PipelineError::Sink(SinkError::State(e)) | PipelineError::State(e) => e.transient(),
            PipelineError::LeaseLost { .. } => true,
            _ => false,
        }
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
    prepared: Prepared,
    state_dir: &Path,
    metrics: PipelineMetrics,
    shutdown: CancellationToken,
) -> Result<PipelineOutcome, (PipelineOutcome, PipelineError)> {
    let Prepared { spec, chain } = prepared;
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
    let Some(state) = open_state(&spec, state_dir, &metrics, &shutdown)
        .await
        .map_err(failed)?
    else {
        // Stopped while standing by: nothing was read or written.
        return Ok(PipelineOutcome {
            stats: SinkStats::default(),
            location,
        });
    };
    let stored = state.load().await.map_err(|e| failed(e.into()))?;
    let store = open_store(&spec.sink.location).map_err(|e| failed(e.into()))?;
    let schema = spec
        .schema
        .as_ref()
        .map(|s| crate::sink::metadata::with_columns(&s.arrow, &spec.sink.metadata_columns));
    let start = stored.positions.clone();
    let writer = SinkWriter::new(
        &spec.name,
        spec.sink.clone(),
        schema,
        store,
        state.clone(),
        stored,
    )
    .await
    .map_err(|e| failed(e.into()))?
    .with_batches_in_flight(CHANNEL_DEPTH + decode_workers() + ROUTED_DEPTH + 1)
    .with_plugin_memory(chain.as_ref().map(|c| c.memory()).unwrap_or_default())
    .with_metrics(metrics.clone());
    let result = run_stages(&spec, writer, chain, start, &state, &metrics, &shutdown).await;
    if !state.lost().is_cancelled() {
        state.release().await;
    }
    result
}

/// The pipeline's state: the local state directory, or the object store once this
/// daemon holds the lease (`None` if shutdown came while standing by).
async fn open_state(
    spec: &PipelineSpec,
    state_dir: &Path,
    metrics: &PipelineMetrics,
    shutdown: &CancellationToken,
) -> Result<Option<PipelineState>, PipelineError> {
    let Some(remote) = &spec.state else {
        return Ok(Some(PipelineState::local(state_dir, &spec.name)));
    };
    if spec.source.assigned_partitions() {
        let state = PipelineState::partitioned(remote, &spec.name, metrics.clone())?;
        tracing::info!(pipeline = %spec.name, state = %state.describe(), "state kept per partition, claimed as the group assigns them");
        return Ok(Some(state));
    }
    let heard = std::sync::Mutex::new(None::<String>);
    let on_standby = |holder: &str| {
        let mut last = heard.lock().expect("standby lock");
        if last.as_deref() != Some(holder) {
            tracing::info!(pipeline = %spec.name, state = %remote.url, %holder, "standing by: another daemon holds the pipeline's lease");
            metrics.set_state(State::Standby, None);
            metrics.lease(Lease {
                state_url: remote.url.clone(),
                holder: Some(holder.to_string()),
                epoch: 0,
                held_here: false,
            });
            *last = Some(holder.to_string());
        }
    };
    let state =
        PipelineState::remote(remote, &spec.name, (shutdown, metrics.clone()), on_standby).await?;
    if let Some(s) = &state
        && let Some(lease) = s.lease().await
    {
        metrics.lease(Lease {
            state_url: remote.url.clone(),
            holder: lease.holder,
            epoch: lease.epoch,
            held_here: true,
        });
    }
    Ok(state)
}

/// Runs source, decode and writer until the input ends, a record stops the pipeline,
/// shutdown fires or the lease is lost; then flushes (unless the lease is gone).
async fn run_stages(
    spec: &PipelineSpec,
    mut writer: SinkWriter,
    chain: Option<Arc<Chain>>,
    start: Positions,
    state: &PipelineState,
    metrics: &PipelineMetrics,
    shutdown: &CancellationToken,
) -> Result<PipelineOutcome, (PipelineOutcome, PipelineError)> {
    let source_stop = shutdown.child_token();
    let (event_tx, event_rx) = mpsc::channel::<SourceEvent>(CHANNEL_DEPTH);
    let (routed_tx, mut routed_rx) = mpsc::channel::<Stage>(ROUTED_DEPTH);
    let context = SourceContext::new(
        start,
        event_tx,
        writer.acknowledgements(),
        (source_stop.clone(), metrics.clone()),
    )
    .with_state(state.clone());
    let source = tokio::spawn(spec.source.clone().run(context));
    let decoder = Decoder::new(
        &spec.name,
        spec.schema.clone(),
        spec.sink.clone(),
        spec.on_error,
        chain,
    )
    .with_base64_lines(spec.source.base64_lines())
    .with_dead_letter_times(writer.dead_letter_times())
    .with_metrics(metrics.clone());
    let decode = tokio::spawn(decode_in_order(decoder, event_rx, routed_tx));
    metrics.set_state(State::Running, None);

    let lost = state.lost();
    let result = drive(&mut writer, &mut routed_rx, &source_stop, &lost).await;
    source_stop.cancel();
    drop(routed_rx);
    let decoded = decode
        .await
        .map_err(|e| PipelineError::Internal {
            stage: "decode",
            reason: e.to_string(),
        })
        .and_then(|r| r);
    let (fenced, flushed) = if lost.is_cancelled() {
        let fenced = PipelineError::LeaseLost {
            state: state.describe(),
        };
        (Some(fenced), Ok(()))
    } else {
        tracing::info!(pipeline = %spec.name, "input ended; flushing every buffer");
        (None, writer.flush_all().await.map_err(PipelineError::from))
    };
    let outcome = PipelineOutcome {
        stats: writer.stats,
        location: spec.sink.location_display(),
    };
    // The source ends after the writer: a source acknowledging upstream (Kafka's last
    // offset commit) sees the final positions, then the acknowledgements close.
    drop(writer);
    let source_result = source.await.map_err(|e| PipelineError::Internal {
        stage: "source",
        reason: e.to_string(),
    });
    let error = [
        fenced,
        result.err(),
        decoded.err(),
        source_result
            .and_then(|r| r.map_err(PipelineError::from))
            .err(),
        flushed.err(),
    ]
    .into_iter()
    .flatten()
    .next();
    match error {
        Some(e) => Err((outcome, e)),
        None => Ok(outcome),
    }
}

/// What the decode stage hands the writer, in source order.
// Nearly every item is a batch: boxing it to shrink the rare control items would cost
// an allocation per batch.
#[allow(clippy::large_enum_variant)]
enum Stage {
    Decoded(Routed, Option<StopAt>),
    Assign(
        PartitionId,
        Option<Position>,
        oneshot::Sender<Option<Position>>,
    ),
    Release(PartitionId, oneshot::Sender<Option<Position>>),
    Drop(PartitionId),
}

/// Decodes batches on blocking threads, several at once, and forwards the results and
/// the source's partition control in source order (the watermark relies on it). Stops
/// after a batch that asks to stop.
async fn decode_in_order(
    decoder: Decoder,
    events: mpsc::Receiver<SourceEvent>,
    routed: mpsc::Sender<Stage>,
) -> Result<(), PipelineError> {
    let workers = decode_workers();
    let mut decoded = tokio_stream::wrappers::ReceiverStream::new(events)
        .map(
            |event| -> BoxFuture<'static, Result<Stage, tokio::task::JoinError>> {
                match event {
                    SourceEvent::Batch(batch) => {
                        decoder.metrics().read(batch.len(), batch.value_bytes());
                        let decoder = decoder.clone();
                        Box::pin(tokio::task::spawn_blocking(move || {
                            let (routed, stop) = decoder.decode(batch);
                            crate::alloc::answer_pressure();
                            Stage::Decoded(routed, stop)
                        }))
                    }
                    SourceEvent::Assign {
                        partition,
                        floor,
                        done,
                    } => Box::pin(futures::future::ready(Ok(Stage::Assign(
                        partition, floor, done,
                    )))),
                    SourceEvent::Release { partition, done } => {
                        Box::pin(futures::future::ready(Ok(Stage::Release(partition, done))))
                    }
                    SourceEvent::Drop { partition } => {
                        Box::pin(futures::future::ready(Ok(Stage::Drop(partition))))
                    }
                }
            },
        )
        .buffered(workers);
    while let Some(result) = decoded.next().await {
        let out = result.map_err(|e| PipelineError::Internal {
            stage: "decode",
            reason: e.to_string(),
        })?;
        let stop = matches!(&out, Stage::Decoded(_, Some(_)));
        if routed.send(out).await.is_err() || stop {
            break;
        }
    }
    Ok(())
}

/// The writer loop: routed batches and partition control in, time-based flushes on a
/// ticker. Ends when the input does, a record stops the pipeline, or the lease is lost.
async fn drive(
    writer: &mut SinkWriter,
    routed: &mut mpsc::Receiver<Stage>,
    source_stop: &CancellationToken,
    lost: &CancellationToken,
) -> Result<(), PipelineError> {
    let mut ticker = tokio::time::interval(writer.tick_period());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = routed.recv() => {
                let Some(stage) = message else { return Ok(()) };
                accept(writer, stage, source_stop).await?;
            }
            _ = ticker.tick() => writer.tick().await?,
            // Objects finishing between batches advance the watermark promptly.
            written = writer.settle(), if writer.writing() => {
                written?;
                writer.commit().await?;
            }
            _ = lost.cancelled() => return Ok(()),
        }
    }
}

async fn accept(
    writer: &mut SinkWriter,
    stage: Stage,
    source_stop: &CancellationToken,
) -> Result<(), PipelineError> {
    match stage {
        Stage::Decoded(batch, stop) => {
            writer.accept(batch).await?;
            if let Some(s) = stop {
                source_stop.cancel();
                return Err(PipelineError::Stopped {
                    position: s.position,
                    kind: s.kind.as_str(),
                    reason: s.reason,
                });
            }
        }
        Stage::Assign(partition, floor, done) => {
            let _ = done.send(writer.assign(&partition, floor).await?);
        }
        Stage::Release(partition, done) => {
            let _ = done.send(writer.release(&partition).await?);
        }
        Stage::Drop(partition) => writer.drop_partition(&partition).await,
    }
    Ok(())
}

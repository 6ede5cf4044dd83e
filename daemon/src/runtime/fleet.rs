//! The pipelines the daemon runs, one per file, each under its own cancellation:
//! started, drained and replaced one at a time, so stopping one never pauses another.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::task::{Id, JoinError, JoinSet};
use tokio_util::sync::CancellationToken;

use super::supervise;
use crate::metrics::{Hub, PipelineMetrics, State, digest_of};
use crate::pipeline::{PipelineError, PipelineOutcome, Prepared};

/// How one pipeline ended.
pub struct Report {
    pub file: PathBuf,
    pub name: String,
    pub result: Result<String, String>,
}

type Run = Result<PipelineOutcome, (PipelineOutcome, PipelineError)>;

/// A pipeline file's running (or ended) pipeline.
pub struct Member {
    pub name: String,
    /// The footprint it was started from.
    pub digest: String,
    token: CancellationToken,
    metrics: PipelineMetrics,
    generation: u64,
    /// How it ended, once it has.
    ended: Option<Result<String, String>>,
}

impl Member {
    /// Whether it ended in failure (and waits for a change or an explicit reload).
    pub fn failed(&self) -> bool {
        matches!(self.ended, Some(Err(_)))
    }
}

pub struct Fleet {
    state_dir: PathBuf,
    hub: Arc<Hub>,
    shutdown: CancellationToken,
    members: BTreeMap<PathBuf, Member>,
    tasks: JoinSet<(PathBuf, u64, Run)>,
    /// Which file and generation each task runs, for a task that panicked.
    ids: HashMap<Id, (PathBuf, u64)>,
    generation: u64,
}

impl Fleet {
    pub fn new(state_dir: &Path, hub: Arc<Hub>, shutdown: CancellationToken) -> Self {
        Self {
            state_dir: state_dir.to_path_buf(),
            hub,
            shutdown,
            members: BTreeMap::new(),
            tasks: JoinSet::new(),
            ids: HashMap::new(),
            generation: 0,
        }
    }

    pub fn get(&self, file: &Path) -> Option<&Member> {
        self.members.get(file)
    }

    pub fn files(&self) -> Vec<PathBuf> {
        self.members.keys().cloned().collect()
    }

    /// Whether some pipeline is still running.
    pub fn running(&self) -> bool {
        !self.tasks.is_empty()
    }

    /// Starts `prepared` for `file`, under the daemon's shutdown. A pipeline that keeps
    /// its name keeps its metrics and status.
    pub fn start(&mut self, file: &Path, prepared: Prepared, digest: String) {
        let spec = prepared.spec.clone();
        let metrics = match self.hub.pipelines().get(&spec.name) {
            Some(entry) if entry.file == file => entry.metrics.clone(),
            _ => self
                .hub
                .add(&spec.name, file.to_path_buf(), digest_of(file)),
        };
        self.hub.set_digest(&spec.name, digest_of(file));
        metrics.set_state(State::Starting, None);
        tracing::info!(pipeline = %spec.name, file = %file.display(), sink = %spec.sink.location_display(), "pipeline started");
        self.generation += 1;
        let generation = self.generation;
        let token = self.shutdown.child_token();
        let run = supervise(
            prepared,
            self.state_dir.clone(),
            metrics.clone(),
            token.clone(),
        );
        let owner = file.to_path_buf();
        let task = self
            .tasks
            .spawn(async move { (owner, generation, run.await) });
        self.ids.insert(task.id(), (file.to_path_buf(), generation));
        let member = Member {
            name: spec.name.clone(),
            digest,
            token,
            metrics,
            generation,
            ended: None,
        };
        self.members.insert(file.to_path_buf(), member);
    }

    /// Drains `file`'s pipeline (buffers flushed, positions recorded) and forgets it;
    /// the others run on meanwhile. Returns its name.
    pub async fn stop(&mut self, file: &Path) -> Option<String> {
        let member = self.members.remove(file)?;
        member.token.cancel();
        if member.ended.is_none() {
            while let Some(joined) = self.tasks.join_next_with_id().await {
                let (owner, generation, run) = self.resolve(joined);
                if owner == file && generation == member.generation {
                    let _ = log_end(&member.name, run);
                    break;
                }
                self.record_end(&owner, generation, run);
            }
        }
        Some(member.name)
    }

    /// Waits for some pipeline to end and records how; pending for ever if none runs.
    pub async fn next_end(&mut self) {
        match self.tasks.join_next_with_id().await {
            Some(joined) => {
                let (owner, generation, run) = self.resolve(joined);
                self.record_end(&owner, generation, run);
            }
            None => std::future::pending().await,
        }
    }

    /// Waits for every pipeline to end (after shutdown, or when their inputs end) and
    /// reports each, in file order.
    pub async fn finish(mut self) -> Vec<Report> {
        while let Some(joined) = self.tasks.join_next_with_id().await {
            let (owner, generation, run) = self.resolve(joined);
            self.record_end(&owner, generation, run);
        }
        self.members
            .into_iter()
            .map(|(file, m)| Report {
                file,
                name: m.name,
                result: m
                    .ended
                    .unwrap_or_else(|| Err("the pipeline did not end".into())),
            })
            .collect()
    }

    fn resolve(
        &mut self,
        joined: Result<(Id, (PathBuf, u64, Run)), JoinError>,
    ) -> (PathBuf, u64, Run) {
        match joined {
            Ok((id, ended)) => {
                self.ids.remove(&id);
                ended
            }
            Err(e) => {
                let (file, generation) = self
                    .ids
                    .remove(&e.id())
                    .expect("every task was started here");
                let outcome = PipelineOutcome {
                    stats: Default::default(),
                    location: String::new(),
                };
                let error = PipelineError::Internal {
                    stage: "pipeline task",
                    reason: panic_reason(e),
                };
                (file, generation, Err((outcome, error)))
            }
        }
    }

    fn record_end(&mut self, file: &Path, generation: u64, run: Run) {
        let Some(member) = self.members.get_mut(file) else {
            return;
        };
        if member.generation != generation {
            return;
        }
        let ended = log_end(&member.name, run);
        if let Err(e) = &ended {
            // `supervise` records its own failures; a panicked task never got there.
            member.metrics.set_state(State::Failed, Some(e.clone()));
        }
        member.ended = Some(ended);
    }
}

/// Logs how a pipeline ended and says it in one line.
fn log_end(name: &str, run: Run) -> Result<String, String> {
    match run {
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
    }
}

/// Why a pipeline task ended without a result: its panic message, or its cancellation.
fn panic_reason(e: JoinError) -> String {
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
        "the pipeline panicked ({message}); its unwritten records stay uncommitted and are read again at the next start"
    )
}

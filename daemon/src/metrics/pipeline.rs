//! One pipeline's live view: its metric handles (taken once from the shared families,
//! so recording is an atomic add) and its status for the admin API. Cheap to clone;
//! a disabled view records nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use serde::Serialize;

use super::registry::{
    ErrorLabels, Families, FlushLabels, PartitionLabels, PipelineLabel, RebalanceLabels,
    RequestLabels, StateLabels, StepLabels,
};

/// Where a pipeline is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Validated; loading plugins, opening its store and state.
    Starting,
    Running,
    /// Waiting for the lease on its state, which another daemon holds.
    Standby,
    /// Its source ended and every record is delivered.
    Finished,
    /// Waiting to run again after a transient failure (`last_error` says which).
    Restarting,
    Failed,
}

impl State {
    const ALL: [State; 6] = [
        State::Starting,
        State::Running,
        State::Standby,
        State::Finished,
        State::Restarting,
        State::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Running => "running",
            State::Standby => "standby",
            State::Finished => "finished",
            State::Restarting => "restarting",
            State::Failed => "failed",
        }
    }
}

/// What the admin API reports of a pipeline beside its counters.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub state: State,
    /// Why it failed.
    pub last_error: Option<String>,
    /// Durable position per source partition.
    pub positions: BTreeMap<String, crate::position::Position>,
    /// Per source partition: age in seconds of the oldest record not yet acknowledged.
    pub lag_seconds: BTreeMap<String, f64>,
    pub last_flush: Option<Flush>,
    /// The lease on state kept in an object store: who holds it, since which epoch.
    pub lease: Option<Lease>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Lease {
    pub state_url: String,
    pub holder: Option<String>,
    pub epoch: u64,
    /// Whether this daemon holds it.
    pub held_here: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Flush {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub reason: &'static str,
}

struct Handles {
    name: String,
    families: Families,
    records_in: Counter,
    bytes_in: Counter,
    records_delivered: Counter,
    bytes_delivered: Counter,
    objects_written: Counter,
    buffered_bytes: Gauge,
    plugin_memory: Gauge,
    open_prefixes: Gauge,
    freshness: Gauge<f64, std::sync::atomic::AtomicU64>,
    store_retries: Counter,
    restarts: Counter,
    latency: Histogram,
    status: Mutex<Status>,
}

/// A pipeline's metrics and status.
#[derive(Clone, Default)]
pub struct PipelineMetrics(Option<Arc<Handles>>);

impl PipelineMetrics {
    pub fn new(families: &Families, pipeline: &str) -> Self {
        let label = PipelineLabel {
            pipeline: pipeline.to_string(),
        };
        let f = families;
        let handles = Handles {
            name: pipeline.to_string(),
            families: f.clone(),
            records_in: f.records_in.get_or_create_owned(&label),
            bytes_in: f.bytes_in.get_or_create_owned(&label),
            records_delivered: f.records_delivered.get_or_create_owned(&label),
            bytes_delivered: f.bytes_delivered.get_or_create_owned(&label),
            objects_written: f.objects_written.get_or_create_owned(&label),
            buffered_bytes: f.buffered_bytes.get_or_create_owned(&label),
            plugin_memory: f.plugin_memory.get_or_create_owned(&label),
            open_prefixes: f.open_prefixes.get_or_create_owned(&label),
            freshness: f.freshness.get_or_create_owned(&label),
            store_retries: f.store_retries.get_or_create_owned(&label),
            restarts: f.restarts.get_or_create_owned(&label),
            latency: f.latency.get_or_create_owned(&label),
            status: Mutex::new(Status {
                state: State::Starting,
                last_error: None,
                positions: BTreeMap::new(),
                lag_seconds: BTreeMap::new(),
                last_flush: None,
                lease: None,
            }),
        };
        let metrics = Self(Some(Arc::new(handles)));
        metrics.set_state(State::Starting, None);
        metrics
    }

    /// Records nothing: for tools and for measuring what collection costs.
    pub fn disabled() -> Self {
        Self(None)
    }

    pub fn read(&self, records: usize, bytes: usize) {
        if let Some(h) = &self.0 {
            h.records_in.inc_by(records as u64);
            h.bytes_in.inc_by(bytes as u64);
        }
    }

    /// A record went to the error prefix (`dropped: false`) or was dropped.
    pub fn rejected(&self, error_type: &str, dropped: bool) {
        if let Some(h) = &self.0 {
            let labels = ErrorLabels {
                pipeline: h.name.clone(),
                error_type: error_type.to_string(),
            };
            let family = if dropped {
                &h.families.dropped
            } else {
                &h.families.dead_letters
            };
            family.get_or_create(&labels).inc();
        }
    }

    /// An object is durable: its records (data ones count as delivered), its size and
    /// how long its oldest record waited.
    pub fn written(&self, records: usize, bytes: usize, dead_letter: bool, waited_secs: f64) {
        if let Some(h) = &self.0 {
            h.objects_written.inc();
            h.bytes_delivered.inc_by(bytes as u64);
            if !dead_letter {
                h.records_delivered.inc_by(records as u64);
            }
            h.latency.observe(waited_secs);
        }
    }

    pub fn flushed(&self, reason: &'static str) {
        if let Some(h) = &self.0 {
            let labels = FlushLabels {
                pipeline: h.name.clone(),
                reason: reason.to_string(),
            };
            h.families.flushes.get_or_create(&labels).inc();
            let at_ms = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            h.status.lock().expect("status lock").last_flush = Some(Flush { at_ms, reason });
        }
    }

    /// The buffers' state after a change: bytes held, buffers open, the age of the
    /// oldest record not yet durable, and per partition the age of its oldest one.
    /// The linear memory the pipeline's plugin instances hold.
    pub fn plugin_memory(&self, bytes: u64) {
        if let Some(h) = &self.0 {
            h.plugin_memory.set(bytes as i64);
        }
    }

    pub fn buffers(&self, bytes: usize, open: usize, lags: BTreeMap<String, f64>) {
        let Some(h) = &self.0 else { return };
        h.buffered_bytes.set(bytes as i64);
        h.open_prefixes.set(open as i64);
        h.freshness.set(lags.values().copied().fold(0.0, f64::max));
        let mut status = h.status.lock().expect("status lock");
        // A partition with nothing in flight any more has no lag.
        for (partition, lag) in status.lag_seconds.iter_mut() {
            *lag = lags.get(partition).copied().unwrap_or(0.0);
        }
        for (partition, lag) in lags {
            status.lag_seconds.insert(partition, lag);
        }
        for (partition, lag) in &status.lag_seconds {
            Self::lag_gauge(h, partition).set(*lag);
        }
    }

    fn lag_gauge(h: &Handles, partition: &str) -> Gauge<f64, std::sync::atomic::AtomicU64> {
        h.families
            .ack_lag
            .get_or_create_owned(&Self::partition_labels(h, partition))
    }

    fn partition_labels(h: &Handles, partition: &str) -> PartitionLabels {
        PartitionLabels {
            pipeline: h.name.clone(),
            partition: partition.to_string(),
        }
    }

    /// Who holds the lease on the pipeline's state.
    pub fn lease(&self, lease: Lease) {
        if let Some(h) = &self.0 {
            h.status.lock().expect("status lock").lease = Some(lease);
        }
    }

    /// New durable positions.
    pub fn committed(&self, positions: &BTreeMap<String, crate::position::Position>) {
        if let Some(h) = &self.0 {
            h.status.lock().expect("status lock").positions = positions.clone();
        }
    }

    /// Records in the source partition not yet durable.
    pub fn source_lag(&self, partition: &str, records: i64) {
        if let Some(h) = &self.0 {
            let labels = Self::partition_labels(h, partition);
            h.families.source_lag.get_or_create(&labels).set(records);
        }
    }

    /// The offset the source (a Kafka group) acknowledged as committed for a partition.
    pub fn source_committed(&self, partition: &str, offset: i64) {
        if let Some(h) = &self.0 {
            let labels = Self::partition_labels(h, partition);
            h.families
                .source_committed
                .get_or_create(&labels)
                .set(offset);
        }
    }

    /// Partitions assigned, revoked or lost in a rebalance.
    pub fn rebalanced(&self, kind: &'static str, partitions: usize) {
        if let Some(h) = &self.0 {
            let labels = RebalanceLabels {
                pipeline: h.name.clone(),
                kind: kind.to_string(),
            };
            h.families
                .rebalances
                .get_or_create(&labels)
                .inc_by(partitions as u64);
        }
    }

    pub fn store_request(&self, operation: &'static str, ok: bool) {
        if let Some(h) = &self.0 {
            let labels = RequestLabels {
                pipeline: h.name.clone(),
                operation: operation.to_string(),
                outcome: if ok { "ok" } else { "error" }.to_string(),
            };
            h.families.store_requests.get_or_create(&labels).inc();
        }
    }

    /// The pipeline is about to run again after a transient failure.
    pub fn restarted(&self) {
        if let Some(h) = &self.0 {
            h.restarts.inc();
        }
    }

    pub fn retried(&self) {
        if let Some(h) = &self.0 {
            h.store_retries.inc();
        }
    }

    pub fn transform(&self, step: &str, secs: f64) {
        if let Some(h) = &self.0 {
            let labels = StepLabels {
                pipeline: h.name.clone(),
                step: step.to_string(),
            };
            h.families
                .transform_time
                .get_or_create(&labels)
                .observe(secs);
        }
    }

    /// Moves the pipeline to `state`; `error` says why it failed.
    pub fn set_state(&self, state: State, error: Option<String>) {
        let Some(h) = &self.0 else { return };
        for s in State::ALL {
            let labels = StateLabels {
                pipeline: h.name.clone(),
                state: s.as_str().to_string(),
            };
            h.families
                .state
                .get_or_create(&labels)
                .set((s == state) as i64);
        }
        let mut status = h.status.lock().expect("status lock");
        status.state = state;
        if error.is_some() {
            status.last_error = error;
        }
    }

    /// Removes the pipeline's state series: it no longer runs here.
    pub fn retire(&self) {
        let Some(h) = &self.0 else { return };
        for s in State::ALL {
            h.families.state.remove(&StateLabels {
                pipeline: h.name.clone(),
                state: s.as_str().to_string(),
            });
        }
    }

    pub fn status(&self) -> Option<Status> {
        self.0
            .as_ref()
            .map(|h| h.status.lock().expect("status lock").clone())
    }

    /// Buffered bytes, open prefixes and freshness, as last recorded.
    pub fn gauges(&self) -> (i64, i64, f64) {
        self.0.as_ref().map_or((0, 0, 0.0), |h| {
            (
                h.buffered_bytes.get(),
                h.open_prefixes.get(),
                h.freshness.get(),
            )
        })
    }
}

//! The daemon's metric families, registered once under Prometheus names (`weir_`
//! prefix, `_total` counters, base units). Every series carries a `pipeline` label;
//! a pipeline's handles are taken from these families (see [`super::PipelineMetrics`]).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PipelineLabel {
    pub pipeline: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub pipeline: String,
    pub error_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FlushLabels {
    pub pipeline: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabels {
    pub pipeline: String,
    pub partition: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub pipeline: String,
    pub operation: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    pub pipeline: String,
    pub step: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RebalanceLabels {
    pub pipeline: String,
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub pipeline: String,
    pub state: String,
}

/// Histogram buckets for durations: 1 ms to about 9 hours, doubling.
#[derive(Clone)]
pub struct Seconds;

impl MetricConstructor<Histogram> for Seconds {
    fn new_metric(&self) -> Histogram {
        Histogram::new(exponential_buckets(0.001, 2.0, 25))
    }
}

pub type Counters<L> = Family<L, Counter>;
pub type Gauges<L> = Family<L, Gauge>;
pub type SecondsGauges<L> = Family<L, Gauge<f64, std::sync::atomic::AtomicU64>>;
pub type Histograms<L> = Family<L, Histogram, Seconds>;

/// Every family, shared by all pipelines.
#[derive(Clone)]
pub struct Families {
    pub records_in: Counters<PipelineLabel>,
    pub bytes_in: Counters<PipelineLabel>,
    pub records_delivered: Counters<PipelineLabel>,
    pub bytes_delivered: Counters<PipelineLabel>,
    pub objects_written: Counters<PipelineLabel>,
    pub dead_letters: Counters<ErrorLabels>,
    pub dropped: Counters<ErrorLabels>,
    pub flushes: Counters<FlushLabels>,
    pub buffered_bytes: Gauges<PipelineLabel>,
    pub plugin_memory: Gauges<PipelineLabel>,
    pub open_prefixes: Gauges<PipelineLabel>,
    pub freshness: SecondsGauges<PipelineLabel>,
    pub ack_lag: SecondsGauges<PartitionLabels>,
    pub store_requests: Counters<RequestLabels>,
    pub store_retries: Counters<PipelineLabel>,
    pub restarts: Counters<PipelineLabel>,
    pub transform_time: Histograms<StepLabels>,
    pub latency: Histograms<PipelineLabel>,
    pub state: Gauges<StateLabels>,
    pub source_lag: Gauges<PartitionLabels>,
    pub source_committed: Gauges<PartitionLabels>,
    pub rebalances: Counters<RebalanceLabels>,
}

impl Families {
    /// Registers every family in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let f = Self {
            records_in: Family::default(),
            bytes_in: Family::default(),
            records_delivered: Family::default(),
            bytes_delivered: Family::default(),
            objects_written: Family::default(),
            dead_letters: Family::default(),
            dropped: Family::default(),
            flushes: Family::default(),
            buffered_bytes: Family::default(),
            plugin_memory: Family::default(),
            open_prefixes: Family::default(),
            freshness: Family::default(),
            ack_lag: Family::default(),
            store_requests: Family::default(),
            store_retries: Family::default(),
            restarts: Family::default(),
            transform_time: Family::new_with_constructor(Seconds),
            latency: Family::new_with_constructor(Seconds),
            state: Family::default(),
            source_lag: Family::default(),
            source_committed: Family::default(),
            rebalances: Family::default(),
        };
        let r = registry;
        r.register(
            "weir_records_in",
            "Records read from the source",
            f.records_in.clone(),
        );
        r.register_with_unit(
            "weir_read",
            "Bytes of record values read from the source",
            Unit::Bytes,
            f.bytes_in.clone(),
        );
        r.register(
            "weir_records_delivered",
            "Records in durably written data objects",
            f.records_delivered.clone(),
        );
        r.register_with_unit(
            "weir_written",
            "Bytes of data and dead-letter objects written",
            Unit::Bytes,
            f.bytes_delivered.clone(),
        );
        r.register(
            "weir_objects_written",
            "Objects durably written, data and dead letters",
            f.objects_written.clone(),
        );
        r.register(
            "weir_dead_letters",
            "Records routed to the error prefix, by error type",
            f.dead_letters.clone(),
        );
        r.register(
            "weir_records_dropped",
            "Records dropped by an on_error: drop setting, by error type",
            f.dropped.clone(),
        );
        r.register(
            "weir_flushes",
            "Buffers flushed, by reason: size, count, interval, idle, memory, replay, release, shutdown",
            f.flushes.clone(),
        );
        r.register_with_unit(
            "weir_buffered",
            "Bytes held in buffers and in objects being written",
            Unit::Bytes,
            f.buffered_bytes.clone(),
        );
        r.register_with_unit(
            "weir_plugin_memory",
            "Linear memory held by the pipeline's plugin instances (counted against the memory budget)",
            Unit::Bytes,
            f.plugin_memory.clone(),
        );
        r.register(
            "weir_open_prefixes",
            "Buffers open, one per (prefix, source partition)",
            f.open_prefixes.clone(),
        );
        r.register_with_unit(
            "weir_freshness",
            "Age of the oldest record not yet durable (0 when every record read is durable)",
            Unit::Seconds,
            f.freshness.clone(),
        );
        r.register_with_unit(
            "weir_acknowledgement_lag",
            "Per source partition: age of the oldest record read but not yet acknowledged",
            Unit::Seconds,
            f.ack_lag.clone(),
        );
        r.register(
            "weir_object_store_requests",
            "Object-store calls, by operation and outcome",
            f.store_requests.clone(),
        );
        r.register(
            "weir_object_store_retries",
            "Object writes attempted again after a transient failure",
            f.store_retries.clone(),
        );
        r.register(
            "weir_pipeline_restarts",
            "Times a pipeline ran again after a transient failure",
            f.restarts.clone(),
        );
        r.register_with_unit(
            "weir_transform_duration",
            "Time a transform step took per batch",
            Unit::Seconds,
            f.transform_time.clone(),
        );
        r.register_with_unit(
            "weir_delivery_latency",
            "Per object: from its buffer's first record arriving to the object being durable",
            Unit::Seconds,
            f.latency.clone(),
        );
        r.register(
            "weir_pipeline_state",
            "1 for the state a pipeline is in: starting, running, standby, finished, restarting or failed",
            f.state.clone(),
        );
        r.register(
            "weir_source_lag_records",
            "Per source partition: records in the source not yet durable (Kafka: high watermark minus the durable offset)",
            f.source_lag.clone(),
        );
        r.register(
            "weir_source_committed_offset",
            "Per source partition: the offset last committed to the source (Kafka: the group's committed offset, acknowledged by the broker)",
            f.source_committed.clone(),
        );
        r.register(
            "weir_source_rebalances",
            "Partitions assigned, revoked or lost in consumer-group rebalances",
            f.rebalances.clone(),
        );
        f
    }
}

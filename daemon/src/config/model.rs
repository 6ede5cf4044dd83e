//! The pipeline file as written by the user. Doc comments on these fields are the
//! reference for every key (see `docs/pipeline-reference.md`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::units::{ByteSize, Duration};
use crate::source::SourceConfig;

/// One pipeline: a source, an optional schema, transforms, and a sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Format version of this file. Only `weir/v1` exists.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Pipeline name: letters, digits, `-` and `_`. Names the pipeline's state and its objects.
    pub name: String,
    /// Where records come from.
    pub source: SourceConfig,
    /// The schema records are validated against; it also fixes the Parquet columns.
    #[serde(default)]
    pub schema: Option<SchemaConfig>,
    /// Wasm transform steps, applied in order before validation.
    #[serde(default)]
    pub transforms: Vec<TransformConfig>,
    /// Where records go.
    pub sink: SinkConfig,
    /// What to do with each kind of bad record.
    #[serde(default)]
    pub on_error: OnErrorConfig,
    /// Where the pipeline keeps its positions and cut ledger. Default: the daemon's
    /// local state directory.
    #[serde(default)]
    pub state: Option<StateConfig>,
}

/// Pipeline state in an object store, beside the data or elsewhere: the pipeline can
/// move machines, and several daemons can run it, one writing, the others standing by.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// `s3://bucket/prefix`, `gs://bucket/prefix` or `az://container/prefix`; the
    /// pipeline's state is the object `<url>/<name>/state.json`.
    pub url: String,
    /// S3 settings; default: the sink's when it names the same bucket, otherwise the
    /// standard AWS environment variables.
    #[serde(default)]
    pub s3: Option<S3Config>,
    /// gs:// or az:// settings by object_store's keys; default: the sink's when it
    /// names the same bucket or container.
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
    /// How long the holder may go silent before a standby takes over. Default 30s.
    #[serde(default)]
    pub lease: Option<Duration>,
}

/// One Wasm transform step.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformConfig {
    /// Path to the plugin's `.wasm` component, relative to the pipeline file.
    pub plugin: String,
    /// Name in logs and error reasons. Default: the file name without `.wasm`.
    #[serde(default)]
    pub name: Option<String>,
    /// Settings handed to the plugin's `init`: strings, numbers, booleans, or lists
    /// of them (joined with commas).
    #[serde(default)]
    pub config: BTreeMap<String, serde_json::Value>,
    /// Resource limits of each instance.
    #[serde(default)]
    pub limits: TransformLimits,
    /// Capabilities granted to the plugin; none by default.
    #[serde(default)]
    pub grants: TransformGrants,
}

/// Resource limits of a plugin instance.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformLimits {
    /// Sum of the instance's memories. Default 128MiB, at most 1GiB.
    #[serde(default)]
    pub memory: Option<ByteSize>,
    /// Wall time for one batch. Default 5s.
    #[serde(default)]
    pub timeout: Option<Duration>,
    /// New output bytes per batch. Default 64MiB.
    #[serde(default)]
    pub max_output: Option<ByteSize>,
}

/// What a plugin may reach outside its sandbox.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformGrants {
    /// Environment variables the plugin may read (passed when set).
    #[serde(default)]
    pub env: Vec<String>,
    /// Directories the plugin may read, at the same path, relative to the pipeline file.
    #[serde(default)]
    pub dirs: Vec<String>,
    /// Outbound network access and name lookups. Default false.
    #[serde(default)]
    pub network: bool,
    /// Real clocks. Default false: the plugin's clocks read zero.
    #[serde(default)]
    pub clocks: bool,
}

/// A subject in a local schema registry directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaConfig {
    /// Registry directory, relative to the pipeline file (default `schemas` next to it,
    /// falling back to `../schemas`), or the `http(s)://` URL of a registry that speaks
    /// Confluent's API.
    #[serde(default)]
    pub registry: Option<String>,
    /// Remote registry: basic auth user and password (use `${VAR}`).
    #[serde(default)]
    pub registry_user: Option<String>,
    #[serde(default)]
    pub registry_password: Option<String>,
    /// Remote registry: a PEM file of root certificates to trust (a private CA),
    /// relative to the pipeline file.
    #[serde(default)]
    pub registry_ca: Option<String>,
    /// Remote registry: how long the cached copy of the subject is used before it is
    /// fetched again. Default 5m.
    #[serde(default)]
    pub registry_refresh: Option<Duration>,
    /// Subject name: a folder in the registry.
    pub subject: String,
    /// A version number or `latest` (default: the newest version that passes the
    /// subject's compatibility check).
    #[serde(default)]
    pub version: Option<String>,
    /// How record values are encoded: `json` (default), `avro` or `protobuf`.
    #[serde(default)]
    pub encoding: crate::wire::Encoding,
    /// How Avro and Protobuf records name their writer schema: `auto` (default:
    /// Confluent's magic byte 0, or Avro's single-object marker C3 01), `confluent`,
    /// `single_object`, or `raw` (bare datums written with the pipeline's version).
    #[serde(default)]
    pub framing: crate::wire::framing::Framing,
    /// Protobuf: the message type of the columns and of bare records (full or short
    /// name). Default: the first message of the file.
    #[serde(default)]
    pub message: Option<String>,
}

/// The object-store sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Where objects go: a directory (relative to the pipeline file), `file:///abs/dir`,
    /// `s3://bucket/root`, `gs://bucket/root`, or `az://container/root` (also
    /// `abfss://container@account.dfs.core.windows.net/root`).
    pub url: String,
    /// `parquet` (default) or `jsonl`.
    #[serde(default)]
    pub format: Format,
    /// Parquet: `zstd` (default), `snappy`, `gzip`, `none`. JSON lines: `none` (default), `gzip`, `zstd`.
    #[serde(default)]
    pub compression: Option<Compression>,
    /// Parquet: maximum rows per row group. Default 122880.
    #[serde(default)]
    pub row_group_rows: Option<usize>,
    /// Parquet: dictionary-encode columns. Default true.
    #[serde(default = "yes")]
    pub dictionary: bool,
    /// Object key prefix template, e.g. `year=!{timestamp:yyyy}/month=!{timestamp:MM}/`.
    #[serde(default)]
    pub prefix: String,
    /// Prefix template for dead-lettered records. Default `errors/!{error:type}/!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/`.
    #[serde(default)]
    pub error_prefix: Option<String>,
    /// Which time `!{timestamp:...}` uses.
    #[serde(default)]
    pub time: TimeConfig,
    /// When buffers are flushed into objects.
    #[serde(default)]
    pub buffer: BufferConfig,
    /// Parquet: record metadata kept as columns after the schema's: `key`, `headers`,
    /// `topic`, `partition`, `offset`, `timestamp` (columns `_key`, `_headers`, ...).
    #[serde(default)]
    pub metadata_columns: Vec<crate::sink::metadata::MetadataColumn>,
    /// S3 connection settings; each falls back to the standard AWS environment variables.
    #[serde(default)]
    pub s3: S3Config,
    /// Settings of a `gs://` or `az://` store, by object_store's configuration keys
    /// (`google_service_account`, `google_base_url`, `azure_storage_account_name`,
    /// `azure_storage_account_key`, `azure_storage_use_emulator`, ...); each falls back
    /// to the cloud's standard environment variables.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    #[default]
    Parquet,
    Jsonl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    None,
    Zstd,
    Snappy,
    Gzip,
}

/// The clock behind `!{timestamp:...}` in prefixes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeConfig {
    /// `event` (a field of the record; default when `field` is set) or `arrival`.
    #[serde(default)]
    pub source: Option<TimeSource>,
    /// Dotted path of the event-time field: an RFC 3339 string or epoch milliseconds.
    #[serde(default)]
    pub field: Option<String>,
    /// IANA time zone for the prefix, e.g. `Europe/Paris`. Default `UTC`.
    #[serde(default)]
    pub timezone: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeSource {
    Event,
    Arrival,
}

/// Flush triggers, whichever comes first, and the memory budget across all open prefixes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BufferConfig {
    /// Flush a prefix when its buffered data reaches this size. Default `64MiB`.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: ByteSize,
    /// Flush a prefix when it holds this many records. Default 1000000.
    #[serde(default = "default_max_records")]
    pub max_records: usize,
    /// Flush a prefix this long after its first record. Default `60s`.
    #[serde(default = "default_interval")]
    pub interval: Duration,
    /// Flush a prefix that received nothing for this long. Default `15s`.
    #[serde(default = "default_idle")]
    pub idle: Duration,
    /// Cap on buffered bytes across all prefixes; the largest buffer is flushed when it is
    /// reached, and the source waits. Default `256MiB`.
    #[serde(default = "default_budget")]
    pub memory_budget: ByteSize,
}

impl Default for BufferConfig {
    fn default() -> Self {
        Self {
            max_bytes: default_max_bytes(),
            max_records: default_max_records(),
            interval: default_interval(),
            idle: default_idle(),
            memory_budget: default_budget(),
        }
    }
}

fn default_max_bytes() -> ByteSize {
    ByteSize(64 << 20)
}
fn default_max_records() -> usize {
    1_000_000
}
fn default_interval() -> Duration {
    Duration(std::time::Duration::from_secs(60))
}
fn default_idle() -> Duration {
    Duration(std::time::Duration::from_secs(15))
}
fn default_budget() -> ByteSize {
    ByteSize(256 << 20)
}

/// S3 settings. Unset keys come from `AWS_REGION`, `AWS_ENDPOINT_URL`,
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub region: Option<String>,
    /// Endpoint of an S3-compatible server, e.g. `http://127.0.0.1:9000`.
    pub endpoint: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    /// Allow `http://` endpoints. Default false.
    #[serde(default)]
    pub allow_http: bool,
    /// Path-style requests (`endpoint/bucket/key`), as most S3-compatible servers need.
    /// Default true when `endpoint` is set.
    pub path_style: Option<bool>,
}

/// Per kind of bad record: `dead_letter` (default), `drop` or `stop`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnErrorConfig {
    /// The record is not valid JSON.
    #[serde(default)]
    pub invalid_json: ErrorAction,
    /// The record does not match the schema.
    #[serde(default)]
    pub schema_mismatch: ErrorAction,
    /// The record has no usable value for a prefix (event time or partition field).
    #[serde(default)]
    pub partition_failed: ErrorAction,
    /// A transform could not process the record: it returned an error, trapped, ran
    /// out of memory or time, or produced malformed output.
    #[serde(default)]
    pub processing_failed: ErrorAction,
    /// An Avro or Protobuf record whose first bytes are not the framing expected
    /// (e.g. no Confluent magic byte, a truncated header).
    #[serde(default)]
    pub bad_framing: ErrorAction,
    /// A framed record names a schema id or fingerprint the registry does not have.
    #[serde(default)]
    pub unknown_schema_id: ErrorAction,
    /// A truncated or corrupt Avro or Protobuf record.
    #[serde(default)]
    pub decode_failed: ErrorAction,
    /// A record written with a schema version the pipeline cannot read without losing
    /// data: a version the compatibility check refuses, a newer version than a pinned
    /// one, or a schema of another subject.
    #[serde(default)]
    pub schema_incompatible: ErrorAction,
    /// A record longer than the source's `max_record_bytes`; its first 1 KiB and its
    /// length are kept.
    #[serde(default)]
    pub record_too_large: ErrorAction,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorAction {
    /// Write the record, its error type and reason under `error_prefix`.
    #[default]
    DeadLetter,
    /// Count it and move on.
    Drop,
    /// Stop the pipeline before the record; nothing after it is written.
    Stop,
}

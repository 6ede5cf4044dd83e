//! Weir moves event streams into data lakes: a source, schema validation, transforms,
//! and an object-store sink writing partitioned Parquet, wired as one pipeline per YAML file.

pub mod admin;
pub mod alloc;
pub mod config;
pub mod daemon;
pub mod fault;
pub mod metrics;
pub mod pipeline;
pub mod plugin_tool;
pub mod position;
pub mod record;
pub mod replay_tool;
pub mod runtime;
pub mod schema;
pub mod schema_tool;
pub mod sink;
pub mod source;
pub mod state;
pub mod test_tool;
pub mod transform;
pub mod wire;

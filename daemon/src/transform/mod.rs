//! The Wasm transform host: plugins written against `plugins/wit` run in a sandbox,
//! one call per batch, in a chain between the source and the decode stage.
//!
//! - `engine`: the process-wide wasmtime engine and its epoch ticker.
//! - `cache`: compiled components on disk, in a private folder, checked by digest.
//! - `clock`: the monotonic clock plugins see, whose waits end by the call's deadline.
//! - `state`: what each instance's store holds: WASI context (no grants by default),
//!   the memory limiter, the rate-limited log.
//! - `plugin`: a loaded plugin, its instance pool, and fault handling (a trap, a
//!   timeout or running out of memory re-instantiates and bisects the batch).
//! - `convert`: a step's input as the plugin receives it (values shared, fetched on
//!   demand), and the checks on a plugin's output.
//! - `builder`: turns a step's output back into a host batch.
//! - `chain`: the configured steps, applied in order.

mod bindings;
mod builder;
mod cache;
mod chain;
mod clock;
mod convert;
mod engine;
mod plugin;
mod state;

pub use cache::CompileCache;
pub use chain::{Chain, Failed, Next, PluginMemory, StepError, in_position_order};
pub use engine::MAX_PLUGIN_MEMORY;
pub use plugin::{Grants, Limits, Plugin, PluginError, PluginSpec};

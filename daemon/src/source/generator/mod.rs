//! The `generator` source: realistic synthetic events (orders or clickstream) with
//! nested fields and event times spread over a window, deterministic per seed and index
//! so that a restart continues the same stream.

mod config;
mod events;
mod source;

pub use config::{GeneratorConfig, GeneratorKind};
pub use events::write_event;
pub use source::Generator;

//! One pipeline at run time: source task → decode stage → sink writer, joined by bounded
//! channels, with acknowledgements flowing back as persisted watermarks.

mod arrow_fields;
mod binary;
mod columns;
mod decode;
mod prepare;
mod run;

pub use decode::Decoder;
pub use prepare::{Prepared, plugin_cache_dir, prepare};
pub use run::{PipelineError, PipelineOutcome, run_pipeline};

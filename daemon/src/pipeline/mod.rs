//! One pipeline at run time: source task → decode stage → sink writer, joined by bounded
//! channels, with acknowledgements flowing back as persisted watermarks.

mod arrow_fields;
mod binary;
mod columns;
mod decode;
mod run;

pub use decode::Decoder;
pub use run::{PipelineError, PipelineOutcome, plugin_cache_dir, run_pipeline};

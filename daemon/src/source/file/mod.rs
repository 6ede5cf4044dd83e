//! The `file` source: newline-delimited files (JSON, or binary records as base64 lines)
//! matched by a path or glob, read once or followed as lines are appended. A partition
//! is one file, known by identity rather than name; a position is a byte offset in it.

mod config;
mod identity;
mod source;
mod tracker;

pub use config::{FileConfig, FileMode, LineEncoding};
pub use source::{FileSource, TURN_BYTES};

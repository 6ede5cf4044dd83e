//! The `file` source: newline-delimited files (JSON, or binary records as base64 lines)
//! matched by a path or glob, read once or followed as lines are appended. A position
//! is a byte offset within a file.

mod config;
mod source;

pub use config::{FileConfig, FileMode, LineEncoding};
pub use source::{FileSource, TURN_BYTES};

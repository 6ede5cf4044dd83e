//! The `file` source: newline-delimited JSON files matched by a path or glob, read once
//! or followed as lines are appended. A position is a byte offset within a file.

mod config;
mod source;

pub use config::{FileConfig, FileMode};
pub use source::FileSource;

//! The object-store sink: prefix templates, per-prefix buffers under a memory budget,
//! Parquet and JSON-lines encoders, and deterministic object keys.

mod buffers;
mod dead_letter;
pub mod dead_letter_times;
mod encode;
pub mod fields;
pub mod ledger;
#[cfg(test)]
mod lifecycle_tests;
pub mod metadata;
mod replay;
pub mod retry;
mod rows;
pub mod spec;
mod store;
pub mod template;
mod upload;
mod write_job;
pub mod writer;

pub use buffers::{Group, GroupData, Routed};
pub use dead_letter::DeadLetter;
pub use rows::PrefixedRows;
pub use spec::SinkSpec;
pub use store::{Store, StoreError, open_store};
pub use writer::{SinkError, SinkWriter};

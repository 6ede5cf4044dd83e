//! Sources, registered in one enum: each reads from its origin into [`Batch`]es sent
//! through its [`SourceContext`], resumes from the positions the context holds, hears
//! which positions became durable, and stops when the shutdown token fires. A new
//! source is a folder here plus its arm in `SourceConfig`, `Source` and `Source::run`.

mod context;
pub mod dead_letters;
pub mod file;
pub mod generator;
pub mod kafka;

pub use context::{Closed, SourceContext, SourceEvent};

use std::path::Path;

use serde::Deserialize;

/// `source:` in a pipeline file, selected by `type` (the loader turns `type: file` into
/// serde's external tag).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceConfig {
    /// Synthetic events, for trying Weir and for benchmarks.
    Generator(generator::GeneratorConfig),
    /// Newline-delimited JSON files.
    File(file::FileConfig),
    /// Topics of a Kafka (or Kafka-compatible) cluster, as a consumer-group member.
    Kafka(kafka::KafkaConfig),
}

/// A validated source, ready to run.
#[derive(Debug, Clone)]
pub enum Source {
    Generator(generator::Generator),
    File(file::FileSource),
    Kafka(kafka::KafkaSource),
    /// A pipeline's own dead letters, read back by `weir replay` (not a YAML source).
    DeadLetters(dead_letters::DeadLetterSource),
}

impl Source {
    /// Whether records are base64 lines the decode stage must decode first.
    pub fn base64_lines(&self) -> bool {
        matches!(self, Source::File(f) if f.encoding == file::LineEncoding::Base64)
    }

    /// Whether the source's partitions are handed out by someone else (a consumer
    /// group): state in an object store is then kept per partition and claimed at
    /// assignment, instead of under one lease for the whole pipeline.
    pub fn assigned_partitions(&self) -> bool {
        matches!(self, Source::Kafka(_))
    }
}

/// A source setting that is wrong: the key under `source`, the problem and a hint.
#[derive(Debug)]
pub struct SourceConfigError {
    pub key: &'static str,
    pub message: String,
    pub hint: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("reading `{path}`: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("Kafka: {0}")]
    Kafka(String),
    #[error(
        "the file source's notes in the state cannot be read: {0}; remove `source.json` from the pipeline's state to bind files by name again"
    )]
    Notes(String),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
}

impl SourceConfig {
    /// Whether records are base64 lines of binary records.
    pub fn base64_lines(&self) -> bool {
        matches!(self, SourceConfig::File(f) if f.encoding == file::LineEncoding::Base64)
    }

    /// The partition keys (`!{partition:NAME}`) the source sets on every record.
    pub fn partition_keys(&self) -> &'static [&'static str] {
        match self {
            SourceConfig::Kafka(_) => &["topic", "partition"],
            SourceConfig::Generator(_) | SourceConfig::File(_) => &[],
        }
    }

    /// Checks settings and resolves paths against `base` (the pipeline file's folder).
    pub fn validate(&self, base: &Path) -> Result<Source, SourceConfigError> {
        match self {
            SourceConfig::Generator(c) => c.validate().map(Source::Generator),
            SourceConfig::File(c) => c.validate(base).map(Source::File),
            SourceConfig::Kafka(c) => c.validate(base).map(Source::Kafka),
        }
    }
}

impl Source {
    /// Reads until the source is exhausted, the pipeline stops taking input, or the
    /// context's shutdown fires.
    pub async fn run(self, ctx: SourceContext) -> Result<(), SourceError> {
        match self {
            Source::Generator(g) => {
                g.run(ctx).await;
                Ok(())
            }
            Source::File(f) => f.run(ctx).await,
            Source::Kafka(k) => k.run(ctx).await,
            Source::DeadLetters(d) => d.run(ctx).await,
        }
    }
}

//! `source: {type: file}` settings.

use std::path::Path;

use serde::Deserialize;

use super::FileSource;
use crate::config::{ByteSize, Duration};
use crate::source::SourceConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// A file path or glob (`data/*.ndjson`, `logs/**/*.jsonl`), relative to the
    /// pipeline file's folder. Each matching file is one source partition, named after
    /// the file; names must be unique across the match.
    pub path: String,
    /// `once` (default): read every file to its end, then finish. `follow`: keep
    /// reading lines as they are appended and pick up new files.
    #[serde(default)]
    pub mode: FileMode,
    /// Records per batch. Default 1000.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// In `follow` mode, how often to look for new lines and files. Default `1s`.
    #[serde(default = "default_poll")]
    pub poll_interval: Duration,
    /// The longest record (line) read whole. A longer one is never held in memory: it
    /// goes to the error prefix as `record-too-large` with its first 1 KiB and its
    /// length. Default `1MiB` (Kafka's and Firehose's record limit); at most `512MiB`.
    #[serde(default = "default_max_record")]
    pub max_record_bytes: ByteSize,
    /// `text` (default): each line is a record. `base64`: each line is one binary
    /// record (Avro, Protobuf) in standard base64, e.g. a captured Kafka topic.
    #[serde(default)]
    pub encoding: LineEncoding,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineEncoding {
    #[default]
    Text,
    Base64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileMode {
    #[default]
    Once,
    Follow,
}

fn default_max_record() -> ByteSize {
    ByteSize(1 << 20)
}

fn default_batch() -> usize {
    1000
}
fn default_poll() -> Duration {
    Duration(std::time::Duration::from_secs(1))
}

impl FileConfig {
    pub fn validate(&self, base: &Path) -> Result<FileSource, SourceConfigError> {
        let pattern = base.join(&self.path);
        let pattern = pattern.to_str().ok_or_else(|| SourceConfigError {
            key: "path",
            message: "the path is not valid UTF-8".into(),
            hint: "rename the folder or use a glob".into(),
        })?;
        glob::Pattern::new(pattern).map_err(|e| SourceConfigError {
            key: "path",
            message: format!("`{}` is not a valid glob: {}", self.path, e.msg),
            hint: "e.g. data/*.ndjson".into(),
        })?;
        if self.batch_size == 0 || self.batch_size > 100_000 {
            return Err(SourceConfigError {
                key: "batch_size",
                message: format!("{} is out of range", self.batch_size),
                hint: "use 1 to 100000".into(),
            });
        }
        if self.max_record_bytes.0 == 0 || self.max_record_bytes.0 > 512 << 20 {
            return Err(SourceConfigError {
                key: "max_record_bytes",
                message: format!("{} bytes is out of range", self.max_record_bytes.0),
                hint: "use 1KiB to 512MiB; the default is 1MiB".into(),
            });
        }
        if self.poll_interval.0.is_zero() {
            return Err(SourceConfigError {
                key: "poll_interval",
                message: "must be longer than zero (0 would poll in a busy loop)".into(),
                hint: "e.g. 1s, or 100ms for low latency".into(),
            });
        }
        Ok(FileSource {
            pattern: pattern.to_string(),
            mode: self.mode,
            batch_size: self.batch_size,
            poll_interval: self.poll_interval.0,
            encoding: self.encoding,
            partition_keys: Vec::new(),
            turn_bytes: super::source::TURN_BYTES,
            max_record_bytes: self.max_record_bytes.0 as usize,
        })
    }
}

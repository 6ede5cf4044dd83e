//! The validated sink: store location, format, compiled templates, buffer limits.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono_tz::Tz;
use parquet::basic::{Compression as PqCompression, GzipLevel, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::template::Template;
use crate::config::{BufferConfig, Compression, Format, S3Config};

#[derive(Debug, Clone)]
pub enum Location {
    Local(PathBuf),
    S3 {
        bucket: String,
        root: String,
        settings: S3Config,
    },
    /// Google Cloud Storage: `gs://bucket/root`.
    Gcs {
        url: String,
        root: String,
        options: BTreeMap<String, String>,
    },
    /// Azure Blob Storage or ADLS Gen2: `az://`, `abfs(s)://`.
    Azure {
        url: String,
        root: String,
        options: BTreeMap<String, String>,
    },
}

#[derive(Debug, Clone)]
pub struct SinkSpec {
    pub location: Location,
    pub format: Format,
    pub compression: Compression,
    pub row_group_rows: usize,
    pub dictionary: bool,
    pub prefix: Template,
    pub error_prefix: Template,
    /// Dotted path of the event-time field; `None` means arrival time.
    pub time_field: Option<Vec<String>>,
    pub timezone: Tz,
    pub buffer: BufferConfig,
    /// Record metadata written as Parquet columns after the schema's.
    pub metadata_columns: Vec<super::metadata::MetadataColumn>,
    /// SHA-256 of everything that decides which records go to which object (prefixes,
    /// time, format, `on_error`, the schema, the transforms and their plugins): recorded
    /// with each cut, so a replay after a crash knows whether it still routes alike.
    pub routing: String,
}

impl SinkSpec {
    pub fn parquet_properties(&self) -> WriterProperties {
        let compression = match self.compression {
            Compression::None => PqCompression::UNCOMPRESSED,
            Compression::Snappy => PqCompression::SNAPPY,
            Compression::Gzip => PqCompression::GZIP(GzipLevel::default()),
            Compression::Zstd => PqCompression::ZSTD(ZstdLevel::default()),
        };
        WriterProperties::builder()
            .set_compression(compression)
            .set_max_row_group_row_count(Some(self.row_group_rows))
            .set_dictionary_enabled(self.dictionary)
            .set_created_by(format!("weir {}", env!("CARGO_PKG_VERSION")))
            .build()
    }

    /// File extension of data objects.
    pub fn extension(&self) -> &'static str {
        match (self.format, self.compression) {
            (Format::Parquet, _) => "parquet",
            (Format::Jsonl, Compression::Gzip) => "jsonl.gz",
            (Format::Jsonl, Compression::Zstd) => "jsonl.zst",
            (Format::Jsonl, _) => "jsonl",
        }
    }

    pub fn location_display(&self) -> String {
        match &self.location {
            Location::Local(p) => p.display().to_string(),
            Location::S3 { bucket, root, .. } => format!("s3://{bucket}/{root}"),
            Location::Gcs { url, .. } | Location::Azure { url, .. } => url.clone(),
        }
    }
}

//! Object encoders. Parquet streams row groups through a multipart upload (a staged file
//! renamed into place on local disk); JSON lines are compressed whole and put once.

use std::io::Write;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::AsyncArrowWriter;
use parquet::file::properties::WriterProperties;

use crate::config::Compression;

/// Writes `batches` as one Parquet object; returns its size in bytes.
pub async fn write_parquet(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    schema: SchemaRef,
    batches: &[RecordBatch],
    props: WriterProperties,
) -> Result<usize, parquet::errors::ParquetError> {
    // Parts of 8 MiB, two in flight: bounded memory per flush whatever the object size.
    let sink =
        BufWriter::with_capacity(store.clone(), path.clone(), 8 << 20).with_max_concurrency(2);
    let mut writer = AsyncArrowWriter::try_new(sink, schema, Some(props))?;
    for batch in batches {
        writer.write(batch).await?;
    }
    let written = writer.bytes_written();
    writer.close().await?;
    Ok(written)
}

/// Writes newline-terminated `lines` as one object, compressed as asked.
pub async fn write_lines(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    lines: Vec<u8>,
    compression: Compression,
) -> Result<usize, object_store::Error> {
    let body = match compression {
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(&lines)
                .and_then(|_| enc.finish())
                .expect("in-memory gzip cannot fail")
        }
        Compression::Zstd => {
            zstd::encode_all(lines.as_slice(), 3).expect("in-memory zstd cannot fail")
        }
        Compression::None | Compression::Snappy => lines,
    };
    let size = body.len();
    store.put(path, PutPayload::from(body)).await?;
    Ok(size)
}

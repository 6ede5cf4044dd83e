//! Object encoders. Parquet streams row groups through a journaled multipart upload (a
//! staged file renamed into place on local disk); JSON lines are compressed whole and
//! put once.

use std::io::Write;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::AsyncArrowWriter;
use parquet::arrow::async_writer::AsyncFileWriter;
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;

use super::store::Store;
use super::upload::TrackedUpload;
use crate::config::Compression;
use crate::metrics::PipelineMetrics;
use crate::state::PipelineState;

/// Writes `batches` as one Parquet object; returns its size in bytes. A failed write
/// leaves nothing behind: its multipart upload (or staged file) is discarded.
pub async fn write_parquet(
    store: &Store,
    (state, metrics): (&PipelineState, &PipelineMetrics),
    path: &Path,
    schema: SchemaRef,
    batches: &[RecordBatch],
    props: WriterProperties,
) -> Result<usize, ParquetError> {
    match &store.multipart {
        Some(multipart) => {
            let objects = store.objects.clone();
            let mut upload =
                TrackedUpload::new(objects, multipart.clone(), state.clone(), path.clone())
                    .with_metrics(metrics.clone());
            let written = encode(&mut upload, schema, batches, props).await;
            if written.is_err() {
                upload.abort().await;
            }
            written
        }
        None => {
            // A local directory: the object is staged in a file and renamed into place.
            let mut staged = BufWriter::with_capacity(store.objects.clone(), path.clone(), 8 << 20)
                .with_max_concurrency(2);
            let written = encode(&mut staged, schema, batches, props).await;
            metrics.store_request("put", written.is_ok());
            if written.is_err() {
                let _ = staged.abort().await;
            }
            written
        }
    }
}

async fn encode<W: AsyncFileWriter>(
    sink: W,
    schema: SchemaRef,
    batches: &[RecordBatch],
    props: WriterProperties,
) -> Result<usize, ParquetError> {
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
    lines: bytes::Bytes,
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
            zstd::encode_all(lines.as_ref(), 3).expect("in-memory zstd cannot fail")
        }
        // Shared, not copied: a retry sends the same bytes again.
        Compression::None | Compression::Snappy => {
            let size = lines.len();
            store.put(path, PutPayload::from(lines)).await?;
            return Ok(size);
        }
    };
    let size = body.len();
    store.put(path, PutPayload::from(body)).await?;
    Ok(size)
}

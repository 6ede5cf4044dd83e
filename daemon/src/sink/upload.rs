//! Streaming object uploads that never leave a multipart upload behind. Before a part
//! is sent, the upload's id is journaled (synced) in the pipeline's state; an upload
//! that fails is aborted, and at the next start every journaled upload is aborted, so
//! an upload cut short by a crash is cleaned up when its cut is replayed.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{MultipartId, ObjectStore, ObjectStoreExt, PutPayload, PutPayloadMut};
use tokio::task::JoinSet;

use crate::metrics::PipelineMetrics;
use crate::state::{PipelineState, StateError, Upload};

/// Parts of 8 MiB (S3 wants at least 5 MiB for every part but the last), two in flight:
/// bounded memory per object whatever its size.
const PART_BYTES: usize = 8 << 20;
const PARTS_IN_FLIGHT: usize = 2;

/// Aborts every upload a previous run journaled and did not finish, then empties the
/// journal. Aborting an upload that did complete is refused by the store as unknown,
/// which is fine: the object is whole either way.
pub async fn recover(
    uploads: &[Upload],
    store: &dyn MultipartStore,
    state: &PipelineState,
) -> Result<usize, StateError> {
    if uploads.is_empty() {
        return Ok(0);
    }
    let mut aborted = 0;
    for started in uploads {
        let key = Path::from(started.key.as_str());
        match store.abort_multipart(&key, &started.id).await {
            Ok(()) => aborted += 1,
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => {
                tracing::warn!(object = %key, error = %e, "could not abort an upload left by the last run")
            }
        }
    }
    state.clear_uploads().await?;
    Ok(aborted)
}

/// One object being written: a single put when it fits in one part, otherwise a
/// journaled multipart upload. Call [`TrackedUpload::abort`] when writing fails.
pub struct TrackedUpload {
    objects: Arc<dyn ObjectStore>,
    multipart: Arc<dyn MultipartStore>,
    state: PipelineState,
    path: Path,
    part: PutPayloadMut,
    id: Option<MultipartId>,
    parts: Vec<Option<PartId>>,
    sending: JoinSet<object_store::Result<(usize, PartId)>>,
    metrics: PipelineMetrics,
}

impl TrackedUpload {
    pub fn new(
        objects: Arc<dyn ObjectStore>,
        multipart: Arc<dyn MultipartStore>,
        state: PipelineState,
        path: Path,
    ) -> Self {
        Self {
            objects,
            multipart,
            state,
            path,
            part: PutPayloadMut::new(),
            id: None,
            parts: Vec::new(),
            sending: JoinSet::new(),
            metrics: PipelineMetrics::disabled(),
        }
    }

    /// Where each call to the store is counted.
    pub fn with_metrics(mut self, metrics: PipelineMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Counts one call to the store and passes its result on.
    fn count<T>(
        &self,
        operation: &'static str,
        result: object_store::Result<T>,
    ) -> object_store::Result<T> {
        self.metrics.store_request(operation, result.is_ok());
        result
    }

    /// Sends the buffered bytes as the next part, starting the upload first if needed.
    async fn send_part(&mut self) -> Result<(), UploadError> {
        let id = match &self.id {
            Some(id) => id.clone(),
            None => {
                let created = self.multipart.create_multipart(&self.path).await;
                let id = self.count("create_multipart", created)?;
                let upload = Upload {
                    key: self.path.to_string(),
                    id: id.clone(),
                };
                if let Err(e) = self.state.upload_started(upload).await {
                    // Not journaled: abort it now, as the next start could not.
                    let _ = self.multipart.abort_multipart(&self.path, &id).await;
                    return Err(e.into());
                }
                self.id = Some(id.clone());
                id
            }
        };
        while self.sending.len() >= PARTS_IN_FLIGHT {
            self.settle_one().await?;
        }
        let payload = std::mem::replace(&mut self.part, PutPayloadMut::new()).freeze();
        let index = self.parts.len();
        self.parts.push(None);
        let (store, path, metrics) = (
            self.multipart.clone(),
            self.path.clone(),
            self.metrics.clone(),
        );
        self.sending.spawn(async move {
            let part = store.put_part(&path, &id, index, payload).await;
            metrics.store_request("put_part", part.is_ok());
            Ok((index, part?))
        });
        Ok(())
    }

    async fn settle_one(&mut self) -> Result<(), UploadError> {
        if let Some(done) = self.sending.join_next().await {
            let (index, part) = done.map_err(|e| UploadError::Task(e.to_string()))??;
            self.parts[index] = Some(part);
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<(), UploadError> {
        let Some(id) = self.id.clone() else {
            let payload: PutPayload =
                std::mem::replace(&mut self.part, PutPayloadMut::new()).freeze();
            self.objects.put(&self.path, payload).await?;
            return Ok(());
        };
        if !self.part.is_empty() {
            self.send_part().await?;
        }
        while !self.sending.is_empty() {
            self.settle_one().await?;
        }
        let parts = self.parts.drain(..).map(|p| p.expect("every part settled"));
        let completed = self
            .multipart
            .complete_multipart(&self.path, &id, parts.collect())
            .await;
        self.count("complete_multipart", completed)?;
        self.id = None;
        self.state.upload_finished(&id).await?;
        Ok(())
    }

    /// Abandons the upload: parts in flight are cancelled and the store discards the rest.
    pub async fn abort(&mut self) {
        self.sending.abort_all();
        let Some(id) = self.id.take() else { return };
        let aborted = self.multipart.abort_multipart(&self.path, &id).await;
        if let Err(e) = self.count("abort_multipart", aborted) {
            // Still journaled: the next start aborts it again.
            tracing::warn!(object = %self.path, error = %e, "could not abort a failed upload");
            return;
        }
        let _ = self.state.upload_finished(&id).await;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error(transparent)]
    Store(#[from] object_store::Error),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("an upload task failed: {0}")]
    Task(String),
}

impl From<UploadError> for parquet::errors::ParquetError {
    fn from(e: UploadError) -> Self {
        parquet::errors::ParquetError::External(Box::new(e))
    }
}

impl parquet::arrow::async_writer::AsyncFileWriter for &mut TrackedUpload {
    fn write(&mut self, bs: Bytes) -> BoxFuture<'_, parquet::errors::Result<()>> {
        Box::pin(async move {
            self.part.push(bs);
            if self.part.content_length() >= PART_BYTES {
                self.send_part().await?;
            }
            Ok(())
        })
    }

    fn complete(&mut self) -> BoxFuture<'_, parquet::errors::Result<()>> {
        Box::pin(async move { Ok(self.finish().await?) })
    }
}

//! Streaming object uploads that never leave a multipart upload behind. Before a part
//! is sent, the upload's id is journaled (synced) in the pipeline's state; an upload
//! that fails is aborted, and at the next start every journaled upload is aborted, so
//! an upload cut short by a crash is cleaned up when its cut is replayed.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::BoxFuture;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{MultipartId, ObjectStore, ObjectStoreExt, PutPayload, PutPayloadMut};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::metrics::PipelineMetrics;
use crate::state::StateError;

/// Parts of 8 MiB (S3 wants at least 5 MiB for every part but the last), two in flight:
/// bounded memory per object whatever its size.
const PART_BYTES: usize = 8 << 20;
const PARTS_IN_FLIGHT: usize = 2;

#[derive(Debug, Serialize, Deserialize)]
struct Started {
    key: String,
    id: String,
}

/// The journal of multipart uploads begun and not yet known to be finished:
/// `uploads.jsonl` beside the pipeline's positions.
pub struct UploadJournal {
    path: PathBuf,
    /// Ids started by this process and not yet completed or aborted.
    open: BTreeSet<String>,
    /// Lines in the file; the file is emptied whenever no upload is open.
    lines: usize,
}

impl UploadJournal {
    pub fn new(dir: &std::path::Path) -> Self {
        Self {
            path: dir.join("uploads.jsonl"),
            open: BTreeSet::new(),
            lines: 0,
        }
    }

    /// Aborts every upload a previous run journaled and did not finish, then empties
    /// the journal. Aborting an upload that did complete is refused by the store as
    /// unknown, which is fine: the object is whole either way.
    pub async fn recover(&mut self, store: &dyn MultipartStore) -> Result<usize, StateError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(source) => {
                return Err(StateError::Read {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let mut aborted = 0;
        // A torn last line is an upload whose id was never synced, so no part was sent.
        for started in text
            .lines()
            .filter_map(|l| serde_json::from_str::<Started>(l).ok())
        {
            let key = Path::from(started.key.as_str());
            match store.abort_multipart(&key, &started.id).await {
                Ok(()) => aborted += 1,
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => {
                    tracing::warn!(object = %key, error = %e, "could not abort an upload left by the last run")
                }
            }
        }
        self.truncate()?;
        Ok(aborted)
    }

    fn started(&mut self, key: &Path, id: &str) -> Result<(), StateError> {
        let mut line = serde_json::to_vec(&Started {
            key: key.to_string(),
            id: id.to_string(),
        })
        .expect("journal lines serialize");
        line.push(b'\n');
        let append = || -> std::io::Result<()> {
            std::fs::create_dir_all(self.path.parent().expect("journal has a folder"))?;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            f.write_all(&line)?;
            f.sync_data()
        };
        append().map_err(|source| StateError::Write {
            path: self.path.clone(),
            source,
        })?;
        self.open.insert(id.to_string());
        self.lines += 1;
        Ok(())
    }

    fn finished(&mut self, id: &str) -> Result<(), StateError> {
        self.open.remove(id);
        if self.open.is_empty() && self.lines > 0 {
            self.truncate()?;
        }
        Ok(())
    }

    fn truncate(&mut self) -> Result<(), StateError> {
        let empty = || -> std::io::Result<()> {
            match std::fs::OpenOptions::new().write(true).open(&self.path) {
                Ok(f) => {
                    f.set_len(0)?;
                    f.sync_data()
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            }
        };
        empty().map_err(|source| StateError::Write {
            path: self.path.clone(),
            source,
        })?;
        self.lines = 0;
        Ok(())
    }
}

pub type SharedJournal = Arc<Mutex<UploadJournal>>;

/// One object being written: a single put when it fits in one part, otherwise a
/// journaled multipart upload. Call [`TrackedUpload::abort`] when writing fails.
pub struct TrackedUpload {
    objects: Arc<dyn ObjectStore>,
    multipart: Arc<dyn MultipartStore>,
    journal: SharedJournal,
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
        journal: SharedJournal,
        path: Path,
    ) -> Self {
        Self {
            objects,
            multipart,
            journal,
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
                self.journal
                    .lock()
                    .expect("journal lock")
                    .started(&self.path, &id)?;
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
        self.journal.lock().expect("journal lock").finished(&id)?;
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
        let _ = self.journal.lock().expect("journal lock").finished(&id);
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

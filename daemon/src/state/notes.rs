//! A source's own notes beside its positions: a small JSON document the source reads
//! at start and replaces durably before it sends anything that depends on it (the file
//! source's bindings of files to partitions). Kept in `source.json` in the local state
//! folder, or in the state object.

use super::{Backend, PipelineState, StateError, blocking, local};

impl PipelineState {
    /// The notes last saved, if any.
    pub async fn source_notes(&self) -> Result<Option<serde_json::Value>, StateError> {
        match &self.backend {
            Backend::Local(l) => {
                let path = notes_path(l);
                blocking(move || {
                    let Some(bytes) = local::read(&path)? else {
                        return Ok(None);
                    };
                    serde_json::from_slice(&bytes)
                        .map(Some)
                        .map_err(|source| StateError::Corrupt { path, source })
                })
                .await
            }
            Backend::Object(o) => Ok(o.source_notes().await),
            // Sources whose partitions are handed out (Kafka) keep no notes.
            Backend::Partitions(_) => Ok(None),
        }
    }

    /// Replaces the notes; returns once they are durable.
    pub async fn save_source_notes(&self, notes: serde_json::Value) -> Result<(), StateError> {
        match &self.backend {
            Backend::Local(l) => {
                let path = notes_path(l);
                blocking(move || {
                    let bytes = serde_json::to_vec_pretty(&notes).expect("notes serialize");
                    local::replace(&path, &bytes)
                        .map_err(|source| StateError::Write { path, source })
                })
                .await
            }
            Backend::Object(o) => o.write(|doc| doc.source = Some(notes)).await,
            Backend::Partitions(_) => Ok(()),
        }
    }
}

fn notes_path(local: &std::sync::Mutex<super::Local>) -> std::path::PathBuf {
    let local = local.lock().expect("state lock");
    local.files.dir().join("source.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_notes_survive_a_new_handle() {
        let dir = tempfile::tempdir().unwrap();
        let state = PipelineState::local(dir.path(), "p");
        assert_eq!(state.source_notes().await.unwrap(), None);
        let notes = serde_json::json!({"files": {"a": 1}});
        state.save_source_notes(notes.clone()).await.unwrap();
        let again = PipelineState::local(dir.path(), "p");
        assert_eq!(again.source_notes().await.unwrap(), Some(notes));
    }
}

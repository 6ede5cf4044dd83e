//! Dead letters as a source, for `weir replay`: the JSON lines a pipeline wrote under
//! its error prefix, read back as the records they hold. Each (object, error type) is a
//! partition and a line's index its position, so a replay's stored positions say which
//! dead letters went through already and a second replay skips them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use base64::Engine;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::Deserialize;
use sha2::Digest;

use crate::position::Position;
use crate::record::{Batch, PartitionId};
use crate::source::{SourceContext, SourceError};

/// Records per batch.
const BATCH: usize = 1000;

/// Which dead letters to replay.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Error types to take (`schema-mismatch`, ...); empty takes every type.
    pub error_types: BTreeSet<String>,
    /// Objects whose first dead letter arrived at or after this (ms since the epoch).
    pub since_ms: Option<i64>,
    /// ... and before this.
    pub until_ms: Option<i64>,
}

/// One line of a dead-letter object, as `sink::dead_letter` writes it.
#[derive(Deserialize)]
struct Letter {
    error_type: String,
    pipeline: String,
    arrival_ms: i64,
    #[serde(default)]
    raw: Option<String>,
    #[serde(default)]
    raw_base64: Option<String>,
}

/// One (object, error type) to replay, with how many dead letters it holds.
#[derive(Debug, Clone)]
pub struct Chosen {
    pub key: Path,
    pub error_type: String,
    pub partition: String,
    pub records: usize,
}

#[derive(Clone)]
pub struct DeadLetterSource {
    store: Arc<dyn ObjectStore>,
    pub chosen: Vec<Chosen>,
}

impl std::fmt::Debug for DeadLetterSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetterSource")
            .field("chosen", &self.chosen)
            .finish()
    }
}

impl DeadLetterSource {
    /// Lists the dead letters of `pipeline` under `prefix` that `selection` takes.
    pub async fn select(
        store: Arc<dyn ObjectStore>,
        prefix: &Path,
        pipeline: &str,
        selection: &Selection,
    ) -> Result<Self, SourceError> {
        let failed = |e: object_store::Error| SourceError::Io {
            path: prefix.to_string(),
            source: std::io::Error::other(e),
        };
        let mut keys: Vec<Path> = store
            .list(Some(prefix))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(failed)?;
        keys.retain(|k| k.as_ref().ends_with(".jsonl"));
        keys.sort();
        let mut chosen = Vec::new();
        for key in keys {
            let letters = read(&*store, &key).await.map_err(failed)?;
            let Some(Ok(first)) = letters.first() else {
                continue;
            };
            let in_range = selection.since_ms.is_none_or(|s| first.arrival_ms >= s)
                && selection.until_ms.is_none_or(|u| first.arrival_ms < u);
            if first.pipeline != pipeline || !in_range {
                continue;
            }
            let mut types: BTreeMap<&str, usize> = BTreeMap::new();
            for letter in letters.iter().flatten() {
                *types.entry(letter.error_type.as_str()).or_default() += 1;
            }
            for (error_type, records) in types {
                if selection.error_types.is_empty() || selection.error_types.contains(error_type) {
                    chosen.push(Chosen {
                        partition: partition_of(&key, error_type),
                        error_type: error_type.to_string(),
                        key: key.clone(),
                        records,
                    });
                }
            }
        }
        Ok(Self { store, chosen })
    }

    /// Sends each chosen partition's records from its stored position on.
    pub async fn run(self, ctx: SourceContext) -> Result<(), SourceError> {
        for chosen in &self.chosen {
            let letters = read(&*self.store, &chosen.key)
                .await
                .map_err(|e| SourceError::Io {
                    path: chosen.key.to_string(),
                    source: std::io::Error::other(e),
                })?;
            let from = ctx.start().offset_of(&chosen.partition).unwrap_or(0) as usize;
            let partition: PartitionId = chosen.partition.as_str().into();
            let mut batch = Batch::new(partition.clone());
            for (line, letter) in letters.iter().enumerate().skip(from) {
                let Ok(letter) = letter else { continue };
                if letter.error_type != chosen.error_type {
                    continue;
                }
                raw_into(letter, batch.values_mut());
                batch.commit_value(None, letter.arrival_ms, Position::offset(line as u64));
                if batch.len() >= BATCH {
                    batch.next_position = Position::offset(line as u64 + 1);
                    let full = std::mem::replace(&mut batch, Batch::new(partition.clone()));
                    if ctx.send(full).await.is_err() {
                        return Ok(());
                    }
                }
                if ctx.shutdown.is_cancelled() {
                    return Ok(());
                }
            }
            if !batch.is_empty() {
                batch.next_position = Position::offset(letters.len() as u64);
                if ctx.send(batch).await.is_err() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// The partition of one error type's dead letters in one object: short, stable, and
/// made of the characters object keys keep as they are.
fn partition_of(key: &Path, error_type: &str) -> String {
    let digest = sha2::Sha256::digest(key.as_ref().as_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("r{hex}-{error_type}")
}

/// The record a dead letter keeps, as it arrived.
fn raw_into(letter: &Letter, out: &mut Vec<u8>) {
    if let Some(text) = &letter.raw {
        out.extend_from_slice(text.as_bytes());
    } else if let Some(b64) = &letter.raw_base64 {
        // Written by Weir from bytes: it decodes.
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64) {
            out.extend_from_slice(&bytes);
        }
    }
}

/// Every line of a dead-letter object, parsed (a line that does not parse is kept as
/// an error so line numbers stay positions).
async fn read(
    store: &dyn ObjectStore,
    key: &Path,
) -> Result<Vec<Result<Letter, serde_json::Error>>, object_store::Error> {
    let bytes = store.get(key).await?.bytes().await?;
    Ok(bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(serde_json::from_slice::<Letter>)
        .collect())
}

//! Durable source positions of a pipeline: one small JSON file per pipeline under the
//! state directory, replaced atomically (write, fsync, rename) so a crash leaves either
//! the old or the new checkpoint, never a torn one.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// For each source partition, the position to resume from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Positions(pub BTreeMap<String, u64>);

impl Positions {
    /// These positions moved forward to `marks`: a partition missing from `marks` keeps
    /// its position (this run did not touch it), and no position ever moves backwards.
    pub fn advanced_to(&self, marks: &BTreeMap<String, u64>) -> Positions {
        let mut next = self.clone();
        for (partition, mark) in marks {
            let position = next.0.entry(partition.clone()).or_insert(*mark);
            *position = (*position).max(*mark);
        }
        next
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "cannot read state `{path}`: {source}; fix or remove the file (removing it replays the source from the start)"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state `{path}` is corrupt: {source}; remove it to replay the source from the start")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "state `{path}` is corrupt at line {line}: {source}; restore it from a backup, or remove it to give up exactly-once for the records it covers"
    )]
    CorruptLine {
        path: PathBuf,
        line: usize,
        source: serde_json::Error,
    },
    #[error("cannot write state `{path}`: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where one pipeline keeps its positions.
#[derive(Debug, Clone)]
pub struct StateStore {
    path: PathBuf,
}

impl StateStore {
    pub fn new(state_dir: &Path, pipeline: &str) -> Self {
        Self {
            path: state_dir.join(pipeline).join("positions.json"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn load(&self) -> Result<Positions, StateError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt {
                path: self.path.clone(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Positions::default()),
            Err(source) => Err(StateError::Read {
                path: self.path.clone(),
                source,
            }),
        }
    }

    pub fn save(&self, positions: &Positions) -> Result<(), StateError> {
        let write = || -> std::io::Result<()> {
            let dir = self.path.parent().expect("state path has a parent");
            std::fs::create_dir_all(dir)?;
            let tmp = self.path.with_extension("json.tmp");
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&serde_json::to_vec_pretty(positions).expect("positions serialize"))?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            std::fs::File::open(dir)?.sync_all()
        };
        write().map_err(|source| StateError::Write {
            path: self.path.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), "p");
        assert_eq!(store.load().unwrap(), Positions::default());
        let mut p = Positions::default();
        p.0.insert("file-a".into(), 42);
        store.save(&p).unwrap();
        assert_eq!(store.load().unwrap(), p);
    }

    #[test]
    fn a_partition_missing_from_the_marks_keeps_its_position() {
        let stored = Positions(BTreeMap::from([("a".into(), 10), ("b".into(), 20)]));
        assert_eq!(stored.advanced_to(&BTreeMap::new()), stored);
        let marks = BTreeMap::from([("b".into(), 25), ("c".into(), 3)]);
        let expected = BTreeMap::from([("a".into(), 10), ("b".into(), 25), ("c".into(), 3)]);
        assert_eq!(stored.advanced_to(&marks).0, expected);
    }

    #[test]
    fn positions_never_move_backwards() {
        let stored = Positions(BTreeMap::from([("a".into(), 10)]));
        let marks = BTreeMap::from([("a".into(), 4)]);
        assert_eq!(stored.advanced_to(&marks), stored);
    }
}

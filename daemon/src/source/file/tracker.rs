//! The files a file source reads, poll by poll: each listed path is opened and resolved
//! to its partition by identity, and in `follow` mode each partition's file is kept
//! open, so lines written just before a rotation or a delete are still read through the
//! open handle, and a file whose permissions were taken away is read on.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::identity::{Bindings, Resolved, Seen};
use crate::source::SourceError;

/// One file to read from its partition's offset.
pub struct Turn {
    pub path: PathBuf,
    pub file: std::fs::File,
    pub partition: String,
    /// The file is complete (read once, or gone from its path): an unterminated last
    /// line is a record too.
    pub whole: bool,
}

struct Held {
    file: std::fs::File,
    path: PathBuf,
}

pub struct Tracker {
    pub bindings: Bindings,
    /// Each partition's offset: stored at start, then as read.
    pub offsets: BTreeMap<String, u64>,
    /// Each partition's length when last read to its end: a follow poll skips a file
    /// that has not grown (its unterminated last line is not read again).
    pub lengths: BTreeMap<String, u64>,
    held: BTreeMap<String, Held>,
    follow: bool,
}

/// A file that could not be opened or resolved.
pub struct Unread {
    pub path: PathBuf,
    pub error: SourceError,
}

impl Tracker {
    pub fn new(offsets: BTreeMap<String, u64>, bindings: Bindings, follow: bool) -> Self {
        Tracker {
            bindings,
            offsets,
            lengths: BTreeMap::new(),
            held: BTreeMap::new(),
            follow,
        }
    }

    /// The files to read this poll, from the listed `paths`; whether the bindings
    /// changed (save them before reading); and the files that could not be read.
    pub fn poll(&mut self, paths: Vec<PathBuf>) -> (Vec<Turn>, bool, Vec<Unread>) {
        let (mut turns, mut changed, mut unread) = (Vec::new(), false, Vec::new());
        let mut resolved = BTreeSet::new();
        for path in paths {
            match self.resolve(&path) {
                Ok(Some((file, partition, grown))) => {
                    changed |= grown;
                    if !resolved.insert(partition.clone()) {
                        continue; // A second link to a file already listed.
                    }
                    if let Some(turn) = self.turn(path, file, partition) {
                        turns.push(turn);
                    }
                }
                Ok(None) => {}
                Err(error) => unread.push(Unread { path, error }),
            }
        }
        turns.extend(self.departed(&resolved));
        (turns, changed, unread)
    }

    /// Opens a listed file and finds its partition; `None` for an empty file (nothing
    /// to read, nothing to bind yet).
    fn resolve(
        &mut self,
        path: &PathBuf,
    ) -> Result<Option<(std::fs::File, String, bool)>, SourceError> {
        let io = |source| SourceError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let seen = Seen::of(&file).map_err(io)?;
        if seen.len == 0 {
            return Ok(None);
        }
        let (resolved, changed) = self
            .bindings
            .resolve((path, &file, &seen), &self.offsets)
            .map_err(io)?;
        match &resolved {
            Resolved::Replaced { was, now } => {
                tracing::warn!(file = %path.display(), was, now, "the file was truncated or replaced in place; reading it from the start as a new partition");
                // The earlier file's bytes are gone: nothing more to read of it.
                self.held.remove(was);
            }
            Resolved::New(partition) if self.follow => {
                tracing::info!(file = %path.display(), partition, "new file");
            }
            _ => {}
        }
        Ok(Some((file, resolved.partition().to_string(), changed)))
    }

    /// The turn of a listed file, unless (following) it has not grown since it was
    /// last read to its end.
    fn turn(&mut self, path: PathBuf, file: std::fs::File, partition: String) -> Option<Turn> {
        if !self.follow {
            return Some(Turn {
                path,
                file,
                partition,
                whole: true,
            });
        }
        let len = file.metadata().map(|m| m.len()).ok();
        let held = Held {
            file: file.try_clone().ok()?,
            path: path.clone(),
        };
        self.held.insert(partition.clone(), held);
        if len.is_some() && self.lengths.get(&partition) == len.as_ref() {
            return None;
        }
        Some(Turn {
            path,
            file,
            partition,
            whole: false,
        })
    }

    /// Followed files not listed this poll: one still at its path (unlisted, or no
    /// longer readable by name) is read on through its open handle; one renamed away or
    /// deleted is read to its very end, then let go.
    fn departed(&mut self, listed: &BTreeSet<String>) -> Vec<Turn> {
        let gone: Vec<String> = self
            .held
            .keys()
            .filter(|p| !listed.contains(*p))
            .cloned()
            .collect();
        let mut turns = Vec::new();
        for partition in gone {
            let held = &self.held[&partition];
            let Ok(meta) = held.file.metadata() else {
                self.held.remove(&partition);
                continue;
            };
            let at_path = std::fs::metadata(&held.path)
                .is_ok_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino());
            if at_path && self.lengths.get(&partition) == Some(&meta.len()) {
                continue;
            }
            let (Ok(file), path) = (held.file.try_clone(), held.path.clone()) else {
                continue;
            };
            if !at_path {
                tracing::info!(file = %path.display(), partition, "file renamed away or deleted; reading what is left of it");
                self.held.remove(&partition);
            }
            turns.push(Turn {
                path,
                file,
                partition,
                whole: !at_path,
            });
        }
        turns
    }
}

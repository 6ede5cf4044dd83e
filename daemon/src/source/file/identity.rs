//! Which file is which. A file is known by its device, its inode and a fingerprint of
//! its first bytes (as log shippers know them), not by its name: a file renamed by
//! rotation keeps its partition and its position, and a file truncated or replaced at
//! the same name becomes a new partition (`app_log.2`), so its records never reuse the
//! object keys of the earlier file's. The bindings of files to partitions are the file
//! source's notes in the pipeline's state, saved before anything read under them.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Bytes at the start of a file that its fingerprint covers (fewer while the file is
/// shorter; the fingerprint grows with it up to this).
pub const FINGERPRINT_BYTES: u64 = 1024;

/// What identifies one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub dev: u64,
    pub ino: u64,
    /// Bytes the fingerprint covers.
    pub len: u64,
    /// The first 8 bytes of the SHA-256 of those bytes.
    pub fingerprint: u64,
    /// Order of binding: of two bindings of one inode, the later one is the file now.
    pub seq: u64,
}

/// An open file as seen now.
pub struct Seen {
    pub dev: u64,
    pub ino: u64,
    pub len: u64,
}

impl Seen {
    pub fn of(file: &std::fs::File) -> std::io::Result<Seen> {
        let meta = file.metadata()?;
        Ok(Seen {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
        })
    }
}

/// The fingerprint of a file's first `len` bytes; `None` when it has fewer now.
pub fn fingerprint(file: &std::fs::File, len: u64) -> std::io::Result<Option<u64>> {
    let mut head = vec![0; len as usize];
    let mut read = 0;
    while read < head.len() {
        match file.read_at(&mut head[read..], read as u64)? {
            0 => return Ok(None),
            n => read += n,
        }
    }
    let digest = Sha256::digest(&head);
    Ok(Some(u64::from_be_bytes(
        digest[..8].try_into().expect("8 bytes"),
    )))
}

/// What a file turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolved {
    /// The partition it was read as before (or a position stored before files had
    /// identities, adopted by name).
    Known(String),
    /// A file not seen before: a new partition.
    New(String),
    /// The file bound to `was` was truncated or replaced in place: a new partition.
    Replaced { was: String, now: String },
}

impl Resolved {
    pub fn partition(&self) -> &str {
        match self {
            Resolved::Known(p) | Resolved::New(p) | Resolved::Replaced { now: p, .. } => p,
        }
    }
}

/// Every file the source has read, by partition. Bindings are never removed, so a
/// partition name is never given to a second file.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bindings {
    pub files: BTreeMap<String, Identity>,
}

impl Bindings {
    /// Bindings from the source's saved notes; none when there are none (a first run,
    /// or a state written before files had identities).
    pub fn from_notes(notes: Option<serde_json::Value>) -> Result<Bindings, String> {
        match notes {
            None => Ok(Bindings::default()),
            Some(v) => serde_json::from_value(v).map_err(|e| e.to_string()),
        }
    }

    pub fn to_notes(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("bindings serialize")
    }

    /// The partition of `file` (at `path`, open, seen as `seen`), binding it when it is
    /// new. `stored` holds each partition's stored offset: a file shorter than its
    /// partition's offset was truncated. A known file's fingerprint is lengthened as it
    /// grows. Returns whether the bindings changed (they must be saved before reading).
    pub fn resolve(
        &mut self,
        (path, file, seen): (&Path, &std::fs::File, &Seen),
        stored: &BTreeMap<String, u64>,
    ) -> std::io::Result<(Resolved, bool)> {
        let name = partition_of(path);
        let bound = self
            .files
            .iter()
            .filter(|(_, id)| id.dev == seen.dev && id.ino == seen.ino)
            .max_by_key(|(_, id)| id.seq)
            .map(|(p, id)| (p.clone(), *id));
        let was = match bound {
            Some((partition, id)) => {
                let same = fingerprint(file, id.len)? == Some(id.fingerprint)
                    && seen.len >= stored.get(&partition).copied().unwrap_or(0);
                if same {
                    let grown = self.lengthen(&partition, file, seen)?;
                    return Ok((Resolved::Known(partition), grown));
                }
                Some(partition)
            }
            // A position stored under this name before files had identities: this file.
            None if !self.files.contains_key(&name)
                && stored.get(&name).is_some_and(|offset| seen.len >= *offset) =>
            {
                self.bind(name.clone(), file, seen)?;
                return Ok((Resolved::Known(name), true));
            }
            None => None,
        };
        let now = self.free_name(&name, stored);
        self.bind(now.clone(), file, seen)?;
        let resolved = match was {
            Some(was) => Resolved::Replaced { was, now },
            None => Resolved::New(now),
        };
        Ok((resolved, true))
    }

    /// `name`, or `name.2`, `name.3`… : the first that no file and no stored position
    /// has had.
    fn free_name(&self, name: &str, stored: &BTreeMap<String, u64>) -> String {
        let taken = |n: &str| self.files.contains_key(n) || stored.contains_key(n);
        if !taken(name) {
            return name.to_string();
        }
        (2..)
            .map(|i| format!("{name}.{i}"))
            .find(|n| !taken(n))
            .expect("some suffix is free")
    }

    fn bind(
        &mut self,
        partition: String,
        file: &std::fs::File,
        seen: &Seen,
    ) -> std::io::Result<()> {
        let len = seen.len.min(FINGERPRINT_BYTES);
        let seq = self.files.values().map(|id| id.seq + 1).max().unwrap_or(0);
        let fingerprint = fingerprint(file, len)?.unwrap_or_default();
        let id = Identity {
            dev: seen.dev,
            ino: seen.ino,
            len,
            fingerprint,
            seq,
        };
        self.files.insert(partition, id);
        Ok(())
    }

    /// Extends a known file's fingerprint over the bytes it gained, up to
    /// [`FINGERPRINT_BYTES`].
    fn lengthen(
        &mut self,
        partition: &str,
        file: &std::fs::File,
        seen: &Seen,
    ) -> std::io::Result<bool> {
        let id = self.files.get_mut(partition).expect("bound");
        let len = seen.len.min(FINGERPRINT_BYTES);
        if len <= id.len {
            return Ok(false);
        }
        match fingerprint(file, len)? {
            Some(fingerprint) => {
                (id.len, id.fingerprint) = (len, fingerprint);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// The partition name of a file first seen at `path`: its name with anything but
/// `[A-Za-z0-9-]` as `_`.
pub fn partition_of(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
fn open(path: &Path) -> (std::fs::File, Seen) {
    let file = std::fs::File::open(path).unwrap();
    let seen = Seen::of(&file).unwrap();
    (file, seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(b: &mut Bindings, path: &Path, stored: &BTreeMap<String, u64>) -> Resolved {
        let (file, seen) = open(path);
        b.resolve((path, &file, &seen), stored).unwrap().0
    }

    #[test]
    fn a_renamed_file_keeps_its_partition_and_a_new_one_gets_a_new_name() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("app.log");
        std::fs::write(&live, "first file\n").unwrap();
        let mut b = Bindings::default();
        let none = BTreeMap::new();
        assert_eq!(
            resolve(&mut b, &live, &none),
            Resolved::New("app_log".into())
        );
        let rotated = dir.path().join("app.log.1");
        std::fs::rename(&live, &rotated).unwrap();
        std::fs::write(&live, "second file\n").unwrap();
        assert_eq!(
            resolve(&mut b, &rotated, &none),
            Resolved::Known("app_log".into())
        );
        assert_eq!(
            resolve(&mut b, &live, &none),
            Resolved::New("app_log.2".into())
        );
    }

    #[test]
    fn a_file_truncated_and_regrown_is_a_new_partition() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, "line one\nline two\n").unwrap();
        let mut b = Bindings::default();
        let mut stored = BTreeMap::new();
        assert_eq!(
            resolve(&mut b, &path, &stored),
            Resolved::New("app_log".into())
        );
        stored.insert("app_log".to_string(), 18);
        // Copy-truncate, then more written than was read before: same inode, new bytes.
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(0).unwrap();
        f.write_all_at(b"other one\nother two\nother three\n", 0)
            .unwrap();
        let replaced = Resolved::Replaced {
            was: "app_log".into(),
            now: "app_log.2".into(),
        };
        assert_eq!(resolve(&mut b, &path, &stored), replaced);
        assert_eq!(
            resolve(&mut b, &path, &stored),
            Resolved::Known("app_log.2".into())
        );
    }

    #[test]
    fn a_file_shorter_than_its_position_with_the_same_start_is_a_new_partition() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, "same\nmore\n").unwrap();
        let mut b = Bindings::default();
        resolve(&mut b, &path, &BTreeMap::new());
        let stored = BTreeMap::from([("app_log".to_string(), 10)]);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(5)
            .unwrap();
        assert_eq!(resolve(&mut b, &path, &stored).partition(), "app_log.2");
    }

    #[test]
    fn a_position_stored_by_name_is_adopted_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, "0123456789\n").unwrap();
        let stored = BTreeMap::from([("app_log".to_string(), 5)]);
        let mut b = Bindings::default();
        assert_eq!(
            resolve(&mut b, &path, &stored),
            Resolved::Known("app_log".into())
        );
        let other = dir.path().join("other").join("app.log");
        std::fs::create_dir(other.parent().unwrap()).unwrap();
        std::fs::write(&other, "x\n").unwrap();
        assert_eq!(
            resolve(&mut b, &other, &stored),
            Resolved::New("app_log.2".into())
        );
    }

    #[test]
    fn the_fingerprint_grows_with_a_small_file_and_survives_notes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, "ab\n").unwrap();
        let mut b = Bindings::default();
        resolve(&mut b, &path, &BTreeMap::new());
        assert_eq!(b.files["a_log"].len, 3);
        std::fs::write(&path, "ab\ncd\n").unwrap();
        let (file, seen) = open(&path);
        let (_, changed) = b.resolve((&path, &file, &seen), &BTreeMap::new()).unwrap();
        assert!(changed);
        assert_eq!(b.files["a_log"].len, 6);
        let again = Bindings::from_notes(Some(b.to_notes())).unwrap();
        assert_eq!(again, b);
    }
}

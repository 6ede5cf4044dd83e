//! The registry's schema ids, each computed once per change of its version file: a
//! lookup by id lists the subject folders and reads only files that changed since the
//! last lookup, instead of reading and compiling every version.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{LocalRegistry, SchemaError};

/// A file's modification time and length: a file whose stamp is unchanged is taken as
/// unchanged.
type Stamp = (Option<SystemTime>, u64);

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok(), meta.len()))
}

struct Known {
    stamp: Stamp,
    /// The stamp of the subject's `ids.json` when the id was taken (pinned ids).
    pinned: Option<Stamp>,
    id: u32,
}

#[derive(Default)]
pub struct IdIndex {
    files: HashMap<PathBuf, Known>,
    /// Version files read to learn their id (for tests).
    pub reads: usize,
}

impl IdIndex {
    /// Every (subject, version) whose schema has `id`, by subject then version.
    pub fn find(
        &mut self,
        registry: &LocalRegistry,
        id: u32,
    ) -> Result<Vec<(String, u32)>, SchemaError> {
        let (mut found, mut live) = (Vec::new(), HashSet::new());
        for subject in registry.subjects() {
            let pinned = stamp(&registry.subject_path(&subject).join("ids.json"));
            for (version, path) in registry.files(&subject)? {
                let Some(now) = stamp(&path) else {
                    continue; // Removed since the listing.
                };
                let known = match self.files.get(&path) {
                    Some(k) if k.stamp == now && k.pinned == pinned => k.id,
                    _ => {
                        let id = registry.id_of(&subject, version, &path)?;
                        self.reads += 1;
                        let entry = Known {
                            stamp: now,
                            pinned,
                            id,
                        };
                        self.files.insert(path.clone(), entry);
                        id
                    }
                };
                if known == id {
                    found.push((subject.clone(), version));
                }
                live.insert(path);
            }
        }
        self.files.retain(|path, _| live.contains(path));
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::schema_id;

    /// Issue 16 item 15: a lookup by id read (and compiled) every version each time.
    #[test]
    fn ids_are_read_once_per_file_change() {
        let dir = tempfile::tempdir().unwrap();
        for subject in ["a", "b"] {
            std::fs::create_dir(dir.path().join(subject)).unwrap();
            for v in 1..=20 {
                let text = format!(r#"{{"type": "object", "title": "{subject}{v}"}}"#);
                std::fs::write(dir.path().join(format!("{subject}/{v}.json")), text).unwrap();
            }
        }
        let registry = LocalRegistry::open(dir.path()).unwrap();
        let id = schema_id(
            super::super::SchemaType::Json,
            r#"{"type": "object", "title": "b7"}"#,
        );
        let mut index = IdIndex::default();
        assert_eq!(index.find(&registry, id).unwrap(), [("b".to_string(), 7)]);
        assert_eq!(index.reads, 40);
        assert_eq!(index.find(&registry, id).unwrap(), [("b".to_string(), 7)]);
        assert_eq!(index.reads, 40, "nothing read again");
        // A changed file is read again, and its old id is gone.
        std::fs::write(
            dir.path().join("b/7.json"),
            r#"{"type": "object", "title": "b7 changed"}"#,
        )
        .unwrap();
        assert!(index.find(&registry, id).unwrap().is_empty());
        assert_eq!(index.reads, 41);
    }
}

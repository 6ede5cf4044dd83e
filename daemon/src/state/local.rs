//! The local state backend: a folder per pipeline under the state directory holding
//! `positions.json` (replaced atomically: write, fsync, rename), `cuts.jsonl` (one
//! synced line per cut, rewritten when pruned) and `uploads.jsonl` (multipart uploads
//! begun and not finished). Blocking; the caller runs it off the async workers.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Cut, Positions, Snapshot, StateError, Upload};

pub struct LocalState {
    dir: PathBuf,
    cuts: Option<std::fs::File>,
    /// Uploads started by this process and not yet finished.
    open_uploads: usize,
    /// Lines in `uploads.jsonl`; the file is emptied whenever no upload is open.
    upload_lines: usize,
}

impl LocalState {
    pub fn new(state_dir: &Path, pipeline: &str) -> Self {
        Self {
            dir: state_dir.join(pipeline),
            cuts: None,
            open_uploads: 0,
            upload_lines: 0,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn load(&mut self) -> Result<Snapshot, StateError> {
        let path = self.path("positions.json");
        let positions = match read(&path)? {
            Some(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt {
                    path: path.clone(),
                    source,
                })?
            }
            None => Positions::default(),
        };
        let path = self.path("cuts.jsonl");
        let text = read(&path)?.unwrap_or_default();
        let cuts = parse_lines(&path, &String::from_utf8_lossy(&text))?;
        let path = self.path("uploads.jsonl");
        let text = read(&path)?.unwrap_or_default();
        let uploads = parse_lines(&path, &String::from_utf8_lossy(&text))?;
        self.upload_lines = uploads.len();
        Ok(Snapshot {
            positions,
            cuts,
            uploads,
        })
    }

    pub fn record_cut(&mut self, cut: &Cut) -> Result<(), StateError> {
        let path = self.path("cuts.jsonl");
        let file = &mut self.cuts;
        let mut append = || -> std::io::Result<()> {
            if file.is_none() {
                *file = Some(open_append(&path)?);
            }
            let f = file.as_mut().expect("opened above");
            f.write_all(&line_of(cut))?;
            f.sync_data()
        };
        append().map_err(|source| StateError::Write { path, source })
    }

    /// Saves the positions, then rewrites the ledger with only `live` cuts when some
    /// were pruned.
    pub fn commit(
        &mut self,
        positions: &Positions,
        live: &[Cut],
        pruned: bool,
    ) -> Result<(), StateError> {
        let path = self.path("positions.json");
        let pretty = serde_json::to_vec_pretty(positions).expect("positions serialize");
        replace(&path, &pretty).map_err(|source| StateError::Write { path, source })?;
        if let Some(pipeline) = self.dir.file_name().and_then(|n| n.to_str()) {
            crate::fault::hit("mid-prune", pipeline);
        }
        if pruned {
            self.cuts = None;
            let path = self.path("cuts.jsonl");
            let text: Vec<u8> = live.iter().flat_map(line_of).collect();
            replace(&path, &text).map_err(|source| StateError::Write { path, source })?;
        }
        Ok(())
    }

    pub fn upload_started(&mut self, upload: &Upload) -> Result<(), StateError> {
        let path = self.path("uploads.jsonl");
        let append = || -> std::io::Result<()> {
            let mut f = open_append(&path)?;
            f.write_all(&line_of(upload))?;
            f.sync_data()
        };
        append().map_err(|source| StateError::Write { path, source })?;
        self.open_uploads += 1;
        self.upload_lines += 1;
        Ok(())
    }

    pub fn upload_finished(&mut self) -> Result<(), StateError> {
        self.open_uploads = self.open_uploads.saturating_sub(1);
        if self.open_uploads == 0 && self.upload_lines > 0 {
            self.clear_uploads()?;
        }
        Ok(())
    }

    pub fn clear_uploads(&mut self) -> Result<(), StateError> {
        let path = self.path("uploads.jsonl");
        let empty = || -> std::io::Result<()> {
            match std::fs::OpenOptions::new().write(true).open(&path) {
                Ok(f) => {
                    f.set_len(0)?;
                    f.sync_data()
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            }
        };
        empty().map_err(|source| StateError::Write { path, source })?;
        self.upload_lines = 0;
        Ok(())
    }
}

pub(super) fn read(path: &Path) -> Result<Option<Vec<u8>>, StateError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StateError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn line_of(value: &impl serde::Serialize) -> Vec<u8> {
    let mut line = serde_json::to_vec(value).expect("state lines serialize");
    line.push(b'\n');
    line
}

fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::create_dir_all(path.parent().expect("state files have a folder"))?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// Replaces a file atomically: a crash leaves the old or the new content, never a mix.
pub(super) fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("state files have a folder");
    std::fs::create_dir_all(dir)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// The entries of a JSON-lines state file. Only the last line may be torn, and only
/// when the file does not end with a newline (an append cut short by a crash): that
/// entry's write never completed, so nothing was done on its strength.
fn parse_lines<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<Vec<T>, StateError> {
    let lines: Vec<&str> = text.lines().collect();
    let torn_tail = !text.is_empty() && !text.ends_with('\n');
    let mut entries = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_str::<T>(line) {
            Ok(entry) => entries.push(entry),
            Err(_) if torn_tail && i + 1 == lines.len() => {}
            Err(source) => {
                return Err(StateError::CorruptLine {
                    path: path.to_path_buf(),
                    line: i + 1,
                    source,
                });
            }
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::position::Position;

    fn cut(first: u64, last: u64) -> Cut {
        Cut {
            prefix: "a/".into(),
            partition: "f".into(),
            dead_letter: false,
            first: first.into(),
            last: last.into(),
            routing: None,
            rendered_at: None,
        }
    }

    #[test]
    fn reads_the_files_earlier_versions_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("p");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("positions.json"), r#"{"file-a": 42}"#).unwrap();
        std::fs::write(
            folder.join("cuts.jsonl"),
            "{\"prefix\":\"a/\",\"partition\":\"f\",\"dead_letter\":false,\"first\":0,\"last\":10}\n",
        )
        .unwrap();
        let snapshot = LocalState::new(dir.path(), "p").load().unwrap();
        assert_eq!(snapshot.positions.0["file-a"], Position::offset(42));
        assert_eq!(snapshot.cuts, vec![cut(0, 10)]);
    }

    #[test]
    fn only_a_torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = LocalState::new(dir.path(), "p");
        state.record_cut(&cut(0, 10)).unwrap();
        let path = dir.path().join("p/cuts.jsonl");
        let good = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{good}{{\"prefix\":\"torn")).unwrap();
        assert_eq!(state.load().unwrap().cuts, vec![cut(0, 10)]);
        std::fs::write(&path, format!("{good}not json\n{good}")).unwrap();
        let message = state.load().map(|_| ()).unwrap_err().to_string();
        assert!(
            message.contains("cuts.jsonl") && message.contains("line 2"),
            "{message}"
        );
        // A complete last line that does not parse is corruption too, not a torn append.
        std::fs::write(&path, format!("{good}not json\n")).unwrap();
        assert!(state.load().is_err());
    }

    #[test]
    fn commits_positions_and_prunes_the_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = LocalState::new(dir.path(), "p");
        for c in [cut(0, 10), cut(11, 20)] {
            state.record_cut(&c).unwrap();
        }
        let positions = Positions([("f".to_string(), Position::offset(11))].into());
        state.commit(&positions, &[cut(11, 20)], true).unwrap();
        let snapshot = state.load().unwrap();
        assert_eq!(snapshot.positions, positions);
        assert_eq!(snapshot.cuts, vec![cut(11, 20)]);
    }
}

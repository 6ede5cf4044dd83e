//! The cut ledger: before an object is uploaded, its cut (prefix, source partition, first
//! and last position) is appended here and synced. After a crash the records after the
//! stored positions are read again; the writer replays the recorded cuts so they land in
//! the same objects under the same keys, and the lake holds each record once even though
//! the first cuts were made by wall-clock triggers. Entries whose last position is below
//! the stored position are pruned.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::state::StateError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cut {
    pub prefix: String,
    pub partition: String,
    pub dead_letter: bool,
    pub first: u64,
    pub last: u64,
}

/// A recorded cut seen from the stored positions: `written` when it starts before them,
/// which proves its object was complete (positions never pass an open buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Planned {
    pub first: u64,
    pub last: u64,
    pub written: bool,
}

/// Cuts to replay, per (prefix, partition, dead letter), in position order.
pub type Plan = HashMap<(String, String, bool), VecDeque<Planned>>;

pub struct Ledger {
    path: PathBuf,
    cuts: Vec<Cut>,
    file: Option<std::fs::File>,
}

impl Ledger {
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join("cuts.jsonl"),
            cuts: Vec::new(),
            file: None,
        }
    }

    /// Loads the cuts still ahead of `positions` and returns them as a replay plan.
    /// A torn last line (a crash mid-append) is ignored: its object was not uploaded.
    /// Any other line that does not parse is an error: skipping it could write its
    /// records under a second key.
    pub fn load(&mut self, positions: &BTreeMap<String, u64>) -> Result<Plan, StateError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(StateError::Read {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        self.cuts = parse_cuts(&self.path, &text)?;
        self.prune(positions)?;
        let mut plan = Plan::new();
        for c in &self.cuts {
            let written = positions.get(&c.partition).is_some_and(|p| c.first < *p);
            let planned = Planned {
                first: c.first,
                last: c.last,
                written,
            };
            plan.entry((c.prefix.clone(), c.partition.clone(), c.dead_letter))
                .or_default()
                .push_back(planned);
        }
        for cuts in plan.values_mut() {
            cuts.make_contiguous().sort();
        }
        Ok(plan)
    }

    /// Durably records a cut before its object is written.
    pub fn record(&mut self, cut: Cut) -> Result<(), StateError> {
        let write = |file: &mut Option<std::fs::File>, path: &Path| -> std::io::Result<()> {
            if file.is_none() {
                std::fs::create_dir_all(path.parent().expect("ledger path has a parent"))?;
                *file = Some(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)?,
                );
            }
            let f = file.as_mut().expect("opened above");
            let mut line = serde_json::to_vec(&cut).expect("cuts serialize");
            line.push(b'\n');
            f.write_all(&line)?;
            f.sync_data()
        };
        write(&mut self.file, &self.path).map_err(|source| StateError::Write {
            path: self.path.clone(),
            source,
        })?;
        self.cuts.push(cut);
        Ok(())
    }

    /// Drops cuts entirely before the stored positions; rewrites the file atomically.
    pub fn prune(&mut self, positions: &BTreeMap<String, u64>) -> Result<(), StateError> {
        let before = self.cuts.len();
        self.cuts
            .retain(|c| positions.get(&c.partition).is_none_or(|p| c.last >= *p));
        if self.cuts.len() == before {
            return Ok(());
        }
        let rewrite = || -> std::io::Result<()> {
            let tmp = self.path.with_extension("jsonl.tmp");
            let mut f = std::fs::File::create(&tmp)?;
            for c in &self.cuts {
                let mut line = serde_json::to_vec(c).expect("cuts serialize");
                line.push(b'\n');
                f.write_all(&line)?;
            }
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        self.file = None;
        rewrite().map_err(|source| StateError::Write {
            path: self.path.clone(),
            source,
        })
    }
}

/// The cuts of a ledger file. Only the last line may be torn, and only when the file
/// does not end with a newline (an append cut short by a crash).
fn parse_cuts(path: &Path, text: &str) -> Result<Vec<Cut>, StateError> {
    let lines: Vec<&str> = text.lines().collect();
    let torn_tail = !text.is_empty() && !text.ends_with('\n');
    let mut cuts = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_str::<Cut>(line) {
            Ok(cut) => cuts.push(cut),
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
    Ok(cuts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(prefix: &str, first: u64, last: u64) -> Cut {
        Cut {
            prefix: prefix.into(),
            partition: "f".into(),
            dead_letter: false,
            first,
            last,
        }
    }

    #[test]
    fn records_prunes_and_plans() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::new(dir.path());
        for c in [cut("a/", 0, 10), cut("b/", 5, 20), cut("a/", 12, 30)] {
            ledger.record(c).unwrap();
        }
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("cuts.jsonl"))
            .unwrap()
            .write_all(b"{\"prefix\":\"torn")
            .unwrap();
        let positions = BTreeMap::from([("f".to_string(), 11)]);
        let plan = Ledger::new(dir.path()).load(&positions).unwrap();
        let planned = |first, last, written| Planned {
            first,
            last,
            written,
        };
        assert_eq!(
            plan[&("a/".into(), "f".into(), false)],
            VecDeque::from([planned(12, 30, false)])
        );
        assert_eq!(
            plan[&("b/".into(), "f".into(), false)],
            VecDeque::from([planned(5, 20, true)])
        );
        let text = std::fs::read_to_string(dir.path().join("cuts.jsonl")).unwrap();
        assert_eq!(
            text.lines().count(),
            2,
            "the pruned file keeps only live cuts"
        );
    }

    #[test]
    fn a_corrupt_line_that_is_not_the_torn_tail_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::new(dir.path());
        ledger.record(cut("a/", 0, 10)).unwrap();
        let path = dir.path().join("cuts.jsonl");
        let good = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{good}not json\n{good}")).unwrap();
        let err = Ledger::new(dir.path())
            .load(&BTreeMap::new())
            .map(|_| ())
            .expect_err("a corrupt middle line is refused");
        let message = err.to_string();
        assert!(
            message.contains("cuts.jsonl") && message.contains("line 2"),
            "{message}"
        );
        // A complete last line that does not parse is corruption too, not a torn append.
        std::fs::write(&path, format!("{good}not json\n")).unwrap();
        assert!(Ledger::new(dir.path()).load(&BTreeMap::new()).is_err());
    }
}

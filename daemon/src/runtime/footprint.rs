//! What a pipeline is made of, as one digest: its settings as parsed (so comments and
//! layout do not count) and the bytes of every file it loads at start — its plugins and
//! its schema registry. Equal digests run the same pipeline; a reload acts on a change.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::config::{PipelineConfig, load_pipeline, registry_dir};

/// One pipeline file's footprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footprint {
    pub digest: String,
    /// The pipeline's name, when the file parses.
    pub name: Option<String>,
    /// Files and folders whose change may change the pipeline (besides its own file).
    pub watch: Vec<Watched>,
    /// How often a remote registry it reads is checked for new versions.
    pub refresh: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Watched {
    pub path: PathBuf,
    pub recursive: bool,
}

/// The footprint of the pipeline file `file`. Blocking: it reads the plugins and the
/// registry, and refreshes a stale mirror of a remote registry.
pub fn footprint(file: &Path, state_dir: &Path) -> Footprint {
    let mut hash = Sha256::new();
    let Ok((config, _)) = load_pipeline(file) else {
        // Unparsed: its bytes are all there is; the reload reports the error.
        hash.update(b"unparsed\0");
        hash.update(std::fs::read(file).unwrap_or_default());
        return Footprint {
            digest: hex(hash),
            name: None,
            watch: Vec::new(),
            refresh: None,
        };
    };
    hash.update(format!("{config:?}").as_bytes());
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut watch = Vec::new();
    for t in &config.transforms {
        let plugin = base.join(&t.plugin);
        hash_file(&mut hash, &plugin);
        if let Some(dir) = plugin.parent() {
            watch.push(Watched {
                path: dir.to_path_buf(),
                recursive: false,
            });
        }
    }
    let refresh = remote_refresh(&config);
    if let Some(s) = &config.schema
        && let Ok(dir) = registry_dir(s, &base, state_dir)
    {
        hash_tree(&mut hash, &dir);
        if refresh.is_none() {
            watch.push(Watched {
                path: dir,
                recursive: true,
            });
        }
    }
    watch.sort();
    watch.dedup();
    Footprint {
        digest: hex(hash),
        name: Some(config.name.clone()),
        watch,
        refresh,
    }
}

/// The refresh period of a remote registry the pipeline reads (5 minutes unless set).
fn remote_refresh(config: &PipelineConfig) -> Option<Duration> {
    let s = config.schema.as_ref()?;
    let url = s.registry.as_deref()?;
    let remote = url.starts_with("http://") || url.starts_with("https://");
    remote.then(|| s.registry_refresh.map_or(Duration::from_secs(300), |d| d.0))
}

fn hash_file(hash: &mut Sha256, path: &Path) {
    hash.update(path.as_os_str().as_encoded_bytes());
    hash.update([0]);
    match std::fs::read(path) {
        Ok(bytes) => hash.update(bytes),
        Err(_) => hash.update(b"missing"),
    }
    hash.update([0]);
}

/// Every file under `dir`, in name order.
fn hash_tree(hash: &mut Sha256, dir: &Path) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            hash_tree(hash, &path);
        } else {
            hash_file(hash, &path);
        }
    }
}

fn hex(hash: Sha256) -> String {
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    const PIPELINE: &str = "apiVersion: weir/v1\nname: p\nsource:\n  type: generator\n  count: 10\nschema:\n  registry: schemas\n  subject: s\nsink:\n  url: lake\n  format: jsonl\n";

    #[test]
    fn comments_and_layout_do_not_count_but_settings_and_schemas_do() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        write(dir.path(), "schemas/s/1.json", r#"{"type":"object"}"#);
        let file = write(dir.path(), "p.yaml", PIPELINE);
        let first = footprint(&file, &state);
        assert_eq!(first.name.as_deref(), Some("p"));
        assert!(
            first
                .watch
                .iter()
                .any(|w| w.recursive && w.path.ends_with("schemas"))
        );

        write(
            dir.path(),
            "p.yaml",
            &format!("# a comment\n{PIPELINE}\n\n"),
        );
        assert_eq!(footprint(&file, &state).digest, first.digest);

        write(
            dir.path(),
            "p.yaml",
            &PIPELINE.replace("count: 10", "count: 11"),
        );
        let changed = footprint(&file, &state);
        assert_ne!(changed.digest, first.digest);

        write(dir.path(), "schemas/s/2.json", r#"{"type":"object"}"#);
        assert_ne!(footprint(&file, &state).digest, changed.digest);
    }

    #[test]
    fn an_unparsable_file_is_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "p.yaml", "name: [unclosed");
        let a = footprint(&file, dir.path());
        assert!(a.name.is_none());
        write(dir.path(), "p.yaml", "name: [unclosed ");
        assert_ne!(footprint(&file, dir.path()).digest, a.digest);
    }
}

//! A local registry: `<root>/<subject>/<version>.json` (JSON Schema) or `.avsc` (Avro).

use std::path::{Path, PathBuf};

use super::Schema;

/// Why a schema could not be resolved. Always fixable by the user.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("schema registry directory `{0}` does not exist")]
    NoRegistry(PathBuf),
    #[error("subject `{subject}` not found in `{root}` (subjects there: {available})")]
    NoSubject {
        subject: String,
        root: PathBuf,
        available: String,
    },
    #[error("subject `{subject}` has no version {version} (versions: {available})")]
    NoVersion {
        subject: String,
        version: String,
        available: String,
    },
    #[error("`{path}`: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

pub struct LocalRegistry {
    root: PathBuf,
}

impl LocalRegistry {
    pub fn open(root: &Path) -> Result<Self, SchemaError> {
        if !root.is_dir() {
            return Err(SchemaError::NoRegistry(root.to_path_buf()));
        }
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    /// Versions of `subject`, ascending, with their files.
    fn versions(&self, subject: &str) -> Result<Vec<(u32, PathBuf)>, SchemaError> {
        let dir = self.root.join(subject);
        let entries = std::fs::read_dir(&dir).map_err(|_| SchemaError::NoSubject {
            subject: subject.into(),
            root: self.root.clone(),
            available: self.subjects().join(", "),
        })?;
        let mut versions: Vec<(u32, PathBuf)> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("json" | "avsc")
                )
            })
            .filter_map(|p| Some((p.file_stem()?.to_str()?.parse().ok()?, p)))
            .collect();
        versions.sort();
        Ok(versions)
    }

    fn subjects(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        names
    }

    /// Loads `subject` at `version` (a number, or `latest` when `None`).
    pub fn resolve(&self, subject: &str, version: Option<&str>) -> Result<Schema, SchemaError> {
        let versions = self.versions(subject)?;
        let available = || {
            versions
                .iter()
                .map(|(v, _)| v.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let wanted = version.unwrap_or("latest");
        let found = match wanted {
            "latest" => versions.last(),
            v => v
                .parse::<u32>()
                .ok()
                .and_then(|n| versions.iter().find(|(x, _)| *x == n)),
        };
        let (number, path) = found.ok_or_else(|| SchemaError::NoVersion {
            subject: subject.into(),
            version: wanted.into(),
            available: if versions.is_empty() {
                "none".into()
            } else {
                available()
            },
        })?;
        let invalid = |reason: String| SchemaError::Invalid {
            path: path.clone(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
        if path.extension().is_some_and(|e| e == "avsc") {
            Schema::from_avro(subject, *number, &text).map_err(invalid)
        } else {
            let doc = serde_json::from_str(&text).map_err(|e| invalid(format!("not JSON: {e}")))?;
            Schema::from_json_schema(subject, *number, &doc).map_err(invalid)
        }
    }
}

//! A local registry: `<root>/<subject>/<version>.{json,avsc,proto}`, with an optional
//! `<root>/<subject>/config.json` (`{"compatibility": "FULL"}`) and `<root>/config.json`
//! for the default. Schema ids are derived from the content, so they are the same on
//! every machine and the same schema under two subjects has one id, as in Confluent's.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::compat::Compatibility;

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
    #[error("schema registry {url}: {reason}")]
    Remote { url: String, reason: String },
}

/// The kind of a schema, named as Confluent's API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaType {
    Avro,
    Json,
    Protobuf,
}

impl SchemaType {
    pub fn from_extension(ext: &str) -> Option<Self> {
        match ext {
            "avsc" => Some(Self::Avro),
            "json" => Some(Self::Json),
            "proto" => Some(Self::Protobuf),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Avro => "avsc",
            Self::Json => "json",
            Self::Protobuf => "proto",
        }
    }

    /// Confluent's `schemaType` value.
    pub fn api_name(self) -> &'static str {
        match self {
            Self::Avro => "AVRO",
            Self::Json => "JSON",
            Self::Protobuf => "PROTOBUF",
        }
    }
}

/// A schema a version depends on, as Confluent's API names it: the import name (a
/// `.proto` file name, an Avro full name, a JSON Schema `$ref` URL) and the subject
/// version that holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    pub name: String,
    pub subject: String,
    pub version: u32,
}

/// The text of a referenced schema, under its import name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub name: String,
    pub text: String,
}

/// One registered version of a subject, as text.
#[derive(Debug, Clone)]
pub struct Version {
    pub subject: String,
    pub version: u32,
    pub schema_type: SchemaType,
    pub text: String,
    pub id: u32,
    pub path: PathBuf,
    /// The schemas it references directly, kept in `<version>.references.json`.
    pub references: Vec<Reference>,
    /// Every schema it depends on, transitively, dependencies first.
    pub imports: Vec<Import>,
}

/// The id of a schema: 31 bits of the SHA-256 of its type and normalised text (JSON
/// re-serialised compactly, Protobuf with trimmed lines), never 0.
pub fn schema_id(schema_type: SchemaType, text: &str) -> u32 {
    let normal = match schema_type {
        SchemaType::Protobuf => text.lines().map(str::trim).collect::<Vec<_>>().join("\n"),
        _ => serde_json::from_str::<serde_json::Value>(text)
            .map(|v| v.to_string())
            .unwrap_or_else(|_| text.to_string()),
    };
    let digest = Sha256::new()
        .chain_update(schema_type.api_name())
        .chain_update([0])
        .chain_update(normal.trim())
        .finalize();
    let id = u32::from_be_bytes(digest[..4].try_into().expect("4 bytes")) & 0x7fff_ffff;
    id.max(1)
}

/// The directory of a subject: the name with `/`, `\\`, `%`, `:` and control
/// characters percent-encoded (Confluent subjects such as `common/money.proto`).
pub fn subject_dir(subject: &str) -> String {
    use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
    const UNSAFE: &AsciiSet = &CONTROLS
        .add(b'/')
        .add(b'\\')
        .add(b'%')
        .add(b':')
        .add(b'*')
        .add(b'?')
        .add(b'"')
        .add(b'<')
        .add(b'>')
        .add(b'|');
    let encoded = utf8_percent_encode(subject, UNSAFE).to_string();
    match encoded.strip_prefix('.') {
        Some(rest) => format!("%2E{rest}"),
        None => encoded,
    }
}

fn subject_of_dir(dir: &str) -> Option<String> {
    percent_encoding::percent_decode_str(dir)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// How deep references may nest before the chain is taken for a cycle.
const MAX_REFERENCE_DEPTH: usize = 32;

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

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Version numbers of `subject`, ascending, with their files.
    pub fn files(&self, subject: &str) -> Result<Vec<(u32, PathBuf)>, SchemaError> {
        let dir = self.subject_path(subject);
        let entries = std::fs::read_dir(&dir).map_err(|_| SchemaError::NoSubject {
            subject: subject.into(),
            root: self.root.clone(),
            available: self.subjects().join(", "),
        })?;
        let mut versions: Vec<(u32, PathBuf)> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .and_then(SchemaType::from_extension)
                    .is_some()
            })
            .filter_map(|p| Some((p.file_stem()?.to_str()?.parse().ok()?, p)))
            .collect();
        versions.sort();
        Ok(versions)
    }

    /// Subject names, sorted.
    pub fn subjects(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .filter_map(|n| subject_of_dir(&n))
            .collect();
        names.sort();
        names
    }

    /// Every version of `subject`, ascending.
    pub fn versions(&self, subject: &str) -> Result<Vec<Version>, SchemaError> {
        self.files(subject)?
            .into_iter()
            .map(|(version, path)| self.read_version(subject, version, path))
            .collect()
    }

    /// `subject` at `version` (a number, or `latest` when `None`).
    pub fn version(&self, subject: &str, version: Option<&str>) -> Result<Version, SchemaError> {
        let files = self.files(subject)?;
        let wanted = version.unwrap_or("latest");
        let found = match wanted {
            "latest" => files.last(),
            v => v
                .parse::<u32>()
                .ok()
                .and_then(|n| files.iter().find(|(x, _)| *x == n)),
        };
        let (number, path) = found.ok_or_else(|| SchemaError::NoVersion {
            subject: subject.into(),
            version: wanted.into(),
            available: if files.is_empty() {
                "none".into()
            } else {
                let numbers: Vec<String> = files.iter().map(|(v, _)| v.to_string()).collect();
                numbers.join(", ")
            },
        })?;
        self.read_version(subject, *number, path.clone())
    }

    /// The directory of `subject`.
    pub fn subject_path(&self, subject: &str) -> PathBuf {
        self.root.join(subject_dir(subject))
    }

    /// The schema id of one version file: pinned in `ids.json`, or derived from its
    /// content. Reads only that file (no references are resolved).
    pub fn id_of(&self, subject: &str, version: u32, path: &Path) -> Result<u32, SchemaError> {
        if let Some(id) = self.pinned_id(subject, version)? {
            return Ok(id);
        }
        let text = std::fs::read_to_string(path).map_err(|e| SchemaError::Invalid {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let schema_type = path
            .extension()
            .and_then(|e| e.to_str())
            .and_then(SchemaType::from_extension)
            .expect("listed files have a schema extension");
        Ok(schema_id(schema_type, &text))
    }

    fn read_version(
        &self,
        subject: &str,
        version: u32,
        path: PathBuf,
    ) -> Result<Version, SchemaError> {
        let invalid = |reason: String| SchemaError::Invalid {
            path: path.clone(),
            reason,
        };
        let text = std::fs::read_to_string(&path).map_err(|e| invalid(e.to_string()))?;
        let schema_type = path
            .extension()
            .and_then(|e| e.to_str())
            .and_then(SchemaType::from_extension)
            .expect("listed files have a schema extension");
        let references = read_references(&path.with_extension("references.json"))?;
        let id = match self.pinned_id(subject, version)? {
            Some(id) => id,
            None => schema_id(schema_type, &text),
        };
        let mut imports = Vec::new();
        self.collect_imports(&references, &mut imports, 0)
            .map_err(invalid)?;
        Ok(Version {
            subject: subject.into(),
            version,
            schema_type,
            id,
            text,
            path,
            references,
            imports,
        })
    }

    /// The id `<subject>/ids.json` gives `version`, if any: ids a registry assigned
    /// (a mirror of a remote registry, or a registry migrated from Confluent's).
    fn pinned_id(&self, subject: &str, version: u32) -> Result<Option<u32>, SchemaError> {
        let path = self.subject_path(subject).join("ids.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(None);
        };
        let ids: std::collections::HashMap<String, u32> =
            serde_json::from_str(&text).map_err(|e| SchemaError::Invalid {
                path: path.clone(),
                reason: format!("{e}; write version numbers to ids, e.g. {{\"1\": 100001}}"),
            })?;
        Ok(ids.get(&version.to_string()).copied())
    }

    /// Appends the texts `references` name, dependencies first, each once.
    pub fn collect_imports(
        &self,
        references: &[Reference],
        out: &mut Vec<Import>,
        depth: usize,
    ) -> Result<(), String> {
        if depth > MAX_REFERENCE_DEPTH {
            return Err("references nest too deep; is there a cycle?".into());
        }
        for r in references {
            if out.iter().any(|i| i.name == r.name) {
                continue;
            }
            let files = self
                .files(&r.subject)
                .map_err(|e| format!("reference `{}`: {e}", r.name))?;
            let Some((_, path)) = files.iter().find(|(n, _)| *n == r.version) else {
                return Err(format!(
                    "reference `{}` names version {} of subject `{}`, which does not exist",
                    r.name, r.version, r.subject
                ));
            };
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let nested = read_references(&path.with_extension("references.json"))
                .map_err(|e| e.to_string())?;
            self.collect_imports(&nested, out, depth + 1)?;
            out.push(Import {
                name: r.name.clone(),
                text,
            });
        }
        Ok(())
    }

    /// The compatibility mode of `subject`: its `config.json`, else the registry's,
    /// else BACKWARD (Confluent's default).
    pub fn compatibility(&self, subject: &str) -> Result<Compatibility, SchemaError> {
        for path in [
            self.subject_path(subject).join("config.json"),
            self.root.join("config.json"),
        ] {
            if let Some(mode) = read_config(&path)? {
                return Ok(mode);
            }
        }
        Ok(Compatibility::default())
    }
}

fn read_references(path: &Path) -> Result<Vec<Reference>, SchemaError> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(Vec::new());
    };
    serde_json::from_str(&text).map_err(|e| SchemaError::Invalid {
        path: path.to_path_buf(),
        reason: format!(
            "{e}; write a list such as [{{\"name\": \"common.proto\", \"subject\": \"common\", \"version\": 1}}]"
        ),
    })
}

pub(super) fn read_config(path: &Path) -> Result<Option<Compatibility>, SchemaError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Config {
        compatibility: Compatibility,
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None);
    };
    let config: Config = serde_json::from_str(&text).map_err(|e| SchemaError::Invalid {
        path: path.to_path_buf(),
        reason: format!(
            "{e}; write e.g. {{\"compatibility\": \"BACKWARD\"}} (BACKWARD, BACKWARD_TRANSITIVE, \
             FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE or NONE)"
        ),
    })?;
    Ok(Some(config.compatibility))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_content_not_formatting() {
        let a = schema_id(SchemaType::Avro, r#"{"type": "string"}"#);
        let b = schema_id(SchemaType::Avro, "{\n  \"type\":\"string\"\n}\n");
        assert_eq!(a, b);
        assert_ne!(a, schema_id(SchemaType::Json, r#"{"type": "string"}"#));
        assert!(a > 0 && a <= i32::MAX as u32);
    }
}

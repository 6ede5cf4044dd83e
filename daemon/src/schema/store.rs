//! Writing to a local registry: registering a version (the one already holding an
//! equivalent schema, or a new file after the subject's compatibility check) and
//! setting compatibility modes. Callers serialise writes to one registry.

use std::io;
use std::path::{Path, PathBuf};

use super::compat::{Compatibility, check, sort_out};
use super::registry::{
    LocalRegistry, Reference, SchemaError, SchemaType, Version, read_config, schema_id,
};
use super::{proto_print, protobuf};

/// Why a schema was not registered.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The schema does not parse, or a reference does not resolve.
    #[error("{0}")]
    Invalid(String),
    /// The subject's compatibility mode refuses it.
    #[error("{0}")]
    Incompatible(String),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error("writing `{path}`: {source}")]
    Io { path: PathBuf, source: io::Error },
}

impl LocalRegistry {
    /// A schema offered for `subject`, numbered as its next version. A Protobuf schema
    /// may come as a base64 `FileDescriptorProto` (as Confluent's clients send it) and
    /// is kept as `.proto` source.
    pub fn candidate(
        &self,
        subject: &str,
        schema_type: SchemaType,
        text: &str,
        references: Vec<Reference>,
    ) -> Result<Version, RegisterError> {
        let text = match schema_type {
            SchemaType::Protobuf if proto_print::is_base64_descriptor(text) => {
                proto_print::from_base64(text).map_err(RegisterError::Invalid)?
            }
            _ => text.to_string(),
        };
        let mut imports = Vec::new();
        self.collect_imports(&references, &mut imports, 0)
            .map_err(RegisterError::Invalid)?;
        let next = match self.versions(subject) {
            Ok(versions) => versions.last().map_or(1, |v| v.version + 1),
            Err(SchemaError::NoSubject { .. }) => 1,
            Err(e) => return Err(e.into()),
        };
        let v = Version {
            subject: subject.into(),
            version: next,
            schema_type,
            id: schema_id(schema_type, &text),
            path: self
                .subject_path(subject)
                .join(format!("{next}.{}", schema_type.extension())),
            text,
            references,
            imports,
        };
        parses(&v, self.root()).map_err(RegisterError::Invalid)?;
        Ok(v)
    }

    /// The version of `subject` holding a schema equivalent to `candidate`.
    pub fn lookup(
        &self,
        subject: &str,
        candidate: &Version,
    ) -> Result<Option<Version>, SchemaError> {
        let versions = match self.versions(subject) {
            Ok(v) => v,
            Err(SchemaError::NoSubject { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(versions
            .into_iter()
            .find(|v| equivalent(v, candidate, self.root())))
    }

    /// Registers `candidate`: the existing version when an equivalent schema is there,
    /// else a new version file once the compatibility mode accepts it.
    pub fn register(&self, candidate: Version) -> Result<Version, RegisterError> {
        if let Some(existing) = self.lookup(&candidate.subject, &candidate)? {
            return Ok(existing);
        }
        self.compatible(&candidate, None)
            .map_err(RegisterError::Incompatible)?;
        if !candidate.references.is_empty() {
            let refs = serde_json::to_string_pretty(&candidate.references).expect("plain data");
            write_new(&candidate.path.with_extension("references.json"), &refs)?;
        }
        let mut text = candidate.text.clone();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        write_new(&candidate.path, &text)?;
        Ok(candidate)
    }

    /// Checks `candidate` under its subject's mode: against one version (`Some`), or
    /// against the accepted versions the mode names.
    pub fn compatible(&self, candidate: &Version, against: Option<&Version>) -> Result<(), String> {
        let subject = &candidate.subject;
        let mode = self.compatibility(subject).map_err(|e| e.to_string())?;
        if let Some(one) = against {
            return check(mode, candidate, std::slice::from_ref(one));
        }
        let versions = match self.versions(subject) {
            Ok(v) => v,
            Err(SchemaError::NoSubject { .. }) => Vec::new(),
            Err(e) => return Err(e.to_string()),
        };
        let (accepted, _) = sort_out(mode, &versions);
        check(mode, candidate, &accepted)
    }

    /// The mode set for `subject` (or for the registry), if any.
    pub fn configured(&self, subject: Option<&str>) -> Result<Option<Compatibility>, SchemaError> {
        read_config(&self.config_path(subject))
    }

    /// Sets the mode of `subject` (or of the registry); `None` removes it.
    pub fn set_compatibility(
        &self,
        subject: Option<&str>,
        mode: Option<Compatibility>,
    ) -> Result<(), RegisterError> {
        let path = self.config_path(subject);
        let io = |source| RegisterError::Io {
            path: path.clone(),
            source,
        };
        match mode {
            None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io(e)),
                _ => Ok(()),
            },
            Some(mode) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                let text = format!("{{\"compatibility\": \"{mode}\"}}\n");
                let tmp = path.with_extension("json.tmp");
                std::fs::write(&tmp, text).map_err(io)?;
                std::fs::rename(&tmp, &path).map_err(io)
            }
        }
    }

    fn config_path(&self, subject: Option<&str>) -> PathBuf {
        match subject {
            Some(s) => self.subject_path(s).join("config.json"),
            None => self.root().join("config.json"),
        }
    }
}

/// Writes `text` to `path`, which must not exist yet: a temporary file is linked into
/// place, so a reader never sees half a schema and a concurrent writer is not
/// overwritten.
fn write_new(path: &Path, text: &str) -> Result<(), RegisterError> {
    let io = |source| RegisterError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(io)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    linked.map_err(io)
}

/// Checks that a version parses as its type says.
fn parses(v: &Version, root: &Path) -> Result<(), String> {
    match v.schema_type {
        SchemaType::Avro => {
            apache_avro::Schema::parse_str(&v.avro_text()?)
                .map_err(|e| format!("invalid Avro schema: {e}"))?;
        }
        SchemaType::Json => {
            let doc: serde_json::Value =
                serde_json::from_str(&v.json_text()?).map_err(|e| format!("not JSON: {e}"))?;
            jsonschema::validator_for(&doc).map_err(|e| format!("invalid JSON Schema: {e}"))?;
        }
        SchemaType::Protobuf => {
            protobuf::compile_version(v, Some(root))?;
        }
    }
    Ok(())
}

/// Whether two versions hold the same schema: the same references and the same JSON
/// document, or for Protobuf the same compiled descriptor.
fn equivalent(a: &Version, b: &Version, root: &Path) -> bool {
    if a.schema_type != b.schema_type || a.references != b.references {
        return false;
    }
    match a.schema_type {
        SchemaType::Avro | SchemaType::Json => {
            let doc = |v: &Version| serde_json::from_str::<serde_json::Value>(&v.text).ok();
            doc(a).is_some() && doc(a) == doc(b)
        }
        SchemaType::Protobuf => {
            let descriptor = |v: &Version| {
                protobuf::compile_version(v, Some(root)).ok().map(|f| {
                    let mut proto = f.file_descriptor_proto().clone();
                    proto.name = None;
                    proto.source_code_info = None;
                    proto
                })
            };
            let da = descriptor(a);
            da.is_some() && da == descriptor(b)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str =
        r#"{"type": "record", "name": "E", "fields": [{"name": "a", "type": "long"}]}"#;
    const V2: &str = r#"{"type": "record", "name": "E", "fields": [{"name": "a", "type": "long"},
        {"name": "b", "type": "string", "default": ""}]}"#;
    const BAD: &str =
        r#"{"type": "record", "name": "E", "fields": [{"name": "a", "type": "string"}]}"#;

    fn register(r: &LocalRegistry, text: &str) -> Result<Version, RegisterError> {
        r.register(r.candidate("e", SchemaType::Avro, text, Vec::new())?)
    }

    #[test]
    fn registering_numbers_versions_and_returns_existing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let r = LocalRegistry::open(dir.path()).unwrap();
        let v1 = register(&r, V1).unwrap();
        assert_eq!(
            (v1.version, v1.path.clone()),
            (1, dir.path().join("e/1.avsc"))
        );
        let v2 = register(&r, V2).unwrap();
        assert_eq!(v2.version, 2);
        // The same schema, formatted differently: the existing version, no new file.
        let again = register(&r, &V1.replace(' ', "")).unwrap();
        assert_eq!((again.version, again.id), (1, v1.id));
        assert_eq!(r.versions("e").unwrap().len(), 2);
        assert_eq!(r.version("e", Some("2")).unwrap().id, v2.id);
    }

    #[test]
    fn incompatible_and_invalid_schemas_are_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let r = LocalRegistry::open(dir.path()).unwrap();
        register(&r, V1).unwrap();
        let err = register(&r, BAD).unwrap_err();
        assert!(
            matches!(err, RegisterError::Incompatible(ref m) if m.contains("BACKWARD")),
            "{err}"
        );
        let err = register(&r, r#"{"type": "nope"}"#).unwrap_err();
        assert!(matches!(err, RegisterError::Invalid(_)), "{err}");
        assert_eq!(r.versions("e").unwrap().len(), 1);
        r.set_compatibility(Some("e"), Some(Compatibility::None))
            .unwrap();
        assert_eq!(r.configured(Some("e")).unwrap(), Some(Compatibility::None));
        assert_eq!(register(&r, BAD).unwrap().version, 2);
        r.set_compatibility(Some("e"), None).unwrap();
        assert_eq!(r.configured(Some("e")).unwrap(), None);
    }

    #[test]
    fn references_are_stored_and_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let r = LocalRegistry::open(dir.path()).unwrap();
        let common = "syntax = \"proto3\";\npackage c;\nmessage Money { int64 cents = 1; }\n";
        r.register(
            r.candidate("c/money.proto", SchemaType::Protobuf, common, Vec::new())
                .unwrap(),
        )
        .unwrap();
        let order = "syntax = \"proto3\";\nimport \"c/money.proto\";\nmessage Order { c.Money total = 1; }\n";
        let refs = vec![Reference {
            name: "c/money.proto".into(),
            subject: "c/money.proto".into(),
            version: 1,
        }];
        let v = r
            .register(
                r.candidate("orders", SchemaType::Protobuf, order, refs.clone())
                    .unwrap(),
            )
            .unwrap();
        assert!(dir.path().join("c%2Fmoney.proto/1.proto").is_file());
        let read = r.version("orders", None).unwrap();
        assert_eq!((read.id, read.references.clone()), (v.id, refs));
        assert_eq!(read.imports[0].text, common);
        assert_eq!(r.subjects(), ["c/money.proto", "orders"]);
        let dangling = vec![Reference {
            name: "x.proto".into(),
            subject: "x".into(),
            version: 3,
        }];
        assert!(matches!(
            r.candidate("orders", SchemaType::Protobuf, order, dangling),
            Err(RegisterError::Invalid(_))
        ));
    }
}

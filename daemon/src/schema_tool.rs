//! `weir schema`: list a local registry's subjects, versions and ids, and report the
//! compatibility of each version of a subject under its mode.

use std::fmt::Write;
use std::path::Path;

use crate::schema::{LocalRegistry, SchemaError, compat};

/// One line per version: subject, version, type and id.
pub fn list(root: &Path) -> Result<String, SchemaError> {
    let registry = LocalRegistry::open(root)?;
    let mut out = String::new();
    for subject in registry.subjects() {
        let mode = registry.compatibility(&subject)?;
        for v in registry.versions(&subject)? {
            writeln!(
                out,
                "{subject}\tversion {}\t{}\tid {}\t{mode}",
                v.version,
                v.schema_type.api_name(),
                v.id
            )
            .expect("writing to a String cannot fail");
        }
    }
    Ok(out)
}

/// The verdict per version of `subject`, and whether all are compatible. A refused
/// version is left out of the checks of later ones, as a registry would have refused it.
pub fn check(root: &Path, subject: &str) -> Result<(String, bool), SchemaError> {
    let registry = LocalRegistry::open(root)?;
    let mode = registry.compatibility(subject)?;
    let versions = registry.versions(subject)?;
    let mut out = format!("subject `{subject}`, compatibility {mode}\n");
    let mut accepted = Vec::new();
    let mut ok = true;
    for v in versions {
        match compat::check(mode, &v, &accepted) {
            Ok(()) => {
                let note = if accepted.is_empty() {
                    "first version"
                } else {
                    "compatible"
                };
                writeln!(out, "  version {}: {note}", v.version).expect("String write");
                accepted.push(v);
            }
            Err(reason) => {
                ok = false;
                writeln!(out, "  version {}: INCOMPATIBLE: {reason}", v.version)
                    .expect("String write");
            }
        }
    }
    Ok((out, ok))
}

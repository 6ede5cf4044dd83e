//! Compiled plugins kept on disk between runs, keyed by the plugin's content hash and
//! the engine's compatibility hash, so a restart does not recompile. A compiled
//! component is native code loaded as it is: the cache folder must be private (owned
//! by this user, writable by no one else — it is made 0700, its files 0600) and each
//! file must match the SHA-256 recorded beside it; otherwise the plugin is compiled
//! afresh and the folder is not used.

use std::hash::{Hash, Hasher};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled components are kept between runs.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
}

/// How a component was obtained, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Compiled,
    Cached,
}

impl CompileCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The cache of `weir plugin run`: the user's own cache folder, never a folder
    /// other users share.
    pub fn for_user() -> Self {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(|| std::env::temp_dir().join(format!("weir-{}", uid())));
        Self::new(base.join("weir").join("plugins"))
    }

    /// Loads the component in `wasm`, from the cache when it was compiled before and
    /// the cache can be trusted.
    pub fn load(&self, engine: &Engine, wasm: &[u8]) -> Result<(Component, Origin), String> {
        let private = private_dir(&self.dir);
        if let Err(reason) = &private {
            tracing::warn!(dir = %self.dir.display(), %reason, "not using the plugin cache: compiling afresh");
        }
        let path = self.dir.join(format!("{}.cwasm", key(engine, wasm)));
        if private.is_ok()
            && let Some(bytes) = trusted_file(&path)
        {
            // SAFETY: the bytes were written by `precompile_component` of an engine with
            // the same compatibility hash (part of the name), into a folder only this
            // user can write, and match the digest recorded with them.
            match unsafe { Component::deserialize(engine, &bytes) } {
                Ok(c) => return Ok((c, Origin::Cached)),
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "ignoring unusable compiled plugin")
                }
            }
        }
        let bytes = engine
            .precompile_component(wasm)
            .map_err(|e| format!("cannot compile the plugin: {e:#}"))?;
        if private.is_ok() {
            write_atomically(&path, &bytes);
        }
        // SAFETY: these bytes come from `precompile_component` of this engine.
        let component = unsafe { Component::deserialize(engine, &bytes) }
            .map_err(|e| format!("cannot load the compiled plugin: {e:#}"))?;
        Ok((component, Origin::Compiled))
    }
}

fn uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether `meta` belongs to this user and no one else can write it.
fn owned_and_private(meta: &std::fs::Metadata) -> bool {
    meta.uid() == uid() && meta.mode() & 0o022 == 0
}

/// Creates the cache folder (0700) if missing; refuses one another user owns or can
/// write.
fn private_dir(dir: &Path) -> Result<(), String> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create it: {e}"))?;
    }
    let meta = std::fs::metadata(dir).map_err(|e| e.to_string())?;
    if !owned_and_private(&meta) {
        return Err(format!(
            "it is owned by uid {} with mode {:o}; it must belong to uid {} and be writable by it alone (chmod 700)",
            meta.uid(),
            meta.mode() & 0o7777,
            uid()
        ));
    }
    Ok(())
}

/// The file's bytes, if this user owns it, no one else can write it, and its digest
/// matches the one recorded beside it.
fn trusted_file(path: &Path) -> Option<Vec<u8>> {
    let meta = std::fs::metadata(path).ok()?;
    if !owned_and_private(&meta) {
        tracing::warn!(file = %path.display(), "ignoring a compiled plugin another user could have written");
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    let recorded = std::fs::read_to_string(digest_path(path)).ok()?;
    if recorded.trim() != hex(&Sha256::digest(&bytes)) {
        tracing::warn!(file = %path.display(), "ignoring a compiled plugin whose digest does not match");
        return None;
    }
    Some(bytes)
}

fn digest_path(path: &Path) -> PathBuf {
    path.with_extension("cwasm.sha256")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn key(engine: &Engine, wasm: &[u8]) -> String {
    let mut compat = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut compat);
    let digest = Sha256::new()
        .chain_update(compat.finish().to_le_bytes())
        .chain_update(wasm)
        .finalize();
    hex(&digest)
}

/// Writes the component (0600) and then its digest. A cache write that fails only
/// costs a recompile next time.
fn write_atomically(path: &Path, bytes: &[u8]) {
    let write = |to: &Path, bytes: &[u8]| -> std::io::Result<()> {
        let tmp = to.with_extension(format!("tmp{}", std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        std::io::Write::write_all(&mut f, bytes)?;
        std::fs::rename(&tmp, to)
    };
    let digest = hex(&Sha256::digest(bytes));
    let result = write(path, bytes).and_then(|()| write(&digest_path(path), digest.as_bytes()));
    if let Err(e) = result {
        tracing::warn!(file = %path.display(), error = %e, "cannot cache the compiled plugin");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_new_cache_folder_is_private_and_a_shared_one_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cache/plugins");
        private_dir(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let refused = private_dir(&dir).unwrap_err();
        assert!(refused.contains("mode 777"), "{refused}");
    }

    #[test]
    fn a_file_is_trusted_only_with_its_digest_and_private_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("k.cwasm");
        write_atomically(&path, b"native code");
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(trusted_file(&path).as_deref(), Some(&b"native code"[..]));
        // Planted: the same name, other bytes.
        std::fs::write(&path, b"other code").unwrap();
        assert!(trusted_file(&path).is_none());
        // Restored bytes but writable by others.
        write_atomically(&path, b"native code");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(trusted_file(&path).is_none());
    }
}

//! One wasmtime engine for the process: pooling allocator, epoch interruption driven
//! by a ticker thread, no concurrency support (it triples the cost of synchronous
//! calls). Compiled components are cached on disk, keyed by the plugin's content hash
//! and the engine's compatibility hash, so a restart does not recompile.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; plugin deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Largest memory any plugin may be given; per-plugin limits are at most this.
pub const MAX_PLUGIN_MEMORY: u64 = 1 << 30;

/// The engine, created on first use with its epoch ticker.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(256)
            .total_core_instances(2048)
            .total_memories(512)
            .total_tables(1024)
            .max_memory_size(MAX_PLUGIN_MEMORY as usize)
            // A freed slot's first 256 KiB are reset with memset instead of being
            // unmapped, so the next instance does not fault them back in. With the
            // 128 KiB stack plugins are built with (see the SDK guide), that covers
            // the stack, the data and the start of the heap: instantiation takes
            // half the time.
            .linear_memory_keep_resident(256 << 10)
            .table_keep_resident(64 << 10);
        let mut config = Config::new();
        config
            .epoch_interruption(true)
            .concurrency_support(false)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        // `WEIR_WASM_PERFMAP=1`: plugin functions appear by name in `perf report`.
        if std::env::var_os("WEIR_WASM_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config).expect("the engine configuration is valid");
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("weir-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .expect("can start the epoch thread");
        engine
    })
}

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

    /// Loads the component in `wasm`, from the cache when it was compiled before.
    pub fn load(&self, engine: &Engine, wasm: &[u8]) -> Result<(Component, Origin), String> {
        let path = self.dir.join(format!("{}.cwasm", key(engine, wasm)));
        if path.is_file() {
            // SAFETY: the file was written by `precompile_component` of an engine with
            // the same compatibility hash (it is part of the name), into a directory
            // owned by this daemon.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(c) => return Ok((c, Origin::Cached)),
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "ignoring unusable compiled plugin")
                }
            }
        }
        let bytes = engine
            .precompile_component(wasm)
            .map_err(|e| format!("cannot compile the plugin: {e:#}"))?;
        write_atomically(&path, &bytes);
        // SAFETY: these bytes come from `precompile_component` of this engine.
        let component = unsafe { Component::deserialize(engine, &bytes) }
            .map_err(|e| format!("cannot load the compiled plugin: {e:#}"))?;
        Ok((component, Origin::Compiled))
    }
}

fn key(engine: &Engine, wasm: &[u8]) -> String {
    let mut compat = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut compat);
    let digest = Sha256::new()
        .chain_update(compat.finish().to_le_bytes())
        .chain_update(wasm)
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A cache write that fails only costs a recompile next time.
fn write_atomically(path: &Path, bytes: &[u8]) {
    let result = (|| {
        let dir = path.parent().expect("cache files have a folder");
        std::fs::create_dir_all(dir)?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        tracing::warn!(file = %path.display(), error = %e, "cannot cache the compiled plugin");
    }
}

//! What each plugin instance's store holds: a WASI context with nothing granted unless
//! the pipeline says so, a limiter on the sum of its memories, and its log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{
    FsPerms, HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

use super::bindings::Level;
use super::plugin::Grants;

pub struct State {
    wasi: WasiCtx,
    pub(super) table: ResourceTable,
    /// The monotonic clock plugins see, bounded by the call's deadline (`clock.rs`).
    pub clock: super::clock::PluginClock,
    pub limiter: MemoryLimiter,
    log: Arc<PluginLog>,
    /// The last line the plugin logged at error level (the SDK logs panics there).
    pub last_error: Option<String>,
    /// The values of the batch in a `process` call, for `input.values`.
    pub values: Option<std::sync::Arc<Vec<u8>>>,
}

impl State {
    /// `held` is the plugin's count of linear memory across its instances.
    pub fn new(
        grants: &Grants,
        (memory, held): (u64, Arc<AtomicU64>),
        log: Arc<PluginLog>,
    ) -> Result<Self, String> {
        let mut b = WasiCtxBuilder::new();
        for name in &grants.env {
            if let Some(value) = std::env::var_os(name) {
                b.env(name, value.to_string_lossy());
            }
        }
        for dir in &grants.dirs {
            let guest = dir.to_string_lossy();
            b.preopened_dir(dir, guest.as_ref(), FsPerms::ReadOnly)
                .map_err(|e| format!("cannot grant directory `{}`: {e}", dir.display()))?;
        }
        if grants.network {
            b.inherit_network().allow_ip_name_lookup(true);
        } else {
            b.allow_tcp(false)
                .allow_udp(false)
                .allow_ip_name_lookup(false);
        }
        if !grants.clocks {
            b.wall_clock(Frozen).monotonic_clock(Frozen);
        }
        Ok(Self {
            wasi: b.build(),
            table: ResourceTable::new(),
            clock: super::clock::PluginClock {
                real: grants.clocks,
                origin: std::time::Instant::now(),
                deadline: None,
            },
            limiter: MemoryLimiter {
                cap: memory as usize,
                total: 0,
                exceeded: false,
                held,
            },
            log,
            last_error: None,
            values: None,
        })
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl super::bindings::weir::transform::types::Host for State {}

impl super::bindings::weir::transform::host::Host for State {
    fn log(&mut self, level: Level, message: String) {
        if level == Level::Error {
            self.last_error = Some(message.clone());
        }
        self.log.write(level, &message);
    }
}

/// Caps the sum of an instance's linear memories, and counts them into the plugin's
/// total (every instance of it) while the instance lives.
pub struct MemoryLimiter {
    cap: usize,
    total: usize,
    /// Set when a growth was refused, to name the cause of the trap that follows.
    pub exceeded: bool,
    held: Arc<AtomicU64>,
}

impl Drop for MemoryLimiter {
    fn drop(&mut self) {
        self.held.fetch_sub(self.total as u64, Ordering::Relaxed);
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.total - current.min(self.total) + desired;
        if total > self.cap {
            self.exceeded = true;
            return Ok(false);
        }
        self.held.fetch_add(total as u64, Ordering::Relaxed);
        self.held.fetch_sub(self.total as u64, Ordering::Relaxed);
        self.total = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// A clock that stands still at the Unix epoch: what a plugin sees without `clocks`.
struct Frozen;

impl HostWallClock for Frozen {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for Frozen {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// Lines a plugin may log per second before the rest are counted, not written.
const LOG_LINES_PER_SECOND: u32 = 20;

/// The log of one plugin in one pipeline, shared by its instances.
pub struct PluginLog {
    pipeline: String,
    plugin: String,
    /// Start of the current second, lines written in it, lines suppressed.
    window: Mutex<(Instant, u32, u64)>,
}

impl PluginLog {
    pub fn new(pipeline: &str, plugin: &str) -> Self {
        Self {
            pipeline: pipeline.into(),
            plugin: plugin.into(),
            window: Mutex::new((Instant::now(), 0, 0)),
        }
    }

    fn write(&self, level: Level, message: &str) {
        let (allowed, suppressed) = {
            let mut w = self.window.lock().expect("log window lock");
            let mut suppressed = 0;
            if w.0.elapsed() >= Duration::from_secs(1) {
                suppressed = w.2;
                *w = (Instant::now(), 0, 0);
            }
            let allowed = w.1 < LOG_LINES_PER_SECOND;
            if allowed {
                w.1 += 1;
            } else {
                w.2 += 1;
            }
            (allowed, suppressed)
        };
        if suppressed > 0 {
            tracing::warn!(pipeline = %self.pipeline, plugin = %self.plugin, suppressed, "plugin log lines suppressed by the rate limit");
        }
        if !allowed {
            return;
        }
        let (pipeline, plugin) = (&self.pipeline, &self.plugin);
        match level {
            Level::Trace => tracing::trace!(pipeline, plugin, "{message}"),
            Level::Debug => tracing::debug!(pipeline, plugin, "{message}"),
            Level::Info => tracing::info!(pipeline, plugin, "{message}"),
            Level::Warn => tracing::warn!(pipeline, plugin, "{message}"),
            Level::Error => tracing::error!(pipeline, plugin, "{message}"),
        }
    }
}

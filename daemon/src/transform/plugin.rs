//! A loaded plugin: its compiled component, a pool of instances reused across batches,
//! and fault handling. A trap, a timeout, running out of memory or malformed output
//! discards the instance, and the batch is bisected until the records that cause the
//! fault are isolated; those fail with the reason, the rest go on.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::StoreContextMut;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Store, Trap};

use super::bindings::{Output, Transform, TransformPre, weir::transform as wit};
use super::cache::{CompileCache, Origin};
use super::convert::{self, HostBatch};
use super::engine::{EPOCH_TICK, engine};
use super::state::{PluginLog, State};

/// A transform step as the pipeline file describes it.
#[derive(Debug, Clone)]
pub struct PluginSpec {
    /// Name in logs and error reasons (default: the file's stem).
    pub name: String,
    pub path: PathBuf,
    pub config: Vec<(String, String)>,
    pub limits: Limits,
    pub grants: Grants,
}

impl PluginSpec {
    /// A step for `path` with `config`, named after the file, with the default limits
    /// and no grants: what `weir plugin run` uses.
    pub fn new<K, V>(path: impl Into<PathBuf>, config: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        let path = path.into();
        Self {
            name: path
                .file_stem()
                .map_or_else(|| "plugin".into(), |s| s.to_string_lossy().into_owned()),
            path,
            config: config
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            limits: Limits::default(),
            grants: Grants::default(),
        }
    }
}

/// What one instance may use.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Sum of the instance's linear memories.
    pub memory: u64,
    /// Wall time for one batch.
    pub timeout: Duration,
    /// Bytes of new values, keys, headers and partition keys in one batch's output.
    pub max_output: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory: 128 << 20,
            timeout: Duration::from_secs(5),
            max_output: 64 << 20,
        }
    }
}

/// Capabilities a pipeline grants a plugin. None by default.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Environment variables passed through (when set).
    pub env: Vec<String>,
    /// Directories readable at the same path inside the plugin.
    pub dirs: Vec<PathBuf>,
    /// Outbound TCP/UDP and name lookups.
    pub network: bool,
    /// Real wall and monotonic clocks (otherwise both read zero).
    pub clocks: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("cannot read plugin `{path}`: {reason}")]
    Read { path: String, reason: String },
    #[error("plugin `{name}`: {reason}")]
    Load { name: String, reason: String },
    #[error("plugin `{name}` rejected its config: {reason}")]
    Init { name: String, reason: String },
}

pub struct Plugin {
    pub spec: PluginSpec,
    pre: TransformPre<State>,
    pool: Mutex<Vec<Instance>>,
    log: Arc<PluginLog>,
    /// Linear memory held by every live instance.
    held: Arc<std::sync::atomic::AtomicU64>,
}

/// A live instance of a plugin: its store and exported functions.
pub struct Instance {
    store: Store<State>,
    api: Transform,
}

/// The result of running one batch through one plugin.
#[derive(Default)]
pub struct Outcome {
    /// Outputs of the calls that succeeded, each with the index of its first input.
    pub pieces: Vec<(usize, Output)>,
    /// Input records that failed, with the reason, in ascending order.
    pub failed: Vec<(usize, String)>,
}

impl Plugin {
    /// Loads (or finds compiled in `cache`) and instantiates the plugin once, which
    /// runs its `init` with the configuration.
    pub fn load(
        spec: PluginSpec,
        pipeline: &str,
        cache: &CompileCache,
    ) -> Result<Self, PluginError> {
        let wasm = std::fs::read(&spec.path).map_err(|e| PluginError::Read {
            path: spec.path.display().to_string(),
            reason: e.to_string(),
        })?;
        let load_err = |reason: String| PluginError::Load {
            name: spec.name.clone(),
            reason,
        };
        let started = std::time::Instant::now();
        let (component, origin) = cache.load(engine(), &wasm).map_err(load_err)?;
        let how = match origin {
            Origin::Compiled => "compiled plugin",
            Origin::Cached => "loaded compiled plugin from cache",
        };
        tracing::info!(pipeline, plugin = %spec.name, elapsed = ?started.elapsed(), "{how}");
        let mut linker = Linker::new(engine());
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .and_then(|_| {
                // Waits end by the call's deadline: this clock replaces wasmtime-wasi's.
                linker.allow_shadowing(true);
                let clock = wasmtime_wasi::p2::bindings::clocks::monotonic_clock::add_to_linker::<
                    _,
                    HasSelf<_>,
                >(&mut linker, |s| s);
                linker.allow_shadowing(false);
                clock
            })
            .and_then(|_| wit::types::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s))
            .and_then(|_| wit::host::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s))
            .and_then(|_| add_input_values(&mut linker))
            .map_err(|e| load_err(format!("{e:#}")))?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(TransformPre::new)
            .map_err(|e| load_err(interface_mismatch(&component, e)))?;
        let plugin = Self {
            log: Arc::new(PluginLog::new(pipeline, &spec.name)),
            spec,
            pre,
            pool: Mutex::new(Vec::new()),
            held: Arc::default(),
        };
        let first = plugin.instantiate()?;
        plugin.pool.lock().expect("pool lock").push(first);
        Ok(plugin)
    }

    /// The linear memory every live instance of the plugin holds.
    pub fn memory(&self) -> Arc<std::sync::atomic::AtomicU64> {
        self.held.clone()
    }

    /// A fresh instance, initialised with the step's configuration.
    pub fn instantiate(&self) -> Result<Instance, PluginError> {
        let name = || self.spec.name.clone();
        let limits = &self.spec.limits;
        let memory = (limits.memory, self.held.clone());
        let state = State::new(&self.spec.grants, memory, self.log.clone()).map_err(|reason| {
            PluginError::Load {
                name: name(),
                reason,
            }
        })?;
        let mut store = Store::new(engine(), state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(self.deadline_ticks());
        store.data_mut().clock.deadline =
            Some(tokio::time::Instant::now() + EPOCH_TICK * self.deadline_ticks() as u32);
        let api = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| PluginError::Load {
                name: name(),
                reason: format!("cannot instantiate: {e:#}"),
            })?;
        match api.call_init(&mut store, &self.spec.config) {
            Ok(Ok(())) => Ok(Instance { store, api }),
            Ok(Err(reason)) => Err(PluginError::Init {
                name: name(),
                reason,
            }),
            Err(e) => Err(PluginError::Load {
                name: name(),
                reason: format!("init failed: {}", self.describe(&store, &e)),
            }),
        }
    }

    fn deadline_ticks(&self) -> u64 {
        self.limit_ticks() + 1
    }

    /// The timeout in epoch ticks (at least one).
    fn limit_ticks(&self) -> u64 {
        (self.spec.limits.timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
    }

    /// Runs one batch, isolating the records that make the plugin fail.
    pub fn run(&self, input: &HostBatch) -> Outcome {
        let mut outcome = Outcome::default();
        let n = input.len();
        if n > 0 {
            self.run_range(input, 0..n, &mut outcome);
        }
        outcome.failed.sort_by_key(|(i, _)| *i);
        outcome
    }

    fn run_range(&self, input: &HostBatch, range: Range<usize>, outcome: &mut Outcome) {
        let sub;
        let batch = if range.len() == input.len() {
            input
        } else {
            sub = convert::slice(input, range.clone());
            &sub
        };
        let ticks = slice_ticks(self.limit_ticks(), range.len(), input.len());
        let result = self.call(batch, ticks).and_then(|o| {
            convert::check(&o, range.len(), self.spec.limits.max_output)
                .map(|()| o)
                .map_err(|e| format!("returned malformed output: {e}"))
        });
        match result {
            Ok(mut out) => {
                let errors = std::mem::take(&mut out.errors);
                outcome.failed.extend(
                    errors
                        .into_iter()
                        .map(|e| (range.start + e.index as usize, e.reason)),
                );
                outcome.pieces.push((range.start, out));
            }
            Err(reason) if range.len() == 1 => outcome.failed.push((range.start, reason)),
            Err(reason) => {
                tracing::warn!(plugin = %self.spec.name, records = range.len(), %reason, "plugin failed on a batch; bisecting to find the records that cause it");
                let mid = range.start + range.len() / 2;
                self.run_range(input, range.start..mid, outcome);
                self.run_range(input, mid..range.end, outcome);
            }
        }
    }

    /// One call on a pooled instance. A failed instance is dropped, not reused.
    /// One call, allowed `ticks` epoch ticks.
    fn call(&self, batch: &HostBatch, ticks: u64) -> Result<Output, String> {
        let pooled = self.pool.lock().expect("pool lock").pop();
        let mut inst = match pooled {
            Some(i) => i,
            None => self.instantiate().map_err(|e| e.to_string())?,
        };
        inst.store.set_epoch_deadline(ticks + 1);
        inst.store.data_mut().clock.deadline =
            Some(tokio::time::Instant::now() + EPOCH_TICK * (ticks + 1) as u32);
        inst.store.data_mut().values = Some(batch.values.clone());
        let result = inst.api.call_process(&mut inst.store, &batch.meta);
        inst.store.data_mut().values = None;
        match result {
            Ok(out) => {
                self.pool.lock().expect("pool lock").push(inst);
                Ok(out)
            }
            Err(e) => {
                let mut reason = self.describe(&inst.store, &e);
                if ticks < self.limit_ticks()
                    && matches!(e.downcast_ref::<Trap>(), Some(Trap::Interrupt))
                {
                    let allowed = EPOCH_TICK * ticks as u32;
                    reason.push_str(&format!(
                        "; isolated with {} of it for {} record(s)",
                        humantime::format_duration(allowed),
                        batch.len()
                    ));
                }
                Err(reason)
            }
        }
    }

    /// Why a call failed, in words for the dead-letter reason.
    fn describe(&self, store: &Store<State>, e: &wasmtime::Error) -> String {
        let state = store.data();
        let mut reason = if state.limiter.exceeded {
            let limit = self.spec.limits.memory;
            match limit % (1 << 20) {
                0 => format!("ran out of memory (limit {} MiB)", limit >> 20),
                _ => format!("ran out of memory (limit {limit} bytes)"),
            }
        } else {
            match e.downcast_ref::<Trap>() {
                Some(Trap::Interrupt) => format!(
                    "timed out (limit {} per batch)",
                    humantime::format_duration(self.spec.limits.timeout)
                ),
                Some(trap) => format!("trapped: {trap}"),
                None => format!("failed: {e:#}"),
            }
        };
        if let Some(said) = &state.last_error {
            reason.push_str(&format!("; the plugin logged: {said}"));
        }
        reason
    }
}

/// Epoch ticks for a call on `k` of a batch's `n` records when the whole batch may take
/// `total`: the limit shared in proportion, but never under an eighth of it. Isolating
/// a looping record of 1,000 by bisection then costs 2.75 limits (T + T/2 + T/4, then
/// T/8 for each of the 8 remaining levels) instead of a full limit at each of 11 levels.
fn slice_ticks(total: u64, k: usize, n: usize) -> u64 {
    let share = total.saturating_mul(k as u64) / n.max(1) as u64;
    share.max(total / 8).max(1)
}

/// `input.values`: the current batch's values, lowered into the plugin's memory
/// straight from the host's buffer (a generated binding would return an owned copy).
fn add_input_values(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    linker.instance(INPUT_INTERFACE)?.func_wrap(
        "values",
        |store: StoreContextMut<'_, State>, (): ()| {
            Ok((store.data().values.clone().unwrap_or_default(),))
        },
    )
}

const INPUT_INTERFACE: &str = "weir:transform/input@0.2.0";

/// Why a component does not fit: most often, it was built for another version of
/// the interface.
fn interface_mismatch(component: &Component, e: wasmtime::Error) -> String {
    let ty = component.component_type();
    let engine = engine();
    let names = ty
        .imports(engine)
        .map(|(name, _)| name)
        .chain(ty.exports(engine).map(|(name, _)| name));
    let ours = INPUT_INTERFACE.rsplit_once('@').map_or("", |(_, v)| v);
    let other = names
        .filter_map(|n| n.strip_prefix("weir:transform/"))
        .filter_map(|n| n.split_once('@').map(|(_, v)| v))
        .find(|v| *v != ours);
    match other {
        Some(version) => format!(
            "built for the plugin interface weir:transform@{version}, but this Weir \
             speaks weir:transform@{ours}: rebuild the plugin against this release's \
             weir-plugin SDK"
        ),
        None => format!("not a Weir transform plugin: {e:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::slice_ticks;

    #[test]
    fn a_slice_gets_its_share_of_the_limit_but_at_least_an_eighth() {
        assert_eq!(slice_ticks(30, 1000, 1000), 30);
        assert_eq!(slice_ticks(30, 500, 1000), 15);
        assert_eq!(slice_ticks(80, 1, 1000), 10);
        assert_eq!(slice_ticks(1, 1, 1000), 1);
        // Bisecting 1,000 records down to one: the looping half at each level.
        let mut k = 1000;
        let mut spent = 0;
        while k >= 1 {
            spent += slice_ticks(80, k, 1000);
            if k == 1 {
                break;
            }
            k = k.div_ceil(2);
        }
        assert_eq!(spent, 80 * 11 / 4, "2.75 limits");
    }
}

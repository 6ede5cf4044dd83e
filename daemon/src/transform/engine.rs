//! One wasmtime engine for the process: pooling allocator, epoch interruption driven
//! by a ticker thread, no concurrency support (it triples the cost of synchronous
//! calls). Compiled components are cached on disk (`cache.rs`).

use std::sync::OnceLock;
use std::time::Duration;

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

//! Cost of Wasm transforms (prints figures; not a timed test).
//!
//! 1. A no-op plugin over 1 KiB records in batches of 1,000: the time the transform
//!    stage adds per record (a pipeline without transforms does not run this stage).
//! 2. `redact` over ~500-byte JSON records in the plugin, against the same Rust code
//!    (the SDK's batch loop and `Redact`) compiled natively and called in-process.
//! 3. Instantiating a fresh plugin instance with the pooling allocator (and its init).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use weir::record::Batch;
use weir::transform::{Chain, CompileCache, Plugin, PluginSpec};
use weir_plugin::flat::FlatBatch;
use weir_plugin::testing::Harness;

/// The `redact` example plugin's source, compiled natively.
#[path = "../../plugins/examples/redact/src/lib.rs"]
#[allow(dead_code, unused_imports)]
mod redact;

#[global_allocator]
static GLOBAL: weir::alloc::Allocator = mimalloc::MiMalloc;

#[ctor::ctor]
fn tune_allocator() {
    weir::alloc::tune();
}

const BATCHES: usize = 200;
const BATCH: usize = 1000;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn build(workspace: &str) {
    let status = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .current_dir(root().join(workspace))
        .args(["build", "--release", "--quiet", "--target", "wasm32-wasip2"])
        .arg("--target-dir")
        .arg(root().join(workspace).join("target"))
        .status()
        .unwrap();
    assert!(status.success(), "building {workspace} failed");
}

fn load(wasm: PathBuf, config: &[(&str, &str)]) -> Plugin {
    let spec = PluginSpec::new(wasm, config.iter().copied());
    let cache = CompileCache::new(root().join("target/bench-plugin-cache"));
    Plugin::load(spec, "bench", &cache).unwrap()
}

fn batch(records: &[Vec<u8>]) -> Batch {
    let mut b = Batch::new("bench".into());
    for (i, r) in records.iter().enumerate() {
        b.push(r, None, 0, (i as u64).into());
    }
    b
}

/// Seconds per record of `chain.apply` over `BATCHES` batches (after a warm-up).
fn per_record(chain: &Chain, records: &[Vec<u8>]) -> f64 {
    let input = batch(records);
    black_box(chain.apply(input.clone()));
    let mut best = f64::MAX;
    for _ in 0..3 {
        let batches: Vec<Batch> = (0..BATCHES).map(|_| input.clone()).collect();
        let started = Instant::now();
        for b in batches {
            black_box(chain.apply(b));
        }
        best = best.min(started.elapsed().as_secs_f64() / (BATCHES * records.len()) as f64);
    }
    best
}

fn main() {
    build("plugins/examples");
    build("tests/plugins");
    let tests = root().join("tests/plugins/target/wasm32-wasip2/release");
    let examples = root().join("plugins/examples/target/wasm32-wasip2/release");

    // 1. No-op over 1 KiB records.
    let kib: Vec<Vec<u8>> = (0..BATCH)
        .map(|i| {
            let mut r = format!("{{\"id\":{i},\"pad\":\"").into_bytes();
            r.resize(1022, b'x');
            r.extend_from_slice(b"\"}");
            r
        })
        .collect();
    let noop = Chain {
        steps: vec![load(tests.join("noop.wasm"), &[])],
    };
    if std::env::var_os("WEIR_BENCH_ONLY_INSTANCES").is_some() {
        return instantiation(&noop.steps[0]);
    }
    let ns = per_record(&noop, &kib) * 1e9;
    // For scale: copying the batch's bytes once, which handing them to a plugin must do.
    let flat: Vec<u8> = kib.concat();
    let mut into = vec![0u8; flat.len()];
    let started = Instant::now();
    for _ in 0..BATCHES {
        into.copy_from_slice(black_box(&flat));
        black_box(&mut into);
    }
    let copy = started.elapsed().as_secs_f64() / (BATCHES * BATCH) as f64 * 1e9;
    println!("[1] no-op plugin, 1 KiB records, batches of {BATCH}");
    println!("    added cost per record   {ns:>8.1} ns   (target <= 20 ns)");
    println!("    one memcpy of 1 KiB     {copy:>8.1} ns   (for scale)");

    // 2. redact in Wasm vs the same code natively.
    let orders: Vec<Vec<u8>> = (0..BATCH)
        .map(|i| {
            format!(
                r#"{{"order_id":"ord-{i:08}","status":"paid","customer":{{"id":"cus-{i:06}","name":"Ann Lee","email":"ann.lee{i}@example.com","phone":"+33 6 12 34 56 78","region":"eu","address":{{"city":"Lyon","country":"FR","postcode":"69001"}}}},"items":[{{"sku":"sku-1","qty":2,"price":9.5}},{{"sku":"sku-2","qty":1,"price":30}},{{"sku":"sku-3","qty":4,"price":1.25}}],"channel":"web","coupon":null,"notes":"leave at the door","total":54.0,"currency":"EUR","event_time":"2026-11-20T10:00:00Z"}}"#
            )
            .into_bytes()
        })
        .collect();
    let avg = orders.iter().map(Vec::len).sum::<usize>() / orders.len();
    let config = [("fields", "email,phone")];
    let redact = Chain {
        steps: vec![load(examples.join("redact.wasm"), &config)],
    };
    let wasm = per_record(&redact, &orders);
    let mut flat = FlatBatch::new();
    for r in &orders {
        flat.push(r, None, 0, &[]);
    }
    let mut native = Harness::<redact::Redact>::new(&config).unwrap();
    black_box(native.run_batch(&flat));
    let mut best = f64::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        for _ in 0..BATCHES {
            black_box(native.run_batch(&flat));
        }
        best = best.min(started.elapsed().as_secs_f64() / (BATCHES * BATCH) as f64);
    }
    println!("\n[2] redact (email, phone), {avg}-byte JSON records");
    println!("    Wasm plugin             {:>8.0} records/s", 1.0 / wasm);
    println!("    same code, native       {:>8.0} records/s", 1.0 / best);
    println!(
        "    Wasm / native           {:>8.2}   (target >= 0.7)",
        best / wasm
    );

    instantiation(&noop.steps[0]);
}

/// 3. Fresh instances.
fn instantiation(plugin: &Plugin) {
    black_box(plugin.instantiate().unwrap());
    let n = 20_000;
    let started = Instant::now();
    for _ in 0..n {
        black_box(plugin.instantiate().unwrap());
    }
    let us = started.elapsed().as_secs_f64() / n as f64 * 1e6;
    println!("\n[3] fresh instance (pooling allocator, WASI context, init call)");
    println!("    per instance            {us:>8.1} µs   (target <= 20 µs)");
}

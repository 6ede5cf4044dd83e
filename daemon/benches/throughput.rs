//! Throughput and memory of the JSON → validated, partitioned zstd Parquet path.
//!
//! Run 1: 1,000,000 order events (~500 bytes, nested, event times over 24 h) from an
//! NDJSON file through the full pipeline into hourly prefixes, against a baseline of
//! arrow-json decode + ArrowWriter alone on the same file in the same process.
//! Run 2: the same volume spread over 1,000 open prefixes with a 64 MiB budget.
//! `WEIR_BENCH_RECORDS` overrides the record count. Each measurement runs in a fresh
//! child process so that its peak RSS is not inherited from an earlier one.

use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use tokio_util::sync::CancellationToken;
use weir::source::generator::{GeneratorKind, write_event};

// The same allocator as the `weir` binary.
#[global_allocator]
static GLOBAL: weir::alloc::Allocator = mimalloc::MiMalloc;

// Before `main`: the allocator options must be set before the first allocation.
#[ctor::ctor]
fn tune_allocator() {
    weir::alloc::tune();
}

fn main() {
    if let Ok(scenario) = std::env::var("WEIR_BENCH_SCENARIO") {
        return child(&scenario);
    }
    let records: u64 = std::env::var("WEIR_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let tmp = tempfile::tempdir().unwrap();
    println!("weir throughput bench: {records} order records; each measurement in a fresh process");
    let day = tmp.path().join("day.ndjson");
    let input_bytes = write_input(&day, records, 24 * 60);
    println!(
        "input: {:.1} MB, {:.0} bytes/record",
        input_bytes as f64 / 1e6,
        input_bytes as f64 / records as f64
    );

    let hourly = "orders/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/";
    let [secs, rss, out_bytes, written, _] = spawn(tmp.path(), "pipeline", &day, hourly, "256MiB");
    let rate = written / secs;
    println!("\n[run 1] pipeline, hourly prefixes, memory_budget 256MiB");
    println!("  records/s        {:>12.0}", rate);
    println!(
        "  MB/s (input)     {:>12.1}",
        input_bytes as f64 / 1e6 / secs
    );
    println!("  peak RSS         {:>12.1} MiB", rss / 1048576.0);
    println!(
        "  output / input   {:>12.3}",
        out_bytes / input_bytes as f64
    );
    let [base_secs, base_rss, _, _, _] = spawn(tmp.path(), "baseline", &day, "", "");
    let base_rate = records as f64 / base_secs;
    println!(
        "  baseline rec/s   {:>12.0}  (arrow-json decode + ArrowWriter, one file, peak RSS {:.0} MiB)",
        base_rate,
        base_rss / 1048576.0
    );
    println!(
        "  ratio            {:>12.2}  (target >= 0.5)",
        rate / base_rate
    );

    metrics_cost(tmp.path(), &day, hourly);

    // Run 2: 1,000 open prefixes (one per minute of event time) under a 64 MiB budget.
    let spread = tmp.path().join("minutes.ndjson");
    write_input(&spread, records, 1000);
    std::fs::remove_file(&day).unwrap();
    let minutes = "orders/!{timestamp:dd}/!{timestamp:HH}/!{timestamp:mm}/";
    let [secs, rss, _, written, _] = spawn(tmp.path(), "pipeline", &spread, minutes, "64MiB");
    println!("\n[run 2] 1000 open prefixes, memory_budget 64MiB");
    println!("  records/s        {:>12.0}", written / secs);
    println!(
        "  peak RSS         {:>12.1} MiB  (target <= 128 MiB)",
        rss / 1048576.0
    );
}

/// What collecting metrics costs: run 1's pipeline with metrics collected and with
/// collection switched off, alternating, three times each. CPU time is compared (wall
/// time on this machine varies more than the effect measured).
fn metrics_cost(dir: &Path, input: &Path, prefix: &str) {
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        on.push(spawn(dir, "pipeline", input, prefix, "256MiB")[4]);
        off.push(spawn(dir, "pipeline-quiet", input, prefix, "256MiB")[4]);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (on_cpu, off_cpu) = (median(&mut on), median(&mut off));
    println!("\n[run 3] run 1 with metrics collected / switched off, 3 runs each, alternating");
    println!("  CPU s, metrics   {on:.2?}");
    println!("  CPU s, no metrics{off:.2?}");
    println!(
        "  rate ratio       {:>12.3}  (median CPU off / on; target >= 0.97)",
        off_cpu / on_cpu
    );
}

/// Runs one measurement in a fresh process, so peak RSS is its own. Returns seconds,
/// peak RSS, output bytes, records written and CPU seconds.
fn spawn(dir: &Path, scenario: &str, input: &Path, prefix: &str, budget: &str) -> [f64; 5] {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env("WEIR_BENCH_SCENARIO", scenario)
        .env("WEIR_BENCH_DIR", dir)
        .env("WEIR_BENCH_INPUT", input)
        .env("WEIR_BENCH_PREFIX", prefix)
        .env("WEIR_BENCH_BUDGET", budget)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| {
            panic!(
                "{scenario} failed: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let v: Vec<f64> = line.split(' ').map(|x| x.parse().unwrap()).collect();
    [v[0], v[1], v[2], v[3], v[4]]
}

fn child(scenario: &str) {
    let var = |k: &str| std::env::var(k).unwrap();
    let (dir, input) = (
        std::path::PathBuf::from(var("WEIR_BENCH_DIR")),
        std::path::PathBuf::from(var("WEIR_BENCH_INPUT")),
    );
    let registry = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("schemas");
    if scenario == "input" {
        let records = var("WEIR_BENCH_RECORDS").parse().unwrap();
        write_input(&input, records, var("WEIR_BENCH_MINUTES").parse().unwrap());
        return;
    }
    let [secs, out_bytes, written] = match scenario {
        "baseline" => {
            let secs = baseline(&input, &registry, &dir.join("baseline.parquet"));
            [secs, 0.0, 0.0]
        }
        _ => {
            let (secs, out_bytes, written) = run_pipeline(
                &dir,
                (scenario != "pipeline-quiet").then_some("bench"),
                &input,
                &registry,
                &var("WEIR_BENCH_PREFIX"),
                &var("WEIR_BENCH_BUDGET"),
            );
            [secs, out_bytes as f64, written as f64]
        }
    };
    println!(
        "RESULT {secs} {} {out_bytes} {written} {}",
        peak_rss(),
        cpu_seconds()
    );
}

/// Writes `records` events with event times spread over `minutes`; returns the size.
fn write_input(path: &Path, records: u64, minutes: u64) -> u64 {
    let mut out = BufWriter::new(std::fs::File::create(path).unwrap());
    let mut buf = Vec::with_capacity(1024);
    let start = 1_767_225_600_000i64; // 2026-01-01T00:00:00Z
    for i in 0..records {
        buf.clear();
        let offset = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) % (minutes * 60_000);
        write_event(
            GeneratorKind::Orders,
            1,
            i,
            start + offset as i64,
            false,
            &mut buf,
        );
        buf.push(b'\n');
        out.write_all(&buf).unwrap();
    }
    out.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

/// User and system CPU time of this process so far.
fn cpu_seconds() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn peak_rss() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (kb * 1024) as f64
}

/// Runs one pipeline in this process, named `name` with metrics collected, or with
/// collection switched off when `None`; returns (seconds, output bytes, records written).
fn run_pipeline(
    dir: &Path,
    metrics_name: Option<&str>,
    input: &Path,
    registry: &Path,
    prefix: &str,
    budget: &str,
) -> (f64, u64, u64) {
    let name = metrics_name.unwrap_or("bench");
    let pipelines = dir.join(format!("pipelines-{name}"));
    std::fs::create_dir_all(&pipelines).unwrap();
    let lake = dir.join(format!("lake-{name}"));
    let file = pipelines.join("bench.yaml");
    let batch_size = std::env::var("WEIR_BENCH_BATCH").unwrap_or_else(|_| "4096".into());
    std::fs::write(
        &file,
        format!(
            "apiVersion: weir/v1\nname: {name}\nsource:\n  type: file\n  path: {}\n  batch_size: {batch_size}\nschema:\n  registry: {}\n  subject: orders\nsink:\n  url: {}\n  prefix: \"{prefix}\"\n  time:\n    field: event_time\n  buffer:\n    max_bytes: 128MiB\n    interval: 10m\n    idle: 10m\n    memory_budget: {budget}\n",
            input.display(),
            registry.display(),
            lake.display()
        ),
    )
    .unwrap();
    let state = dir.join(format!("state-{name}"));
    let prepared = weir::pipeline::prepare(&file, &state).unwrap_or_else(|e| panic!("{e}"));
    let hub = weir::metrics::Hub::default();
    let metrics = match metrics_name {
        Some(name) => hub.add(name, file.clone(), String::new()),
        None => weir::metrics::PipelineMetrics::disabled(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let outcome = runtime
        .block_on(weir::pipeline::run_pipeline(
            prepared,
            &state,
            metrics,
            CancellationToken::new(),
        ))
        .map_err(|(_, e)| e)
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    let out_bytes = dir_size(&lake);
    // The next measurement starts afresh: with the stored positions it would read nothing.
    std::fs::remove_dir_all(&lake).unwrap();
    std::fs::remove_dir_all(dir.join(format!("state-{name}"))).unwrap();
    (secs, out_bytes, outcome.stats.records)
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            if p.is_dir() {
                dir_size(&p)
            } else {
                std::fs::metadata(&p).unwrap().len()
            }
        })
        .sum()
}

/// arrow-json decoding the file and one ArrowWriter writing zstd Parquet: no
/// validation, no partitioning, no object store.
fn baseline(input: &Path, registry: &Path, out: &Path) -> f64 {
    let version = weir::schema::LocalRegistry::open(registry)
        .unwrap()
        .version("orders", None)
        .unwrap();
    let schema = weir::schema::Schema::compile(&version).unwrap().arrow;
    let started = Instant::now();
    let reader = arrow_json::ReaderBuilder::new(schema.clone())
        .with_batch_size(4096)
        .build(BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(input).unwrap(),
        ))
        .unwrap();
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut writer = ArrowWriter::try_new(
        std::fs::File::create(out).unwrap(),
        Arc::clone(&schema),
        Some(props),
    )
    .unwrap();
    for batch in reader {
        writer.write(&batch.unwrap()).unwrap();
    }
    writer.close().unwrap();
    started.elapsed().as_secs_f64()
}

//! Throughput and memory of the JSON → validated, partitioned zstd Parquet path.
//!
//! Run 1: 1,000,000 order events (~500 bytes, nested, event times over 24 h) from an
//! NDJSON file through the full pipeline into hourly prefixes, against a baseline of
//! arrow-json decode + ArrowWriter alone on the same file in the same process.
//! Run 2: the same volume spread over 1,000 open prefixes with a 64 MiB budget.
//! `WEIR_BENCH_RECORDS` overrides the record count.

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
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let records: u64 = std::env::var("WEIR_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let tmp = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let registry = root.join("schemas");

    println!("weir throughput bench: {records} order records");
    let day = tmp.path().join("day.ndjson");
    let input_bytes = write_input(&day, records, 24 * 60);
    println!(
        "input: {:.1} MB, {:.0} bytes/record",
        input_bytes as f64 / 1e6,
        input_bytes as f64 / records as f64
    );

    // Run 1: the pipeline, then the baseline on the same file.
    let hourly = "orders/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/";
    let (secs, rss, out_bytes, written) =
        run_pipeline(tmp.path(), "hourly", &day, &registry, hourly, "256MiB");
    let rate = written as f64 / secs;
    println!("\n[run 1] pipeline, hourly prefixes");
    println!("  records/s        {:>12.0}", rate);
    println!(
        "  MB/s (input)     {:>12.1}",
        input_bytes as f64 / 1e6 / secs
    );
    println!("  peak RSS         {:>12.1} MiB", rss as f64 / 1048576.0);
    println!(
        "  output / input   {:>12.3}",
        out_bytes as f64 / input_bytes as f64
    );
    let base_secs = baseline(&day, &registry, &tmp.path().join("baseline.parquet"));
    let base_rate = records as f64 / base_secs;
    println!(
        "  baseline rec/s   {:>12.0}  (arrow-json decode + ArrowWriter, one file)",
        base_rate
    );
    println!(
        "  ratio            {:>12.2}  (target >= 0.5)",
        rate / base_rate
    );

    // Run 2: 1,000 open prefixes (one per minute of event time) under a 64 MiB budget.
    let spread = tmp.path().join("minutes.ndjson");
    write_input(&spread, records, 1000);
    std::fs::remove_file(&day).unwrap();
    let minutes = "orders/!{timestamp:dd}/!{timestamp:HH}/!{timestamp:mm}/";
    let (secs, rss, _, written) =
        run_pipeline(tmp.path(), "minutes", &spread, &registry, minutes, "64MiB");
    println!("\n[run 2] 1000 open prefixes, memory_budget 64MiB");
    println!("  records/s        {:>12.0}", written as f64 / secs);
    println!(
        "  peak RSS         {:>12.1} MiB  (target <= 128 MiB)",
        rss as f64 / 1048576.0
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

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    kb * 1024
}

/// Runs one pipeline in-process; returns (seconds, peak RSS, output bytes, records written).
fn run_pipeline(
    dir: &Path,
    name: &str,
    input: &Path,
    registry: &Path,
    prefix: &str,
    budget: &str,
) -> (f64, u64, u64, u64) {
    let pipelines = dir.join(format!("pipelines-{name}"));
    std::fs::create_dir_all(&pipelines).unwrap();
    let lake = dir.join(format!("lake-{name}"));
    let file = pipelines.join("bench.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: weir/v1\nname: {name}\nsource:\n  type: file\n  path: {}\n  batch_size: 4096\nschema:\n  registry: {}\n  subject: orders\nsink:\n  url: {}\n  prefix: \"{prefix}\"\n  time:\n    field: event_time\n  buffer:\n    max_bytes: 128MiB\n    interval: 10m\n    idle: 10m\n    memory_budget: {budget}\n",
            input.display(),
            registry.display(),
            lake.display()
        ),
    )
    .unwrap();
    let spec = weir::config::validate(&file).unwrap_or_else(|e| panic!("{e}"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    reset_peak_rss();
    let started = Instant::now();
    let outcome = runtime
        .block_on(weir::pipeline::run_pipeline(
            spec,
            &dir.join(format!("state-{name}")),
            CancellationToken::new(),
        ))
        .map_err(|(_, e)| e)
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    let rss = peak_rss();
    let out_bytes = dir_size(&lake);
    std::fs::remove_dir_all(&lake).unwrap();
    (secs, rss, out_bytes, outcome.stats.records)
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
    let schema = weir::schema::LocalRegistry::open(registry)
        .unwrap()
        .resolve("orders", None)
        .unwrap()
        .arrow;
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

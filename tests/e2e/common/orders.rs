//! Order events for the exactly-once tests: the generator's records as an NDJSON file,
//! the P1 pipeline over them, and the DuckDB check that a lake holds each one once.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use super::{python_script, root};

/// Writes the generator's order events `from..to` as NDJSON lines, appending.
pub fn append_orders(path: &Path, from: u64, to: u64, spread_over: u64) {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let mut out = std::io::BufWriter::new(file);
    let mut line = Vec::with_capacity(2048);
    let start = 1_795_132_800_000; // 2026-11-20T00:00:00Z
    for i in from..to {
        line.clear();
        let time = start + (i * 86_400_000 / spread_over) as i64;
        weir::source::generator::write_event(
            weir::source::generator::GeneratorKind::Orders,
            7,
            i,
            time,
            false,
            &mut line,
        );
        line.push(b'\n');
        out.write_all(&line).unwrap();
    }
    out.flush().unwrap();
}

/// Writes the generator's first `count` order events as an NDJSON file.
pub fn orders_file(path: &Path, count: u64) {
    let _ = std::fs::remove_file(path);
    append_orders(path, 0, count, count);
}

/// The P1 pipeline (orders validated against their schema, zstd Parquet under hourly
/// prefixes) with the given source lines, sink url and extra top-level lines.
pub fn p1_pipeline(dir: &Path, source: &str, url: &str, interval: &str, extra: &str) {
    std::fs::create_dir_all(dir.join("pipelines")).unwrap();
    std::fs::write(
        dir.join("pipelines/p1.yaml"),
        format!(
            "apiVersion: weir/v1\nname: p1\nsource:\n{source}schema:\n  registry: {}\n  subject: orders\nsink:\n  url: {url}\n  format: parquet\n  compression: zstd\n  prefix: \"orders/day=!{{timestamp:dd}}/hour=!{{timestamp:HH}}/\"\n  time:\n    field: event_time\n  buffer:\n    interval: {interval}\n{extra}",
            root().join("schemas").display()
        ),
    )
    .unwrap();
}

/// `exactly_once.py` on a lake: (rows, distinct ids, unfinished uploads).
pub fn check_lake(args: &[&str]) -> (u64, u64, Vec<String>) {
    let out = python_script("exactly_once.py", args, "duckdb and boto3");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let unfinished = v["unfinished"].as_array().unwrap();
    (
        v["rows"].as_u64().unwrap(),
        v["ids"].as_u64().unwrap(),
        unfinished.iter().map(|u| u.to_string()).collect(),
    )
}

/// The environment of a daemon writing to the moto server at `endpoint`.
pub fn s3_env(cmd: &mut Command, endpoint: &str) {
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1");
}

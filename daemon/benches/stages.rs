//! Cost per record of each step of the decode stage on order events, in ns/record:
//! parse, validate, values → Arrow; for reference, parsing to `serde_json::Value` and
//! arrow-json decoding the raw bytes directly. Prints figures; `WEIR_BENCH_RECORDS` sets the count.

use std::time::Instant;

use weir::schema::record_json::{self, Value};
use weir::source::generator::{GeneratorKind, write_event};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let n: u64 = std::env::var("WEIR_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let version = weir::schema::LocalRegistry::open(&root.join("schemas"))
        .unwrap()
        .version("orders", None)
        .unwrap();
    let schema = weir::schema::Schema::compile(&version).unwrap();
    let mut raw = Vec::new();
    let mut lines = Vec::new();
    for i in 0..n {
        let start = raw.len();
        write_event(
            GeneratorKind::Orders,
            1,
            i,
            1_767_225_600_000 + i as i64 * 1000,
            false,
            &mut raw,
        );
        lines.push(start..raw.len());
        raw.push(b'\n');
    }
    let per = |t: Instant| t.elapsed().as_nanos() as f64 / n as f64;

    let doc: serde_json::Value = serde_json::from_str(&version.json_text().unwrap()).unwrap();
    let serde_validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&doc)
        .unwrap();
    let serde_values: Vec<serde_json::Value> = lines
        .iter()
        .map(|r| serde_json::from_slice(&raw[r.clone()]).unwrap())
        .collect();
    let t = Instant::now();
    assert!(serde_values.iter().all(|v| serde_validator.is_valid(v)));
    println!(
        "validate serde_json::Value (reference)     {:>6.0} ns/record",
        per(t)
    );
    drop(serde_values);

    let t = Instant::now();
    for chunk in lines.chunks(4096) {
        let v: Vec<serde_json::Value> = chunk
            .iter()
            .map(|r| serde_json::from_slice(&raw[r.clone()]).unwrap())
            .collect();
        drop(v);
    }
    println!(
        "serde_json::Value parse + drop (reference) {:>6.0} ns/record",
        per(t)
    );

    let t = Instant::now();
    let values: Vec<Value> = lines
        .iter()
        .map(|r| record_json::parse(&raw[r.clone()]).unwrap())
        .collect();
    println!(
        "parse (sonic-rs value)                     {:>6.0} ns/record",
        per(t)
    );

    let t = Instant::now();
    assert!(values.iter().all(|v| schema.validate(v).is_ok()));
    println!(
        "validate (JSON Schema)                     {:>6.0} ns/record",
        per(t)
    );
    let t = Instant::now();
    assert!(values.iter().all(|v| schema.validate(v).is_ok()));
    println!(
        "validate (JSON Schema)                     {:>6.0} ns/record",
        per(t)
    );

    let t = Instant::now();
    for chunk in values.chunks(4096) {
        let mut d = arrow_json::ReaderBuilder::new(schema.arrow.clone())
            .build_decoder()
            .unwrap();
        d.serialize(chunk).unwrap();
        d.flush().unwrap();
    }
    println!(
        "values -> Arrow (serialize)                {:>6.0} ns/record",
        per(t)
    );

    let t = Instant::now();
    drop(values);
    println!(
        "drop values                                {:>6.0} ns/record",
        per(t)
    );

    let t = Instant::now();
    let mut d = arrow_json::ReaderBuilder::new(schema.arrow.clone())
        .with_batch_size(4096)
        .build_decoder()
        .unwrap();
    let mut rest = &raw[..];
    while !rest.is_empty() {
        let used = d.decode(rest).unwrap();
        rest = &rest[used..];
        d.flush().unwrap();
    }
    println!(
        "bytes -> Arrow (tape decode, reference)    {:>6.0} ns/record",
        per(t)
    );
}

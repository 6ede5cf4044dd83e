//! A crash at each step of the flush protocol — the cut recorded but its object not
//! written, the object written but no position stored, positions stored but the ledger
//! not pruned, everything stored — is injected (`WEIR_FAULTS`, an abort as a SIGKILL
//! would stop the process), then the pipeline runs again to its end, and once more
//! after it finished. Parquet under event-time prefixes and JSON lines under field
//! prefixes, with a plugin and dead letters: every record in the lake exactly once,
//! every dead letter once.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;

use common::orders::orders_file;
use common::*;

const ORDERS: u64 = 3000;
const BAD: u64 = 20;

/// The flush protocol's steps, in order.
const POINTS: [&str; 4] = ["cut-recorded", "object-written", "mid-prune", "committed"];

fn setup(dir: &Path, format: &str, prefix: &str) {
    let input = dir.join("input.ndjson");
    orders_file(&input, ORDERS);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .unwrap();
    for i in 0..BAD {
        writeln!(f, "not json {i}").unwrap();
    }
    std::fs::create_dir_all(dir.join("pipelines")).unwrap();
    let plugin = root().join("plugins/examples/target/wasm32-wasip2/release/redact.wasm");
    std::fs::write(
        dir.join("pipelines/p.yaml"),
        format!(
            "apiVersion: weir/v1\nname: p\nsource:\n  type: file\n  path: {}\n  batch_size: 200\n\
             transforms:\n  - plugin: {}\n    config:\n      fields: [email]\n\
             schema:\n  registry: {}\n  subject: orders\n\
             sink:\n  url: {}\n  format: {format}\n  prefix: \"{prefix}\"\n  error_prefix: \"errors/!{{error:type}}/\"\n  time:\n    field: event_time\n  buffer:\n    max_records: 400\n",
            input.display(),
            plugin.display(),
            root().join("schemas").display(),
            dir.join("lake").display()
        ),
    )
    .unwrap();
}

/// Order numbers and dead letters in the lake, with how often each occurs.
fn lake_contents(lake: &Path) -> (BTreeMap<u64, u32>, BTreeMap<String, u32>) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (mut orders, mut dead) = (BTreeMap::new(), BTreeMap::new());
    for (key, rows) in runtime.block_on(read_dir_lake(lake)) {
        for row in rows {
            let v: serde_json::Value = serde_json::from_str(&row).unwrap();
            if key.starts_with("errors/") {
                *dead
                    .entry(v["raw"].as_str().unwrap().to_string())
                    .or_insert(0) += 1;
            } else {
                let n: u64 = v["order_id"].as_str().unwrap()[4..].parse().unwrap();
                *orders.entry(n).or_insert(0) += 1;
            }
        }
    }
    (orders, dead)
}

fn crash_at(point: &str, format: &str, prefix: &str) {
    build_plugins();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir, format, prefix);
    let (pipelines, state) = (dir.join("pipelines"), dir.join("state"));
    let crashed = weir_run(&pipelines, &state)
        .env("WEIR_FAULTS", format!("{point}@p=abort:2"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&crashed.stderr);
    assert_eq!(
        crashed.status.signal(),
        Some(6),
        "{point}: the crash must hit its window ({})\n{stderr}",
        crashed.status
    );
    assert!(
        stderr.contains(&format!("fault injected at `{point}`")),
        "{stderr}"
    );
    let (partial, _) = lake_contents(&dir.join("lake"));
    run_ok(&mut weir_run(&pipelines, &state));
    run_ok(&mut weir_run(&pipelines, &state));
    let (orders, dead) = lake_contents(&dir.join("lake"));
    let twice: Vec<_> = orders.iter().filter(|(_, c)| **c > 1).take(5).collect();
    assert!(
        twice.is_empty(),
        "{point} {format}: written twice: {twice:?}"
    );
    assert_eq!(orders.len() as u64, ORDERS, "{point} {format}: every order");
    assert_eq!(
        dead.len() as u64,
        BAD,
        "{point} {format}: every dead letter"
    );
    assert!(
        dead.values().all(|c| *c == 1),
        "{point} {format}: dead letters once: {dead:?}"
    );
    eprintln!(
        "{format:8} crash at {point:15}: {} orders were in the lake at the crash; after the restarts {ORDERS} once, {BAD} dead letters once",
        partial.len()
    );
}

#[test]
fn parquet_under_event_time_prefixes_survives_a_crash_at_each_step() {
    for point in POINTS {
        crash_at(
            point,
            "parquet",
            "orders/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/",
        );
    }
}

#[test]
fn json_lines_under_field_prefixes_survive_a_crash_at_each_step() {
    for point in POINTS {
        crash_at(point, "jsonl", "region=!{field:customer.region}/");
    }
}

/// A crash leaves cuts recorded and unwritten; the pipeline's prefix is then changed
/// before the restart. The restart refuses, saying what to do, and writes nothing;
/// with the previous version back it finishes, and then the change applies — every
/// order once.
#[test]
fn a_restart_after_a_crash_under_changed_routing_refuses_until_the_old_cuts_are_written() {
    build_plugins();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let prefix = "orders/hour=!{timestamp:HH}/";
    setup(dir, "jsonl", prefix);
    let (pipelines, state) = (dir.join("pipelines"), dir.join("state"));
    let file = pipelines.join("p.yaml");
    let crashed = weir_run(&pipelines, &state)
        .env("WEIR_FAULTS", "cut-recorded@p=abort:3")
        .output()
        .unwrap();
    assert_eq!(crashed.status.signal(), Some(6));
    let original = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, original.replace(prefix, "orders/h=!{timestamp:HH}/")).unwrap();
    let (before, _) = lake_contents(&dir.join("lake"));

    let refused = weir_run(&pipelines, &state).output().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the pipeline changed"), "{stderr}");
    assert!(
        stderr.contains("put the previous version of the pipeline file back"),
        "{stderr}"
    );
    assert_eq!(
        lake_contents(&dir.join("lake")).0,
        before,
        "nothing written"
    );

    std::fs::write(&file, &original).unwrap();
    run_ok(&mut weir_run(&pipelines, &state));
    std::fs::write(&file, original.replace(prefix, "orders/h=!{timestamp:HH}/")).unwrap();
    run_ok(&mut weir_run(&pipelines, &state));
    let (orders, dead) = lake_contents(&dir.join("lake"));
    assert_eq!(orders.len() as u64, ORDERS);
    assert!(orders.values().all(|c| *c == 1), "each once");
    assert_eq!(dead.len() as u64, BAD);
}

/// Runs the pipelines until the `n`th pass of `point` aborts the process.
fn crash(pipelines: &Path, state: &Path, point: &str, n: u32) {
    let crashed = weir_run(pipelines, state)
        .env("WEIR_FAULTS", format!("{point}@p=abort:{n}"))
        .output()
        .unwrap();
    assert_eq!(
        crashed.status.signal(),
        Some(6),
        "{point}: the crash must hit"
    );
}

/// Issue 16 item 11: dead letters under a prefix that renders their arrival time were
/// written again under a new prefix after a crash (the records read again arrive
/// later). A crash at each step, with the restart a second later: every dead letter once.
#[test]
fn dead_letters_under_a_dated_prefix_survive_a_crash_at_each_step() {
    const LINES: u64 = 40;
    for point in POINTS {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let input: String = (0..LINES).map(|i| format!("not json {i}\n")).collect();
        std::fs::write(dir.join("input.ndjson"), input).unwrap();
        std::fs::create_dir_all(dir.join("pipelines")).unwrap();
        std::fs::write(
            dir.join("pipelines/p.yaml"),
            format!(
                "apiVersion: weir/v1\nname: p\nsource:\n  type: file\n  path: {}\n  batch_size: 2\n\
                 sink:\n  url: {}\n  format: jsonl\n  error_prefix: \"errors/!{{error:type}}/!{{timestamp:HH-mm-ss}}/\"\n  buffer:\n    max_records: 5\n",
                dir.join("input.ndjson").display(),
                dir.join("lake").display()
            ),
        )
        .unwrap();
        let (pipelines, state) = (dir.join("pipelines"), dir.join("state"));
        crash(&pipelines, &state, point, 3);
        // The records read again arrive in another second: another prefix, unless the
        // recorded time is used.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        run_ok(&mut weir_run(&pipelines, &state));
        run_ok(&mut weir_run(&pipelines, &state));
        let (_, dead) = lake_contents(&dir.join("lake"));
        let twice: Vec<_> = dead.iter().filter(|(_, c)| **c > 1).collect();
        assert!(twice.is_empty(), "{point}: dead letters twice: {twice:?}");
        assert_eq!(dead.len() as u64, LINES, "{point}: every dead letter");
        eprintln!("dead letters, crash at {point:15}: {LINES} once after the restart");
    }
}

/// A plugin whose output differs between runs (it keeps each record at random), with a
/// crash at each step: the replay neither stalls nor writes a record twice, though the
/// records a replayed cut holds are the second run's choice (transforms must be
/// deterministic for the lake to match a run without the crash; see the reference).
#[test]
fn a_nondeterministic_plugin_after_a_crash_neither_stalls_nor_duplicates() {
    build_plugins();
    let plugin = root().join("tests/plugins/target/wasm32-wasip2/release/hostile.wasm");
    for point in POINTS {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let input: String = (0..2000)
            .map(|i| format!("{{\"id\": {i}, \"act\": \"coin\"}}\n"))
            .collect();
        std::fs::write(dir.join("input.ndjson"), input).unwrap();
        std::fs::create_dir_all(dir.join("pipelines")).unwrap();
        std::fs::write(
            dir.join("pipelines/p.yaml"),
            format!(
                "apiVersion: weir/v1\nname: p\nsource:\n  type: file\n  path: {}\n  batch_size: 50\n\
                 transforms:\n  - plugin: {}\n\
                 sink:\n  url: {}\n  format: jsonl\n  prefix: \"out/\"\n  buffer:\n    max_records: 100\n",
                dir.join("input.ndjson").display(),
                plugin.display(),
                dir.join("lake").display()
            ),
        )
        .unwrap();
        let (pipelines, state) = (dir.join("pipelines"), dir.join("state"));
        crash(&pipelines, &state, point, 4);
        for _ in 0..2 {
            run_within(
                &mut weir_run(&pipelines, &state),
                std::time::Duration::from_secs(120),
            );
        }
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let mut ids = BTreeMap::new();
        for row in runtime
            .block_on(read_dir_lake(&dir.join("lake")))
            .values()
            .flatten()
        {
            let v: serde_json::Value = serde_json::from_str(row).unwrap();
            *ids.entry(v["id"].as_u64().unwrap()).or_insert(0u32) += 1;
        }
        let twice: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).take(5).collect();
        assert!(twice.is_empty(), "{point}: written twice: {twice:?}");
        assert!(
            ids.len() > 500 && ids.len() < 1500,
            "{point}: about half kept: {}",
            ids.len()
        );
        eprintln!(
            "coin plugin, crash at {point:15}: {} of 2000 kept, none twice",
            ids.len()
        );
    }
}

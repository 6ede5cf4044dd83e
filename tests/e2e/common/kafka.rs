//! Kafka for the end-to-end tests: a tansu broker on loopback, an independent client
//! (confluent-kafka, through `kafka_tool.py`) to create topics, produce and read the
//! group's offsets, and the P1 pipeline reading the `orders` topic.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use object_store::ObjectStoreExt;

use super::daemon::Daemon;
use super::orders::{append_orders, p1_pipeline, s3_env};
use super::{Server, free_port, python_script, s3, wait_for_port, weir_run};

/// A tansu broker with in-memory storage on a free loopback port: (server, `host:port`).
pub fn start_broker() -> (Server, String) {
    let port = free_port();
    let url = format!("tcp://127.0.0.1:{port}");
    let child = Command::new("tansu")
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        .args(["--storage-engine", "memory://tansu/"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tansu is not installed; run the test command from the README (tests/run-all.sh)");
    let server = Server(child);
    wait_for_port(port, "the tansu broker");
    (server, format!("127.0.0.1:{port}"))
}

pub fn kafka_tool(broker: &str, args: &[&str]) -> String {
    let mut all = vec![broker];
    all.extend_from_slice(args);
    python_script("kafka_tool.py", &all, "confluent-kafka")
}

pub fn create_topic(broker: &str, topic: &str, partitions: u32) {
    kafka_tool(broker, &["create", topic, &partitions.to_string()]);
}

/// The group's committed offset per partition (`"0"`, `"1"`, ...).
pub fn committed(broker: &str, group: &str, topic: &str) -> BTreeMap<String, i64> {
    let json = kafka_tool(broker, &["committed", group, topic]);
    serde_json::from_str(json.trim()).unwrap()
}

/// The end offset of each of `partitions` partitions once `total` records were produced
/// over them in turn. (Computed: tansu's high watermarks lag behind what it serves.)
pub fn ends_after(total: i64, partitions: i64) -> BTreeMap<String, i64> {
    (0..partitions)
        .map(|p| {
            let n = total / partitions + i64::from(p < total % partitions);
            (p.to_string(), n)
        })
        .collect()
}

/// P1 over the `orders` topic into `url`, in Kafka Connect's layout (a folder per topic
/// and partition), with `extra` top-level lines. A killed member stays in the group
/// until its session times out: a short timeout lets another take over sooner.
/// tansu 0.6 answers a fetch from inside a record batch with the next batch
/// (`dynostore.rs`, `fetch`: `offsets.split_off(&offset)` keeps the batches whose base
/// offset is at or after the fetch offset), so a resumed partition is fetched from
/// 10,000 offsets earlier (librdkafka's largest batch) and the records before the
/// resume point skipped.
pub fn kafka_pipeline(dir: &Path, broker: &str, url: &str, extra: &str) {
    let source = format!(
        "  type: kafka\n  brokers: \"{broker}\"\n  topics: [orders]\n  group: weir-orders\n  start: earliest\n  seek_back: 10000\n  options:\n    session.timeout.ms: \"6000\"\n    heartbeat.interval.ms: \"1000\"\n"
    );
    p1_pipeline(dir, &source, url, "1s", extra);
    let file = dir.join("pipelines/p1.yaml");
    let text = std::fs::read_to_string(&file).unwrap().replace(
        "prefix: \"orders/day=",
        "prefix: \"topics/!{partition:topic}/partition=!{partition:partition}/day=",
    );
    std::fs::write(file, text).unwrap();
}

/// Produces orders `from..to` (plus `extra` raw lines) over the topic's partitions in
/// turn, starting at partition 0.
pub fn produce(dir: &Path, broker: &str, (from, to): (u64, u64), extra: &str) {
    let input = dir.join("produce.ndjson");
    let _ = std::fs::remove_file(&input);
    append_orders(&input, from, to, to.max(1));
    if !extra.is_empty() {
        let mut text = std::fs::read_to_string(&input).unwrap();
        text.push_str(extra);
        std::fs::write(&input, text).unwrap();
    }
    kafka_tool(broker, &["produce", "orders", input.to_str().unwrap()]);
}

/// Waits (up to `limit`) until the daemon reports every partition durable at its end
/// offset; returns how long that took.
pub fn wait_durable(daemon: &Daemon, ends: &BTreeMap<String, i64>, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let status = daemon.pipeline("p1");
        let at = |p: &String| status["positions"][format!("orders-{p}")].as_i64();
        if ends.iter().all(|(p, end)| at(p) == Some(*end)) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "not durable after {limit:?}: {} (ends {ends:?})",
            status["positions"]
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The positions stored in S3 per partition (`weir-state/p1/partitions/*.json`).
pub fn stored_positions(endpoint: &str, partitions: i64) -> BTreeMap<String, i64> {
    let store = s3(endpoint, "lake").build().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut out = BTreeMap::new();
    for p in 0..partitions {
        let id = format!("orders-{p}");
        let path = object_store::path::Path::from(format!("weir-state/p1/partitions/{id}.json"));
        let Ok(got) = runtime.block_on(store.get(&path)) else {
            continue;
        };
        let bytes = runtime.block_on(got.bytes()).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        if let Some(n) = doc["positions"][&id].as_i64() {
            out.insert(p.to_string(), n);
        }
    }
    out
}

/// Waits (up to `limit`) until the state in S3 has every partition at its end offset.
pub fn wait_stored(endpoint: &str, ends: &BTreeMap<String, i64>, limit: Duration) {
    let start = Instant::now();
    loop {
        let stored = stored_positions(endpoint, ends.len() as i64);
        if stored == *ends {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "timed out waiting for the stored positions {stored:?} to reach {ends:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `weir run` on `dir/pipelines` with `state` as its local state directory, writing to
/// the moto server at `endpoint`.
pub fn daemon_cmd(dir: &Path, state: &Path, endpoint: &str) -> Command {
    let mut cmd = weir_run(&dir.join("pipelines"), state);
    s3_env(&mut cmd, endpoint);
    cmd
}

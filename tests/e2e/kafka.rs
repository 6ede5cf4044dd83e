//! The Kafka source against a real broker (tansu on loopback) and a real S3 server
//! (moto): order events produced by an independent client (confluent-kafka) are
//! archived into Parquet exactly once — a million over six partitions, across SIGKILLs
//! at random moments, from a start time, and with a fifth of S3 requests failing
//! through a fault-injecting proxy — and the group's committed offsets follow what is
//! durable. Poison records go to the error prefix and their offsets are committed too.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::daemon::{Daemon, http_get, http_request};
use common::kafka::*;
use common::orders::*;
use common::*;

/// How many times each order number is in a local lake.
fn order_ids(lake: &Path) -> BTreeMap<u64, u32> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut ids = BTreeMap::new();
    for rows in runtime.block_on(read_dir_lake(lake)).into_values() {
        for row in rows {
            let v: serde_json::Value = serde_json::from_str(&row).unwrap();
            let id = v["order_id"].as_str().unwrap().trim_start_matches("ord-");
            *ids.entry(id.parse::<u64>().unwrap()).or_insert(0) += 1;
        }
    }
    ids
}

#[test]
fn a_million_records_over_six_partitions_are_archived_once_and_their_offsets_committed() {
    const RECORDS: u64 = 1_000_000;
    let (_broker_server, broker) = start_broker();
    let (_moto, endpoint) = start_moto();
    create_bucket(&endpoint, "lake");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    create_topic(&broker, "orders", 6);
    kafka_pipeline(dir, &broker, "s3://lake/p1", "");
    // Poison records: two that are not JSON, one that breaks the schema. They go to the
    // error prefix and their offsets are committed like the others'.
    let poison = "not json\n{\"truncated\": \n{\"order_id\": 12}\n";
    produce(dir, &broker, (0, RECORDS), poison);
    let ends = ends_after(RECORDS as i64 + 3, 6);

    let daemon = Daemon::with_admin(daemon_cmd(dir, &dir.join("state"), &endpoint), "weir");
    let took = wait_durable(&daemon, &ends, Duration::from_secs(400));
    eprintln!("{RECORDS} records durable in {took:?}");
    let dead = |kind: &str| {
        daemon.metric(&format!(
            "weir_dead_letters_total{{pipeline=\"p1\",error_type=\"{kind}\"}}"
        ))
    };
    assert_eq!(
        dead("invalid-json"),
        2.0,
        "both bad records are dead letters"
    );
    assert_eq!(
        dead("schema-mismatch"),
        1.0,
        "the record breaking the schema too"
    );
    wait_until("the group's offsets to be committed", || {
        committed(&broker, "weir-orders", "orders") == ends
    });
    assert!(daemon.stop().success());

    let (rows, ids, unfinished) = check_lake(&["s3", &endpoint, "lake"]);
    assert_eq!((rows, ids), (RECORDS, RECORDS), "every record exactly once");
    assert!(unfinished.is_empty(), "{unfinished:?}");
    let keys = s3_keys(&endpoint, "lake");
    assert!(
        keys.iter().any(|k| k.starts_with("p1/errors/")),
        "the poison records are under the error prefix: {keys:?}"
    );
    for p in 0..6 {
        let folder = format!("p1/topics/orders/partition={p}/");
        assert!(
            keys.iter().any(|k| k.starts_with(&folder)),
            "no object under {folder}: {keys:?}"
        );
    }
}

#[test]
fn kills_at_random_moments_lose_and_duplicate_nothing() {
    const RECORDS: u64 = 150_000;
    let (_broker_server, broker) = start_broker();
    let (_moto, endpoint) = start_moto();
    create_bucket(&endpoint, "lake");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    create_topic(&broker, "orders", 3);
    kafka_pipeline(dir, &broker, "s3://lake/p1", "");
    produce(dir, &broker, (0, RECORDS), "");
    let ends = ends_after(RECORDS as i64, 3);
    let state = dir.join("state");

    let mut rng = fastrand::Rng::with_seed(0x6b61_666b);
    let mut live_kills = 0;
    for round in 0..10 {
        let daemon = Daemon::start(daemon_cmd(dir, &state, &endpoint), None);
        let assigned = daemon.wait_for("partitions assigned", Duration::from_secs(60));
        assert!(assigned, "round {round}: no partition was assigned");
        let after = Duration::from_millis(rng.u64(200..2_500));
        std::thread::sleep(after);
        live_kills += daemon.kill() as usize;
        eprintln!("round {round}: killed {after:?} after the assignment");
    }
    assert!(
        live_kills >= 10,
        "only {live_kills} kills found the daemon running"
    );
    let daemon = Daemon::with_admin(daemon_cmd(dir, &state, &endpoint), "final");
    wait_durable(&daemon, &ends, Duration::from_secs(120));
    assert!(daemon.stop().success());
    let (rows, ids, unfinished) = check_lake(&["s3", &endpoint, "lake"]);
    assert_eq!((rows, ids), (RECORDS, RECORDS), "every record exactly once");
    assert!(unfinished.is_empty(), "{unfinished:?}");
}

#[test]
fn a_pipeline_started_at_a_time_archives_exactly_the_records_from_then_on() {
    let (_broker_server, broker) = start_broker();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    create_topic(&broker, "orders", 3);
    // Orders 0..9,000 were produced at 10:00, orders 9,000..15,000 at 12:00.
    let (ten, noon) = (1_795_168_800_000_i64, 1_795_176_000_000_i64);
    let input = dir.join("produce.ndjson");
    append_orders(&input, 0, 9_000, 15_000);
    kafka_tool(
        &broker,
        &[
            "produce",
            "orders",
            input.to_str().unwrap(),
            &ten.to_string(),
        ],
    );
    std::fs::remove_file(&input).unwrap();
    append_orders(&input, 9_000, 15_000, 15_000);
    kafka_tool(
        &broker,
        &[
            "produce",
            "orders",
            input.to_str().unwrap(),
            &noon.to_string(),
        ],
    );
    // Each run of the producer starts over at partition 0.
    let ends: BTreeMap<String, i64> = ends_after(9_000, 3)
        .into_iter()
        .zip(ends_after(6_000, 3).into_values())
        .map(|((p, a), b)| (p, a + b))
        .collect();

    kafka_pipeline(dir, &broker, "../lake", "");
    let file = dir.join("pipelines/p1.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("start: earliest", "start: \"2026-11-20T11:00:00Z\""),
    )
    .unwrap();
    let daemon = Daemon::with_admin(weir_run(&dir.join("pipelines"), &dir.join("state")), "weir");
    wait_durable(&daemon, &ends, Duration::from_secs(120));
    assert!(daemon.stop().success());
    let ids = order_ids(&dir.join("lake"));
    assert_eq!(
        ids.len(),
        6_000,
        "only the records produced after the start time"
    );
    assert_eq!(ids.keys().next(), Some(&9_000));
    assert!(ids.values().all(|n| *n == 1), "each once");
}

/// The fault proxy (`fault_proxy.py`) in front of the moto server at `endpoint`.
fn start_fault_proxy(endpoint: &str, faults: f64, slow: f64) -> (Server, String) {
    let port = free_port();
    let upstream = endpoint.rsplit(':').next().unwrap();
    let child = std::process::Command::new("python3")
        .arg(root().join("tests/py/fault_proxy.py"))
        .args([
            &port.to_string(),
            upstream,
            &faults.to_string(),
            &slow.to_string(),
            "7",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    wait_for_port(port, "the fault proxy");
    (server, format!("http://127.0.0.1:{port}"))
}

/// The peak resident memory of a process, in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024.0
}

/// A broker, moto behind the fault proxy, and P1 over a 3-partition `orders` topic
/// writing to `s3://lake/p1` through the proxy with a memory budget.
/// Destructure it with `_servers` bound: the servers stop when that is dropped.
struct ViaProxy {
    _servers: [Server; 3],
    broker: String,
    /// moto itself, to read the lake back.
    endpoint: String,
    /// The proxy's URL, which the daemon writes to.
    proxy: String,
    tmp: tempfile::TempDir,
}

fn via_proxy(faults: f64, slow: f64, budget: &str) -> ViaProxy {
    let (broker_server, broker) = start_broker();
    let (moto, endpoint) = start_moto();
    create_bucket(&endpoint, "lake");
    let (proxy_server, proxy) = start_fault_proxy(&endpoint, faults, slow);
    let tmp = tempfile::tempdir().unwrap();
    create_topic(&broker, "orders", 3);
    let budget = format!("    memory_budget: {budget}\n");
    kafka_pipeline(tmp.path(), &broker, "s3://lake/p1", &budget);
    ViaProxy {
        _servers: [broker_server, moto, proxy_server],
        broker,
        endpoint,
        proxy,
        tmp,
    }
}

/// The sum over P1's three partitions of a per-partition metric.
fn partitions_sum(daemon: &Daemon, metric: &str) -> f64 {
    (0..3)
        .map(|p| {
            daemon.metric(&format!(
                "{metric}{{pipeline=\"p1\",partition=\"orders-{p}\"}}"
            ))
        })
        .sum()
}

#[test]
fn s3_failing_a_fifth_of_requests_loses_and_duplicates_nothing_within_the_budget() {
    const RECORDS: u64 = 200_000;
    const BUDGET_MIB: f64 = 64.0;
    // 20 % of requests fail (503 SlowDown, 500, connection dropped before the request
    // or after it reached the store); 10 % wait 0.2-1 s.
    let ViaProxy {
        broker,
        endpoint,
        proxy: faulty,
        tmp,
        _servers,
    } = via_proxy(0.2, 0.1, "64MiB");
    let dir = tmp.path();
    produce(dir, &broker, (0, RECORDS), "");
    let ends = ends_after(RECORDS as i64, 3);

    let daemon = Daemon::with_admin(daemon_cmd(dir, &dir.join("state"), &faulty), "faults");
    let took = wait_durable(&daemon, &ends, Duration::from_secs(300));
    let retries = daemon.metric("weir_object_store_retries_total{pipeline=\"p1\"}");
    let rss = peak_rss_mib(daemon.child.id());
    let injected = http_get(faulty.trim_start_matches("http://"), "/__faults");
    eprintln!(
        "durable after {took:?}; faults injected {injected}; {retries} object writes retried by Weir; peak RSS {rss:.0} MiB at a {BUDGET_MIB} MiB budget"
    );
    let injected: serde_json::Value = serde_json::from_str(&injected).unwrap();
    assert!(
        injected["requests"].as_u64().unwrap() >= 50
            && injected["drop_after"].as_u64().unwrap() > 0,
        "the proxy saw the traffic and failed some of it: {injected}"
    );
    assert!(daemon.stop().success());
    let (rows, ids, unfinished) = check_lake(&["s3", &endpoint, "lake"]);
    assert_eq!((rows, ids), (RECORDS, RECORDS), "every record exactly once");
    assert!(unfinished.is_empty(), "uploads left: {unfinished:?}");
    // The budget bounds the data held; the process adds the consumer's 16 MiB
    // prefetch, decode threads, encoders and the allocator's slack (budget + 56 MiB
    // measured in a release build without Kafka; this is the unoptimised test build).
    assert!(
        rss < BUDGET_MIB + 160.0,
        "peak RSS {rss:.0} MiB at a {BUDGET_MIB} MiB budget"
    );
}

/// S3 hanging for 25 s, more than three times `max.poll.interval.ms` (8 s): the
/// pipeline fills, and the consumer pauses its partitions and keeps polling instead of
/// blocking, so the member never leaves the group (no partition is revoked or lost) and
/// carries on where it was once S3 answers again. The lag metric shows the records
/// waiting meanwhile, and none once they are durable; the committed-offset metric
/// ends at each partition's end.
#[test]
fn s3_hanging_past_the_poll_interval_pauses_the_partitions_without_leaving_the_group() {
    const RECORDS: u64 = 120_000;
    let ViaProxy {
        broker,
        endpoint,
        proxy,
        tmp,
        _servers,
    } = via_proxy(0.0, 0.0, "8MiB");
    let dir = tmp.path();
    let file = dir.join("pipelines/p1.yaml");
    let text = std::fs::read_to_string(&file).unwrap().replace(
        "    heartbeat.interval.ms: \"1000\"\n",
        "    heartbeat.interval.ms: \"1000\"\n    max.poll.interval.ms: \"8000\"\n",
    );
    std::fs::write(&file, text).unwrap();
    produce(dir, &broker, (0, RECORDS / 4), "");
    let daemon = Daemon::with_admin(daemon_cmd(dir, &dir.join("state"), &proxy), "stall");
    wait_durable(
        &daemon,
        &ends_after(RECORDS as i64 / 4, 3),
        Duration::from_secs(120),
    );

    let proxy_addr = proxy.trim_start_matches("http://");
    http_request(proxy_addr, "POST", "/__stall?seconds=25");
    produce(dir, &broker, (RECORDS / 4, RECORDS), "");
    let lag = || partitions_sum(&daemon, "weir_source_lag_records");
    // The lag is measured every 5 s: high watermark minus the durable offset. tansu
    // may answer the high watermark as the base of the last record batch (up to 10,000
    // records early), so the bound below is loose.
    std::thread::sleep(Duration::from_secs(12));
    let stalled_lag = lag();
    assert!(
        (45_000.0..=90_000.0).contains(&stalled_lag),
        "lag while S3 hangs: {stalled_lag} (90,000 records are not durable)"
    );
    std::thread::sleep(Duration::from_secs(13));
    wait_durable(
        &daemon,
        &ends_after(RECORDS as i64, 3),
        Duration::from_secs(180),
    );
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(lag(), 0.0, "lag once every record is durable");
    let committed = || partitions_sum(&daemon, "weir_source_committed_offset");
    // Measured every 5 s, like the lag, once the group's commit has landed.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while committed() != RECORDS as f64 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        committed(),
        RECORDS as f64,
        "committed offsets in the metrics"
    );
    let stalled: serde_json::Value =
        serde_json::from_str(&http_get(proxy_addr, "/__faults")).unwrap();
    assert!(
        stalled["stalled"].as_u64().unwrap() > 0,
        "no request was held: {stalled}"
    );
    let rebalances = |kind: &str| {
        daemon.metric(&format!(
            "weir_source_rebalances_total{{pipeline=\"p1\",kind=\"{kind}\"}}"
        ))
    };
    assert_eq!(
        (rebalances("revoked"), rebalances("lost")),
        (0.0, 0.0),
        "the member left the group while S3 hung"
    );
    assert!(daemon.stop().success());
    let (rows, ids, unfinished) = check_lake(&["s3", &endpoint, "lake"]);
    assert_eq!((rows, ids), (RECORDS, RECORDS), "every record exactly once");
    assert!(unfinished.is_empty(), "uploads left: {unfinished:?}");
}

/// A Kafka pipeline changed three times while records arrive: each new version takes
/// the group's partitions from where the drained one committed.
#[test]
fn a_kafka_pipeline_reloaded_while_records_arrive_archives_each_once() {
    const RECORDS: u64 = 60_000;
    let (_broker_server, broker) = start_broker();
    let (_moto, endpoint) = start_moto();
    create_bucket(&endpoint, "lake");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    create_topic(&broker, "orders", 3);
    kafka_pipeline(dir, &broker, "s3://lake/p1", "");
    let file = dir.join("pipelines/p1.yaml");
    let mut cmd = weir_daemon(&dir.join("pipelines"), &dir.join("state"));
    s3_env(&mut cmd, &endpoint);
    let daemon = Daemon::with_admin(cmd, "weir");
    produce(dir, &broker, (0, RECORDS / 2), "");
    let mut last = 0;
    for i in 1..=3u64 {
        std::thread::sleep(Duration::from_secs(2));
        let text = std::fs::read_to_string(&file).unwrap();
        let interval = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("interval: "))
            .unwrap()
            .to_string();
        std::fs::write(
            &file,
            text.replace(
                &format!("interval: {interval}"),
                &format!("interval: {}ms", 1000 + i),
            ),
        )
        .unwrap();
        let saved = std::time::Instant::now();
        let reload = loop {
            let r = daemon.pipeline("p1")["last_reload"].clone();
            if r["result"] == "applied" && r["at_ms"].as_u64().unwrap() > last {
                break r;
            }
            assert!(
                saved.elapsed() < Duration::from_secs(60),
                "version {i} not applied: {r}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        last = reload["at_ms"].as_u64().unwrap();
        if i == 2 {
            produce(dir, &broker, (RECORDS / 2, RECORDS), "");
        }
    }
    wait_durable(
        &daemon,
        &ends_after(RECORDS as i64, 3),
        Duration::from_secs(300),
    );
    assert!(daemon.stop().success());
    let (rows, ids, unfinished) = check_lake(&["s3", &endpoint, "lake"]);
    assert_eq!((rows, ids), (RECORDS, RECORDS), "every record exactly once");
    assert!(unfinished.is_empty(), "{unfinished:?}");
}

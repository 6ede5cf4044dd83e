//! Pipeline state in S3 (moto on loopback), with its lease. A pipeline whose state is in
//! the bucket survives SIGKILL at random moments even though every restart gets a fresh,
//! empty local state directory. Two daemons on one pipeline: one writes, the other
//! stands by and takes over when the first is killed; a writer paused past its lease
//! (SIGSTOP) finds the lease gone when it resumes (SIGCONT) and stops without writing.
//! Each time the lake must hold every record exactly once (read back with DuckDB).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::orders::*;
use common::*;
use object_store::ObjectStoreExt;

const LEASE: Duration = Duration::from_secs(2);

/// The P1 pipeline reading `input/orders.ndjson` into `s3://lake/p1`, state beside it.
fn pipeline(dir: &Path, mode: &str) {
    std::fs::create_dir_all(dir.join("input")).unwrap();
    let source = format!(
        "  type: file\n  path: ../input/orders.ndjson\n  mode: {mode}\n  batch_size: 5000\n"
    );
    let state = format!(
        "state:\n  url: s3://lake/weir-state\n  lease: {}s\n",
        LEASE.as_secs()
    );
    p1_pipeline(dir, &source, "s3://lake/p1", "1s", &state);
}

fn daemon_cmd(dir: &Path, state_dir: &Path, endpoint: &str) -> Command {
    let mut cmd = weir_run(&dir.join("pipelines"), state_dir);
    s3_env(&mut cmd, endpoint);
    cmd
}

/// The pipeline's state object as stored in the bucket.
fn stored_state(endpoint: &str) -> serde_json::Value {
    let store = s3(endpoint, "lake").build().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bytes = runtime.block_on(async {
        let path = object_store::path::Path::from("weir-state/p1/state.json");
        store.get(&path).await.unwrap().bytes().await.unwrap()
    });
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn state_in_s3_survives_kills_with_an_empty_local_state_directory_each_time() {
    const RECORDS: u64 = 300_000;
    let (_moto, endpoint) = start_moto();
    create_bucket(&endpoint, "lake");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    pipeline(dir, "once");
    orders_file(&dir.join("input/orders.ndjson"), RECORDS);
    let mut rng = fastrand::Rng::with_seed(0x1ea5e);
    let mut live_kills = 0;
    for round in 0..6 {
        let fresh = tempfile::tempdir().unwrap();
        let daemon = Daemon::start(daemon_cmd(dir, fresh.path(), &endpoint), None);
        // A killed holder's lease must expire first: aim after the takeover.
        let holding = daemon.wait_for("holding the pipeline's lease", Duration::from_secs(60));
        assert!(holding, "round {round}: the lease was never taken");
        let after = Duration::from_millis(rng.u64(300..2_500));
        std::thread::sleep(after);
        let alive = daemon.kill();
        live_kills += alive as usize;
        let positions = stored_state(&endpoint)["positions"].to_string();
        eprintln!(
            "round {round}: killed {after:?} after taking the lease (alive: {alive}); stored positions {positions}"
        );
        assert!(
            !fresh.path().join("p1").exists(),
            "nothing of the pipeline's state is kept on local disk"
        );
    }
    assert!(
        live_kills >= 5,
        "only {live_kills} kills found the daemon running"
    );
    for _ in 0..2 {
        let fresh = tempfile::tempdir().unwrap();
        let out = run_within(
            &mut daemon_cmd(dir, fresh.path(), &endpoint),
            Duration::from_secs(300),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !fresh.path().join("p1/positions.json").exists(),
            "positions live in the bucket, not on local disk"
        );
        eprintln!("final run: {}", String::from_utf8_lossy(&out.stdout).trim());
    }
    let state = stored_state(&endpoint);
    assert_eq!(
        state["lease"]["holder"],
        serde_json::Value::Null,
        "released at a clean stop"
    );
    assert!(state["cuts"].as_array().unwrap().is_empty(), "{state}");
    let binding = &state["source"]["files"]["orders_ndjson"];
    assert!(
        binding["ino"].is_u64(),
        "the file's binding is in the state: {state}"
    );
    let (rows, ids, unfinished) = check_lake(&["s3", &endpoint, "lake"]);
    assert_eq!((rows, ids), (RECORDS, RECORDS), "every record exactly once");
    assert!(
        unfinished.is_empty(),
        "uploads left unfinished: {unfinished:?}"
    );
}

/// Appends orders `from..to` and waits until `daemon` reports them all durable.
fn feed(dir: &Path, daemon: &Daemon, from: u64, to: u64) {
    let input = dir.join("input/orders.ndjson");
    append_orders(&input, from, to, 1_000_000);
    let size = std::fs::metadata(&input).unwrap().len();
    wait_until("the new records to be durable", || {
        let status = daemon.pipeline("p1");
        let positions = status["positions"].as_object().cloned().unwrap_or_default();
        positions.values().any(|p| p.as_u64() == Some(size))
    });
}

fn state_of(daemon: &Daemon) -> String {
    daemon.pipeline("p1")["state"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Waits for a daemon to reach `state`; returns how long it took.
fn wait_state(daemon: &Daemon, state: &str) -> Duration {
    let started = Instant::now();
    wait_until(&format!("the daemon to be {state}"), || {
        state_of(daemon) == state
    });
    started.elapsed()
}

fn objects_written(daemon: &Daemon) -> f64 {
    daemon.metric("weir_objects_written_total{pipeline=\"p1\"}")
}

#[test]
fn two_daemons_share_a_pipeline_one_writing_one_standing_by() {
    let (_moto, endpoint) = start_moto();
    create_bucket(&endpoint, "lake");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    pipeline(dir, "follow");
    std::fs::write(dir.join("input/orders.ndjson"), "").unwrap();
    let state_dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let start = |i: usize, tag: &str| {
        Daemon::with_admin(daemon_cmd(dir, state_dirs[i].path(), &endpoint), tag)
    };

    let a = start(0, "a");
    wait_state(&a, "running");
    let b = start(1, "b");
    wait_state(&b, "standby");
    feed(dir, &a, 0, 40_000);
    assert_eq!(state_of(&b), "standby", "the standby never writes");

    // The writer dies: the standby takes over within the lease time.
    assert!(a.kill());
    let took = wait_state(&b, "running");
    eprintln!("standby took over {took:?} after the holder was killed (lease {LEASE:?})");
    assert!(took <= LEASE + Duration::from_millis(1500), "took {took:?}");
    feed(dir, &b, 40_000, 80_000);

    // The writer pauses past its lease: a new standby takes over; the paused one,
    // resumed, finds the lease gone and stops without writing.
    let c = start(2, "c");
    wait_state(&c, "standby");
    let before = objects_written(&b);
    b.signal("STOP");
    let took = wait_state(&c, "running");
    eprintln!("standby took over {took:?} after the holder was paused");
    feed(dir, &c, 80_000, 120_000);
    b.signal("CONT");
    wait_until("the resumed daemon to stand by", || {
        matches!(state_of(&b).as_str(), "standby" | "restarting")
    });
    let last_error = b.pipeline("p1")["last_error"].to_string();
    assert!(last_error.contains("lease"), "{last_error}");
    assert_eq!(
        objects_written(&b),
        before,
        "the fenced daemon wrote no object"
    );
    let (puts, flushed) = (c.state_puts("p1"), c.flushes("p1"));
    feed(dir, &c, 120_000, 150_000);
    assert_eq!(objects_written(&b), before);
    let (puts, flushed) = (c.state_puts("p1") - puts, c.flushes("p1") - flushed);
    eprintln!(
        "state in S3: {puts} state writes for {flushed} flushes while records flowed ({:.2} per flush, lease renewals included)",
        puts / flushed.max(1.0)
    );
    assert!(c.stop().success());
    assert!(b.stop().success());
    let (rows, ids, unfinished) = check_lake(&["s3", &endpoint, "lake"]);
    assert_eq!((rows, ids), (150_000, 150_000), "every record exactly once");
    assert!(
        unfinished.is_empty(),
        "uploads left unfinished: {unfinished:?}"
    );
}

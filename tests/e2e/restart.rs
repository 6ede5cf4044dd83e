//! Restart: a following file source is stopped with SIGTERM while lines are still being
//! appended, then started again; every input record must be in the lake exactly once,
//! and after each stop the lake must hold exactly the records before the stored position.
//! The same holds when the daemon is killed outright (SIGKILL) mid-stream, several
//! times: the cut ledger makes the replayed flushes land in the same objects.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use common::*;

fn line(i: u64) -> String {
    let region = ["eu", "us", "ap"][(i % 3) as usize];
    format!(
        "{{\"id\": {i}, \"at\": \"2026-04-0{}T{:02}:{:02}:00Z\", \"customer\": {{\"region\": \"{region}\"}}, \"amount\": {}.5}}\n",
        1 + i % 2,
        (i / 60) % 24,
        i % 60,
        i % 1000
    )
}

fn append(file: &Path, range: std::ops::Range<u64>) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .unwrap();
    let text: String = range.map(line).collect();
    f.write_all(text.as_bytes()).unwrap();
}

fn position(state: &Path) -> u64 {
    std::fs::read(state.join("restart/positions.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<BTreeMap<String, u64>>(&b).ok())
        .and_then(|m| m.get("events_ndjson").copied())
        .unwrap_or(0)
}

/// Number of input lines that start before `offset`.
fn lines_before(file: &Path, offset: u64) -> u64 {
    let text = std::fs::read(file).unwrap();
    let mut start = 0u64;
    let mut n = 0;
    for l in text.split_inclusive(|b| *b == b'\n') {
        if start >= offset {
            break;
        }
        n += 1;
        start += l.len() as u64;
    }
    n
}

/// A following file pipeline in `dir` with time- and size-triggered flushes.
fn setup(dir: &Path, prefix: &str, max_records: u32) -> std::path::PathBuf {
    std::fs::create_dir(dir.join("pipelines")).unwrap();
    std::fs::create_dir(dir.join("input")).unwrap();
    std::fs::write(
        dir.join("pipelines/restart.yaml"),
        format!(
            "apiVersion: weir/v1\nname: restart\nsource:\n  type: file\n  path: ../input/events.ndjson\n  mode: follow\n  poll_interval: 50ms\n  batch_size: 250\nschema:\n  registry: {}\n  subject: events\nsink:\n  url: ../lake\n  prefix: \"{prefix}\"\n  time:\n    field: at\n  buffer:\n    max_records: {max_records}\n    interval: 300ms\n    idle: 200ms\n",
            root().join("tests/golden/schemas").display()
        ),
    )
    .unwrap();
    dir.join("input/events.ndjson")
}

fn start(dir: &Path) -> Child {
    weir_run(&dir.join("pipelines"), &dir.join("state"))
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_stream_then_restart_delivers_each_record_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let input = setup(dir, "day=!{timestamp:dd}/hour=!{timestamp:HH}/", 1_000_000);
    let (state, lake) = (dir.join("state"), dir.join("lake"));
    let start = || start(dir);

    append(&input, 0..10_000);
    let daemon = start();
    let size = std::fs::metadata(&input).unwrap().len();
    wait_until("the first 10000 lines", || position(&state) == size);
    // Keep appending while the daemon reads, and stop it in the middle.
    for chunk in 0..20 {
        append(&input, 10_000 + chunk * 500..10_000 + (chunk + 1) * 500);
        std::thread::sleep(Duration::from_millis(10));
    }
    terminate(daemon);

    let committed = position(&state);
    eprintln!(
        "stopped at byte {committed} of {}",
        std::fs::metadata(&input).unwrap().len()
    );
    let ids = ids_in(&lake).await;
    let expected = lines_before(&input, committed);
    assert!(
        expected >= 10_000,
        "the first part was delivered before the stop"
    );
    assert_eq!(
        ids.len() as u64,
        expected,
        "the lake holds exactly the records before the stored position"
    );
    assert!(
        ids.values().all(|n| *n == 1),
        "no record twice after the stop"
    );
    assert_eq!(
        ids.keys().copied().collect::<Vec<_>>(),
        (0..expected).collect::<Vec<_>>()
    );

    append(&input, 20_000..30_000);
    let daemon = start();
    let size = std::fs::metadata(&input).unwrap().len();
    wait_until("all 30000 lines", || position(&state) == size);
    terminate(daemon);

    let ids = ids_in(&lake).await;
    assert_eq!(ids.len(), 30_000);
    assert!(ids.values().all(|n| *n == 1), "every record exactly once");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_stream_repeatedly_still_delivers_each_record_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let input = setup(
        dir,
        "region=!{field:customer.region}/hour=!{timestamp:HH}/",
        700,
    );
    let (state, lake) = (dir.join("state"), dir.join("lake"));
    let mut next = 0;
    for round in 0..4u64 {
        let mut daemon = start(dir);
        // Append while the daemon reads and flushes on its timers, then kill it outright.
        for _ in 0..8 {
            append(&input, next..next + 500);
            next += 500;
            std::thread::sleep(Duration::from_millis(40 + round * 35));
        }
        daemon.kill().unwrap();
        daemon.wait().unwrap();
        let ids = ids_in(&lake).await;
        assert!(
            ids.values().all(|n| *n == 1),
            "round {round}: a record was written twice after SIGKILL"
        );
    }
    let daemon = start(dir);
    let size = std::fs::metadata(&input).unwrap().len();
    wait_until("all lines after the kills", || position(&state) == size);
    terminate(daemon);
    let ids = ids_in(&lake).await;
    assert_eq!(ids.len() as u64, next, "every record reached the lake");
    assert!(ids.values().all(|n| *n == 1), "every record exactly once");
}

//! Stored positions only move forward. Regression tests for "a run with nothing new to
//! read stores empty positions, so the run after it reads everything again": every
//! pipeline here is run again after it finished, restarted with nothing new, and
//! grown in only one of its partitions.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use common::*;

fn positions(state: &Path, pipeline: &str) -> BTreeMap<String, u64> {
    let bytes = std::fs::read(state.join(pipeline).join("positions.json")).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn positions_bytes(state: &Path, pipeline: &str) -> Vec<u8> {
    std::fs::read(state.join(pipeline).join("positions.json")).unwrap()
}

/// Every file under `lake`, with its size: a run that writes nothing leaves it as it was.
fn files(lake: &Path) -> BTreeMap<PathBuf, u64> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![lake.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                out.insert(path, entry.metadata().unwrap().len());
            }
        }
    }
    out
}

/// The closing summary line `weir run` prints for `pipeline`.
fn summary(out: &std::process::Output, pipeline: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find(|l| l.starts_with(&format!("{pipeline}:")))
        .unwrap_or_else(|| panic!("no summary for {pipeline} in {stdout}"))
        .to_string()
}

fn append(file: &Path, ids: std::ops::Range<u64>) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .unwrap();
    for i in ids {
        writeln!(
            f,
            "{{\"id\": {i}, \"at\": \"2026-04-01T{:02}:00:00Z\"}}",
            i % 24
        )
        .unwrap();
    }
}

/// A JSON-lines pipeline `files` over `input/*.ndjson` in `dir`.
fn file_pipeline(dir: &Path, mode: &str) {
    std::fs::create_dir_all(dir.join("pipelines")).unwrap();
    std::fs::create_dir_all(dir.join("input")).unwrap();
    std::fs::write(
        dir.join("pipelines/files.yaml"),
        format!(
            "apiVersion: weir/v1\nname: files\nsource:\n  type: file\n  path: ../input/*.ndjson\n  mode: {mode}\n  poll_interval: 50ms\nsink:\n  url: ../lake\n  format: jsonl\n  prefix: \"hour=!{{timestamp:HH}}/\"\n  time:\n    field: at\n  buffer:\n    interval: 200ms\n    idle: 100ms\n"
        ),
    )
    .unwrap();
}

fn assert_each_once(ids: &BTreeMap<u64, u32>, expected: u64) {
    assert_eq!(
        ids.keys().copied().collect::<Vec<_>>(),
        (0..expected).collect::<Vec<_>>()
    );
    assert!(ids.values().all(|n| *n == 1), "a record was written twice");
}

#[test]
fn quickstart_run_three_times_writes_its_objects_once() {
    build_plugins();
    let tmp = tempfile::tempdir().unwrap();
    let (lake, state) = (tmp.path().join("lake"), tmp.path().join("state"));
    let run = || {
        run_ok(
            weir_run(&root().join("examples/quickstart"), &state)
                .env("WEIR_QUICKSTART_LAKE", &lake),
        )
    };
    let first = summary(&run(), "quickstart");
    assert!(first.contains("19980 records in 8 objects"), "{first}");
    let (lake_after, positions_after) = (files(&lake), positions_bytes(&state, "quickstart"));
    assert_eq!(positions(&state, "quickstart")["generator"], 20_000);
    for round in 2..=3 {
        let again = summary(&run(), "quickstart");
        assert!(
            again.contains("0 records in 0 objects"),
            "run {round}: {again}"
        );
        assert_eq!(files(&lake), lake_after, "run {round} changed the lake");
        assert_eq!(
            positions_bytes(&state, "quickstart"),
            positions_after,
            "run {round} changed the stored positions"
        );
    }
}

#[tokio::test]
async fn once_pipeline_restarted_with_nothing_new_then_grown_writes_only_the_new_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    file_pipeline(dir, "once");
    let (state, lake) = (dir.join("state"), dir.join("lake"));
    let input = dir.join("input/events.ndjson");
    append(&input, 0..1_000);
    run_ok(&mut weir_run(&dir.join("pipelines"), &state));
    let (lake_after, stored) = (files(&lake), positions_bytes(&state, "files"));
    for round in 0..5 {
        let out = run_ok(&mut weir_run(&dir.join("pipelines"), &state));
        assert!(
            summary(&out, "files").contains("0 records in 0 objects"),
            "round {round}"
        );
        assert_eq!(files(&lake), lake_after, "round {round} wrote to the lake");
        assert_eq!(positions_bytes(&state, "files"), stored, "round {round}");
    }
    append(&input, 1_000..1_500);
    let out = run_ok(&mut weir_run(&dir.join("pipelines"), &state));
    assert!(summary(&out, "files").contains("500 records"));
    assert_each_once(&ids_in(&lake).await, 1_500);
}

#[tokio::test(flavor = "multi_thread")]
async fn follow_pipeline_restarted_with_nothing_new_then_grown_writes_only_the_new_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    file_pipeline(dir, "follow");
    let (state, lake) = (dir.join("state"), dir.join("lake"));
    let input = dir.join("input/events.ndjson");
    append(&input, 0..1_000);
    let size = std::fs::metadata(&input).unwrap().len();
    let at_end = || {
        std::fs::read(state.join("files/positions.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<BTreeMap<String, u64>>(&b).ok())
            .is_some_and(|p| p.get("events_ndjson") == Some(&size))
    };
    let daemon = weir_run(&dir.join("pipelines"), &state).spawn().unwrap();
    wait_until("the first 1000 lines", at_end);
    terminate(daemon);
    let (lake_after, stored) = (files(&lake), positions_bytes(&state, "files"));
    for round in 0..5 {
        let daemon = weir_run(&dir.join("pipelines"), &state).spawn().unwrap();
        // Several polls and flush intervals with nothing new.
        std::thread::sleep(std::time::Duration::from_millis(600));
        terminate(daemon);
        assert_eq!(files(&lake), lake_after, "round {round} wrote to the lake");
        assert_eq!(positions_bytes(&state, "files"), stored, "round {round}");
    }
    let daemon = weir_run(&dir.join("pipelines"), &state).spawn().unwrap();
    append(&input, 1_000..1_500);
    let size = std::fs::metadata(&input).unwrap().len();
    wait_until("the appended lines", || {
        positions(&state, "files").get("events_ndjson") == Some(&size)
    });
    terminate(daemon);
    assert_each_once(&ids_in(&lake).await, 1_500);
}

#[tokio::test]
async fn a_file_that_did_not_grow_keeps_its_position() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    file_pipeline(dir, "once");
    let state = dir.join("state");
    let (a, b) = (dir.join("input/a.ndjson"), dir.join("input/b.ndjson"));
    append(&a, 0..300);
    append(&b, 300..600);
    run_ok(&mut weir_run(&dir.join("pipelines"), &state));
    let before = positions(&state, "files");
    assert_eq!(before.len(), 2, "{before:?}");
    append(&a, 600..700);
    let out = run_ok(&mut weir_run(&dir.join("pipelines"), &state));
    assert!(summary(&out, "files").contains("100 records"));
    let after = positions(&state, "files");
    assert_eq!(after["b_ndjson"], before["b_ndjson"], "b did not grow");
    assert_eq!(after["a_ndjson"], std::fs::metadata(&a).unwrap().len());
    assert_each_once(&ids_in(&dir.join("lake")).await, 700);
}

//! Pipelines fail alone: one pipeline refused by its object store, or one that hits an
//! internal error, is reported failed with its reason while the other pipeline of the
//! daemon delivers every record; the daemon exits non-zero naming the failed one. Two
//! files that give the same pipeline name are refused before anything runs.

mod common;

use std::io::Write;
use std::path::Path;

use common::*;

const RECORDS: usize = 2_000;

fn input(dir: &Path) {
    std::fs::create_dir_all(dir.join("input")).unwrap();
    let mut f = std::fs::File::create(dir.join("input/events.ndjson")).unwrap();
    for i in 0..RECORDS {
        writeln!(
            f,
            "{{\"id\": {i}, \"at\": \"2026-04-01T{:02}:00:00Z\"}}",
            i % 24
        )
        .unwrap();
    }
}

/// A pipeline file `NAME.yaml` reading the input into `url`; `extra` is added under `sink`.
fn pipeline(dir: &Path, file: &str, name: &str, url: &str, extra: &str) {
    std::fs::create_dir_all(dir.join("pipelines")).unwrap();
    std::fs::write(
        dir.join("pipelines").join(format!("{file}.yaml")),
        format!(
            "apiVersion: weir/v1\nname: {name}\nsource:\n  type: file\n  path: ../input/events.ndjson\nsink:\n  url: {url}\n  format: jsonl\n  prefix: \"hour=!{{timestamp:HH}}/\"\n{extra}  time:\n    field: at\n"
        ),
    )
    .unwrap();
}

async fn delivered(lake: &Path) -> usize {
    read_dir_lake(lake).await.values().map(Vec::len).sum()
}

#[tokio::test]
async fn a_pipeline_refused_by_its_store_fails_alone_without_retrying() {
    let (_moto, endpoint) = start_moto();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    input(dir);
    pipeline(dir, "good", "good", "../lake", "");
    // The bucket does not exist: every write is refused (404 NoSuchBucket).
    pipeline(dir, "refused", "refused", "s3://no-such-bucket/x", "");
    let out = weir_run(&dir.join("pipelines"), &dir.join("state"))
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("refused"),
        "the failed pipeline is named: {stderr}"
    );
    assert!(
        stderr.contains("after 1 attempt(s)") && stderr.contains("retrying cannot help"),
        "a refusal is not retried: {stderr}"
    );
    assert!(!stderr.contains("write failed; retrying"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("good: {RECORDS} records")),
        "{stdout}"
    );
    assert_eq!(delivered(&dir.join("lake")).await, RECORDS);
    let stored = std::fs::read_to_string(dir.join("state/refused/positions.json"));
    assert!(
        stored.as_deref().map_or(true, |s| s.contains(": 0")),
        "nothing of the refused pipeline is acknowledged: {stored:?}"
    );
}

#[tokio::test]
async fn a_pipeline_with_an_internal_error_fails_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    input(dir);
    pipeline(dir, "good", "good", "../lake", "");
    // The decode stage of `broken` panics on its first batch (an injected fault).
    pipeline(dir, "broken", "broken", "../broken-lake", "");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("input/events.ndjson"))
        .unwrap();
    writeln!(f, "not json").unwrap();
    let out = weir_run(&dir.join("pipelines"), &dir.join("state"))
        .env("WEIR_FAULTS", "decode@broken=panic")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("broken"), "{stderr}");
    assert!(stderr.contains("internal error"), "{stderr}");
    assert!(stderr.contains("fault injected at `decode`"), "{stderr}");
    // Every record, and the line that is not JSON as a dead letter.
    assert_eq!(delivered(&dir.join("lake")).await, RECORDS + 1);
}

#[test]
fn two_files_with_one_pipeline_name_are_both_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    input(dir);
    pipeline(dir, "a", "orders", "../lake-a", "");
    pipeline(dir, "b", "orders", "../lake-b", "");
    pipeline(dir, "c", "other", "../lake-c", "");
    let out = weir()
        .arg("validate")
        .arg(dir.join("pipelines"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("a.yaml:2:1: name: pipeline `orders` is also defined in")
            && stderr.contains("b.yaml:2:1: name"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("c.yaml: ok"));

    let out = weir_run(&dir.join("pipelines"), &dir.join("state"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!dir.join("lake-a").exists() && !dir.join("lake-b").exists());
    assert!(dir.join("lake-c").exists(), "the other pipeline runs");
}

//! The golden `hourly_parquet` pipeline against a real S3-compatible server
//! (`moto_server` on loopback, installed by the test command): same keys, same rows.

mod common;

use std::process::Command;
use std::sync::Arc;

use common::*;

/// The golden pipeline with its sink on `s3://lake/golden/` at `endpoint`.
fn golden_to_s3(case: &std::path::Path, state: &std::path::Path, endpoint: &str) -> Command {
    let mut cmd = weir_run(case, state);
    cmd.env("WEIR_TEST_LAKE", "s3://lake/golden/")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1");
    cmd
}

#[tokio::test]
async fn golden_pipeline_writes_the_same_lake_to_s3() {
    let (_server, endpoint) = start_moto();
    create_bucket(&endpoint, "lake");
    let case = root().join("tests/golden/hourly_parquet");
    let tmp = tempfile::tempdir().unwrap();
    run_ok(&mut golden_to_s3(&case, tmp.path(), &endpoint));
    let store = Arc::new(s3(&endpoint, "lake").build().unwrap());
    let lake = read_lake(store).await;
    let keys: Vec<&String> = lake.keys().collect();
    assert!(keys.iter().all(|k| k.starts_with("golden/")), "{keys:?}");
    let relative = lake
        .into_iter()
        .map(|(k, v)| (k.trim_start_matches("golden/").to_string(), v))
        .collect();
    assert_golden(&case, &render_lake(&relative));
}

#[tokio::test]
async fn unreachable_store_fails_the_pipeline_without_committing() {
    let case = root().join("tests/golden/hourly_parquet");
    let tmp = tempfile::tempdir().unwrap();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let out = golden_to_s3(&case, tmp.path(), &dead).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("failed after 5 attempt(s)"), "{stderr}");
    let positions = tmp.path().join("hourly/positions.json");
    assert!(
        !positions.exists() || std::fs::read_to_string(&positions).unwrap().contains(": 0"),
        "nothing may be acknowledged"
    );
}

//! The golden `hourly_parquet` pipeline against a real S3-compatible server
//! (`moto_server` on loopback, installed by the test command): same keys, same rows.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use common::*;
use object_store::aws::AmazonS3Builder;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_moto() -> (Server, String) {
    let port = free_port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "moto_server is not installed; run the test command from the README (tests/run-all.sh)",
        );
    let server = Server(child);
    wait_for_port(port, "moto_server");
    (server, format!("http://127.0.0.1:{port}"))
}

fn s3(endpoint: &str, bucket: &str) -> AmazonS3Builder {
    AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_bucket_name(bucket)
        .with_access_key_id("test")
        .with_secret_access_key("test")
}

fn create_bucket(endpoint: &str, bucket: &str) {
    // moto accepts an unsigned PUT on the bucket URL.
    let out = Command::new("python3")
        .args(["-c", "import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1], method='PUT'))"])
        .arg(format!("{endpoint}/{bucket}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "creating the bucket failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

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
    assert!(stderr.contains("failed after 5 attempts"), "{stderr}");
    let positions = tmp.path().join("hourly/positions.json");
    assert!(
        !positions.exists() || std::fs::read_to_string(&positions).unwrap().contains(": 0"),
        "nothing may be acknowledged"
    );
}

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

/// Listens on `port` and relays every connection to `target` (host:port).
fn forward(port: u16, target: String) {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming().map_while(Result::ok) {
            let server = std::net::TcpStream::connect(&target).unwrap();
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut client, mut server) = (client, server);
            std::thread::spawn(move || std::io::copy(&mut client, &mut server));
            std::thread::spawn(move || std::io::copy(&mut s2, &mut c2));
        }
    });
}

#[tokio::test]
async fn a_store_unreachable_at_first_is_waited_for_then_written_once() {
    let case = root().join("tests/golden/hourly_parquet");
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut daemon = golden_to_s3(&case, tmp.path(), &endpoint)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Nothing listens yet: every attempt fails, and the pipeline waits to run again.
    let stderr = std::io::BufReader::new(daemon.stderr.take().unwrap());
    let mut lines = std::io::BufRead::lines(stderr).map_while(Result::ok);
    let restart = lines
        .by_ref()
        .find(|l| l.contains("the pipeline restarts from its stored positions"))
        .expect("the pipeline restarts after the transient failure");
    assert!(restart.contains("(transient)"), "{restart}");
    std::thread::spawn(move || lines.for_each(drop));
    let positions = tmp.path().join("hourly/positions.json");
    assert!(
        !positions.exists() || std::fs::read_to_string(&positions).unwrap().contains(": 0"),
        "nothing may be acknowledged while the store is down"
    );

    // The store comes up, with its bucket, behind the port the pipeline was given.
    let (_server, endpoint) = start_moto();
    create_bucket(&endpoint, "lake");
    forward(port, endpoint.trim_start_matches("http://").to_string());
    let status = daemon.wait().unwrap();
    assert!(
        status.success(),
        "the pipeline finishes once the store is up: {status}"
    );
    let store = Arc::new(s3(&endpoint, "lake").build().unwrap());
    let relative = read_lake(store)
        .await
        .into_iter()
        .map(|(k, v)| (k.trim_start_matches("golden/").to_string(), v))
        .collect();
    assert_golden(&case, &render_lake(&relative));
}

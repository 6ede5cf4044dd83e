//! The admin API of a running daemon: `/metrics` parsed by Prometheus's own Python
//! client, the counts adding up (records in = delivered + dead-lettered + dropped),
//! freshness and buffered bytes back to zero once everything is flushed, the bearer
//! token enforced, `/pipelines` reporting positions and state, and `/ready` turning
//! unready when a pipeline fails.

mod common;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::Value;

const TOKEN: &str = "s3cret-token";
const GOOD: u64 = 3_000;

fn append(file: &Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

/// 3,000 valid events, 7 lines that are not JSON (dead letters) and 5 that break the
/// schema (dropped).
fn steady_lines() -> Vec<String> {
    let mut lines: Vec<String> = (0..GOOD)
        .map(|i| {
            format!(
                "{{\"id\": {i}, \"at\": \"2026-04-01T{:02}:00:00Z\", \"customer\": {{\"region\": \"eu\"}}, \"amount\": 1.5}}",
                i % 24
            )
        })
        .collect();
    lines.extend((0..7).map(|i| format!("not json {i}")));
    lines.extend((0..5).map(|i| format!("{{\"id\": {i}, \"amount\": -1}}")));
    lines
}

fn pipelines(dir: &Path) {
    let schemas = root().join("tests/golden/schemas");
    std::fs::create_dir_all(dir.join("pipelines")).unwrap();
    std::fs::create_dir_all(dir.join("input")).unwrap();
    let common = "  mode: follow\n  poll_interval: 50ms\n";
    std::fs::write(
        dir.join("pipelines/steady.yaml"),
        format!(
            "apiVersion: weir/v1\nname: steady\nsource:\n  type: file\n  path: ../input/steady.ndjson\n{common}schema:\n  registry: {}\n  subject: events\nsink:\n  url: ../lake\n  format: parquet\n  prefix: \"hour=!{{timestamp:HH}}/\"\n  time:\n    field: at\n  buffer:\n    interval: 300ms\n    idle: 200ms\non_error:\n  schema_mismatch: drop\n",
            schemas.display()
        ),
    )
    .unwrap();
    // No such bucket: its first flush is refused, and the pipeline fails.
    std::fs::write(
        dir.join("pipelines/broken.yaml"),
        format!(
            "apiVersion: weir/v1\nname: broken\nsource:\n  type: file\n  path: ../input/broken.ndjson\n{common}sink:\n  url: s3://no-such-bucket/x\n  format: jsonl\n  buffer:\n    interval: 200ms\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("input/broken.ndjson"), "").unwrap();
}

struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    async fn get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    async fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path, Some(TOKEN)).await;
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Polls `check` on `path` for up to 60 s.
    async fn wait(&self, what: &str, path: &str, check: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..600 {
            let v = self.json(path).await;
            if check(&v) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("timed out waiting for {what}: {}", self.json(path).await);
    }
}

/// `/metrics` parsed by Prometheus's client: the value of `name` for `pipeline` (and
/// the extra label, if given), summed over the other labels.
fn sample(samples: &Value, name: &str, pipeline: &str, label: Option<(&str, &str)>) -> f64 {
    samples
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == name && s["labels"]["pipeline"] == pipeline)
        .filter(|s| label.is_none_or(|(k, v)| s["labels"][k] == v))
        .map(|s| s["value"].as_f64().unwrap())
        .sum()
}

fn parse_metrics(text: &str) -> Value {
    let mut child = std::process::Command::new("python3")
        .arg(root().join("tests/py/metrics.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "Prometheus's parser refused the page (prometheus-client comes from tests/run-all.sh):\n{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_api_reports_what_every_pipeline_does() {
    let (_moto, endpoint) = start_moto();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    pipelines(dir);
    let steady = dir.join("input/steady.ndjson");
    append(&steady, &steady_lines());
    let port = free_port();
    let daemon = weir_run(&dir.join("pipelines"), &dir.join("state"))
        .args(["--admin-listen", &format!("127.0.0.1:{port}")])
        .env("WEIR_ADMIN_TOKEN", TOKEN)
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .spawn()
        .unwrap();
    wait_for_port(port, "the admin API");
    let api = Api {
        base: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
    };

    // The token guards everything but the probes.
    assert_eq!(api.get("/health", None).await.0, 200);
    assert_eq!(api.get("/metrics", None).await.0, 401);
    assert_eq!(api.get("/metrics", Some("wrong")).await.0, 401);
    assert_eq!(api.get("/pipelines", None).await.0, 401);

    let size = std::fs::metadata(&steady).unwrap().len();
    let done = api
        .wait("every record durable", "/pipelines/steady", |v| {
            v["positions"]["steady_ndjson"] == size
                && v["buffered_bytes"] == 0
                && v["freshness_seconds"] == 0.0
        })
        .await;
    assert_eq!(done["state"], "running");
    assert_eq!(done["open_prefixes"], 0);
    assert_eq!(done["config_digest"].as_str().unwrap().len(), 64);
    let (status, ready) = api.get("/ready", None).await;
    assert_eq!(status, 200, "both pipelines run: {ready}");

    let (status, text) = api.get("/metrics", Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert!(!text.contains(TOKEN), "no secret in the metrics");
    let m = parse_metrics(&text);
    let get = |name: &str| sample(&m, name, "steady", None);
    let records_in = get("weir_records_in_total");
    let delivered = get("weir_records_delivered_total");
    let dead = get("weir_dead_letters_total");
    let dropped = get("weir_records_dropped_total");
    assert_eq!(records_in, (GOOD + 12) as f64);
    assert_eq!(delivered, GOOD as f64);
    assert_eq!(
        sample(
            &m,
            "weir_dead_letters_total",
            "steady",
            Some(("error_type", "invalid-json"))
        ),
        7.0
    );
    assert_eq!(dropped, 5.0);
    assert_eq!(
        records_in,
        delivered + dead + dropped,
        "every record accounted for"
    );
    assert_eq!(get("weir_freshness_seconds"), 0.0);
    assert_eq!(get("weir_buffered_bytes"), 0.0);
    assert!(get("weir_objects_written_total") >= 24.0);
    assert!(get("weir_flushes_total") >= 24.0);
    assert!(get("weir_object_store_requests_total") >= 24.0);
    assert!(get("weir_delivery_latency_seconds_count") >= 24.0);
    assert_eq!(
        sample(
            &m,
            "weir_pipeline_state",
            "steady",
            Some(("state", "running"))
        ),
        1.0
    );

    // A line for the broken pipeline: its flush is refused and it fails, alone.
    append(&dir.join("input/broken.ndjson"), &["{\"id\": 1}".into()]);
    let broken = api
        .wait("the broken pipeline to fail", "/pipelines/broken", |v| {
            v["state"] == "failed"
        })
        .await;
    let error = broken["last_error"].as_str().unwrap();
    assert!(error.contains("NoSuchBucket"), "{error}");
    let (status, ready) = api.get("/ready", None).await;
    assert_eq!(status, 503, "{ready}");
    assert!(ready.contains("broken"), "{ready}");
    let list = api.json("/pipelines").await;
    let states: Vec<&str> = list["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["failed", "running"], "{list}");

    // The other pipeline still delivers.
    append(&steady, &steady_lines()[..100]);
    let size = std::fs::metadata(&steady).unwrap().len();
    api.wait("the new lines", "/pipelines/steady", |v| {
        v["positions"]["steady_ndjson"] == size
    })
    .await;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = daemon.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the daemon names the failed pipeline"
    );
}

//! Shared helpers of the end-to-end tests: the `weir` binary, temporary lakes, and
//! reading a lake back (object keys and decoded rows) from a directory or S3.

#![allow(dead_code)]

pub mod daemon;
pub mod kafka;
pub mod orders;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// The repository root; fixtures are addressed from here.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn weir() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
    cmd.current_dir(root()).env("WEIR_LOG", "warn");
    cmd
}

/// `weir run --once` on a pipeline folder with its own state folder: it exits when every
/// pipeline has ended (tests of reloads use [`weir_daemon`]).
pub fn weir_run(pipelines: &Path, state: &Path) -> Command {
    let mut cmd = weir_daemon(pipelines, state);
    cmd.arg("--once");
    cmd
}

/// `weir run` as a daemon: it watches the folder and reloads until SIGTERM.
pub fn weir_daemon(pipelines: &Path, state: &Path) -> Command {
    let mut cmd = weir();
    cmd.arg("run")
        .arg("--pipelines")
        .arg(pipelines)
        .arg("--state-dir")
        .arg(state);
    cmd
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("weir starts");
    assert!(
        out.status.success(),
        "weir failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `cmd` to its end like [`run_ok`], but kills it and fails the test if it takes
/// longer than `limit` (a pipeline whose store never answers restarts for ever).
pub fn run_within(cmd: &mut Command, limit: Duration) -> Output {
    let out = output_within(cmd, limit);
    let show = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    assert!(
        out.status.success(),
        "weir failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        show(&out.stdout),
        show(&out.stderr)
    );
    out
}

/// Runs `cmd` to its end, whatever its exit status; kills it and fails the test if it
/// takes longer than `limit`.
pub fn output_within(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("weir starts");
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    let Some(status) = status else {
        panic!(
            "weir did not finish within {limit:?}:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
    };
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Every object of a store, key → content as lines: Parquet rows as JSON, JSON lines
/// as they are (dead letters without their arrival time, which varies by run).
pub async fn read_lake(store: Arc<dyn ObjectStore>) -> BTreeMap<String, Vec<String>> {
    let metas: Vec<_> = store.list(None).try_collect().await.unwrap();
    let mut lake = BTreeMap::new();
    for meta in metas {
        let bytes = store
            .get(&meta.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let key = meta.location.to_string();
        let lines = if key.ends_with(".parquet") {
            parquet_rows(bytes)
        } else {
            text_lines(&key, &bytes)
        };
        lake.insert(key, lines);
    }
    lake
}

pub async fn read_dir_lake(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let store = object_store::local::LocalFileSystem::new_with_prefix(dir).unwrap();
    read_lake(Arc::new(store)).await
}

fn parquet_rows(bytes: bytes::Bytes) -> Vec<String> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    {
        let mut writer = arrow_json::LineDelimitedWriter::new(&mut out);
        for batch in reader {
            writer.write(&batch.unwrap()).unwrap();
        }
        writer.finish().unwrap();
    }
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn text_lines(key: &str, bytes: &[u8]) -> Vec<String> {
    let text = if key.ends_with(".gz") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(bytes), &mut s).unwrap();
        s
    } else if key.ends_with(".zst") {
        String::from_utf8(zstd::decode_all(bytes).unwrap()).unwrap()
    } else {
        String::from_utf8(bytes.to_vec()).unwrap()
    };
    text.lines()
        .map(|l| match serde_json::from_str::<serde_json::Value>(l) {
            Ok(serde_json::Value::Object(mut m)) if m.contains_key("error_type") => {
                m.remove("arrival_ms");
                serde_json::Value::Object(m).to_string()
            }
            _ => l.to_string(),
        })
        .collect()
}

/// The `id` of every row of a directory lake that holds no dead letters, with how often
/// each occurs.
pub async fn ids_in(lake: &Path) -> BTreeMap<u64, u32> {
    let mut ids = BTreeMap::new();
    for rows in read_dir_lake(lake).await.into_values() {
        for row in rows {
            let v: serde_json::Value = serde_json::from_str(&row).unwrap();
            *ids.entry(v["id"].as_u64().unwrap()).or_insert(0) += 1;
        }
    }
    ids
}

/// The golden text of a lake: each object key, then its lines.
pub fn render_lake(lake: &BTreeMap<String, Vec<String>>) -> String {
    let mut s = String::new();
    for (key, lines) in lake {
        s.push_str(&format!("== {key}\n"));
        for l in lines {
            s.push_str(l);
            s.push('\n');
        }
    }
    s
}

/// Compares with `expected.txt` of a golden case; `UPDATE_GOLDEN=1` rewrites it.
pub fn assert_golden(case: &Path, actual: &str) {
    let file = case.join("expected.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&file, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&file).unwrap_or_else(|_| {
        panic!(
            "{} is missing; run with UPDATE_GOLDEN=1 and review it",
            file.display()
        )
    });
    if expected != actual {
        panic!(
            "lake differs from {}:\n--- expected\n{expected}\n--- actual\n{actual}",
            file.display()
        );
    }
}

/// Runs `tests/py/<script>` with `args` and returns its output; a failure shows both
/// streams and names the Python packages it needs (`tests/run-all.sh` installs them).
pub fn python_script(script: &str, args: &[&str], needs: &str) -> String {
    let out = Command::new("python3")
        .arg(root().join("tests/py").join(script))
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{script} {args:?} failed ({needs} come from tests/run-all.sh):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.stderr.is_empty() {
        eprintln!("{script}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    String::from_utf8(out.stdout).unwrap()
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something listens on `port`.
pub fn wait_for_port(port: u16, what: &str) {
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{what} did not start listening on 127.0.0.1:{port} within 30 s");
}

/// Builds the example plugins and the test suite's plugins for wasm32-wasip2 (once per
/// test process; cargo serialises concurrent builds) and returns the folder of
/// `tests/plugins`' outputs.
pub fn build_plugins() -> PathBuf {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        for workspace in ["plugins/examples", "tests/plugins"] {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let out = Command::new(cargo)
                .current_dir(root().join(workspace))
                .args(["build", "--release", "--target", "wasm32-wasip2"])
                // Pipelines name the .wasm files by path, whatever CARGO_TARGET_DIR says.
                .arg("--target-dir")
                .arg(root().join(workspace).join("target"))
                .output()
                .expect("cargo runs");
            assert!(
                out.status.success(),
                "building the plugins in {workspace} failed (is the wasm32-wasip2 target installed? `rustup target add wasm32-wasip2`):\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    });
    root().join("tests/plugins/target/wasm32-wasip2/release")
}

/// A server process, killed when dropped.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `moto_server` on a free loopback port; returns it with its endpoint URL.
pub fn start_moto() -> (Server, String) {
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

/// An S3 client of `bucket` on the moto server at `endpoint`.
pub fn s3(endpoint: &str, bucket: &str) -> AmazonS3Builder {
    AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_bucket_name(bucket)
        .with_access_key_id("test")
        .with_secret_access_key("test")
}

/// Every object key in `bucket` on the moto server at `endpoint`.
pub fn s3_keys(endpoint: &str, bucket: &str) -> Vec<String> {
    let store = s3(endpoint, bucket).build().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let listed: Vec<_> = store.list(None).try_collect().await.unwrap();
        listed.into_iter().map(|m| m.location.to_string()).collect()
    })
}

/// Creates `bucket` on the moto server at `endpoint`.
pub fn create_bucket(endpoint: &str, bucket: &str) {
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

/// Polls `cond` every 50 ms; fails the test after 60 s.
pub fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops a daemon with SIGTERM and expects a clean exit.
pub fn terminate(mut child: Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "weir must exit 0 after SIGTERM, got {exit}");
}

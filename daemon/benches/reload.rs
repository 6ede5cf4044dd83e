//! Hot reload's cost: one daemon (this build's release binary, as a child) runs two
//! pipelines; `edited` is rewritten 100 times (a new prefix each time) while `steady`
//! writes as fast as it can. Prints the reload latency (file saved → the new version
//! running, and → its first object in the lake) at p50/p99, and `steady`'s delivery
//! rate during the reloads ÷ its rate in windows without them, in the same run.
//!
//! `WEIR_BENCH_RELOADS` sets the number of reloads (default 100).

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

fn main() {
    let reloads: u64 = std::env::var("WEIR_BENCH_RELOADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (pipelines, lake) = (dir.join("pipelines"), dir.join("lake"));
    std::fs::create_dir_all(&pipelines).unwrap();
    let file = pipelines.join("edited.yaml");
    std::fs::write(&file, edited(&lake, 0)).unwrap();
    std::fs::write(pipelines.join("steady.yaml"), steady(&lake)).unwrap();
    let port = free_port();
    let admin = format!("127.0.0.1:{port}");
    let mut daemon = weir(&pipelines, &dir.join("state"), &admin);
    while std::net::TcpStream::connect(&admin).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(3));

    let window = Duration::from_secs(15);
    let before = rate(&admin, window);
    let mut running = Vec::new();
    let mut delivering = Vec::new();
    let (start, delivered_start) = (Instant::now(), delivered(&admin));
    let mut last_ms = last_reload_ms(&admin);
    for i in 1..=reloads {
        let saved = Instant::now();
        let saved_ms = now_ms();
        std::fs::write(&file, edited(&lake, i)).unwrap();
        let new_prefix = lake.join(format!("edited/v{i}"));
        let mut seen_running = None;
        loop {
            if seen_running.is_none() {
                let at = last_reload_ms(&admin);
                if at > last_ms {
                    last_ms = at;
                    seen_running = Some(Duration::from_millis(at.saturating_sub(saved_ms)));
                }
            }
            if seen_running.is_some() && has_object(&new_prefix) {
                break;
            }
            assert!(
                saved.elapsed() < Duration::from_secs(30),
                "reload {i} never delivered"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        running.push(seen_running.unwrap());
        delivering.push(saved.elapsed());
    }
    let during = (delivered(&admin) - delivered_start) / start.elapsed().as_secs_f64();
    let after = rate(&admin, window);
    let baseline = (before + after) / 2.0;
    stop(&mut daemon);

    println!(
        "reloads: {reloads}, `edited` at 2,000 records/s with a 200 ms interval, `steady` as fast as it can"
    );
    println!(
        "saved → new version running:        p50 {:>6.0} ms   p99 {:>6.0} ms   max {:>6.0} ms",
        ms(percentile(&mut running, 0.50)),
        ms(percentile(&mut running, 0.99)),
        ms(percentile(&mut running, 1.0)),
    );
    println!(
        "saved → its first object durable:   p50 {:>6.0} ms   p99 {:>6.0} ms   max {:>6.0} ms",
        ms(percentile(&mut delivering, 0.50)),
        ms(percentile(&mut delivering, 0.99)),
        ms(percentile(&mut delivering, 1.0)),
    );
    println!(
        "`steady` records/s: {before:.0} before, {during:.0} during the reloads, {after:.0} after → during / without = {:.2} (target ≥ 0.9)",
        during / baseline
    );
}

fn edited(lake: &Path, version: u64) -> String {
    format!(
        "apiVersion: weir/v1\nname: edited\nsource:\n  type: generator\n  kind: orders\n  rate_per_sec: 2000\n  batch_size: 100\n\
         schema:\n  registry: {}\n  subject: orders\n\
         sink:\n  url: {}\n  prefix: \"edited/v{version}/\"\n  time:\n    field: event_time\n  buffer:\n    interval: 200ms\n",
        schemas().display(),
        lake.display()
    )
}

fn steady(lake: &Path) -> String {
    format!(
        "apiVersion: weir/v1\nname: steady\nsource:\n  type: generator\n  kind: orders\n\
         schema:\n  registry: {}\n  subject: orders\n\
         sink:\n  url: {}\n  prefix: \"steady/hour=!{{timestamp:HH}}/\"\n  time:\n    field: event_time\n  buffer:\n    interval: 1s\n",
        schemas().display(),
        lake.display()
    )
}

fn schemas() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

fn weir(pipelines: &Path, state: &Path, admin: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["run", "--pipelines"])
        .arg(pipelines)
        .arg("--state-dir")
        .arg(state)
        .args(["--admin-listen", admin])
        .env("WEIR_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// `steady`'s records delivered per second over `window`.
fn rate(admin: &str, window: Duration) -> f64 {
    let first = delivered(admin);
    std::thread::sleep(window);
    (delivered(admin) - first) / window.as_secs_f64()
}

fn delivered(admin: &str) -> f64 {
    let sample = "weir_records_delivered_total{pipeline=\"steady\"}";
    get(admin, "/metrics")
        .lines()
        .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or(0.0)
}

fn last_reload_ms(admin: &str) -> u64 {
    let body = get(admin, "/pipelines/edited");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    v["last_reload"]["at_ms"].as_u64().unwrap_or(0)
}

fn has_object(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
}

fn get(admin: &str, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(admin).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn percentile(values: &mut [Duration], p: f64) -> Duration {
    values.sort();
    let i = ((values.len() as f64 * p).ceil() as usize).clamp(1, values.len()) - 1;
    values[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

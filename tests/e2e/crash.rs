//! Crash across the end: the P1 pipeline (1,000,000 order events, validated, zstd
//! Parquet under hourly prefixes, 2 s interval flushes) is killed with SIGKILL at random
//! moments — mid-stream and in the final flush after its input ended — restarted each
//! time, then run twice more. Every record must be in the lake exactly once (read back
//! with DuckDB), and no upload may be left unfinished. Also: a kill in the middle of a
//! multipart upload (or a local staged write) leaves nothing behind once restarted.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::daemon::Daemon;
use common::orders::*;
use common::*;

const RECORDS: u64 = 1_000_000;

/// Where a round's kill is aimed.
#[derive(Debug, Clone, Copy)]
enum Aim {
    /// This long after the start.
    MidStream(Duration),
    /// This long after the input ended, in the final flush.
    AfterInputEnded(Duration),
}

/// The P1 pipeline with the given source and sink url, flushing every 2 s.
fn p1(dir: &Path, source: &str, url: &str) {
    p1_pipeline(dir, source, url, "2s", "");
}

const GENERATOR: &str = "  type: generator\n  kind: orders\n  count: 1000000\n  start: \"2026-11-20T00:00:00Z\"\n  spread: 24h\n";

/// Ten kills mid-stream (late enough for some flushes to commit), then four aimed at the
/// final flush, restarting after each; then two complete runs, the second with nothing
/// new. Returns how many kills found the daemon running.
fn kill_repeatedly(dir: &Path, cmd: impl Fn() -> Command) -> usize {
    let mut rng = fastrand::Rng::with_seed(0x005e_ed12);
    let mut aims: Vec<Aim> = (0..10)
        .map(|_| Aim::MidStream(Duration::from_millis(rng.u64(2_500..5_000))))
        .collect();
    aims.extend((0..4).map(|_| Aim::AfterInputEnded(Duration::from_millis(rng.u64(0..400)))));
    let mut live_kills = 0;
    for (round, aim) in aims.into_iter().enumerate() {
        let mut daemon = Daemon::start(cmd(), None);
        match aim {
            Aim::MidStream(after) => std::thread::sleep(after),
            Aim::AfterInputEnded(after) => {
                let ended = daemon.wait_for("input ended", Duration::from_secs(600));
                assert!(
                    ended || daemon.exited(),
                    "round {round}: the input never ended"
                );
                std::thread::sleep(after);
            }
        }
        let alive = daemon.kill();
        live_kills += alive as usize;
        let stored = std::fs::read_to_string(dir.join("state/p1/positions.json"))
            .unwrap_or_else(|_| "(none)".into());
        let stored: String = stored.split_whitespace().collect();
        let what = if alive { "killed" } else { "had exited" };
        eprintln!("round {round}: {aim:?}: {what}; stored positions {stored}");
    }
    let stored = || std::fs::read(dir.join("state/p1/positions.json")).unwrap();
    let first = run_ok(&mut cmd());
    let after_first = stored();
    let second = run_ok(&mut cmd());
    assert_eq!(
        stored(),
        after_first,
        "a run with nothing new keeps the positions"
    );
    let summary = String::from_utf8_lossy(&second.stdout).to_string();
    eprintln!(
        "final runs:\n{}{summary}",
        String::from_utf8_lossy(&first.stdout)
    );
    assert!(
        summary.contains("p1: 0 records in 0 objects"),
        "the run after the finished one must write nothing: {summary}"
    );
    live_kills
}

#[test]
fn p1_into_a_local_directory_killed_repeatedly_holds_each_record_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("input")).unwrap();
    orders_file(&dir.join("input/orders.ndjson"), RECORDS);
    let source = "  type: file\n  path: ../input/orders.ndjson\n  batch_size: 5000\n";
    p1(dir, source, "../lake");
    let kills = kill_repeatedly(dir, || weir_run(&dir.join("pipelines"), &dir.join("state")));
    assert!(kills >= 10, "only {kills} kills found the daemon running");
    let lake = dir.join("lake");
    let (rows, ids, unfinished) = check_lake(&["local", lake.to_str().unwrap()]);
    assert_eq!((rows, ids), (RECORDS, RECORDS), "every record exactly once");
    assert!(unfinished.is_empty(), "staged files left: {unfinished:?}");
}

#[test]
fn p1_into_s3_killed_repeatedly_holds_each_record_once() {
    let (_moto, endpoint) = start_moto();
    create_bucket(&endpoint, "lake");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    p1(dir, GENERATOR, "s3://lake/p1");
    let kills = kill_repeatedly(dir, || {
        let mut cmd = weir_run(&dir.join("pipelines"), &dir.join("state"));
        s3_env(&mut cmd, &endpoint);
        cmd
    });
    assert!(kills >= 10, "only {kills} kills found the daemon running");
    let (rows, ids, unfinished) = check_lake(&["s3", &endpoint, "lake"]);
    assert_eq!((rows, ids), (RECORDS, RECORDS), "every record exactly once");
    assert!(
        unfinished.is_empty(),
        "uploads left unfinished: {unfinished:?}"
    );
}

/// A pipeline that writes one large object at the end: 300,000 orders into one prefix.
fn one_large_object(dir: &Path, url: &str) {
    std::fs::create_dir_all(dir.join("pipelines")).unwrap();
    std::fs::write(
        dir.join("pipelines/p1.yaml"),
        format!(
            "apiVersion: weir/v1\nname: p1\nsource:\n  type: generator\n  kind: orders\n  count: 300000\n  start: \"2026-11-20T00:00:00Z\"\n  spread: 24h\nschema:\n  registry: {}\n  subject: orders\nsink:\n  url: {url}\n  format: parquet\n  row_group_rows: 10000\n  prefix: \"all/\"\n  buffer:\n    interval: 1h\n    idle: 1h\n    max_bytes: 4GiB\n    memory_budget: 4GiB\n",
            root().join("schemas").display()
        ),
    )
    .unwrap();
}

/// Multipart uploads open in `bucket` on the moto server at `endpoint` (moto answers
/// unsigned requests).
fn open_uploads(endpoint: &str, bucket: &str) -> usize {
    let url = format!("{endpoint}/{bucket}?uploads");
    let out = Command::new("python3")
        .args(["-c", "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())"])
        .arg(url)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .matches("<UploadId>")
        .count()
}

/// Files a local store staged and has not renamed into place yet.
fn staged_files(lake: &Path) -> usize {
    let pattern = format!("{}/**/*#*", lake.display());
    glob::glob(&pattern).unwrap().count()
}

/// Starts the daemon, kills it while `in_flight` sees the large object being written,
/// and runs it again to the end.
fn kill_mid_write(cmd: impl Fn() -> Command, in_flight: impl Fn() -> usize) {
    let daemon = Daemon::start(cmd(), None);
    wait_until("the large object's write to begin", || in_flight() > 0);
    assert!(daemon.kill(), "the daemon was still writing");
    assert!(in_flight() > 0, "the kill left the write unfinished");
    run_ok(&mut cmd());
}

#[test]
fn a_kill_mid_multipart_upload_leaves_no_upload_behind() {
    let (_moto, endpoint) = start_moto();
    create_bucket(&endpoint, "lake");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    one_large_object(dir, "s3://lake/big");
    let cmd = || {
        let mut cmd = weir_run(&dir.join("pipelines"), &dir.join("state"));
        s3_env(&mut cmd, &endpoint);
        cmd
    };
    kill_mid_write(cmd, || open_uploads(&endpoint, "lake"));
    let (rows, ids, unfinished) = check_lake(&["s3", &endpoint, "lake"]);
    assert_eq!((rows, ids), (300_000, 300_000));
    assert!(
        unfinished.is_empty(),
        "uploads left unfinished: {unfinished:?}"
    );
}

#[test]
fn a_kill_mid_local_write_leaves_no_staged_file_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    one_large_object(dir, "../lake");
    let lake = dir.join("lake");
    let cmd = || weir_run(&dir.join("pipelines"), &dir.join("state"));
    kill_mid_write(cmd, || staged_files(&lake));
    let (rows, ids, unfinished) = check_lake(&["local", lake.to_str().unwrap()]);
    assert_eq!((rows, ids), (300_000, 300_000));
    assert!(unfinished.is_empty(), "staged files left: {unfinished:?}");
}

/// A local lake is durable in the right order: every object's data and folder entries
/// are synced before any stored position that counts it (a power loss after the
/// position must not lose the object). Watched with strace: each `positions.json`
/// written must come after the fsync of every object whose records it covers.
#[test]
fn local_objects_are_synced_before_the_positions_that_count_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let input = dir.join("input.ndjson");
    orders_file(&input, 3000);
    std::fs::create_dir_all(dir.join("pipelines")).unwrap();
    std::fs::write(
        dir.join("pipelines/p.yaml"),
        format!(
            "apiVersion: weir/v1\nname: p\nsource:\n  type: file\n  path: {}\n  batch_size: 500\nsink:\n  url: {}\n  format: jsonl\n  prefix: \"o/\"\n  buffer:\n    max_records: 1000\n",
            input.display(),
            dir.join("lake").display()
        ),
    )
    .unwrap();
    let trace = dir.join("trace");
    let weir = weir_run(&dir.join("pipelines"), &dir.join("state"));
    let mut cmd = Command::new("strace");
    cmd.args([
        "-f",
        "-y",
        "-s",
        "256",
        "-e",
        "trace=fsync,fdatasync,write",
        "-o",
    ])
    .arg(&trace)
    .arg(weir.get_program())
    .args(weir.get_args())
    .current_dir(root())
    .env("WEIR_LOG", "warn");
    run_ok(&mut cmd);
    let lake = dir.join("lake/o");
    // Object name: p-input_ndjson-<first>-<last>.jsonl, positions are byte offsets.
    let objects: Vec<(String, u64)> = std::fs::read_dir(&lake)
        .unwrap()
        .map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().to_string();
            let last = name.trim_end_matches(".jsonl").rsplit('-').next().unwrap();
            (name.clone(), last.parse().unwrap())
        })
        .collect();
    assert_eq!(objects.len(), 3, "{objects:?}");
    let lines: Vec<String> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let synced_at = |name: &str| {
        lines
            .iter()
            .position(|l| l.contains("fsync(") && l.contains(&format!("/o/{name}>")))
            .unwrap_or_else(|| panic!("`{name}` was never synced"))
    };
    let folder_synced = lines
        .iter()
        .any(|l| l.contains("fsync(") && l.contains(&format!("{}>", lake.display())));
    assert!(folder_synced, "the objects' folder entry was never synced");
    let mut checked = 0;
    for (at, line) in lines.iter().enumerate() {
        // write(7</.../positions.json.tmp>, "{\n  \"input_ndjson\": 220890\n}", 28) = 28
        if !(line.contains("write(") && line.contains("positions.json.tmp>")) {
            continue;
        }
        let stored: u64 = line
            .split("input_ndjson\\\":")
            .nth(1)
            .and_then(|r| r.trim_start().split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        for (name, last) in &objects {
            if *last < stored {
                assert!(
                    synced_at(name) < at,
                    "position {stored} was written before `{name}` was synced"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 3, "every object is covered by a stored position");
}

//! The hostile cases of `tests/hostile`: every case passes (`weir test`), each one a
//! record, plugin or setting that once crashed or stalled a pipeline.

mod common;

use std::time::Duration;

use common::{build_plugins, weir};

#[test]
fn every_hostile_case_gets_the_outcome_it_expects() {
    build_plugins();
    // A case that hangs (a plugin's sleep not bounded) fails here instead of stalling.
    let out = common::output_within(
        weir().args(["test", "tests/hostile"]),
        Duration::from_secs(300),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(" 0 failed"), "{stdout}");
}

/// A plugin whose `init` sleeps for an hour is refused at its time limit.
#[test]
fn a_plugin_sleeping_in_init_is_refused_at_its_time_limit() {
    build_plugins();
    let mut cmd = weir();
    cmd.args(["validate", "tests/hostile/pipelines/sleeping_init.yaml"]);
    let out = common::output_within(&mut cmd, Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("init failed: timed out"), "{stderr}");
}

/// A daemon following `pattern` (relative to `dir/in`) into a JSON-lines lake in `dir`.
fn follow(dir: &std::path::Path, pattern: &str) -> common::daemon::Daemon {
    std::fs::create_dir_all(dir.join("in")).unwrap();
    std::fs::create_dir_all(dir.join("pipelines")).unwrap();
    std::fs::write(
        dir.join("pipelines/f.yaml"),
        format!(
            "apiVersion: weir/v1\nname: f\nsource:\n  type: file\n  path: {}/{pattern}\n  mode: follow\n  poll_interval: 100ms\n\
             sink:\n  url: {}\n  format: jsonl\n  buffer:\n    interval: 200ms\n",
            dir.join("in").display(),
            dir.join("lake").display()
        ),
    )
    .unwrap();
    common::daemon::Daemon::with_admin(
        common::weir_daemon(&dir.join("pipelines"), &dir.join("state")),
        "fs",
    )
}

/// How many times each order is in the lake of `dir`.
fn lake_ids(dir: &std::path::Path) -> std::collections::BTreeMap<String, usize> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut ids = std::collections::BTreeMap::new();
    for rows in runtime
        .block_on(common::read_dir_lake(&dir.join("lake")))
        .into_values()
    {
        for row in rows {
            let v: serde_json::Value = serde_json::from_str(&row).unwrap();
            *ids.entry(v["order_id"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
    }
    ids
}

fn assert_once(dir: &std::path::Path, count: usize) {
    let ids = lake_ids(dir);
    let twice: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "read twice: {} e.g. {:?}",
        twice.len(),
        twice.first()
    );
    assert_eq!(ids.len(), count, "orders in the lake");
}

/// Follows `pattern` again, appends `orders` to `in/app.ndjson`, and checks that only
/// those were added: every order up to their end once.
fn run_again_appending(dir: &std::path::Path, pattern: &str, orders: std::ops::Range<u64>) {
    let daemon = follow(dir, pattern);
    let live = dir.join("in/app.ndjson");
    common::orders::append_orders(&live, orders.start, orders.end, 100);
    let added = (orders.end - orders.start) as f64;
    common::wait_until("the lines added after the restart", || {
        delivered(&daemon) >= added
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(daemon.stop().success());
    assert_once(dir, orders.end as usize);
}

fn delivered(daemon: &common::daemon::Daemon) -> f64 {
    daemon.metric("weir_records_delivered_total{pipeline=\"f\"}")
}

/// File-system actions under a `follow` source: a file deleted, another replaced by a
/// folder of the same name, a new one added — the pipeline goes on, reads the new file,
/// and stops cleanly with every record read once.
#[test]
fn a_followed_folder_survives_deletes_and_a_file_turned_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, input) = (tmp.path(), tmp.path().join("in"));
    std::fs::create_dir_all(&input).unwrap();
    common::orders::append_orders(&input.join("a.ndjson"), 0, 100, 100);
    common::orders::append_orders(&input.join("b.ndjson"), 100, 200, 100);
    let daemon = follow(dir, "*.ndjson");
    common::wait_until("the first two files", || delivered(&daemon) >= 200.0);
    std::fs::remove_file(input.join("a.ndjson")).unwrap();
    std::fs::remove_file(input.join("b.ndjson")).unwrap();
    std::fs::create_dir(input.join("b.ndjson")).unwrap();
    common::orders::append_orders(&input.join("c.ndjson"), 200, 300, 100);
    common::wait_until("the new file", || delivered(&daemon) >= 300.0);
    assert_eq!(daemon.pipeline("f")["state"], "running");
    assert!(daemon.stop().success());
    assert_once(dir, 300);
}

/// Rotation by rename (issue 16, item 7): lines appended just before the rename are
/// read through the open file although the rotated name is not matched, the new file
/// (longer than the old one) is read from its start, and a restart reads neither again.
#[test]
fn a_file_rotated_by_rename_is_read_to_its_end_and_the_new_one_from_its_start() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, input) = (tmp.path(), tmp.path().join("in"));
    std::fs::create_dir_all(&input).unwrap();
    let live = input.join("app.ndjson");
    common::orders::append_orders(&live, 0, 100, 100);
    let daemon = follow(dir, "*.ndjson");
    common::wait_until("the first lines", || delivered(&daemon) >= 100.0);
    common::orders::append_orders(&live, 100, 150, 100);
    std::fs::rename(&live, input.join("app.ndjson.1")).unwrap();
    common::orders::append_orders(&live, 150, 450, 100);
    common::wait_until("the rotated and the new file", || {
        delivered(&daemon) >= 450.0
    });
    assert!(daemon.stop().success());
    assert_once(dir, 450);
    // Run again after it finished: the stored bindings keep both files where they were.
    run_again_appending(dir, "*.ndjson*", 450..460);
}

/// Copy-truncate with the file regrown past the old position before the next poll
/// (issue 16, item 7): the new bytes are a new partition read from its start, under
/// object keys of its own; a restart reads nothing twice.
#[test]
fn a_file_truncated_and_regrown_is_read_from_its_start_under_new_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, input) = (tmp.path(), tmp.path().join("in"));
    std::fs::create_dir_all(&input).unwrap();
    let live = input.join("app.ndjson");
    common::orders::append_orders(&live, 0, 100, 100);
    let daemon = follow(dir, "*.ndjson");
    common::wait_until("the first lines", || delivered(&daemon) >= 100.0);
    std::fs::copy(&live, input.join("app.ndjson.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&live)
        .unwrap()
        .set_len(0)
        .unwrap();
    common::orders::append_orders(&live, 100, 400, 100);
    common::wait_until("the regrown file", || delivered(&daemon) >= 400.0);
    assert!(daemon.stop().success());
    assert_once(dir, 400);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let lake = runtime.block_on(common::read_dir_lake(&dir.join("lake")));
    let keys: Vec<_> = lake.keys().collect();
    assert!(
        keys.iter().any(|k| k.contains("-app_ndjson.2-")),
        "{keys:?}"
    );
    run_again_appending(dir, "*.ndjson", 400..410);
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(path: &std::path::Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(path).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs (root in a container that allows mounts): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk(path.to_path_buf())
    }

    fn grow(&self, size: &str) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A disk that fills up under the lake and the state: the pipeline says why (its
/// status and log), keeps what it stored intact and retries; once there is room again it
/// finishes by itself, and the lake holds every record once — also after a run more.
#[test]
fn a_full_disk_is_retried_until_there_is_room_and_every_record_lands_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, disk) = (tmp.path(), tmp.path().join("disk"));
    let small = SmallDisk::mount(&disk, "384k");
    common::orders::append_orders(&dir.join("in.ndjson"), 0, 3000, 3000);
    std::fs::create_dir_all(dir.join("pipelines")).unwrap();
    std::fs::write(
        dir.join("pipelines/f.yaml"),
        format!(
            "apiVersion: weir/v1\nname: f\nsource:\n  type: file\n  path: {}\n  batch_size: 100\n\
             sink:\n  url: {}\n  format: jsonl\n  buffer:\n    max_records: 300\n",
            dir.join("in.ndjson").display(),
            disk.join("lake").display()
        ),
    )
    .unwrap();
    let daemon = common::daemon::Daemon::with_admin(
        common::weir_daemon(&dir.join("pipelines"), &disk.join("state")),
        "disk",
    );
    let full = || {
        daemon.pipeline("f")["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("No space left on device"))
    };
    common::wait_until("the full disk reported in the status", full);
    small.grow("64m");
    common::wait_until("every record once there is room", || {
        delivered(&daemon) >= 3000.0
    });
    assert!(daemon.stop().success());
    let again = common::weir_run(&dir.join("pipelines"), &disk.join("state"));
    common::run_within(&mut { again }, Duration::from_secs(120));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let lake = runtime.block_on(common::read_dir_lake(&disk.join("lake")));
    let mut ids = std::collections::BTreeMap::new();
    for row in lake.values().flatten() {
        let v: serde_json::Value = serde_json::from_str(row).unwrap();
        *ids.entry(v["order_id"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert_eq!(ids.len(), 3000);
    assert!(ids.values().all(|n| *n == 1), "every record once");
}

/// Permissions taken away while following, for a daemon that is not root (run as
/// `nobody`): a file whose read permission goes after it was opened is read on through
/// the open file, and a new file that cannot be read waits until it can be, while the
/// pipeline goes on; every record once.
#[test]
fn permissions_taken_away_do_not_stop_a_followed_folder() {
    use std::os::unix::fs::{PermissionsExt, chown};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mode = |path: &std::path::Path, m: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(m)).unwrap()
    };
    mode(dir, 0o755);
    let (input, lake, state) = (dir.join("in"), dir.join("lake"), dir.join("state"));
    for d in [&input, &lake, &state] {
        std::fs::create_dir_all(d).unwrap();
    }
    chown(&lake, Some(65534), Some(65534)).unwrap();
    chown(&state, Some(65534), Some(65534)).unwrap();
    // The binary under /root is out of nobody's reach: a copy beside the test's files.
    let bin = dir.join("weir");
    std::fs::copy(env!("CARGO_BIN_EXE_weir"), &bin).unwrap();
    mode(&bin, 0o755);
    common::orders::append_orders(&input.join("a.ndjson"), 0, 100, 100);
    std::fs::create_dir_all(dir.join("pipelines")).unwrap();
    std::fs::write(
        dir.join("pipelines/f.yaml"),
        format!(
            "apiVersion: weir/v1\nname: f\nsource:\n  type: file\n  path: {}/*.ndjson\n  mode: follow\n  poll_interval: 100ms\n\
             sink:\n  url: {}\n  format: jsonl\n  buffer:\n    interval: 200ms\n",
            input.display(),
            lake.display()
        ),
    )
    .unwrap();
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(["run", "--pipelines"])
        .arg(dir.join("pipelines"))
        .arg("--state-dir")
        .arg(&state)
        .current_dir(dir);
    let daemon = common::daemon::Daemon::with_admin(cmd, "perm");
    common::wait_until("the first file", || delivered(&daemon) >= 100.0);
    mode(&input.join("a.ndjson"), 0o000);
    common::orders::append_orders(&input.join("a.ndjson"), 100, 150, 100);
    common::wait_until("lines added after the permission went", || {
        delivered(&daemon) >= 150.0
    });
    let b = input.join("b.ndjson");
    common::orders::append_orders(&dir.join("b.tmp"), 150, 180, 100);
    mode(&dir.join("b.tmp"), 0o000);
    std::fs::rename(dir.join("b.tmp"), &b).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(daemon.pipeline("f")["state"], "running");
    assert_eq!(delivered(&daemon), 150.0, "b cannot be read yet");
    mode(&b, 0o644);
    common::wait_until("b once it can be read", || delivered(&daemon) >= 180.0);
    assert!(daemon.stop().success());
    assert_once(dir, 180);
}

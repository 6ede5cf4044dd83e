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

/// File-system actions under a `follow` source: a file deleted, another replaced by a
/// folder of the same name, a new one added — the pipeline goes on, reads the new file,
/// and stops cleanly with every record read once.
#[test]
fn a_followed_folder_survives_deletes_and_a_file_turned_folder() {
    use common::daemon::Daemon;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::create_dir_all(dir.join("pipelines")).unwrap();
    common::orders::append_orders(&input.join("a.ndjson"), 0, 100, 100);
    common::orders::append_orders(&input.join("b.ndjson"), 100, 200, 100);
    std::fs::write(
        dir.join("pipelines/f.yaml"),
        format!(
            "apiVersion: weir/v1\nname: f\nsource:\n  type: file\n  path: {}/*.ndjson\n  mode: follow\n  poll_interval: 100ms\n\
             sink:\n  url: {}\n  format: jsonl\n  buffer:\n    interval: 200ms\n",
            input.display(),
            dir.join("lake").display()
        ),
    )
    .unwrap();
    let daemon = Daemon::with_admin(
        common::weir_daemon(&dir.join("pipelines"), &dir.join("state")),
        "fs",
    );
    let delivered = || daemon.metric("weir_records_delivered_total{pipeline=\"f\"}");
    common::wait_until("the first two files", || delivered() >= 200.0);
    std::fs::remove_file(input.join("a.ndjson")).unwrap();
    std::fs::remove_file(input.join("b.ndjson")).unwrap();
    std::fs::create_dir(input.join("b.ndjson")).unwrap();
    common::orders::append_orders(&input.join("c.ndjson"), 200, 300, 100);
    common::wait_until("the new file", || delivered() >= 300.0);
    assert_eq!(daemon.pipeline("f")["state"], "running");
    assert!(daemon.stop().success());
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
    assert_eq!(ids.len(), 300);
    assert!(ids.values().all(|c| *c == 1));
}

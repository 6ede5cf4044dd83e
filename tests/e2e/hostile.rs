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

//! The hostile cases of `tests/hostile`: every case passes (`weir test`), each one a
//! record, plugin or setting that once crashed or stalled a pipeline.

mod common;

use common::{build_plugins, weir};

#[test]
fn every_hostile_case_gets_the_outcome_it_expects() {
    build_plugins();
    let out = weir().args(["test", "tests/hostile"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" 0 failed"), "{stdout}");
}

//! Parquet written by Weir, read back by readers we did not write: pyarrow and DuckDB
//! (installed by the test command) check row counts, column types and values.

mod common;

use common::*;

#[test]
fn pyarrow_and_duckdb_read_the_lake() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    run_ok(
        weir_run(&root().join("tests/readers"), &tmp.path().join("state"))
            .env("WEIR_TEST_LAKE", &lake),
    );
    let out = std::process::Command::new("python3")
        .arg(root().join("tests/py/check_lake.py"))
        .arg(&lake)
        .arg("5000")
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "the lake check failed (pyarrow and duckdb come from tests/run-all.sh):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: "));
}

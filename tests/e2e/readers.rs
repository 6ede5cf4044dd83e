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
    let out = python_script(
        "check_lake.py",
        &[lake.to_str().unwrap(), "5000"],
        "pyarrow and duckdb",
    );
    assert!(out.starts_with("ok: "), "{out}");
}

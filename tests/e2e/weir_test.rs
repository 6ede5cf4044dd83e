//! `weir test`: the example pipelines' test files pass, and a failing case prints a
//! diff of what was expected against what the pipeline wrote, and exits 1.

mod common;

use common::{build_plugins, weir};

#[test]
fn the_example_pipelines_pass_their_tests() {
    build_plugins();
    let out = weir()
        .args([
            "test",
            "examples/quickstart/tests",
            "examples/kafka-to-s3/tests",
            "pipelines/tests",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.ends_with("6 cases: 6 passed, 0 failed\n"),
        "{stdout}"
    );
}

#[test]
fn a_failing_case_prints_its_diff_and_exits_1() {
    build_plugins();
    let out = weir()
        .args(["test", "tests/weir_test/failing.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let expected = "\
tests/weir_test/failing.yaml
  FAILED  expects the email unmasked, one row too many, no dead letter
    rows under `orders/year=2026/month=11/day=20/hour=00/`:
      expected 2 rows, got 1
      - {\"order_id\":\"ord-1\",\"customer\":{\"email\":\"ada@example.com\"}}
      + {\"order_id\":\"ord-1\",\"customer\":{\"email\":\"***.com\"}}
      - {\"order_id\":\"ord-9\"}
    expected 0 dead letters, got 1 (schema-mismatch)
  ok      passes
2 cases: 1 passed, 1 failed
";
    assert_eq!(stdout, expected);
}

#[test]
fn a_test_file_with_an_unknown_key_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.yaml");
    std::fs::write(&file, "pipeline: x.yaml\ncases: []\nexpected: {}\n").unwrap();
    let out = weir().arg("test").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("expected"), "{stderr}");
}

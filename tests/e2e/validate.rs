//! `weir validate` on broken pipeline files: each `tests/invalid/NAME.yaml` must fail
//! with exactly the message (file, line, column, key, hint) in `NAME.expected`.

mod common;

use common::*;

/// An environment value that must never appear in any output.
const SECRET: &str = "hunter2-do-not-print";

#[test]
fn invalid_pipelines_report_file_line_key_and_hint() {
    // `plugin_init` loads the `redact` example plugin, whose `init` refuses a key.
    build_plugins();
    let dir = root().join("tests/invalid");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 6, "fixtures are missing");
    for case in cases {
        let rel = case.strip_prefix(root()).unwrap();
        let out = weir()
            .arg("validate")
            .arg(rel)
            .env("WEIR_TEST_SECRET", SECRET)
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}: validate must fail",
            rel.display()
        );
        assert!(
            !stderr.contains(SECRET),
            "{}: printed an environment value",
            rel.display()
        );
        let expected_file = case.with_extension("expected");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&expected_file, &stderr).unwrap();
        }
        let expected = std::fs::read_to_string(&expected_file).unwrap_or_default();
        assert_eq!(stderr, expected, "{}", rel.display());
    }
}

#[test]
fn valid_pipelines_pass() {
    // The quickstart names the `redact` example plugin's .wasm.
    build_plugins();
    let out = run_ok(
        weir()
            .args([
                "validate",
                "examples/quickstart",
                "examples/kafka-to-s3",
                "tests/golden/hourly_parquet/pipeline.yaml",
            ])
            .env("WEIR_TEST_LAKE", "/tmp/unused"),
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("examples/quickstart/quickstart.yaml: ok (pipeline `quickstart`)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("pipeline.yaml: ok (pipeline `hourly`)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("examples/kafka-to-s3/payments.yaml: ok (pipeline `payments`)"),
        "{stdout}"
    );
}

//! The runnable walkthroughs under `examples/`, run as a user would (with the Weir
//! this test build made): each script checks what it archived and fails otherwise.

mod common;

use std::process::Command;

use common::root;

/// `examples/kafka-to-s3/run.sh`: tansu, moto and Weir on loopback; Confluent's
/// ProtobufSerializer frames payments with the id Weir's registry API serves; the script
/// reads the lake back (pyarrow, DuckDB) and checks each payment is there once and the
/// two records that are not Payments are dead letters.
#[test]
fn the_kafka_to_s3_walkthrough_archives_every_payment_once() {
    let out = Command::new("bash")
        .arg(root().join("examples/kafka-to-s3/run.sh"))
        .env("WEIR", env!("CARGO_BIN_EXE_weir"))
        .env("RECORDS", "3000")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the walkthrough failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "3000 payments, 3000 distinct ids",
        "3000 distinct (partition, offset) pairs",
        "dead letter: bad-framing",
        "dead letter: unknown-schema-id",
        "every payment archived once",
    ] {
        assert!(stdout.contains(line), "`{line}` not in:\n{stdout}");
    }
}

/// `examples/deploy/`: the Kubernetes manifest's pipelines and schemas, laid out as the
/// pod mounts them, pass `weir validate`; the flags it and the systemd unit give exist.
#[test]
fn the_deployment_examples_validate_with_this_weir() {
    let weir = env!("CARGO_BIN_EXE_weir");
    let examples = root().join("examples/deploy");
    let out = common::python_script(
        "deploy_check.py",
        &[weir, examples.to_str().unwrap()],
        "pyyaml",
    );
    assert!(out.contains("ok (pipeline `payments`)"), "{out}");
}

//! Avro and Protobuf records produced by libraries we did not write (fastavro; Google's
//! protobuf runtime and protoc), Confluent- and single-object-framed, go through Weir
//! into Parquet that pyarrow reads back with every mapped type; corrupt, unknown and
//! incompatible records reach the error prefix with their own error types.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;

fn registry() -> std::path::PathBuf {
    root().join("tests/formats/schemas")
}

/// Schema ids of `subject`'s versions, as `weir schema list` prints them.
fn ids(subject: &str) -> Vec<String> {
    let out = run_ok(
        weir()
            .args(["schema", "list", "--registry"])
            .arg(registry()),
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with(&format!("{subject}\t")))
        .map(|l| {
            l.split('\t')
                .nth(3)
                .unwrap()
                .trim_start_matches("id ")
                .to_string()
        })
        .collect()
}

fn python(args: &[&str]) -> String {
    python_script("formats.py", args, "fastavro, protobuf and grpcio-tools")
}

/// Error type → reasons, from the dead letters under `errors/`.
fn dead_letters(lake: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in walk(&lake.join("errors")) {
        for line in std::fs::read_to_string(&entry).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            out.entry(v["error_type"].as_str().unwrap().to_string())
                .or_default()
                .push(v["reason"].as_str().unwrap().to_string());
        }
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}

fn run_pipeline(
    dir: &Path,
    name: &str,
    subject: &str,
    encoding: &str,
    prefix: &str,
) -> std::path::PathBuf {
    let lake = dir.join("lake");
    std::fs::create_dir_all(dir.join("pipelines")).unwrap();
    std::fs::write(
        dir.join("pipelines/p.yaml"),
        format!(
            "apiVersion: weir/v1\nname: {name}\nsource:\n  type: file\n  path: ../records.b64\n  encoding: base64\n  batch_size: 30\nschema:\n  registry: {}\n  subject: {subject}\n  encoding: {encoding}\nsink:\n  url: {}\n  prefix: \"{prefix}\"\n  error_prefix: \"errors/!{{error:type}}/\"\n  time:\n    field: at\n",
            registry().display(),
            lake.display()
        ),
    )
    .unwrap();
    run_ok(&mut weir_run(&dir.join("pipelines"), &dir.join("state")));
    lake
}

#[test]
fn avro_of_every_type_and_framing_reaches_parquet() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("records.b64");
    let mut args = vec![
        "produce-avro".to_string(),
        registry().display().to_string(),
        input.display().to_string(),
    ];
    args.extend(ids("events"));
    python(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let lake = run_pipeline(
        tmp.path(),
        "avro-events",
        "events",
        "avro",
        "kind=!{field:kind}/day=!{timestamp:yyyy-MM-dd}/",
    );
    let checked = python(&["check-avro", lake.to_str().unwrap()]);
    assert_eq!(
        checked.trim(),
        "ok: 81 rows; kind=BUY/day=2024-05-03 kind=CLICK/day=2024-05-01 kind=VIEW/day=2024-05-02"
    );
    let dead = dead_letters(&lake);
    let kinds: BTreeMap<&str, usize> = dead.iter().map(|(k, v)| (k.as_str(), v.len())).collect();
    assert_eq!(
        kinds,
        BTreeMap::from([
            ("bad-framing", 1),
            ("decode-failed", 3),
            ("schema-incompatible", 1),
            ("unknown-schema-id", 1)
        ])
    );
    assert!(
        dead["bad-framing"][0].starts_with("starts with 05 "),
        "{dead:?}"
    );
    assert_eq!(
        dead["unknown-schema-id"][0],
        "schema id 999 is not in the registry"
    );
    assert!(
        dead["schema-incompatible"][0]
            .starts_with("written with version 3, which the registry refuses: BACKWARD:"),
        "{dead:?}"
    );
    assert!(
        dead["decode-failed"]
            .iter()
            .any(|r| r.starts_with("the line is not valid base64"))
    );
    assert_eq!(
        dead["decode-failed"]
            .iter()
            .filter(|r| r.starts_with("corrupt or truncated Avro"))
            .count(),
        2
    );
}

#[test]
fn protobuf_with_confluent_framing_reaches_parquet() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("records.b64");
    let mut args = vec![
        "produce-protobuf".to_string(),
        registry().display().to_string(),
        input.display().to_string(),
    ];
    args.extend(ids("orders"));
    python(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let lake = run_pipeline(
        tmp.path(),
        "proto-orders",
        "orders",
        "protobuf",
        "status=!{field:status}/day=!{timestamp:yyyy-MM-dd}/",
    );
    assert_eq!(
        python(&["check-protobuf", lake.to_str().unwrap()]).trim(),
        "ok: 80 rows"
    );
    assert!(
        lake.join("status=PAID/day=2024-06-02").is_dir(),
        "enum and timestamp fields name prefixes"
    );
    let dead = dead_letters(&lake);
    assert_eq!(
        dead["unknown-schema-id"],
        ["schema id 12345 is not in the registry"]
    );
    assert_eq!(
        dead["schema-incompatible"],
        ["record is a `weir.test.Refund`, the pipeline reads `weir.test.Order`"]
    );
    assert!(
        dead["decode-failed"][0].starts_with("corrupt Protobuf: "),
        "{dead:?}"
    );
    assert_eq!(dead.len(), 3, "{dead:?}");
}

#[test]
fn schema_check_reports_each_version() {
    let out = weir()
        .args(["schema", "check", "events", "--registry"])
        .arg(registry())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "an incompatible version fails the check"
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.lines().take(3).collect::<Vec<_>>(),
        [
            "subject `events`, compatibility BACKWARD",
            "  version 1: first version",
            "  version 2: compatible"
        ]
    );
    assert!(text.lines().nth(3).unwrap().starts_with(
        "  version 3: INCOMPATIBLE: BACKWARD: version 3 cannot read data written with version 2: "
    ));
    let ok = run_ok(
        weir()
            .args(["schema", "check", "orders", "--registry"])
            .arg(registry()),
    );
    assert!(
        String::from_utf8(ok.stdout)
            .unwrap()
            .contains("compatibility FULL\n  version 1: first version\n  version 2: compatible\n")
    );
}

#[test]
fn validate_rejects_a_wrong_schema_type_and_a_refused_version() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, schema: &str| {
        let path = tmp.path().join(name);
        std::fs::write(
            &path,
            format!(
                "apiVersion: weir/v1\nname: p\nsource:\n  type: file\n  path: x.b64\nschema:\n  registry: {}\n{schema}sink:\n  url: {}\n",
                registry().display(),
                tmp.path().join("lake").display()
            ),
        )
        .unwrap();
        let out = weir().arg("validate").arg(&path).output().unwrap();
        assert!(!out.status.success());
        String::from_utf8(out.stderr).unwrap()
    };
    let wrong = write("wrong.yaml", "  subject: events\n  encoding: protobuf\n");
    assert!(
        wrong.contains("wrong.yaml:8:3: schema.subject: `")
            && wrong.contains("events/2.avsc`: `schema.encoding: protobuf` needs a .proto schema, this version is AVRO"),
        "{wrong}"
    );
    let refused = write(
        "refused.yaml",
        "  subject: events\n  version: 3\n  encoding: avro\n",
    );
    assert!(
        refused.contains(
            "events/3.avsc`: BACKWARD: version 3 cannot read data written with version 2"
        ) && refused.contains("set another compatibility mode in events/config.json"),
        "{refused}"
    );
}

#[test]
fn validate_rejects_jsonl_output_of_binary_records() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("p.yaml");
    std::fs::write(
        &path,
        format!(
            "apiVersion: weir/v1\nname: p\nsource:\n  type: file\n  path: x.b64\n  encoding: base64\nschema:\n  registry: {}\n  subject: events\n  encoding: avro\nsink:\n  url: {}\n  format: jsonl\n",
            registry().display(),
            tmp.path().join("lake").display()
        ),
    )
    .unwrap();
    let out = weir().arg("validate").arg(&path).output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("p.yaml:13:3: sink.format: JSON lines keep records as they arrived"),
        "{err}"
    );
}

#[tokio::test]
async fn json_records_of_an_older_version_keep_the_fields_it_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let subject = tmp.path().join("schemas/clicks");
    std::fs::create_dir_all(&subject).unwrap();
    // Version 2 drops `legacy`; under NONE both versions are accepted, and records of
    // version 1 still pass version 2's open content model.
    std::fs::write(subject.join("config.json"), r#"{"compatibility": "NONE"}"#).unwrap();
    std::fs::write(
        subject.join("1.json"),
        r#"{"type": "object", "properties": {"id": {"type": "integer"}, "legacy": {"type": "string"}}, "required": ["id"]}"#,
    )
    .unwrap();
    std::fs::write(
        subject.join("2.json"),
        r#"{"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}"#,
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("clicks.jsonl"),
        "{\"id\": 1, \"legacy\": \"written by v1\"}\n{\"id\": 2}\n",
    )
    .unwrap();
    let pipelines = tmp.path().join("pipelines");
    std::fs::create_dir(&pipelines).unwrap();
    std::fs::write(
        pipelines.join("clicks.yaml"),
        "apiVersion: weir/v1\nname: clicks\nsource:\n  type: file\n  path: ../clicks.jsonl\nschema:\n  subject: clicks\nsink:\n  url: ../lake\n  prefix: \"data/\"\n",
    )
    .unwrap();
    run_ok(&mut weir_run(&pipelines, &tmp.path().join("state")));
    let lake = read_dir_lake(&tmp.path().join("lake")).await;
    let rows: Vec<&String> = lake.values().flatten().collect();
    // Nulls are left out of the rendered rows; without the older version's column the
    // first row would lose `legacy`.
    assert_eq!(
        rows,
        [r#"{"id":1,"legacy":"written by v1"}"#, r#"{"id":2}"#],
        "{lake:?}"
    );
}

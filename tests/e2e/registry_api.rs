//! Weir's registry API driven by a client we did not write: confluent-kafka's
//! `SchemaRegistryClient` and its Avro, JSON Schema and Protobuf serializers register
//! schemas (with references) in an empty registry directory served by `weir schema
//! serve`, frame records, and Weir turns those records into Parquet that pyarrow checks.

mod common;

use std::path::Path;

use common::*;

fn python(args: &[&str]) -> String {
    python_script("registry.py", args, "confluent-kafka")
}

fn pipeline(dir: &Path, topic: &str, encoding: &str, registry: &str, lake: &str) {
    std::fs::write(
        dir.join(format!("{topic}.yaml")),
        format!(
            "apiVersion: weir/v1\nname: {topic}\nsource:\n  type: file\n  path: ../out/{topic}.b64\n  encoding: base64\nschema:\n  registry: {registry}\n  subject: {topic}-value\n  encoding: {encoding}\nsink:\n  url: ../{lake}/{topic}\n  prefix: \"day=!{{timestamp:yyyy-MM-dd}}/\"\n  error_prefix: \"errors/!{{error:type}}/\"\n  time:\n    field: at\n"
        ),
    )
    .unwrap();
}

#[tokio::test]
async fn confluent_clients_register_with_weir_and_weir_reads_their_records() {
    let tmp = tempfile::tempdir().unwrap();
    let schemas = tmp.path().join("schemas");
    std::fs::create_dir(&schemas).unwrap();
    let port = free_port();
    let _server = Server(
        weir()
            .args(["schema", "serve", "--registry"])
            .arg(&schemas)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .spawn()
            .expect("weir starts"),
    );
    wait_for_port(port, "weir schema serve");
    let out = tmp.path().join("out");
    let url = format!("http://127.0.0.1:{port}");
    let ids: serde_json::Value =
        serde_json::from_str(python(&["produce", &url, out.to_str().unwrap()]).trim()).unwrap();

    // What the clients registered is plain files: Avro and JSON as sent, Protobuf
    // descriptors as .proto source, references next to the version they belong to.
    for file in [
        "device/1.avsc",
        "clicks-value/1.avsc",
        "clicks-value/2.avsc",
        "clicks-value/1.references.json",
        "pageviews-value/1.json",
        "pageviews-value/config.json",
        "weir%2Fmoney.proto/1.proto",
        "orders-value/1.proto",
        "orders-value/1.references.json",
    ] {
        assert!(schemas.join(file).is_file(), "{file} was not written");
    }
    assert!(
        !schemas.join("clicks-value/3.avsc").exists(),
        "the incompatible version was written"
    );
    let proto = std::fs::read_to_string(schemas.join("orders-value/1.proto")).unwrap();
    assert!(proto.contains("import \"weir/money.proto\";"), "{proto}");
    assert!(proto.contains("map<string, int32> counts = 5;"), "{proto}");
    // The ids the serializers framed records with are the ids Weir derives from the files.
    let listed = String::from_utf8(
        run_ok(weir().args(["schema", "list", "--registry"]).arg(&schemas)).stdout,
    )
    .unwrap();
    for key in ["clicks-1", "clicks-2", "pageviews", "orders"] {
        let id = format!("id {}", ids[key]);
        assert!(listed.contains(&id), "{key}: {id} not in\n{listed}");
    }

    // Pipelines read the registry as a directory, and through Weir's own registry
    // client over the API: the same rows either way.
    for (name, registry) in [("lake", "../schemas"), ("lake-remote", url.as_str())] {
        let pipelines = tmp.path().join(format!("pipelines-{name}"));
        std::fs::create_dir(&pipelines).unwrap();
        for (topic, encoding) in [
            ("clicks", "avro"),
            ("pageviews", "json"),
            ("orders", "protobuf"),
        ] {
            pipeline(&pipelines, topic, encoding, registry, name);
        }
        run_ok(&mut weir_run(
            &pipelines,
            &tmp.path().join(format!("state-{name}")),
        ));
        let checked = python(&["check", tmp.path().join(name).to_str().unwrap()]);
        assert!(
            checked.contains("ok: 50 clicks, 25 pageviews, 25 orders"),
            "{name}: {checked}"
        );
    }
    let lake = tmp.path().join("lake-remote");
    let mirrored = tmp
        .path()
        .join(format!("state-lake-remote/registry-cache/127.0.0.1_{port}"));
    assert!(
        mirrored.join("orders-value/ids.json").is_file(),
        "no mirror in {}",
        mirrored.display()
    );

    // Framed JSON that fails goes to the error prefix by kind, with the line as written.
    let errors = read_dir_lake(&lake.join("pageviews")).await;
    let kinds: Vec<(&str, &str)> = errors
        .iter()
        .filter(|(k, _)| k.starts_with("errors/"))
        .flat_map(|(k, lines)| lines.iter().map(move |l| (k.as_str(), l.as_str())))
        .map(|(k, l)| (k.split('/').nth(1).unwrap(), l))
        .collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    let reason = |kind: &str| {
        let (_, line) = kinds
            .iter()
            .find(|(k, _)| *k == kind)
            .unwrap_or_else(|| panic!("no {kind}: {kinds:?}"));
        serde_json::from_str::<serde_json::Value>(line).unwrap()["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        reason("schema-mismatch"),
        "/url: 5 is not of type \"string\""
    );
    assert_eq!(
        reason("unknown-schema-id"),
        "schema id 4242 is not in the registry"
    );
    assert!(reason("invalid-json").contains("key must be a string"));
}

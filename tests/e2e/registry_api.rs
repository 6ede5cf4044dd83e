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

/// A POST to the registry API: the status code and the body.
fn post(host: &str, path: &str, body: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    // A refused body may be answered before it is all sent.
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).to_string();
    let code = answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (code, body)
}

/// Hostile subjects and bodies: odd subject names are kept as they are, inside the
/// registry folder; an empty or overlong subject and an oversized body are refused.
#[test]
fn hostile_subjects_and_bodies_are_kept_inside_the_registry_or_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let registry = tmp.path().join("registry");
    std::fs::create_dir_all(&registry).unwrap();
    let port = free_port();
    let host = format!("127.0.0.1:{port}");
    let _server = Server(
        weir()
            .args(["schema", "serve", "--listen", &host, "--registry"])
            .arg(&registry)
            .spawn()
            .unwrap(),
    );
    wait_for_port(port, "the registry API");
    let schema =
        serde_json::json!({"schema": "{\"type\": \"object\"}", "schemaType": "JSON"}).to_string();
    let subjects = [
        "../escape",
        "a/b",
        ".hidden",
        "with space",
        "ünï",
        "%41",
        "..",
        "a\\b",
    ];
    for subject in subjects {
        let path = format!("/subjects/{}/versions", percent(subject));
        let (code, body) = post(&host, &path, schema.as_bytes());
        assert_eq!(code, 200, "{subject}: {body}");
    }
    let listed: Vec<String> =
        serde_json::from_str(&common::daemon::http_get(&host, "/subjects")).unwrap();
    let mut want: Vec<String> = subjects.iter().map(|s| s.to_string()).collect();
    want.sort();
    let mut got = listed.clone();
    got.sort();
    assert_eq!(got, want);
    // Nothing was written outside the registry folder.
    let outside: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside, vec![std::ffi::OsString::from("registry")]);

    // Protobuf schemas compile whatever folder their subject maps to.
    let proto = serde_json::json!({
        "schema": "syntax = \"proto3\";\nmessage M { string id = 1; }\n",
        "schemaType": "PROTOBUF"
    })
    .to_string();
    for subject in ["p/b", "p space", "%50", ".p", "../p", "p//q", "/p", "..."] {
        let path = format!("/subjects/{}/versions", percent(subject));
        let (code, body) = post(&host, &path, proto.as_bytes());
        assert_eq!(code, 200, "{subject}: {body}");
        let id: serde_json::Value = serde_json::from_str(&body).unwrap();
        let served = common::daemon::http_get(
            &host,
            &format!("/schemas/ids/{}?format=serialized", id["id"]),
        );
        assert!(served.contains("\"schema\""), "{subject}: {served}");
    }

    let long = "s".repeat(300);
    let (code, body) = post(
        &host,
        &format!("/subjects/{long}/versions"),
        schema.as_bytes(),
    );
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("42201"), "{body}");
    let huge = vec![b' '; 2 << 20];
    let (code, _) = post(&host, "/subjects/big/versions", &huge);
    assert_eq!(code, 413);
}

/// A subject as a URL path segment.
fn percent(subject: &str) -> String {
    subject
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

//! Plugins that misbehave are contained: the daemon stays up, exactly the records
//! that trigger the misbehaviour reach the error prefix with a reason, and everything
//! else reaches the lake. Also: a second start loads compiled plugins from the cache,
//! which must be private.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use common::*;

/// Record id → what the `hostile` plugin does with it.
const ACTS: [(u64, &str, &str); 7] = [
    (100, "loop", "timed out (limit 300ms per batch)"),
    (200, "bomb", "ran out of memory (limit 32 MiB)"),
    (300, "panic", "the plugin logged: panicked: panicked at"),
    (
        400,
        "offsets",
        "returned malformed output: records: value offsets",
    ),
    (500, "file", "read /etc/hostname:"),
    (600, "env", "read HOME:"),
    (700, "socket", "connect 127.0.0.1:"),
];

fn write_input(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    for id in 0..1000u64 {
        match ACTS.iter().find(|(i, _, _)| *i == id) {
            Some((_, act, _)) => writeln!(f, r#"{{"id":{id},"act":"{act}"}}"#),
            None => writeln!(f, r#"{{"id":{id}}}"#),
        }
        .unwrap();
    }
}

fn pipeline(dir: &Path, wasm: &Path, socket: &str) {
    std::fs::create_dir_all(dir.join("p")).unwrap();
    std::fs::write(
        dir.join("p/hostile.yaml"),
        format!(
            "apiVersion: weir/v1\nname: hostile\nsource:\n  type: file\n  path: {input}\n  batch_size: 1000\ntransforms:\n  - plugin: {wasm}\n    config:\n      socket: {socket}\n    limits:\n      memory: 32MiB\n      timeout: 300ms\nsink:\n  url: {lake}\n  format: jsonl\n  error_prefix: \"errors/!{{error:type}}/\"\n",
            input = dir.join("in.ndjson").display(),
            wasm = wasm.display(),
            lake = dir.join("lake").display(),
        ),
    )
    .unwrap();
}

#[tokio::test]
async fn hostile_plugins_are_contained() {
    let wasm = build_plugins().join("hostile.wasm");
    let tmp = tempfile::tempdir().unwrap();
    // A listener the plugin is told to connect to: it must never see a connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let socket = listener.local_addr().unwrap().to_string();
    write_input(&tmp.path().join("in.ndjson"));
    pipeline(tmp.path(), &wasm, &socket);

    let out = run_ok(
        weir_run(&tmp.path().join("p"), &tmp.path().join("state")).env("HOME", "/secret-home"),
    );
    let lake = read_dir_lake(&tmp.path().join("lake")).await;

    let mut delivered = BTreeSet::new();
    let mut failed = Vec::new();
    for (key, lines) in &lake {
        for line in lines {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if key.starts_with("errors/") {
                assert!(key.starts_with("errors/processing-failed/"), "{key}");
                let raw: serde_json::Value =
                    serde_json::from_str(v["raw"].as_str().unwrap()).unwrap();
                failed.push((
                    raw["id"].as_u64().unwrap(),
                    v["reason"].as_str().unwrap().to_string(),
                ));
            } else {
                assert!(v.get("leaked").is_none(), "the sandbox leaked: {line}");
                assert!(
                    !line.contains("secret-home"),
                    "the environment leaked: {line}"
                );
                delivered.insert(v["id"].as_u64().unwrap());
            }
        }
    }
    failed.sort();
    let expected_failed: Vec<u64> = ACTS.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(
        failed.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        expected_failed,
        "exactly the hostile records fail"
    );
    for ((id, reason), (_, act, want)) in failed.iter().zip(ACTS) {
        assert!(
            reason.starts_with("hostile: ") && reason.contains(want),
            "record {id} ({act}): reason `{reason}` should contain `{want}`"
        );
    }
    let expected: BTreeSet<u64> = (0..1000).filter(|i| !expected_failed.contains(i)).collect();
    assert_eq!(
        delivered, expected,
        "every other record reaches the lake once"
    );
    assert!(
        listener.accept().is_err(),
        "the plugin must not reach the network"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("993 records"), "{stdout}");
}

#[test]
fn a_second_start_loads_compiled_plugins_from_the_cache() {
    let wasm = build_plugins().join("noop.wasm");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("in.ndjson"), "{\"id\":1}\n").unwrap();
    std::fs::create_dir_all(tmp.path().join("p")).unwrap();
    std::fs::write(
        tmp.path().join("p/noop.yaml"),
        format!(
            "apiVersion: weir/v1\nname: noop\nsource:\n  type: file\n  path: {}\ntransforms:\n  - plugin: {}\nsink:\n  url: {}\n  format: jsonl\n",
            tmp.path().join("in.ndjson").display(),
            wasm.display(),
            tmp.path().join("lake").display()
        ),
    )
    .unwrap();
    let start = || {
        let out = run_ok(
            weir_run(&tmp.path().join("p"), &tmp.path().join("state/pipelines"))
                .env("WEIR_LOG", "info"),
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let first = start();
    assert!(first.contains("compiled plugin"), "{first}");
    assert!(!first.contains("from cache"), "{first}");
    let cache = tmp.path().join("state/cache/plugins");
    // The component and its digest, in a folder only this user can use.
    assert_eq!(cache.read_dir().unwrap().count(), 2);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&cache).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    let second = start();
    assert!(
        second.contains("loaded compiled plugin from cache"),
        "{second}"
    );
    // A cache folder others can write is not trusted: native code could be planted.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let third = start();
    assert!(third.contains("not using the plugin cache"), "{third}");
    assert!(!third.contains("from cache"), "{third}");
}

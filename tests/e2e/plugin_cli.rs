//! The plugin author's path: scaffold a crate, test it natively, build it for Wasm,
//! try it with `weir plugin run`, and have `weir validate` check a step's config.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn cargo(dir: &Path, args: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(dir)
        // Shares compiled dependencies with the suite's other plugin builds.
        .env("CARGO_TARGET_DIR", root().join("tests/plugins/target"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_scaffolded_plugin_tests_builds_and_runs() {
    build_plugins();
    let tmp = tempfile::tempdir().unwrap();
    let out = run_ok(
        weir()
            .args(["plugin", "new", "has-field", "--dir"])
            .arg(tmp.path()),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("created"));
    let crate_dir = tmp.path().join("has-field");
    cargo(&crate_dir, &["test", "--quiet"]);
    cargo(
        &crate_dir,
        &["build", "--release", "--target", "wasm32-wasip2"],
    );
    let wasm = root().join("tests/plugins/target/wasm32-wasip2/release/has_field.wasm");

    let sample = tmp.path().join("sample.jsonl");
    std::fs::write(&sample, "{\"id\":1}\n{\"name\":\"x\"}\n").unwrap();
    let out = run_ok(
        weir()
            .args(["plugin", "run"])
            .arg(&wasm)
            .arg("--input")
            .arg(&sample)
            .args(["--config", "field=id"]),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "line 1: {\"id\":1}\nline 2: ERROR has_field: field `id` is missing\n"
    );

    // And in a pipeline.
    let p = tmp.path().join("p");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(
        p.join("mine.yaml"),
        format!(
            "apiVersion: weir/v1\nname: mine\nsource:\n  type: file\n  path: {}\ntransforms:\n  - plugin: {}\n    config:\n      field: id\nsink:\n  url: {}\n  format: jsonl\n",
            sample.display(),
            wasm.display(),
            tmp.path().join("lake").display()
        ),
    )
    .unwrap();
    let out = run_ok(&mut weir_run(&p, &tmp.path().join("state")));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 records in 2 objects under"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn plugin_run_shows_outputs_partition_keys_and_errors() {
    let dir = build_plugins();
    let examples = dir.join("../../../../../plugins/examples/target/wasm32-wasip2/release");
    let tmp = tempfile::tempdir().unwrap();
    let sample = tmp.path().join("s.jsonl");
    std::fs::write(&sample, "{\"r\":\"eu\"}\n\n{\"x\":1}\n").unwrap();
    let out = run_ok(
        weir()
            .args(["plugin", "run"])
            .arg(examples.join("route.wasm"))
            .arg("--input")
            .arg(&sample)
            .args(["--config", "field=r", "--config", "key=region"]),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "line 1: {\"r\":\"eu\"}  [partition region=eu]\nline 3: ERROR route: field `r` is missing and no default is set\n"
    );
}

#[test]
fn validate_runs_the_plugins_init() {
    build_plugins();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bad.yaml");
    let redact = root().join("plugins/examples/target/wasm32-wasip2/release/redact.wasm");
    std::fs::write(
        &file,
        format!(
            "apiVersion: weir/v1\nname: bad\nsource:\n  type: generator\n  count: 1\ntransforms:\n  - plugin: {}\n    config:\n      field: email\nsink:\n  url: {}\n  format: jsonl\n",
            redact.display(),
            tmp.path().join("lake").display()
        ),
    )
    .unwrap();
    let out = weir().arg("validate").arg(&file).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let want = format!(
        "{}:8:5: transforms[0].config: plugin `redact` rejected its config: unknown config key `field` (expected one of: fields, mask, keep_last)",
        file.display()
    );
    assert!(stderr.contains(&want), "{stderr}");
}

#[test]
fn a_plugin_built_for_an_older_interface_is_refused_with_what_to_do() {
    let plugins = build_plugins();
    let tmp = tempfile::tempdir().unwrap();
    let sample = tmp.path().join("sample.jsonl");
    std::fs::write(&sample, "{\"id\":1}\n").unwrap();
    let out = weir()
        .args(["plugin", "run"])
        .arg(plugins.join("legacy.wasm"))
        .arg("--input")
        .arg(&sample)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "plugin `legacy`: built for the plugin interface weir:transform@0.1.0, but this Weir \
             speaks weir:transform@0.2.0: rebuild the plugin against this release's weir-plugin SDK"
        ),
        "{stderr}"
    );
}

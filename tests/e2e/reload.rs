//! Hot reload: a pipeline file rewritten 100 times while it writes (valid and invalid
//! versions alternating), a plugin rebuilt in place, a file added and removed, SIGHUP
//! and `POST /reload`: every record lands once, every refused version is reported with
//! its place, and the other pipeline of the daemon keeps delivering.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use common::daemon::{Daemon, http_request};
use common::{build_plugins, read_dir_lake, root, weir_daemon};
use serde_json::Value;

/// The pipeline the test edits: orders → redact → Parquet.
struct Edited {
    prefix: String,
    interval_ms: u64,
    keep_last: u64,
}

impl Edited {
    fn yaml(&self, lake: &Path, broken: Option<Broken>) -> String {
        let plugin = root().join("plugins/examples/target/wasm32-wasip2/release/redact.wasm");
        let (subject, colour, bogus) = match broken {
            Some(Broken::Schema) => ("nope", "", ""),
            Some(Broken::Init) => ("orders", "\n      colour: red", ""),
            Some(Broken::Key) => ("orders", "", "\n  bogus: 1"),
            _ => ("orders", "", ""),
        };
        let mut text = format!(
            "apiVersion: weir/v1\nname: edited\nsource:\n  type: generator\n  kind: orders\n  rate_per_sec: 1000\n  batch_size: 50\n\
             transforms:\n  - plugin: {}\n    config:\n      fields: [email, phone]\n      keep_last: {}{colour}\n\
             schema:\n  registry: {}\n  subject: {subject}\n\
             sink:\n  url: {}\n  prefix: \"{}/\"{bogus}\n  time:\n    field: event_time\n  buffer:\n    interval: {}ms\n",
            plugin.display(),
            self.keep_last,
            root().join("schemas").display(),
            lake.display(),
            self.prefix,
            self.interval_ms,
        );
        if matches!(broken, Some(Broken::Yaml)) {
            text.push_str("sink: [unclosed\n");
        }
        text
    }
}

#[derive(Clone, Copy, Debug)]
enum Broken {
    Yaml,
    Key,
    Init,
    Schema,
}

fn steady(lake: &Path) -> String {
    format!(
        "apiVersion: weir/v1\nname: steady\nsource:\n  type: generator\n  kind: orders\n  rate_per_sec: 400\n  batch_size: 20\n\
         schema:\n  registry: {}\n  subject: orders\n\
         sink:\n  url: {}\n  prefix: \"steady/\"\n  buffer:\n    interval: 1s\n",
        root().join("schemas").display(),
        lake.display(),
    )
}

/// Writes `text` to `file` in place, or (every other time) as editors do: a new file
/// renamed over the old one.
fn save(file: &Path, text: &str, atomically: bool) {
    if atomically {
        let tmp = file.with_extension("yaml.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, file).unwrap();
    } else {
        std::fs::write(file, text).unwrap();
    }
}

/// `last_reload` of a pipeline once its time is after `after_ms` (fails after 30 s).
fn next_reload(daemon: &Daemon, name: &str, after_ms: u64) -> Value {
    let start = Instant::now();
    loop {
        let reload = daemon.pipeline(name)["last_reload"].clone();
        if reload["at_ms"].as_u64().is_some_and(|at| at > after_ms) {
            return reload;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no reload of `{name}` after {after_ms}; last: {reload}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Order numbers in the lake's data objects under `prefix`, with how often each occurs.
fn orders_under(lake: &Path, prefix: &str) -> BTreeMap<u64, u32> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let objects = runtime.block_on(read_dir_lake(lake));
    let mut seen = BTreeMap::new();
    for (key, rows) in objects {
        if !key.starts_with(prefix) {
            continue;
        }
        for row in rows {
            let v: Value = serde_json::from_str(&row).unwrap();
            let id = v["order_id"].as_str().unwrap();
            let n: u64 = id.rsplit('-').next().unwrap().parse().unwrap();
            *seen.entry(n).or_insert(0) += 1;
        }
    }
    seen
}

/// Every order from 0 up, each once; the count.
fn assert_once_from_zero(seen: &BTreeMap<u64, u32>, what: &str) -> u64 {
    let twice: Vec<_> = seen.iter().filter(|(_, c)| **c > 1).take(10).collect();
    assert!(twice.is_empty(), "{what}: orders written twice: {twice:?}");
    let n = seen.len() as u64;
    let missing: Vec<u64> = (0..n).filter(|i| !seen.contains_key(i)).take(10).collect();
    assert!(
        missing.is_empty(),
        "{what}: orders missing: {missing:?} of {n}"
    );
    n
}

/// Modification times of the data objects under `prefix`, oldest first.
fn written_at(dir: &Path) -> Vec<SystemTime> {
    let mut times = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path: PathBuf = entry.unwrap().path();
        if path.is_file() {
            times.push(std::fs::metadata(&path).unwrap().modified().unwrap());
        }
    }
    times.sort();
    times
}

#[test]
fn a_pipeline_rewritten_100_times_under_load_loses_and_repeats_nothing_and_its_neighbour_keeps_delivering()
 {
    build_plugins();
    let dir = tempfile::tempdir().unwrap();
    let (pipelines, lake) = (dir.path().join("pipelines"), dir.path().join("lake"));
    std::fs::create_dir_all(&pipelines).unwrap();
    let file = pipelines.join("edited.yaml");
    let mut edited = Edited {
        prefix: "edited/v0".into(),
        interval_ms: 1000,
        keep_last: 4,
    };
    save(&file, &edited.yaml(&lake, None), false);
    save(&pipelines.join("steady.yaml"), &steady(&lake), false);
    let daemon = Daemon::with_admin(weir_daemon(&pipelines, &dir.path().join("state")), "reload");
    assert!(daemon.wait_for("pipeline started pipeline=steady", Duration::from_secs(60)));
    std::thread::sleep(Duration::from_secs(2));

    let broken = [Broken::Yaml, Broken::Key, Broken::Init, Broken::Schema];
    let mut last_ms = next_reload(&daemon, "edited", 0)["at_ms"].as_u64().unwrap();
    let started = Instant::now();
    for i in 1..=100u64 {
        let version = if i % 2 == 1 {
            match (i / 2) % 3 {
                0 => edited.prefix = format!("edited/v{i}"),
                1 => edited.interval_ms = 500 + i,
                _ => edited.keep_last = i,
            }
            None
        } else {
            Some(broken[((i / 2) % 4) as usize])
        };
        save(&file, &edited.yaml(&lake, version), i % 4 < 2);
        let reload = next_reload(&daemon, "edited", last_ms);
        last_ms = reload["at_ms"].as_u64().unwrap();
        match version {
            None => assert_eq!(reload["result"], "applied", "version {i}: {reload}"),
            Some(kind) => {
                assert_eq!(
                    reload["result"], "failed",
                    "version {i} ({kind:?}): {reload}"
                );
                let error = &reload["errors"][0];
                assert!(
                    error["line"].as_u64().unwrap() >= 1
                        && !error["message"].as_str().unwrap().is_empty(),
                    "version {i} ({kind:?}) must be reported with its place and reason: {reload}"
                );
                // The version before it runs on.
                assert_eq!(daemon.pipeline("edited")["state"], "running", "version {i}");
            }
        }
        // Records flow between versions, as they would between an operator's edits.
        std::thread::sleep(Duration::from_millis(150));
    }
    let edits = started.elapsed();
    let file_label = file.display().to_string();
    let count = |result: &str| {
        daemon.metric(&format!(
            "weir_config_reloads_total{{file=\"{file_label}\",result=\"{result}\"}}"
        ))
    };
    assert_eq!((count("applied"), count("failed")), (50.0, 50.0));
    assert_eq!(
        daemon.pipeline("steady")["last_reload"]["result"],
        "started"
    );
    std::thread::sleep(Duration::from_secs(2));
    let status = daemon.stop();
    assert!(
        status.success(),
        "weir must exit 0 after SIGTERM, got {status}"
    );

    let edited_orders = assert_once_from_zero(&orders_under(&lake, "edited/"), "edited");
    let steady_orders = assert_once_from_zero(&orders_under(&lake, "steady/"), "steady");
    let prefixes = std::fs::read_dir(lake.join("edited")).unwrap().count();
    // The neighbour never stalled more than one flush interval: with a 1 s interval, an
    // object at least every 2 s (measured: at most 1.27 s apart).
    let times = written_at(&lake.join("steady"));
    let gaps = times.windows(2).map(|w| w[1].duration_since(w[0]).unwrap());
    let longest = gaps.max().unwrap();
    eprintln!(
        "100 versions in {edits:.1?}: edited wrote {edited_orders} orders under {prefixes} prefixes, steady {steady_orders}; steady longest gap {longest:?}"
    );
    assert!(prefixes >= 17, "every prefix change is applied: {prefixes}");
    assert!(
        longest <= Duration::from_secs(2),
        "steady stalled for {longest:?} during the reloads"
    );
}

#[test]
fn files_added_and_removed_start_and_drain_pipelines_and_an_explicit_reload_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (pipelines, lake) = (dir.path().join("pipelines"), dir.path().join("lake"));
    std::fs::create_dir_all(&pipelines).unwrap();
    // An empty directory: the daemon waits for files.
    let daemon = Daemon::with_admin(weir_daemon(&pipelines, &dir.path().join("state")), "add");
    let added = pipelines.join("steady.yaml");
    save(&added, &steady(&lake), true);
    let reload = next_reload(&daemon, "steady", 0);
    assert_eq!(reload["result"], "started", "{reload}");
    std::thread::sleep(Duration::from_secs(2));

    // Comments only: kept, nothing drained (an explicit reload reports it).
    let kept_text = format!("# owned by the data team\n{}", steady(&lake));
    save(&added, &kept_text, false);
    let answer = http_request(daemon.admin.as_ref().unwrap(), "POST", "/reload");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert!(
        answer["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["result"] == "kept"),
        "{answer}"
    );

    // A refused version: the running one goes on, the status says where and why.
    let kept_at = daemon.pipeline("steady")["last_reload"]["at_ms"]
        .as_u64()
        .unwrap();
    save(
        &added,
        "apiVersion: weir/v1\nname: steady\nsource: {type: nowhere}\n",
        false,
    );
    let refused = next_reload(&daemon, "steady", kept_at);
    assert_eq!(refused["result"], "failed", "{refused}");
    assert_eq!(refused["errors"][0]["line"], 3, "{refused}");
    assert_eq!(daemon.pipeline("steady")["state"], "running");
    assert!(daemon.get("/metrics").contains("weir_config_refused{file="));
    // SIGHUP reads the directory again and reports the refusal again.
    daemon.signal("HUP");
    let again = next_reload(&daemon, "steady", refused["at_ms"].as_u64().unwrap());
    assert_eq!(again["result"], "failed", "{again}");

    // Removed: drained and stopped, everything it read is in the lake.
    std::fs::remove_file(&added).unwrap();
    common::wait_until("the pipeline to be gone", || {
        daemon.get("/pipelines/steady").contains("no pipeline")
    });
    let status = daemon.stop();
    assert!(status.success(), "{status}");
    let n = assert_once_from_zero(&orders_under(&lake, "steady/"), "steady");
    assert!(n > 0);
}

#[test]
fn a_plugin_rebuilt_in_place_is_loaded_and_no_record_is_lost_or_repeated() {
    let plugins = build_plugins();
    let dir = tempfile::tempdir().unwrap();
    let (pipelines, lake) = (dir.path().join("pipelines"), dir.path().join("lake"));
    std::fs::create_dir_all(&pipelines).unwrap();
    let plugin = dir.path().join("plugin/mask.wasm");
    std::fs::create_dir_all(plugin.parent().unwrap()).unwrap();
    let redact = root().join("plugins/examples/target/wasm32-wasip2/release/redact.wasm");
    std::fs::copy(&redact, &plugin).unwrap();
    let yaml = format!(
        "apiVersion: weir/v1\nname: masked\nsource:\n  type: generator\n  kind: orders\n  rate_per_sec: 1000\n  batch_size: 50\n\
         transforms:\n  - plugin: {}\n    config:\n      fields: [email]\n\
         schema:\n  registry: {}\n  subject: orders\n\
         sink:\n  url: {}\n  format: jsonl\n  buffer:\n    interval: 500ms\n",
        plugin.display(),
        root().join("schemas").display(),
        lake.display()
    );
    save(&pipelines.join("masked.yaml"), &yaml, false);
    let daemon = Daemon::with_admin(weir_daemon(&pipelines, &dir.path().join("state")), "plugin");
    let started = next_reload(&daemon, "masked", 0);
    std::thread::sleep(Duration::from_secs(2));
    // The "rebuild": the compiler writes a new component over the old file.
    std::fs::write(&plugin, std::fs::read(plugins.join("noop.wasm")).unwrap()).unwrap();
    let applied = next_reload(&daemon, "masked", started["at_ms"].as_u64().unwrap());
    assert_eq!(applied["result"], "applied", "{applied}");
    std::thread::sleep(Duration::from_secs(2));
    assert!(daemon.stop().success());

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let objects = runtime.block_on(read_dir_lake(&lake));
    let (mut masked, mut plain, mut seen) = (0, 0, BTreeMap::new());
    for rows in objects.values() {
        for row in rows {
            let v: Value = serde_json::from_str(row).unwrap();
            let n: u64 = v["order_id"].as_str().unwrap()[4..].parse().unwrap();
            *seen.entry(n).or_insert(0u32) += 1;
            let email = v["customer"]["email"].as_str().unwrap();
            if email == "***" {
                masked += 1
            } else {
                plain += 1
            }
        }
    }
    assert_once_from_zero(&seen, "masked");
    assert!(
        masked > 0 && plain > 0,
        "before the rebuild masked, after it not: {masked} / {plain}"
    );
}

/// How a new version of `orders` (one that knows `refunded`) reaches the registry.
#[derive(Clone, Copy, Debug)]
enum NewVersion {
    /// Written into the local registry folder the pipeline reads.
    File,
    /// Registered through the daemon's own registry API (`--registry-listen`).
    DaemonApi,
    /// Registered in a remote registry the pipeline mirrors (`registry_refresh: 1s`).
    Remote,
}

#[test]
fn a_schema_version_added_to_the_registry_folder_is_used_without_a_restart() {
    schema_version_added_live(NewVersion::File);
}

#[test]
fn a_schema_version_registered_through_the_registry_api_is_used_without_a_restart() {
    schema_version_added_live(NewVersion::DaemonApi);
}

#[test]
fn a_schema_version_appearing_in_a_remote_registry_is_used_at_its_refresh() {
    schema_version_added_live(NewVersion::Remote);
}

fn schema_version_added_live(how: NewVersion) {
    let dir = tempfile::tempdir().unwrap();
    let (pipelines, lake) = (dir.path().join("pipelines"), dir.path().join("lake"));
    let (registry, input) = (dir.path().join("schemas"), dir.path().join("in"));
    for d in [&pipelines, &registry.join("orders"), &input] {
        std::fs::create_dir_all(d).unwrap();
    }
    let v1 = std::fs::read_to_string(root().join("schemas/orders/1.json")).unwrap();
    std::fs::write(registry.join("orders/1.json"), &v1).unwrap();
    // A remote registry: Weir's own registry API over that folder, in another process.
    let (_remote, registry_api) = match how {
        NewVersion::Remote => {
            let port = common::free_port();
            let server = common::weir()
                .args([
                    "schema",
                    "serve",
                    "--listen",
                    &format!("127.0.0.1:{port}"),
                    "--registry",
                ])
                .arg(&registry)
                .spawn()
                .unwrap();
            common::wait_for_port(port, "the remote registry");
            (
                Some(common::Server(server)),
                Some(format!("127.0.0.1:{port}")),
            )
        }
        NewVersion::DaemonApi => (None, Some(format!("127.0.0.1:{}", common::free_port()))),
        NewVersion::File => (None, None),
    };
    let registry_setting = match how {
        NewVersion::Remote => format!(
            "http://{}\n  registry_refresh: 1s",
            registry_api.as_ref().unwrap()
        ),
        _ => registry.display().to_string(),
    };
    let yaml = format!(
        "apiVersion: weir/v1\nname: refunds\nsource:\n  type: file\n  path: {}/*.ndjson\n  mode: follow\n  poll_interval: 200ms\n\
         schema:\n  registry: {registry_setting}\n  subject: orders\n\
         sink:\n  url: {}\n  prefix: \"orders/\"\n  buffer:\n    interval: 500ms\n",
        input.display(),
        lake.display()
    );
    save(&pipelines.join("refunds.yaml"), &yaml, false);
    let mut cmd = weir_daemon(&pipelines, &dir.path().join("state"));
    if let (NewVersion::DaemonApi, Some(api)) = (how, &registry_api) {
        cmd.args(["--registry-listen", api, "--registry"])
            .arg(&registry);
    }
    let daemon = Daemon::with_admin(cmd, "schema");
    let started = next_reload(&daemon, "refunds", 0);

    // Refunds before version 2 knows them: schema-mismatch dead letters.
    let batch = input.join("a.ndjson");
    refund_orders(&batch, 0, 200);
    common::wait_until("the early refunds to be dead letters", || {
        daemon
            .metric("weir_dead_letters_total{pipeline=\"refunds\",error_type=\"schema-mismatch\"}")
            >= 100.0
    });
    let v2 = v1.replace("\"cancelled\"]", "\"cancelled\", \"refunded\"]");
    assert_ne!(v1, v2);
    match how {
        NewVersion::File => std::fs::write(registry.join("orders/2.json"), v2).unwrap(),
        _ => {
            let body = serde_json::json!({"schema": v2, "schemaType": "JSON"}).to_string();
            let answer = common::daemon::http_post_json(
                registry_api.as_ref().unwrap(),
                "/subjects/orders/versions",
                &body,
            );
            assert!(answer.contains("\"id\""), "registering failed: {answer}");
        }
    }
    let applied = next_reload(&daemon, "refunds", started["at_ms"].as_u64().unwrap());
    assert_eq!(applied["result"], "applied", "{how:?}: {applied}");
    refund_orders(&batch, 200, 400);
    common::wait_until("every later order to be in the lake", || {
        daemon.metric("weir_records_delivered_total{pipeline=\"refunds\"}") >= 300.0
    });
    assert!(daemon.stop().success());
    let delivered = orders_under(&lake, "orders/");
    // Before: only non-refunds; after: all 200.
    assert_eq!(delivered.range(200..).count(), 200, "{how:?}");
    assert_eq!(delivered.range(..200).count(), 100, "{how:?}");
    assert!(delivered.values().all(|c| *c == 1));
}

/// Orders `from..to` appended to `path`; every other one (odd numbers) refunded.
fn refund_orders(path: &Path, from: u64, to: u64) {
    let tmp = path.with_extension("part");
    common::orders::append_orders(&tmp, from, to, 1000);
    let lines: String = std::fs::read_to_string(&tmp)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let n: u64 = v["order_id"].as_str().unwrap()[4..].parse().unwrap();
            let mut v = v;
            if n % 2 == 1 {
                v["status"] = "refunded".into();
            }
            format!("{v}\n")
        })
        .collect();
    std::fs::remove_file(&tmp).unwrap();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    std::io::Write::write_all(&mut file, lines.as_bytes()).unwrap();
}

/// `Type=notify` under systemd: READY=1 once the pipelines started, STOPPING=1 when
/// SIGTERM begins the drain.
#[test]
fn systemd_hears_ready_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let (pipelines, lake) = (dir.path().join("pipelines"), dir.path().join("lake"));
    std::fs::create_dir_all(&pipelines).unwrap();
    save(&pipelines.join("steady.yaml"), &steady(&lake), false);
    let socket_path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut cmd = weir_daemon(&pipelines, &dir.path().join("state"));
    cmd.env("NOTIFY_SOCKET", &socket_path);
    let daemon = Daemon::start(cmd, Some("systemd"));
    let mut message = [0u8; 512];
    let n = socket.recv(&mut message).unwrap();
    let ready = String::from_utf8_lossy(&message[..n]).to_string();
    assert!(ready.contains("READY=1"), "{ready}");
    assert!(ready.contains("STATUS=1 pipelines started"), "{ready}");
    daemon.signal("TERM");
    let n = socket.recv(&mut message).unwrap();
    assert!(String::from_utf8_lossy(&message[..n]).contains("STOPPING=1"));
    assert!(daemon.stop().success());
}

/// A pipeline that failed for good (its sink directory cannot be made) runs again on
/// an explicit reload once the cause is gone, though its file did not change.
#[test]
fn an_explicit_reload_restarts_a_failed_pipeline_after_the_cause_is_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let (pipelines, lake) = (dir.path().join("pipelines"), dir.path().join("lake"));
    std::fs::create_dir_all(&pipelines).unwrap();
    // A file where the lake's folder should be: the store cannot be opened.
    std::fs::write(&lake, "in the way").unwrap();
    save(&pipelines.join("steady.yaml"), &steady(&lake), false);
    let daemon = Daemon::with_admin(weir_daemon(&pipelines, &dir.path().join("state")), "failed");
    common::wait_until("the pipeline to fail", || {
        daemon.pipeline("steady")["state"] == "failed"
    });
    // Nothing changed on disk: a file event would not restart it.
    std::fs::remove_file(&lake).unwrap();
    let answer = http_request(daemon.admin.as_ref().unwrap(), "POST", "/reload");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["changes"][0]["result"], "applied", "{answer}");
    common::wait_until("the pipeline to run and write", || {
        daemon.pipeline("steady")["state"] == "running" && lake.join("steady").is_dir()
    });
    assert!(daemon.stop().success());
}

/// Under `--once` nothing reloads, and `POST /reload` says so at once.
#[test]
fn a_daemon_run_once_answers_a_reload_request_with_409() {
    let dir = tempfile::tempdir().unwrap();
    let (pipelines, lake) = (dir.path().join("pipelines"), dir.path().join("lake"));
    std::fs::create_dir_all(&pipelines).unwrap();
    save(&pipelines.join("steady.yaml"), &steady(&lake), false);
    let daemon = Daemon::with_admin(
        common::weir_run(&pipelines, &dir.path().join("state")),
        "once",
    );
    let answer = http_request(daemon.admin.as_ref().unwrap(), "POST", "/reload");
    assert!(answer.contains("--once"), "{answer}");
    assert!(daemon.stop().success());
}

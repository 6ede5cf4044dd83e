//! `weir replay`: schema-mismatch dead letters, run again through the pipeline after
//! its schema gained the missing value, land in the lake once; a second replay adds
//! nothing; filters by error type and time choose what is replayed.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{read_dir_lake, root, run_ok, weir, weir_run};
use serde_json::Value;

/// Orders 0..count, every odd one with a status version 1 of the schema lacks.
fn refunds(path: &Path, count: u64) {
    let tmp = path.with_extension("part");
    common::orders::append_orders(&tmp, 0, count, 1000);
    let text: String = std::fs::read_to_string(&tmp)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            let n: u64 = v["order_id"].as_str().unwrap()[4..].parse().unwrap();
            if n % 2 == 1 {
                v["status"] = "refunded".into();
            }
            format!("{v}\n")
        })
        .collect();
    std::fs::remove_file(&tmp).unwrap();
    std::fs::write(path, text).unwrap();
}

fn orders_in(lake: &Path) -> BTreeMap<u64, u32> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut seen = BTreeMap::new();
    for (key, rows) in runtime.block_on(read_dir_lake(lake)) {
        if !key.starts_with("orders/") {
            continue;
        }
        for row in rows {
            let v: Value = serde_json::from_str(&row).unwrap();
            let n: u64 = v["order_id"].as_str().unwrap()[4..].parse().unwrap();
            *seen.entry(n).or_insert(0) += 1;
        }
    }
    seen
}

fn replay(pipeline: &Path, state: &Path, args: &[&str]) -> String {
    let out = run_ok(
        weir()
            .arg("replay")
            .arg(pipeline)
            .arg("--state-dir")
            .arg(state)
            .args(args),
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn schema_mismatch_dead_letters_replayed_after_the_fix_land_once_even_replayed_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (pipelines, lake, state) = (
        dir.path().join("pipelines"),
        dir.path().join("lake"),
        dir.path().join("state"),
    );
    let registry = dir.path().join("schemas/orders");
    std::fs::create_dir_all(&pipelines).unwrap();
    std::fs::create_dir_all(&registry).unwrap();
    let v1 = std::fs::read_to_string(root().join("schemas/orders/1.json")).unwrap();
    std::fs::write(registry.join("1.json"), &v1).unwrap();
    refunds(&dir.path().join("orders.ndjson"), 400);
    let file = pipelines.join("refunds.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: weir/v1\nname: refunds\nsource:\n  type: file\n  path: ../orders.ndjson\n  batch_size: 64\n\
             schema:\n  registry: ../schemas\n  subject: orders\n\
             sink:\n  url: {}\n  prefix: \"orders/hour=!{{timestamp:HH}}/\"\n  time:\n    field: event_time\n",
            lake.display()
        ),
    )
    .unwrap();
    run_ok(&mut weir_run(&pipelines, &state));
    assert_eq!(orders_in(&lake).len(), 200, "the refunds are dead letters");

    // Nothing matches these: another type, a time range in the future.
    let none = replay(
        &file,
        &state,
        &["--error-type", "invalid-json", "--dry-run"],
    );
    assert!(none.contains("0 dead letters in 0 objects"), "{none}");
    let later = replay(
        &file,
        &state,
        &["--since", "2099-01-01T00:00:00Z", "--dry-run"],
    );
    assert!(later.contains("0 dead letters in 0 objects"), "{later}");
    let listed = replay(
        &file,
        &state,
        &["--error-type", "schema-mismatch", "--dry-run"],
    );
    assert!(listed.contains("200 dead letters in"), "{listed}");

    // Replayed before the fix: they fail again, as new dead letters, and nothing is lost.
    let early = replay(&file, &state, &["--error-type", "schema-mismatch"]);
    assert!(
        early.contains("replayed: 0 records") && early.contains("(200 dead letters again)"),
        "{early}"
    );

    // The fix: version 2 knows `refunded`. The second-generation dead letters replay.
    let v2 = v1.replace("\"cancelled\"]", "\"cancelled\", \"refunded\"]");
    std::fs::write(registry.join("2.json"), v2).unwrap();
    let fixed = replay(&file, &state, &["--error-type", "schema-mismatch"]);
    assert!(fixed.contains("replayed: 200 records"), "{fixed}");
    let seen = orders_in(&lake);
    assert_eq!(seen.len(), 400, "every order is in the lake");
    assert!(seen.values().all(|c| *c == 1), "each once");

    // Twice: nothing more.
    let again = replay(&file, &state, &["--error-type", "schema-mismatch"]);
    assert!(
        again.contains("replayed: 0 records") && again.contains("(0 dead letters again)"),
        "{again}"
    );
    assert_eq!(orders_in(&lake), seen);
}

//! Golden end-to-end cases: each folder of `tests/golden` holds a pipeline, its input and
//! `expected.txt` (object keys and decoded rows). The pipeline runs with the real binary
//! into a temporary directory and the lake must match exactly.

mod common;

use common::*;

async fn run_case(name: &str) {
    if name.starts_with("plugins_") {
        build_plugins();
    }
    let case = root().join("tests/golden").join(name);
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let state = tmp.path().join("state");
    run_ok(weir_run(&case, &state).env("WEIR_TEST_LAKE", &lake));
    let actual = render_lake(&read_dir_lake(&lake).await);
    assert_golden(&case, &actual);

    // A second run resumes from the stored positions and writes nothing new.
    run_ok(weir_run(&case, &state).env("WEIR_TEST_LAKE", &lake));
    assert_eq!(
        render_lake(&read_dir_lake(&lake).await),
        actual,
        "a rerun must not duplicate records"
    );
}

#[tokio::test]
async fn hourly_parquet_on_event_time() {
    run_case("hourly_parquet").await;
}

#[tokio::test]
async fn metadata_columns_follow_the_schemas_columns() {
    run_case("metadata_columns").await;
}

#[tokio::test]
async fn jsonl_partitioned_by_field_in_a_time_zone() {
    run_case("region_jsonl").await;
}

#[tokio::test]
async fn avro_schema_for_json_records() {
    run_case("avro_clicks").await;
}

#[tokio::test]
async fn redact_and_route_plugins_into_partition_prefixes() {
    run_case("plugins_redact_route").await;
}

#[tokio::test]
async fn filter_and_explode_plugins() {
    run_case("plugins_filter_explode").await;
}

#[tokio::test]
async fn jsonl_validated_against_a_schema_without_columns() {
    run_case("shapes_jsonl").await;
}

//! Every object store behind one URL: the golden `hourly_parquet` pipeline written to
//! Azure Blob Storage (Azurite on loopback, set up through the pipeline's
//! `sink.options`) reads back the same keys and rows as the golden lake, which the
//! local-directory and S3 tests check too. (PyPI's `gcp-storage-emulator` cannot serve
//! object_store's GCS client: its uploads answer without an ETag and it has no XML
//! multipart API, so `gs://` is not tested here.)

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use object_store::azure::MicrosoftAzureBuilder;

/// Azurite's well-known development account.
const AZURITE_ACCOUNT: &str = "devstoreaccount1";
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn golden() -> std::path::PathBuf {
    root().join("tests/golden/hourly_parquet")
}

/// The golden pipeline in `dir`, its sink at `url` with `options`.
fn pipeline(dir: &Path, url: &str, options: &[(&str, String)]) {
    let case = golden();
    let text = std::fs::read_to_string(case.join("pipeline.yaml")).unwrap();
    let registry = root().join("tests/golden/schemas");
    let mut sink = format!("  url: {url}\n  options:\n");
    for (k, v) in options {
        sink.push_str(&format!("    {k}: \"{v}\"\n"));
    }
    let text = text
        .replace(
            "registry: ../schemas",
            &format!("registry: {}", registry.display()),
        )
        .replace("  url: ${WEIR_TEST_LAKE}\n", &sink);
    std::fs::create_dir_all(dir.join("pipelines")).unwrap();
    std::fs::write(dir.join("pipelines/pipeline.yaml"), text).unwrap();
    std::fs::copy(
        case.join("input.ndjson"),
        dir.join("pipelines/input.ndjson"),
    )
    .unwrap();
}

fn python(code: &str, args: &[&str]) {
    let out = Command::new("python3")
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn server(program: &str, args: &[&str], port: u16, dir: &Path) -> Server {
    let child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{program} does not start ({e}); the test command (tests/run-all.sh) installs it"
            )
        });
    let server = Server(child);
    wait_for_port(port, program);
    server
}

/// Runs the pipeline in `dir` and checks what `store` holds against the golden lake.
async fn run_and_compare(dir: &Path, store: Arc<dyn object_store::ObjectStore>) {
    run_within(
        &mut weir_run(&dir.join("pipelines"), &dir.join("state")),
        Duration::from_secs(120),
    );
    let lake = read_lake(store).await;
    assert!(
        lake.keys().all(|k| k.starts_with("golden/")),
        "{:?}",
        lake.keys()
    );
    let relative = lake
        .into_iter()
        .map(|(k, v)| (k.trim_start_matches("golden/").to_string(), v))
        .collect();
    assert_golden(&golden(), &render_lake(&relative));
}

#[tokio::test]
async fn golden_pipeline_writes_the_same_lake_to_azure_blob_storage() {
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    let _azurite = server(
        "azurite-blob",
        &[
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            &port.to_string(),
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            // Azurite reports usage to Azure unless told not to: no traffic leaves here.
            "--disableTelemetry",
        ],
        port,
        data.path(),
    );
    let endpoint = format!("http://127.0.0.1:{port}/{AZURITE_ACCOUNT}");
    let connection = format!(
        "DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};BlobEndpoint={endpoint};"
    );
    python(
        "import sys; from azure.storage.blob import BlobServiceClient; BlobServiceClient.from_connection_string(sys.argv[1]).create_container('lake')",
        &[&connection],
    );
    let tmp = tempfile::tempdir().unwrap();
    let options = [
        ("azure_storage_account_name", AZURITE_ACCOUNT.to_string()),
        ("azure_storage_account_key", AZURITE_KEY.to_string()),
        ("azure_storage_endpoint", endpoint.clone()),
        ("allow_http", "true".into()),
    ];
    pipeline(tmp.path(), "az://lake/golden", &options);
    let store = MicrosoftAzureBuilder::new()
        .with_account(AZURITE_ACCOUNT)
        .with_access_key(AZURITE_KEY)
        .with_container_name("lake")
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .build()
        .unwrap();
    run_and_compare(tmp.path(), Arc::new(store)).await;
}

#!/usr/bin/env bash
# Sets up what the tests need (Python readers, the S3 and Azure emulators), then runs
# every test of the workspace. Safe to run again; installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v python3 >/dev/null || ! python3 -m pip --version >/dev/null 2>&1; then
  echo "==> installing python3 and pip"
  apt-get update -qq && apt-get install -y -qq python3 python3-pip >/dev/null
fi
if ! python3 -c "import pyarrow, duckdb, moto, fastavro, grpc_tools, confluent_kafka.schema_registry.protobuf, prometheus_client, azure.storage.blob, yaml" 2>/dev/null || ! command -v moto_server >/dev/null; then
  echo "==> installing test readers and servers (tests/requirements.txt)"
  python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi

# Azurite, the Azure Blob Storage emulator, comes from npm.
if ! command -v azurite-blob >/dev/null; then
  if ! command -v npm >/dev/null; then
    echo "==> installing Node.js and npm"
    apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
  fi
  echo "==> installing Azurite (npm)"
  npm install -g --silent azurite@3
fi

# librdkafka (the Kafka source) builds from source with cmake.
bash tests/native-deps.sh

# tansu, a Kafka-compatible broker in Rust, for the Kafka tests: built once (about
# 11 minutes on 2 cores), then found on PATH. `dynostore` brings its memory storage.
if ! command -v tansu >/dev/null; then
  echo "==> installing tansu (cargo install; once)"
  cargo install tansu --locked --features dynostore --quiet
fi

# Plugins are built for wasm32-wasip2 by the tests that use them.
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  echo "==> adding the wasm32-wasip2 target"
  rustup target add wasm32-wasip2
fi

# Console scripts (moto_server) live in the interpreter's scripts folder.
PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
command -v pyenv >/dev/null && pyenv rehash || true
export PATH

# A one-shot build: incremental state would only take disk. Build outputs live in a
# cache folder outside the clone, so a later run (even from a fresh clone) rebuilds only
# Weir's own crates; the native plugin tests share it, so common crates build once.
export CARGO_INCREMENTAL=0
export CARGO_TARGET_DIR="${WEIR_BUILD_CACHE:-$HOME/.cache/weir/target}"
mkdir -p "$CARGO_TARGET_DIR"
df -h . | awk 'NR == 2 { print "==> disk: " $4 " free before the build" }'

echo "==> cargo test"
log=$(mktemp)
status=0
cargo test --workspace --locked --no-fail-fast "$@" 2>&1 | tee "$log" || status=1
echo "==> cargo test (example plugins, natively)"
cargo test --locked --no-fail-fast \
  --manifest-path plugins/examples/Cargo.toml "$@" 2>&1 | tee -a "$log" || status=1
df -h . | awk 'NR == 2 { print "==> disk: " $4 " free after the tests" }'

# Fuzzing: each decoder, the pipeline loader and the prefix template for a bounded time
# (starting from the seeds in tests/fuzz/seeds) on stable Rust (RUSTC_BOOTSTRAP lets
# cargo-fuzz pass its -Z flags; no sanitizer, since the decoders are safe Rust and a
# panic is what is looked for). WEIR_FUZZ_SECONDS=0 skips it, and says so.
fuzz_seconds=${WEIR_FUZZ_SECONDS:-30}
if [ "$fuzz_seconds" -gt 0 ]; then
  if ! command -v cargo-fuzz >/dev/null; then
    echo "==> installing cargo-fuzz"
    cargo install cargo-fuzz --locked --quiet
  fi
  for target in framing avro_rows protobuf_rows pipeline_yaml prefix_template; do
    echo "==> fuzzing $target for ${fuzz_seconds}s"
    # pipefail: the status is cargo fuzz's; grep only shortens the output.
    # New inputs go to corpus/ (ignored by git); the seeds in seeds/ are kept.
    mkdir -p "tests/fuzz/corpus/$target"
    if RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir tests/fuzz --sanitizer none "$target" \
        "tests/fuzz/corpus/$target" "tests/fuzz/seeds/$target" \
        -- -max_total_time="$fuzz_seconds" -max_len=4096 2>&1 | tee -a "$log" \
        | { grep -E "^(Done|==[0-9]+==|SUMMARY|thread|Failing input)" || true; }; then
      echo "fuzz target $target: ok" >> "$log"
    else
      echo "fuzz target $target FAILED (the input is saved under tests/fuzz/artifacts/$target/)"
      echo "fuzz target $target: FAILED" >> "$log"
      status=1
    fi
  done
else
  echo "==> fuzzing skipped (WEIR_FUZZ_SECONDS=0)"
fi

# One closing line for the whole run, summed over every test binary and fuzz target.
awk '/^test result:/ { p += $4; f += $6 }
     /^fuzz target .*: ok$/ { fz += 1 } /^fuzz target .*: FAILED$/ { ff += 1 }
     END { printf "%d passed, %d failed; fuzz targets: %d ok, %d failed\n", p, f, fz, ff }' "$log"
rm -f "$log"
exit "$status"

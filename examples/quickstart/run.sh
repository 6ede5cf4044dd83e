#!/usr/bin/env bash
# Builds the example plugins (the quickstart uses `redact`) and Weir, then runs the
# quickstart pipeline. Needs only a Rust toolchain; adds the wasm32-wasip2 target and
# the native build tools librdkafka needs (cmake, OpenSSL headers: tests/native-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
bash tests/native-deps.sh
cargo build --release --locked --manifest-path plugins/examples/Cargo.toml --target wasm32-wasip2 \
  --target-dir plugins/examples/target
cargo run --release --locked -- run --once --pipelines examples/quickstart "$@"

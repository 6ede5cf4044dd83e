#!/usr/bin/env bash
# The Kafka → S3 walkthrough on this machine, no cloud account needed: a tansu broker
# and a moto S3 server on loopback, Weir archiving the `payments` topic while it serves
# the registry to the producer, confluent-kafka producing Confluent-framed Protobuf.
# Ends by reading the lake back and checking every payment is there once.
#
#   bash examples/kafka-to-s3/run.sh          # RECORDS=20000 by default
#   WEIR=target/debug/weir bash examples/kafka-to-s3/run.sh   # a Weir already built
#
# Installs what is missing: tansu (cargo install, about 11 minutes once), the Python
# clients (pip), librdkafka's build tools (tests/native-deps.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
records=${RECORDS:-20000}

if ! command -v tansu >/dev/null; then
  echo "==> installing tansu, a Kafka-protocol broker (cargo install; once)"
  cargo install tansu --locked --features dynostore --quiet
fi
if ! python3 -c "import duckdb, pyarrow, grpc_tools, moto, confluent_kafka.schema_registry.protobuf" 2>/dev/null; then
  echo "==> installing the Python clients (examples/kafka-to-s3/requirements.txt)"
  python3 -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi
PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
if [ -z "${WEIR:-}" ]; then
  bash tests/native-deps.sh
  cargo build --release --locked --quiet
  WEIR=target/release/weir
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$2 did not start on port $1" >&2
  exit 1
}
kafka_port=$(port) s3_port=$(port) registry_port=$(port) admin_port=$(port)
export KAFKA_BROKERS="127.0.0.1:$kafka_port" S3_ENDPOINT="http://127.0.0.1:$s3_port"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1

echo "==> starting tansu on $KAFKA_BROKERS and moto (S3) on $S3_ENDPOINT"
tansu broker --listener-url "tcp://$KAFKA_BROKERS" --advertised-listener-url "tcp://$KAFKA_BROKERS" \
  --storage-engine memory://tansu/ >"$work/tansu.log" 2>&1 &
pids+=($!)
moto_server -H 127.0.0.1 -p "$s3_port" >"$work/moto.log" 2>&1 &
pids+=($!)
wait_port "$kafka_port" tansu
wait_port "$s3_port" moto_server
python3 -c "import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1], method='PUT'))" \
  "$S3_ENDPOINT/lake"
python3 "$here/produce.py" create "$KAFKA_BROKERS" payments 3

echo "==> starting Weir: the payments pipeline, the registry API on :$registry_port, the admin API on :$admin_port"
"$WEIR" run --pipelines "$here" --state-dir "$work/state" \
  --registry schemas --registry-listen "127.0.0.1:$registry_port" \
  --admin-listen "127.0.0.1:$admin_port" >"$work/weir.log" 2>&1 &
weir_pid=$!
pids+=("$weir_pid")
wait_port "$registry_port" "weir's registry API"

echo "==> producing $records payments with Confluent's ProtobufSerializer"
python3 "$here/produce.py" produce "$KAFKA_BROKERS" "http://127.0.0.1:$registry_port" payments "$records"
if ! python3 "$here/query.py" wait "$KAFKA_BROKERS" weir-payments payments "$((records + 2))" 300; then
  tail -n 30 "$work/weir.log" >&2
  exit 1
fi

echo "==> what the admin API says (http://127.0.0.1:$admin_port/pipelines/payments)"
python3 -c "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())" \
  "http://127.0.0.1:$admin_port/pipelines/payments"
kill -TERM "$weir_pid"
wait "$weir_pid"

echo "==> reading the lake back (s3://lake/payments)"
python3 "$here/query.py" check "$S3_ENDPOINT" lake payments "$records"
echo "==> done: every payment archived once"

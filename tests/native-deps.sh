#!/usr/bin/env bash
# The native tools Weir and its tests need beyond Rust (strace for the durability test): librdkafka (the Kafka source) is
# compiled from its bundled source with cmake, against the system's OpenSSL, zlib and
# zstd. Installs only what is missing (Debian/Ubuntu packages).
set -euo pipefail
missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v cc >/dev/null || missing+=(build-essential)
command -v pkg-config >/dev/null || missing+=(pkg-config)
# The durability test watches Weir's fsyncs with strace.
command -v strace >/dev/null || missing+=(strace)
for pkg in libssl-dev zlib1g-dev libzstd-dev libcurl4-openssl-dev libsasl2-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]} (apt)"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

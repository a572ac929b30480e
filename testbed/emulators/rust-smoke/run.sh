#!/usr/bin/env bash
# Smoke-test running emulators with the real Rust SDKs (GCP anonymous, GCP with the
# service-account key file against an auth-requiring instance, Azure over TLS).
#
#   testbed/emulators/rust-smoke/run.sh STATE_DIR      # STATE_DIR of a running start.sh
#
# Builds into ${CARGO_TARGET_DIR:-$CACHE/rust-smoke-target} (about 1 GB, a few minutes the
# first time on 2 cores). Resets the emulators' data before it starts.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
state="${1:?usage: $0 STATE_DIR}"
state="$(cd "$state" && pwd)"
log() { echo "[emulators/rust-smoke] $*" >&2; }

# shellcheck disable=SC1091
source "$state/emulators.env"
cache="${CARACAL_TESTBED_CACHE:-$HOME/.cache/caracal-deploy}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/rust-smoke-target}"
log "building (target dir $CARGO_TARGET_DIR)"
cargo build --quiet --locked --manifest-path "$here/Cargo.toml"
bin="$CARGO_TARGET_DIR/debug/emulators-rust-smoke"

py="$CARACAL_TESTBED_EMULATORS_PYTHON"
"$py" - "$CARACAL_TESTBED_GCP_ENDPOINT" "$CARACAL_TESTBED_AZURE_VAULT_URL" "$CARACAL_TESTBED_CA_BUNDLE" <<'PY'
import ssl, sys, urllib.request
gcp, azure, ca = sys.argv[1:]
urllib.request.urlopen(urllib.request.Request(f"{gcp}/_emulator/reset", method="POST"), timeout=10)
urllib.request.urlopen(urllib.request.Request(f"{azure}/_emulator/reset", method="POST"), timeout=10,
                       context=ssl.create_default_context(cafile=ca))
PY

log "GCP, anonymous credentials"
"$bin" gcp-anon

# A second GCP emulator that refuses anonymous calls, with its own key file.
tmp="$(mktemp -d)"
strict_pid=""
cleanup() {
  if [ -n "$strict_pid" ]; then kill "$strict_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
"$py" "$here/../gcp_sm.py" --port 0 --state-dir "$tmp" --key-file "$tmp/key.json" \
  --ready-file "$tmp/ready.json" 2>"$tmp/log" &
strict_pid=$!
for _ in $(seq 1 100); do [ -s "$tmp/ready.json" ] && break; sleep 0.1; done
strict_url="$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$tmp/ready.json")"
log "GCP, service-account key file (ADC), auth required"
GOOGLE_APPLICATION_CREDENTIALS="$tmp/key.json" GCP_STRICT_ENDPOINT="$strict_url" "$bin" gcp-key
if grep -q ' -> 401 ' "$tmp/log"; then log "unexpected 401s from the strict GCP emulator"; exit 1; fi

log "Azure Key Vault"
"$bin" azure
log "all Rust SDK checks passed"

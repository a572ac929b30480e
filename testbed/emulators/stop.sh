#!/usr/bin/env bash
# Stop the emulators started by start.sh, by the pids it recorded.
#
#   testbed/emulators/stop.sh STATE_DIR
#
# Keeps STATE_DIR's logs, certificates and key file (start.sh reuses them).
set -euo pipefail

log() { echo "[emulators/stop] $*" >&2; }
state="${1:-}"
if [ -z "$state" ]; then
  echo "usage: $0 STATE_DIR" >&2
  exit 2
fi
[ -d "$state" ] || { log "no state dir $state: nothing to stop"; exit 0; }

declare -A pattern=([moto]="moto_server" [gcp-sm]="gcp_sm.py" [azure-kv]="azurekv-[0-9a-f]*/azure-kv"
  [caracal-api]="caracal_api.py" [connect-proxy]="connect_proxy.py")

for name in connect-proxy moto gcp-sm azure-kv caracal-api; do
  pidfile="$state/pids/$name.pid"
  [ -f "$pidfile" ] || continue
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null \
      && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "${pattern[$name]}"; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name did not stop on TERM: killing pid $pid"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
done
rm -f "$state/emulators.env"

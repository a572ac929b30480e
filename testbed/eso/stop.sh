#!/usr/bin/env bash
# Stop the External Secrets Operator controller started by testbed/eso/start.sh STATE_DIR.
#
#   testbed/eso/stop.sh STATE_DIR
#
# Stops only the pid recorded in STATE_DIR/pids/eso.pid (after checking it is our binary):
# SIGTERM, then SIGKILL after 15 s. Idempotent: no pid file or a dead pid is success.
set -euo pipefail

log() { printf '[eso/stop] %s\n' "$*" >&2; }
[[ $# -eq 1 ]] || { log "usage: $0 STATE_DIR"; exit 2; }
pidfile="$1/pids/eso.pid"

[[ -f "$pidfile" ]] || { log "not running (no $pidfile)"; exit 0; }
pid="$(cat "$pidfile")"
if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then
    log "not running (stale pid ${pid:-?})"
    rm -f "$pidfile"
    exit 0
fi
if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'external-secrets-v[0-9]'; then
    log "pid $pid is not external-secrets (recycled pid?); not touching it"
    rm -f "$pidfile"
    exit 0
fi
kill -TERM "$pid" 2>/dev/null || true
for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid ignored SIGTERM for 15s; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
fi
rm -f "$pidfile"
log "stopped (pid $pid)"

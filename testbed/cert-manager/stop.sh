#!/usr/bin/env bash
# Stop the cert-manager controller started by testbed/cert-manager/start.sh STATE_DIR.
#
#   testbed/cert-manager/stop.sh STATE_DIR
#
# Stops only the pid recorded in STATE_DIR/pids/cert-manager.pid (after checking it is our binary):
# SIGTERM, then SIGKILL after 15 s. Idempotent: no pid file or a dead pid is success.
set -euo pipefail

log() { printf '[cert-manager/stop] %s\n' "$*" >&2; }
[[ $# -eq 1 ]] || { log "usage: $0 STATE_DIR"; exit 2; }
pidfile="$1/pids/cert-manager.pid"
# Its env file (pid, log, URLs) goes with it, so `scripts/testbed env` exports no stale pid.
rm -f "$1/cert-manager.env"

[[ -f "$pidfile" ]] || { log "not running (no $pidfile)"; exit 0; }
pid="$(cat "$pidfile")"
if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then
    log "not running (stale pid ${pid:-?})"
    rm -f "$pidfile"
    exit 0
fi
if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'cert-manager-controller-v[0-9]'; then
    log "pid $pid is not the cert-manager controller (recycled pid?); not touching it"
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

#!/usr/bin/env bash
# Start the real cert-manager controller (testbed/cert-manager/main.go) against the test bed.
#
#   testbed/cert-manager/start.sh STATE_DIR
#
# Needs in the environment:
#   KUBECONFIG   admin kubeconfig of the bed; cert-manager's CRDs (tests/fixtures/crds/) installed
# Optional:
#   CARACAL_TESTBED_CERT_MANAGER_CONTROLLERS   comma-separated controllers (default: the
#                                              binary's own list, see main.go)
#   CARACAL_TESTBED_CERT_MANAGER_PORT          port of /metrics, /livez, /readyz on 127.0.0.1
#                                              (default: a free port)
#   CARACAL_TESTBED_CERT_MANAGER_V             klog verbosity (default 2, upstream chart's)
#   CARACAL_TESTBED_CERT_MANAGER_START_TIMEOUT seconds to wait for readiness and for the bed's
#                                              ClusterIssuers (default 120)
# The controller gets an environment built from scratch (env -i): KUBECONFIG, PATH, HOME only.
# Its cluster resource namespace is cert-manager (a ClusterIssuer's Secrets live there).
#
# Ready = /readyz answers (every informer synced), then every ClusterIssuer labelled
# caracal.test/testbed=true (testbed/k8s/manifests/issuer.yaml) is Ready=True: that proves the
# whole chain (SelfSigned issuer -> CA Certificate -> CA ClusterIssuer letsencrypt-prod).
#
# Writes STATE_DIR/pids/cert-manager.pid, STATE_DIR/logs/cert-manager.log and
# STATE_DIR/cert-manager.env (pid, log, metrics and readyz URLs).
# Idempotent: returns at once if the controller recorded in the pid file is running.
# Nothing on stdout; progress on stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf '[cert-manager/start] %s\n' "$*" >&2; }
die() { printf '[cert-manager/start] ERROR: %s\n' "$*" >&2; exit 1; }

[[ $# -eq 1 ]] || die "usage: $0 STATE_DIR"
state="$1"
mkdir -p "$state/pids" "$state/logs"
state="$(cd "$state" && pwd)"
pidfile="$state/pids/cert-manager.pid"
logfile="$state/logs/cert-manager.log"
envfile="$state/cert-manager.env"

# is_cm PID: PID is alive and is our cert-manager binary (not a recycled pid).
is_cm() {
    local pid=$1
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'cert-manager-controller-v[0-9]' || return 1
}

if [[ -f "$pidfile" ]] && is_cm "$(cat "$pidfile")"; then
    log "already running (pid $(cat "$pidfile"))"
    exit 0
fi
rm -f "$pidfile"

: "${KUBECONFIG:?KUBECONFIG must point at the admin kubeconfig of the test bed}"
[[ -r "$KUBECONFIG" ]] || die "KUBECONFIG=$KUBECONFIG is not readable"
command -v kubectl >/dev/null 2>&1 || die "kubectl not on PATH (the bed's is in STATE_DIR/bin)"

# Without its CRDs the controller's informers never sync.
missing=()
for crd in certificates.cert-manager.io certificaterequests.cert-manager.io \
    issuers.cert-manager.io clusterissuers.cert-manager.io; do
    kubectl get crd "$crd" >/dev/null 2>&1 || missing+=("$crd")
done
((${#missing[@]} == 0)) || die "cert-manager CRDs missing: ${missing[*]} (install tests/fixtures/crds/)"
kubectl get namespace cert-manager >/dev/null 2>&1 ||
    die "namespace cert-manager (the cluster resource namespace) missing (testbed/k8s/manifests/)"

bin="$("$here/build.sh")"

if [[ -n "${CARACAL_TESTBED_CERT_MANAGER_PORT:-}" ]]; then
    port="$CARACAL_TESTBED_CERT_MANAGER_PORT"
else
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' 2>/dev/null || true)"
    if [[ -z "$port" ]]; then
        for _ in $(seq 1 100); do
            port=$((20000 + RANDOM % 40000))
            (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
        done
    fi
fi

flags=(
    --kubeconfig "$KUBECONFIG"
    --cluster-resource-namespace cert-manager
    --listen-address "127.0.0.1:$port"
    --concurrent-workers 2
    -v "${CARACAL_TESTBED_CERT_MANAGER_V:-2}"
)
if [[ -n "${CARACAL_TESTBED_CERT_MANAGER_CONTROLLERS:-}" ]]; then
    flags+=(--controllers "$CARACAL_TESTBED_CERT_MANAGER_CONTROLLERS")
fi
envs=("PATH=/usr/local/bin:/usr/bin:/bin" "HOME=${HOME:-/tmp}" "KUBECONFIG=$KUBECONFIG")

log "starting $bin (127.0.0.1:$port, log $logfile)"
{
    printf '\n===== %s start: %s %s\n' "$(date -Is)" "$bin" "${flags[*]}"
    printf '===== env (nothing else): %s\n' "${envs[*]}"
} >>"$logfile"
# setsid: own session, so a Ctrl-C in the caller's terminal does not reach it; stop.sh stops it.
# (No fork: $! is the controller's pid.)
env -i "${envs[@]}" setsid "$bin" "${flags[@]}" </dev/null >>"$logfile" 2>&1 &
pid=$!
echo "$pid" >"$pidfile"
cat >"$envfile" <<EOF
CARACAL_TESTBED_CERT_MANAGER_PID=$pid
CARACAL_TESTBED_CERT_MANAGER_LOG=$logfile
CARACAL_TESTBED_CERT_MANAGER_METRICS_URL=http://127.0.0.1:$port/metrics
CARACAL_TESTBED_CERT_MANAGER_READYZ_URL=http://127.0.0.1:$port/readyz
EOF

timeout="${CARACAL_TESTBED_CERT_MANAGER_START_TIMEOUT:-120}"
deadline=$((SECONDS + timeout))
fail() {
    tail -n 30 "$logfile" >&2
    if kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; fi
    rm -f "$pidfile" "$envfile"
    die "$* (log: $logfile)"
}
while ! curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || fail "cert-manager exited during start-up"
    ((SECONDS < deadline)) || fail "cert-manager not ready after ${timeout}s, stopped it"
    sleep 0.3
done
log "informers synced (pid $pid)"

# The bed's issuers: each must become Ready=True from this controller.
mapfile -t issuers < <(kubectl get clusterissuer -l caracal.test/testbed=true -o name 2>/dev/null)
for issuer in "${issuers[@]}"; do
    left=$((deadline - SECONDS))
    ((left > 0)) || left=1
    if ! kubectl wait --for=condition=Ready=True --timeout="${left}s" "$issuer" >/dev/null 2>&1; then
        kubectl get "$issuer" -o jsonpath='{.status.conditions}' >&2 || true
        echo >&2
        fail "$issuer not Ready after ${timeout}s, stopped the controller"
    fi
done
log "running (pid $pid); Ready: ${issuers[*]:-no bed ClusterIssuers}"

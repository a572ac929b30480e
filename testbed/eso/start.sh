#!/usr/bin/env bash
# Start the real External Secrets Operator controller (v0.16.2) against the test bed.
#
#   testbed/eso/start.sh STATE_DIR
#
# Needs in the environment:
#   KUBECONFIG                 admin kubeconfig of the bed (the ESO CRDs must be installed;
#                              `testbed/eso/crds.sh apply` does it)
#   CARACAL_TESTBED_MOTO_URL   moto's URL, e.g. http://127.0.0.1:4566 (falls back to AWS_ENDPOINT_URL)
#   AWS_REGION                 optional, default us-east-1
#   CARACAL_TESTBED_PROXY_URL  the bed's CONNECT proxy (testbed/emulators/connect_proxy.py), given
#                              to the controller as HTTPS_PROXY: its GCP and Azure providers dial
#                              the real host names (secretmanager.googleapis.com,
#                              login.microsoftonline.com, ...), which the proxy maps to the emulators
#   CARACAL_TESTBED_CA_BUNDLE  the emulators' CA, given as SSL_CERT_FILE (the only roots it trusts)
# The controller gets an environment built from scratch (env -i): no cloud identity of its own
# (no AZURE_*, GOOGLE_*, GCE_METADATA_HOST, AWS keys), so a store authenticates only through
# what it carries (workload identity), as on a real cluster.
# Optional:
#   CARACAL_TESTBED_ESO_LOGLEVEL          debug|info|... (default info)
#   CARACAL_TESTBED_ESO_STORE_REQUEUE     how often stores are re-validated (default 10s)
#   CARACAL_TESTBED_ESO_METRICS_PORT      metrics port on 127.0.0.1 (default: a free port)
#   CARACAL_TESTBED_ESO_AMBIENT_AWS_CREDS=1  pass AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY to the
#                                         controller (default: stripped, so a store only
#                                         authenticates through its own auth block, as on EKS
#                                         with IRSA)
#   CARACAL_TESTBED_ESO_START_TIMEOUT     seconds to wait for the controllers (default 120)
#
# Writes STATE_DIR/pids/eso.pid, STATE_DIR/logs/eso.log, STATE_DIR/eso.env (metrics URL).
# Idempotent: returns at once if the controller recorded in the pid file is running.
# Nothing on stdout; progress on stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf '[eso/start] %s\n' "$*" >&2; }
die() { printf '[eso/start] ERROR: %s\n' "$*" >&2; exit 1; }

[[ $# -eq 1 ]] || die "usage: $0 STATE_DIR"
state="$1"
mkdir -p "$state/pids" "$state/logs"
state="$(cd "$state" && pwd)"
pidfile="$state/pids/eso.pid"
logfile="$state/logs/eso.log"
envfile="$state/eso.env"

# is_eso PID: PID is alive and is our external-secrets binary (not a recycled pid).
is_eso() {
    local pid=$1
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'external-secrets-v[0-9]' || return 1
}

if [[ -f "$pidfile" ]] && is_eso "$(cat "$pidfile")"; then
    log "already running (pid $(cat "$pidfile"))"
    exit 0
fi
rm -f "$pidfile"

: "${KUBECONFIG:?KUBECONFIG must point at the admin kubeconfig of the test bed}"
[[ -r "$KUBECONFIG" ]] || die "KUBECONFIG=$KUBECONFIG is not readable"
moto="${CARACAL_TESTBED_MOTO_URL:-${AWS_ENDPOINT_URL:-}}"
[[ -n "$moto" ]] || die "CARACAL_TESTBED_MOTO_URL (or AWS_ENDPOINT_URL) must be set"
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}"

# The manager refuses to start (after a 2 min cache-sync timeout) if a watched kind is missing.
# The root command always runs the SecretStore, ClusterSecretStore, ExternalSecret and
# GeneratorState controllers.
if command -v kubectl >/dev/null 2>&1; then
    missing=()
    for crd in externalsecrets.external-secrets.io secretstores.external-secrets.io \
        clustersecretstores.external-secrets.io generatorstates.generators.external-secrets.io; do
        kubectl get crd "$crd" >/dev/null 2>&1 || missing+=("$crd")
    done
    ((${#missing[@]} == 0)) || die "ESO CRDs missing: ${missing[*]} (run testbed/eso/crds.sh apply)"
fi

bin="$("$here/build.sh")"

if [[ -n "${CARACAL_TESTBED_ESO_METRICS_PORT:-}" ]]; then
    port="$CARACAL_TESTBED_ESO_METRICS_PORT"
else
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' 2>/dev/null || true)"
    if [[ -z "$port" ]]; then
        for _ in $(seq 1 100); do
            port=$((20000 + RANDOM % 40000))
            (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
        done
    fi
fi

# Flags of the root command (cmd/controller/root.go at v0.16.2). The root command never runs
# the webhook or the cert-controller (those are the `webhook` / `certcontroller` subcommands).
# It has no health-probe listener; metrics are bound to loopback.
flags=(
    --metrics-addr "127.0.0.1:$port"
    --enable-leader-election=false
    --enable-cluster-store-reconciler=true
    --enable-cluster-external-secret-reconciler=false
    --enable-push-secret-reconciler=false
    --enable-cluster-push-secret-reconciler=false
    --enable-flood-gate=true
    --store-requeue-interval "${CARACAL_TESTBED_ESO_STORE_REQUEUE:-10s}"
    --concurrent 2
    --loglevel "${CARACAL_TESTBED_ESO_LOGLEVEL:-info}"
    --zap-time-encoding iso8601
)

# The AWS provider (aws-sdk-go v1) resolves endpoints through pkg/provider/aws/auth/resolver.go:
# AWS_SECRETSMANAGER_ENDPOINT, AWS_STS_ENDPOINT and AWS_SSM_ENDPOINT override the real ones.
envs=(
    "PATH=/usr/local/bin:/usr/bin:/bin"
    "HOME=${HOME:-/tmp}"
    "KUBECONFIG=$KUBECONFIG"
    "AWS_SECRETSMANAGER_ENDPOINT=$moto"
    "AWS_STS_ENDPOINT=$moto"
    "AWS_SSM_ENDPOINT=$moto"
    "AWS_ENDPOINT_URL=$moto"
    "AWS_REGION=$region"
    "AWS_DEFAULT_REGION=$region"
    # No instance metadata service here: fail fast instead of a 169.254.169.254 timeout.
    "AWS_EC2_METADATA_DISABLED=true"
)
# GCP and Azure: the real endpoints, reached through the bed's proxy; TLS verified against the
# emulators' CA. Loopback (the API server, moto) is never proxied (Go skips it; NO_PROXY too).
proxy="${CARACAL_TESTBED_PROXY_URL:-}"
ca="${CARACAL_TESTBED_CA_BUNDLE:-}"
if [[ -n "$proxy" && -n "$ca" ]]; then
    [[ -r "$ca" ]] || die "CARACAL_TESTBED_CA_BUNDLE=$ca is not readable"
    envs+=("HTTPS_PROXY=$proxy" "NO_PROXY=127.0.0.1,localhost,::1" "SSL_CERT_FILE=$ca")
else
    log "WARNING: CARACAL_TESTBED_PROXY_URL or CARACAL_TESTBED_CA_BUNDLE unset: GCP and Azure stores will not sync"
fi
shown=("${envs[@]}")
if [[ "${CARACAL_TESTBED_ESO_AMBIENT_AWS_CREDS:-0}" == 1 ]]; then
    envs+=("AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-testing}" "AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-testing}")
    shown+=("AWS_ACCESS_KEY_ID=..." "AWS_SECRET_ACCESS_KEY=...")
fi

log "starting $bin (metrics 127.0.0.1:$port, AWS endpoints -> $moto, HTTPS proxy ${proxy:-none}, log $logfile)"
{
    printf '\n===== %s start: %s %s\n' "$(date -Is)" "$bin" "${flags[*]}"
    printf '===== env (nothing else): %s\n' "${shown[*]}"
} >>"$logfile"
# Only this start's log lines count when waiting (the log is appended to across restarts).
start_line=$(($(wc -l <"$logfile") + 1))
# setsid: own session, so a Ctrl-C in the caller's terminal does not reach it; stop.sh stops it.
# (No fork: $! is the controller's pid.)
env -i "${envs[@]}" setsid "$bin" "${flags[@]}" </dev/null >>"$logfile" 2>&1 &
pid=$!
echo "$pid" >"$pidfile"
cat >"$envfile" <<EOF
CARACAL_TESTBED_ESO_PID=$pid
CARACAL_TESTBED_ESO_METRICS_URL=http://127.0.0.1:$port/metrics
CARACAL_TESTBED_ESO_LOG=$logfile
EOF

# Ready = metrics answer and the ExternalSecret and ClusterSecretStore controllers have
# started their workers (i.e. their informers synced).
timeout="${CARACAL_TESTBED_ESO_START_TIMEOUT:-120}"
deadline=$((SECONDS + timeout))
workers_started() {
    tail -n +"$start_line" "$logfile" | grep '"Starting workers"' | grep -q "\"controller\":\"$1\""
}
while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
        tail -n 30 "$logfile" >&2
        rm -f "$pidfile"
        die "external-secrets exited during start-up (log: $logfile)"
    fi
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/metrics" 2>/dev/null &&
        workers_started externalsecret && workers_started clustersecretstore; then
        break
    fi
    if ((SECONDS >= deadline)); then
        tail -n 30 "$logfile" >&2
        kill "$pid" 2>/dev/null || true
        rm -f "$pidfile"
        die "external-secrets not ready after ${timeout}s, stopped it (log: $logfile)"
    fi
    sleep 0.3
done
log "running (pid $pid)"

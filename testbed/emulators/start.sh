#!/usr/bin/env bash
# Start the secret-manager emulators of the test bed on free 127.0.0.1 ports.
#
#   testbed/emulators/start.sh STATE_DIR
#
# Starts moto (AWS Secrets Manager + STS), gcp_sm.py (GCP Secret Manager: REST over HTTP, and
# over TLS REST + gRPC + the workload identity token services), azure-kv (Azure Key Vault +
# Entra ID endpoints, HTTPS; Go, built by azurekv/build.sh), caracal_api.py (Caracal's STS, Gateway and Admin API, HTTPS, for
# the product's post-install canary) and connect_proxy.py (the HTTPS proxy that maps the real
# cloud host names and Caracal's ingress hosts to them), waits until each answers, and writes
#   STATE_DIR/pids/{moto,gcp-sm,azure-kv,caracal-api,connect-proxy}.pid   STATE_DIR/logs/<same>.log
#   STATE_DIR/emulators.env                       (export lines: endpoints, credentials, CA, proxy)
# Idempotent: when all are already running it only says so; when only the proxy is gone it is
# restarted alone (same routes, same port when free).
#
# Environment knobs:
#   CARACAL_TESTBED_CACHE              where setup.sh keeps the virtualenv (and azurekv/build.sh
#                                      the Azure emulator's binary)
#   CARACAL_TESTBED_GCP_REQUIRE_AUTH=1 GCP emulator refuses requests without a token
#                                      (default: anonymous allowed; tokens sent are checked)
#   CARACAL_TESTBED_EMULATOR_LATENCY_MS  start both emulators with this latency per request
#   CARACAL_TESTBED_AZURE_WI_CLIENT_ID   the workload identity (federated) client the Azure
#                                      emulator accepts (default: the one testbed/answers/azure.yaml.tmpl names)
#   CARACAL_TESTBED_GKE_CLUSTER        PROJECT/LOCATION/NAME of the GKE cluster whose service
#                                      accounts get identity binding tokens (default: the one
#                                      testbed/answers/gcp.yaml.tmpl names)
#   CARACAL_TESTBED_AZURE_VAULT_HOST   the Key Vault host the proxy maps to the Azure emulator
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { echo "[emulators/start] $*" >&2; }

state="${1:-}"
if [ -z "$state" ]; then
  echo "usage: $0 STATE_DIR" >&2
  exit 2
fi
mkdir -p "$state/pids" "$state/logs"
state="$(cd "$state" && pwd)"

# One start at a time per state dir.
exec 8>"$state/.start.lock"
if command -v flock >/dev/null 2>&1; then flock 8; fi

# name -> pattern that must appear in /proc/PID/cmdline
declare -A pattern=([moto]="moto_server" [gcp-sm]="gcp_sm.py" [azure-kv]="azurekv-[0-9a-f]*/azure-kv"
  [caracal-api]="caracal_api.py" [connect-proxy]="connect_proxy.py")

wi_client="${CARACAL_TESTBED_AZURE_WI_CLIENT_ID:-00000000-0000-4000-8000-000000000e50}"
gke_cluster="${CARACAL_TESTBED_GKE_CLUSTER:-caracal-testbed/us-central1/caracal-testbed}"
vault_host="${CARACAL_TESTBED_AZURE_VAULT_HOST:-caracal-testbed.vault.azure.net}"

alive() {
  local name="$1" pidfile="$state/pids/$1.pid" pid
  [ -f "$pidfile" ] || return 1
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "${pattern[$name]}"
}

if alive moto && alive gcp-sm && alive azure-kv && alive caracal-api && [ -f "$state/emulators.env" ]; then
  if alive connect-proxy; then
    log "already running (see $state/emulators.env)"
    exit 0
  fi
  restart_proxy_only=1
else
  restart_proxy_only=0
  if alive moto || alive gcp-sm || alive azure-kv || alive caracal-api || alive connect-proxy; then
    log "some emulators are running, some not: restarting all"
    "$here/stop.sh" "$state" || true
  fi
  rm -f "$state/emulators.env"
fi

# Whatever fails below, leave nothing half-started behind.
complete=0
on_exit() {
  if [ "$complete" != 1 ] && [ "$restart_proxy_only" = 1 ]; then
    log "the proxy failed to start (log in $state/logs/connect-proxy.log)"
  elif [ "$complete" != 1 ]; then
    log "start failed: stopping what was started (logs in $state/logs)"
    "$here/stop.sh" "$state" || true
  fi
}
trap on_exit EXIT

venv="$("$here/setup.sh")"
py="$venv/bin/python"

free_port() {
  "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL [CA_FILE] [TIMEOUT_S]: until URL answers with any HTTP status.
wait_http() {
  "$py" - "$1" "${2:-}" "${3:-30}" <<'PY'
import ssl, sys, time, urllib.error, urllib.request
url, ca, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
ctx = ssl.create_default_context(cafile=ca) if ca else None
deadline = time.time() + timeout
while True:
    try:
        urllib.request.urlopen(url, timeout=2, context=ctx).read()
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)
    except Exception as exc:  # noqa: BLE001
        if time.time() > deadline:
            print(f"timed out waiting for {url}: {exc}", file=sys.stderr)
            sys.exit(1)
        time.sleep(0.2)
PY
}

# wait_ready PID READY_FILE: until the emulator wrote its ready file (or died).
wait_ready() {
  local pid="$1" file="$2" i
  for i in $(seq 1 150); do
    [ -s "$file" ] && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

json_field() { "$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# launch NAME CMD...: start detached (own session), record the pid.
launch() {
  local name="$1"; shift
  ( exec setsid "$@" </dev/null >>"$state/logs/$name.log" 2>&1 8>&- ) &
  echo $! >"$state/pids/$name.pid"
}

# start_proxy: the CONNECT proxy, from STATE_DIR/connect-proxy/routes.json, on the port it had
# before when that port is free (External Secrets keeps the proxy URL it was started with).
start_proxy() {
  local dir="$state/connect-proxy" port=0
  mkdir -p "$dir"
  rm -f "$dir/ready.json"
  if [ -s "$dir/port" ]; then port="$(cat "$dir/port")"; fi
  log "starting connect_proxy.py"
  launch connect-proxy "$py" "$here/connect_proxy.py" --host 127.0.0.1 --port "$port" \
    --routes "$dir/routes.json" --ready-file "$dir/ready.json"
  if ! wait_ready "$(cat "$state/pids/connect-proxy.pid")" "$dir/ready.json"; then
    [ "$port" != 0 ] || return 1
    log "port $port is taken: the proxy gets a new one (restart External Secrets to use it)"
    launch connect-proxy "$py" "$here/connect_proxy.py" --host 127.0.0.1 --port 0 \
      --routes "$dir/routes.json" --ready-file "$dir/ready.json"
    wait_ready "$(cat "$state/pids/connect-proxy.pid")" "$dir/ready.json" || return 1
  fi
  json_field "$dir/ready.json" port >"$dir/port"
}

if [ "$restart_proxy_only" = 1 ]; then
  log "the emulators run, the proxy does not: restarting the proxy"
  start_proxy || exit 1
  complete=1
  log "proxy     http://127.0.0.1:$(cat "$state/connect-proxy/port")"
  exit 0
fi

latency_args=()
if [ -n "${CARACAL_TESTBED_EMULATOR_LATENCY_MS:-}" ]; then
  latency_args=(--latency-ms "$CARACAL_TESTBED_EMULATOR_LATENCY_MS")
fi

# --- moto -------------------------------------------------------------------------------
moto_port=""
for attempt in 1 2 3; do
  port="$(free_port)"
  log "starting moto on 127.0.0.1:$port"
  launch moto "$venv/bin/moto_server" -H 127.0.0.1 -p "$port"
  if wait_http "http://127.0.0.1:$port/moto-api/" "" 40 && alive moto; then
    moto_port="$port"
    break
  fi
  log "moto did not come up on port $port (attempt $attempt); see $state/logs/moto.log"
  kill "$(cat "$state/pids/moto.pid")" 2>/dev/null || true
done
[ -n "$moto_port" ] || { log "moto failed to start"; exit 1; }

# --- one CA and server certificate for every TLS emulator (cloud host names included) ----
mkdir -p "$state/azure-kv"
"$py" "$here/emulator_tls.py" "$state/azure-kv" >/dev/null

# --- GCP Secret Manager -----------------------------------------------------------------
gcp_args=(--tls-dir "$state/azure-kv" --workload-cluster "$gke_cluster")
if [ "${CARACAL_TESTBED_GCP_REQUIRE_AUTH:-0}" != "1" ]; then gcp_args+=(--allow-anonymous); fi
mkdir -p "$state/gcp-sm"
rm -f "$state/gcp-sm/ready.json"
log "starting gcp_sm.py"
launch gcp-sm "$py" "$here/gcp_sm.py" --host 127.0.0.1 --port 0 --state-dir "$state/gcp-sm" \
  --key-file "$state/gcp-sa-key.json" --ready-file "$state/gcp-sm/ready.json" \
  "${gcp_args[@]}" "${latency_args[@]}"
if ! wait_ready "$(cat "$state/pids/gcp-sm.pid")" "$state/gcp-sm/ready.json"; then
  log "gcp_sm.py failed to start; see $state/logs/gcp-sm.log"; exit 1
fi
gcp_url="$(json_field "$state/gcp-sm/ready.json" url)"
gcp_https_url="$(json_field "$state/gcp-sm/ready.json" https_url)"
gcp_grpc_port="$(json_field "$state/gcp-sm/ready.json" grpc_port)"
wait_http "$gcp_url/_emulator/healthz" "" 20

# --- Azure Key Vault --------------------------------------------------------------------
mkdir -p "$state/azure-kv"
rm -f "$state/azure-kv/ready.json"
azure_bin="$("$here/azurekv/build.sh")"
log "starting azure-kv ($azure_bin)"
launch azure-kv "$azure_bin" --host 127.0.0.1 --port 0 --state-dir "$state/azure-kv" \
  --ready-file "$state/azure-kv/ready.json" --federated-client "$wi_client" "${latency_args[@]}"
if ! wait_ready "$(cat "$state/pids/azure-kv.pid")" "$state/azure-kv/ready.json"; then
  log "azure-kv failed to start; see $state/logs/azure-kv.log"; exit 1
fi
azure_url="$(json_field "$state/azure-kv/ready.json" url)"
azure_port="$(json_field "$state/azure-kv/ready.json" port)"
tenant="$(json_field "$state/azure-kv/ready.json" tenant_id)"
client="$(json_field "$state/azure-kv/ready.json" client_id)"
ca="$state/azure-kv/ca.pem"
wait_http "$azure_url/_emulator/healthz" "$ca" 20

# --- Caracal's STS, Gateway and Admin API (same CA), for the post-install canary --------
mkdir -p "$state/caracal-api"
rm -f "$state/caracal-api/ready.json"
log "starting caracal_api.py"
launch caracal-api "$py" "$here/caracal_api.py" --host 127.0.0.1 --port 0 \
  --state-dir "$state/caracal-api" --tls-dir "$state/azure-kv" \
  --ready-file "$state/caracal-api/ready.json" "${latency_args[@]}"
if ! wait_ready "$(cat "$state/pids/caracal-api.pid")" "$state/caracal-api/ready.json"; then
  log "caracal_api.py failed to start; see $state/logs/caracal-api.log"; exit 1
fi
caracal_api_port="$(json_field "$state/caracal-api/ready.json" port)"
wait_http "https://127.0.0.1:$caracal_api_port/_emulator/healthz" "$ca" 20

# --- the CONNECT proxy: real cloud host names (and Caracal's hosts) -> emulators ----------
gcp_https_port="${gcp_https_url##*:}"
mkdir -p "$state/connect-proxy"
cat >"$state/connect-proxy/routes.json.tmp" <<JSON
{
  "secretmanager.googleapis.com:443": "127.0.0.1:$gcp_grpc_port",
  "iamcredentials.googleapis.com:443": "127.0.0.1:$gcp_grpc_port",
  "securetoken.googleapis.com:443": "127.0.0.1:$gcp_https_port",
  "login.microsoftonline.com:443": "127.0.0.1:$azure_port",
  "$vault_host:443": "127.0.0.1:$azure_port",
  "sts.caracal.test:443": "127.0.0.1:$caracal_api_port",
  "gateway.caracal.test:443": "127.0.0.1:$caracal_api_port",
  "api.caracal.test:443": "127.0.0.1:$caracal_api_port"
}
JSON
mv "$state/connect-proxy/routes.json.tmp" "$state/connect-proxy/routes.json"
start_proxy || { log "connect_proxy.py failed to start; see $state/logs/connect-proxy.log"; exit 1; }
proxy_url="http://127.0.0.1:$(cat "$state/connect-proxy/port")"

# --- environment contract ---------------------------------------------------------------
moto_url="http://127.0.0.1:$moto_port"
tmp="$state/emulators.env.tmp"
{
  echo "# written by testbed/emulators/start.sh; source it"
  printf 'export %s=%q\n' \
    AWS_ENDPOINT_URL "$moto_url" \
    AWS_ACCESS_KEY_ID testing \
    AWS_SECRET_ACCESS_KEY testing \
    AWS_REGION us-east-1 \
    AWS_DEFAULT_REGION us-east-1 \
    AWS_EC2_METADATA_DISABLED true \
    CARACAL_TESTBED_MOTO_URL "$moto_url" \
    CARACAL_TESTBED_GCP_ENDPOINT "$gcp_url" \
    CARACAL_TESTBED_GCP_PROJECT caracal-testbed \
    GOOGLE_APPLICATION_CREDENTIALS "$state/gcp-sa-key.json" \
    CARACAL_TESTBED_AZURE_VAULT_URL "https://127.0.0.1:$azure_port" \
    AZURE_AUTHORITY_HOST "https://127.0.0.1:$azure_port/" \
    AZURE_TENANT_ID "$tenant" \
    AZURE_CLIENT_ID "$client" \
    AZURE_CLIENT_SECRET caracal-testbed-client-secret \
    CARACAL_TESTBED_CA_BUNDLE "$ca" \
    CARACAL_TESTBED_GCP_HTTPS_URL "$gcp_https_url" \
    CARACAL_TESTBED_GCP_GRPC_TARGET "127.0.0.1:$gcp_grpc_port" \
    CARACAL_TESTBED_AZURE_VAULT_HOST "$vault_host" \
    CARACAL_TESTBED_AZURE_WI_CLIENT_ID "$wi_client" \
    CARACAL_TESTBED_PROXY_URL "$proxy_url" \
    CARACAL_TESTBED_CARACAL_API_URL "https://127.0.0.1:$caracal_api_port" \
    CARACAL_TESTBED_EMULATORS_PYTHON "$py" \
    CARACAL_TESTBED_AZURE_KV_BIN "$azure_bin" \
    CARACAL_TESTBED_EMULATORS_STATE "$state"
} >"$tmp"
mv "$tmp" "$state/emulators.env"
complete=1
log "moto      $moto_url"
log "gcp-sm    $gcp_url"
log "azure-kv  https://127.0.0.1:$azure_port (CA $ca)"
log "caracal   https://127.0.0.1:$caracal_api_port (sts/gateway/api.caracal.test through the proxy)"
log "proxy     $proxy_url (cloud host names -> emulators)"
log "ready: source $state/emulators.env"

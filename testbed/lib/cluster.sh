# shellcheck shell=bash
# Starting, checking and stopping the test bed's processes (envtest-style, plus controllers and
# kwok). Everything listens on 127.0.0.1 only, on ports the kernel picks at the first `up` (kept
# in $TB_STATE/ports.env so a restarted component comes back on the same port).

ADMIN_KUBECONFIG="$TB_STATE/kubeconfig"
PORTS_FILE="$TB_STATE/ports.env"
NODES="${CARACAL_TESTBED_NODES:-3}"
SERVICE_CIDR="10.0.0.0/24"
SA_ISSUER="https://kubernetes.default.svc.cluster.local"
# Our processes, in start order (stopped in reverse).
PROCS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok pv-provisioner)

state_dirs() {
  mkdir -p "$TB_STATE"/{bin,pki,logs,pids,kubeconfigs,answers} "$TB_STATE"/data/{etcd,kube-controller-manager,kube-scheduler}
}

kubectl_admin() { "$(bin_path kubectl)" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }

# ---------------------------------------------------------------- processes

pid_of() { [[ -s "$TB_STATE/pids/$1.pid" ]] && cat "$TB_STATE/pids/$1.pid"; }

# alive PID: the process exists and is not a zombie (our processes are reparented to PID 1 once
# `up` returns, and PID 1 may reap them late).
alive() {
  local st
  kill -0 "$1" 2>/dev/null || return 1
  st=$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n "$st" && "$st" != Z && "$st" != X ]]
}

# is_ours PID PATTERN: PID is alive and its command line contains PATTERN (no recycled pids).
is_ours() {
  local pid=$1 pattern=$2
  [[ -n "$pid" ]] && alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern"
}

running() {
  local pid
  pid=$(pid_of "$1") || return 1
  is_ours "$pid" "$(bin_path "$1")"
}

# start_proc NAME ARGS...: start the cached binary NAME in its own session, log to logs/NAME.log.
start_proc() {
  local name=$1 bin
  shift
  bin=$(bin_path "$name")
  {
    printf '\n===== %s start: %s %s\n' "$(date -Is)" "$bin" "$*"
  } >>"$TB_STATE/logs/$name.log"
  # setsid without fork: $! is the process itself; a Ctrl-C in the caller's terminal or the end
  # of a test harness's process group does not reach it. `down` stops it by pid.
  setsid "$bin" "$@" </dev/null >>"$TB_STATE/logs/$name.log" 2>&1 &
  echo $! >"$TB_STATE/pids/$name.pid"
  log "started $name (pid $!, log $TB_STATE/logs/$name.log)"
}

# stop_pid NAME PID: TERM, wait up to 15 s, then KILL.
stop_pid() {
  local name=$1 pid=$2 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 150; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    log "$name (pid $pid) ignored SIGTERM for 15s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  log "stopped $name (pid $pid)"
}

stop_proc() {
  local name=$1 pid
  pid=$(pid_of "$name") || return 0
  # Any of the cached binaries (also an older build of this one).
  if is_ours "$pid" "$TB_BIN/"; then
    stop_pid "$name" "$pid"
  fi
  rm -f "$TB_STATE/pids/$name.pid"
}

# dead_fail NAME: if NAME died, show its log's tail and fail.
dead_fail() {
  if ! running "$1"; then
    tail -n 40 "$TB_STATE/logs/$1.log" >&2 || true
    die "$1 exited during start-up (log: $TB_STATE/logs/$1.log)"
  fi
}

# wait_ready NAME TIMEOUT CHECK...: poll CHECK until it succeeds, failing fast if NAME dies.
wait_ready() {
  local name=$1 timeout=$2 deadline
  shift 2
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    dead_fail "$name"
    ((SECONDS < deadline)) || die "$name not ready after ${timeout}s (log: $TB_STATE/logs/$name.log)"
    sleep 0.2
  done
}

# ---------------------------------------------------------------- ports and config

load_ports() {
  if [[ ! -s "$PORTS_FILE" ]]; then
    # free_port's socket is closed before the next call, so the kernel may hand out the same
    # port twice (seen: etcd and kwok both on one port); draw again until all differ.
    local name port seen=" "
    for name in ETCD_PORT ETCD_PEER_PORT APISERVER_PORT KCM_PORT SCHEDULER_PORT KWOK_PORT; do
      port=$(free_port)
      while [[ "$seen" == *" $port "* ]]; do port=$(free_port); done
      seen+="$port "
      echo "$name=$port"
    done >"$PORTS_FILE"
  fi
  # shellcheck disable=SC1090
  source "$PORTS_FILE"
  APISERVER_URL="https://127.0.0.1:$APISERVER_PORT"
}

ensure_pki() {
  pki_ca
  [[ -s "$PKI_DIR/apiserver.crt" ]] || pki_server
  [[ -s "$PKI_DIR/front-proxy-client.crt" ]] || pki_front_proxy
  [[ -s "$PKI_DIR/admin.crt" ]] || pki_client admin caracal-testbed-admin system:masters
  [[ -s "$PKI_DIR/kube-controller-manager.crt" ]] || pki_client kube-controller-manager system:kube-controller-manager
  [[ -s "$PKI_DIR/kube-scheduler.crt" ]] || pki_client kube-scheduler system:kube-scheduler
  [[ -s "$PKI_DIR/kwok.crt" ]] || pki_client kwok caracal-testbed-kwok system:masters
  [[ -s "$PKI_DIR/pv-provisioner.crt" ]] || pki_client pv-provisioner caracal-testbed-pv-provisioner system:masters
  write_kubeconfig "$ADMIN_KUBECONFIG" admin "$APISERVER_URL"
  local n
  for n in kube-controller-manager kube-scheduler kwok pv-provisioner; do
    write_kubeconfig "$TB_STATE/kubeconfigs/$n.kubeconfig" "$n" "$APISERVER_URL"
  done
}

# ---------------------------------------------------------------- components

readyz_etcd() { curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/readyz"; }
readyz_apiserver() {
  curl -fsS --max-time 3 --cacert "$PKI_DIR/ca.crt" --cert "$PKI_DIR/admin.crt" --key "$PKI_DIR/admin.key" \
    "$APISERVER_URL/readyz"
}
healthz_https() { curl -fsSk --max-time 2 "https://127.0.0.1:$1/healthz"; }

start_etcd() {
  running etcd && return 0
  mkdir -p "$TB_STATE/data/etcd"
  start_proc etcd \
    --name=default \
    --data-dir="$TB_STATE/data/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="default=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync=true \
    --quota-backend-bytes=4294967296 \
    --log-level=warn
  wait_ready etcd 60 readyz_etcd
}

start_apiserver() {
  running kube-apiserver && return 0
  start_proc kube-apiserver \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 \
    --advertise-address=127.0.0.1 \
    --secure-port="$APISERVER_PORT" \
    --cert-dir="$PKI_DIR" \
    --tls-cert-file="$PKI_DIR/apiserver.crt" \
    --tls-private-key-file="$PKI_DIR/apiserver.key" \
    --client-ca-file="$PKI_DIR/ca.crt" \
    --requestheader-client-ca-file="$PKI_DIR/front-proxy-ca.crt" \
    --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User \
    --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$PKI_DIR/front-proxy-client.crt" \
    --proxy-client-key-file="$PKI_DIR/front-proxy-client.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --service-account-issuer="$SA_ISSUER" \
    --service-account-key-file="$PKI_DIR/sa.pub" \
    --service-account-signing-key-file="$PKI_DIR/sa.key" \
    --kubelet-preferred-address-types=InternalIP \
    --authorization-mode=Node,RBAC \
    --allow-privileged=true \
    --enable-admission-plugins=NodeRestriction \
    --endpoint-reconciler-type=none \
    --profiling=false \
    --v=1
  wait_ready kube-apiserver 180 readyz_apiserver
}

start_controller_manager() {
  running kube-controller-manager && return 0
  local kc="$TB_STATE/kubeconfigs/kube-controller-manager.kubeconfig"
  # --node-monitor-grace-period=10m: kwok's nodes are never lost, and with the default 50 s an
  # API server restart (tests/verify_restart.rs) had them marked NotReady and every pod unready,
  # which kwok does not undo.
  start_proc kube-controller-manager \
    --kubeconfig="$kc" \
    --authentication-kubeconfig="$kc" \
    --authorization-kubeconfig="$kc" \
    --bind-address=127.0.0.1 \
    --secure-port="$KCM_PORT" \
    --cert-dir="$TB_STATE/data/kube-controller-manager" \
    --leader-elect=false \
    --use-service-account-credentials=true \
    --service-account-private-key-file="$PKI_DIR/sa.key" \
    --root-ca-file="$PKI_DIR/ca.crt" \
    --cluster-signing-cert-file="$PKI_DIR/ca.crt" \
    --cluster-signing-key-file="$PKI_DIR/ca.key" \
    --cluster-name=caracal-testbed \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --controllers='*' \
    --concurrent-deployment-syncs=5 \
    --concurrent-statefulset-syncs=5 \
    --node-monitor-grace-period=10m \
    --profiling=false \
    --v=1
}

start_scheduler() {
  running kube-scheduler && return 0
  local kc="$TB_STATE/kubeconfigs/kube-scheduler.kubeconfig"
  start_proc kube-scheduler \
    --kubeconfig="$kc" \
    --authentication-kubeconfig="$kc" \
    --authorization-kubeconfig="$kc" \
    --bind-address=127.0.0.1 \
    --secure-port="$SCHEDULER_PORT" \
    --cert-dir="$TB_STATE/data/kube-scheduler" \
    --leader-elect=false \
    --profiling=false \
    --v=1
}

# kwok_config: writes kwok's own config into this bed's state (its files must be absolute paths)
# and prints its path. Two documents, neither with a selector, so they hold for every pod:
# - a ClusterLogs: the logs kwok's kubelet API serves. A container's previous run (`kubectl logs
#   --previous`, what a crash loop is explained by) reads previous.log; its current run,
#   current.log. Both are in the CRI log format the kubelet serves, so the API server's `pods/log`
#   answers with their messages.
# - a ClusterPortForward: what `pods/portforward` reaches. Caracal's container ports (chart 1.0.0
#   values.yaml services.*.port: STS 8080, Gateway 8081, Admin API 3000) run
#   testbed/emulators/pod_forward.py, which pipes the stream to that role's plain-HTTP listener of
#   caracal_api.py (read from its ready file at each connection, so an emulator restart on new
#   ports is followed). So the canary's port-forward fallback (private ingress hosts) reaches the
#   emulated STS, Gateway and Admin API. Other ports have no forward (kwok refuses them). Without
#   a python3 on PATH the ClusterPortForward is left out.
kwok_config() {
  local dir="$TB_STATE/kwok" py="" fwd="$TB_DIR/emulators/pod_forward.py" ready="$TB_STATE/caracal-api/ready.json"
  mkdir -p "$dir"
  cat >"$dir/previous.log" <<'EOF_LOG'
2026-11-30T00:00:00.000000000Z stdout F caracal-testbed: previous run of this container (kwok serves testbed previous.log)
2026-11-30T00:00:01.000000000Z stderr F caracal-testbed: fatal: exiting with status 1 (the bed's crash-loop stage)
EOF_LOG
  cat >"$dir/current.log" <<'EOF_LOG'
2026-11-30T00:00:02.000000000Z stdout F caracal-testbed: current run of this container (kwok serves testbed current.log)
EOF_LOG
  # The interpreter itself, not a version manager's shim (which would depend on kwok's cwd and
  # add a process per connection).
  if py=$(command -v python3); then
    py=$("$py" -c 'import sys; print(sys.executable)') || py=""
  fi
  {
    cat <<EOF_CONF
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: caracal-testbed
spec:
  logs:
  - logsFile: $dir/current.log
    previousLogsFile: $dir/previous.log
EOF_CONF
    if [[ -n "$py" ]]; then
      cat <<EOF_CONF
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterPortForward
metadata:
  name: caracal-testbed
spec:
  forwards:
  - ports: [8080]
    command: ["$py", "$fwd", "$ready", "sts"]
  - ports: [8081]
    command: ["$py", "$fwd", "$ready", "gateway"]
  - ports: [3000]
    command: ["$py", "$fwd", "$ready", "api"]
EOF_CONF
    else
      log "no python3 on PATH: kwok gets no ClusterPortForward (port-forwards to pods will fail)"
    fi
  } >"$dir/config.yaml"
  echo "$dir/config.yaml"
}

start_kwok() {
  running kwok && return 0
  local config
  config=$(kwok_config)
  # --node-port puts the kubelet API's port in each node's status (daemonEndpoints), so the API
  # server's pods/log, exec and port-forward reach kwok's server at the node's InternalIP
  # (logs and port-forwards as kwok_config says).
  start_proc kwok \
    --kubeconfig="$TB_STATE/kubeconfigs/kwok.kubeconfig" \
    --config="$TB_DIR/kwok/stages.yaml" \
    --config="$config" \
    --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --node-ip=127.0.0.1 \
    --node-lease-duration-seconds=40 \
    --cidr=10.244.0.1/16 \
    --server-address="127.0.0.1:$KWOK_PORT" \
    --node-port="$KWOK_PORT"
}

start_provisioner() {
  running pv-provisioner && return 0
  start_proc pv-provisioner --kubeconfig="$TB_STATE/kubeconfigs/pv-provisioner.kubeconfig"
}

# ---------------------------------------------------------------- cluster objects

nodes_yaml() {
  local i zones=(a b c)
  for ((i = 0; i < NODES; i++)); do
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    type: kwok
    kubernetes.io/arch: amd64
    kubernetes.io/os: linux
    kubernetes.io/hostname: kwok-node-$i
    node-role.kubernetes.io/agent: ""
    topology.kubernetes.io/region: testbed
    topology.kubernetes.io/zone: testbed-${zones[$((i % 3))]}
spec: {}
EOF
  done
}

install_objects() {
  log "installing CRDs, nodes, storage and ingress classes"
  nodes_yaml | kubectl_admin apply --server-side --field-manager=caracal-testbed -f - >&2
  kubectl_admin apply --server-side --force-conflicts --field-manager=caracal-testbed \
    -f "$TB_REPO/tests/fixtures/crds/" >&2
  wait_crds "$TB_REPO/tests/fixtures/crds/"
  kubectl_admin apply --server-side --force-conflicts --field-manager=caracal-testbed \
    -f "$TB_DIR/k8s/manifests/" >&2
  # Earlier beds had an IngressClass `gce`; GKE has none (manifests/ingress.yaml).
  kubectl_admin delete ingressclass gce --ignore-not-found >&2
}

# wait_crds PATH...: wait until the CRDs defined in PATH are Established.
wait_crds() {
  local names
  mapfile -t names < <(kubectl_admin apply --dry-run=client -o name -f "$@" 2>/dev/null)
  ((${#names[@]} > 0)) || return 0
  kubectl_admin wait --for=condition=Established --timeout=60s "${names[@]}" >/dev/null
}

# ---------------------------------------------------------------- emulators and ESO

partial_or_die() {
  if [[ "${CARACAL_TESTBED_PARTIAL:-0}" == 1 ]]; then
    log "WARNING: $1 missing: skipped (CARACAL_TESTBED_PARTIAL=1)"
  else
    die "$1 missing: the bed would be incomplete (set CARACAL_TESTBED_PARTIAL=1 to start without it)"
  fi
}

start_emulators() {
  local d="$TB_DIR/emulators"
  if [[ ! -f "$d/start.sh" ]]; then
    partial_or_die "testbed/emulators/start.sh"
    return 0
  fi
  if [[ -f "$d/setup.sh" ]]; then
    bash "$d/setup.sh" >&2
  fi
  log "starting the secret-manager emulators (testbed/emulators/start.sh)"
  bash "$d/start.sh" "$TB_STATE" >&2
  [[ -s "$TB_STATE/emulators.env" ]] || die "testbed/emulators/start.sh wrote no $TB_STATE/emulators.env"
  # The emulators (or the proxy) came back on other ports: External Secrets still holds the
  # old URLs in its environment (the emulators.env it was started with, kept by start_eso;
  # emulators/stop.sh removes emulators.env itself), so it is restarted by start_eso.
  local seen="$TB_STATE/eso-emulators.env"
  if [[ -s "$seen" && "$(cat "$seen")" != "$(cat "$TB_STATE/emulators.env")" && -f "$TB_DIR/eso/stop.sh" ]]; then
    log "the emulators moved to new ports: restarting External Secrets Operator so it reaches them"
    bash "$TB_DIR/eso/stop.sh" "$TB_STATE" >&2 || true
  fi
}

start_eso() {
  local d="$TB_DIR/eso"
  if [[ ! -f "$d/build.sh" || ! -f "$d/start.sh" ]]; then
    partial_or_die "testbed/eso/build.sh or testbed/eso/start.sh"
    return 0
  fi
  (
    # shellcheck disable=SC2030 # on purpose: only for the ESO scripts
    export KUBECONFIG="$ADMIN_KUBECONFIG" PATH="$TB_STATE/bin:$PATH"
    if [[ -s "$TB_STATE/emulators.env" ]]; then
      set -a
      # shellcheck disable=SC1091
      source "$TB_STATE/emulators.env"
      set +a
    fi
    if [[ -f "$d/crds.sh" && "${CARACAL_TESTBED_ESO_CRDS:-fixtures}" != none && ! -e "$TB_STATE/eso-crds.done" ]]; then
      # The controller watches every ESO kind (generators too): install ESO's own bundle, then
      # put back the fixture CRDs (the schemas the product is tested against) unless asked not to.
      bash "$d/crds.sh" apply >&2
      if [[ "${CARACAL_TESTBED_ESO_CRDS:-fixtures}" == fixtures ]]; then
        kubectl apply --server-side --force-conflicts --field-manager=caracal-testbed \
          -f "$TB_REPO/tests/fixtures/crds/" >&2
      fi
      touch "$TB_STATE/eso-crds.done"
    fi
    log "building External Secrets Operator (testbed/eso/build.sh)"
    bash "$d/build.sh" >/dev/null
    log "starting External Secrets Operator (testbed/eso/start.sh)"
    bash "$d/start.sh" "$TB_STATE" >&2
    if [[ -s "$TB_STATE/emulators.env" ]]; then
      cp "$TB_STATE/emulators.env" "$TB_STATE/eso-emulators.env"
    fi
  )
}

# ---------------------------------------------------------------- cert-manager

# start_cert_manager: the real cert-manager controller (testbed/cert-manager/), after the CRDs
# and the bed's issuers (testbed/k8s/manifests/issuer.yaml) are in; start.sh waits until those
# ClusterIssuers are Ready.
start_cert_manager() {
  local d="$TB_DIR/cert-manager"
  if [[ ! -f "$d/build.sh" || ! -f "$d/start.sh" ]]; then
    partial_or_die "testbed/cert-manager/build.sh or testbed/cert-manager/start.sh"
    return 0
  fi
  (
    # shellcheck disable=SC2030,SC2031 # on purpose: only for the cert-manager scripts
    export KUBECONFIG="$ADMIN_KUBECONFIG" PATH="$TB_STATE/bin:$PATH"
    log "building the cert-manager controller (testbed/cert-manager/build.sh)"
    bash "$d/build.sh" >/dev/null
    if ! is_ours "$(pid_of cert-manager || true)" cert-manager-controller-v; then
      # The chain again: a bed brought up before this controller existed (the control plane is
      # then not reinstalled) still has the old selfSigned letsencrypt-prod.
      kubectl_admin apply --server-side --force-conflicts --field-manager=caracal-testbed \
        -f "$TB_DIR/k8s/manifests/issuer.yaml" >/dev/null
    fi
    log "starting the cert-manager controller (testbed/cert-manager/start.sh)"
    bash "$d/start.sh" "$TB_STATE" >&2
  )
}

# ---------------------------------------------------------------- answers files

sed_escape() { printf '%s' "$1" | sed -e 's/[|&\\]/\\&/g'; }

write_answers() {
  local cloud tmpl out gcp az ca chart
  chart=$(resolve_chart) || die "cannot write the answers files without the chart (see above)"
  if [[ -s "$TB_STATE/emulators.env" ]]; then
    # shellcheck disable=SC1091
    source "$TB_STATE/emulators.env"
  fi
  gcp=${CARACAL_TESTBED_GCP_ENDPOINT:-UNSET-start-the-emulators-CARACAL_TESTBED_GCP_ENDPOINT}
  az=${CARACAL_TESTBED_AZURE_VAULT_URL:-UNSET-start-the-emulators-CARACAL_TESTBED_AZURE_VAULT_URL}
  ca=${CARACAL_TESTBED_CA_BUNDLE:-UNSET-start-the-emulators-CARACAL_TESTBED_CA_BUNDLE}
  for cloud in aws gcp azure; do
    tmpl="$TB_DIR/answers/$cloud.yaml.tmpl"
    out="$TB_STATE/answers/$cloud.yaml"
    [[ -f "$tmpl" ]] || die "missing $tmpl"
    sed -e "s|@CHART@|$(sed_escape "$chart")|g" -e "s|@CONTEXT@|$(sed_escape "$TB_CONTEXT")|g" \
      -e "s|@GCP_ENDPOINT@|$(sed_escape "$gcp")|g" -e "s|@AZURE_VAULT_URL@|$(sed_escape "$az")|g" \
      -e "s|@CA_BUNDLE@|$(sed_escape "$ca")|g" \
      "$tmpl" >"$out.tmp"
    mv -f "$out.tmp" "$out"
  done
}

# ---------------------------------------------------------------- commands

all_running() {
  local p
  for p in "${PROCS[@]}"; do running "$p" || return 1; done
}

any_running() {
  local p
  for p in "${PROCS[@]}"; do running "$p" && return 0; done
  return 1
}

cmd_up() {
  local t0=$SECONDS
  need curl openssl setsid
  # A wrong CARACAL_CHART_DIR fails now, not after minutes of building (it is never pulled).
  if [[ -n "${CARACAL_CHART_DIR:-}${CARACAL_TESTBED_CHART:-}" ]]; then
    resolve_chart >/dev/null || die "fix the chart first (see above)"
  fi
  state_dirs
  if [[ -s "$PORTS_FILE" && -s "$ADMIN_KUBECONFIG" ]] && all_running && load_ports && readyz_apiserver >/dev/null 2>&1; then
    log "control plane already up ($APISERVER_URL)"
  else
    if [[ -e "$PORTS_FILE" ]] && ! any_running; then
      # Left over from a bed whose processes are gone (a reboot, a killed session): start afresh
      # rather than revive etcd data that the emulators' state no longer matches.
      log "stale state in $TB_STATE (nothing running): clearing it"
      cmd_down
      state_dirs
    fi
    build_all
    load_ports
    ensure_pki
    start_etcd
    start_apiserver
    log "kube-apiserver ready at $APISERVER_URL"
    start_controller_manager
    start_scheduler
    install_objects
    start_kwok
    start_provisioner
    wait_ready kube-controller-manager 60 healthz_https "$KCM_PORT"
    wait_ready kube-scheduler 60 healthz_https "$SCHEDULER_PORT"
    wait_ready kwok 60 kubectl_admin wait --for=condition=Ready node --all --timeout=1s
    # The service-account and root-CA publisher controllers have run once namespaces get them.
    wait_ready kube-controller-manager 60 kubectl_admin -n default get serviceaccount/default configmap/kube-root-ca.crt
    log "control plane ready: $NODES kwok nodes, KUBECONFIG=$ADMIN_KUBECONFIG"
  fi
  link_bins "$TB_STATE/bin" "${TB_TOOLS[@]}" "${TB_SERVERS[@]}"
  start_emulators
  start_eso
  start_cert_manager
  write_answers
  log "test bed up in $((SECONDS - t0))s; run: eval \"\$($TB_REPO/scripts/testbed env)\""
}

cmd_down() {
  local t0=$SECONDS i f pid
  # The colleagues' components first (they need the API server to shut down cleanly).
  if [[ -f "$TB_DIR/cert-manager/stop.sh" ]]; then bash "$TB_DIR/cert-manager/stop.sh" "$TB_STATE" >&2 || true; fi
  if [[ -f "$TB_DIR/eso/stop.sh" ]]; then bash "$TB_DIR/eso/stop.sh" "$TB_STATE" >&2 || true; fi
  if [[ -f "$TB_DIR/emulators/stop.sh" ]]; then bash "$TB_DIR/emulators/stop.sh" "$TB_STATE" >&2 || true; fi
  for ((i = ${#PROCS[@]} - 1; i >= 0; i--)); do stop_proc "${PROCS[$i]}"; done
  # Whatever else left a pid file here and is one of the bed's processes.
  if [[ -d "$TB_STATE/pids" ]]; then
    for f in "$TB_STATE"/pids/*.pid; do
      [[ -e "$f" ]] || continue
      pid=$(cat "$f")
      if is_ours "$pid" "$TB_CACHE" || is_ours "$pid" "$TB_REPO" || is_ours "$pid" "$TB_STATE"; then
        stop_pid "$(basename "$f" .pid)" "$pid"
      fi
      rm -f "$f"
    done
  fi
  # Runtime data goes (ours and the emulators'); the build cache ($TB_CACHE), bin/ links and
  # logs/ stay.
  if [[ -d "$TB_STATE" ]]; then
    find "$TB_STATE" -mindepth 1 -maxdepth 1 ! -name bin ! -name logs -exec rm -rf {} +
  fi
  log "down in $((SECONDS - t0))s"
}

cmd_status() {
  local p pid f rc=0
  for p in "${PROCS[@]}"; do
    pid=$(pid_of "$p" || true)
    if running "$p"; then
      printf '%-26s running  pid %s\n' "$p" "$pid"
    else
      printf '%-26s stopped\n' "$p"
      rc=1
    fi
  done
  for f in "$TB_STATE"/pids/*.pid; do
    [[ -e "$f" ]] || continue
    p=$(basename "$f" .pid)
    [[ " ${PROCS[*]} " == *" $p "* ]] && continue
    pid=$(cat "$f")
    if alive "$pid"; then
      printf '%-26s running  pid %s\n' "$p" "$pid"
    else
      printf '%-26s dead     (stale pid %s)\n' "$p" "$pid"
      rc=1
    fi
  done
  if [[ -s "$TB_STATE/cert-manager.env" ]]; then
    local readyz
    readyz=$(sed -n 's/^CARACAL_TESTBED_CERT_MANAGER_READYZ_URL=//p' "$TB_STATE/cert-manager.env")
    if curl -fsS --max-time 2 -o /dev/null "$readyz" 2>/dev/null; then
      echo "cert-manager controller ready ($readyz); log $TB_STATE/logs/cert-manager.log"
    else
      echo "cert-manager controller not ready ($readyz)"
      rc=1
    fi
  elif [[ -f "$TB_DIR/cert-manager/start.sh" && "${CARACAL_TESTBED_PARTIAL:-0}" != 1 ]]; then
    echo "cert-manager controller not running (no $TB_STATE/cert-manager.env)"
    rc=1
  fi
  if [[ -s "$PORTS_FILE" ]]; then
    load_ports
    if readyz_apiserver >/dev/null 2>&1; then
      echo "kube-apiserver $APISERVER_URL ready; KUBECONFIG=$ADMIN_KUBECONFIG"
      kubectl_admin get nodes --no-headers 2>/dev/null | awk '{print "  node " $1 " " $2}'
    else
      echo "kube-apiserver $APISERVER_URL not ready"
      rc=1
    fi
  else
    echo "not up (no $PORTS_FILE)"
    rc=1
  fi
  return "$rc"
}

cmd_env() {
  local cloud var chart
  printf 'export CARACAL_TESTBED_STATE=%q\n' "$TB_STATE"
  printf 'export CARACAL_TESTBED_CACHE=%q\n' "$TB_CACHE"
  printf 'export KUBECONFIG=%q\n' "$ADMIN_KUBECONFIG"
  printf 'export CARACAL_TESTBED_KUBE_CONTEXT=%q\n' "$TB_CONTEXT"
  printf 'export CARACAL_HELM=%q\n' "$(bin_path helm)"
  printf 'export CARACAL_KUBECTL=%q\n' "$(bin_path kubectl)"
  # The tests find the chart through CARACAL_CHART_DIR; smoke.sh reads CARACAL_TESTBED_CHART.
  # Without a chart the other lines still hold, and whatever needs the chart says why.
  if chart=$(resolve_chart); then
    printf 'export CARACAL_CHART_DIR=%q\n' "$chart"
    printf 'export CARACAL_TESTBED_CHART=%q\n' "$chart"
  else
    log "warning: no chart; CARACAL_CHART_DIR is left out of the environment"
  fi
  # shellcheck disable=SC2031 # the caller's PATH, not start_eso's
  local path=":$PATH:"
  path=${path//":$TB_STATE/bin:"/:}
  path=${path#:}
  printf 'export PATH=%q\n' "$TB_STATE/bin:${path%:}"
  for cloud in aws gcp azure; do
    var="CARACAL_DEPLOY_ANSWERS_${cloud^^}"
    printf 'export %s=%q\n' "$var" "$TB_STATE/answers/$cloud.yaml"
  done
  local f line
  for f in "$TB_STATE/emulators.env" "$TB_STATE/eso.env" "$TB_STATE/cert-manager.env"; do
    [[ -s "$f" ]] || continue
    while IFS= read -r line; do
      [[ -z "$line" || "$line" == \#* ]] && continue
      if [[ "$line" == export\ * ]]; then
        printf '%s\n' "$line"
      else
        printf 'export %s\n' "$line"
      fi
    done <"$f"
  done
}

# cmd_kubeconfig USER [GROUP...]: mint a client certificate for USER in GROUPs, print its kubeconfig path.
cmd_kubeconfig() {
  [[ $# -ge 1 ]] || die "usage: scripts/testbed kubeconfig USER [GROUP...]"
  [[ -s "$PORTS_FILE" && -s "$PKI_DIR/ca.key" ]] || die "the test bed is not up (scripts/testbed up)"
  load_ports
  local user=$1 name
  name=$(printf '%s' "$*" | tr -c 'A-Za-z0-9._-' '_')
  name="user-${name:0:60}-$(printf '%s' "$*" | sha256sum | cut -c1-8)"
  pki_client "$name" "$@"
  write_kubeconfig "$TB_STATE/kubeconfigs/$name.kubeconfig" "$name" "$APISERVER_URL"
  log "kubeconfig for user $user${2:+ in groups ${*:2}}"
  printf '%s\n' "$TB_STATE/kubeconfigs/$name.kubeconfig"
}

# shellcheck shell=bash disable=SC2034
# Shared settings and helpers of scripts/testbed. Sourced, never executed.

: "${TB_REPO:?TB_REPO must be set before sourcing testbed/lib/common.sh}"

TB_CACHE="${CARACAL_TESTBED_CACHE:-${HOME}/.cache/caracal-deploy}"
TB_BIN="$TB_CACHE/bin"
TB_STATE="${CARACAL_TESTBED_STATE:-$TB_REPO/.testbed}"
TB_DIR="$TB_REPO/testbed"
TB_CONTEXT="caracal-testbed"

log() { printf '%s testbed: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  printf '%s testbed: ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2
  exit 1
}

# modver DIR MODULE: the version of MODULE required by the wrapper module in testbed/DIR.
modver() {
  local v
  v=$(awk -v m="$2" '$1 == m { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$TB_DIR/$1/go.mod")
  [[ -n "$v" ]] || die "cannot find $2 in testbed/$1/go.mod"
  printf '%s\n' "$v"
}

HELM_VERSION=$(modver helm helm.sh/helm/v3)
K8S_VERSION=$(modver k8s k8s.io/kubernetes)
ETCD_VERSION=$(modver etcd go.etcd.io/etcd/server/v3)
KWOK_VERSION=$(modver kwok sigs.k8s.io/kwok)

# bin_path NAME: the cached, versioned path of a binary.
bin_path() {
  case "$1" in
    helm) echo "$TB_BIN/helm-$HELM_VERSION" ;;
    kubectl | kube-apiserver | kube-controller-manager | kube-scheduler) echo "$TB_BIN/$1-$K8S_VERSION" ;;
    etcd) echo "$TB_BIN/etcd-$ETCD_VERSION" ;;
    kwok) echo "$TB_BIN/kwok-$KWOK_VERSION" ;;
    pv-provisioner)
      # Our own code: keyed by the content of its source and of the module it builds in.
      local h
      h=$(cat "$TB_DIR/k8s/pvprovisioner/"*.go "$TB_DIR/k8s/go.sum" | sha256sum | cut -c1-12)
      echo "$TB_BIN/caracal-pv-provisioner-$K8S_VERSION-$h"
      ;;
    *) die "unknown binary $1" ;;
  esac
}

# free_port: an unused TCP port on 127.0.0.1, chosen by the kernel.
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    return
  fi
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  die "no free port found"
}

# wait_for DESCRIPTION TIMEOUT_SECONDS COMMAND...: poll COMMAND until it succeeds.
wait_for() {
  local what=$1 timeout=$2
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      return 1
    fi
    sleep 0.2
  done
}

need() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "'$c' is required but not installed"
  done
}

# shellcheck shell=bash
# Building the test bed's binaries from the Go module proxy into the versioned cache.
# Each binary is built by `go build` inside a small wrapper module (testbed/{helm,k8s,etcd,kwok})
# whose committed go.mod and go.sum pin every dependency, and is rebuilt only when missing.

go_build_env() {
  export CGO_ENABLED=0
  # -mod=readonly: the committed go.sum must be complete; never touch it during a build.
  export GOFLAGS="-mod=readonly -buildvcs=false"
}

# go_build MODULE_DIR OUT PACKAGE LDFLAGS: build one main package into OUT, atomically.
go_build() {
  local dir=$1 out=$2 pkg=$3 ldflags=$4 start=$SECONDS tmp
  need go
  mkdir -p "$TB_BIN"
  tmp="$out.tmp.$$"
  log "building $(basename "$out") from $pkg (cold builds take minutes; log: $TB_BIN/$(basename "$out").build.log)"
  if ! (cd "$TB_DIR/$dir" && go_build_env && go build -trimpath -ldflags "-s -w $ldflags" -o "$tmp" "$pkg") \
    >"$TB_BIN/$(basename "$out").build.log" 2>&1; then
    rm -f "$tmp"
    cat "$TB_BIN/$(basename "$out").build.log" >&2
    die "build of $pkg failed"
  fi
  mv -f "$tmp" "$out"
  log "built $(basename "$out") in $((SECONDS - start))s"
}

# As helm's Makefile: the version, and the default Kubernetes version of `helm template`
# (Capabilities.KubeVersion) derived from the client-go helm builds with (v0.37 -> 1.37).
# Without the latter, `helm template` assumes v1.20 and refuses charts with kubeVersion >=1.30.
helm_ldflags() {
  local cg minor flags pkg
  cg=$(modver helm k8s.io/client-go)
  minor=$(echo "$cg" | cut -d. -f2)
  flags="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    flags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$minor"
  done
  echo "$flags"
}

# helm 4 beside helm 3 (testbed/helm4/), cached as helm-v4.x.y and linked as `helm4`. Only its
# version needs ldflags: helm 4 reads the Kubernetes version of `helm template` from the
# client-go in its build info (pkg/chart/common/capabilities.go), v0.37 -> 1.37, at run time.
HELM4_VERSION=$(modver helm4 helm.sh/helm/v4)
helm4_path() { echo "$TB_BIN/helm-$HELM4_VERSION"; }
helm4_ldflags() {
  echo "-X helm.sh/helm/v4/internal/version.version=$HELM4_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
}

k8s_ldflags() {
  local v=$K8S_VERSION minor flags="" pkg
  minor=$(echo "$v" | cut -d. -f2)
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  echo "$flags"
}

# ensure_bin NAME: build NAME unless its versioned binary is already cached.
ensure_bin() {
  local name=$1 out
  if [[ $name == helm4 ]]; then out=$(helm4_path); else out=$(bin_path "$name"); fi
  [[ -x "$out" ]] && return 0
  # Serialise concurrent builds of the same binary (parallel test runs, two shells).
  mkdir -p "$TB_BIN"
  if command -v flock >/dev/null 2>&1; then
    exec {lockfd}>"$TB_BIN/.build-$name.lock"
    flock "$lockfd"
    if [[ -x "$out" ]]; then
      exec {lockfd}>&-
      return 0
    fi
  fi
  case "$name" in
    helm)
      go_build helm "$out" helm.sh/helm/v3/cmd/helm "$(helm_ldflags)"
      ;;
    helm4)
      go_build helm4 "$out" helm.sh/helm/v4/cmd/helm "$(helm4_ldflags)"
      ;;
    kubectl | kube-apiserver | kube-controller-manager | kube-scheduler)
      go_build k8s "$out" "k8s.io/kubernetes/cmd/$name" "$(k8s_ldflags)"
      ;;
    etcd)
      go_build etcd "$out" go.etcd.io/etcd/server/v3 ""
      ;;
    kwok)
      go_build kwok "$out" sigs.k8s.io/kwok/cmd/kwok ""
      ;;
    pv-provisioner)
      go_build k8s "$out" ./pvprovisioner ""
      ;;
  esac
  if [[ -n "${lockfd:-}" ]]; then exec {lockfd}>&-; fi
}

# link_bins DIR NAME...: unversioned symlinks (helm, kubectl, ...) to the cached binaries.
link_bins() {
  local dir=$1 name
  shift
  mkdir -p "$dir"
  for name in "$@"; do
    ln -sfn "$(bin_path "$name")" "$dir/$name"
  done
}

TB_TOOLS=(helm kubectl)
TB_SERVERS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok pv-provisioner)

build_tools() {
  local n
  for n in "${TB_TOOLS[@]}"; do ensure_bin "$n"; done
  link_bins "$TB_STATE/bin" "${TB_TOOLS[@]}"
  ensure_bin helm4
  ln -sfn "$(helm4_path)" "$TB_STATE/bin/helm4"
}

build_all() {
  local n
  build_tools
  for n in "${TB_SERVERS[@]}"; do ensure_bin "$n"; done
  link_bins "$TB_STATE/bin" "${TB_SERVERS[@]}"
}

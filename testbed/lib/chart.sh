# shellcheck shell=bash
# Where the Caracal chart comes from, for the bed and the Rust tests alike: scripts/testbed fills
# the answers files and `env` with it, and tests/support/mod.rs asks `scripts/testbed chart`, so a
# clone anywhere finds the same chart by the same rules. Sourced after common.sh; defines
# functions only.

TB_CHART_VERSION=1.0.0
TB_CHART_OCI=oci://ghcr.io/garudex-labs/charts/caracal

# chart_version DIR: the `version` in DIR/Chart.yaml (nothing if there is no Chart.yaml).
chart_version() {
  [[ -f "$1/Chart.yaml" ]] || return 0
  sed -n "s/^version:[[:space:]]*[\"']\{0,1\}\([^\"'[:space:]]*\).*/\1/p" "$1/Chart.yaml" | head -n 1
}

# chart_beside_repo: where the shared fixtures put the chart when the repository sits beside them.
chart_beside_repo() {
  printf '%s/shared/fixtures/caracal-chart-%s\n' "$(cd "$TB_REPO/.." && pwd)" "$TB_CHART_VERSION"
}

chart_cache() { printf '%s/charts/caracal-%s\n' "$TB_CACHE" "$TB_CHART_VERSION"; }

chart_fixes() {
  cat >&2 <<EOF
  Fix, one of:
    1. export CARACAL_CHART_DIR=/path/to/caracal   (a directory holding the chart $TB_CHART_VERSION, its Chart.yaml at the top)
    2. put the shared fixtures beside the repository: $(chart_beside_repo)
    3. let it be pulled once from $TB_CHART_OCI into $(chart_cache):
       this needs network access and helm (CARACAL_HELM, scripts/testbed tools, or helm on PATH)
EOF
  if [[ -n "${1:-}" ]]; then
    echo "  (2 and 3 apply once $1 is unset)" >&2
  fi
}

# chart_helm: a helm to pull with, without building one (`env` must stay instant).
chart_helm() {
  local h
  for h in "${CARACAL_HELM:-}" "$(bin_path helm)" "$(command -v helm 2>/dev/null || true)"; do
    if [[ -n "$h" && -x "$h" ]]; then
      printf '%s\n' "$h"
      return 0
    fi
  done
  return 1
}

# chart_pull DEST: pull the chart into DEST, atomically (a second caller waits, then finds it).
chart_pull() {
  local dest=$1 helm tmp lockfd rc=0
  helm=$(chart_helm) || {
    echo "testbed: no helm to pull $TB_CHART_OCI $TB_CHART_VERSION with" >&2
    return 1
  }
  mkdir -p "$(dirname "$dest")"
  if command -v flock >/dev/null 2>&1; then
    exec {lockfd}>"$dest.lock"
    flock "$lockfd"
  fi
  if [[ "$(chart_version "$dest")" != "$TB_CHART_VERSION" ]]; then
    tmp=$(mktemp -d "$dest.pull.XXXXXX")
    echo "testbed: pulling $TB_CHART_OCI $TB_CHART_VERSION into $dest" >&2
    if "$helm" pull "$TB_CHART_OCI" --version "$TB_CHART_VERSION" --untar --untardir "$tmp" >&2 &&
      [[ "$(chart_version "$tmp/caracal")" == "$TB_CHART_VERSION" ]]; then
      rm -rf "$dest"
      mv "$tmp/caracal" "$dest"
    else
      echo "testbed: helm pull of $TB_CHART_OCI $TB_CHART_VERSION failed" >&2
      rc=1
    fi
    rm -rf "$tmp"
  fi
  if [[ -n "${lockfd:-}" ]]; then exec {lockfd}>&-; fi
  return "$rc"
}

# resolve_chart: print the absolute directory of the Caracal chart $TB_CHART_VERSION, from the
# first of
#   1. $CARACAL_CHART_DIR, which must hold that chart: a wrong one is an error, never skipped
#      (CARACAL_TESTBED_CHART, its former name, is read when it is unset);
#   2. ../shared/fixtures/caracal-chart-$TB_CHART_VERSION beside the repository;
#   3. $TB_CACHE/charts/caracal-$TB_CHART_VERSION, pulled once from $TB_CHART_OCI.
# Otherwise returns 1 with the reason and the three fixes on stderr.
resolve_chart() {
  local name dir found
  if [[ -n "${CARACAL_CHART_DIR:-}" ]]; then
    name=CARACAL_CHART_DIR dir=$CARACAL_CHART_DIR
  elif [[ -n "${CARACAL_TESTBED_CHART:-}" ]]; then
    name=CARACAL_TESTBED_CHART dir=$CARACAL_TESTBED_CHART
  fi
  if [[ -n "${name:-}" ]]; then
    found=$(chart_version "$dir")
    if [[ "$found" != "$TB_CHART_VERSION" ]]; then
      if [[ -z "$found" ]]; then
        echo "testbed: ERROR: $name=$dir is not a chart directory (no Chart.yaml)" >&2
      else
        echo "testbed: ERROR: $name=$dir holds chart version $found, not $TB_CHART_VERSION" >&2
      fi
      chart_fixes "$name"
      return 1
    fi
    (cd "$dir" && pwd -P)
    return 0
  fi
  dir=$(chart_beside_repo)
  if [[ "$(chart_version "$dir")" == "$TB_CHART_VERSION" ]]; then
    printf '%s\n' "$dir"
    return 0
  fi
  dir=$(chart_cache)
  if [[ "$(chart_version "$dir")" == "$TB_CHART_VERSION" ]] || chart_pull "$dir"; then
    printf '%s\n' "$dir"
    return 0
  fi
  echo "testbed: ERROR: no Caracal chart $TB_CHART_VERSION: CARACAL_CHART_DIR is unset, $(chart_beside_repo) does not exist, and it could not be pulled" >&2
  chart_fixes
  return 1
}

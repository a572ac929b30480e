#!/usr/bin/env bash
# Build the real cert-manager controller (github.com/cert-manager/cert-manager, version pinned in
# testbed/cert-manager/go.mod) for the test bed, through the wrapper main.go beside this script.
#
#   testbed/cert-manager/build.sh       -> prints the binary path on stdout (only that)
#
# Idempotent: if ${CARACAL_TESTBED_CACHE:-$HOME/.cache/caracal-deploy}/bin/
# cert-manager-controller-VERSION-HASH already exists and runs, nothing is built (HASH: of main.go
# and go.sum, since the wrapper is our code). Progress goes to stderr.
# Set CARACAL_TESTBED_CERT_MANAGER_REBUILD=1 to force a rebuild.
# Needs Go >= 1.26 and the Go module proxy (first build only).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CM_VERSION="$(awk '$1 == "github.com/cert-manager/cert-manager" { print $2; exit }
    $1 == "require" && $2 == "github.com/cert-manager/cert-manager" { print $3; exit }' "$here/go.mod")"
[[ -n "$CM_VERSION" ]] || { echo "[cert-manager/build] cannot read the cert-manager version from $here/go.mod" >&2; exit 1; }
hash="$(cat "$here/main.go" "$here/go.mod" "$here/go.sum" | sha256sum | cut -c1-12)"
cache="${CARACAL_TESTBED_CACHE:-$HOME/.cache/caracal-deploy}"
bindir="$cache/bin"
bin="$bindir/cert-manager-controller-$CM_VERSION-$hash"

log() { printf '[cert-manager/build] %s\n' "$*" >&2; }

usable() { [[ -x "$bin" ]] && "$bin" -help >/dev/null 2>&1; }

if [[ "${CARACAL_TESTBED_CERT_MANAGER_REBUILD:-0}" != 1 ]] && usable; then
    log "up to date: $bin"
    printf '%s\n' "$bin"
    exit 0
fi

command -v go >/dev/null 2>&1 || { log "go not found in PATH"; exit 1; }
mkdir -p "$bindir"

# Serialise concurrent builds (two test runs starting at once).
exec 9>"$bindir/.cert-manager-controller-$CM_VERSION.lock"
flock 9
if [[ "${CARACAL_TESTBED_CERT_MANAGER_REBUILD:-0}" != 1 ]] && usable; then
    log "built by a concurrent run: $bin"
    printf '%s\n' "$bin"
    exit 0
fi

log "building cert-manager controller $CM_VERSION with $(go version | awk '{print $3}') (log: $bin.build.log)"
log "a cold build takes minutes (see testbed/README.md); the first one downloads its modules from the proxy"
start=$SECONDS
tmp="$bin.tmp.$$"
trap 'rm -f "$tmp"' EXIT
if ! (
    cd "$here"
    # -mod=readonly: go.mod/go.sum are committed and must not drift. CGO off like upstream's
    # image: a static binary, no C toolchain needed. The version as upstream's Makefile sets it.
    CGO_ENABLED=0 GOTOOLCHAIN="${GOTOOLCHAIN:-local}" GOFLAGS="${GOFLAGS:-} -mod=readonly -buildvcs=false" \
        go build -trimpath \
        -ldflags "-s -w -X github.com/cert-manager/cert-manager/pkg/util.AppVersion=$CM_VERSION" \
        -o "$tmp" .
) >"$bin.build.log" 2>&1; then
    cat "$bin.build.log" >&2
    log "build failed (log: $bin.build.log)"
    exit 1
fi
mv -f "$tmp" "$bin"
trap - EXIT
log "built $bin ($(du -h "$bin" | cut -f1)) in $((SECONDS - start))s"
printf '%s\n' "$bin"

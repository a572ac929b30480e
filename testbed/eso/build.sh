#!/usr/bin/env bash
# Build the real External Secrets Operator controller (v0.16.2) for the test bed.
#
#   testbed/eso/build.sh            -> prints the binary path on stdout (only that)
#
# Idempotent: if ${CARACAL_TESTBED_CACHE:-$HOME/.cache/caracal-deploy}/bin/external-secrets-v0.16.2
# already exists and runs, nothing is built. Progress goes to stderr.
# Set CARACAL_TESTBED_ESO_REBUILD=1 to force a rebuild.
# Needs Go >= 1.24 and the Go module proxy (first build only; ~1 GB of modules).
set -euo pipefail

ESO_VERSION=v0.16.2
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${CARACAL_TESTBED_CACHE:-$HOME/.cache/caracal-deploy}"
bindir="$cache/bin"
bin="$bindir/external-secrets-$ESO_VERSION"

log() { printf '[eso/build] %s\n' "$*" >&2; }

usable() { [[ -x "$bin" ]] && "$bin" --help >/dev/null 2>&1; }

if [[ "${CARACAL_TESTBED_ESO_REBUILD:-0}" != 1 ]] && usable; then
    log "up to date: $bin"
    printf '%s\n' "$bin"
    exit 0
fi

command -v go >/dev/null 2>&1 || { log "go not found in PATH"; exit 1; }
mkdir -p "$bindir"

# Serialise concurrent builds (two test runs starting at once).
exec 9>"$bindir/.external-secrets-$ESO_VERSION.lock"
flock 9
if [[ "${CARACAL_TESTBED_ESO_REBUILD:-0}" != 1 ]] && usable; then
    log "built by a concurrent run: $bin"
    printf '%s\n' "$bin"
    exit 0
fi

log "building external-secrets $ESO_VERSION with $(go version | awk '{print $3}')"
log "a cold build costs ~6-7 CPU-minutes: ~4 min on 2 idle cores, much longer on a busy machine; first use downloads ~310 MB of modules"
start=$SECONDS
tmp="$bin.tmp.$$"
trap 'rm -f "$tmp"' EXIT
(
    cd "$here"
    # -mod=readonly: go.mod/go.sum are committed and must not drift.
    # CGO off like upstream's image: static binary, no C toolchain needed.
    CGO_ENABLED=0 GOTOOLCHAIN="${GOTOOLCHAIN:-local}" GOFLAGS="${GOFLAGS:-} -mod=readonly" \
        go build -trimpath -ldflags "-s -w" -o "$tmp" .
) >&2
mv -f "$tmp" "$bin"
trap - EXIT
log "built $bin ($(du -h "$bin" | cut -f1)) in $((SECONDS - start))s"
printf '%s\n' "$bin"

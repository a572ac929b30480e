#!/usr/bin/env bash
# Build (once) the Go Azure Key Vault emulator and print the binary's absolute path on stdout.
#   testbed/emulators/azurekv/build.sh
# The binary is cached at ${CARACAL_TESTBED_CACHE:-$HOME/.cache/caracal-deploy}/azurekv-<hash>/azure-kv,
# where <hash> covers this package's *.go files, go.mod and `go version`; an existing
# executable there is reused. Standard library only: builds offline. Logs go to stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { echo "[azurekv/build] $*" >&2; }

case "${1:-}" in
  -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
  "") ;;
  *) log "unknown argument: $1"; exit 2 ;;
esac

if ! command -v go >/dev/null 2>&1; then
  log "error: 'go' is not on PATH; the Azure Key Vault emulator is written in Go (go.mod: go 1.22 or newer)"
  exit 1
fi
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
goversion="$(go version)" || { log "error: 'go version' failed"; exit 1; }

hash="$(cd "$here" && { cat $(LC_ALL=C ls ./*.go) go.mod; echo "$goversion"; } | sha256sum | cut -c1-12)"
cache="${CARACAL_TESTBED_CACHE:-$HOME/.cache/caracal-deploy}"
dir="$cache/azurekv-$hash"
bin="$dir/azure-kv"

if [ -f "$bin" ] && [ -x "$bin" ]; then
  log "binary ready: $bin"
  echo "$bin"
  exit 0
fi

mkdir -p "$dir"
tmp="$(mktemp "$dir/.azure-kv.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
log "building $bin ($goversion)"
if ! (cd "$here" && go build -trimpath -o "$tmp" .) >&2; then
  log "error: go build failed"
  exit 1
fi
chmod 755 "$tmp"
mv -f "$tmp" "$bin"
trap - EXIT
log "binary ready: $bin"
echo "$bin"

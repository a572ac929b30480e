#!/usr/bin/env bash
# Create (idempotently) the emulators' virtualenv and print its path on stdout.
#   testbed/emulators/setup.sh [--dev]
# The venv lives at ${CARACAL_TESTBED_CACHE:-$HOME/.cache/caracal-deploy}/venv-<hash>,
# where <hash> covers requirements.txt + constraints.txt (and the -dev files with --dev).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dev=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

log() { echo "[emulators/setup] $*" >&2; }

python="${CARACAL_TESTBED_PYTHON:-}"
if [ -z "$python" ]; then
  for c in python3.11 python3.12 python3.13 python3; do
    if command -v "$c" >/dev/null 2>&1; then python="$(command -v "$c")"; break; fi
  done
fi
[ -n "$python" ] || { log "no python3 found"; exit 1; }

hash_files=("$here/requirements.txt" "$here/constraints.txt")
[ "$dev" = 1 ] && hash_files+=("$here/requirements-dev.txt" "$here/constraints-dev.txt")
hash="$(cat "${hash_files[@]}" | sha256sum | cut -c1-12)"
[ "$dev" = 1 ] && hash="dev-$hash"
cache="${CARACAL_TESTBED_CACHE:-$HOME/.cache/caracal-deploy}"
venv="$cache/venv-$hash"

if [ -f "$venv/.complete" ] && [ -x "$venv/bin/python" ]; then
  log "venv ready: $venv"
  echo "$venv"
  exit 0
fi

mkdir -p "$cache"
lock="$cache/.venv-$hash.lock"
exec 9>"$lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi
if [ -f "$venv/.complete" ] && [ -x "$venv/bin/python" ]; then
  log "venv ready: $venv"; echo "$venv"; exit 0
fi

rm -rf "$venv"
log "creating venv $venv with $python"
"$python" -m venv "$venv"
pip_args=(-r "$here/requirements.txt" -c "$here/constraints.txt")
if [ "$dev" = 1 ]; then
  pip_args+=(-r "$here/requirements-dev.txt" -c "$here/constraints-dev.txt")
fi
log "pip install ${pip_args[*]##*/} (about a minute)"
if ! "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q "${pip_args[@]}" >&2; then
  log "pip install failed; removing the incomplete venv"
  rm -rf "$venv"
  exit 1
fi
touch "$venv/.complete"
log "venv ready: $venv"
echo "$venv"

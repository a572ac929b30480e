#!/usr/bin/env bash
# Create (idempotently) the virtualenv of the benchmarks' peers (the AWS CLI) and print its
# path on stdout. Cached by the hash of requirements.txt under the bed's cache directory.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
hash="$(sha256sum "$here/requirements.txt" | cut -c1-12)"
venv="${CARACAL_TESTBED_CACHE:-$HOME/.cache/caracal-deploy}/peers-$hash"
if [ -f "$venv/.complete" ] && [ -x "$venv/bin/aws" ]; then
  echo "$venv"
  exit 0
fi
echo "[peers/setup] creating $venv (the AWS CLI from PyPI)" >&2
rm -rf "$venv"
python3 -m venv "$venv" >&2
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
touch "$venv/.complete"
echo "$venv"

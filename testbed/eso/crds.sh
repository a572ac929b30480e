#!/usr/bin/env bash
# The CustomResourceDefinitions of External Secrets Operator v0.16.2, taken from the module
# itself (deploy/crds/bundle.yaml: 20 CRDs, external-secrets.io/v1 served and stored; no
# conversion webhook configured, so no webhook is needed).
#
#   testbed/eso/crds.sh path     print the path of bundle.yaml (in the Go module cache)
#   testbed/eso/crds.sh apply    kubectl apply --server-side it (KUBECONFIG must be set) and
#                                wait until the CRDs are Established. Idempotent.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf '[eso/crds] %s\n' "$*" >&2; }

bundle_path() {
    local dir
    # Downloads the module zip (~10 MB) on first use; no-op afterwards.
    dir="$(cd "$here" && GOFLAGS=-mod=readonly go mod download -json github.com/external-secrets/external-secrets |
        sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    [[ -n "$dir" && -f "$dir/deploy/crds/bundle.yaml" ]] || { log "cannot locate ESO's deploy/crds/bundle.yaml"; exit 1; }
    printf '%s\n' "$dir/deploy/crds/bundle.yaml"
}

case "${1:-}" in
    path) bundle_path ;;
    apply)
        : "${KUBECONFIG:?KUBECONFIG must be set}"
        bundle="$(bundle_path)"
        log "applying $bundle"
        # Server-side: the CRDs are too large for the last-applied annotation of client-side apply.
        kubectl apply --server-side --force-conflicts --field-manager=caracal-testbed -f "$bundle" >&2
        mapfile -t names < <(sed -n 's/^  name: \(.*\.external-secrets\.io\)$/\1/p' "$bundle")
        kubectl wait --for=condition=Established --timeout=60s "${names[@]/#/crd/}" >&2
        log "${#names[@]} CRDs established"
        ;;
    *) echo "usage: $0 path|apply" >&2; exit 2 ;;
esac

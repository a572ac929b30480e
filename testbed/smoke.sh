#!/usr/bin/env bash
# Acceptance check of the test bed's Kubernetes part: install the real Caracal chart 1.0.0 in
# stable mode (EKS overlay, gp3, alb, ServiceMonitor and PrometheusRule on) with
# `helm upgrade --install --wait` and check that the release is deployed, its pre-install hook
# Jobs (migrate, auth-migrate) succeeded, every Deployment and StatefulSet is Ready and every
# PersistentVolumeClaim is Bound.
#
#   testbed/smoke.sh [--keep]      (the bed must be up: scripts/testbed up)
#
# The namespace (caracal-aws by default, CARACAL_SMOKE_NAMESPACE) is deleted at the end unless
# --keep is given. The runtime Secret is a placeholder created with kubectl: under kwok no
# container runs, so its contents do not matter.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
keep=0
[[ "${1:-}" == --keep ]] && keep=1
ns=${CARACAL_SMOKE_NAMESPACE:-caracal-aws}
t0=$SECONDS

say() { printf '%s smoke: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() {
  say "FAILED: $*"
  kubectl -n "$ns" get all,pvc,jobs -o wide >&2 || true
  kubectl -n "$ns" get events --sort-by=.lastTimestamp 2>/dev/null | tail -n 30 >&2 || true
  exit 1
}

eval "$("$repo/scripts/testbed" env)"
"$repo/scripts/testbed" status >/dev/null || fail "the test bed is not up (scripts/testbed up)"
chart=$CARACAL_TESTBED_CHART
helm=$CARACAL_HELM
say "helm $("$helm" version --short), kubectl $(kubectl version -o json | sed -n 's/.*"gitVersion": "\(v[^"]*\)".*/\1/p' | tail -1) server, chart $chart"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Stable mode refuses the example hosts; the EKS overlay's storage class, ingress class and IRSA.
cat >"$work/testbed.yaml" <<'EOF'
secrets:
  database: { host: db.caracal.test }
  redis: { host: cache.caracal.test }
serviceAccount:
  annotations:
    eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/caracal
replayPersistence:
  storageClassName: gp3
serviceMonitor: { enabled: true }
alertRules: { enabled: true }
ingress:
  sts: { host: sts.caracal.test }
  gateway: { host: gateway.caracal.test }
  api: { host: api.caracal.test }
services:
  sts: { issuerUrl: https://sts.caracal.test }
  web: { publicUrl: https://console.caracal.test }
EOF

kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
# Placeholder runtime Secret (ESO materialises the real one in the product's flow).
kubectl -n "$ns" create secret generic caracal-runtime --dry-run=client -o yaml \
  --from-literal=databaseUrl=postgres://placeholder --from-literal=authDatabaseUrl=postgres://placeholder \
  --from-literal=postgresPassword=placeholder --from-literal=redisUrl=redis://placeholder \
  --from-literal=caracalAuthSecret=placeholder | kubectl apply -f - >/dev/null

say "helm upgrade --install caracal -n $ns --wait --timeout 5m"
h0=$SECONDS
"$helm" upgrade --install caracal "$chart" -n "$ns" --wait --timeout 5m \
  -f "$chart/examples/values.cloud-managed.yaml" -f "$chart/examples/values.eks.yaml" \
  -f "$work/testbed.yaml" >"$work/helm.out" 2>&1 || {
  cat "$work/helm.out" >&2
  fail "helm upgrade --install"
}
say "helm finished in $((SECONDS - h0))s"

# The release.
"$helm" status caracal -n "$ns" -o json >"$work/status.json"
python3 - "$work/status.json" <<'EOF' || fail "release status"
import json, sys
s = json.load(open(sys.argv[1]))
status = s["info"]["status"]
hooks = {h["name"]: h.get("last_run", {}).get("phase") for h in s.get("hooks", []) if h["kind"] == "Job"}
print(f"release {s['name']} revision {s['version']}: {status}; hook Jobs: {hooks}", file=sys.stderr)
assert status == "deployed", status
assert any("auth-migrate" in n for n in hooks) and any(n.endswith("-migrate") and "auth" not in n for n in hooks), hooks
assert all(p == "Succeeded" for p in hooks.values()), hooks
EOF

# Every Deployment and StatefulSet Ready.
for kind in deployment statefulset; do
  while read -r name want ready; do
    [[ -n "$name" ]] || continue
    [[ "${ready:-0}" == "$want" ]] || fail "$kind/$name: $ready/$want ready"
    say "$kind/$name: $ready/$want ready"
  done < <(kubectl -n "$ns" get "$kind" -o jsonpath='{range .items[*]}{.metadata.name} {.spec.replicas} {.status.readyReplicas}{"\n"}{end}')
done
[[ -n "$(kubectl -n "$ns" get statefulset -o name)" ]] || fail "no StatefulSet in the release"

# Every PVC bound, by the bed's gp3 provisioner.
while read -r name phase class; do
  [[ "$phase" == Bound && "$class" == gp3 ]] || fail "pvc/$name: $phase ($class)"
done < <(kubectl -n "$ns" get pvc -o jsonpath='{range .items[*]}{.metadata.name} {.status.phase} {.spec.storageClassName}{"\n"}{end}')
say "$(kubectl -n "$ns" get pvc --no-headers | wc -l) PVCs Bound (gp3)"

# The monitoring objects were accepted by the real CRDs.
kubectl -n "$ns" get servicemonitors.monitoring.coreos.com,prometheusrules.monitoring.coreos.com --no-headers >&2 ||
  fail "monitoring objects"

if ((keep == 0)); then
  say "uninstalling and deleting namespace $ns"
  "$helm" uninstall caracal -n "$ns" --wait --timeout 2m >/dev/null
  kubectl delete namespace "$ns" --wait=true --timeout=2m >/dev/null
fi
say "OK in $((SECONDS - t0))s"

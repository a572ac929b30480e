#!/usr/bin/env bash
# End-to-end proof that the bed's real cert-manager controller issues certificates.
#
#   testbed/cert-manager/smoke.sh       the bed must be up (scripts/testbed up)
#
# Uses the bed's environment (eval "$(scripts/testbed env)"; evaluated here if KUBECONFIG is
# unset). Needs kubectl, openssl, base64. CM_SMOKE_KEEP=1 leaves the namespace for inspection;
# CM_SMOKE_TIMEOUT (default 90) bounds each wait.
#
# Checks, in a throwaway namespace cm-smoke-*:
#   (0) the bed's chain: ClusterIssuer letsencrypt-prod Ready=True, backed by the CA Secret
#       cert-manager/caracal-testbed-ca (issued by ClusterIssuer caracal-testbed-selfsigned).
#   (1) an Ingress annotated cert-manager.io/cluster-issuer: letsencrypt-prod with a TLS host
#       gets a Certificate from ingress-shim (owned by the Ingress), its CertificateRequest is
#       approved and issued, the Certificate becomes Ready=True, and the Secret's tls.crt names
#       the host, matches tls.key and verifies against the bed's CA (openssl verify).
#   (2) a Certificate whose Issuer is a CA Issuer with a missing CA Secret: the Issuer is
#       Ready=False (ErrGetKeyPair, from the controller), the Certificate stays Ready=False, its
#       request stays Pending, and no Secret appears. The conditions are printed.
# Ends with "smoke: N passed, M failed"; exits 1 on the first failure (with diagnostics).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
TIMEOUT=${CM_SMOKE_TIMEOUT:-90}
ISSUER=letsencrypt-prod
CA_NS=cert-manager
CA_SECRET=caracal-testbed-ca
NS="cm-smoke-$(date +%s)-$$"
HOST="web.$NS.caracal.test"
passed=0

log() { printf '[cert-manager/smoke] %s\n' "$*" >&2; }
ok() {
    passed=$((passed + 1))
    printf '[cert-manager/smoke] ok %d: %s\n' "$passed" "$*" >&2
}
fail() {
    printf '[cert-manager/smoke] FAIL: %s\n' "$*" >&2
    diagnostics
    printf 'smoke: %d passed, 1 failed\n' "$passed"
    exit 1
}

if [[ -z "${KUBECONFIG:-}" ]]; then
    eval "$("$repo/scripts/testbed" env 2>/dev/null)"
fi
: "${KUBECONFIG:?no KUBECONFIG: run scripts/testbed up, then eval \"\$(scripts/testbed env)\"}"
for c in kubectl openssl base64; do
    command -v "$c" >/dev/null 2>&1 || { log "'$c' is required"; exit 2; }
done

tmp="$(mktemp -d)"
cleanup() {
    rm -rf "$tmp"
    if [[ "${CM_SMOKE_KEEP:-0}" == 1 ]]; then
        log "kept namespace $NS (CM_SMOKE_KEEP=1)"
    else
        kubectl delete namespace "$NS" --ignore-not-found --wait=true --timeout=60s >/dev/null 2>&1 ||
            log "warning: namespace $NS not deleted within 60s"
    fi
}
trap cleanup EXIT

diagnostics() {
    {
        echo "----- diagnostics"
        kubectl get clusterissuers -o wide 2>&1 || true
        kubectl -n "$NS" get ingress,issuers,certificates,certificaterequests,secrets -o wide 2>&1 || true
        kubectl -n "$NS" get certificates,certificaterequests,issuers \
            -o jsonpath='{range .items[*]}{.kind}/{.metadata.name}: {.status.conditions}{"\n"}{end}' 2>&1 || true
        if [[ -n "${CARACAL_TESTBED_CERT_MANAGER_LOG:-}" && -f "$CARACAL_TESTBED_CERT_MANAGER_LOG" ]]; then
            echo "----- tail of $CARACAL_TESTBED_CERT_MANAGER_LOG"
            tail -n 25 "$CARACAL_TESTBED_CERT_MANAGER_LOG"
        else
            echo "----- no cert-manager log (CARACAL_TESTBED_CERT_MANAGER_LOG unset: is it running?)"
        fi
    } >&2
}

# cond KIND/NAME [NAMESPACE] TYPE FIELD: a condition's field (status, reason, message).
cond() {
    local obj=$1 ns=$2 type=$3 field=$4
    kubectl ${ns:+-n "$ns"} get "$obj" -o jsonpath="{.status.conditions[?(@.type==\"$type\")].$field}" 2>/dev/null
}
# wait_cond KIND/NAME NAMESPACE TYPE STATUS: poll until the condition has STATUS.
wait_cond() {
    local obj=$1 ns=$2 type=$3 want=$4 deadline=$((SECONDS + TIMEOUT))
    until [[ "$(cond "$obj" "$ns" "$type" status)" == "$want" ]]; do
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}
show_cond() {
    printf '%s %s: status=%s reason=%s message="%s"\n' "$1" "$3" "$(cond "$1" "$2" "$3" status)" \
        "$(cond "$1" "$2" "$3" reason)" "$(cond "$1" "$2" "$3" message)" >&2
}
secret_field() { kubectl -n "$1" get secret "$2" -o jsonpath="{.data.${3//./\\.}}" | base64 -d; }

# ---------------------------------------------------------------- (0) the controller and the chain
if [[ -z "${CARACAL_TESTBED_CERT_MANAGER_READYZ_URL:-}" ]]; then
    fail "the cert-manager controller is not running: no CARACAL_TESTBED_CERT_MANAGER_READYZ_URL (scripts/testbed up; eval \"\$(scripts/testbed env)\")"
fi
curl -fsS --max-time 3 -o /dev/null "$CARACAL_TESTBED_CERT_MANAGER_READYZ_URL" ||
    fail "the cert-manager controller is not ready at $CARACAL_TESTBED_CERT_MANAGER_READYZ_URL"
ok "controller ready (pid ${CARACAL_TESTBED_CERT_MANAGER_PID:-?}, $CARACAL_TESTBED_CERT_MANAGER_READYZ_URL)"

wait_cond "clusterissuer/$ISSUER" "" Ready True || fail "ClusterIssuer $ISSUER is not Ready"
show_cond "clusterissuer/$ISSUER" "" Ready
[[ "$(kubectl get clusterissuer "$ISSUER" -o jsonpath='{.spec.ca.secretName}')" == "$CA_SECRET" ]] ||
    fail "ClusterIssuer $ISSUER is not the CA issuer backed by $CA_SECRET"
if ! secret_field "$CA_NS" "$CA_SECRET" tls.crt >"$tmp/ca.crt" 2>/dev/null || [[ ! -s "$tmp/ca.crt" ]]; then
    fail "no CA Secret $CA_NS/$CA_SECRET"
fi
openssl x509 -in "$tmp/ca.crt" -noout -ext basicConstraints 2>/dev/null | grep -q 'CA:TRUE' ||
    fail "$CA_NS/$CA_SECRET's tls.crt is not a CA certificate"
ok "ClusterIssuer $ISSUER Ready=True, CA $CA_NS/$CA_SECRET: $(openssl x509 -in "$tmp/ca.crt" -noout -subject)"

kubectl create namespace "$NS" >/dev/null
log "namespace $NS"

# ---------------------------------------------------------------- (1) ingress-shim issues
kubectl apply -f - >/dev/null <<EOF
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: $NS
  annotations:
    cert-manager.io/cluster-issuer: $ISSUER
spec:
  ingressClassName: alb
  tls:
  - hosts: [$HOST]
    secretName: web-tls
  rules:
  - host: $HOST
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service: { name: web, port: { number: 80 } }
EOF
deadline=$((SECONDS + TIMEOUT))
until kubectl -n "$NS" get certificate web-tls >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "ingress-shim created no Certificate web-tls for Ingress web within ${TIMEOUT}s"
    sleep 0.5
done
owner="$(kubectl -n "$NS" get certificate web-tls -o jsonpath='{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}')"
[[ "$owner" == Ingress/web ]] || fail "Certificate web-tls is owned by '$owner', not Ingress/web"
ref="$(kubectl -n "$NS" get certificate web-tls -o jsonpath='{.spec.issuerRef.kind}/{.spec.issuerRef.name} {.spec.dnsNames}')"
[[ "$ref" == "ClusterIssuer/$ISSUER [\"$HOST\"]" ]] || fail "Certificate web-tls has issuerRef/dnsNames '$ref'"
ok "ingress-shim created Certificate web-tls (owner $owner, $ref)"

wait_cond certificate/web-tls "$NS" Ready True || fail "Certificate web-tls not Ready=True within ${TIMEOUT}s"
show_cond certificate/web-tls "$NS" Ready
cr="$(kubectl -n "$NS" get certificaterequests -o jsonpath='{.items[0].metadata.name}')"
[[ -n "$cr" ]] || fail "no CertificateRequest in $NS"
[[ "$(cond "certificaterequest/$cr" "$NS" Approved status)" == True ]] ||
    fail "CertificateRequest $cr not Approved by the approver controller"
[[ "$(cond "certificaterequest/$cr" "$NS" Ready status)" == True ]] || fail "CertificateRequest $cr not Ready"
show_cond "certificaterequest/$cr" "$NS" Approved
ok "Certificate web-tls Ready=True; CertificateRequest $cr approved ($(cond "certificaterequest/$cr" "$NS" Approved reason)) and issued"

secret_field "$NS" web-tls tls.crt >"$tmp/chain.crt" || fail "no Secret web-tls"
secret_field "$NS" web-tls tls.key >"$tmp/tls.key" || fail "Secret web-tls has no tls.key"
openssl x509 -in "$tmp/chain.crt" -out "$tmp/leaf.crt" 2>/dev/null || fail "Secret web-tls's tls.crt is not a certificate"
verify="$(openssl verify -CAfile "$tmp/ca.crt" "$tmp/leaf.crt" 2>&1)" ||
    fail "tls.crt does not verify against the bed CA: $verify"
openssl x509 -in "$tmp/leaf.crt" -noout -ext subjectAltName | grep -q "DNS:$HOST" ||
    fail "tls.crt does not name $HOST"
[[ "$(openssl x509 -in "$tmp/leaf.crt" -noout -pubkey)" == "$(openssl pkey -in "$tmp/tls.key" -pubout 2>/dev/null)" ]] ||
    fail "tls.key does not match tls.crt"
ok "Secret web-tls: $(openssl x509 -in "$tmp/leaf.crt" -noout -ext subjectAltName | tail -n +2 | tr -d ' '), issuer $(openssl x509 -in "$tmp/leaf.crt" -noout -issuer | sed 's/^issuer=//'); openssl verify: ${verify##*: }"

# ---------------------------------------------------------------- (2) a CA issuer without its Secret
kubectl apply -f - >/dev/null <<EOF
apiVersion: cert-manager.io/v1
kind: Issuer
metadata:
  name: broken-ca
  namespace: $NS
spec:
  ca:
    secretName: no-such-ca-secret
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: broken
  namespace: $NS
spec:
  secretName: broken-tls
  dnsNames: [broken.$NS.caracal.test]
  issuerRef: { name: broken-ca, kind: Issuer, group: cert-manager.io }
EOF
wait_cond issuer/broken-ca "$NS" Ready False || fail "Issuer broken-ca got no Ready=False from the controller within ${TIMEOUT}s"
show_cond issuer/broken-ca "$NS" Ready
[[ "$(cond issuer/broken-ca "$NS" Ready reason)" == ErrGetKeyPair ]] ||
    fail "Issuer broken-ca: reason '$(cond issuer/broken-ca "$NS" Ready reason)', want ErrGetKeyPair"
[[ "$(cond issuer/broken-ca "$NS" Ready message)" == *no-such-ca-secret* ]] || fail "Issuer broken-ca's message does not name the missing Secret"
ok "Issuer broken-ca Ready=False: $(cond issuer/broken-ca "$NS" Ready message)"

wait_cond certificate/broken "$NS" Ready False || fail "Certificate broken got no Ready=False within ${TIMEOUT}s"
broken_cr() { kubectl -n "$NS" get certificaterequests -o jsonpath='{.items[?(@.spec.issuerRef.name=="broken-ca")].metadata.name}'; }
deadline=$((SECONDS + TIMEOUT))
bcr=""
until [[ -n "$bcr" && "$(cond "certificaterequest/$bcr" "$NS" Ready reason)" == Pending ]]; do
    ((SECONDS < deadline)) || fail "no Pending CertificateRequest for Certificate broken within ${TIMEOUT}s"
    sleep 0.5
    bcr="$(broken_cr)"
done
# It must stay that way: give the controller time to (wrongly) issue.
sleep 5
[[ "$(cond certificate/broken "$NS" Ready status)" == False ]] || fail "Certificate broken left Ready=False"
[[ "$(cond "certificaterequest/$bcr" "$NS" Ready status)" == False ]] || fail "CertificateRequest $bcr left Ready=False"
! kubectl -n "$NS" get secret broken-tls >/dev/null 2>&1 || fail "Secret broken-tls exists although the issuer has no CA"
show_cond certificate/broken "$NS" Ready
show_cond certificate/broken "$NS" Issuing
show_cond "certificaterequest/$bcr" "$NS" Ready
ok "Certificate broken stays Ready=False ($(cond certificate/broken "$NS" Ready reason)); request $bcr Pending: $(cond "certificaterequest/$bcr" "$NS" Ready message); no Secret broken-tls"

printf 'smoke: %d passed, 0 failed\n' "$passed"

#!/usr/bin/env bash
# End-to-end proof that the real External Secrets Operator syncs a secret seeded in moto
# (AWS Secrets Manager emulator) into a Kubernetes Secret, on the real kube-apiserver.
#
#   testbed/eso/smoke.sh                    ESO must already run (scripts/testbed up)
#   testbed/eso/smoke.sh --start STATE_DIR  start ESO itself with testbed/eso/start.sh
#                                           (and stop it at the end if it started it)
#
# Assumes the bed's environment is exported (eval "$(scripts/testbed env)"): KUBECONFIG and
# CARACAL_TESTBED_MOTO_URL (or AWS_ENDPOINT_URL). Needs kubectl, curl, base64, sha256sum.
# Set ESO_SMOKE_KEEP=1 to leave the namespace and stores behind for inspection.
#
# What it checks, in namespace eso-smoke:
#   (a) IRSA, what the product writes: ClusterSecretStore eso-smoke-irsa with
#       auth.jwt.serviceAccountRef -> ServiceAccount caracal-external-secrets annotated
#       eks.amazonaws.com/role-arn. ESO mints a token with the TokenRequest API, calls STS
#       AssumeRoleWithWebIdentity (moto), reads Secrets Manager with the temporary keys.
#       ExternalSecret caracal-runtime -> Secret caracal-runtime.
#   (b) static keys: ClusterSecretStore eso-smoke-static with auth.secretRef.
#       ExternalSecret caracal-runtime-static -> Secret caracal-runtime-static.
#   (c) negative control: a jwt store whose ServiceAccount lacks the role annotation is not
#       Ready (so (a) really goes through the web-identity path).
#   (d) rotation: a new password in moto reaches the Secret after a force-sync annotation.
# Each ExternalSecret must be Ready=True/SecretSynced and the Secret must hold the templated
# values: JSON properties (remoteRef.property, a numeric port too), a percent-encoded password
# ({{ .pgPassword | urlquery }}), sprig's sha256sum, a plain-string secret.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NS=eso-smoke
SA=caracal-external-secrets
ROLE_ARN=arn:aws:iam::123456789012:role/caracal
REGION=us-east-1
TIMEOUT=${ESO_SMOKE_TIMEOUT:-120}

log() { printf '[eso/smoke] %s\n' "$*" >&2; }
fail() { printf '[eso/smoke] FAIL: %s\n' "$*" >&2; diagnostics; exit 1; }

started_state=""
if [[ "${1:-}" == "--start" ]]; then
    [[ -n "${2:-}" ]] || { log "usage: $0 [--start STATE_DIR]"; exit 2; }
    state="$2"
    if ! { [[ -f "$state/pids/eso.pid" ]] && kill -0 "$(cat "$state/pids/eso.pid")" 2>/dev/null; }; then
        started_state="$state"
    fi
    "$here/start.sh" "$state"
fi

: "${KUBECONFIG:?export the bed environment first: eval \"\$(scripts/testbed env)\"}"
MOTO="${CARACAL_TESTBED_MOTO_URL:-${AWS_ENDPOINT_URL:-}}"
[[ -n "$MOTO" ]] || { log "CARACAL_TESTBED_MOTO_URL (or AWS_ENDPOINT_URL) must be set"; exit 2; }
for c in kubectl curl base64 sha256sum; do
    command -v "$c" >/dev/null 2>&1 || { log "'$c' is required"; exit 2; }
done

diagnostics() {
    {
        echo "----- diagnostics"
        kubectl get clustersecretstores -o wide 2>&1 | grep -E 'NAME|eso-smoke' || true
        kubectl -n "$NS" get externalsecrets -o wide 2>&1 || true
        for es in caracal-runtime caracal-runtime-static; do
            kubectl -n "$NS" get externalsecret "$es" -o jsonpath='{.metadata.name}: {.status.conditions}{"\n"}' 2>&1 || true
        done
        for s in eso-smoke-irsa eso-smoke-static eso-smoke-irsa-unannotated; do
            kubectl get clustersecretstore "$s" -o jsonpath='{.metadata.name}: {.status.conditions}{"\n"}' 2>&1 || true
        done
        kubectl -n "$NS" get events --sort-by=.lastTimestamp 2>&1 | tail -n 15 || true
        local lf=""
        [[ -n "${CARACAL_TESTBED_STATE:-}" && -f "$CARACAL_TESTBED_STATE/logs/eso.log" ]] && lf="$CARACAL_TESTBED_STATE/logs/eso.log"
        [[ -n "${state:-}" && -f "$state/logs/eso.log" ]] && lf="$state/logs/eso.log"
        local pf="${lf%/logs/eso.log}/pids/eso.pid"
        if [[ -n "$lf" ]] && ! { [[ -f "$pf" ]] && kill -0 "$(cat "$pf")" 2>/dev/null; }; then
            echo "----- External Secrets Operator is NOT running (no live pid in $pf)"
        fi
        if [[ -n "$lf" ]]; then echo "----- tail $lf (lines cut at 400 chars)"; tail -n 20 "$lf" | cut -c1-400; fi
    } >&2
}

cleanup() {
    local rc=$?
    if [[ "${ESO_SMOKE_KEEP:-0}" != 1 ]]; then
        kubectl delete clustersecretstore eso-smoke-irsa eso-smoke-static eso-smoke-irsa-unannotated \
            --ignore-not-found --wait=false >/dev/null 2>&1 || true
        kubectl delete namespace "$NS" --ignore-not-found --wait=false >/dev/null 2>&1 || true
    fi
    if [[ -n "$started_state" ]]; then "$here/stop.sh" "$started_state" || true; fi
    exit "$rc"
}
trap cleanup EXIT

# --- moto: Secrets Manager JSON protocol over curl (moto does not check signatures, but routes
# on the credential scope of the Authorization header).
sm() {
    curl -sS --fail-with-body -X POST "$MOTO/" \
        -H "Content-Type: application/x-amz-json-1.1" \
        -H "X-Amz-Target: secretsmanager.$1" \
        -H "Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/$REGION/secretsmanager/aws4_request, SignedHeaders=host, Signature=0" \
        -d "$2"
}
# upsert NAME VALUE_AS_JSON_STRING_LITERAL
upsert() {
    local out
    if ! out=$(sm CreateSecret "{\"Name\":\"$1\",\"SecretString\":$2}" 2>&1); then
        if [[ "$out" == *ResourceExistsException* ]]; then
            sm PutSecretValue "{\"SecretId\":\"$1\",\"SecretString\":$2}" >/dev/null
        else
            log "moto CreateSecret $1: $out"
            return 1
        fi
    fi
}

nonce="$(date +%s)$RANDOM"
# Characters that break a URL unless escaped, plus a space and a plus.
PG_PASSWORD="p@ss:w/rd%&?# +x$nonce"
PG_PASSWORD_URLQUERY="p%40ss%3Aw%2Frd%25%26%3F%23+%2Bx$nonce" # Go's url.QueryEscape
ADMIN_TOKEN="adm-$nonce"

seed() {
    upsert caracal/postgres "\"{\\\"username\\\":\\\"caracal\\\",\\\"password\\\":\\\"$1\\\",\\\"host\\\":\\\"db.caracal.internal\\\",\\\"port\\\":5432,\\\"database\\\":\\\"caracal\\\",\\\"authDatabase\\\":\\\"caracal_auth\\\"}\""
}
log "seeding moto at $MOTO: caracal/postgres (JSON), caracal/admin-token (string)"
seed "$PG_PASSWORD"
upsert caracal/admin-token "\"$ADMIN_TOKEN\""

# Sessions ESO's web-identity provider assumed in moto (moto keeps every AssumedRole; its
# /moto-api/data.json lists them with sorted attributes). Empty if unavailable.
assumed_roles() {
    local data
    data=$(curl -sS -m 20 --fail "$MOTO/moto-api/data.json" 2>/dev/null) || return 0
    grep -o "\"role_arn\": \"$ROLE_ARN\", \"secret_access_key\": \"[^\"]*\", \"session_name\": \"external-secrets-provider-aws\"" <<<"$data" | wc -l || true
}

# --- Kubernetes objects
log "applying namespace $NS, ServiceAccount, ClusterSecretStores, ExternalSecrets"
# Start from a clean state for the objects this script owns (an earlier run may be deleting
# them): the managed Secrets are re-created by ESO.
kubectl -n "$NS" delete externalsecret caracal-runtime caracal-runtime-static --ignore-not-found >/dev/null 2>&1 || true
kubectl -n "$NS" delete secret caracal-runtime caracal-runtime-static --ignore-not-found >/dev/null 2>&1 || true
for _ in $(seq 1 60); do
    phase=$(kubectl get namespace "$NS" -o jsonpath='{.status.phase}' 2>/dev/null || true)
    [[ "$phase" != Terminating ]] && break
    sleep 1
done

es_manifest() { # NAME STORE
    cat <<EOF
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: $1
  namespace: $NS
spec:
  refreshInterval: 1h
  secretStoreRef:
    name: $2
    kind: ClusterSecretStore
  target:
    name: $1
    creationPolicy: Owner
    template:
      type: Opaque
      engineVersion: v2
      data:
        databaseUrl: "postgres://{{ .pgUser }}:{{ .pgPassword | urlquery }}@{{ .pgHost }}:{{ .pgPort }}/{{ .pgDatabase }}?sslmode=require"
        authDatabaseUrl: "postgres://{{ .pgUser }}:{{ .pgPassword | urlquery }}@{{ .pgHost }}:{{ .pgPort }}/{{ .pgAuthDatabase }}?sslmode=require"
        postgresPassword: "{{ .pgPassword }}"
        apiDbPassword: "{{ printf \"%s:caracalapi\" .pgPassword | sha256sum }}"
        caracalAdminToken: "{{ .caracalAdminToken }}"
  data:
    - secretKey: pgUser
      remoteRef: {key: caracal/postgres, property: username}
    - secretKey: pgPassword
      remoteRef: {key: caracal/postgres, property: password}
    - secretKey: pgHost
      remoteRef: {key: caracal/postgres, property: host}
    - secretKey: pgPort
      remoteRef: {key: caracal/postgres, property: port}
    - secretKey: pgDatabase
      remoteRef: {key: caracal/postgres, property: database}
    - secretKey: pgAuthDatabase
      remoteRef: {key: caracal/postgres, property: authDatabase}
    - secretKey: caracalAdminToken
      remoteRef: {key: caracal/admin-token}
EOF
}

{
    cat <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $NS
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: $SA
  namespace: $NS
  annotations:
    eks.amazonaws.com/role-arn: $ROLE_ARN
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: unannotated
  namespace: $NS
---
apiVersion: v1
kind: Secret
metadata:
  name: eso-smoke-aws-keys
  namespace: $NS
type: Opaque
stringData:
  access-key-id: testing
  secret-access-key: testing
---
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata:
  name: eso-smoke-irsa
spec:
  provider:
    aws:
      service: SecretsManager
      region: $REGION
      auth:
        jwt:
          serviceAccountRef:
            name: $SA
            namespace: $NS
---
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata:
  name: eso-smoke-static
spec:
  provider:
    aws:
      service: SecretsManager
      region: $REGION
      auth:
        secretRef:
          accessKeyIDSecretRef: {name: eso-smoke-aws-keys, namespace: $NS, key: access-key-id}
          secretAccessKeySecretRef: {name: eso-smoke-aws-keys, namespace: $NS, key: secret-access-key}
---
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata:
  name: eso-smoke-irsa-unannotated
spec:
  provider:
    aws:
      service: SecretsManager
      region: $REGION
      auth:
        jwt:
          serviceAccountRef:
            name: unannotated
            namespace: $NS
EOF
    es_manifest caracal-runtime eso-smoke-irsa
    es_manifest caracal-runtime-static eso-smoke-static
} >"${TMPDIR:-/tmp}/eso-smoke.$$.yaml"
assumed_before=$(assumed_roles)
kubectl apply -f "${TMPDIR:-/tmp}/eso-smoke.$$.yaml" >&2
rm -f "${TMPDIR:-/tmp}/eso-smoke.$$.yaml"

# --- wait
cond() { # KIND NAME [NS] -> "status reason"
    local nsflag=()
    [[ -n "${3:-}" ]] && nsflag=(-n "$3")
    kubectl "${nsflag[@]}" get "$1" "$2" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].reason}' 2>/dev/null || true
}
wait_cond() { # KIND NAME NS WANT_STATUS WANT_REASON
    local deadline=$((SECONDS + TIMEOUT)) got
    while :; do
        got=$(cond "$1" "$2" "$3")
        [[ "$got" == "$4 $5" ]] && return 0
        ((SECONDS < deadline)) || fail "$1/$2: Ready is '${got:- }', want '$4 $5' after ${TIMEOUT}s"
        sleep 1
    done
}

t0=$SECONDS
wait_cond clustersecretstore eso-smoke-irsa "" True Valid
log "ok: ClusterSecretStore eso-smoke-irsa (IRSA: TokenRequest + STS AssumeRoleWithWebIdentity) Ready=True/Valid"
assumed_after=$(assumed_roles)
if [[ -n "$assumed_before" && -n "$assumed_after" ]]; then
    ((assumed_after > assumed_before)) ||
        fail "moto recorded no new AssumeRoleWithWebIdentity for $ROLE_ARN by ESO ($assumed_before -> $assumed_after)"
    log "ok: moto's STS recorded $((assumed_after - assumed_before)) AssumeRoleWithWebIdentity for $ROLE_ARN, session external-secrets-provider-aws"
else
    log "WARNING: $MOTO/moto-api/data.json unreadable: STS exchange not cross-checked"
fi
wait_cond clustersecretstore eso-smoke-static "" True Valid
log "ok: ClusterSecretStore eso-smoke-static (auth.secretRef) Ready=True/Valid"
wait_cond externalsecret caracal-runtime "$NS" True SecretSynced
log "ok: ExternalSecret caracal-runtime Ready=True/SecretSynced ($((SECONDS - t0))s after apply)"
wait_cond externalsecret caracal-runtime-static "$NS" True SecretSynced
log "ok: ExternalSecret caracal-runtime-static Ready=True/SecretSynced"

# (c) negative control
deadline=$((SECONDS + 60))
while :; do
    msg=$(kubectl get clustersecretstore eso-smoke-irsa-unannotated -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].message}' 2>/dev/null || true)
    [[ "$msg" == False* ]] && break
    ((SECONDS < deadline)) || fail "store with an unannotated ServiceAccount: want Ready=False, got '$msg'"
    sleep 1
done
log "ok: jwt store whose ServiceAccount lacks eks.amazonaws.com/role-arn is Ready=False ($msg)"

# --- check data
val() { kubectl -n "$NS" get secret "$1" -o jsonpath="{.data.$2}" | base64 -d; }
check() { # SECRET KEY WANT
    local got
    got=$(val "$1" "$2")
    [[ "$got" == "$3" ]] || fail "Secret $1 key $2: got '$got', want '$3'"
}
check_secret() { # SECRET PASSWORD PASSWORD_URLQUERY
    local s=$1 pw=$2 pwq=$3
    check "$s" databaseUrl "postgres://caracal:$pwq@db.caracal.internal:5432/caracal?sslmode=require"
    check "$s" authDatabaseUrl "postgres://caracal:$pwq@db.caracal.internal:5432/caracal_auth?sslmode=require"
    check "$s" postgresPassword "$pw"
    check "$s" apiDbPassword "$(printf '%s' "$pw:caracalapi" | sha256sum | cut -d' ' -f1)"
    check "$s" caracalAdminToken "$ADMIN_TOKEN"
    local keys
    # shellcheck disable=SC2016 # a Go template, not shell
    keys=$(kubectl -n "$NS" get secret "$s" -o go-template='{{range $k, $v := .data}}{{$k}} {{end}}')
    [[ "$keys" == "apiDbPassword authDatabaseUrl caracalAdminToken databaseUrl postgresPassword " ]] ||
        fail "Secret $s keys: '$keys'"
    [[ "$(kubectl -n "$NS" get secret "$s" -o jsonpath='{.type}')" == Opaque ]] || fail "Secret $s type"
    [[ "$(kubectl -n "$NS" get secret "$s" -o jsonpath='{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}')" == "ExternalSecret/$s" ]] ||
        fail "Secret $s is not owned by ExternalSecret/$s"
}
check_secret caracal-runtime "$PG_PASSWORD" "$PG_PASSWORD_URLQUERY"
log "ok: Secret caracal-runtime holds the expected 5 keys (JSON properties, urlquery-escaped password, sha256sum, plain string)"
check_secret caracal-runtime-static "$PG_PASSWORD" "$PG_PASSWORD_URLQUERY"
log "ok: Secret caracal-runtime-static holds the expected 5 keys"

# (d) rotation through the IRSA store
NEW_PW="rotated/%pw $nonce"
NEW_PWQ="rotated%2F%25pw+$nonce"
seed "$NEW_PW"
kubectl -n "$NS" annotate externalsecret caracal-runtime --overwrite "force-sync=$(date +%s%N)" >/dev/null
deadline=$((SECONDS + TIMEOUT))
until [[ "$(val caracal-runtime postgresPassword 2>/dev/null)" == "$NEW_PW" ]]; do
    ((SECONDS < deadline)) || fail "rotated password did not reach Secret caracal-runtime after force-sync"
    sleep 1
done
check caracal-runtime databaseUrl "postgres://caracal:$NEW_PWQ@db.caracal.internal:5432/caracal?sslmode=require"
log "ok: rotated password in moto reached Secret caracal-runtime after a force-sync annotation"

log "PASS ($((SECONDS - t0))s after apply)"

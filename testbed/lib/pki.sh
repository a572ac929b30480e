# shellcheck shell=bash
# PKI of the test bed, generated with openssl into $TB_STATE/pki (ECDSA P-256, 10 years):
#   ca.{crt,key}            cluster CA: signs the serving cert and every client cert
#   apiserver.{crt,key}     kube-apiserver serving cert (127.0.0.1, localhost, 10.0.0.1, kubernetes.default...)
#   sa.{key,pub}            service-account token signing key pair
#   front-proxy-ca.*, front-proxy-client.*   requestheader authentication (aggregation layer)
#   NAME.{crt,key}          client certs (admin in system:masters, controller-manager, scheduler, kwok, ...)

PKI_DIR="$TB_STATE/pki"

pki_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# pki_ca [NAME]: a self-signed CA NAME.{crt,key} (default: the cluster CA "ca", with the
# service-account key pair).
pki_ca() {
  local ca=${1:-ca}
  [[ -s "$PKI_DIR/$ca.crt" && -s "$PKI_DIR/$ca.key" ]] && return 0
  need openssl
  mkdir -p "$PKI_DIR"
  chmod 700 "$PKI_DIR"
  pki_key "$PKI_DIR/$ca.key"
  openssl req -x509 -new -key "$PKI_DIR/$ca.key" -sha256 -days 3650 -subj "/CN=caracal-testbed-$ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$PKI_DIR/$ca.crt" 2>/dev/null
  if [[ "$ca" == ca ]]; then
    pki_key "$PKI_DIR/sa.key"
    openssl pkey -in "$PKI_DIR/sa.key" -pubout -out "$PKI_DIR/sa.pub" 2>/dev/null
  fi
}

# pki_sign NAME SUBJECT EXTENDED_KEY_USAGE [SUBJECT_ALT_NAMES]: NAME.key and NAME.crt signed by
# the CA named by $PKI_SIGNER (default: the cluster CA).
pki_sign() {
  local name=$1 subj=$2 eku=$3 san=${4:-} ext ca=${PKI_SIGNER:-ca}
  pki_ca "$ca"
  ext=$(mktemp)
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    echo "authorityKeyIdentifier=keyid"
    if [[ -n "$san" ]]; then echo "subjectAltName=$san"; fi
  } >"$ext"
  pki_key "$PKI_DIR/$name.key"
  openssl req -new -key "$PKI_DIR/$name.key" -subj "$subj" -out "$PKI_DIR/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI_DIR/$name.csr" -CA "$PKI_DIR/$ca.crt" -CAkey "$PKI_DIR/$ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 3650 -sha256 -extfile "$ext" \
    -out "$PKI_DIR/$name.crt" 2>/dev/null
  rm -f "$ext" "$PKI_DIR/$name.csr"
}

# pki_client NAME USER [GROUP...]: a client certificate CN=USER, O=GROUP... (escaping / in names).
pki_client() {
  local name=$1 user=$2 subj g
  shift 2
  subj="/CN=${user//\//\\/}"
  for g in "$@"; do subj+="/O=${g//\//\\/}"; done
  pki_sign "$name" "$subj" clientAuth
}

pki_server() {
  pki_sign apiserver "/CN=kube-apiserver" serverAuth \
    "IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
}

# The aggregation layer's front proxy (requestheader authentication): its own CA and client cert.
pki_front_proxy() {
  PKI_SIGNER=front-proxy-ca pki_sign front-proxy-client "/CN=front-proxy-client" clientAuth
}

b64() { base64 -w0 <"$1"; }

# write_kubeconfig FILE CERT_NAME SERVER_URL: a self-contained kubeconfig (data embedded) whose
# context is named $TB_CONTEXT whatever the user, so that an answers file's kubeContext works
# with every identity the bed mints.
write_kubeconfig() {
  local file=$1 name=$2 server=$3 tmp
  tmp="$file.tmp.$$"
  cat >"$tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $TB_CONTEXT
  cluster:
    server: $server
    certificate-authority-data: $(b64 "$PKI_DIR/ca.crt")
users:
- name: $TB_CONTEXT-$name
  user:
    client-certificate-data: $(b64 "$PKI_DIR/$name.crt")
    client-key-data: $(b64 "$PKI_DIR/$name.key")
contexts:
- name: $TB_CONTEXT
  context:
    cluster: $TB_CONTEXT
    user: $TB_CONTEXT-$name
    namespace: default
current-context: $TB_CONTEXT
EOF
  chmod 600 "$tmp"
  mv -f "$tmp" "$file"
}

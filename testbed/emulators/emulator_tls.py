"""A private CA and a server certificate for the HTTPS emulators (``cryptography`` package).

Files in ``DIR``: ``ca.pem`` (give this to clients), ``ca-key.pem``, ``server.pem``,
``server-key.pem``.  Existing files are reused while the server certificate is valid for
at least another day and covers the requested names; otherwise they are regenerated.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl

from emulator_common import atomic_write

# The cloud host names are there for clients that reach the emulators through the bed's CONNECT
# proxy (connect_proxy.py) under the real names: External Secrets Operator dials
# secretmanager.googleapis.com:443 etc. and checks the certificate against those names.
CLOUD_NAMES = (
    "secretmanager.googleapis.com",    # GCP Secret Manager (gRPC)
    "iamcredentials.googleapis.com",   # GCP IAM Credentials (gRPC GenerateAccessToken)
    "securetoken.googleapis.com",      # GKE workload identity: identity binding tokens
    "login.microsoftonline.com",       # Entra ID (MSAL discovery and token endpoint)
    "*.vault.azure.net",               # Key Vault hosts
    # Caracal's own ingress hosts on the bed (testbed/answers/*.yaml.tmpl), served by
    # caracal_api.py for the product's post-install canary.
    "sts.caracal.test", "gateway.caracal.test", "api.caracal.test",
)
DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1") + CLOUD_NAMES


def _san_entries(names: tuple[str, ...]):
    from cryptography import x509

    out = []
    for name in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def _still_good(cert_path: str, ca_path: str, names: tuple[str, ...]) -> bool:
    from cryptography import x509

    try:
        with open(cert_path, "rb") as fh:
            cert = x509.load_pem_x509_certificate(fh.read())
        with open(ca_path, "rb") as fh:
            ca = x509.load_pem_x509_certificate(fh.read())
    except (OSError, ValueError):
        return False
    now = dt.datetime.now(dt.timezone.utc)
    if cert.not_valid_after_utc - now < dt.timedelta(days=1) or ca.not_valid_after_utc - now < dt.timedelta(days=2):
        return False
    if cert.issuer != ca.subject:
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have = {str(v) for v in san.get_values_for_type(x509.DNSName)}
    have |= {str(v) for v in san.get_values_for_type(x509.IPAddress)}
    wanted = set()
    for n in names:
        try:
            wanted.add(str(ipaddress.ip_address(n)))
        except ValueError:
            wanted.add(n)
    return wanted <= have


def ensure_certs(directory: str, names: tuple[str, ...] = DEFAULT_NAMES) -> dict[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    os.makedirs(directory, exist_ok=True)
    paths = {
        "ca": os.path.join(directory, "ca.pem"),
        "ca_key": os.path.join(directory, "ca-key.pem"),
        "cert": os.path.join(directory, "server.pem"),
        "key": os.path.join(directory, "server-key.pem"),
    }
    if all(os.path.exists(p) for p in paths.values()) and _still_good(paths["cert"], paths["ca"], names):
        return paths

    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    pem = serialization.Encoding.PEM
    pkcs8 = serialization.PrivateFormat.PKCS8
    nokey = serialization.NoEncryption()

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "caracal-deploy test bed"),
        x509.NameAttribute(NameOID.COMMON_NAME, "caracal-deploy test bed CA"),
    ])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=True, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_san_entries(names)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    atomic_write(paths["ca_key"], ca_key.private_bytes(pem, pkcs8, nokey), mode=0o600)
    atomic_write(paths["key"], key.private_bytes(pem, pkcs8, nokey), mode=0o600)
    atomic_write(paths["cert"], cert.public_bytes(pem), mode=0o644)
    atomic_write(paths["ca"], ca_cert.public_bytes(pem), mode=0o644)
    return paths


def main(argv: list[str] | None = None) -> int:
    """``python emulator_tls.py DIR``: create (or keep) the CA and server certificate in DIR."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: emulator_tls.py DIR", file=sys.stderr)
        return 2
    print(ensure_certs(args[0])["ca"])
    return 0


def server_context(paths: dict[str, str]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(paths["cert"], paths["key"])
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


if __name__ == "__main__":
    raise SystemExit(main())

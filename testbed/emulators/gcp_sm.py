#!/usr/bin/env python3
"""GCP Secret Manager emulator: REST/JSON v1 over plain HTTP, for the caracal-deploy test bed.

Serves what the official clients send (google-cloud-secretmanager-v1 for Rust, the
Python client's REST transport):

  POST   /v1/{parent}/secrets?secretId=ID          create   (parent = projects/P or projects/P/locations/L)
  GET    /v1/{parent}/secrets?pageSize&pageToken&filter   list
  GET    /v1/{secret}                              get
  PATCH  /v1/{secret}?updateMask=labels,...        update
  DELETE /v1/{secret}?etag=                        delete
  POST   /v1/{secret}:addVersion                   add_version  (payload.data base64, payload.dataCrc32c)
  GET    /v1/{secret}/versions                     list_versions (newest first)
  GET    /v1/{secret}/versions/{v}                 get_version  (v = N | latest | alias)
  GET    /v1/{secret}/versions/{v}:access          access
  POST   /v1/{secret}/versions/{v}:disable|:enable|:destroy
  POST   /token                                    OAuth2 JWT-bearer grant (service-account key file)

Resource names in responses use the project NUMBER, as the real service does
(``projects/123456789012/secrets/x``); requests may use the project id or number.
``--names-with-project-id`` keeps the id instead.  Enums are integers when the request
carries ``$alt=json;enum-encoding=int`` (what the clients send), names otherwise.

Auth: ``Authorization: Bearer T`` where T is a token from ``POST /token`` or a JWT
self-signed with a key from the key file (what google-cloud-auth for Rust sends).  Without
a header: 401 UNAUTHENTICATED unless ``--allow-anonymous``.  A header that is present is
always verified.

Admin API (no auth): /_emulator/healthz, /_emulator/stats, /_emulator/requests,
/_emulator/faults (GET/POST/DELETE), /_emulator/reset.  See README.md.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import hashlib
import json
import os
import re
import secrets as pysecrets
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emulator_common import (  # noqa: E402
    App, EmulatorServer, Request, Response, Route, SignedTokens, atomic_write, b64url,
    b64url_decode, load_or_create_secret, log, serve, write_ready_file,
)

NAME = "gcp-sm"
SERVICE = "secretmanager.googleapis.com"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"

HTTP_STATUS = {
    "INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "NOT_FOUND": 404, "ABORTED": 409,
    "ALREADY_EXISTS": 409, "RESOURCE_EXHAUSTED": 429, "CANCELLED": 499, "INTERNAL": 500,
    "UNIMPLEMENTED": 501, "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504,
}
STATE_NUM = {"STATE_UNSPECIFIED": 0, "ENABLED": 1, "DISABLED": 2, "DESTROYED": 3}

SECRET_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
PROJECT_ID_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
PROJECT_NUM_RE = re.compile(r"^[0-9]{1,20}$")
LOCATION_RE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
ALIAS_RE = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
ANNOTATION_KEY_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
DURATION_RE = re.compile(r"^(-?[0-9]+)(\.[0-9]{1,9})?s$")
MAX_PAYLOAD = 64 * 1024
MAX_PAGE_SIZE = 25000

PERMISSIONS = {
    "create": "secretmanager.secrets.create", "list": "secretmanager.secrets.list",
    "get": "secretmanager.secrets.get", "update": "secretmanager.secrets.update",
    "delete": "secretmanager.secrets.delete", "add_version": "secretmanager.versions.add",
    "list_versions": "secretmanager.versions.list", "get_version": "secretmanager.versions.get",
    "access": "secretmanager.versions.access", "disable_version": "secretmanager.versions.disable",
    "enable_version": "secretmanager.versions.enable",
    "destroy_version": "secretmanager.versions.destroy",
}

# --------------------------------------------------------------------------------------
# CRC32C (Castagnoli), as used by payload.dataCrc32c
# --------------------------------------------------------------------------------------


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# --------------------------------------------------------------------------------------
# Errors, time, JSON helpers
# --------------------------------------------------------------------------------------


class GcpError(Exception):
    def __init__(self, status: str, message: str, details: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.headers = headers or {}

    def response(self) -> Response:
        return error_response(self.status, self.message, self.details, self.headers)


def error_response(status: str, message: str, details: list[dict[str, Any]] | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    code = HTTP_STATUS[status]
    err: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        err["details"] = details
    return Response(code, {"error": err}, headers=headers)


def rfc3339(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(text: str) -> float:
    t = text.strip().strip('"')
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", t):
        t += "T00:00:00Z"
    if t.endswith("Z") or t.endswith("z"):
        t = t[:-1] + "+00:00"
    m = re.match(r"^(.*T\d{2}:\d{2}:\d{2})(\.\d+)?(.*)$", t)
    if not m:
        raise ValueError(text)
    frac = (m.group(2) or "")[:7]  # fromisoformat accepts at most 6 digits
    t = m.group(1) + (frac[:7] if frac else "") + m.group(3)
    value = dt.datetime.fromisoformat(t)
    if value.tzinfo is None:
        raise ValueError(text)
    return value.timestamp()


def parse_duration(text: Any, field_name: str) -> float:
    if not isinstance(text, str) or not DURATION_RE.match(text):
        raise GcpError("INVALID_ARGUMENT", f"Invalid value at '{field_name}' (type.googleapis.com/"
                       f"google.protobuf.Duration), Field '{field_name}', Illegal duration format; "
                       f"duration must end with 's'")
    return float(text[:-1])


def new_etag() -> str:
    return '"' + pysecrets.token_hex(7) + '"'


def want_int_enums(req: Request) -> bool:
    alt = req.q("$alt") or req.q("alt") or ""
    return "enum-encoding=int" in alt.replace(" ", "")


def camel_to_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _is_label_char(c: str, first: bool) -> bool:
    if c.isalpha():
        return c.islower() or not c.isupper()  # lowercase or caseless (e.g. CJK) letters
    if first:
        return False
    return c.isdigit() or c in "_-"


def validate_labels(labels: Any) -> dict[str, str]:
    if labels is None:
        return {}
    if not isinstance(labels, dict):
        raise GcpError("INVALID_ARGUMENT", "Invalid JSON payload received. Invalid value at "
                       "'secret.labels': expected a map of strings.")
    if len(labels) > 64:
        raise GcpError("INVALID_ARGUMENT", "A secret may have at most 64 labels.")
    out = {}
    for key, value in labels.items():
        if not isinstance(value, str):
            raise GcpError("INVALID_ARGUMENT", f"Invalid JSON payload received. Invalid value at "
                           f"'secret.labels[{key}]' (TYPE_STRING)")
        if not (1 <= len(key) <= 63) or not _is_label_char(key[0], True) or \
                not all(_is_label_char(c, False) for c in key[1:]):
            raise GcpError("INVALID_ARGUMENT", f"Label key [{key}] is invalid: keys must be 1-63 "
                           "characters, start with a lowercase letter and contain only lowercase "
                           "letters, digits, underscores and dashes.")
        if len(value) > 63 or not all(_is_label_char(c, False) for c in value):
            raise GcpError("INVALID_ARGUMENT", f"Label value for key [{key}] is invalid: values must "
                           "be at most 63 characters of lowercase letters, digits, underscores and "
                           "dashes.")
        out[key] = value
    return out


def validate_annotations(annotations: Any) -> dict[str, str]:
    if annotations is None:
        return {}
    if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
        raise GcpError("INVALID_ARGUMENT", "Invalid JSON payload received. Invalid value at "
                       "'secret.annotations': expected a map of strings.")
    total = 0
    for key, value in annotations.items():
        if not ANNOTATION_KEY_RE.match(key):
            raise GcpError("INVALID_ARGUMENT", f"Annotation key [{key}] is invalid.")
        total += len(key.encode()) + len(value.encode())
    if total > 16 * 1024:
        raise GcpError("INVALID_ARGUMENT", "The total size of annotation keys and values must be "
                       "less than 16KiB.")
    return dict(annotations)


def check_fields(obj: dict[str, Any], allowed: set[str], where: str) -> None:
    for key in obj:
        if key not in allowed and camel_to_snake(key) not in allowed:
            raise GcpError("INVALID_ARGUMENT", f"Invalid JSON payload received. Unknown name "
                           f"\"{key}\" at '{where}': Cannot find field.",
                           details=[{"@type": "type.googleapis.com/google.rpc.BadRequest",
                                     "fieldViolations": [{"field": where, "description":
                                                          f"Invalid JSON payload received. Unknown "
                                                          f"name \"{key}\" at '{where}': Cannot "
                                                          f"find field."}]}])


def get_field(obj: dict[str, Any], camel: str) -> Any:
    if camel in obj:
        return obj[camel]
    return obj.get(camel_to_snake(camel))


# --------------------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------------------


@dataclass
class Version:
    number: int
    create_time: float
    data: bytes | None
    crc: int
    client_checksum: bool
    state: str = "ENABLED"
    destroy_time: float | None = None
    etag: str = field(default_factory=new_etag)


@dataclass
class Secret:
    project: str            # project number (or id with --names-with-project-id)
    location: str | None
    secret_id: str
    create_time: float
    replication: dict[str, Any] | None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    version_aliases: dict[str, int] = field(default_factory=dict)
    topics: list[dict[str, Any]] = field(default_factory=list)
    rotation: dict[str, Any] | None = None
    expire_time: float | None = None
    version_destroy_ttl: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    cmek: dict[str, Any] | None = None
    etag: str = field(default_factory=new_etag)
    versions: dict[int, Version] = field(default_factory=dict)
    next_version: int = 1

    @property
    def parent(self) -> str:
        if self.location:
            return f"projects/{self.project}/locations/{self.location}"
        return f"projects/{self.project}"

    @property
    def name(self) -> str:
        return f"{self.parent}/secrets/{self.secret_id}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.replication is not None:
            out["replication"] = self.replication
        out["createTime"] = rfc3339(self.create_time)
        if self.labels:
            out["labels"] = dict(self.labels)
        if self.topics:
            out["topics"] = list(self.topics)
        if self.expire_time is not None:
            out["expireTime"] = rfc3339(self.expire_time)
        out["etag"] = self.etag
        if self.rotation:
            out["rotation"] = self.rotation
        if self.version_aliases:
            out["versionAliases"] = {k: str(v) for k, v in self.version_aliases.items()}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.version_destroy_ttl:
            out["versionDestroyTtl"] = self.version_destroy_ttl
        if self.cmek:
            out["customerManagedEncryption"] = self.cmek
        if self.tags:
            out["tags"] = dict(self.tags)
        return out

    def version_json(self, v: Version, int_enums: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": f"{self.name}/versions/{v.number}",
            "createTime": rfc3339(v.create_time),
        }
        if v.destroy_time is not None:
            out["destroyTime"] = rfc3339(v.destroy_time)
        out["state"] = STATE_NUM[v.state] if int_enums else v.state
        if self.location is None:
            out["replicationStatus"] = replication_status(self.replication)
        out["etag"] = v.etag
        if v.client_checksum:
            out["clientSpecifiedPayloadChecksum"] = True
        return out


def replication_status(replication: dict[str, Any] | None) -> dict[str, Any]:
    if replication and "userManaged" in replication:
        replicas = replication["userManaged"].get("replicas", [])
        return {"userManaged": {"replicas": [{"location": r.get("location")} for r in replicas]}}
    return {"automatic": {}}


# --------------------------------------------------------------------------------------
# List filters (a practical subset of https://google.aip.dev/160 as Secret Manager uses it)
# --------------------------------------------------------------------------------------

_TERM_RE = re.compile(r"^(?P<field>[A-Za-z_][A-Za-z0-9_.\-]*)(?P<op>:|=|!=|<=|>=|<|>)(?P<value>.*)$")
_TOKEN_RE = re.compile(r'(?:[^\s"()]|"[^"]*")+|\(|\)')


class Filter:
    """AND of OR-groups; each term ``[NOT|-]field OP value``; OR binds tighter than AND."""

    def __init__(self, text: str):
        self.text = text
        tokens = _TOKEN_RE.findall(text or "")
        if "(" in tokens or ")" in tokens:
            raise GcpError("INVALID_ARGUMENT", f"Invalid filter [{text}]: parentheses are not "
                           "supported by this emulator.")
        self.groups: list[list[tuple[bool, str, str, str]]] = []
        current: list[tuple[bool, str, str, str]] = []
        negate = False
        expect_term = True
        pending_or = False
        for tok in tokens:
            if tok == "AND":
                if expect_term:
                    raise self._bad()
                if current:
                    self.groups.append(current)
                current = []
                expect_term = True
                continue
            if tok == "OR":
                if expect_term:
                    raise self._bad()
                pending_or = True
                expect_term = True
                continue
            if tok == "NOT":
                negate = not negate
                continue
            if tok.startswith("-") and len(tok) > 1:
                negate = not negate
                tok = tok[1:]
            term = self._term(tok, negate)
            negate = False
            if not expect_term and not pending_or:  # implicit AND
                self.groups.append(current)
                current = []
            current.append(term)
            pending_or = False
            expect_term = False
        if expect_term and (current or self.groups or negate):
            raise self._bad()
        if current:
            self.groups.append(current)

    def _bad(self) -> GcpError:
        return GcpError("INVALID_ARGUMENT", f"Invalid filter [{self.text}].")

    def _term(self, tok: str, negate: bool) -> tuple[bool, str, str, str]:
        m = _TERM_RE.match(tok)
        if not m:  # bare value: matches the resource name
            return (negate, "name", ":", tok.strip('"'))
        value = m.group("value").strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if value == "" and m.group("op") != "=":
            raise self._bad()
        return (negate, m.group("field"), m.group("op"), value)

    def matches(self, lookup: Callable[[str], Any]) -> bool:
        return all(any(self._eval(t, lookup) for t in group) for group in self.groups)

    def _eval(self, term: tuple[bool, str, str, str], lookup: Callable[[str], Any]) -> bool:
        negate, fname, op, value = term
        result = self._compare(lookup(fname), fname, op, value)
        return (not result) if negate else result

    @staticmethod
    def _compare(actual: Any, fname: str, op: str, value: str) -> bool:
        if isinstance(actual, dict):  # e.g. "labels:env" -> has key
            if op == ":":
                return value == "*" and bool(actual) or value in actual
            return False
        if op == ":" and value == "*":
            return actual is not None
        if actual is None:
            return op == "!="
        if isinstance(actual, float):  # a timestamp
            try:
                want = parse_rfc3339(value)
            except ValueError:
                raise GcpError("INVALID_ARGUMENT", f"Invalid timestamp [{value}] in filter.")
            return {"=": actual == want, ":": actual == want, "!=": actual != want,
                    "<": actual < want, "<=": actual <= want, ">": actual > want,
                    ">=": actual >= want}[op]
        actual_s = str(actual)
        if fname in ("state",):
            actual_s, value = actual_s.upper(), value.upper()
        if op == ":":
            return value.lower() in actual_s.lower()
        return {"=": actual_s == value, "!=": actual_s != value, "<": actual_s < value,
                "<=": actual_s <= value, ">": actual_s > value, ">=": actual_s >= value}[op]


def secret_lookup(s: Secret) -> Callable[[str], Any]:
    def lookup(fname: str) -> Any:
        f = camel_to_snake(fname) if "." not in fname else fname
        if f == "name":
            return s.name
        if f in ("create_time",):
            return s.create_time
        if f in ("expire_time",):
            return s.expire_time
        for prefix, mapping in (("labels", s.labels), ("annotations", s.annotations),
                                ("version_aliases", s.version_aliases), ("versionAliases", s.version_aliases),
                                ("tags", s.tags)):
            if fname == prefix or f == prefix:
                return dict(mapping)
            if fname.startswith(prefix + "."):
                v = mapping.get(fname[len(prefix) + 1:])
                return None if v is None else str(v)
        if f == "replication":
            return "automatic" if s.replication and "automatic" in s.replication else "user_managed"
        return None
    return lookup


def version_lookup(s: Secret, v: Version) -> Callable[[str], Any]:
    def lookup(fname: str) -> Any:
        f = camel_to_snake(fname)
        if f == "name":
            return f"{s.name}/versions/{v.number}"
        if f == "state":
            return v.state
        if f == "create_time":
            return v.create_time
        if f == "destroy_time":
            return v.destroy_time
        return None
    return lookup


def paginate(items: list[Any], req: Request, filter_text: str) -> tuple[list[Any], str | None]:
    raw_size = req.q("pageSize", "0") or "0"
    try:
        page_size = int(raw_size)
    except ValueError:
        raise GcpError("INVALID_ARGUMENT", f"Invalid value at 'page_size' (TYPE_INT32), \"{raw_size}\"")
    if page_size < 0:
        raise GcpError("INVALID_ARGUMENT", "page_size must be non-negative.")
    if page_size > MAX_PAGE_SIZE:
        raise GcpError("INVALID_ARGUMENT", f"page_size must be less than or equal to {MAX_PAGE_SIZE}.")
    if page_size == 0:
        page_size = MAX_PAGE_SIZE
    token = req.q("pageToken") or ""
    offset = 0
    fhash = hashlib.sha256(filter_text.encode()).hexdigest()[:12]
    if token:
        try:
            decoded = json.loads(b64url_decode(token))
            offset = int(decoded["o"])
            if decoded.get("f") != fhash or offset < 0:
                raise ValueError
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise GcpError("INVALID_ARGUMENT", "The provided page token is invalid.")
    page = items[offset:offset + page_size]
    nxt = None
    if offset + page_size < len(items):
        nxt = b64url(json.dumps({"o": offset + page_size, "f": fhash}).encode())
    return page, nxt


# --------------------------------------------------------------------------------------
# Service-account keys and JWTs
# --------------------------------------------------------------------------------------


class KeyRing:
    """Public keys of the service-account key files this emulator trusts."""

    def __init__(self):
        self.by_email: dict[str, list[tuple[str, Any]]] = {}

    def add(self, email: str, key_id: str, public_key: Any) -> None:
        self.by_email.setdefault(email, []).append((key_id, public_key))

    def verify_jwt(self, token: str) -> dict[str, Any]:
        """Verify an RS256 JWT signed by a trusted key; return its claims or raise ValueError."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        parts = token.split(".")
        if len(parts) != 3:
            raise ValueError("not a JWT")
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
        except (ValueError, binascii.Error):
            raise ValueError("malformed JWT")
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise ValueError("malformed JWT")
        if header.get("alg") != "RS256":
            raise ValueError("unsupported JWT algorithm")
        iss = claims.get("iss")
        candidates = self.by_email.get(iss or "", [])
        kid = header.get("kid")
        if kid:
            candidates = [c for c in candidates if c[0] == kid] or []
        signed = f"{parts[0]}.{parts[1]}".encode()
        for _kid, public_key in candidates:
            try:
                public_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
                break
            except InvalidSignature:
                continue
        else:
            raise ValueError("Invalid JWT Signature.")
        now = time.time()
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, (int, float)) or not isinstance(iat, (int, float)):
            raise ValueError("Invalid JWT: missing iat or exp")
        if exp <= now - 10 or iat > now + 300 or exp - iat > 3600 + 60:
            raise ValueError("Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                             "reasonable timeframe. Check your iat and exp values in the JWT claim.")
        return claims


def load_key_file(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def ensure_key_file(path: str, project_id: str, client_email: str, token_uri: str) -> dict[str, Any]:
    """Create (or refresh the token_uri of) a service-account key file."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    data: dict[str, Any] | None = None
    if os.path.exists(path):
        try:
            data = load_key_file(path)
        except (OSError, ValueError):
            data = None
    if data is None or data.get("type") != "service_account" or "private_key" not in data \
            or data.get("client_email") != client_email:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        data = {
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": pysecrets.token_hex(20),
            "private_key": pem,
            "client_email": client_email,
            "client_id": str(100000000000000000000 + pysecrets.randbelow(10 ** 20)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
                                    + urllib.parse.quote(client_email),
            "universe_domain": "googleapis.com",
        }
        atomic_write(path, json.dumps(data, indent=2) + "\n", mode=0o600)
    elif data.get("token_uri") != token_uri:
        data["token_uri"] = token_uri
        atomic_write(path, json.dumps(data, indent=2) + "\n", mode=0o600)
    return data


def public_key_of(key_file: dict[str, Any]) -> Any:
    from cryptography.hazmat.primitives import serialization

    private = serialization.load_pem_private_key(key_file["private_key"].encode(), password=None)
    return private.public_key()


# --------------------------------------------------------------------------------------
# The application
# --------------------------------------------------------------------------------------


class GcpApp(App):
    name = NAME

    def __init__(self, *, allow_anonymous: bool, keyring: KeyRing, token_key: bytes,
                 names_with_project_id: bool, projects: list[str], strict_projects: bool,
                 token_lifetime: int, latency_ms: int = 0,
                 workload_clusters: list[str] | None = None):
        super().__init__(latency_ms)
        self.allow_anonymous = allow_anonymous
        self.keyring = keyring
        self.tokens = SignedTokens(token_key, "ya29.emu.")
        # Federated tokens of workload identity: good for GenerateAccessToken only.
        self.idbind_tokens = SignedTokens(token_key, "ya29.idbind.")
        self.project_ids = list(projects)
        self.workload_clusters = set(workload_clusters or [])
        self.names_with_project_id = names_with_project_id
        self.strict_projects = strict_projects
        self.known_projects = {self.project_number(p) for p in projects}
        self.token_lifetime = token_lifetime
        self.lock = threading.RLock()
        self.secrets: dict[tuple[str, str | None, str], Secret] = {}

    def describe(self) -> dict[str, Any]:
        return {"allow_anonymous": self.allow_anonymous}

    def reset_data(self) -> None:
        with self.lock:
            self.secrets.clear()

    # -- projects and names --------------------------------------------------------------
    @staticmethod
    def project_number(project: str) -> str:
        if PROJECT_NUM_RE.match(project):
            return project
        digest = int(hashlib.sha256(project.encode()).hexdigest(), 16)
        return str(100000000000 + digest % 900000000000)

    def project_key(self, project: str, op: str, resource: str) -> str:
        if not (PROJECT_ID_RE.match(project) or PROJECT_NUM_RE.match(project)):
            raise self.permission_denied(op, resource)
        number = self.project_number(project)
        if self.strict_projects and number not in self.known_projects:
            raise self.permission_denied(op, resource)
        return project if self.names_with_project_id else number

    @staticmethod
    def permission_denied(op: str, resource: str) -> GcpError:
        perm = PERMISSIONS.get(op, "secretmanager.secrets.get")
        return GcpError("PERMISSION_DENIED",
                        f"Permission '{perm}' denied for resource '{resource}' (or it may not exist).",
                        details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                  "reason": "IAM_PERMISSION_DENIED", "domain": "iam.googleapis.com",
                                  "metadata": {"permission": perm, "resource": resource}}])

    # -- routing ---------------------------------------------------------------------
    def route(self, req: Request) -> Route | Response:
        segs = req.segments
        if req.path == "/token" and req.method == "POST":
            return Route("token", lambda: self.token(req), auth=False)
        # GKE workload identity: securetoken.googleapis.com, then iamcredentials.googleapis.com
        # (its REST path; the gRPC GenerateAccessToken of gcp_grpc.py comes here too).
        if req.path == "/v1/identitybindingtoken" and req.method == "POST":
            return Route("identity_binding_token", lambda: self.identity_binding_token(req),
                         auth=False, tags=("token",))
        if len(segs) == 5 and segs[:4] == ["v1", "projects", "-", "serviceAccounts"] \
                and segs[4].endswith(":generateAccessToken") and req.method == "POST":
            email = segs[4][: -len(":generateAccessToken")]
            return Route("generate_access_token", lambda: self.generate_access_token(req, email),
                         auth=False, tags=("token",))
        if not segs or segs[0] != "v1" or len(segs) < 3 or segs[1] != "projects":
            return error_response("NOT_FOUND", f"Method not found: {req.method} {req.raw_path}")
        rest = segs[1:]
        verb = None
        if ":" in rest[-1]:
            rest[-1], verb = rest[-1].split(":", 1)
        project = rest[1]
        location = None
        i = 2
        if len(rest) > i and rest[i] == "locations":
            if len(rest) < i + 2:
                return error_response("NOT_FOUND", f"Method not found: {req.method} {req.raw_path}")
            location = rest[i + 1]
            i += 2
        parent_display = "/".join(rest[:i])
        tail = rest[i:]
        m = req.method

        def mk(op: str, fn: Callable[[], Response], write: bool = False,
               tags: tuple[str, ...] = ()) -> Route:
            def run() -> Response:
                try:
                    with self.lock:
                        self.expire_secrets()
                        return fn()
                except GcpError as exc:
                    return exc.response()
            return Route(op, run, write=write, tags=tags)

        ctx = (project, location, parent_display)
        if tail == ["secrets"] and verb is None:
            if m == "POST":
                return mk("create", lambda: self.create(req, ctx), write=True)
            if m == "GET":
                return mk("list", lambda: self.list(req, ctx))
        elif len(tail) == 2 and tail[0] == "secrets":
            sid = tail[1]
            if verb is None and m == "GET":
                return mk("get", lambda: self.get(req, ctx, sid))
            if verb is None and m == "PATCH":
                return mk("update", lambda: self.update(req, ctx, sid), write=True)
            if verb is None and m == "DELETE":
                return mk("delete", lambda: self.delete(req, ctx, sid), write=True)
            if verb == "addVersion" and m == "POST":
                return mk("add_version", lambda: self.add_version(req, ctx, sid), write=True)
            if verb in ("getIamPolicy", "setIamPolicy", "testIamPermissions"):
                return mk(verb, lambda: error_response("UNIMPLEMENTED",
                                                       f"{verb} is not implemented by the emulator."))
        elif len(tail) == 3 and tail[0] == "secrets" and tail[2] == "versions" and verb is None:
            if m == "GET":
                return mk("list_versions", lambda: self.list_versions(req, ctx, tail[1]))
        elif len(tail) == 4 and tail[0] == "secrets" and tail[2] == "versions":
            sid, ver = tail[1], tail[3]
            if verb is None and m == "GET":
                return mk("get_version", lambda: self.get_version(req, ctx, sid, ver))
            if verb == "access" and m == "GET":
                return mk("access", lambda: self.access(req, ctx, sid, ver))
            if verb in ("disable", "enable", "destroy") and m == "POST":
                return mk(f"{verb}_version", lambda: self.set_state(req, ctx, sid, ver, verb),
                          write=True)
        return error_response("NOT_FOUND", f"Method not found: {req.method} {req.raw_path}")

    # -- auth --------------------------------------------------------------------------
    def authenticate(self, req: Request, route: Route) -> Response | None:
        header = req.header("Authorization")
        if not header:
            if self.allow_anonymous:
                return None
            return error_response(
                "UNAUTHENTICATED",
                "Request is missing required authentication credential. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project.",
                details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                          "reason": "CREDENTIALS_MISSING", "domain": "googleapis.com",
                          "metadata": {"service": SERVICE, "method": route.op}}],
                headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})
        scheme, _, token = header.partition(" ")
        token = token.strip()
        ok = False
        if scheme.lower() == "bearer" and token:
            claims = self.tokens.verify(token)
            if claims is not None:
                ok = claims.get("exp", 0) > time.time()
            elif token.count(".") == 2:
                try:
                    claims = self.keyring.verify_jwt(token)
                    scopes = str(claims.get("scope") or "").split()
                    aud = str(claims.get("aud") or "")
                    ok = CLOUD_PLATFORM_SCOPE in scopes or aud.startswith(f"https://{SERVICE}") \
                        or aud.startswith("http://127.0.0.1") or aud.startswith("http://localhost")
                except ValueError:
                    ok = False
        if ok:
            return None
        return error_response(
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
            "cookie or other valid authentication credential. See "
            "https://developers.google.com/identity/sign-in/web/devconsole-project.",
            details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                      "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED" if scheme.lower() != "bearer"
                      else "ACCESS_TOKEN_EXPIRED", "domain": "googleapis.com",
                      "metadata": {"service": SERVICE, "method": route.op}}],
            headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
                                        'error="invalid_token"'})

    def token(self, req: Request) -> Response:
        def oauth_error(status: int, error: str, description: str) -> Response:
            return Response(status, {"error": error, "error_description": description})

        ctype = (req.header("Content-Type") or "").split(";")[0].strip().lower()
        try:
            if ctype == "application/json":
                form = {k: str(v) for k, v in (req.json() or {}).items()}
            else:
                form = {k: v[-1] for k, v in urllib.parse.parse_qs(req.body.decode(),
                                                                   keep_blank_values=True).items()}
        except (ValueError, UnicodeDecodeError, AttributeError):
            return oauth_error(400, "invalid_request", "Malformed request body.")
        grant = form.get("grant_type", "")
        if grant != JWT_BEARER:
            return oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant}")
        assertion = form.get("assertion", "")
        try:
            claims = self.keyring.verify_jwt(assertion)
        except ValueError as exc:
            return oauth_error(400, "invalid_grant", str(exc))
        aud = str(claims.get("aud") or "")
        own = f"http://{req.host}/token"
        if aud not in (own, GOOGLE_TOKEN_URI) and not re.match(r"^https?://(127\.0\.0\.1|localhost)(:\d+)?/token$", aud):
            return oauth_error(400, "invalid_grant", f"Invalid JWT: Invalid audience {aud}.")
        scope = claims.get("scope")
        if claims.get("target_audience"):
            return oauth_error(400, "invalid_request",
                               "ID tokens (target_audience) are not supported by the emulator.")
        if not scope:
            return oauth_error(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        now = int(time.time())
        access = self.tokens.issue({"sub": claims.get("iss"), "scope": scope, "iat": now,
                                    "exp": now + self.token_lifetime, "n": pysecrets.token_hex(4)})
        return Response(200, {"access_token": access, "expires_in": self.token_lifetime - 1,
                              "token_type": "Bearer"})

    # -- workload identity ----------------------------------------------------------------
    def identity_binding_token(self, req: Request) -> Response:
        """``POST securetoken.googleapis.com/v1/identitybindingtoken``: a Kubernetes service
        account token for a GKE workload pool's federated token (what External Secrets sends).

        Checked: the grant and token types, ``audience`` =
        ``identitynamespace:POOL:https://container.googleapis.com/v1/projects/P/locations/L/clusters/C``
        with POOL = ``P.svc.id.goog`` for a project this emulator serves, the cluster among
        ``--workload-cluster`` (when given), and a subject token that is a JWT for that pool,
        unexpired, of a Kubernetes service account.  Its signature is not verified."""
        def sts_error(status: int, error: str, description: str) -> Response:
            return Response(status, {"error": error, "error_description": description})

        try:
            body = json.loads(req.body.decode("utf-8") or "{}")
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return sts_error(400, "invalid_request", "Malformed request body.")
        if body.get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange":
            return sts_error(400, "unsupported_grant_type", "Invalid grant_type.")
        if body.get("subject_token_type") != "urn:ietf:params:oauth:token-type:jwt":
            return sts_error(400, "invalid_request", "Invalid subject_token_type.")
        m = re.fullmatch(r"identitynamespace:([^:]+):(https://container\.googleapis\.com/v1/"
                         r"projects/([^/]+)/locations/([^/]+)/clusters/([^/]+))",
                         str(body.get("audience") or ""))
        if not m:
            return sts_error(400, "invalid_request", f"Invalid audience: {body.get('audience')!r}.")
        pool, provider, project, location, cluster = m.groups()
        if pool not in {f"{p}.svc.id.goog" for p in self.project_ids} or \
                pool != f"{project}.svc.id.goog":
            return sts_error(400, "invalid_target", f"The target workload identity pool {pool} "
                             f"does not exist or does not match the identity provider.")
        if self.workload_clusters and f"{project}/{location}/{cluster}" not in self.workload_clusters:
            return sts_error(400, "invalid_target", f"The identity provider {provider} is not "
                             f"registered in the workload identity pool {pool}.")
        try:
            parts = str(body.get("subject_token") or "").split(".")
            if len(parts) != 3:
                raise ValueError
            claims = json.loads(b64url_decode(parts[1]))
        except (ValueError, binascii.Error):
            return sts_error(400, "invalid_grant", "The subject token is not a JWT.")
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        sub = str(claims.get("sub") or "")
        if pool not in auds:
            return sts_error(400, "invalid_grant", f"The audience of the subject token does not "
                             f"include {pool}.")
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] <= time.time():
            return sts_error(400, "invalid_grant", "The subject token has expired.")
        if not re.fullmatch(r"system:serviceaccount:[^:]+:[^:]+", sub):
            return sts_error(400, "invalid_grant", "The subject token is not a Kubernetes service "
                             "account token.")
        _, _, ns, sa = sub.split(":")
        now = int(time.time())
        token = self.idbind_tokens.issue({"sub": f"serviceAccount:{pool}[{ns}/{sa}]", "pool": pool,
                                          "provider": provider, "iat": now,
                                          "exp": now + self.token_lifetime,
                                          "n": pysecrets.token_hex(4)})
        return Response(200, {"access_token": token, "token_type": "Bearer",
                              "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                              "expires_in": self.token_lifetime})

    def generate_access_token(self, req: Request, email: str) -> Response:
        """``IAMCredentials.GenerateAccessToken`` (gRPC, or REST ``POST
        /v1/projects/-/serviceAccounts/EMAIL:generateAccessToken``) with an identity binding
        token as the caller's credential: an access token of that Google service account."""
        resource = f"projects/-/serviceAccounts/{email}"
        header = req.header("Authorization") or ""
        scheme, _, token = header.partition(" ")
        claims = self.idbind_tokens.verify(token.strip()) if scheme.lower() == "bearer" else None
        if claims is None or claims.get("exp", 0) <= time.time():
            return error_response("UNAUTHENTICATED", "Request had invalid authentication "
                                  "credentials. Expected OAuth 2 access token, login cookie or "
                                  "other valid authentication credential.")
        m = re.fullmatch(r"[a-z][a-z0-9-]{4,28}[a-z0-9]@([a-z][a-z0-9-]{4,28}[a-z0-9])"
                         r"\.iam\.gserviceaccount\.com", email)
        if not m or m.group(1) not in self.project_ids:
            return error_response("PERMISSION_DENIED", f"Permission 'iam.serviceAccounts."
                                  f"getAccessToken' denied on resource (or it may not exist).",
                                  details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                            "reason": "IAM_PERMISSION_DENIED",
                                            "domain": "iam.googleapis.com",
                                            "metadata": {"permission":
                                                         "iam.serviceAccounts.getAccessToken",
                                                         "resource": resource}}])
        try:
            body = json.loads(req.body.decode("utf-8") or "{}")
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return error_response("INVALID_ARGUMENT", "Invalid JSON payload received.")
        scopes = body.get("scope") or []
        if not isinstance(scopes, list) or not scopes:
            return error_response("INVALID_ARGUMENT", "Scope required.")
        lifetime = self.token_lifetime
        if body.get("lifetime"):
            lifetime = int(parse_duration(body["lifetime"], "lifetime"))
            if not 0 < lifetime <= 3600:
                return error_response("INVALID_ARGUMENT", "The lifetime must be at most 3600s.")
        now = int(time.time())
        access = self.tokens.issue({"sub": email, "scope": " ".join(map(str, scopes)),
                                    "via": claims.get("sub"), "iat": now, "exp": now + lifetime,
                                    "n": pysecrets.token_hex(4)})
        return Response(200, {"accessToken": access, "expireTime": rfc3339(now + lifetime)})

    # -- faults --------------------------------------------------------------------------
    def fault_response(self, kind: str, spec: dict[str, Any], req: Request, route: Route) -> Response:
        if kind == "throttle":
            retry_after = spec.get("retry_after", 1)
            consumer = "unknown"
            if len(req.segments) > 2 and req.segments[1] == "projects":
                consumer = self.project_number(req.segments[2])
            metric = "secretmanager.googleapis.com/access_requests" if route.op == "access" \
                else "secretmanager.googleapis.com/read_requests" if route.op.startswith(("get", "list")) \
                else "secretmanager.googleapis.com/write_requests"
            return error_response(
                "RESOURCE_EXHAUSTED",
                f"Quota exceeded for quota metric '{metric}' and limit 'per minute per project' of "
                f"service '{SERVICE}' for consumer 'project_number:{consumer}'.",
                details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                          "reason": "RATE_LIMIT_EXCEEDED", "domain": "googleapis.com",
                          "metadata": {"service": SERVICE, "consumer": f"projects/{consumer}",
                                       "quota_metric": metric,
                                       "quota_limit": "RequestsPerMinutePerProject"}}]
                + ([{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                     "retryDelay": f"{float(retry_after):.3f}s"}]
                   if spec.get("hint") == "retry_info" else []),
                headers={} if spec.get("hint") == "retry_info" else
                {"Retry-After": str(int(retry_after) if float(retry_after).is_integer()
                                    else retry_after)})
        if kind == "errors_5xx":
            status = spec.get("status", 503)
            name, msg = {500: ("INTERNAL", "Internal error encountered."),
                         502: ("UNAVAILABLE", "The service is currently unavailable."),
                         503: ("UNAVAILABLE", "The service is currently unavailable."),
                         504: ("DEADLINE_EXCEEDED", "The request deadline was exceeded.")}[status]
            resp = error_response(name, msg)
            resp.status = status
            return resp
        # deny
        resource = "/".join(req.segments[1:]).split(":")[0]
        if route.op == "token":
            return Response(403, {"error": "access_denied", "error_description": "Access denied."})
        return self.permission_denied(route.op, resource).response()

    def internal_error(self) -> Response:
        return error_response("INTERNAL", "Internal error encountered.")

    def extra_headers(self, req: Request) -> dict[str, str]:
        return {"Vary": "Origin, X-Origin, Referer", "X-Content-Type-Options": "nosniff"}

    # -- helpers --------------------------------------------------------------------
    def expire_secrets(self) -> None:
        now = time.time()
        for key in [k for k, s in self.secrets.items() if s.expire_time is not None and s.expire_time <= now]:
            del self.secrets[key]

    def parent_key(self, ctx: tuple[str, str | None, str], op: str, resource: str) -> tuple[str, str | None]:
        project, location, _display = ctx
        pkey = self.project_key(project, op, resource)
        if location is not None and not LOCATION_RE.match(location):
            raise GcpError("INVALID_ARGUMENT", f"Invalid location [{location}].")
        return pkey, location

    def display_parent(self, pkey: str, location: str | None) -> str:
        return f"projects/{pkey}" + (f"/locations/{location}" if location else "")

    def find_secret(self, ctx: tuple[str, str | None, str], sid: str, op: str,
                    resource_suffix: str = "", not_found: str | None = None) -> Secret:
        resource = f"{ctx[2]}/secrets/{sid}{resource_suffix}"
        pkey, location = self.parent_key(ctx, op, resource)
        secret = self.secrets.get((pkey, location, sid))
        if secret is None:
            name = f"{self.display_parent(pkey, location)}/secrets/{sid}"
            raise GcpError("NOT_FOUND", not_found.format(name=name) if not_found
                           else f"Secret [{name}] not found.")
        return secret

    def resolve_version(self, secret: Secret, ver: str) -> Version:
        number: int | None = None
        if ver == "latest":
            if not secret.versions:
                raise GcpError("NOT_FOUND", f"Secret [{secret.name}] not found or has no versions.")
            number = max(secret.versions)
        elif ver.isdigit():
            number = int(ver)
        elif ver in secret.version_aliases:
            number = secret.version_aliases[ver]
        if number is None or number not in secret.versions:
            raise GcpError("NOT_FOUND", f"Secret Version [{secret.name}/versions/{ver}] not found.")
        return secret.versions[number]

    def parse_body(self, req: Request) -> dict[str, Any]:
        if not req.body.strip():
            return {}
        try:
            body = req.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise GcpError("INVALID_ARGUMENT", f"Invalid JSON payload received. {exc.__class__.__name__}.")
        if not isinstance(body, dict):
            raise GcpError("INVALID_ARGUMENT", "Invalid JSON payload received. Expected an object.")
        return body

    # -- secrets ----------------------------------------------------------------------
    SECRET_FIELDS = {"name", "replication", "create_time", "labels", "topics", "expire_time", "ttl",
                     "etag", "rotation", "version_aliases", "annotations", "version_destroy_ttl",
                     "customer_managed_encryption", "tags"}

    def create(self, req: Request, ctx: tuple[str, str | None, str]) -> Response:
        pkey, location = self.parent_key(ctx, "create", ctx[2])
        sid = req.q("secretId")
        if not sid:
            raise GcpError("INVALID_ARGUMENT", "secret_id is required.",
                           details=[{"@type": "type.googleapis.com/google.rpc.BadRequest",
                                     "fieldViolations": [{"field": "secret_id",
                                                          "description": "secret_id is required"}]}])
        if not SECRET_ID_RE.match(sid):
            raise GcpError("INVALID_ARGUMENT", f"Secret ID [{sid}] is invalid. Secret IDs must be "
                           "1-255 characters and contain only letters, numbers, underscores (_) and "
                           "hyphens (-).")
        body = self.parse_body(req)
        check_fields(body, self.SECRET_FIELDS, "secret")
        replication = get_field(body, "replication")
        if location is None:
            replication = self.validate_replication(replication)
        elif replication:
            raise GcpError("INVALID_ARGUMENT", "Replication policy must not be set for regional secrets.")
        labels = validate_labels(get_field(body, "labels"))
        annotations = validate_annotations(get_field(body, "annotations"))
        now = time.time()
        expire_time = self.parse_expiration(body, now)
        if (pkey, location, sid) in self.secrets:
            raise GcpError("ALREADY_EXISTS",
                           f"Secret [{self.display_parent(pkey, location)}/secrets/{sid}] already exists.")
        if get_field(body, "versionAliases"):
            raise GcpError("INVALID_ARGUMENT", "Version aliases cannot refer to versions of a secret "
                           "that does not exist yet.")
        tags = get_field(body, "tags") or {}
        vdttl = get_field(body, "versionDestroyTtl")
        if vdttl is not None:
            parse_duration(vdttl, "version_destroy_ttl")
        secret = Secret(project=pkey, location=location, secret_id=sid, create_time=now,
                        replication=replication, labels=labels, annotations=annotations,
                        topics=list(get_field(body, "topics") or []),
                        rotation=get_field(body, "rotation"), expire_time=expire_time,
                        version_destroy_ttl=vdttl, tags=dict(tags),
                        cmek=get_field(body, "customerManagedEncryption"))
        self.secrets[(pkey, location, sid)] = secret
        return Response(200, secret.to_json())

    @staticmethod
    def validate_replication(replication: Any) -> dict[str, Any]:
        if not isinstance(replication, dict) or not replication:
            raise GcpError("INVALID_ARGUMENT", "Secret.replication is required.",
                           details=[{"@type": "type.googleapis.com/google.rpc.BadRequest",
                                     "fieldViolations": [{"field": "secret.replication",
                                                          "description": "replication is required"}]}])
        automatic = get_field(replication, "automatic")
        user = get_field(replication, "userManaged")
        if (automatic is None) == (user is None):
            raise GcpError("INVALID_ARGUMENT", "Secret.replication must set exactly one of "
                           "'automatic' or 'user_managed'.")
        if automatic is not None:
            if not isinstance(automatic, dict):
                raise GcpError("INVALID_ARGUMENT", "Invalid value at 'secret.replication.automatic'.")
            return {"automatic": automatic}
        replicas = user.get("replicas") if isinstance(user, dict) else None
        if not replicas or not isinstance(replicas, list) or \
                not all(isinstance(r, dict) and r.get("location") for r in replicas):
            raise GcpError("INVALID_ARGUMENT", "Secret.replication.user_managed.replicas must contain "
                           "at least one replica with a location.")
        locations = [r["location"] for r in replicas]
        if len(set(locations)) != len(locations):
            raise GcpError("INVALID_ARGUMENT", "Replica locations must be unique.")
        return {"userManaged": {"replicas": replicas}}

    @staticmethod
    def parse_expiration(body: dict[str, Any], now: float) -> float | None:
        expire = get_field(body, "expireTime")
        ttl = get_field(body, "ttl")
        if expire is not None and ttl is not None:
            raise GcpError("INVALID_ARGUMENT", "Only one of expire_time and ttl may be set.")
        if ttl is not None:
            seconds = parse_duration(ttl, "ttl")
            if seconds <= 0:
                raise GcpError("INVALID_ARGUMENT", "ttl must be positive.")
            return now + seconds
        if expire is not None:
            try:
                value = parse_rfc3339(str(expire))
            except ValueError:
                raise GcpError("INVALID_ARGUMENT", f"Invalid value at 'secret.expire_time' "
                               f"(type.googleapis.com/google.protobuf.Timestamp), \"{expire}\"")
            if value <= now:
                raise GcpError("INVALID_ARGUMENT", "expire_time must be in the future.")
            return value
        return None

    def list(self, req: Request, ctx: tuple[str, str | None, str]) -> Response:
        pkey, location = self.parent_key(ctx, "list", ctx[2])
        ftext = req.q("filter") or ""
        flt = Filter(ftext) if ftext.strip() else None
        items = sorted((s for (p, loc, _), s in self.secrets.items() if p == pkey and loc == location),
                       key=lambda s: s.secret_id)
        if flt is not None:
            items = [s for s in items if flt.matches(secret_lookup(s))]
        page, nxt = paginate(items, req, ftext)
        out: dict[str, Any] = {}
        if page:
            out["secrets"] = [s.to_json() for s in page]
        if nxt:
            out["nextPageToken"] = nxt
        if flt is None and items:
            out["totalSize"] = len(items)
        return Response(200, out)

    def get(self, req: Request, ctx: tuple[str, str | None, str], sid: str) -> Response:
        return Response(200, self.find_secret(ctx, sid, "get").to_json())

    UPDATABLE = {"labels", "annotations", "version_aliases", "topics", "rotation", "expire_time",
                 "ttl", "version_destroy_ttl"}

    def update(self, req: Request, ctx: tuple[str, str | None, str], sid: str) -> Response:
        secret = self.find_secret(ctx, sid, "update")
        body = self.parse_body(req)
        check_fields(body, self.SECRET_FIELDS, "secret")
        mask_raw = req.q("updateMask") or req.q("update_mask") or ""
        paths = [camel_to_snake(p.strip()) for p in mask_raw.split(",") if p.strip()]
        if not paths:
            raise GcpError("INVALID_ARGUMENT", "update_mask is required.",
                           details=[{"@type": "type.googleapis.com/google.rpc.BadRequest",
                                     "fieldViolations": [{"field": "update_mask",
                                                          "description": "update_mask is required"}]}])
        for p in paths:
            if p not in self.UPDATABLE:
                raise GcpError("INVALID_ARGUMENT", f"The update_mask path [{p}] is invalid or "
                               "refers to an immutable field.")
        etag = get_field(body, "etag")
        if etag and etag != secret.etag:
            raise GcpError("ABORTED", f"The etag provided [{etag}] does not match the current etag "
                           f"of Secret [{secret.name}].")
        # Validate everything before changing anything.
        new_labels = validate_labels(get_field(body, "labels")) if "labels" in paths else None
        new_ann = validate_annotations(get_field(body, "annotations")) if "annotations" in paths else None
        new_aliases = None
        if "version_aliases" in paths:
            raw = get_field(body, "versionAliases") or {}
            new_aliases = {}
            for alias, num in raw.items():
                try:
                    n = int(num)
                except (TypeError, ValueError):
                    raise GcpError("INVALID_ARGUMENT", f"Invalid version number for alias [{alias}].")
                if not ALIAS_RE.match(alias) or alias == "latest" or alias.isdigit():
                    raise GcpError("INVALID_ARGUMENT", f"Version alias [{alias}] is invalid.")
                if n not in secret.versions or secret.versions[n].state == "DESTROYED":
                    raise GcpError("INVALID_ARGUMENT", f"Version alias [{alias}] refers to version "
                                   f"[{n}] that does not exist or is destroyed.")
                new_aliases[alias] = n
        now = time.time()
        expire_time = secret.expire_time
        if "expire_time" in paths or "ttl" in paths:
            sub = {k: v for k, v in body.items() if camel_to_snake(k) in ("expire_time", "ttl")
                   and camel_to_snake(k) in paths}
            expire_time = self.parse_expiration(sub, now)
        vdttl = secret.version_destroy_ttl
        if "version_destroy_ttl" in paths:
            vdttl = get_field(body, "versionDestroyTtl")
            if vdttl is not None:
                parse_duration(vdttl, "version_destroy_ttl")
        if new_labels is not None:
            secret.labels = new_labels
        if new_ann is not None:
            secret.annotations = new_ann
        if new_aliases is not None:
            secret.version_aliases = new_aliases
        if "topics" in paths:
            secret.topics = list(get_field(body, "topics") or [])
        if "rotation" in paths:
            secret.rotation = get_field(body, "rotation")
        secret.expire_time = expire_time
        secret.version_destroy_ttl = vdttl
        secret.etag = new_etag()
        return Response(200, secret.to_json())

    def delete(self, req: Request, ctx: tuple[str, str | None, str], sid: str) -> Response:
        secret = self.find_secret(ctx, sid, "delete")
        etag = req.q("etag")
        if etag and etag != secret.etag:
            raise GcpError("ABORTED", f"The etag provided [{etag}] does not match the current etag "
                           f"of Secret [{secret.name}].")
        del self.secrets[(secret.project, secret.location, secret.secret_id)]
        return Response(200, {})

    # -- versions ----------------------------------------------------------------------
    def add_version(self, req: Request, ctx: tuple[str, str | None, str], sid: str) -> Response:
        secret = self.find_secret(ctx, sid, "add_version")
        body = self.parse_body(req)
        check_fields(body, {"parent", "payload"}, "")
        payload = body.get("payload")
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            raise GcpError("INVALID_ARGUMENT", "Invalid value at 'payload'.")
        check_fields(payload, {"data", "data_crc32c"}, "payload")
        raw = payload.get("data") or ""
        try:
            data = base64.b64decode(raw.replace("-", "+").replace("_", "/") + "=" * (-len(raw) % 4),
                                    validate=True) if raw else b""
        except (binascii.Error, AttributeError, ValueError):
            raise GcpError("INVALID_ARGUMENT", "Invalid value at 'payload.data' (TYPE_BYTES), "
                           "Base64 decoding failed.")
        if not data:
            raise GcpError("INVALID_ARGUMENT", "Secret Payload cannot be empty.")
        if len(data) > MAX_PAYLOAD:
            raise GcpError("INVALID_ARGUMENT", f"Secret payload data length must be less than or "
                           f"equal to {MAX_PAYLOAD} bytes.")
        actual = crc32c(data)
        given = get_field(payload, "dataCrc32c")
        client_checksum = False
        if given is not None:
            try:
                given_int = int(given)
            except (TypeError, ValueError):
                raise GcpError("INVALID_ARGUMENT", f"Invalid value at 'payload.data_crc32c' "
                               f"(TYPE_INT64), \"{given}\"")
            if given_int != actual:
                raise GcpError("INVALID_ARGUMENT", "The checksum in field 'payload.data_crc32c' "
                               "does not match the checksum of the payload data. The payload may "
                               "have been corrupted in transit.")
            client_checksum = True
        number = secret.next_version
        secret.next_version += 1
        version = Version(number=number, create_time=time.time(), data=data, crc=actual,
                          client_checksum=client_checksum)
        secret.versions[number] = version
        return Response(200, secret.version_json(version, want_int_enums(req)))

    def list_versions(self, req: Request, ctx: tuple[str, str | None, str], sid: str) -> Response:
        secret = self.find_secret(ctx, sid, "list_versions", "/versions")
        ftext = req.q("filter") or ""
        flt = Filter(ftext) if ftext.strip() else None
        items = [secret.versions[n] for n in sorted(secret.versions, reverse=True)]
        if flt is not None:
            items = [v for v in items if flt.matches(version_lookup(secret, v))]
        page, nxt = paginate(items, req, ftext)
        ints = want_int_enums(req)
        out: dict[str, Any] = {}
        if page:
            out["versions"] = [secret.version_json(v, ints) for v in page]
        if nxt:
            out["nextPageToken"] = nxt
        if flt is None and items:
            out["totalSize"] = len(items)
        return Response(200, out)

    def get_version(self, req: Request, ctx: tuple[str, str | None, str], sid: str, ver: str) -> Response:
        secret = self.find_secret(ctx, sid, "get_version", f"/versions/{ver}",
                                  not_found="Secret [{name}] not found or has no versions."
                                  if ver == "latest" else None)
        version = self.resolve_version(secret, ver)
        return Response(200, secret.version_json(version, want_int_enums(req)))

    def access(self, req: Request, ctx: tuple[str, str | None, str], sid: str, ver: str) -> Response:
        suffix = f"/versions/{ver}"
        secret = self.find_secret(
            ctx, sid, "access", suffix,
            not_found="Secret [{name}] not found or has no versions." if ver == "latest"
            else "Secret Version [{name}" + suffix + "] not found.")
        version = self.resolve_version(secret, ver)
        if version.state != "ENABLED":
            raise GcpError("FAILED_PRECONDITION", f"Secret Version [{secret.name}/versions/"
                           f"{version.number}] is in {version.state} state.")
        assert version.data is not None
        return Response(200, {
            "name": f"{secret.name}/versions/{version.number}",
            "payload": {"data": base64.b64encode(version.data).decode("ascii"),
                        "dataCrc32c": str(version.crc)},
        })

    def set_state(self, req: Request, ctx: tuple[str, str | None, str], sid: str, ver: str,
                  verb: str) -> Response:
        secret = self.find_secret(ctx, sid, f"{verb}_version", f"/versions/{ver}")
        version = self.resolve_version(secret, ver)
        body = self.parse_body(req)
        check_fields(body, {"name", "etag"}, "")
        etag = body.get("etag")
        name = f"{secret.name}/versions/{version.number}"
        if etag and etag != version.etag:
            raise GcpError("ABORTED", f"The etag provided [{etag}] does not match the current etag "
                           f"of SecretVersion [{name}].")
        if version.state == "DESTROYED":
            raise GcpError("FAILED_PRECONDITION", f"Secret Version [{name}] is in DESTROYED state.")
        if verb == "disable":
            version.state = "DISABLED"
        elif verb == "enable":
            version.state = "ENABLED"
        else:
            version.state = "DESTROYED"
            version.data = None
            version.destroy_time = time.time()
            secret.version_aliases = {a: n for a, n in secret.version_aliases.items()
                                      if n != version.number}
        version.etag = new_etag()
        return Response(200, secret.version_json(version, want_int_enums(req)))


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port (see --ready-file)")
    ap.add_argument("--state-dir", help="where to keep the token signing key (and default key file)")
    ap.add_argument("--key-file", help="service-account key file to create/reuse and trust "
                    "(default: STATE_DIR/gcp-sa-key.json)")
    ap.add_argument("--trust-key-file", action="append", default=[],
                    help="also trust this existing service-account key file (repeatable)")
    ap.add_argument("--project", action="append", default=[],
                    help="project id for the key file (first one) and --strict-projects "
                    "(default caracal-testbed)")
    ap.add_argument("--strict-projects", action="store_true",
                    help="answer PERMISSION_DENIED for projects not given with --project")
    ap.add_argument("--client-email", default="caracal-seeder@caracal-testbed.iam.gserviceaccount.com")
    ap.add_argument("--allow-anonymous", action="store_true",
                    help="accept requests without Authorization (tokens that are sent are still checked)")
    ap.add_argument("--names-with-project-id", action="store_true",
                    help="use the project id, not the project number, in returned resource names")
    ap.add_argument("--token-lifetime", type=int, default=3600)
    ap.add_argument("--latency-ms", type=int, default=0, help="delay every API request")
    ap.add_argument("--ready-file", help="write {port, url, pid} here once listening")
    ap.add_argument("--tls-dir", help="also serve over TLS with the CA and certificate of this "
                    "directory (emulator_tls.py; created if missing): the REST API and the "
                    "identity binding token endpoint over HTTPS (--https-port) and gRPC "
                    "(--grpc-port)")
    ap.add_argument("--https-port", type=int, default=0, help="with --tls-dir; 0 picks a free port")
    ap.add_argument("--grpc-port", type=int, default=0, help="with --tls-dir; 0 picks a free port")
    ap.add_argument("--workload-cluster", action="append", default=[],
                    metavar="PROJECT/LOCATION/NAME",
                    help="GKE clusters whose service accounts may get identity binding tokens "
                    "(repeatable; default: any cluster of a served project)")
    args = ap.parse_args(argv)

    projects = args.project or ["caracal-testbed"]
    state_dir = args.state_dir
    if state_dir:
        os.makedirs(state_dir, exist_ok=True)
    key_path = args.key_file or (os.path.join(state_dir, "gcp-sa-key.json") if state_dir else None)

    keyring = KeyRing()
    app = GcpApp(allow_anonymous=args.allow_anonymous, keyring=keyring,
                 token_key=load_or_create_secret(os.path.join(state_dir, "gcp-token.key")
                                                 if state_dir else None),
                 names_with_project_id=args.names_with_project_id, projects=projects,
                 strict_projects=args.strict_projects, token_lifetime=args.token_lifetime,
                 latency_ms=args.latency_ms, workload_clusters=args.workload_cluster)
    server = EmulatorServer((args.host, args.port), app)
    port = server.server_address[1]
    url = f"http://{args.host}:{port}"
    tls_info: dict[str, Any] = {}
    if args.tls_dir:
        from emulator_tls import ensure_certs, server_context
        from gcp_grpc import start_grpc_server

        paths = ensure_certs(args.tls_dir)
        https = EmulatorServer((args.host, args.https_port), app, ssl_context=server_context(paths))
        threading.Thread(target=https.serve_forever, kwargs={"poll_interval": 0.2},
                         name="https", daemon=True).start()
        with open(paths["cert"], "rb") as fh:
            cert_pem = fh.read()
        with open(paths["key"], "rb") as fh:
            key_pem = fh.read()
        grpc_server, grpc_port = start_grpc_server(app, args.host, args.grpc_port, cert_pem, key_pem)
        tls_info = {"https_port": https.server_address[1],
                    "https_url": f"https://{args.host}:{https.server_address[1]}",
                    "grpc_port": grpc_port, "grpc_target": f"{args.host}:{grpc_port}",
                    "ca": paths["ca"]}
        log(NAME, f"TLS: REST on {tls_info['https_url']}, gRPC on {tls_info['grpc_target']} "
                  f"(CA {paths['ca']})")
    if key_path:
        data = ensure_key_file(key_path, projects[0], args.client_email, f"{url}/token")
        keyring.add(data["client_email"], data["private_key_id"], public_key_of(data))
    for extra in args.trust_key_file:
        data = load_key_file(extra)
        keyring.add(data["client_email"], data["private_key_id"], public_key_of(data))
    write_ready_file(args.ready_file, {"port": port, "url": url, "pid": os.getpid(),
                                       "key_file": key_path, **tls_info})
    log(NAME, f"listening on {url} (anonymous {'allowed' if args.allow_anonymous else 'refused'}"
              f"{', key file ' + key_path if key_path else ''})")
    serve(server, NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())

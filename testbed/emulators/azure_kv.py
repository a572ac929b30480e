#!/usr/bin/env python3
"""Azure Key Vault (secrets) emulator over HTTPS, with an Entra-like token endpoint.

Vault API (every call needs ``api-version``; 400 BadParameter without it):

  PUT    /secrets/{name}                       set      (new secret, or a new version)
  GET    /secrets/{name}[/]                    get      latest version (with value)
  GET    /secrets/{name}/{version}             get      that version
  PATCH  /secrets/{name}[/{version}]           update   attributes, tags, contentType
  DELETE /secrets/{name}                       delete   soft delete -> DeletedSecretBundle
  GET    /secrets?maxresults=N                 list     (paged by an absolute nextLink)
  GET    /secrets/{name}/versions              list_versions
  POST   /secrets/{name}/backup                backup
  POST   /secrets/restore                      restore
  GET    /deletedsecrets                       list_deleted
  GET    /deletedsecrets/{name}                get_deleted
  POST   /deletedsecrets/{name}/recover        recover
  DELETE /deletedsecrets/{name}                purge    (204)

Identity (same host):

  POST /{tenant}/oauth2/v2.0/token             client_credentials with client_secret
                                               (or a client_assertion JWT)
  GET  /{tenant}/v2.0/.well-known/openid-configuration, /common/discovery/instance
                                               (what MSAL-based clients look up first)

Auth: a request without ``Authorization`` gets 401 and the Key Vault challenge
``WWW-Authenticate: Bearer authorization="https://HOST/TENANT", resource="https://vault.azure.net"``.
Tokens are HS256 JWTs issued by the token endpoint above, audience https://vault.azure.net.

Admin API (no auth): /_emulator/healthz, /_emulator/stats, /_emulator/requests,
/_emulator/faults, /_emulator/reset.  See README.md.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import email.utils
import hashlib
import hmac
import json
import math
import os
import re
import secrets as pysecrets
import sys
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emulator_common import (  # noqa: E402
    App, EmulatorServer, Request, Response, Route, b64url, b64url_decode,
    load_or_create_secret, log, serve, write_ready_file,
)
from emulator_tls import ensure_certs, server_context  # noqa: E402

NAME = "azure-kv"
VAULT_RESOURCE = "https://vault.azure.net"
VAULT_APP_ID = "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"
LATEST_API_VERSION = "2025-07-01"
KNOWN_API_VERSIONS = {"2016-10-01", "7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6",
                      "7.6-preview.2", "2025-06-01-preview", "2025-07-01"}
API_VERSION_RE = re.compile(r"^(7\.\d+(-preview(\.\d+)?)?|20\d\d-\d\d-\d\d(-preview)?)$")
NAME_RE = re.compile(r"^[0-9A-Za-z-]{1,127}$")
VERSION_RE = re.compile(r"^[0-9a-fA-F]{32}$")
TENANT_RE = re.compile(r"^[0-9A-Za-z.-]{1,64}$")
MAX_VALUE_BYTES = 25 * 1024
MAX_RESULTS = 25
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FEDERATED_AUDIENCE = "api://AzureADTokenExchange"

RBAC_ACTIONS = {
    "set": "Microsoft.KeyVault/vaults/secrets/setSecret/action",
    "get": "Microsoft.KeyVault/vaults/secrets/getSecret/action",
    "list": "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
    "list_versions": "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
    "update": "Microsoft.KeyVault/vaults/secrets/update/action",
    "delete": "Microsoft.KeyVault/vaults/secrets/delete",
    "backup": "Microsoft.KeyVault/vaults/secrets/backup/action",
    "restore": "Microsoft.KeyVault/vaults/secrets/restore/action",
    "list_deleted": "Microsoft.KeyVault/vaults/deletedSecrets/read",
    "get_deleted": "Microsoft.KeyVault/vaults/deletedSecrets/read",
    "recover": "Microsoft.KeyVault/vaults/deletedSecrets/recover/action",
    "purge": "Microsoft.KeyVault/vaults/deletedSecrets/delete",
}


class KvError(Exception):
    def __init__(self, status: int, code: str, message: str, inner: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.inner = status, code, message, inner
        self.headers = headers or {}

    def response(self) -> Response:
        return kv_error(self.status, self.code, self.message, self.inner, self.headers)


def kv_error(status: int, code: str, message: str, inner: str | None = None,
             headers: dict[str, str] | None = None) -> Response:
    err: dict[str, Any] = {"code": code, "message": message}
    if inner:
        err["innererror"] = {"code": inner}
    return Response(status, {"error": err}, headers=headers, content_type="application/json; charset=utf-8")


def not_found(ident: str) -> KvError:
    return KvError(404, "SecretNotFound",
                   f"A secret with (name/id) {ident} was not found in this key vault. If you "
                   "recently deleted this secret you may be able to recover it using the correct "
                   "recovery command. For help resolving this issue, please see "
                   "https://go.microsoft.com/fwlink/?linkid=2125182")


def deleted_not_found(name: str) -> KvError:
    return KvError(404, "SecretNotFound", f"Deleted Secret not found: {name}")


def bad_parameter(message: str) -> KvError:
    return KvError(400, "BadParameter", message)


# --------------------------------------------------------------------------------------
# HS256 JWTs for access tokens
# --------------------------------------------------------------------------------------


def jwt_encode(claims: dict[str, Any], key: bytes, kid: str) -> str:
    header = {"typ": "JWT", "alg": "HS256", "kid": kid}
    head = b64url(json.dumps(header, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    sig = b64url(hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def jwt_decode(token: str, key: bytes | None) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a JWT")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
    except (ValueError, binascii.Error):
        raise ValueError("malformed JWT")
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("malformed JWT")
    if key is not None:
        if header.get("alg") != "HS256":
            raise ValueError("bad algorithm")
        want = b64url(hmac.new(key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(want, parts[2]):
            raise ValueError("bad signature")
    return claims


# --------------------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------------------


@dataclass
class KvVersion:
    version: str
    value: str
    content_type: str | None
    tags: dict[str, str] | None
    enabled: bool
    nbf: int | None
    exp: int | None
    created: int
    updated: int


@dataclass
class KvSecret:
    name: str                                   # as first created (names are case-insensitive)
    versions: dict[str, KvVersion] = field(default_factory=dict)   # insertion = creation order
    deleted_date: int | None = None
    scheduled_purge_date: int | None = None

    def latest(self) -> KvVersion:
        return next(reversed(self.versions.values()))


def parse_attributes(raw: Any, where: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise bad_parameter(f"Invalid {where}: attributes must be an object.")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "enabled":
            if value is not None and not isinstance(value, bool):
                raise bad_parameter("Invalid attributes.enabled: a boolean is required.")
            if value is not None:
                out["enabled"] = value
        elif key in ("nbf", "exp"):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise bad_parameter(f"Invalid attributes.{key}: a Unix time in seconds is required.")
            out[key] = None if value is None else int(value)
        elif key in ("created", "updated", "recoveryLevel", "recoverableDays"):
            continue  # read-only, ignored as the service does
        else:
            raise bad_parameter(f"Invalid {where}: unknown attribute '{key}'.")
    return out


def parse_tags(raw: Any) -> dict[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise bad_parameter("Invalid tags: an object of string values is required.")
    if len(raw) > 15:
        raise bad_parameter(f"Too many tags: {len(raw)}. A secret can have at most 15 tags.")
    for k, v in raw.items():
        if not isinstance(v, str):
            raise bad_parameter(f"Invalid value for tag '{k}': a string is required.")
        if len(k) > 512 or len(v) > 256:
            raise bad_parameter(f"Tag '{k[:40]}' is too long: names are limited to 512 characters "
                                "and values to 256 characters.")
    return dict(raw)


# --------------------------------------------------------------------------------------
# The application
# --------------------------------------------------------------------------------------


class KvApp(App):
    name = NAME

    def __init__(self, *, tenant_id: str, client_id: str, client_secret: str, token_key: bytes,
                 token_lifetime: int, recoverable_days: int, purge_protection: bool,
                 vault_name: str, latency_ms: int = 0, federated_clients: list[str] | None = None):
        super().__init__(latency_ms)
        self.tenant_id = tenant_id
        self.client_id = client_id
        # Workload identities: app registrations that sign in only with a federated client
        # assertion (a Kubernetes service account token for api://AzureADTokenExchange).
        self.federated_clients = set(federated_clients or [])
        self.client_secret = client_secret
        self.token_key = token_key
        self.kid = hashlib.sha256(token_key).hexdigest()[:16]
        self.token_lifetime = token_lifetime
        self.recoverable_days = recoverable_days
        self.purge_protection = purge_protection
        self.vault_name = vault_name
        self.lock = threading.RLock()
        self.secrets: dict[str, KvSecret] = {}
        self.deleted: dict[str, KvSecret] = {}
        self.oid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sp:{client_id}"))

    @property
    def recovery_level(self) -> str:
        return "Recoverable" if self.purge_protection else "Recoverable+Purgeable"

    def describe(self) -> dict[str, Any]:
        return {"tenant_id": self.tenant_id, "vault_name": self.vault_name}

    def reset_data(self) -> None:
        with self.lock:
            self.secrets.clear()
            self.deleted.clear()

    # -- JSON shapes ---------------------------------------------------------------
    def attributes(self, v: KvVersion) -> dict[str, Any]:
        out: dict[str, Any] = {"enabled": v.enabled}
        if v.nbf is not None:
            out["nbf"] = v.nbf
        if v.exp is not None:
            out["exp"] = v.exp
        out.update({"created": v.created, "updated": v.updated,
                    "recoveryLevel": self.recovery_level, "recoverableDays": self.recoverable_days})
        return out

    def bundle(self, base: str, s: KvSecret, v: KvVersion, with_value: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if with_value:
            out["value"] = v.value
        if v.content_type is not None:
            out["contentType"] = v.content_type
        out["id"] = f"{base}/secrets/{s.name}/{v.version}"
        out["attributes"] = self.attributes(v)
        if v.tags is not None:
            out["tags"] = dict(v.tags)
        return out

    def item(self, base: str, s: KvSecret, v: KvVersion, with_version: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"id": f"{base}/secrets/{s.name}" + (f"/{v.version}" if with_version else ""),
                               "attributes": self.attributes(v)}
        if v.tags is not None:
            out["tags"] = dict(v.tags)
        if v.content_type is not None:
            out["contentType"] = v.content_type
        return out

    def deleted_fields(self, base: str, s: KvSecret) -> dict[str, Any]:
        return {"recoveryId": f"{base}/deletedsecrets/{s.name}",
                "deletedDate": s.deleted_date, "scheduledPurgeDate": s.scheduled_purge_date}

    def deleted_bundle(self, base: str, s: KvSecret) -> dict[str, Any]:
        out = self.deleted_fields(base, s)
        out.update(self.bundle(base, s, s.latest(), with_value=False))
        return out

    def deleted_item(self, base: str, s: KvSecret) -> dict[str, Any]:
        out = self.deleted_fields(base, s)
        out.update(self.item(base, s, s.latest(), with_version=False))
        return out

    # -- routing -------------------------------------------------------------------
    def route(self, req: Request) -> Route | Response:
        segs = req.segments
        if segs and segs[-1] == "" and len(segs) > 1:
            trailing = True
            segs = segs[:-1]
        else:
            trailing = False
        m = req.method

        # identity endpoints
        if len(segs) == 4 and segs[1:] == ["oauth2", "v2.0", "token"] and m == "POST":
            return Route("token", lambda: self.token(req, segs[0]), auth=False)
        if len(segs) >= 3 and segs[-2:] == [".well-known", "openid-configuration"] and m == "GET" \
                and segs[0] != "secrets":
            return Route("discovery", lambda: self.openid_configuration(req, segs[0]), auth=False)
        if segs == ["common", "discovery", "instance"] and m == "GET":
            return Route("discovery", lambda: self.instance_discovery(req), auth=False)

        def mk(op: str, fn: Callable[[str], Response], write: bool = False,
               tags: tuple[str, ...] = ()) -> Route:
            def run() -> Response:
                try:
                    self.check_api_version(req)
                    with self.lock:
                        self.purge_expired()
                        return fn(f"https://{req.host}")
                except KvError as exc:
                    return exc.response()
            return Route(op, run, write=write, tags=tags)

        def named(name: str) -> None:
            if not NAME_RE.match(name):
                raise bad_parameter(f"The request URI contains an invalid name: {name}")

        def guarded(op: str, name: str, fn: Callable[[str], Response], write: bool = False,
                    tags: tuple[str, ...] = ()) -> Route:
            def inner(base: str) -> Response:
                named(name)
                return fn(base)
            return mk(op, inner, write, tags)

        if segs and segs[0] == "secrets":
            if len(segs) == 1 and m == "GET":
                return mk("list", lambda base: self.list(req, base))
            if len(segs) == 2 and segs[1] == "restore" and m == "POST":
                return mk("restore", lambda base: self.restore(req, base), write=True)
            if len(segs) == 2:
                name = segs[1]
                if m == "PUT" and not trailing:
                    with self.lock:
                        exists = name.lower() in self.secrets
                    return guarded("set", name, lambda base: self.set(req, base, name), write=True,
                                   tags=("add_version",) if exists else ("create",))
                if m == "GET":
                    return guarded("get", name, lambda base: self.get(req, base, name, None),
                                   tags=("access",))
                if m == "PATCH":
                    return guarded("update", name, lambda base: self.update(req, base, name, None),
                                   write=True)
                if m == "DELETE" and not trailing:
                    return guarded("delete", name, lambda base: self.delete(req, base, name), write=True)
            if len(segs) == 3:
                name, third = segs[1], segs[2]
                if third == "versions" and m == "GET":
                    return guarded("list_versions", name,
                                   lambda base: self.list_versions(req, base, name))
                if third == "backup" and m == "POST":
                    return guarded("backup", name, lambda base: self.backup(req, base, name))
                if m == "GET":
                    return guarded("get", name, lambda base: self.get(req, base, name, third),
                                   tags=("access",))
                if m == "PATCH":
                    return guarded("update", name, lambda base: self.update(req, base, name, third),
                                   write=True)
        if segs and segs[0] == "deletedsecrets":
            if len(segs) == 1 and m == "GET":
                return mk("list_deleted", lambda base: self.list_deleted(req, base))
            if len(segs) == 2:
                name = segs[1]
                if m == "GET":
                    return guarded("get_deleted", name, lambda base: self.get_deleted(req, base, name))
                if m == "DELETE":
                    return guarded("purge", name, lambda base: self.purge(req, base, name), write=True)
            if len(segs) == 3 and segs[2] == "recover" and m == "POST":
                name = segs[1]
                return guarded("recover", name, lambda base: self.recover(req, base, name), write=True)
        return kv_error(404, "NotFound", f"The requested URI {req.raw_path} with method {m} does "
                        "not exist in this key vault.")

    def check_api_version(self, req: Request) -> None:
        version = req.q("api-version")
        if version is None or version == "":
            raise bad_parameter("The 'api-version' query parameter is missing. Specify a supported "
                                f"version, for example api-version={LATEST_API_VERSION}.")
        if version not in KNOWN_API_VERSIONS and not API_VERSION_RE.match(version):
            raise bad_parameter(f"The specified version ({version}) is not recognized. Consider "
                                f"using the latest supported version ({LATEST_API_VERSION}).")

    # -- auth ------------------------------------------------------------------------
    def challenge(self, req: Request) -> str:
        return (f'Bearer authorization="https://{req.host}/{self.tenant_id}", '
                f'resource="{VAULT_RESOURCE}"')

    def authenticate(self, req: Request, route: Route) -> Response | None:
        header = req.header("Authorization")
        www = {"WWW-Authenticate": self.challenge(req)}
        if not header:
            return kv_error(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.",
                            headers=www)
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return kv_error(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.",
                            headers=www)
        try:
            claims = jwt_decode(token.strip(), self.token_key)
        except ValueError:
            return kv_error(401, "Unauthorized", "AKV10032: Invalid issuer. The token could not be "
                            "validated: its signature does not match any trusted issuer.", headers=www)
        now = time.time()
        if claims.get("exp", 0) <= now:
            return kv_error(401, "Unauthorized", "[TokenExpired] Error validating token: 'S2S12086'.",
                            headers=www)
        aud = str(claims.get("aud", "")).rstrip("/")
        if aud not in (VAULT_RESOURCE, VAULT_APP_ID):
            return kv_error(401, "Unauthorized", f"AKV10022: Invalid audience. Expected "
                            f"{VAULT_RESOURCE}, found: {aud}.", headers=www)
        if claims.get("tid") != self.tenant_id:
            return kv_error(401, "Unauthorized", f"AKV10032: Invalid issuer. Expected one of "
                            f"https://sts.windows.net/{self.tenant_id}/, found "
                            f"{claims.get('iss')}.", headers=www)
        return None

    # -- identity ------------------------------------------------------------------------
    def oauth_error(self, status: int, error: str, code: int, description: str) -> Response:
        now = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
        trace = str(uuid.uuid4())
        return Response(status, {
            "error": error,
            "error_description": f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: "
                                 f"{uuid.uuid4()} Timestamp: {now}",
            "error_codes": [code], "timestamp": now, "trace_id": trace,
            "correlation_id": str(uuid.uuid4()),
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        })

    def token(self, req: Request, tenant: str) -> Response:
        if tenant != self.tenant_id:
            return self.oauth_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found. "
                                    "Check to make sure you have the correct tenant ID and are "
                                    "signing into the correct cloud.")
        try:
            form = {k: v[-1] for k, v in urllib.parse.parse_qs(req.body.decode("utf-8"),
                                                               keep_blank_values=True).items()}
        except UnicodeDecodeError:
            return self.oauth_error(400, "invalid_request", 900144, "Malformed request body.")
        # client_secret_basic is allowed too
        auth = req.header("Authorization") or ""
        if auth.lower().startswith("basic "):
            try:
                cid, _, csecret = base64.b64decode(auth[6:]).decode().partition(":")
                form.setdefault("client_id", urllib.parse.unquote_plus(cid))
                form.setdefault("client_secret", urllib.parse.unquote_plus(csecret))
            except (ValueError, binascii.Error):
                pass
        grant = form.get("grant_type", "")
        if grant != "client_credentials":
            return self.oauth_error(400, "unsupported_grant_type", 70003,
                                    f"The app requested an unsupported grant type '{grant}'.")
        client_id = form.get("client_id", "")
        if not client_id:
            return self.oauth_error(400, "invalid_request", 900144,
                                    "The request body must contain the following parameter: 'client_id'.")
        federated = client_id in self.federated_clients
        if client_id != self.client_id and not federated:
            return self.oauth_error(400, "unauthorized_client", 700016,
                                    f"Application with identifier '{client_id}' was not found in "
                                    f"the directory '{tenant}'.")
        if form.get("client_assertion") or form.get("client_assertion_type"):
            if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
                return self.oauth_error(400, "invalid_request", 50027,
                                        "Invalid client_assertion_type.")
            try:
                assertion = jwt_decode(form.get("client_assertion", ""), None)
            except ValueError:
                return self.oauth_error(401, "invalid_client", 50027,
                                        "JWT token is invalid or malformed.")
            if assertion.get("exp", 0) <= time.time():
                return self.oauth_error(400, "invalid_client", 700024,
                                        "Client assertion is not within its valid time range.")
            if federated:
                # A federated credential matches the token's audience and subject (its issuer
                # and signature are not checked here).
                aud = assertion.get("aud")
                if FEDERATED_AUDIENCE not in (aud if isinstance(aud, list) else [aud]):
                    return self.oauth_error(400, "invalid_client", 700212,
                                            "No matching federated identity record found for "
                                            f"presented assertion audience '{aud}'.")
                if not str(assertion.get("sub") or ""):
                    return self.oauth_error(400, "invalid_client", 70021,
                                            "No matching federated identity record found for "
                                            "presented assertion.")
        elif federated:
            return self.oauth_error(401, "invalid_client", 7000218, "The request body must contain "
                                    "the following parameter: 'client_assertion' (this application "
                                    "has only federated credentials).")
        elif "client_secret" not in form:
            return self.oauth_error(401, "invalid_client", 7000218, "The request body must contain "
                                    "the following parameter: 'client_assertion' or 'client_secret'.")
        elif not hmac.compare_digest(form["client_secret"].encode(), self.client_secret.encode()):
            return self.oauth_error(401, "invalid_client", 7000215,
                                    "Invalid client secret provided. Ensure the secret being sent in "
                                    "the request is the client secret value, not the client secret "
                                    f"ID, for a secret added to app '{client_id}'.")
        scopes = [s for s in form.get("scope", "").split()
                  if s not in ("openid", "profile", "offline_access")]
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            return self.oauth_error(400, "invalid_scope", 1002012,
                                    f"The provided value for scope {form.get('scope', '')} is not "
                                    "valid. Client credential flows must have a scope value with "
                                    "/.default suffixed to the resource identifier (application ID URI).")
        resource = scopes[0][: -len("/.default")]
        now = int(time.time())
        claims = {
            "aud": resource, "iss": f"https://sts.windows.net/{self.tenant_id}/", "iat": now,
            "nbf": now, "exp": now + self.token_lifetime, "appid": client_id, "appidacr": "1",
            "idp": f"https://sts.windows.net/{self.tenant_id}/", "oid": self.oid, "sub": self.oid,
            "tid": self.tenant_id, "ver": "1.0", "uti": b64url(os.urandom(16)),
        }
        token = jwt_encode(claims, self.token_key, self.kid)
        return Response(200, {"token_type": "Bearer", "expires_in": self.token_lifetime,
                              "ext_expires_in": self.token_lifetime, "access_token": token},
                        headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})

    def openid_configuration(self, req: Request, tenant: str) -> Response:
        if tenant not in (self.tenant_id, "common", "organizations"):
            return Response(400, {"error": "invalid_tenant", "error_description":
                                  f"AADSTS90002: Tenant '{tenant}' not found. Check to make sure "
                                  "you have the correct tenant ID and are signing into the "
                                  "correct cloud.", "error_codes": [90002]})
        base = f"https://{req.host}/{tenant}"
        return Response(200, {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                      "client_secret_basic"],
            "jwks_uri": f"https://{req.host}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"https://{req.host}/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid"],
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
        })

    def instance_discovery(self, req: Request) -> Response:
        host = req.host
        return Response(200, {
            "tenant_discovery_endpoint": f"https://{host}/{self.tenant_id}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        })

    # -- faults --------------------------------------------------------------------------
    def fault_response(self, kind: str, spec: dict[str, Any], req: Request, route: Route) -> Response:
        headers: dict[str, str] = {}
        if kind == "throttle":
            ra = spec.get("retry_after", 1)
            hint = spec.get("hint", "header")
            if hint == "ms":
                headers["retry-after-ms"] = str(int(round(float(ra) * 1000)))
            elif hint == "x-ms":
                headers["x-ms-retry-after-ms"] = str(int(round(float(ra) * 1000)))
            elif hint == "http-date":
                # Whole seconds only; rounded up so the date is never before the delay.
                headers["Retry-After"] = email.utils.formatdate(
                    math.ceil(time.time() + float(ra)), usegmt=True)
            else:
                headers["Retry-After"] = str(int(ra) if float(ra).is_integer() else ra)
        if route.op in ("token", "discovery"):
            if kind == "throttle":
                r = self.oauth_error(429, "temporarily_unavailable", 50196,
                                     "The server has temporarily throttled the request.")
            elif kind == "errors_5xx":
                r = self.oauth_error(spec.get("status", 503), "temporarily_unavailable", 90033,
                                     "A transient error has occurred. Please try again.")
            else:
                r = self.oauth_error(401, "invalid_client", 7000222, "The provided client secret "
                                     f"keys for app '{self.client_id}' are expired.")
            r.status = 429 if kind == "throttle" else r.status
            r.headers.update(headers)
            return r
        if kind == "throttle":
            return kv_error(429, "Throttled", "Request was not processed because too many requests "
                            "were received. Reason: A=0/10s,secrets;L=2000/10s. Retry after the "
                            "interval given in the Retry-After header.", headers=headers)
        if kind == "errors_5xx":
            status = spec.get("status", 503)
            code, msg = {500: ("InternalServerError", "An internal server error occurred."),
                         502: ("BadGateway", "The service received an invalid response."),
                         503: ("ServiceUnavailable", "The service is temporarily unavailable. "
                               "Please retry."),
                         504: ("GatewayTimeout", "The request timed out.")}[status]
            return kv_error(status, code, msg)
        # deny: what Key Vault with Azure RBAC says when the role assignment is missing
        action = RBAC_ACTIONS.get(route.op, "Microsoft.KeyVault/vaults/secrets/readMetadata/action")
        name = req.segments[1] if len(req.segments) > 1 and req.segments[0] in ("secrets", "deletedsecrets") else ""
        resource = (f"/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/"
                    f"caracal-testbed/providers/microsoft.keyvault/vaults/{self.vault_name}"
                    + (f"/secrets/{name}" if name else ""))
        msg = ("Caller is not authorized to perform action on resource.\r\n"
               "If role assignments, deny assignments or role definitions were changed recently, "
               "please observe propagation time.\r\n"
               f"Caller: appid={self.client_id};oid={self.oid};iss=https://sts.windows.net/"
               f"{self.tenant_id}/\r\n"
               f"Action: '{action}'\r\n"
               f"Resource: '{resource.lower()}'\r\n"
               "Assignment: (not found)\r\n"
               "DenyAssignmentId: null\r\n"
               "DecisionReason: null \r\n"
               f"Vault: {self.vault_name};location=eastus\r\n")
        return kv_error(403, "Forbidden", msg, inner="ForbiddenByRbac")

    def internal_error(self) -> Response:
        return kv_error(500, "InternalServerError", "An internal server error occurred.")

    def extra_headers(self, req: Request) -> dict[str, str]:
        h = {"Cache-Control": "no-cache", "Pragma": "no-cache", "Expires": "-1",
             "x-ms-keyvault-region": "eastus", "x-ms-keyvault-service-version": "1.9.2795.1",
             "x-ms-keyvault-network-info": "conn_type=Ipv4;addr=127.0.0.1;act_addr_fam=InterNetwork;",
             "x-ms-request-id": str(uuid.uuid4()),
             "Strict-Transport-Security": "max-age=31536000;includeSubDomains",
             "X-Content-Type-Options": "nosniff"}
        client_req = req.header("x-ms-client-request-id")
        if client_req:
            h["x-ms-client-request-id"] = client_req
        return h

    # -- helpers --------------------------------------------------------------------
    def purge_expired(self) -> None:
        now = time.time()
        for key in [k for k, s in self.deleted.items() if (s.scheduled_purge_date or 0) <= now]:
            del self.deleted[key]

    def body(self, req: Request) -> dict[str, Any]:
        if not req.body.strip():
            raise bad_parameter("The request body is missing.")
        try:
            data = json.loads(req.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise bad_parameter("The request body is not valid JSON.")
        if not isinstance(data, dict):
            raise bad_parameter("The request body must be a JSON object.")
        return data

    def active(self, name: str, ident: str | None = None) -> KvSecret:
        s = self.secrets.get(name.lower())
        if s is None:
            raise not_found(ident or name)
        return s

    def page(self, req: Request, items: list[dict[str, Any]], base: str, path: str) -> Response:
        raw = req.q("maxresults")
        size = MAX_RESULTS
        if raw not in (None, ""):
            try:
                size = int(raw)
            except ValueError:
                raise bad_parameter(f"Invalid maxresults value '{raw}': an integer between 1 and "
                                    f"{MAX_RESULTS} is required.")
            if not 1 <= size <= MAX_RESULTS:
                raise bad_parameter(f"Invalid maxresults value '{raw}': an integer between 1 and "
                                    f"{MAX_RESULTS} is required.")
        offset = 0
        token = req.q("$skiptoken")
        if token:
            try:
                offset = int(json.loads(b64url_decode(token))["NextMarker"])
                if offset < 0:
                    raise ValueError
            except (ValueError, KeyError, TypeError, binascii.Error):
                raise bad_parameter("The $skiptoken is invalid.")
        chunk = items[offset:offset + size]
        next_link = None
        if offset + size < len(items):
            marker = b64url(json.dumps({"NextMarker": str(offset + size), "TargetLocation": 0}).encode())
            query = urllib.parse.urlencode({"api-version": req.q("api-version"), "$skiptoken": marker,
                                            "maxresults": size}, safe="$")
            next_link = f"{base}{path}?{query}"
        return Response(200, {"value": chunk, "nextLink": next_link})

    # -- vault operations ----------------------------------------------------------------
    def set(self, req: Request, base: str, name: str) -> Response:
        key = name.lower()
        if key in self.deleted:
            raise KvError(409, "Conflict", f"Secret {name} is currently in a deleted but recoverable "
                          "state, and its name cannot be reused; in this state, the secret can only "
                          "be recovered or purged.")
        data = self.body(req)
        for k in data:
            if k not in ("value", "contentType", "tags", "attributes"):
                raise bad_parameter(f"Invalid request body: unknown property '{k}'.")
        value = data.get("value")
        if value is None:
            raise bad_parameter("The secret value is required (property 'value').")
        if not isinstance(value, str):
            raise bad_parameter("Invalid secret value: a string is required.")
        if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
            raise bad_parameter(f"The secret value is too large: at most {MAX_VALUE_BYTES} bytes are "
                                "allowed.")
        content_type = data.get("contentType")
        if content_type is not None and (not isinstance(content_type, str) or len(content_type) > 255):
            raise bad_parameter("Invalid contentType: a string of at most 255 characters is required.")
        tags = parse_tags(data.get("tags"))
        attrs = parse_attributes(data.get("attributes"), "attributes")
        now = int(time.time())
        secret = self.secrets.get(key)
        if secret is None:
            secret = KvSecret(name=name)
            self.secrets[key] = secret
        version = KvVersion(version=uuid.uuid4().hex, value=value, content_type=content_type,
                            tags=tags, enabled=attrs.get("enabled", True), nbf=attrs.get("nbf"),
                            exp=attrs.get("exp"), created=now, updated=now)
        secret.versions[version.version] = version
        return Response(200, self.bundle(base, secret, version, with_value=True))

    def get(self, req: Request, base: str, name: str, version: str | None) -> Response:
        secret = self.active(name, f"{name}/{version}" if version else name)
        if version:
            v = secret.versions.get(version.lower())
            if v is None:
                raise not_found(f"{name}/{version}")
        else:
            v = secret.latest()
        if not v.enabled:
            raise KvError(403, "Forbidden", "Operation get is not allowed on a disabled secret.",
                          inner="SecretDisabled")
        return Response(200, self.bundle(base, secret, v, with_value=True))

    def update(self, req: Request, base: str, name: str, version: str | None) -> Response:
        secret = self.active(name, f"{name}/{version}" if version else name)
        if version:
            v = secret.versions.get(version.lower())
            if v is None:
                raise not_found(f"{name}/{version}")
        else:
            v = secret.latest()
        data = self.body(req)
        for k in data:
            if k not in ("contentType", "tags", "attributes"):
                raise bad_parameter(f"Invalid request body: unknown property '{k}'.")
        attrs = parse_attributes(data.get("attributes"), "attributes")
        tags = parse_tags(data.get("tags")) if "tags" in data else v.tags
        content_type = data.get("contentType", v.content_type)
        if content_type is not None and (not isinstance(content_type, str) or len(content_type) > 255):
            raise bad_parameter("Invalid contentType: a string of at most 255 characters is required.")
        v.tags = tags
        v.content_type = content_type
        if "enabled" in attrs:
            v.enabled = attrs["enabled"]
        if "nbf" in attrs:
            v.nbf = attrs["nbf"]
        if "exp" in attrs:
            v.exp = attrs["exp"]
        v.updated = int(time.time())
        return Response(200, self.bundle(base, secret, v, with_value=False))

    def delete(self, req: Request, base: str, name: str) -> Response:
        secret = self.active(name)
        now = int(time.time())
        del self.secrets[name.lower()]
        secret.deleted_date = now
        secret.scheduled_purge_date = now + self.recoverable_days * 86400
        self.deleted[name.lower()] = secret
        return Response(200, self.deleted_bundle(base, secret))

    def list(self, req: Request, base: str) -> Response:
        items = [self.item(base, s, s.latest(), with_version=False)
                 for _, s in sorted(self.secrets.items())]
        return self.page(req, items, base, "/secrets")

    def list_versions(self, req: Request, base: str, name: str) -> Response:
        secret = self.active(name)
        items = [self.item(base, secret, v, with_version=True) for v in secret.versions.values()]
        return self.page(req, items, base, f"/secrets/{secret.name}/versions")

    def list_deleted(self, req: Request, base: str) -> Response:
        items = [self.deleted_item(base, s) for _, s in sorted(self.deleted.items())]
        return self.page(req, items, base, "/deletedsecrets")

    def get_deleted(self, req: Request, base: str, name: str) -> Response:
        secret = self.deleted.get(name.lower())
        if secret is None:
            raise deleted_not_found(name)
        return Response(200, self.deleted_bundle(base, secret))

    def recover(self, req: Request, base: str, name: str) -> Response:
        secret = self.deleted.get(name.lower())
        if secret is None:
            raise deleted_not_found(name)
        del self.deleted[name.lower()]
        secret.deleted_date = secret.scheduled_purge_date = None
        self.secrets[name.lower()] = secret
        return Response(200, self.bundle(base, secret, secret.latest(), with_value=False))

    def purge(self, req: Request, base: str, name: str) -> Response:
        secret = self.deleted.get(name.lower())
        if secret is None:
            raise deleted_not_found(name)
        if self.purge_protection:
            raise KvError(403, "Forbidden", f"Operation \"purge\" is not allowed because purge "
                          f"protection is enabled for this vault. Key Vault service will "
                          f"automatically purge it after the retention period has passed.\r\n"
                          f"Vault: {self.vault_name};location=eastus", inner="PurgeProtected")
        del self.deleted[name.lower()]
        return Response(204, None)

    # backup blobs are opaque: AES-GCM sealed with a key derived from the token key
    def _aead(self) -> Any:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        return AESGCM(hashlib.sha256(b"backup:" + self.token_key).digest())

    def backup(self, req: Request, base: str, name: str) -> Response:
        secret = self.active(name)
        plain = json.dumps({"name": secret.name,
                            "versions": [v.__dict__ for v in secret.versions.values()]}).encode()
        nonce = os.urandom(12)
        blob = b"KVEMU1" + nonce + self._aead().encrypt(nonce, plain, b"kv-backup")
        return Response(200, {"value": b64url(blob)})

    def restore(self, req: Request, base: str) -> Response:
        data = self.body(req)
        raw = data.get("value")
        if not isinstance(raw, str) or not raw:
            raise bad_parameter("The backup blob is required (property 'value').")
        try:
            blob = b64url_decode(raw)
            if not blob.startswith(b"KVEMU1"):
                raise ValueError
            plain = self._aead().decrypt(blob[6:18], blob[18:], b"kv-backup")
            doc = json.loads(plain)
            versions = [KvVersion(**v) for v in doc["versions"]]
            name = doc["name"]
        except Exception:  # noqa: BLE001 - any corruption is the same error
            raise bad_parameter("Backup blob contains invalid or corrupt version.")
        if name.lower() in self.secrets or name.lower() in self.deleted:
            raise KvError(409, "Conflict", f"Secret {name} already exists or is in a deleted but "
                          "recoverable state; it cannot be restored over.")
        secret = KvSecret(name=name, versions={v.version: replace(v) for v in versions})
        self.secrets[name.lower()] = secret
        return Response(200, self.bundle(base, secret, secret.latest(), with_value=False))


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------

DEFAULT_TENANT = "00000000-0000-4000-8000-00000000ca1a"
DEFAULT_CLIENT = "00000000-0000-4000-8000-00000000c11e"
DEFAULT_SECRET = "caracal-testbed-client-secret"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port (see --ready-file)")
    ap.add_argument("--state-dir", required=True,
                    help="certificates (ca.pem is the CA clients must trust) and the token key")
    ap.add_argument("--tenant-id", default=os.environ.get("CARACAL_TESTBED_AZURE_TENANT_ID", DEFAULT_TENANT))
    ap.add_argument("--client-id", default=os.environ.get("CARACAL_TESTBED_AZURE_CLIENT_ID", DEFAULT_CLIENT))
    ap.add_argument("--federated-client", action="append", default=[], metavar="CLIENT_ID",
                    help="a workload identity (repeatable): signs in only with a client assertion "
                    "whose audience is api://AzureADTokenExchange")
    ap.add_argument("--client-secret-file",
                    help="read the accepted client secret from this file (default: a fixed test value)")
    ap.add_argument("--vault-name", default="caracal-testbed")
    ap.add_argument("--token-lifetime", type=int, default=3600)
    ap.add_argument("--recoverable-days", type=int, default=90)
    ap.add_argument("--purge-protection", action="store_true")
    ap.add_argument("--latency-ms", type=int, default=0, help="delay every API request")
    ap.add_argument("--ready-file", help="write {port, url, pid, ca} here once listening")
    args = ap.parse_args(argv)

    if not TENANT_RE.match(args.tenant_id):
        ap.error("invalid --tenant-id")
    client_secret = DEFAULT_SECRET
    if args.client_secret_file:
        with open(args.client_secret_file, encoding="utf-8") as fh:
            client_secret = fh.read().strip()
    os.makedirs(args.state_dir, exist_ok=True)
    paths = ensure_certs(args.state_dir)
    app = KvApp(tenant_id=args.tenant_id, client_id=args.client_id, client_secret=client_secret,
                token_key=load_or_create_secret(os.path.join(args.state_dir, "token.key")),
                token_lifetime=args.token_lifetime, recoverable_days=args.recoverable_days,
                purge_protection=args.purge_protection, vault_name=args.vault_name,
                latency_ms=args.latency_ms, federated_clients=args.federated_client)
    server = EmulatorServer((args.host, args.port), app, ssl_context=server_context(paths))
    port = server.server_address[1]
    url = f"https://{args.host}:{port}"
    write_ready_file(args.ready_file, {"port": port, "url": url, "pid": os.getpid(), "ca": paths["ca"],
                                       "tenant_id": args.tenant_id, "client_id": args.client_id,
                                       "federated_clients": args.federated_client})
    log(NAME, f"listening on {url} (tenant {args.tenant_id}, CA {paths['ca']})")
    serve(server, NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Caracal's STS, Gateway and Admin API (plus the Audit service's operator search) over HTTPS,
for the product's post-install canary on the test bed (Caracal's pods there are kwok fakes).

One process, one HTTPS port, the bed's emulator TLS (``emulator_tls.py``: the one CA of every TLS
emulator).  The service is chosen by the ``Host`` header -- ``sts.caracal.test``,
``gateway.caracal.test``, ``api.caracal.test`` (the bed answers' ingress hosts; the CONNECT proxy
routes them here) -- or, for any other host (``127.0.0.1``), by a path prefix: ``/sts/...``,
``/gateway/...``, ``/api/...``, ``/audit/...`` (the Audit service has no ingress).

Plain listeners (``--plain-roles``, default ``sts,gateway,api``): one plain-HTTP server per role on
127.0.0.1 (a free port each, in the ready file's ``plain``), sharing this process's state.  On one,
every request but ``/_emulator/...`` goes to that role whatever its ``Host`` (through a
``kubectl port-forward`` the Host is ``127.0.0.1:LOCALPORT``): kwok forwards a Caracal pod's
container port to ``pod_forward.py``, which pipes the stream to the role's plain port.  The request
log's ``listener`` says where a request arrived: ``https`` or ``plain-<role>``.

What follows the docs in /work/shared/reference/caracal-docs (file: section):

STS (api-sts.mdx)
  POST /oauth/2/token        "Token Exchange Request", "Subject Identity", "Responses": body-only
                             x-www-form-urlencoded (a query string, another media type or a
                             repeated singleton field -> 400 invalid_request; repeated
                             ``resource`` is allowed, trimmed, de-duplicated, sorted); grant_type
                             token-exchange (else 400 unsupported_grant_type); ``actor_token``
                             -> 400 invalid_token; ``client_assertion``/``_type`` -> 400
                             invalid_request; application auth by ``client_secret``; ``scope``
                             space-delimited; ``ttl_seconds`` a positive integer within limits;
                             ``subject_token`` (access_token type) must be a session mandate this
                             STS issued for the same zone (a resource/gateway mandate is refused).
                             200 {access_token, token_type "Bearer", expires_in,
                             issued_token_type, scope, target_resources}; errors {error,
                             error_description} (+ request_id).
  GET /.well-known/jwks.json?zone_id=Z   the zone's public signing key (ES256, per zone:
                             concepts-zone.mdx "Key and Policy Isolation").
  GET /health, /ready        liveness/readiness.
  GET /internal/policy/status/{zoneID}   internal: needs the STS admin token (chart: the
                             ``sts-admin-token`` Secret, mounted into STS only as STS_ADMIN_TOKEN).
Gateway (api-gateway.mdx)
  ANY /{path}                "Request Requirements", "Denial Checks", "Replay Protection",
                             "Responses and Failures": Bearer use=gateway mandate +
                             X-Caracal-Resource; X-Caracal-Client-ID set -> 400; traversal -> 400;
                             missing/invalid/expired/replayed/revoked mandate -> 401; authority
                             denial -> 403; unresolved resource -> 404; STS failure -> 502; open
                             circuit -> 503.  Errors {error, error_description, request_id}.
                             Every mandate is single-use (jti); a replay emits ``replay_detected``.
  GET /health, /ready        operator endpoints.
Admin API (api-control-plane.mdx; sdks-admin.mdx for the policy-set flow)
  Bearer admin token on every /v1 request ("Authentication": 401 unauthorized /
  invalid_admin_token); error envelope {error, error_description, details} ("Error Shape");
  201 creates, 200 reads/updates, 202 policy activation, 204 deletes; lists are {items,
  next_cursor} with limit (default 200, max 500) and an opaque cursor ("Listing and Filters").
  /v1/zones[/:id]                                     GET POST / GET PATCH DELETE
  /v1/zones/:z/applications[/:id]                     GET POST / GET PATCH DELETE
  /v1/zones/:z/applications/:id/rotate-secret         POST
  /v1/zones/:z/applications/:id/client-secret         GET
  /v1/zones/:z/resources[/:id]                        GET POST / GET PATCH DELETE
  /v1/policies/validate                               POST
  /v1/zones/:z/policies[/:id]                         GET POST / GET DELETE
  /v1/zones/:z/policies/:id/versions                  POST
  /v1/zones/:z/policy-sets[/:id]                      GET POST / GET DELETE
  /v1/zones/:z/policy-sets/:id/versions[/:versionId]  POST / GET
  /v1/zones/:z/policy-sets/:id/activate               POST (202)
  /v1/zones/:z/policy-sets/:id/activation-status      GET (?version_id=)
  /v1/zones/:z/audit                                  GET (since, until, request_id, decision,
                                                      event_type, application_id, ...)
  /v1/zones/:z/audit/by-request/:requestId[/explain]  GET
Audit service (services-audit.mdx "Supported Read Paths"), path prefix /audit only:
  GET /api/audit/search      needs the audit admin token (``audit-admin-token``); 404 when no
                             installation configured one, as documented.

Where the docs are silent, the emulator chooses (also listed in README.md):
  1. Mandates are ES256 JWTs signed with a per-zone P-256 key (``kid`` = zone key id);
     claims iss, aud, sub (= application id), sub_type "application", client_id, zone_id,
     use, scope, target_resources, jti, iat, nbf, exp.  aud is ``caracal-gateway`` for
     use=gateway and ``caracal-sts`` for use=session.
  2. An exchange that names ``resource`` mints a use=gateway mandate directly (the real STS
     wants Session/Delegation context from the Coordinator, which is not emulated); one that
     names none mints a use=session mandate (reusable, accepted as ``subject_token``).
  3. Policy content (a string, or a JSON object) is the emulator's own rule format:
     ``{"rules": [{"application_id": A, "resource": R, "scopes": [S...]}]}`` (each rule
     allows; nothing else does).  A policy acts only through the zone's active policy-set
     version (sdks-admin.mdx "Policy activation example"); activation is immediate, and
     activation-status reports ``loaded``.  Deleting a policy removes its rules from effect.
  4. A requested scope must be declared by a requested resource (else 400 invalid_scope) and
     allowed by the active policy for that application and resource (else 403
     access_denied, with request_id, and a deny audit event).  An unknown resource is 400
     invalid_target.  ``scope`` is required when ``resource`` is given.  ``ttl_seconds``
     1..3600, default 900.  Unknown zone/application or a wrong secret: 401 invalid_client.
  5. Request ids: every STS and Gateway answer carries ``X-Request-Id`` (a UUID made here;
     an incoming one is ignored); error bodies carry ``request_id``.
  6. The Gateway's upstream is emulated: once every check passes it answers
     ``upstream_status`` (default 200, see /_emulator/settings) with a JSON body
     {upstream, resource, method, path, request_id}.  Allowed requests write two audit events
     for the request id (tutorials-protect-an-api.mdx step 4): ``authorization_decision``
     (decision allow) and ``gateway_action_result`` (status).  A denial writes one
     ``authorization_decision`` (decision deny, ``reason`` = the error code); a replay writes
     ``replay_detected``.  An event needs a zone: a token whose zone cannot be read writes none.
  7. Gateway error codes: 400 invalid_request, 401 invalid_token, 403 access_denied /
     scope_insufficient, 404 resource_not_found, 502 sts_unavailable, 503 circuit_open.
     The preflight window is 5 s; the token size bound 8 KiB.  A mandate whose application
     was deleted counts as revoked (401).
  8. Audit by request: ``GET .../audit/by-request/:id`` is a list ({request_id, items,
     next_cursor: null}); an unknown id gives empty items (events arrive asynchronously in a
     real deployment: a canary polls).  ``explain`` is 404 not_found without events.  Events are
     hash-chained per zone (content_sha256, prev_content_sha256).
  9. Shapes: ids are UUIDs (another id in a path: 400 invalid_id); names 1..200 chars;
     resource identifiers ``scheme://...`` unique per zone (409 already_exists); objects carry
     created_at/updated_at (RFC 3339).  Application create and rotate-secret return the
     plaintext ``client_secret``; PATCH {client_secret} stores one without echoing it.
     A zone with applications, resources, policies or policy sets left is not deleted: 409
     zone_not_empty (details.counts).  Unknown path 404 not_found; known path, other method
     405 method_not_allowed; bad query values 400 invalid_request.
 10. Installations: the admin tokens are set per installation through
     ``PUT /_emulator/installations/{name}``; each installation sees only its own zones
     (zone ids are global, so STS and Gateway find any zone).  With none set every admin call
     is 401.  STS internal endpoints with no STS token configured: 401.

Not emulated: providers, workloads, grants, subject-issuers (Federated users, id_token
subject tokens: 400 invalid_request), approvals, sessions, delegations, admin-tokens, audit
retention, DCR, metrics, CSV export, the system zone, persistence across restarts.

Control endpoints (no auth; every host and listener): /_emulator/healthz, stats, requests (each
with method, host, path, headers -- the Authorization value redacted --, status and listener),
faults (ops below), reset, installations, settings.  Fault ops: ``sts_token``, ``gateway``, ``admin.<group>.<verb>``
(e.g. ``admin.zones.create``), ``audit_search``.  A ``deny`` on ``gateway`` or ``sts_token``
refuses after the mandate/client checks and writes the deny audit event; ``errors_5xx`` on
``gateway`` is a 502 sts_unavailable (503: circuit_open).

Logging: method, path (no query) and status only, as the other emulators.
"""

from __future__ import annotations

import argparse
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets as pysecrets
import sys
import threading
import time
import urllib.parse
import uuid
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emulator_common import (  # noqa: E402
    App, EmulatorServer, Request, Response, Route, b64url, b64url_decode, log, serve,
    write_ready_file,
)

NAME = "caracal-api"
HOSTS = {"sts.caracal.test": "sts", "gateway.caracal.test": "gateway", "api.caracal.test": "api"}
PREFIXES = ("sts", "gateway", "api", "audit")
PLAIN_ROLES = ("sts", "gateway", "api", "audit")
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
SINGLETONS = ("grant_type", "subject_token", "subject_token_type", "scope", "zone_id",
              "application_id", "client_secret", "session_id", "agent_session_id",
              "delegation_edge_id", "ttl_seconds", "approval_id", "actor_token",
              "actor_token_type", "client_assertion", "client_assertion_type", "audience",
              "requested_token_type")
DEFAULT_TTL = 900
MAX_TTL = 3600
PREFLIGHT_WINDOW = 5
MAX_TOKEN_BYTES = 8192
AUD = {"gateway": "caracal-gateway", "session": "caracal-sts"}
RESOURCE_RE = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$")
SCOPE_RE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")   # RFC 6749 scope-token


def now_rfc3339(t: float | None = None) -> str:
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1000):03d}Z"


def parse_rfc3339(text: str) -> float:
    import datetime as dt

    text = text.strip().replace("Z", "+00:00")
    return dt.datetime.fromisoformat(text).timestamp()


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
        return True
    except ValueError:
        return False


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


class ApiError(Exception):
    """An Admin API error: {error, error_description[, details]}."""

    def __init__(self, status: int, code: str, description: str, details: Any = None,
                 headers: dict[str, str] | None = None):
        super().__init__(description)
        self.status, self.code, self.description, self.details = status, code, description, details
        self.headers = headers or {}

    def response(self) -> Response:
        body: dict[str, Any] = {"error": self.code, "error_description": self.description}
        if self.details is not None:
            body["details"] = self.details
        return Response(self.status, body, headers=self.headers)


class OAuthError(Exception):
    """An STS or Gateway error: {error, error_description, request_id}."""

    def __init__(self, status: int, code: str, description: str, audit: bool = False,
                 headers: dict[str, str] | None = None):
        super().__init__(description)
        self.status, self.code, self.description, self.audit = status, code, description, audit
        self.headers = headers or {}


def invalid_body(issues: list[dict[str, Any]], description: str = "Request body failed validation") -> ApiError:
    return ApiError(400, "invalid_body", description, {"issues": issues})


def issue(path: list[Any], message: str) -> dict[str, Any]:
    return {"path": path, "message": message}


def not_found(kind: str, ident: str) -> ApiError:
    return ApiError(404, "not_found", f"{kind} {ident} not found")


# --------------------------------------------------------------------------------------
# ES256 JWTs (per-zone keys)
# --------------------------------------------------------------------------------------


class ZoneKey:
    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        self.private = ec.generate_private_key(ec.SECP256R1())
        nums = self.private.public_key().public_numbers()
        self.x = b64url(nums.x.to_bytes(32, "big"))
        self.y = b64url(nums.y.to_bytes(32, "big"))
        self.kid = hashlib.sha256(f"{self.x}.{self.y}".encode()).hexdigest()[:16]

    def jwk(self) -> dict[str, str]:
        return {"kty": "EC", "crv": "P-256", "x": self.x, "y": self.y, "kid": self.kid,
                "alg": "ES256", "use": "sig"}

    def sign(self, claims: dict[str, Any]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        head = b64url(json.dumps({"alg": "ES256", "typ": "JWT", "kid": self.kid},
                                 separators=(",", ":")).encode())
        body = b64url(json.dumps(claims, separators=(",", ":")).encode())
        der = self.private.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{head}.{body}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def verify(self, token: str) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        head, body, sig = token.split(".")
        raw = b64url_decode(sig)
        if len(raw) != 64:
            return False
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        try:
            self.private.public_key().verify(der, f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
            return True
        except InvalidSignature:
            return False


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a JWT")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValueError("malformed JWT")
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("malformed JWT")
    return header, claims


# --------------------------------------------------------------------------------------
# Policy content (the emulator's own rule format; see the module docstring, choice 3)
# --------------------------------------------------------------------------------------


def parse_policy_content(content: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """-> (rules, issues).  ``content`` is a JSON string or object with ``rules``."""
    if isinstance(content, str):
        try:
            doc = json.loads(content)
        except ValueError:
            return [], [issue(["content"], "Policy content must be the emulator's JSON rule "
                              "document: {\"rules\": [{\"application_id\", \"resource\", \"scopes\"}]}")]
    else:
        doc = content
    if not isinstance(doc, dict) or set(doc) - {"rules"} or not isinstance(doc.get("rules"), list):
        return [], [issue(["content"], "Policy content must be an object with exactly one key, "
                          "\"rules\", a list")]
    rules: list[dict[str, Any]] = []
    issues: list[dict[str, Any]] = []
    for i, rule in enumerate(doc["rules"]):
        where = ["content", "rules", i]
        if not isinstance(rule, dict):
            issues.append(issue(where, "Expected object"))
            continue
        extra = set(rule) - {"application_id", "resource", "scopes"}
        for key in sorted(extra):
            issues.append(issue(where + [key], "Unrecognized key"))
        app = rule.get("application_id")
        if not isinstance(app, str) or not app:
            issues.append(issue(where + ["application_id"], "Required"))
        res = rule.get("resource")
        if not isinstance(res, str) or not RESOURCE_RE.match(res):
            issues.append(issue(where + ["resource"], "Expected a resource identifier (scheme://...)"))
        scopes = rule.get("scopes")
        if (not isinstance(scopes, list) or not scopes
                or not all(isinstance(s, str) and SCOPE_RE.match(s) for s in scopes)):
            issues.append(issue(where + ["scopes"], "Expected a non-empty list of scope strings"))
        if not extra and isinstance(app, str) and app and isinstance(res, str) and RESOURCE_RE.match(res) \
                and isinstance(scopes, list) and scopes and all(isinstance(s, str) and SCOPE_RE.match(s) for s in scopes):
            rules.append({"application_id": app, "resource": res, "scopes": list(scopes)})
    return rules, issues


# --------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------


class Installation:
    def __init__(self, name: str, admin: str, sts: str | None, audit: str | None):
        self.name, self.admin_token, self.sts_token, self.audit_token = name, admin, sts, audit


class Zone:
    def __init__(self, installation: str, name: str, description: str | None):
        self.id = str(uuid.uuid4())
        self.installation = installation
        self.name = name
        self.description = description
        self.created = self.updated = time.time()
        self.key = ZoneKey()
        self.applications: dict[str, dict[str, Any]] = {}
        self.resources: dict[str, dict[str, Any]] = {}
        self.policies: dict[str, dict[str, Any]] = {}
        self.policy_sets: dict[str, dict[str, Any]] = {}
        self.active: tuple[str, str] | None = None    # (policy set id, version id)
        self.audit: list[dict[str, Any]] = []

    def json(self) -> dict[str, Any]:
        active = None
        if self.active:
            active = {"policy_set_id": self.active[0], "version_id": self.active[1]}
        return {"id": self.id, "name": self.name, "description": self.description,
                "dcr_enabled": False, "active_policy_set": active,
                "created_at": now_rfc3339(self.created), "updated_at": now_rfc3339(self.updated)}


def public(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if not k.startswith("_")}


# --------------------------------------------------------------------------------------
# The application
# --------------------------------------------------------------------------------------


class CaracalApp(App):
    name = NAME

    def __init__(self, issuer: str, latency_ms: int = 0):
        super().__init__(latency_ms)
        self.issuer = issuer.rstrip("/")
        self.lock = threading.RLock()
        self.installations: dict[str, Installation] = {}
        self.zones: dict[str, Zone] = {}
        self.used_jti: dict[str, float] = {}
        self.upstream_status = 200
        self.audit_delay_ms = 0

    def reset_data(self) -> None:
        with self.lock:
            self.installations.clear()
            self.zones.clear()
            self.used_jti.clear()
            self.upstream_status = 200
            self.audit_delay_ms = 0

    def describe(self) -> dict[str, Any]:
        with self.lock:
            return {"issuer": self.issuer, "installations": sorted(self.installations),
                    "hosts": sorted(HOSTS)}

    # -- request log: headers too, the Authorization value redacted -------------------------
    def record(self, req: Request, op: str, status: int, write: bool) -> None:
        role = listener_role(req)
        headers: dict[str, str] = {}
        for k, v in req.headers.items():
            if k.lower() in ("authorization", "proxy-authorization", "cookie"):
                scheme = v.split(" ", 1)[0] if " " in v else ""
                v = f"{scheme} [redacted]".strip()
            headers[k] = v
        self.stats.record(op, req.method, req.raw_path, status, write,
                          extra={"host": req.host, "headers": headers,
                                 "listener": f"plain-{role}" if role else "https"})

    # -- control endpoints beyond the common ones --------------------------------------------
    def admin(self, req: Request) -> Response:
        path = req.path.rstrip("/")
        m = req.method
        try:
            if path == "/_emulator/installations" and m == "GET":
                with self.lock:
                    return Response(200, {"installations": [
                        {"name": i.name, "admin_token": True, "sts_admin_token": i.sts_token is not None,
                         "audit_admin_token": i.audit_token is not None,
                         "zones": sum(1 for z in self.zones.values() if z.installation == i.name)}
                        for i in self.installations.values()]})
            if path.startswith("/_emulator/installations/"):
                name = path[len("/_emulator/installations/"):]
                if not re.match(r"^[A-Za-z0-9_.-]{1,100}$", name):
                    return Response(400, {"error": "installation names are [A-Za-z0-9_.-]{1,100}"})
                if m == "PUT":
                    return self.put_installation(name, req.json())
                if m == "DELETE":
                    with self.lock:
                        if self.installations.pop(name, None) is None:
                            return Response(404, {"error": f"no installation {name}"})
                        for zid in [z.id for z in self.zones.values() if z.installation == name]:
                            del self.zones[zid]
                    return Response(200, {"deleted": name})
            if path == "/_emulator/settings" and m == "GET":
                return Response(200, self.settings())
            if path == "/_emulator/settings" and m == "POST":
                spec = req.json() or {}
                if not isinstance(spec, dict) or set(spec) - {"upstream_status", "audit_delay_ms"}:
                    return Response(400, {"error": "settings: upstream_status, audit_delay_ms"})
                us = spec.get("upstream_status", self.upstream_status)
                ad = spec.get("audit_delay_ms", self.audit_delay_ms)
                if isinstance(us, bool) or not isinstance(us, int) or not 100 <= us <= 599:
                    return Response(400, {"error": "upstream_status must be an HTTP status"})
                if isinstance(ad, bool) or not isinstance(ad, (int, float)) or ad < 0:
                    return Response(400, {"error": "audit_delay_ms must be a non-negative number"})
                with self.lock:
                    self.upstream_status, self.audit_delay_ms = us, ad
                return Response(200, self.settings())
        except ValueError as exc:
            return Response(400, {"error": str(exc)})
        return super().admin(req)

    def settings(self) -> dict[str, Any]:
        return {"upstream_status": self.upstream_status, "audit_delay_ms": self.audit_delay_ms}

    def put_installation(self, name: str, spec: Any) -> Response:
        if not isinstance(spec, dict) or set(spec) - {"admin_token", "sts_admin_token", "audit_admin_token"}:
            return Response(400, {"error": "body: {admin_token, sts_admin_token?, audit_admin_token?}"})
        tokens = [spec.get("admin_token"), spec.get("sts_admin_token"), spec.get("audit_admin_token")]
        if not isinstance(tokens[0], str) or not tokens[0]:
            return Response(400, {"error": "admin_token is required (a non-empty string)"})
        for t in tokens[1:]:
            if t is not None and (not isinstance(t, str) or not t):
                return Response(400, {"error": "tokens must be non-empty strings"})
        with self.lock:
            for other in self.installations.values():
                if other.name != name and set(filter(None, tokens)) & {other.admin_token, other.sts_token,
                                                                       other.audit_token}:
                    return Response(409, {"error": f"a token is already used by installation {other.name}"})
            self.installations[name] = Installation(name, *tokens)
        return Response(200, {"name": name, "admin_token": True,
                              "sts_admin_token": tokens[1] is not None,
                              "audit_admin_token": tokens[2] is not None})

    # -- routing ----------------------------------------------------------------------------
    def service(self, req: Request) -> tuple[str | None, list[str], str]:
        role = listener_role(req)
        if role is not None:   # a plain listener serves its role only, whatever the Host
            return role, req.segments, req.raw_path
        host = req.host.lower()
        if host.startswith("["):
            host = host.split("]")[0] + "]"
        else:
            host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        segs = req.segments
        if host in HOSTS:
            return HOSTS[host], segs, req.raw_path
        if segs and segs[0] in PREFIXES:
            raw = "/" + req.raw_path.split("/", 2)[2] if req.raw_path.count("/") >= 2 else "/"
            return segs[0], segs[1:] or [""], raw
        return None, segs, req.raw_path

    def route(self, req: Request) -> Route | Response:
        svc, segs, raw = self.service(req)
        if svc is None:
            return Response(404, {"error": "not_found", "error_description":
                                  "unknown host: use sts.caracal.test, gateway.caracal.test or "
                                  "api.caracal.test, or a /sts, /gateway, /api or /audit path prefix"})
        if svc in ("sts", "gateway", "api", "audit") and segs in (["health"], ["ready"]) and req.method == "GET":
            status = "ok" if segs == ["health"] else "ready"
            # tagged "discovery": a fault without ``ops`` leaves the probes alone
            return Route("health", lambda: Response(200, {"status": status, "service": svc}),
                         tags=("discovery",), auth=False)
        if svc == "sts":
            return self.route_sts(req, segs)
        if svc == "gateway":
            return Route("gateway", lambda: self.gateway(req, raw, None), auth=False)
        if svc == "audit":
            if segs == ["api", "audit", "search"] and req.method == "GET":
                return Route("audit_search", lambda: self.audit_search(req), auth=False)
            return Response(404, {"error": "not_found", "error_description": "no such audit route"})
        return self.route_admin(req, segs)

    # -- STS --------------------------------------------------------------------------------
    def route_sts(self, req: Request, segs: list[str]) -> Route | Response:
        m = req.method
        if segs == ["oauth", "2", "token"]:
            if m != "POST":
                return oauth_response(405, "invalid_request", "use POST", str(uuid.uuid4()))
            return Route("sts_token", lambda: self.token(req, None), auth=False, write=True)
        if segs == [".well-known", "jwks.json"] and m == "GET":
            return Route("sts_jwks", lambda: self.jwks(req), auth=False)
        if len(segs) == 4 and segs[:3] == ["internal", "policy", "status"] and m == "GET":
            return Route("sts_internal", lambda: self.sts_policy_status(req, segs[3]), auth=False)
        return oauth_response(404, "not_found", f"no STS route {m} /{'/'.join(segs)}", str(uuid.uuid4()))

    def jwks(self, req: Request) -> Response:
        zid = req.q("zone_id")
        if not zid:
            return Response(400, {"error": "invalid_request", "error_description": "zone_id is required"})
        with self.lock:
            zone = self.zones.get(zid)
            if zone is None:
                return Response(404, {"error": "not_found", "error_description": f"zone {zid} not found"})
            return Response(200, {"keys": [zone.key.jwk()]}, headers={"Cache-Control": "max-age=300"})

    def sts_policy_status(self, req: Request, zid: str) -> Response:
        token = bearer(req)
        with self.lock:
            inst = next((i for i in self.installations.values()
                         if i.sts_token and token and hmac.compare_digest(i.sts_token, token)), None)
            if inst is None:
                return Response(401, {"error": "unauthorized", "error_description":
                                      "STS internal endpoints need the STS admin token"})
            zone = self.zones.get(zid)
            if zone is None or zone.installation != inst.name:
                return Response(404, {"error": "not_found", "error_description": f"zone {zid} not found"})
            active = zone.active
            return Response(200, {"zone_id": zid, "status": "loaded" if active else "empty",
                                  "active_policy_set_id": active[0] if active else None,
                                  "active_version_id": active[1] if active else None})

    def token(self, req: Request, fault: tuple[str, dict[str, Any]] | None) -> Response:
        rid = str(uuid.uuid4())
        try:
            return self._token(req, rid, fault)
        except OAuthError as exc:
            return oauth_response(exc.status, exc.code, exc.description, rid, exc.headers)

    def _token(self, req: Request, rid: str, fault: tuple[str, dict[str, Any]] | None) -> Response:
        if req.query_string:
            raise OAuthError(400, "invalid_request", "query parameters are not accepted; send the "
                             "parameters in the form body")
        ctype = (req.header("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise OAuthError(400, "invalid_request", "the body must be application/x-www-form-urlencoded")
        try:
            pairs = urllib.parse.parse_qsl(req.body.decode("utf-8"), keep_blank_values=True,
                                           strict_parsing=bool(req.body))
        except (UnicodeDecodeError, ValueError):
            raise OAuthError(400, "invalid_request", "malformed form body")
        form: dict[str, str] = {}
        resources: list[str] = []
        for k, v in pairs:
            if k == "resource":
                resources.append(v)
                continue
            if k in form:
                raise OAuthError(400, "invalid_request", f"duplicate parameter {k}")
            form[k] = v
        if "actor_token" in form or "actor_token_type" in form:
            raise OAuthError(400, "invalid_token", "actor_token is not supported")
        if "client_assertion" in form or "client_assertion_type" in form:
            raise OAuthError(400, "invalid_request", "client_assertion is not accepted; "
                             "authenticate the application with client_secret")
        if form.get("grant_type") != TOKEN_EXCHANGE:
            if not form.get("grant_type"):
                raise OAuthError(400, "invalid_request", "grant_type is required")
            raise OAuthError(400, "unsupported_grant_type", f"grant_type must be {TOKEN_EXCHANGE}")
        for k in ("zone_id", "application_id", "client_secret"):
            if not form.get(k):
                raise OAuthError(400, "invalid_request", f"{k} is required")
        ttl = DEFAULT_TTL
        if "ttl_seconds" in form:
            if not re.fullmatch(r"[0-9]{1,9}", form["ttl_seconds"]) or not 1 <= int(form["ttl_seconds"]) <= MAX_TTL:
                raise OAuthError(400, "invalid_request", f"ttl_seconds must be an integer from 1 to {MAX_TTL}")
            ttl = int(form["ttl_seconds"])
        targets = sorted({r.strip() for r in resources if r.strip()})
        if resources and not targets:
            raise OAuthError(400, "invalid_target", "resource must not be empty")
        scope_text = form.get("scope", "")
        scopes = sorted(set(scope_text.split()))
        for s in scopes:
            if not SCOPE_RE.match(s):
                raise OAuthError(400, "invalid_scope", f"malformed scope {s!r}")
        for k in ("session_id", "agent_session_id", "delegation_edge_id", "approval_id"):
            if form.get(k):
                raise OAuthError(400, "invalid_request", f"{k}: Sessions, Delegations and Approvals "
                                 "are not emulated")
        with self.lock:
            zone = self.zones.get(form["zone_id"])
            app = zone.applications.get(form["application_id"]) if zone else None
            if zone is None or app is None:
                raise OAuthError(401, "invalid_client", "unknown zone or application")
            if not app.get("_secret") or not hmac.compare_digest(app["_secret"], form["client_secret"]):
                raise OAuthError(401, "invalid_client", "application authentication failed")
            subject = app["id"]
            if form.get("subject_token") or form.get("subject_token_type"):
                self.check_subject(zone, app, form)
            use = "gateway" if targets else "session"
            if targets and not scopes:
                raise OAuthError(400, "invalid_scope", "scope is required when resource is given")
            ctx = {"zone": zone, "application_id": app["id"], "resources": targets, "scopes": scopes,
                   "source": "sts"}
            for r in targets:
                if self.resource_by_identifier(zone, r) is None:
                    self.audit(zone, rid, "token_exchange", "deny", ctx, reason="invalid_target")
                    raise OAuthError(400, "invalid_target", f"resource {r} is not registered in the zone")
            if targets:
                declared = set()
                for r in targets:
                    declared |= set(self.resource_by_identifier(zone, r)["scopes"])
                undeclared = [s for s in scopes if s not in declared]
                if undeclared:
                    self.audit(zone, rid, "token_exchange", "deny", ctx, reason="invalid_scope")
                    raise OAuthError(400, "invalid_scope", "scope not declared by the requested "
                                     f"resources: {' '.join(undeclared)}")
            if fault is not None and fault[0] == "deny":
                self.audit(zone, rid, "token_exchange", "deny", ctx, reason="access_denied")
                raise OAuthError(403, "access_denied", "policy denied the exchange (injected fault)")
            if targets:
                missing = self.denied_scopes(zone, app["id"], targets, scopes)
                if missing:
                    self.audit(zone, rid, "token_exchange", "deny", ctx, reason="access_denied")
                    raise OAuthError(403, "access_denied", "policy does not allow "
                                     f"{' '.join(missing)} on {' '.join(targets)} for this application")
            now = int(time.time())
            claims = {"iss": self.issuer, "aud": AUD[use], "sub": subject, "sub_type": "application",
                      "client_id": app["id"], "zone_id": zone.id, "use": use,
                      "scope": " ".join(scopes), "target_resources": targets,
                      "jti": str(uuid.uuid4()), "iat": now, "nbf": now, "exp": now + ttl}
            token = zone.key.sign(claims)
            self.audit(zone, rid, "token_exchange", "allow", ctx, reason=None)
        body = {"access_token": token, "token_type": "Bearer", "expires_in": ttl,
                "issued_token_type": ACCESS_TOKEN_TYPE, "scope": " ".join(scopes),
                "target_resources": targets}
        return Response(200, body, headers={"Cache-Control": "no-store", "Pragma": "no-cache",
                                            "X-Request-Id": rid})

    def check_subject(self, zone: Zone, app: dict[str, Any], form: dict[str, str]) -> None:
        ttype = form.get("subject_token_type")
        tok = form.get("subject_token")
        if not tok or not ttype:
            raise OAuthError(400, "invalid_request", "subject_token and subject_token_type go together")
        if ttype == ID_TOKEN_TYPE:
            raise OAuthError(400, "invalid_request", "Federated user exchange (id_token) is not "
                             "emulated: no subject issuers")
        if ttype != ACCESS_TOKEN_TYPE:
            raise OAuthError(400, "invalid_request", "unsupported subject_token_type")
        claims = self.verify_mandate(tok, zone)
        if claims.get("use") != "session":
            raise OAuthError(400, "invalid_grant", "subject_token must be a session mandate "
                             "(resource and gateway mandates are not accepted)")
        if claims.get("client_id") != app["id"]:
            raise OAuthError(400, "invalid_grant", "subject_token was issued to another application")

    def verify_mandate(self, token: str, zone: Zone) -> dict[str, Any]:
        """Signature, zone, issuer and expiry of a mandate this STS issued (invalid_grant)."""
        try:
            header, claims = jwt_parts(token)
        except ValueError:
            raise OAuthError(400, "invalid_grant", "subject_token is malformed")
        if claims.get("zone_id") != zone.id or header.get("kid") != zone.key.kid or not zone.key.verify(token):
            raise OAuthError(400, "invalid_grant", "subject_token was not issued by this STS for this zone")
        if claims.get("iss") != self.issuer or not isinstance(claims.get("exp"), int) or claims["exp"] <= time.time():
            raise OAuthError(400, "invalid_grant", "subject_token is expired or invalid")
        return claims

    # -- policy ------------------------------------------------------------------------------
    def active_rules(self, zone: Zone) -> list[dict[str, Any]]:
        if not zone.active:
            return []
        ps = zone.policy_sets.get(zone.active[0])
        version = ps["_versions"].get(zone.active[1]) if ps else None
        if version is None:
            return []
        rules: list[dict[str, Any]] = []
        for ref in version["policies"]:
            pol = zone.policies.get(ref["policy_id"])
            if pol is None:
                continue   # deleted policy: its rules no longer apply
            pv = next((v for v in pol["_versions"] if v["id"] == ref["policy_version_id"]), None)
            if pv is not None:
                rules.extend(pv["_rules"])
        return rules

    def denied_scopes(self, zone: Zone, app_id: str, targets: list[str], scopes: list[str]) -> list[str]:
        """Scopes not allowed: each must be allowed on a requested resource that declares it."""
        rules = self.active_rules(zone)
        denied = []
        for s in scopes:
            ok = False
            for r in targets:
                res = self.resource_by_identifier(zone, r)
                if res is None or s not in res["scopes"]:
                    continue
                if any(rule["application_id"] == app_id and rule["resource"] == r and s in rule["scopes"]
                       for rule in rules):
                    ok = True
            if not ok:
                denied.append(s)
        return denied

    def resource_by_identifier(self, zone: Zone, ident: str) -> dict[str, Any] | None:
        return next((r for r in zone.resources.values() if r["identifier"] == ident), None)

    # -- audit -------------------------------------------------------------------------------
    def audit(self, zone: Zone, rid: str, event_type: str, decision: str | None, ctx: dict[str, Any],
              reason: str | None, **extra: Any) -> None:
        prev = zone.audit[-1]["content_sha256"] if zone.audit else None
        t = time.time()
        resources = ctx.get("resources") or []
        event = {
            "id": str(uuid.uuid4()), "zone_id": zone.id, "request_id": rid, "event_type": event_type,
            "decision": decision, "reason": reason, "source": ctx.get("source"),
            "application_id": ctx.get("application_id"), "subject_id": ctx.get("application_id"),
            "subject_kind": "application" if ctx.get("application_id") else None,
            "resource": resources[0] if len(resources) == 1 else (resources or None),
            "scopes": ctx.get("scopes") or [], "session_id": None, "authority_record_id": None,
            "labels": [], "occurred_at": now_rfc3339(t),
        }
        event.update(extra)
        content = json.dumps(event, sort_keys=True, separators=(",", ":")).encode()
        event["content_sha256"] = hashlib.sha256(content).hexdigest()
        event["prev_content_sha256"] = prev
        event["_visible_at"] = t + self.audit_delay_ms / 1000.0
        zone.audit.append(event)

    def visible_events(self, zone: Zone) -> list[dict[str, Any]]:
        now = time.time()
        return [public(e) for e in zone.audit if e["_visible_at"] <= now]

    def audit_search(self, req: Request) -> Response:
        token = bearer(req)
        with self.lock:
            configured = [i for i in self.installations.values() if i.audit_token]
            if not configured:
                return Response(404, {"error": "not_found"})
            inst = next((i for i in configured if token and hmac.compare_digest(i.audit_token, token)), None)
            if inst is None:
                return Response(401, {"error": "unauthorized", "error_description":
                                      "the audit admin token is required"})
            events = [e for z in self.zones.values() if z.installation == inst.name
                      for e in self.visible_events(z)]
        for key in ("zone_id", "request_id", "event_type", "decision", "application_id"):
            want = req.q(key)
            if want:
                events = [e for e in events if e.get(key) == want]
        return Response(200, {"items": events, "next_cursor": None})

    # -- Gateway -----------------------------------------------------------------------------
    def gateway(self, req: Request, raw_path: str, fault: tuple[str, dict[str, Any]] | None) -> Response:
        rid = str(uuid.uuid4())
        ctx: dict[str, Any] = {"source": "gateway"}
        zone_box: list[Zone] = []
        try:
            return self._gateway(req, raw_path, rid, ctx, zone_box, fault)
        except OAuthError as exc:
            if exc.audit and zone_box:
                with self.lock:
                    self.audit(zone_box[0], rid, "authorization_decision", "deny", ctx, reason=exc.code,
                               method=req.method, path=urllib.parse.urlsplit(raw_path).path)
            return oauth_response(exc.status, exc.code, exc.description, rid, exc.headers)

    def _gateway(self, req: Request, raw_path: str, rid: str, ctx: dict[str, Any],
                 zone_box: list[Zone], fault: tuple[str, dict[str, Any]] | None) -> Response:
        path = urllib.parse.urlsplit(raw_path).path or "/"
        # request preflight
        auth = req.header("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise OAuthError(401, "invalid_token", "a Bearer Gateway mandate is required",
                             headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if len(token) > MAX_TOKEN_BYTES:
            raise OAuthError(401, "invalid_token", "the mandate is too large")
        if req.header("X-Caracal-Client-ID") is not None:
            raise OAuthError(400, "invalid_request", "X-Caracal-Client-ID must not be set: the "
                             "application identity comes from the mandate")
        resource = (req.header("X-Caracal-Resource") or "").strip()
        if not resource:
            raise OAuthError(400, "invalid_request", "X-Caracal-Resource is required")
        decoded = urllib.parse.unquote(path)
        if any(seg in ("..", ".") for seg in decoded.split("/")) or "\\" in decoded or "\x00" in decoded:
            raise OAuthError(400, "invalid_request", "request path traversal is not allowed")
        # token validation
        try:
            header, claims = jwt_parts(token)
        except ValueError:
            raise OAuthError(401, "invalid_token", "the mandate is malformed")
        with self.lock:
            zid = claims.get("zone_id")
            if not isinstance(zid, str) or not zid:
                raise OAuthError(401, "invalid_token", "the mandate names no zone")
            zone = self.zones.get(zid)
            if zone is None:
                raise OAuthError(401, "invalid_token", "the mandate's zone is unknown")
            zone_box.append(zone)
            ctx.update({"application_id": claims.get("client_id") if isinstance(claims.get("client_id"), str) else None,
                        "resources": [resource]})
            if header.get("alg") != "ES256" or header.get("kid") != zone.key.kid or not zone.key.verify(token):
                ctx["application_id"] = None
                raise OAuthError(401, "invalid_token", "the mandate's signature is not valid", audit=True)
            ctx["scopes"] = sorted(set(str(claims.get("scope", "")).split()))
            exp = claims.get("exp")
            if claims.get("iss") != self.issuer:
                raise OAuthError(401, "invalid_token", "the mandate's issuer is not this STS", audit=True)
            if not isinstance(exp, int) or exp - PREFLIGHT_WINDOW <= time.time():
                raise OAuthError(401, "invalid_token", "the mandate is expired or expires within "
                                 "the preflight window", audit=True)
            if claims.get("use") != "gateway" or claims.get("aud") != AUD["gateway"]:
                raise OAuthError(401, "invalid_token", "only Gateway-ingress mandates (use=gateway) "
                                 "are accepted", audit=True)
            jti = claims.get("jti")
            if not isinstance(jti, str) or not jti:
                raise OAuthError(401, "invalid_token", "the mandate has no jti", audit=True)
            self.expire_jti()
            if jti in self.used_jti:
                self.audit(zone, rid, "replay_detected", "deny", ctx, reason="replay_detected",
                           method=req.method, path=path)
                raise OAuthError(401, "invalid_token", "the mandate was already used (replay)")
            self.used_jti[jti] = float(exp)
            app_id = ctx["application_id"]
            if app_id not in zone.applications:
                raise OAuthError(401, "invalid_token", "the mandate's application was revoked", audit=True)
            # resource resolution
            res = self.resource_by_identifier(zone, resource)
            if res is None:
                raise OAuthError(404, "resource_not_found", f"resource {resource} is not routed in the zone",
                                 audit=True)
            targets = claims.get("target_resources") or []
            if resource not in targets:
                raise OAuthError(403, "access_denied", "the mandate does not cover this resource",
                                 audit=True)
            # STS exchange (emulated): faults, declared scopes, policy
            if fault is not None:
                kind, spec = fault
                if kind == "deny":
                    raise OAuthError(403, "access_denied", "policy denied the request (injected fault)",
                                     audit=True)
                if kind == "throttle":
                    raise OAuthError(429, "rate_limited", "too many requests (injected fault)", audit=True,
                                     headers={"Retry-After": str(spec.get("retry_after", 1))})
                status = spec.get("status", 503)
                if status == 503:
                    raise OAuthError(503, "circuit_open", "the STS circuit is open (injected fault)",
                                     audit=True)
                raise OAuthError(502, "sts_unavailable", "the STS exchange failed (injected fault)",
                                 audit=True)
            undeclared = [s for s in ctx["scopes"] if s not in res["scopes"]]
            if undeclared or not ctx["scopes"]:
                raise OAuthError(403, "scope_insufficient", "the mandate's scopes are not declared by "
                                 f"the resource: {' '.join(undeclared) or '(none)'}", audit=True)
            denied = self.denied_scopes(zone, app_id, [resource], ctx["scopes"])
            if denied:
                raise OAuthError(403, "access_denied", f"policy no longer allows {' '.join(denied)}",
                                 audit=True)
            status = self.upstream_status
            self.audit(zone, rid, "authorization_decision", "allow", ctx, reason=None,
                       method=req.method, path=path)
            self.audit(zone, rid, "gateway_action_result", None, ctx, reason=None,
                       method=req.method, path=path, status=status, upstream=res["upstream_url"])
        body = {"upstream": res["upstream_url"], "resource": resource, "method": req.method,
                "path": path, "request_id": rid}
        return Response(status, body, headers={"X-Request-Id": rid})

    def expire_jti(self) -> None:
        now = time.time()
        for k in [k for k, exp in self.used_jti.items() if exp < now]:
            del self.used_jti[k]

    # -- faults ------------------------------------------------------------------------------
    def fault_response(self, kind: str, spec: dict[str, Any], req: Request, route: Route) -> Response:
        if route.op == "gateway":
            _, _, raw = self.service(req)
            return self.gateway(req, raw, (kind, spec))
        headers = {"Retry-After": str(spec.get("retry_after", 1))} if kind == "throttle" else {}
        if route.op == "sts_token":
            if kind == "deny":
                return self.token(req, (kind, spec))
            rid = str(uuid.uuid4())
            if kind == "throttle":
                return oauth_response(429, "temporarily_unavailable", "too many requests (injected fault)",
                                      rid, headers)
            return oauth_response(spec.get("status", 503), "server_error",
                                  "the token service failed (injected fault)", rid)
        if kind == "throttle":
            return ApiError(429, "rate_limited", "too many requests (injected fault)", headers=headers).response()
        if kind == "errors_5xx":
            status = spec.get("status", 503)
            code = "service_unavailable" if status == 503 else "internal_error"
            return ApiError(status, code, "injected fault").response()
        return ApiError(403, "zone_forbidden", "the admin token may not do this (injected fault)").response()

    def internal_error(self) -> Response:
        return Response(500, {"error": "internal_error", "error_description": "internal emulator error"})

    # -- Admin API -----------------------------------------------------------------------------
    def authenticate(self, req: Request, route: Route) -> Response | None:
        header = req.header("Authorization") or ""
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return ApiError(401, "unauthorized", "an admin token is required (Authorization: Bearer)",
                            headers={"WWW-Authenticate": "Bearer"}).response()
        with self.lock:
            inst = next((i for i in self.installations.values()
                         if hmac.compare_digest(i.admin_token, token)), None)
        if inst is None:
            return ApiError(401, "invalid_admin_token", "the admin token is not valid",
                            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}).response()
        req.installation = inst.name  # type: ignore[attr-defined]
        return None

    def route_admin(self, req: Request, segs: list[str]) -> Route | Response:
        m = req.method
        if not segs or segs[0] != "v1":
            return ApiError(404, "not_found", f"no route {m} {req.raw_path}").response()
        s = segs[1:]

        def refuse(err: ApiError) -> Route:
            # under /v1 the token is checked first, so an unknown route says nothing to a stranger
            return Route("admin.unknown", err.response)

        def mk(op: str, fn: Callable[[], Response], write: bool = False) -> Route:
            def run() -> Response:
                try:
                    with self.lock:
                        return fn()
                except ApiError as exc:
                    return exc.response()
            return Route(f"admin.{op}", run, write=write)

        def methods(table: dict[str, tuple[str, Callable[[], Response], bool]]) -> Route | Response:
            if m in table:
                op, fn, write = table[m]
                return mk(op, fn, write)
            return refuse(ApiError(405, "method_not_allowed", f"{m} is not allowed here; use "
                                   f"{', '.join(sorted(table))}", headers={"Allow": ", ".join(sorted(table))}))

        if s == ["policies", "validate"]:
            return methods({"POST": ("policies.validate", lambda: self.validate_policy(req), False)})
        if s == ["zones"]:
            return methods({"GET": ("zones.list", lambda: self.list_zones(req), False),
                            "POST": ("zones.create", lambda: self.create_zone(req), True)})
        if len(s) >= 2 and s[0] == "zones":
            zid = s[1]
            zone = lambda: self.zone(req, zid)  # noqa: E731
            if len(s) == 2:
                return methods({"GET": ("zones.get", lambda: Response(200, zone().json()), False),
                                "PATCH": ("zones.patch", lambda: self.patch_zone(req, zone()), True),
                                "DELETE": ("zones.delete", lambda: self.delete_zone(zone()), True)})
            group = s[2]
            rest = s[3:]
            if group in ("applications", "resources", "policies", "policy-sets"):
                g = group.replace("-", "_")
                if not rest:
                    return methods({"GET": (f"{g}.list", lambda: self.list_objs(req, zone(), g), False),
                                    "POST": (f"{g}.create", lambda: getattr(self, f"create_{g}")(req, zone()), True)})
                oid = rest[0]
                item = lambda: self.obj(zone(), g, oid)  # noqa: E731
                if len(rest) == 1:
                    table: dict[str, tuple[str, Callable[[], Response], bool]] = {
                        "GET": (f"{g}.get", lambda: Response(200, self.view(zone(), g, item())), False),
                        "DELETE": (f"{g}.delete", lambda: self.delete_obj(zone(), g, item()), True)}
                    if g in ("applications", "resources"):
                        table["PATCH"] = (f"{g}.patch", lambda: getattr(self, f"patch_{g}")(req, zone(), item()), True)
                    return methods(table)
                sub = rest[1]
                if g == "applications" and rest[1:] == ["rotate-secret"]:
                    return methods({"POST": ("applications.rotate_secret", lambda: self.rotate(item()), True)})
                if g == "applications" and rest[1:] == ["client-secret"]:
                    return methods({"GET": ("applications.client_secret", lambda: self.reveal(zone(), item()), False)})
                if g == "policies" and rest[1:] == ["versions"]:
                    return methods({"POST": ("policies.add_version", lambda: self.add_policy_version(req, item()), True)})
                if g == "policy_sets" and sub == "versions" and len(rest) == 2:
                    return methods({"GET": ("policy_sets.list_versions",
                                            lambda: self.list_set_versions(req, item()), False),
                                    "POST": ("policy_sets.add_version",
                                             lambda: self.add_set_version(req, zone(), item()), True)})
                if g == "policy_sets" and sub == "versions" and len(rest) == 3:
                    return methods({"GET": ("policy_sets.get_version",
                                            lambda: Response(200, self.set_version(item(), rest[2])), False)})
                if g == "policy_sets" and rest[1:] == ["activate"]:
                    return methods({"POST": ("policy_sets.activate", lambda: self.activate(req, zone(), item()), True)})
                if g == "policy_sets" and rest[1:] == ["activation-status"]:
                    return methods({"GET": ("policy_sets.activation_status",
                                            lambda: self.activation_status(req, zone(), item()), False)})
            if group == "audit":
                if not rest:
                    return methods({"GET": ("audit.list", lambda: self.audit_list(req, zone()), False)})
                if rest[0] == "by-request" and len(rest) == 2:
                    return methods({"GET": ("audit.by_request", lambda: self.by_request(zone(), rest[1]), False)})
                if rest[0] == "by-request" and len(rest) == 3 and rest[2] == "explain":
                    return methods({"GET": ("audit.explain", lambda: self.explain(zone(), rest[1]), False)})
        return refuse(ApiError(404, "not_found", f"no route {m} {req.raw_path}"))

    # helpers ---------------------------------------------------------------------------------
    def body(self, req: Request, allowed: dict[str, Callable[[Any], str | None]],
             required: tuple[str, ...] = ()) -> dict[str, Any]:
        if not req.body.strip():
            raise invalid_body([issue([], "Required")], "Request body is required")
        try:
            data = json.loads(req.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise invalid_body([issue([], "Malformed JSON")], "Request body is not valid JSON")
        if not isinstance(data, dict):
            raise invalid_body([issue([], "Expected object")])
        issues = [issue([k], "Unrecognized key") for k in data if k not in allowed]
        for k in required:
            if k not in data or data[k] is None:
                issues.append(issue([k], "Required"))
        for k, check in allowed.items():
            if k in data and data[k] is not None:
                problem = check(data[k])
                if problem:
                    issues.append(issue([k], problem))
        if issues:
            raise invalid_body(issues)
        return data

    def zone(self, req: Request, zid: str) -> Zone:
        if not is_uuid(zid):
            raise ApiError(400, "invalid_id", f"{zid!r} is not a valid zone id")
        z = self.zones.get(zid)
        if z is None or z.installation != getattr(req, "installation", None):
            raise not_found("zone", zid)
        return z

    def obj(self, zone: Zone, group: str, oid: str) -> dict[str, Any]:
        if not is_uuid(oid):
            raise ApiError(400, "invalid_id", f"{oid!r} is not a valid id")
        o = getattr(zone, group).get(oid)
        if o is None:
            raise not_found(group.rstrip("s").replace("_", " ").replace("policie", "policy"), oid)
        return o

    def view(self, zone: Zone, group: str, o: dict[str, Any]) -> dict[str, Any]:
        out = public(o)
        if group == "policies":
            out["version"] = public(o["_versions"][-1])
            out["versions"] = [public(v) for v in o["_versions"]]
        if group == "policy_sets":
            out["active_version_id"] = zone.active[1] if zone.active and zone.active[0] == o["id"] else None
        return out

    def page(self, req: Request, items: list[dict[str, Any]]) -> Response:
        limit_raw = req.q("limit")
        limit = 200
        if limit_raw not in (None, ""):
            if not re.fullmatch(r"[0-9]{1,4}", limit_raw) or not 1 <= int(limit_raw) <= 500:
                raise ApiError(400, "invalid_request", "limit must be an integer from 1 to 500")
            limit = int(limit_raw)
        offset = 0
        cursor = req.q("cursor")
        if cursor:
            try:
                offset = int(json.loads(b64url_decode(cursor))["o"])
                if offset < 0:
                    raise ValueError
            except (ValueError, KeyError, TypeError, binascii.Error):
                raise ApiError(400, "invalid_request", "cursor is not valid")
        chunk = items[offset:offset + limit]
        nxt = b64url(json.dumps({"o": offset + limit}).encode()) if offset + limit < len(items) else None
        return Response(200, {"items": chunk, "next_cursor": nxt})

    # zones -------------------------------------------------------------------------------------
    def list_zones(self, req: Request) -> Response:
        inst = getattr(req, "installation", None)
        items = [z.json() for z in sorted(self.zones.values(), key=lambda z: z.created)
                 if z.installation == inst]
        return self.page(req, items)

    def create_zone(self, req: Request) -> Response:
        data = self.body(req, {"name": check_name, "description": check_text}, ("name",))
        z = Zone(req.installation, data["name"], data.get("description"))  # type: ignore[attr-defined]
        self.zones[z.id] = z
        return Response(201, z.json())

    def patch_zone(self, req: Request, z: Zone) -> Response:
        data = self.body(req, {"name": check_name, "description": check_text})
        if "name" in data and data["name"] is not None:
            z.name = data["name"]
        if "description" in data:
            z.description = data["description"]
        z.updated = time.time()
        return Response(200, z.json())

    def delete_zone(self, z: Zone) -> Response:
        counts = {g: len(getattr(z, g)) for g in ("applications", "resources", "policies", "policy_sets")}
        if any(counts.values()):
            raise ApiError(409, "zone_not_empty", "delete the zone's objects first", {"counts": counts})
        del self.zones[z.id]
        return Response(204)

    # generic objects -------------------------------------------------------------------------------
    def list_objs(self, req: Request, zone: Zone, group: str) -> Response:
        items = [self.view(zone, group, o) for o in sorted(getattr(zone, group).values(),
                                                           key=lambda o: o["created_at"])]
        return self.page(req, items)

    def new(self, zone: Zone, **fields: Any) -> dict[str, Any]:
        ts = now_rfc3339()
        return {"id": str(uuid.uuid4()), "zone_id": zone.id, **fields, "created_at": ts, "updated_at": ts}

    def delete_obj(self, zone: Zone, group: str, o: dict[str, Any]) -> Response:
        del getattr(zone, group)[o["id"]]
        if group == "policy_sets" and zone.active and zone.active[0] == o["id"]:
            zone.active = None
        return Response(204)

    # applications
    def create_applications(self, req: Request, zone: Zone) -> Response:
        data = self.body(req, {"name": check_name, "description": check_text}, ("name",))
        secret = "cs_" + pysecrets.token_urlsafe(32)
        app = self.new(zone, name=data["name"], description=data.get("description"),
                       registration_method="managed", client_secret_configured=True)
        app["_secret"] = secret
        zone.applications[app["id"]] = app
        return Response(201, {**public(app), "client_secret": secret})

    def patch_applications(self, req: Request, zone: Zone, app: dict[str, Any]) -> Response:
        data = self.body(req, {"name": check_name, "description": check_text, "client_secret": check_secret})
        for k in ("name", "description"):
            if k in data and (data[k] is not None or k == "description"):
                app[k] = data[k]
        if data.get("client_secret"):
            app["_secret"] = data["client_secret"]
        app["updated_at"] = now_rfc3339()
        return Response(200, public(app))

    def rotate(self, app: dict[str, Any]) -> Response:
        if not app.get("_secret"):
            raise ApiError(409, "client_secret_not_configured", "the application has no secret to replace")
        app["_secret"] = "cs_" + pysecrets.token_urlsafe(32)
        app["updated_at"] = now_rfc3339()
        return Response(200, {**public(app), "client_secret": app["_secret"]})

    def reveal(self, zone: Zone, app: dict[str, Any]) -> Response:
        self.audit(zone, str(uuid.uuid4()), "credential_revealed", None,
                   {"application_id": app["id"], "source": "api"}, reason=None)
        return Response(200, {"client_secret": app["_secret"]})

    # resources
    def create_resources(self, req: Request, zone: Zone) -> Response:
        data = self.body(req, {"name": check_name, "identifier": check_identifier, "scopes": check_scopes,
                               "upstream_url": check_url, "provider_id": check_provider,
                               "description": check_text},
                         ("name", "identifier", "scopes", "upstream_url"))
        if self.resource_by_identifier(zone, data["identifier"]) is not None:
            raise ApiError(409, "already_exists", f"resource {data['identifier']} already exists in the zone")
        res = self.new(zone, name=data["name"], identifier=data["identifier"], scopes=list(data["scopes"]),
                       upstream_url=data["upstream_url"], provider_id=None,
                       description=data.get("description"), gateway_routed=True)
        zone.resources[res["id"]] = res
        return Response(201, public(res))

    def patch_resources(self, req: Request, zone: Zone, res: dict[str, Any]) -> Response:
        data = self.body(req, {"name": check_name, "scopes": check_scopes, "upstream_url": check_url,
                               "provider_id": check_provider, "description": check_text})
        for k in ("name", "scopes", "upstream_url", "description"):
            if k in data and (data[k] is not None or k == "description"):
                res[k] = data[k]
        res["updated_at"] = now_rfc3339()
        return Response(200, public(res))

    # policies
    def validate_policy(self, req: Request) -> Response:
        data = self.body(req, {"content": lambda v: None}, ("content",))
        _, issues = parse_policy_content(data["content"])
        return Response(200, {"valid": not issues, "issues": issues})

    def policy_version(self, pol_id: str, n: int, content: Any) -> dict[str, Any]:
        rules, issues = parse_policy_content(content)
        if issues:
            raise invalid_body(issues)
        return {"id": str(uuid.uuid4()), "policy_id": pol_id, "version": n, "content": content,
                "created_at": now_rfc3339(), "_rules": rules}

    def create_policies(self, req: Request, zone: Zone) -> Response:
        data = self.body(req, {"name": check_name, "content": lambda v: None, "description": check_text},
                         ("name", "content"))
        if any(p["name"] == data["name"] for p in zone.policies.values()):
            raise ApiError(409, "already_exists", f"policy {data['name']} already exists in the zone")
        pol = self.new(zone, name=data["name"], description=data.get("description"))
        pol["_versions"] = [self.policy_version(pol["id"], 1, data["content"])]
        zone.policies[pol["id"]] = pol
        return Response(201, self.view(zone, "policies", pol))

    def add_policy_version(self, req: Request, pol: dict[str, Any]) -> Response:
        data = self.body(req, {"content": lambda v: None}, ("content",))
        v = self.policy_version(pol["id"], len(pol["_versions"]) + 1, data["content"])
        pol["_versions"].append(v)
        pol["updated_at"] = now_rfc3339()
        return Response(201, public(v))

    # policy sets
    def create_policy_sets(self, req: Request, zone: Zone) -> Response:
        data = self.body(req, {"name": check_name, "description": check_text}, ("name",))
        ps = self.new(zone, name=data["name"], description=data.get("description"))
        ps["_versions"] = {}
        zone.policy_sets[ps["id"]] = ps
        return Response(201, self.view(zone, "policy_sets", ps))

    def add_set_version(self, req: Request, zone: Zone, ps: dict[str, Any]) -> Response:
        try:
            raw = json.loads(req.body.decode("utf-8")) if req.body.strip() else None
        except (ValueError, UnicodeDecodeError):
            raise invalid_body([issue([], "Malformed JSON")], "Request body is not valid JSON")
        refs = raw if isinstance(raw, list) else (raw.get("policies") if isinstance(raw, dict) else None)
        if isinstance(raw, dict) and set(raw) - {"policies"}:
            raise invalid_body([issue([k], "Unrecognized key") for k in sorted(set(raw) - {"policies"})])
        if not isinstance(refs, list) or not refs:
            raise invalid_body([issue(["policies"], "Expected a non-empty list of {policy_version_id}")])
        out = []
        for i, ref in enumerate(refs):
            pvid = ref.get("policy_version_id") if isinstance(ref, dict) else None
            if not isinstance(ref, dict) or set(ref) - {"policy_version_id"} or not isinstance(pvid, str):
                raise invalid_body([issue(["policies", i], "Expected {policy_version_id}")])
            owner = next((p for p in zone.policies.values() if any(v["id"] == pvid for v in p["_versions"])), None)
            if owner is None:
                raise invalid_body([issue(["policies", i, "policy_version_id"],
                                          f"policy version {pvid} not found in the zone")])
            out.append({"policy_id": owner["id"], "policy_version_id": pvid})
        v = {"id": str(uuid.uuid4()), "policy_set_id": ps["id"], "version": len(ps["_versions"]) + 1,
             "policies": out, "created_at": now_rfc3339()}
        ps["_versions"][v["id"]] = v
        return Response(201, v)

    def list_set_versions(self, req: Request, ps: dict[str, Any]) -> Response:
        return self.page(req, list(ps["_versions"].values()))

    def set_version(self, ps: dict[str, Any], vid: str) -> dict[str, Any]:
        if not is_uuid(vid):
            raise ApiError(400, "invalid_id", f"{vid!r} is not a valid id")
        v = ps["_versions"].get(vid)
        if v is None:
            raise not_found("policy set version", vid)
        return v

    def activate(self, req: Request, zone: Zone, ps: dict[str, Any]) -> Response:
        data = self.body(req, {"version_id": lambda v: None if isinstance(v, str) else "Expected string"},
                         ("version_id",))
        v = self.set_version(ps, data["version_id"])
        zone.active = (ps["id"], v["id"])
        zone.updated = time.time()
        self.audit(zone, str(uuid.uuid4()), "policy_set_activated", None, {"source": "api"}, reason=None,
                   policy_set_id=ps["id"], version_id=v["id"])
        return Response(202, {"policy_set_id": ps["id"], "version_id": v["id"],
                              "propagation_status": "pending"})

    def activation_status(self, req: Request, zone: Zone, ps: dict[str, Any]) -> Response:
        vid = req.q("version_id")
        if not vid:
            if not zone.active or zone.active[0] != ps["id"]:
                raise ApiError(400, "invalid_request", "version_id is required (no version of this set is active)")
            vid = zone.active[1]
        v = self.set_version(ps, vid)
        active = zone.active == (ps["id"], v["id"])
        return Response(200, {"policy_set_id": ps["id"], "version_id": v["id"], "active": active,
                              "propagation_status": "loaded" if active else "superseded"})

    # audit
    def audit_list(self, req: Request, zone: Zone) -> Response:
        events = self.visible_events(zone)
        for key in ("request_id", "decision", "event_type", "application_id", "session_id",
                    "authority_record_id"):
            want = req.q(key)
            if want:
                events = [e for e in events if e.get(key) == want]
        label = req.q("label")
        if label:
            events = [e for e in events if label in e.get("labels", [])]
        for key, keep in (("since", lambda t, b: t >= b), ("until", lambda t, b: t < b)):
            raw = req.q(key)
            if raw:
                try:
                    bound = parse_rfc3339(raw)
                except ValueError:
                    raise ApiError(400, "invalid_request", f"{key} must be an RFC 3339 time")
                events = [e for e in events if keep(parse_rfc3339(e["occurred_at"]), bound)]
        return self.page(req, events)

    def by_request(self, zone: Zone, rid: str) -> Response:
        events = [e for e in self.visible_events(zone) if e["request_id"] == rid]
        return Response(200, {"request_id": rid, "items": events, "next_cursor": None})

    def explain(self, zone: Zone, rid: str) -> Response:
        events = [e for e in self.visible_events(zone) if e["request_id"] == rid]
        if not events:
            raise not_found("request", rid)
        decisions = [e for e in events if e["decision"]]
        final = decisions[-1] if decisions else None
        return Response(200, {
            "request_id": rid, "decision": final["decision"] if final else None,
            "reason": final["reason"] if final else None,
            "application_id": events[0]["application_id"], "resource": events[0]["resource"],
            "scopes": events[0]["scopes"],
            "active_policy_set": zone.json()["active_policy_set"], "events": events})


# --------------------------------------------------------------------------------------
# Small pieces
# --------------------------------------------------------------------------------------


class PlainServer(EmulatorServer):
    """A plain-HTTP listener of one role (``--plain-roles``), on the app of the HTTPS server."""

    def __init__(self, address: tuple[str, int], app: App, role: str):
        self.role = role
        super().__init__(address, app, ssl_context=None)


def listener_role(req: Request) -> str | None:
    """The role of the plain listener ``req`` arrived on; None on the HTTPS server."""
    server = req.handler.server if req.handler is not None else None
    return server.role if isinstance(server, PlainServer) else None


def parse_roles(text: str) -> list[str]:
    roles = [r.strip() for r in text.split(",") if r.strip()]
    bad = [r for r in roles if r not in PLAIN_ROLES]
    if bad or len(set(roles)) != len(roles):
        raise argparse.ArgumentTypeError(
            f"--plain-roles: a comma-separated subset of {','.join(PLAIN_ROLES)}, each once (got {text!r})")
    return roles


def bearer(req: Request) -> str | None:
    scheme, _, token = (req.header("Authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def oauth_response(status: int, code: str, description: str, rid: str,
                   headers: dict[str, str] | None = None) -> Response:
    h = {"X-Request-Id": rid, "Cache-Control": "no-store"}
    h.update(headers or {})
    return Response(status, {"error": code, "error_description": description, "request_id": rid}, headers=h)


def check_name(v: Any) -> str | None:
    return None if isinstance(v, str) and 1 <= len(v.strip()) <= 200 else "Expected a string of 1 to 200 characters"


def check_text(v: Any) -> str | None:
    return None if isinstance(v, str) and len(v) <= 2000 else "Expected a string of at most 2000 characters"


def check_secret(v: Any) -> str | None:
    return None if isinstance(v, str) and 16 <= len(v) <= 512 else "Expected a string of 16 to 512 characters"


def check_identifier(v: Any) -> str | None:
    return None if isinstance(v, str) and len(v) <= 512 and RESOURCE_RE.match(v) else \
        "Expected a resource identifier (scheme://name)"


def check_scopes(v: Any) -> str | None:
    ok = isinstance(v, list) and v and all(isinstance(s, str) and SCOPE_RE.match(s) for s in v)
    return None if ok else "Expected a non-empty list of scope strings"


def check_url(v: Any) -> str | None:
    if not isinstance(v, str):
        return "Expected string"
    parts = urllib.parse.urlsplit(v)
    return None if parts.scheme in ("http", "https") and parts.netloc else "Expected an http(s) URL"


def check_provider(v: Any) -> str | None:
    return "Providers are not emulated: omit provider_id or send null (the None provider)"


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port (see --ready-file)")
    ap.add_argument("--state-dir", required=True, help="working directory (certificates unless --tls-dir)")
    ap.add_argument("--tls-dir", help="the bed's emulator CA and certificate (default: --state-dir)")
    ap.add_argument("--issuer", default="https://sts.caracal.test", help="the mandates' iss claim")
    ap.add_argument("--latency-ms", type=int, default=0, help="delay every API request")
    ap.add_argument("--ready-file", help="write {port, url, pid, ca, plain} here once listening")
    ap.add_argument("--plain-roles", type=parse_roles, default="sts,gateway,api",
                    help="one plain-HTTP listener per role on 127.0.0.1 (free ports, the ready file's "
                         "plain); every non-/_emulator/ request there goes to that role; '' for none")
    args = ap.parse_args(argv)

    from emulator_tls import ensure_certs, server_context

    os.makedirs(args.state_dir, exist_ok=True)
    paths = ensure_certs(args.tls_dir or args.state_dir)
    app = CaracalApp(args.issuer, latency_ms=args.latency_ms)
    server = EmulatorServer((args.host, args.port), app, ssl_context=server_context(paths))
    plain = {role: PlainServer(("127.0.0.1", 0), app, role) for role in args.plain_roles}
    port = server.server_address[1]
    url = f"https://{args.host}:{port}"
    for role, p in plain.items():
        threading.Thread(target=p.serve_forever, kwargs={"poll_interval": 0.2}, name=f"plain-{role}",
                         daemon=True).start()
        log(NAME, f"plain-{role}: listening on http://127.0.0.1:{p.server_address[1]} (every path -> {role})")
    write_ready_file(args.ready_file, {"port": port, "url": url, "pid": os.getpid(), "ca": paths["ca"],
                                       "hosts": sorted(HOSTS), "issuer": args.issuer,
                                       "plain": {r: p.server_address[1] for r, p in plain.items()}})
    log(NAME, f"listening on {url} (hosts {', '.join(sorted(HOSTS))}; CA {paths['ca']})")
    try:
        serve(server, NAME)
    finally:
        for p in plain.values():
            p.shutdown()
            p.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The gRPC face of the GCP emulator, for clients that only speak gRPC (External Secrets Operator).

Serves, over TLS with ALPN h2 (grpcio's server), on the SAME ``GcpApp`` as the REST API:

  google.cloud.secretmanager.v1.SecretManagerService   every secret and version method the
                                                        REST API has (IAM policy methods:
                                                        UNIMPLEMENTED)
  google.iam.credentials.v1.IAMCredentials              GenerateAccessToken

Each call is turned into the REST request that means the same thing and run through the same
routing, authentication, faults, statistics and logging (``emulator_common.handle``), so the
two transports share one store and one behaviour; the answer's JSON becomes the proto message
and an error's ``status`` the gRPC status code.  Message types are the proto-plus types of the
official ``google-cloud-secret-manager`` and ``google-cloud-iam`` packages.

Unlike the REST API, gRPC always requires ``authorization: Bearer T`` (External Secrets always
sends one): T is an access token from ``POST /token`` or ``GenerateAccessToken``, or a
self-signed service-account JWT.  The identity binding token of workload identity is only good
for ``GenerateAccessToken`` (no secret grants the Kubernetes principal itself here).
"""

from __future__ import annotations

import json
import urllib.parse
from concurrent import futures
from typing import Any, Callable

import grpc
from google.cloud.iam_credentials_v1 import types as iamc
from google.cloud.secretmanager_v1 import types as sm

from emulator_common import Headers, Request, handle

SM_SERVICE = "google.cloud.secretmanager.v1.SecretManagerService"
IAM_SERVICE = "google.iam.credentials.v1.IAMCredentials"
INT_ENUMS = "json;enum-encoding=int"


def _json(msg: Any) -> dict[str, Any]:
    return json.loads(type(msg).to_json(msg, use_integers_for_enums=True, indent=None,
                                        always_print_fields_with_no_presence=False))


def _path(name: str) -> str:
    return "/v1/" + urllib.parse.quote(name, safe="/-_.~@")


# rpc name -> (request type, response type or None for google.protobuf.Empty,
#              request -> (method, path, query, body))
Build = Callable[[Any], "tuple[str, str, dict[str, str], Any]"]


def _list_query(r: Any) -> dict[str, str]:
    pairs = (("pageSize", str(r.page_size) if r.page_size else ""), ("pageToken", r.page_token),
             ("filter", r.filter))
    return {k: v for k, v in pairs if v}


def _state_change(verb: str) -> Build:
    return lambda r: ("POST", _path(r.name) + f":{verb}", {}, {"etag": r.etag} if r.etag else {})


SECRET_MANAGER: dict[str, tuple[Any, Any, Build]] = {
    "CreateSecret": (sm.CreateSecretRequest, sm.Secret,
                     lambda r: ("POST", _path(r.parent) + "/secrets", {"secretId": r.secret_id},
                                _json(r.secret))),
    "ListSecrets": (sm.ListSecretsRequest, sm.ListSecretsResponse,
                    lambda r: ("GET", _path(r.parent) + "/secrets", _list_query(r), None)),
    "GetSecret": (sm.GetSecretRequest, sm.Secret, lambda r: ("GET", _path(r.name), {}, None)),
    "UpdateSecret": (sm.UpdateSecretRequest, sm.Secret,
                     lambda r: ("PATCH", _path(r.secret.name),
                                {"updateMask": ",".join(r.update_mask.paths)}, _json(r.secret))),
    "DeleteSecret": (sm.DeleteSecretRequest, None,
                     lambda r: ("DELETE", _path(r.name), {"etag": r.etag} if r.etag else {}, None)),
    "AddSecretVersion": (sm.AddSecretVersionRequest, sm.SecretVersion,
                         lambda r: ("POST", _path(r.parent) + ":addVersion", {},
                                    {"payload": _json(r.payload)})),
    "ListSecretVersions": (sm.ListSecretVersionsRequest, sm.ListSecretVersionsResponse,
                           lambda r: ("GET", _path(r.parent) + "/versions", _list_query(r), None)),
    "GetSecretVersion": (sm.GetSecretVersionRequest, sm.SecretVersion,
                         lambda r: ("GET", _path(r.name), {}, None)),
    "AccessSecretVersion": (sm.AccessSecretVersionRequest, sm.AccessSecretVersionResponse,
                            lambda r: ("GET", _path(r.name) + ":access", {}, None)),
    "DisableSecretVersion": (sm.DisableSecretVersionRequest, sm.SecretVersion,
                             _state_change("disable")),
    "EnableSecretVersion": (sm.EnableSecretVersionRequest, sm.SecretVersion,
                            _state_change("enable")),
    "DestroySecretVersion": (sm.DestroySecretVersionRequest, sm.SecretVersion,
                             _state_change("destroy")),
}

IAM_CREDENTIALS: dict[str, tuple[Any, Any, Build]] = {
    "GenerateAccessToken": (
        iamc.GenerateAccessTokenRequest, iamc.GenerateAccessTokenResponse,
        lambda r: ("POST", _path(r.name) + ":generateAccessToken", {},
                   {"scope": list(r.scope), "delegates": list(r.delegates),
                    **({"lifetime": f"{r.lifetime.total_seconds():.0f}s"}
                       if r.lifetime and r.lifetime.total_seconds() else {})})),
}


class GrpcFront:
    """Turns gRPC calls into requests on a GcpApp."""

    def __init__(self, app: Any, host: str):
        self.app = app
        self.host = host

    def unary(self, rpc: str, resp_type: Any, build: Build) -> Callable[[Any, grpc.ServicerContext], Any]:
        def run(request: Any, context: grpc.ServicerContext) -> Any:
            meta = {k.lower(): v for k, v in context.invocation_metadata()}
            auth = meta.get("authorization")
            if not auth:
                context.abort(grpc.StatusCode.UNAUTHENTICATED,
                              "Request is missing required authentication credential. Expected "
                              "OAuth 2 access token, login cookie or other valid authentication "
                              "credential.")
            method, path, query, body = build(request)
            query = {"$alt": INT_ENUMS, **query}
            raw = path + "?" + urllib.parse.urlencode(query)
            data = json.dumps(body).encode() if body is not None else b""
            headers = Headers({"Authorization": auth, "Host": self.host,
                               "Content-Type": "application/json"})
            req = Request(None, method, raw, data, headers=headers, host=self.host)
            resp = handle(self.app, req)
            text = resp.body.decode("utf-8") if resp.body else "{}"
            if 200 <= resp.status < 300:
                if resp_type is None:
                    return None
                return resp_type.from_json(text, ignore_unknown_fields=True)
            try:
                err = json.loads(text).get("error", {})
                code = grpc.StatusCode[str(err.get("status", "UNKNOWN"))]
                message = str(err.get("message", ""))
            except (ValueError, KeyError, AttributeError):
                code, message = grpc.StatusCode.UNKNOWN, f"HTTP {resp.status}"
            context.abort(code, message)
        run.__name__ = rpc
        return run

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        out = []
        for service, table in ((SM_SERVICE, SECRET_MANAGER), (IAM_SERVICE, IAM_CREDENTIALS)):
            methods = {}
            for rpc, (req_type, resp_type, build) in table.items():
                methods[rpc] = grpc.unary_unary_rpc_method_handler(
                    self.unary(rpc, resp_type, build),
                    request_deserializer=req_type.deserialize,
                    response_serializer=(resp_type.serialize if resp_type is not None
                                         else (lambda _none: b"")))
            out.append(grpc.method_handlers_generic_handler(service, methods))
        return out


def start_grpc_server(app: Any, host: str, port: int, cert_pem: bytes, key_pem: bytes) -> tuple[grpc.Server, int]:
    """Start the TLS gRPC server (ALPN h2 by grpcio); returns it and its port."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="grpc"))
    server.add_generic_rpc_handlers(GrpcFront(app, "secretmanager.googleapis.com").handlers())
    creds = grpc.ssl_server_credentials([(key_pem, cert_pem)])
    bound = server.add_secure_port(f"{host}:{port}", creds)
    if not bound:
        raise OSError(f"cannot bind the gRPC port {host}:{port}")
    server.start()
    return server, bound

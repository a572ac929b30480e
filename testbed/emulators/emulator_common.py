"""Shared machinery of the test-bed emulators (GCP Secret Manager, Azure Key Vault).

Threaded HTTP(S) server, request plumbing, fault injection, request statistics and the
admin API under ``/_emulator/``.  Standard library only (plus ``cryptography`` in the
modules that need it).

Logging rule: only method, path (without query) and status are ever logged -- never a
header value, a request body or a response body, so no secret value can leak.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import ssl
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable

# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def atomic_write(path: str, data: bytes | str, mode: int = 0o600) -> None:
    if isinstance(data, str):
        data = data.encode("utf-8")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}.{threading.get_ident()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def load_or_create_secret(path: str | None, size: int = 32) -> bytes:
    """An HMAC key for self-contained tokens; persisted so a restart keeps tokens valid."""
    if path and os.path.exists(path):
        with open(path, "rb") as fh:
            data = fh.read().strip()
        if data:
            return b64url_decode(data.decode("ascii"))
    key = os.urandom(size)
    if path:
        atomic_write(path, b64url(key) + "\n")
    return key


class SignedTokens:
    """Opaque bearer tokens that carry their own claims, MAC'd with a server key."""

    def __init__(self, key: bytes, prefix: str):
        self.key = key
        self.prefix = prefix

    def issue(self, claims: dict[str, Any]) -> str:
        body = b64url(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        mac = b64url(hmac.new(self.key, body.encode(), hashlib.sha256).digest())
        return f"{self.prefix}{body}.{mac}"

    def verify(self, token: str) -> dict[str, Any] | None:
        if not token.startswith(self.prefix):
            return None
        rest = token[len(self.prefix):]
        if rest.count(".") != 1:
            return None
        body, mac = rest.split(".")
        want = b64url(hmac.new(self.key, body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(want, mac):
            return None
        try:
            claims = json.loads(b64url_decode(body))
        except ValueError:
            return None
        return claims if isinstance(claims, dict) else None


def log(name: str, message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    sys.stderr.write(f"{stamp} [{name}] {message}\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------------------
# Fault injection and statistics
# --------------------------------------------------------------------------------------

FAULT_KINDS = ("throttle", "deny", "errors_5xx")

# How a throttle states its delay (``throttle.hint``): ``header`` is ``Retry-After: SECONDS``
# (the default, both emulators); GCP also ``retry_info`` (a ``google.rpc.RetryInfo`` detail and
# no header, as Google's APIs send it); Azure also ``ms`` (``retry-after-ms``), ``x-ms``
# (``x-ms-retry-after-ms``) and ``http-date`` (``Retry-After`` as an HTTP date).
THROTTLE_HINTS = ("header", "retry_info", "ms", "x-ms", "http-date")


class FaultError(ValueError):
    pass


class Faults:
    """Fault configuration, set through ``POST /_emulator/faults``.

    Spec (every key optional; a POST replaces the whole configuration)::

        {"latency_ms": 50,
         "throttle":   {"count": 2, "retry_after": 1, "ops": [...]},
         "deny":       {"ops": ["create", "add_version"], "count": null},
         "errors_5xx": {"count": 1, "status": 503, "ops": [...]}}

    ``count`` is how many of the next matching requests are affected; ``null`` (or
    absent) means every matching request until the next reset.  ``ops`` limits a fault
    to requests carrying one of these operation tags; absent means every API operation
    except the token and discovery endpoints (list ``"token"``/``"discovery"`` to hit them).
    """

    def __init__(self, latency_ms: int = 0):
        self.lock = threading.Lock()
        self.default_latency_ms = int(latency_ms)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.latency_ms = self.default_latency_ms
            self.specs: dict[str, dict[str, Any]] = {}
            self.injected: dict[str, int] = {k: 0 for k in FAULT_KINDS}

    @staticmethod
    def _parse_count(value: Any, kind: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise FaultError(f"{kind}.count must be a non-negative integer or null")
        return value

    @staticmethod
    def _parse_ops(value: Any, kind: str) -> list[str] | None:
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise FaultError(f"{kind}.ops must be a list of operation names")
        return list(value)

    def configure(self, spec: Any) -> dict[str, Any]:
        if not isinstance(spec, dict):
            raise FaultError("fault spec must be a JSON object")
        unknown = set(spec) - {"latency_ms", *FAULT_KINDS}
        if unknown:
            raise FaultError(f"unknown fault keys: {sorted(unknown)}")
        latency = spec.get("latency_ms", 0) or 0
        if isinstance(latency, bool) or not isinstance(latency, (int, float)) or latency < 0:
            raise FaultError("latency_ms must be a non-negative number")
        specs: dict[str, dict[str, Any]] = {}
        for kind in FAULT_KINDS:
            raw = spec.get(kind)
            if raw is None:
                continue
            if not isinstance(raw, dict):
                raise FaultError(f"{kind} must be an object or null")
            allowed = {"count", "ops"}
            if kind == "throttle":
                allowed |= {"retry_after", "hint"}
            if kind == "errors_5xx":
                allowed |= {"status"}
            extra = set(raw) - allowed
            if extra:
                raise FaultError(f"unknown keys in {kind}: {sorted(extra)}")
            parsed: dict[str, Any] = {
                "count": self._parse_count(raw.get("count"), kind),
                "ops": self._parse_ops(raw.get("ops"), kind),
            }
            if kind == "throttle":
                ra = raw.get("retry_after", 1)
                if isinstance(ra, bool) or not isinstance(ra, (int, float)) or ra < 0:
                    raise FaultError("throttle.retry_after must be a non-negative number")
                parsed["retry_after"] = ra
                hint = raw.get("hint", "header")
                if hint not in THROTTLE_HINTS:
                    raise FaultError(f"throttle.hint must be one of {list(THROTTLE_HINTS)}")
                parsed["hint"] = hint
            if kind == "errors_5xx":
                status = raw.get("status", 503)
                if status not in (500, 502, 503, 504):
                    raise FaultError("errors_5xx.status must be 500, 502, 503 or 504")
                parsed["status"] = status
            if parsed["count"] == 0:
                continue
            specs[kind] = parsed
        with self.lock:
            self.latency_ms = float(latency)
            self.specs = specs
        return self.snapshot()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            out: dict[str, Any] = {"latency_ms": self.latency_ms}
            for kind in FAULT_KINDS:
                out[kind] = dict(self.specs[kind]) if kind in self.specs else None
            out["injected"] = dict(self.injected)
            return out

    def current_latency(self) -> float:
        with self.lock:
            return self.latency_ms

    def take(self, kind: str, tags: Iterable[str]) -> dict[str, Any] | None:
        """Consume one unit of fault ``kind`` if it applies to a request with ``tags``."""
        tags = set(tags)
        with self.lock:
            spec = self.specs.get(kind)
            if spec is None:
                return None
            ops = spec["ops"]
            if ops is None:
                if tags & {"token", "discovery"}:
                    return None
            elif not tags.intersection(ops):
                return None
            if spec["count"] is not None:
                spec["count"] -= 1
                if spec["count"] <= 0:
                    del self.specs[kind]
            self.injected[kind] += 1
            return dict(spec)


class Stats:
    """Per-operation request counters, for tests (``GET /_emulator/stats``)."""

    LOG_LIMIT = 2000

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.total = 0
            self.counts: dict[str, int] = {}
            self.ok: dict[str, int] = {}
            self.statuses: dict[str, dict[str, int]] = {}
            self.writes = 0
            self.log: list[dict[str, Any]] = []
            self.seq = 0

    def record(self, op: str, method: str, path: str, status: int, write: bool,
               extra: dict[str, Any] | None = None) -> None:
        with self.lock:
            self.total += 1
            self.counts[op] = self.counts.get(op, 0) + 1
            per = self.statuses.setdefault(op, {})
            per[str(status)] = per.get(str(status), 0) + 1
            if 200 <= status < 300:
                self.ok[op] = self.ok.get(op, 0) + 1
                if write:
                    self.writes += 1
            self.seq += 1
            entry = {"seq": self.seq, "time": time.time(), "op": op,
                     "method": method, "path": path, "status": status}
            if extra:
                entry.update(extra)
            self.log.append(entry)
            if len(self.log) > self.LOG_LIMIT:
                del self.log[: len(self.log) - self.LOG_LIMIT]

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"total": self.total, "writes": self.writes, "counts": dict(self.counts),
                    "ok": dict(self.ok),
                    "statuses": {k: dict(v) for k, v in self.statuses.items()}}

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(e) for e in self.log if e["seq"] > since]


# --------------------------------------------------------------------------------------
# Requests and responses
# --------------------------------------------------------------------------------------


class Headers(dict):
    """Case-insensitive header lookup for requests that did not come over HTTP (gRPC)."""

    def __init__(self, items: dict[str, str] | None = None):
        super().__init__({k.lower(): v for k, v in (items or {}).items()})

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(name.lower(), default)


class Request:
    def __init__(self, handler: "Handler | None", method: str, raw_path: str, body: bytes,
                 headers: Any = None, host: str | None = None):
        self.handler = handler
        self.default_host = host
        self.method = method
        parsed = urllib.parse.urlsplit(raw_path)
        self.raw_path = parsed.path
        self.path = urllib.parse.unquote(parsed.path)
        # Segments are split on the raw path, then unquoted: "%2F" stays inside a segment.
        self.segments = [urllib.parse.unquote(s) for s in parsed.path.split("/")[1:]]
        self.query_string = parsed.query
        self.query: dict[str, list[str]] = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        self.headers = handler.headers if handler is not None else (headers or Headers())
        self.body = body

    def q(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body.decode("utf-8"))

    @property
    def host(self) -> str:
        host = self.headers.get("Host")
        if not host and self.handler is not None:
            host = f"127.0.0.1:{self.handler.server.server_address[1]}"
        return host or self.default_host or "127.0.0.1"


class Response:
    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None,
                 content_type: str = "application/json; charset=UTF-8", raw: bytes | None = None):
        self.status = status
        self.headers = dict(headers or {})
        if raw is not None:
            self.body = raw
        elif body is None:
            self.body = b""
        else:
            self.body = (json.dumps(body, indent=2) + "\n").encode("utf-8")
        if self.body or status not in (204, 304):
            self.headers.setdefault("Content-Type", content_type)


class Route:
    """What the app decided about a request before it runs."""

    def __init__(self, op: str, run: Callable[[], Response], tags: Iterable[str] = (),
                 write: bool = False, auth: bool = True):
        self.op = op
        self.run = run
        self.tags = {op, *tags}
        self.write = write
        self.auth = auth


class App:
    """Interface implemented by each emulator."""

    name = "emulator"

    def __init__(self, latency_ms: int = 0):
        self.faults = Faults(latency_ms)
        self.stats = Stats()

    # to implement ---------------------------------------------------------------
    def route(self, req: Request) -> Route | Response:  # pragma: no cover - abstract
        raise NotImplementedError

    def authenticate(self, req: Request, route: Route) -> Response | None:  # pragma: no cover
        return None

    def fault_response(self, kind: str, spec: dict[str, Any], req: Request, route: Route) -> Response:
        raise NotImplementedError  # pragma: no cover

    def reset_data(self) -> None:  # pragma: no cover
        raise NotImplementedError

    def internal_error(self) -> Response:
        return Response(500, {"error": "internal emulator error"})

    def extra_headers(self, req: Request) -> dict[str, str]:
        return {}

    def describe(self) -> dict[str, Any]:
        return {}

    def record(self, req: Request, op: str, status: int, write: bool) -> None:
        """Count and log one API request (``/_emulator/requests``); an app may add fields."""
        self.stats.record(op, req.method, req.raw_path, status, write)

    # admin API ------------------------------------------------------------------
    def admin(self, req: Request) -> Response:
        path = req.path.rstrip("/")
        method = req.method
        try:
            if path == "/_emulator/healthz" and method == "GET":
                return Response(200, {"status": "ok", "emulator": self.name, **self.describe()})
            if path == "/_emulator/stats" and method == "GET":
                return Response(200, self.stats.snapshot())
            if path == "/_emulator/stats/reset" and method == "POST":
                self.stats.reset()
                return Response(200, self.stats.snapshot())
            if path == "/_emulator/requests" and method == "GET":
                since = int(req.q("since", "0") or 0)
                return Response(200, {"requests": self.stats.requests(since)})
            if path == "/_emulator/faults" and method == "GET":
                return Response(200, self.faults.snapshot())
            if path == "/_emulator/faults" and method == "POST":
                return Response(200, self.faults.configure(req.json() or {}))
            if path == "/_emulator/faults" and method == "DELETE":
                self.faults.reset()
                return Response(200, self.faults.snapshot())
            if path == "/_emulator/reset" and method == "POST":
                opts = req.json() or {}
                if not isinstance(opts, dict):
                    raise FaultError("reset options must be a JSON object")
                if opts.get("data", True):
                    self.reset_data()
                if opts.get("faults", True):
                    self.faults.reset()
                if opts.get("stats", True):
                    self.stats.reset()
                return Response(200, {"reset": True})
        except (FaultError, ValueError) as exc:
            return Response(400, {"error": str(exc)})
        return Response(404, {"error": f"no admin endpoint {method} {path}"})


# --------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Idle keep-alive connections are closed after this; longer than reqwest's 90 s
    # pool idle timeout so the client, not the server, retires idle connections.
    timeout = 300
    server_version = "caracal-emulator"
    # A response goes out as two writes (headers, then body). With Nagle's algorithm on, the
    # body waits for the client's delayed ACK of the headers (~40 ms on Linux), a stall no real
    # cloud endpoint has and one that would swamp the latency the tests inject.
    disable_nagle_algorithm = True
    sys_version = ""
    server: "EmulatorServer"

    def version_string(self) -> str:
        return self.server_version

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        pass  # _handle logs method, path (no query) and status itself

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        # Only used by the stdlib for protocol errors; keep it terse and body-free.
        log(self.server.app.name, "http: " + (format % args).split("\n")[0][:200])

    def _read_body(self) -> bytes | None:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    return None
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers
                        trailer = self.rfile.readline(65537)
                        if trailer in (b"\r\n", b"\n", b""):
                            break
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            n = int(length)
        except ValueError:
            return None
        if n < 0 or n > 32 * 1024 * 1024:
            return None
        return self.rfile.read(n)

    def _send(self, resp: Response, req: Request | None) -> None:
        self.send_response(resp.status)
        headers = dict(resp.headers)
        if req is not None:
            for k, v in self.server.app.extra_headers(req).items():
                headers.setdefault(k, v)
        headers["Content-Length"] = str(len(resp.body))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if resp.body and self.command != "HEAD":
            self.wfile.write(resp.body)
        self.wfile.flush()

    def _handle(self) -> None:
        app = self.server.app
        body = self._read_body()
        if body is None:
            self.close_connection = True
            self._send(Response(400, {"error": "bad request body"}), None)
            return
        req = Request(self, self.command, self.path, body)
        resp = handle(app, req)
        self._send(resp, req)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


def handle(app: App, req: Request) -> Response:
    """Route, authenticate, inject faults, run, record and log one API request (any transport)."""
    started = time.monotonic()
    op = "admin"
    write = False
    try:
        if req.path.startswith("/_emulator/") or req.path == "/_emulator":
            resp = app.admin(req)
        else:
            routed = app.route(req)
            if isinstance(routed, Response):
                op = "unknown"
                resp = routed
            else:
                op = routed.op
                write = routed.write
                resp = dispatch(app, req, routed)
    except Exception:  # noqa: BLE001 - an emulator bug must not kill the connection
        log(app.name, "internal error:\n" + traceback.format_exc(limit=8))
        resp = app.internal_error()
    if op != "admin":
        app.record(req, op, resp.status, write)
    elapsed_ms = (time.monotonic() - started) * 1000
    log(app.name, f"{req.method} {req.raw_path} -> {resp.status} ({op}, {elapsed_ms:.0f} ms)")
    return resp


def dispatch(app: App, req: Request, route: Route) -> Response:
    latency = app.faults.current_latency()
    if latency > 0:
        time.sleep(latency / 1000.0)
    if route.auth:
        denied = app.authenticate(req, route)
        if denied is not None:
            return denied
    for kind in ("throttle", "errors_5xx", "deny"):
        spec = app.faults.take(kind, route.tags)
        if spec is not None:
            return app.fault_response(kind, spec, req, route)
    return route.run()


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App, ssl_context: ssl.SSLContext | None = None):
        self.app = app
        self.ssl_context = ssl_context
        super().__init__(address, Handler)

    def finish_request(self, request: socket.socket, client_address: Any) -> None:
        # The TLS handshake runs here, in the per-connection thread, so a slow or broken
        # client never stalls the accept loop.
        if self.ssl_context is None:
            self.RequestHandlerClass(request, client_address, self)
            return
        request.settimeout(30)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log(self.app.name, f"TLS handshake failed: {exc.__class__.__name__}: {exc}")
            return
        tls.settimeout(None)
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, TimeoutError)):
            return
        log(self.app.name, "connection error: " + "".join(traceback.format_exception_only(exc)).strip())


def write_ready_file(path: str | None, info: dict[str, Any]) -> None:
    if path:
        atomic_write(path, json.dumps(info, indent=2) + "\n", mode=0o644)


def serve(server: EmulatorServer, name: str) -> None:
    import signal

    def _stop(signum: int, _frame: Any) -> None:
        log(name, f"signal {signum}: shutting down")
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        log(name, "stopped")

#!/usr/bin/env python3
"""The test bed's HTTPS proxy: HTTP CONNECT to a fixed set of cloud hosts, each mapped to an
emulator on 127.0.0.1; every other destination is refused (403).

External Secrets Operator has no endpoint setting for GCP Secret Manager or Entra ID, so the bed
starts it with ``HTTPS_PROXY`` pointing here (and ``SSL_CERT_FILE`` = the emulators' CA, whose
server certificate carries the cloud names): its requests to
``secretmanager.googleapis.com:443`` etc. arrive at the emulators unchanged, TLS end to end
between the controller and the emulator.  The same proxy carries Caracal's own ingress hosts
(``sts.caracal.test``, ``gateway.caracal.test``, ``api.caracal.test``) to caracal_api.py, so the
product's post-install canary reaches the emulated STS, Gateway and Admin API by those names.

  connect_proxy.py --routes ROUTES.json [--host 127.0.0.1] [--port 0] [--ready-file F]

ROUTES.json: ``{"secretmanager.googleapis.com:443": "127.0.0.1:40001", ...}`` (destination as
the client names it -> where it really goes).  Names are compared case-insensitively; the port
is part of the name.  Only ``CONNECT`` is served: a plain-HTTP proxy request is refused too.

Logs one line per tunnel: destination, status, bytes each way and duration -- never a header
or a byte of the tunnelled data.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emulator_common import log, write_ready_file  # noqa: E402

NAME = "connect-proxy"
MAX_HEAD = 16 * 1024


def load_routes(path: str) -> dict[str, tuple[str, int]]:
    with open(path, encoding="utf-8") as fh:
        raw = json.load(fh)
    routes: dict[str, tuple[str, int]] = {}
    for dest, target in raw.items():
        host, _, port = str(target).rpartition(":")
        routes[dest.lower()] = (host, int(port))
    return routes


class Proxy:
    def __init__(self, routes: dict[str, tuple[str, int]]):
        self.routes = routes

    async def reply(self, writer: asyncio.StreamWriter, status: int, reason: str, text: str = "") -> None:
        body = text.encode()
        head = f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\n"
        if body:
            head += "Content-Type: text/plain; charset=utf-8\r\n"
        head += "Connection: close\r\n\r\n"
        writer.write(head.encode() + body)
        try:
            await writer.drain()
        except ConnectionError:
            pass

    async def client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        started = time.monotonic()
        dest = "-"
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=30)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
                    ConnectionError):
                return
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = line.split()
            if len(parts) != 3:
                await self.reply(writer, 400, "Bad Request", "malformed request line\n")
                log(NAME, "malformed request -> 400")
                return
            method, target = parts[0].upper(), parts[1]
            if method != "CONNECT":
                # Only the destination's scheme and host are logged, never a path or query.
                dest = target.split("/")[2] if "://" in target else "?"
                await self.reply(writer, 403, "Forbidden",
                                 f"the test bed's proxy only tunnels (CONNECT) to the emulated "
                                 f"cloud hosts; {method} {dest} refused\n")
                log(NAME, f"{method} {dest} -> 403 (not CONNECT)")
                return
            dest = target.lower()
            if ":" not in dest:
                dest += ":443"
            upstream = self.routes.get(dest)
            if upstream is None:
                await self.reply(writer, 403, "Forbidden",
                                 f"destination {dest} is not one of the test bed's emulated cloud "
                                 f"hosts ({', '.join(sorted(self.routes))})\n")
                log(NAME, f"CONNECT {dest} -> 403 (not routed)")
                return
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection(*upstream), timeout=10)
            except (OSError, asyncio.TimeoutError) as exc:
                await self.reply(writer, 502, "Bad Gateway",
                                 f"the emulator for {dest} does not answer: {exc.__class__.__name__}\n")
                log(NAME, f"CONNECT {dest} -> 502 ({upstream[0]}:{upstream[1]}: {exc.__class__.__name__})")
                return
            writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            await writer.drain()
            counts = [0, 0]

            async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, i: int) -> None:
                try:
                    while True:
                        data = await src.read(65536)
                        if not data:
                            break
                        counts[i] += len(data)
                        dst.write(data)
                        await dst.drain()
                except (ConnectionError, asyncio.CancelledError):
                    pass
                finally:
                    try:
                        if dst.can_write_eof():
                            dst.write_eof()
                    except (OSError, RuntimeError):
                        pass

            await asyncio.gather(pipe(reader, up_writer, 0), pipe(up_reader, writer, 1))
            up_writer.close()
            elapsed = time.monotonic() - started
            log(NAME, f"CONNECT {dest} -> 200 ({upstream[0]}:{upstream[1]}, {counts[0]} B up, "
                      f"{counts[1]} B down, {elapsed:.1f} s)")
        except Exception as exc:  # noqa: BLE001 - one bad client must not stop the proxy
            log(NAME, f"error on {dest}: {exc.__class__.__name__}")
        finally:
            try:
                writer.close()
            except (OSError, RuntimeError):
                pass


async def main_async(args: argparse.Namespace) -> int:
    routes = load_routes(args.routes)
    proxy = Proxy(routes)
    server = await asyncio.start_server(proxy.client, args.host, args.port, limit=MAX_HEAD,
                                        reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    url = f"http://{args.host}:{port}"
    write_ready_file(args.ready_file, {"port": port, "url": url, "pid": os.getpid(),
                                       "routes": {k: f"{h}:{p}" for k, (h, p) in routes.items()}})
    log(NAME, f"listening on {url}; routes: "
              + ", ".join(f"{k} -> {h}:{p}" for k, (h, p) in sorted(routes.items())))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    log(NAME, "stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--routes", required=True, help="JSON file: destination host:port -> 127.0.0.1:port")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port (see --ready-file)")
    ap.add_argument("--ready-file", help="write {port, url, pid, routes} here once listening")
    args = ap.parse_args(argv)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())

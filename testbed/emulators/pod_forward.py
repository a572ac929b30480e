#!/usr/bin/env python3
"""Pipe stdin/stdout to one plain listener of caracal_api.py: kwok's port-forward command.

    pod_forward.py READY_FILE ROLE

kwok serves the kubelet's port-forward API for its fake pods; a ClusterPortForward ``command``
runs with the forwarded stream as stdin and stdout (testbed/lib/cluster.sh: Caracal's container
ports 8080, 8081 and 3000 -> roles sts, gateway and api).  This reads READY_FILE (caracal_api.py's
``--ready-file``) at start, so an emulator restarted on new ports is followed, connects to
127.0.0.1:``plain[ROLE]`` and copies bytes both ways, unbuffered:

- stdin -> socket; at stdin EOF the socket's write side is shut down (the server still answers);
- socket -> stdout; at socket EOF stdout is closed and the process exits 0.

Exit 2 with one line on stderr when READY_FILE, its ``plain[ROLE]`` or the connection is missing.
Standard library only; any python3.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from typing import NoReturn

CHUNK = 65536


def fail(message: str) -> NoReturn:
    sys.stderr.write(f"pod_forward: {message}\n")
    sys.stderr.flush()
    sys.exit(2)


def target_port(ready_file: str, role: str) -> int:
    try:
        with open(ready_file, encoding="utf-8") as fh:
            info = json.load(fh)
    except OSError as exc:
        fail(f"cannot read {ready_file}: {exc.strerror or exc}")
    except ValueError as exc:
        fail(f"{ready_file} is not JSON: {exc}")
    plain = info.get("plain") if isinstance(info, dict) else None
    if not isinstance(plain, dict):
        fail(f"{ready_file} has no 'plain' listeners (caracal_api.py without --plain-roles?)")
    port = plain.get(role)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        fail(f"{ready_file} has no plain listener for role {role!r} (has: {', '.join(sorted(plain)) or 'none'})")
    return port


def stdin_to_socket(sock: socket.socket) -> None:
    fd = sys.stdin.fileno()
    try:
        while True:
            data = os.read(fd, CHUNK)
            if not data:
                break
            sock.sendall(data)
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: pod_forward.py READY_FILE ROLE\n")
        return 2
    ready_file, role = argv
    port = target_port(ready_file, role)
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    except OSError as exc:
        fail(f"cannot connect to {role} at 127.0.0.1:{port}: {exc.strerror or exc}")
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # daemon: when the server has closed, the process ends even if stdin never does
    threading.Thread(target=stdin_to_socket, args=(sock,), daemon=True).start()
    out = sys.stdout.fileno()
    try:
        while True:
            data = sock.recv(CHUNK)
            if not data:
                break
            view = memoryview(data)
            while view:
                n = os.write(out, view)
                view = view[n:]
    except BrokenPipeError:
        pass   # the stream's reader went away: nothing left to deliver
    except OSError as exc:
        sys.stderr.write(f"pod_forward: {role} connection: {exc.strerror or exc}\n")
        return 1
    finally:
        try:
            os.close(out)
        except OSError:
            pass
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

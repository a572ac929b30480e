"""Fixtures for test_emulators.py: each emulator runs as a real subprocess on a free port.

The Azure Key Vault emulator is the Go program in azurekv/ (built once per session by
azurekv/build.sh); the others are the Python scripts beside this file.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import emulator_tls  # noqa: E402

# launch() names: a script beside this file, or this one for the Go Key Vault emulator.
AZURE_KV = "azure-kv"
AZ_TENANT = "00000000-0000-4000-8000-00000000ca1a"
AZ_CLIENT = "00000000-0000-4000-8000-00000000c11e"
AZ_SECRET = "caracal-testbed-client-secret"


@dataclass
class Emulator:
    name: str
    url: str
    port: int
    proc: subprocess.Popen
    log_path: Path
    state_dir: Path
    ready: dict
    verify: str | bool = True

    def admin(self, method: str, path: str, **kw) -> requests.Response:
        return requests.request(method, f"{self.url}/_emulator/{path}", verify=self.verify,
                                timeout=10, **kw)

    def reset(self) -> None:
        r = self.admin("POST", "reset")
        assert r.status_code == 200, r.text

    def faults(self, spec: dict) -> dict:
        r = self.admin("POST", "faults", json=spec)
        assert r.status_code == 200, r.text
        return r.json()

    def stats(self) -> dict:
        return self.admin("GET", "stats").json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@functools.lru_cache(maxsize=None)
def azure_kv_binary() -> str:
    """The Go Key Vault emulator, built once per session (azurekv/build.sh prints its path)."""
    r = subprocess.run([str(HERE / "azurekv" / "build.sh")], stdout=subprocess.PIPE, timeout=600,
                       check=True, text=True)
    return r.stdout.strip().splitlines()[-1]


def launch(script: str, state_dir: Path, *args: str) -> Emulator:
    state_dir.mkdir(parents=True, exist_ok=True)
    ready = state_dir / "ready.json"
    if ready.exists():
        ready.unlink()
    log_path = state_dir / "emulator.log"
    if script == AZURE_KV:
        # The Go binary makes no certificates: they are made first, as the bed's start script does.
        emulator_tls.ensure_certs(str(state_dir))
        cmd = [azure_kv_binary()]
    else:
        cmd = [sys.executable, str(HERE / script)]
    log = open(log_path, "ab")
    proc = subprocess.Popen([*cmd, "--port", "0",
                             "--state-dir", str(state_dir), "--ready-file", str(ready), *args],
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    deadline = time.time() + 30
    while not ready.exists() or not ready.read_text().strip():
        if proc.poll() is not None:
            raise RuntimeError(f"{script} exited: {log_path.read_text()}")
        if time.time() > deadline:
            proc.kill()
            raise RuntimeError(f"{script} did not become ready")
        time.sleep(0.05)
    info = json.loads(ready.read_text())
    verify: str | bool = info["ca"] if "ca" in info else True
    return Emulator(script, info["url"], info["port"], proc, log_path, state_dir, info, verify)


@pytest.fixture(scope="session")
def gcp_server(tmp_path_factory):
    emu = launch("gcp_sm.py", tmp_path_factory.mktemp("gcp-anon"), "--allow-anonymous")
    yield emu
    emu.stop()


@pytest.fixture(scope="session")
def gcp_auth_server(tmp_path_factory):
    emu = launch("gcp_sm.py", tmp_path_factory.mktemp("gcp-auth"))
    yield emu
    emu.stop()


@pytest.fixture(scope="session")
def azure_server(tmp_path_factory):
    emu = launch(AZURE_KV, tmp_path_factory.mktemp("azure"))
    yield emu
    emu.stop()


@pytest.fixture
def gcp(gcp_server):
    gcp_server.reset()
    return gcp_server


@pytest.fixture
def gcp_auth(gcp_auth_server):
    gcp_auth_server.reset()
    return gcp_auth_server


@pytest.fixture
def azure(azure_server):
    azure_server.reset()
    return azure_server

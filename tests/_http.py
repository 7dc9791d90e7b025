"""A real ``inferplan serve`` in a subprocess on a free loopback port, and a tiny client."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import inferplan

ROOT = Path(__file__).resolve().parents[1]
# The subprocess imports the same inferplan as the tests (installed or in-tree).
PACKAGE_ROOT = str(Path(inferplan.__file__).resolve().parents[1])


def package_env(**extra: str) -> dict[str, str]:
    """Return the environment, with the tests' inferplan first on the path, plus ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_ROOT, env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python -m inferplan serve ARGS`` until ``stop()``; ``env`` adds variables."""

    def __init__(self, *args: str, env: dict | None = None, port: int | None = None):
        self.port = port if port is not None else free_port()
        full_env = package_env(**(env or {}))
        cmd = [sys.executable, "-m", "inferplan", "serve", *args]
        if "--port" not in args and not (env and "INFERNO_PORT" in env):
            cmd += ["--port", str(self.port)]
        self.proc = subprocess.Popen(
            cmd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        deadline = time.time() + 60
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode()
                self.stop()  # closes the pipes
                raise RuntimeError(f"inferplan serve exited: {err}")
            try:
                status, _ = self.request("GET", "/healthz")
                if status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                self.stop()
                raise RuntimeError("inferplan serve did not answer within 60 s")
            time.sleep(0.1)

    def request(self, method: str, path: str, body=None, *, raw: bytes | None = None,
                timeout: float = 60.0):  # fmt: skip
        """(status, decoded JSON or raw bytes when not JSON) of one request."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
            headers = {"Content-Type": "application/json"} if data is not None else {}
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
        finally:
            conn.close()
        try:
            return resp.status, json.loads(payload) if payload else None
        except ValueError:
            return resp.status, payload

    def post(self, path: str, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def get(self, path: str, **kw):
        return self.request("GET", path, **kw)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

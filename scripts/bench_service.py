"""Load test of ``inferplan serve`` over real HTTP on the loopback (run by hand).

Starts the service in a subprocess (``inferplan serve --api analyzer`` on a free port), then
drives ``POST /target`` from ``--connections`` keep-alive connections for ``--seconds``
seconds with a raw asyncio HTTP/1.1 client (one request in flight per connection): first as
fast as it answers (closed loop: the throughput), then paced at ``--rate`` requests per second
in all (the latency at that throughput, counted from each request's scheduled time); it
reports throughput, latency percentiles and the CPU time the server and the client spent per
request; then sends ``--malformed`` malformed bodies (each must get a 4xx whose message names
the field at fault) and checks the service is still up.
As a baseline in the same run, ``GET /healthz`` (no computation) is driven the same way
for ``--baseline-seconds``: the difference is what sizing costs per request.

    python scripts/bench_service.py                      # 20 s, 8 connections
    python scripts/bench_service.py --seconds 5 --json out.json

Exit status 1 when a request failed or a malformed body was not refused as it should be.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

GOOD = {
    "RPS": 3, "maxBatchSize": 48, "avgInputTokens": 128, "avgOutputTokens": 512, "alpha": 12,
    "beta": 0.05, "gamma": 0.0005, "maxQueueSize": 128, "targetTTFT": 60, "targetITL": 20,
}  # fmt: skip


# (body, field that the answer must name)
def malformed_bodies(n: int, seed: int = 0) -> list[tuple[bytes, str | None]]:
    """Return ``n`` malformed request bodies and the field each one breaks."""
    rng = random.Random(seed)
    fields = list(GOOD)
    out: list[tuple[bytes, str | None]] = []
    kinds = ["negative", "string", "fraction", "nan", "bool", "missing_out", "zero_batch",
             "notjson", "array", "huge_batch", "null_body"]  # fmt: skip
    for i in range(n):
        kind = kinds[i % len(kinds)]
        body = dict(GOOD)
        field: str | None
        if kind == "negative":
            field = rng.choice(fields)
            body[field] = -rng.uniform(0.1, 100)
        elif kind == "string":
            field = rng.choice(fields)
            body[field] = "fast"
        elif kind == "fraction":
            field = rng.choice(["maxBatchSize", "maxQueueSize"])
            body[field] = 10.5
        elif kind == "nan":
            field = rng.choice(fields)
            raw = json.dumps(body).replace(f'"{field}": {json.dumps(body[field])}',
                                           f'"{field}": NaN')  # fmt: skip
            out.append((raw.encode(), field))
            continue
        elif kind == "bool":
            field = rng.choice(fields)
            body[field] = True
        elif kind == "missing_out":
            field = "avgOutputTokens"
            del body[field]
        elif kind == "zero_batch":
            field = "maxBatchSize"
            body[field] = 0
        elif kind == "huge_batch":
            field = "maxBatchSize"
            body[field] = 10**12
        elif kind == "notjson":
            out.append((b'{"RPS": 3, "maxBatchSize": ', None))
            continue
        elif kind == "array":
            out.append((b"[1, 2, 3]", None))
            continue
        else:
            out.append((b"", None))
            continue
        out.append((json.dumps(body).encode(), field))
    return out


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, api: str = "analyzer", workers: int = 1) -> subprocess.Popen:
    """Start the service in a subprocess on ``port``."""
    try:  # the server imports the inferplan this script would (installed or in-tree)
        import inferplan

        root = str(Path(inferplan.__file__).resolve().parents[1])
    except ImportError:
        root = str(ROOT / "python")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "inferplan", "serve", "--api", api, "--port", str(port),
         "--workers", str(workers)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited: {proc.stderr.read().decode()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the service did not start within 60 s")


class Conn:
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, reader, writer, port):
        self.r, self.w, self.port = reader, writer, port

    @classmethod
    async def open(cls, port):
        """Open a connection to the service."""
        r, w = await asyncio.open_connection("127.0.0.1", port)
        return cls(r, w, port)

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        """Send one request; return its status and body."""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.w.write(head.encode() + body)
        status_line = await self.r.readline()
        if not status_line:
            raise ConnectionError("connection closed")
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.r.readline()
            if line in (b"\r\n", b""):
                break
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        data = await self.r.readexactly(length) if length else b""
        return status, data

    def close(self):
        """Close the connection."""
        self.w.close()


async def drive(port, seconds, connections, method, path, bodies, rate=None):
    """Load the service with concurrent connections, closed loop or paced.

    Return Closed loop (``rate`` None: each connection sends its next request when the
    answer arrives) or paced (``rate`` req/s in all, each connection on a fixed schedule;
    latency is counted from the scheduled time, so a late start counts against the service).
    """
    lat: list[float] = []
    failures: list[str] = []
    start = time.perf_counter()
    stop = start + seconds
    gap = connections / rate if rate else 0.0

    async def worker(k):
        conn = await Conn.open(port)
        i = k
        due = start + gap * k / connections
        try:
            while time.perf_counter() < stop:
                body = bodies[i % len(bodies)]
                i += connections
                if rate:
                    due += gap
                    wait = due - time.perf_counter()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    t0 = due
                else:
                    t0 = time.perf_counter()
                try:
                    status, data = await conn.request(method, path, body)
                except (ConnectionError, asyncio.IncompleteReadError) as err:
                    failures.append(str(err))
                    conn = await Conn.open(port)
                    continue
                lat.append(time.perf_counter() - t0)
                if status != 200:
                    failures.append(f"{status} {data[:200]!r}")
        finally:
            conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(connections)))
    elapsed = time.perf_counter() - t0
    return lat, failures, elapsed


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its waited-for children (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def measured(proc, coro):
    """Run a load phase; add the CPU time the server and this client spent per request."""
    s0, c0 = cpu_seconds(proc.pid), time.process_time()
    out = summary(*asyncio.run(coro))
    n = max(out["requests"], 1)
    out["server_cpu_us_per_request"] = (cpu_seconds(proc.pid) - s0) / n * 1e6
    out["client_cpu_us_per_request"] = (time.process_time() - c0) / n * 1e6
    return out


def summary(lat, failures, elapsed):
    """Return the latency percentiles and throughput of a run."""
    import numpy as np

    a = np.sort(np.asarray(lat)) * 1000
    return {
        "requests": int(a.size), "failures": len(failures), "seconds": elapsed,
        "requests_per_s": a.size / elapsed,
        "p50_ms": float(np.percentile(a, 50)), "p90_ms": float(np.percentile(a, 90)),
        "p99_ms": float(np.percentile(a, 99)), "max_ms": float(a.max()),
    }  # fmt: skip


async def malformed(port, n):
    """Send ``n`` malformed bodies; return those mishandled, and the last status."""
    conn = await Conn.open(port)
    bad = []
    for body, field in malformed_bodies(n):
        status, data = await conn.request("POST", "/target", body)
        ok = 400 <= status < 500
        if ok and field is not None:
            try:
                msg = json.loads(data)
            except ValueError:
                msg = {}
            ok = msg.get("field") == field and field in msg.get("message", "")
        if not ok:
            bad.append({"body": body[:120].decode("utf-8", "replace"), "status": status,
                        "answer": data[:200].decode("utf-8", "replace")})  # fmt: skip
    status, _ = await conn.request("GET", "/healthz")
    conn.close()
    return bad, status


def main(argv=None) -> int:
    """Run the benchmark; return the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--baseline-seconds", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--malformed", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    ap.add_argument(
        "--rate", type=float, default=2000.0, help="paced phase: requests/s in all (default 2000)"
    )
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    port = free_port()
    proc = start_server(port, workers=args.workers)
    rng = random.Random(1)
    bodies = []
    for _ in range(997):  # distinct requests, as many autoscaler loops would send
        b = dict(GOOD, alpha=round(rng.uniform(6, 18), 3), beta=round(rng.uniform(0.03, 0.07), 4),
                 RPS=round(rng.uniform(0.5, 3), 3))  # fmt: skip
        bodies.append(json.dumps(b).encode())
    import gc

    gc.collect()
    gc.freeze()  # the client's own garbage collection is not the service's latency
    try:
        asyncio.run(drive(port, 1.0, args.connections, "POST", "/target", bodies))  # warm-up
        base = measured(
            proc, drive(port, args.baseline_seconds, args.connections, "GET", "/healthz", [b""])
        )
        target = measured(
            proc, drive(port, args.seconds, args.connections, "POST", "/target", bodies)
        )
        paced = measured(
            proc,
            drive(port, args.seconds, args.connections, "POST", "/target", bodies, args.rate),
        )
        bad, health = asyncio.run(malformed(port, args.malformed))
    finally:
        proc.terminate()
        proc.wait(10)
    result = {
        "connections": args.connections,
        "workers": args.workers,
        "target": target,
        "target_paced": dict(paced, offered_per_s=args.rate),
        "baseline_healthz": base,
        "malformed": {"sent": args.malformed, "not_refused_properly": len(bad),
                      "examples": bad[:5]},
        "healthz_after": health,
    }  # fmt: skip
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    ok = target["failures"] == 0 and paced["failures"] == 0 and not bad and health == 200
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Analyses per second of the chain kernel on every backend.

Analyses per second of the chain kernel on every backend, on the same random configurations,
and the per-call overhead of Replica.analyze from Python.

    python scripts/bench_kernel.py [--rows 100000]

Each figure is compared with the NumPy reference measured in this process.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import inferplan as ip
from inferplan._kernels import dispatch

from _bench_common import random_configs


def rate_of(fn, rows: int, repeat: int = 3) -> float:
    """Return rows per second of ``fn`` (best of ``repeat``)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return rows / best


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--numpy-rows",
        type=int,
        default=5_000,
        help="rows for the slow NumPy reference (same configurations)",
    )
    args = parser.parse_args()
    cfg = random_configs(args.rows)
    idle = ip.analyze_many(rate=0.0, metrics=["max_rate"], **cfg)
    rng = np.random.default_rng(2)
    rate = idle["max_rate"] * rng.uniform(0.05, 1.2, args.rows)
    results = {}
    for name in dispatch.available():
        dispatch.use(name)
        n = args.rows if name != "numpy" else args.numpy_rows
        sub = {k: v[:n] for k, v in cfg.items()}
        for threads in (1, 2) if name != "numpy" else (1,):
            ip.analyze_many(rate=rate[:n], threads=threads, **sub)  # warm-up (JIT)
            results[(name, threads)] = rate_of(
                lambda n=n, threads=threads, sub=sub: ip.analyze_many(
                    rate=rate[:n], threads=threads, **sub
                ),
                n,
            )
    dispatch.use(None)
    base = results[("numpy", 1)]
    print(f"{'backend':8s} {'threads':>7s} {'analyses/s':>14s} {'vs numpy':>10s}")
    for (name, threads), r in results.items():
        print(f"{name:8s} {threads:7d} {r:14,.0f} {r / base:9.0f}x")

    replica = ip.Replica(ip.DecodeOnly(19, 1, 1024), max_batch=48, max_queue=152)
    calls = 200_000
    t0 = time.perf_counter()
    for _ in range(calls):
        replica.analyze(0.5)
    per_call = (time.perf_counter() - t0) / calls
    one = {k: np.array([v]) for k, v in random_configs(1).items()}
    one.update(
        kind=np.array([0], np.int32),
        alpha=np.array([19.0]),
        beta=np.array([1.0]),
        out_tokens=np.array([1024.0]),
        max_batch=np.array([48]),
        max_queue=np.array([152.0]),
    )
    kernel = 1 / rate_of(
        lambda: ip.analyze_many(
            rate=np.full(20000, 0.5), **{k: np.repeat(v, 20000) for k, v in one.items()}, threads=1
        ),
        20000,
    )
    print(
        f"\nReplica.analyze from Python: {per_call * 1e6:.2f} us per call "
        f"(kernel alone {kernel * 1e6:.2f} us, overhead {(per_call - kernel) * 1e6:.2f} us)"
    )


if __name__ == "__main__":
    main()

"""Check that the kernel's arrival calls equal the NumPy reference on random replicas.

    PYTHONPATH=python python scripts/check_arrivals_native.py [--replicas 40] [--seed 1]

Random PrefillDecode replicas (unbounded, no and finite queues), arrival CVs 0, 0.3, 0.8,
1, 1.7 and 3, both fits of ``arrival_cv > 1`` and every admission rule: ``arrivals.analyze``
(every metric) and ``arrivals.ttft_quantile(..., by_batch=True)`` (the prefill-collision law
under immediate admission) on the C++ backend against the same calls on the numpy backend.
Prints the largest relative difference; exits non-zero above 1e-9 (the tests' tolerance,
tests/test_arrivals_native.py, which runs a CI-sized part of this).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import inferplan
from inferplan import arrivals
from inferplan._kernels import dispatch

CVS = (0.0, 0.3, 0.8, 1.0, 1.7, 3.0)
RULES = (None, "immediate", "iteration")


def pair(model, max_batch, max_queue):
    """Return the same replica on the cpp backend and on the numpy one."""
    out = []
    for backend in ("cpp", "numpy"):
        dispatch.use(backend)
        try:
            out.append(inferplan.Replica(model, max_batch=max_batch, max_queue=max_queue))
        finally:
            dispatch.use(None)
    return out


def rel(a: float, b: float) -> float:
    """Return the relative difference of a and b (0 when equal)."""
    return 0.0 if a == b else abs(a - b) / max(abs(a), abs(b))


def main() -> int:
    """Run the check."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", type=int, default=40, help="random replicas (default 40)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    worst = {"analyze": 0.0, "by_batch": 0.0}
    t0 = time.perf_counter()
    for trial in range(args.replicas):
        model = inferplan.PrefillDecode(
            rng.uniform(2, 20), rng.uniform(0.005, 0.05), rng.uniform(1e-5, 1e-4),
            rng.uniform(100, 3000), rng.uniform(50, 400), rng.choice([512, 2048, 8192]),
        )  # fmt: skip
        cpp, ref = pair(model, int(rng.integers(2, 40)), (None, 0, 30)[trial % 3])
        for cv in CVS:
            for fit in ("gamma", "balanced"):
                rate = rng.uniform(0.05, 0.95) * cpp.max_rate
                for rule in RULES:
                    kw = {"arrival_cv": cv, "admission": rule, "fit": fit}
                    a = arrivals.analyze(cpp, rate, **kw)
                    b = arrivals.analyze(ref, rate, **kw)
                    worst["analyze"] = max(worst["analyze"], *map(rel, a, b))
                    q = float(rng.choice([0.5, 0.9, 0.99]))
                    x = arrivals.ttft_quantile(cpp, rate, q, by_batch=True, **kw)
                    y = arrivals.ttft_quantile(ref, rate, q, by_batch=True, **kw)
                    worst["by_batch"] = max(worst["by_batch"], rel(x, y))
    print(f"{args.replicas} replicas x {len(CVS)} CVs x 2 fits x {len(RULES)} rules "
          f"({time.perf_counter() - t0:.0f} s): largest relative difference analyze "
          f"{worst['analyze']:.2g}, ttft_quantile by_batch {worst['by_batch']:.2g}")  # fmt: skip
    return 0 if max(worst.values()) <= 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())

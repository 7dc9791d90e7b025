"""Cost of inferplan.arrivals against the birth-death kernel, in the same process.

    PYTHONPATH=python python scripts/bench_arrivals.py

Baseline: ``Replica.analyze`` / ``Replica.size`` (the C++ kernel when built). Measured:
``arrivals.analyze`` / ``arrivals.size`` at ``arrival_cv`` 1 (the same call: the Poisson
path), 0.5 (a 4-phase Erlang mixture), 2 (an H2) and 0 (Erlang-64), on the DecodeOnly
replica of docs/accuracy.md (max_batch 48, unbounded queue) at 70% load, and the runtime's
PrefillDecode instance (max_batch 64). Prints microseconds per call and the ratio to the
baseline.
"""

from __future__ import annotations

import time

import inferplan
from inferplan import arrivals
from inferplan.lengths import Lengths

LENGTHS = Lengths(in_cv=1.0, out_cv=1.0)


def per_call(fn, min_time=0.5):
    """Return the mean time per call of ``fn``, in seconds."""
    n, elapsed = 1, 0.0
    while elapsed < min_time:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - t0
        n *= 2
    return elapsed / (n // 2) * 1e6


def main():
    """Run the benchmark."""
    print(f"backend: {inferplan.backend()}")
    cases = [
        ("DecodeOnly N=48", inferplan.Replica(inferplan.DecodeOnly(19, 1, 256), max_batch=48),
         dict(itl_ms=40.0)),
        ("PrefillDecode N=64", inferplan.Replica(
            inferplan.PrefillDecode(15, 0.01, 1.25e-4, 1155, 211), max_batch=64),
         dict(itl_ms=50.0, ttft_ms=2000.0)),
    ]  # fmt: skip
    for label, replica, targets in cases:
        rate = 0.7 * replica.max_rate
        base_a = per_call(lambda r=replica, x=rate: r.analyze(x))
        base_s = per_call(lambda r=replica, t=targets: r.size(**t))
        print(f"\n{label}: Replica.analyze {base_a:.1f} us, Replica.size {base_s:.1f} us")
        print("| arrival_cv | analyze (us) | x kernel | size (us) | x kernel |")
        print("|---|---|---|---|---|")
        for cv in (1.0, 0.5, 2.0, 0.0):
            a = per_call(lambda r=replica, x=rate, c=cv: arrivals.analyze(r, x, arrival_cv=c))
            s = per_call(lambda r=replica, c=cv, t=targets: arrivals.size(r, arrival_cv=c, **t),
                         min_time=0.3)  # fmt: skip
            print(f"| {cv:g} | {a:.1f} | {a / base_a:.1f} | {s:.0f} | {s / base_s:.1f} |")
        a = per_call(lambda r=replica, x=rate, ln=LENGTHS:
                     arrivals.analyze(r, x, arrival_cv=2.0, lengths=ln))  # fmt: skip
        print(f"| 2, lengths CV 1 | {a:.1f} | {a / base_a:.1f} | | |")


if __name__ == "__main__":
    main()

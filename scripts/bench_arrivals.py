"""Time inferplan.arrivals: the C++ kernel against the NumPy reference and the chain's kernel.

The C++ kernel (qbd.hpp) against the NumPy reference and against the birth-death kernel,
in the same process.

    PYTHONPATH=python python scripts/bench_arrivals.py

Baseline: ``Replica.analyze`` / ``Replica.size`` on the C++ backend. Measured:
``arrivals.analyze`` / ``arrivals.size`` at ``arrival_cv`` 1 (the Poisson path: the same
call), 0.5 (a 4-phase Erlang mixture), 2 (an H2) and 0 (Erlang-64), on a replica of the C++
backend (the kernel's solve) and on the same replica of the numpy backend (the NumPy
reference, :mod:`inferplan.phasetype`), for the DecodeOnly replica of docs/accuracy.md
(max_batch 48, unbounded queue) and the runtime's PrefillDecode instance (max_batch 64,
unbounded and with a queue of 64) at 70% load. Prints microseconds per call, the ratio of
the reference to the kernel, and the ratio of the kernel to the Poisson kernel call.
"""

from __future__ import annotations

import time

import inferplan
from inferplan import arrivals
from inferplan._kernels import dispatch
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


def replica(backend, model, max_batch, max_queue=None):
    """Return a Replica built on ``backend`` (dispatch restored afterwards)."""
    dispatch.use(backend)
    try:
        return inferplan.Replica(model, max_batch=max_batch, max_queue=max_queue)
    finally:
        dispatch.use(None)


def main():
    """Run the benchmark."""
    print(f"backend: {inferplan.backend()}")
    decode = inferplan.DecodeOnly(19, 1, 256)
    prefill = inferplan.PrefillDecode(15, 0.01, 1.25e-4, 1155, 211)
    cases = [
        ("DecodeOnly N=48, unbounded queue", decode, 48, None, {"itl_ms": 40.0}),
        ("PrefillDecode N=64, unbounded queue", prefill, 64, None,
         {"itl_ms": 50.0, "ttft_ms": 2000.0}),
        ("PrefillDecode N=64, queue 64", prefill, 64, 64, {"itl_ms": 50.0, "ttft_ms": 2000.0}),
    ]  # fmt: skip
    for label, model, n, q, targets in cases:
        cpp = replica("cpp", model, n, q)
        ref = replica("numpy", model, n, q)
        rate = 0.7 * cpp.max_rate
        base_a = per_call(lambda r=cpp, x=rate: r.analyze(x))
        base_s = per_call(lambda r=cpp, t=targets: r.size(**t))
        print(f"\n{label}: Replica.analyze {base_a:.1f} us, Replica.size {base_s:.1f} us (C++)")
        print("| arrival_cv | analyze C++ (us) | NumPy (us) | NumPy / C++ | x Poisson "
              "| size C++ (us) | NumPy (us) | NumPy / C++ | x Poisson |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|")
        for cv in (1.0, 0.5, 2.0, 0.0):
            a = per_call(lambda r=cpp, x=rate, c=cv: arrivals.analyze(r, x, arrival_cv=c))
            a_ref = per_call(lambda r=ref, x=rate, c=cv: arrivals.analyze(r, x, arrival_cv=c))
            s = per_call(lambda r=cpp, c=cv, t=targets: arrivals.size(r, arrival_cv=c, **t))
            s_ref = per_call(lambda r=ref, c=cv, t=targets: arrivals.size(r, arrival_cv=c, **t),
                             min_time=0.2)  # fmt: skip
            print(f"| {cv:g} | {a:.1f} | {a_ref:.1f} | {a_ref / a:.1f} | {a / base_a:.2f} "
                  f"| {s:.0f} | {s_ref:.0f} | {s_ref / s:.1f} | {s / base_s:.2f} |")  # fmt: skip
        a = per_call(lambda r=cpp, x=rate: arrivals.analyze(r, x, arrival_cv=2.0, lengths=LENGTHS))
        a_ref = per_call(
            lambda r=ref, x=rate: arrivals.analyze(r, x, arrival_cv=2.0, lengths=LENGTHS)
        )
        print(f"| 2, lengths CV 1 | {a:.1f} | {a_ref:.1f} | {a_ref / a:.1f} | | | | | |")
        if model is prefill:
            for rule in (None, "immediate"):
                kw = {"arrival_cv": 2.0, "admission": rule, "by_batch": True}
                t = per_call(lambda r=cpp, x=rate, k=kw: arrivals.ttft_quantile(r, x, 0.99, **k))
                t_ref = per_call(
                    lambda r=ref, x=rate, k=kw: arrivals.ttft_quantile(r, x, 0.99, **k),
                    min_time=0.2,
                )
                print(f"ttft_quantile(0.99, by_batch=True, admission={rule}), CV 2: "
                      f"{t:.1f} us C++, {t_ref:.0f} us NumPy ({t_ref / t:.0f}x)")  # fmt: skip
    batch_rows()


def batch_rows(rows=200):
    """Time the batch calls' arrival_cv rows: one kernel call against the row loop."""
    import numpy as np

    rng = np.random.default_rng(0)
    cols = {"kind": 1, "alpha": 8.0, "beta": 0.02, "gamma": 5e-5, "in_tokens": 500.0,
            "out_tokens": 200.0, "max_batch": rng.integers(8, 64, rows),
            "arrival_cv": rng.choice([0.0, 0.5, 2.0, 3.0], rows)}  # fmt: skip
    rate = rng.uniform(0.2, 0.8, rows) * cols["max_batch"] / 2.5
    calls = {
        "analyze_many": lambda: inferplan.analyze_many(**cols, rate=rate, threads=1),
        "size_many": lambda: inferplan.size_many(**cols, itl_ms=40.0, threads=1),
    }
    print(f"\n{rows} PrefillDecode rows with arrival_cv in (0, 0.5, 2, 3), one thread (C++):")
    dispatch.use("cpp")
    try:
        for name, call in calls.items():
            fast = per_call(call, min_time=0.3)
            keep = arrivals._analyze_in_kernel, arrivals._size_in_kernel
            arrivals._analyze_in_kernel = arrivals._size_in_kernel = lambda *a: a[4]
            try:
                slow = per_call(call, min_time=0.3)
            finally:
                arrivals._analyze_in_kernel, arrivals._size_in_kernel = keep
            print(f"{name}: {fast / 1e3:.1f} ms in one kernel call, {slow / 1e3:.1f} ms "
                  f"row by row ({slow / fast:.1f}x)")  # fmt: skip
    finally:
        dispatch.use(None)


if __name__ == "__main__":
    main()

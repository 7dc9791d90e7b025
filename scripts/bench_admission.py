"""Cost of the admission rules against the chain's read-off.

Cost of the admission rules (Replica.analyze/size with ``admission=``, analyze_many and
size_many) against the chain's read-off, measured in the same process on the same inputs.

    python scripts/bench_admission.py [--rows 200000]

The baseline is the same call without ``admission``. The last column times the NumPy
reference backend's forms (inferplan._kernels.numpy_backend): the NumPy formulas for
``analyze``, its plain root search for ``size``.
"""

from __future__ import annotations

import argparse
import time
import timeit

import numpy as np

import inferplan as ip

from _bench_common import random_configs


def per_call_us(fn, number: int) -> float:
    """Return the best time per call of ``fn``, in microseconds."""
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def best_seconds(fn, repeat: int = 3) -> float:
    """Return the best wall time of ``fn()`` over ``repeat`` runs, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    print(f"backend: {ip.backend()}")
    model = ip.PrefillDecode(alpha=8, beta=0.02, gamma=5e-5, in_tokens=500, out_tokens=200)
    replica = ip.Replica(model, max_batch=32, max_queue=128)
    rate = 0.5 * replica.max_rate
    print("scalar calls from Python (us per call)")
    print(f"{'call':34s} {'chain':>8s} {'iteration':>10s} {'NumPy ref.':>11s}")
    chain = per_call_us(lambda: replica.analyze(rate), 5000)
    it = per_call_us(lambda: replica.analyze(rate, admission="iteration"), 5000)
    from inferplan._kernels import numpy_backend as ref
    from inferplan.sizing import target_tuple

    handle = ref.replica(model.params(), 32, 128.0)
    slow = per_call_us(lambda: ref.analyze_admitted(handle, rate, 2), 200)
    print(f"{'Replica.analyze':34s} {chain:8.2f} {it:10.2f} {slow:11.1f}")
    t = target_tuple(ttft_ms=45.0)
    chain = per_call_us(lambda: replica.size(ttft_ms=45.0), 2000)
    it = per_call_us(lambda: replica.size(ttft_ms=45.0, admission="iteration"), 2000)
    slow = per_call_us(lambda: ref.size_admitted(handle, t, 2), 3)
    print(f"{'Replica.size(ttft_ms=45)':34s} {chain:8.2f} {it:10.2f} {slow:11.1f}")

    cfg = random_configs(args.rows)
    idle = ip.analyze_many(rate=0.0, metrics=["max_rate"], **cfg)
    rates = idle["max_rate"] * np.random.default_rng(3).uniform(0.05, 0.95, args.rows)
    print(f"\nbatch calls, {args.rows} random rows, all cores (rows per second)")
    a0 = best_seconds(lambda: ip.analyze_many(rate=rates, **cfg))
    a1 = best_seconds(lambda: ip.analyze_many(rate=rates, admission="iteration", **cfg))
    print(f"analyze_many: chain {args.rows / a0:12,.0f}  iteration {args.rows / a1:12,.0f}")
    ttft = ip.analyze_many(rate=0.0, metrics=["ttft_ms"], **cfg)["ttft_ms"] * 1.5
    s0 = best_seconds(lambda: ip.size_many(ttft_ms=ttft, **cfg))
    s1 = best_seconds(lambda: ip.size_many(ttft_ms=ttft, admission="iteration", **cfg))
    print(f"size_many:    chain {args.rows / s0:12,.0f}  iteration {args.rows / s1:12,.0f}")


if __name__ == "__main__":
    main()

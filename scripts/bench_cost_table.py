"""Cost table benchmark.

20 models x 30 accelerator/MIG entries x 10 clocks x 64 batch sizes x 4 query classes =
1,536,000 rows, sized by ONE size_many call.

Compared in the same process against a baseline: the same rows sized one at a time by a
Python loop of scalar bisections on ``Replica.analyze`` (timed on a small subsample and
reported per row, since running it on 1.5 M rows would take hours).

    PYTHONPATH=python python scripts/bench_cost_table.py            # sample grid
    PYTHONPATH=python python scripts/bench_cost_table.py --full     # 1.5 M rows

The asv suite's counterpart is benchmarks/benchmarks/bench_cost_table.py.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import inferplan
from inferplan.hardware import (
    Accelerator,
    FrequencyModel,
    PowerCurve,
    Profile,
    QueryClass,
    cost_table,
)
from inferplan.hardware.mig import CATALOGUE

FULL = {"models": 20, "accelerators": 30, "frequencies": 10, "batches": 64}
SAMPLE = {"models": 4, "accelerators": 6, "frequencies": 4, "batches": 16}


def build(models, accelerators, frequencies, batches, seed=0):
    """Seeded synthetic inputs of the requested size."""
    rng = np.random.default_rng(seed)
    cards = [(card, name) for card, profiles in CATALOGUE.items() for name in profiles]
    accs = []
    for i in range(accelerators):
        curve = PowerCurve(
            50 + 10 * rng.random(), 180 + 40 * rng.random(), 0.5, 300 + 100 * rng.random()
        )
        fm = FrequencyModel(
            ref_mhz=1410, compute_fraction=0.1 + 0.4 * rng.random(), static_w=70.0, exponent=2.0
        )
        card, name = cards[i % len(cards)] if i % 2 else (None, None)
        accs.append(
            Accelerator(f"acc{i}", curve, 1.0 + 3 * rng.random(), fm, card=card, mig_profile=name)
        )
    profiles = []
    for m in range(models):
        for a in accs:
            kind = "PrefillDecode" if m % 2 else "DecodeOnly"
            profiles.append(
                Profile(
                    f"model{m}",
                    a.name,
                    5 + 10 * rng.random(),
                    0.01 + 0.3 * rng.random()
                    if kind == "DecodeOnly"
                    else 0.005 + 0.02 * rng.random(),
                    1e-4 * rng.random() if kind == "PrefillDecode" else 0.0,
                    kind=kind,
                )
            )
    classes = [
        QueryClass(n, i, o, itl_ms=80.0, ttft_ms=3000.0)
        for n, i, o in (
            ("SISO", 256, 256),
            ("SILO", 256, 1024),
            ("LISO", 1024, 256),
            ("LILO", 1024, 1024),
        )
    ]
    freqs = np.linspace(810, 1410, frequencies)
    batch_sizes = np.unique(np.geomspace(1, 512, batches).round().astype(int))
    while batch_sizes.size < batches:  # geomspace repeats small sizes; top up to the count
        batch_sizes = np.unique(np.append(batch_sizes, batch_sizes.max() + 1))
    return profiles, accs, classes, freqs, batch_sizes


def run_table(inputs):
    """Size the cost table of ``inputs``."""
    profiles, accs, classes, freqs, batch_sizes = inputs
    return cost_table(
        profiles,
        accs,
        classes,
        batch_sizes=batch_sizes,
        frequencies_mhz=freqs,
        price_per_kwh=0.12,
        grid_kg_per_kwh=0.4,
    )


def scalar_baseline(table, rows):
    """Size ``rows`` rows of ``table`` one at a time (bisection on Replica.analyze)."""
    for r in table.itertuples():
        if rows == 0:
            break
        rows -= 1
        model = (
            inferplan.DecodeOnly(r.alpha, r.beta, r.out_tokens)
            if r.kind == 0
            else inferplan.PrefillDecode(r.alpha, r.beta, r.gamma, r.in_tokens, r.out_tokens)
        )
        replica = inferplan.Replica(model, int(r.max_batch))
        lo, hi = 0.0, 0.999 * replica.max_rate
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            m = replica.analyze(mid)
            if m.itl_ms <= 80.0 and m.ttft_ms <= 3000.0:
                lo = mid
            else:
                hi = mid


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--full", action="store_true", help="the 1.5 M row grid")
    parser.add_argument("--baseline-rows", type=int, default=200)
    args = parser.parse_args()
    size = FULL if args.full else SAMPLE
    inputs = build(**size)
    t0 = time.perf_counter()
    table = run_table(inputs)
    vec = time.perf_counter() - t0
    n = len(table)
    k = min(args.baseline_rows, n)
    t0 = time.perf_counter()
    scalar_baseline(table, k)
    base = (time.perf_counter() - t0) / k
    print(f"backend {inferplan.backend()}; grid {size} x 4 classes = {n} rows")
    print(
        f"cost_table (one size_many call): {vec:.3f} s, {vec / n * 1e6:.1f} us/row, "
        f"{int(table.feasible.sum())} feasible"
    )
    print(
        f"baseline (Python loop of scalar bisections, {k} rows): {base * 1e6:.1f} us/row, "
        f"{base * n:.1f} s extrapolated"
    )
    print(f"speed-up over the baseline: {base * n / vec:.1f}x")
    print(
        f"full grid target: < 5 s for {math.prod(FULL.values()) * 4} rows (with the real size_many)"
    )


if __name__ == "__main__":
    main()

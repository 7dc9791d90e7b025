"""Seeded input builders and same-process timing helpers shared by the asv benchmarks.

Every builder takes a seed and returns the same inputs on every call, so two commits are
benchmarked on identical data. ``speedup`` is how the ``track_*`` ratios are measured: the
fast path and its baseline are timed in the same process, one right after the other, so the
noise of a shared machine mostly cancels in the ratio.
"""

from __future__ import annotations

import os
import time
from functools import cache

import numpy as np

import inferplan
from inferplan._kernels import dispatch

BACKENDS = list(dispatch.BACKENDS)

# INFERPLAN_ASV_SMOKE=1 (set by tests/test_benchmarks.py) skips the heaviest parameter
# combinations, so that CI can run every benchmark body in quick mode within its budget.
SMOKE = os.environ.get("INFERPLAN_ASV_SMOKE", "") == "1"


def skip_heavy(heavy: bool) -> None:
    """Skips a heavy case (asv reports it as n/a) in a smoke run."""
    if SMOKE and heavy:
        raise NotImplementedError("heavy case, skipped in smoke runs (INFERPLAN_ASV_SMOKE=1)")


# The worked example of docs/model.md 2.1: 48 in the batch, 152 waiting, so 201 states.
EXAMPLE_MODEL = inferplan.DecodeOnly(alpha=19, beta=1, out_tokens=1024)
# Chain sizes (number of states, max_batch + max_queue + 1) used by the single-replica
# benchmarks; 1000 states is the size at which the reference analyzer's speed is quoted.
STATES = {201: (48, 152), 1000: (256, 743)}
TARGETS = {"itl_ms": 50.0, "ttft_ms": 2000.0}


def use_backend(name: str) -> None:
    """Make ``name`` the active backend; asv skips the benchmark where it cannot load."""
    if name not in dispatch.available():
        raise NotImplementedError(f"backend {name!r} is not available here")
    dispatch.use(name)


def reset_backend() -> None:
    dispatch.use(None)


def example_replica(states: int) -> inferplan.Replica:
    max_batch, max_queue = STATES[states]
    return inferplan.Replica(EXAMPLE_MODEL, max_batch=max_batch, max_queue=max_queue)


def rate_grid(replica: inferplan.Replica, count: int = 16) -> list[float]:
    """``count`` offered rates from 10% to 95% of saturation.

    A benchmark call walks them all, so no kernel can answer from a cache of its last rate.
    """
    return list(np.linspace(0.1, 0.95, count) * replica.max_rate)


def best_seconds(fn, *, repeat: int = 5, min_seconds: float = 0.02) -> float:
    """Return the best mean time of one ``fn()`` call.

    Over ``repeat`` rounds, each lasting at least ``min_seconds`` (the call count is
    calibrated once).
    """
    fn()
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds:
            break
        number *= 2 if elapsed == 0 else max(2, int(1.5 * min_seconds / elapsed))
    best = elapsed / number
    for _ in range(repeat - 1):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def speedup(fast, baseline, **kwargs) -> float:
    """How many times faster ``fast()`` is than ``baseline()``, both timed now, in turn."""
    return best_seconds(baseline, **kwargs) / best_seconds(fast, **kwargs)


def config_columns(rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Return ``rows`` random replica configurations as batch-call columns.

    ``rows`` random replica configurations (half DecodeOnly, half PrefillDecode) as the
    columns ``size_many`` and ``analyze_many`` take.
    """
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 2, rows).astype(np.int32)
    prefill = kind == 1
    return {
        "kind": kind,
        "alpha": rng.uniform(5.0, 25.0, rows),
        "beta": np.where(prefill, rng.uniform(0.005, 0.03, rows), rng.uniform(0.05, 1.0, rows)),
        "gamma": np.where(prefill, rng.uniform(0.0, 1e-4, rows), 0.0),
        "in_tokens": np.where(prefill, rng.integers(64, 2048, rows), 0).astype(float),
        "out_tokens": rng.integers(64, 1024, rows).astype(float),
        "max_batch": rng.integers(8, 256, rows).astype(np.int64),
        "max_queue": rng.integers(0, 512, rows).astype(float),
    }


def offered_rates(columns: dict[str, np.ndarray], seed: int = 1) -> np.ndarray:
    """Return an offered rate per row between 10% and 95% of that row's saturation rate."""
    rows = columns["kind"].size
    sat = inferplan.analyze_many(rate=1e-9, metrics=["max_rate"], threads=1, **columns)
    return np.random.default_rng(seed).uniform(0.1, 0.95, rows) * sat["max_rate"]


def scalar_replica(columns: dict[str, np.ndarray], i: int) -> inferplan.Replica:
    """Row ``i`` of ``columns`` as a :class:`inferplan.Replica` (the per-item baseline)."""
    if columns["kind"][i] == 0:
        model = inferplan.DecodeOnly(
            float(columns["alpha"][i]), float(columns["beta"][i]), float(columns["out_tokens"][i])
        )
    else:
        model = inferplan.PrefillDecode(
            float(columns["alpha"][i]),
            float(columns["beta"][i]),
            float(columns["gamma"][i]),
            float(columns["in_tokens"][i]),
            float(columns["out_tokens"][i]),
        )
    return inferplan.Replica(
        model, max_batch=int(columns["max_batch"][i]), max_queue=float(columns["max_queue"][i])
    )


def take(columns: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
    return {name: col[:rows] for name, col in columns.items()}


# ---- fleet allocation -------------------------------------------------------------------


FLEETS = {
    # name: (servers, accelerators, models); "example" is the package's own data set
    "synthetic": (300, 8, 10),
    "large": (3000, 20, 40),
}


def reference_system_path(name: str):
    """Return the public reference optimizer's g3 ``name`` ("small" or "large") data directory."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    return root / "tests" / "data" / "reference" / "inferno" / "g3" / name


def fleet_system(name: str):
    from inferplan import fleet

    if name == "example":
        return fleet.load_system(fleet.example_path())
    return fleet.synthetic_system(*FLEETS[name])


# ---- hardware cost table ----------------------------------------------------------------

COST_TARGETS = (80.0, 3000.0)  # every query class: mean ITL and TTFT bounds in ms
COST_GRIDS = {
    # name: (models, accelerators, clocks, batch sizes); x 4 query classes = rows
    "small": (2, 3, 2, 8),
    "medium": (4, 6, 4, 16),
    "large": (8, 12, 6, 32),
}


@cache
def cost_table_inputs(grid: str, seed: int = 0):
    """Return the cost-table inputs of the named grid.

    Seeded profiles, accelerators (every other one a MIG slice), query classes, clocks and
    batch sizes of the named grid.
    """
    from inferplan.hardware import (
        Accelerator,
        FrequencyModel,
        PowerCurve,
        Profile,
        QueryClass,
    )
    from inferplan.hardware.mig import CATALOGUE

    models, accelerators, clocks, batches = COST_GRIDS[grid]
    rng = np.random.default_rng(seed)
    slices = [(card, name) for card, names in CATALOGUE.items() for name in names]
    accs = []
    for i in range(accelerators):
        card, mig = slices[i % len(slices)] if i % 2 else (None, None)
        accs.append(
            Accelerator(
                f"acc{i}",
                PowerCurve(
                    50 + 10 * rng.random(), 180 + 40 * rng.random(), 0.5, 300 + 100 * rng.random()
                ),
                1.0 + 3 * rng.random(),
                FrequencyModel(1410, 0.1 + 0.4 * rng.random(), 70.0, 2.0),
                card=card,
                mig_profile=mig,
            )
        )
    profiles = []
    for m in range(models):
        prefill = m % 2 == 1
        for acc in accs:
            profiles.append(
                Profile(
                    f"model{m}",
                    acc.name,
                    5 + 10 * rng.random(),
                    0.005 + 0.02 * rng.random() if prefill else 0.01 + 0.3 * rng.random(),
                    1e-4 * rng.random() if prefill else 0.0,
                    kind="PrefillDecode" if prefill else "DecodeOnly",
                )
            )
    classes = [
        QueryClass(name, i, o, itl_ms=COST_TARGETS[0], ttft_ms=COST_TARGETS[1])
        for name, i, o in (
            ("SISO", 256, 256),
            ("SILO", 256, 1024),
            ("LISO", 1024, 256),
            ("LILO", 1024, 1024),
        )
    ]
    clocks_mhz = np.linspace(810, 1410, clocks)
    batch_sizes = np.unique(np.geomspace(1, 512, 4 * batches).round().astype(int))[:batches]
    return profiles, accs, classes, clocks_mhz, batch_sizes

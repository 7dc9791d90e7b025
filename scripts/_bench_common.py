"""Seeded inputs shared by the benchmark scripts."""

from __future__ import annotations

import numpy as np


def random_configs(n: int, *, seed: int = 0, kind: int | None = None, max_queue=None) -> dict:
    """Return ``n`` random replica configurations.

    DecodeOnly and/or PrefillDecode, N uniform in 1..256, queues of 0..2000 slots (or the
    given max_queue).
    """
    rng = np.random.default_rng(seed)
    kinds = rng.integers(0, 2, n) if kind is None else np.full(n, kind)
    return {
        "kind": kinds.astype(np.int32),
        "alpha": rng.uniform(5, 30, n),
        "beta": np.where(kinds == 0, rng.uniform(0.05, 1, n), rng.uniform(0.005, 0.05, n)),
        "gamma": rng.uniform(0, 1e-3, n),
        "in_tokens": rng.integers(16, 4096, n).astype(float),
        "out_tokens": rng.integers(64, 1024, n).astype(float),
        "max_batch": rng.integers(1, 257, n).astype(np.int64),
        "max_queue": (rng.integers(0, 2001, n).astype(float) if max_queue is None
                      else np.full(n, float(max_queue))),
    }  # fmt: skip


def binding_itl_targets(cfg: dict, *, seed: int = 1) -> np.ndarray:
    """ITL targets between a near-idle and a saturated replica's ITL, so that most bind."""
    import inferplan as ip

    rng = np.random.default_rng(seed)
    idle = ip.analyze_many(rate=0.0, metrics=["itl_ms", "max_rate"], **cfg)
    busy = ip.analyze_many(rate=0.95 * idle["max_rate"], metrics=["itl_ms"], **cfg)
    u = rng.uniform(0.02, 1.0, len(cfg["kind"]))
    return idle["itl_ms"] + u * (busy["itl_ms"] - idle["itl_ms"]) + 1e-6

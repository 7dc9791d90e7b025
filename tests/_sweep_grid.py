"""A sweep spec and the same grid built the obvious way (materialised), for the tests."""

from __future__ import annotations

import itertools

import numpy as np

import inferplan


def spec(chunk_rows=97, **extra):
    """Four factors, one of them zipped with a text label, log/step/list axes."""
    out = {
        "operation": "analyze",
        "fixed": {"kind": "prefill_decode", "gamma": 1e-4, "in_tokens": 512, "out_tokens": 128},
        "axes": {
            "model": ["small", "large"],
            "alpha": [6.0, 21.0],
            "beta": [0.02, 0.09],
            "max_queue": [0, 10, "inf"],
            "max_batch": {"start": 8, "stop": 64, "step": 8},
            "rate": {"start": 0.05, "stop": 30, "num": 17, "scale": "log"},
        },
        "zip": [["model", "alpha", "beta"]],
        "columns": [
            "row",
            "model",
            "alpha",
            "max_queue",
            "max_batch",
            "rate",
            "throughput",
            "itl_ms",
            "ttft_ms",
            "p_block",
            "status",
        ],
        "chunk_rows": chunk_rows,
    }
    out.update(extra)
    return out


def expected():
    """Return the grid of :func:`spec` in row order, and the batch API's answer on it."""
    models = [("small", 6.0, 0.02), ("large", 21.0, 0.09)]
    queues = [0.0, 10.0, np.inf]
    batches = list(range(8, 65, 8))
    rates = np.geomspace(0.05, 30, 17)
    rows = list(itertools.product(models, queues, batches, rates))
    cols = {
        "model": np.array([r[0][0] for r in rows]),
        "alpha": np.array([r[0][1] for r in rows]),
        "beta": np.array([r[0][2] for r in rows]),
        "max_queue": np.array([r[1] for r in rows]),
        "max_batch": np.array([r[2] for r in rows], dtype=np.int64),
        "rate": np.array([r[3] for r in rows]),
    }
    res = inferplan.analyze_many(
        kind=1,
        gamma=1e-4,
        in_tokens=512,
        out_tokens=128,
        alpha=cols["alpha"],
        beta=cols["beta"],
        max_queue=cols["max_queue"],
        max_batch=cols["max_batch"],
        rate=cols["rate"],
        metrics=["throughput", "itl_ms", "ttft_ms", "p_block"],
    )
    cols.update(res)
    del cols["beta"]  # not among the spec's columns
    cols["row"] = np.arange(len(rows))
    return cols

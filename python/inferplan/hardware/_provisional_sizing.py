"""Stand-in for ``inferplan.size_many`` until the real one lands (same signature).

Sizes every row at once: each step of a bisection on the offered rate is ONE call of the
active kernel's batch ``analyze_many`` over all rows still open. Mean ITL, TTFT and wait
targets, a blocking bound and a TPS cap are supported; percentile targets are not (they
raise NotImplementedError). Accuracy: 1e-7 relative in the rate. Private; do not import it
outside :mod:`inferplan.hardware`.
"""

from __future__ import annotations

import math

import numpy as np

from .._kernels import dispatch
from .._metrics import METRIC_INDEX, NUM_METRICS
from .._status import Status

_CAP = 1.0 - 1e-3
_TPS_SHARE = 0.9
_STEPS = 24
_INFEASIBLE_WAIT = 8
_BAD_INPUT = 20
_OUT_NAMES = ("throughput", "itl_ms", "ttft_ms", "wait_ms", "utilization", "p_block")


def _target(x, rows):
    t = np.broadcast_to(np.asarray(np.nan if x is None else x, dtype=float), (rows,))
    return np.where(t > 0, t, np.nan)


def size_many(
    *,
    kind,
    alpha,
    beta,
    gamma=0.0,
    in_tokens=0.0,
    out_tokens,
    max_num_tokens=8192,
    max_batch,
    max_queue=math.inf,
    itl_ms=None,
    ttft_ms=None,
    wait_ms=None,
    ttft_percentile=None,
    wait_percentile=None,
    max_block=None,
    tps=None,
    threads=None,
):
    """Largest offered rate per row meeting all set targets; see the module docstring."""
    if ttft_percentile is not None or wait_percentile is not None:
        raise NotImplementedError("the provisional size_many has no percentile targets")
    given = [x for x in (itl_ms, ttft_ms, wait_ms, max_block, tps) if x is not None]
    shape = np.broadcast_shapes(*(np.shape(x) for x in given))
    cols = np.broadcast_arrays(
        np.zeros(shape, dtype=np.int32),
        np.asarray(kind),
        np.asarray(alpha, float),
        np.asarray(beta, float),
        np.asarray(gamma, float),
        np.asarray(in_tokens, float),
        np.asarray(out_tokens, float),
        np.asarray(max_num_tokens, float),
        np.asarray(max_batch),
        np.asarray(max_queue, float),
    )
    rows = int(np.size(cols[0]))
    cols = [np.ascontiguousarray(c.reshape(-1)) for c in cols[1:]]
    cols[0] = cols[0].astype(np.int32)
    cols[7] = cols[7].astype(np.int64)
    targets = {
        "itl_ms": (_target(itl_ms, rows), Status.INFEASIBLE_ITL),
        "ttft_ms": (_target(ttft_ms, rows), Status.INFEASIBLE_TTFT),
        "wait_ms": (_target(wait_ms, rows), _INFEASIBLE_WAIT),
        "p_block": (_target(max_block, rows), Status.INFEASIBLE_BLOCK),
    }
    tps_set = _target(tps, rows) > 0
    kernel = dispatch.active()
    nthreads = 0 if threads is None else int(threads)

    def analyze(idx, rate):
        n = idx.size
        outs = [None] * NUM_METRICS
        for name in _OUT_NAMES + ("max_rate",):
            outs[METRIC_INDEX[name]] = np.empty(n)
        status = np.zeros(n, dtype=np.int32)
        config = tuple(np.ascontiguousarray(c[idx]) for c in cols)
        kernel.analyze_many(config, np.ascontiguousarray(rate, dtype=float), outs, status, nthreads)
        return status, {k: outs[METRIC_INDEX[k]] for k in _OUT_NAMES + ("max_rate",)}

    def meets(idx, m):
        ok = np.ones(idx.size, dtype=bool)
        for name, (t, _) in targets.items():
            tt = t[idx]
            ok &= np.isnan(tt) | (m[name] <= tt)
        return ok

    every = np.arange(rows)
    status, m0 = analyze(every, np.zeros(rows))
    max_rate = m0["max_rate"]
    result = {
        "rate": np.zeros(rows),
        "status": np.where(status >= _BAD_INPUT, status, 0).astype(np.int32),
        "binding": np.zeros(rows, dtype=np.int32),
        "max_rate": max_rate,
    }
    good = result["status"] == 0
    cap = np.where(tps_set, _TPS_SHARE * _CAP, _CAP) * np.where(good, max_rate, 0.0)
    lo = np.where(good, 1e-9 * cap, 0.0)

    idx = np.flatnonzero(good)
    _, m = analyze(idx, lo[idx])
    for name, (t, code) in targets.items():
        bad = ~np.isnan(t[idx]) & (m[name] > t[idx]) & (result["status"][idx] == 0)
        result["status"][idx[bad]] = code
    idx = np.flatnonzero(result["status"] == 0)
    _, m = analyze(idx, cap[idx])
    at_cap = meets(idx, m)
    lo[idx[at_cap]] = cap[idx[at_cap]]
    hi = cap.copy()
    open_ = idx[~at_cap]
    # Bisection in log space: the roots can sit many decades below the cap.
    for _ in range(_STEPS + 40):
        if open_.size == 0:
            break
        mid = np.sqrt(lo[open_] * hi[open_])
        _, m = analyze(open_, mid)
        ok = meets(open_, m)
        lo[open_[ok]] = mid[ok]
        hi[open_[~ok]] = mid[~ok]
        open_ = open_[hi[open_] > lo[open_] * (1 + 1e-7)]

    ok_rows = np.flatnonzero(result["status"] == 0)
    result["rate"][ok_rows] = lo[ok_rows]
    _, m = analyze(ok_rows, lo[ok_rows])
    for name in _OUT_NAMES:
        col = np.full(rows, np.nan)
        col[ok_rows] = m[name]
        result[name] = col
    # Which target binds: the one closest to its limit at the answer (0 = the rate cap).
    closest = np.full(ok_rows.size, np.inf)
    for name, (t, code) in targets.items():
        tt = t[ok_rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            gap = np.where(np.isnan(tt), np.inf, np.abs(1.0 - m[name] / tt))
        better = (gap < closest) & (gap < 1e-4) & (lo[ok_rows] < cap[ok_rows])
        result["binding"][ok_rows[better]] = code
        closest = np.where(better, gap, closest)
    return result

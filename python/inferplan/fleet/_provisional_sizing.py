"""Provisional batch sizing, to be replaced by ``inferplan.size_many``.

The lead is writing ``inferplan.size_many`` (exact roots with a bracketed superlinear method,
percentile targets, the C++ batch path). Until it lands, this module gives the same signature
and the same output columns so that the fleet code can be written against it; the only caller
is ``inferplan.fleet.candidates._size_many``, so the swap is one line there.

It bisects every row at once on the kernel's batch analysis (the same chain that
``inferplan.Replica.analyze`` evaluates, one call per bisection step for all rows) to 1e-12
relative. Percentile targets are not supported here and raise ``NotImplementedError``.
"""

from __future__ import annotations

import math

import numpy as np

from .._kernels import dispatch
from .._metrics import METRIC_INDEX, NUM_METRICS

SATURATION_MARGIN = 1e-3
TPS_FRACTION = 0.9

STATUS_OK = 0
STATUS_ITL = 2
STATUS_TTFT = 3
STATUS_BLOCK = 6
STATUS_WAIT = 8

BINDING_NONE = 0
BINDING_ITL = 1
BINDING_TTFT = 2
BINDING_WAIT = 3
BINDING_BLOCK = 4
BINDING_TPS = 5

_REL_TOL = 1e-12
_MAX_STEPS = 200


def _target(x, rows: int) -> np.ndarray:
    """A target column: None, 0 and NaN all mean "not set" (returned as NaN)."""
    if x is None:
        return np.full(rows, np.nan)
    a = np.broadcast_to(np.asarray(x, dtype=float), (rows,)).copy()
    a[a == 0] = np.nan
    return a


def _analyze(cfg, rate: np.ndarray, threads) -> tuple[np.ndarray, np.ndarray]:
    rows = rate.shape[0]
    out = np.empty((NUM_METRICS, rows))
    status = np.zeros(rows, dtype=np.int32)
    dispatch.active().analyze_many(cfg, rate, list(out), status, int(threads or 0))
    return status, out


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
) -> dict[str, np.ndarray]:
    """Largest offered rate per replica (req/s) meeting every target, row by row.

    Columns broadcast together. Returns ``rate``, ``status``, ``binding``, ``throughput``,
    ``itl_ms``, ``ttft_ms``, ``wait_ms``, ``utilization``, ``p_block``, ``max_rate``.
    """
    for name, value in (("ttft_percentile", ttft_percentile), ("wait_percentile", wait_percentile)):
        if value is not None and np.any(np.nan_to_num(np.asarray(value, dtype=float)) != 0):
            raise NotImplementedError(
                f"{name} needs inferplan.size_many; the provisional sizing has no percentiles"
            )
    cols = np.broadcast_arrays(
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
    rows = int(np.atleast_1d(cols[0]).shape[0]) if cols[0].ndim else 1
    cfg = (
        np.ascontiguousarray(np.atleast_1d(cols[0]), dtype=np.int32).reshape(rows),
        *(np.ascontiguousarray(np.atleast_1d(c), dtype=float).reshape(rows) for c in cols[1:7]),
        np.ascontiguousarray(np.atleast_1d(cols[7]), dtype=np.int64).reshape(rows),
        np.ascontiguousarray(np.atleast_1d(cols[8]), dtype=float).reshape(rows),
    )
    itl = _target(itl_ms, rows)
    ttft = _target(ttft_ms, rows)
    wait = _target(wait_ms, rows)
    block = _target(max_block, rows)
    tps_t = _target(tps, rows)

    # max_rate does not depend on the offered rate: read it at a tiny one.
    status, m = _analyze(cfg, np.full(rows, 1e-300), threads)
    max_rate = m[METRIC_INDEX["max_rate"]].copy()
    bad = status >= 20
    safe_max = np.where(bad | ~np.isfinite(max_rate), 1.0, max_rate)
    cap = safe_max * (1.0 - SATURATION_MARGIN)
    cap = np.where(np.isnan(tps_t), cap, TPS_FRACTION * cap)

    def violations(metrics: np.ndarray) -> np.ndarray:
        """Per row, the code of the first violated target (0: none)."""
        code = np.zeros(rows, dtype=np.int8)
        checks = (
            (BINDING_BLOCK, metrics[METRIC_INDEX["p_block"]], block),
            (BINDING_WAIT, metrics[METRIC_INDEX["wait_ms"]], wait),
            (BINDING_TTFT, metrics[METRIC_INDEX["ttft_ms"]], ttft),
            (BINDING_ITL, metrics[METRIC_INDEX["itl_ms"]], itl),
        )
        for c, value, limit in checks:
            code = np.where(value > limit, np.int8(c), code)  # NaN limit never violated
        return code

    # A near-idle replica that already misses a target: infeasible.
    idle = violations(m)
    infeasible = {
        BINDING_ITL: STATUS_ITL,
        BINDING_TTFT: STATUS_TTFT,
        BINDING_WAIT: STATUS_WAIT,
        BINDING_BLOCK: STATUS_BLOCK,
    }
    out_status = np.zeros(rows, dtype=np.int32)
    for c, s in infeasible.items():
        out_status[idle == c] = s
    out_status[bad] = status[bad]

    _, m_cap = _analyze(cfg, cap, threads)
    at_cap = violations(m_cap)
    binding = np.where(np.isnan(tps_t), BINDING_NONE, BINDING_TPS).astype(np.int8)
    need = (out_status == 0) & (at_cap != 0)
    lo = np.where(need, cap * 1e-15, cap)
    hi = cap.copy()
    hi_code = at_cap.copy()
    for _ in range(_MAX_STEPS):
        active = need & (hi - lo > _REL_TOL * hi)
        if not active.any():
            break
        mid = np.where(active, 0.5 * (lo + hi), lo)
        _, mm = _analyze(cfg, mid, threads)
        code = violations(mm)
        fails = active & (code != 0)
        hi = np.where(fails, mid, hi)
        hi_code = np.where(fails, code, hi_code)
        lo = np.where(active & (code == 0), mid, lo)
    rate = np.where(need, lo, cap)
    binding = np.where(need, hi_code, binding).astype(np.int8)
    ok = out_status == 0
    rate = np.where(ok, rate, np.nan)
    _, mr = _analyze(cfg, np.where(ok, rate, 1e-300), threads)
    res = {"rate": rate, "status": out_status, "binding": np.where(ok, binding, 0).astype(np.int8)}
    for name in ("throughput", "itl_ms", "ttft_ms", "wait_ms", "utilization", "p_block"):
        res[name] = np.where(ok, mr[METRIC_INDEX[name]], np.nan)
    res["max_rate"] = np.where(bad, np.nan, max_rate)
    return res

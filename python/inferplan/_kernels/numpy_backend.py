"""The NumPy reference as a backend: exact and readable, one Python call per row."""

from __future__ import annotations

import math

import numpy as np

from .._codes import ADMISSIONS, STATUSES
from .._metrics import KIND_VECTOR
from . import reference

NAME = "numpy"
BAD_KIND = STATUSES["BAD_KIND"]


class _Prepared:
    __slots__ = ("max_batch", "max_queue", "params", "status", "tau")

    def __init__(self, params, max_batch, max_queue, tau):
        self.params = params
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.tau = tau
        self.status = int(reference.validate_queue(max_batch, max_queue))
        if self.status == 0:
            self.status = int(reference.validate_service(*params))
        if self.status == 0:
            self.status = int(reference.prepared_service(params, max_batch, tau, max_queue)[0])


def replica(params, max_batch, max_queue, tau=None):
    return _Prepared(params, max_batch, max_queue, tau)


def analyze(handle, rate):
    return analyze_admitted(handle, rate, ADMISSIONS[None])


def analyze_admitted(h, rate, admission):
    status, m = reference.analyze_admitted(h.params, h.max_batch, h.max_queue, rate, admission,
                                           h.tau)  # fmt: skip
    return int(status), m.tolist()


def _row(col, i):
    return col[i] if col.shape[0] > 1 else col[0]


def analyze_many(config, rate, outs, status, threads, admission=0):
    rows = status.shape[0]
    for i in range(rows):
        params = tuple(float(_row(c, i)) for c in config[:7])
        params = (int(params[0]), *params[1:])
        max_batch = int(_row(config[7], i))
        max_queue = float(_row(config[8], i))
        if params[0] == KIND_VECTOR:
            st, m = BAD_KIND, np.full(len(outs), math.nan)
        else:
            st, m = reference.analyze_admitted(params, max_batch, max_queue,
                                               float(_row(rate, i)), admission)  # fmt: skip
        status[i] = int(st)
        for k, out in enumerate(outs):
            if out is not None:
                out[i] = m[k]


def _tau(h):
    if h.tau is not None:
        return np.asarray(h.tau, dtype=float)
    return reference.service_times(*h.params, h.max_batch)[0]


def size(h, targets):
    return size_admitted(h, targets, ADMISSIONS[None])


def size_admitted(h, targets, admission):
    s, rate, binding, it, m = reference.size_admitted(
        h.params, h.max_batch, h.max_queue, tuple(targets), admission, h.tau
    )
    return int(s), rate, binding, it, list(m)


def quantiles(h, rate, q):
    s, w, t = reference.quantiles(h.params, h.max_batch, h.max_queue, rate, q, tau=h.tau)
    return int(s), w, t


def optimal_concurrency(h, targets, tolerance):
    tau = _tau(h)
    results = []
    for n in range(1, h.max_batch + 1):
        results.append(reference.size(h.params, n, h.max_queue, tuple(targets), tau[:n]))
    feasible = [r for r in results if r[0] == 0]
    if not feasible:
        first = next((r for r in results), None)
        return int(first[0]), 0, 0.0, 0.0, 0, 0, list(first[4])
    peak = max(r[4][3] for r in feasible)
    for n, r in enumerate(results, start=1):
        if r[0] == 0 and r[4][3] >= (1 - tolerance) * peak:
            return 0, n, peak, r[1], r[2], r[3], list(r[4])
    raise AssertionError("the peak itself qualifies")


def _rows(config, targets, i):
    params = tuple(float(_row(c, i)) for c in config[:7])
    params = (int(params[0]), *params[1:])
    return (
        params,
        int(_row(config[7], i)),
        float(_row(config[8], i)),
        tuple(float(_row(t, i)) for t in targets),
    )


def _store(outs, i, m, ok):
    for k, out in enumerate(outs):
        if out is not None:
            out[i] = m[k] if ok else math.nan


def size_many(config, targets, outs, rate, status, binding, iterations, threads, admission=0):
    for i in range(status.shape[0]):
        params, N, Q, t = _rows(config, targets, i)
        h = replica(params, N, Q)
        if params[0] == KIND_VECTOR:
            h.status = BAD_KIND
        res = (h.status, math.nan, 0, 0, [math.nan] * len(outs)) if h.status else size_admitted(
            h, t, admission)  # fmt: skip
        status[i], rate[i], binding[i], iterations[i] = res[0], res[1], res[2], res[3]
        if res[0] != 0:
            rate[i] = math.nan
        _store(outs, i, res[4], res[0] == 0)


def optimal_concurrency_many(
    config, targets, tolerance, outs, rate, status, binding, iterations, max_batch, peak, threads
):
    for i in range(status.shape[0]):
        params, N, Q, t = _rows(config, targets, i)
        h = replica(params, N, Q)
        if h.status:
            status[i], rate[i], binding[i], iterations[i] = h.status, math.nan, 0, 0
            _store(outs, i, None, False)
            continue
        s, n, pk, r, b, it, m = optimal_concurrency(h, t, float(_row(tolerance, i)))
        status[i], max_batch[i], peak[i], binding[i], iterations[i] = s, n, pk, b, it
        rate[i] = r if s == 0 else math.nan
        _store(outs, i, m, s == 0)

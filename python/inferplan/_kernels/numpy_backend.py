"""The NumPy reference as a backend: exact and readable, one Python call per row."""

from __future__ import annotations

import math

import numpy as np

from .._metrics import KIND_VECTOR
from . import reference

NAME = "numpy"


class _Prepared:
    __slots__ = ("params", "max_batch", "max_queue", "tau", "status")

    def __init__(self, params, max_batch, max_queue, tau):
        self.params = params
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.tau = tau
        self.status = int(reference.validate_queue(max_batch, max_queue))
        if self.status == 0:
            self.status = int(reference.validate_service(*params))


def replica(params, max_batch, max_queue, tau=None):
    return _Prepared(params, max_batch, max_queue, tau)


def analyze(handle, rate):
    status, m = reference.analyze(handle.params, handle.max_batch, handle.max_queue, rate,
                                  handle.tau)
    return int(status), m.tolist()


def _row(col, i):
    return col[i] if col.shape[0] > 1 else col[0]


def analyze_many(config, rate, outs, status, threads):
    rows = status.shape[0]
    for i in range(rows):
        params = tuple(float(_row(c, i)) for c in config[:7])
        params = (int(params[0]),) + params[1:]
        max_batch = int(_row(config[7], i))
        max_queue = float(_row(config[8], i))
        if params[0] == KIND_VECTOR:
            st, m = 20, np.full(len(outs), math.nan)
        else:
            st, m = reference.analyze(params, max_batch, max_queue, float(_row(rate, i)))
        status[i] = int(st)
        for k, out in enumerate(outs):
            if out is not None:
                out[i] = m[k]

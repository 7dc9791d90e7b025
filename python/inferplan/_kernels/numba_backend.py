"""The Numba kernel as a backend (the fallback when the extension is unavailable)."""

from __future__ import annotations

import numpy as np

from . import numba_kernels as nk

NAME = "numba"


class _Prepared:
    __slots__ = ("p", "N", "Q", "tau", "chunks", "mu", "inv_mu", "S", "filled", "monotone",
                 "status", "m", "mo")

    def __init__(self, params, max_batch, max_queue, tau):
        self.p = np.asarray(params, dtype=float)
        n = max(1, min(int(max_batch), nk.MAX_BATCH_LIMIT))
        self.N = int(max_batch)
        self.Q = float(max_queue)
        self.tau = np.array(tau, dtype=float) if tau is not None else np.empty(n)
        self.chunks = np.empty(n)
        self.mu = np.empty(n)
        self.inv_mu = np.empty(n)
        self.S = np.empty(n + 1)
        self.filled = np.zeros(1, dtype=np.int64)
        self.m = np.empty(nk.NUM_METRICS)
        self.mo = np.empty(nk.NUM_MOMENTS)
        self.status, self.monotone = nk.prepare(
            self.p, self.N, self.Q, self.tau, self.chunks, self.mu, self.inv_mu
        )

    def args(self):
        """The prepared arrays in the order the kernels take them."""
        return (self.p, self.N, self.Q, self.tau, self.chunks, self.mu, self.inv_mu, self.S,
                self.filled, self.monotone)


def replica(params, max_batch, max_queue, tau=None):
    return _Prepared(params, max_batch, max_queue, tau)


def analyze(h, rate):
    s = nk.analyze(*h.args(), rate, h.m, h.mo)
    return s, h.m.tolist()


def analyze_many(config, rate, outs, status, threads):
    sel = np.array([k for k, o in enumerate(outs) if o is not None], dtype=np.int64)
    block = np.empty((sel.size, status.shape[0]))
    cfg_f = tuple(np.ascontiguousarray(c, dtype=float) for c in config[1:7])
    if threads:
        import numba

        previous = numba.get_num_threads()
        numba.set_num_threads(min(int(threads), numba.config.NUMBA_NUM_THREADS))
    try:
        nk.analyze_many(config[0], cfg_f, config[7], config[8], rate, sel, block, status)
    finally:
        if threads:
            numba.set_num_threads(previous)
    for j, k in enumerate(sel):
        outs[k][:] = block[j]

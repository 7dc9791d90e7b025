"""The Numba kernel as a backend (the fallback when the extension is unavailable)."""

from __future__ import annotations

import numpy as np

from . import numba_kernels as nk

NAME = "numba"


class _Prepared:
    __slots__ = (
        "N",
        "Q",
        "S",
        "chunks",
        "filled",
        "inv_index",
        "inv_mu",
        "m",
        "max_inv",
        "mo",
        "monotone",
        "p",
        "status",
        "tau",
    )

    def __init__(self, params, max_batch, max_queue, tau):
        self.p = np.asarray(params, dtype=float)
        n = max(1, min(int(max_batch), nk.MAX_BATCH_LIMIT))
        self.N = int(max_batch)
        self.Q = float(max_queue)
        self.tau = np.array(tau, dtype=float) if tau is not None else np.empty(n)
        self.chunks = np.empty(n)
        self.inv_index = nk.reciprocals(n)
        self.inv_mu = np.empty(n)
        self.S = np.empty(n + 1)
        self.filled = np.zeros(1, dtype=np.int64)
        self.m = np.empty(nk.NUM_METRICS)
        self.mo = np.empty(nk.MO_SIZE)
        self.status, self.monotone, self.max_inv = nk.prepare(
            self.p, self.N, self.Q, self.tau, self.chunks, self.inv_index, self.inv_mu
        )

    def args(self):
        """Return the prepared arrays in the order the kernels take them."""
        return (
            self.p,
            self.N,
            self.Q,
            self.tau,
            self.chunks,
            self.inv_index,
            self.inv_mu,
            self.S,
            self.filled,
            self.monotone,
            self.max_inv,
        )


def replica(params, max_batch, max_queue, tau=None):
    return _Prepared(params, max_batch, max_queue, tau)


def analyze(h, rate):
    s = nk.analyze(*h.args(), rate, h.m, h.mo)
    return s, h.m.tolist()


def analyze_admitted(h, rate, admission):
    s = nk.analyze_admitted(*h.args(), rate, admission, h.m, h.mo)
    return s, h.m.tolist()


def size_admitted(h, targets, admission):
    t = np.asarray(targets, dtype=float)
    s, rate, binding, it = nk.size_admitted(*h.args(), t, admission, h.m, h.mo)
    return s, rate, binding, it, h.m.tolist()


def size(h, targets):
    t = np.asarray(targets, dtype=float)
    s, rate, binding, it = nk.size_replica(*h.args(), t, h.m, h.mo)
    return s, rate, binding, it, h.m.tolist()


def quantiles(h, rate, q):
    s = nk.analyze(*h.args(), rate, h.m, h.mo)
    if s != 0:
        return s, 0.0, 0.0
    w = nk.wait_quantile(h.N, h.Q, h.inv_mu, h.mo, q)
    return s, w, w + h.m[12] + h.m[10]


def optimal_concurrency(h, targets, tolerance):
    t = np.asarray(targets, dtype=float)
    s, n, peak, rate, binding, it = nk.optimal_concurrency(*h.args(), t, tolerance, h.m, h.mo)
    return s, n, peak, rate, binding, it, h.m.tolist()


class _Threads:
    """Temporarily limits Numba's thread count (threads=0: leave it)."""

    def __init__(self, threads):
        self.threads = threads

    def __enter__(self):
        if self.threads:
            import numba

            self.previous = numba.get_num_threads()
            numba.set_num_threads(min(int(self.threads), numba.config.NUMBA_NUM_THREADS))

    def __exit__(self, *exc):
        if self.threads:
            import numba

            numba.set_num_threads(self.previous)


def _selection(outs, rows):
    sel = np.array([k for k, o in enumerate(outs) if o is not None], dtype=np.int64)
    return sel, np.empty((sel.size, rows))


def _scatter(outs, sel, block):
    for j, k in enumerate(sel):
        outs[k][:] = block[j]


def _float_columns(config):
    return tuple(np.ascontiguousarray(c, dtype=float) for c in config[1:7])


def analyze_many(config, rate, outs, status, threads, admission=0):
    sel, block = _selection(outs, status.shape[0])
    with _Threads(threads):
        nk.analyze_many(
            config[0],
            _float_columns(config),
            config[7],
            config[8],
            rate,
            sel,
            block,
            status,
            admission,
        )
    _scatter(outs, sel, block)


def _size_many(
    config,
    targets,
    tolerance,
    outs,
    rate,
    status,
    binding,
    iterations,
    max_batch,
    peak,
    threads,
    concurrency,
    admission=0,
):
    sel, block = _selection(outs, status.shape[0])
    with _Threads(threads):
        nk.size_many(
            config[0],
            _float_columns(config),
            config[7],
            config[8],
            tuple(targets),
            tolerance,
            sel,
            block,
            rate,
            status,
            binding,
            iterations,
            max_batch,
            peak,
            concurrency,
            admission,
        )
    _scatter(outs, sel, block)


def size_many(config, targets, outs, rate, status, binding, iterations, threads, admission=0):
    rows = status.shape[0]
    _size_many(
        config,
        targets,
        np.zeros(1),
        outs,
        rate,
        status,
        binding,
        iterations,
        np.zeros(rows, dtype=np.int64),
        np.zeros(rows),
        threads,
        False,
        admission,
    )


def optimal_concurrency_many(
    config, targets, tolerance, outs, rate, status, binding, iterations, max_batch, peak, threads
):
    _size_many(
        config,
        targets,
        tolerance,
        outs,
        rate,
        status,
        binding,
        iterations,
        max_batch,
        peak,
        threads,
        True,
    )

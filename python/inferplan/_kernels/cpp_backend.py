"""The C++ extension as a backend (the fast path)."""

from __future__ import annotations

from .. import _core

NAME = "cpp"


def replica(params, max_batch, max_queue, tau=None):
    return _core.Replica(*params, max_batch, max_queue, tau)


def analyze(handle, rate):
    return handle.analyze(rate)


def analyze_many(config, rate, outs, status, threads, admission=0):
    _core.analyze_many(config, rate, outs, status, threads, admission)


def size(handle, targets):
    return _core.size_replica(handle, targets)


def quantiles(handle, rate, q):
    return _core.quantiles(handle, rate, q)


def optimal_concurrency(handle, targets, tolerance):
    return _core.optimal_concurrency(handle, targets, tolerance)


def size_many(config, targets, outs, rate, status, binding, iterations, threads, admission=0):
    _core.size_many(config, targets, outs, rate, status, binding, iterations, threads, admission)


def optimal_concurrency_many(
    config, targets, tolerance, outs, rate, status, binding, iterations, max_batch, peak, threads
):
    _core.optimal_concurrency_many(
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
    )


def analyze_admitted(handle, rate, admission):
    return _core.analyze_admitted(handle, rate, admission)


def size_admitted(handle, targets, admission):
    return _core.size_admitted(handle, targets, admission)

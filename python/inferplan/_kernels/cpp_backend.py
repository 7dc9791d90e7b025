"""The C++ extension as a backend (the fast path)."""

from __future__ import annotations

from .. import _core

NAME = "cpp"


def replica(params, max_batch, max_queue, tau=None):
    return _core.Replica(*params, max_batch, max_queue, tau)


def analyze(handle, rate):
    return handle.analyze(rate)


def analyze_many(config, rate, outs, status, threads):
    _core.analyze_many(config, rate, outs, status, threads)

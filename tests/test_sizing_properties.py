"""Property tests of sizing (docs/model.md 3 and 3.1) on random replicas.

Both kinds, every target kind, every admission rule, queues 0..inf, batches 1..1e4.

For every row a backend calls OK, checked from the outside (tests/_sizing_check.py): every
target holds at the rate and on a grid of rates below it, one fails just above it unless the
rate is the saturation cap, and the reported binding target is one that does. Every
backend returns the same status and, where OK, the same rate to 1e-9 (the compiled kernel
and its Numba mirror to the bit). The CI profile keeps this to about half a minute; set
HYPOTHESIS_PROFILE=dev for a longer run.
"""

from __future__ import annotations

import math

from _sizing_check import check_sized, same_answer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import inferplan as ip
from inferplan._kernels import dispatch

BACKENDS = dispatch.available()


@st.composite
def replicas(draw):
    if draw(st.booleans()):
        model = ip.DecodeOnly(
            alpha=draw(st.floats(0.5, 50)), beta=draw(st.floats(1e-3, 2)),
            out_tokens=draw(st.sampled_from([1.0, 2.0, 16.0, 200.0, 1024.0, 3000.0])),
        )  # fmt: skip
    else:
        model = ip.PrefillDecode(
            alpha=draw(st.floats(0.5, 50)), beta=draw(st.floats(1e-3, 0.1)),
            gamma=draw(st.sampled_from([0.0, 1e-5, 1e-4, 1e-3])),
            in_tokens=draw(st.sampled_from([16.0, 500.0, 2000.0, 3000.0, 8192.0, 30000.0])),
            out_tokens=draw(st.sampled_from([0.5, 1.0, 4.0, 20.0, 200.0, 1000.0])),
            max_num_tokens=draw(st.sampled_from([512.0, 2048.0, 8192.0])),
        )  # fmt: skip
    batch = draw(st.one_of(st.integers(1, 64), st.sampled_from([256, 1000, 10_000])))
    queue = draw(st.one_of(st.sampled_from([0.0, math.inf, 1e6, 1e9]),
                           st.integers(1, 500).map(float)))  # fmt: skip
    return model, batch, queue


@st.composite
def cases(draw):
    model, batch, queue = draw(replicas())
    r = ip.Replica(model, batch, queue)
    idle, busy = r.analyze(0.0), r.analyze(0.95 * r.max_rate)

    def between(lo, hi):  # mostly between the idle and the busy value: most targets bind
        return lo + draw(st.floats(0.0, 1.2)) * (hi - lo) + 1e-9 * lo

    kinds = draw(st.sets(st.sampled_from(["itl_ms", "ttft_ms", "wait_ms", "ttft_percentile",
                                          "wait_percentile", "max_block", "tps"]),
                         min_size=1, max_size=4))  # fmt: skip
    targets = {}
    if "itl_ms" in kinds:
        targets["itl_ms"] = between(idle.itl_ms, busy.itl_ms)
    if "ttft_ms" in kinds:
        targets["ttft_ms"] = between(idle.ttft_ms, busy.ttft_ms)
    if "wait_ms" in kinds:
        targets["wait_ms"] = max(between(0.0, busy.wait_ms), 1e-6)
    q = draw(st.sampled_from([0.5, 0.9, 0.99]))
    if "ttft_percentile" in kinds:
        targets["ttft_percentile"] = (q, between(idle.ttft_ms, 3 * busy.ttft_ms))
    if "wait_percentile" in kinds:
        targets["wait_percentile"] = (q, max(between(0.0, 3 * busy.wait_ms), 1e-3))
    if "max_block" in kinds and math.isfinite(queue):
        targets["max_block"] = draw(st.sampled_from([1e-9, 1e-4, 0.01, 0.2]))
    if "tps" in kinds:
        targets["tps"] = 1000.0
    if not any(k != "tps" for k in targets):
        targets["itl_ms"] = between(idle.itl_ms, busy.itl_ms)
    admission = draw(st.sampled_from([None, "iteration", "immediate"]))
    return model, batch, queue, targets, admission


def _small(batch, queue, targets):
    """Rows the NumPy reference can take in a test's time.

    It sums the waiting time's law one queue slot at a time and bisects to 1e-13.
    """
    pct = "ttft_percentile" in targets or "wait_percentile" in targets
    return batch <= 300 and not (pct and math.isfinite(queue) and queue > 2000)


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(cases())
def test_sized_rates_are_certified_tight_and_agree(case):
    model, batch, queue, targets, admission = case
    results = {}
    for name in BACKENDS:
        if name == "numpy" and not _small(batch, queue, targets):
            continue
        dispatch.use(name)
        try:
            r = ip.Replica(model, batch, queue)
            res = r.size(admission=admission, **targets)
            results[name] = res
            if res.status == ip.Status.OK:
                check_sized(r, res, targets, admission, grid=12)
            else:
                assert res.rate == 0.0
                assert res.metrics is None
        finally:
            dispatch.use(None)
    statuses = {name: res.status for name, res in results.items()}
    assert len(set(statuses.values())) == 1, statuses
    first = next(iter(results.values()))
    r = ip.Replica(model, batch, queue)
    for name, res in results.items():
        if res.status == ip.Status.OK:
            assert same_answer(r, res, first, targets, admission), (name, res, first)
    if {"cpp", "numba"} <= set(results) and admission is None:
        assert results["cpp"].rate == results["numba"].rate
        assert results["cpp"].binding == results["numba"].binding


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(replicas(), st.floats(0.0, 1.5))
def test_size_many_rows_equal_scalar_calls(replica, u):
    """The batch kernel sizes each row as Replica.size does (an ITL and a TTFT target)."""
    model, batch, queue = replica
    r = ip.Replica(model, batch, queue)
    idle, busy = r.analyze(0.0), r.analyze(0.95 * r.max_rate)
    itl = idle.itl_ms + u * (busy.itl_ms - idle.itl_ms) + 1e-9 * idle.itl_ms
    ttft = idle.ttft_ms + (1.5 - u) * (busy.ttft_ms - idle.ttft_ms) + 1e-9 * idle.ttft_ms
    p = model.params()
    out = ip.size_many(kind=int(p[0]), alpha=p[1], beta=p[2], gamma=p[3], in_tokens=p[4],
                       out_tokens=p[5], max_num_tokens=p[6], max_batch=batch, max_queue=queue,
                       itl_ms=itl, ttft_ms=ttft)  # fmt: skip
    res = r.size(itl_ms=itl, ttft_ms=ttft)
    assert out["status"][0] == res.status
    if res.status == ip.Status.OK:
        assert out["rate"][0] == res.rate
        check_sized(r, res, {"itl_ms": itl, "ttft_ms": ttft}, grid=12)

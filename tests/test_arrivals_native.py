"""The C++ port of the non-Poisson solve against the NumPy reference.

The kernel (cpp/include/inferplan/qbd.hpp) against the NumPy reference
(inferplan.phasetype, inferplan.arrivals on the numpy backend), over a grid of
arrival CVs, service models, queues and admission rules; the Poisson route (same bits as
the Replica calls), the batch calls with an arrival_cv column, and bad input.

Tolerance: both sides run the same operations on the same fitted phase-type law, but the
small dense solves (LU with partial pivoting here, LAPACK there), the sums (sequential
here, pairwise in NumPy) and the Poisson weights of a finite queue's wait (lgamma here, a
cumulative sum of logs there) round differently: the agreement measured is about 1e-13
relative; the tests ask 1e-9 (sizing: the same status and binding, and the rate to 1e-9,
its bracket being closed to 1e-10).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import inferplan
from inferplan import arrivals, phasetype
from inferplan._kernels import dispatch
from inferplan.admission import CODES
from inferplan.sizing import BINDING_NAMES, target_tuple

pytestmark = pytest.mark.skipif(
    "cpp" not in dispatch.available(), reason="the cpp backend is not available"
)

CVS = (0.0, 0.5, 1.0, 1.5, 2.0)
MODELS = {
    "decode": inferplan.DecodeOnly(19, 1, 256),
    "prefill": inferplan.PrefillDecode(8, 0.02, 5e-5, 500, 200),
}
QUEUES = (None, 0, 25)
RULES = (None, "immediate", "iteration")
REL = 1e-9


def _pair(model, max_batch, max_queue):
    """Return the same replica on the cpp backend and on the numpy one (the reference)."""
    dispatch.use("numpy")
    try:
        ref = inferplan.Replica(model, max_batch=max_batch, max_queue=max_queue)
    finally:
        dispatch.use(None)
    dispatch.use("cpp")
    try:
        cpp = inferplan.Replica(model, max_batch=max_batch, max_queue=max_queue)
    finally:
        dispatch.use(None)
    assert arrivals._native(cpp) is not None
    assert arrivals._native(ref) is None
    return cpp, ref


def _close(a, b, rel=REL):
    return a == b or abs(a - b) <= rel * max(abs(a), abs(b))


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("max_queue", QUEUES)
@pytest.mark.parametrize("cv", CVS)
def test_analyze_and_quantiles_match_the_reference(name, max_queue, cv):
    cpp, ref = _pair(MODELS[name], 12, max_queue)
    for frac in (0.3, 0.85):
        rate = frac * cpp.max_rate
        for rule in RULES:
            got = arrivals.analyze(cpp, rate, arrival_cv=cv, admission=rule)
            want = arrivals.analyze(ref, rate, arrival_cv=cv, admission=rule)
            for field, a, b in zip(got._fields, got, want, strict=True):
                assert _close(a, b), (field, rule, frac, a, b)
            for q in (0.5, 0.95):
                for fn in (arrivals.wait_quantile, arrivals.ttft_quantile):
                    a = fn(cpp, rate, q, arrival_cv=cv, admission=rule)
                    b = fn(ref, rate, q, arrival_cv=cv, admission=rule)
                    assert _close(a, b), (fn.__name__, q, rule, frac, a, b)


def test_service_times_and_balanced_fit_match_the_reference():
    tau = 1000.0 * np.arange(1, 9) / np.linspace(2.0, 12.0, 8)
    cpp, ref = _pair(inferplan.ServiceTimes(tau, out_tokens=50), None, 10)
    for cv in (0.3, 2.5):
        for fit in ("gamma", "balanced"):
            for rule in RULES:
                rate = 0.7 * cpp.max_rate
                got = arrivals.analyze(cpp, rate, arrival_cv=cv, admission=rule, fit=fit)
                want = arrivals.analyze(ref, rate, arrival_cv=cv, admission=rule, fit=fit)
                assert all(_close(a, b) for a, b in zip(got, want, strict=True)), (cv, fit)


SIZE_TARGETS = (
    {"itl_ms": 40.0},
    {"ttft_ms": 300.0},
    {"wait_percentile": (0.9, 200.0)},
    {"ttft_percentile": (0.95, 500.0), "max_block": 0.01},
    {"wait_ms": 1e-9},  # infeasible
    {"tps": 100.0},  # no target binds below the cap
)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("max_queue", [None, 25])
@pytest.mark.parametrize("cv", [0.5, 2.0])
def test_size_matches_the_reference(name, max_queue, cv):
    cpp, ref = _pair(MODELS[name], 12, max_queue)
    for targets in SIZE_TARGETS:
        for rule in (None, "iteration"):
            got = arrivals.size(cpp, arrival_cv=cv, admission=rule, **targets)
            want = arrivals.size(ref, arrival_cv=cv, admission=rule, **targets)
            key = (targets, rule)
            # The evaluation count may differ by a few where rounding steers a false
            # position step differently near a flat excess (a 1e-9 ms wait target).
            assert (got.status, got.binding) == (want.status, want.binding), key
            assert got.iterations <= 200
            assert _close(got.rate, want.rate), (key, got.rate, want.rate)
            if want.metrics is None:
                assert got.metrics is None
            else:
                pairs = zip(got.metrics, want.metrics, strict=True)
                assert all(_close(a, b, 1e-8) for a, b in pairs)


def test_size_at_a_constant_rate_matches_the_reference():
    """Cv 0: the Erlang-64 gap law (64 phases) through the whole search."""
    cpp, ref = _pair(MODELS["decode"], 8, None)
    got = arrivals.size(cpp, arrival_cv=0.0, itl_ms=40.0, wait_percentile=(0.9, 100.0))
    want = arrivals.size(ref, arrival_cv=0.0, itl_ms=40.0, wait_percentile=(0.9, 100.0))
    assert (got.status, got.binding, got.iterations) == (want.status, want.binding,
                                                         want.iterations)  # fmt: skip
    assert _close(got.rate, want.rate)


def test_poisson_is_the_replica_call_bit_for_bit():
    dispatch.use("cpp")
    try:
        r = inferplan.Replica(MODELS["prefill"], max_batch=16, max_queue=30)
    finally:
        dispatch.use(None)
    from inferplan import _core

    rate = 0.6 * r.max_rate
    for rule in RULES:
        code = CODES[rule]
        status, values = _core.analyze_arrivals(r._handle, rate, 1.0, code)
        assert status == 0
        assert tuple(values) == tuple(r.analyze(rate, admission=rule))
        status, w, t = _core.quantiles_arrivals(r._handle, rate, 0.9, 1.0, code)
        assert status == 0
        assert (w, t) == (r.wait_quantile(rate, 0.9, admission=rule),
                          r.ttft_quantile(rate, 0.9, admission=rule))  # fmt: skip
        targets = {"ttft_ms": 400.0, "itl_ms": 60.0}
        status, rate_s, binding, iterations, values = _core.size_arrivals(
            r._handle, target_tuple(**targets), 1.0, code
        )
        expected = r.size(admission=rule, **targets)
        assert (status, rate_s, BINDING_NAMES[binding], iterations) == (
            int(expected.status), expected.rate, expected.binding, expected.iterations,
        )  # fmt: skip


@pytest.mark.parametrize("cv", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("max_queue", [math.inf, 0.0, 40.0])
def test_solve_matches_the_reference(cv, max_queue):
    from inferplan import _core

    mu = np.arange(1, 11) / (20.0 + 3.0 * np.arange(1, 11))  # per ms
    lam = 0.8 * mu[-1]
    ph = phasetype.renewal(cv)
    want = phasetype.solve(mu, max_queue, lam, ph)
    status, p, pa, sigma, tail_p = _core.qbd_solve(mu, max_queue, lam, cv)
    assert status == 0
    np.testing.assert_allclose(p, want.p, rtol=1e-11, atol=1e-300)
    np.testing.assert_allclose(pa, want.pa, rtol=1e-11, atol=1e-300)
    if math.isinf(max_queue):
        assert _close(sigma, want.sigma, 1e-12)
        assert _close(tail_p, want.tail_p, 1e-11)
    # the fitted law itself
    status, alpha, S = _core.renewal_fit(cv)
    np.testing.assert_allclose(alpha, ph.alpha, rtol=1e-14)
    np.testing.assert_allclose(S, ph.S, rtol=1e-14)


@pytest.mark.parametrize("cv", [0.0, 0.3, 0.5, 2.0])
def test_renewal_count_matches_the_reference(cv):
    """The kernel's renewal function equals the reference's and has the long-run slope.

    Uniformization for Erlang mixtures, a matrix exponential otherwise, against the
    reference's matrix exponential.
    """
    from inferplan import _core

    ph = phasetype.renewal(cv)
    # (Where m(d) is tiny, 1e-11 and below, the reference's matrix exponential loses
    # relative precision to rounding, and the comparison would measure that.)
    for lam, d in ((0.05, 40.0), (0.2, 300.0), (1.0, 5000.0)):
        status, got = _core.renewal_count(cv, lam, d)
        assert status == 0
        assert _close(got, phasetype.renewal_count(ph, lam, d), 1e-11), (lam, d)
    # m(d) - lam d tends to (c2 - 1) / 2 (renewal theory; c2 the fitted law's squared CV)
    status, far = _core.renewal_count(cv, 1.0, 1e4)
    assert abs(far - 1e4 - (ph.scv - 1.0) / 2.0) < 1e-6


def test_single_server_against_the_gi_m_1_root():
    """H2/M/1 and E_k/M/1 (one slot, unbounded queue) match the GI/M/1 root.

    The mean wait is sigma / (mu (1 - sigma)) with sigma the root of
    sigma = A*(mu (1 - sigma)), found here by bisection on the fitted gap law's transform
    (independent of the kernel).
    """
    dispatch.use("cpp")
    try:
        r = inferplan.Replica(inferplan.ServiceTimes([10.0]), max_queue=None)
    finally:
        dispatch.use(None)
    mu = 0.1
    for cv in (0.5, 2.0):
        ph = phasetype.renewal(cv)
        for rho in (0.3, 0.8):
            lam = rho * mu

            def f(s, ph=ph, lam=lam):
                return ph.lst(mu * (1.0 - s) / lam) - s

            lo, hi = 0.0, 1.0 - 1e-12
            for _ in range(200):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
            sigma = 0.5 * (lo + hi)
            m = arrivals.analyze(r, lam * 1000.0, arrival_cv=cv)
            assert _close(m.wait_ms, sigma / (mu * (1.0 - sigma)), 1e-9), (cv, rho)
            assert _close(m.p_block, 0.0)


def test_batch_calls_match_the_scalar_calls():
    from inferplan import _core

    model = MODELS["prefill"]
    rows = 7
    cfg = (
        np.full(rows, model.params()[0], np.int32),
        *(np.full(rows, v, float) for v in model.params()[1:]),
        np.full(rows, 12, np.int64),
        np.array([math.inf, 0.0, 25.0, math.inf, 25.0, math.inf, 25.0]),
    )
    cv = np.array([0.0, 0.5, 1.0, 2.0, 1.5, -1.0, math.nan])
    dispatch.use("cpp")
    try:
        mr = inferplan.Replica(model, max_batch=12).max_rate
        replicas = [inferplan.Replica(model, max_batch=12, max_queue=q)._handle for q in cfg[8]]
    finally:
        dispatch.use(None)
    rate = np.full(rows, 0.6 * mr)
    outs = [np.empty(rows) for _ in inferplan.Metrics._fields]
    status = np.empty(rows, np.int32)
    _core.analyze_arrivals_many(cfg, rate, cv, outs, status, 1, CODES["iteration"])
    assert status.tolist() == [0, 0, 0, 0, 0, 40, 40]
    for i in range(5):
        s, values = _core.analyze_arrivals(replicas[i], rate[i], cv[i], CODES["iteration"])
        assert s == 0
        assert [o[i] for o in outs] == list(values)
    assert all(math.isnan(o[5]) for o in outs)
    # sizing, with one cv broadcast to every row
    targets = tuple(np.full(rows, v, float) for v in target_tuple(itl_ms=45.0, ttft_ms=400.0))
    size_out = [np.empty(rows) for _ in inferplan.Metrics._fields]
    srate, sstat = np.empty(rows), np.empty(rows, np.int32)
    binding, its = np.empty(rows, np.int32), np.empty(rows, np.int32)
    _core.size_arrivals_many(cfg, targets, np.array([2.0]), size_out, srate, sstat, binding, its)
    for i in range(rows):
        s, r_, b, n, values = _core.size_arrivals(
            replicas[i], target_tuple(itl_ms=45.0, ttft_ms=400.0), 2.0
        )
        assert (sstat[i], srate[i], binding[i], its[i]) == (s, r_, b, n)
        assert [o[i] for o in size_out] == list(values)
    wait, ttft = np.empty(rows), np.empty(rows)
    _core.quantiles_arrivals_many(cfg, rate, np.array([0.9]), cv, wait, ttft, status)
    for i in range(5):
        assert (wait[i], ttft[i]) == _core.quantiles_arrivals(replicas[i], rate[i], 0.9, cv[i])[1:]
    assert status[5] == 40
    assert math.isnan(wait[5])


def test_bad_input_gets_a_status_or_a_clear_error():
    from inferplan import _core

    dispatch.use("cpp")
    try:
        r = inferplan.Replica(MODELS["decode"], max_batch=8, max_queue=10)
        long_queue = inferplan.Replica(MODELS["decode"], max_batch=8, max_queue=500_000)
        deep = inferplan.Replica(MODELS["decode"], max_batch=8, max_queue=399_992)
    finally:
        dispatch.use(None)
    for cv in (-1.0, math.nan, math.inf, 101.0):
        assert _core.analyze_arrivals(r._handle, 1.0, cv)[0] == inferplan.Status.BAD_ARRIVAL_CV
        assert _core.size_arrivals(r._handle, target_tuple(itl_ms=40.0), cv)[0] == 40
        with pytest.raises(ValueError, match="arrival_cv"):
            arrivals.analyze(r, 1.0, arrival_cv=cv)
    assert _core.analyze_arrivals(r._handle, 1.0, 2.0, 0, 7)[0] == inferplan.Status.BAD_ARRIVAL_FIT
    assert _core.analyze_arrivals(r._handle, 1.0, 2.0, 5)[0] == inferplan.Status.BAD_ADMISSION
    assert _core.analyze_arrivals(r._handle, -1.0, 2.0)[0] == inferplan.Status.BAD_RATE
    assert _core.quantiles_arrivals(r._handle, 1.0, 1.0, 2.0)[0] == inferplan.Status.BAD_QUANTILE
    with pytest.raises(ValueError, match="fit"):
        arrivals.analyze(r, 1.0, arrival_cv=2.0, fit="lognormal")
    # too many levels: refused at once, with the reason
    with pytest.raises(ValueError, match="too large"):
        arrivals.analyze(long_queue, 1.0, arrival_cv=0.5)
    # 400,000 levels of 64 phases per solve: sizing stops at the work bound (after three
    # solves), without a rate
    res = arrivals.size(deep, arrival_cv=0.0, itl_ms=100.0)
    assert res.status == inferplan.Status.NOT_CERTIFIED
    assert res.metrics is None
    # unstable (unbounded queue at saturation)
    dispatch.use("cpp")
    try:
        open_q = inferplan.Replica(MODELS["decode"], max_batch=8)
    finally:
        dispatch.use(None)
    with pytest.raises(ValueError, match="saturation"):
        arrivals.analyze(open_q, open_q.max_rate * 1.01, arrival_cv=2.0)


def test_lengths_path_uses_the_kernel_solve():
    """With length laws the kernel's solve gives the reference's numbers.

    The service vector comes from Python and the solve from the kernel.
    """
    from inferplan.lengths import Lengths

    cpp, ref = _pair(MODELS["prefill"], 16, None)
    lengths = Lengths(in_cv=0.5, out_cv=1.5)
    for cv in (0.5, 2.0):
        got = arrivals.analyze(cpp, 5.0, arrival_cv=cv, lengths=lengths, admission="iteration")
        want = arrivals.analyze(ref, 5.0, arrival_cv=cv, lengths=lengths, admission="iteration")
        assert all(_close(a, b) for a, b in zip(got, want, strict=True))
        a = arrivals.ttft_quantile(cpp, 5.0, 0.9, arrival_cv=cv, by_batch=True)
        b = arrivals.ttft_quantile(ref, 5.0, 0.9, arrival_cv=cv, by_batch=True)
        assert _close(a, b)


@pytest.mark.parametrize("rule", [None, "iteration"])
def test_analyze_many_on_every_backend(rule):
    """arrivals.analyze_many equals the scalar calls on every backend; bad rows get a status.

    The kernel's batch call on the C++ backend, rows of the reference elsewhere.
    """
    cfg = {
        "kind": [0, 1, 1, 0, 1, 0],
        "alpha": 19.0,
        "beta": [1.0, 0.02, 0.02, 1.0, 0.02, 1.0],
        "gamma": 5e-5,
        "in_tokens": 500.0,
        "out_tokens": [256.0, 200.0, 200.0, 256.0, 200.0, 256.0],
        "max_batch": 12,
        "max_queue": [None, 25, 0, None, 25, None],
    }
    cv = [0.0, 0.5, 1.0, 2.0, -1.0, 1.5]
    rate = [0.2, 1.5, 1.0, 0.3, 1.0, 100.0]  # the last row is above saturation
    results = {}
    for backend in ("cpp", "numpy"):
        dispatch.use(backend)
        try:
            results[backend] = arrivals.analyze_many(
                rate=rate, arrival_cv=cv, admission=rule, **cfg
            )
        finally:
            dispatch.use(None)
    got, ref = results["cpp"], results["numpy"]
    assert got["status"].tolist() == ref["status"].tolist() == [0, 0, 0, 0, 40, 1]
    for name in inferplan.Metrics._fields:
        for i in range(4):
            assert _close(got[name][i], ref[name][i]), (name, i)
        assert math.isnan(got[name][4])
        assert math.isnan(ref[name][5])
    models = [MODELS["decode"], None, None, MODELS["decode"]]
    for i in (0, 3):
        dispatch.use("cpp")
        try:
            r = inferplan.Replica(models[i], max_batch=12, max_queue=cfg["max_queue"][i])
        finally:
            dispatch.use(None)
        m = arrivals.analyze(r, rate[i], arrival_cv=cv[i], admission=rule)
        assert [got[name][i] for name in m._fields] == list(m)


def test_a_huge_batch_at_a_constant_rate_is_refused_not_solved():
    """64 phases x 1.6 million levels is beyond the work bound: a clear error at once."""
    dispatch.use("cpp")
    try:
        r = inferplan.Replica(MODELS["decode"], max_batch=1_600_000)
    finally:
        dispatch.use(None)
    with pytest.raises(ValueError, match="max_batch = 1600000 is too large"):
        arrivals.analyze(r, 0.5 * r.max_rate, arrival_cv=0.0)


@pytest.mark.parametrize("max_queue", [None, 20])
@pytest.mark.parametrize("cv", [0.0, 1.0, 2.0])
def test_ttft_by_batch_matches_the_reference(max_queue, cv):
    cpp, ref = _pair(MODELS["prefill"], 16, max_queue)
    for frac in (0.4, 0.9):
        rate = frac * cpp.max_rate
        for rule in RULES:
            for q in (0.5, 0.99):
                a = arrivals.ttft_quantile(cpp, rate, q, arrival_cv=cv, admission=rule,
                                           by_batch=True)  # fmt: skip
                b = arrivals.ttft_quantile(ref, rate, q, arrival_cv=cv, admission=rule,
                                           by_batch=True)  # fmt: skip
                assert _close(a, b), (frac, rule, q, a, b)


@pytest.mark.parametrize("fit", ["gamma", "balanced"])
@pytest.mark.parametrize("cv", [0.3, 0.8, 1.6, 3.0])
def test_prefill_collision_law_matches_the_reference(fit, cv):
    """The kernel's prefill-collision law (immediate admission) equals arrivals.py's.

    The counts before and after an arrival come from the Gamma renewal process (``gamma``),
    or from the fitted law (``balanced``): a matrix exponential for two phases (CV 0.8: an
    Erlang mixture of two; CV above 1: the H2), Poisson with the renewal mean otherwise
    (CV 0.3). The admitted TTFT's mean overlap is the Gamma process's count under ``gamma``.
    """
    cpp, ref = _pair(MODELS["prefill"], 16, None)
    for frac in (0.2, 0.7):
        rate = frac * cpp.max_rate
        solved = arrivals._solved(ref, rate, cv, None, fit)
        values, probs = solved.collisions("immediate")
        assert values.size > 1
        assert math.isclose(float(probs.sum()), 1.0, rel_tol=1e-12)
        for q in (0.5, 0.99):
            a = arrivals.ttft_quantile(cpp, rate, q, arrival_cv=cv, admission="immediate",
                                       fit=fit, by_batch=True)  # fmt: skip
            b = solved.ttft_by_batch(q, "immediate")
            assert _close(a, b), (frac, q, a, b)
        got = arrivals.analyze(cpp, rate, arrival_cv=cv, admission="immediate", fit=fit)
        want = solved.admitted("immediate")
        for field, x, y in zip(got._fields, got, want, strict=True):
            assert _close(x, y), (field, frac, x, y)


BATCH_ROWS = {
    "kind": [1, 0, 1, 1, 0, 1, 0, 1],
    "alpha": [8.0, 19.0, 8.0, 8.0, 19.0, 8.0, 19.0, 8.0],
    "beta": [0.02, 1.0, 0.02, 0.02, 1.0, 0.02, 1.0, 0.02],
    "gamma": [5e-5, 0.0, 5e-5, 5e-5, 0.0, 5e-5, 0.0, 5e-5],
    "in_tokens": [500.0, 0.0, 500.0, 500.0, 0.0, 500.0, 0.0, 500.0],
    "out_tokens": [200.0, 256.0, 200.0, 200.0, 256.0, 200.0, 256.0, 200.0],
    "max_batch": [32, 48, 16, 32, 48, 32, 8, 32],
    # row 6: a finite queue beyond the exact solve's 400,000 levels
    "max_queue": [np.inf, 100.0, 20.0, np.inf, np.inf, np.inf, 500000.0, 0.0],
    # row 3: Poisson (the kernel's own row), row 5: a bad CV
    "arrival_cv": [2.0, 0.5, 0.0, 1.0, 3.0, -1.0, 2.0, 1.5],
    # row 7: an output-length law (the loop's row on every backend)
    "out_tokens_cv": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.8],
}


def _batch_both_ways(monkeypatch, call, **kwargs):
    """Return a batch call's columns through the kernel's rows and through the row loop.

    The loop is what the call did before the kernel took the rows with mean output
    lengths: ``inferplan.arrivals`` row by row (on the C++ backend, the kernel's scalar
    arrival calls).
    """
    from inferplan import _core

    calls = []
    for name in ("analyze_arrivals_many", "size_arrivals_many"):
        kernel = getattr(_core, name)
        monkeypatch.setattr(_core, name, lambda *a, _k=kernel, **k: calls.append(a) or _k(*a, **k))
    dispatch.use("cpp")
    try:
        fast = call(**kwargs)
        assert len(calls) == 1
        assert calls[0][0][0].size == 5  # rows 0, 1, 2, 4 and 6: cv != 1, mean lengths
        with monkeypatch.context() as m:
            m.setattr(arrivals, "_analyze_in_kernel", lambda *a: a[4])
            m.setattr(arrivals, "_size_in_kernel", lambda *a: a[4])
            slow = call(**kwargs)
        assert len(calls) == 1
    finally:
        dispatch.use(None)
    return fast, slow


@pytest.mark.parametrize("rule", RULES)
def test_batch_rows_with_a_cv_take_the_kernel_and_equal_the_row_loop(monkeypatch, rule):
    """analyze_many/size_many's arrival_cv rows in one kernel call equal the loop's rows."""
    rate = np.array([3.0, 2.0, 1.5, 3.0, 2.5, 3.0, 1.0, 3.0])
    fast, slow = _batch_both_ways(monkeypatch, inferplan.analyze_many, **BATCH_ROWS,
                                  rate=rate, admission=rule, threads=2)  # fmt: skip
    assert list(fast["status"]) == list(slow["status"])
    assert list(fast["status"]) == [0, 0, 0, 0, 0, 40, 43, 0]
    for name in inferplan.Metrics._fields:
        np.testing.assert_array_equal(fast[name], slow[name], err_msg=name)
    sized = {"itl_ms": 40.0, "ttft_percentile": (0.95, 3000.0), "metrics": "all"}
    fast, slow = _batch_both_ways(monkeypatch, inferplan.size_many, **BATCH_ROWS,
                                  admission=rule, threads=2, **sized)  # fmt: skip
    assert list(fast["status"]) == list(slow["status"])
    assert fast["status"][5] == inferplan.Status.BAD_ARRIVAL_CV
    assert fast["status"][6] == inferplan.Status.BAD_ARRIVAL_LEVELS
    for name in ("rate", "binding", "iterations", *inferplan.Metrics._fields):
        np.testing.assert_array_equal(fast[name], slow[name], err_msg=name)
    assert np.isfinite(fast["rate"][[0, 1, 2, 3, 4, 7]]).all()


@pytest.mark.parametrize(("in_tokens", "cv"), [(6000.0, 3.0), (3000.0, 5.0)])
def test_large_collision_law_summed_by_fft_matches_the_reference(in_tokens, cv):
    """A collision law too large for repeated convolutions equals the reference's.

    Above 2e7 multiply-adds (qbd.hpp's kCollisionDirectWork) the kernel sums the law on
    the transform (FFT) instead; these two replicas are above it (about 4e7 and 5e7: 8 and
    4 chunks, bursty arrivals), the reference convolves directly.
    """
    model = inferplan.PrefillDecode(8, 0.02, 5e-5, in_tokens, 200, 1024)
    cpp, ref = _pair(model, 32, None)
    rate = 0.5 * cpp.max_rate
    solved = arrivals._solved(ref, rate, cv, None, "gamma")
    m = solved.metrics
    c = float(inferplan.admission._chunks_at(m.in_service, 32, in_tokens, 200, 1024))
    work = 0.0
    for window in (m.prefill_ms, m.prefill_ms + m.itl_ms):
        k = arrivals._gamma_counts(cv, rate / 1000.0, window).size
        work += 0.5 * k * k * (16 * c + 1) * 16 * c
    assert work > 2e7
    for q in (0.5, 0.99):
        a = arrivals.ttft_quantile(cpp, rate, q, arrival_cv=cv, admission="immediate",
                                   by_batch=True)  # fmt: skip
        assert _close(a, solved.ttft_by_batch(q, "immediate")), (q, a)


def test_collision_law_beyond_the_work_bound_is_refused_by_both_backends():
    """A collision law beyond the kernel's work bound gets BAD_ARRIVAL_COLLISIONS, not seconds.

    Arrival CV 10 with a 132,096-token prompt (hundreds of 1,024-token chunks at half load):
    the FFT sum would take about 2e10 units of work (some 20 s); both backends estimate it
    first (arrivals._collision_work, qbd.hpp's collision_fft_work) and refuse it. The same
    replica under another admission rule, or at CV 1, is still answered.
    """
    model = inferplan.PrefillDecode(8, 0.02, 5e-5, 129 * 1024.0, 200, 1024)
    cpp, ref = _pair(model, 32, None)
    rate = 0.5 * cpp.max_rate
    solved = arrivals._solved(ref, rate, 10.0, None, "gamma")
    m = solved.metrics
    c = float(inferplan.admission._chunks_at(m.in_service, 32, 129 * 1024.0, 200, 1024))
    assert c > 128
    sides = []
    for window in (m.prefill_ms, m.prefill_ms + m.itl_ms):
        counts = arrivals._gamma_counts(10.0, rate / 1000.0, window)
        sides.append((counts, np.ones(int(16 * c) + 1)))  # the jumps' lattice length
    assert arrivals._collision_work(*sides) > 10 * arrivals.MAX_WORK
    from inferplan import _core

    status, _ = _core.ttft_by_batch_arrivals(cpp._handle, rate, 0.99, 10.0,
                                             CODES["immediate"], 0)  # fmt: skip
    assert status == inferplan.Status.BAD_ARRIVAL_COLLISIONS == 44
    message = inferplan.status_message(inferplan.Status.BAD_ARRIVAL_COLLISIONS)
    assert "work bound" in message
    with pytest.raises(ValueError, match="prefill-collision law"):
        arrivals.ttft_quantile(cpp, rate, 0.99, arrival_cv=10.0, admission="immediate",
                               by_batch=True)  # fmt: skip
    with pytest.raises(ValueError, match="prefill-collision law"):
        solved.ttft_by_batch(0.99, "immediate")
    for rule in (None, "iteration"):
        a = arrivals.ttft_quantile(cpp, rate, 0.99, arrival_cv=10.0, admission=rule,
                                   by_batch=True)  # fmt: skip
        assert _close(a, solved.ttft_by_batch(0.99, rule)), (rule, a)


def test_collision_search_on_a_long_finite_queue_is_charged_to_the_work_bound():
    """The by-batch search over a collision law counts against the bound with the law.

    Each of its CDF evaluations takes the wait law at every lattice value of the collision
    law: closed form for an unbounded queue, a sum over the slots of a finite one. CV 3,
    five chunks: about 1,800 values, cheap on an unbounded queue (both backends agree), and
    beyond the bound with 2,048 queue slots (arrivals._collision_search_work: 40 x 1,800 x
    20,480), refused by both.
    """
    model = inferplan.PrefillDecode(8, 0.02, 5e-5, 4096.0, 200, 1024)
    for max_queue in (None, 2048):
        cpp, ref = _pair(model, 32, max_queue)
        rate = 0.5 * cpp.max_rate
        solved = arrivals._solved(ref, rate, 3.0, None, "gamma")
        extra, _ = solved.collisions("immediate")
        assert extra.size > 1000
        if max_queue is None:
            a = arrivals.ttft_quantile(cpp, rate, 0.99, arrival_cv=3.0, admission="immediate",
                                       by_batch=True)  # fmt: skip
            assert _close(a, solved.ttft_by_batch(0.99, "immediate")), a
            continue
        search = arrivals._collision_search_work(extra.size, max_queue)
        assert solved.collision_work < arrivals.MAX_WORK < solved.collision_work + search
        with pytest.raises(ValueError, match="prefill-collision law"):
            arrivals.ttft_quantile(cpp, rate, 0.99, arrival_cv=3.0, admission="immediate",
                                   by_batch=True)  # fmt: skip
        with pytest.raises(ValueError, match="prefill-collision law"):
            solved.ttft_by_batch(0.99, "immediate")

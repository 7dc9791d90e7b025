"""Regression tests for hostile and extreme inputs (issue: hangs, OK with NaN, wrapped codes).

Every case runs on every backend (the ``backend`` fixture) and compares with an independent
truth: the model's definitions (docs/model.md 1 and 2.2) evaluated directly, the limits of
the chain at huge load, or the documented status.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import inferplan as ip
from inferplan import Status
from inferplan._kernels import reference

SEED = ip.DecodeOnly(alpha=19, beta=1, out_tokens=1024)  # the README replica: N 48, Q 152


def _brute_chunks(L, m, M, b):
    """c(b) = min{j : b_j >= b} by walking j upwards (docs/model.md 2.2): small cases only."""
    j = 1
    while math.floor(max(0.0, (j + m) * (M - L / j) / (L + m))) < b:
        j += 1
    return j


def _tau(L, m, M, alpha, beta, gamma, b, c):
    w_pre = (beta + gamma * (c + 1) / 2) * L
    w_dec = beta * m + gamma * m * (L + (m + 1) / 2)
    return (c + m) * (alpha + b * (w_pre + w_dec) / (c + m))


# ------------------------------------------------------------------ chunk counts


@pytest.mark.parametrize(
    ("L", "m", "M", "N"),
    [
        (500, 200, 8192, 64),
        (6000, 200, 2048, 300),
        (30000, 10, 2048, 40),
        (1e5, 100, 16, 50),
        (81339.6, 5.41, 554.4, 30),
        (3.5, 0.7, 1.5, 20),
    ],
)
def test_chunk_counts_follow_the_definition(backend, L, m, M, N):
    """tau(N) (seen through max_rate = N / tau(N)) uses c(N) = min{j : b_j >= N}."""
    c = _brute_chunks(L, m, M, N)
    model = ip.PrefillDecode(2.0, 0.01, 1e-5, L, m, M)
    expect = N / _tau(L, m, M, 2.0, 0.01, 1e-5, N, c) * 1000
    assert ip.Replica(model, max_batch=N).max_rate == pytest.approx(expect, rel=1e-12)
    np.testing.assert_array_equal(
        reference.chunk_counts(L, m, M, N), [_brute_chunks(L, m, M, b) for b in range(1, N + 1)]
    )


def test_enormous_chunk_counts_finish(backend):
    """in_tokens 1e5 at 16 tokens per iteration and batch 1e5 needs ~6e8 chunks at the top.

    The search is bounded (it used to step one chunk at a time, forever).
    """
    cols = dict(
        kind=1,
        alpha=19.0,
        beta=1e-3,
        gamma=0.0,
        in_tokens=1e5,
        out_tokens=100.0,
        max_num_tokens=16.0,
        max_batch=100_000 if backend != "numpy" else 2000,
    )
    res = ip.analyze_many(**cols, rate=1e-7)
    assert res["status"][0] == Status.OK
    N = cols["max_batch"]
    c = reference.chunk_counts(1e5, 100.0, 16.0, N)[-1]
    assert c > 1e5
    assert (c - 1 + 100) * (16 - 1e5 / (c - 1)) / (1e5 + 100) < N
    assert res["max_rate"][0] == pytest.approx(
        N / _tau(1e5, 100.0, 16.0, 19.0, 1e-3, 0.0, N, c) * 1000, rel=1e-12
    )
    sized = ip.size_many(**cols, itl_ms=1e6)
    assert sized["status"][0] in (Status.OK, Status.INFEASIBLE_ITL)


@pytest.mark.parametrize(("in_tokens", "max_num_tokens"), [(100, 1e-15), (1e20, 8192.0)])
def test_more_than_2_53_chunks_is_a_named_error(backend, in_tokens, max_num_tokens):
    model = ip.PrefillDecode(19, 1, 0, in_tokens, 1024, max_num_tokens=max_num_tokens)
    with pytest.raises(ValueError, match="max_num_tokens"):
        ip.Replica(model, max_batch=4)
    res = ip.analyze_many(
        kind=1,
        alpha=19,
        beta=1,
        gamma=0,
        in_tokens=in_tokens,
        out_tokens=1024,
        max_num_tokens=max_num_tokens,
        max_batch=4,
        rate=1.0,
    )
    assert res["status"][0] == Status.BAD_MAX_NUM_TOKENS


@pytest.mark.parametrize("in_tokens", [1e18, 1e19])
def test_huge_prompts_are_analysed(backend, in_tokens):
    """1e19 used to hang where 1e18 took 2 ms: both are models with ~1e15 chunks."""
    r = ip.Replica(ip.PrefillDecode(19, 1, 0, in_tokens, 1024), max_batch=4, max_queue=10)
    m = r.analyze(0.5 * r.max_rate)
    assert all(math.isfinite(v) and v >= 0 for v in m)
    c = reference.chunk_counts(in_tokens, 1024.0, 8192.0, 4)[-1]
    assert m.max_rate == pytest.approx(
        4 / _tau(in_tokens, 1024, 8192, 19, 1, 0, 4, c) * 1000, rel=1e-12
    )


# ------------------------------------------------------------------ service-time range


@pytest.mark.parametrize(
    "model",
    [
        ip.DecodeOnly(1e300, 1, 1024),
        ip.DecodeOnly(1e-300, 0, 1),
        ip.DecodeOnly(0, 5e-324, 0.5),
        ip.PrefillDecode(1e300, 1, 1, 1e6, 1e6),
    ],
)
def test_service_times_out_of_range_are_rejected(backend, model):
    with pytest.raises(ValueError, match="service times"):
        ip.Replica(model, max_batch=8)


# ------------------------------------------------------------------ huge loads


@pytest.mark.parametrize("rate", [1e130, 1e300, 1.7e308])
def test_huge_load_on_a_finite_queue_is_the_full_chain(backend, rate):
    """At lam / mu(N) -> inf a finite chain sits at K = N + Q.

    p_block -> 1, X -> mu(N), L = K, B = N, and the times follow by Little's law (README: no
    overflow at any load).
    """
    r = ip.Replica(SEED, max_batch=48, max_queue=152)
    m = r.analyze(rate)
    mu = 48 / (1024 * (19 + 48)) * 1000  # mu(N), req/s
    assert m.p_block == 1.0
    assert m.p0 == 0.0
    assert m.throughput == pytest.approx(mu, rel=1e-14)
    assert (m.in_system, m.in_service, m.in_queue) == pytest.approx((200, 48, 152), rel=1e-14)
    assert m.wait_ms == pytest.approx(152 / mu * 1000, rel=1e-13)
    assert m.service_ms == pytest.approx(1024 * 67, rel=1e-13)
    assert m.itl_ms == pytest.approx(67, rel=1e-13)
    w = r.wait_quantile(rate, 0.5)
    # 152 waiting ahead: the wait is Erlang(152, mu) (median ~ (152 - 1/3) / mu).
    assert w == pytest.approx((152 - 1 / 3) / mu * 1000, rel=1e-3)


def test_huge_service_times(backend):
    r = ip.Replica(ip.DecodeOnly(1e200, 1, 1024), max_batch=48, max_queue=152)
    mu = 48 / (1024 * (1e200 + 48)) * 1000
    for rate in (1e-300, 1.0, 1e300):
        m = r.analyze(rate)
        assert all(math.isfinite(v) and v >= 0 for v in m), m
    assert r.analyze(1.0).throughput == pytest.approx(mu, rel=1e-14)
    lo = r.analyze(1e-300)  # lam / mu(N) ~ 2e-102: nearly idle
    assert lo.p_block < 1e-300
    assert lo.p0 == 1.0
    assert lo.service_ms == pytest.approx(1024 * (1e200 + 1), rel=1e-12)


def test_unbounded_queue_above_saturation_is_unstable(backend):
    rng = np.random.default_rng(5)
    n = 300 if backend != "numpy" else 40
    cols = dict(
        kind=rng.integers(0, 2, n),
        alpha=rng.uniform(1, 30, n),
        beta=10 ** rng.uniform(-4, 0, n),
        gamma=10 ** rng.uniform(-7, -3, n),
        in_tokens=10 ** rng.uniform(1, 4.5, n),
        out_tokens=10 ** rng.uniform(0, 3, n),
        max_num_tokens=2.0 ** rng.integers(6, 14, n),
        max_batch=rng.integers(1, 400, n),
    )
    mr = ip.analyze_many(**cols, rate=0.0)["max_rate"]
    for factor in (1.0, 1 + 1e-12, 1.5, 1e10):
        res = ip.analyze_many(**cols, rate=mr * factor)
        assert np.all(res["status"] == Status.UNSTABLE), factor
        assert np.all(np.isnan(res["throughput"]))
    res = ip.analyze_many(**cols, rate=mr * (1 - 1e-6))
    assert np.all(res["status"] == Status.OK)


# ------------------------------------------------------------------ the ITL read-off


def test_itl_is_never_below_a_lone_request(backend):
    """ITL never falls below a lone request's, even with chunked prefill (a reported case).

    The mean service time (an average over batches with fewer chunks) fell below the prefill
    read off at c(round(B)): ITL was -275.5 ms. The decode part keeps at least a lone
    request's, m alpha + w_dec (docs/model.md 2.2).
    """
    a, b, g, L, m = 437.23, 0.000195, 7.04e-07, 81339.6, 5.41
    r = ip.Replica(ip.PrefillDecode(a, b, g, L, m, 554.4), max_batch=2677, max_queue=3)
    res = r.analyze(0.0312)
    floor = a + b + g * (L + (m + 1) / 2)  # (m alpha + w_dec) / m
    assert res.itl_ms == pytest.approx(floor, abs=1e-7)  # service_ms is 2e8: its ulp / m
    assert res.prefill_ms + m * res.itl_ms == pytest.approx(res.service_ms, rel=1e-12)
    assert res.ttft_ms == pytest.approx(res.wait_ms + res.prefill_ms + res.itl_ms, rel=1e-12)


def test_itl_floor_leaves_ordinary_read_offs_alone(backend):
    """Where c is the same for every batch the floor never binds.

    The read-off of docs/model.md 2.2 computed here directly.
    """
    a, b, g, L, m, N, Q = 8.0, 0.02, 1e-4, 512.0, 256.0, 64, 100
    r = ip.Replica(ip.PrefillDecode(a, b, g, L, m), max_batch=N, max_queue=Q)
    for load in (1e-3, 0.3, 0.9, 3.0):
        res = r.analyze(load * r.max_rate)
        B = res.in_service
        w_pre, w_dec = (b + g) * L, b * m + g * m * (L + (m + 1) / 2)
        prefill = max(0.0, a + (B - 1) * (w_pre + w_dec) / (1 + m)) + w_pre  # c = 1
        assert res.prefill_ms == pytest.approx(prefill, rel=1e-12)
        assert res.itl_ms == pytest.approx((res.service_ms - prefill) / m, rel=1e-12)


# ------------------------------------------------------------------ quantiles


def test_wait_quantile_of_an_idle_replica_is_zero(backend):
    r = ip.Replica(ip.PrefillDecode(19.87, 0.00375, 0.0013, 234.75, 8.84), max_batch=54)
    assert r.wait_quantile(0.0, 0.9) == 0.0
    assert r.size(ttft_percentile=(0.9, 59.28)).feasible


def test_percentile_target_at_the_top_of_the_doubles(backend):
    """A TTFT percentile target of 1e308 ms is met without summing the whole queue.

    mu(N) t overflows, no queued request is still waiting then (it used to sum a window of
    the whole queue: 6.5e8 terms per evaluation).
    """
    r = ip.Replica(ip.DecodeOnly(9.9064, 0.0286, 1.6295), max_batch=87, max_queue=653211985)
    res = r.size(ttft_percentile=(0.5, 1e308))
    assert res.feasible
    assert res.rate == pytest.approx(0.999 * r.max_rate, rel=1e-12)
    assert r.size(ttft_percentile=(0.5, 1e300)).rate == res.rate


@pytest.mark.parametrize("queue", [10**10, 10**11])
def test_wait_quantile_with_enormous_queues(backend, queue):
    """Below saturation a huge finite queue is the unbounded one.

    Below saturation a 1e10/1e11 queue is the unbounded one (the closed form, exponential of
    rate mu(N)(1 - r)); the NumPy reference never allocates O(Q).
    """
    r = ip.Replica(SEED, max_batch=48, max_queue=queue)
    inf = ip.Replica(SEED, max_batch=48)
    for load in (0.9, 0.9995):
        rate = load * r.max_rate
        assert r.wait_quantile(rate, 0.99) == pytest.approx(inf.wait_quantile(rate, 0.99), rel=1e-9)


# ------------------------------------------------------------------ batch codes


@pytest.mark.parametrize("kind", [2**32, 2**32 + 1, -1, 3, 2**70, 1.5])
def test_kind_codes_do_not_wrap(backend, kind):
    cols = dict(kind=kind, alpha=19, beta=1, out_tokens=1024, max_batch=48)
    assert ip.analyze_many(**cols, rate=0.1)["status"][0] == Status.BAD_KIND
    assert ip.size_many(**cols, itl_ms=50)["status"][0] == Status.BAD_KIND


@pytest.mark.parametrize("max_batch", [2**64 - 1, 2**70, 1e300])
def test_huge_max_batch_does_not_wrap(backend, max_batch):
    cols = dict(kind=0, alpha=19, beta=1, out_tokens=1024, max_batch=max_batch)
    assert ip.analyze_many(**cols, rate=0.1)["status"][0] == Status.BAD_MAX_BATCH


@pytest.mark.parametrize("out_tokens", [5e-324, 1e-300, 1e-10])
def test_vanishing_output_lengths_are_rejected(backend, out_tokens):
    """ITL = decode time / out_tokens would overflow (it was inf with status OK)."""
    for kind in (0, 1):
        res = ip.analyze_many(
            kind=kind,
            alpha=1.0,
            beta=0.5,
            gamma=0.0,
            in_tokens=7780.0,
            out_tokens=out_tokens,
            max_batch=12,
            max_queue=8,
            rate=0.001,
        )
        assert res["status"][0] == Status.BAD_OUT_TOKENS
    assert ip.Replica(ip.DecodeOnly(1, 0.5, 1e-9), max_batch=12).analyze(0.001).itl_ms < 1e12


def test_queues_beyond_2_53_are_rejected(backend):
    """Finite queues up to 2^53 give finite metrics; an unbounded queue is inf.

    Finite queues are integers up to 2^53 (their tail moments, of order Q^2, overflowed at
    1e300: in_queue was inf with status OK); an unbounded queue is inf.
    """
    cols = dict(
        kind=1,
        alpha=0.4967,
        beta=0.1087,
        gamma=6.46e-05,
        in_tokens=3.4,
        out_tokens=1.05,
        max_num_tokens=3161.28,
        max_batch=6,
    )
    mr = ip.analyze_many(**cols, max_queue=0.0, rate=0.0)["max_rate"][0]
    rate = mr * (1 + 1e-12)
    assert ip.analyze_many(**cols, max_queue=1e300, rate=rate)["status"][0] == Status.BAD_MAX_QUEUE
    res = ip.analyze_many(**cols, max_queue=2.0**53, rate=rate)
    assert res["status"][0] == Status.OK
    # Just above saturation the queue fills to about half (the tail is nearly flat).
    assert 0.4 * 2.0**53 < res["in_queue"][0] < 2.0**53
    assert math.isfinite(res["wait_ms"][0])


def test_queues_whose_waits_overflow_are_rejected(backend):
    """Q tau(N)/N above 1e300 ms: the waits of a full queue would overflow."""
    model = ip.DecodeOnly(1e285, 1, 1024)  # tau(48)/48 = 2.1e286 ms
    with pytest.raises(ValueError, match="max_queue"):
        ip.Replica(model, max_batch=48, max_queue=10**14)
    m = ip.Replica(model, max_batch=48, max_queue=10**12).analyze(1e300)
    assert m.in_queue == pytest.approx(1e12, rel=1e-12)
    assert m.wait_ms == pytest.approx(1e12 * 1024 * (1e285 + 48) / 48, rel=1e-12)


# ------------------------------------------------------------------ the C interface


def _c_service(api, model, reserved=0):
    s = np.zeros(1, api.service_dtype)
    names = ("kind", "alpha", "beta", "gamma", "in_tokens", "out_tokens", "max_num_tokens")
    for name, value in zip(names, model.params(), strict=True):
        s[0][name] = value
    s[0]["reserved"] = reserved
    return s


def test_c_reserved_field_must_be_zero(api):
    ffi, lib = api.ffi, api.lib
    svc = _c_service(api, SEED, reserved=7)
    out = ffi.new("ip_replica**")
    assert lib.ip_replica_new(ffi.from_buffer("ip_service*", svc), 48, 152.0, ffi.NULL, out) == (
        lib.IP_BAD_RESERVED
    )
    assert out[0] == ffi.NULL
    targets = np.zeros(1, api.targets_dtype)
    targets[0]["itl_ms"] = 50.0
    res = ffi.new("ip_size_result*")
    assert (
        lib.ip_size_params(
            ffi.from_buffer("ip_service*", svc),
            48,
            152.0,
            ffi.from_buffer("ip_targets*", targets),
            res,
        )
        == lib.IP_BAD_RESERVED
    )
    assert math.isnan(res.rate)
    assert "reserved" in api.status_message(lib.IP_BAD_RESERVED)
    services = np.concatenate([_c_service(api, SEED), svc])
    max_batch = np.array([48, 48], np.int64)
    max_queue = np.array([152.0, 152.0])
    rate = np.array([0.5, 0.5])
    metrics = np.zeros(2, api.metrics_dtype)
    status = np.zeros(2, np.int32)
    assert (
        lib.ip_analyze_many(
            2,
            ffi.from_buffer("ip_service[]", services),
            ffi.from_buffer("int64_t[]", max_batch),
            ffi.from_buffer("double[]", max_queue),
            ffi.from_buffer("double[]", rate),
            ffi.from_buffer("ip_metrics[]", metrics),
            ffi.from_buffer("int32_t[]", status),
            1,
        )
        == 0
    )
    assert list(status) == [0, lib.IP_BAD_RESERVED]
    assert np.isnan(metrics[1]["itl_ms"])
    assert metrics[0]["itl_ms"] > 0
    out = np.zeros(2, api.size_result_dtype)
    both = np.concatenate([targets, targets])
    assert (
        lib.ip_size_many(
            2,
            ffi.from_buffer("ip_service[]", services),
            ffi.from_buffer("int64_t[]", max_batch),
            ffi.from_buffer("double[]", max_queue),
            ffi.from_buffer("ip_targets[]", both),
            ffi.from_buffer("ip_size_result[]", out),
            1,
        )
        == 0
    )
    assert list(out["status"]) == [0, lib.IP_BAD_RESERVED]


def test_c_nan_target_means_not_set_as_in_size_many(api):
    """ip_targets documents 0 or NaN as "not set", like inferplan.size_many.

    Both give the answer without that target.
    """
    ffi, lib = api.ffi, api.lib
    svc = ffi.from_buffer("ip_service*", _c_service(api, SEED))
    results = []
    for itl in (0.0, math.nan):
        targets = np.zeros(1, api.targets_dtype)
        targets[0]["itl_ms"] = itl
        targets[0]["ttft_ms"] = 60_000.0
        res = ffi.new("ip_size_result*")
        assert lib.ip_size_params(svc, 48, 152.0, ffi.from_buffer("ip_targets*", targets), res) == 0
        results.append((res.rate, res.binding))
    batch = ip.size_many(
        kind=0,
        alpha=19,
        beta=1,
        out_tokens=1024,
        max_batch=48,
        max_queue=152,
        itl_ms=math.nan,
        ttft_ms=60_000.0,
    )
    assert results[0] == results[1]
    assert results[0][0] == batch["rate"][0]
    assert "NaN: not set" in api.status_message(lib.IP_BAD_TARGET_ITL)


def test_c_analysis_at_huge_rates_is_finite(api):
    ffi, lib = api.ffi, api.lib
    svc = ffi.from_buffer("ip_service*", _c_service(api, SEED))
    out = ffi.new("ip_replica**")
    assert lib.ip_replica_new(svc, 48, 152.0, ffi.NULL, out) == 0
    try:
        m = ffi.new("ip_metrics*")
        for rate in (1e130, 1e300, 1.7e308):
            assert lib.ip_analyze(out[0], rate, m) == 0
            values = [getattr(m, f) for f in ip.Metrics._fields]
            assert all(math.isfinite(v) and v >= 0 for v in values)
            assert m.p_block == 1.0
        w = ffi.new("double*")
        assert lib.ip_wait_quantile(out[0], 1e300, 0.9, w) == 0
        assert math.isfinite(w[0])
    finally:
        lib.ip_replica_free(out[0])
    svc_bad = ffi.from_buffer(
        "ip_service*", _c_service(api, ip.PrefillDecode(19, 1, 0, 100, 1024, max_num_tokens=1e-15))
    )
    assert lib.ip_replica_new(svc_bad, 4, math.inf, ffi.NULL, out) == lib.IP_BAD_MAX_NUM_TOKENS

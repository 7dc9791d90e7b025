"""TTFT and wait under an admission rule (inferplan.admission).

Its parts against a dense solve of the chain and docs/model.md's chunk rule, the batch and
sizing entry points against the scalar analysis, and the whole against the simulator.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from inferplan import DecodeOnly, PrefillDecode, Replica, ServiceTimes, Status, simulate
from inferplan.admission import _chunks_at, _mean_queue_given_full, prob_full
from inferplan.batch import analyze_many
from inferplan.models import from_params
from inferplan.sizing import BINDING_NAMES as BINDING_NAMES_OF

DECODE = DecodeOnly(alpha=19, beta=1, out_tokens=256)
SHORT = PrefillDecode(alpha=8, beta=0.02, gamma=5e-5, in_tokens=500, out_tokens=200)
LONG = PrefillDecode(
    alpha=5, beta=0.05, gamma=1e-4, in_tokens=6000, out_tokens=200, max_num_tokens=4096
)


def close(estimate, value, rel=0.03):
    """Within the simulation's CI, or within rel of it."""
    return estimate.contains(value) or abs(estimate.mean - value) <= rel * abs(value)


@pytest.mark.parametrize("r", [0.2, 0.9, 0.999999, 1.0, 1.000001, 1.5, 3.0])
@pytest.mark.parametrize("q", [0, 1, 7, 200, 5000])
def test_mean_queue_given_full_against_sum(r, q):
    j = np.arange(q + 1, dtype=float)
    logw = j * math.log(r)
    w = np.exp(logw - logw.max())
    expect = float((j * w).sum() / w.sum())
    got = float(_mean_queue_given_full(r, q))
    assert got == pytest.approx(expect, rel=1e-7, abs=1e-12)


def test_mean_queue_given_full_unbounded():
    for r in (0.1, 0.5, 0.99):
        assert float(_mean_queue_given_full(r, math.inf)) == pytest.approx(r / (1 - r))


def _dense_distribution(replica, rate):
    """Stationary law of the chain by the product form, summed term by term."""
    tau = replica.model.service_times(replica.max_batch)
    n_max = replica.max_batch + int(replica.max_queue)
    mu = np.array([1000.0 * min(n, replica.max_batch) / tau[min(n, replica.max_batch) - 1]
                   for n in range(1, n_max + 1)])  # fmt: skip
    logp = np.concatenate([[0.0], np.cumsum(np.log(rate / mu))])
    p = np.exp(logp - logp.max())
    return p / p.sum()


@pytest.mark.parametrize(("model", "n", "q"), [(DECODE, 8, 16), (DECODE, 48, 0), (SHORT, 32, 64)])
@pytest.mark.parametrize("load", [0.3, 0.8, 1.0, 1.4])
def test_prob_full_against_dense_chain(model, n, q, load):
    replica = Replica(model, max_batch=n, max_queue=q)
    rate = load * replica.max_rate
    m = replica.analyze(rate)
    p = _dense_distribution(replica, rate)
    expect = p[n:].sum()
    got = float(prob_full(rate, m.max_rate, m.in_queue, m.p_block, q))
    assert got == pytest.approx(expect, rel=1e-8, abs=1e-15)


def test_chunks_match_model_rule():
    from inferplan._kernels.reference import chunk_counts

    for L, m, M in [(500, 200, 8192), (6000, 200, 4096), (30000, 10, 2048), (0, 50, 8192)]:
        counts = chunk_counts(L, m, M, 300)
        B = np.linspace(0.0, 300.0, 4001)
        got = _chunks_at(B, 300.0, L, m, M)
        idx = np.clip(np.round(B), 1, 300).astype(int) - 1
        np.testing.assert_array_equal(got, counts[idx])


def test_none_is_the_chains_read_off_and_immediate_decode_only_too():
    replica = Replica(DECODE, max_batch=48, max_queue=192)
    rate = 0.6 * replica.max_rate
    chain = replica.analyze(rate)
    assert replica.analyze(rate, admission=None) == chain
    # Without prefills the arrival's view changes nothing: immediate is the chain itself.
    assert replica.analyze(rate, admission="immediate") == chain
    it = replica.analyze(rate, admission="iteration")
    delay = it.ttft_ms - chain.ttft_ms
    assert 0 < delay < chain.itl_ms
    assert it.wait_ms - chain.wait_ms == pytest.approx(delay)
    assert it.response_ms - chain.response_ms == pytest.approx(delay)
    assert it._replace(ttft_ms=0, wait_ms=0, response_ms=0) == chain._replace(
        ttft_ms=0, wait_ms=0, response_ms=0
    )


def test_idle_replica_has_no_admission_delay():
    """At rate 0 nothing is in progress.

    Both rules give the same TTFT, close to the exact timeline of a lone request (its
    prefill iteration, then its first decode iteration), and closer than the chain's
    read-off, which charges a phantom neighbour at B < 1.
    """
    replica = Replica(SHORT, max_batch=32)
    m = SHORT
    lone = 2 * m.alpha + (m.beta + m.gamma) * m.in_tokens + m.beta + m.gamma * (m.in_tokens + 1)
    chain = replica.analyze(0.0).ttft_ms
    imm = replica.analyze(0.0, admission="immediate").ttft_ms
    assert replica.analyze(0.0, admission="iteration").ttft_ms == pytest.approx(imm, rel=1e-15)
    assert imm == pytest.approx(lone, rel=3e-3)
    assert abs(imm - lone) < abs(chain - lone)


def test_service_times_model_iteration_matches_decode_only():
    """A ServiceTimes vector equal to DecodeOnly's tau(b) gives the same residual."""
    vec = ServiceTimes(DECODE.service_times(48), out_tokens=DECODE.out_tokens)
    a = Replica(DECODE, max_batch=48, max_queue=100)
    b = Replica(vec, max_queue=100)
    for load in (0.2, 0.7):
        rate = load * a.max_rate
        x = a.analyze(rate, admission="iteration").ttft_ms
        y = b.analyze(rate, admission="iteration").ttft_ms
        assert y == pytest.approx(x, rel=1e-9)


def test_bad_admission_names_value():
    replica = Replica(DECODE, max_batch=8)
    with pytest.raises(ValueError, match=r"admission.*'boundary'"):
        replica.analyze(0.1, admission="boundary")
    with pytest.raises(ValueError, match="admission"):
        replica.size(ttft_ms=100, admission="later")
    with pytest.raises(ValueError, match="admission"):
        analyze_many(kind=0, alpha=19, beta=1, out_tokens=256, max_batch=8, rate=0.1,
                     admission="now")  # fmt: skip


def _row_replica(rows, i):
    """Row i of a dict of configuration columns as a Replica."""
    names = ("kind", "alpha", "beta", "gamma", "in_tokens", "out_tokens", "max_num_tokens")
    model = from_params(*(rows[k][i] for k in names))
    return Replica(model, max_batch=rows["max_batch"][i], max_queue=rows["max_queue"][i])


@pytest.mark.parametrize("admission", ["immediate", "iteration"])
def test_analyze_many_equals_scalar(admission):
    rows = dict(
        kind=[0, 1, 1, 0, 1],
        alpha=[19, 8, 5, 19, 8],
        beta=[1, 0.02, 0.05, 1, 0.02],
        gamma=[0, 5e-5, 1e-4, 0, 5e-5],
        in_tokens=[0, 500, 6000, 0, 500],
        out_tokens=[256, 200, 200, 256, 200],
        max_num_tokens=[8192, 8192, 4096, 8192, 8192],
        max_batch=[48, 32, 32, 8, 32],
        max_queue=[192, 128, np.inf, 0, 0],
    )
    rate = np.array([1.0, 7.0, 1.0, 0.5, 13.0])
    out = analyze_many(rate=rate, admission=admission, metrics=["ttft_ms", "wait_ms"], **rows)
    assert set(out) == {"ttft_ms", "wait_ms", "status"}
    for i in range(rate.size):
        replica = _row_replica(rows, i)
        m = replica.analyze(rate[i], admission=admission)
        assert out["ttft_ms"][i] == pytest.approx(m.ttft_ms, rel=1e-14)
        assert out["wait_ms"][i] == pytest.approx(m.wait_ms, rel=1e-14, abs=1e-300)


def test_analyze_many_bad_row_stays_nan():
    out = analyze_many(kind=0, alpha=[19, -1], beta=1, out_tokens=256, max_batch=8, rate=0.1,
                       admission="iteration")  # fmt: skip
    assert out["status"][0] == 0
    assert out["status"][1] == Status.BAD_ALPHA
    assert math.isfinite(out["ttft_ms"][0])
    assert math.isnan(out["ttft_ms"][1])


# --- the kernel's form against the NumPy form ------------------------------------------------

PARITY = [
    (DECODE, 48, 192),
    (DECODE, 8, 0),
    (SHORT, 32, 128),
    (SHORT, 32, math.inf),
    (LONG, 32, 64),
    (ServiceTimes(DECODE.service_times(16) * np.linspace(1, 1.3, 16), out_tokens=256), 16, 5),
]


def _cpp_replica(*args, **kw):
    """Return a Replica on the C++ backend (its native admission rules), whatever is active."""
    from inferplan._kernels import dispatch

    if "cpp" not in dispatch.available():
        pytest.skip("the C++ extension is not built")
    active = dispatch.active()
    dispatch.use("cpp")
    try:
        return Replica(*args, **kw)
    finally:
        dispatch.use(active.NAME)


def _numpy_form(replica, m, admission):
    """Apply the NumPy form of the admission rule to the chain's metrics m of replica.

    The form is inferplan.admission.adjust.
    """
    from inferplan.admission import adjust

    p = replica.model.params()
    tau = replica.model.tau_ms if isinstance(replica.model, ServiceTimes) else None
    ttft, wait, resp = adjust(admission, *p, replica.max_batch, replica.max_queue, m, tau=tau)
    return m._replace(ttft_ms=float(ttft), wait_ms=float(wait), response_ms=float(resp))


@pytest.mark.parametrize("admission", ["immediate", "iteration"])
@pytest.mark.parametrize(("model", "n", "q"), PARITY, ids=[f"p{i}" for i in range(len(PARITY))])
def test_kernel_admission_equals_numpy_form(backend, model, n, q, admission):
    """The kernel's rules equal the NumPy form on each backend's chain metrics.

    The kernel's rules (admission.hpp) equal the NumPy form applied to each backend's chain
    metrics.
    """
    native = _cpp_replica(model, max_batch=n, max_queue=q)
    replica = Replica(model, max_batch=n, max_queue=q)
    for load in (0.0, 0.05, 0.4, 0.8, 0.99, 1.3):
        if math.isinf(q) and load >= 1:
            continue
        rate = load * replica.max_rate
        got = native.analyze(rate, admission=admission)
        expect = _numpy_form(replica, replica.analyze(rate), admission)
        for name in ("ttft_ms", "wait_ms", "response_ms"):
            assert getattr(got, name) == pytest.approx(getattr(expect, name), rel=1e-11, abs=1e-300)


@pytest.mark.parametrize("admission", ["immediate", "iteration"])
@pytest.mark.parametrize(
    "targets",
    [
        dict(ttft_ms=45.0),
        dict(ttft_ms=45.0, itl_ms=9.5),
        dict(ttft_percentile=(0.9, 80.0)),
        dict(wait_ms=3.0, ttft_ms=60.0),
        dict(wait_percentile=(0.99, 40.0), max_block=1e-3),
        dict(ttft_ms=20.0),
    ],
)
def test_kernel_sizing_equals_python_search(targets, admission):
    """The kernel's Brent search (size_admitted) equals the NumPy reference's search.

    The reference uses bisection and Illinois on the reference chain.
    """
    from inferplan._kernels import numpy_backend
    from inferplan.admission import CODES
    from inferplan.replica import _size_result
    from inferplan.sizing import target_tuple

    native = _cpp_replica(SHORT, max_batch=32, max_queue=128)
    got = native.size(admission=admission, **targets)
    handle = numpy_backend.replica(SHORT.params(), 32, 128.0)
    t = target_tuple(**targets)
    expect = _size_result(*numpy_backend.size_admitted(handle, t, CODES[admission]))
    assert got.status == expect.status
    assert got.binding == expect.binding
    assert got.rate == pytest.approx(expect.rate, rel=1e-9)
    if got.feasible:
        assert got.metrics.ttft_ms == pytest.approx(expect.metrics.ttft_ms, rel=1e-9)


@pytest.mark.parametrize("name", ["cpp", "numba", "numpy"])
def test_bad_admission_code_from_kernel(name):
    from inferplan._kernels import dispatch

    if name not in dispatch.available():
        pytest.skip(f"the {name} backend is not available")
    kernel = dispatch.load(name)
    handle = kernel.replica(DECODE.params(), 8, math.inf)
    status, _ = kernel.analyze_admitted(handle, 1.0, 7)
    assert status == Status.BAD_ADMISSION
    status, *_ = kernel.size_admitted(handle, (0, 50.0, 0, 0, 0, 0, 0, 0, 0), -1)
    assert status == Status.BAD_ADMISSION


# --- sizing -------------------------------------------------------------------------------


@pytest.mark.parametrize("admission", ["immediate", "iteration"])
@pytest.mark.parametrize(("model", "target"), [(DECODE, 40.0), (SHORT, 45.0), (LONG, 600.0)])
def test_size_hits_refined_ttft(model, target, admission):
    replica = Replica(model, max_batch=32, max_queue=128)
    res = replica.size(ttft_ms=target, admission=admission)
    assert res.feasible
    assert res.binding == "ttft_ms"
    assert res.metrics.ttft_ms == pytest.approx(target, rel=1e-9)
    assert replica.analyze(res.rate, admission=admission).ttft_ms <= target * (1 + 1e-12)
    # a rate 1e-6 higher misses it
    assert replica.analyze(res.rate * (1 + 1e-6), admission=admission).ttft_ms > target


def test_size_immediate_decode_only_is_the_kernels_answer():
    replica = Replica(DECODE, max_batch=48, max_queue=192)
    a = replica.size(ttft_ms=40)
    b = replica.size(ttft_ms=40, admission="immediate")
    assert b == a
    assert replica.size(ttft_ms=40, admission="iteration").rate < a.rate


def test_size_other_target_binds_and_caps():
    replica = Replica(DECODE, max_batch=48, max_queue=192)
    res = replica.size(ttft_ms=200, itl_ms=30, admission="iteration")
    assert res.binding == "itl_ms"
    assert res.rate == pytest.approx(replica.size(itl_ms=30).rate, rel=1e-12)
    res = replica.size(ttft_ms=40, itl_ms=30, admission="iteration")
    assert res.binding == "ttft_ms"
    assert res.rate < replica.size(itl_ms=30).rate


def test_size_infeasible_names_target():
    replica = Replica(DECODE, max_batch=48, max_queue=192)
    # idle TTFT is one iteration of a batch of 1: 20 ms
    res = replica.size(ttft_ms=19.5, admission="iteration")
    assert not res.feasible
    assert res.status == Status.INFEASIBLE_TTFT
    assert "ttft_ms" in res.reason
    res = replica.size(wait_ms=1e-6, admission="iteration")
    assert res.feasible  # an idle replica does not wait
    res = replica.size(itl_ms=10, ttft_ms=100, admission="iteration")
    assert res.status == Status.INFEASIBLE_ITL


def test_size_percentiles_and_wait():
    replica = Replica(DECODE, max_batch=48, max_queue=192)
    res = replica.size(ttft_percentile=(0.9, 60), admission="iteration")
    assert res.feasible
    assert res.binding == "ttft_percentile"
    q = replica.ttft_quantile(res.rate, 0.9, admission="iteration")
    assert q == pytest.approx(60, rel=1e-9)
    assert res.rate < replica.size(ttft_percentile=(0.9, 60)).rate
    res = replica.size(wait_ms=5, admission="iteration")
    assert res.binding == "wait_ms"
    assert res.metrics.wait_ms == pytest.approx(5, rel=1e-9)
    res = replica.size(wait_percentile=(0.99, 50), admission="iteration")
    assert res.binding == "wait_percentile"
    assert replica.wait_quantile(res.rate, 0.99, admission="iteration") == pytest.approx(
        50, rel=1e-9
    )


# --- against the simulator ---------------------------------------------------------------
# Poisson arrivals, geometric output lengths: the analytic TTFT under each admission rule is
# within the simulation's 95% CI or 3%. (The chain's own read-off misses by up to 33%.)

SIM_GRID = [
    (DECODE, 48, "iteration", 0.3),
    (DECODE, 48, "iteration", 0.7),
    (DECODE, 8, "iteration", 0.5),
    (DECODE, 256, "iteration", 0.8),
    (SHORT, 32, "iteration", 0.2),
    (SHORT, 32, "iteration", 0.6),
    (SHORT, 32, "immediate", 0.3),
    (SHORT, 32, "immediate", 0.6),
]


@pytest.mark.parametrize(
    ("model", "n", "admission", "load"),
    SIM_GRID,
    ids=[f"{type(m).__name__}-N{n}-{a}-{x}" for m, n, a, x in SIM_GRID],
)
def test_refined_ttft_matches_simulation(model, n, admission, load):
    replica = Replica(model, max_batch=n, max_queue=4 * n)
    rate = load * replica.max_rate
    chain = replica.analyze(rate)
    refined = replica.analyze(rate, admission=admission)
    decode = isinstance(model, DecodeOnly)
    s = simulate(model, max_batch=n, max_queue=4 * n, rate=rate, admission=admission,
                 num_requests=100_000 if decode else 15_000, replications=8 if decode else 5,
                 seed=11)  # fmt: skip
    assert close(s.ttft_ms, refined.ttft_ms), (s.ttft_ms, chain.ttft_ms, refined.ttft_ms)
    assert not close(s.ttft_ms, chain.ttft_ms), "the chain's read-off should miss here"
    if admission == "iteration":
        assert (
            close(s.wait_ms, refined.wait_ms, rel=0.05)
            or abs(s.wait_ms.mean - refined.wait_ms) < 0.02 * s.ttft_ms.mean
        ), (s.wait_ms, refined.wait_ms)


@pytest.mark.parametrize("admission", ["immediate", "iteration"])
def test_size_many_equals_scalar(backend, admission):
    from inferplan.batch import size_many

    rows = dict(
        kind=[0, 1, 1, 0, 1, 1],
        alpha=[19, 8, 5, 19, 8, -1],
        beta=[1, 0.02, 0.05, 1, 0.02, 0.02],
        gamma=[0, 5e-5, 1e-4, 0, 5e-5, 0],
        in_tokens=[0, 500, 6000, 0, 500, 500],
        out_tokens=[256, 200, 200, 256, 200, 200],
        max_num_tokens=[8192, 8192, 4096, 8192, 8192, 8192],
        max_batch=[48, 32, 32, 8, 32, 32],
        max_queue=[192, 128, np.inf, 0, 0, 10],
    )
    ttft = np.array([40.0, 45.0, 700.0, 19.0, 45.0, 45.0])
    out = size_many(ttft_ms=ttft, itl_ms=60.0, admission=admission, metrics="all", **rows)
    assert out["status"][5] == Status.BAD_ALPHA
    assert math.isnan(out["rate"][5])
    assert out["status"][3] == Status.INFEASIBLE_TTFT
    for i in range(5):
        replica = _row_replica(rows, i)
        res = replica.size(ttft_ms=ttft[i], itl_ms=60.0, admission=admission)
        assert out["status"][i] == int(res.status)
        if res.feasible:
            assert out["rate"][i] == pytest.approx(res.rate, rel=1e-12)
            assert out["ttft_ms"][i] == pytest.approx(res.metrics.ttft_ms, rel=1e-12)
            assert BINDING_NAMES_OF[out["binding"][i]] == res.binding


def test_analyze_many_native_selection():
    """Selecting a few metrics under a rule gives the same numbers as all of them."""
    kw = dict(kind=1, alpha=8, beta=0.02, gamma=5e-5, in_tokens=500, out_tokens=200,
              max_batch=np.arange(1, 65), max_queue=64, rate=np.linspace(0.1, 12, 64))  # fmt: skip
    part = analyze_many(admission="iteration", metrics=["ttft_ms"], **kw)
    full = analyze_many(admission="iteration", **kw)
    np.testing.assert_array_equal(part["ttft_ms"], full["ttft_ms"])


def test_from_params_inverts_params():
    for model in (DECODE, SHORT, LONG):
        assert from_params(*model.params()) == model
    with pytest.raises(ValueError, match="kind"):
        from_params(2, 1, 1, 0, 0, 1, 8192)
    with pytest.raises(ValueError, match="alpha"):
        from_params(0, -1, 1, 0, 0, 1)

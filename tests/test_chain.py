"""The birth-death kernel against independent truth, on every available backend."""

from __future__ import annotations

import csv
import math
import subprocess
import sys

import numpy as np
import pytest

import inferplan as ip

from ctmc import dense_metrics

CHAIN_METRICS = (
    "p0", "p_block", "throughput", "in_system", "in_service", "in_queue",
    "response_ms", "service_ms", "wait_ms", "utilization", "max_rate",
)  # fmt: skip


def _random_model(rng: np.random.Generator, N: int):
    which = rng.integers(3)
    if which == 0:
        return ip.DecodeOnly(
            alpha=rng.uniform(0, 30),
            beta=rng.uniform(0.01, 3),
            out_tokens=int(rng.integers(1, 200)),
        )
    if which == 1:
        return ip.PrefillDecode(
            alpha=rng.uniform(1, 30),
            beta=rng.uniform(0, 0.1),
            gamma=rng.uniform(0, 1e-3),
            in_tokens=int(rng.integers(0, 3000)),
            out_tokens=int(rng.integers(1, 300)),
            max_num_tokens=int(rng.choice([256, 1024, 8192])),
        )
    # Arbitrary (non-monotone) per-batch times exercise the general path.
    return ip.ServiceTimes(rng.uniform(5, 500, size=N), out_tokens=3)


def test_against_dense_ctmc(backend):
    rng = np.random.default_rng(20261121)
    for case in range(300):
        N = int(rng.integers(1, 9))
        Q = int(rng.integers(0, 9))
        model = _random_model(rng, N)
        replica = ip.Replica(model, max_batch=N, max_queue=Q)
        tau = model.service_times(N)
        # Offered load from light to 3x saturation.
        rate = replica.max_rate * rng.uniform(0.05, 3.0)
        got = replica.analyze(rate)._asdict()
        want = dense_metrics(tau, Q, rate)
        for name in CHAIN_METRICS:
            assert got[name] == pytest.approx(want[name], rel=1e-10, abs=1e-300), (
                case,
                name,
                model,
                N,
                Q,
                rate,
            )


def test_unbounded_queue_against_long_truncation(backend):
    """Q = inf equals a finite queue long enough (r^60 < 1e-49) that the rest is negligible."""
    rng = np.random.default_rng(7)
    for _ in range(12):
        N = int(rng.integers(1, 7))
        model = ip.ServiceTimes(rng.uniform(5, 50, size=N))
        replica = ip.Replica(model, max_batch=N, max_queue=None)
        rate = replica.max_rate * rng.uniform(0.05, 0.15)
        got = replica.analyze(rate)._asdict()
        want = dense_metrics(model.tau_ms, 60, rate)
        for name in CHAIN_METRICS:
            if name == "p_block":
                assert got[name] == 0.0
                continue
            assert got[name] == pytest.approx(want[name], rel=1e-10, abs=1e-300), name


def test_seed_worked_example(backend):
    """docs/model.md 2.1: DecodeOnly(19, 1, 1024), N 48, K = 200, at 35.2003 req/min."""
    r = ip.Replica(ip.DecodeOnly(alpha=19, beta=1, out_tokens=1024), max_batch=48, max_queue=152)
    m = r.analyze(35.2003 / 60)
    assert f"{m.p0:.4e}" == "1.0542e-08"
    assert f"{m.in_system:.2f}" == "30.23"
    assert f"{m.in_service:.2f}" == "30.04"
    assert f"{m.in_queue:.2f}" == "0.20"
    assert f"{m.utilization:.3f}" == "0.626"
    assert f"{m.response_ms:.0f}" == "51533"
    assert f"{m.service_ms:.0f}" == "51200"
    assert f"{m.wait_ms:.0f}" == "333"
    assert f"{m.itl_ms:.1f}" == "50.0"
    assert f"{m.throughput * 60:.5f}" == "35.20030"
    # The seed prints p_block at its exact ITL = 50 ms root, a hair above 35.2003/min.
    assert m.p_block == pytest.approx(1.4442e-14, rel=2e-4)


# Reference artefacts (tests/data/README.md) that inferplan must not reproduce.
FLOAT32_OVERLOAD_CASES = {"overload_1e6rps"}


def _golden_rows(reference_dir):
    with open(reference_dir / "queue-analysis" / "golden_handpicked.csv") as f:
        return list(csv.DictReader(f))


def _replica_for(row) -> ip.Replica:
    f = {
        k: float(v)
        for k, v in row.items()
        if k not in ("category", "build_status") and not k.endswith("status") and v != ""
    }
    model = ip.PrefillDecode(
        alpha=f["alpha"],
        beta=f["beta"],
        gamma=f["gamma"],
        in_tokens=f["avg_in_tokens"],
        out_tokens=f["avg_out_tokens"],
        max_num_tokens=f["max_num_tokens"],
    )
    return ip.Replica(model, max_batch=int(f["max_batch_size"]), max_queue=int(f["max_queue_size"]))


def test_golden_analysis(backend, reference_dir):
    checked = 0
    for row in _golden_rows(reference_dir):
        if row["category"] in FLOAT32_OVERLOAD_CASES:
            continue
        replica = _replica_for(row)
        rate = float(row["rate_rps"])
        if row["an_status"] == "err_invalid_rate":
            if rate < 0:
                with pytest.raises(ValueError, match="rate"):
                    replica.analyze(rate)
            else:  # rate 0: the reference refuses; we return the idle limit
                assert replica.analyze(rate).throughput == 0.0
            continue
        m = replica.analyze(rate)
        if row["an_status"] == "err_invalid_model":
            # N = 1, Q = 0 is a valid loss system (M/M/1/1): the reference rejects it.
            rho = rate * replica.model.service_times(1)[0] / 1000
            assert m.p_block == pytest.approx(rho / (1 + rho), rel=1e-12)
            continue
        expect = {
            "throughput": "an_throughput_rps", "response_ms": "an_avg_resp_ms",
            "in_service": "an_avg_num_in_serv", "prefill_ms": "an_avg_prefill_ms",
            "itl_ms": "an_avg_itl_ms", "ttft_ms": "an_avg_ttft_ms", "utilization": "an_rho",
        }  # fmt: skip
        for name, col in expect.items():
            want = float(row[col])
            assert getattr(m, name) == pytest.approx(want, rel=1e-4), (row["case_id"], name)
        # Waits: 1e-4 relative, or 2e-6 x response absolute where the wait is tiny.
        want_wait = float(row["an_avg_wait_ms"])
        assert abs(m.wait_ms - want_wait) <= max(
            1e-4 * want_wait, 2e-6 * float(row["an_avg_resp_ms"]) + 1e-9
        ), row["case_id"]
        # The reference reports 0.999 x the saturation rate as its cap.
        assert 0.999 * m.max_rate == pytest.approx(float(row["an_max_rate_rps"]), rel=1e-4)
        checked += 1
    assert checked >= 40


def test_golden_float32_overload_is_a_reference_artefact(backend, reference_dir):
    """At 1e6 req/s the reference's float32 throughput is ~0.25% off.

    Ours is mu(N) exactly (to rounding): the replica is always full, so it completes mu(N)
    requests per second.
    """
    row = next(r for r in _golden_rows(reference_dir) if r["category"] == "overload_1e6rps")
    m = _replica_for(row).analyze(float(row["rate_rps"]))
    assert m.throughput == pytest.approx(m.max_rate, rel=1e-5)
    assert abs(float(row["an_throughput_rps"]) / m.throughput - 1) > 1e-3


def test_loss_system_n1_q0(backend):
    """N = 1, Q = 0: Erlang's loss formula with one server."""
    r = ip.Replica(ip.DecodeOnly(alpha=10, beta=0, out_tokens=1), max_batch=1, max_queue=0)
    for rate in (1e-3, 50.0, 100.0, 1e5):
        a = rate * 10 / 1000
        m = r.analyze(rate)
        assert m.p_block == pytest.approx(a / (1 + a), rel=1e-13)
        assert m.throughput == pytest.approx(rate / (1 + a), rel=1e-13)
        assert m.wait_ms == 0.0
        assert m.response_ms == pytest.approx(10.0, rel=1e-13)


def _erlang_c_queue(servers: int, a: float) -> float:
    """Mean queue length of M/M/c (Erlang C) via the stable Erlang-B recursion."""
    b = 1.0
    for n in range(1, servers + 1):
        b = a * b / (n + a * b)
    c = servers * b / (servers - a * (1 - b))
    return c * a / (servers - a)


def test_large_batch_unbounded_near_saturation(backend):
    """N = 100000 with beta = 0 is M/M/N: compare with Erlang C at 1 - 1e-6 load."""
    N = 100_000
    r = ip.Replica(ip.DecodeOnly(alpha=2.0, beta=0.0, out_tokens=1), max_batch=N)
    rate = r.max_rate * (1 - 1e-6)
    m = r.analyze(rate)
    a = rate * 2.0 / 1000
    assert m.in_queue == pytest.approx(_erlang_c_queue(N, a), rel=1e-8)
    assert m.in_service == pytest.approx(a, rel=1e-12)
    assert m.p_block == 0.0
    assert all(math.isfinite(v) for v in m)


def test_mm1_utilisation_extremes(backend):
    """With alpha = 0 (a constant rate) the M/M/1 closed forms hold at rho = 1e-12 and 1 - 2^-40."""
    r = ip.Replica(ip.DecodeOnly(alpha=0.0, beta=1.0, out_tokens=1), max_batch=1)
    for rho in (1e-12, 1 - 2.0**-40):
        m = r.analyze(1000.0 * rho)
        assert m.in_system == pytest.approx(rho / (1 - rho), rel=1e-9)
        assert m.in_queue == pytest.approx(rho * rho / (1 - rho), rel=1e-9)
        assert m.p0 == pytest.approx(1 - rho, rel=1e-9)
        assert m.response_ms == pytest.approx(1 / (1 - rho), rel=1e-9)


def test_huge_finite_queue_and_extreme_rates(backend):
    model = ip.DecodeOnly(alpha=19, beta=1, out_tokens=1024)
    big = ip.Replica(model, max_batch=48, max_queue=10**12)
    m = big.analyze(1e12)
    assert m.throughput == pytest.approx(m.max_rate, rel=1e-12)
    assert m.in_system == pytest.approx(48 + 10**12, rel=1e-9)
    assert 1 - m.p_block == pytest.approx(m.max_rate / 1e12, rel=1e-9)
    tiny = big.analyze(1e-12)
    tau1 = model.service_times(1)[0]
    assert 1 - tiny.p0 == pytest.approx(1e-12 * tau1 / 1000, rel=1e-6)
    assert tiny.response_ms == pytest.approx(tau1, rel=1e-9)
    assert tiny.throughput == pytest.approx(1e-12, rel=1e-12)
    assert tiny.wait_ms >= 0
    assert tiny.wait_ms < 1e-9
    idle = big.analyze(0.0)
    assert (idle.p0, idle.throughput, idle.wait_ms, idle.response_ms) == (1.0, 0.0, 0.0, tau1)
    # Exactly at saturation with a long queue: r = 1, the tail is uniform.
    at = ip.Replica(ip.DecodeOnly(alpha=0, beta=1, out_tokens=1), max_batch=1, max_queue=999)
    m = at.analyze(1000.0)
    assert m.p_block == pytest.approx(1 / 1001, rel=1e-12)
    assert m.in_system == pytest.approx(500.0, rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"alpha": math.nan}, "alpha"),
        ({"alpha": -1.0}, "alpha"),
        ({"beta": math.inf}, "beta"),
        ({"out_tokens": 0}, "out_tokens"),
        ({"out_tokens": -5}, "out_tokens"),
        ({"alpha": 0.0, "beta": 0.0}, "alpha"),
    ],
)
def test_bad_model_parameters(kwargs, field):
    args = {"alpha": 19.0, "beta": 1.0, "out_tokens": 1024} | kwargs
    with pytest.raises(ValueError, match=field):
        ip.DecodeOnly(**args)


def test_bad_prefill_decode_parameters():
    with pytest.raises(ValueError, match="gamma"):
        ip.PrefillDecode(alpha=1, beta=1, gamma=-1, in_tokens=1, out_tokens=1)
    with pytest.raises(ValueError, match="max_num_tokens"):
        ip.PrefillDecode(alpha=1, beta=1, gamma=0, in_tokens=1, out_tokens=1, max_num_tokens=0)
    with pytest.raises(ValueError, match="in_tokens"):
        ip.PrefillDecode(alpha=1, beta=1, gamma=0, in_tokens=math.nan, out_tokens=1)
    with pytest.raises(ValueError, match=r"tau_ms\[1\]"):
        ip.ServiceTimes([1.0, -2.0])


def test_bad_replica_and_rate(backend):
    model = ip.DecodeOnly(alpha=19, beta=1, out_tokens=1024)
    for bad in (0, -3, 2.5, "x"):
        with pytest.raises(ValueError, match="max_batch"):
            ip.Replica(model, max_batch=bad)
    for bad in (-1, 2.5, math.nan, "x"):
        with pytest.raises(ValueError, match="max_queue"):
            ip.Replica(model, max_batch=4, max_queue=bad)
    r = ip.Replica(model, max_batch=48)
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="rate"):
            r.analyze(bad)
    with pytest.raises(ValueError, match="saturation"):
        r.analyze(r.max_rate)
    with pytest.raises(ValueError, match="saturation"):
        r.analyze(2 * r.max_rate)


def test_batch_matches_scalar(backend):
    rng = np.random.default_rng(3)
    n = 500
    kind = rng.integers(0, 2, n)
    cols = dict(
        kind=kind, alpha=rng.uniform(1, 30, n), beta=rng.uniform(0.01, 1, n),
        gamma=rng.uniform(0, 1e-3, n), in_tokens=rng.integers(0, 4000, n).astype(float),
        out_tokens=rng.integers(1, 1000, n).astype(float), max_num_tokens=8192.0,
        max_batch=rng.integers(1, 300, n), max_queue=rng.integers(0, 2000, n).astype(float),
    )  # fmt: skip
    rate = rng.uniform(0.001, 10, n)
    out = ip.analyze_many(rate=rate, **cols)
    assert np.all(out["status"] == 0)
    for i in range(0, n, 25):
        if kind[i] == 0:
            model = ip.DecodeOnly(cols["alpha"][i], cols["beta"][i], cols["out_tokens"][i])
        else:
            model = ip.PrefillDecode(
                cols["alpha"][i],
                cols["beta"][i],
                cols["gamma"][i],
                cols["in_tokens"][i],
                cols["out_tokens"][i],
            )
        m = ip.Replica(model, int(cols["max_batch"][i]), cols["max_queue"][i]).analyze(rate[i])
        for name, value in m._asdict().items():
            assert out[name][i] == value, name


def test_batch_bad_rows_keep_the_others(backend):
    out = ip.analyze_many(
        kind=0,
        alpha=[19, -1, 19, 19, 19],
        beta=1,
        out_tokens=1024,
        max_batch=[48, 48, 0, 48, 48],
        max_queue=[152, 152, 152, 2.5, 152],
        rate=[0.5, 0.5, 0.5, 0.5, -1],
    )
    assert out["status"].tolist() == [
        0,
        ip.Status.BAD_ALPHA,
        ip.Status.BAD_MAX_BATCH,
        ip.Status.BAD_MAX_QUEUE,
        ip.Status.BAD_RATE,
    ]
    assert math.isfinite(out["itl_ms"][0])
    assert np.all(np.isnan(out["itl_ms"][1:]))
    assert "alpha" in ip.status_message(out["status"][1])


def test_backends_agree_bitwise_with_cpp():
    """The Numba kernel mirrors the C++ one operation for operation."""
    from inferplan._kernels import dispatch

    names = dispatch.available()
    if not {"cpp", "numba"} <= set(names):
        pytest.skip("needs both the extension and numba")
    rng = np.random.default_rng(11)
    n = 2000
    cols = dict(kind=rng.integers(0, 2, n), alpha=rng.uniform(1, 30, n),
                beta=rng.uniform(0.01, 1, n),
                gamma=rng.uniform(0, 1e-3, n), in_tokens=rng.integers(0, 4000, n),
                out_tokens=rng.integers(1, 1000, n), max_batch=rng.integers(1, 300, n),
                max_queue=rng.integers(0, 2000, n), rate=rng.uniform(0.001, 10, n))  # fmt: skip
    results = {}
    for name in ("cpp", "numba"):
        dispatch.use(name)
        results[name] = ip.analyze_many(**cols)
    dispatch.use(None)
    for key in results["cpp"]:
        np.testing.assert_array_equal(results["cpp"][key], results["numba"][key], err_msg=key)


HIDE = """
import importlib.abc, sys
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name in {hidden!r}:
            raise ImportError("hidden by the test: " + name)
sys.meta_path.insert(0, Hide())
import warnings; warnings.simplefilter("ignore")
import inferplan as ip
r = ip.Replica(ip.DecodeOnly(19, 1, 1024), max_batch=48, max_queue=152)
print(ip.backend(), repr(r.analyze(0.5).itl_ms))
"""


@pytest.mark.parametrize(
    ("hidden", "expect"), [(["inferplan._core"], "numba"), (["inferplan._core", "numba"], "numpy")]
)
def test_fallback_when_extension_hidden(hidden, expect, monkeypatch):
    if expect == "numba" and "numba" not in BACKENDS_AVAILABLE:
        pytest.skip("numba is not installed")
    monkeypatch.delenv("INFERPLAN_BACKEND", raising=False)
    out = subprocess.run(
        [sys.executable, "-c", HIDE.format(hidden=set(hidden))],
        capture_output=True,
        text=True,
        check=True,
    )
    name, itl = out.stdout.split()
    assert name == expect
    want = ip.Replica(ip.DecodeOnly(19, 1, 1024), max_batch=48, max_queue=152).analyze(0.5).itl_ms
    assert float(itl) == pytest.approx(want, rel=1e-12)


BACKENDS_AVAILABLE = __import__("inferplan._kernels.dispatch", fromlist=["x"]).available()


def _product_form_derivatives(tau_ms, Q: int, lam: float) -> dict:
    """Return the derivatives of B, Lq and p_block in log(lam) from the product form.

    Derivative in log(lam) of B, Lq and p_block, straight from the product-form distribution
    p(n) ~ prod lam / mu(i) (40 digits): d E[g] = Cov(g, n) and d2 E[g] = E[g (n - L)^2] -
    E[g] Var(n).
    """
    import mpmath

    with mpmath.workdps(40):
        N = len(tau_ms)
        lam = mpmath.mpf(lam)
        w = [mpmath.mpf(1)]
        for n in range(1, N + Q + 1):
            b = min(n, N)
            w.append(w[-1] * lam * mpmath.mpf(float(tau_ms[b - 1])) / b)
        Z = sum(w)
        p = [x / Z for x in w]
        K = N + Q
        E = lambda g: sum(g(n) * p[n] for n in range(K + 1))  # noqa: E731
        L = E(lambda n: n)
        var = E(lambda n: (n - L) ** 2)
        out = {"var_n": var}
        for name, g in (
            ("in_service", lambda n: min(n, N)),
            ("in_queue", lambda n: max(n - N, 0)),
            ("p_block", lambda n: 1 if n == K else 0),
        ):
            mean = E(g)
            out[name + "_slope"] = E(lambda n, g=g: g(n) * (n - L))
            out[name + "_curv"] = E(lambda n, g=g: g(n) * (n - L) ** 2) - mean * var
        return {k: float(v) for k, v in out.items()}


@pytest.mark.parametrize("case", range(12))
def test_second_moment_derivatives_against_product_form(case):
    """The chain's second derivatives match the product-form distribution.

    Sizing's Halley steps use d2 B, d2 Lq, d2 p_block and Var(n) from one chain pass (a
    third head moment and the geometric tail's third cumulant in closed form): checked
    against the product-form distribution summed term by term, light and heavy load.
    """
    pytest.importorskip("numba")
    from inferplan._kernels import numba_kernels as nk

    rng = np.random.default_rng(100 + case)
    N = int(rng.choice([1, 3, 8, 21, 40]))
    Q = int(rng.choice([0, 1, 6, 35, 300]))
    if case % 3 == 2:  # non-monotone service rates: the general (log) head
        tau = rng.uniform(5, 500, size=N)
        p = np.array([2.0, 0, 0, 0, 0, 3.0, 8192.0])
    else:
        alpha, beta = rng.uniform(1, 30), rng.uniform(0.01, 2)
        p = np.array([0.0, alpha, beta, 0.0, 0.0, 7.0, 8192.0])
        tau = np.empty(N)
    chunks, inv_mu, S = np.empty(N), np.empty(N), np.empty(N + 1)
    status, monotone, max_inv = nk.prepare(p, N, float(Q), tau, chunks, nk.reciprocals(N), inv_mu)
    assert status == 0
    # From far below to above saturation (a growing tail).
    lam = rng.choice([0.05, 0.6, 0.97, 1.4]) / inv_mu[N - 1]
    mo = np.empty(nk.MO_SIZE)
    filled = np.zeros(1, dtype=np.int64)
    assert nk.evaluate_chain(N, float(Q), inv_mu, S, filled, monotone, max_inv, lam, mo, True) == 0
    truth = _product_form_derivatives(tau, Q, lam)
    got = {"in_service_slope": mo[9], "in_queue_slope": mo[10], "p_block_slope": mo[11],
           "var_n": mo[12], "in_service_curv": mo[13], "in_queue_curv": mo[14],
           "p_block_curv": mo[15]}  # fmt: skip
    scale = max(1.0, truth["var_n"]) ** 1.5  # the size of third-moment terms
    for key, value in truth.items():
        assert got[key] == pytest.approx(value, rel=1e-8, abs=1e-9 * scale), key

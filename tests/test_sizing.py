"""Tests of sizing: the largest rate meeting the SLOs.

The largest rate meeting the SLOs, against a slow reference, closed forms and the reference
analyzer's golden outputs, on every backend.
"""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

import inferplan as ip
import inferplan.sizing
from inferplan._kernels import reference
from inferplan.sizing import BINDING_NAMES


def _random_case(rng):
    """Return a random configuration with targets between idle and saturated values.

    So that most bind (some are infeasible or never reached).
    """
    N = int(rng.integers(1, 65))
    Q = float(rng.choice([0, 5, 100, 1000, math.inf]))
    if rng.random() < 0.5:
        model = ip.DecodeOnly(rng.uniform(1, 30), rng.uniform(0.01, 1), int(rng.integers(1, 500)))
    else:
        model = ip.PrefillDecode(
            rng.uniform(1, 30),
            rng.uniform(0.001, 0.1),
            rng.uniform(0, 1e-3),
            int(rng.integers(0, 3000)),
            int(rng.integers(1, 500)),
            int(rng.choice([512, 8192])),
        )
    r = ip.Replica(model, max_batch=N, max_queue=Q)
    idle = r.analyze(0.0)
    busy = r.analyze(r.max_rate * 0.95)
    pick = lambda a, b: a + (b - a) * rng.uniform(-0.1, 1.2)  # noqa: E731
    targets = {}
    kinds = rng.choice(
        ["itl", "ttft", "wait", "ttft_p", "wait_p", "block", "tps"],
        size=int(rng.integers(1, 4)),
        replace=False,
    )
    for kind in kinds:
        if kind == "itl":
            targets["itl_ms"] = max(1e-3, pick(idle.itl_ms, busy.itl_ms))
        elif kind == "ttft":
            targets["ttft_ms"] = max(1e-3, pick(idle.ttft_ms, busy.ttft_ms))
        elif kind == "wait":
            targets["wait_ms"] = max(1e-3, pick(0.0, busy.wait_ms + 1))
        elif kind == "ttft_p" and Q <= 1000:
            targets["ttft_percentile"] = (0.9, max(1e-3, pick(idle.ttft_ms, 3 * busy.ttft_ms)))
        elif kind == "wait_p" and Q <= 1000:
            targets["wait_percentile"] = (0.95, max(1e-3, pick(0.0, 3 * busy.wait_ms + 1)))
        elif kind == "block" and math.isfinite(Q):
            targets["max_block"] = float(10 ** rng.uniform(-6, -0.5))
        elif kind == "tps":
            targets["tps"] = 1000.0
    return model, N, Q, targets


def test_size_matches_slow_bisection_reference(backend):
    """Every backend agrees with bisection to 1e-13 on the NumPy reference, to 1e-9."""
    rng = np.random.default_rng(42)
    checked = 0
    for _ in range(60):
        model, N, Q, targets = _random_case(rng)
        got = ip.Replica(model, max_batch=N, max_queue=Q).size(**targets)
        t = ip.sizing.target_tuple(**targets)
        status, rate, binding, _, _ = reference.size(model.params(), N, Q, t)
        assert got.status == status, (model, N, Q, targets)
        if status == 0:
            assert got.rate == pytest.approx(rate, rel=1e-9), (model, N, Q, targets)
            assert got.binding == BINDING_NAMES[binding]
            checked += 1
    assert checked > 30


def test_seed_itl_target():
    """docs/model.md 2.1.

    DecodeOnly(19, 1, 1024), N 48, Q 152, ITL 50 ms -> 35.2003 req/min, and the seed's
    p_block at that rate.
    """
    r = ip.Replica(ip.DecodeOnly(alpha=19, beta=1, out_tokens=1024), max_batch=48, max_queue=152)
    res = r.size(itl_ms=50)
    assert f"{res.rate * 60:.4f}" == "35.2003"
    assert res.binding == "itl_ms"
    assert res.feasible
    assert res.metrics.itl_ms == pytest.approx(50.0, rel=1e-9)
    assert f"{res.metrics.p_block:.4e}" == "1.4442e-14"


def _golden(reference_dir):
    with open(reference_dir / "queue-analysis" / "golden_handpicked.csv") as f:
        return list(csv.DictReader(f))


def _golden_replica(row):
    f = lambda k: float(row[k])  # noqa: E731
    model = ip.PrefillDecode(
        f("alpha"),
        f("beta"),
        f("gamma"),
        f("avg_in_tokens"),
        f("avg_out_tokens"),
        f("max_num_tokens"),
    )
    return ip.Replica(model, max_batch=int(f("max_batch_size")), max_queue=int(f("max_queue_size")))


def test_golden_sizing(backend, reference_dir):
    """The reference analyzer's sizing outputs (sz_* columns) are matched.

    Per-target rates to 1e-4 where the reference converged; infeasible for the same target;
    N = 1 cases (the reference's artefacts) get the correct answer.
    """
    checked = 0
    for row in _golden(reference_dir):
        ttft, itl, tps = (float(row[k]) for k in ("target_ttft_ms", "target_itl_ms", "target_tps"))
        n1 = row["max_batch_size"] == "1"
        r = _golden_replica(row)
        status = row["sz_status"]
        if n1:
            # A one-request replica has a flat ITL: ITL target 30 > ITL, so it never binds.
            res = r.size(itl_ms=itl or None)
            flat_itl = r.analyze(0.0).itl_ms
            assert res.feasible == (itl >= flat_itl)
            continue
        if status.startswith("err_"):
            which = {
                "err_ttft_below_region": ip.Status.INFEASIBLE_TTFT,
                "err_itl_below_region": ip.Status.INFEASIBLE_ITL,
            }[status]
            assert r.size(ttft_ms=ttft or None, itl_ms=itl or None).status == which
            continue
        for target, col in (("ttft_ms", "sz_rate_ttft_rps"), ("itl_ms", "sz_rate_itl_rps")):
            value = {"ttft_ms": ttft, "itl_ms": itl}[target]
            res = r.size(**({target: value} if value else {}))
            assert res.rate == pytest.approx(float(row[col]), rel=1e-4), (row["case_id"], target)
        both = r.size(ttft_ms=ttft or None, itl_ms=itl or None, tps=tps or None)
        want = min(
            float(row["sz_rate_ttft_rps"]),
            float(row["sz_rate_itl_rps"]),
            float(row["sz_rate_tps_rps"]),
        )
        assert both.rate == pytest.approx(want, rel=1e-4), row["case_id"]
        assert both.throughput == pytest.approx(float(row["sz_throughput_rps"]), rel=1e-4)
        checked += 1
    assert checked >= 30


def test_tps_target_leaves_headroom():
    r = ip.Replica(ip.DecodeOnly(19, 1, 1024), max_batch=48, max_queue=152)
    res = r.size(tps=5000)
    assert res.rate == pytest.approx(0.9 * 0.999 * r.max_rate, rel=1e-14)
    assert res.binding == "tps"
    assert r.size().rate == pytest.approx(0.999 * r.max_rate, rel=1e-14)
    assert r.size().binding is None


def test_infeasible_reports_the_target():
    r = ip.Replica(ip.PrefillDecode(12, 0.05, 0.0005, 128, 512), max_batch=48, max_queue=128)
    res = r.size(ttft_ms=1, itl_ms=1)
    assert not res.feasible
    assert res.rate == 0.0
    assert res.metrics is None
    assert res.status == ip.Status.INFEASIBLE_TTFT
    assert "ttft_ms" in res.reason
    assert r.size(itl_ms=1).status == ip.Status.INFEASIBLE_ITL
    assert r.size(ttft_percentile=(0.99, 1.0)).status == ip.Status.INFEASIBLE_TTFT_PERCENTILE


def _erlang_c(servers: int, a: float) -> float:
    b = 1.0
    for n in range(1, servers + 1):
        b = a * b / (n + a * b)
    return servers * b / (servers - a * (1 - b))


@pytest.mark.parametrize("servers", [1, 4, 32])
def test_wait_quantile_against_erlang_c(backend, servers):
    """With beta = 0 the replica is M/M/c: P(W > t) = C(c, a) exp(-(c mu - lam) t)."""
    tau = 80.0
    r = ip.Replica(ip.DecodeOnly(alpha=tau, beta=0.0, out_tokens=1), max_batch=servers)
    mu = 1000 / tau
    for load in (0.5, 0.9, 0.99):
        lam = load * servers * mu
        c = _erlang_c(servers, lam / mu)
        for q in (0.5, 0.9, 0.99, 0.999):
            want = 0.0 if c <= 1 - q else math.log(c / (1 - q)) / (servers * mu - lam) * 1000
            assert r.wait_quantile(lam, q) == pytest.approx(want, rel=1e-9, abs=1e-9)


def test_wait_quantile_finite_queue_against_direct_sum(backend):
    """Finite queues: the windowed closed form against the direct Erlang-mixture sum."""
    rng = np.random.default_rng(9)
    for _ in range(12):
        N = int(rng.integers(1, 20))
        Q = int(rng.integers(1, 400))
        model = ip.DecodeOnly(rng.uniform(1, 20), rng.uniform(0.1, 2), int(rng.integers(1, 50)))
        r = ip.Replica(model, max_batch=N, max_queue=Q)
        rate = r.max_rate * rng.uniform(0.3, 1.5)
        tau = model.service_times(N)
        for q in (0.5, 0.9, 0.99):
            want = reference.wait_quantile(tau, Q, rate / 1000, q)
            assert r.wait_quantile(rate, q) == pytest.approx(want, rel=1e-8, abs=1e-9)
        ttft = r.ttft_quantile(rate, 0.9)
        m = r.analyze(rate)
        assert ttft == pytest.approx(r.wait_quantile(rate, 0.9) + m.prefill_ms + m.itl_ms)


def test_optimal_concurrency_brute_force(backend):
    model = ip.DecodeOnly(19, 1, 256)
    res = ip.optimal_concurrency(model, 40, max_queue=100, itl_ms=35, tolerance=0.02)
    sized = [ip.Replica(model, n, 100).size(itl_ms=35) for n in range(1, 41)]
    thr = [s.throughput for s in sized]
    peak = max(thr)
    assert res.peak_throughput == pytest.approx(peak, rel=1e-12)
    want = next(n for n, x in enumerate(thr, 1) if x >= 0.98 * peak)
    assert res.max_batch == want
    batch = ip.optimal_concurrency_many(
        kind=0,
        alpha=19,
        beta=1,
        out_tokens=256,
        max_batch=40,
        max_queue=100,
        itl_ms=35,
        tolerance=0.02,
    )
    assert batch["max_batch"][0] == want


def test_size_many_matches_scalar(backend):
    rng = np.random.default_rng(1)
    n = 40
    cols = dict(kind=rng.integers(0, 2, n), alpha=rng.uniform(1, 30, n),
                beta=rng.uniform(0.001, 0.5, n), gamma=rng.uniform(0, 1e-3, n),
                in_tokens=rng.integers(0, 2000, n), out_tokens=rng.integers(1, 500, n),
                max_batch=rng.integers(1, 64, n), max_queue=rng.integers(0, 500, n))  # fmt: skip
    itl = rng.uniform(5, 200, n)
    out = ip.size_many(itl_ms=itl, ttft_percentile=(0.9, 5000.0), metrics="all", **cols)
    for i in range(n):
        kw = {k: v[i] for k, v in cols.items()}
        model = (ip.DecodeOnly(kw["alpha"], kw["beta"], kw["out_tokens"]) if kw["kind"] == 0 else
                 ip.PrefillDecode(kw["alpha"], kw["beta"], kw["gamma"], kw["in_tokens"],
                                  kw["out_tokens"]))  # fmt: skip
        res = ip.Replica(model, int(kw["max_batch"]), kw["max_queue"]).size(
            itl_ms=itl[i], ttft_percentile=(0.9, 5000.0)
        )
        assert out["status"][i] == res.status
        if res.feasible:
            assert out["rate"][i] == res.rate
            assert out["ttft_ms"][i] == res.metrics.ttft_ms
        else:
            assert math.isnan(out["rate"][i])


def test_size_many_bad_rows_get_a_status(backend):
    out = ip.size_many(
        kind=0,
        alpha=19,
        beta=1,
        out_tokens=1024,
        max_batch=[48, 48, 48, 0],
        max_queue=152,
        itl_ms=[50, -1, 50, 50],
        max_block=[0, 0, 2.0, 0],
    )
    assert out["status"].tolist() == [
        0,
        ip.Status.BAD_TARGET_ITL,
        ip.Status.BAD_MAX_BLOCK,
        ip.Status.BAD_MAX_BATCH,
    ]
    assert np.isnan(out["rate"][1:]).all()
    assert out["rate"][0] > 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"itl_ms": -1}, "itl_ms"),
        ({"ttft_ms": math.nan}, "ttft_ms"),
        ({"wait_ms": "x"}, "wait_ms"),
        ({"ttft_percentile": (1.5, 100)}, "ttft_percentile"),
        ({"wait_percentile": 0.9}, "wait_percentile"),
        ({"max_block": 1.0}, "max_block"),
        ({"tps": math.inf}, "tps"),
    ],
)
def test_scalar_bad_targets_raise(kwargs, field):
    r = ip.Replica(ip.DecodeOnly(19, 1, 1024), max_batch=48)
    with pytest.raises(ValueError, match=field):
        r.size(**kwargs)


def test_quantile_bad_input():
    r = ip.Replica(ip.DecodeOnly(19, 1, 1024), max_batch=48)
    for q in (0, 1, -0.5, math.nan):
        with pytest.raises(ValueError, match="q"):
            r.wait_quantile(0.1, q)
    with pytest.raises(ValueError, match="saturation"):
        r.wait_quantile(r.max_rate * 2, 0.5)


def test_numba_sizing_is_bitwise_identical_to_cpp():
    from inferplan._kernels import dispatch

    if not {"cpp", "numba"} <= set(dispatch.available()):
        pytest.skip("needs both the extension and numba")
    rng = np.random.default_rng(5)
    n = 300
    cols = dict(kind=rng.integers(0, 2, n), alpha=rng.uniform(1, 30, n),
                beta=rng.uniform(0.001, 0.5, n), gamma=rng.uniform(0, 1e-3, n),
                in_tokens=rng.integers(0, 5000, n), out_tokens=rng.integers(1, 500, n),
                max_num_tokens=rng.choice([512.0, 2048.0, 8192.0], n),
                max_batch=rng.integers(1, 100, n), max_queue=rng.integers(0, 500, n),
                itl_ms=rng.uniform(5, 100, n), ttft_ms=rng.uniform(50, 5000, n))  # fmt: skip
    out, pct = {}, {}
    for name in ("cpp", "numba"):
        dispatch.use(name)
        out[name] = ip.size_many(metrics="all", **cols)
        pct[name] = ip.size_many(metrics="all", wait_percentile=(0.9, 2000.0), **cols)
    dispatch.use(None)
    for key in out["cpp"]:
        np.testing.assert_array_equal(out["cpp"][key], out["numba"][key], err_msg=key)
        # Percentiles go through lgamma, which Numba and libm implement apart.
        np.testing.assert_allclose(pct["cpp"][key], pct["numba"][key], rtol=1e-11, err_msg=key)


def test_batch_calls_take_and_return_dataframes():
    """Columns from a DataFrame (keywords override them), a DataFrame back with the same index.

    Percentile targets as data columns.
    """
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(
        {"kind": ["decode_only", "prefill_decode"], "alpha": [19.0, 12.0], "beta": [1.0, 0.05],
         "gamma": [0.0, 0.0005], "in_tokens": [0.0, 128.0], "out_tokens": [1024.0, 512.0],
         "max_batch": [48, 48], "max_queue": [152.0, 128.0], "itl_ms": [50.0, 20.0],
         "wait_pq": [0.0, 0.9], "wait_p_ms": [0.0, 50.0]},
        index=["seed", "golden"],
    )  # fmt: skip
    out = ip.size_many(df)
    assert isinstance(out, pd.DataFrame)
    assert list(out.index) == ["seed", "golden"]
    seed = ip.Replica(ip.DecodeOnly(19, 1, 1024), 48, 152).size(itl_ms=50)
    golden = ip.Replica(ip.PrefillDecode(12, 0.05, 0.0005, 128, 512), 48, 128).size(
        itl_ms=20, wait_percentile=(0.9, 50.0)
    )
    assert out.loc["seed", "rate"] == seed.rate
    assert out.loc["golden", "rate"] == golden.rate
    faster = ip.size_many(df, itl_ms=60.0)  # a keyword column overrides the data's
    assert (faster["rate"] >= out["rate"]).all()
    analyzed = ip.analyze_many(df, rate=out["rate"].to_numpy(), metrics=["itl_ms"])
    assert analyzed.loc["seed", "itl_ms"] == pytest.approx(50.0, rel=1e-9)

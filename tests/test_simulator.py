"""The continuous-batching simulator.

theory, agreement with the analytic chain, reproducibility, validation and the CLI.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import inferplan
from inferplan import DecodeOnly, PrefillDecode, Replica, Tokens, simulate
from inferplan.simulate import t_quantile


def close(estimate, value, rel=0.03):
    """Within the simulation's CI, or within rel of it."""
    return estimate.contains(value) or abs(estimate.mean - value) <= rel * abs(value)


# --- theory: exponential service -------------------------------------------------------
# An iteration of fixed length a (beta = 0) gives each request one token; geometric output
# lengths with a large mean m make the service time a geometric number of small steps,
# i.e. exponential with mean m*a up to O(1/m). With max_batch c the replica is M/M/c.

A_MS, M_TOKENS = 1.0, 400
SERVICE_MS = A_MS * M_TOKENS
MU = 1000.0 / SERVICE_MS  # per server, req/s


def _exp_server(c, lam, max_queue=None, n=50_000, reps=20, seed=1):
    return simulate(
        DecodeOnly(alpha=A_MS, beta=0.0, out_tokens=M_TOKENS),
        max_batch=c,
        max_queue=max_queue,
        rate=lam,
        num_requests=n,
        replications=reps,
        seed=seed,
        confidence=0.99,
    )


def _erlang_c(c, a):
    """Probability of waiting in M/M/c with offered load a = lam/mu (Erlang C)."""
    s = sum(a**k / math.factorial(k) for k in range(c))
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (s + top)


def test_mm1():
    rho = 0.7
    res = _exp_server(1, rho * MU)
    wait_ms = rho / (MU - rho * MU) * 1000.0
    assert res.wait_ms.contains(wait_ms), (res.wait_ms, wait_ms)
    assert res.response_ms.contains(wait_ms + SERVICE_MS)
    assert res.utilization.contains(rho)
    assert res.throughput.contains(rho * MU)
    # The wait of M/M/1 is 0 w.p. 1 - rho, else exponential: P(W > t) = rho e^{-(mu-lam)t}.
    p90 = math.log(rho / 0.1) / (MU - rho * MU) * 1000.0
    assert res.wait_percentiles[90.0].contains(p90)


def test_mm1k_blocking():
    rho, K = 0.9, 5
    res = _exp_server(1, rho * MU, max_queue=K - 1)
    probs = np.array([rho**n for n in range(K + 1)])
    probs /= probs.sum()
    assert res.p_block.contains(probs[-1]), (res.p_block, probs[-1])
    L = float(np.dot(np.arange(K + 1), probs))
    X = rho * MU * (1 - probs[-1])
    assert res.response_ms.contains(L / X * 1000.0)
    assert res.throughput.contains(X)


@pytest.mark.parametrize(("c", "rho"), [(4, 0.8), (16, 0.9)], ids=["M/M/4", "M/M/16"])
def test_mmc(c, rho):
    lam = rho * c * MU
    res = _exp_server(c, lam)
    a = lam / MU
    wait_ms = _erlang_c(c, a) / (c * MU - lam) * 1000.0
    # Requests join at iteration boundaries: an arrival finding a free slot waits for the
    # iteration in progress, A_MS/2 on average (0.1% of a service time here).
    residual = A_MS / 2 * (1 - _erlang_c(c, a))
    assert close(res.wait_ms, wait_ms + residual, rel=0.0), (res.wait_ms, wait_ms, residual)
    assert res.in_service.contains(a)
    assert res.throughput.contains(lam)


@pytest.mark.parametrize(("c", "rho"), [(4, 0.8), (16, 0.9)], ids=["M/M/4", "M/M/16"])
def test_mmc_immediate_admission_has_no_residual(c, rho):
    """With immediate admission the replica is M/M/c exactly: Erlang C, no correction."""
    lam = rho * c * MU
    res = simulate(
        DecodeOnly(alpha=A_MS, beta=0.0, out_tokens=M_TOKENS),
        max_batch=c,
        rate=lam,
        num_requests=50_000,
        replications=20,
        seed=1,
        confidence=0.99,
        admission="immediate",
    )
    wait_ms = _erlang_c(c, lam / MU) / (c * MU - lam) * 1000.0
    assert res.wait_ms.contains(wait_ms), (res.wait_ms, wait_ms)
    assert res.in_service.contains(lam / MU)


# --- the analytic chain under its own assumptions --------------------------------------
# Poisson arrivals and geometric output lengths (memoryless service). The chain gives the
# batch occupancy, throughput and ITL; its TTFT = wait + ITL omits one effect of iteration-
# level batching: an arrival that finds a free slot still waits for the iteration in
# progress to end. ``analyze(rate, admission="iteration")`` adds that residual (see
# inferplan.admission); its TTFT and wait are checked here to the CI or 3%.

GRID = (
    [(DecodeOnly(alpha=19, beta=1, out_tokens=256), 48, None, load) for load in (0.1, 0.5, 0.8)]
    + [(DecodeOnly(alpha=19, beta=1, out_tokens=256), 8, 16, load) for load in (0.1, 0.5, 0.95)]
    + [(DecodeOnly(alpha=6, beta=0.2, out_tokens=128), 128, 256, load) for load in (0.3, 0.9)]
)


def _grid_id(case):
    model, n, q, load = case
    return f"a{model.alpha:g}-b{model.beta:g}-N{n}-Q{q}-load{load}"


@pytest.mark.parametrize("case", GRID, ids=[_grid_id(c) for c in GRID])
def test_decode_only_matches_analytic(case):
    model, n, q, load = case
    replica = Replica(model, max_batch=n, max_queue=q)
    rate = load * replica.max_rate
    a = replica.analyze(rate)
    it = replica.analyze(rate, admission="iteration")
    s = simulate(
        model, max_batch=n, max_queue=q, rate=rate, num_requests=60_000, replications=10, seed=5
    )
    assert close(s.itl_ms, a.itl_ms), (s.itl_ms, a.itl_ms)
    assert close(s.throughput, a.throughput), (s.throughput, a.throughput)
    assert close(s.in_service, a.in_service), (s.in_service, a.in_service)
    assert close(s.ttft_ms, it.ttft_ms), (s.ttft_ms, a.ttft_ms, it.ttft_ms)
    assert close(s.wait_ms, it.wait_ms), (s.wait_ms, a.wait_ms, it.wait_ms)


# Immediate admission is the chain's own assumption: there the analytic ITL and TTFT must
# agree with the simulation (within its 95% CI or 3%) across loads and batch sizes.
IMMEDIATE_GRID = [(n, load) for n in (8, 48, 256) for load in (0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95)]


@pytest.mark.parametrize(
    ("n", "load"), IMMEDIATE_GRID, ids=[f"N{n}-load{load}" for n, load in IMMEDIATE_GRID]
)
def test_decode_only_immediate_matches_analytic(n, load):
    model = DecodeOnly(alpha=19, beta=1, out_tokens=256)
    replica = Replica(model, max_batch=n, max_queue=4 * n)
    rate = load * replica.max_rate
    a = replica.analyze(rate)
    s = simulate(
        model,
        max_batch=n,
        max_queue=4 * n,
        rate=rate,
        # Near saturation the wait is a rare long excursion: more requests for a usable CI.
        num_requests=400_000 if load >= 0.9 else 100_000,
        replications=10,
        seed=7,
        admission="immediate",
    )
    assert close(s.itl_ms, a.itl_ms), (s.itl_ms, a.itl_ms)
    # N=256 at 95% load: the mean wait (a fifth of TTFT) comes from rare excursions to a
    # full batch, and 10 replications understate its spread (over eight seeds the error
    # ranges from -8% to +14%, mean +3%; see docs/accuracy.md): checked at 12%.
    rel = 0.12 if (n, load) == (256, 0.95) else 0.03
    assert close(s.ttft_ms, a.ttft_ms, rel=rel), (s.ttft_ms, a.ttft_ms)
    assert close(s.throughput, a.throughput), (s.throughput, a.throughput)
    assert close(s.in_service, a.in_service), (s.in_service, a.in_service)


def test_immediate_admission_starts_at_arrival():
    """Below saturation a lone request waits for nothing but one iteration.

    Below saturation nobody waits, and a lone request gets its first token one iteration of
    a batch of 1 after it arrives, however busy the iteration clock was.
    """
    model = DecodeOnly(alpha=19, beta=1, out_tokens=256)
    s = simulate(
        model,
        max_batch=256,
        rate=1.0,
        num_requests=5_000,
        replications=2,
        seed=3,
        records=True,
        admission="immediate",
    )
    r = s.records
    np.testing.assert_array_equal(r.start_ms, r.arrival_ms)
    gap = r.first_token_ms - r.start_ms
    assert gap.min() == pytest.approx(20.0)  # alpha + beta * 1, the replica idle
    # A request joining a batch of b emits its first token within one iteration of b+1
    # (the batch can only shrink or grow by later arrivals meanwhile).
    assert (gap > 19.0).all()
    base = simulate(
        model,
        max_batch=256,
        rate=1.0,
        num_requests=5_000,
        replications=2,
        seed=3,
        records=True,
    )
    assert (base.records.start_ms >= base.records.arrival_ms).all()
    assert s.ttft_ms.mean < base.ttft_ms.mean


@pytest.mark.parametrize("load", [0.1, 0.5, 0.8])
def test_prefill_decode_immediate(load):
    """With short prompts (the budget never binds) the simulation matches the analysis.

    ITL and throughput to 3%, and immediate admission removes most of the TTFT gap of the
    chain's read-off. What is left (-1% at 10% load to -5% at 60%) is the arrival's view: it
    lands at a random instant, when long iterations carrying a prefill are over-represented
    relative to the per-iteration average the read-off uses; ``admission="immediate"``
    corrects it (docs/accuracy.md).
    """
    model = PrefillDecode(alpha=8, beta=0.02, gamma=5e-5, in_tokens=500, out_tokens=200)
    replica = Replica(model, max_batch=32, max_queue=64)
    rate = load * replica.max_rate
    a = replica.analyze(rate)
    refined = replica.analyze(rate, admission="immediate")
    kw = dict(max_batch=32, max_queue=64, rate=rate, num_requests=12_000, replications=4, seed=9)
    s = simulate(model, admission="immediate", **kw)
    base = simulate(model, **kw)
    assert close(s.itl_ms, a.itl_ms, rel=0.03), (s.itl_ms, a.itl_ms)
    assert close(s.throughput, a.throughput, rel=0.02), (s.throughput, a.throughput)
    assert close(s.ttft_ms, a.ttft_ms, rel=0.07), (s.ttft_ms, a.ttft_ms)
    assert close(s.ttft_ms, refined.ttft_ms), (s.ttft_ms, refined.ttft_ms)
    assert abs(s.ttft_ms.mean - a.ttft_ms) < abs(base.ttft_ms.mean - a.ttft_ms)


def test_prefill_decode_immediate_alone():
    """A lone request under immediate admission: same timeline as at a boundary."""
    model = PrefillDecode(
        alpha=1, beta=0.01, gamma=0.0, in_tokens=10_000, out_tokens=4, max_num_tokens=4096
    )
    kw = dict(
        max_batch=1,
        rate=0.001,
        out_tokens=Tokens.constant(4),
        num_requests=50,
        warmup=0,
        replications=1,
        records=True,
    )
    a = simulate(model, admission="immediate", **kw).records
    b = simulate(model, **kw).records
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-12)


def test_analytic_ttft_misses_iteration_alignment():
    """At low load the analytic TTFT is one iteration; the simulated one is about 1.5."""
    model = DecodeOnly(alpha=19, beta=1, out_tokens=256)
    replica = Replica(model, max_batch=48)
    rate = 0.1 * replica.max_rate
    a = replica.analyze(rate)
    s = simulate(model, max_batch=48, rate=rate, num_requests=20_000, replications=4, seed=2)
    assert s.ttft_ms.mean > 1.3 * a.ttft_ms


@pytest.mark.parametrize("load", [0.1, 0.5, 0.8])
def test_prefill_decode_matches_analytic(load):
    model = PrefillDecode(alpha=8, beta=0.02, gamma=5e-5, in_tokens=500, out_tokens=200)
    replica = Replica(model, max_batch=32, max_queue=64)
    rate = load * replica.max_rate
    a = replica.analyze(rate)
    it = replica.analyze(rate, admission="iteration")
    s = simulate(
        model, max_batch=32, max_queue=64, rate=rate, num_requests=12_000, replications=4, seed=9
    )
    assert close(s.itl_ms, a.itl_ms, rel=0.03), (s.itl_ms, a.itl_ms)
    assert close(s.throughput, a.throughput, rel=0.01), (s.throughput, a.throughput)
    assert close(s.ttft_ms, it.ttft_ms), (s.ttft_ms, a.ttft_ms, it.ttft_ms)


def test_prefill_chunks_respect_budget():
    """A prompt longer than the budget is split: TTFT covers ceil(L/M) prefill iterations."""
    model = PrefillDecode(
        alpha=1, beta=0.01, gamma=0.0, in_tokens=10_000, out_tokens=4, max_num_tokens=4096
    )
    s = simulate(
        model,
        max_batch=1,
        rate=0.001,
        out_tokens=Tokens.constant(4),
        num_requests=50,
        warmup=0,
        replications=1,
        records=True,
    )
    r = s.records
    # Alone in the replica: chunks 4096, 4096, 1808, then one decode iteration.
    expected = 3 * 1 + 0.01 * 10_000 + (1 + 0.01)
    np.testing.assert_allclose(r.first_token_ms[0] - r.start_ms[0], expected, atol=1e-6)
    np.testing.assert_allclose(r.finish_ms[0] - r.first_token_ms[0], 3 * 1.01, atol=1e-6)


# --- determinism ------------------------------------------------------------------------


def _small(**kw):
    opts = dict(
        max_batch=16,
        max_queue=32,
        rate=3.0,
        num_requests=5_000,
        replications=3,
        seed=123,
        records=True,
    )
    opts.update(kw)
    return simulate(DecodeOnly(alpha=10, beta=1, out_tokens=64), **opts)


def test_bit_for_bit_reproducible_across_threads():
    a = _small(threads=1)
    b = _small(threads=3)
    for x, y in zip(a.records, b.records, strict=True):
        np.testing.assert_array_equal(x, y)
    for name, v in a.per_replication.items():
        np.testing.assert_array_equal(v, b.per_replication[name])
    c = _small(seed=124)
    assert not np.array_equal(a.records.arrival_ms, c.records.arrival_ms)
    d = _small(threads=1, admission="iteration")
    for x, y in zip(a.records, d.records, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize(
    "model",
    [
        DecodeOnly(alpha=10, beta=1, out_tokens=64),
        PrefillDecode(
            alpha=8, beta=0.02, gamma=5e-5, in_tokens=500, out_tokens=64, max_num_tokens=1024
        ),
    ],
    ids=["decode", "prefill-decode"],
)
def test_immediate_bit_for_bit_reproducible(model):
    kw = dict(
        max_batch=16,
        max_queue=32,
        rate=3.0,
        num_requests=3_000,
        replications=3,
        seed=123,
        records=True,
        admission="immediate",
    )
    a = simulate(model, threads=1, **kw)
    b = simulate(model, threads=3, **kw)
    for x, y in zip(a.records, b.records, strict=True):
        np.testing.assert_array_equal(x, y)
    for name, v in a.per_replication.items():
        np.testing.assert_array_equal(v, b.per_replication[name])


def test_records_are_consistent():
    res = _small(max_queue=2, rate=12.0)
    r = res.records
    assert r.arrival_ms.shape == (3, 5_000)
    ok = r.rejected == 0
    assert (~ok).any()
    assert ok.any()
    assert np.isnan(r.start_ms[~ok]).all()
    assert (np.diff(r.arrival_ms, axis=1) >= 0).all()
    assert (r.start_ms[ok] >= r.arrival_ms[ok]).all()
    assert (r.first_token_ms[ok] > r.start_ms[ok]).all()
    assert (r.finish_ms[ok] >= r.first_token_ms[ok]).all()
    assert (r.out_tokens >= 1).all()
    meas = r.rejected[:, res.warmup :]
    np.testing.assert_allclose(res.per_replication["p_block"], meas.mean(axis=1))


@pytest.mark.parametrize(
    ("spec", "mean", "cv"),
    [
        (Tokens.constant(100), 100, 0.0),
        (Tokens.geometric(100), 100, math.sqrt(99 * 100) / 100),
        (Tokens.exponential(100), 100, 1.0),
        (Tokens.lognormal(100, 2.0), 100, 2.0),
        (Tokens.empirical([10, 20, 30, 300]), 90, None),
    ],
    ids=lambda x: getattr(x, "kind", None),
)
def test_token_distributions(spec, mean, cv):
    res = _small(out_tokens=spec, rate=0.5, num_requests=20_000, replications=2)
    out = res.records.out_tokens.ravel().astype(float)
    assert out.mean() == pytest.approx(mean, rel=0.05)
    if cv is not None:
        assert out.std() / out.mean() == pytest.approx(cv, rel=0.1, abs=1e-9)


def test_token_trace_in_order():
    res = _small(out_tokens=Tokens.trace([5, 6, 7]), num_requests=10, warmup=0)
    np.testing.assert_array_equal(res.records.out_tokens[0], [5, 6, 7, 5, 6, 7, 5, 6, 7, 5])


def test_gamma_arrivals_burstiness():
    res = _small(arrival_cv=3.0, rate=1.0, num_requests=40_000, replications=2)
    gaps = np.diff(res.records.arrival_ms[0])
    assert gaps.mean() == pytest.approx(1000.0, rel=0.05)
    assert gaps.std() / gaps.mean() == pytest.approx(3.0, rel=0.1)


def test_arrival_trace():
    times = np.cumsum(np.full(1000, 50.0))
    res = simulate(
        DecodeOnly(alpha=10, beta=1, out_tokens=3),
        max_batch=4,
        arrival_times_ms=times,
        out_tokens=3,
        replications=2,
        records=True,
    )
    np.testing.assert_array_equal(res.records.arrival_ms[0], times)
    # Spaced arrivals never wait for a slot; each takes 3 iterations of 11 ms.
    np.testing.assert_allclose(res.response_ms.mean, 33.0)
    assert res.throughput.mean == pytest.approx(20.0, rel=1e-3)


def test_t_quantile():
    assert t_quantile(0.975, 1) == pytest.approx(12.7062047, rel=1e-7)
    assert t_quantile(0.975, 9) == pytest.approx(2.2621572, rel=1e-7)
    assert t_quantile(0.995, 30) == pytest.approx(2.7499957, rel=1e-7)


# --- validation -------------------------------------------------------------------------

MODEL = DecodeOnly(alpha=10, beta=1, out_tokens=64)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (dict(max_batch=0), "max_batch"),
        (dict(max_batch=2.5), "max_batch"),
        (dict(max_queue=-1), "max_queue"),
        (dict(max_queue=1.5), "max_queue"),
        (dict(rate=-1.0), "rate"),
        (dict(rate=float("nan")), "rate"),
        (dict(rate=None), "rate"),
        (dict(arrival_cv=0.0), "arrival_cv"),
        (dict(num_requests=1), "num_requests"),
        (dict(warmup=-1), "warmup"),
        (dict(warmup=10_000), "warmup"),
        (dict(replications=0), "replications"),
        (dict(seed=-3), "seed"),
        (dict(percentiles=(50, 120)), "percentiles"),
        (dict(confidence=1.0), "confidence"),
        (dict(threads=0), "threads"),
        (dict(admission="boundary"), "admission"),
        (dict(admission=1), "admission"),
        (dict(out_tokens="pareto"), "out_tokens"),
        (dict(out_tokens=Tokens("geometric", 0.5)), "out_tokens.mean"),
        (dict(in_tokens=[1, 2]), "in_tokens"),
        (dict(arrival_times_ms=[3.0, 1.0], rate=None), "arrival_times_ms"),
        (dict(arrival_times_ms=[1.0, 2.0, 3.0]), "rate"),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_bad_input_names_field(kwargs, field):
    opts = dict(max_batch=4, rate=1.0, num_requests=1000)
    opts.update(kwargs)
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        simulate(MODEL, **opts)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: Tokens.lognormal(10, -1), "tokens.cv"),
        (lambda: Tokens.geometric(0), "tokens.mean"),
        (lambda: Tokens.empirical([]), "tokens.values"),
        (lambda: Tokens.trace([1, -2]), "tokens.values"),
    ],
)
def test_bad_tokens_names_field(make, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        make()


def test_bad_model():
    with pytest.raises(ValueError, match="model"):
        simulate(inferplan.ServiceTimes([1.0, 2.0]), max_batch=2, rate=1.0)


# --- command line -----------------------------------------------------------------------


SIMULATE = ("simulate", "--alpha", "19", "--beta", "1", "--out-tokens", "128")


def run_cli(*args):
    """Run ``inferplan simulate`` with the arguments above and ``args``.

    In a real subprocess importing the same inferplan as this process, installed or in-tree.
    """
    package_root = str(Path(inferplan.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "inferplan", *SIMULATE, *args],
                          capture_output=True, text=True, env=env, timeout=300)  # fmt: skip


def test_cli_json():
    p = run_cli("--max-batch", "16", "--load", "0.5", "--num-requests", "3000",
                "--replications", "2", "--format", "json", "--compare")  # fmt: skip
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["simulated"]["itl_ms"]["mean"] == pytest.approx(out["analytic"]["itl_ms"], rel=0.05)


def test_cli_admission():
    args = ("--max-batch", "64", "--load", "0.3", "--num-requests", "20000",
            "--replications", "4", "--format", "json", "--compare")  # fmt: skip
    p = run_cli(*args, "--admission", "immediate")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    sim, ana = out["simulated"]["ttft_ms"]["mean"], out["analytic"]["ttft_ms"]
    assert sim == pytest.approx(ana, rel=0.03)
    p = run_cli(*args)
    out = json.loads(p.stdout)
    sim = out["simulated"]["ttft_ms"]["mean"]
    assert sim > 1.2 * ana
    # --compare analyses under the simulated admission rule; the chain's read-off beside it
    assert sim == pytest.approx(out["analytic"]["ttft_ms"], rel=0.03)
    assert out["analytic_chain"]["ttft_ms"] == pytest.approx(ana, rel=1e-12)
    bad = run_cli(*args, "--admission", "soon")
    assert bad.returncode == 2
    assert "--admission" in bad.stderr


def test_cli_bad_input():
    p = run_cli("--max-batch", "16", "--rate", "-1")
    assert p.returncode == 2
    assert "rate" in p.stderr

"""Tests of inferplan.lengths: output-length laws.

Length laws in the service time and read-off, against the model's own formulas (one length),
the moments of the work, and the simulator.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import inferplan
from inferplan import arrivals
from inferplan._kernels import reference
from inferplan.lengths import Lengths

PD = inferplan.PrefillDecode(8, 0.02, 5e-5, 500, 200)
CHUNKED = inferplan.PrefillDecode(5, 0.05, 1e-4, 6000, 200, 4096)


@pytest.mark.parametrize("model", [PD, CHUNKED, inferplan.DecodeOnly(19, 1, 256)], ids=repr)
def test_one_length_is_the_model(model):
    N = 32
    s = Lengths().service(model, N)
    np.testing.assert_allclose(s.tau_ms, model.service_times(N), rtol=1e-13)
    r = inferplan.Replica(model, max_batch=N)
    m = r.analyze(0.6 * r.max_rate)
    prefill, itl = s.read_off(m.in_service, m.service_ms)
    assert prefill == pytest.approx(m.prefill_ms, rel=1e-12, abs=1e-12)
    assert itl == pytest.approx(m.itl_ms, rel=1e-12)
    # constant lengths: service steps have no variance, so the wait correction halves the
    # Poisson queue (Allen-Cunneen: (ca2 + cs2) / (ca2 + 1) = 1/2)
    assert s.service_scv == pytest.approx(0.0, abs=1e-12)


def test_kv_read_grows_with_the_second_moment():
    """Decode token t reads L + t cached tokens.

    E[work] has gamma (E[m] L + E[m(m+1)]/2); at batch 1 (no chunking, c = 1) tau(1) = E[c +
    m] alpha + E[work].
    """
    N, cv = 8, 1.5
    s = Lengths(out_cv=cv).service(PD, N)
    (_, _), (mx, mw) = Lengths(out_cv=cv).laws(PD.in_tokens, PD.out_tokens)
    m1, m2 = mx @ mw, (mx * mx) @ mw
    assert m1 == pytest.approx(200, rel=1e-12)
    assert m2 == pytest.approx(200**2 * (1 + cv**2), rel=1e-6)  # Gauss-Hermite quadrature
    a, b, g, L = PD.alpha, PD.beta, PD.gamma, PD.in_tokens
    work = (b + g) * L + b * m1 + g * (m1 * L + (m2 + m1) / 2)
    assert s.tau_ms[0] == pytest.approx((1 + m1) * a + work, rel=1e-12)
    base = PD.service_times(N)[0]
    assert s.tau_ms[0] - base == pytest.approx(g * (m2 - m1 * m1) / 2, rel=1e-9)


def test_empirical_lengths_use_the_samples():
    rng = np.random.default_rng(1)
    ins = rng.integers(100, 3000, 5000)
    outs = rng.integers(1, 600, 5000)
    lengths = Lengths.empirical(ins, outs)
    (Lx, Lw), (mx, mw) = lengths.laws(0, 1)
    assert Lx @ Lw == pytest.approx(ins.mean(), rel=1e-12)
    assert mx @ mw == pytest.approx(outs.mean(), rel=1e-12)
    r = inferplan.Replica(PD, max_batch=16)
    m = arrivals.analyze(r, 1.0, lengths=lengths)
    assert m.throughput == pytest.approx(1.0)
    assert math.isfinite(m.ttft_ms)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [(dict(in_cv=-1), "in_cv"), (dict(out_cv=math.nan), "out_cv"),
     (dict(out_values=[1, -2]), r"out_values\[1\]"), (dict(in_values=[]), "at least one"),
     (dict(points=0), "points"), (dict(out_cv=True), "out_cv"), (dict(in_cv="1"), "in_cv")],
)  # fmt: skip
def test_bad_lengths(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Lengths(**kwargs)


def test_service_times_model_is_rejected():
    r = inferplan.Replica(inferplan.ServiceTimes([10.0, 12.0]))
    with pytest.raises(ValueError, match="ServiceTimes"):
        arrivals.analyze(r, 1.0, lengths=Lengths(out_cv=1))


@pytest.mark.parametrize("cv", [0.0, 1.0, 2.0])
def test_capacity_against_the_simulator(cv):
    """The saturation throughput with lognormal output lengths (CV up to 2).

    The simulator at 110% load serves at its capacity; the KV term makes it lower than the
    mean model.
    """
    model = PD
    out = inferplan.Tokens.constant(200) if cv == 0 else inferplan.Tokens.lognormal(200, cv)
    want = arrivals.analyze(inferplan.Replica(model, max_batch=32, max_queue=64), 1.0,
                            lengths=Lengths(out_cv=cv)).max_rate  # fmt: skip
    sim = inferplan.simulate(model, max_batch=32, max_queue=64, rate=1.1 * want,
                             out_tokens=out, num_requests=20_000, replications=4, seed=4,
                             percentiles=())  # fmt: skip
    assert sim.throughput.mean == pytest.approx(want, rel=0.02)
    if cv == 2.0:
        assert want < 0.975 * inferplan.Replica(model, max_batch=32).max_rate
    # reference: the mean-length model's own c(b) chunks (L fits the budget: one chunk)
    assert reference.chunk_counts(500, 200, 8192, 32).max() == 1

"""``arrival_cv`` (and ``out_tokens_cv``) through the public entry points.

Replica methods, the batch calls, sweeps, fleet sizing and the command line (docs/model.md
6-7).

Truth: inferplan.arrivals (itself tested against closed forms, dense solves and the
simulator in test_arrivals.py), the GI/M/1 closed form for Erlang-2 arrivals, and, at
``arrival_cv == 1``, the unchanged birth-death path bit for bit.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

import inferplan
from inferplan import Status, arrivals
from inferplan.lengths import Lengths

DECODE = inferplan.DecodeOnly(19, 1, 256)
PREFILL = inferplan.PrefillDecode(8, 0.02, 5e-5, 500, 200)
CFG = dict(kind=1, alpha=8, beta=0.02, gamma=5e-5, in_tokens=500, out_tokens=200, max_batch=32)


def _replicas():
    return [
        inferplan.Replica(DECODE, max_batch=48),
        inferplan.Replica(DECODE, max_batch=48, max_queue=100),
        inferplan.Replica(PREFILL, max_batch=32),
    ]


# ----------------------------------------------------------------------- Replica methods


@pytest.mark.parametrize("admission", [None, "immediate", "iteration"])
def test_replica_at_cv_1_is_the_unchanged_path_bit_for_bit(admission):
    for r in _replicas():
        for load in (0.0, 0.3, 0.8):
            rate = load * r.max_rate
            base = r.analyze(rate, admission=admission)
            for one in (1.0, 1, np.float64(1.0)):
                got = r.analyze(rate, admission=admission, arrival_cv=one)
                assert got == base  # tuples of floats: equal bits (no NaN here)
            assert r.wait_quantile(rate, 0.99, admission=admission, arrival_cv=1) == (
                r.wait_quantile(rate, 0.99, admission=admission)
            )
            assert r.ttft_quantile(rate, 0.9, admission=admission, arrival_cv=1.0) == (
                r.ttft_quantile(rate, 0.9, admission=admission)
            )
        assert r.size(itl_ms=60, admission=admission, arrival_cv=1) == r.size(
            itl_ms=60, admission=admission
        )


@pytest.mark.parametrize("cv", [0.0, 0.5, 2.0, 4.0])
@pytest.mark.parametrize("admission", [None, "iteration"])
def test_replica_methods_delegate_to_arrivals(cv, admission):
    for r in _replicas():
        rate = 0.6 * r.max_rate
        kw = dict(arrival_cv=cv, admission=admission)
        assert r.analyze(rate, **kw) == arrivals.analyze(r, rate, **kw)
        assert r.wait_quantile(rate, 0.95, **kw) == arrivals.wait_quantile(r, rate, 0.95, **kw)
        assert r.ttft_quantile(rate, 0.99, **kw) == arrivals.ttft_quantile(r, rate, 0.99, **kw)
        targets = dict(itl_ms=1.5 * r.analyze(0.0).itl_ms, ttft_percentile=(0.99, 3e4))
        assert r.size(**targets, **kw) == arrivals.size(r, **targets, **kw)
        if cv > 1:  # burstier: more waiting than Poisson, less capacity
            assert r.analyze(rate, **kw).wait_ms > r.analyze(rate, admission=admission).wait_ms
            assert r.size(**targets, **kw).rate < r.size(**targets, admission=admission).rate


@pytest.mark.parametrize("rho", [0.3, 0.8])
def test_erlang_2_arrivals_against_the_gi_m_1_closed_form(rho):
    # max_batch 1: an exponential server of rate mu; arrival_cv 1/sqrt(2) is Erlang-2 exactly.
    # sigma = A*(mu (1 - sigma)), A*(s) = (2 lam / (2 lam + s))^2; W = sigma / (mu (1 - sigma))
    # and P(wait > t) = sigma exp(-mu (1 - sigma) t).
    r = inferplan.Replica(inferplan.DecodeOnly(5, 0, 10), max_batch=1)
    mu = r.max_rate / 1000.0  # per ms
    lam = rho * mu
    sigma = rho
    for _ in range(200):
        sigma = (2 * lam / (2 * lam + mu * (1 - sigma))) ** 2
    cv = 1 / math.sqrt(2)
    m = r.analyze(lam * 1000, arrival_cv=cv)
    assert m.wait_ms == pytest.approx(sigma / (mu * (1 - sigma)), rel=1e-9)
    q = 0.99
    want = math.log(sigma / (1 - q)) / (mu * (1 - sigma))
    assert r.wait_quantile(lam * 1000, q, arrival_cv=cv) == pytest.approx(want, rel=1e-8)
    assert m.wait_ms < r.analyze(lam * 1000).wait_ms  # more regular than Poisson


@pytest.mark.parametrize(
    ("bad", "rule"),
    [(-1, ">= 0"), (math.nan, "NaN"), (math.inf, "finite"), (101.0, "at most 100"),
     (True, "number"), ("2", "number"), (None, "number")],
)  # fmt: skip
def test_bad_arrival_cv_names_the_argument(bad, rule):
    r = inferplan.Replica(DECODE, max_batch=8)
    calls = (
        lambda: r.analyze(1.0, arrival_cv=bad),
        lambda: r.size(itl_ms=40, arrival_cv=bad),
        lambda: r.wait_quantile(1.0, 0.9, arrival_cv=bad),
        lambda: r.ttft_quantile(1.0, 0.9, arrival_cv=bad),
    )
    for call in calls:
        with pytest.raises(ValueError, match="arrival_cv") as err:
            call()
        assert rule in str(err.value)
        assert repr(bad) in str(err.value)


# ----------------------------------------------------------------------------- batch calls


def test_analyze_many_rows_with_a_cv_match_arrivals_and_the_others_are_unchanged():
    rates = np.array([2.0, 5.0, 8.0, 5.0, 5.0, 5.0, 1e4, 5.0])
    cvs = np.array([1.0, 2.0, 0.5, -1.0, np.nan, 1.0, 2.0, 0.0])
    ocv = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.8, 0.0, 1e3])
    got = inferplan.analyze_many(**CFG, rate=rates, arrival_cv=cvs, out_tokens_cv=ocv)
    plain = inferplan.analyze_many(**CFG, rate=rates)
    assert list(got["status"]) == [0, 0, 0, 40, 40, 0, 1, 41]
    r = inferplan.Replica(PREFILL, max_batch=32)
    for i in (0,):  # cv 1, mean lengths: the kernel's row, bit for bit
        for name in ("wait_ms", "ttft_ms", "itl_ms", "throughput"):
            assert got[name][i] == plain[name][i]
    for i in (1, 2):
        m = arrivals.analyze(r, rates[i], arrival_cv=cvs[i])
        for name, value in m._asdict().items():
            assert got[name][i] == value, name
    m = arrivals.analyze(r, 5.0, lengths=Lengths(out_cv=0.8))
    assert got["ttft_ms"][5] == m.ttft_ms
    assert got["max_rate"][5] == m.max_rate
    for i in (3, 4, 6, 7):  # bad CV, and unstable (unbounded queue above saturation)
        assert all(math.isnan(got[name][i]) for name in got if name != "status")
    assert "arrival_cv" in inferplan.status_message(Status.BAD_ARRIVAL_CV)
    assert "out_tokens_cv" in inferplan.status_message(Status.BAD_OUT_TOKENS_CV)


def test_analyze_many_with_admission_and_a_dataframe_column():
    import pandas as pd

    df = pd.DataFrame({"rate": [3.0, 6.0], "arrival_cv": [1.0, 3.0]})
    got = inferplan.analyze_many(df, **CFG, admission="iteration", metrics=["ttft_ms"])
    r = inferplan.Replica(PREFILL, max_batch=32)
    assert list(got["status"]) == [0, 0]
    assert got["ttft_ms"][0] == r.analyze(3.0, admission="iteration").ttft_ms
    assert got["ttft_ms"][1] == r.analyze(6.0, admission="iteration", arrival_cv=3).ttft_ms


def test_size_many_rows_with_a_cv_match_arrivals_size():
    cvs = [1.0, 2.0, 0.0, -3.0, 4.0]
    got = inferplan.size_many(
        **CFG, itl_ms=40, ttft_percentile=(0.99, 4000), arrival_cv=cvs,
        out_tokens_cv=[0, 0, 0, 0, 0.5], metrics="all",
    )  # fmt: skip
    plain = inferplan.size_many(**CFG, itl_ms=40, ttft_percentile=(0.99, 4000), metrics="all")
    assert list(got["status"]) == [0, 0, 0, 40, 0]
    assert got["rate"][0] == plain["rate"][0]
    assert got["ttft_ms"][0] == plain["ttft_ms"][0]
    r = inferplan.Replica(PREFILL, max_batch=32)
    from inferplan.sizing import BINDING_NAMES

    for i, lengths in ((1, None), (2, None), (4, Lengths(out_cv=0.5))):
        res = arrivals.size(r, itl_ms=40, ttft_percentile=(0.99, 4000), arrival_cv=cvs[i],
                            lengths=lengths)  # fmt: skip
        assert got["rate"][i] == res.rate
        assert BINDING_NAMES[got["binding"][i]] == res.binding
        assert got["iterations"][i] == res.iterations
        assert got["wait_ms"][i] == res.metrics.wait_ms
    assert got["rate"][1] < got["rate"][0] < got["rate"][2]  # bursty < Poisson < constant
    assert math.isnan(got["rate"][3])
    assert math.isnan(got["throughput"][3])
    # a bad configuration keeps the kernel's status, whatever the CV
    bad = inferplan.size_many(**{**CFG, "alpha": -1}, itl_ms=40, arrival_cv=2.0)
    assert bad["status"][0] == Status.BAD_ALPHA


def test_size_many_infeasible_row_with_a_cv():
    got = inferplan.size_many(**CFG, itl_ms=1.0, arrival_cv=[2.0])
    assert got["status"][0] == Status.INFEASIBLE_ITL
    assert math.isnan(got["rate"][0])


# ---------------------------------------------------------------------------------- sweeps


def test_sweep_arrival_cv_axis_is_written_and_matches_size_many(tmp_path):
    spec = {
        "operation": "size",
        "fixed": {**{k: v for k, v in CFG.items() if k != "kind"}, "kind": "prefill_decode",
                  "itl_ms": 40, "out_tokens_cv": 0.5},
        "axes": {"arrival_cv": [0, 1, 2, 4]},
    }  # fmt: skip
    inferplan.run_sweep(spec, tmp_path / "out", progress=False)
    table = inferplan.read_sweep(tmp_path / "out")
    assert list(table["arrival_cv"]) == [0.0, 1.0, 2.0, 4.0]
    assert list(table["out_tokens_cv"]) == [0.5] * 4  # fixed, but written
    want = inferplan.size_many(**CFG, itl_ms=40, arrival_cv=[0, 1, 2, 4], out_tokens_cv=0.5)
    assert list(table["rate"]) == list(want["rate"])
    assert (table["status"] == 0).all()


def test_sweep_rejects_a_bad_arrival_cv():
    from inferplan.sweep import SpecError, load_spec

    spec = {"operation": "analyze", "fixed": {**CFG, "kind": "decode_only"},
            "axes": {"rate": [1.0], "arrival_cv": [1.0, -0.5]}}  # fmt: skip
    with pytest.raises(SpecError, match=r"axes.arrival_cv\[1\]: arrival_cv must be in \[0, 100\]"):
        load_spec(spec)


# ----------------------------------------------------------------------------------- fleet


def _profile(system, model, accelerator):
    return next(p for p in system.profiles if p.model == model and p.accelerator == accelerator)


def test_fleet_cov_use_sizes_g1_servers_with_their_arrival_and_service_cov(inferno_dir):
    from inferplan.fleet import build_candidates, load_system
    from inferplan.fleet.candidates import EXPONENTIAL_P95

    system = load_system(inferno_dir / "g1" / "small")
    assert {(s.load.arrival_cov, s.load.service_cov) for s in system.servers} == {(1.5, 1.5)}
    ignore = build_candidates(system, cov="ignore")
    use = build_candidates(system)  # the default uses them
    assert use.replicas.sum() > ignore.replicas.sum()
    classes = {c.name: c for c in system.classes}
    checked = 0
    for s, srv in enumerate(system.servers):
        for k in range(use.start[s], use.stop[s])[:2]:
            acc = system.accelerators[use.accelerator[k]].name
            prof = _profile(system, srv.model, acc)
            r = inferplan.Replica(
                inferplan.DecodeOnly(prof.alpha, prof.beta, srv.load.out_tokens),
                max_batch=int(use.max_batch[k]), max_queue=float(use.max_queue[k]),
            )  # fmt: skip
            t = classes[srv.service_class].targets[srv.model]
            lengths = Lengths(out_cv=1.5)
            res = arrivals.size(r, arrival_cv=1.5, lengths=lengths, itl_ms=t.itl_ms,
                                wait_ms=t.ttw_ms / EXPONENTIAL_P95)  # fmt: skip
            assert use.capacity_per_replica[k] == res.rate
            load = use.total_rate[k] / use.replicas[k]
            m = arrivals.analyze(r, load, arrival_cv=1.5, lengths=lengths)
            assert use.wait_ms[k] == m.wait_ms
            assert use.itl_ms[k] == m.itl_ms
            checked += 1
    assert checked >= 10


def test_fleet_cov_absent_or_zero_is_poisson(inferno_dir):
    from inferplan.fleet import build_candidates, load_system

    system = load_system(inferno_dir / "g3" / "small")
    assert all(s.load.arrival_cov is None for s in system.servers)
    base = build_candidates(system)
    zeros = dataclasses.replace(system, servers=tuple(
        dataclasses.replace(s, load=dataclasses.replace(s.load, arrival_cov=0.0, service_cov=0.0))
        for s in system.servers
    ))  # fmt: skip
    for cands in (build_candidates(system, cov="use"), build_candidates(zeros, cov="use")):
        for name in ("replicas", "cost", "capacity_per_replica", "accelerator"):
            np.testing.assert_array_equal(getattr(cands, name), getattr(base, name))
    bursty = dataclasses.replace(system, servers=tuple(
        dataclasses.replace(s, load=dataclasses.replace(s.load, arrival_cov=3.0))
        for s in system.servers
    ))  # fmt: skip
    more = build_candidates(bursty, cov="use")
    assert more.replicas.sum() > base.replicas.sum()
    with pytest.raises(ValueError, match="cov must be one of"):
        build_candidates(system, cov="yes")


def test_fleet_data_refuses_a_cov_out_of_range(inferno_dir, tmp_path):
    from inferplan.fleet import DataError, load_system

    doc = json.loads((inferno_dir / "g1" / "small" / "system-data.json").read_text())
    text = json.dumps(doc).replace('"arrivalCOV": 1.5', '"arrivalCOV": -2', 1)
    assert text != json.dumps(doc)
    (tmp_path / "system-data.json").write_text(text)
    with pytest.raises(DataError, match="arrivalCOV"):
        load_system(tmp_path / "system-data.json")


# ------------------------------------------------------------------------------ the CLI


def test_cli_size_and_analyze_take_arrival_cv(inferplan_cli):
    args = ("--alpha", 19, "--beta", 1, "--out-tokens", 256, "--max-batch", 48)
    p = inferplan_cli("size", *args, "--ttft-percentile", "0.99:20000", "--arrival-cv", 2,
                      "--format", "json")  # fmt: skip
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    r = inferplan.Replica(DECODE, max_batch=48)
    assert out["rate"] == r.size(ttft_percentile=(0.99, 20000), arrival_cv=2.0).rate
    assert out["arrival_cv"] == 2.0
    p = inferplan_cli("analyze", *args, "--rate", "1,2", "--arrival-cv", 0.5, "--quantile",
                      0.99, "--format", "json")  # fmt: skip
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)["results"]
    assert res[1]["wait_ms"] == r.analyze(2.0, arrival_cv=0.5).wait_ms
    assert res[1]["ttft_p99_ms"] == r.ttft_quantile(2.0, 0.99, arrival_cv=0.5)
    help_text = inferplan_cli("size", "--help").stdout
    assert "--arrival-cv" in help_text
    assert "(default: 1.0)" in help_text


def test_cli_bad_arrival_cv_is_one_line(inferplan_cli, one_line_error):
    args = ("--alpha", 19, "--beta", 1, "--out-tokens", 256, "--max-batch", 48)
    one_line_error(inferplan_cli("size", *args, "--itl-ms", 40, "--arrival-cv", "-1"),
                   "--arrival-cv", ">= 0")  # fmt: skip
    one_line_error(inferplan_cli("analyze", *args, "--rate", 1, "--arrival-cv", "nan"),
                   "--arrival-cv")  # fmt: skip


def test_cli_optimize_cov(inferplan_cli, inferno_dir):
    path = str(inferno_dir / "g1" / "small")
    ignore = json.loads(
        inferplan_cli("optimize", path, "--cov", "ignore", "--format", "json").stdout
    )
    use = json.loads(inferplan_cli("optimize", path, "--format", "json").stdout)  # default
    assert use["totalCost"] > ignore["totalCost"] == pytest.approx(35121)


@pytest.mark.parametrize("name", ["cpp", "numba", "numpy"])
def test_batch_rows_take_the_status_the_scalar_call_raises(name):
    """A row the arrival solver refuses gets that refusal's own status on every backend.

    UNSTABLE at saturation with an unbounded queue, BAD_ARRIVAL_LEVELS for a finite queue
    too long for the exact solve: carried by the error (StatusError), not read off its text.
    """
    from inferplan._kernels import dispatch
    from inferplan._status import StatusError

    dispatch.use(name)
    try:
        cols = dict(kind=0, alpha=19.0, beta=1.0, out_tokens=256.0, max_batch=8)
        over = inferplan.analyze_many(**cols, rate=10.0, arrival_cv=2.0)
        long = inferplan.analyze_many(**cols, max_queue=1e6, rate=0.1, arrival_cv=2.0)
        sized = inferplan.size_many(**cols, max_queue=1e6, itl_ms=40.0, arrival_cv=2.0)
        with pytest.raises(StatusError, match="saturation") as err:
            inferplan.Replica(inferplan.DecodeOnly(19, 1, 256), 8).analyze(10.0, arrival_cv=2.0)
    finally:
        dispatch.use(None)
    assert err.value.status == inferplan.Status.UNSTABLE
    assert over["status"][0] == inferplan.Status.UNSTABLE
    assert long["status"][0] == inferplan.Status.BAD_ARRIVAL_LEVELS
    assert sized["status"][0] == inferplan.Status.BAD_ARRIVAL_LEVELS
    assert np.isnan(long["wait_ms"][0])
    assert np.isnan(sized["rate"][0])

"""Runtime policies, the replay through the simulator, the campus example and the CLI."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

import inferplan
from inferplan import runtime
from inferplan.runtime import ClassRule, PolicyConfig, Trace

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "runtime_campus.py"


@pytest.fixture(scope="module")
def campus():
    spec = importlib.util.spec_from_file_location("runtime_campus", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.campus_report()


def test_campus_adaptive_mig_saves_power_within_slo(campus):
    """The shape of OASIS's result.

    Adaptive MIG provisioning draws less power than static full GPUs, and P99 TTFT and ITL
    of every class stay within the SLO.
    """
    static = campus.results["static"].summary
    assert static["latency"]["overall"]["slo_met"]
    for name in ("reactive", "proactive"):
        s = campus.results[name].summary
        assert s["mean_power_w"] < static["mean_power_w"]
        assert s["vs_static"]["power_reduction"] > 0.05
        for cls, lat in s["latency"]["classes"].items():
            rule = next(r for r in campus.rules if r.name == cls)
            assert lat["ttft_ms"]["p99"] <= rule.slo.ttft_ms, (name, cls)
            assert lat["itl_ms"]["p99"] <= rule.slo.itl_ms, (name, cls)
            assert lat["slo_met"], (name, cls)
            assert lat["attainment"] >= 0.995, (name, cls)
        # They do adapt: MIG slices at some point, and instances change over time.
        plan = campus.results[name].plan
        assert np.any(campus.options.mig_profile[plan.option] != "")
        assert plan.new_instances.sum() > 0


def test_campus_static_is_full_gpus_at_reference_clock(campus):
    plan = campus.results["static"].plan
    opts = campus.options
    assert np.all(opts.mig_profile[plan.option] == "")
    assert np.all(opts.frequency_mhz[plan.option] == 1410)
    assert np.all(plan.count == plan.count[0])
    assert plan.new_instances[1:].sum() == 0
    # Peak provisioning: enough for the busiest window of every class.
    peak = plan.observed.max(axis=0) * (1 + PolicyConfig().headroom)
    assert np.all(plan.count[0] * opts.rate[plan.option[0]] >= peak)


def test_campus_report_accounts_for_every_request(campus):
    d = campus.as_dict()
    assert sum(d["trace"]["class_counts"].values()) == d["trace"]["requests"]
    assert d["trace"]["failed"] == campus.trace.num_failed > 0
    for name, res in campus.results.items():
        served = sum(v["served"] for v in res.summary["latency"]["classes"].values())
        assert served == len(campus.trace) - campus.trace.num_failed, name
        assert np.isnan(res.replay.ttft_ms[campus.trace.failed]).all()


def test_reactive_uses_the_previous_window_and_proactive_a_forecast():
    observed = np.array([[1.0, 2.0], [3.0, 2.0], [5.0, 2.0], [7.0, 2.0]])
    fc, spread = runtime.holt_forecasts(observed, alpha=0.8, beta=0.8)
    assert fc[0].tolist() == [1.0, 2.0]
    assert fc[3, 0] > 5.0  # the trend is extrapolated
    np.testing.assert_allclose(fc[:, 1], 2.0)
    assert spread[0].tolist() == [0.0, 0.0]
    assert spread[3, 0] > 0


def test_statsmodels_forecaster():
    pytest.importorskip("statsmodels")
    t = np.arange(48.0)
    y = np.column_stack([10 + 0.5 * t, 5 + np.sin(t / 3)])
    fc, _ = runtime.holt_forecasts(y, method="statsmodels", refit_every=12, min_fit=12)
    assert abs(fc[-1, 0] - y[-1, 0]) < 1.0
    with pytest.raises(ValueError, match="method"):
        runtime.holt_forecasts(y, method="arima")


def _poisson_trace(rate, seconds, in_tokens, out_tokens, seed=0):
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    times = np.cumsum(rng.exponential(1.0 / rate, n))
    return Trace.from_arrays(times, np.full(n, in_tokens), np.full(n, out_tokens))


def test_replay_matches_a_direct_simulation_and_the_analytic_model():
    """One class, one full GPU, one window.

    The replay must be exactly one trace-mode simulation of the whole trace, whose mean ITL
    agrees with the analytic chain.
    """
    trace = _poisson_trace(2.0, 3600.0, 300, 200)
    rules = [ClassRule("all", slo=runtime.ClassSLO())]
    report = runtime.evaluate(
        trace,
        rules=rules,
        policies=("static",),
        window_s=4000.0,
        config=PolicyConfig(headroom=0.0),
    )
    plan = report.results["static"].plan
    assert plan.count.tolist() == [[1]]
    o = int(plan.option[0, 0])
    opts = report.options
    model = inferplan.PrefillDecode(
        alpha=opts.alpha[o],
        beta=opts.beta[o],
        gamma=opts.gamma[o],
        in_tokens=300,
        out_tokens=200,
    )
    direct = inferplan.simulate(
        model,
        max_batch=int(opts.max_batch[o]),
        arrival_times_ms=trace.time_s * 1000.0,
        in_tokens=inferplan.Tokens.trace(trace.in_tokens),
        out_tokens=inferplan.Tokens.trace(trace.out_tokens),
        replications=1,
        warmup=0,
        records=True,
    )
    rep = report.results["static"].replay
    np.testing.assert_allclose(
        rep.ttft_ms, direct.records.first_token_ms[0] - direct.records.arrival_ms[0]
    )
    analytic = inferplan.Replica(model, max_batch=int(opts.max_batch[o])).analyze(2.0)
    assert np.nanmean(rep.itl_ms) == pytest.approx(analytic.itl_ms, rel=0.05)
    # Power: the card's curve at the simulated utilisation, which matches the chain's.
    assert rep.utilization[0, 0] == pytest.approx(analytic.utilization, rel=0.05)
    assert rep.power_w[0] == pytest.approx(float(opts.power_w(o, rep.utilization[0, 0])))


def test_new_instances_wait_for_provisioning():
    """Load returns after an idle window in which every instance was released.

    The class cold-starts an instance, and requests arriving during the provisioning delay
    wait for it (their TTFT includes the wait); later requests do not.
    """
    hw = runtime.campus_hardware(provision_delay_s=60.0, repartition_delay_s=0.0)
    times = np.concatenate([np.linspace(0, 10, 5), np.linspace(900, 1190, 60)])
    trace = Trace.from_arrays(times, np.full(times.size, 100), np.full(times.size, 50))
    report = runtime.evaluate(
        trace,
        rules=[ClassRule("all")],
        policies=("reactive",),
        hardware=hw,
        window_s=300.0,
        config=PolicyConfig(min_instances=0),
    )
    plan = report.results["reactive"].plan
    rep = report.results["reactive"].replay
    assert plan.count[:, 0].tolist() == [1, 1, 0, 1]
    assert plan.kept[3, 0] == 0
    assert plan.new_instances[3] == 1
    early = (trace.time_s >= 900) & (trace.time_s < 960)
    assert early.sum() > 5
    wait_ms = (960.0 - trace.time_s[early]) * 1000.0
    assert np.all(rep.ttft_ms[early] >= wait_ms)
    assert np.all(rep.ttft_ms[trace.time_s >= 1000] < 5_000)
    assert np.isfinite(rep.ttft_ms).all()


def test_unmatched_requests_are_an_error():
    trace = _poisson_trace(1.0, 60.0, 100, 50)
    with pytest.raises(ValueError, match="match no class rule"):
        runtime.evaluate(trace, rules=[ClassRule("long", in_min=1000)])


def test_cli_writes_table_plots_and_json(tmp_path, capsys):
    from inferplan.cli import main

    out = tmp_path / "report"
    rc = main(
        [
            "runtime",
            "synthetic:campus:duration_s=1800",
            "--policy",
            "all",
            "--out",
            str(out),
            "--seed",
            "4",
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "static" in printed
    assert "proactive" in printed
    assert "mean W" in printed
    for name in ("runtime.json", "runtime.txt", "load_instances.png", "power.png", "latency.png"):
        assert (out / name).stat().st_size > 0
    data = json.loads((out / "runtime.json").read_text())
    assert set(data["policies"]) == {"static", "reactive", "proactive"}
    assert math.isfinite(data["policies"]["reactive"]["mean_power_w"])


def test_cli_reports_skipped_rows(tmp_path, capsys):
    from inferplan.cli import main

    path = tmp_path / "t.csv"
    rows = ["timestamp,in_tokens,out_tokens"] + [f"{k * 7.0},{100 + k},{60}" for k in range(50)]
    rows.insert(5, "oops,1,1")
    path.write_text("\n".join(rows) + "\n")
    assert main(["runtime", str(path), "--policy", "static", "--out", str(tmp_path / "o")]) == 2
    assert "line 6" in capsys.readouterr().err
    assert (
        main(
            [
                "runtime",
                str(path),
                "--policy",
                "static",
                "--lenient",
                "--no-plots",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 0
    )
    assert "skipped 1 malformed row(s) (lines 6)" in capsys.readouterr().out

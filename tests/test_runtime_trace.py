"""The runtime on a real trace (Azure LLM inference trace 2023, conversation).

The runtime on a real trace (Azure LLM inference trace 2023, conversation; see
tests/data/README.md): read with its original header, no look-ahead, burstiness and the
closed-loop safeguard, and the acceptance figures of docs/runtime.md.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from inferplan import runtime
from inferplan.runtime import ClassRule, ClassSLO, PolicyConfig, Trace
from inferplan.runtime.policy import observed_rates
from inferplan.runtime.replay import Replayer
from inferplan.runtime.traces import parse_columns
from inferplan.runtime.traffic import History, Safeguard

ROOT = Path(__file__).resolve().parents[1]
AZURE = ROOT / "tests" / "data" / "traces" / "splitwise_conv.csv"


@pytest.fixture(scope="module")
def azure():
    return runtime.evaluate(str(AZURE))


def test_azure_trace_loads_with_its_header():
    t = runtime.load_trace(str(AZURE))
    assert len(t) == 19_366
    assert t.num_failed == 0
    assert t.in_tokens.mean() == pytest.approx(1154.7, abs=0.1)
    assert t.out_tokens.mean() == pytest.approx(211.1, abs=0.1)
    same = runtime.load_trace(
        str(AZURE), columns="arrival=arrived_at,in=num_prefill_tokens,out=num_decode_tokens"
    )
    np.testing.assert_array_equal(same.time_s, t.time_s)
    swapped = runtime.load_trace(str(AZURE), columns="in=num_decode_tokens,out=num_prefill_tokens")
    np.testing.assert_array_equal(swapped.in_tokens, t.out_tokens)


def test_azure_2023_schema_is_detected(tmp_path):
    # Azure LLM inference trace 2023's own columns: TIMESTAMP (date-time), ContextTokens,
    # GeneratedTokens
    path = tmp_path / "azure2023.csv"
    path.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2023-11-16 18:15:46.6805900,374,44\n"
        "2023-11-16 18:15:50.9951690,396,109\n"
        "2023-11-16 18:15:51.2500000,879,55\n"
    )
    t = runtime.load_trace(str(path))
    assert t.in_tokens.tolist() == [374, 396, 879]
    assert t.out_tokens.tolist() == [44, 109, 55]
    assert t.time_s[1] == pytest.approx(4.314579, abs=1e-6)


@pytest.mark.parametrize(
    ("text", "match"),
    [("arrival", "bad item"), ("when=t", "unknown key"), ("in=a,in=b", "twice"), (",", "empty")],
)
def test_bad_column_mappings(text, match):
    with pytest.raises(ValueError, match=match):
        parse_columns(text)


def test_cli_reads_the_trace_with_its_original_header(tmp_path, inferplan_cli):
    out = tmp_path / "o"
    args = ["runtime", AZURE, "--policy", "static", "--admission", "iteration", "--no-plots",
            "--out", out]  # fmt: skip
    res = inferplan_cli(*args, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "19,366 requests" in res.stdout
    data = json.loads((out / "runtime.json").read_text())
    assert data["trace"]["requests"] == 19_366
    bad = inferplan_cli(*args[:2], "--columns", "in=nope", *args[2:], timeout=300)
    assert bad.returncode != 0
    assert "no column 'nope'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1  # one line, no traceback


def test_azure_acceptance(azure):
    """Reactive and proactive meet every SLO with less power than static.

    Reactive and proactive each meet every class's P99 TTFT and ITL SLO with attainment >=
    99.5% while drawing less power than static (docs/runtime.md).
    """
    static = azure.results["static"].summary
    for name in ("reactive", "proactive"):
        s = azure.results[name].summary
        assert s["mean_power_w"] < static["mean_power_w"], name
        for cls, lat in s["latency"]["classes"].items():
            rule = next(r for r in azure.rules if r.name == cls)
            assert lat["ttft_ms"]["p99"] <= rule.slo.ttft_ms, (name, cls)
            assert lat["itl_ms"]["p99"] <= rule.slo.itl_ms, (name, cls)
            assert lat["attainment"] >= 0.995, (name, cls)
        assert set(s["safeguard"]) == {r.name for r in azure.rules}
        assert set(s["traffic"]) == {r.name for r in azure.rules}
        plan = azure.results[name].plan
        # burstiness was measured from the trace and fed to sizing
        assert np.isfinite(plan.arrival_cv[1:]).any()
        assert np.all(plan.burst_factor >= 1.0)


def _decisions(trace, policies=("reactive", "proactive")):
    rep = runtime.evaluate(trace, policies=policies)
    return {p: rep.results[p].plan for p in policies}


def test_no_look_ahead():
    """Decisions use no data from the future.

    Changing everything after window 3 changes no decision of windows 0..3 (targets,
    options, counts), closed loop included; the first window uses no data at all.
    """
    base = runtime.load_trace(str(AZURE)).head(2400.0)
    cut = 4 * 300.0
    t, i, o = base.time_s.copy(), base.in_tokens.copy(), base.out_tokens.copy()
    late = t >= cut
    rng = np.random.default_rng(5)
    # the future: three times the traffic, longer prompts, other output lengths
    t2 = np.concatenate([t[~late], np.repeat(t[late], 3) + rng.uniform(0, 1, 3 * late.sum())])
    i2 = np.concatenate([i[~late], np.repeat(i[late] * 2, 3)])
    o2 = np.concatenate([o[~late], np.repeat(o[late], 3)[::-1]])
    changed = Trace.from_arrays(t2, i2, o2)
    a, b = _decisions(base), _decisions(changed)
    for p in a:
        np.testing.assert_array_equal(a[p].option[:4], b[p].option[:4])
        np.testing.assert_array_equal(a[p].count[:4], b[p].count[:4])
        np.testing.assert_array_equal(a[p].target[:4], b[p].target[:4])
        assert not np.array_equal(a[p].count[4:], b[p].count[4:])  # the future does matter
    # window 0: the static option, whatever the data
    silent = Trace.from_arrays(t[t < 300] * 0 + 1.0, i[t < 300], o[t < 300])
    first = _decisions(silent, ("reactive",))["reactive"]
    np.testing.assert_array_equal(first.option[0], a["reactive"].option[0])


def test_safeguard_rule():
    g = Safeguard(3)
    g.update(np.array([1.5, 0.3, np.nan]))
    np.testing.assert_allclose(g.factor, [1.5, 1.0, 1.0])
    g.update(np.array([1.1, 0.2, 5.0]))
    np.testing.assert_allclose(g.factor, [1.5 * 1.25, 1.0, 2.0])  # steps in [1.25, 2]
    g.update(np.array([0.3, 0.9, 0.7]))
    np.testing.assert_allclose(g.factor, [1.5 * 1.25 * 0.9, 1.0, 2.0])
    s = g.summary(["a", "b", "c"])
    assert s["a"]["windows_over_target"] == 2
    assert s["c"]["max_factor"] == 2.0


def test_safeguard_corrects_an_optimistic_model():
    """The closed loop corrects an optimistic profile; the open loop does not.

    The cost table's profile is optimistic (measured at half the per-token cost the servers
    really have): the replay of each window, through the real simulator, shows mean ITL
    above its 50 ms target; the closed loop raises the class's capacity until it is met,
    while the open loop stays above it for the whole trace.
    """
    rng = np.random.default_rng(3)
    n = 7200
    trace = Trace.from_arrays(np.cumsum(rng.exponential(0.25, n)), rng.integers(500, 1500, n),
                              rng.integers(100, 300, n))  # fmt: skip
    rules = [ClassRule("all", slo=ClassSLO())]
    hw = runtime.campus_hardware()
    sized = runtime.build_options(hw, rules, [(1000, 200)])
    truth = dataclasses.replace(sized, alpha=2 * sized.alpha, beta=2 * sized.beta,
                                gamma=2 * sized.gamma)  # fmt: skip
    windows = int(np.ceil(trace.duration_s / 300))
    win = np.minimum((trace.time_s // 300).astype(int), windows - 1)
    cls = np.zeros(n, dtype=int)
    observed = observed_rates(win, cls, windows, 1, 300.0)
    history = History(trace, cls, windows, 1, 300.0)
    itl = {}
    for feedback in (False, True):
        replayer = Replayer(trace, cls, windows, 1, 300.0, truth, hw)
        config = PolicyConfig(feedback=feedback)
        plan = runtime.make_plan(
            "reactive", observed, sized, 300.0, config, history=history, replayer=replayer,
            rules=rules, prior_tokens=[(1000, 200)],
        )  # fmt: skip
        rep = replayer.result()
        itl[feedback] = [np.nanmean(rep.itl_ms[win == w]) for w in range(windows)]
        if feedback:
            guard = plan.safeguard.summary(["all"])["all"]
            assert guard["windows_over_target"] >= 1
            assert guard["max_factor"] > 1.0
            counts = plan.count[:, 0]
    assert min(itl[False][1:]) > 50.0  # the open loop never meets the mean ITL target
    assert itl[True][-1] < 50.0
    assert counts[-1] > counts[1]


def test_history_measures_per_instance_burstiness():
    rng = np.random.default_rng(0)
    times = np.cumsum(rng.exponential(0.1, 30_000))  # Poisson, 10 req/s
    trace = Trace.from_arrays(times, np.full(times.size, 100), np.full(times.size, 50))
    h = History(trace, np.zeros(times.size, int), 1, 1, 1e9)
    assert h.arrival_cv(0, 0) == pytest.approx(1.0, abs=0.02)
    # round robin over 4 instances: Erlang-4 gaps, CV 1/2
    assert h.arrival_cv(0, 0, 4) == pytest.approx(0.5, abs=0.02)

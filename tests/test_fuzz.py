"""CI-sized property fuzzing of the batch, scalar and C entry points.

CI-sized property fuzzing of the batch, scalar and C entry points (the checks of
scripts/fuzz.py on Hypothesis-drawn rows; docs/reliability.md).

Rows mix realistic values with extremes (subnormals, 1e300, NaN, infinities, negative
values, 2**32 kinds, queues up to 1e15, batches up to 1e5). Properties:

* bad input gets an error status (>= 20) and NaN outputs, never OK;
* an OK analysis has finite, non-negative metrics, probabilities in [0, 1], throughput at
  most the offered rate and utilization at most 1;
* UNSTABLE exactly when the queue is unbounded and the rate is at or above saturation;
* an OK sizing has a finite rate within the saturation cap and finite metrics, and on the
  decode-only model its mean targets hold at the rate and fail just above it;
* the Numba kernel gives the C++ bits (on the rows drawn), the NumPy reference the same to
  1e-6 on small configurations.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import inferplan as ip

_spec = importlib.util.spec_from_file_location(
    "fuzz", Path(__file__).resolve().parents[1] / "scripts" / "fuzz.py"
)
fuzz = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fuzz)


def _mix(lo, hi, extremes):
    """Log-uniform realistic values, or one of the extremes."""
    return st.one_of(
        st.floats(lo, hi).map(lambda e: 10.0**e),
        st.sampled_from(extremes),
    )


_row = st.fixed_dictionaries(
    {
        "kind": st.one_of(st.sampled_from([0, 1]), st.sampled_from([2, 3, -1, 2**32])),
        "alpha": _mix(-2, 3, fuzz._EXTREMES["alpha"]),
        "beta": _mix(-5, 1, fuzz._EXTREMES["beta"]),
        "gamma": _mix(-8, -2, fuzz._EXTREMES["gamma"]),
        "in_tokens": _mix(0, 5, fuzz._EXTREMES["in_tokens"]),
        "out_tokens": _mix(0, 4, fuzz._EXTREMES["out_tokens"]),
        "max_num_tokens": _mix(1, 4.3, fuzz._EXTREMES["max_num_tokens"]),
        "max_batch": st.one_of(
            st.integers(1, 100_000), st.sampled_from([0, -1, (1 << 24) + 1, 2**40])
        ),
        "max_queue": st.one_of(
            st.sampled_from([0.0, math.inf]),
            st.integers(0, 10**15).map(float),
            st.sampled_from([0.5, -1.0, math.nan, 1e300]),
        ),
        "load": st.one_of(
            st.floats(0.0, 2.0),
            st.sampled_from([1.0, 1 - 1e-12, 1 + 1e-12]),
        ),
        "rate_extreme": st.one_of(st.none(), st.sampled_from(fuzz._RATE_EXTREMES)),
    }
)
_rows = st.lists(_row, min_size=1, max_size=12)


def _columns(rows):
    c = {k: np.array([r[k] for r in rows], dtype=float) for k in fuzz.CONFIG}
    c["kind"] = np.array([r["kind"] for r in rows], dtype=np.int64)
    c["max_batch"] = np.array([r["max_batch"] for r in rows], dtype=np.int64)
    c["max_queue"] = np.array([r["max_queue"] for r in rows], dtype=float)
    return c


def _rates(rows, c):
    with np.errstate(all="ignore"):
        mr = ip.analyze_many(**c, rate=0.0)["max_rate"]
    rate = np.nan_to_num(mr, nan=1.0) * np.array([r["load"] for r in rows])
    for i, r in enumerate(rows):
        if r["rate_extreme"] is not None:
            rate[i] = r["rate_extreme"]
    return rate, mr


@given(_rows, st.sampled_from(fuzz.ADMISSIONS))
def test_analysis_properties(rows, admission):
    c = _columns(rows)
    rate, _ = _rates(rows, c)
    with np.errstate(all="ignore"):
        res = ip.analyze_many(**c, rate=rate, admission=admission)
    rep = fuzz.Report()
    m = {k: v for k, v in res.items() if k != "status"}
    fuzz.check_analyze_rows(
        rep, "analyze", c, rate, res["status"], m, admission, fuzz.expected_invalid(c)
    )
    assert not rep.failures, rep.failures[:3]
    # Backends agree: Numba bit for bit (without an admission rule, whose Numba form is
    # the NumPy adjustment), the NumPy reference to 1e-6 on small rows.
    rows_all = np.arange(rate.size)
    fuzz.compare_backends(rep, "analyze", c, rate, None, admission, res, "analyze", rows_all)
    assert not rep.failures, rep.failures[:3]


def _targets(draw_rows, c, idle, busy, seed):
    rng = np.random.default_rng(seed)
    return fuzz.gen_targets(rng, len(draw_rows), idle, busy, c)


@given(_rows, st.integers(0, 2**32 - 1))
def test_sizing_rows_are_finite_and_within_the_cap(rows, seed):
    c = _columns(rows)
    with np.errstate(all="ignore"):
        idle = ip.analyze_many(**c, rate=0.0)
        busy = ip.analyze_many(**c, rate=np.nan_to_num(0.95 * idle["max_rate"]))
    t = _targets(rows, c, idle, busy, seed)
    with np.errstate(all="ignore"):
        res = ip.size_many(**c, **fuzz._target_args(t), metrics="all")
    invalid = fuzz.expected_invalid(c) | fuzz.target_invalid(t)
    status, rate = res["status"], res["rate"]
    for i in range(status.size):
        if invalid[i]:
            assert status[i] >= 20, fuzz.reproducer("size", c, i, t=t)
        if status[i] != 0:
            assert math.isnan(rate[i])
            continue
        metrics = {k: res[k] for k in ip.Metrics._fields if k != "rate"}
        assert fuzz._metric_problem(metrics, i) == "", fuzz.reproducer("size", c, i, t=t)
        has_tps = t["tps"][i] != 0 and not math.isnan(t["tps"][i])
        cap = 0.999 * idle["max_rate"][i] * (0.9 if has_tps else 1.0)
        assert 0 <= rate[i] <= cap * (1 + 1e-12), fuzz.reproducer("size", c, i, t=t)


@given(
    st.lists(
        st.tuples(
            st.floats(0.1, 100), st.floats(1e-3, 5), st.floats(1, 4096), st.integers(1, 2000)
        ),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from([0.0, 10.0, 1000.0, math.inf]),
    st.floats(0.05, 1.5),
)
def test_decode_only_sizing_is_the_largest_rate(rows, queue, level):
    """Each mean target holds at the sized rate and some fails just above it.

    Each mean target holds at the sized rate and some fails just above it (the decode-only
    model, whose metrics grow with the rate).
    """
    n = len(rows)
    c = {
        "kind": np.zeros(n, np.int64),
        "alpha": np.array([r[0] for r in rows]),
        "beta": np.array([r[1] for r in rows]),
        "gamma": np.zeros(n),
        "in_tokens": np.zeros(n),
        "out_tokens": np.array([r[2] for r in rows]),
        "max_num_tokens": np.full(n, 8192.0),
        "max_batch": np.array([r[3] for r in rows], np.int64),
        "max_queue": np.full(n, queue),
    }
    idle = ip.analyze_many(**c, rate=0.0)
    busy = ip.analyze_many(**c, rate=0.95 * idle["max_rate"])
    itl = idle["itl_ms"] + level * (busy["itl_ms"] - idle["itl_ms"])
    res = ip.size_many(**c, itl_ms=itl)
    t = {k: np.zeros(n) for k in fuzz.TARGETS}
    t["itl_ms"] = itl
    rep = fuzz.Report()
    fuzz.check_size_rows(rep, "size", c, t, res, None, np.zeros(n, bool), idle["max_rate"])
    assert not rep.failures, rep.failures[:3]


@pytest.mark.parametrize("entry", ["analyze", "size", "replica", "capi"])
def test_the_fuzz_script_runs_each_entry_point(entry, tmp_path):
    """scripts/fuzz.py end to end on a few rows in one worker process (no subprocess pool).

    It must find nothing wrong in the robustness checks.
    """
    if entry == "capi":
        pytest.importorskip("cffi")
        from inferplan import capi

        try:
            capi.load()
        except capi.CLibraryNotFoundError as exc:
            pytest.skip(f"C library not built: {exc}")
    rep = fuzz.Report()
    rows = 60
    fuzz.RUNNERS[entry](rep, 3, 0, rows, np.arange(rows))
    assert rep.rows >= rows
    robustness = [f for f in rep.failures if f["check"] not in fuzz.SIZING_CHECKS]
    assert not robustness, robustness[:3]

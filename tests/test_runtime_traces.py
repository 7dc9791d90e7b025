"""Query classes and traces: BurstGPT and generic loaders, malformed rows, synthetic traces."""

from __future__ import annotations

import numpy as np
import pytest

from inferplan import runtime
from inferplan.runtime import ClassRule, Trace, TraceError, classify, oasis_classes

HEADER = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
GOOD = [
    "5,ChatGPT,472,18,490,Conversation log",
    "45,ChatGPT,1087,0,1087,Conversation log",  # failed: no response
    "118,GPT-4,417,1029,1446,API log",
    "130,ChatGPT,640,300,940,Conversation log",
]


def write(tmp_path, lines, name="burst.csv"):
    path = tmp_path / name
    path.write_text(HEADER + "\n".join(lines) + "\n")
    return path


# --- classes -----------------------------------------------------------------------------


def test_oasis_classes_split_at_the_threshold():
    rules = oasis_classes(500)
    assert [r.name for r in rules] == ["SISO", "SILO", "LISO", "LILO"]
    ins = np.array([500, 500, 501, 501, 0, 10_000])
    outs = np.array([500, 501, 500, 501, 1, 10_000])
    assert classify(rules, ins, outs).tolist() == [0, 1, 2, 3, 0, 3]
    assert classify(oasis_classes(100), [200], [50]).tolist() == [2]


def test_custom_rules_first_match_wins_and_unmatched_is_minus_one():
    rules = [ClassRule("short", in_max=100), ClassRule("chat", out_max=300)]
    assert classify(rules, [50, 500, 500], [1000, 200, 400]).tolist() == [0, 1, -1]
    with pytest.raises(ValueError, match="unique"):
        classify([ClassRule("a"), ClassRule("a")], [1], [1])
    with pytest.raises(ValueError, match="unknown classes"):
        oasis_classes(500, {"XYZ": runtime.ClassSLO()})
    with pytest.raises(ValueError, match="mean targets"):
        runtime.ClassSLO(ttft_ms=1000, mean_ttft_ms=2000)


# --- BurstGPT --------------------------------------------------------------------------


def test_burstgpt_reads_rows_and_counts_failed(tmp_path):
    trace = runtime.load_burstgpt(write(tmp_path, GOOD))
    assert len(trace) == 4
    assert trace.time_s.tolist() == [0.0, 40.0, 113.0, 125.0]
    assert trace.in_tokens.tolist() == [472, 1087, 417, 640]
    assert trace.failed.tolist() == [False, True, False, False]
    r = trace.load_report
    assert (r.rows, r.kept, r.rejected, r.failed) == (4, 4, 0, 1)
    # Filters are explicit, never silent.
    only = runtime.load_burstgpt(write(tmp_path, GOOD), models=["GPT-4"])
    assert len(only) == 1
    assert only.in_tokens.tolist() == [417]


def test_burstgpt_rejects_malformed_rows_with_line_numbers(tmp_path):
    lines = [
        *GOOD[:2],
        "150,ChatGPT,abc,10,10,Conversation log",  # line 4: not a number
        "160,ChatGPT,-5,10,5,Conversation log",  # line 5: negative
        "170,ChatGPT,10,10,25,Conversation log",  # line 6: total mismatch
        "180,ChatGPT,10,10,20",  # line 7: missing field
        "190,ChatGPT,10.5,10,20.5,Conversation log",  # line 8: fractional tokens
        "195,ChatGPT,10,10,20,API log,extra",  # line 9: a field too many
        *GOOD[2:],
    ]
    path = write(tmp_path, lines)
    with pytest.raises(TraceError) as err:
        runtime.load_burstgpt(path)
    assert [n for n, _ in err.value.bad_lines] == [4, 5, 6, 7, 8, 9]
    assert err.value.total_bad == 6
    message = str(err.value)
    for fragment in ("line 4: Request tokens is not a finite number", "line 5", "line 6: Total"):
        assert fragment in message
    assert "line 7: expected 6 fields, got 5" in message
    assert "line 8: Request tokens is not an integer" in message
    assert "(and 1 more)" in message
    assert err.value.bad_lines[5] == (9, "expected 6 fields, got 7")

    trace = runtime.load_burstgpt(path, strict=False)
    r = trace.load_report
    assert (r.rows, r.kept, r.rejected, r.failed) == (10, 4, 6, 1)
    assert [n for n, _ in r.rejected_lines] == [4, 5, 6, 7, 8, 9]
    assert len(trace) == 4
    assert trace.num_failed == 1


def test_burstgpt_short_row_alone_is_caught(tmp_path):
    # Without a too-long row pandas reads the file in one go and pads the short row.
    with pytest.raises(TraceError, match="line 3: Log Type is missing"):
        runtime.load_burstgpt(write(tmp_path, [GOOD[0], "180,ChatGPT,10,10,20", GOOD[2]]))


def test_burstgpt_error_lists_the_first_few_of_many(tmp_path):
    lines = GOOD + [f"{200 + k},ChatGPT,x,1,1,API log" for k in range(20)]
    with pytest.raises(TraceError, match=r"20 malformed row\(s\).*line 6:.*\(and 15 more\)"):
        runtime.load_burstgpt(write(tmp_path, lines))


def test_burstgpt_missing_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("Timestamp,Model,Request tokens\n1,a,2\n")
    with pytest.raises(TraceError, match="line 1: header lacks"):
        runtime.load_burstgpt(path)


def test_load_trace_detects_formats(tmp_path):
    assert len(runtime.load_trace(write(tmp_path, GOOD))) == 4
    generic = tmp_path / "g.csv"
    generic.write_text("time,prompt_tokens,completion_tokens\n3.5,10,20\n1.5,30,0\n2.0,x,1\n")
    with pytest.raises(TraceError, match="line 4"):
        runtime.load_trace(generic)
    t = runtime.load_trace(generic, strict=False)
    assert t.time_s.tolist() == [0.0, 2.0]  # sorted, shifted to start at 0
    assert t.in_tokens.tolist() == [30, 10]
    assert t.failed.tolist() == [True, False]
    assert t.load_report.rejected_lines == ((4, "in_tokens is not a finite number"),)


def test_parquet_and_datetimes(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    df = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(["2024-01-01 10:00:05", "2024-01-01 10:00:00"]),
            "input_tokens": [100, 700],
            "output_tokens": [50, 800],
        }
    )
    path = tmp_path / "t.parquet"
    df.to_parquet(path)
    t = runtime.load_trace(path)
    assert t.time_s.tolist() == [0.0, 5.0]
    assert t.in_tokens.tolist() == [700, 100]


# --- synthetic -----------------------------------------------------------------------


def test_synthetic_is_seeded_exact_and_bursty():
    a = runtime.synthetic_trace(duration_s=6 * 3600, num_requests=200_000, seed=7)
    b = runtime.synthetic_trace(duration_s=6 * 3600, num_requests=200_000, seed=7)
    assert len(a) == 200_000
    np.testing.assert_array_equal(a.time_s, b.time_s)
    np.testing.assert_array_equal(a.out_tokens, b.out_tokens)
    assert np.all(np.diff(a.time_s) >= 0)
    assert a.duration_s < 6 * 3600
    assert a.num_failed == np.count_nonzero(a.out_tokens == 0) > 0
    gaps = np.diff(a.time_s[:20_000])
    assert gaps.std() / gaps.mean() > 1.5  # Gamma gaps with CV 2, plus rate changes
    g = np.random.default_rng(3)
    c = runtime.synthetic_trace(duration_s=3600, mean_rate=5.0, seed=g)
    assert 0.7 * 18_000 < len(c) < 1.3 * 18_000


def test_synthetic_diurnal_shape_and_zipf():
    t = runtime.synthetic_trace(
        duration_s=24 * 3600,
        mean_rate=2.0,
        amplitude=0.8,
        peak_hour=14,
        bursts_per_hour=0,
        in_tokens=runtime.TokenLaw("zipf", a=2.0, scale=20),
        seed=1,
    )
    per_hour = np.bincount((t.time_s // 3600).astype(int), minlength=24)
    assert per_hour[13:16].mean() > 4 * per_hour[1:4].mean()
    assert t.in_tokens.min() >= 20
    assert np.all((t.in_tokens % 20 == 0) | (t.in_tokens == 8192))  # clipped at the maximum


def test_synthetic_presets_and_options():
    t = runtime.load_trace("synthetic:campus:duration_s=600,seed=2")
    assert t.duration_s <= 600
    assert len(t) > 100
    with pytest.raises(ValueError, match="presets"):
        runtime.load_trace("synthetic:nope")
    with pytest.raises(ValueError, match="not found"):
        runtime.load_trace("/nonexistent/trace.csv")


def test_trace_validation():
    with pytest.raises(ValueError, match="sorted"):
        Trace(np.array([1.0, 0.0]), np.ones(2), np.ones(2), np.zeros(2, bool))
    with pytest.raises(ValueError, match=">= 0"):
        Trace.from_arrays([0, 1], [-1, 2], [1, 1])

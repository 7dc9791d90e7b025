"""Hostile sweep specs and options give one-line errors and write nothing.

Hostile specs and options through ``inferplan sweep`` (real subprocesses) and
``inferplan.sweep``: one-line errors naming the file, key and line, and nothing written
before every input has been checked.
"""

from __future__ import annotations

import time

import pytest

import inferplan
from inferplan.sweep.spec import MAX_AXIS_VALUES, SpecError, load_spec, read_spec_file

GOOD = """\
operation: size
fixed: {kind: decode_only, alpha: 19, beta: 1, out_tokens: 1024, itl_ms: 50}
axes:
  max_batch: [16, 32, 48]
"""


def spec(tmp_path, text, name="spec.yaml"):
    f = tmp_path / name
    f.write_text(text)
    return f


def sweep(inferplan_cli, *args):
    return inferplan_cli("sweep", *args, "-q")


def test_missing_file_and_directory(inferplan_cli, one_line_error, tmp_path):
    out = tmp_path / "out"
    one_line_error(sweep(inferplan_cli, tmp_path / "nope.yaml", "--out", out), "nope.yaml",
                   "no such file")  # fmt: skip
    one_line_error(sweep(inferplan_cli, tmp_path, "--out", out), "is a directory")
    assert not out.exists()


def test_malformed_yaml_and_json_name_the_line(inferplan_cli, one_line_error, tmp_path):
    bad = spec(tmp_path, "operation: analyze\nfixed: {kind: decode_only\naxes: [\n")
    one_line_error(sweep(inferplan_cli, bad, "--out", tmp_path / "o"), "spec.yaml",
                   "not valid YAML at line 3")  # fmt: skip
    bad = spec(tmp_path, '{"operation": "analyze",\n "axes": }', "spec.json")
    one_line_error(sweep(inferplan_cli, bad, "--out", tmp_path / "o"), "spec.json",
                   "not valid JSON", "line 2")  # fmt: skip
    assert not (tmp_path / "o").exists()


def test_duplicate_keys_are_refused(inferplan_cli, one_line_error, tmp_path):
    dup = spec(tmp_path, GOOD.replace("axes:\n", "axes:\n  max_batch: [8]\n"))
    line = one_line_error(sweep(inferplan_cli, dup, "--out", tmp_path / "o"), "spec.yaml")
    assert "line 5: duplicate key 'max_batch' (first given on line 4)" in line
    dup = spec(tmp_path, '{"operation": "size", "operation": "analyze"}', "dup.json")
    with pytest.raises(SpecError, match=r"dup\.json: duplicate key 'operation'"):
        read_spec_file(dup)


def test_an_axis_too_long_to_hold_is_refused_at_once(inferplan_cli, one_line_error, tmp_path):
    big = GOOD.replace("max_batch: [16, 32, 48]", "max_batch: [16]\n  itl_ms: {start: 1, "
                       "stop: 100, num: 10000000000}").replace(", itl_ms: 50", "")  # fmt: skip
    t0 = time.perf_counter()
    p = sweep(inferplan_cli, spec(tmp_path, big), "--out", tmp_path / "o")
    assert time.perf_counter() - t0 < 30  # not 74.5 GiB of linspace
    one_line_error(p, "axes.itl_ms", "1e+10 values", f"{MAX_AXIS_VALUES:,}")
    with pytest.raises(SpecError, match=r"axes\.rate"):
        load_spec({"operation": "analyze", "fixed": {"kind": 0, "alpha": 1, "beta": 1,
                   "out_tokens": 1, "max_batch": 1},
                   "axes": {"rate": {"start": 0, "stop": 1e10, "step": 1e-3}}})  # fmt: skip


@pytest.mark.parametrize(
    ("given", "missing"), [("ttft_pq: 0.9", "ttft_p_ms"), ("wait_p_ms: 300", "wait_pq")]
)
def test_a_percentile_needs_both_halves(inferplan_cli, one_line_error, tmp_path, given, missing):
    text = GOOD.replace("itl_ms: 50}", given + "}")
    p = sweep(inferplan_cli, spec(tmp_path, text), "--out", tmp_path / "o")
    one_line_error(p, "a percentile target needs both", f"{missing} is missing")
    # both halves: a valid sweep
    ok = GOOD.replace("itl_ms: 50}", "ttft_pq: 0.9, ttft_p_ms: 2000}")
    assert load_spec(read_spec_file(spec(tmp_path, ok, "ok.yaml"))).total_rows == 3


def test_out_an_existing_file(inferplan_cli, one_line_error, tmp_path):
    f = tmp_path / "results"
    f.write_text("not a directory")
    one_line_error(sweep(inferplan_cli, spec(tmp_path, GOOD), "--out", f), "--out",
                   "is a file")  # fmt: skip
    assert f.read_text() == "not a directory"


def test_options_are_checked_before_anything_is_written(inferplan_cli, one_line_error, tmp_path):
    good = spec(tmp_path, GOOD)
    out = tmp_path / "o"
    for args in (("--threads", 0), ("--chunk-rows", 0), ("--compression", "zip")):
        p = sweep(inferplan_cli, good, "--out", out, *args)
        one_line_error(p, args[0])
        assert not out.exists(), args  # no manifest.json, no directory
    # the Python API too
    with pytest.raises(ValueError, match="threads must be >= 1"):
        inferplan.run_sweep(good, out, threads=0)
    with pytest.raises(ValueError, match="compression"):
        inferplan.run_sweep(good, out, compression="zip")
    assert not out.exists()
    # and a good run writes the rows
    p = sweep(inferplan_cli, good, "--out", out, "--threads", 1)
    assert p.returncode == 0, p.stderr
    frame = inferplan.read_sweep(out)
    assert len(frame) == 3
    assert (frame["status"] == 0).all()


def test_token_counts_beyond_2_53_and_partial_summary_hint(tmp_path):
    with pytest.raises(SpecError, match=r"fixed.in_tokens: in_tokens must be at most 2\*\*53"):
        load_spec({"operation": "analyze", "axes": {"rate": [1.0]},
                   "fixed": {"kind": 1, "alpha": 1, "beta": 1, "in_tokens": 1e20,
                             "out_tokens": 8, "max_batch": 4}})  # fmt: skip
    out = tmp_path / "o"
    inferplan.run_sweep(spec(tmp_path, GOOD), out, chunk_rows=1, progress=False)
    next(out.glob("part-*.parquet")).unlink()
    from inferplan.sweep import summarize

    with pytest.raises(ValueError, match="incomplete") as err:
        summarize(out)
    assert "allow_partial" not in str(err.value)  # summarize has no such argument
    with pytest.raises(ValueError, match="allow_partial=True"):
        inferplan.read_sweep(out)

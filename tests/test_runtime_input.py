"""Hostile traces and options give one-line errors naming what is wrong.

Hostile traces and options through ``inferplan runtime`` (real subprocesses) and the
runtime's Python API: one-line errors naming the file, line or option, in the words of the
interface that was used.
"""

from __future__ import annotations

import re

import pytest

from inferplan import cli, runtime
from inferplan.runtime.traces import TraceError, load_trace

HEADER = "timestamp,in_tokens,out_tokens\n"
SHORT = "synthetic:campus:duration_s=600"


def trace(tmp_path, rows, name="t.csv"):
    f = tmp_path / name
    f.write_text(HEADER + rows if rows is not None else "")
    return f


def run(inferplan_cli, tmp_path, *args):
    return inferplan_cli("runtime", *args, "--no-plots", "--out", tmp_path / "report",
                         "--policy", "static")  # fmt: skip


@pytest.mark.parametrize(
    ("rows", "needles"),
    [
        ("0,10,10\n1,1e300,10\n", ("t.csv", "line 3: in_tokens is too large", "--lenient")),
        ("0,10,10\n1e300,10,10\n", ("t.csv", "line 3: timestamp is too large", "--lenient")),
        ("", ("t.csv", "the trace holds no requests")),
        (None, ("t.csv", "empty file")),
        ("0,10,10\n1e12,10,10\n", ("t.csv", "decision windows", "--window")),
    ],
)
def test_bad_traces(inferplan_cli, one_line_error, tmp_path, rows, needles):
    line = one_line_error(run(inferplan_cli, tmp_path, trace(tmp_path, rows)), *needles)
    assert "strict=False" not in line  # the CLI has no such argument


def test_a_directory_is_not_a_trace(inferplan_cli, one_line_error, tmp_path):
    one_line_error(run(inferplan_cli, tmp_path, tmp_path), str(tmp_path), "is a directory")


SYNTHETIC = [
    ("synthetic:campus:seed=abc", ("seed must be a number", "'abc'")),
    ("synthetic:campus:bogus=1", ("unknown option 'bogus'", "duration_s")),
    ("synthetic:campus:duration_s=-5", ("duration_s must be > 0",)),
    ("synthetic:campus:duration_s=1e300", ("duration_s must be at most",)),
    ("synthetic:nope", ("unknown synthetic trace 'nope'",)),
    ("synthetic:campus:seed", ("bad option 'seed'", "key=value")),
    ("synthetic:campus:mean_rate=1e7,duration_s=3e7", ("more than 1,000,000,000",)),
]


@pytest.mark.parametrize(("spec", "needles"), SYNTHETIC[:2])
def test_bad_synthetic_specs(inferplan_cli, one_line_error, tmp_path, spec, needles):
    one_line_error(run(inferplan_cli, tmp_path, spec), spec, *needles)


@pytest.mark.parametrize(("spec", "needles"), SYNTHETIC)
def test_bad_synthetic_specs_in_python(spec, needles):
    with pytest.raises(ValueError, match=re.escape(spec)) as err:
        load_trace(spec)
    assert spec in str(err.value)
    assert all(n in str(err.value) for n in needles)


OPTIONS = [
    ("--headroom", "-2", "must be >= 0"),
    ("--price-per-kwh", "-1", "must be >= 0"),
    ("--z", "nan", "NaN"),
    ("--window", "0", "must be > 0"),
    ("--itl-ms", "inf", "finite"),
    ("--seed", "1.5", "integer"),
]


def test_bad_options(inferplan_cli, one_line_error, tmp_path):
    for option, value, needle in OPTIONS[:3]:  # the subprocess: the cases of the issue
        p = run(inferplan_cli, tmp_path, SHORT, option, value)
        one_line_error(p, f"argument {option}", needle)
        assert not (tmp_path / "report").exists()


@pytest.mark.parametrize(("option", "value", "needle"), OPTIONS)
def test_bad_options_in_process(capsys, tmp_path, option, value, needle):
    with pytest.raises(SystemExit) as exit:
        cli.main(["runtime", SHORT, "--out", str(tmp_path / "r"), option, value])
    assert exit.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"argument {option}" in line
    assert needle in line


def test_lenient_skips_and_reports_the_line(inferplan_cli, tmp_path):
    f = trace(tmp_path, "".join(f"{i},100,50\n" for i in range(50)) + "51,1e300,10\n")
    p = run(inferplan_cli, tmp_path, f, "--lenient")
    assert p.returncode == 0, p.stderr
    assert "skipped 1 malformed row(s) (lines 52)" in p.stdout


def test_python_api_names_its_own_arguments(tmp_path):
    f = trace(tmp_path, "0,10,10\n1,1e300,10\n")
    with pytest.raises(TraceError, match=r"line 3: in_tokens is too large.*strict=False"):
        load_trace(f)
    with pytest.raises(TraceError, match="line 3: in_tokens is negative"):
        load_trace(trace(tmp_path, "0,10,10\n1,-1,10\n", "neg.csv"))
    t = load_trace(f, strict=False)
    assert len(t) == 1
    assert t.load_report.rejected_lines == ((3, "in_tokens is too large (more than 2**53)"),)
    with pytest.raises(ValueError, match="PolicyConfig: headroom must be >= 0, got -2"):
        runtime.PolicyConfig(headroom=-2)
    with pytest.raises(ValueError, match="PolicyConfig: z must be a number"):
        runtime.PolicyConfig(z=float("nan"))
    with pytest.raises(ValueError, match="is a directory"):
        load_trace(tmp_path)
    t = load_trace("synthetic:campus:duration_s=600,seed=4")
    assert len(t) > 0
    assert t.duration_s <= 600
    assert (t.time_s == load_trace(SHORT, seed=4).time_s).all()

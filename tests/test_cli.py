"""The ``inferplan`` command line, run as real subprocesses.

The ``inferplan`` command line as a whole, and ``inferplan analyze`` / ``size`` /
``simulate`` for one replica, run as real subprocesses and checked against the Python API.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from importlib.metadata import version

import pytest

import inferplan
from inferplan import cli

DECODE = ("--alpha", 19, "--beta", 1, "--out-tokens", 1024, "--max-batch", 48)
PREFILL = (
    "--model", "prefill-decode", "--alpha", 12, "--beta", 0.05, "--gamma", 0.0005,
    "--in-tokens", 128, "--out-tokens", 512, "--max-batch", 48, "--max-queue", 128,
)  # fmt: skip

# ``inferplan profile`` with a valid grid (bad values are appended: argparse keeps the last)
PROFILE = (
    "--alpha", 19, "--beta", 1, "--out-tokens", 1024, "--ref-mhz", 1980, "--idle-w", 100,
    "--mid-w", 400, "--full-w", 700, "--frequencies", "1000,1500", "--batch-sizes", "8,16",
)  # fmt: skip


def _prefill_replica():
    model = inferplan.PrefillDecode(alpha=12, beta=0.05, gamma=0.0005, in_tokens=128,
                                    out_tokens=512)  # fmt: skip
    return inferplan.Replica(model, max_batch=48, max_queue=128)


# ----------------------------------------------------------------------- the CLI as a whole


def test_help_is_plain_text_and_lists_every_command(inferplan_cli):
    p = inferplan_cli("--help")
    assert p.returncode == 0, p.stderr
    for markup in ("``", ":func:", ":class:", ":mod:"):
        assert markup not in p.stdout
    for name in (*cli.SUBCOMMANDS, "optimize", "profile"):
        assert f"\n    {name}" in p.stdout, name


def test_version_comes_from_package_metadata(inferplan_cli):
    p = inferplan_cli("--version")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"inferplan {version('inferplan')}"


def test_every_help_shows_the_defaults(inferplan_cli):
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    checked = 0
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            d = action.default
            if not action.option_strings or d is None or isinstance(d, bool):
                continue
            if d is argparse.SUPPRESS:
                continue
            assert "default" in (action.help or ""), (name, action.option_strings)
            checked += 1
    assert checked > 40
    # and as a user sees it
    p = inferplan_cli("simulate", "--help")
    assert p.returncode == 0
    assert "(default: 100000)" in " ".join(p.stdout.split())
    p = inferplan_cli("runtime", "--help")
    assert "(default: 0.5)" in " ".join(p.stdout.split())  # --headroom


def test_no_help_shows_its_default_twice():
    """A subcommand's own "(default: X)" is not repeated by the main parser.

    A command whose parser adds "(default: X)" itself must not get a second one from the
    main parser (``inferplan calibrate --help`` once read "(default: cauchy) (default:
    cauchy)").
    """
    import re

    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        text = " ".join(sub.format_help().split())
        assert not re.search(r"\(default: [^)]*\) \(default:", text), name
        assert "(default: None)" not in text, name


def test_building_the_parser_imports_nothing_heavy():
    code = (
        "import sys, inferplan.cli as c; c.build_parser(); "
        "print(sorted(m for m in ('pandas', 'matplotlib', 'highspy', 'pyarrow', 'scipy', "
        "'statsmodels', 'dask') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=_env(), timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def _env():
    import os
    from pathlib import Path

    env = dict(os.environ)
    root = str(Path(inferplan.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


# ----------------------------------------------------------------------------------- size


def test_size_matches_the_python_api(inferplan_cli):
    p = inferplan_cli("size", *DECODE, "--max-queue", 152, "--itl-ms", 50, "--format", "json")
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    want = inferplan.Replica(inferplan.DecodeOnly(19, 1, 1024), max_batch=48,
                             max_queue=152).size(itl_ms=50)  # fmt: skip
    assert got["status"] == "OK"
    assert got["feasible"]
    assert got["binding"] == "itl_ms"
    assert got["rate"] == pytest.approx(want.rate, rel=1e-12)
    assert got["rate"] * 60 == pytest.approx(35.2003, abs=1e-4)  # the README's figure
    assert got["metrics"]["itl_ms"] == pytest.approx(50.0, rel=1e-9)
    assert got["replica"]["max_queue"] == 152

    targets = ("--itl-ms", 20, "--ttft-ms", 60, "--ttft-percentile", "0.95:200",
               "--admission", "iteration")  # fmt: skip
    p = inferplan_cli("size", *PREFILL, *targets, "--format", "json")
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    want = _prefill_replica().size(itl_ms=20, ttft_ms=60, ttft_percentile=(0.95, 200),
                                   admission="iteration")  # fmt: skip
    assert got["rate"] == pytest.approx(want.rate, rel=1e-12)
    assert got["binding"] == want.binding
    for k, v in want.metrics._asdict().items():
        assert got["metrics"][k] == pytest.approx(v, rel=1e-12, abs=1e-300), k


def test_size_table_and_infeasible_exit_status(inferplan_cli):
    p = inferplan_cli("size", *DECODE, "--max-queue", 152, "--itl-ms", 50)
    assert p.returncode == 0, p.stderr
    assert "0.586672" in p.stdout
    assert "35.2003" in p.stdout
    assert "itl_ms" in p.stdout
    # ITL below a near-idle replica's: a status and the reason, exit status 1
    p = inferplan_cli("size", *DECODE, "--itl-ms", 5, "--format", "json")
    assert p.returncode == 1, p.stderr
    got = json.loads(p.stdout)
    assert got["status"] == "INFEASIBLE_ITL"
    assert not got["feasible"]
    assert got["metrics"] is None
    assert "near-idle" in got["reason"]
    assert got["replica"]["max_queue"] is None  # unbounded: JSON has no infinity
    p = inferplan_cli("size", *DECODE, "--itl-ms", 5)
    assert p.returncode == 1
    assert "INFEASIBLE_ITL" in p.stdout
    assert "infeasible:" in p.stdout


# -------------------------------------------------------------------------------- analyze


def test_analyze_matches_the_python_api(inferplan_cli):
    p = inferplan_cli("analyze", *PREFILL, "--load", "0.5,0.9", "--quantile", 0.95,
                      "--admission", "iteration", "--format", "json")  # fmt: skip
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    r = _prefill_replica()
    assert got["replica"]["max_rate"] == pytest.approx(r.max_rate, rel=1e-15)
    assert [x["rate"] for x in got["results"]] == pytest.approx(
        [0.5 * r.max_rate, 0.9 * r.max_rate], rel=1e-15
    )
    for x in got["results"]:
        want = r.analyze(x["rate"], admission="iteration")
        for k, v in want._asdict().items():
            assert x[k] == pytest.approx(v, rel=1e-12, abs=1e-300), k
        assert x["ttft_p95_ms"] == pytest.approx(
            r.ttft_quantile(x["rate"], 0.95, admission="iteration"), rel=1e-12
        )
        assert x["wait_p95_ms"] == pytest.approx(
            r.wait_quantile(x["rate"], 0.95, admission="iteration"), rel=1e-12
        )


def test_analyze_reports_an_unstable_rate_and_keeps_the_others(inferplan_cli):
    # unbounded queue, max_rate 0.6996 req/s: 2 req/s has no steady state
    p = inferplan_cli("analyze", *DECODE, "--rate", "0.3,2")
    assert p.returncode == 1
    assert "Traceback" not in p.stderr
    assert "rate 2: " in p.stdout
    assert "no steady state" in p.stdout
    assert "rate 0.3" in p.stdout
    assert "itl_ms" in p.stdout
    p = inferplan_cli("analyze", *DECODE, "--rate", "0.3,2", "--format", "json")
    res = json.loads(p.stdout)["results"]
    assert "error" in res[1]
    assert "itl_ms" in res[0]


# ------------------------------------------------------------------------ bad input, once


BAD_OPTIONS = [
    (("size", *DECODE[:-1], 0), ("--max-batch", "must be >= 1")),
    (("size", *DECODE[:-1], "1e9"), ("--max-batch", "at most 16777216")),
    (("size", *DECODE[:-1], 4.5), ("--max-batch", "integer")),
    (("size", "--alpha", "nan", *DECODE[2:]), ("--alpha", "NaN")),
    (("size", *DECODE, "--out-tokens", -1), ("--out-tokens", "> 0")),
    (("size", *DECODE, "--max-queue", -1), ("--max-queue", ">= 0")),
    (("size", *DECODE, "--ttft-percentile", "1.5:100"), ("--ttft-percentile", "quantile")),
    (("size", *DECODE, "--ttft-percentile", "0.9"), ("--ttft-percentile", "QUANTILE:MS")),
    (("size", *DECODE, "--itl-ms", "inf"), ("--itl-ms", "finite")),
    (("size", *DECODE, "--gamma", 1), ("--gamma", "prefill-decode")),
    (("analyze", *DECODE, "--rate", "1,-1"), ("--rate", ">= 0")),
    (("analyze", *DECODE, "--rate", "x"), ("--rate", "number")),
    (("analyze", *DECODE, "--rate", "0.1,,0.2"), ("--rate", "none empty")),
    (("analyze", *DECODE, "--load", "0.5,"), ("--load", "none empty")),
    (("simulate", *DECODE, "--rate", 1, "--replications", 0), ("--replications",)),
    (("simulate", *DECODE, "--rate", 1, "--threads", 0), ("--threads",)),
    (("profile", *PROFILE, "--itl-ms", -1), ("--itl-ms", "> 0")),
    (("profile", *PROFILE, "--frequencies=-900,1500"), ("--frequencies", "> 0")),
    (("profile", *PROFILE, "--batch-sizes", "8,0"), ("--batch-sizes", ">= 1")),
    (("profile", *PROFILE, "--alpha", "nan"), ("--alpha", "NaN")),
    (("profile", *PROFILE, "-o", "/nonexistent/p.png"), ("--out", "does not exist")),
    (("calibrate", "/nonexistent.json", "--out", "/nonexistent/p.json"), ("--out", "not exist")),
]


@pytest.mark.parametrize(("args", "needles"), BAD_OPTIONS[::4])
def test_bad_options_are_one_line_errors(inferplan_cli, one_line_error, args, needles):
    one_line_error(inferplan_cli(*args), *needles)


@pytest.mark.parametrize(("args", "needles"), BAD_OPTIONS)
def test_bad_options_in_process(capsys, args, needles):
    """All the bad-option cases above through ``cli.main`` in this process.

    All the cases above through ``cli.main`` in this process (the subprocess test runs a
    sample of them): exit status 2 and one error line naming the option.
    """
    try:
        code = cli.main([str(a) for a in args])
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert "error" in line, line
    assert all(n in line for n in needles), line


def test_decode_model_with_zero_alpha_and_beta_is_a_clear_error(inferplan_cli, one_line_error):
    p = inferplan_cli("size", "--alpha", 0, "--beta", 0, "--out-tokens", 8, "--max-batch", 4)
    one_line_error(p, "alpha + beta")


# ------------------------------------------------------------------------------ simulate


def test_simulate_refuses_a_prompt_it_cannot_finish(inferplan_cli, one_line_error):
    # 1e20 prompt tokens: no float holds such a count exactly, refused as an option
    args = ("simulate", "--model", "prefill-decode", "--alpha", 19, "--beta", 1,
            "--out-tokens", 128, "--max-batch", 16, "--rate", 1)  # fmt: skip
    one_line_error(inferplan_cli(*args, "--in-tokens", "1e20", timeout=60), "--in-tokens")
    # 1e15 tokens are 1.2e11 prefill chunks per request: refused at once, not a hang
    p = inferplan_cli(*args, "--in-tokens", "1e15", timeout=60)
    one_line_error(p, "request-iterations", "in_tokens")
    # the same through the Python API
    model = inferplan.PrefillDecode(alpha=19, beta=1, gamma=0, in_tokens=1e20, out_tokens=128)
    with pytest.raises(ValueError, match="request-iterations"):
        inferplan.simulate(model, max_batch=16, rate=1.0)


def test_max_batch_bound_is_the_same_everywhere(inferplan_cli, one_line_error):
    too_big = (1 << 24) + 1
    model = inferplan.DecodeOnly(19, 1, 128)
    with pytest.raises(ValueError, match="max_batch must be at most 16777216"):
        inferplan.Replica(model, max_batch=too_big)
    with pytest.raises(ValueError, match="max_batch must be at most 16777216"):
        inferplan.simulate(model, max_batch=too_big, rate=1.0)
    for command in ("simulate", "analyze", "size"):
        extra = ("--rate", 1) if command != "size" else ()
        p = inferplan_cli(command, *DECODE[:-1], too_big, *extra)
        one_line_error(p, "--max-batch", "at most 16777216")


def test_simulate_through_the_shared_options(inferplan_cli):
    p = inferplan_cli("simulate", *DECODE, "--max-queue", "inf", "--load", 0.5,
                      "--num-requests", 2000, "--replications", 2, "--format", "json")  # fmt: skip
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    r = inferplan.Replica(inferplan.DecodeOnly(19, 1, 1024), max_batch=48)
    assert out["rate"] == pytest.approx(0.5 * r.max_rate, rel=1e-15)
    assert math.isfinite(out["simulated"]["itl_ms"]["mean"])


def test_simulate_warns_when_an_unbounded_queue_has_no_steady_state(inferplan_cli):
    """Simulating an unstable replica warns on stderr but still runs.

    At or above max_rate with an unbounded queue the simulated waits only measure how long
    the run was: the command still simulates (exit 0) but says so on stderr; with a bounded
    queue, or below max_rate, it does not.
    """
    common = ("--num-requests", 500, "--replications", 2, "--format", "json")
    p = inferplan_cli("simulate", *DECODE, "--load", 1.2, *common)
    assert p.returncode == 0, p.stderr
    warning = p.stderr.strip()
    assert len(warning.splitlines()) == 1
    assert "no steady state" in warning
    assert "0.699627" in warning  # max_rate of the replica, as Replica.max_rate gives it
    json.loads(p.stdout)  # stdout stays clean JSON
    for extra in (("--load", 1.2, "--max-queue", 8), ("--load", 0.5)):
        p = inferplan_cli("simulate", *DECODE, *extra, *common)
        assert p.returncode == 0, p.stderr
        assert p.stderr == "", p.stderr

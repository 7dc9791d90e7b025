"""Options several commands share are spelt one way.

``--format``, ``--out``/``-o``, ``--threads`` and ``--admission``; the former spellings
still work, print one deprecation line on stderr and give the same output (real
subprocesses through the shared fixture).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inferplan.cli import build_parser

DECODE = ("--alpha", 19, "--beta", 1, "--out-tokens", 1024, "--max-batch", 48)
SIM = ("simulate", *DECODE, "--rate", 0.3, "--num-requests", 300, "--replications", 2)
PROFILE = (
    "profile", "--alpha", 19, "--beta", 1, "--out-tokens", 1024, "--ref-mhz", 1980,
    "--idle-w", 100, "--mid-w", 400, "--full-w", 700, "--frequencies", "1000,1500",
    "--batch-sizes", "8,16",
)  # fmt: skip
GUIDELLM = Path(__file__).parent / "data" / "guidellm"


def _options(command: str) -> dict[str, object]:
    """Option string -> its argparse action, for one command."""
    sub = build_parser(command)._subparsers._group_actions[0].choices[command]
    return {s: a for a in sub._actions for s in a.option_strings}


@pytest.mark.parametrize(
    ("command", "formats"),
    [
        ("analyze", ["table", "json"]),
        ("size", ["table", "json"]),
        ("simulate", ["table", "json"]),
        ("optimize", ["json", "table"]),
        ("calibrate", ["table", "json"]),
        ("sweep-summary", ["table", "csv"]),
    ],
)
def test_every_output_choice_is_format(command, formats):
    opts = _options(command)
    assert list(opts["--format"].choices) == formats
    assert "--json" not in opts or "deprecated" in opts["--json"].help


@pytest.mark.parametrize(
    "argv",
    [["simulate", *map(str, DECODE), "--rate", "1"], ["sweep", "spec.yaml", "--out", "runs"]],
)
def test_threads_is_one_option(argv, capsys):
    command = argv[0]
    action = _options(command)["--threads"]
    assert action.default is None
    assert "all cores" in action.help
    parser = build_parser(command)
    assert parser.parse_args(argv).threads is None
    assert parser.parse_args([*argv, "--threads", "3"]).threads == 3
    with pytest.raises(SystemExit):
        parser.parse_args([*argv, "--threads", "0"])
    assert "--threads" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["sweep", "calibrate", "profile", "runtime", "optimize"])
def test_files_written_are_out(command):
    opts = _options(command)
    assert opts["--out"].dest == "out"
    if command != "optimize":
        assert opts["-o"] is opts["--out"]


def test_simulate_json_is_a_deprecated_format_json(inferplan_cli):
    new = inferplan_cli(*SIM, "--format", "json")
    old = inferplan_cli(*SIM, "--json")
    assert new.returncode == old.returncode == 0, old.stderr
    assert json.loads(old.stdout) == json.loads(new.stdout)  # same seed, same run
    assert new.stderr == ""
    assert old.stderr.strip() == (
        "inferplan simulate: warning: --json is deprecated; use --format json"
    )


def test_profile_output_is_a_deprecated_out(inferplan_cli, tmp_path):
    new = inferplan_cli(*PROFILE, "-o", tmp_path / "new.png")
    old = inferplan_cli(*PROFILE, "--output", tmp_path / "old.png")
    assert new.returncode == old.returncode == 0, old.stderr
    assert "--output is deprecated; use --out" in old.stderr
    assert (tmp_path / "old.png").read_bytes()[:4] == b"\x89PNG"
    assert old.stdout.replace("old.png", "new.png") == new.stdout


def test_calibrate_json_is_a_deprecated_format_json(inferplan_cli, tmp_path):
    old = inferplan_cli("calibrate", GUIDELLM, "--json", cwd=tmp_path)
    assert old.returncode == 0, old.stderr
    assert "--json is deprecated; use --format json" in old.stderr
    summary = json.loads(old.stdout)
    assert summary["engine"]["alpha"] > 0
    assert "summary" in summary


def test_sweep_summary_csv_is_a_deprecated_format_csv(tmp_path, capsys):
    import inferplan
    from inferplan.cli import main

    spec = {
        "fixed": {"kind": "decode_only", "alpha": 19.0, "beta": 1.0, "out_tokens": 64},
        "axes": {"max_batch": [4, 8], "rate": [0.1, 0.2]},
    }
    inferplan.run_sweep(spec, tmp_path / "s", progress=False)
    assert main(["sweep-summary", str(tmp_path / "s"), "--format", "csv"]) == 0
    new = capsys.readouterr()
    assert main(["sweep-summary", str(tmp_path / "s"), "--csv"]) == 0
    old = capsys.readouterr()
    assert old.out == new.out
    assert new.out.splitlines()[0].count(",") >= 3
    assert "--csv is deprecated; use --format csv" in old.err
    assert new.err == ""

"""``inferplan optimize`` in a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import inferplan


def run(*args, **kw):
    # The subprocess imports the same inferplan as this process (installed or in-tree).
    package_root = str(Path(inferplan.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "inferplan.fleet.cli", "optimize", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        **kw,
    )


def test_json_output_and_out_file(inferno_dir, tmp_path):
    out = tmp_path / "result.json"
    p = run(
        str(inferno_dir / "g3" / "small"),
        "--solver",
        "greedy",
        "--format",
        "json",
        "--out",
        str(out),
    )
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout)
    assert result["totalCost"] == pytest.approx(25826)
    assert json.loads(out.read_text()) == result
    a = result["allocations"]["Premium-llama_13b"]
    assert {
        "accelerator",
        "numReplicas",
        "maxBatch",
        "cost",
        "itlAverage",
        "ttftAverage",
        "load",
    } <= set(a)
    assert result["totalPowerWatts"] > 0
    assert result["usage"]


def test_table_output_and_solvers(inferno_dir):
    p = run(
        str(inferno_dir / "g3" / "small" / "system-data.json"),
        "--solver",
        "milp",
        "--format",
        "table",
    )
    assert p.returncode == 0, p.stderr
    assert "Allocation (milp" in p.stdout
    assert "total cost" in p.stdout
    p = run(str(inferno_dir / "g1" / "small"), "--cov", "ignore", "--format", "json")
    assert json.loads(p.stdout)["totalCost"] == pytest.approx(35121)  # the reference's


def test_bad_data_is_a_clear_error(tmp_path):
    (tmp_path / "system-data.json").write_text(
        '{"system": {"serverData": {"servers": [{"name": "x", "model": 3}]}}}'
    )
    p = run(str(tmp_path))
    assert p.returncode == 2
    assert "servers[0]" in p.stderr
    assert "'model'" in p.stderr
    assert "3" in p.stderr


def test_packaged_example(tmp_path):
    p = run(str(inferplan.fleet.example_path()), "--format", "json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["allocations"]


def test_admission_flag(inferno_dir):
    system = str(inferno_dir / "g1" / "small")
    chain = run(system, "--format", "json")
    it = run(system, "--format", "json", "--admission", "iteration")
    assert chain.returncode == 0, chain.stderr
    assert it.returncode == 0, it.stderr
    a, b = json.loads(chain.stdout), json.loads(it.stdout)
    assert a != b  # the rule changes the sizing of this system
    bad = run(system, "--admission", "soon")
    assert bad.returncode == 2
    assert "--admission" in bad.stderr

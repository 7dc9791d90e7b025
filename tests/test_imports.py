"""Tests of start-up: lazy public names and one-way imports.

Public names load on first use, commands import only what they need, and the fleet's modules
import each other one way. Fresh interpreters (subprocesses), so that what this test session
already imported does not hide an eager import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import inferplan

ROOT = Path(__file__).resolve().parents[1]
G3_SMALL = ROOT / "tests" / "data" / "reference" / "inferno" / "g3" / "small"
# what `inferplan optimize` on a greedy run must not load (numba only where the C++
# backend is there; without it numba is the backend)
HEAVY = ("pandas", "matplotlib", "highspy", "pyarrow", "dask", "scipy", "numba", "rich")


def fresh(code: str) -> dict:
    """Run ``code`` in a fresh interpreter.

    It leaves a JSON-able ``out``, which is returned with ``modules``: the top-level names
    of the modules loaded at the end.
    """
    script = (
        code
        + "\nimport json, sys\nout['modules'] = sorted({m.split('.')[0] for m in sys.modules})"
        + "\nout['inferplan'] = sorted(m for m in sys.modules if m.startswith('inferplan'))"
        + "\nsys.stdout = sys.__stdout__\nprint('\\n@@' + json.dumps(out))"
    )
    env = {k: v for k, v in os.environ.items() if k != "INFERPLAN_BACKEND"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(inferplan.__file__).resolve().parents[1]), env.get("PYTHONPATH", "")]
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.rsplit("\n@@", 1)[1])


def test_import_inferplan_loads_nothing_heavy():
    got = fresh("import inferplan\nout = {}")
    assert "numpy" not in got["modules"]
    assert got["inferplan"] == ["inferplan", "inferplan._lazy"]


def test_help_loads_neither_numpy_nor_the_kernel():
    got = fresh(
        "import contextlib, io\nfrom inferplan.cli import main\nout = {}\n"
        "with contextlib.redirect_stdout(io.StringIO()) as text:\n"
        "    try:\n        main(['--help'])\n    except SystemExit as e:\n"
        "        out['code'] = e.code\n"
        "out['text'] = text.getvalue()"
    )
    assert got["code"] == 0
    for command in ("analyze", "size", "simulate", "runtime", "sweep", "optimize", "profile"):
        assert f"    {command}" in got["text"]
    assert "numpy" not in got["modules"]
    assert "inferplan._core" not in got["inferplan"]


def test_optimize_loads_only_what_the_greedy_path_needs():
    got = fresh(
        "import contextlib, io, json\nfrom inferplan.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as text:\n"
        f"    code = main(['optimize', {str(G3_SMALL)!r}, '--solver', 'greedy', "
        "'--format', 'json'])\n"
        "import inferplan\n"
        "out = {'code': code, 'cost': json.loads(text.getvalue())['totalCost'], "
        "'backend': inferplan.backend()}"
    )
    assert got["code"] == 0
    assert got["cost"] == pytest.approx(25826)  # the reference's total
    heavy = [m for m in HEAVY if m in got["modules"]]
    if got["backend"] == "numba":  # no compiled extension here: numba is the kernel
        heavy.remove("numba")
    assert heavy == []
    for lazy in ("inferplan.runtime", "inferplan.sweep", "inferplan.simulate"):
        assert lazy not in got["inferplan"]


def test_functions_named_like_their_module_stay_functions():
    got = fresh(
        "from inferplan.simulate import Tokens\nimport inferplan.simulate\n"
        "import inferplan.hardware.cost_table\nimport inferplan\n"
        "out = {'simulate': inferplan.simulate.__module__,"
        " 'cost_table': inferplan.hardware.cost_table.__module__,"
        " 'callable': [callable(inferplan.simulate), callable(inferplan.hardware.cost_table)]}"
    )
    assert got["simulate"] == "inferplan.simulate"
    assert got["cost_table"] == "inferplan.hardware.cost_table"
    assert got["callable"] == [True, True]


@pytest.mark.parametrize(
    "code",
    [
        "import inferplan.sweep as s",
        "import inferplan; s = inferplan.sweep",
        "from inferplan.sweep import load_spec\nimport inferplan; s = inferplan.sweep",
        "from inferplan import sweep as s",
    ],
)
def test_sweep_is_the_module_and_run_sweep_the_function(code):
    """``inferplan.sweep`` is the subpackage however it is reached; ``run_sweep`` runs one."""
    got = fresh(
        f"{code}\nimport types, inferplan\n"
        "out = {'module': isinstance(s, types.ModuleType), 'name': s.__name__,"
        " 'run': inferplan.run_sweep is s.sweep, 'where': inferplan.run_sweep.__module__}"
    )
    got = {k: got[k] for k in ("module", "name", "run", "where")}
    assert got == {"module": True, "name": "inferplan.sweep", "run": True,
                   "where": "inferplan.sweep.run"}  # fmt: skip


def test_calling_the_sweep_module_still_runs_a_sweep_and_warns(tmp_path):
    spec = {
        "fixed": {"kind": "decode_only", "alpha": 19.0, "beta": 1.0, "out_tokens": 64},
        "axes": {"max_batch": [4, 8], "rate": [0.1, 0.2]},
        "columns": ["max_batch", "rate", "itl_ms"],
    }
    with pytest.warns(DeprecationWarning, match="inferplan.run_sweep"):
        old = inferplan.sweep(spec, tmp_path / "old", progress=False)
    new = inferplan.run_sweep(spec, tmp_path / "new", progress=False)
    assert old.total_rows == new.total_rows == 4
    assert inferplan.read_sweep(tmp_path / "old").equals(inferplan.read_sweep(tmp_path / "new"))


def test_shadowed_name_can_be_replaced_and_restored(monkeypatch):
    real = inferplan.simulate

    def fake(*args, **kwargs):
        return "fake"

    monkeypatch.setattr(inferplan, "simulate", fake)
    assert inferplan.simulate() == "fake"
    monkeypatch.undo()
    assert inferplan.simulate is real


@pytest.mark.parametrize("module", ["inferplan", "inferplan.fleet", "inferplan.hardware"])
def test_public_names_resolve_and_dir_lists_them(module):
    import importlib

    mod = importlib.import_module(module)
    assert set(mod.__all__) <= set(dir(mod))
    for name in mod.__all__:
        assert getattr(mod, name) is not None, name
    with pytest.raises(AttributeError, match=f"module '{module}' has no attribute 'nope'"):
        _ = mod.nope


def test_fleet_modules_import_one_way():
    """The solution module imports neither solver; milp does not import solvers (no circle)."""
    got = fresh("import inferplan.fleet.solution\nout = {}")
    assert "inferplan.fleet.solvers" not in got["inferplan"]
    assert "inferplan.fleet.milp" not in got["inferplan"]
    got = fresh("import inferplan.fleet.milp\nout = {}")
    assert "inferplan.fleet.solvers" not in got["inferplan"]
    assert "highspy" not in got["modules"]  # loaded when a MILP is solved

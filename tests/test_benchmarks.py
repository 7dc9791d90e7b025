"""The asv suite (benchmarks/) must keep running.

Every benchmark body runs once, in quick mode, against the package importable here, and any
error fails this test.

Runs ``asv run --python=same --quick --dry-run`` in a subprocess with a private asv
configuration (results and machine file in a temporary directory, nothing written to the
checkout or the home directory) and ``INFERPLAN_ASV_SMOKE=1``, which skips the heaviest
parameter combinations (1e5-1e6 rows, the large fleet and cost grid) to stay within about
two minutes on two cores. The full quick suite is ``cd benchmarks && asv run --python=same
--quick`` (see docs/performance.md).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import inferplan

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"

pytest.importorskip("asv", reason="asv is in the optional extra 'bench'")
if not (ROOT / ".git").exists():
    pytest.skip("asv needs the git checkout", allow_module_level=True)


def _config(tmp_path: Path) -> Path:
    from asv.util import load_json

    conf = load_json(str(BENCHMARKS / "asv.conf.json"), js_comments=True)
    conf.update(
        repo=str(ROOT),
        benchmark_dir=str(BENCHMARKS / "benchmarks"),
        env_dir=str(tmp_path / "env"),
        results_dir=str(tmp_path / "results"),
        html_dir=str(tmp_path / "html"),
    )
    path = tmp_path / "asv.conf.json"
    path.write_text(json.dumps(conf))
    return path


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["HOME"] = str(tmp_path)  # asv keeps its machine file in ~/.asv-machine.json
    env["INFERPLAN_ASV_SMOKE"] = "1"
    # asv drops PYTHONPATH; ASV_PYTHONPATH is what it passes to the benchmarks. Point it at
    # the inferplan this test imported (an installed copy or the in-place dev build).
    env["ASV_PYTHONPATH"] = os.pathsep.join(
        [str(Path(inferplan.__file__).resolve().parents[1]), env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    return env


def test_quick_suite_runs_without_errors(tmp_path):
    asv = [sys.executable, "-m", "asv"] if shutil.which("asv") is None else ["asv"]
    conf = _config(tmp_path)
    env = _env(tmp_path)
    subprocess.run(
        [*asv, "machine", "--yes", "--config", str(conf)],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=120,
    )
    proc = subprocess.run(
        [*asv, "run", "--config", str(conf), "--python=same", "--quick", "--dry-run",
         "--show-stderr"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    log = proc.stdout + proc.stderr
    failed = re.findall(r"^\[[ \d.]+%\] ··· (\S+)\s+.*failed", log, flags=re.MULTILINE)
    assert proc.returncode == 0, f"benchmarks failed: {failed}\n{log[-6000:]}"
    assert not failed, f"benchmarks failed: {failed}\n{log[-6000:]}"
    ran = re.findall(r"^\[[ \d.]+%\] ··· (\S+)\s+(?:ok|[\d.]+)\s*$", log, flags=re.MULTILINE)
    assert len(ran) >= 25, f"only {len(ran)} benchmarks ran:\n{log[-6000:]}"


def test_sampled_baseline_sizes_the_same_rows():
    """The batch speed-up's loop computes the same rates as the batch call.

    The per-item loop that the batch speed-up is measured against computes the same rates as
    the batch call, so the ratio compares like with like.
    """
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from benchmarks.bench_batch import _check_rows_agree
    finally:
        sys.path.remove(str(BENCHMARKS))
    assert _check_rows_agree()

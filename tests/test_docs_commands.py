"""The docs' shell commands and example scripts run as written, after the README's install.

``python docs/examples/x.py`` (no PYTHONPATH into the source tree), the README's command
lines, the sweep commands of docs/sweeps.md and the fit of docs/energy.md on the files
shipped under examples/.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import inferplan

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_ROOT = str(Path(inferplan.__file__).resolve().parents[1])
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _env(tmp_path: Path) -> dict:
    """Return the user's environment after the README's install.

    ``inferplan`` on PATH and the package importable, the source tree NOT on the path. (When
    the tests run against a source tree, its python/ is what is installed; an installed
    package's site-packages is on the path anyway.)
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    wrapper = bin_dir / "inferplan"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m inferplan "$@"\n')
    wrapper.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), env["PATH"]])
    env["PYTHONPATH"] = PACKAGE_ROOT
    env["MPLBACKEND"] = "Agg"
    return env


def _workdir(tmp_path: Path) -> Path:
    """Return a stand-in for the root of a clone: examples/ as shipped, nothing else."""
    work = tmp_path / "clone"
    work.mkdir()
    shutil.copytree(ROOT / "examples", work / "examples")
    return work


def _block(text: str, lang: str, near: str) -> str:
    """Return the ```lang block that holds ``near``, or else the first one after it."""
    at = text.index(near)
    for m in re.finditer(rf"```{lang}\n(.*?)```", text, re.S):
        if m.end() > at:
            return m.group(1)
    raise AssertionError(f"no {lang} block near {near!r}")


def test_examples_run_with_plain_python(tmp_path):
    env = _env(tmp_path)
    scripts = sorted((ROOT / "docs" / "examples").glob("*.py"))
    assert scripts
    for script in scripts:
        p = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)  # fmt: skip
        assert p.returncode == 0, (script.name, p.stderr)
        assert p.stdout.strip(), script.name
    # the docs no longer tell users to put the source tree on the path to run them
    for page in DOCS + scripts:
        assert "PYTHONPATH=python python docs/examples" not in page.read_text(), page


def test_readme_command_lines(tmp_path):
    readme = (ROOT / "README.md").read_text()
    lines = _block(readme, "bash", "The same from the command line").strip().splitlines()
    assert any(x.startswith("inferplan sweep examples/") for x in lines)
    env, work = _env(tmp_path), _workdir(tmp_path)
    outputs = {}
    for line in lines:
        p = subprocess.run(["bash", "-c", line], cwd=work, env=env, capture_output=True,
                           text=True, timeout=300)  # fmt: skip
        assert p.returncode == 0, (line, p.stderr)
        outputs[line.split()[1]] = p.stdout
    # what the README says of `inferplan size`
    assert "0.586672" in outputs["size"]
    assert "35.2003" in outputs["size"]
    assert "itl_ms" in outputs["size"]
    assert inferplan.read_sweep(work / "results").shape[0] == 64_000


def test_sweeps_page_spec_is_the_shipped_file_and_its_commands_run(tmp_path):
    page = (ROOT / "docs" / "sweeps.md").read_text()
    block = _block(page, "yaml", "## A spec")
    assert block == (ROOT / "examples" / "llama-sweep.yaml").read_text()
    env, work = _env(tmp_path), _workdir(tmp_path)
    commands = [x[2:] for x in re.findall(r"^\$ inferplan sweep[^\n]*", page, re.M)]
    local = [c for c in commands if "--scheduler" not in c]  # a cluster is not at hand
    assert any("examples/llama-sweep.yaml" in c for c in local)
    assert any(c.startswith("inferplan sweep-summary") for c in local)
    for command in local:
        p = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True,
                           text=True, timeout=300)  # fmt: skip
        assert p.returncode == 0, (command, p.stderr)
    assert "llama-8b" in p.stdout
    assert "llama-70b" in p.stdout


def test_energy_fit_block_on_the_shipped_measurements(tmp_path):
    page = (ROOT / "docs" / "energy.md").read_text()
    code = _block(page, "python", "from inferplan.hardware import fit_decode_only")
    code = code.replace(
        "fit.as_dict(), fit.interval", "print(fit.as_dict(), fit.rmse_ms)\nfit.interval"
    )
    work = _workdir(tmp_path)
    p = subprocess.run([sys.executable, "-c", code], cwd=work, env=_env(tmp_path),
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert (work / "fit.png").stat().st_size > 0
    from inferplan.hardware import fit_decode_only

    fit = fit_decode_only(ROOT / "examples" / "bench.csv")
    # what docs/energy.md says of this fit
    params = fit.as_dict()
    assert params["alpha"] == pytest.approx(3.6, abs=0.05)
    assert params["beta"] == pytest.approx(0.31, abs=0.01)
    assert fit.rmse_ms == pytest.approx(6, abs=0.5)


def test_every_examples_path_in_the_docs_exists():
    cited = set()
    for page in DOCS:  # examples/... (not docs/examples/...): files at the root of a clone
        cited |= set(re.findall(r"(?<![\w/])examples/[\w./-]+\.(?:yaml|csv|py|c)\b",
                                page.read_text()))  # fmt: skip
    assert {"examples/llama-sweep.yaml", "examples/bench.csv"} <= cited
    missing = sorted(c for c in cited if not (ROOT / c).is_file())
    assert not missing


def test_status_code_ranges_in_the_docs_match_the_enum():
    last = max(int(s) for s in inferplan.Status)
    ref = (ROOT / "docs" / "reference.md").read_text()
    (top,) = re.findall(r"^\| 20\u2013(\d+) \|", ref, re.M)
    assert int(top) == last
    emb = (ROOT / "docs" / "embedding.md").read_text()
    (top,) = re.findall(r"The codes 0\.\.(\d+) are", emb)
    assert int(top) == last

"""``inferplan.__version__`` is pyproject.toml's version, however it is found.

``inferplan.__version__`` is pyproject.toml's version, read from the package metadata of an
installed copy, from the source tree's pyproject.toml otherwise, ``0+unknown`` with neither;
``inferplan --version`` prints it. Fresh interpreters where the look-up path matters.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

import inferplan
from inferplan import _version

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(inferplan.__file__).resolve().parent

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")


def _pyproject_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def _fresh_version(path: Path, *flags: str) -> str:
    """Return ``inferplan.__version__`` of a fresh interpreter importing from ``path``.

    ``-S``: no site-packages, so no installed distribution's metadata either.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONPATH"] = str(path)
    run = subprocess.run(
        [sys.executable, *flags, "-c", "import inferplan; print(inferplan.__version__)"],
        capture_output=True, text=True, env=env, timeout=60, cwd=path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def test_version_is_the_distributions():
    assert inferplan.__version__ == version("inferplan") == _pyproject_version()


def test_cli_prints_the_version(inferplan_cli):
    p = inferplan_cli("--version")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"inferplan {inferplan.__version__}"


def test_source_tree_without_metadata_reads_pyproject():
    assert _fresh_version(PACKAGE.parent, "-S") == _pyproject_version()


def test_lone_copy_without_metadata_is_unknown(tmp_path):
    copy = tmp_path / "inferplan"
    copy.mkdir()
    for name in ("__init__.py", "_lazy.py", "_version.py"):
        shutil.copy(PACKAGE / name, copy / name)
    assert _fresh_version(tmp_path, "-S") == _version.UNKNOWN == "0+unknown"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[project]\nname = "inferplan"\nversion = "2.3.4"\n', "2.3.4"),
        ('[project]\nname = "other"\nversion = "2.3.4"\n', None),  # not this project's
        ('[project]\nname = "inferplan"\ndynamic = ["version"]\n', None),
        ("[project\nname = ", None),  # malformed
    ],
)
def test_pyproject_reading(tmp_path, text, expected):
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    assert _version._source_tree(path) == expected


def test_missing_pyproject_gives_none(tmp_path):
    assert _version._source_tree(tmp_path / "pyproject.toml") is None

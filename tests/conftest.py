"""Shared fixtures: the backend list and the vendored reference data (tests/data/)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from inferplan._kernels import dispatch

# CI runs a fixed set of examples (derandomized), so a red build is reproducible; the "dev"
# profile (HYPOTHESIS_PROFILE=dev) and scripts/fuzz.py explore new ones.
settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

BACKENDS = dispatch.available()


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Run the test once per available backend, with that backend active."""
    dispatch.use(request.param)
    yield request.param
    dispatch.use(None)


DATA_DIR = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """tests/data/reference: the public reference outputs vendored with the tests."""
    return DATA_DIR / "reference"


@pytest.fixture(scope="session")
def inferno_dir(reference_dir: Path) -> Path:
    return reference_dir / "inferno"


def _run_inferplan(*args, cwd=None, timeout=120, env=None, input=None):
    """Run the real ``inferplan`` command (``python -m inferplan``) in a subprocess.

    It imports the same inferplan as this process (installed or in-tree).
    """
    import subprocess
    import sys

    import inferplan

    package_root = str(Path(inferplan.__file__).resolve().parents[1])
    full_env = dict(os.environ if env is None else env)
    full_env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [package_root, full_env.get("PYTHONPATH")])
    )
    return subprocess.run(
        [sys.executable, "-m", "inferplan", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=timeout,
        input=input,
    )


@pytest.fixture(scope="session")
def inferplan_cli():
    """``inferplan_cli(*args, cwd=None, timeout=120)``.

    Run the real command line, return the ``subprocess.CompletedProcess`` (text
    stdout/stderr).
    """
    return _run_inferplan


def _one_line_error(proc, *needles: str) -> str:
    """Assert ``proc`` failed with exit status 2 and a one-line error; return it.

    The error line (no traceback) on stderr contains every needle.
    """
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert "error" in line, proc.stderr
    for needle in needles:
        assert needle in line, (needle, line)
    return line


@pytest.fixture(scope="session")
def one_line_error():
    """Provide ``one_line_error(proc, *needles)``, which checks a one-line CLI error.

    It asserts a CLI failure is exit status 2 with one error line (no traceback) holding
    every needle, and returns the line.
    """
    return _one_line_error


@pytest.fixture(scope="module")
def api():
    """Return the C ABI loaded through cffi (tests of the C interface)."""
    import importlib.util

    from inferplan import capi

    try:
        return capi.load(numba=importlib.util.find_spec("numba") is not None)
    except capi.CLibraryNotFoundError as exc:
        try:
            from inferplan import _core  # noqa: F401
        except ImportError:
            pytest.skip(f"C library not built: {exc}")
        raise  # built extension without its C library: a broken build, not a skip


@pytest.fixture
def cpp():
    """Run the test on the C++ backend, then restore the default."""
    if "cpp" not in dispatch.available():
        pytest.skip("the cpp backend is not available")
    dispatch.use("cpp")
    yield
    dispatch.use(None)

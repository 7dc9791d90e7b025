"""Shared fixtures: the backend list and the reference data beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from inferplan._kernels import dispatch

settings.register_profile("ci", max_examples=60, deadline=None)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

BACKENDS = dispatch.available()


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Runs the test once per available backend, with that backend active."""
    dispatch.use(request.param)
    yield request.param
    dispatch.use(None)


def _find_reference() -> Path | None:
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "reference"
        if candidate.is_dir():
            return candidate
    return None


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """../shared/reference (public reference outputs); skipped where it is absent."""
    ref = _find_reference()
    if ref is None:
        pytest.skip("shared/reference is not beside this checkout (a fresh user clone)")
    return ref


@pytest.fixture(scope="session")
def inferno_dir(reference_dir: Path) -> Path:
    path = reference_dir / "inferno"
    if not path.is_dir():
        pytest.skip(f"reference data not found: {path} is missing")
    return path

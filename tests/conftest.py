"""Shared fixtures: the backend list and the vendored reference data (tests/data/)."""

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


DATA_DIR = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """tests/data/reference: the public reference outputs vendored with the tests."""
    return DATA_DIR / "reference"


@pytest.fixture(scope="session")
def inferno_dir(reference_dir: Path) -> Path:
    return reference_dir / "inferno"

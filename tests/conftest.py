"""Shared fixtures. The reference data lives outside the project (``shared/reference`` next to
the checkout); tests that need it are skipped, with the reason, where it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest


def find_reference() -> Path | None:
    """The first ``shared/reference`` folder found walking up from this file."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "reference"
        if candidate.is_dir():
            return candidate
    return None


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    ref = find_reference()
    if ref is None:
        pytest.skip(
            "reference data not found: no shared/reference folder beside the checkout "
            "(it is not shipped with the project)"
        )
    return ref


@pytest.fixture(scope="session")
def inferno_dir(reference_dir: Path) -> Path:
    path = reference_dir / "inferno"
    if not path.is_dir():
        pytest.skip(f"reference data not found: {path} is missing")
    return path

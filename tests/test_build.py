"""A failed build is a failed suite.

The extension must be importable unless a fallback backend was asked for explicitly.
"""

import os

import pytest


def test_extension_is_built():
    if os.environ.get("INFERPLAN_BACKEND", "cpp") != "cpp":
        pytest.skip("INFERPLAN_BACKEND forces a fallback backend")
    import inferplan
    from inferplan import _core  # noqa: F401

    assert inferplan.backend() == "cpp"

"""Tests of the package's typing: ``py.typed`` and the kernel's stub.

The package is marked typed (``py.typed``) and ships a stub of the compiled kernel whose
names are the module's (scripts/gen_core_stub.py regenerates it).
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

import inferplan

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(inferplan.__file__).resolve().parent
STUB = PACKAGE / "_core.pyi"

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")


def _generator():
    spec = importlib.util.spec_from_file_location(
        "gen_core_stub", ROOT / "scripts" / "gen_core_stub.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def core():
    try:
        from inferplan import _core
    except ImportError:  # tests/test_build.py fails unless a fallback backend was asked for
        pytest.skip("the compiled extension is not built here")
    return _core


@pytest.fixture(scope="module")
def stub() -> ast.Module:
    return ast.parse(STUB.read_text(), filename=str(STUB))


def _names(body) -> dict[str, ast.AST]:
    """Top-level names a stub body defines (functions, classes, annotated constants)."""
    found = {}
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            found[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            found[node.target.id] = node
    return found


def _public(namespace) -> set[str]:
    return {name for name in namespace if not name.startswith("_")}


def test_stub_names_are_the_modules(core, stub):
    assert set(_names(stub.body)) == _public(vars(core)), (
        "python/inferplan/_core.pyi is stale: run PYTHONPATH=python python scripts/gen_core_stub.py"
    )


def test_stub_classes_list_every_member(core, stub):
    for name, node in _names(stub.body).items():
        if isinstance(node, ast.ClassDef):
            members = set(_names(node.body))
            expected = _public(vars(getattr(core, name))) | {"__init__"}
            assert members == expected, name


def test_stub_parameters_are_the_modules(core, stub):
    """Parameter names (py::arg in cpp/bindings/) as the module's signatures give them."""
    gen = _generator()
    for name, node in _names(stub.body).items():
        if isinstance(node, ast.FunctionDef):
            sig = gen._signatures(getattr(core, name), name)[0]
            expected = [p.split(":")[0].split("=")[0].strip()
                        for p in gen._split_top_level(sig.rpartition(" -> ")[0][1:-1])]  # fmt: skip
            assert [a.arg for a in node.args.args] == expected, name


def test_py_typed_and_stub_ship_in_the_wheel():
    source = ROOT / "python" / "inferplan"
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["scikit-build"]
    shipped = [ROOT / p for p in build["wheel"]["packages"]]
    for path in (source / "py.typed", source / "_core.pyi"):
        assert path.is_file(), path
        assert any(path.is_relative_to(p) for p in shipped), path
        for pattern in build.get("wheel", {}).get("exclude", []):
            assert not path.match(pattern), (path, pattern)
    # and where the package under test is an installed one, they are in it
    assert (PACKAGE / "py.typed").is_file(), PACKAGE
    assert STUB.is_file(), PACKAGE

"""Every public module says what it exports.

``__all__`` lists names that resolve (a module's own public functions and classes among
them) and ``__dir__`` offers them without the module's imports and private helpers.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import inferplan

PENDING: set[str] = set()  # modules whose __all__/__dir__ are still to come
# helpers spelt without an underscore that their module keeps out of __all__ on purpose
UNEXPORTED = {"inferplan.sweep.run": {"Progress"}}


def _public_modules() -> list[str]:
    names = ["inferplan"]
    for info in pkgutil.walk_packages(inferplan.__path__, "inferplan."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts[1:]) or info.name in PENDING:
            continue
        names.append(info.name)
    return names


MODULES = _public_modules()


def _module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError as error:  # an optional extra (e.g. the service's FastAPI)
        if error.name and error.name.split(".")[0] != "inferplan":
            pytest.skip(f"{name} needs {error.name}, an optional dependency")
        raise


def test_the_walk_finds_the_modules():
    assert len(MODULES) > 50
    for name in ("inferplan.models", "inferplan.fleet.data", "inferplan.service.app"):
        assert name in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_every_name_in_all_resolves(name):
    module = _module(name)
    exported = module.__all__
    assert len(set(exported)) == len(exported), "a name twice in __all__"
    missing = [attr for attr in exported if not hasattr(module, attr)]
    assert missing == []


@pytest.mark.parametrize("name", MODULES)
def test_all_holds_the_modules_own_public_functions_and_classes(name):
    module = _module(name)
    own = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and (inspect.isfunction(value) or inspect.isclass(value))
        and value.__module__ == name
    }
    assert own - set(module.__all__) - UNEXPORTED.get(name, set()) == set()


@pytest.mark.parametrize("name", MODULES)
def test_dir_offers_all_and_hides_private_helpers(name):
    module = _module(name)
    shown = dir(module)
    assert set(module.__all__) <= set(shown)
    if not hasattr(module, "__path__"):  # a plain module: nothing else but dunders
        extra = {n for n in shown if not (n.startswith("__") and n.endswith("__"))}
        assert extra == set(module.__all__), sorted(extra - set(module.__all__))

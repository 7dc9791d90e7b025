"""Public names imported on first use (PEP 562), for the package and its subpackages.

``attach(__name__, {"Replica": ".replica", "fleet": ".fleet"})`` returns the module-level
``__getattr__`` and ``__dir__`` of a package whose public names live in submodules: the
first look-up of a name imports its module and stores the value in the package, so later
look-ups are plain attribute reads. A name mapped to ``".x"`` where ``x`` is that very name
is the subpackage ``x`` itself; otherwise it is the attribute of that name in the module
(``".mig:CATALOGUE"``: the attribute ``CATALOGUE`` under another public name).

``shadowed`` names are functions named like the submodule that defines them (e.g.
``inferplan.sweep``, ``inferplan.simulate``): importing that submodule makes Python set the
package's attribute to the submodule, so these names are properties of the package's
module type that always give the function (an explicit assignment, e.g. a test's
monkeypatch, still replaces it).

``public_dir(__name__)`` is the ``__dir__`` of a plain module: its ``__all__`` and its
dunder attributes, without its imports and private helpers (what completion should offer).
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Mapping


class _Shadowed:
    """The function ``name`` of submodule ``module``, whatever the import system sets."""

    def __init__(self, name: str, module: str):
        self.name = name
        self.module = module
        self.slot = f"_{name}_override"

    def __get__(self, package, owner=None):
        if package is None:
            return self
        override = package.__dict__.get(self.slot)
        if override is not None:
            return override
        return getattr(importlib.import_module(self.module, package.__name__), self.name)

    def __set__(self, package, value) -> None:
        if not isinstance(value, types.ModuleType):  # the import system sets the module
            package.__dict__[self.slot] = value

    def __delete__(self, package) -> None:
        package.__dict__.pop(self.slot, None)


def attach(
    package: str, attributes: Mapping[str, str], shadowed: Mapping[str, str] | None = None
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` (see the module's docstring)."""
    module = sys.modules[package]
    if shadowed:
        module.__class__ = type(
            "LazyPackage",
            (types.ModuleType,),
            {name: _Shadowed(name, where) for name, where in shadowed.items()},
        )

    def __getattr__(name: str):
        where = attributes.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        where, _, attr = where.partition(":")
        value = importlib.import_module(where, package)
        if attr or where.rpartition(".")[2] != name:
            value = getattr(value, attr or name)
        module.__dict__[name] = value  # later look-ups do not come here
        return value

    def __dir__() -> list[str]:
        return sorted(set(module.__dict__) | set(getattr(module, "__all__", ())))

    return __getattr__, __dir__


def public_dir(name: str) -> Callable[[], list[str]]:
    """``__dir__`` for the plain module ``name`` (see the module's docstring)."""

    def __dir__() -> list[str]:
        names = sys.modules[name].__dict__
        dunders = (n for n in names if n.startswith("__") and n.endswith("__"))
        return sorted({*names.get("__all__", ()), *dunders})

    return __dir__

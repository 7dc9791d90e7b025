"""Backend selection: an ordered list (cpp -> numba -> numpy), chosen once per process.

``INFERPLAN_BACKEND=cpp|numba|numpy`` forces one; the same list drives the parity tests.
Every backend implements the whole of :class:`inferplan._kernels.protocol.Backend` (scalar
and batch analysis and sizing, admission rules included); this is the only module that
knows which backends there are.
"""

from __future__ import annotations

import importlib
import os
import warnings
from functools import cache, lru_cache

BACKENDS: tuple[str, ...] = ("cpp", "numba", "numpy")
_MODULES = {
    "cpp": "inferplan._kernels.cpp_backend",
    "numba": "inferplan._kernels.numba_backend",
    "numpy": "inferplan._kernels.numpy_backend",
}
_BUILD_HINT = (
    "the compiled extension inferplan._core is not available ({err}); falling back to "
    "{fallback}. Build it with `python -m pip install .` (needs a C++17 compiler and CMake) "
    "or, in a source checkout, `scripts/dev_build.sh`."
)


@cache
def load(name: str):
    """Return the backend module called ``name``; raises ImportError if it cannot be used."""
    if name not in _MODULES:
        raise ValueError(f"INFERPLAN_BACKEND must be one of {', '.join(BACKENDS)}, got {name!r}")
    return importlib.import_module(_MODULES[name])


def available() -> list[str]:
    """Names of the backends that import on this machine, fastest first."""
    names = []
    for name in BACKENDS:
        try:
            load(name)
        except ImportError:
            continue
        names.append(name)
    return names


_override = None


def use(name: str | None) -> None:
    """Switches the backend for objects created from now on (None: back to the default).

    Meant for tests and benchmarks that compare backends in one process.
    """
    global _override
    _override = None if name is None else load(name)


def active():
    """Return the backend in use: the one set by :func:`use`, else the process default."""
    return _override if _override is not None else _default()


@lru_cache(maxsize=1)
def _default():
    """INFERPLAN_BACKEND if set, else the first backend that imports."""
    forced = os.environ.get("INFERPLAN_BACKEND", "").strip().lower()
    if forced:
        return load(forced)
    errors = []
    for name in BACKENDS:
        try:
            module = load(name)
        except ImportError as err:
            errors.append((name, err))
            continue
        if errors and errors[0][0] == "cpp":
            warnings.warn(
                _BUILD_HINT.format(err=errors[0][1], fallback=name), RuntimeWarning, stacklevel=3
            )
        return module
    raise ImportError(f"no inferplan backend could be loaded: {errors}")

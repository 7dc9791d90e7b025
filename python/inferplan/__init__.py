"""inferplan: fast, exact capacity planning for LLM inference fleets.

The hot path is a C++ kernel (``inferplan._core``); when it is unavailable a Numba
mirror, then the NumPy reference, give the same numbers. ``inferplan.backend()`` says
which one is active; ``INFERPLAN_BACKEND=cpp|numba|numpy`` forces one.
"""

# Subpackages built on the names above.
from . import fleet, hardware  # noqa: E402,I001
from ._status import Status, status_message
from .calibration import calibrate, read_benchmarks
from .batch import analyze_many, optimal_concurrency_many, size_many
from .capi import c_include_dir, c_library_path
from .hardware import cost_table, energy_value  # noqa: E402
from .models import DecodeOnly, PrefillDecode, ServiceModel, ServiceTimes
from .replica import Metrics, Replica, backend, optimal_concurrency
from .simulate import Estimate, SimulationResult, Tokens, simulate
from .sizing import ConcurrencyResult, SizeResult

# The function shadows the subpackage's name on purpose: ``inferplan.sweep(spec, out)``.
# Its modules stay importable as ``from inferplan.sweep import load_spec``.
from .sweep import read_sweep, sweep  # noqa: E402,I001

__version__ = "0.1.0"

# Loaded on first use: the runtime pulls in pandas, matplotlib and (optionally) statsmodels;
# arrivals (renewal arrivals, docs/model.md 6), lengths and phasetype are plain NumPy.
_LAZY = {"runtime", "arrivals", "lengths", "phasetype"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ConcurrencyResult",
    "DecodeOnly",
    "Estimate",
    "Metrics",
    "PrefillDecode",
    "Replica",
    "ServiceModel",
    "ServiceTimes",
    "SimulationResult",
    "SizeResult",
    "Status",
    "Tokens",
    "analyze_many",
    "arrivals",
    "backend",
    "calibrate",
    "c_include_dir",
    "c_library_path",
    "cost_table",
    "energy_value",
    "fleet",
    "hardware",
    "lengths",
    "optimal_concurrency",
    "optimal_concurrency_many",
    "runtime",
    "read_benchmarks",
    "read_sweep",
    "simulate",
    "size_many",
    "status_message",
    "sweep",
]

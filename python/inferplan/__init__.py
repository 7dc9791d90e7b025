"""inferplan: fast, exact capacity planning for LLM inference fleets.

The hot path is a C++ kernel (``inferplan._core``); when it is unavailable a Numba
mirror, then the NumPy reference, give the same numbers. ``inferplan.backend()`` says
which one is active; ``INFERPLAN_BACKEND=cpp|numba|numpy`` forces one.
"""

from ._status import Status, status_message
from .batch import analyze_many, optimal_concurrency_many, size_many
from .models import DecodeOnly, PrefillDecode, ServiceModel, ServiceTimes
from .replica import Metrics, Replica, backend, optimal_concurrency
from .sizing import ConcurrencyResult, SizeResult
from .simulate import Estimate, SimulationResult, Tokens, simulate

# Subpackages built on the names above.
from . import fleet, hardware  # noqa: E402,I001
from .hardware import cost_table, energy_value  # noqa: E402

# The function shadows the subpackage's name on purpose: ``inferplan.sweep(spec, out)``.
# Its modules stay importable as ``from inferplan.sweep import load_spec``.
from .sweep import read_sweep, sweep  # noqa: E402,I001

__version__ = "0.1.0"

__all__ = [
    "DecodeOnly",
    "Estimate",
    "Metrics",
    "PrefillDecode",
    "Replica",
    "ServiceModel",
    "ServiceTimes",
    "SimulationResult",
    "Status",
    "Tokens",
    "analyze_many",
    "ConcurrencyResult",
    "optimal_concurrency",
    "optimal_concurrency_many",
    "SizeResult",
    "size_many",
    "backend",
    "cost_table",
    "energy_value",
    "fleet",
    "hardware",
    "read_sweep",
    "simulate",
    "status_message",
    "sweep",
]

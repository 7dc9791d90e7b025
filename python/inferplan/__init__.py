"""inferplan: fast, exact capacity planning for LLM inference fleets.

The hot path is a C++ kernel (``inferplan._core``); when it is unavailable a Numba
mirror, then the NumPy reference, give the same numbers. ``inferplan.backend()`` says
which one is active; ``INFERPLAN_BACKEND=cpp|numba|numpy`` forces one.
"""

from . import fleet
from ._status import Status, status_message
from .batch import analyze_many
from .models import DecodeOnly, PrefillDecode, ServiceModel, ServiceTimes
from .replica import Metrics, Replica, backend
from .simulate import Estimate, SimulationResult, Tokens, simulate

__version__ = "0.1.0"

__all__ = [
    "analyze_many",
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
    "backend",
    "fleet",
    "simulate",
    "status_message",
]

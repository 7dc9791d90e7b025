"""inferplan: fast, exact capacity planning for LLM inference fleets.

The hot path is a C++ kernel (``inferplan._core``); when it is unavailable a Numba
mirror, then the NumPy reference, give the same numbers. ``inferplan.backend()`` says
which one is active; ``INFERPLAN_BACKEND=cpp|numba|numpy`` forces one.
"""

from . import hardware  # noqa: E402  (after the core names it builds on)
from ._status import Status, status_message
from .hardware import cost_table, energy_value  # noqa: E402
from .models import DecodeOnly, PrefillDecode, ServiceModel, ServiceTimes
from .replica import Metrics, Replica, backend

__version__ = "0.1.0"

__all__ = [
    "DecodeOnly",
    "Metrics",
    "PrefillDecode",
    "Replica",
    "ServiceModel",
    "ServiceTimes",
    "Status",
    "backend",
    "cost_table",
    "energy_value",
    "hardware",
    "status_message",
]

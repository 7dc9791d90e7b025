"""Fleet allocation: which accelerator, and how many replicas, for every model server.

>>> from inferplan import fleet
>>> system = fleet.load_system(fleet.example_path())
>>> solution = fleet.optimize(system, solver="greedy")
>>> solution.total_cost > 0 and not solution.unallocated
True
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .. import _lazy

if TYPE_CHECKING:
    from .data import System
    from .solution import Solution

# Imported on first use: ``inferplan optimize`` builds its parser from .cli and .data alone.
__getattr__, __dir__ = _lazy.attach(
    __name__,
    {
        "Candidates": ".candidates",
        "build_candidates": ".candidates",
        # the hardware vocabulary is inferplan.hardware's: these are the same types
        "Accelerator": ".data",
        "Profile": ".data",
        "accelerator_to_dict": ".data",
        "profile_to_dict": ".data",
        "system_to_dict": ".data",
        "CurrentAllocation": ".data",
        "DataError": ".data",
        "DataWarning": ".data",
        "Load": ".data",
        "ModelProfile": ".data",
        "OptimizerSettings": ".data",
        "PowerCurve": ".data",
        "Server": ".data",
        "ServiceClass": ".data",
        "System": ".data",
        "Target": ".data",
        "load_system": ".data",
        "system_from_dict": ".data",
        "allocations": ".report",
        "summary": ".report",
        "Assignment": ".solution",
        "Solution": ".solution",
        "greedy": ".solvers",
        "solve": ".solvers",
        "unlimited": ".solvers",
        "synthetic_system": ".synthetic",
    },
)


def optimize(
    system: System | str | Path,
    solver: str | None = None,
    *,
    g1_wait: str = "exponential",
    objective: str = "cost",
    energy_weight: float = 1.0,
    price_per_kwh: float | None = None,
    admission: str | None = None,
    cov: str = "use",
    **options,
) -> Solution:
    """Size every candidate and allocate.

    ``system`` is a :class:`System` or a path to a directory of ``*-data.json`` files or a
    ``system-data.json`` file. ``objective`` is ``"cost"`` (default), ``"power"`` or
    ``"cost+energy"``, and ``admission`` sizes the TTFT and wait targets as an arriving
    request sees them (see :func:`build_candidates`). ``cov="use"`` (default) sizes with the loads'
    ``arrivalCOV`` and ``serviceCOV``; ``"ignore"`` sizes for Poisson arrivals and mean
    lengths, as the reference does (see :func:`build_candidates` and docs/allocation.md).

    ``solver`` is "greedy", "unlimited" or "milp"; by default the system's optimizer settings
    decide (``unlimited`` -> unlimited, ``milpSolver`` -> milp, else greedy). ``options`` go
    to the solver (e.g. ``saturation_policy``, ``time_limit``, ``heterogeneous``).
    """
    from .candidates import build_candidates
    from .data import System, load_system
    from .solvers import solve

    if not isinstance(system, System):
        system = load_system(system)
    if solver is None:
        s = system.settings
        solver = "unlimited" if s.unlimited else "milp" if s.milp else "greedy"
    cands = build_candidates(
        system,
        g1_wait=g1_wait,
        objective=objective,
        energy_weight=energy_weight,
        price_per_kwh=price_per_kwh,
        admission=admission,
        cov=cov,
    )
    return solve(cands, solver, **options)


def example_path() -> Path:
    """Return the package's own example system (a directory of ``*-data.json`` files)."""
    return Path(__file__).parent.parent / "data" / "example"


__all__ = [
    "Accelerator",
    "Assignment",
    "Candidates",
    "CurrentAllocation",
    "DataError",
    "DataWarning",
    "Load",
    "ModelProfile",
    "OptimizerSettings",
    "PowerCurve",
    "Profile",
    "Server",
    "ServiceClass",
    "Solution",
    "System",
    "Target",
    "accelerator_to_dict",
    "allocations",
    "build_candidates",
    "example_path",
    "greedy",
    "load_system",
    "optimize",
    "profile_to_dict",
    "solve",
    "summary",
    "synthetic_system",
    "system_from_dict",
    "system_to_dict",
    "unlimited",
]

"""Fleet allocation: which accelerator, and how many replicas, for every model server.

>>> from inferplan import fleet
>>> system = fleet.load_system(fleet.example_path())
>>> solution = fleet.optimize(system, solver="greedy")
>>> solution.total_cost > 0 and not solution.unallocated
True
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .candidates import Candidates, build_candidates
from .data import (
    Accelerator,
    CurrentAllocation,
    DataError,
    DataWarning,
    Load,
    ModelProfile,
    OptimizerSettings,
    PowerCurve,
    Server,
    ServiceClass,
    System,
    Target,
    load_system,
    system_from_dict,
)
from .report import allocations, summary
from .solvers import Assignment, Solution, greedy, solve, unlimited
from .synthetic import synthetic_system


def optimize(
    system: System | str | Path,
    solver: str | None = None,
    *,
    g1_wait: str = "exponential",
    objective: str = "cost",
    energy_weight: float = 1.0,
    price_per_kwh: float | None = None,
    admission: str | None = None,
    **options,
) -> Solution:
    """Size every candidate and allocate.

    ``system`` is a :class:`System` or a path to a directory of ``*-data.json`` files or a
    ``system-data.json`` file. ``objective`` is ``"cost"`` (default), ``"power"`` or
    ``"cost+energy"``, and ``admission`` sizes the TTFT and wait targets as an arriving
    request sees them (see :func:`build_candidates`).

    ``solver`` is "greedy", "unlimited" or "milp"; by default the system's optimizer settings
    decide (``unlimited`` -> unlimited, ``milpSolver`` -> milp, else greedy). ``options`` go
    to the solver (e.g. ``saturation_policy``, ``time_limit``, ``heterogeneous``).
    """
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
    )
    return solve(cands, solver, **options)


def example_path() -> Path:
    """The package's own example system (a directory of ``*-data.json`` files)."""
    return Path(str(resources.files("inferplan") / "data" / "example"))


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
    "Server",
    "ServiceClass",
    "Solution",
    "System",
    "Target",
    "allocations",
    "build_candidates",
    "example_path",
    "greedy",
    "load_system",
    "optimize",
    "solve",
    "summary",
    "synthetic_system",
    "system_from_dict",
    "unlimited",
]

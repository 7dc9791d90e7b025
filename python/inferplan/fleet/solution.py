"""A solver's answer: what each server gets (:class:`Assignment`), the totals and usage.

The solvers (:mod:`.solvers`, :mod:`.milp`) and the report (:mod:`.report`) import it; it
imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import _lazy
from .candidates import Candidates
from .data import DEFAULT_PRIORITY

__all__ = [
    "Assignment",
    "Solution",
    "priorities",
    "unplaced",
]
__dir__ = _lazy.public_dir(__name__)


@dataclass(frozen=True)
class Assignment:
    """What one server gets: ``parts`` = ((candidate row, replicas granted), ...).

    A greedy or single-assignment solution has one part; a heterogeneous MILP solution may
    split a server over several accelerators. ``saturated`` means fewer replicas than the
    load needs (a best-effort grant).
    """

    server: int
    parts: tuple[tuple[int, int], ...]
    saturated: bool = False


@dataclass
class Solution:
    """An allocation: the assignment of each server and the reasons of the unallocated ones."""

    candidates: Candidates
    solver: str
    assignments: dict[int, Assignment] = field(default_factory=dict)
    unallocated: dict[int, str] = field(default_factory=dict)
    status: str = "ok"
    gap: float = 0.0
    seconds: float = 0.0

    def part_cost(self, row: int, replicas: int) -> float:
        """Return the cost of ``replicas`` replicas of candidate ``row`` (its cost pro rata)."""
        c = self.candidates
        req = int(c.replicas[row])
        return float(c.cost[row]) if req == 0 else float(c.cost[row]) * replicas / req

    def part_value(self, row: int, replicas: int) -> float:
        """Return the value of ``replicas`` replicas of candidate ``row`` (its value pro rata)."""
        c = self.candidates
        req = int(c.replicas[row])
        return float(c.value[row]) if req == 0 else float(c.value[row]) * replicas / req

    @property
    def total_cost(self) -> float:
        """Cost of every part of every assignment."""
        return sum(self.part_cost(r, k) for a in self.assignments.values() for r, k in a.parts)

    @property
    def total_value(self) -> float:
        """Value of every part of every assignment."""
        return sum(self.part_value(r, k) for a in self.assignments.values() for r, k in a.parts)

    def usage(self) -> dict[str, int]:
        """Cards used per accelerator type."""
        c = self.candidates
        used: dict[str, int] = {}
        for a in self.assignments.values():
            for r, k in a.parts:
                t = c.acc_type[r]
                if t:
                    used[t] = used.get(t, 0) + int(c.units[r]) * k
        return used


def priorities(c: Candidates) -> list[int]:
    """Each server's class priority (1 = highest; an unknown class counts as the lowest)."""
    classes = {x.name: x.priority for x in c.system.classes}
    return [classes.get(srv.service_class, DEFAULT_PRIORITY) for srv in c.system.servers]


def _priority(c: Candidates, s: int) -> int:
    """Server ``s``'s priority (one server; :func:`priorities` gives them all at once)."""
    return priorities(c)[s]


def unplaced(c: Candidates, sol: Solution) -> None:
    """Mark the servers without any candidate unallocated, with their reasons."""
    for s, why in c.reasons.items():
        sol.unallocated[s] = "; ".join(why)

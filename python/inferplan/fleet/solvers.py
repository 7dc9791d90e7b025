"""Allocation solvers over a candidate table: unlimited and greedy (docs/model.md section 4).

The greedy solver follows the reference optimizer's procedure step by step (priority groups,
regret order, re-queue on a capacity miss, saturation policies, delayed best effort) so that
its totals can be compared; ties are broken by the servers' input order, never at random.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping

from .. import _lazy
from .candidates import Candidates
from .data import SATURATION_POLICIES
from .milp import milp
from .solution import (
    Assignment,
    Solution,
    _priority,  # noqa: F401 (kept importable from here)
    priorities,
    unplaced,
)

_unplaced = unplaced  # the former private name
__all__ = ["Assignment", "Solution", "greedy", "solve", "unlimited"]

__dir__ = _lazy.public_dir(__name__)


def unlimited(c: Candidates) -> Solution:
    """Every server takes its minimum-value candidate; capacity is ignored."""
    sol = Solution(c, "unlimited")
    for s in range(c.num_servers):
        rows = c.of(s)
        if rows:
            sol.assignments[s] = Assignment(s, ((rows[0], int(c.replicas[rows[0]])),))
    unplaced(c, sol)
    return sol


class _Entry:
    __slots__ = ("cursor", "priority", "rows", "server")

    def __init__(self, server: int, rows: range, priority: int):
        self.server = server
        self.rows = rows
        self.cursor = 0
        self.priority = priority

    def key(self, value) -> tuple[int, float, float]:
        cur = self.rows[self.cursor]
        nxt = self.cursor + 1
        regret = float(value[self.rows[nxt]] - value[cur]) if nxt < len(self.rows) else math.inf
        return (self.priority, -regret, -float(value[cur]))


def greedy(
    c: Candidates,
    *,
    capacity: Mapping[str, int] | None = None,
    saturation_policy: str | None = None,
    delayed_best_effort: bool | None = None,
) -> Solution:
    """Greedy allocation under a capacity in cards per accelerator type.

    Defaults come from the system's optimizer settings.
    """
    settings = c.system.settings
    policy = settings.saturation_policy if saturation_policy is None else saturation_policy
    if policy not in SATURATION_POLICIES:
        raise ValueError(f"saturation_policy must be one of {SATURATION_POLICIES}, got {policy!r}")
    delayed = settings.delayed_best_effort if delayed_best_effort is None else delayed_best_effort
    available = dict(c.system.capacity if capacity is None else capacity)
    sol = Solution(c, "greedy")
    value = c.value
    prio = priorities(c)
    entries = [
        _Entry(s, range(b, e), prio[s])
        for s, (b, e) in enumerate(zip(c.start.tolist(), c.stop.tolist(), strict=True))
        if e > b
    ]
    entries.sort(key=lambda e: e.key(value))  # stable: input order breaks ties
    groups: list[list[_Entry]] = []
    for e in entries:
        if groups and groups[-1][0].priority == e.priority:
            groups[-1].append(e)
        else:
            groups.append([e])

    def fits(row: int, replicas: int) -> bool:
        need = int(c.units[row]) * replicas
        return need == 0 or available.get(c.acc_type[row], 0) >= need

    def take(row: int, replicas: int) -> None:
        if c.acc_type[row]:
            available[c.acc_type[row]] = (
                available.get(c.acc_type[row], 0) - int(c.units[row]) * replicas
            )

    def allocate(group: list[_Entry]) -> list[_Entry]:
        queue = list(group)
        keys = [e.key(value) for e in queue]
        out: list[_Entry] = []
        i = 0
        while i < len(queue):
            e = queue[i]
            i += 1
            row = e.rows[e.cursor]
            reps = int(c.replicas[row])
            if fits(row, reps):
                take(row, reps)
                sol.assignments[e.server] = Assignment(e.server, ((row, reps),))
                continue
            e.cursor += 1
            if e.cursor >= len(e.rows):
                out.append(e)
                continue
            k = e.key(value)
            pos = bisect_left(keys, k, lo=i)
            queue.insert(pos, e)
            keys.insert(pos, k)
        return out

    def best_effort(waiting: list[_Entry]) -> None:
        if policy == "PriorityExhaustive":
            for e in waiting:
                for row in e.rows:
                    units = int(c.units[row])
                    room = available.get(c.acc_type[row], 0) // units if units else 0
                    if room >= 1:
                        k = min(room, int(c.replicas[row]))
                        take(row, k)
                        sol.assignments[e.server] = Assignment(
                            e.server, ((row, k),), saturated=k < int(c.replicas[row])
                        )
                        break
        elif policy == "RoundRobin":
            _round_robin(waiting)
        elif policy == "PriorityRoundRobin":
            start = 0
            order = sorted(range(len(waiting)), key=lambda j: waiting[j].priority)
            ranked = [waiting[j] for j in order]
            while start < len(ranked):
                stop = start
                while stop < len(ranked) and ranked[stop].priority == ranked[start].priority:
                    stop += 1
                _round_robin(ranked[start:stop])
                start = stop

    def _round_robin(waiting: list[_Entry]) -> None:
        locked: dict[int, int] = {}
        granted: dict[int, int] = {}
        active = list(waiting)
        while active:
            still = []
            for e in active:
                if e.server not in locked:
                    row = next(
                        (
                            r
                            for r in e.rows
                            if int(c.units[r])
                            and available.get(c.acc_type[r], 0) >= int(c.units[r])
                        ),
                        None,
                    )
                    if row is None:
                        continue
                    locked[e.server] = row
                    granted[e.server] = 0
                row = locked[e.server]
                if available.get(c.acc_type[row], 0) < int(c.units[row]):
                    continue
                take(row, 1)
                granted[e.server] += 1
                if granted[e.server] < int(c.replicas[row]):
                    still.append(e)
            active = still
        for e in waiting:
            if e.server in locked:
                row, k = locked[e.server], granted[e.server]
                sol.assignments[e.server] = Assignment(
                    e.server, ((row, k),), saturated=k < int(c.replicas[row])
                )

    pending: list[_Entry] = []
    for group in groups:
        missed = allocate(group)
        if delayed:
            pending.extend(missed)
        elif policy != "None":
            best_effort(missed)
        else:
            pending.extend(missed)
    if delayed and policy != "None":
        best_effort(pending)
    for e in entries:
        if e.server not in sol.assignments:
            sol.unallocated[e.server] = "not enough capacity on any candidate accelerator"
    unplaced(c, sol)
    return sol


def solve(c: Candidates, solver: str = "greedy", **options) -> Solution:
    """Run ``solver`` ("greedy", "unlimited" or "milp") on a candidate table."""
    if solver == "greedy":
        return greedy(c, **options)
    if solver == "unlimited":
        return unlimited(c)
    if solver == "milp":
        return milp(c, **options)
    raise ValueError(f"solver must be 'greedy', 'unlimited' or 'milp', got {solver!r}")

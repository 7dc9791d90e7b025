"""Exact allocation as a mixed-integer program, solved with HiGHS (``highspy``).

Single assignment: a binary per candidate, at most one per server, the cards of each type
within its capacity. Heterogeneous: a server's replicas may be split over several
accelerators; an integer replica count per candidate, and the capacities (req/s within the
SLOs) of the chosen replicas must cover the server's rate. A server may stay unserved; how
much that costs depends on ``priorities``:

* ``"lexicographic"``: serve as many servers of the first priority as possible, then of the
  second, ..., and only then minimise the value (one solve per priority level, each fixing
  the counts reached before);
* ``"weighted"``: one solve, an unserved server costs a weight larger than any value, scaled
  by how many priority levels lie below its own.

The objective is the transition value (docs/model.md 4) unless ``objective="cost"``.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from .. import _lazy
from .candidates import ACCELERATOR_PENALTY, Candidates
from .solution import Assignment, Solution, unplaced
from .solution import priorities as server_priorities

__all__ = [
    "milp",
]
__dir__ = _lazy.public_dir(__name__)


def _highs():
    try:
        import highspy
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the milp solver needs highspy: pip install 'inferplan[fleet]' (or highspy)"
        ) from err
    return highspy


def _quiet(make):
    """Call ``make()`` with the process's stdout (file descriptor 1) silenced.

    HiGHS prints its banner from C++ when the first ``Highs`` is built, before
    ``output_flag`` can be set, and that would corrupt ``inferplan optimize --format json``
    on stdout.
    """
    import contextlib
    import ctypes
    import os

    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (AttributeError, OSError, ValueError):
        return make()  # no standard output to protect
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        try:
            return make()
        finally:
            with contextlib.suppress(OSError, AttributeError, TypeError):
                ctypes.CDLL(None).fflush(None)  # what the C library buffered goes too
            os.dup2(saved, 1)
    finally:
        os.close(devnull)
        os.close(saved)


def milp(
    c: Candidates,
    *,
    heterogeneous: bool | None = None,
    priorities: str = "lexicographic",
    objective: str = "value",
    capacity=None,
    time_limit: float = 60.0,
    mip_rel_gap: float = 1e-9,
) -> Solution:
    """Optimal allocation (or the best found within ``time_limit`` seconds, with its gap)."""
    if priorities not in ("lexicographic", "weighted"):
        raise ValueError(f"priorities must be 'lexicographic' or 'weighted', got {priorities!r}")
    if objective not in ("value", "cost"):
        raise ValueError(f"objective must be 'value' or 'cost', got {objective!r}")
    hs = _highs()
    t0 = time.perf_counter()
    hetero = c.system.settings.heterogeneous if heterogeneous is None else heterogeneous
    cap = dict(c.system.capacity if capacity is None else capacity)
    servers = [s for s in range(c.num_servers) if c.of(s)]
    rank = server_priorities(c)
    prio = {s: rank[s] for s in servers}
    weight = c.value if objective == "value" else c.cost

    # Columns: per candidate row, either a binary "take this candidate" (single assignment)
    # or an integer replica count (heterogeneous, sized rows). Per server a binary "served".
    col_row: list[int] = []  # candidate row of each column (-1: served indicator)
    col_int_reps: list[bool] = []
    col_cost: list[float] = []
    col_ub: list[float] = []
    served_col: dict[int, int] = {}
    split = {}
    for s in servers:
        rows = list(c.of(s))
        sized = all(
            math.isfinite(c.capacity_per_replica[r]) and c.capacity_per_replica[r] > 0 for r in rows
        )
        split[s] = hetero and sized
        for r in rows:
            col_row.append(r)
            if split[s]:
                reps = int(c.replicas[r])
                cur = c.system.servers[s].current.accelerator
                acc = c.accelerator[r]
                same = acc >= 0 and c.system.accelerators[acc].name == cur
                per = float(c.cost[r]) / reps
                col_int_reps.append(True)
                col_ub.append(reps)
                col_cost.append(
                    per if (objective == "cost" or same) else per * (1 + ACCELERATOR_PENALTY)
                )
            else:
                col_int_reps.append(False)
                col_ub.append(1.0)
                col_cost.append(float(weight[r]))
        served_col[s] = len(col_row)
        col_row.append(-1)
        col_int_reps.append(False)
        col_ub.append(1.0)
        col_cost.append(0.0)
    ncol = len(col_row)
    h = _quiet(hs.Highs)
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    inf = hs.kHighsInf
    if ncol == 0:
        sol = Solution(c, "milp")
        unplaced(c, sol)
        return sol
    h.addCols(
        ncol,
        np.array(col_cost),
        np.zeros(ncol),
        np.array(col_ub),
        0,
        np.zeros(ncol, dtype=np.int32),
        np.zeros(0, dtype=np.int32),
        np.zeros(0),
    )
    h.changeColsIntegrality(
        ncol, np.arange(ncol, dtype=np.int32), np.array([hs.HighsVarType.kInteger] * ncol)
    )

    lower, upper, starts, index, coef = [], [], [], [], []

    def row(lo, hi, cols, vals):
        lower.append(lo)
        upper.append(hi)
        starts.append(len(index))
        index.extend(cols)
        coef.extend(vals)

    col_of = {}
    for j, r in enumerate(col_row):
        if r >= 0:
            col_of[r] = j
    for s in servers:
        rows = list(c.of(s))
        y = served_col[s]
        srv = c.system.servers[s]
        if split[s]:
            # sum cap_r x_r - total * y >= 0 ; sum x_r - min * y >= 0 ; x_r <= ub_r * y
            total = float(c.total_rate[rows[0]])
            row(
                0.0,
                inf,
                [col_of[r] for r in rows] + [y],
                [float(c.capacity_per_replica[r]) for r in rows] + [-total],
            )
            if srv.min_replicas:
                row(
                    0.0,
                    inf,
                    [col_of[r] for r in rows] + [y],
                    [1.0] * len(rows) + [-float(srv.min_replicas)],
                )
            for r in rows:
                row(-inf, 0.0, [col_of[r], y], [1.0, -float(c.replicas[r])])
        else:
            row(0.0, 0.0, [col_of[r] for r in rows] + [y], [1.0] * len(rows) + [-1.0])
    for t in sorted({c.acc_type[r] for r in col_of if c.acc_type[r]}):
        cols, vals = [], []
        for r, j in col_of.items():
            if c.acc_type[r] == t:
                per_col = int(c.units[r]) * (1 if col_int_reps[j] else int(c.replicas[r]))
                if per_col:
                    cols.append(j)
                    vals.append(float(per_col))
        if cols:
            row(-inf, float(cap.get(t, 0)), cols, vals)
    h.addRows(
        len(lower),
        np.array(lower),
        np.array(upper),
        len(index),
        np.array(starts, dtype=np.int32),
        np.array(index, dtype=np.int32),
        np.array(coef),
    )

    levels = sorted(set(prio.values()))
    base_cost = np.array(col_cost)
    status = "optimal"
    gap = 0.0

    def run(costs) -> bool:
        nonlocal status, gap
        h.changeColsCost(ncol, np.arange(ncol, dtype=np.int32), np.asarray(costs, dtype=float))
        left = time_limit - (time.perf_counter() - t0)
        h.setOptionValue("time_limit", max(left, 1e-3))
        h.run()
        ms = h.getModelStatus()
        info = h.getInfo()
        if ms == hs.HighsModelStatus.kOptimal:
            g = float(info.mip_gap) if math.isfinite(info.mip_gap) else 0.0
            gap = max(gap, g)
            return True
        if info.primal_solution_status >= 2:  # feasible point, limit reached
            status = "time_limit"
            gap = max(gap, float(info.mip_gap))
            return True
        status = str(ms).split(".")[-1]
        return False

    big = 1.0 + float(np.abs(base_cost).sum()) + float(np.abs(np.asarray(weight)).sum())
    if priorities == "weighted":
        costs = base_cost.copy()
        for s in servers:
            costs[served_col[s]] = -big * (len(levels) - levels.index(prio[s]))
        ok = run(costs)
    else:
        ok = True
        # Fast path: everyone can be served.
        for s in servers:
            h.changeColBounds(served_col[s], 1.0, 1.0)
        if not run(base_cost):
            for s in servers:
                h.changeColBounds(served_col[s], 0.0, 1.0)
            status = "optimal"
            for level in levels:
                costs = np.zeros(ncol)
                members = [served_col[s] for s in servers if prio[s] == level]
                costs[members] = -1.0
                if not run(costs):
                    ok = False
                    break
                best = round(-h.getInfo().objective_function_value)
                h.addRow(
                    float(best),
                    inf,
                    len(members),
                    np.array(members, dtype=np.int32),
                    np.ones(len(members)),
                )
            ok = ok and run(base_cost)
    sol = Solution(c, "milp", status=status if ok else f"failed: {status}", gap=gap)
    if ok:
        x = np.asarray(h.getSolution().col_value)
        for s in servers:
            if x[served_col[s]] < 0.5:
                sol.unallocated[s] = "not served: not enough capacity (MILP)"
                continue
            parts = []
            for r in c.of(s):
                k = round(x[col_of[r]])
                if k:
                    parts.append((r, k if col_int_reps[col_of[r]] else int(c.replicas[r])))
            if not parts:  # the empty candidate of an idle server
                parts = [(c.of(s)[0], 0)]
            sol.assignments[s] = Assignment(s, tuple(parts))
    unplaced(c, sol)
    sol.seconds = time.perf_counter() - t0
    return sol

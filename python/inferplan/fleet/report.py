"""Solution output: the reference JSON layout, usage per type, cost, power, and a diff."""

from __future__ import annotations

import math
from typing import Any

from .. import _lazy
from .solution import Solution

__all__ = [
    "allocations",
    "diff",
    "power_watts",
    "summary",
]
__dir__ = _lazy.public_dir(__name__)


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _load_json(sol: Solution, s: int) -> dict[str, Any]:
    srv = sol.candidates.system.servers[s]
    ld = srv.load
    if sol.candidates.system.rules == "g1":
        out: dict[str, Any] = {"arrivalRate": ld.rate_per_min, "avgLength": ld.out_tokens}
        if ld.arrival_cov is not None:
            out["arrivalCOV"] = ld.arrival_cov
        if ld.service_cov is not None:
            out["serviceCOV"] = ld.service_cov
        return out
    return {
        "arrivalRate": ld.rate_per_min,
        "avgInTokens": ld.in_tokens,
        "avgOutTokens": ld.out_tokens,
    }


def allocations(sol: Solution) -> dict[str, dict[str, Any]]:
    """Return the allocations as the reference prints them; heterogeneous splits add ``parts``.

    The layout is ``{server: {accelerator, numReplicas, maxBatch, cost, itlAverage,
    ttftAverage|waitAverage, load}}``.
    """
    c = sol.candidates
    system = c.system
    accs = system.accelerators
    g1 = system.rules == "g1"
    out: dict[str, dict[str, Any]] = {}
    for s in sorted(sol.assignments, key=lambda k: system.servers[k].name):
        a = sol.assignments[s]
        parts = []
        for row, k in a.parts:
            acc = int(c.accelerator[row])
            entry: dict[str, Any] = {
                "accelerator": accs[acc].name if acc >= 0 else "",
                "numReplicas": int(k),
                "maxBatch": int(c.max_batch[row]),
                "cost": sol.part_cost(row, k),
                "itlAverage": _num(float(c.itl_ms[row])),
            }
            if g1:
                entry["waitAverage"] = _num(float(c.wait_ms[row]))
            else:
                entry["ttftAverage"] = _num(float(c.ttft_ms[row]))
            parts.append(entry)
        main = dict(max(parts, key=lambda p: p["numReplicas"]))
        if len(parts) > 1:
            main["numReplicas"] = sum(p["numReplicas"] for p in parts)
            main["cost"] = sum(p["cost"] for p in parts)
            main["parts"] = parts
        if a.saturated:
            main["saturated"] = True
        main["load"] = _load_json(sol, s)
        out[system.servers[s].name] = main
    return out


def power_watts(sol: Solution) -> float:
    """Return the fleet power (W).

    Per replica, accCount x the accelerator's power curve at its utilization (docs/model.md
    5); a saturated (best-effort) replica runs at utilization 1.
    """
    c = sol.candidates
    system = c.system
    profiles = {(p.model, p.accelerator): p for p in system.profiles}
    total = 0.0
    for s, a in sol.assignments.items():
        model = system.servers[s].model
        for row, k in a.parts:
            acc_i = int(c.accelerator[row])
            if acc_i < 0 or k == 0:
                continue
            acc = system.accelerators[acc_i]
            u = 1.0 if a.saturated else float(c.utilization[row])
            if not math.isfinite(u):
                u = 0.0
            if len(a.parts) > 1:  # load split in proportion to capacity: same utilization
                u = float(c.utilization[row]) if math.isfinite(c.utilization[row]) else 0.0
            total += k * profiles[(model, acc.name)].acc_count * acc.power.at(u)
    return total


def diff(sol: Solution) -> list[dict[str, Any]]:
    """Per server: current vs new accelerator, replicas and cost (only changed servers)."""
    c = sol.candidates
    system = c.system
    new = allocations(sol)
    rows = []
    for srv in system.servers:
        cur = srv.current
        n = new.get(srv.name)
        new_acc = n["accelerator"] if n else ""
        new_reps = n["numReplicas"] if n else 0
        new_cost = n["cost"] if n else 0.0
        if (cur.accelerator, cur.num_replicas) != (new_acc, new_reps):
            rows.append(
                {
                    "server": srv.name,
                    "from": cur.accelerator or "none",
                    "to": new_acc or "none",
                    "replicasFrom": cur.num_replicas,
                    "replicasTo": new_reps,
                    "costChange": new_cost - cur.cost,
                }
            )
    return rows


def summary(sol: Solution) -> dict[str, Any]:
    """Everything the CLI prints: allocations (reference layout) plus the fleet totals."""
    system = sol.candidates.system
    used = sol.usage()
    return {
        "allocations": allocations(sol),
        "unallocated": {system.servers[s].name: why for s, why in sorted(sol.unallocated.items())},
        "usage": {
            t: {"used": used.get(t, 0), "capacity": system.capacity.get(t, 0)}
            for t in sorted(set(used) | set(system.capacity))
        },
        "totalCost": sol.total_cost,
        "totalValue": sol.total_value,
        "totalPowerWatts": power_watts(sol),
        "diff": diff(sol),
        "solver": sol.solver,
        "status": sol.status,
        "gap": sol.gap,
        "seconds": sol.seconds,
    }

"""The exact MILP solver: never worse than greedy, optimal by brute force on small systems."""

from __future__ import annotations

import itertools

import pytest

pytest.importorskip("highspy")

from inferplan.fleet.candidates import build_candidates
from inferplan.fleet.data import load_system
from inferplan.fleet.milp import milp
from inferplan.fleet.solvers import _priority, greedy, unlimited

from _fleet_factory import random_system


@pytest.mark.parametrize("where", ["g3/small", "g3/large", "scenarios/sys-edge.json"])
def test_milp_never_costs_more_than_greedy(inferno_dir, where):
    c = build_candidates(load_system(inferno_dir / where))
    g = greedy(c)
    assert not g.unallocated
    assert not any(a.saturated for a in g.assignments.values())
    m = milp(c)
    assert m.status == "optimal"
    assert not m.unallocated
    assert m.total_value <= g.total_value + 1e-6
    assert m.total_cost <= g.total_cost + 1e-6


def test_milp_without_capacity_limit_is_unlimited(inferno_dir):
    c = build_candidates(load_system(inferno_dir / "g1" / "small"), cov="ignore")
    m = milp(c, capacity={t: 10**9 for t in set(c.acc_type) if t})
    assert m.total_value == pytest.approx(unlimited(c).total_value)
    assert m.total_cost == pytest.approx(35121)


def test_heterogeneous_split_is_no_worse(inferno_dir):
    c = build_candidates(load_system(inferno_dir / "g3" / "small"))
    single = milp(c)
    split = milp(c, heterogeneous=True, objective="cost")
    assert split.status == "optimal"
    assert split.total_cost <= single.total_cost + 1e-6
    for s, a in split.assignments.items():  # the replicas carry the load within the SLOs
        rows = list(c.of(s))
        carried = sum(c.capacity_per_replica[r] * k for r, k in a.parts)
        assert carried >= c.total_rate[rows[0]] * (1 - 1e-9)
    usage = split.usage()
    assert all(usage[t] <= c.system.capacity.get(t, 0) for t in usage)


def test_time_limit_is_respected(inferno_dir):
    c = build_candidates(load_system(inferno_dir / "scenarios" / "sys-large-notie-cap0.25.json"))
    m = milp(c, heterogeneous=True, priorities="weighted", time_limit=2.0)
    assert m.seconds < 6.0
    assert m.status in ("optimal", "time_limit")
    assert m.gap >= 0


def brute_force(c):
    """Lexicographic optimum by enumeration: most servers served per priority, then value."""
    servers = [s for s in range(c.num_servers) if c.of(s)]
    levels = sorted({_priority(c, s) for s in servers})
    choices = [[None, *c.of(s)] for s in servers]
    best = None
    for pick in itertools.product(*choices):
        used: dict[str, int] = {}
        for r in pick:
            if r is not None and c.acc_type[r]:
                used[c.acc_type[r]] = used.get(c.acc_type[r], 0) + int(c.units[r] * c.replicas[r])
        if any(n > c.system.capacity.get(t, 0) for t, n in used.items()):
            continue
        served = tuple(
            -sum(
                1
                for s, r in zip(servers, pick, strict=True)
                if r is not None and _priority(c, s) == lv
            )
            for lv in levels
        )
        value = sum(float(c.value[r]) for r in pick if r is not None)
        key = (served, round(value, 6))
        if best is None or key < best:
            best = key
    return best


@pytest.mark.parametrize("seed", range(12))
def test_milp_is_optimal_by_enumeration(seed):
    system = random_system(seed, servers=4, accelerators=3, tight=0.4, current=seed % 2 == 1)
    c = build_candidates(system)
    want = brute_force(c)
    m = milp(c)
    assert m.status == "optimal"
    levels = sorted({_priority(c, s) for s in range(c.num_servers) if c.of(s)})
    served = tuple(
        -sum(1 for s in m.assignments if c.of(s) and _priority(c, s) == lv) for lv in levels
    )
    assert served == want[0]
    assert m.total_value == pytest.approx(want[1], abs=1e-6)

"""Property tests (Hypothesis): capacity, SLOs and accounting hold for every solver."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inferplan.fleet.candidates import build_candidates
from inferplan.fleet.solvers import greedy, unlimited

from _fleet_factory import random_system

settings.register_profile(
    "ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci")

POLICIES = ("None", "PriorityExhaustive", "RoundRobin", "PriorityRoundRobin")


def solutions(c, policy, delayed):
    yield greedy(c, saturation_policy=policy, delayed_best_effort=delayed)
    try:
        from inferplan.fleet.milp import milp
    except ImportError:  # pragma: no cover
        return
    yield milp(c, time_limit=10)
    yield milp(c, heterogeneous=True, priorities="weighted", time_limit=10)


@given(
    seed=st.integers(0, 10**6),
    servers=st.integers(1, 6),
    tight=st.floats(0.05, 2.0),
    policy=st.sampled_from(POLICIES),
    delayed=st.booleans(),
    current=st.booleans(),
)
def test_solutions_respect_capacity_slos_and_account_for_every_server(
    seed, servers, tight, policy, delayed, current
):
    system = random_system(seed, servers=servers, tight=tight, current=current)
    c = build_candidates(system)
    classes = {k.name: k for k in system.classes}
    for sol in solutions(c, policy, delayed):
        # no server silently dropped
        everyone = set(range(len(system.servers)))
        assert set(sol.assignments) | set(sol.unallocated) == everyone, sol.solver
        assert not set(sol.assignments) & set(sol.unallocated)
        assert all(isinstance(w, str) and w for w in sol.unallocated.values())
        # capacity per type
        for t, used in sol.usage().items():
            assert used <= system.capacity.get(t, 0), (sol.solver, t)
        # SLOs at the per-replica load of every allocation that carries its load
        for s, a in sol.assignments.items():
            if a.saturated:
                continue
            srv = system.servers[s]
            target = classes[srv.service_class].targets[srv.model]
            for row, _k in a.parts:
                if math.isnan(c.itl_ms[row]):
                    assert srv.load.rate_per_s == 0 or srv.load.out_tokens == 0
                    continue
                assert c.itl_ms[row] <= target.itl_ms * (1 + 1e-9)
                assert c.ttft_ms[row] <= target.ttft_ms * (1 + 1e-9)
                per_replica = c.total_rate[row] / c.replicas[row]
                assert per_replica <= c.capacity_per_replica[row] * (1 + 1e-9)
            if len(a.parts) == 1:
                row, k = a.parts[0]
                assert k == c.replicas[row]


@pytest.mark.parametrize("seed", range(5))
def test_unlimited_is_a_lower_bound_on_value(seed):
    c = build_candidates(random_system(seed, servers=6, tight=0.2))
    u = unlimited(c)
    g = greedy(c, saturation_policy="None")
    for s, a in g.assignments.items():
        assert sol_value(g, a) >= sol_value(u, u.assignments[s]) - 1e-9


def sol_value(sol, a):
    return sum(sol.part_value(r, k) for r, k in a.parts)

"""Fleet allocation at scale: 3,000 servers x 20 accelerators, greedy against the MILP.

asv runs the ``time_*``/``peakmem_*`` methods; ``python benchmarks/bench_allocation.py`` prints
one report (sizing, greedy and MILP times, and the greedy/MILP cost ratio, measured in the same
process so the ratio survives a noisy machine).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from inferplan.fleet import (
    Accelerator,
    Load,
    ModelProfile,
    OptimizerSettings,
    PowerCurve,
    Server,
    ServiceClass,
    System,
    Target,
)
from inferplan.fleet.candidates import build_candidates
from inferplan.fleet.solvers import greedy


def synthetic_system(
    servers: int = 3000,
    accelerators: int = 20,
    models: int = 40,
    tight: float = 0.8,
    spare: float = 0.5,
    seed: int = 0,
) -> System:
    """A seeded system: ``accelerators`` kinds over half as many card types, every model on
    every accelerator. Each type holds ``tight`` x the cards of everyone's cheapest choice on
    it plus ``spare`` x the mean of those needs, so some servers must take a second choice."""
    rng = np.random.default_rng(seed)
    types = [f"T{i}" for i in range(max(accelerators // 2, 1))]
    accs = []
    for a in range(accelerators):
        mult = int(rng.choice([1, 2, 4]))
        accs.append(
            Accelerator(
                f"A{a}",
                types[a % len(types)],
                cost=float(rng.uniform(2, 60)) * mult,
                multiplicity=mult,
                power=PowerCurve(50, 250, 0.6, 350),
            )
        )
    profiles = []
    for m in range(models):
        size = rng.uniform(0.5, 8)
        for acc in accs:
            speed = rng.uniform(0.5, 4) * acc.multiplicity**0.7
            profiles.append(
                ModelProfile(
                    f"M{m}",
                    acc.name,
                    alpha=float(10 * size / speed),
                    beta=float(0.02 * size / speed),
                    gamma=float(6e-4 * size / speed),
                    acc_count=int(rng.choice([1, 1, 2])),
                    max_batch_size=int(rng.integers(8, 128)),
                    at_tokens=512,
                )
            )
    classes = tuple(
        ServiceClass(
            f"C{p}",
            p,
            {
                f"M{m}": Target(itl_ms=40.0 * p * (1 + m % 3), ttft_ms=1000.0 * p)
                for m in range(models)
            },
        )
        for p in (1, 2, 3)
    )
    srvs = tuple(
        Server(
            f"S{i}",
            f"C{int(rng.integers(1, 4))}",
            f"M{int(rng.integers(models))}",
            load=Load(
                float(rng.choice([30, 60, 120, 240, 600])),
                float(rng.choice([128, 512, 2048])),
                float(rng.choice([128, 512, 1024])),
            ),
        )
        for i in range(servers)
    )
    system = System(
        tuple(accs),
        {t: 10**9 for t in types},
        tuple(profiles),
        classes,
        srvs,
        OptimizerSettings(saturation_policy="PriorityExhaustive"),
    )
    # capacity: a fraction of what the unconstrained cheapest choices use
    c = build_candidates(system)
    need: dict[str, int] = {}
    for s in range(c.num_servers):
        rows = c.of(s)
        if rows:
            r = rows[0]
            need[c.acc_type[r]] = need.get(c.acc_type[r], 0) + int(c.units[r] * c.replicas[r])
    mean = sum(need.values()) / len(types)
    return system.with_capacity({t: int(tight * need.get(t, 0) + spare * mean) for t in types})


class TimeAllocation:
    timeout = 300.0

    def setup(self):
        self.system = synthetic_system()
        self.candidates = build_candidates(self.system)

    def time_candidates(self):
        build_candidates(self.system)

    def time_greedy(self):
        greedy(self.candidates)

    def peakmem_greedy(self):
        greedy(self.candidates)

    def time_milp(self):
        from inferplan.fleet.milp import milp

        milp(self.candidates, time_limit=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--servers", type=int, default=3000)
    ap.add_argument("--accelerators", type=int, default=20)
    ap.add_argument("--time-limit", type=float, default=120.0)
    ap.add_argument("--tight", type=float, default=0.8)
    ap.add_argument("--spare", type=float, default=0.5)
    ap.add_argument("--priorities", default="weighted", choices=("weighted", "lexicographic"))
    args = ap.parse_args()
    import inferplan
    from inferplan.fleet.milp import milp

    t = time.perf_counter()
    system = synthetic_system(args.servers, args.accelerators, tight=args.tight, spare=args.spare)
    t_sys = time.perf_counter() - t
    t = time.perf_counter()
    c = build_candidates(system)
    t_cand = time.perf_counter() - t
    t = time.perf_counter()
    g = greedy(c)
    t_greedy = time.perf_counter() - t
    t = time.perf_counter()
    m = milp(c, time_limit=args.time_limit, priorities=args.priorities)
    t_milp = time.perf_counter() - t
    served_g = sum(1 for a in g.assignments.values() if not a.saturated)
    print(
        f"backend {inferplan.backend()}; {len(system.servers)} servers x "
        f"{len(system.accelerators)} accelerators = {len(c.value)} candidates"
    )
    print(f"system build (incl. one sizing pass for capacity) {t_sys:8.3f} s")
    print(f"candidates (one batch sizing call)              {t_cand:8.3f} s")
    print(
        f"greedy                                          {t_greedy:8.3f} s  "
        f"cost {g.total_cost:12.1f}  fully served {served_g}  "
        f"saturated {len(g.assignments) - served_g}  unallocated {len(g.unallocated)}"
    )
    print(
        f"milp ({args.priorities}, {m.status}, gap {m.gap:.2e})    {t_milp:8.3f} s  "
        f"cost {m.total_cost:12.1f}  served {len(m.assignments)}  "
        f"unallocated {len(m.unallocated)}"
    )
    print(
        f"greedy/MILP cost ratio {g.total_cost / m.total_cost:.4f}; value ratio "
        f"{g.total_value / m.total_value:.4f}"
    )


if __name__ == "__main__":
    main()

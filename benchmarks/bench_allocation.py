"""Fleet allocation at scale: 3,000 servers x 20 accelerators, greedy against the MILP.

asv runs the ``time_*``/``peakmem_*`` methods; ``python benchmarks/bench_allocation.py`` prints
one report (sizing, greedy and MILP times, and the greedy/MILP cost ratio, measured in the same
process so the ratio survives a noisy machine).
"""

from __future__ import annotations

import argparse
import time

from inferplan.fleet import synthetic_system
from inferplan.fleet.candidates import build_candidates
from inferplan.fleet.solvers import greedy


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

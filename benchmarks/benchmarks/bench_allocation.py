"""Fleet allocation.

Candidate building (one batch sizing call), and the greedy, unlimited and MILP solvers, on
the package's example data (small, reference-like), a 300-server synthetic system and a
3000-server x 20-accelerator one. The systems and their candidates are built once
(``setup_cache``) and shared by every benchmark of the class.

``ReferenceGreedy`` is the greedy path end to end on the public reference optimizer's own
g3 systems, as its figures are quoted (docs/performance.md, "Fleet allocation").
"""

from __future__ import annotations

from . import common

SYSTEMS = ["example", "synthetic", "large"]
MILP_SYSTEMS = ["example", "synthetic"]


class Allocation:
    params = SYSTEMS
    param_names = ("system",)
    timeout = 300

    def setup_cache(self):
        from inferplan.fleet.candidates import build_candidates

        built = {}
        for name in SYSTEMS:
            if common.SMOKE and name == "large":
                continue
            system = common.fleet_system(name)
            built[name] = (system, build_candidates(system))
        return built

    def setup(self, built, name):
        common.skip_heavy(name not in built)
        self.system, self.candidates = built[name]

    def time_build_candidates(self, built, name):
        from inferplan.fleet.candidates import build_candidates

        build_candidates(self.system)

    def peakmem_build_candidates(self, built, name):
        from inferplan.fleet.candidates import build_candidates

        build_candidates(self.system)

    def time_greedy(self, built, name):
        from inferplan.fleet.solvers import greedy

        greedy(self.candidates)

    def peakmem_greedy(self, built, name):
        from inferplan.fleet.solvers import greedy

        greedy(self.candidates)

    def time_unlimited(self, built, name):
        from inferplan.fleet.solvers import unlimited

        unlimited(self.candidates)


class AllocationMILP:
    """The MILP (HiGHS) and the greedy allocation's cost relative to it.

    The large system is left out: its MILP needs minutes (``python
    scripts/bench_allocation.py``).
    """

    params = MILP_SYSTEMS
    param_names = ("system",)
    timeout = 300

    def setup_cache(self):
        from inferplan.fleet.candidates import build_candidates

        return {name: build_candidates(common.fleet_system(name)) for name in MILP_SYSTEMS}

    def setup(self, built, name):
        self.candidates = built[name]

    def _milp(self):
        from inferplan.fleet.milp import milp

        return milp(self.candidates, time_limit=60)

    def time_milp(self, built, name):
        self._milp()

    def peakmem_milp(self, built, name):
        self._milp()

    def track_greedy_cost_over_milp(self, built, name):
        """Solution quality, not speed.

        The greedy allocation's cost over the MILP's optimum on the same candidates (1.0 =
        greedy is optimal).
        """
        from inferplan.fleet.solvers import greedy

        return greedy(self.candidates).total_cost / self._milp().total_cost

    track_greedy_cost_over_milp.unit = "ratio"


class ReferenceGreedy:
    """Time the greedy allocation on the reference's g3 small and large systems.

    ``greedy(build_candidates(system))`` on the reference's g3 small (15 servers) and large
    (27 servers, 495 candidates) systems: with the system loaded, and from the data files.
    """

    params = ("small", "large")
    param_names = ("system",)

    def setup(self, name):
        from inferplan.fleet import load_system

        self.path = common.reference_system_path(name)
        self.system = load_system(self.path)

    def time_greedy_loaded(self, name):
        from inferplan.fleet import build_candidates, greedy

        greedy(build_candidates(self.system))

    def time_greedy_from_files(self, name):
        from inferplan.fleet import build_candidates, greedy, load_system

        greedy(build_candidates(load_system(self.path)))

    def time_load_system(self, name):
        from inferplan.fleet import load_system

        load_system(self.path)

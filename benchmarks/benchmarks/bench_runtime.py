"""The OASIS-style runtime (``inferplan.runtime``).

A seeded 24-hour trace of one million requests (20,000 in smoke runs) generated, and
evaluated under each policy (decisions plus replay through the simulator). The
10-million-request figure of docs/runtime.md is ``python scripts/bench_runtime.py``. Skipped
where the runtime's extras (pandas, SciPy) are not installed.
"""

from __future__ import annotations

from . import common

DAY_S = 24 * 3600.0
REQUESTS = 20_000 if common.SMOKE else 1_000_000


def _runtime():
    try:
        from inferplan import runtime
    except ImportError as error:
        raise NotImplementedError(f"inferplan.runtime is not available here: {error}") from None
    return runtime


def _trace(runtime, requests: int = REQUESTS):
    return runtime.synthetic_trace(duration_s=DAY_S, num_requests=requests, seed=0)


class Runtime:
    params = ("static", "reactive", "proactive")
    param_names = ("policy",)
    timeout = 600

    def setup(self, policy):
        self.runtime = _runtime()
        self.trace = _trace(self.runtime)

    def time_evaluate(self, policy):
        self.runtime.evaluate(self.trace, policies=(policy,))

    def peakmem_evaluate(self, policy):
        self.runtime.evaluate(self.trace, policies=(policy,))


class RuntimeTrace:
    timeout = 300

    def setup(self):
        self.runtime = _runtime()

    def time_generate(self):
        _trace(self.runtime)

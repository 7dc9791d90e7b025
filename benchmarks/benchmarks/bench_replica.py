"""One replica.

``Replica.analyze`` (16 offered rates per call) and ``Replica.size``, per backend, on the
docs/model.md example chain (201 states) and a 1000-state chain; plus the speed-ups of the
C++ kernel over the NumPy reference and the Numba mirror, measured in the same process.
"""

from __future__ import annotations

from . import common


class Analyze:
    params = (common.BACKENDS, list(common.STATES))
    param_names = ("backend", "states")

    def setup(self, backend, states):
        common.use_backend(backend)
        self.replica = common.example_replica(states)
        self.rates = common.rate_grid(self.replica)
        self.replica.analyze(self.rates[0])  # compiles the Numba kernel outside the timing

    def teardown(self, backend, states):
        common.reset_backend()

    def time_analyze(self, backend, states):
        for rate in self.rates:
            self.replica.analyze(rate)

    def peakmem_analyze(self, backend, states):
        for rate in self.rates:
            self.replica.analyze(rate)


class Size:
    params = (common.BACKENDS, list(common.STATES))
    param_names = ("backend", "states")

    def setup(self, backend, states):
        common.use_backend(backend)
        self.replica = common.example_replica(states)
        if not hasattr(self.replica._kernel, "size"):
            common.reset_backend()
            raise NotImplementedError(f"the {backend} backend has no sizing")
        self.replica.size(**common.TARGETS)

    def teardown(self, backend, states):
        common.reset_backend()

    def time_size(self, backend, states):
        self.replica.size(**common.TARGETS)

    def peakmem_size(self, backend, states):
        self.replica.size(**common.TARGETS)

    def track_size_calls_per_second(self, backend, states):
        """Sizing calls per second of one thread.

        Absolute throughput of one thread, comparable with the reference analyzer's quoted
        724 sizing calls/s per core at 1000 states (see docs/performance.md).
        """
        return 1.0 / common.best_seconds(lambda: self.replica.size(**common.TARGETS))

    track_size_calls_per_second.unit = "calls/s"


class Admission:
    """Time ``Replica.analyze`` and ``Replica.size`` under ``admission="iteration"``.

    ``Replica.analyze`` and ``Replica.size`` under ``admission="iteration"`` (TTFT as an
    arriving request sees it), per backend; the chain's read-off is ``Analyze``/``Size``.
    """

    params = (common.BACKENDS, list(common.STATES))
    param_names = ("backend", "states")

    def setup(self, backend, states):
        common.use_backend(backend)
        self.replica = common.example_replica(states)
        self.rates = common.rate_grid(self.replica)
        self.ttft = 1.2 * self.replica.analyze(0.0, admission="iteration").ttft_ms
        self.replica.size(ttft_ms=self.ttft, admission="iteration")

    def teardown(self, backend, states):
        common.reset_backend()

    def time_analyze_iteration(self, backend, states):
        for rate in self.rates:
            self.replica.analyze(rate, admission="iteration")

    def time_size_ttft_iteration(self, backend, states):
        self.replica.size(ttft_ms=self.ttft, admission="iteration")


class KernelSpeedup:
    """Speed-up of the C++ kernel over each fallback.

    How many times faster the C++ kernel is than each fallback, same inputs, same process
    (``Replica.analyze`` over 16 rates; ``Replica.size``).
    """

    params = (["numpy", "numba"], list(common.STATES))
    param_names = ("baseline", "states")
    unit = "ratio"

    def setup(self, baseline, states):
        available = common.dispatch.available()
        if "cpp" not in available or baseline not in available:
            raise NotImplementedError("needs the C++ extension and the baseline backend")
        self.replicas = {}
        for name in ("cpp", baseline):
            common.use_backend(name)
            replica = common.example_replica(states)
            self.rates = common.rate_grid(replica)
            replica.analyze(self.rates[0])
            self.replicas[name] = replica
        common.reset_backend()

    def _runner(self, name):
        replica, rates = self.replicas[name], self.rates

        def run():
            for rate in rates:
                replica.analyze(rate)

        return run

    def track_cpp_speedup_analyze(self, baseline, states):
        return common.speedup(self._runner("cpp"), self._runner(baseline))

    track_cpp_speedup_analyze.unit = "ratio"

    def track_cpp_speedup_size(self, baseline, states):
        """Return the same for ``Replica.size`` (mean ITL and TTFT targets)."""
        for replica in self.replicas.values():
            if not hasattr(replica._kernel, "size"):
                raise NotImplementedError("a backend without sizing")
        cpp, base = self.replicas["cpp"], self.replicas[baseline]
        return common.speedup(
            lambda: cpp.size(**common.TARGETS), lambda: base.size(**common.TARGETS)
        )

    track_cpp_speedup_size.unit = "ratio"

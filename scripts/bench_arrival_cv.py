"""The cost of the ``arrival_cv`` keyword on the scalar Poisson path of Replica.analyze.

``Replica.analyze(rate)`` gained ``arrival_cv`` (docs/model.md 6): with the default 1 it must
take exactly the code path it took before, at no measurable cost. This times, in one
process and interleaved, the method as it is and the method's body as it was before the
keyword (``_before`` below: the same statements without the arrival_cv test), and checks
that both give the same bits::

    PYTHONPATH=python python scripts/bench_arrival_cv.py
"""

from __future__ import annotations

import timeit

import inferplan
from inferplan.replica import Metrics, _admission_code, _rate


def _before(self, rate, *, admission=None):
    """Replica.analyze without arrival_cv (the statements after the new test)."""
    if admission is None:
        status, values = self._kernel.analyze(self._handle, _rate(rate))
    else:
        status, values = self._kernel.analyze_admitted(
            self._handle, _rate(rate), _admission_code(admission)
        )
    if status != 0:
        self._raise(status, rate)
    return Metrics._make(values)


def main(number: int = 100_000, repeat: int = 15) -> None:
    """Time the method as it is and as it was, interleaved; print the per-call figures."""
    r = inferplan.Replica(inferplan.DecodeOnly(19, 1, 256), max_batch=48)
    assert r.analyze(2.0) == _before(r, 2.0)
    analyze = r.analyze

    def now():
        analyze(2.0)

    def before():
        _before(r, 2.0)

    best = {"before": float("inf"), "now": float("inf")}
    for _ in range(repeat):  # interleaved, so that load on the machine hits both alike
        for name, fn in (("before", before), ("now", now)):
            best[name] = min(best[name], timeit.timeit(fn, number=number) / number)
    print(f"backend {inferplan.backend()}")
    for name, t in best.items():
        print(f"Replica.analyze(2.0) {name:>6}: {t * 1e6:.3f} us per call (best of {repeat})")
    print(f"ratio now/before: {best['now'] / best['before']:.3f}")


if __name__ == "__main__":
    main()

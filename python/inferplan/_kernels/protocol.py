"""The protocol every kernel backend implements in full (cpp, numba, numpy).

A backend is a module; :mod:`inferplan._kernels.dispatch` picks one, and the front doors
(:mod:`inferplan.replica`, :mod:`inferplan.batch`) call only what is declared here, never a
feature test. tests/test_backend_protocol.py checks that each backend has every member with
these parameters, and that all of them agree over one grid of inputs (C++ and Numba bit for
bit, the NumPy reference to a tolerance).

Conventions: ``params`` is ``(kind, alpha, beta, gamma, in_tokens, out_tokens,
max_num_tokens)`` with the codes of :mod:`inferplan._codes`; rates are req/s; ``targets`` is
the 9-tuple of :data:`inferplan.sizing.TARGET_FIELDS` (0 = not set); ``admission`` is a code
of ``_codes.ADMISSIONS`` (0: the chain's read-off; an unknown code gives the status
BAD_ADMISSION); ``metrics`` is a list in the order of ``_codes.METRICS``. Scalar calls return
a status first and never raise on bad numbers. The ``*_many`` calls take the configuration
columns of :data:`inferplan.batch.CONFIG_COLUMNS` (each of length 1 or ``rows``), fill the
given output arrays in place (``outs[k]`` is None for a metric not asked for, NaN where a
row is not ok) and run on ``threads`` threads (0: all).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

Metrics = list[float]
SizeTuple = tuple[int, float, int, int, Metrics]
"""(status, rate, binding code, iterations, metrics at the rate)."""


class Handle(Protocol):
    """A replica prepared once for many calls."""

    status: int
    """0, or why the configuration is invalid."""


@runtime_checkable
class Backend(Protocol):
    """What a kernel backend provides (a module with these names)."""

    NAME: str
    """"cpp", "numba" or "numpy"."""

    def replica(self, params: Sequence[float], max_batch: int, max_queue: float,
                tau: np.ndarray | None = None) -> Handle:  # fmt: skip
        """Prepare a replica; ``tau`` (ms, one per batch size) for the service_times kind."""

    def analyze(self, handle: Any, rate: float) -> tuple[int, Metrics]:
        """(status, metrics) at ``rate``: the chain's read-off (docs/model.md 2)."""

    def analyze_admitted(self, handle: Any, rate: float, admission: int) -> tuple[int, Metrics]:
        """(status, metrics) at ``rate`` under an admission rule (admission.hpp).

        The rule changes TTFT, and for iteration-level admission the wait and response time.
        """

    def quantiles(self, handle: Any, rate: float, q: float) -> tuple[int, float, float]:
        """(status, wait q-quantile ms, TTFT q-quantile ms) at ``rate``."""

    def size(self, handle: Any, targets: Sequence[float]) -> SizeTuple:
        """Return the largest rate meeting every set target (docs/model.md 3)."""

    def size_admitted(self, handle: Any, targets: Sequence[float],
                      admission: int) -> SizeTuple:  # fmt: skip
        """:meth:`size` with targets taken under an admission rule.

        The rule changes the TTFT targets, and for iteration-level admission the wait ones.
        """

    def optimal_concurrency(
        self, handle: Any, targets: Sequence[float], tolerance: float
    ) -> tuple[int, int, float, float, int, int, Metrics]:
        """(status, max batch, peak throughput, rate, binding, iterations, metrics)."""

    def analyze_many(self, config: tuple, rate: np.ndarray, outs: list, status: np.ndarray,
                     threads: int, admission: int = 0) -> None:  # fmt: skip
        """Row-wise :meth:`analyze_admitted` into ``outs`` and ``status``."""

    def size_many(self, config: tuple, targets: tuple, outs: list, rate: np.ndarray,
                  status: np.ndarray, binding: np.ndarray, iterations: np.ndarray,
                  threads: int, admission: int = 0) -> None:  # fmt: skip
        """Row-wise :meth:`size_admitted` into the given columns."""

    def optimal_concurrency_many(self, config: tuple, targets: tuple, tolerance: np.ndarray,
                                 outs: list, rate: np.ndarray, status: np.ndarray,
                                 binding: np.ndarray, iterations: np.ndarray,
                                 max_batch: np.ndarray, peak: np.ndarray,
                                 threads: int) -> None:  # fmt: skip
        """Row-wise :meth:`optimal_concurrency` into the given columns."""


MEMBERS: tuple[str, ...] = (
    "NAME", "replica", "analyze", "analyze_admitted", "quantiles", "size", "size_admitted",
    "optimal_concurrency", "analyze_many", "size_many", "optimal_concurrency_many",
)  # fmt: skip
"""Every member of :class:`Backend`, for the conformance test."""

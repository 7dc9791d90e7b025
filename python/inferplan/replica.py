"""One replica of a model server: a batching queue analysed as a birth-death chain."""

from __future__ import annotations

import math
import operator
from typing import NamedTuple

from . import _lazy, _validate
from . import admission as _admission
from ._kernels import dispatch
from ._metrics import KIND_VECTOR
from ._status import Status, status_message
from .models import DecodeOnly, PrefillDecode, ServiceModel, ServiceTimes
from .sizing import BINDING_NAMES, ConcurrencyResult, SizeResult, target_tuple


class Metrics(NamedTuple):
    """Steady-state metrics of one replica at an offered rate.

    Rates in requests per second, times in milliseconds, counts in requests.
    """

    rate: float
    """Offered arrival rate (req/s)."""
    p0: float
    """Probability that the replica is empty."""
    p_block: float
    """Probability that an arrival is rejected (queue full); 0 for an unbounded queue."""
    throughput: float
    """Accepted rate, ``rate * (1 - p_block)`` (req/s)."""
    in_system: float
    """Mean requests in the replica (in service and waiting)."""
    in_service: float
    """Mean batch occupancy."""
    in_queue: float
    """Mean requests waiting."""
    response_ms: float
    """Mean time from arrival to completion (Little's law)."""
    service_ms: float
    """Mean time in service."""
    wait_ms: float
    """Mean time waiting before service starts."""
    itl_ms: float
    """Mean inter-token latency."""
    ttft_ms: float
    """Mean time to first token."""
    prefill_ms: float
    """Mean prefill time (0 for models without a prefill phase)."""
    utilization: float
    """Mean batch occupancy over the max batch."""
    max_rate: float
    """Saturation throughput ``mu(N)`` (req/s)."""


def backend() -> str:
    """Name of the kernel backend in use: ``"cpp"``, ``"numba"`` or ``"numpy"``."""
    return dispatch.active().NAME


def _max_batch(value) -> int:
    try:
        n = operator.index(value)
    except TypeError:
        if isinstance(value, float) and value.is_integer():
            n = int(value)
        else:
            raise ValueError(f"max_batch must be an integer >= 1, got {value!r}") from None
    if n < 1:
        raise ValueError(f"max_batch must be an integer >= 1, got {value!r}")
    if n > 1 << 24:
        raise ValueError(f"max_batch must be at most {1 << 24}, got {value!r}")
    return n


def _max_queue(value) -> float:
    if value is None:
        return math.inf
    try:
        q = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"max_queue must be None, an integer >= 0 or inf, got {value!r}") from None
    if math.isnan(q) or q < 0 or (math.isfinite(q) and not q.is_integer()):
        raise ValueError(f"max_queue must be None, an integer >= 0 or inf, got {value!r}")
    return q


def _rate(value) -> float:
    try:
        r = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"rate must be a number of requests per second, got {value!r}") from None
    if not (math.isfinite(r) and r >= 0):
        raise ValueError(f"rate must be finite and >= 0 (req/s), got {value!r}")
    return r


class Replica:
    """A replica serving at most ``max_batch`` requests at once, with ``max_queue`` more waiting.

    ``max_queue`` ``None`` or ``math.inf`` means an unbounded FCFS queue.

    >>> import inferplan
    >>> r = inferplan.Replica(inferplan.DecodeOnly(alpha=19, beta=1, out_tokens=1024),
    ...                       max_batch=48, max_queue=152)
    >>> m = r.analyze(35.2003 / 60)
    >>> round(m.itl_ms, 3), round(m.wait_ms, 1)
    (50.0, 332.9)
    """

    __slots__ = ("_handle", "_kernel", "max_batch", "max_queue", "model")

    def __init__(self, model: ServiceModel, max_batch: int | None = None, max_queue=None):
        if not isinstance(model, (DecodeOnly, PrefillDecode, ServiceTimes)):
            raise TypeError(
                "model must be DecodeOnly, PrefillDecode or ServiceTimes, "
                f"got {type(model).__name__}"
            )
        tau = None
        if model.kind == KIND_VECTOR:
            tau = model.tau_ms
            if max_batch is None:
                max_batch = tau.size
            elif _max_batch(max_batch) != tau.size:
                raise ValueError(
                    f"max_batch ({max_batch}) must equal len(tau_ms) ({tau.size}) for ServiceTimes"
                )
        elif max_batch is None:
            raise ValueError("max_batch is required for DecodeOnly and PrefillDecode")
        self.model = model
        self.max_batch = _max_batch(max_batch)
        self.max_queue = _max_queue(max_queue)
        self._kernel = dispatch.active()
        self._handle = self._kernel.replica(model.params(), self.max_batch, self.max_queue, tau)
        if self._handle.status != 0:
            raise ValueError(status_message(self._handle.status))

    def __repr__(self) -> str:
        """Show the model, max_batch and max_queue (``None`` for an unbounded queue)."""
        q = "None" if math.isinf(self.max_queue) else int(self.max_queue)
        return f"Replica({self.model!r}, max_batch={self.max_batch}, max_queue={q})"

    @property
    def max_rate(self) -> float:
        """Saturation throughput mu(N) in req/s (the kernel's own value, as in Metrics)."""
        return self._kernel.analyze(self._handle, 0.0)[1][-1]

    def _raise(self, status: int, rate) -> None:
        if status == Status.UNSTABLE:
            raise ValueError(
                f"rate {rate!r} req/s is at or above the saturation rate "
                f"{self.max_rate:.6g} req/s of a replica with an unbounded queue: "
                "no steady state (lower the rate or set max_queue)"
            )
        raise ValueError(status_message(status))

    def analyze(
        self, rate: float, *, admission: str | None = None, arrival_cv: float = 1.0
    ) -> Metrics:
        """Steady-state metrics at an offered ``rate`` in requests per second.

        ``admission`` refines TTFT (and, for ``"iteration"``, the wait and response time)
        for how requests join the batch: None (default) is the chain's read-off of
        docs/model.md 2; ``"immediate"`` a request that finds a free slot starts at once (the
        chain's own assumption); ``"iteration"`` it joins at the next iteration boundary,
        as in a continuous-batching server. See :mod:`inferplan.admission`.

        ``arrival_cv`` is the coefficient of variation of the gaps between arrivals: 1
        (default) Poisson, the birth-death chain; below 1 more regular (0: constant rate),
        above 1 bursty, solved by :func:`inferplan.arrivals.analyze` (docs/model.md 6).
        """
        if arrival_cv != 1.0 or arrival_cv is True:
            return _arrivals().analyze(
                self, rate, arrival_cv=_validate.cv(arrival_cv), admission=admission
            )
        if admission is None:
            status, values = self._kernel.analyze(self._handle, _rate(rate))
        else:
            status, values = self._kernel.analyze_admitted(
                self._handle, _rate(rate), _admission_code(admission)
            )
        if status != 0:
            self._raise(status, rate)
        return Metrics._make(values)

    def size(
        self,
        *,
        itl_ms: float | None = None,
        ttft_ms: float | None = None,
        wait_ms: float | None = None,
        ttft_percentile: tuple[float, float] | None = None,
        wait_percentile: tuple[float, float] | None = None,
        max_block: float | None = None,
        tps: float | None = None,
        admission: str | None = None,
        arrival_cv: float = 1.0,
    ) -> SizeResult:
        """Return the largest offered rate (req/s) at which every given target holds.

        ``itl_ms``, ``ttft_ms``, ``wait_ms`` bound means; ``ttft_percentile`` and
        ``wait_percentile`` are pairs ``(q, ms)``: the q-quantile must be at most ms;
        ``max_block`` bounds the blocking probability. ``tps`` (tokens/s for the whole
        fleet) leaves 10% headroom: the replica runs at most at 0.9 x its cap. Without a
        binding target the rate is capped at 0.999 x ``max_rate``. An infeasible target
        (missed even by a near-idle replica) gives ``feasible == False`` and the reason.

        ``admission`` (see :meth:`analyze`) sizes the TTFT targets (and, for
        ``"iteration"``, the wait targets) against the refined values; the other targets
        are solved by the kernel first and cap the search.

        ``arrival_cv`` (see :meth:`analyze`): other than 1, the sizing of
        :func:`inferplan.arrivals.size` under that arrival process.

        >>> import inferplan
        >>> r = inferplan.Replica(inferplan.DecodeOnly(19, 1, 1024), max_batch=48,
        ...                       max_queue=152)
        >>> res = r.size(itl_ms=50)
        >>> round(res.rate * 60, 4), res.binding
        (35.2003, 'itl_ms')
        """
        if arrival_cv != 1.0 or arrival_cv is True:
            return _arrivals().size(
                self, arrival_cv=_validate.cv(arrival_cv), itl_ms=itl_ms, ttft_ms=ttft_ms,
                wait_ms=wait_ms, ttft_percentile=ttft_percentile,
                wait_percentile=wait_percentile, max_block=max_block, tps=tps,
                admission=admission,
            )  # fmt: skip
        targets = target_tuple(
            itl_ms=itl_ms, ttft_ms=ttft_ms, wait_ms=wait_ms, ttft_percentile=ttft_percentile,
            wait_percentile=wait_percentile, max_block=max_block, tps=tps,
        )  # fmt: skip
        if admission is None:
            result = self._kernel.size(self._handle, targets)
        else:
            result = self._kernel.size_admitted(self._handle, targets, _admission_code(admission))
        return _size_result(*result)

    def wait_quantile(
        self, rate: float, q: float, *, admission: str | None = None, arrival_cv: float = 1.0
    ) -> float:
        """Return the q-quantile of the waiting time (ms) of an accepted request at ``rate``.

        Exact for FCFS (a mixture of Erlang laws, see docs/background.md). With
        ``admission="iteration"`` it is shifted by the mean admission delay. ``arrival_cv``
        other than 1: :func:`inferplan.arrivals.wait_quantile` (docs/model.md 6).
        """
        if arrival_cv != 1.0 or arrival_cv is True:
            return _arrivals().wait_quantile(
                self, rate, q, arrival_cv=_validate.cv(arrival_cv), admission=admission
            )
        return self._quantiles(rate, q, admission)[0]

    def ttft_quantile(
        self, rate: float, q: float, *, admission: str | None = None, arrival_cv: float = 1.0
    ) -> float:
        """Return the q-quantile of TTFT (ms): the wait quantile plus the prefill time and one ITL.

        Both are taken at the mean batch (the service part at its mean; with ``admission``, at the
        refined mean of :meth:`analyze`). ``arrival_cv`` other than 1:
        :func:`inferplan.arrivals.ttft_quantile` (docs/model.md 6).
        """
        if arrival_cv != 1.0 or arrival_cv is True:
            return _arrivals().ttft_quantile(
                self, rate, q, arrival_cv=_validate.cv(arrival_cv), admission=admission
            )
        return self._quantiles(rate, q, admission)[1]

    def _quantiles(self, rate, q, admission=None) -> tuple[float, float]:
        rate = _rate(rate)
        try:
            qf = float(q)
        except (TypeError, ValueError):
            raise ValueError(f"q must be a number in (0, 1), got {q!r}") from None
        if not 0 < qf < 1:
            raise ValueError(f"q must be in (0, 1), got {q!r}")
        status, wait, ttft = self._kernel.quantiles(self._handle, rate, qf)
        if status != 0:
            self._raise(status, rate)
        if _admission.check_admission(admission) is not None:
            chain = self.analyze(rate)
            adj = self.analyze(rate, admission=admission)
            wait += adj.wait_ms - chain.wait_ms
            ttft += adj.ttft_ms - chain.ttft_ms
        return wait, ttft


def _arrivals():
    """Return inferplan.arrivals, which imports this module (so not at import time)."""
    from . import arrivals

    return arrivals


def _admission_code(admission) -> int:
    """Return the kernel's code of an admission rule; raise a ValueError naming a bad value."""
    return _admission.CODES[_admission.check_admission(admission)]


def _size_result(status, rate, binding, iterations, values) -> SizeResult:
    status = Status(int(status))
    ok = status == Status.OK
    return SizeResult(
        rate=float(rate) if ok else 0.0,
        status=status,
        binding=BINDING_NAMES[int(binding)],
        iterations=int(iterations),
        metrics=Metrics._make(values) if ok else None,
    )


def optimal_concurrency(
    model: ServiceModel,
    max_batch: int,
    max_queue=None,
    *,
    tolerance: float = 0.05,
    **targets,
) -> ConcurrencyResult:
    """Find the smallest max batch whose sized throughput is within ``tolerance`` of the best.

    The max batch ranges over ``1..max_batch``; each throughput is sized under the targets of
    :meth:`Replica.size`.

    >>> import inferplan
    >>> res = inferplan.optimal_concurrency(inferplan.DecodeOnly(19, 1, 1024), 256,
    ...                                     itl_ms=50, tolerance=0.05)
    >>> res.max_batch <= 256 and res.size.feasible
    True
    """
    try:
        tol = float(tolerance)
    except (TypeError, ValueError):
        raise ValueError(f"tolerance must be a number in [0, 1), got {tolerance!r}") from None
    if not 0 <= tol < 1:
        raise ValueError(f"tolerance must be in [0, 1), got {tolerance!r}")
    replica = Replica(model, max_batch=max_batch, max_queue=max_queue)
    status, n, peak, rate, binding, iterations, values = replica._kernel.optimal_concurrency(
        replica._handle, target_tuple(**targets), tol
    )
    return ConcurrencyResult(
        max_batch=int(n), peak_throughput=float(peak),
        size=_size_result(status, rate, binding, iterations, values),
    )  # fmt: skip


__all__ = ["Metrics", "Replica", "backend", "optimal_concurrency"]

__dir__ = _lazy.public_dir(__name__)

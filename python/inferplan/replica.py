"""One replica of a model server: a batching queue analysed as a birth-death chain."""

from __future__ import annotations

import math
import operator
from typing import NamedTuple

import numpy as np

from . import admission as _admission
from ._kernels import dispatch
from ._metrics import KIND_VECTOR
from ._status import Status, status_message
from .models import DecodeOnly, PrefillDecode, ServiceModel, ServiceTimes
from .sizing import BINDING_NAMES, ConcurrencyResult, SizeResult, close_bracket, target_tuple


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
    """A replica serving at most ``max_batch`` requests at once, with ``max_queue`` more
    waiting (``None`` or ``math.inf``: an unbounded FCFS queue).

    >>> import inferplan
    >>> r = inferplan.Replica(inferplan.DecodeOnly(alpha=19, beta=1, out_tokens=1024),
    ...                       max_batch=48, max_queue=152)
    >>> m = r.analyze(35.2003 / 60)
    >>> round(m.itl_ms, 3), round(m.wait_ms, 1)
    (50.0, 332.9)
    """

    __slots__ = ("model", "max_batch", "max_queue", "_handle", "_kernel")

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

    def analyze(self, rate: float, *, admission: str | None = None) -> Metrics:
        """Steady-state metrics at an offered ``rate`` in requests per second.

        ``admission`` refines TTFT (and, for ``"iteration"``, the wait and response time)
        for how requests join the batch: None (default) is the chain's read-off of
        docs/model.md 2; ``"immediate"`` a request that finds a free slot starts at once (the
        chain's own assumption); ``"iteration"`` it joins at the next iteration boundary,
        as in a continuous-batching server. See :mod:`inferplan.admission`.
        """
        admission = _admission.check_admission(admission)
        native = getattr(self._kernel, "analyze_admitted", None)
        if admission is not None and native is not None:
            status, values = native(self._handle, _rate(rate), _admission.CODES[admission])
            if status != 0:
                self._raise(status, rate)
            return Metrics._make(values)
        status, values = self._kernel.analyze(self._handle, _rate(rate))
        if status != 0:
            self._raise(status, rate)
        return self._admitted(Metrics._make(values), admission)

    def _admitted(self, m: Metrics, admission) -> Metrics:
        """The NumPy form of the admission rule (backends without a native one)."""
        if admission is None:
            return m
        p = self.model.params()
        tau = self.model.tau_ms if p[0] == KIND_VECTOR else None
        ttft, wait, resp = _admission.adjust(
            admission, *p, self.max_batch, self.max_queue, m, tau=tau
        )
        return m._replace(ttft_ms=float(ttft), wait_ms=float(wait), response_ms=float(resp))

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
    ) -> SizeResult:
        """The largest offered rate (req/s) at which every given target holds.

        ``itl_ms``, ``ttft_ms``, ``wait_ms`` bound means; ``ttft_percentile`` and
        ``wait_percentile`` are pairs ``(q, ms)``: the q-quantile must be at most ms;
        ``max_block`` bounds the blocking probability. ``tps`` (tokens/s for the whole
        fleet) leaves 10% headroom: the replica runs at most at 0.9 x its cap. Without a
        binding target the rate is capped at 0.999 x ``max_rate``. An infeasible target
        (missed even by a near-idle replica) gives ``feasible == False`` and the reason.

        ``admission`` (see :meth:`analyze`) sizes the TTFT targets (and, for
        ``"iteration"``, the wait targets) against the refined values; the other targets
        are solved by the kernel first and cap the search.

        >>> import inferplan
        >>> r = inferplan.Replica(inferplan.DecodeOnly(19, 1, 1024), max_batch=48,
        ...                       max_queue=152)
        >>> res = r.size(itl_ms=50)
        >>> round(res.rate * 60, 4), res.binding
        (35.2003, 'itl_ms')
        """
        targets = target_tuple(
            itl_ms=itl_ms, ttft_ms=ttft_ms, wait_ms=wait_ms, ttft_percentile=ttft_percentile,
            wait_percentile=wait_percentile, max_block=max_block, tps=tps,
        )  # fmt: skip
        admission = _admission.check_admission(admission)
        if admission == "immediate" and not isinstance(self.model, PrefillDecode):
            admission = None  # without prefills, immediate admission is the chain's read-off
        refined = _refined_targets(targets, admission)
        native = getattr(self._kernel, "size_admitted", None)
        if refined and native is not None:
            status, rate, binding, iterations, values = native(
                self._handle, targets, _admission.CODES[admission]
            )
            return _size_result(status, rate, binding, iterations, values)
        if refined:
            return self._size_admitted(targets, refined, admission)
        status, rate, binding, iterations, values = self._kernel.size(self._handle, targets)
        return _size_result(status, rate, binding, iterations, values)

    def _size_admitted(self, targets, refined, admission) -> SizeResult:
        """Kernel sizing for the targets the admission rule leaves alone, then a bracketed
        root search (Illinois) below that rate for the refined ones: the Python form of
        admission.hpp's size_admitted, for backends without it."""
        tiny = [i for i in refined if targets[i + (1 if i in (3, 5) else 0)] < _MIN_NORMAL]
        if tiny:  # below the smallest normal double: infeasible (see sizing.hpp)
            return SizeResult(0.0, _INFEASIBLE[tiny[0]], BINDING_NAMES[_BINDING[tiny[0]]], 0,
                              None)  # fmt: skip
        others = list(targets)
        for i in refined:
            others[i] = 0.0
            if i in (3, 5):
                others[i + 1] = 0.0  # the percentile's ms goes with its quantile
        status, cap, binding, iterations, values = self._kernel.size(self._handle, tuple(others))
        if status != 0:
            return _size_result(status, cap, binding, iterations, values)
        ttft_q, wait_q = targets[3], targets[5]

        def excess(rate, first=False):
            # first: the first failing target in the reporting order (docs/model.md 3)
            m = self.analyze(rate, admission=admission)
            worst, which = -np.inf, None
            for i in refined:
                if i == 1:
                    v = m.ttft_ms / targets[1]
                elif i == 2:
                    v = m.wait_ms / targets[2]
                elif i == 3:
                    v = self._quantile_at(rate, ttft_q, admission, m, 1) / targets[4]
                else:
                    v = self._quantile_at(rate, wait_q, admission, m, 0) / targets[6]
                e = v - 1.0
                if (first and ((e >= 0.0 and not worst >= 0.0) or (worst < 0.0 and e > worst))
                        or not first and e > worst):  # fmt: skip
                    worst, which = e, i
            return worst, which, m

        f_hi, which, m_hi = excess(cap)
        evaluations = 1
        if f_hi <= 0.0:
            if isinstance(self.model, PrefillDecode):
                rate, which, m, extra = self._first_crossing(cap, None, m_hi, excess)
                evaluations += extra
                if rate != cap:
                    ok = rate > 0.0
                    return SizeResult(rate, Status.OK if ok else _INFEASIBLE[which],
                                      BINDING_NAMES[_BINDING[which]],
                                      int(iterations) + evaluations, m if ok else None)  # fmt: skip
            return SizeResult(cap, Status.OK, BINDING_NAMES[int(binding)],
                              int(iterations) + evaluations, m_hi)  # fmt: skip
        f_lo, which_lo, _ = excess(0.0, first=True)
        evaluations += 1
        if f_lo >= 0.0:
            return SizeResult(0.0, _INFEASIBLE[which_lo], BINDING_NAMES[_BINDING[which_lo]],
                              int(iterations) + evaluations, None)  # fmt: skip
        # Illinois while it converges; bisection after 100 steps, which always closes.
        lo, m, which, steps = close_bracket(
            excess, 0.0, f_lo, None, cap, f_hi, which,
            rel_tol=1e-13, max_evaluations=10**6, bisect_after=100,
        )  # fmt: skip
        evaluations += steps
        if isinstance(self.model, PrefillDecode) and lo > 0.0:
            lo, which, m, extra = self._first_crossing(lo, which, m, excess)
            evaluations += extra
        if not lo > 0.0:  # no positive rate meets the refined target
            return SizeResult(0.0, _INFEASIBLE[which], BINDING_NAMES[_BINDING[which]],
                              int(iterations) + evaluations, None)  # fmt: skip
        if m is None:
            m = self.analyze(lo, admission=admission)
        return SizeResult(lo, Status.OK, BINDING_NAMES[_BINDING[which]],
                          int(iterations) + evaluations, m)  # fmt: skip

    def _first_crossing(self, root, which, m_root, excess):
        """PrefillDecode's read-off jumps where round(B) reaches a batch split into more
        prefill chunks, and an admitted TTFT may drop there: the answer is the first
        crossing below ``root``. Checks each piece of constant chunk count just left of
        its end (B = b + 1/2, bisected to 1e-12) and, where a target fails there, bisects
        between the previous piece's end and that point (docs/model.md 3.1). Returns
        (rate, binding slot, metrics, evaluations)."""
        from ._kernels.reference import round_half_away, service_times

        chunks = service_times(*self.model.params(), self.max_batch)[1]
        B_root = self.analyze(root).in_service
        top = min(max(round_half_away(B_root), 1), self.max_batch)
        safe, evaluations = 0.0, 0
        for b in range(1, top):
            if chunks[b] == chunks[b - 1]:
                continue
            level = b + 0.5
            lo, hi = safe, root  # B(lo) < level <= B(hi)
            while hi - lo > 1e-12 * hi:
                mid = 0.5 * (lo + hi)
                evaluations += 1
                lo, hi = (mid, hi) if self.analyze(mid).in_service < level else (lo, mid)
            e_left, which_left, m_left = excess(lo)
            evaluations += 1
            if e_left > 0.0:  # the first crossing lies in (safe, lo]
                a, b_hi, m_a, which = safe, lo, None, which_left
                while b_hi - a > 1e-13 * b_hi:
                    mid = 0.5 * (a + b_hi)
                    e, which_mid, m_mid = excess(mid)
                    evaluations += 1
                    if e > 0.0:
                        b_hi, which = mid, which_mid
                    else:
                        a, m_a = mid, m_mid
                return a, which, m_a, evaluations
            safe = lo
        return root, which, m_root, evaluations

    def _quantile_at(self, rate, q, admission, m, which) -> float:
        """The admitted wait (which=0) or TTFT (1) quantile at rate, m = the admitted
        metrics there; at rate 0 nobody waits, so the wait's quantile is 0 there."""
        if rate > 0.0:
            return self._quantiles(rate, q, admission)[which]
        chain = self.analyze(0.0)
        if which == 0:
            return m.wait_ms - chain.wait_ms
        return chain.prefill_ms + chain.itl_ms + m.ttft_ms - chain.ttft_ms

    def wait_quantile(self, rate: float, q: float, *, admission: str | None = None) -> float:
        """The q-quantile of the waiting time (ms) of an accepted request at ``rate``:
        exact for FCFS (a mixture of Erlang laws, see docs/background.md). With
        ``admission="iteration"`` it is shifted by the mean admission delay."""
        return self._quantiles(rate, q, admission)[0]

    def ttft_quantile(self, rate: float, q: float, *, admission: str | None = None) -> float:
        """The q-quantile of TTFT (ms): the wait quantile plus the prefill time and one
        ITL at the mean batch (the service part is taken at its mean; with ``admission``,
        at the refined mean of :meth:`analyze`)."""
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


# Target slots (sizing.TARGET_FIELDS) an admission rule changes, and what they map to.
_INFEASIBLE = {
    1: Status.INFEASIBLE_TTFT,
    2: Status.INFEASIBLE_WAIT,
    3: Status.INFEASIBLE_TTFT_PERCENTILE,
    5: Status.INFEASIBLE_WAIT_PERCENTILE,
}
_BINDING = {1: 2, 2: 3, 3: 4, 5: 5}  # index into BINDING_NAMES
_MIN_NORMAL = 2.2250738585072014e-308


def _refined_targets(targets, admission) -> list[int]:
    """The set target slots whose metric the admission rule changes."""
    if admission is None:
        return []
    slots = (1, 3) if admission == "immediate" else (1, 2, 3, 5)
    return [i for i in slots if targets[i] > 0.0]


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
    """The smallest max batch in ``1..max_batch`` whose sized throughput (under the
    targets of :meth:`Replica.size`) is within ``tolerance`` of the best one.

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

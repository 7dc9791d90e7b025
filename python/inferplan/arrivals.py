"""Replica analysis and sizing under arrivals that are not Poisson (docs/model.md 6).

``arrival_cv`` is the coefficient of variation of the gaps between arrivals (the CV, not
its square), with the same meaning as in :func:`inferplan.simulate`: 1 is Poisson, below 1
more regular (0: constant rate, as a GuideLLM sweep sends), above 1 bursty. The gaps are
represented by a phase-type renewal process (an Erlang mixture below 1, a two-phase
hyperexponential matching the Gamma law's third moment above), and the replica is solved
exactly as a level-dependent quasi-birth-death chain (:mod:`inferplan.phasetype`): the
same metrics as :meth:`inferplan.Replica.analyze`, read off in the same way, but with
blocking, the wait law and the admission rule taken from what an ARRIVAL sees, which is
not the time average when arrivals are not Poisson.

With ``arrival_cv == 1`` (and no ``lengths``) every call returns exactly what the
:class:`~inferplan.Replica` method of the same name returns, bit for bit.

On the C++ backend the calls run in the kernel (``qbd.hpp``, with the GIL released); with
``lengths`` the service vector is built here and the solve is the kernel's. The other
backends use the NumPy implementation below (the reference, :mod:`inferplan.phasetype`).

>>> import inferplan
>>> from inferplan import arrivals
>>> r = inferplan.Replica(inferplan.DecodeOnly(19, 1, 256), max_batch=48)
>>> poisson = arrivals.analyze(r, 2.0)
>>> poisson == r.analyze(2.0)
True
>>> bursty = arrivals.analyze(r, 2.0, arrival_cv=2.0)
>>> bursty.wait_ms > poisson.wait_ms and bursty.itl_ms > poisson.itl_ms
True
>>> arrivals.size(r, itl_ms=40, arrival_cv=2.0).rate < r.size(itl_ms=40).rate
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import _lazy, phasetype
from . import admission as _admission
from ._kernels import reference as _ref
from ._metrics import KIND_PREFILL_DECODE, KIND_VECTOR
from ._status import Status, StatusError
from .replica import Metrics, Replica, _rate, _size_result
from .sizing import (
    BINDING_NAMES,
    SATURATION_CAP,
    TPS_CAP,
    SizeResult,
    close_bracket,
    target_tuple,
)


@dataclass(frozen=True)
class Service:
    """What the chain needs from a service model.

    ``tau_ms[b-1]`` (time in service at batch ``b``), the read-off
    ``read_off(B, service_ms) -> (prefill_ms, itl_ms)`` at the mean batch, and the kernel
    parameter row the admission rule uses.
    """

    tau_ms: np.ndarray
    read_off: Callable[[float, float], tuple[float, float]]
    params: tuple
    service_scv: float = 1.0
    """Squared CV of a request's time in service that the wait correction uses (1: the
    chain's memoryless service, no correction); see :mod:`inferplan.lengths`."""


def model_service(model, max_batch: int) -> Service:
    """Return the :class:`Service` of a DecodeOnly, PrefillDecode or ServiceTimes model.

    Its read-off is that of docs/model.md 2 (the reference kernel's parts, not a copy of
    them).
    """
    params = model.params()
    kind, alpha, beta, gamma, L, m, M = params
    if kind == KIND_VECTOR:
        tau = np.asarray(model.tau_ms, dtype=float)
        return Service(tau, lambda B, service: (0.0, service / m), params)
    tau, chunks = _ref.service_times(kind, alpha, beta, gamma, L, m, M, max_batch)
    if kind != KIND_PREFILL_DECODE:
        return Service(tau, lambda B, service: (0.0, service / m), params)
    w_pre, delta = _ref.prefill_decode_parts(alpha, beta, gamma, L, m, M)

    def read_off(B, service):
        b = min(max(_ref.round_half_away(B), 1), max_batch)
        c = chunks[b - 1]
        prefill = c * max(0.0, alpha + (B - 1.0) * delta(c)) + w_pre(c)
        return prefill, (service - prefill) / m

    return Service(tau, read_off, params)


def _cv(arrival_cv) -> float:
    try:
        if isinstance(arrival_cv, (bool, str, bytes)):  # True is not a CV of 1, nor "2" of 2
            raise TypeError
        cv = float(arrival_cv)
    except (TypeError, ValueError):
        raise ValueError(f"arrival_cv must be a number >= 0, got {arrival_cv!r}") from None
    if not (math.isfinite(cv) and 0.0 <= cv <= 100.0):
        raise ValueError(f"arrival_cv must be finite and in [0, 100], got {arrival_cv!r}")
    return cv


def _poisson_path(arrival_cv, lengths) -> bool:
    return arrival_cv == 1.0 and lengths is None


def _service(replica: Replica, lengths) -> Service:
    if lengths is None:
        return model_service(replica.model, replica.max_batch)
    return lengths.service(replica.model, replica.max_batch)


class _Solved:
    """One QBD solve at one rate, with the metrics and what the quantiles need."""

    def __init__(self, replica: Replica, rate: float, cv: float, service: Service, fit: str):
        self.replica = replica
        self.rate = rate
        self.service = service
        N = replica.max_batch
        tau = service.tau_ms
        self.mu = np.arange(1, N + 1) / tau  # per ms
        self.mu_N = float(self.mu[-1])
        lam = rate / 1000.0
        if lam == 0.0:
            self.sol = None
            prefill, itl = service.read_off(0.0, float(tau[0]))
            self.metrics = Metrics._make(map(float, (
                rate, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, tau[0], tau[0], 0.0,
                itl, prefill + itl, prefill, 0.0, self.mu_N * 1000.0,
            )))  # fmt: skip
            self.arrival_idle, self.arrival_full = 1.0, 0.0
            self.wait_scale = 1.0
            return
        ph = phasetype.renewal(cv, third=fit)
        self.ph = ph
        self.cv, self.fit = cv, fit
        sol = _qbd_solve(replica, self.mu, lam, ph, cv, fit)
        if sol is None:
            raise StatusError(
                Status.UNSTABLE,
                f"rate {rate!r} req/s is at or above the saturation rate "
                f"{self.mu_N * 1000:.6g} req/s of a replica with an unbounded queue: "
                "no steady state (lower the rate or set max_queue)",
            )
        self.sol = sol
        L, B, Lq = sol.moments()
        # The wait correction for service-time variability (inferplan.lengths): the queue
        # part scales by (ca2 + cs2) / (ca2 + 1), 1 for the chain's memoryless service.
        ca2 = ph.scv
        self.wait_scale = (ca2 + service.service_scv) / (ca2 + 1.0)
        Lq *= self.wait_scale
        L = B + Lq
        p_block = sol.p_block
        X = lam * (1.0 - p_block)
        service_ms, wait = B / X, Lq / X
        prefill, itl = service.read_off(B, service_ms)
        self.metrics = Metrics._make(map(float, (
            rate, sol.p[0], p_block, X * 1000.0, L, B, Lq, L / X, service_ms, wait,
            itl, wait + prefill + itl, prefill, B / N, self.mu_N * 1000.0,
        )))  # fmt: skip
        self.arrival_idle = float(sol.pa[0])
        if math.isinf(replica.max_queue):
            self.arrival_full = float(sol.pa[N] / (1.0 - sol.sigma))
        else:
            self.arrival_full = float(sol.pa[N:].sum())

    def admitted(self, admission) -> Metrics:
        m = self.metrics
        if admission is None:
            return m
        p = self.service.params
        tau = self.service.tau_ms if p[0] == KIND_VECTOR else None
        seen = m
        if p[0] == KIND_PREFILL_DECODE and self.sol is not None and self.ph.phases > 1:
            # The prefills an arrival meets (admission.py) are those of the requests that
            # arrived within its own first c + 1 steps around it: Little's X d for Poisson,
            # the renewal function m(d) seen from an arrival for other gaps (clusters).
            d = m.prefill_ms + m.itl_ms
            lam = self.rate / 1000.0
            if d > 0 and self.fit == "gamma":  # the Gamma process's own renewal function
                counts = _gamma_counts(self.cv, lam, d)
                cluster = float(counts @ np.arange(counts.size)) / (lam * d)
            elif d > 0:
                cluster = phasetype.renewal_count(self.ph, lam, d) / (lam * d)
            else:
                cluster = 1.0
            seen = m._replace(throughput=m.throughput * cluster)
        ttft, wait, resp = _admission.adjust(
            admission, *p, self.replica.max_batch, self.replica.max_queue, seen, tau=tau,
            arrival_idle=self.arrival_idle, arrival_full=self.arrival_full,
        )  # fmt: skip
        return m._replace(ttft_ms=float(ttft), wait_ms=float(wait), response_ms=float(resp))

    def quantiles(self, q: float, admission) -> tuple[float, float]:
        if self.sol is None:
            wait = 0.0
        else:
            wait = self.wait_scale * phasetype.wait_quantile(self.sol, self.mu_N, q)
        m = self.admitted(admission)
        return wait + (m.wait_ms - self.metrics.wait_ms), wait + (m.ttft_ms - m.wait_ms)

    def collisions(self, admission):
        """Return the law of the extra first-token time from prefills sharing iterations.

        The extra time an arrival's prefill suffers from the other prefills that share its
        iterations (PrefillDecode, ``admission="immediate"``): a lattice
        ``(values_ms, probabilities)``. Its mean is the admission rule's mean charge
        for those prefills (admission.py); ``(0, 1)`` where there is none.

        An arrival's prefill takes ``c`` steps and its first token one more. Another
        request whose prefill starts ``u`` steps after it (``-c < u < c + 1``) shares
        ``h(u)`` of its chunks with those steps: ``c + u`` before (a ramp over the ``c``
        prefill steps before the arrival), ``c`` for ``0 < u < 1``, then ``c + 1 - u``
        (prefill steps, then the first decode step, of ``itl`` ms). The chunks cost
        ``w_pre / c`` each. Arrivals before and after the arrival are counted separately
        (for a renewal process seen from an arrival, the past and future gaps are
        independent), each from the gap law itself: the Gamma renewal process of
        :func:`inferplan.simulate` (``fit="gamma"``: ``P(N(d) >= k) = P(k a, d / theta)``;
        bursty arrivals come in clusters, and the Gamma law of CV > 1 has far more
        near-simultaneous arrivals than its three-moment H2), or the fitted phase-type
        law (``fit="balanced"``). Each arrival's share ``h`` is drawn from ``h(u)``
        weighted by time, as for Poisson arrivals.

        The law's cost is estimated first (:func:`_collision_work`, the kernel's rule);
        beyond :data:`MAX_WORK` it raises ValueError (``BAD_ARRIVAL_COLLISIONS``'s
        message), as the kernel returns that status.
        """
        none = (np.zeros(1), np.ones(1))
        self.collision_work = 0.0
        p = self.service.params
        if admission != "immediate" or p[0] != KIND_PREFILL_DECODE or self.sol is None:
            return none
        _, _alpha, beta, gamma, L, m_out, M = p
        m = self.admitted(None)
        N = self.replica.max_batch
        c = float(_admission._chunks_at(m.in_service, N, max(L, 0.0), m_out, M))
        chunk = (beta + gamma * (c + 1.0) / 2.0) * L / c
        step_pre = m.prefill_ms / c
        itl = m.itl_ms
        if not (chunk > 0.0 and step_pre > 0.0):
            return none
        grid = 16  # lattice points per chunk
        lam = self.rate / 1000.0
        # jump sizes (in 1/grid chunk) and their time weights, before and after
        before = _uniform_jumps(0.0, c, grid, c * step_pre)
        after = _add(
            _add(_atom(c, grid, step_pre), _uniform_jumps(1.0, c, grid, (c - 1.0) * step_pre)),
            _uniform_jumps(0.0, 1.0, grid, itl),
        )
        sides = []
        for jumps, window in ((before, c * step_pre), (after, c * step_pre + itl)):
            if self.fit == "gamma":
                counts = _gamma_counts(self.cv, lam, window)
            else:
                counts = _counts(self.ph, lam, window)
            sides.append((counts, jumps / jumps.sum()))
        self.collision_work = _collision_work(*sides)
        if self.collision_work > MAX_WORK:
            raise StatusError(Status.BAD_ARRIVAL_COLLISIONS)
        law = None
        for counts, w in sides:
            total = np.zeros(1)
            power = np.ones(1)
            for k, pk in enumerate(counts):
                if k:
                    power = np.convolve(power, w)
                if pk > 0.0:
                    total = _add(total, pk * power)
            law = total if law is None else np.convolve(law, total)
        values = np.arange(law.size) * chunk / grid
        keep = law > 1e-15
        return values[keep], law[keep] / law.sum()

    def ttft_by_batch(self, q: float, admission) -> float:
        """Return the q-quantile of TTFT with the service part at the batch the arrival joins.

        An arrival that finds ``n < N`` requests starts at batch ``n + 1``, one that
        waits starts at batch ``N``; its first token comes after its prefill and one
        iteration there (the read-off at that batch, ``service_ms = tau(b)``). The
        collision law and the search over it are charged together against the kernel's
        work bound (:func:`_collision_search_work`): ValueError beyond it, as the kernel.
        """
        m = self.admitted(admission)
        extra, p_extra = self.collisions(admission)
        # the law and the quantile search over it, together within the kernel's work bound
        search = _collision_search_work(extra.size, self.replica.max_queue)
        if extra.size > 1 and self.collision_work + search > MAX_WORK:
            raise StatusError(Status.BAD_ARRIVAL_COLLISIONS)
        # the admission rule's mean change, less the mean of the collisions' law added below
        shift = m.ttft_ms - self.metrics.ttft_ms - float(extra @ p_extra)
        tau = self.service.tau_ms
        N = self.replica.max_batch

        def part(b):
            prefill, itl = self.service.read_off(float(b), float(tau[b - 1]))
            return prefill + itl

        if self.sol is None:
            return part(1) + m.ttft_ms - self.metrics.ttft_ms
        pa = self.sol.pa
        accepted = 1.0 - self.sol.p_block
        s = np.array([part(n + 1) for n in range(N)])  # joins at batch n + 1
        w = pa[:N] / accepted
        s_full = part(N)
        p_wait = phasetype.wait_ccdf(self.sol, self.mu_N, 0.0)
        scale = self.wait_scale

        order = np.argsort(s)
        s_sorted, w_cum = s[order], np.cumsum(w[order])

        def cdf_one(x):
            y = x - s_full
            queued = 0.0 if y < 0 else p_wait - phasetype.wait_ccdf(self.sol, self.mu_N, y / scale)
            k = int(np.searchsorted(s_sorted, x, side="right"))
            return (float(w_cum[k - 1]) if k else 0.0) + queued

        def cdf(x):  # the collisions' extra time, independent of the rest
            return sum(pe * cdf_one(x - e) for e, pe in zip(extra, p_extra, strict=True))

        lo, hi = 0.0, max(s.max(), s_full) + float(extra[-1]) + 1.0
        while cdf(hi) < q:
            lo, hi = hi, 2.0 * hi
        while hi - lo > 1e-10 * hi:
            mid = 0.5 * (lo + hi)
            if cdf(mid) < q:
                lo = mid
            else:
                hi = mid
        return hi + shift


def _native(replica):
    """Return the compiled kernel (inferplan._core) when ``replica`` runs on it, else None.

    The other backends keep this module's NumPy implementation (the reference).
    """
    kernel = replica._kernel
    if getattr(kernel, "NAME", None) != "cpp":
        return None
    from . import _core

    return _core


def _fit(fit) -> str:
    if fit not in _FITS:
        raise ValueError(f"fit must be 'gamma' or 'balanced', got {fit!r}")
    return fit


_FITS = {"gamma": 0, "balanced": 1}
"""The kernel's code for each fit of ``arrival_cv > 1`` (phasetype.hpp's RenewalFit)."""


def _qbd_solve(replica, mu, lam, ph, cv, fit):
    """Solve as :func:`phasetype.solve` (None when unstable).

    The solve runs in the C++ kernel when the replica runs on it.
    """
    core = _native(replica)
    if core is None:
        return phasetype.solve(mu, replica.max_queue, lam, ph)
    status, p, pa, sigma, tail_p = core.qbd_solve(mu, replica.max_queue, lam, cv, _FITS[fit])
    if status == Status.UNSTABLE:
        return None
    if status != 0:
        _raise(status, replica, lam * 1000.0)
    return phasetype.QBDSolution(p, pa, sigma, tail_p, replica.max_batch, replica.max_queue)


def _raise(status, replica, rate):
    """Raise a kernel status as a StatusError (a ValueError), worded as the NumPy path words it."""
    if status == Status.UNSTABLE:
        raise StatusError(
            status,
            f"rate {rate!r} req/s is at or above the saturation rate "
            f"{replica.max_rate:.6g} req/s of a replica with an unbounded queue: "
            "no steady state (lower the rate or set max_queue)",
        )
    if status == Status.BAD_ARRIVAL_LEVELS:
        if math.isinf(replica.max_queue):
            size = f"max_batch = {replica.max_batch}"
            fix = "a smaller max_batch or a larger arrival_cv (fewer phases)"
        else:
            size = f"max_batch + max_queue = {replica.max_batch + int(replica.max_queue)}"
            fix = "max_queue=None (unbounded) or a shorter queue"
        raise StatusError(
            status,
            f"{size} is too large for the exact solve under non-Poisson arrivals (at most "
            f"{phasetype.MAX_LEVELS} levels, and levels x phases within the kernel's work "
            f"bound); use {fix}",
        )
    raise StatusError(status)


MAX_WORK = 4e8
"""The kernel's work bound (sizing.hpp's kMaxWork) on the prefill-collision law."""
COLLISION_DIRECT_WORK = 2e7
"""Multiply-adds above which the kernel sums the collision law by FFT (qbd.hpp)."""


def _collision_work(*sides) -> float:
    """Estimate the kernel's work for the collision law of ``(counts, jumps)`` per side.

    The repeated convolutions' multiply-adds, ``sum K^2 (l - 1) l / 2`` over the two sides
    (``K`` count terms, ``l`` lattice jumps), up to ``COLLISION_DIRECT_WORK``; above it the
    FFT's, ``2 n (K0 + K1 + 2 log2 n)`` for a transform of ``n`` points (the law's length
    rounded up to a power of two), as qbd.hpp's collision_fft_work. Beyond ``MAX_WORK``
    both backends refuse the law (``Status.BAD_ARRIVAL_COLLISIONS``).
    """
    direct = sum(0.5 * k.size * k.size * (w.size - 1.0) * w.size for k, w in sides)
    if direct <= COLLISION_DIRECT_WORK:
        return direct
    length = 1.0 + sum((k.size - 1.0) * (w.size - 1.0) for k, w in sides)
    n = 1.0
    while n < length:
        n *= 2.0
    return 2.0 * n * (sum(k.size for k, _ in sides) + 2.0 * math.log2(n))


def _collision_search_work(points: int, max_queue: float) -> float:
    """Estimate the work of the by-batch quantile search over a collision law.

    About 40 evaluations of the mixture CDF, each one wait-law evaluation per lattice
    value of the law (``points``), of about 10 units (closed form, unbounded queue) or 10
    per queue slot (a finite queue's Erlang mixture), as qbd.hpp's collision_search_work.
    """
    per_eval = 10.0 if math.isinf(max_queue) else 10.0 * max(1.0, float(max_queue))
    return 40.0 * points * per_eval


def _atom(x: float, grid: int, weight: float) -> np.ndarray:
    """Return a lattice pmf (1/grid steps) with ``weight`` at ``x``."""
    out = np.zeros(round(x * grid) + 1)
    out[-1] = weight
    return out


def _uniform_jumps(a: float, b: float, grid: int, weight: float) -> np.ndarray:
    """Spread ``weight`` evenly over the lattice cells of (a, b).

    Each cell's weight sits at its midpoint rounded to the lattice (a lattice pmf in
    1/grid steps).
    """
    if b <= a or weight <= 0.0:
        return np.zeros(1)
    n = max(1, round((b - a) * grid))
    mids = a + (np.arange(n) + 0.5) * (b - a) / n
    idx = np.rint(mids * grid).astype(int)
    out = np.zeros(int(idx.max()) + 1)
    np.add.at(out, idx, weight / n)
    return out


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sum of two lattice vectors of any lengths."""
    if a.size < b.size:
        a, b = b, a
    out = a.copy()
    out[: b.size] += b
    return out


def _gamma_p(a: float, x: float) -> float:
    """Return the regularized lower incomplete gamma function P(a, x).

    A series below a + 1, a continued fraction above, both to double precision.
    """
    if x <= 0.0:
        return 0.0
    log_front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        n = a
        for _ in range(100000):
            n += 1.0
            term *= x / n
            total += term
            if abs(term) < abs(total) * 1e-16:
                break
        return min(1.0, total * math.exp(log_front))
    # Lentz's continued fraction for Q(a, x)
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 100000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return max(0.0, 1.0 - math.exp(log_front) * h)


def _gamma_counts(cv: float, lam: float, d: float, tail: float = 1e-9) -> np.ndarray:
    """Return P(k arrivals in a window of length ``d`` that starts at an arrival), k = 0, 1, ....

    For the Gamma renewal process of gap CV ``cv`` and rate ``lam`` (the process of
    :func:`inferplan.simulate`): ``P(N >= k) = P(k a, lam a d)``, ``a = 1 / cv^2``; for
    ``cv`` 0 the gaps are all ``1 / lam``.
    """
    if cv == 0.0:
        out = np.zeros(math.floor(lam * d) + 1)
        out[-1] = 1.0
        return out
    a = 1.0 / (cv * cv)
    x = lam * a * d
    at_least = [1.0]
    k = 1
    while at_least[-1] > tail and k < 100000:
        at_least.append(_gamma_p(k * a, x))
        k += 1
    at_least.append(0.0)
    return np.clip(-np.diff(np.array(at_least)), 0.0, None)


def _counts(ph, lam: float, d: float, tail: float = 1e-9) -> np.ndarray:
    """Return P(k arrivals in a window of length ``d`` that starts at an arrival), k = 0, 1, ....

    For a renewal process of gaps ``ph`` at rate ``lam``. Exact (a truncated level chain of
    the gap phases, one matrix exponential) for two-phase gaps; Poisson with the renewal
    function's mean otherwise (exact for Poisson).
    """
    mean = phasetype.renewal_count(ph, lam, d)
    if ph.phases != 2:
        kmax = int(mean + 12.0 * math.sqrt(mean) + 12.0)
        if not mean > 0.0:
            return np.ones(1)
        k = np.arange(kmax + 1)
        lgam = np.array([math.lgamma(i + 1.0) for i in k])
        return np.exp(k * math.log(mean) - mean - lgam)
    S = lam * ph.S
    t = -S.sum(axis=1)
    kmax = max(16, int(4.0 * mean) + 16)
    while True:
        n = (kmax + 1) * 2
        Q = np.zeros((n, n))
        for k in range(kmax + 1):
            Q[2 * k : 2 * k + 2, 2 * k : 2 * k + 2] = S
            if k < kmax:
                Q[2 * k : 2 * k + 2, 2 * k + 2 : 2 * k + 4] = np.outer(t, ph.alpha)
        start = np.zeros(n)
        start[:2] = ph.alpha
        level = (start @ phasetype._expm(Q * d)).reshape(-1, 2).sum(axis=1)
        if level.sum() >= 1.0 - tail or kmax >= 1024:
            return np.clip(level, 0.0, None)
        kmax *= 2


def _solved(replica, rate, arrival_cv, lengths, fit) -> _Solved:
    replica = _replica(replica)
    return _Solved(replica, _rate(rate), _cv(arrival_cv), _service(replica, lengths), _fit(fit))


def _replica(replica) -> Replica:
    if not isinstance(replica, Replica):
        raise TypeError(f"replica must be an inferplan.Replica, got {type(replica).__name__}")
    return replica


def analyze(
    replica: Replica,
    rate: float,
    *,
    arrival_cv: float = 1.0,
    admission: str | None = None,
    lengths=None,
    fit: str = "gamma",
) -> Metrics:
    """Return the steady-state metrics of ``replica`` under renewal arrivals.

    The offered ``rate`` (req/s) is that of a renewal arrival process whose gaps have
    coefficient of variation ``arrival_cv``.

    ``admission`` as in :meth:`inferplan.Replica.analyze` (with the arrival's view of an
    idle or full replica). ``lengths`` (:class:`inferplan.lengths.Lengths`) gives prompt
    and output length distributions instead of the model's mean lengths. ``fit`` chooses
    the hyperexponential for ``arrival_cv > 1``: ``"gamma"`` (three moments of the Gamma
    renewal process of :func:`inferplan.simulate`) or ``"balanced"`` (balanced means).
    ``arrival_cv == 1`` without ``lengths`` is :meth:`Replica.analyze` itself.
    """
    admission = _admission.check_admission(admission)
    cv, fit = _cv(arrival_cv), _fit(fit)
    if _poisson_path(cv, lengths):
        return replica.analyze(rate, admission=admission)
    core = _native(_replica(replica)) if lengths is None else None
    if core is not None:
        rate = _rate(rate)
        status, values = core.analyze_arrivals(
            replica._handle, rate, cv, _admission.CODES[admission], _FITS[fit]
        )
        if status != 0:
            _raise(status, replica, rate)
        return Metrics._make(values)
    return _solved(replica, rate, cv, lengths, fit).admitted(admission)


def wait_quantile(
    replica: Replica, rate: float, q: float, *, arrival_cv: float = 1.0,
    admission: str | None = None, lengths=None, fit: str = "gamma",
) -> float:  # fmt: skip
    """Return the q-quantile of the wait (ms) of an accepted request.

    Exact for FCFS under the renewal process: an arrival that finds ``N + j`` requests
    (probability from the arrival-stationary law) waits for ``j + 1`` departures at rate
    ``mu(N)``.
    """
    return _quantiles(replica, rate, q, arrival_cv, admission, lengths, fit)[0]


def ttft_quantile(
    replica: Replica, rate: float, q: float, *, arrival_cv: float = 1.0,
    admission: str | None = None, lengths=None, fit: str = "gamma", by_batch: bool = False,
) -> float:  # fmt: skip
    """Return the q-quantile of TTFT (ms).

    The wait quantile plus the prefill and one ITL at the mean batch, as
    :meth:`inferplan.Replica.ttft_quantile` (and, at ``arrival_cv`` 1 without lengths,
    equal to it).

    ``by_batch=True`` takes the service part at the batch each arrival joins instead (from
    the arrival-stationary law: ``n + 1`` for an arrival that finds ``n < N``, ``N`` after a
    wait), a mixture whose upper quantiles at moderate load are set by how long the first
    iterations are in a fuller batch, which the mean leaves out (docs/traffic.md). Under
    ``admission="immediate"`` (PrefillDecode) it adds the law of the prefills that share
    the arrival's iterations; where that law is beyond the kernel's work bound (bursty
    arrivals with many prefill chunks, docs/model.md 6) it raises ValueError
    (``BAD_ARRIVAL_COLLISIONS``) in every backend.
    """
    if by_batch:
        try:
            qf = float(q)
        except (TypeError, ValueError):
            raise ValueError(f"q must be a number in (0, 1), got {q!r}") from None
        if not 0 < qf < 1:
            raise ValueError(f"q must be in (0, 1), got {q!r}")
        admission = _admission.check_admission(admission)
        core = _native(_replica(replica)) if lengths is None else None
        if core is not None:
            rate, cv, fit = _rate(rate), _cv(arrival_cv), _fit(fit)
            status, value = core.ttft_by_batch_arrivals(
                replica._handle, rate, qf, cv, _admission.CODES[admission], _FITS[fit]
            )
            if status != 0:
                _raise(status, replica, rate)
            return value
        return _solved(replica, rate, arrival_cv, lengths, fit).ttft_by_batch(qf, admission)
    return _quantiles(replica, rate, q, arrival_cv, admission, lengths, fit)[1]


def _quantiles(replica, rate, q, arrival_cv, admission, lengths, fit):
    try:
        qf = float(q)
    except (TypeError, ValueError):
        raise ValueError(f"q must be a number in (0, 1), got {q!r}") from None
    if not 0 < qf < 1:
        raise ValueError(f"q must be in (0, 1), got {q!r}")
    admission = _admission.check_admission(admission)
    cv, fit = _cv(arrival_cv), _fit(fit)
    if _poisson_path(cv, lengths):
        return replica._quantiles(rate, qf, admission)
    core = _native(_replica(replica)) if lengths is None else None
    if core is not None:
        rate = _rate(rate)
        status, wait, ttft = core.quantiles_arrivals(
            replica._handle, rate, qf, cv, _admission.CODES[admission], _FITS[fit]
        )
        if status != 0:
            _raise(status, replica, rate)
        return wait, ttft
    return _solved(replica, rate, cv, lengths, fit).quantiles(qf, admission)


# target slot (sizing.TARGET_FIELDS) -> (status when infeasible, index into BINDING_NAMES)
_SLOTS = {
    0: (Status.INFEASIBLE_ITL, 1),
    1: (Status.INFEASIBLE_TTFT, 2),
    2: (Status.INFEASIBLE_WAIT, 3),
    3: (Status.INFEASIBLE_TTFT_PERCENTILE, 4),
    5: (Status.INFEASIBLE_WAIT_PERCENTILE, 5),
    7: (Status.INFEASIBLE_BLOCK, 6),
}
GRID = 24
"""Rates scanned (evenly up to the cap) for the first crossing before the root search."""


def size(
    replica: Replica,
    *,
    arrival_cv: float = 1.0,
    itl_ms: float | None = None,
    ttft_ms: float | None = None,
    wait_ms: float | None = None,
    ttft_percentile: tuple[float, float] | None = None,
    wait_percentile: tuple[float, float] | None = None,
    max_block: float | None = None,
    tps: float | None = None,
    admission: str | None = None,
    lengths=None,
    fit: str = "gamma",
) -> SizeResult:
    """Return the largest offered rate (req/s) at which every target holds.

    Under arrivals of coefficient of variation ``arrival_cv``, with the targets, caps and
    statuses of :meth:`inferplan.Replica.size` (docs/model.md 3). With ``arrival_cv == 1`` and no
    ``lengths`` it is :meth:`Replica.size` itself.

    Otherwise the excess ``max_k f_k(rate)/T_k - 1`` is scanned on a grid of
    :data:`GRID` rates up to the cap for its first sign change (PrefillDecode's read-off
    is not monotone), and that bracket is closed to 1e-10 relative by false position
    (Illinois); the answer is on the feasible side.
    """
    targets = target_tuple(
        itl_ms=itl_ms, ttft_ms=ttft_ms, wait_ms=wait_ms, ttft_percentile=ttft_percentile,
        wait_percentile=wait_percentile, max_block=max_block, tps=tps,
    )  # fmt: skip
    admission = _admission.check_admission(admission)
    cv = _cv(arrival_cv)
    if _poisson_path(cv, lengths):
        return replica.size(
            itl_ms=itl_ms, ttft_ms=ttft_ms, wait_ms=wait_ms, ttft_percentile=ttft_percentile,
            wait_percentile=wait_percentile, max_block=max_block, tps=tps, admission=admission,
        )  # fmt: skip
    fit = _fit(fit)
    core = _native(_replica(replica)) if lengths is None else None
    if core is not None:
        status, rate, binding, iterations, values = core.size_arrivals(
            replica._handle, targets, cv, _admission.CODES[admission], _FITS[fit]
        )
        if Status(status).is_error:
            _raise(status, replica, math.nan)
        return _size_result(status, rate, binding, iterations, values)
    service = _service(replica, lengths)
    mu_N = replica.max_batch / float(service.tau_ms[-1]) * 1000.0
    cap = SATURATION_CAP * mu_N * (TPS_CAP if targets[8] > 0 else 1.0)
    cap_binding = 7 if targets[8] > 0 else 0
    slots = [i for i in _SLOTS if targets[i] > 0]
    evaluations = 0

    def excess(rate):
        nonlocal evaluations
        evaluations += 1
        s = _Solved(replica, rate, cv, service, fit)
        m = s.admitted(admission)
        worst, which = -math.inf, None
        quant = {}
        for i in slots:
            if i == 0:
                v = m.itl_ms / targets[0]
            elif i == 1:
                v = m.ttft_ms / targets[1]
            elif i == 2:
                v = m.wait_ms / targets[2]
            elif i == 3:
                if targets[3] not in quant:
                    quant[targets[3]] = s.quantiles(targets[3], admission)
                v = quant[targets[3]][1] / targets[4]
            elif i == 5:
                if targets[5] not in quant:
                    quant[targets[5]] = s.quantiles(targets[5], admission)
                v = quant[targets[5]][0] / targets[6]
            else:
                v = m.p_block / targets[7]
            # a metric within 1e-12 of its target meets it (docs/background.md, sizing)
            e = v - 1.0 if abs(v - 1.0) > 1e-12 else 0.0
            if e > worst:
                worst, which = e, i
        return worst, which, m

    if not slots:
        m = _Solved(replica, cap, cv, service, fit).admitted(admission)
        return SizeResult(cap, Status.OK, BINDING_NAMES[cap_binding], 1, m)
    f0, which0, _ = excess(0.0)
    if f0 >= 0.0:
        status, _ = _SLOTS[which0]
        return SizeResult(0.0, status, BINDING_NAMES[_SLOTS[which0][1]], evaluations, None)
    lo, f_lo, m_lo = 0.0, f0, None
    hi = None
    for k in range(1, GRID + 1):
        r = cap * k / GRID
        f, which, m = excess(r)
        if f > 0.0:
            hi, f_hi, which_hi = r, f, which
            break
        lo, f_lo, m_lo = r, f, m
    if hi is None:
        return SizeResult(cap, Status.OK, BINDING_NAMES[cap_binding], evaluations, m_lo)
    # excess() counts its own evaluations: 200 in all
    lo, m_lo, which_hi, _ = close_bracket(
        excess, lo, f_lo, m_lo, hi, f_hi, which_hi, rel_tol=1e-10, max_evaluations=200 - evaluations
    )
    if m_lo is None:  # the root lies below the first grid point
        m_lo = _Solved(replica, lo, cv, service, fit).admitted(admission)
    return SizeResult(lo, Status.OK, BINDING_NAMES[_SLOTS[which_hi][1]], evaluations, m_lo)


def analyze_many(
    data=None, *, rate=None, arrival_cv=1.0, metrics=None, threads=None, admission=None,
    fit: str = "gamma", **columns,
):  # fmt: skip
    """Analyze many configurations at once under renewal arrivals.

    :func:`inferplan.analyze_many` with an ``arrival_cv`` column (a scalar broadcasts):
    the metrics of :func:`analyze` for each row.

    The columns, ``rate``, ``metrics``, ``threads`` and ``admission`` are those of
    :func:`inferplan.analyze_many`; ``fit`` as in :func:`analyze`. Returns a dict of NumPy
    columns (a DataFrame if ``data`` is one) with ``status`` per row (0 = ok; an
    ``arrival_cv`` outside [0, 100] is ``BAD_ARRIVAL_CV``, a finite queue too long for the
    exact solve ``BAD_ARRIVAL_LEVELS``, see :class:`inferplan.Status`). On the C++ backend
    the rows run in the kernel with the GIL released (threads as in
    :func:`inferplan.analyze_many`); the other backends solve row by row in NumPy (the
    reference).
    """
    from . import batch
    from ._metrics import METRIC_INDEX, METRIC_NAMES

    admission = _admission.check_admission(admission)
    fit = _fit(fit)
    unknown = set(columns) - set(batch.CONFIG_COLUMNS)
    if unknown:
        raise TypeError(f"analyze_many() got unexpected column(s) {sorted(unknown)}")
    cols = batch.config_columns(data, **columns)
    extra = batch._columns(data, {"rate": rate, "arrival_cv": arrival_cv},
                           ("rate", "arrival_cv"), {"arrival_cv": 1.0})  # fmt: skip
    cols["rate"] = batch._numeric("rate", extra["rate"], np.float64)
    cols["arrival_cv"] = batch._numeric("arrival_cv", extra["arrival_cv"], np.float64)
    rows = batch.broadcast_rows(cols)
    names = batch._metric_selection(metrics)
    block = np.full((len(METRIC_NAMES), rows), np.nan)
    status = np.zeros(rows, dtype=np.int32)
    config = tuple(cols[name] for name in batch.CONFIG_COLUMNS)
    kernel = _kernels_active()
    if rows and getattr(kernel, "NAME", None) == "cpp":
        from . import _core

        outs = [block[j] for j in range(len(METRIC_NAMES))]
        _core.analyze_arrivals_many(config, cols["rate"], cols["arrival_cv"], outs, status,
                                    batch._threads(threads), _admission.CODES[admission],
                                    _FITS[fit])  # fmt: skip
    elif rows:
        _analyze_rows(cols, rows, block, status, admission, fit)
    result = {name: block[METRIC_INDEX[name]] for name in names}
    result["status"] = status
    return batch._wrap(data, result)


def _analyze_in_kernel(cfg, rate, cv, ocv, todo, status, full, admission, threads):
    """Analyze the rows ``todo`` of a batch call that have mean output lengths.

    On the C++ backend they take one kernel batch call (the same numbers as :func:`analyze`
    row by row); ``cfg``, ``rate``, ``cv`` and ``ocv`` are full-length columns, ``status``
    and the columns of ``full`` are filled in place. Returns the rows left for the loop
    (all of ``todo`` on the other backends).
    """
    from ._metrics import METRIC_INDEX, METRIC_NAMES

    if getattr(_kernels_active(), "NAME", None) != "cpp":
        return todo
    fast, rest = todo[ocv[todo] == 0.0], todo[ocv[todo] != 0.0]
    if fast.size:
        from . import _core

        block = np.full((len(METRIC_NAMES), fast.size), np.nan)
        st = np.zeros(fast.size, dtype=np.int32)
        _core.analyze_arrivals_many(tuple(c[fast] for c in cfg), rate[fast], cv[fast],
                                    list(block), st, threads, _admission.CODES[admission],
                                    _FITS["gamma"])  # fmt: skip
        status[fast] = st
        for name, values in full.items():
            values[fast] = block[METRIC_INDEX[name]]
    return rest


def _size_in_kernel(cfg, tgt, cv, ocv, todo, result, outs, admission, threads):
    """Size the rows ``todo`` of a batch call that have mean output lengths.

    :func:`_analyze_in_kernel` for :func:`inferplan.size_many`: ``tgt`` are the target
    columns in the order of :data:`inferplan.sizing.TARGET_FIELDS`, ``result`` the rate,
    status, binding and iterations columns and ``outs`` the metric columns (None where not
    asked for), filled in place. Returns the rows left for the loop.
    """
    if getattr(_kernels_active(), "NAME", None) != "cpp":
        return todo
    fast, rest = todo[ocv[todo] == 0.0], todo[ocv[todo] != 0.0]
    if fast.size:
        from . import _core

        n = fast.size
        sub = {"rate": np.empty(n), "status": np.zeros(n, dtype=np.int32),
               "binding": np.zeros(n, dtype=np.int32),
               "iterations": np.zeros(n, dtype=np.int32)}  # fmt: skip
        sub_outs = [None if out is None else np.empty(n) for out in outs]
        _core.size_arrivals_many(tuple(c[fast] for c in cfg), tuple(c[fast] for c in tgt),
                                 cv[fast], sub_outs, sub["rate"], sub["status"],
                                 sub["binding"], sub["iterations"], threads,
                                 _admission.CODES[admission], _FITS["gamma"])  # fmt: skip
        sub["iterations"][sub["status"] >= Status.BAD_KIND] = 0  # as the batch's other bad rows
        for key, values in sub.items():
            result[key][fast] = values
        for out, values in zip(outs, sub_outs, strict=True):
            if out is not None:
                out[fast] = values
    return rest


def _kernels_active():
    from ._kernels import dispatch

    return dispatch.active()


def _analyze_rows(cols, rows, block, status, admission, fit):
    """Analyze rows as :func:`analyze_many`'s reference form.

    One :func:`analyze` per row, with the kernel's status for what a row gets wrong.
    """
    from . import batch
    from .models import DecodeOnly, PrefillDecode

    names = batch.CONFIG_COLUMNS
    col = {k: np.broadcast_to(cols[k], (rows,)) for k in (*names, "rate", "arrival_cv")}
    # the configuration and rate checks of the Poisson batch call, row by row
    base = batch.analyze_many(rate=col["rate"], admission=admission,
                              **{k: col[k] for k in names})  # fmt: skip
    for i in range(rows):
        cv = float(col["arrival_cv"][i])
        if not (math.isfinite(cv) and 0.0 <= cv <= 100.0):
            status[i] = Status.BAD_ARRIVAL_CV
            continue
        if base["status"][i] != 0 and (cv == 1.0 or base["status"][i] != Status.UNSTABLE):
            status[i] = base["status"][i]
            continue
        if cv == 1.0:
            block[:, i] = [base[name][i] for name in Metrics._fields]
            continue
        kind, alpha, beta, gamma, L, m, M = (col[k][i] for k in names[:7])
        model = (DecodeOnly(alpha, beta, m) if kind == 0
                 else PrefillDecode(alpha, beta, gamma, L, m, M))  # fmt: skip
        q = col["max_queue"][i]
        r = Replica(model, max_batch=int(col["max_batch"][i]), max_queue=q)
        try:
            block[:, i] = analyze(r, float(col["rate"][i]), arrival_cv=cv, admission=admission,
                                  fit=fit)  # fmt: skip
        except ValueError as err:
            text = str(err)
            status[i] = (Status.UNSTABLE if "saturation" in text
                         else Status.BAD_ARRIVAL_LEVELS)  # fmt: skip


def measure_cv(arrival_times, *, min_gaps: int = 20) -> float:
    """Return the coefficient of variation of the gaps between sorted ``arrival_times``.

    Any unit; NaN with fewer than ``min_gaps`` gaps. Ties (equal timestamps) count as zero
    gaps.
    """
    t = np.asarray(arrival_times, dtype=float).reshape(-1)
    if t.size < min_gaps + 1:
        return math.nan
    gaps = np.diff(np.sort(t))
    mean = gaps.mean()
    if not mean > 0:
        return math.nan
    return float(gaps.std() / mean)


__all__ = [
    "GRID",
    "Service",
    "analyze",
    "analyze_many",
    "measure_cv",
    "model_service",
    "size",
    "ttft_quantile",
    "wait_quantile",
]

__dir__ = _lazy.public_dir(__name__)

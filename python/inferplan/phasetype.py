"""Phase-type renewal processes and the QBD solve of a replica fed by one.

The level-dependent quasi-birth-death (QBD) solve of docs/model.md 6. This is the exact
reference behind :mod:`inferplan.arrivals`: plain NumPy, the solver of the Numba and NumPy
backends and what the C++ kernel's port (``cpp/include/inferplan/qbd.hpp``, used on the
C++ backend) is tested against. Units: rates per millisecond, times in ms.

A renewal process whose gaps are phase-type ``PH(alpha, S)`` (``alpha`` the initial phase
probabilities, ``S`` the sub-generator, exit rates ``t = -S 1``) makes the pair
(requests in the replica ``n``, phase of the gap in progress ``j``) a Markov chain. Its
generator is block tridiagonal with level ``n``:

- up (an arrival, n -> n + 1): ``t alpha`` (the next gap starts in phase ``alpha``);
- local: ``S - mu(n) I`` (at the top level ``K`` of a finite queue an arrival is
  rejected and the next gap starts: ``S + t alpha - mu(K) I``);
- down (a completion, n -> n - 1): ``mu(n) I``, with ``mu(n) = mu(min(n, N))``.

Because ``t alpha`` has rank one, every rate matrix of the matrix-analytic solution has
rank one too: ``pi(n+1) = pi(n) R(n)`` with ``R(n) = t v(n)``. The row vectors follow from
the top down, ``v(n-1) = alpha (mu(n) I - S - mu(n+1) t v(n))^-1`` (one m x m solve per
level), and the levels from the bottom up, ``pi(n) = s(n-1) v(n-1)`` with the scalar
``s(n) = pi(n) t`` (the arrival rate out of level n). Above ``N`` with an unbounded queue
``v(n) = v = alpha (mu(N)(1 - sigma) I - S)^-1`` where ``sigma`` is the root in (0, 1) of
``sigma = A*(mu(N)(1 - sigma))`` (``A*`` the Laplace-Stieltjes transform of the gap), so
``pi(N+j) = s(N) sigma^(j-1) v`` for ``j >= 1``: the classical GI/M/1 geometric tail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import _lazy
from ._status import Status, StatusError

MAX_PHASES = 64
"""Phases of the Erlang law that stands for (near-)deterministic gaps: ``arrival_cv`` below
``1/sqrt(MAX_PHASES)`` (= 0.125) is represented by an Erlang-64 renewal process (CV 0.125)."""

MAX_LEVELS = 400_000
"""Largest ``max_batch + max_queue`` the finite-queue solve accepts (one solve per level)."""


@dataclass(frozen=True)
class PhaseType:
    """A phase-type law of mean 1: initial probabilities ``alpha`` and sub-generator ``S``.

    Scale by a rate ``lam`` (``lam * S``) for gaps of mean ``1/lam``.
    """

    alpha: np.ndarray = field(repr=False)
    S: np.ndarray = field(repr=False)
    name: str = ""

    @property
    def phases(self) -> int:
        """Return the number of phases."""
        return self.alpha.size

    @property
    def exit(self) -> np.ndarray:
        """Return the exit rates ``t = -S 1`` (per unit of the mean gap)."""
        return -self.S.sum(axis=1)

    def moment(self, k: int) -> float:
        """E[X^k] = k! alpha (-S)^-k 1."""
        x = np.ones(self.phases)
        inv = np.linalg.inv(-self.S)
        for _ in range(k):
            x = inv @ x
        return float(math.factorial(k) * (self.alpha @ x))

    @property
    def scv(self) -> float:
        """Squared coefficient of variation."""
        m1 = self.moment(1)
        return self.moment(2) / (m1 * m1) - 1.0

    def lst(self, s: float) -> float:
        """Laplace-Stieltjes transform E[exp(-s X)] = alpha (s I - S)^-1 t."""
        m = self.phases
        return float(self.alpha @ np.linalg.solve(s * np.eye(m) - self.S, self.exit))


def exponential() -> PhaseType:
    """Return the exponential law of mean 1 (one phase: Poisson arrivals)."""
    return PhaseType(np.ones(1), -np.ones((1, 1)), "exponential")


def erlang_mixture(scv: float) -> PhaseType:
    """Fit mean 1 and squared CV ``scv`` in [1/MAX_PHASES, 1) by an Erlang mixture.

    With probability ``p`` an Erlang(k-1), else an Erlang(k), both of rate ``k - p``
    (Tijms, *A First Course in Stochastic Models*, 2003, sec. 2.3.2: the two-moment fit
    with the fewest phases).
    """
    k = max(2, math.ceil(1.0 / scv - 1e-9))
    p = (k * scv - math.sqrt(k * (1.0 + scv) - k * k * scv)) / (1.0 + scv)
    p = min(max(p, 0.0), 1.0)
    nu = k - p
    S = -nu * np.eye(k) + nu * np.eye(k, k=1)
    alpha = np.zeros(k)
    alpha[0], alpha[1] = 1.0 - p, p
    return PhaseType(alpha, S, f"Erlang mixture E{k - 1}/E{k} (p={p:.4g})")


def hyperexponential(scv: float, *, third: str = "gamma") -> PhaseType:
    """Mean 1 and squared CV ``scv`` > 1, as a two-phase hyperexponential H2.

    ``third="gamma"`` (default) also matches the third moment of the Gamma law of the same
    CV, ``(1 + c2)(1 + 2 c2)``, so the process is the Gamma renewal process of
    :func:`inferplan.simulate` in three moments (an H2 with these moments exists for every
    c2 > 1); ``third="balanced"`` is the balanced-means H2 (each branch carries half the
    mean), the usual two-moment fit, whose third moment is larger.
    """
    c2 = float(scv)
    if third == "balanced":
        p1 = 0.5 * (1.0 + math.sqrt((c2 - 1.0) / (c2 + 1.0)))
        rates = np.array([2.0 * p1, 2.0 * (1.0 - p1)])
        probs = np.array([p1, 1.0 - p1])
    elif third == "gamma":
        # moments divided by k!: a1 = 1, a2 = (1+c2)/2, a3 = (1+c2)(1+2c2)/6. The branch
        # means x1, x2 are the roots of x^2 - s x + P with a(k+2) = s a(k+1) - P a(k).
        a1, a2, a3 = 1.0, (1.0 + c2) / 2.0, (1.0 + c2) * (1.0 + 2.0 * c2) / 6.0
        s = (a3 - a1 * a2) / (a2 - a1 * a1)
        P = s * a1 - a2
        root = math.sqrt(max(s * s - 4.0 * P, 0.0))
        x1, x2 = (s + root) / 2.0, (s - root) / 2.0
        p1 = (a1 - x2) / (x1 - x2)
        probs = np.array([p1, 1.0 - p1])
        rates = np.array([1.0 / x1, 1.0 / x2])
    else:
        raise ValueError(f"third must be 'gamma' or 'balanced', got {third!r}")
    return PhaseType(probs, -np.diag(rates), f"H2 ({third})")


def renewal(arrival_cv: float, *, third: str = "gamma") -> PhaseType:
    """Return the phase-type gap law (mean 1) for inter-arrival times of CV ``arrival_cv``.

    ``arrival_cv`` is the coefficient of variation, not its square, as in
    :func:`inferplan.simulate`: exponential at 1 (Poisson), an Erlang mixture below (an
    Erlang-64 below ``1/sqrt(64)``: 0 means deterministic and is approximated so), an H2
    above.
    """
    cv = float(arrival_cv)
    if not (math.isfinite(cv) and cv >= 0.0):
        raise ValueError(f"arrival_cv must be finite and >= 0, got {arrival_cv!r}")
    if cv > 100.0:
        raise ValueError(f"arrival_cv must be at most 100, got {arrival_cv!r}")
    c2 = cv * cv
    if c2 == 1.0:
        return exponential()
    if c2 < 1.0:
        return erlang_mixture(max(c2, 1.0 / MAX_PHASES))
    return hyperexponential(c2, third=third)


def _expm(A: np.ndarray) -> np.ndarray:
    """Return exp(A) by scaling and squaring of a Taylor series (small matrices)."""
    norm = float(np.abs(A).sum(axis=1).max())
    k = max(0, math.ceil(math.log2(norm)) + 1) if norm > 0.5 else 0
    X = A / (2.0**k)
    term = np.eye(A.shape[0])
    out = term.copy()
    for j in range(1, 30):
        term = term @ X / j
        out = out + term
        if np.abs(term).max() <= 1e-17 * np.abs(out).max():
            break
    for _ in range(k):
        out = out @ out
    return out


def renewal_count(ph: PhaseType, lam: float, d: float) -> float:
    """Return the expected arrivals in a window of length ``d`` that starts (or ends) at one.

    The renewal function m(d) = int_0^d alpha exp((S + t alpha) u) t du of gaps of rate
    ``lam``; ``lam * d`` for Poisson, more for bursty gaps (arrivals come in clusters).
    """
    if d <= 0.0:
        return 0.0
    m = ph.phases
    if m == 1:
        return lam * d
    S = lam * ph.S
    t = -S.sum(axis=1)
    Q = S + np.outer(t, ph.alpha)
    big = np.zeros((m + 1, m + 1))
    big[:m, :m] = Q * d
    big[:m, m] = t * d
    E = _expm(big)
    return float(ph.alpha @ E[:m, m])


def _sigma(ph: PhaseType, lam: float, mu: float) -> float:
    """Return the root in (0, 1) of sigma = A*(mu (1 - sigma)) for gaps of rate lam (rho < 1).

    f(s) = A*(mu(1-s)) - s is convex with f(0) > 0 and f(1) = 0, f'(1) = 1/rho - 1 > 0:
    Newton from 0 increases monotonically to the smaller root.
    """
    m = ph.phases
    S = lam * ph.S
    t = -S.sum(axis=1)
    eye = np.eye(m)
    if m == 2:  # the 2 x 2 resolvent by Cramer's rule, in scalars
        s00, s01, s10, s11 = (float(v) for v in S.ravel())
        t0, t1 = float(t[0]), float(t[1])
        a0, a1 = float(ph.alpha[0]), float(ph.alpha[1])

        def resolvent(x, b0, b1):
            m00, m01, m10, m11 = x - s00, -s01, -s10, x - s11
            det = m00 * m11 - m01 * m10
            return (m11 * b0 - m01 * b1) / det, (m00 * b1 - m10 * b0) / det

        def lst_and_slope(x):
            y0, y1 = resolvent(x, t0, t1)
            z0, z1 = resolvent(x, y0, y1)
            return a0 * y0 + a1 * y1, a0 * z0 + a1 * z1
    else:

        def lst_and_slope(x):
            y = np.linalg.solve(x * eye - S, t)  # (xI - S)^-1 t
            return float(ph.alpha @ y), float(ph.alpha @ np.linalg.solve(x * eye - S, y))

    sigma = 0.0
    for _ in range(200):
        x = mu * (1.0 - sigma)
        a_star, a_slope = lst_and_slope(x)
        f = a_star - sigma
        # d/dsigma A*(mu(1-sigma)) = mu alpha (xI - S)^-2 t
        df = mu * a_slope - 1.0
        if df >= 0.0:  # at or past the minimum of f: only when rho >= 1 (no root below 1)
            return 1.0
        step = f / df
        sigma_new = sigma - step
        if sigma_new >= 1.0:
            return 1.0
        if abs(sigma_new - sigma) <= 1e-15 * max(sigma_new, 1e-300):
            return sigma_new
        sigma = sigma_new
    return sigma


@dataclass(frozen=True)
class QBDSolution:
    """Stationary law of the QBD.

    ``p[n]`` is the time-average probability of ``n`` requests and ``pa[n]`` the
    probability that an arrival finds ``n`` (the arrival-stationary law, not PASTA), for
    ``n = 0..len(p)-1``. With an unbounded queue the levels above ``N`` are
    geometric: ``p[N+j] = tail_p * sigma^(j-1)`` and ``pa[N+j] = pa[N] * sigma^j``
    (``j >= 1``) and are not in the arrays.
    """

    p: np.ndarray
    pa: np.ndarray
    sigma: float  # NaN for a finite queue
    tail_p: float  # mass factor of the geometric tail (0 for a finite queue)
    max_batch: int
    max_queue: float

    @property
    def p_block(self) -> float:
        """Return the probability that an arrival finds a full finite queue (0 if unbounded)."""
        return 0.0 if math.isinf(self.max_queue) else float(self.pa[-1])

    def moments(self) -> tuple[float, float, float]:
        """(L, B, Lq): mean requests in the replica, in service and waiting."""
        N = self.max_batch
        n = np.arange(self.p.size, dtype=float)
        B = float(np.sum(np.minimum(n, N) * self.p))
        Lq = float(np.sum(np.maximum(n - N, 0.0) * self.p))
        if math.isinf(self.max_queue):
            one = 1.0 - self.sigma
            B += N * self.tail_p / one
            Lq += self.tail_p / (one * one)
        return B + Lq, B, Lq

    def wait_weights(self) -> np.ndarray:
        """Finite queue: P(an accepted arrival finds N + j), j = 0..Q-1."""
        N = self.max_batch
        return self.pa[N:-1] / (1.0 - self.p_block)


def _levels_2(G, t, alpha, d, rate, top):
    """Run the level recursion of :func:`solve` for two phases in scalar arithmetic.

    Two phases are an H2 or an Erlang-2 mixture, the common case: the same operations as
    the general loop, with the 2 x 2 solve written out (Cramer's rule), to avoid NumPy's
    per-call overhead.
    """
    g00, g01, g10, g11 = (float(x) for x in G.ravel())
    t0, t1 = float(t[0]), float(t[1])
    a0, a1 = float(alpha[0]), float(alpha[1])
    d0, d1 = float(d[0]), float(d[1])
    r = rate.tolist()
    out = [None] * top
    for n in range(top, 0, -1):
        c = 0.5 * (d0 - d1)
        d0, d1 = c, -c
        h00, h01 = g00 + t0 * d0, g01 + t0 * d1
        h10, h11 = g10 + t1 * d0, g11 + t1 * d1
        m00, m11 = r[n] + h00, r[n] + h11
        det = m00 * m11 - h01 * h10
        v0 = (a0 * m11 - a1 * h10) / det
        v1 = (a1 * m00 - a0 * h01) / det
        out[n - 1] = (v0, v1)
        d0 = v0 * h00 + v1 * h10
        d1 = v0 * h01 + v1 * h11
    return np.array(out, dtype=float).reshape(top, 2), np.array([d0, d1])


def solve(mu: np.ndarray, max_queue: float, lam: float, ph: PhaseType) -> QBDSolution | None:
    """Return the stationary law of a replica fed by a phase-type renewal process.

    The replica has completion rates ``mu[b-1]`` (per ms) at ``b = 1..N`` in service and
    a queue of ``max_queue`` (inf allowed), and is fed by a renewal process of rate ``lam``
    (per ms, > 0) with gap law ``ph`` (mean 1). None when the queue is unbounded and
    ``lam`` is at or above ``mu[N-1]`` (no steady state).
    """
    mu = np.asarray(mu, dtype=float)
    N = mu.size
    m = ph.phases
    S = lam * ph.S
    t = -S.sum(axis=1)
    alpha = ph.alpha
    eye = np.eye(m)
    infinite = math.isinf(max_queue)
    if infinite:
        if lam >= mu[-1]:
            return None
        sigma = lam / mu[-1] if m == 1 else _sigma(ph, lam, mu[-1])
        if not sigma < 1.0:
            return None
        top = N
        v_top = np.linalg.solve((mu[-1] * (1.0 - sigma) * eye - S).T, alpha)
    else:
        top = N + int(max_queue)
        if top > MAX_LEVELS:
            raise StatusError(
                Status.BAD_ARRIVAL_LEVELS,
                f"max_batch + max_queue = {top} is above the {MAX_LEVELS} levels the exact "
                "finite-queue solve takes under non-Poisson arrivals; use max_queue=None "
                "(unbounded) or a shorter queue",
            )
        sigma = math.nan
    levels = np.minimum(np.arange(top + 1), N)  # level n serves min(n, N)
    rate = np.concatenate([[0.0], mu])[levels]  # mu(n), n = 0..top
    # Without cancellation: with G = -S - t alpha (a negated generator: zero row sums, and
    # exactly 0 for Poisson arrivals) and d(n) = alpha - mu(n+1) v(n), the level matrix is
    # mu(n) I - S - mu(n+1) t v(n) = mu(n) I + G + t d(n), and alpha = v(n-1) M(n) gives
    # d(n-1) = v(n-1) (G + t d(n)). At the top: d(K) = 0 (finite queue) or, above N,
    # d = v G / (1 - sigma) (from v (mu (1 - sigma) I - S) = alpha).
    G = -S - np.outer(t, alpha)
    # d(n) 1 = 0 exactly (G 1 = 0, so d(n-1) 1 = (v t) d(n) 1): rounding in that direction
    # would grow by v(n) t (about lam / mu(n), large at the low levels), so it is removed.
    d = v_top @ G / (1.0 - sigma) if infinite else np.zeros(m)
    if m == 2:
        V, d = _levels_2(G, t, alpha, d, rate, top)
    else:
        V = np.empty((top, m))  # V[n] = v(n): pi(n+1) = (pi(n) t) v(n)
        for n in range(top, 0, -1):
            d = d - d.mean()
            H = G + np.outer(t, d)
            v = np.linalg.solve((rate[n] * eye + H).T, alpha)
            V[n - 1] = v
            d = v @ H
    d = d - d.mean()
    # level 0: pi0 (S + mu(1) t v(0)) = -pi0 (G + t d(0)) = 0, pi0 1 = 1
    A = (G + np.outer(t, d)).T.copy()
    A[-1, :] = 1.0
    rhs = np.zeros(m)
    rhs[-1] = 1.0
    pi0 = np.maximum(np.linalg.solve(A, rhs), 0.0)
    # forward: log s(n) = log s(n-1) + log(v(n-1) t); pi(n) = s(n-1) v(n-1)
    log_vt = np.log(V @ t)
    log_s = np.concatenate([[math.log(pi0 @ t)], math.log(pi0 @ t) + np.cumsum(log_vt)])
    mass = np.empty(top + 1)  # log of pi(n) 1
    mass[0] = math.log(pi0.sum())
    mass[1:] = log_s[:-1] + np.log(V.sum(axis=1))
    log_arr = log_s  # log of pi(n) t
    tail_log = -math.inf
    if infinite:
        # levels N+j, j >= 1: s(N) sigma^(j-1) v: mass s(N) |v| / (1 - sigma)
        tail_log = log_s[-1] + math.log(v_top.sum()) - math.log1p(-sigma)
    big = max(mass.max(), tail_log)
    w = np.exp(mass - big)
    Z = w.sum() + (math.exp(tail_log - big) if infinite else 0.0)
    p = w / Z
    a = np.exp(log_arr - big) / Z  # arrival rate out of each level, per ms
    arrivals = a.sum()
    tail_p = 0.0
    if infinite:
        tail_p = math.exp(log_s[-1] + math.log(v_top.sum()) - big) / Z
        arrivals += a[-1] * sigma / (1.0 - sigma)  # a(N+j) = a(N) sigma^j
    pa = a / arrivals
    return QBDSolution(p, pa, sigma, tail_p, N, float(max_queue))


def wait_ccdf(sol: QBDSolution, mu_N: float, t_ms: float) -> float:
    """Return P(W > t) for an accepted arrival.

    It finds N + j requests with probability ``pa[N+j] / (1 - p_block)`` and waits for
    j + 1 departures at rate mu(N).
    """
    N = sol.max_batch
    if math.isinf(sol.max_queue):
        p_wait = sol.pa[N] / (1.0 - sol.sigma)
        return min(1.0, p_wait * math.exp(-mu_N * (1.0 - sol.sigma) * max(t_ms, 0.0)))
    w = sol.wait_weights()
    if w.size == 0:
        return 0.0
    tail = np.cumsum(w[::-1])[::-1]  # P(j >= k)
    if t_ms <= 0.0:
        return min(1.0, float(tail[0]))
    x = mu_N * t_ms
    k = np.arange(w.size, dtype=float)
    log_fact = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1.0, w.size)))])
    pmf = np.exp(k * math.log(x) - x - log_fact)  # P(Pois(x) = k)
    return min(1.0, float(pmf @ tail))


def wait_quantile(sol: QBDSolution, mu_N: float, q: float) -> float:
    """Smallest t with P(W > t) <= 1 - q (closed form for an unbounded queue)."""
    N = sol.max_batch
    if math.isinf(sol.max_queue):
        p_wait = sol.pa[N] / (1.0 - sol.sigma)
        if p_wait <= 1.0 - q:
            return 0.0
        return math.log(p_wait / (1.0 - q)) / (mu_N * (1.0 - sol.sigma))
    if wait_ccdf(sol, mu_N, 0.0) <= 1.0 - q:
        return 0.0
    lo, hi = 0.0, 1.0 / mu_N
    while wait_ccdf(sol, mu_N, hi) > 1.0 - q:
        lo, hi = hi, 2.0 * hi
    while hi - lo > 1e-13 * hi:
        mid = 0.5 * (lo + hi)
        if wait_ccdf(sol, mu_N, mid) > 1.0 - q:
            lo = mid
        else:
            hi = mid
    return hi


__all__ = [
    "MAX_LEVELS",
    "MAX_PHASES",
    "PhaseType",
    "QBDSolution",
    "erlang_mixture",
    "exponential",
    "hyperexponential",
    "renewal",
    "renewal_count",
    "solve",
    "wait_ccdf",
    "wait_quantile",
]

__dir__ = _lazy.public_dir(__name__)

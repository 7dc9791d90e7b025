"""The NumPy reference kernel: the documented, readable definition of every number.

It evaluates the chain in log space over whole arrays (``exp(n log lam - S[n] - max)``),
where the fast kernels use a recurrence from the mode; both sum the geometric tail in
closed form. Slow (Python per row) but simple enough to check by eye.
"""

from __future__ import annotations

import math

import numpy as np

from .._codes import ADMISSIONS
from .._metrics import KIND_DECODE_ONLY, KIND_PREFILL_DECODE, KIND_VECTOR, METRIC_INDEX, NUM_METRICS
from .._status import Status

MAX_BATCH_LIMIT = 1 << 24
# More prefill chunks than 2^53 are not distinct doubles: such a model is rejected
# (Status.BAD_MAX_NUM_TOKENS). Service times per request in the batch, tau(b)/b, must lie in
# [1e-290, 1e290] ms (Status.BAD_SERVICE_TIME): beyond, the rates overflow.
MAX_CHUNKS = 2.0**53
MIN_SERVICE_PER_REQUEST = 1e-290
# ITL = decode time / out_tokens must not overflow; nor may a wait of Q services of mu(N).
MIN_OUT_TOKENS = 1e-9
MAX_WAIT_MS = 1e300
MAX_SERVICE_PER_REQUEST = 1e290
# Beyond a tail ratio lam/mu(N) of e^40 a finite chain is in its top states to double
# precision: the throughput is mu(N) (1 - p_block would underflow at extreme loads).
DEEP_SATURATION_LOG_R = 40.0


def _finite_nonneg(x: float) -> bool:
    return math.isfinite(x) and x >= 0.0


def _out_tokens_ok(m) -> bool:
    return math.isfinite(m) and m >= MIN_OUT_TOKENS


def validate_service(kind, alpha, beta, gamma, in_tokens, out_tokens, max_num_tokens) -> Status:
    """Status of a model's scalar parameters (same rules as the C++ ``validate``)."""
    if kind not in (KIND_DECODE_ONLY, KIND_PREFILL_DECODE, KIND_VECTOR):
        return Status.BAD_KIND
    if kind == KIND_VECTOR:
        return Status.OK if _out_tokens_ok(out_tokens) else Status.BAD_OUT_TOKENS
    if not _finite_nonneg(alpha):
        return Status.BAD_ALPHA
    if not _finite_nonneg(beta):
        return Status.BAD_BETA
    if kind == KIND_DECODE_ONLY:
        if not alpha + beta > 0:
            return Status.BAD_ALPHA
        if not _out_tokens_ok(out_tokens):
            return Status.BAD_OUT_TOKENS
        return Status.OK
    if not _finite_nonneg(gamma):
        return Status.BAD_GAMMA
    if not _finite_nonneg(in_tokens):
        return Status.BAD_IN_TOKENS
    if not _out_tokens_ok(out_tokens):
        return Status.BAD_OUT_TOKENS
    if not (math.isfinite(max_num_tokens) and max_num_tokens > 0):
        return Status.BAD_MAX_NUM_TOKENS
    if not alpha + beta + gamma > 0:
        return Status.BAD_ALPHA
    return Status.OK


def validate_queue(max_batch, max_queue) -> Status:
    if not (1 <= max_batch <= MAX_BATCH_LIMIT):
        return Status.BAD_MAX_BATCH
    if math.isnan(max_queue) or max_queue < 0:
        return Status.BAD_MAX_QUEUE
    if not math.isinf(max_queue) and (math.floor(max_queue) != max_queue or max_queue > 2.0**53):
        return Status.BAD_MAX_QUEUE
    return Status.OK


def prefill_decode_parts(alpha, beta, gamma, L, m, M):
    """Return the PrefillDecode work terms as functions of the chunk count c.

    See docs/model.md 2.2.
    """
    w_dec = beta * m + gamma * m * (L + (m + 1) / 2)

    def w_pre(c):
        return (beta + gamma * (c + 1) / 2) * L

    def delta(c):
        return (w_pre(c) + w_dec) / (c + m)

    return w_pre, delta


def batch_limits(j, L, m, M):
    """Return the largest batch b_j at which a prefill split into j chunks fits the budget.

    b_j = floor(max(0, (j+m)(M - L/j)/(L+m))) (docs/model.md 2.2), for an array of chunk
    counts j.
    """
    with np.errstate(over="ignore"):  # an infinite limit fits every batch
        x = (j + m) * (M - L / j) / (L + m)
    return np.floor(np.maximum(x, 0.0))


def chunk_counts(L, m, M, max_batch) -> np.ndarray:
    """Return c(b) = min{j >= 1 : b_j >= b} for b = 1..max_batch.

    Computed by bisection over the integers 1..2^53 for all b at once (b_j grows with j);
    values above MAX_CHUNKS mean that even 2^53 chunks do not fit (the model is rejected).
    """
    b = np.arange(1, max_batch + 1, dtype=float)
    lo = np.zeros(max_batch)  # b_0 counts as below every b
    hi = np.full(max_batch, MAX_CHUNKS)
    fits = batch_limits(hi, L, m, M) >= b
    while True:
        open_ = fits & (hi - lo > 1)
        if not open_.any():
            break
        mid = np.floor(0.5 * (lo + hi))
        ok = batch_limits(np.maximum(mid, 1.0), L, m, M) >= b
        hi = np.where(open_ & ok, mid, hi)
        lo = np.where(open_ & ~ok, mid, lo)
    return np.where(fits, hi, 2.0 * MAX_CHUNKS)


def service_times(kind, alpha, beta, gamma, L, m, M, max_batch):
    """tau(1..N) in ms and the chunk counts c(1..N)."""
    b = np.arange(1, max_batch + 1, dtype=float)
    if kind == KIND_DECODE_ONLY:
        return m * (alpha + beta * b), np.ones(max_batch)
    c = chunk_counts(L, m, M, max_batch)
    _, delta = prefill_decode_parts(alpha, beta, gamma, L, m, M)
    return (c + m) * (alpha + b * delta(c)), c


def _geo_f(s: float) -> float:
    if abs(s) < 1e-3:
        return -0.5 + s / 12 - s**3 / 720 + s**5 / 30240
    if s > 700.0:  # 1/expm1(s) is below double resolution of 1/s
        return -1.0 / s
    return 1.0 / math.expm1(s) - 1.0 / s


def geo_sums(t: float, n: float) -> tuple[float, float]:
    """Sum and mean index of x^i, i = 0..n-1, x = exp(-t) (n may be inf)."""
    if math.isinf(n):
        return -1.0 / math.expm1(-t), _geo_f(t) + 1.0 / t
    g0 = n if t == 0 else math.expm1(-n * t) / math.expm1(-t)
    return g0, _geo_f(t) - n * _geo_f(n * t)


def chain_moments(tau: np.ndarray, max_queue: float, lam: float):
    """(status, p0, p_block, not_blocked, L, B, Lq) of the chain at lam (per ms)."""
    N = len(tau)
    if lam == 0:
        return Status.OK, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0
    mu = np.arange(1, N + 1) / tau
    log_mu = np.log(mu)
    ll = math.log(lam)
    lr = ll - log_mu[-1]
    Q = max_queue
    # At saturation to rounding (lam / mu(N) within a few ulps of 1) there is no steady
    # state either (the kernels use the same margin).
    if math.isinf(Q) and lr >= -4 * 2.220446049250313e-16:
        return (Status.UNSTABLE,) + (math.nan,) * 6
    n = np.arange(N + 1, dtype=float)
    logw = n * ll - np.concatenate([[0.0], np.cumsum(log_mu)])
    log_wN = logw[-1]
    # Log of the largest tail weight (the top state K when the tail grows).
    log_top = log_wN + Q * lr if (Q > 0 and lr >= 0) else -math.inf
    M = max(logw.max(), log_top)
    w = np.exp(logw - M)
    head0, head1, wN = w[:-1].sum(), (n[:-1] * w[:-1]).sum(), w[-1]
    t0 = t1 = t0_excl_top = 0.0
    w_top = wN
    if Q > 0 and lr < 0:
        g0, mean = geo_sums(-lr, Q)
        r = math.exp(lr)
        t0 = wN * r * g0
        t1 = t0 * (mean + 1)
        w_top = 0.0 if math.isinf(Q) else wN * math.exp(Q * lr)
        if not math.isinf(Q):
            t0_excl_top = wN * r * geo_sums(-lr, Q - 1)[0] if Q > 1 else 0.0
    elif Q > 0:
        top = math.exp(log_top - M)
        g0, mean = geo_sums(lr, Q)
        t0 = top * g0
        t1 = t0 * (Q - mean)
        w_top = top
        t0_excl_top = top * math.exp(-lr) * geo_sums(lr, Q - 1)[0] if Q > 1 else 0.0
    Z = head0 + wN + t0
    if math.isinf(Q):
        p_block, not_blocked = 0.0, 1.0
    else:
        p_block = w_top / Z
        not_blocked = (head0 if Q == 0 else head0 + wN + t0_excl_top) / Z
    B = (head1 + N * (wN + t0)) / Z
    Lq = t1 / Z
    return Status.OK, w[0] / Z, p_block, not_blocked, B + Lq, B, Lq


def prepared_service(params, max_batch, tau=None, max_queue=None):
    """Return (status, tau(1..N), c(1..N)) of valid parameters.

    The status is BAD_MAX_NUM_TOKENS where a prompt needs more than MAX_CHUNKS chunks,
    BAD_SERVICE_TIME where tau(b)/b leaves [MIN_SERVICE_PER_REQUEST, MAX_SERVICE_PER_REQUEST]
    (or tau_ms is not finite and > 0), BAD_MAX_QUEUE where a finite queue's longest mean wait,
    Q tau(N)/N, exceeds MAX_WAIT_MS.
    """
    kind = params[0]
    if kind == KIND_VECTOR:
        tau = np.asarray(tau, dtype=float)
        if not (np.all(np.isfinite(tau)) and np.all(tau > 0)):
            return Status.BAD_SERVICE_TIME, tau, None
        chunks = np.ones(max_batch)
    else:
        tau, chunks = service_times(*params, max_batch)
        if np.any(chunks > MAX_CHUNKS):
            return Status.BAD_MAX_NUM_TOKENS, tau, chunks
    with np.errstate(all="ignore"):
        per_request = tau / np.arange(1, max_batch + 1)
    in_range = (per_request >= MIN_SERVICE_PER_REQUEST) & (per_request <= MAX_SERVICE_PER_REQUEST)
    if not np.all(in_range):
        return Status.BAD_SERVICE_TIME, tau, chunks
    finite_queue = max_queue is not None and not math.isinf(max_queue)
    if finite_queue and float(max_queue) * float(per_request[-1]) > MAX_WAIT_MS:
        return Status.BAD_MAX_QUEUE, tau, chunks
    return Status.OK, tau, chunks


def analyze(params, max_batch, max_queue, rate, tau=None) -> tuple[Status, np.ndarray]:
    """Return the metrics at ``rate`` (req/s) of a replica.

    ``params`` = (kind, alpha, beta, gamma, in_tokens, out_tokens, max_num_tokens); ``tau``
    given for the vector model.
    """
    out = np.full(NUM_METRICS, math.nan)
    kind, alpha, beta, gamma, L, m, M = params
    status = validate_queue(max_batch, max_queue)
    if status == Status.OK:
        status = validate_service(kind, alpha, beta, gamma, L, m, M)
    if status != Status.OK:
        return status, out
    status, tau, chunks = prepared_service(params, max_batch, tau, max_queue)
    if status != Status.OK:
        return status, out
    if not (math.isfinite(rate) and rate >= 0):
        return Status.BAD_RATE, out
    lam = rate / 1000.0
    status, p0, p_block, not_blocked, L_sys, B, Lq = chain_moments(tau, max_queue, lam)
    if status != Status.OK:
        return status, out
    mu_N = max_batch / tau[-1]
    X = lam * not_blocked
    if lam > 0 and math.log(lam) - math.log(mu_N) > DEEP_SATURATION_LOG_R:
        X = mu_N  # finite queue far above saturation (the unbounded one is unstable)
    if lam == 0:
        response = service = tau[0]
        wait = 0.0
    else:
        response, service, wait = L_sys / X, B / X, Lq / X
    prefill = 0.0
    if kind == KIND_PREFILL_DECODE:
        w_pre, delta = prefill_decode_parts(alpha, beta, gamma, L, m, M)
        b = min(max(round_half_away(B), 1), max_batch)
        c = chunks[b - 1]
        prefill = c * max(0.0, alpha + (B - 1) * delta(c)) + w_pre(c)
        # The decode part of the mean service time is at least a lone request's,
        # m alpha + w_dec: cap the prefill read off at c(round(B)) to leave it (the cap
        # binds only where c(b) jumps among the batches the chain visits, docs/model.md 2.2).
        room = service - (m * alpha + beta * m + gamma * m * (L + (m + 1) / 2))
        prefill = min(prefill, max(room, 0.0))
    itl = (service - prefill) / m
    values = {
        "rate": rate,
        "p0": p0,
        "p_block": p_block,
        "throughput": X * 1000,
        "in_system": L_sys,
        "in_service": B,
        "in_queue": Lq,
        "response_ms": response,
        "service_ms": service,
        "wait_ms": wait,
        "itl_ms": itl,
        "ttft_ms": wait + prefill + itl,
        "prefill_ms": prefill,
        "utilization": B / max_batch,
        "max_rate": mu_N * 1000,
    }
    for name, value in values.items():
        out[METRIC_INDEX[name]] = value
    return Status.OK, out


def round_half_away(x: float) -> int:
    """Round to nearest, halves away from zero (C's round, Go's math.Round)."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


# ------------------------------------------------------------------ waiting-time law


_WINDOW_BLOCK = 1 << 20


def _lgamma1p(j: np.ndarray) -> np.ndarray:
    """log(j!) for an array of integers j >= 0 (Stirling's series from 100, math.lgamma below)."""
    out = np.empty_like(j)
    small = j < 100
    out[small] = [math.lgamma(v + 1.0) for v in j[small]]
    n = j[~small] + 1.0  # Stirling's series: its next term is below 1e-17 from n = 100
    out[~small] = (
        (n - 0.5) * np.log(n)
        - n
        + 0.5 * math.log(2 * math.pi)
        + 1 / (12 * n)
        - 1 / (360 * n**3)
        + 1 / (1260 * n**5)
    )
    return out


def wait_ccdf(tau: np.ndarray, max_queue: float, lam: float, t: float) -> float:
    """Return P(W > t) for an accepted arrival, by direct summation of the Erlang mixture.

    The mixture is sum_{j<Q} p(N+j) P(Pois(mu(N) t) <= j) / (1 - p_block). Only the window of j
    within 40 standard deviations of mu(N) t is summed term by term (in blocks, so memory stays
    bounded whatever Q); below it P(Pois <= j) is 0 to double precision, above it 1, and the
    weights there sum in closed form (a geometric series). Closed form for an unbounded queue.
    """
    N = len(tau)
    mu_N = N / tau[-1]
    Q = max_queue
    if Q == 0 or lam == 0:
        return 0.0
    _status, _p0, _p_block, not_blocked, _, _, _ = chain_moments(tau, Q, lam)
    log_r = math.log(lam) - math.log(mu_N)
    log_p_full = _log_state_probability(tau, Q, lam, N)
    log_nb = math.log(not_blocked) if not_blocked > 2.0**-1000 else -log_r
    r = math.exp(log_r) if log_r < 700 else math.inf
    x = mu_N * t
    if math.isinf(x):  # later than every departure
        return 0.0
    if x < 2.0**-60:  # P(W > t) is P(W > 0) to double precision (quantile.hpp)
        t = x = 0.0
    if math.isinf(Q):
        return min(1.0, math.exp(log_p_full - log_nb) / (1 - r) * math.exp(-x * (1 - r)))

    def geometric(j0, j1):  # log sum_{j=j0}^{j1-1} r^j
        if j1 <= j0:
            return -math.inf
        return j0 * log_r + _log_geo(log_r, j1 - j0)

    if t <= 0:
        return min(1.0, math.exp(log_p_full - log_nb + geometric(0, int(Q))))
    spread = 40.0 * math.sqrt(x) + 40.0
    j_lo = int(max(0.0, math.floor(x - spread)))
    j_hi = int(min(Q, math.ceil(x + spread)))
    total = math.exp(log_p_full - log_nb + geometric(j_hi, int(Q))) if j_hi < Q else 0.0
    below = 0.0  # P(Pois(x) < start): negligible at j_lo, then carried across blocks
    for start in range(j_lo, j_hi, _WINDOW_BLOCK):
        j = np.arange(start, min(j_hi, start + _WINDOW_BLOCK), dtype=float)
        cdf = below + np.cumsum(np.exp(j * math.log(x) - x - _lgamma1p(j)))
        below = float(cdf[-1])
        total += float(np.sum(np.exp(log_p_full - log_nb + j * log_r) * np.minimum(cdf, 1.0)))
    return min(1.0, total)


def _log_geo(log_r: float, n: int) -> float:
    """Return log sum_{i<n} exp(i log_r) for n >= 1."""
    if log_r == 0:
        return math.log(n)
    if log_r < 0:
        return math.log(math.expm1(n * log_r) / math.expm1(log_r))
    return (n - 1) * log_r + math.log(-math.expm1(-n * log_r) / -math.expm1(-log_r))


def _log_state_probability(tau, Q, lam, n):
    """Return log p(n) for n <= N from the log weights.

    Independent of the kernels' recurrences.
    """
    N = len(tau)
    mu = np.arange(1, N + 1) / tau
    logw = np.concatenate([[0.0], np.cumsum(math.log(lam) - np.log(mu))])
    lr = math.log(lam) - math.log(mu[-1])
    if Q > 0:
        log_tail = logw[-1] + (
            lr + _log_geo(lr, Q) if not math.isinf(Q) else lr - math.log(-math.expm1(lr))
        )
    else:
        log_tail = -math.inf
    M = max(logw.max(), log_tail)
    Z = np.exp(logw - M).sum() + math.exp(log_tail - M)
    return logw[n] - M - math.log(Z)


def wait_quantile(tau, max_queue, lam, q) -> float:
    """Smallest t with P(W > t) <= 1 - q, by bisection on the direct sum."""
    if wait_ccdf(tau, max_queue, lam, 0.0) <= 1 - q:
        return 0.0
    # Markov: P(W > t) <= E[W] / t brackets the quantile below E[W] / (1 - q).
    _, _, _, not_blocked, _, _, Lq = chain_moments(tau, max_queue, lam)
    N = len(tau)
    log_X = math.log(lam) + (math.log(not_blocked) if not_blocked > 2.0**-1000 else
                             math.log(N / tau[-1]) - math.log(lam))  # fmt: skip
    lo, hi = 0.0, max(Lq * math.exp(-log_X) / (1 - q) * (1 + 1e-9), tau[-1] / N)
    while wait_ccdf(tau, max_queue, lam, hi) > 1 - q:
        lo, hi = hi, 2 * hi
    while hi - lo > 1e-13 * hi:
        mid = 0.5 * (lo + hi)
        if wait_ccdf(tau, max_queue, lam, mid) > 1 - q:
            lo = mid
        else:
            hi = mid
    return hi


# ------------------------------------------------------------------ sizing

TARGET_NAMES = ("itl", "ttft", "wait", "ttft_pq", "ttft_p_ms", "wait_pq", "wait_p_ms",
                "max_block", "tps")  # fmt: skip


def _set(x) -> bool:
    return not math.isnan(x) and x != 0


def validate_targets(t) -> Status:
    def positive(x):
        return math.isfinite(x) and x > 0

    def fraction(x):
        return math.isfinite(x) and 0 < x < 1

    itl, ttft, wait, tq, tms, wq, wms, block, tps = t
    if _set(itl) and not positive(itl):
        return Status.BAD_TARGET_ITL
    if _set(ttft) and not positive(ttft):
        return Status.BAD_TARGET_TTFT
    if _set(wait) and not positive(wait):
        return Status.BAD_TARGET_WAIT
    if (_set(tq) or _set(tms)) and not (fraction(tq) and positive(tms)):
        return Status.BAD_TTFT_PERCENTILE
    if (_set(wq) or _set(wms)) and not (fraction(wq) and positive(wms)):
        return Status.BAD_WAIT_PERCENTILE
    if _set(block) and not fraction(block):
        return Status.BAD_MAX_BLOCK
    if _set(tps) and not positive(tps):
        return Status.BAD_TPS
    return Status.OK


# A metric within this relative slack of its target meets it (see sizing.hpp).
TARGET_SLACK = 1e-12

# Binding codes in the order ties are reported (TTFT first, as the reference does).
_CHECK_ORDER = (2, 1, 3, 4, 5, 6)
_INFEASIBLE = {1: Status.INFEASIBLE_ITL, 2: Status.INFEASIBLE_TTFT, 3: Status.INFEASIBLE_WAIT,
               4: Status.INFEASIBLE_TTFT_PERCENTILE, 5: Status.INFEASIBLE_WAIT_PERCENTILE,
               6: Status.INFEASIBLE_BLOCK}  # fmt: skip


def subnormal_target(t) -> int:
    """Return the binding code of the first set target below the smallest normal double.

    0 if none: such a target is infeasible, never met by a rate lost in subnormal arithmetic.
    """
    itl, ttft, wait, tq, tms, wq, wms, block, _ = t
    pairs = ((2, ttft, ttft), (1, itl, itl), (3, wait, wait), (4, tq, tms), (5, wq, wms),
             (6, block, block))  # fmt: skip
    for code, on, value in pairs:
        if _set(on) and value < 2.2250738585072014e-308:
            return code
    return 0


def _tail(tau, max_queue, lam, t):
    """P(W > t): 0 where mu(N) t overflows (every queued request has left by then)."""
    if not math.isfinite(len(tau) / float(tau[-1]) * t):
        return 0.0
    return wait_ccdf(tau, max_queue, lam, t)


def _excess_values(t, lam, tau, max_queue, ttft, itl, wait, part, p_block):
    """Return {binding code: metric / target - 1 - slack} for the set targets from the metrics.

    ``part`` = prefill + ITL, what a TTFT percentile adds to the wait.
    """
    itl_t, ttft_t, wait_t, tq, tms, wq, wms, block, _ = t
    out = {}
    if _set(ttft_t):
        out[2] = ttft / ttft_t - 1 - TARGET_SLACK
    if _set(itl_t):
        out[1] = itl / itl_t - 1 - TARGET_SLACK
    if _set(wait_t):
        out[3] = wait / wait_t - 1 - TARGET_SLACK
    if _set(tq):
        shift = tms - part
        tail = 1.0 if shift < 0 else _tail(tau, max_queue, lam, shift)
        out[4] = (tail - (1 - tq)) / (1 - tq)  # exactly P(W > t) <= 1 - q (sizing.hpp)
    if _set(wq):
        out[5] = (_tail(tau, max_queue, lam, wms) - (1 - wq)) / (1 - wq)
    if _set(block):
        out[6] = p_block / block - 1 - TARGET_SLACK
    return out


def _named(m):
    return dict(zip(METRIC_INDEX, m, strict=True))


def _violations(params, max_batch, max_queue, tau, t, rate):
    """{binding code: metric / target - 1} for the set targets at rate."""
    _, m = analyze(params, max_batch, max_queue, rate, tau)
    g = _named(m)
    out = _excess_values(t, rate / 1000, tau, max_queue, g["ttft_ms"], g["itl_ms"],
                         g["wait_ms"], g["prefill_ms"] + g["itl_ms"], g["p_block"])  # fmt: skip
    return out, m


def _bound(params, max_batch, max_queue, tau, t, m1, x2, m2):
    """Return an upper bound on the excess over [x1, x2] from the metrics at both ends.

    By docs/model.md 3.1, service, wait, B, p_block and the wait's tails rise with the rate,
    the read-off's prefill with B and the chunk count, so ITL = (service - prefill) / m is
    at most (service(x2) - prefill(x1)) / m and TTFT = wait + service / m + prefill (1 -
    1/m) at most its value with the prefill at the end that maximises it.
    """
    g1, g2 = _named(m1), _named(m2)
    inv_m = 1 / params[5]
    p_lo, p_hi = g1["prefill_ms"], g2["prefill_ms"]
    part = g2["service_ms"] * inv_m + (p_hi if inv_m <= 1 else p_lo) * (1 - inv_m)
    return _excess_values(t, x2 / 1000, tau, max_queue, g2["wait_ms"] + part,
                          (g2["service_ms"] - p_lo) * inv_m, g2["wait_ms"], part,
                          g2["p_block"])  # fmt: skip


def size(params, max_batch, max_queue, targets, tau=None, rel_tol=1e-13):
    """Size by bisection to rel_tol, returning (status, rate, binding, iterations, metrics).

    Uses the same definitions as the fast kernels (docs/model.md section 3), certified on
    [0, rate] where a metric may fall as the rate rises (section 3.1).
    """
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return _size(params, max_batch, max_queue, targets, tau, rel_tol)


def _size(params, max_batch, max_queue, targets, tau, rel_tol):
    status = validate_targets(targets)
    if status != Status.OK:
        return status, 0.0, 0, 0, np.full(NUM_METRICS, math.nan)
    tiny = subnormal_target(targets)
    if tiny:
        return _INFEASIBLE[tiny], 0.0, tiny, 0, np.full(NUM_METRICS, math.nan)
    if tau is None:
        tau = service_times(*params, max_batch)[0]
    tau = np.asarray(tau, dtype=float)
    mu_N = max_batch / tau[-1] * 1000
    if not (math.isfinite(mu_N) and mu_N > 0):
        return Status.BAD_SERVICE_TIME, 0.0, 0, 0, np.full(NUM_METRICS, math.nan)
    cap = (1 - 1e-3) * mu_N
    cap_binding = 0
    if _set(targets[8]):
        cap *= 0.9
        cap_binding = 7
    idle, m = _violations(params, max_batch, max_queue, tau, targets, 0.0)
    if not idle:
        _, m = analyze(params, max_batch, max_queue, cap, tau)
        return Status.OK, cap, cap_binding, 1, m
    for code in _CHECK_ORDER:
        if idle.get(code, -1) > 0:
            return _INFEASIBLE[code], 0.0, code, 1, np.full(NUM_METRICS, math.nan)

    def excess(x):
        v, m_x = _violations(params, max_batch, max_queue, tau, targets, x)
        return max(v.values()), max(v, key=v.get), m_x

    def bisect(lo, hi, m_lo, binding):
        while hi - lo > rel_tol * hi:
            mid = 0.5 * (lo + hi)
            e, which, m_mid = excess(mid)
            if e <= 0:
                lo, m_lo = mid, m_mid
            else:
                hi, binding = mid, which
        return lo, m_lo, binding

    at_cap, m_cap = _violations(params, max_batch, max_queue, tau, targets, cap)
    if max(at_cap.values()) <= 0:
        lo, m_lo, binding = cap, m_cap, cap_binding
    else:
        lo, m_lo, binding = bisect(0.0, cap, m, max(at_cap, key=at_cap.get))
    if params[0] == KIND_PREFILL_DECODE:
        lo, m_lo, binding = _first_crossing(
            params, max_batch, max_queue, tau, lo, m_lo, binding, excess, bisect
        )
        itl, ttft, tq = targets[0], targets[1], targets[3]
        if _set(itl) or ((_set(ttft) or _set(tq)) and params[5] < 1):
            lo, m_lo, binding = _certify(
                params, max_batch, max_queue, tau, targets, lo, m_lo, binding, excess, bisect, m
            )
    if not lo > 0:
        return _INFEASIBLE[binding], 0.0, binding, 0, np.full(NUM_METRICS, math.nan)
    return Status.OK, lo, binding, 0, m_lo


def _first_crossing(params, max_batch, max_queue, tau, root, m_root, binding, excess, bisect):
    """Find the first crossing of the excess by checking each piece's end below the root.

    PrefillDecode's ITL drops where round(B) reaches a batch with more prefill chunks, so the
    answer is the first crossing of the excess.
    """
    chunks = service_times(*params, max_batch)[1]
    b_hi = min(max(round_half_away(m_root[METRIC_INDEX["in_service"]]), 1), max_batch)
    piece_start = 0.0
    for b in range(1, b_hi):
        if chunks[b] == chunks[b - 1]:
            continue
        level = b + 0.5
        lo, hi = piece_start, root  # B(lo) < level < B(hi): bisect on the batch
        while hi - lo > 1e-13 * hi:
            mid = 0.5 * (lo + hi)
            B = chain_moments(tau, max_queue, mid / 1000)[5]
            lo, hi = (mid, hi) if level > B else (lo, mid)
        left = lo
        e_left, which, _ = excess(left)
        if e_left > 0:
            return bisect(piece_start, left, excess(piece_start)[2], which)
        e_start, which, _m_start = excess(hi)
        if e_start > 0:
            return left, excess(left)[2], which
        piece_start = hi
    return root, m_root, binding


def _certify(params, max_batch, max_queue, tau, t, root, m_root, binding, excess, bisect, m_idle):
    """Check e <= 0 on [0, root (1 - 5e-10)] with the interval bound of :func:`_bound`.

    The check runs from 0 upwards, halving an interval whose bound is positive and doubling the
    next one after a success; a rate that fails holds the first crossing above the last
    certified rate, which becomes the answer (bisected), and the check goes on up to it.
    """
    x1, m1, end, w = 0.0, m_idle, root * (1 - 5e-10), root
    while x1 < end:
        x2 = min(x1 + w, end)
        e2, w2, m2 = excess(x2)
        if e2 > 0:
            root, m_root, binding = bisect(x1, x2, m1, w2)
            end, w = root * (1 - 5e-10), root - x1
            continue
        bound = _bound(params, max_batch, max_queue, tau, t, m1, x2, m2)
        if max(bound.values()) <= 0:
            x1, m1, w = x2, m2, 2 * w
        elif x2 - x1 > 1e-10 * x2:
            w = 0.5 * w
        else:  # both ends hold; the bound cannot rule out a failure between them
            return x1, m1, max(bound, key=bound.get)
    return root, m_root, binding


# ------------------------------------------------------------------ admission rules

# The refined target slots (TARGET_NAMES) of each rule, with their binding codes.
ADMISSION_NAMES = {code: name for name, code in ADMISSIONS.items()}
_REFINED = {1: ((1, 2), (3, 4)), 2: ((1, 2), (2, 3), (3, 4), (5, 5))}
_MIN_NORMAL = 2.2250738585072014e-308


def analyze_admitted(params, max_batch, max_queue, rate, rule, tau=None):
    """Run :func:`analyze` with TTFT refined under the admission rule ``rule``.

    For iteration-level admission the wait and response time are refined too. ``rule`` is an
    ADMISSIONS code; the refinement uses the NumPy formulas of
    :func:`inferplan.admission.adjust`.
    """
    from ..admission import adjust

    if rule not in ADMISSION_NAMES:
        return Status.BAD_ADMISSION, np.full(NUM_METRICS, math.nan)
    status, m = analyze(params, max_batch, max_queue, rate, tau)
    if status != Status.OK or rule == ADMISSIONS[None]:
        return status, m
    vector = None if params[0] != KIND_VECTOR else np.asarray(tau, dtype=float)
    with np.errstate(all="ignore"):
        ttft, wait, resp = adjust(ADMISSION_NAMES[rule], *params, max_batch, max_queue,
                                  _named(m), tau=vector)  # fmt: skip
    m[METRIC_INDEX["ttft_ms"]] = float(ttft)
    m[METRIC_INDEX["wait_ms"]] = float(wait)
    m[METRIC_INDEX["response_ms"]] = float(resp)
    return status, m


def quantiles(params, max_batch, max_queue, rate, q, rule=0, tau=None):
    """Return (status, wait q-quantile, TTFT q-quantile) in ms.

    The wait's quantile is exact, TTFT's has the service part at its mean; under an admission
    rule both shift by its change of the mean wait and TTFT.
    """
    status, m = analyze(params, max_batch, max_queue, rate, tau)
    if status != Status.OK:
        return status, 0.0, 0.0
    if tau is None:
        tau = service_times(*params, max_batch)[0]
    wait = wait_quantile(np.asarray(tau, dtype=float), max_queue, rate / 1000, q)
    g = _named(m)
    ttft = wait + g["prefill_ms"] + g["itl_ms"]
    if rule:
        a = _named(analyze_admitted(params, max_batch, max_queue, rate, rule, tau)[1])
        wait += a["wait_ms"] - g["wait_ms"]
        ttft += a["ttft_ms"] - g["ttft_ms"]
    return Status.OK, wait, ttft


def size_admitted(params, max_batch, max_queue, targets, rule, tau=None):
    """Size like :func:`size`, with the targets the admission rule refines taken under it.

    Returns (status, rate, binding, iterations, metrics). The refined targets are TTFT and, for
    iteration-level admission, the wait. :func:`size` for the other targets caps the rate, and
    an Illinois search below the cap finds where the largest refined excess crosses 0; for
    PrefillDecode, whose read-off jumps at the ends of the pieces of constant chunk count, the
    answer is the first crossing below that root (docs/model.md 3.1).
    """
    from ..sizing import close_bracket

    nan = np.full(NUM_METRICS, math.nan)
    if rule not in ADMISSION_NAMES:
        return Status.BAD_ADMISSION, 0.0, 0, 0, nan
    status = validate_targets(targets)
    if status != Status.OK:
        return status, 0.0, 0, 0, nan
    tiny = subnormal_target(targets)
    if tiny:
        return _INFEASIBLE[tiny], 0.0, tiny, 0, nan
    if rule == ADMISSIONS["immediate"] and params[0] != KIND_PREFILL_DECODE:
        rule = ADMISSIONS[None]  # without prefills: the chain's read-off itself
    refined = [(i, code) for i, code in _REFINED.get(rule, ()) if _set(targets[i])]
    if not refined:
        return size(params, max_batch, max_queue, targets, tau)
    if tau is None:
        tau = service_times(*params, max_batch)[0]
    others = list(targets)
    for i, _ in refined:
        others[i] = 0.0
        if i in (3, 5):
            others[i + 1] = 0.0  # the percentile's ms goes with its quantile
    status, cap, cap_binding, iterations, m_cap = size(params, max_batch, max_queue,
                                                       tuple(others), tau)  # fmt: skip
    if status != Status.OK:
        return status, cap, cap_binding, iterations, m_cap

    def admitted(rate):
        return analyze_admitted(params, max_batch, max_queue, rate, rule, tau)[1]

    def excess(rate, first=False):
        # first: at the idle replica the first target that fails in the reporting order
        # (docs/model.md 3) names the status; elsewhere the largest excess
        m = admitted(rate)
        g = _named(m)
        worst, which = -math.inf, 0
        for i, code in refined:
            if i == 1:
                v = g["ttft_ms"] / targets[1]
            elif i == 2:
                v = g["wait_ms"] / targets[2]
            elif rate > 0.0:
                _, w, t = quantiles(params, max_batch, max_queue, rate, targets[i], rule, tau)
                v = (t if i == 3 else w) / targets[i + 1]
            else:  # an idle replica: nobody waits, TTFT is its mean
                chain = _named(analyze(params, max_batch, max_queue, 0.0, tau)[1])
                v = (
                    g["wait_ms"] - chain["wait_ms"]
                    if i == 5
                    else chain["prefill_ms"] + chain["itl_ms"] + g["ttft_ms"] - chain["ttft_ms"]
                ) / targets[i + 1]
            e = v - 1.0
            if ((first and ((e >= 0.0 and not worst >= 0.0) or (worst < 0.0 and e > worst)))
                    or (not first and e > worst)):  # fmt: skip
                worst, which = e, code
        return worst, which, m

    f_hi, which, m_hi = excess(cap)
    evaluations = 1
    if f_hi <= 0.0:
        root, which, m_root = cap, cap_binding, m_hi
    else:
        f_lo, which_lo, _ = excess(0.0, first=True)
        evaluations += 1
        if f_lo >= 0.0:
            return _INFEASIBLE[which_lo], 0.0, which_lo, iterations + evaluations, nan
        root, m_root, which, steps = close_bracket(
            excess, 0.0, f_lo, None, cap, f_hi, which,
            rel_tol=1e-13, max_evaluations=10**6, bisect_after=100,
        )  # fmt: skip
        evaluations += steps
    if params[0] == KIND_PREFILL_DECODE and root > 0.0:
        root, which, m_root, extra = _first_admitted_crossing(
            params, max_batch, max_queue, tau, root, which, m_root, excess
        )
        evaluations += extra
    if not root > 0.0:
        return _INFEASIBLE[which], 0.0, which, iterations + evaluations, nan
    if m_root is None:
        m_root = admitted(root)
    return Status.OK, root, which, iterations + evaluations, m_root


def _first_admitted_crossing(params, max_batch, max_queue, tau, root, which, m_root, excess):
    """Find the first crossing of the admitted excess below ``root``.

    PrefillDecode's read-off jumps where round(B) reaches a batch split into more prefill
    chunks, and an admitted TTFT may drop there. Checks each piece of constant chunk count just
    left of its end (B = b + 1/2, bisected to 1e-12) and, where a target fails there, bisects
    between the previous piece's end and that point (docs/model.md 3.1). Returns (rate, binding
    code, metrics, evaluations).
    """
    chunks = service_times(*params, max_batch)[1]

    def batch(rate):
        return analyze(params, max_batch, max_queue, rate, tau)[1][METRIC_INDEX["in_service"]]

    top = min(max(round_half_away(batch(root)), 1), max_batch)
    safe, evaluations = 0.0, 0
    for b in range(1, top):
        if chunks[b] == chunks[b - 1]:
            continue
        level = b + 0.5
        lo, hi = safe, root  # B(lo) < level <= B(hi)
        while hi - lo > 1e-12 * hi:
            mid = 0.5 * (lo + hi)
            evaluations += 1
            lo, hi = (mid, hi) if batch(mid) < level else (lo, mid)
        e_left, which_left, _ = excess(lo)
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

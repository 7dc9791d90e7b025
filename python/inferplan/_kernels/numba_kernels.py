"""Numba mirror of the C++ kernel (cpp/include/inferplan), used when the extension is unavailable.

It has the same algorithms and the same order of operations, so the two agree to rounding.

Every function here is compiled in nopython mode; parameters travel as a float64 array
``p = [kind, alpha, beta, gamma, in_tokens, out_tokens, max_num_tokens]``.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from .._codes import ADMISSIONS, BINDINGS, METRICS, STATUSES

# IEEE semantics (inf, NaN) on division by zero, as in C++.
_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}

# The code tables (inferplan._codes) as the kernels' compile-time constants.
_S = STATUSES
OK, UNSTABLE, NOT_CERTIFIED = _S["OK"], _S["UNSTABLE"], _S["NOT_CERTIFIED"]
BAD_KIND, BAD_ALPHA, BAD_BETA = _S["BAD_KIND"], _S["BAD_ALPHA"], _S["BAD_BETA"]
BAD_GAMMA, BAD_IN_TOKENS = _S["BAD_GAMMA"], _S["BAD_IN_TOKENS"]
BAD_OUT_TOKENS, BAD_MAX_NUM_TOKENS = _S["BAD_OUT_TOKENS"], _S["BAD_MAX_NUM_TOKENS"]
BAD_MAX_BATCH, BAD_MAX_QUEUE = _S["BAD_MAX_BATCH"], _S["BAD_MAX_QUEUE"]
BAD_RATE, BAD_SERVICE_TIME = _S["BAD_RATE"], _S["BAD_SERVICE_TIME"]
BAD_TARGET_ITL, BAD_TARGET_TTFT = _S["BAD_TARGET_ITL"], _S["BAD_TARGET_TTFT"]
BAD_TTFT_PCT, BAD_WAIT_PCT = _S["BAD_TTFT_PERCENTILE"], _S["BAD_WAIT_PERCENTILE"]
BAD_MAX_BLOCK, BAD_TPS = _S["BAD_MAX_BLOCK"], _S["BAD_TPS"]
BAD_TARGET_WAIT, BAD_QUANTILE = _S["BAD_TARGET_WAIT"], _S["BAD_QUANTILE"]
BAD_ADMISSION = _S["BAD_ADMISSION"]
INF_ITL, INF_TTFT, INF_WAIT = _S["INFEASIBLE_ITL"], _S["INFEASIBLE_TTFT"], _S["INFEASIBLE_WAIT"]
INF_TTFT_PCT = _S["INFEASIBLE_TTFT_PERCENTILE"]
INF_WAIT_PCT = _S["INFEASIBLE_WAIT_PERCENTILE"]
INF_BLOCK = _S["INFEASIBLE_BLOCK"]
BIND_NONE, BIND_ITL, BIND_TTFT = BINDINGS[None], BINDINGS["itl_ms"], BINDINGS["ttft_ms"]
BIND_WAIT, BIND_BLOCK, BIND_TPS = BINDINGS["wait_ms"], BINDINGS["max_block"], BINDINGS["tps"]
BIND_TTFT_PCT, BIND_WAIT_PCT = BINDINGS["ttft_percentile"], BINDINGS["wait_percentile"]
ADMIT_CHAIN, ADMIT_IMMEDIATE = ADMISSIONS[None], ADMISSIONS["immediate"]
ADMIT_ITERATION = ADMISSIONS["iteration"]
MAX_BATCH_LIMIT = 1 << 24
MAX_CHUNKS = 9007199254740992.0  # 2^53 (service.hpp kMaxChunks)
MAX_QUEUE = 9007199254740992.0  # 2^53 (replica.hpp kMaxQueue)
MIN_SERVICE_PER_REQUEST = 1e-290
MIN_OUT_TOKENS = 1e-9
MAX_WAIT_MS = 1e300
MAX_SERVICE_PER_REQUEST = 1e290
NUM_METRICS = len(METRICS)
NUM_MOMENTS = 16


@nb.njit(**_JIT)
def geo_f(s):
    if abs(s) < 1e-3:
        s2 = s * s
        return -0.5 + s / 12.0 - s * s2 / 720.0 + s * s2 * s2 / 30240.0
    return 1.0 / math.expm1(s) - 1.0 / s


@nb.njit(**_JIT)
def geo_sums(t, n):
    if math.isinf(n):
        return -1.0 / math.expm1(-t), 1.0 / math.expm1(t)
    g0 = n if t == 0.0 else math.expm1(-n * t) / math.expm1(-t)
    return g0, geo_f(t) - n * geo_f(n * t)


@nb.njit(**_JIT)
def _finite_nonneg(x):
    return math.isfinite(x) and x >= 0.0


@nb.njit(**_JIT)
def validate(p):
    kind = p[0]
    if kind != 0.0 and kind != 1.0 and kind != 2.0:
        return BAD_KIND
    out_ok = math.isfinite(p[5]) and p[5] >= MIN_OUT_TOKENS
    if kind == 2.0:
        return OK if out_ok else BAD_OUT_TOKENS
    if not _finite_nonneg(p[1]):
        return BAD_ALPHA
    if not _finite_nonneg(p[2]):
        return BAD_BETA
    if kind == 0.0:
        if not p[1] + p[2] > 0.0:
            return BAD_ALPHA
        return OK if out_ok else BAD_OUT_TOKENS
    if not _finite_nonneg(p[3]):
        return BAD_GAMMA
    if not _finite_nonneg(p[4]):
        return BAD_IN_TOKENS
    if not out_ok:
        return BAD_OUT_TOKENS
    if not (math.isfinite(p[6]) and p[6] > 0.0):
        return BAD_MAX_NUM_TOKENS
    if not p[1] + p[2] + p[3] > 0.0:
        return BAD_ALPHA
    return OK


@nb.njit(**_JIT)
def validate_queue(N, Q):
    if N < 1 or N > MAX_BATCH_LIMIT:
        return BAD_MAX_BATCH
    if math.isnan(Q) or Q < 0.0:
        return BAD_MAX_QUEUE
    if not math.isinf(Q) and (math.floor(Q) != Q or Q > MAX_QUEUE):
        return BAD_MAX_QUEUE
    return OK


@nb.njit(**_JIT)
def _batch_limit(j, L, m, M):
    x = (j + m) * (M - L / j) / (L + m)
    return math.floor(x if x > 0.0 else 0.0)


@nb.njit(**_JIT)
def _chunks(b, j_min, L, m, M):
    """Return the smallest j >= j_min whose batch limit reaches b, by bounded search.

    Mirrors PrefillDecodeWork::chunks; 2 * MAX_CHUNKS when even MAX_CHUNKS chunks do not fit.
    """
    lo = 1.0 if j_min < 1.0 else j_min
    if _batch_limit(lo, L, m, M) >= b:
        return lo
    q = m * M - L - b * (L + m)
    disc = math.sqrt(q * q + 4.0 * M * m * L)
    est = 2.0 * m * L / (q + disc) if q > 0.0 else (-q + disc) / (2.0 * M)
    hi = math.ceil(est) if math.isfinite(est) else math.inf
    if math.isfinite(hi) and hi > lo and hi <= MAX_CHUNKS:
        if _batch_limit(hi, L, m, M) >= b:
            if not _batch_limit(hi - 1.0, L, m, M) >= b:
                return hi
        else:
            lo = hi
            hi = lo + 1.0
    else:
        hi = lo + 1.0
    step = 1.0
    while not _batch_limit(hi, L, m, M) >= b:
        if hi >= MAX_CHUNKS:
            return 2.0 * MAX_CHUNKS
        lo = hi
        hi = min(lo + step, MAX_CHUNKS)
        step *= 2.0
    while hi - lo > 1.0:
        mid = math.floor(0.5 * (lo + hi))
        if _batch_limit(mid, L, m, M) >= b:
            hi = mid
        else:
            lo = mid
    return hi


@nb.njit(**_JIT)
def _w_pre(p, c):
    return (p[2] + p[3] * (c + 1.0) / 2.0) * p[4]


@nb.njit(**_JIT)
def _delta(p, c):
    m, L = p[5], p[4]
    w_dec = p[2] * m + p[3] * m * (L + (m + 1.0) / 2.0)
    return (_w_pre(p, c) + w_dec) / (c + m)


@nb.njit(**_JIT)
def _valid_per_request(x):
    return x >= MIN_SERVICE_PER_REQUEST and x <= MAX_SERVICE_PER_REQUEST


@nb.njit(**_JIT)
def prepare(p, N, Q, tau, chunks, inv_index, inv_mu):
    """Fill tau (unless a vector model), chunks and 1/mu from the reciprocals 1/b.

    Returns (status, monotone, largest 1/mu). Mirrors prepare_replica / prepare_chain.
    """
    s = validate_queue(N, Q)
    if s != OK:
        return s, True, 0.0
    s = validate(p)
    if s != OK:
        return s, True, 0.0
    if p[0] == 2.0:
        for b in range(N):
            if not (math.isfinite(tau[b]) and tau[b] > 0.0):
                return BAD_SERVICE_TIME, True, 0.0
            chunks[b] = 1.0
    elif p[0] == 0.0:
        # DecodeOnly: 1/mu(b) = m (alpha / b + beta) is nonincreasing (mirrors the one-pass
        # branch of prepare_replica).
        k, alpha, beta = p[5], p[1], p[2]
        bd = 1.0
        for b in range(N):
            t = k * (alpha + beta * bd)
            tau[b] = t
            chunks[b] = 1.0
            inv_mu[b] = t * inv_index[b]
            bd += 1.0
        if not (_valid_per_request(inv_mu[0]) and _valid_per_request(inv_mu[N - 1])):
            return BAD_SERVICE_TIME, True, 0.0
        if not math.isinf(Q) and Q * inv_mu[N - 1] > MAX_WAIT_MS:
            return BAD_MAX_QUEUE, True, 0.0
        return OK, True, inv_mu[0]
    else:
        c = 1.0
        limit = _batch_limit(c, p[4], p[5], p[6])
        delta = _delta(p, c)
        for b in range(1, N + 1):
            if not limit >= b:
                c = _chunks(float(b), c, p[4], p[5], p[6])
                if not c <= MAX_CHUNKS:
                    return BAD_MAX_NUM_TOKENS, True, 0.0
                limit = _batch_limit(c, p[4], p[5], p[6])
                delta = _delta(p, c)
            chunks[b - 1] = c
            tau[b - 1] = (c + p[5]) * (p[1] + b * delta)
    largest = 0.0
    for b in range(N):
        inv_mu[b] = tau[b] * inv_index[b]
        largest = max(largest, inv_mu[b])
    for b in range(N):
        if not _valid_per_request(inv_mu[b]):
            return BAD_SERVICE_TIME, True, 0.0
    if not math.isinf(Q) and Q * inv_mu[N - 1] > MAX_WAIT_MS:
        return BAD_MAX_QUEUE, True, 0.0
    monotone = True
    for b in range(1, N):
        monotone = monotone and not (inv_mu[b] > inv_mu[b - 1])
    return OK, monotone, largest


@nb.njit(**_JIT)
def reciprocals(n):
    out = np.empty(n)
    for b in range(n):
        out[b] = 1.0 / (b + 1)
    return out


@nb.njit(**_JIT)
def log_prefix_at(inv_mu, S, filled, n):
    """S[n] = sum_{i<=n} log mu(i), extending the filled part (filled[0] entries) on demand."""
    k = filled[0]
    if k <= n:
        if k == 0:
            S[0] = 0.0
            k = 1
        while k <= n:
            S[k] = S[k - 1] - math.log(inv_mu[k - 1])
            k += 1
        filled[0] = k
    return S[n]


@nb.njit(**_JIT)
def geo_h(s):
    s2 = s * s
    return -1.0 / 12.0 + s2 / 240.0 - s2 * s2 / 6048.0


@nb.njit(**_JIT)
def exp_pair(s):
    """(exp(-s), expm1(-s)) from one call: mirrors exp_pair in geometric.hpp."""
    if s > 746.0:
        return 0.0, -1.0
    if s < 0.7:
        em = math.expm1(-s)
        return 1.0 + em, em
    e = math.exp(-s)
    return e, e - 1.0


SKEW_SERIES = 0.1


@nb.njit(**_JIT)
def geo_k(s):
    s2 = s * s
    return s * (-1.0 / 120.0 + s2 * (1.0 / 1512.0 + s2 * (-1.0 / 28800.0 + s2 / 665280.0)))


@nb.njit(**_JIT)
def geo_tail(x, t, n):
    """Return (x^n, g0, mean, var, skew) for x^i, i = 0..n-1, x = exp(-t) given with t.

    Mirrors GeoTail.
    """
    em = x - 1.0
    inv_em = 1.0 / em
    inv_t = 1.0 / t
    ft = geo_f(t) if t < 1e-3 else -x * inv_em - inv_t
    vt = geo_h(t) if t < 1e-3 else x * (inv_em * inv_em) - inv_t * inv_t
    inv_em3 = inv_em * inv_em * inv_em
    kt = geo_k(t) if t < SKEW_SERIES else -x * (1.0 + x) * inv_em3 - 2.0 * (inv_t * inv_t * inv_t)
    if math.isinf(n):
        return 0.0, -inv_em, ft + inv_t, x * (inv_em * inv_em), -x * (1.0 + x) * inv_em3
    nt = n * t
    if t == 0.0:
        return 1.0, n, 0.5 * (n - 1.0), (n * n - 1.0) / 12.0, 0.0
    xn, emn = exp_pair(nt)
    inv_emn = 1.0 / emn
    inv_nt = 1.0 / nt
    g0 = emn * inv_em
    fnt = geo_f(nt) if nt < 1e-3 else -xn * inv_emn - inv_nt
    vnt = geo_h(nt) if nt < 1e-3 else xn * (inv_emn * inv_emn) - inv_nt * inv_nt
    if nt < SKEW_SERIES:
        knt = geo_k(nt)
    else:
        inv_emn3 = inv_emn * inv_emn * inv_emn
        knt = -xn * (1.0 + xn) * inv_emn3 - 2.0 * (inv_nt * inv_nt * inv_nt)
    return xn, g0, ft - n * fnt, vt - n * n * vnt, kt - n * n * n * knt


@nb.njit(**_JIT)
def _g0_less_last(x, xn, g0, n):
    if n <= 1.0:
        return 0.0
    last = xn / x if x > 0.0 else 0.0
    return g0 - last


TRUNCATION = 1e-18
RESCALE_ABOVE = 2.0**600
RESCALE = 2.0**-600
LOG_RESCALE = -600.0 * 0.69314718055994530942
MAX_BLOCK_RATIO = 2.0**100
SATURATION_ULPS = 4.0 * 2.220446049250313e-16
MAX_SCALAR_RATIO = 2.0**400
HUGE = 1.7976931348623157e308
DEEP_SATURATION_LOG_R = 40.0


@nb.njit(**_JIT)
def head_monotone(N, inv_mu, max_inv, lam, slopes):
    """Return (h0, h1, h2, h3, w0, wN, log_wN, log_scale) as detail::head_monotone does.

    Mirrors detail::head_monotone lane by lane (lane k holds the term n+k of each block of four).
    """
    Nd = float(N)
    log_scale = 0.0
    a0 = a1 = a2 = a3 = 0.0  # H0 lanes
    b0 = b1 = b2 = b3 = 0.0  # H1 lanes
    c0 = c1 = c2 = c3 = 0.0  # H2 lanes
    d0 = d1 = d2 = d3 = 0.0  # H3 lanes
    h0 = 1.0
    h1 = 0.0
    h2 = 0.0
    h3 = 0.0
    w = 1.0
    n = 1
    i0, i1, i2, i3 = 1.0, 2.0, 3.0, 4.0
    blocks = lam * max_inv < MAX_BLOCK_RATIO
    while blocks and n + 3 < N:
        R0 = inv_mu[n - 1] * lam
        R1 = inv_mu[n] * lam
        R2 = inv_mu[n + 1] * lam
        R3 = inv_mu[n + 2] * lam
        S1_1 = R1 * R0
        S1_2 = R2 * R1
        S1_3 = R3 * R2
        S2_2 = S1_2 * R0
        S2_3 = S1_3 * S1_1
        T0 = w * R0
        T1 = w * S1_1
        T2 = w * S2_2
        T3 = w * S2_3
        N0 = i0 * T0
        N1 = i1 * T1
        N2 = i2 * T2
        N3 = i3 * T3
        a0 += T0
        a1 += T1
        a2 += T2
        a3 += T3
        b0 += N0
        b1 += N1
        b2 += N2
        b3 += N3
        if slopes:
            M0 = i0 * N0
            M1 = i1 * N1
            M2 = i2 * N2
            M3 = i3 * N3
            c0 += M0
            c1 += M1
            c2 += M2
            c3 += M3
            d0 += i0 * M0
            d1 += i1 * M1
            d2 += i2 * M2
            d3 += i3 * M3
        w = T3
        n += 4
        i0 += 4.0
        i1 += 4.0
        i2 += 4.0
        i3 += 4.0
        if w > RESCALE_ABOVE:
            w *= RESCALE
            h0 *= RESCALE
            h1 *= RESCALE
            h2 *= RESCALE
            h3 *= RESCALE
            a0 *= RESCALE
            a1 *= RESCALE
            a2 *= RESCALE
            a3 *= RESCALE
            b0 *= RESCALE
            b1 *= RESCALE
            b2 *= RESCALE
            b3 *= RESCALE
            c0 *= RESCALE
            c1 *= RESCALE
            c2 *= RESCALE
            c3 *= RESCALE
            d0 *= RESCALE
            d1 *= RESCALE
            d2 *= RESCALE
            d3 *= RESCALE
            log_scale -= LOG_RESCALE
        elif R3 < 1.0 and (n & 15) == 1:
            bound = w * R3
            room = TRUNCATION * (1.0 - R3)
            if bound * Nd < room * (h1 + ((b0 + b1) + (b2 + b3))) and bound < room * (
                h0 + ((a0 + a1) + (a2 + a3))
            ):
                while n < N:
                    w *= lam * inv_mu[n - 1]
                    n += 1
                break
    h0 += (a0 + a1) + (a2 + a3)
    h1 += (b0 + b1) + (b2 + b3)
    h2 += (c0 + c1) + (c2 + c3)
    h3 += (d0 + d1) + (d2 + d3)
    nd = float(n)
    while n < N:
        w *= lam * inv_mu[n - 1]
        h0 += w
        h1 += nd * w
        if slopes:
            nnw = nd * (nd * w)
            h2 += nnw
            h3 += nd * nnw
        if w > RESCALE_ABOVE:
            w *= RESCALE
            h0 *= RESCALE
            h1 *= RESCALE
            h2 *= RESCALE
            h3 *= RESCALE
            log_scale -= LOG_RESCALE
        n += 1
        nd += 1.0
    wN = w * lam * inv_mu[N - 1]
    w0 = 1.0 if log_scale == 0.0 else math.exp(-log_scale)
    return h0, h1, h2, h3, w0, wN, np.nan, log_scale


@nb.njit(**_JIT)
def head_general(N, inv_mu, S, filled, lam):
    """Mirrors detail::head_general: log weights relative to their maximum."""
    ll = math.log(lam)
    log_prefix_at(inv_mu, S, filled, N)
    top = 0.0
    for n in range(1, N + 1):
        top = max(top, n * ll - S[n])
    h0 = 0.0
    h1 = 0.0
    h2 = 0.0
    h3 = 0.0
    for n in range(N):
        w = math.exp(n * ll - S[n] - top)
        h0 += w
        h1 += n * w
        h2 += float(n) * float(n) * w
        h3 += float(n) * float(n) * float(n) * w
    log_wN = N * ll - S[N] - top
    return h0, h1, h2, h3, math.exp(-top), math.exp(log_wN), log_wN, top


@nb.njit(**_JIT)
def evaluate_chain(N, Q, inv_mu, S, filled, monotone, max_inv, lam, mo, slopes=False):
    """Evaluate the chain's moments into mo and return the status; mirror chain.hpp.

    mo[:] = p0, p_block, not_blocked, in_system, in_service, in_queue, p_full, log_r,
    log_p_full_deep (NaN unless p_full underflows), and with slopes the derivatives of
    in_service, in_queue, p_block in log(lam), then Var(n) and the second derivatives of
    in_service, in_queue, p_block.
    """
    mo[0], mo[1], mo[2], mo[3], mo[4], mo[5] = 1.0, 0.0, 1.0, 0.0, 0.0, 0.0
    mo[6], mo[7], mo[8] = 0.0, 0.0, np.nan
    mo[9], mo[10], mo[11] = 0.0, 0.0, 0.0
    mo[12], mo[13], mo[14], mo[15] = 0.0, 0.0, 0.0, 0.0
    if lam == 0.0:
        return OK
    r = lam * inv_mu[N - 1]
    lr = math.log(r) if r < HUGE else math.log(lam) + math.log(inv_mu[N - 1])
    unbounded = math.isinf(Q)
    if unbounded and lr >= -SATURATION_ULPS:
        return UNSTABLE
    Nd = float(N)
    if monotone and lam * max_inv < MAX_SCALAR_RATIO:
        h0, h1, h2, h3, w0, wN, log_wN, _ = head_monotone(N, inv_mu, max_inv, lam, slopes)
    else:
        h0, h1, h2, h3, w0, wN, log_wN, _ = head_general(N, inv_mu, S, filled, lam)
    t0 = 0.0
    t1 = 0.0
    t2 = 0.0
    t3 = 0.0
    t0_excl_top = 0.0
    w_top = 0.0
    deep = np.nan
    if Q == 0.0:
        w_top = wN
    elif lr < 0.0:
        x = r
        xn, g0, mean, var, skew = geo_tail(x, -lr, Q)
        t0 = wN * x * g0
        t1 = t0 * (mean + 1.0)
        if slopes:
            mu = mean + 1.0
            t2 = t0 * (var + mu * mu)
            t3 = t0 * (skew + mu * (3.0 * var + mu * mu))
        if not unbounded:
            w_top = wN * xn
            t0_excl_top = wN * x * _g0_less_last(x, xn, g0, Q)
    else:
        if math.isnan(log_wN):
            log_wN = math.log(wN)
        log_top = log_wN + Q * lr
        top = 1.0
        x = 1.0 / r
        xn, g0, mean, var, skew = geo_tail(x, lr, Q)
        if log_top > 0.0:
            head_scale = math.exp(-log_top)
            h0 *= head_scale
            h1 *= head_scale
            h2 *= head_scale
            h3 *= head_scale
            w0 *= head_scale
            wN *= head_scale
            deep = log_wN - log_top
        else:
            top = math.exp(log_top)
        t0 = top * g0
        t1 = t0 * (Q - mean)
        if slopes:
            mu = Q - mean
            t2 = t0 * (var + mu * mu)
            t3 = t0 * (mu * (3.0 * var + mu * mu) - skew)
        w_top = top
        t0_excl_top = top * x * _g0_less_last(x, xn, g0, Q)
    Z = h0 + wN + t0
    inv_Z = 1.0 / Z
    mo[0] = w0 * inv_Z
    if unbounded:
        mo[1] = 0.0
        mo[2] = 1.0
    else:
        mo[1] = w_top * inv_Z
        mo[2] = (h0 if Q == 0.0 else h0 + wN + t0_excl_top) * inv_Z
    mo[4] = (h1 + Nd * (wN + t0)) * inv_Z
    mo[5] = t1 * inv_Z
    mo[3] = mo[4] + mo[5]
    mo[6] = wN * inv_Z
    mo[7] = lr
    mo[8] = deep - math.log(Z) if not math.isnan(deep) else np.nan
    if slopes:
        L = mo[3]
        B = mo[4]
        Lq = mo[5]
        n_by_batch = (h2 + Nd * Nd * wN + Nd * (Nd * t0 + t1)) * inv_Z
        n_by_queue = (Nd * t1 + t2) * inv_Z
        nn_by_batch = (h3 + Nd * (Nd * Nd * wN + Nd * (Nd * t0 + 2.0 * t1) + t2)) * inv_Z
        nn_by_queue = (Nd * (Nd * t1 + 2.0 * t2) + t3) * inv_Z
        n2 = n_by_batch + n_by_queue
        var_n = n2 - L * L
        mo[12] = var_n
        mo[9] = n_by_batch - L * B
        mo[10] = n_by_queue - L * Lq
        c2 = 2.0 * L * L - n2
        mo[13] = nn_by_batch - 2.0 * L * n_by_batch + B * c2
        mo[14] = nn_by_queue - 2.0 * L * n_by_queue + Lq * c2
        if unbounded:
            mo[11] = 0.0
            mo[15] = 0.0
        else:
            top_n = Nd + Q - L
            mo[11] = mo[1] * top_n
            mo[15] = mo[1] * (top_n * top_n - var_n)
    return OK


@nb.njit(**_JIT)
def _chunks_at(N, chunks, B):
    b = min(max(math.floor(B + 0.5), 1.0), float(N))  # C's round for B >= 0
    return chunks[int(b) - 1]


@nb.njit(**_JIT)
def _prefill_within(p, N, chunks, B, service):
    """Return the read-off's prefill, capped to leave the decode part of a lone request.

    The decode part is m alpha + w_dec. Mirrors prefill_within in metrics.hpp.
    """
    if p[0] != 1.0:
        return 0.0
    c = _chunks_at(N, chunks, B)
    prefill = c * max(0.0, p[1] + (B - 1.0) * _delta(p, c)) + _w_pre(p, c)
    m, L = p[5], p[4]
    w_dec = p[2] * m + p[3] * m * (L + (m + 1.0) / 2.0)
    room = service - (m * p[1] + w_dec)
    if prefill <= room:
        return prefill
    return room if room > 0.0 else 0.0


@nb.njit(**_JIT)
def read_off(p, N, chunks, B, service, wait):
    """(prefill, itl, ttft) at mean batch B: mirrors read_off in metrics.hpp."""
    prefill = _prefill_within(p, N, chunks, B, service)
    itl = (service - prefill) * (1.0 / p[5])
    return prefill, itl, wait + prefill + itl


@nb.njit(**_JIT)
def latency(p, N, tau, chunks, lam, mo):
    """(X, 1/X, service, wait, prefill, itl, ttft) from the moments: mirrors latency()."""
    # deep saturation (only with a finite queue): mu(N)
    X = 1.0 / (tau[N - 1] * (1.0 / N)) if mo[7] > DEEP_SATURATION_LOG_R else lam * mo[2]
    inv_X = 0.0
    if lam == 0.0:
        service = tau[0]
        wait = 0.0
    else:
        inv_X = 1.0 / X
        service = mo[4] * inv_X
        wait = mo[5] * inv_X
    prefill, itl, ttft = read_off(p, N, chunks, mo[4], service, wait)
    return X, inv_X, service, wait, prefill, itl, ttft


@nb.njit(**_JIT)
def fill_metrics(p, N, tau, chunks, inv_mu, rate, mo, m):
    """m[:15] = every metric at rate from the moments there: mirrors fill_metrics()."""
    lam = rate / 1000.0
    X, inv_X, service, wait, prefill, itl, ttft = latency(p, N, tau, chunks, lam, mo)
    m[0] = rate
    m[1] = mo[0]
    m[2] = mo[1]
    m[3] = X * 1000.0
    m[4] = mo[3]
    m[5] = mo[4]
    m[6] = mo[5]
    m[7] = tau[0] if lam == 0.0 else mo[3] * inv_X
    m[8] = service
    m[9] = wait
    m[13] = mo[4] / N
    m[14] = (1.0 / inv_mu[N - 1]) * 1000.0
    m[12] = prefill
    m[10] = itl
    m[11] = ttft


@nb.njit(**_JIT)
def latency_derivs(p, N, chunks, lam, mo, X, inv_X, metric):
    """Return the first and second derivatives in log(rate) of wait (9), ITL (10) or TTFT (11).

    Mirrors latency_derivs in metrics.hpp.
    """
    dX = lam * (mo[2] - mo[11])
    inv_X2 = inv_X * inv_X
    inv_nb = 1.0 / mo[2]
    a = 1.0 - mo[11] * inv_nb
    c = 1.0 - (2.0 * mo[11] + mo[15]) * inv_nb
    w1 = (mo[10] * X - mo[5] * dX) * inv_X2
    w2 = (mo[14] - 2.0 * a * mo[10] - c * mo[5] + 2.0 * (a * a) * mo[5]) * inv_X
    if metric == 9:
        return w1, w2
    d_service = (mo[9] * X - mo[4] * dX) * inv_X2
    d2_service = (mo[13] - 2.0 * a * mo[9] - c * mo[4] + 2.0 * (a * a) * mo[4]) * inv_X
    d_prefill = 0.0
    d2_prefill = 0.0
    if p[0] == 1.0:
        ch = _chunks_at(N, chunks, mo[4])
        if p[1] + (mo[4] - 1.0) * _delta(p, ch) > 0.0:
            d_prefill = ch * _delta(p, ch) * mo[9]
            d2_prefill = ch * _delta(p, ch) * mo[13]
    inv_k = 1.0 / p[5]
    i1 = (d_service - d_prefill) * inv_k
    i2 = (d2_service - d2_prefill) * inv_k
    if metric == 10:
        return i1, i2
    return w1 + d_prefill + i1, w2 + d2_prefill + i2


@nb.njit(**_JIT)
def analyze(p, N, Q, tau, chunks, inv_index, inv_mu, S, filled, monotone, max_inv, rate, m, mo):
    """Fill m[:15] with the metrics at rate (req/s) and mo with the chain's moments.

    Returns the status. Mirrors analyze in metrics.hpp.
    """
    if not (math.isfinite(rate) and rate >= 0.0):
        return BAD_RATE
    s = evaluate_chain(N, Q, inv_mu, S, filled, monotone, max_inv, rate / 1000.0, mo)
    if s != OK:
        return s
    fill_metrics(p, N, tau, chunks, inv_mu, rate, mo, m)
    return OK


@nb.njit(**_JIT)
def _at(col, i):
    return col[i] if col.shape[0] > 1 else col[0]


@nb.njit(**_JIT)
def row_params(cfg_f, kind, i, p):
    """Fill p for row i from the float columns (alpha..max_num_tokens) and kind."""
    p[0] = float(_at(kind, i))
    for k in range(6):
        p[k + 1] = _at(cfg_f[k], i)


_CHUNK = 1024


@nb.njit(**_JIT)
def scratch_size(max_batch, rows):
    """Return the largest valid max batch of the rows: the size of every scratch buffer.

    Mirrors max_batch_of in batch.hpp.
    """
    max_n = 1
    for i in range(rows if max_batch.shape[0] > 1 else min(rows, 1)):
        b = max_batch[i]
        if b <= MAX_BATCH_LIMIT and b > max_n:
            max_n = b
    return max_n


@nb.njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def analyze_many(kind, cfg_f, max_batch, max_queue, rate, sel, out, status, admission=0):
    """Set out[j, i] to metric sel[j] of row i under the admission rule (analyze_admitted).

    cfg_f: tuple of 6 float columns.
    """
    rows = status.shape[0]
    max_n = scratch_size(max_batch, rows)
    n_chunks = (rows + _CHUNK - 1) // _CHUNK
    for c in nb.prange(n_chunks):
        tau = np.empty(max_n)
        chunks = np.empty(max_n)
        inv_index = reciprocals(max_n)
        inv_mu = np.empty(max_n)
        S = np.empty(max_n + 1)
        filled = np.zeros(1, dtype=np.int64)
        p = np.empty(7)
        m = np.empty(NUM_METRICS)
        mo = np.empty(MO_SIZE)
        for i in range(c * _CHUNK, min(rows, (c + 1) * _CHUNK)):
            row_params(cfg_f, kind, i, p)
            N = _at(max_batch, i)
            s = BAD_KIND if p[0] == 2.0 else OK
            monotone = True
            max_inv = 0.0
            filled[0] = 0
            if s == OK:
                s, monotone, max_inv = prepare(
                    p, N, _at(max_queue, i), tau, chunks, inv_index, inv_mu
                )
            if s == OK:
                s = analyze_admitted(
                    p,
                    N,
                    _at(max_queue, i),
                    tau,
                    chunks,
                    inv_index,
                    inv_mu,
                    S,
                    filled,
                    monotone,
                    max_inv,
                    _at(rate, i),
                    admission,
                    m,
                    mo,
                )
            status[i] = s
            for j in range(sel.shape[0]):
                out[j, i] = m[sel[j]] if s == OK else np.nan


# ---------------------------------------------------------------- quantiles (quantile.hpp)


@nb.njit(**_JIT)
def log_geo_sum(lr, n):
    if lr <= 0.0:
        return math.log(geo_sums(-lr, n)[0])
    return (n - 1.0) * lr + math.log(geo_sums(lr, n)[0])


@nb.njit(**_JIT)
def log_p_full(mo):
    return math.log(mo[6]) if math.isnan(mo[8]) else mo[8]


@nb.njit(**_JIT)
def log_not_blocked(Q, mo):
    """Mirrors log_not_blocked in quantile.hpp."""
    if not (mo[2] > 2.0**-1000) and mo[7] > DEEP_SATURATION_LOG_R and not math.isinf(Q):
        return -mo[7]
    return math.log(mo[2])


@nb.njit(**_JIT)
def wait_ccdf(N, Q, inv_mu, mo, t):
    """P(W > t): mirrors wait_ccdf in quantile.hpp."""
    return wait_ccdf_budget(N, Q, inv_mu, mo, t, math.inf)[0]


@nb.njit(**_JIT)
def wait_ccdf_budget(N, Q, inv_mu, mo, t, max_terms):
    """Return (P(W > t), Poisson terms summed), summing at most ``max_terms`` terms.

    NaN without summing where the window has more than ``max_terms`` terms (mirrors wait_ccdf in
    quantile.hpp with its terms and max_terms).
    """
    if Q == 0.0 or (not (mo[6] > 0.0) and math.isnan(mo[8])):
        return 0.0, 0.0
    lr = mo[7]
    log_scale = log_p_full(mo) - log_not_blocked(Q, mo)
    x = (1.0 / inv_mu[N - 1]) * t
    if t <= 0.0 or x < 2.0**-60:  # P(W > 0), also where mu(N) t is below 2^-60 (quantile.hpp)
        return min(1.0, math.exp(log_scale + log_geo_sum(lr, Q))), 0.0
    if not x <= HUGE:  # t beyond every departure (quantile.hpp)
        return 0.0, 0.0
    spread = 9.0 * math.sqrt(x) + 9.0
    if lr < 0.0 and (math.isinf(Q) or x + spread < Q - 1.0):
        one_minus_r = -math.expm1(lr)
        head = math.exp(log_scale - math.log(one_minus_r) - x * one_minus_r)
        rest = 1.0 if math.isinf(Q) else -math.expm1(Q * lr + x * one_minus_r)
        return min(1.0, head * rest), 0.0
    k_lo = max(0.0, math.floor(x - spread))
    k_hi = min(Q - 1.0, math.ceil(x + spread))
    if k_lo > k_hi:
        return 0.0, 0.0
    log_bound = log_scale + max(
        k_lo * lr + log_geo_sum(lr, Q - k_lo), k_hi * lr + log_geo_sum(lr, Q - k_hi)
    )
    if log_bound < -745.0:  # every term underflows (quantile.hpp)
        return 0.0, 0.0
    window = k_hi - k_lo + 1.0
    if window > max_terms:
        return np.nan, window
    log_x = math.log(x)
    total = 0.0
    k = k_lo
    while k <= k_hi:
        log_pmf = k * log_x - x - math.lgamma(k + 1.0)
        log_g = k * lr + log_geo_sum(lr, Q - k)
        total += math.exp(log_scale + log_pmf + log_g)
        k += 1.0
    return min(1.0, total), window


@nb.njit(**_JIT)
def wait_quantile(N, Q, inv_mu, mo, q):
    """Mirror wait_quantile in quantile.hpp: Markov bracket, then Illinois."""
    return wait_quantile_budget(N, Q, inv_mu, mo, q, math.inf)[0]


@nb.njit(**_JIT)
def wait_quantile_budget(N, Q, inv_mu, mo, q, max_terms):
    """Return (wait q-quantile, Poisson terms summed), NaN past ``max_terms`` terms.

    Mirrors wait_quantile in quantile.hpp with its terms and max_terms: every evaluation
    of the tail draws on the one budget.
    """
    used = 0.0
    target = 1.0 - q
    p0, n = wait_ccdf_budget(N, Q, inv_mu, mo, 0.0, max_terms - used)
    used += n
    if math.isnan(p0):
        return np.nan, used
    if p0 <= target:
        return 0.0, used
    mu = 1.0 / inv_mu[N - 1]
    log_x = mo[7] + math.log(mu) + log_not_blocked(Q, mo)
    mean_wait = mo[5] * math.exp(-log_x)
    lo = 0.0
    hi = mean_wait / target * (1.0 + 1e-9)
    if not (math.isfinite(hi) and hi > 0.0):
        hi = 1.0 / mu
    c, n = wait_ccdf_budget(N, Q, inv_mu, mo, hi, max_terms - used)
    used += n
    f_hi = c - target
    if math.isnan(f_hi):
        return np.nan, used
    grow = 0
    while f_hi > 0.0:
        if grow == 64:
            return math.inf, used
        grow += 1
        lo = hi
        hi *= 2.0
        c, n = wait_ccdf_budget(N, Q, inv_mu, mo, hi, max_terms - used)
        used += n
        f_hi = c - target
        if math.isnan(f_hi):
            return np.nan, used
    c, n = wait_ccdf_budget(N, Q, inv_mu, mo, lo, max_terms - used)
    used += n
    f_lo = c - target
    side = 0
    i = 0
    while i < 200 and hi - lo > 1e-13 * hi:
        mid = hi - f_hi * (hi - lo) / (f_hi - f_lo)
        if not (mid > lo and mid < hi):
            mid = 0.5 * (lo + hi)
        c, n = wait_ccdf_budget(N, Q, inv_mu, mo, mid, max_terms - used)
        used += n
        f = c - target
        if math.isnan(f):
            return np.nan, used
        if f > 0.0:
            lo = mid
            f_lo = f
            if side == -1:
                f_hi *= 0.5
            side = -1
        else:
            hi = mid
            f_hi = f
            if side == 1:
                f_lo *= 0.5
            side = 1
        i += 1
    return hi, used


# ---------------------------------------------------------------- sizing (sizing.hpp)

SATURATION_CAP = 1.0 - 1e-3
TPS_CAP = 0.9
RATE_REL_TOL = 1e-10
TARGET_SLACK = 1e-12
MAX_ITERATIONS = 200
MAX_WORK = 4e8
WINDOW_TERM_COST = 100.0
EVALUATION_COST = 64.0
MIN_DENORMAL = 5e-324


@nb.njit(**_JIT)
def _is_set(x):
    return not math.isnan(x) and x != 0.0


@nb.njit(**_JIT)
def _positive(x):
    return math.isfinite(x) and x > 0.0


@nb.njit(**_JIT)
def _fraction(x):
    return math.isfinite(x) and 0.0 < x < 1.0


@nb.njit(**_JIT)
def validate_targets(t):
    """Return OK for valid targets t, else the status code of the first bad one.

    t = itl, ttft, wait, ttft_pq, ttft_p_ms, wait_pq, wait_p_ms, max_block, tps.
    """
    if _is_set(t[0]) and not _positive(t[0]):
        return BAD_TARGET_ITL
    if _is_set(t[1]) and not _positive(t[1]):
        return BAD_TARGET_TTFT
    if _is_set(t[2]) and not _positive(t[2]):
        return BAD_TARGET_WAIT
    if (_is_set(t[3]) or _is_set(t[4])) and not (_fraction(t[3]) and _positive(t[4])):
        return BAD_TTFT_PCT
    if (_is_set(t[5]) or _is_set(t[6])) and not (_fraction(t[5]) and _positive(t[6])):
        return BAD_WAIT_PCT
    if _is_set(t[7]) and not _fraction(t[7]):
        return BAD_MAX_BLOCK
    if _is_set(t[8]) and not _positive(t[8]):
        return BAD_TPS
    return OK


@nb.njit(**_JIT)
def subnormal_target(t):
    """Return the binding code of a target below the smallest normal double (BIND_NONE if none).

    Such a target is infeasible. Mirrors subnormal_target in sizing.hpp.
    """
    tiny = 2.2250738585072014e-308
    if _is_set(t[1]) and t[1] < tiny:
        return BIND_TTFT
    if _is_set(t[0]) and t[0] < tiny:
        return BIND_ITL
    if _is_set(t[2]) and t[2] < tiny:
        return BIND_WAIT
    if _is_set(t[3]) and t[4] < tiny:
        return BIND_TTFT_PCT
    if _is_set(t[5]) and t[6] < tiny:
        return BIND_WAIT_PCT
    if _is_set(t[7]) and t[7] < tiny:
        return BIND_BLOCK
    return BIND_NONE


@nb.njit(**_JIT)
def _tail(N, Q, inv_mu, lam, mo, t, st):
    """Return (P(W > t), status), counting the Erlang window's terms against the work bound.

    P(W > t) is 0 at an idle replica and where mu(N) t overflows. Mirrors TargetExcess::tail.
    """
    if lam == 0.0 or Q == 0.0:
        return 0.0, OK
    x = (1.0 / inv_mu[N - 1]) * t
    if not x < math.inf:
        return 0.0, OK
    # only a window of Erlang terms costs work, counted before it is summed
    p, terms = wait_ccdf_budget(
        N, Q, inv_mu, mo, t, max(0.0, (MAX_WORK - st[ST_WORK]) / WINDOW_TERM_COST)
    )
    st[ST_WORK] += WINDOW_TERM_COST * terms
    if st[ST_WORK] > MAX_WORK:
        return np.nan, NOT_CERTIFIED
    return p, OK


@nb.njit(**_JIT)
def _take(best, e, first):
    """Tell whether excess e replaces best: mirror combine_values's take in sizing.hpp.

    It does if it is the largest, or with first if it is the first positive one (and the
    largest while none is).
    """
    if first:
        return (e > 0.0 and not best > 0.0) or (best <= 0.0 and e > best)
    return e > best


@nb.njit(**_JIT)
def _combine(N, Q, inv_mu, t, lam, mo, ttft, itl, wait, part, p_block, st, first=False):
    """Return (largest excess, binding code, metric, value, status) of the set targets.

    Computed from the given metrics; mirrors TargetExcess::combine_values (with first, the first
    target in the reporting order that fails). A percentile target compares P(W > t) with 1 - q
    exactly.
    """
    best = -math.inf
    arg = BIND_NONE
    metric = -1
    value = 0.0
    s = OK
    if _is_set(t[1]):
        e = ttft * (1.0 / t[1]) - 1.0 - TARGET_SLACK
        if _take(best, e, first):
            best, arg, metric, value = e, BIND_TTFT, 11, ttft
    if _is_set(t[0]):
        e = itl * (1.0 / t[0]) - 1.0 - TARGET_SLACK
        if _take(best, e, first):
            best, arg, metric, value = e, BIND_ITL, 10, itl
    if _is_set(t[2]):
        e = wait * (1.0 / t[2]) - 1.0 - TARGET_SLACK
        if _take(best, e, first):
            best, arg, metric, value = e, BIND_WAIT, 9, wait
    if _is_set(t[3]):
        tt = t[4] - part
        tail = 1.0
        if not tt < 0.0:
            tail, s1 = _tail(N, Q, inv_mu, lam, mo, tt, st)
            if s1 != OK:
                s = s1
        e = (tail - (1.0 - t[3])) * (1.0 / (1.0 - t[3]))
        if _take(best, e, first):
            best, arg, metric, value = e, BIND_TTFT_PCT, -1, tail
    if _is_set(t[5]):
        tail, s1 = _tail(N, Q, inv_mu, lam, mo, t[6], st)
        if s1 != OK:
            s = s1
        e = (tail - (1.0 - t[5])) * (1.0 / (1.0 - t[5]))
        if _take(best, e, first):
            best, arg, metric, value = e, BIND_WAIT_PCT, -1, tail
    if _is_set(t[7]):
        e = p_block * (1.0 / t[7]) - 1.0 - TARGET_SLACK
        if _take(best, e, first):
            best, arg, metric, value = e, BIND_BLOCK, 2, p_block
    return best, arg, metric, value, s


@nb.njit(**_JIT)
def _excess(args, t, rate, mo, st, slopes=False):
    """Return the largest relative excess over the set targets, its binding code and status.

    With slopes, also the binding target's G' and G'' for G = log(metric) in log(rate), NaN for a
    percentile; mo receives the chain's moments. Mirrors TargetExcess::operator().
    """
    p, N, Q, tau, chunks, _inv_index, inv_mu, S, filled, monotone, max_inv = args
    if not (math.isfinite(rate) and rate >= 0.0):
        return math.inf, BIND_NONE, BAD_RATE, np.nan, np.nan
    st[ST_WORK] += N + EVALUATION_COST
    if st[ST_WORK] > MAX_WORK:
        return math.inf, BIND_NONE, NOT_CERTIFIED, np.nan, np.nan
    lam = rate / 1000.0
    s = evaluate_chain(N, Q, inv_mu, S, filled, monotone, max_inv, lam, mo, slopes)
    if s != OK:
        return math.inf, BIND_NONE, s, np.nan, np.nan
    X, inv_X, _service, wait, prefill, itl, ttft = latency(p, N, tau, chunks, lam, mo)
    best, arg, metric, value, s = _combine(
        N, Q, inv_mu, t, lam, mo, ttft, itl, wait, prefill + itl, mo[1], st
    )
    if s != OK:
        return math.inf, BIND_NONE, s, np.nan, np.nan
    g1 = np.nan
    g2 = np.nan
    if slopes:
        d1 = 0.0
        d2 = 0.0
        if lam > 0.0 and metric >= 0:
            if metric == 2:
                d1, d2 = mo[11], mo[15]
            else:
                d1, d2 = latency_derivs(p, N, chunks, lam, mo, X, inv_X, metric)
        if metric >= 0 and value > 0.0:
            inv_value = 1.0 / value
            g1 = d1 * inv_value
            g2 = d2 * inv_value - g1 * g1
    return best, arg, OK, g1, g2


@nb.njit(**_JIT)
def _chain(args, rate, mo, st):
    """Solve the chain at rate with slopes, counted against the work bound.

    Mirrors TargetExcess::chain.
    """
    _p, N, Q, _tau, _chunks_unused, _inv_index, inv_mu, S, filled, monotone, max_inv = args
    st[ST_WORK] += N + EVALUATION_COST
    if st[ST_WORK] > MAX_WORK:
        return NOT_CERTIFIED
    return evaluate_chain(N, Q, inv_mu, S, filled, monotone, max_inv, rate / 1000.0, mo, True)


@nb.njit(**_JIT)
def _excess_at(args, t, rate, mo, st):
    """(excess, which, status) at rate from the moments mo there (TargetExcess::at)."""
    p, N, Q, tau, chunks, _inv_index, inv_mu, _S_unused, _filled, _monotone, _max_inv = args
    lam = rate / 1000.0
    _X, _inv_X, _service, wait, prefill, itl, ttft = latency(p, N, tau, chunks, lam, mo)
    e, which, _, _, s = _combine(
        N, Q, inv_mu, t, lam, mo, ttft, itl, wait, prefill + itl, mo[1], st
    )
    return (e if s == OK else np.nan), which, s


@nb.njit(**_JIT)
def _first_failing(args, t, rate, mo, st):
    """Return (binding code, status) of the first target in the reporting order that fails.

    The target fails at rate, judged from the moments mo there (TargetExcess::first_failing).
    """
    p, N, Q, tau, chunks, _inv_index, inv_mu, _S_unused, _filled, _monotone, _max_inv = args
    lam = rate / 1000.0
    _X, _inv_X, _service, wait, prefill, itl, ttft = latency(p, N, tau, chunks, lam, mo)
    _, which, _, _, s = _combine(
        N, Q, inv_mu, t, lam, mo, ttft, itl, wait, prefill + itl, mo[1], st, True
    )
    return which, s


@nb.njit(**_JIT)
def _bound(args, t, x1, m1, x2, m2, st):
    """(upper bound on the excess over [x1, x2], which, status): TargetExcess::bound."""
    p, N, Q, tau, chunks, _inv_index, inv_mu, _S_unused, _filled, _monotone, _max_inv = args
    lam2 = x2 / 1000.0
    _X, _inv_X, service, wait, prefill, _itl, _ttft = latency(p, N, tau, chunks, lam2, m2)
    p_lo = 0.0
    if p[0] == 1.0:
        B1 = m1[4]
        c1 = _chunks_at(N, chunks, B1)
        raw = c1 * max(0.0, p[1] + (B1 - 1.0) * _delta(p, c1)) + _w_pre(p, c1)
        m, L = p[5], p[4]
        w_dec = p[2] * m + p[3] * m * (L + (m + 1.0) / 2.0)
        service1 = latency(p, N, tau, chunks, x1 / 1000.0, m1)[2]
        p_lo = min(raw, max(service1 - (m * p[1] + w_dec), 0.0))
    p_hi = prefill
    inv_m = 1.0 / p[5]
    p_ttft = p_hi if inv_m <= 1.0 else p_lo
    part = service * inv_m + p_ttft * (1.0 - inv_m)
    e, which, _, _, s = _combine(
        N, Q, inv_mu, t, lam2, m2, wait + part, (service - p_lo) * inv_m, wait, part, m2[1], st
    )
    return (e if s == OK else np.nan), which, s


@nb.njit(**_JIT)
def _infeasible(binding):
    if binding == BIND_ITL:
        return INF_ITL
    if binding == BIND_TTFT:
        return INF_TTFT
    if binding == BIND_WAIT:
        return INF_WAIT
    if binding == BIND_TTFT_PCT:
        return INF_TTFT_PCT
    if binding == BIND_WAIT_PCT:
        return INF_WAIT_PCT
    return INF_BLOCK


# The sizing workspace (one float array, so that a batch call allocates once per chunk of
# rows): [moments | moments at the bracket's feasible end | idle moments | two more | state].
WS_BEST = NUM_MOMENTS
WS_IDLE = WS_BEST + NUM_MOMENTS
WS_M1 = WS_IDLE + NUM_MOMENTS
WS_M2 = WS_M1 + NUM_MOMENTS
WS_AM = WS_M2 + NUM_MOMENTS  # the admitted metrics of size_admitted's evaluations
WS_ST = WS_AM + NUM_METRICS
MO_SIZE = WS_ST + 4
ST_WORK = 0
# The bracket of a search (sizing.hpp Bracket): a, G(a), b, G(b), which at a, which at b.
BR_A, BR_GA, BR_B, BR_GB, BR_AW, BR_BW = 0, 1, 2, 3, 4, 5


@nb.njit(**_JIT)
def brent_root(args, t, a, fa, b, fb, rel_tol, ws, cb, rule=0):
    """Mirror brent_root in sizing.hpp with close_bracket's evaluation.

    cb = [na, nfa, nb, nfb, nw, status]; returns the number of evaluations. rule > 0: the
    excess is size_admitted's under that admission rule (admission.hpp).
    """
    mo = ws[:NUM_MOMENTS]
    st = ws[WS_ST:]
    c, fc = a, fa
    d = b - a
    e = d
    evaluations = 0
    while evaluations < MAX_ITERATIONS:
        if (fb > 0.0) == (fc > 0.0):
            c = a
            fc = fa
            d = b - a
            e = d
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol = 0.5 * rel_tol * abs(b) + 1e-300
        xm = 0.5 * (c - b)
        if abs(xm) <= tol or fb == 0.0:
            break
        if abs(e) >= tol and abs(fa) > abs(fb):
            sb = fb / fa
            if a == c:
                pp = 2.0 * xm * sb
                q = 1.0 - sb
            else:
                qa = fa / fc
                rb = fb / fc
                pp = sb * (2.0 * xm * qa * (qa - rb) - (b - a) * (rb - 1.0))
                q = (qa - 1.0) * (rb - 1.0) * (sb - 1.0)
            if pp > 0.0:
                q = -q
            else:
                pp = -pp
            if 2.0 * pp < min(3.0 * xm * q - abs(tol * q), abs(e * q)):
                e = d
                d = pp / q
            else:
                d = xm
                e = d
        else:
            d = xm
            e = d
        a = b
        fa = fb
        if abs(d) > tol:
            b += d
        else:
            b += tol if xm > 0.0 else -tol
        # close_bracket's f
        if rule == 0:
            v, w, s, _, _ = _excess(args, t, b, mo, st)
        else:
            v, w, s = _admitted_actual(args, t, rule, b, ws)
        if s != OK:
            cb[5] = s
            return evaluations + 1
        if b > cb[0] and b < cb[2]:
            if v <= 0.0:
                cb[0] = b
                cb[1] = v
            else:
                cb[2] = b
                cb[3] = v
                cb[4] = w
        fb = -MIN_DENORMAL if v == 0.0 else v
        evaluations += 1
    return evaluations


@nb.njit(**_JIT)
def close_bracket(args, t, a, fa, b, fb, b_which, ws, rel_tol=RATE_REL_TOL, rule=0):
    """Mirror close_bracket in sizing.hpp.

    Returns (evaluations, a, fa, b, fb, b_which, status, closed).
    """
    evaluations = 0
    cb = np.empty(6)
    s = OK
    rnd = 0
    while rnd < 8 and b - a > rel_tol * b:
        cb[0], cb[1], cb[2], cb[3], cb[4], cb[5] = a, fa, b, fb, b_which, OK
        evaluations += brent_root(args, t, a, fa, b, fb, rel_tol, ws, cb, rule)
        if cb[5] != OK:
            s = int(cb[5])
            break
        a, fa, b, fb, b_which = cb[0], cb[1], cb[2], cb[3], int(cb[4])
        rnd += 1
    closed = s == OK and b - a <= 2.0 * rel_tol * b
    return evaluations, a, fa, b, fb, b_which, s, closed


@nb.njit(**_JIT)
def _close_held_bracket(args, t, br, ws):
    """Close the bracket size_replica holds in br, writing its ends back.

    Returns (evaluations, status, closed), as sizing.hpp's close_bracket on br's fields.
    """
    ev, a, ga, b, gb, bw, s, closed = close_bracket(
        args, t, br[BR_A], br[BR_GA], br[BR_B], br[BR_GB], int(br[BR_BW]), ws
    )
    br[BR_A], br[BR_GA], br[BR_B], br[BR_GB], br[BR_BW] = a, ga, b, gb, bw
    return ev, s, closed


NEWTON_CLOSE = 1e-5
HALLEY_CLOSE = 3e-4


@nb.njit(**_JIT)
def _to_g(e, log1p_slack):
    """log1p(e + slack) - log1p(slack), by a short series near 0 (mirrors to_g)."""
    u = e + TARGET_SLACK
    if abs(u) < 1e-3:
        return u * (1.0 - u * (0.5 - u * (1.0 / 3.0 - 0.25 * u))) - TARGET_SLACK
    return math.log1p(u) - log1p_slack


@nb.njit(**_JIT)
def halley_step(g, slope, curv):
    """(step, cubic): mirrors halley_step in sizing.hpp."""
    inv_slope = 1.0 / slope
    newton = g * inv_slope
    denom = 1.0 - 0.5 * newton * curv * inv_slope
    cubic = denom > 0.5 and denom < 2.0
    return (newton / denom if cubic else newton), cubic


@nb.njit(**_JIT)
def newton_root(args, t, br, x, gx, slope, curv, slope_which, ws):
    """Mirror newton_root in sizing.hpp, returning (evaluations, status, converged).

    br is the bracket, ws[WS_BEST:] the moments at its feasible end.
    """
    mo = ws[:NUM_MOMENTS]
    st = ws[WS_ST:]
    log1p_slack = math.log1p(TARGET_SLACK)
    evaluations = 0
    stalled = 0
    halved = True
    prev_step = math.inf
    while evaluations < MAX_ITERATIONS:
        a = br[BR_A]
        b = br[BR_B]
        if b - a <= RATE_REL_TOL * b:
            return evaluations, OK, True
        step, cubic = halley_step(gx, slope, curv)
        stall = a > 0.0 and not halved and not abs(step) < 0.5 * abs(prev_step)
        stalled = stalled + 1 if stall else 0
        prev_step = step
        if abs(step) < 1e-3:
            shrink = 1.0 - step * (1.0 - step * (0.5 - step / 6.0))
        else:
            shrink = math.exp(-step)
        cand = x * shrink
        newton_ok = stalled < 2 and slope > 0.0 and math.isfinite(cand) and cand > a and cand < b
        if newton_ok and abs(step) <= RATE_REL_TOL and gx <= 0.0:
            return evaluations, OK, True
        close = newton_ok and abs(step) < (HALLEY_CLOSE if cubic else NEWTON_CLOSE)
        if close:
            cand *= 1.0 - 0.5 * RATE_REL_TOL
            if not cand > a:
                return evaluations, OK, True
        elif not newton_ok:
            if a == 0.0:
                cand = 0.5 * b
            else:
                la = math.log(a)
                lb = math.log(b)
                lc = la - br[BR_GA] * (lb - la) / (br[BR_GB] - br[BR_GA])
                guard = 1e-3 * (lb - la)
                if stalled >= 2 or not (lc > la + guard and lc < lb - guard):
                    lc = 0.5 * (la + lb)
                cand = math.exp(lc)
        e, which, s, new_slope, new_curv = _excess(args, t, cand, mo, st, not close)
        evaluations += 1
        if s != OK:
            return evaluations, s, False
        if close:
            new_slope = slope
            new_curv = curv
            if which != slope_which:
                new_slope = np.nan
        slope_which = which
        g = _to_g(e, log1p_slack)
        width = b - a
        if e <= 0.0:
            br[BR_A] = cand
            br[BR_GA] = g
            br[BR_AW] = which
            ws[WS_BEST : WS_BEST + NUM_MOMENTS] = mo
        else:
            br[BR_B] = cand
            br[BR_GB] = g
            br[BR_BW] = which
        halved = not br[BR_B] - br[BR_A] > 0.5 * width
        x = cand
        gx = g
        slope = new_slope
        curv = new_curv
    return evaluations, OK, False


CERTIFY_GAP = 5e-10
CERTIFY_STEP = 0.97


@nb.njit(**_JIT)
def certify_bound(args, t, e_idle, answer, above, binding, ws):
    """Mirrors certify_bound in sizing.hpp: (status, answer, above, binding, evaluations)."""
    st = ws[WS_ST:]
    idle_mo = ws[WS_IDLE : WS_IDLE + NUM_MOMENTS]
    m1 = ws[WS_M1 : WS_M1 + NUM_MOMENTS]
    m2 = ws[WS_M2 : WS_M2 + NUM_MOMENTS]
    m1[:] = idle_mo
    evaluations = 0
    x1 = 0.0
    e1 = e_idle
    end = answer * (1.0 - CERTIFY_GAP)
    w = end
    while x1 < end:
        x2 = min(x1 + w, end)
        s = _chain(args, x2, m2, st)
        evaluations += 1
        if s != OK:
            return s, answer, above, binding, evaluations
        e2, w2, s = _excess_at(args, t, x2, m2, st)
        if s != OK:
            return s, answer, above, binding, evaluations
        if e2 > 0.0:
            ev, a, _fa, b, _fb, bw, s, closed = close_bracket(args, t, x1, e1, x2, e2, w2, ws)
            evaluations += ev
            if s != OK:
                return s, answer, above, binding, evaluations
            if not closed:
                return NOT_CERTIFIED, answer, above, binding, evaluations
            answer = a
            above = b
            binding = bw
            end = answer * (1.0 - CERTIFY_GAP)
            w = end - x1
            continue
        u, wb, s = _bound(args, t, x1, m1, x2, m2, st)
        if s != OK:
            return s, answer, above, binding, evaluations
        growth = (u - e1) / (x2 - x1)
        if u <= 0.0:
            x1 = x2
            m1[:] = m2
            e1 = e2
            w = min(8.0 * w, CERTIFY_STEP * -e1 / growth) if growth > 0.0 else 8.0 * w
        elif x2 - x1 > RATE_REL_TOL * x2:
            w = min(0.9 * w, CERTIFY_STEP * -e1 / growth)
        else:
            return OK, x1, x2, wb, evaluations
    return OK, answer, above, binding, evaluations


@nb.njit(**_JIT)
def _guess_excess(p, N, tau, chunks, t, b):
    """Return the queue-free read-off's excess at batch b (> 0: a target is missed)."""
    _prefill, itl, ttft = read_off(p, N, chunks, float(b), tau[b - 1], 0.0)
    e_itl = itl * (1.0 / t[0]) - 1.0 if _is_set(t[0]) else -1.0
    e_ttft = ttft * (1.0 / t[1]) - 1.0 if _is_set(t[1]) else -1.0
    return e_itl if e_itl > e_ttft else e_ttft


@nb.njit(**_JIT)
def guess_rate(p, N, tau, chunks, t, cap):
    """Mirrors guess_rate in sizing.hpp."""
    if not (_is_set(t[0]) or _is_set(t[1])):
        return 0.0
    lo = 0
    hi = N
    e_hi = _guess_excess(p, N, tau, chunks, t, hi)
    if not e_hi > 0.0:
        return 0.0
    while hi - lo > 1:
        mid = lo + (hi - lo) // 2
        e = _guess_excess(p, N, tau, chunks, t, mid)
        if e > 0.0:
            hi = mid
            e_hi = e
        else:
            lo = mid
    guess = 1000.0 * float(hi) / tau[hi - 1]
    if lo >= 1:
        e_lo = _guess_excess(p, N, tau, chunks, t, lo)
        f = e_lo / (e_lo - e_hi)
        B = float(lo) + f
        tb = tau[lo - 1] + f * (tau[hi - 1] - tau[lo - 1])
        guess = 1000.0 * B / tb
    return guess if guess < cap else 0.0


@nb.njit(**_JIT)
def _check_targets(t):
    """Return (status, binding) for targets no search can meet, (OK, BIND_NONE) otherwise.

    Such a target is a bad one, or one below the smallest normal double (infeasible,
    sizing.hpp).
    """
    s = validate_targets(t)
    if s != OK:
        return s, BIND_NONE
    tiny = subnormal_target(t)
    if tiny != BIND_NONE:
        return _infeasible(tiny), tiny
    return OK, BIND_NONE


@nb.njit(**_JIT)
def size_replica(
    p, N, Q, tau, chunks, inv_index, inv_mu, S, filled, monotone, max_inv, t, out_m, ws
):
    """Mirror size_replica in sizing.hpp, returning (status, rate, binding, iterations).

    out_m gets the metrics at the rate. ws is the workspace (MO_SIZE).
    """
    s, tiny = _check_targets(t)
    if s != OK:
        return s, 0.0, tiny, 0
    mu_N = (1.0 / inv_mu[N - 1]) * 1000.0
    if not (math.isfinite(mu_N) and mu_N > 0.0):
        return BAD_SERVICE_TIME, 0.0, BIND_NONE, 0
    cap = SATURATION_CAP * mu_N
    cap_binding = BIND_NONE
    if _is_set(t[8]):
        cap *= TPS_CAP
        cap_binding = BIND_TPS
    args = (p, N, Q, tau, chunks, inv_index, inv_mu, S, filled, monotone, max_inv)
    mo = ws[:NUM_MOMENTS]
    a_mo = ws[WS_BEST : WS_BEST + NUM_MOMENTS]
    idle_mo = ws[WS_IDLE : WS_IDLE + NUM_MOMENTS]
    st = ws[WS_ST:]
    st[:] = 0.0
    n_targets = 0
    for k in range(8):
        if _is_set(t[k]) and k != 4 and k != 6:
            n_targets += 1
    if n_targets == 0:
        s = analyze(
            p, N, Q, tau, chunks, inv_index, inv_mu, S, filled, monotone, max_inv, cap, out_m, mo
        )
        return s, cap, cap_binding, 1
    e_lo, which, s, _, _ = _excess(args, t, 0.0, idle_mo, st)
    if s != OK:
        return s, 0.0, BIND_NONE, 1
    a_mo[:] = idle_mo
    iterations = 1
    if e_lo > 0.0:
        which, s = _first_failing(args, t, 0.0, idle_mo, st)
        if s != OK:
            return s, 0.0, BIND_NONE, iterations
        fill_metrics(p, N, tau, chunks, inv_mu, 0.0, idle_mo, out_m)
        return _infeasible(which), 0.0, which, iterations
    log1p_slack = math.log1p(TARGET_SLACK)
    br = np.empty(6)
    br[BR_A], br[BR_GA], br[BR_B], br[BR_GB] = 0.0, -math.inf, math.inf, 0.0
    br[BR_AW], br[BR_BW] = BIND_NONE, BIND_NONE
    x = guess_rate(p, N, tau, chunks, t, cap)
    gx = 0.0
    slope = 0.0
    curv = 0.0
    if x > 0.0:
        e0, which, s, slope, curv = _excess(args, t, x, mo, st, True)
        iterations += 1
        if s != OK:
            return s, 0.0, BIND_NONE, iterations
        gx = _to_g(e0, log1p_slack)
        if e0 <= 0.0:
            br[BR_A] = x
            br[BR_GA] = gx
            br[BR_AW] = which
            a_mo[:] = mo
            x = 0.0
        else:
            br[BR_B] = x
            br[BR_GB] = gx
            br[BR_BW] = which
    at_cap = False
    if x == 0.0:
        e_hi, which, s, slope, curv = _excess(args, t, cap, mo, st, True)
        iterations += 1
        if s != OK:
            return s, 0.0, BIND_NONE, iterations
        if e_hi <= 0.0:
            at_cap = True
            br[BR_A] = cap
            a_mo[:] = mo
            br[BR_BW] = cap_binding
        else:
            x = cap
            br[BR_B] = cap
            gx = _to_g(e_hi, log1p_slack)
            br[BR_GB] = gx
            br[BR_BW] = which
    if not at_cap:
        ev, s, converged = newton_root(args, t, br, x, gx, slope, curv, which, ws)
        iterations += ev
        if s != OK:
            return s, 0.0, BIND_NONE, iterations
        if not converged:
            ev, s, converged = _close_held_bracket(args, t, br, ws)
            iterations += ev
            if s != OK:
                return s, 0.0, BIND_NONE, iterations
            if not converged:
                return NOT_CERTIFIED, 0.0, BIND_NONE, iterations
            if br[BR_A] > 0.0:
                _, which, s, _, _ = _excess(args, t, br[BR_A], a_mo, st)
                iterations += 1
                if s != OK:
                    return s, 0.0, BIND_NONE, iterations
    # PrefillDecode's excess may jump up where the chunk count does (sizing.hpp)
    jumps = p[0] == 1.0 and N > 1 and chunks[0] != chunks[N - 1]
    if (
        not at_cap
        and (n_targets > 1 or jumps)
        and not (br[BR_B] - br[BR_A] <= 4.0 * RATE_REL_TOL * br[BR_B])
    ):
        up = br[BR_A] * (1.0 + 2.0 * RATE_REL_TOL)
        e_up, which, s, _, _ = _excess(args, t, up, mo, st)
        iterations += 1
        if s != OK:
            return s, 0.0, BIND_NONE, iterations
        if e_up > 0.0:
            br[BR_B] = up
            br[BR_BW] = which
        else:
            br[BR_A] = up
            br[BR_GA] = _to_g(e_up, log1p_slack)
            br[BR_AW] = which
            ev, s, closed = _close_held_bracket(args, t, br, ws)
            iterations += ev
            if s != OK:
                return s, 0.0, BIND_NONE, iterations
            if not closed:
                return NOT_CERTIFIED, 0.0, BIND_NONE, iterations
            _, which, s, _, _ = _excess(args, t, br[BR_A], a_mo, st)
            iterations += 1
            if s != OK:
                return s, 0.0, BIND_NONE, iterations
    answer = br[BR_A]
    above = br[BR_B]
    if at_cap:
        binding = cap_binding
    elif br[BR_B] - br[BR_A] <= 4.0 * RATE_REL_TOL * br[BR_B]:
        binding = int(br[BR_BW])
    else:
        binding = int(br[BR_AW])
    drops = p[0] == 1.0 and (_is_set(t[0]) or ((_is_set(t[1]) or _is_set(t[3])) and p[5] < 1.0))
    if drops and answer > 0.0:
        s, answer, above, binding, ev = certify_bound(args, t, e_lo, answer, above, binding, ws)
        iterations += ev
        if s != OK:
            return s, 0.0, BIND_NONE, iterations
        if answer != br[BR_A] and answer > 0.0:
            _, which, s, _, _ = _excess(args, t, answer, a_mo, st)
            iterations += 1
            if s != OK:
                return s, 0.0, BIND_NONE, iterations
    if not answer > 0.0:
        fill_metrics(p, N, tau, chunks, inv_mu, 0.0, a_mo, out_m)
        return _infeasible(binding), 0.0, binding, iterations
    fill_metrics(p, N, tau, chunks, inv_mu, answer, a_mo, out_m)
    return OK, answer, binding, iterations


@nb.njit(**_JIT)
def optimal_concurrency(
    p, N, Q, tau, chunks, inv_index, inv_mu, S, filled, monotone, max_inv, t, tol, out_m, mo
):
    """Mirrors concurrency.hpp: (status, max_batch, peak, rate, binding, iterations)."""
    if not (math.isfinite(tol) and 0.0 <= tol < 1.0):
        return BAD_QUANTILE, 0, 0.0, 0.0, BIND_NONE, 0
    peak = 0.0
    first_error = OK
    for n in range(1, N + 1):
        s, rate, binding, it = size_replica(
            p, n, Q, tau, chunks, inv_index, inv_mu, S, filled, monotone, max_inv, t, out_m, mo
        )
        if s >= 20:
            return s, 0, 0.0, 0.0, binding, it
        if s == OK:
            peak = max(peak, out_m[3])
        elif first_error == OK:
            first_error = s
    if peak <= 0.0:
        return first_error, 0, 0.0, 0.0, BIND_NONE, 0
    for n in range(1, N + 1):
        s, rate, binding, it = size_replica(
            p, n, Q, tau, chunks, inv_index, inv_mu, S, filled, monotone, max_inv, t, out_m, mo
        )
        if s == OK and out_m[3] >= (1.0 - tol) * peak:
            return OK, n, peak, rate, binding, it
    return OK, 0, peak, 0.0, BIND_NONE, 0


@nb.njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def size_many(
    kind,
    cfg_f,
    max_batch,
    max_queue,
    targets,
    tolerance,
    sel,
    out,
    rate_out,
    status,
    binding_out,
    iterations_out,
    batch_out,
    peak_out,
    concurrency,
    admission=0,
):
    """Size each row under the admission rule (or, with concurrency, find its optimal max batch)."""
    rows = status.shape[0]
    max_n = scratch_size(max_batch, rows)
    n_chunks = (rows + _CHUNK - 1) // _CHUNK
    for c in nb.prange(n_chunks):
        tau = np.empty(max_n)
        chunks = np.empty(max_n)
        inv_index = reciprocals(max_n)
        inv_mu = np.empty(max_n)
        S = np.empty(max_n + 1)
        filled = np.zeros(1, dtype=np.int64)
        p = np.empty(7)
        t = np.empty(9)
        m = np.empty(NUM_METRICS)
        mo = np.empty(MO_SIZE)
        for i in range(c * _CHUNK, min(rows, (c + 1) * _CHUNK)):
            row_params(cfg_f, kind, i, p)
            for k in range(9):
                t[k] = _at(targets[k], i)
            N = _at(max_batch, i)
            Q = _at(max_queue, i)
            s = BAD_KIND if p[0] == 2.0 else OK
            monotone = True
            max_inv = 0.0
            filled[0] = 0
            if s == OK:
                s, monotone, max_inv = prepare(p, N, Q, tau, chunks, inv_index, inv_mu)
            rate = np.nan
            binding = BIND_NONE
            it = 0
            if s == OK:
                if concurrency:
                    s, nb_, peak, rate, binding, it = optimal_concurrency(
                        p,
                        N,
                        Q,
                        tau,
                        chunks,
                        inv_index,
                        inv_mu,
                        S,
                        filled,
                        monotone,
                        max_inv,
                        t,
                        _at(tolerance, i),
                        m,
                        mo,
                    )
                    batch_out[i] = nb_
                    peak_out[i] = peak
                else:
                    s, rate, binding, it = size_admitted(
                        p,
                        N,
                        Q,
                        tau,
                        chunks,
                        inv_index,
                        inv_mu,
                        S,
                        filled,
                        monotone,
                        max_inv,
                        t,
                        admission,
                        m,
                        mo,
                    )
            status[i] = s
            binding_out[i] = binding
            iterations_out[i] = it
            rate_out[i] = rate if s == OK else np.nan
            for j in range(sel.shape[0]):
                out[j, i] = m[sel[j]] if s == OK else np.nan


# ---------------------------------------------------------------- admission (admission.hpp)


@nb.njit(**_JIT)
def _mean_queue_given_full(r, Q):
    """Mirrors mean_queue_given_full: E[n - N | n >= N] of the geometric tail."""
    if math.isinf(Q):
        return r / (1.0 - r)
    s = math.log(r)
    t = (Q + 1.0) * s
    if abs(t) < 1e-4:
        return Q / 2.0 + Q * (Q + 2.0) / 12.0 * s
    return 1.0 / math.expm1(-s) - (Q + 1.0) / math.expm1(-t)


@nb.njit(**_JIT)
def prob_full(rate, max_rate, in_queue, p_block, Q):
    """Mirrors prob_full in admission.hpp: P(n >= N) from the mean queue."""
    pn = 0.0
    if Q == 0.0:
        pn = p_block
    elif in_queue > 0.0:
        pn = in_queue / _mean_queue_given_full(rate / max_rate, Q)
    if math.isnan(pn):
        return pn
    return min(max(pn, 0.0), 1.0)


@nb.njit(**_JIT)
def admit(p, N, Q, tau, chunks, rule, m, c_forced=0.0):
    """Mirrors admit in admission.hpp: applies the admission rule to m in place."""
    if rule != ADMIT_IMMEDIATE and rule != ADMIT_ITERATION:
        return
    pd = p[0] == 1.0
    p0, p_block, B = m[1], m[2], m[5]
    X = m[3] / 1000.0
    Nf = float(N)
    busy = 1.0 / (1.0 - p0) if p0 < 1.0 else 0.0
    b_busy = min(max(B * busy, 1.0), Nf)
    L = p[4] if pd else 0.0
    mo_ = p[5]
    c = 1.0
    if pd:
        c = c_forced if c_forced > 0.0 else _chunks_at(N, chunks, B)
    w_pre = (p[2] + p[3] * (c + 1.0) / 2.0) * L
    w_dec = p[2] * mo_ + p[3] * mo_ * (L + (mo_ + 1.0) / 2.0)
    delta = (w_pre + w_dec) / (c + mo_)
    chunk = w_pre / c
    step_pre = m[12] / c
    itl = m[10]
    charged = (c * (B - 1.0) + B) * w_pre / (c + mo_)
    ttft = m[11]
    if rule == ADMIT_IMMEDIATE:
        overlap = X * c * step_pre * c / 2.0 + X * (
            step_pre * (c + (c * c - 1.0) / 2.0) + itl / 2.0
        )
        if pd:
            m[11] = ttft - charged + chunk * overlap
        return
    accepted = 1.0 - p_block if p_block < 1.0 else 1.0
    full = prob_full(m[0], m[14], m[6], p_block, Q)
    # A busy one-request replica is full: no arrival finds a free slot in a running
    # iteration (1 - p0 - P(n >= 1) is 0, not its rounding; admission.hpp).
    p_free_busy = 0.0 if N == 1 else min(max((1.0 - p0 - full) / accepted, 0.0), 1.0)
    if p[0] == 2.0:  # tau(b) / m interpolated at the busy-time batch
        lo = int(b_busy)
        if lo >= N:
            tau_b = tau[N - 1]
        else:
            tau_b = tau[lo - 1] + (b_busy - float(lo)) * (tau[lo] - tau[lo - 1])
        step = tau_b / mo_
    elif p[0] == 0.0:
        step = p[1] + p[2] * b_busy
    else:
        step = p[1] + delta * b_busy
    residual = step / 2.0 + (X * busy * c * chunk * chunk / 2.0 if pd else 0.0)
    if not p0 < 1.0:
        residual = 0.0
    delay = p_free_busy * residual
    overlap = X * c * step_pre * (c - 1.0) / 2.0 + X * (
        p_free_busy * residual * c + step_pre * c * (c + 1.0) / 2.0
    )
    m[11] = (ttft - charged + chunk * overlap if pd else ttft) + delay
    m[9] += delay
    m[7] += delay


@nb.njit(**_JIT)
def analyze_admitted(
    p, N, Q, tau, chunks, inv_index, inv_mu, S, filled, monotone, max_inv, rate, rule, m, mo
):
    """Mirrors analyze_admitted in admission.hpp: analyze, then the rule applied to m."""
    if rule < ADMIT_CHAIN or rule > ADMIT_ITERATION:
        return BAD_ADMISSION
    s = analyze(p, N, Q, tau, chunks, inv_index, inv_mu, S, filled, monotone, max_inv, rate, m, mo)
    if s == OK:
        admit(p, N, Q, tau, chunks, rule, m)
    return s


@nb.njit(**_JIT)
def _admitted_quantile(args, rate, mm, q, st):
    """Return (wait quantile at rate from the moments mm, status): size_admitted's quantile.

    The Erlang-window terms its evaluations of the tail sum count against the work bound
    (a window the bound cannot afford is not summed).
    """
    (
        _p,
        N,
        Q,
        _tau,
        _chunks_unused,
        _inv_index,
        inv_mu,
        _S_unused,
        _filled,
        _monotone,
        _max_inv,
    ) = args
    if rate == 0.0:
        return 0.0, OK
    w, terms = wait_quantile_budget(
        N, Q, inv_mu, mm, q, max(0.0, (MAX_WORK - st[ST_WORK]) / WINDOW_TERM_COST)
    )
    st[ST_WORK] += WINDOW_TERM_COST * terms
    if st[ST_WORK] > MAX_WORK or math.isnan(w):
        return np.nan, NOT_CERTIFIED
    return w, OK


@nb.njit(**_JIT)
def _refined_flags(t, rule):
    """(ttft, ttft_p, wait, wait_p): the targets the rule refines."""
    it = rule == ADMIT_ITERATION
    on = rule != ADMIT_CHAIN
    return (on and _is_set(t[1]), on and _is_set(t[3]), it and _is_set(t[2]), it and _is_set(t[5]))


@nb.njit(**_JIT)
def _admitted_refined(args, t, rule, rate, mm, c, ws, first=False):
    """Return (largest excess of the refined targets, which, status) at rate.

    From the moments mm, the read-off at c chunks if c > 0; ws[WS_AM:] holds the admitted
    metrics there (size_admitted's refined).
    """
    p, N, Q, tau, chunks, _inv_index, inv_mu, _S_unused, _filled, _monotone, _max_inv = args
    m = ws[WS_AM : WS_AM + NUM_METRICS]
    st = ws[WS_ST:]
    fill_metrics(p, N, tau, chunks, inv_mu, rate, mm, m)
    if c > 0.0:
        _X, _inv_X, service, wait, _prefill, _itl, ttft = latency(
            p, N, tau, chunks, rate / 1000.0, mm
        )
        pre = c * max(0.0, p[1] + (mm[4] - 1.0) * _delta(p, c)) + _w_pre(p, c)
        it_ = (service - pre) * (1.0 / p[5])
        m[12] = pre
        m[10] = it_
        m[11] = wait + pre + it_
    chain_ttft = m[11]
    chain_wait = m[9]
    admit(p, N, Q, tau, chunks, rule, m, c)
    ttft, ttft_p, wait, wait_p = _refined_flags(t, rule)
    s = OK
    q_ttft = 0.0
    q_wait = 0.0
    if ttft_p:
        q_ttft, s1 = _admitted_quantile(args, rate, mm, t[3], st)
        s = s1 if s1 != OK else s
        q_ttft = q_ttft + chain_ttft - chain_wait
    if wait_p:
        q_wait, s1 = _admitted_quantile(args, rate, mm, t[5], st)
        s = s1 if s1 != OK else s
    worst = -math.inf
    which = BIND_NONE
    for on, v, code in (
        (ttft, m[11] / t[1], BIND_TTFT),
        (wait, m[9] / t[2], BIND_WAIT),
        (ttft_p, (q_ttft + (m[11] - chain_ttft)) / t[4], BIND_TTFT_PCT),
        (wait_p, (q_wait + (m[9] - chain_wait)) / t[6], BIND_WAIT_PCT),
    ):
        e = v - 1.0
        # first: at the idle replica the first target that fails in the reporting order
        # (docs/model.md 3) names the status; elsewhere the largest excess
        if on and (((e >= 0.0 and not worst >= 0.0) or (worst < 0.0 and e > worst)) if first
                   else e > worst):  # fmt: skip
            worst, which = e, code
    return (worst if s == OK else np.nan), which, s


@nb.njit(**_JIT)
def _admitted_chain(args, rate, mo, st):
    """size_admitted's chain: the moments with slopes, counted against the work bound."""
    _p, N, Q, _tau, _chunks_unused, _inv_index, inv_mu, S, filled, monotone, max_inv = args
    st[ST_WORK] += float(N) + EVALUATION_COST
    if st[ST_WORK] > MAX_WORK:
        return NOT_CERTIFIED
    if not (math.isfinite(rate) and rate >= 0.0):
        return BAD_RATE
    return evaluate_chain(N, Q, inv_mu, S, filled, monotone, max_inv, rate / 1000.0, mo, True)


@nb.njit(**_JIT)
def _admitted_actual(args, t, rule, rate, ws, first=False):
    """Return (excess, which, status) at rate (size_admitted's actual).

    Evaluates the chain there (into ws[:NUM_MOMENTS]), then the refined targets.
    """
    mo = ws[:NUM_MOMENTS]
    s = _admitted_chain(args, rate, mo, ws[WS_ST:])
    if s != OK:
        return np.nan, BIND_NONE, s
    return _admitted_refined(args, t, rule, rate, mo, 0.0, ws, first)


@nb.njit(**_JIT)
def certify_pieces(args, t, rule, answer, above, binding, evaluations, ws):
    """Mirror certify_pieces in sizing.hpp for size_admitted.

    Returns (status, answer, above, binding, evaluations); the answer's moments are in
    ws[WS_BEST:].
    """
    _p, N, _Q, _tau, chunks, _inv_index, _inv_mu, _S_unused, _filled, _monotone, _max_inv = args
    answer_mo = ws[WS_BEST : WS_BEST + NUM_MOMENTS]
    hi_mo = ws[WS_IDLE : WS_IDLE + NUM_MOMENTS]
    last_mo = ws[WS_M1 : WS_M1 + NUM_MOMENTS]
    mo = ws[WS_M2 : WS_M2 + NUM_MOMENTS]
    st = ws[WS_ST:]
    top = int(min(max(math.floor(answer_mo[4] + 0.5), 1.0), float(N)))
    if chunks[0] == chunks[top - 1]:
        return OK, answer, above, binding, evaluations
    root = answer
    lo = 0.0
    safe = 0.0
    hi = root
    hi_mo[:] = answer_mo
    last_mo[:] = answer_mo
    last = root
    for b in range(1, top):
        if chunks[b] == chunks[b - 1]:
            continue
        level = float(b) + 0.5
        c = chunks[b - 1]
        if hi_mo[4] < level:
            lo = hi
            hi = root
            hi_mo[:] = answer_mo
        stalled = 0
        while True:
            bound, w, s = _admitted_refined(args, t, rule, hi, hi_mo, c, ws)
            if s != OK:
                return s, answer, above, binding, evaluations
            if bound <= 0.0:
                break
            if hi - lo <= RATE_REL_TOL * hi:
                e_lo, w_lo, s = _admitted_actual(args, t, rule, lo, ws)
                evaluations += 1
                if s != OK:
                    return s, answer, above, binding, evaluations
                if e_lo <= 0.0:
                    return OK, lo, hi, w, evaluations
                fa, w, s = _admitted_actual(args, t, rule, safe, ws)
                evaluations += 1
                if s != OK:
                    return s, answer, above, binding, evaluations
                if fa > 0.0:
                    return NOT_CERTIFIED, answer, above, binding, evaluations
                ev, a, fa, b_end, _fb, w_lo, s, closed = close_bracket(
                    args, t, safe, fa, lo, e_lo, w_lo, ws, RATE_REL_TOL, rule
                )
                evaluations += ev
                if s != OK:
                    return s, answer, above, binding, evaluations
                if not closed:
                    return NOT_CERTIFIED, answer, above, binding, evaluations
                return OK, a, b_end, w_lo, evaluations
            B = last_mo[4]
            step = (math.log(B) - math.log(level)) * B / last_mo[9]
            y = last * math.exp(-step)
            if abs(step) < 1e-4:
                y *= 1.0 - 0.5 * RATE_REL_TOL if level <= B else 1.0 + 0.5 * RATE_REL_TOL
            if stalled >= 2 or not (y > lo and y < hi):
                y = math.sqrt(lo * hi) if lo > 0.0 else 0.5 * hi
            s = _admitted_chain(args, y, mo, st)
            evaluations += 1
            if s != OK:
                return s, answer, above, binding, evaluations
            width = hi - lo
            if mo[4] >= level:
                hi = y
                hi_mo[:] = mo
            else:
                lo = y
            stalled = stalled + 1 if hi - lo > 0.5 * width else 0
            last = y
            last_mo[:] = mo
        safe = lo
    return OK, answer, above, binding, evaluations


@nb.njit(**_JIT)
def size_admitted(
    p, N, Q, tau, chunks, inv_index, inv_mu, S, filled, monotone, max_inv, t, rule, out_m, ws
):
    """Mirror size_admitted in admission.hpp, returning (status, rate, binding, iterations).

    out_m gets the admitted metrics at the rate.
    """
    if rule < ADMIT_CHAIN or rule > ADMIT_ITERATION:
        return BAD_ADMISSION, 0.0, BIND_NONE, 0
    s, tiny = _check_targets(t)
    if s != OK:
        return s, 0.0, tiny, 0
    if rule == ADMIT_IMMEDIATE and p[0] != 1.0:
        rule = ADMIT_CHAIN
    ttft, ttft_p, wait, wait_p = _refined_flags(t, rule)
    args = (p, N, Q, tau, chunks, inv_index, inv_mu, S, filled, monotone, max_inv)
    if not (ttft or ttft_p or wait or wait_p):
        return size_replica(*args, t, out_m, ws)
    others = t.copy()
    if ttft:
        others[1] = 0.0
    if ttft_p:
        others[3] = 0.0
        others[4] = 0.0
    if wait:
        others[2] = 0.0
    if wait_p:
        others[5] = 0.0
        others[6] = 0.0
    s, cap, cap_binding, iterations = size_replica(*args, others, out_m, ws)
    if s != OK:
        return s, cap, cap_binding, iterations
    mo = ws[:NUM_MOMENTS]
    answer_mo = ws[WS_BEST : WS_BEST + NUM_MOMENTS]
    m = ws[WS_AM : WS_AM + NUM_METRICS]
    st = ws[WS_ST:]
    st[ST_WORK] = 0.0
    f_hi, which, s = _admitted_actual(args, t, rule, cap, ws)
    iterations += 1
    if s != OK:
        return s, 0.0, cap_binding, iterations
    answer = cap
    above = math.inf
    binding = cap_binding
    answer_mo[:] = mo
    if f_hi > 0.0:
        binding = which
        f_lo, which, s = _admitted_actual(args, t, rule, 0.0, ws, True)
        iterations += 1
        if s != OK:
            return s, 0.0, binding, iterations
        if f_lo >= 0.0:
            out_m[:] = m
            return _infeasible(which), 0.0, which, iterations
        ev, a, _fa, b, _fb, binding, s, closed = close_bracket(
            args, t, 0.0, f_lo, cap, f_hi, binding, ws, 1e-13, rule
        )
        iterations += ev
        if s != OK:
            return s, 0.0, binding, iterations
        if not closed:
            return NOT_CERTIFIED, 0.0, binding, iterations
        answer = a
        above = b
        if answer > 0.0:
            s = _admitted_chain(args, answer, answer_mo, st)
            iterations += 1
            if s != OK:
                return s, 0.0, binding, iterations
    if p[0] == 1.0 and answer > 0.0:
        s, answer, above, binding, iterations = certify_pieces(
            args, t, rule, answer, above, binding, iterations, ws
        )
        if s != OK:
            return s, 0.0, binding, iterations
    if not answer > 0.0:
        return _infeasible(binding), 0.0, binding, iterations
    _, which, s = _admitted_actual(args, t, rule, answer, ws)
    iterations += 1
    if s != OK:
        return s, 0.0, binding, iterations
    out_m[:] = m
    return OK, answer, binding, iterations

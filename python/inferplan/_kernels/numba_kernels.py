"""Numba mirror of the C++ kernel (cpp/include/inferplan): same algorithms, same order of
operations, so the two agree to rounding. Used when the extension is unavailable.

Every function here is compiled in nopython mode; parameters travel as a float64 array
``p = [kind, alpha, beta, gamma, in_tokens, out_tokens, max_num_tokens]``.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

_JIT = {"cache": True, "nogil": True}

OK = 0
UNSTABLE = 1
BAD_KIND, BAD_ALPHA, BAD_BETA, BAD_GAMMA = 20, 21, 22, 23
BAD_IN_TOKENS, BAD_OUT_TOKENS, BAD_MAX_NUM_TOKENS = 24, 25, 26
BAD_MAX_BATCH, BAD_MAX_QUEUE, BAD_RATE, BAD_SERVICE_TIME = 27, 28, 29, 36
MAX_BATCH_LIMIT = 1 << 24
NUM_METRICS = 15
NUM_MOMENTS = 9


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
    if t == 0.0:
        g0 = n
    else:
        g0 = math.expm1(-n * t) / math.expm1(-t)
    return g0, geo_f(t) - n * geo_f(n * t)


@nb.njit(**_JIT)
def _finite_nonneg(x):
    return math.isfinite(x) and x >= 0.0


@nb.njit(**_JIT)
def validate(p):
    kind = p[0]
    if kind != 0.0 and kind != 1.0 and kind != 2.0:
        return BAD_KIND
    out_ok = math.isfinite(p[5]) and p[5] > 0.0
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
    if not math.isinf(Q) and math.floor(Q) != Q:
        return BAD_MAX_QUEUE
    return OK


@nb.njit(**_JIT)
def _batch_limit(j, L, m, M):
    x = (j + m) * (M - L / j) / (L + m)
    return math.floor(x if x > 0.0 else 0.0)


@nb.njit(**_JIT)
def _chunks(b, j_min, L, m, M):
    j = 1.0 if j_min < 1.0 else j_min
    if _batch_limit(j, L, m, M) >= b:
        return j
    q = m * M - L - b * (L + m)
    est = math.floor((-q + math.sqrt(q * q + 4.0 * M * m * L)) / (2.0 * M)) - 1.0
    if est > j:
        j = est
    while _batch_limit(j, L, m, M) < b:
        j += 1.0
    while j > j_min and j > 1.0 and _batch_limit(j - 1.0, L, m, M) >= b:
        j -= 1.0
    return j


@nb.njit(**_JIT)
def _w_pre(p, c):
    return (p[2] + p[3] * (c + 1.0) / 2.0) * p[4]


@nb.njit(**_JIT)
def _delta(p, c):
    m, L = p[5], p[4]
    w_dec = p[2] * m + p[3] * m * (L + (m + 1.0) / 2.0)
    return (_w_pre(p, c) + w_dec) / (c + m)


@nb.njit(**_JIT)
def prepare(p, N, Q, tau, chunks, mu, inv_mu):
    """Fills tau (unless a vector model), chunks, mu, 1/mu; returns (status, monotone)."""
    s = validate_queue(N, Q)
    if s != OK:
        return s, True
    s = validate(p)
    if s != OK:
        return s, True
    if p[0] == 2.0:
        for b in range(N):
            if not (math.isfinite(tau[b]) and tau[b] > 0.0):
                return BAD_SERVICE_TIME, True
            chunks[b] = 1.0
    elif p[0] == 0.0:
        for b in range(1, N + 1):
            tau[b - 1] = p[5] * (p[1] + p[2] * b)
            chunks[b - 1] = 1.0
    else:
        c = 1.0
        for b in range(1, N + 1):
            c = _chunks(float(b), c, p[4], p[5], p[6])
            chunks[b - 1] = c
            tau[b - 1] = (c + p[5]) * (p[1] + b * _delta(p, c))
    monotone = True
    for b in range(1, N + 1):
        mu[b - 1] = b / tau[b - 1]
        inv_mu[b - 1] = tau[b - 1] / b
        if b > 1 and mu[b - 1] < mu[b - 2]:
            monotone = False
    return OK, monotone


@nb.njit(**_JIT)
def log_prefix_at(mu, S, filled, n):
    """S[n] = sum_{i<=n} log mu(i), extending the filled part (filled[0] entries) on demand."""
    k = filled[0]
    if k <= n:
        if k == 0:
            S[0] = 0.0
            k = 1
        while k <= n:
            S[k] = S[k - 1] + math.log(mu[k - 1])
            k += 1
        filled[0] = k
    return S[n]


@nb.njit(**_JIT)
def geo_tail(t, n):
    """(x, x^n, g0, mean) for x^i, i = 0..n-1, x = exp(-t): mirrors GeoTail."""
    em = math.expm1(-t)
    x = 1.0 + em if t < 0.5 else math.exp(-t)
    ft = geo_f(t) if t < 1e-3 else -x / em - 1.0 / t
    if math.isinf(n):
        return x, 0.0, -1.0 / em, ft + 1.0 / t
    nt = n * t
    if t == 0.0:
        return x, 1.0, n, 0.5 * (n - 1.0)
    emn = math.expm1(-nt)
    xn = math.exp(-nt)
    g0 = emn / em
    if nt < 1e-3:
        fnt = geo_f(nt)
    elif xn == 0.0:
        fnt = -1.0 / nt
    else:
        fnt = -xn / emn - 1.0 / nt
    return x, xn, g0, ft - n * fnt


@nb.njit(**_JIT)
def _g0_less_last(x, xn, g0, n):
    if n <= 1.0:
        return 0.0
    last = xn / x if x > 0.0 else 0.0
    return g0 - last


TRUNCATION = 1e-18


@nb.njit(**_JIT)
def evaluate_chain(N, Q, mu, inv_mu, S, filled, monotone, lam, mo):
    """mo[:] = p0, p_block, not_blocked, in_system, in_service, in_queue, p_full, log_r,
    log_p_full_deep (NaN unless p_full underflows); returns status. Mirrors chain.hpp."""
    mo[0], mo[1], mo[2], mo[3], mo[4], mo[5] = 1.0, 0.0, 1.0, 0.0, 0.0, 0.0
    mo[6], mo[7], mo[8] = 0.0, 0.0, np.nan
    if lam == 0.0:
        return OK
    ll = math.log(lam)
    lr = ll - (-math.log(inv_mu[N - 1]))
    unbounded = math.isinf(Q)
    if unbounded and lr >= 0.0:
        return UNSTABLE
    Nd = float(N)
    mode = 0
    if monotone:
        mode = np.searchsorted(mu[:N], lam)
    else:
        best = 0.0
        log_prefix_at(mu, S, filled, N)
        for n in range(1, N + 1):
            v = n * ll - S[n]
            if v > best:
                best = v
                mode = n
    h0a = 1.0 if mode < N else 0.0
    h0b = 0.0
    h1a = float(mode) if mode < N else 0.0
    h1b = 0.0
    w0 = 1.0 if mode == 0 else 0.0
    wN = 1.0 if mode == N else 0.0
    have_w0 = mode == 0
    have_wN = mode == N
    inv_lam = 1.0 / lam
    w = 1.0
    j = mode - 1
    jd = float(j)
    while j >= 3:
        r0 = mu[j] * inv_lam
        r1 = mu[j - 1] * inv_lam
        r2 = mu[j - 2] * inv_lam
        r3 = mu[j - 3] * inv_lam
        p01 = r0 * r1
        p012 = p01 * r2
        p0123 = p012 * r3
        a = w * r0
        b = w * p01
        cc = w * p012
        d = w * p0123
        h0a += a + b
        h0b += cc + d
        h1a += jd * a + (jd - 1.0) * b
        h1b += (jd - 2.0) * cc + (jd - 3.0) * d
        w = d
        j -= 4
        jd -= 4.0
        if (monotone and r3 < 1.0
                and w * r3 * (1.0 + jd) < TRUNCATION * (1.0 - r3) * (h0a + h0b)
                and jd * w * r3 < TRUNCATION * (1.0 - r3) * (h1a + h1b)):
            break
    if j < 3:
        while j >= 0:
            w *= mu[j] * inv_lam
            h0a += w
            h1a += jd * w
            j -= 1
            jd -= 1.0
        w0 = w
        have_w0 = True
    w = 1.0
    n = mode + 1
    nd = float(n)
    while n + 3 < N:
        r0 = lam * inv_mu[n - 1]
        r1 = lam * inv_mu[n]
        r2 = lam * inv_mu[n + 1]
        r3 = lam * inv_mu[n + 2]
        p01 = r0 * r1
        p012 = p01 * r2
        p0123 = p012 * r3
        a = w * r0
        b = w * p01
        cc = w * p012
        d = w * p0123
        h0a += a + b
        h0b += cc + d
        h1a += nd * a + (nd + 1.0) * b
        h1b += (nd + 2.0) * cc + (nd + 3.0) * d
        w = d
        n += 4
        nd += 4.0
        if (monotone and r3 < 1.0
                and w * r3 * Nd < TRUNCATION * (1.0 - r3) * (h1a + h1b)
                and w * r3 < TRUNCATION * (1.0 - r3) * (h0a + h0b)):
            break
    if n + 3 >= N:
        while n < N:
            w *= lam * inv_mu[n - 1]
            h0a += w
            h1a += nd * w
            n += 1
            nd += 1.0
        if mode < N:
            wN = w * lam * inv_mu[N - 1]
            have_wN = True
    h0 = h0a + h0b
    h1 = h1a + h1b
    if not have_w0:
        w0 = math.exp(-(mode * ll - log_prefix_at(mu, S, filled, mode)))
    log_wN = np.nan
    if not have_wN:
        log_mode = mode * ll - log_prefix_at(mu, S, filled, mode)
        log_wN = Nd * ll - log_prefix_at(mu, S, filled, N) - log_mode
        wN = math.exp(log_wN)
    t0 = 0.0
    t1 = 0.0
    t0_excl_top = 0.0
    w_top = 0.0
    deep = np.nan
    if Q == 0.0:
        w_top = wN
    elif lr < 0.0:
        x, xn, g0, mean = geo_tail(-lr, Q)
        t0 = wN * x * g0
        t1 = t0 * (mean + 1.0)
        if not unbounded:
            w_top = wN * xn
            t0_excl_top = wN * x * _g0_less_last(x, xn, g0, Q)
    else:
        if math.isnan(log_wN):
            log_wN = math.log(wN)
        log_top = log_wN + Q * lr
        top = 1.0
        x, xn, g0, mean = geo_tail(lr, Q)
        if log_top > 0.0:
            head_scale = math.exp(-log_top)
            h0 *= head_scale
            h1 *= head_scale
            w0 *= head_scale
            wN *= head_scale
            deep = log_wN - log_top
        else:
            top = math.exp(log_top)
        t0 = top * g0
        t1 = t0 * (Q - mean)
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
    return OK


@nb.njit(**_JIT)
def analyze(p, N, Q, tau, chunks, mu, inv_mu, S, filled, monotone, rate, m, mo):
    """m[:15] = metrics at rate (req/s), mo[:9] = the chain's moments; returns status."""
    if not (math.isfinite(rate) and rate >= 0.0):
        return BAD_RATE
    lam = rate / 1000.0
    s = evaluate_chain(N, Q, mu, inv_mu, S, filled, monotone, lam, mo)
    if s != OK:
        return s
    X = lam * mo[2]
    if lam == 0.0:
        response = tau[0]
        service = tau[0]
        wait = 0.0
    else:
        response = mo[3] / X
        service = mo[4] / X
        wait = mo[5] / X
    m[0] = rate
    m[1] = mo[0]
    m[2] = mo[1]
    m[3] = X * 1000.0
    m[4] = mo[3]
    m[5] = mo[4]
    m[6] = mo[5]
    m[7] = response
    m[8] = service
    m[9] = wait
    m[13] = mo[4] / N
    m[14] = mu[N - 1] * 1000.0
    prefill = 0.0
    if p[0] == 1.0:
        B = mo[4]
        b = math.floor(B + 0.5)  # C's round for B >= 0
        b = min(max(b, 1.0), float(N))
        c = chunks[int(b) - 1]
        prefill = c * max(0.0, p[1] + (B - 1.0) * _delta(p, c)) + _w_pre(p, c)
    itl = (service - prefill) / p[5]
    m[12] = prefill
    m[10] = itl
    m[11] = wait + prefill + itl
    return OK


@nb.njit(**_JIT)
def _at(col, i):
    return col[i] if col.shape[0] > 1 else col[0]


@nb.njit(**_JIT)
def row_params(cfg_f, kind, i, p):
    """Fills p for row i from the float columns (alpha..max_num_tokens) and kind."""
    p[0] = float(_at(kind, i))
    for k in range(6):
        p[k + 1] = _at(cfg_f[k], i)


_CHUNK = 1024


@nb.njit(parallel=True, cache=True, nogil=True)
def analyze_many(kind, cfg_f, max_batch, max_queue, rate, sel, out, status):
    """out[j, i] = metric sel[j] of row i. cfg_f: tuple of 6 float columns."""
    rows = status.shape[0]
    max_n = 1
    for i in range(rows if max_batch.shape[0] > 1 else min(rows, 1)):
        b = max_batch[i]
        if b <= MAX_BATCH_LIMIT and b > max_n:
            max_n = b
    n_chunks = (rows + _CHUNK - 1) // _CHUNK
    for c in nb.prange(n_chunks):
        tau = np.empty(max_n)
        chunks = np.empty(max_n)
        mu = np.empty(max_n)
        inv_mu = np.empty(max_n)
        S = np.empty(max_n + 1)
        filled = np.zeros(1, dtype=np.int64)
        p = np.empty(7)
        m = np.empty(NUM_METRICS)
        mo = np.empty(NUM_MOMENTS)
        for i in range(c * _CHUNK, min(rows, (c + 1) * _CHUNK)):
            row_params(cfg_f, kind, i, p)
            N = _at(max_batch, i)
            s = BAD_KIND if p[0] == 2.0 else OK
            monotone = True
            filled[0] = 0
            if s == OK:
                s, monotone = prepare(p, N, _at(max_queue, i), tau, chunks, mu, inv_mu)
            if s == OK:
                s = analyze(p, N, _at(max_queue, i), tau, chunks, mu, inv_mu, S, filled, monotone,
                            _at(rate, i), m, mo)
            status[i] = s
            for j in range(sel.shape[0]):
                out[j, i] = m[sel[j]] if s == OK else np.nan

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
NEGLIGIBLE = 1e-24


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
def prepare(p, N, Q, tau, chunks, mu, log_prefix):
    """Fills tau (unless a vector model), chunks, mu, log prefix; returns (status, monotone)."""
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
    log_prefix[0] = 0.0
    for b in range(1, N + 1):
        mu[b - 1] = b / tau[b - 1]
        log_prefix[b] = log_prefix[b - 1] + math.log(mu[b - 1])
        if b > 1 and mu[b - 1] < mu[b - 2]:
            monotone = False
    return OK, monotone


@nb.njit(**_JIT)
def evaluate_chain(N, Q, mu, S, monotone, lam, mo):
    """mo[:] = p0, p_block, not_blocked, in_system, in_service, in_queue; returns status."""
    mo[0], mo[1], mo[2], mo[3], mo[4], mo[5] = 1.0, 0.0, 1.0, 0.0, 0.0, 0.0
    if lam == 0.0:
        return OK
    ll = math.log(lam)
    lr = ll - math.log(mu[N - 1])
    unbounded = math.isinf(Q)
    if unbounded and lr >= 0.0:
        return UNSTABLE
    mode = 0
    if monotone:
        mode = np.searchsorted(mu[:N], lam)
    else:
        best = 0.0
        for n in range(1, N + 1):
            v = n * ll - S[n]
            if v > best:
                best = v
                mode = n
    log_mode = mode * ll - S[mode]
    h0 = 0.0
    h1 = 0.0
    w0 = 0.0
    wN = 0.0
    have_w0 = False
    have_wN = False
    if mode == N:
        wN = 1.0
        have_wN = True
    else:
        h0 = 1.0
        h1 = float(mode)
    if mode == 0:
        w0 = 1.0
        have_w0 = True
    inv_lam = 1.0 / lam
    w = 1.0
    for n in range(mode, 0, -1):
        ratio = mu[n - 1] * inv_lam
        w *= ratio
        h0 += w
        h1 += (n - 1) * w
        if n == 1:
            w0 = w
            have_w0 = True
        if monotone and w < NEGLIGIBLE and ratio < 0.5:
            break
    w = 1.0
    for n in range(mode + 1, N + 1):
        ratio = lam / mu[n - 1]
        w *= ratio
        if n == N:
            wN = w
            have_wN = True
            break
        h0 += w
        h1 += n * w
        if monotone and w < NEGLIGIBLE and ratio < 0.5:
            break
    if not have_w0:
        w0 = math.exp(-log_mode)
    log_wN = N * ll - S[N] - log_mode
    if not have_wN:
        wN = math.exp(log_wN)
    t0 = 0.0
    t1 = 0.0
    t0_excl_top = 0.0
    w_top = 0.0
    if Q == 0.0:
        w_top = wN
    elif lr < 0.0:
        t = -lr
        g0, mean = geo_sums(t, Q)
        r = math.exp(lr)
        t0 = wN * r * g0
        t1 = t0 * (mean + 1.0)
        if not unbounded:
            w_top = wN * math.exp(Q * lr)
            if Q > 1.0:
                t0_excl_top = wN * r * geo_sums(t, Q - 1.0)[0]
    else:
        t = lr
        log_top = log_wN + Q * lr
        top = 1.0
        head_scale = 1.0
        if log_top > 0.0:
            head_scale = math.exp(-log_top)
        else:
            top = math.exp(log_top)
        g0, mean = geo_sums(t, Q)
        t0 = top * g0
        t1 = t0 * (Q - mean)
        w_top = top
        if Q > 1.0:
            t0_excl_top = top * math.exp(-t) * geo_sums(t, Q - 1.0)[0]
        h0 *= head_scale
        h1 *= head_scale
        w0 *= head_scale
        wN *= head_scale
    Z = h0 + wN + t0
    inv_Z = 1.0 / Z
    mo[0] = w0 * inv_Z
    if unbounded:
        mo[1] = 0.0
        mo[2] = 1.0
    else:
        mo[1] = w_top * inv_Z
        mo[2] = (h0 if Q == 0.0 else h0 + wN + t0_excl_top) * inv_Z
    mo[4] = (h1 + N * (wN + t0)) * inv_Z
    mo[5] = t1 * inv_Z
    mo[3] = mo[4] + mo[5]
    return OK


@nb.njit(**_JIT)
def analyze(p, N, Q, tau, chunks, mu, S, monotone, rate, m):
    """m[:15] = metrics at rate (req/s); returns status."""
    if not (math.isfinite(rate) and rate >= 0.0):
        return BAD_RATE
    lam = rate / 1000.0
    mo = np.empty(6)
    s = evaluate_chain(N, Q, mu, S, monotone, lam, mo)
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
        S = np.empty(max_n + 1)
        p = np.empty(7)
        m = np.empty(NUM_METRICS)
        for i in range(c * _CHUNK, min(rows, (c + 1) * _CHUNK)):
            row_params(cfg_f, kind, i, p)
            N = _at(max_batch, i)
            s = BAD_KIND if p[0] == 2.0 else OK
            monotone = True
            if s == OK:
                s, monotone = prepare(p, N, _at(max_queue, i), tau, chunks, mu, S)
            if s == OK:
                s = analyze(p, N, _at(max_queue, i), tau, chunks, mu, S, monotone, _at(rate, i), m)
            status[i] = s
            for j in range(sel.shape[0]):
                out[j, i] = m[sel[j]] if s == OK else np.nan

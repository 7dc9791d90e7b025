"""TTFT and wait as seen by an arriving request, for a stated admission rule.

The chain's read-off (docs/model.md 2.1-2.2, the default everywhere) takes TTFT at the mean batch:
``wait + prefill + ITL``. Two effects it leaves out are measured in docs/accuracy.md and
corrected here, from the chain's own metrics:

- **Arrival's view of prefills** (PrefillDecode): the read-off charges each neighbour's
  prefill at its share of iterations, ``w_pre / (c + m)`` per step. A request arrives at a
  random instant, not a random iteration: neighbours in prefill then (Little: ``X`` times
  the prefill time of each) still have on average half their chunks to run, and the
  requests admitted during its first ``c + 1`` steps (rate ``X``) add theirs.
- **Iteration-level admission** (``"iteration"``, what a continuous-batching server does):
  an arrival that finds the replica busy with a free slot waits for the iteration in
  progress to end. At a random instant that iteration is length-biased: its mean residual is
  ``E[T^2] / (2 E[T])``, half the mean iteration at the busy-time batch ``B / (1 - p0)``
  plus, for PrefillDecode, ``X / (1 - p0) * c * (w_pre/c)^2 / 2`` for the prefill chunks it
  may carry (a Poisson number of them). Requests that arrive during that residual join the
  same first iteration.

``"immediate"`` (the chain's own assumption: a request that finds a free slot starts at
once) applies the first correction only; ``"iteration"`` both. Both are validated against
:func:`inferplan.simulate` with the same ``admission`` in ``tests/test_admission.py`` and
``docs/accuracy.md``.
"""

from __future__ import annotations

import numpy as np

from . import _codes, _lazy
from ._metrics import KIND_DECODE_ONLY, KIND_PREFILL_DECODE

ADMISSIONS = ("immediate", "iteration")
CODES = _codes.ADMISSIONS
"""The kernel's code for each rule (admission.hpp; the table is inferplan._codes)."""


def check_admission(admission) -> str | None:
    """None (the chain's read-off) or one of ADMISSIONS; anything else is a ValueError."""
    if admission is None or admission in ADMISSIONS:
        return admission
    raise ValueError(
        f"admission must be None (the chain's read-off), 'immediate' or 'iteration', "
        f"got {admission!r}"
    )


def _mean_queue_given_full(r, Q):
    """Return E[n - N | n >= N] for the chain's queue part.

    The queue part is a geometric law of ratio ``r`` on 0..Q (Q may be inf, then r < 1).
    """
    r = np.asarray(r, dtype=float)
    Q = np.asarray(Q, dtype=float)
    with np.errstate(all="ignore"):
        s = np.log(r)
        t = (Q + 1.0) * s
        infinite = np.isinf(Q)
        closed = 1.0 / np.expm1(-s) - np.where(infinite, 0.0, (Q + 1.0) / np.expm1(-t))
        near_one = np.abs(t) < 1e-4
        series = Q / 2.0 + Q * (Q + 2.0) / 12.0 * s
        return np.where(infinite, r / (1.0 - r), np.where(near_one, series, closed))


def prob_full(rate, max_rate, in_queue, p_block, max_queue):
    """Return P(n >= max_batch), the probability an arrival finds every slot taken.

    It is recovered from the mean queue (the chain above N is geometric with ratio
    rate / max_rate).
    """
    in_queue = np.asarray(in_queue, dtype=float)
    with np.errstate(all="ignore"):
        ej = _mean_queue_given_full(np.asarray(rate, float) / max_rate, max_queue)
        pn = np.where(in_queue > 0.0, in_queue / ej, 0.0)
    pn = np.where(np.asarray(max_queue) == 0, p_block, pn)
    return np.clip(pn, 0.0, 1.0)


def _chunks_at(B, N, in_tokens, out_tokens, max_num_tokens):
    """Return c(b) of docs/model.md 2.2 at b = round(B) clamped to 1..N.

    c(b) is the smallest j with (j + m)(M - L/j) >= b (L + m), from the quadratic
    M j^2 + (mM - L - b(L+m)) j - mL.
    """
    b = np.clip(np.round(B), 1.0, N)
    L, m, M = in_tokens, out_tokens, max_num_tokens
    q = m * M - L - b * (L + m)
    with np.errstate(over="ignore", invalid="ignore"):
        # The positive root without cancellation for either sign of q, and without
        # squaring q where that would overflow (M or L near the top of the doubles).
        aq, mml = np.abs(q), 4.0 * M * m * L
        disc = np.where(aq > 1e150, aq * np.sqrt(1.0 + (mml / aq) / aq), np.sqrt(q * q + mml))
        root = np.where(q > 0, 2.0 * m * L / (q + disc), (-q + disc) / (2.0 * M))
    j = np.maximum(1.0, np.ceil(np.nan_to_num(root, nan=1.0, posinf=2.0**53)))

    def fits(j):
        return np.floor(np.maximum(0.0, (j + m) * (M - L / j) / (L + m))) >= b

    j = np.where(fits(j), j, j + 1.0)  # rounding of the root
    j = np.where((j > 1.0) & fits(np.maximum(j - 1.0, 1.0)), j - 1.0, j)
    return j


def adjust(
    admission, kind, alpha, beta, gamma, in_tokens, out_tokens, max_num_tokens,
    max_batch, max_queue, m, tau=None, arrival_idle=None, arrival_full=None,
):  # fmt: skip
    """Return ``(ttft_ms, wait_ms, response_ms)`` under ``admission`` from the chain's metrics.

    ``m`` is a mapping or object with the :class:`~inferplan.Metrics` fields (scalars or arrays
    broadcasting with the parameters). ``tau`` is the service-time vector of a ServiceTimes
    model (kind 2). ``admission=None`` returns the chain's own values.

    ``arrival_idle`` and ``arrival_full`` are the probabilities that an arrival finds the
    replica empty and every slot taken. By default they are the time averages (Poisson
    arrivals see time averages); :mod:`inferplan.arrivals` passes the arrival-stationary
    ones of a non-Poisson arrival process.
    """
    get = m.__getitem__ if isinstance(m, dict) else lambda k: getattr(m, k)
    ttft, wait, resp = (np.asarray(get(k), dtype=float) for k in
                        ("ttft_ms", "wait_ms", "response_ms"))  # fmt: skip
    if check_admission(admission) is None:
        return ttft, wait, resp
    p0 = np.asarray(get("p0"), dtype=float)
    p_block = np.asarray(get("p_block"), dtype=float)
    B = np.asarray(get("in_service"), dtype=float)
    X = np.asarray(get("throughput"), dtype=float) / 1000.0  # per ms
    kind = np.asarray(kind)
    N = np.asarray(max_batch, dtype=float)
    with np.errstate(all="ignore"):
        busy = np.where(p0 < 1.0, 1.0 / (1.0 - p0), 0.0)
        b_busy = np.clip(B * busy, 1.0, N)
        # PrefillDecode quantities (harmless placeholders for the other kinds)
        pd = kind == KIND_PREFILL_DECODE
        L = np.where(pd, in_tokens, 0.0)
        c = np.where(pd, _chunks_at(B, N, np.maximum(L, 0.0), out_tokens, max_num_tokens), 1.0)
        w_pre = (beta + gamma * (c + 1.0) / 2.0) * L
        w_dec = beta * out_tokens + gamma * out_tokens * (L + (out_tokens + 1.0) / 2.0)
        delta = (w_pre + w_dec) / (c + out_tokens)
        chunk = w_pre / c  # work of one prefill chunk
        step_pre = np.asarray(get("prefill_ms"), dtype=float) / c
        itl = np.asarray(get("itl_ms"), dtype=float)
        # the read-off's own charge for neighbours' prefills, replaced below
        charged = (c * (B - 1.0) + B) * w_pre / (c + out_tokens)
        if admission == "immediate":
            overlap = X * c * step_pre * c / 2.0 + X * (
                step_pre * (c + (c * c - 1.0) / 2.0) + itl / 2.0
            )
            new_ttft = np.where(pd, ttft - charged + chunk * overlap, ttft)
            return new_ttft, wait, resp
        # iteration-level admission: the residual of the iteration in progress
        accepted = np.where(p_block < 1.0, 1.0 - p_block, 1.0)
        if arrival_full is None:
            full = prob_full(get("rate"), get("max_rate"), get("in_queue"), p_block, max_queue)
        else:
            full = np.asarray(arrival_full, dtype=float)
        idle = p0 if arrival_idle is None else np.asarray(arrival_idle, dtype=float)
        # A busy one-request replica is full: nobody finds a free slot in a running
        # iteration (1 - p0 - P(n >= 1) is 0, not its rounding; admission.hpp).
        p_free_busy = np.where(N == 1, 0.0, np.clip((1.0 - idle - full) / accepted, 0.0, 1.0))
        if tau is not None:
            grid = np.arange(1, tau.size + 1, dtype=float)
            step = np.interp(b_busy, grid, tau) / out_tokens
        else:
            step = np.where(kind == KIND_DECODE_ONLY, alpha + beta * b_busy, alpha + delta * b_busy)
        residual = step / 2.0 + np.where(pd, X * busy * c * chunk * chunk / 2.0, 0.0)
        residual = np.where(p0 < 1.0, residual, 0.0)
        delay = p_free_busy * residual
        overlap = X * c * step_pre * (c - 1.0) / 2.0 + X * (
            p_free_busy * residual * c + step_pre * c * (c + 1.0) / 2.0
        )
        new_ttft = np.where(pd, ttft - charged + chunk * overlap, ttft) + delay
        return new_ttft, wait + delay, resp + delay


__all__ = ["ADMISSIONS", "adjust", "check_admission", "prob_full"]

__dir__ = _lazy.public_dir(__name__)

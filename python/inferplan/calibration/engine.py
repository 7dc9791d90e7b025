"""The engine model.

Iteration time of a continuous-batching server (vLLM-like), as a per-batch service-time
vector for the birth-death chain, with its TTFT/ITL read-off.

docs/calibration.md ("The engine model") gives the equations and the evidence for each
term. In short, with ``b`` requests in the batch, requests of ``L`` prompt and ``m`` output
tokens, one iteration (a "step") takes

    T(b) = alpha + (beta_decode + gamma*(L + m/2)) * b
           + (beta_prefill*L + gamma_prefill*L**2) * b/m + zeta * b**2          [ms]

(the prompt work of the ``b/m`` requests that join per step is spread over the steps), and
a request is in service for ``tau(b) = m * T(b)``. The chain of docs/model.md 1 with this
``tau`` (a :class:`inferplan.ServiceTimes`) gives the batch distribution; ITL is the
chain's ``service_ms / m`` and TTFT is

    TTFT = ttft_overhead_ms + ttft_per_out_ms*m + wait_ms + ttft_residual*(1 - p0)*ITL
           + alpha + beta_prefill*L + gamma_prefill*L**2
           + (beta_decode + gamma*(L + m/2)) * B + zeta*(B + 1)**2

where ``B`` is the mean batch (the step that carries the prompt also carries the batch).
The batch is capped at ``max_num_seqs`` and by the KV cache: at most
``kv_capacity_tokens // (L + m)`` requests fit.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from .. import _lazy

__all__ = [
    "PARAMS",
    "UNITS",
    "EngineModel",
    "capacity",
    "chain",
    "chain_numpy",
    "fluid",
    "kv_capacity_tokens",
    "predict_arrays",
]
__dir__ = _lazy.public_dir(__name__)

#: Fitted parameters, in the order of the optimiser's vector.
PARAMS = (
    "alpha",
    "beta_decode",
    "beta_prefill",
    "gamma",
    "gamma_prefill",
    "zeta",
    "ttft_overhead_ms",
    "ttft_residual",
    "ttft_per_out_ms",
)
UNITS = {
    "alpha": "ms per step",
    "beta_decode": "ms per request in the batch per step",
    "beta_prefill": "ms per prompt token",
    "gamma": "ms per KV-cache token read per request per step",
    "gamma_prefill": "ms per squared prompt token",
    "zeta": "ms per squared batch size per step",
    "ttft_overhead_ms": "ms per request (client, HTTP, tokenisation)",
    "ttft_residual": "fraction of a step an arrival waits for the step in progress",
    "ttft_per_out_ms": "ms of TTFT per requested output token",
}


@dataclass(frozen=True)
class EngineModel:
    """A fitted engine: step-time parameters (ms) plus the engine's limits.

    ``max_num_seqs``: the engine's batch cap (vLLM ``--max-num-seqs``); ``kv_capacity_tokens``:
    KV-cache capacity in tokens (``math.inf``: not limiting), see :func:`kv_capacity_tokens`.
    """

    alpha: float
    beta_decode: float
    beta_prefill: float
    gamma: float = 0.0
    gamma_prefill: float = 0.0
    zeta: float = 0.0
    ttft_overhead_ms: float = 0.0
    ttft_residual: float = 0.0
    ttft_per_out_ms: float = 0.0
    max_num_seqs: int = 1024
    kv_capacity_tokens: float = math.inf

    def __post_init__(self) -> None:
        """Check that every field is a valid number."""
        for f in fields(self):
            v = getattr(self, f.name)
            try:
                x = float(v)
            except (TypeError, ValueError):
                raise ValueError(f"EngineModel.{f.name} must be a number, got {v!r}") from None
            if math.isnan(x) or x < 0 or (math.isinf(x) and f.name != "kv_capacity_tokens"):
                raise ValueError(f"EngineModel.{f.name} must be finite and >= 0, got {v!r}")
        if self.alpha <= 0:
            raise ValueError(f"EngineModel.alpha must be > 0, got {self.alpha!r}")
        n = self.max_num_seqs
        if int(n) != n or n < 1:
            raise ValueError(f"EngineModel.max_num_seqs must be an integer >= 1, got {n!r}")
        object.__setattr__(self, "max_num_seqs", int(n))

    # ------------------------------------------------------------------ structure
    @classmethod
    def from_vector(cls, x, **limits) -> EngineModel:
        """Return the model of a parameter vector in :data:`PARAMS` order."""
        return cls(**{n: float(v) for n, v in zip(PARAMS, x, strict=True)}, **limits)

    def vector(self) -> np.ndarray:
        """Return the parameters as a vector in :data:`PARAMS` order."""
        return np.array([getattr(self, n) for n in PARAMS], dtype=float)

    def as_dict(self) -> dict:
        """Return the fields as a JSON-able dict (an unlimited KV cache is None)."""
        d = asdict(self)
        if math.isinf(d["kv_capacity_tokens"]):
            d["kv_capacity_tokens"] = None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> EngineModel:
        """Return the model of :meth:`as_dict`'s output; unknown fields are an error."""
        d = dict(d)
        if d.get("kv_capacity_tokens") is None:
            d["kv_capacity_tokens"] = math.inf
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"EngineModel: unknown field(s) {sorted(unknown)}")
        return cls(**d)

    def max_batch(self, in_tokens: float, out_tokens: float) -> int:
        """Return the batch cap for a shape: ``max_num_seqs`` or what the KV cache holds."""
        n = self.max_num_seqs
        if math.isfinite(self.kv_capacity_tokens):
            n = min(n, int(self.kv_capacity_tokens // max(in_tokens + out_tokens, 1.0)))
        return max(n, 1)

    def step_ms(self, batch, in_tokens: float, out_tokens: float) -> np.ndarray:
        """Mean step time T(b) in ms at batch ``b`` (any real b >= 0)."""
        return _step(self.vector(), np.asarray(batch, float), in_tokens, out_tokens)

    def service_times(self, in_tokens: float, out_tokens: float):
        """Return the :class:`inferplan.ServiceTimes` of one request shape.

        Its tau(1..N) and out_tokens: what :class:`inferplan.Replica` and the rest of
        inferplan take.
        """
        from ..models import ServiceTimes

        _check_shape(in_tokens, out_tokens)
        n = self.max_batch(in_tokens, out_tokens)
        b = np.arange(1, n + 1, dtype=float)
        tau = _envelope(b, out_tokens * self.step_ms(b, in_tokens, out_tokens))
        return ServiceTimes(tau, out_tokens)

    def replica(self, in_tokens: float, out_tokens: float, max_queue=None):
        """Return a :class:`inferplan.Replica` of this engine serving one request shape."""
        from ..replica import Replica

        return Replica(self.service_times(in_tokens, out_tokens), max_queue=max_queue)


def _check_shape(in_tokens, out_tokens) -> None:
    for name, v, lo in (("in_tokens", in_tokens, 0.0), ("out_tokens", out_tokens, 1.0)):
        x = float(v)
        if not (math.isfinite(x) and x >= lo):
            raise ValueError(f"{name} must be finite and >= {lo:g}, got {v!r}")


def _step(x, b, L, m):
    a, bd, bp, g, gp, z = x[0], x[1], x[2], x[3], x[4], x[5]
    return a + (bd + g * (L + m / 2.0)) * b + (bp * L + gp * L * L) * b / m + z * b * b


def _envelope(b, tau, axis=-1):
    """Return tau with the completion rate b/tau made non-decreasing in b.

    Past the batch of peak throughput, a larger batch does not lower the throughput
    (docs/calibration.md).
    """
    mu = np.maximum.accumulate(b / tau, axis=axis)
    return b / mu


def kv_capacity_tokens(
    gpu_memory_gib: float,
    weights_gib: float,
    *,
    layers: int,
    kv_heads: int,
    head_dim: int,
    bytes_per_value: float = 2.0,
    gpu_memory_utilization: float = 0.9,
    activation_gib: float = 0.0,
) -> float:
    """KV-cache capacity in tokens.

    (utilisation x memory - weights - activations) divided by the KV bytes per token, ``2 *
    layers * kv_heads * head_dim * bytes_per_value``.

    >>> round(kv_capacity_tokens(80, 15, layers=32, kv_heads=8, head_dim=128))
    466944
    """
    per_token = 2.0 * layers * kv_heads * head_dim * bytes_per_value
    free = (gpu_memory_utilization * gpu_memory_gib - weights_gib - activation_gib) * 2**30
    if free <= 0:
        raise ValueError("no memory left for the KV cache: weights and activations fill the GPU")
    return math.floor(free / per_token)


# --------------------------------------------------------------- vectorised chain


def _chain_loop(x, lam, L, m, nmax, out):
    """Return the chain of :func:`chain` point by point in log space.

    Compiled by Numba when it is installed: the same numbers as the vectorised form, without
    its (points x N) arrays.
    """
    a, bd, bp, g, gp, z = x[0], x[1], x[2], x[3], x[4], x[5]
    for i in range(lam.size):
        li = lam[i]
        if li <= 0.0:
            out[i, 0], out[i, 1], out[i, 2], out[i, 3] = 1.0, 1.0, 0.0, 0.0
            continue
        c = bd + g * (L[i] + m[i] / 2.0) + (bp * L[i] + gp * L[i] * L[i]) / m[i]
        n_cap = int(nmax[i])
        # one pass of products p(n)/p(0), rescaled before they overflow
        mu_env = 0.0
        w = 1.0
        z0 = 1.0
        zs = 1.0
        sb = 0.0
        for n in range(1, n_cap + 1):
            mu = n / (m[i] * (a + c * n + z * n * n))
            if mu > mu_env:
                mu_env = mu
            w *= li / mu_env
            if w > 1e250:
                w *= 1e-250
                z0 *= 1e-250
                zs *= 1e-250
                sb *= 1e-250
            zs += w
            sb += w * n
        pn = w
        r = li / mu_env
        if r >= 1.0:
            out[i, 0], out[i, 1], out[i, 2], out[i, 3] = 0.0, 0.0, math.nan, math.nan
            continue
        tail = pn * r / (1.0 - r)
        tail_n = pn * (n_cap * r / (1.0 - r) + r / (1.0 - r) ** 2)
        zs += tail
        out[i, 0] = 1.0
        out[i, 1] = z0 / zs
        out[i, 2] = (sb + n_cap * tail) / zs
        out[i, 3] = (sb + tail_n) / zs


_COMPILED = []  # the Numba-compiled _chain_loop, or None without Numba (made on first use)


def _compiled():
    if not _COMPILED:
        try:
            import numba

            _COMPILED.append(numba.njit(cache=True)(_chain_loop))
        except Exception:  # pragma: no cover - no Numba: the NumPy form
            _COMPILED.append(None)
    return _COMPILED[0]


def chain(x, rate_per_s, L, m, nmax):
    """See :func:`chain_numpy`; compiled loops when Numba is installed."""
    loop = _compiled()
    if loop is None:
        return chain_numpy(x, rate_per_s, L, m, nmax)
    lam = np.ascontiguousarray(np.asarray(rate_per_s, float) / 1000.0)
    out = np.empty((lam.size, 4))
    loop(np.ascontiguousarray(x, dtype=float), lam, np.ascontiguousarray(L, float),
                np.ascontiguousarray(m, float), np.ascontiguousarray(nmax, float), out)  # fmt: skip
    return out[:, 0] > 0.5, out[:, 1], out[:, 2], out[:, 3]


def chain_numpy(x, rate_per_s, L, m, nmax):
    """Return the birth-death chain of docs/model.md 1 (unbounded queue) for many points at once.

    ``x``: parameter vector (PARAMS order); ``rate_per_s``, ``L``, ``m``: arrays (one per
    point); ``nmax``: batch caps. Returns (stable, p0, B, Lsys) arrays: stability, the
    probability of an empty replica, mean batch and mean number in the replica. Rate 0
    gives p0 1 and empty means.
    """
    lam = np.asarray(rate_per_s, float) / 1000.0  # per ms
    P = lam.size
    N = int(np.max(nmax))
    b = np.arange(1, N + 1, dtype=float)
    T = _step(x, b[None, :], L[:, None], m[:, None])  # (P, N)
    T = np.where(b[None, :] <= nmax[:, None], T, np.inf)
    tau = _envelope(b[None, :], m[:, None] * T, axis=1)
    valid = b[None, :] <= nmax[:, None]
    # log of lam / mu(b) = lam * tau(b) / b
    with np.errstate(divide="ignore"):
        lr = np.log(np.maximum(lam[:, None], 1e-300)) + np.log(tau) - np.log(b)[None, :]
    lr = np.where(valid, lr, 0.0)
    logp = np.cumsum(lr, axis=1)  # log p(n)/p(0), n = 1..N (flat beyond each cap)
    idx = (nmax - 1).astype(int)
    rows = np.arange(P)
    log_r = lr[rows, idx]  # lam / mu(N)
    stable = (log_r < 0) & (lam > 0)
    logp = np.where(valid, logp, -np.inf)
    top = np.maximum(np.max(logp, axis=1), 0.0)
    w = np.exp(logp - top[:, None])
    w0 = np.exp(-top)
    r = np.exp(np.minimum(log_r, 0.0))
    r = np.where(stable, r, 0.5)
    pN = w[rows, idx]
    tail_mass = pN * r / (1.0 - r)
    # sum over the tail of n p(n) = pN * sum_{k>=1} (N + k) r^k
    tail_n = pN * (nmax * r / (1.0 - r) + r / (1.0 - r) ** 2)
    Z = w0 + w.sum(axis=1) + tail_mass
    B = ((w * b[None, :]).sum(axis=1) + nmax * tail_mass) / Z
    Ls = ((w * b[None, :]).sum(axis=1) + tail_n) / Z
    p0 = w0 / Z
    idle = lam <= 0
    p0 = np.where(idle, 1.0, p0)
    B = np.where(idle, 0.0, B)
    Ls = np.where(idle, 0.0, Ls)
    stable = stable | idle
    return stable, p0, B, Ls


def capacity(x, L, m, nmax):
    """Saturation throughput (req/s) per shape.

    The peak of ``b / tau(b)`` over ``b <= nmax`` (the chain's ``mu(N)`` after the envelope,
    and the fluid's limit).
    """
    a, z = x[0], x[5]
    c = x[1] + x[3] * (L + m / 2.0) + (x[2] * L + x[4] * L * L) / m
    bpeak = np.sqrt(a / z) if z > 0 else np.inf
    bcap = np.minimum(np.floor(bpeak) if np.isfinite(bpeak) else np.inf, nmax)
    bcap = np.maximum(bcap, 1.0)
    mu = bcap / (m * (a + c * bcap + z * bcap * bcap))
    if np.isfinite(bpeak):  # the integer batch on either side of the peak
        b2 = np.minimum(bcap + 1.0, nmax)
        mu = np.maximum(mu, b2 / (m * (a + c * b2 + z * b2 * b2)))
    return 1000.0 * mu


def fluid(x, rate_per_s, L, m, nmax):
    """Mean batch under evenly spaced arrivals (a constant-rate benchmark).

    The fixed point ``B = lam * tau(B)`` of the step-time curve, with no queue below
    saturation. Returns (stable, B). Saturation is the peak of the completion rate ``b /
    tau(b)`` over ``b <= nmax`` (the envelope of :func:`chain`).
    """
    lam = np.asarray(rate_per_s, float) / 1000.0
    a = x[0]
    c = x[1] + x[3] * (L + m / 2.0) + (x[2] * L + x[4] * L * L) / m
    z = x[5]
    bpeak = np.where(z > 0, np.sqrt(a / max(z, 1e-300)), np.inf)
    bcap = np.minimum(bpeak, nmax)
    mu_max = bcap / (m * (a + c * bcap + z * bcap * bcap))
    stable = lam < mu_max
    k = lam * m
    qa, qb, qc = k * z, k * c - 1.0, k * a
    disc = np.maximum(qb * qb - 4.0 * qa * qc, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.where(qa > 1e-300, (2.0 * qc) / (-qb + np.sqrt(disc)), qc / -qb)
    B = np.where(stable, np.clip(root, 0.0, nmax), np.nan)
    return stable, B


def predict_arrays(x, rate_per_s, L, m, nmax, *, duration_s=None, window=None, even=None):
    """Predicted (itl_ms, ttft_ms, stable, batch, p0, wait_ms) per point.

    ``even``: per point, whether arrivals are evenly spaced (a constant-rate or synchronous
    benchmark: :func:`fluid`) rather than Poisson (the chain, :func:`chain`).
    ``duration_s``/``window``: per point, the benchmark window in seconds and whether the
    finite-window correction applies (docs/calibration.md, "The benchmark window"): the
    load a finite run puts on the server is computed from the completed-request rate and
    the predicted latency, in two passes.
    """
    rate = np.asarray(rate_per_s, float)
    even = np.zeros(rate.size, bool) if even is None else np.asarray(even, bool)
    out = _predict_once(x, rate, L, m, nmax, even)
    if window is None or not np.any(window):
        return out
    D = np.asarray(duration_s, float) * 1000.0
    itl, ttft, stable = out[0], out[1], out[2]
    S = np.where(stable, ttft + m * itl, D / 2.0)
    S = np.minimum(np.nan_to_num(S, nan=D / 2.0, posinf=D / 2.0), D / 2.0)
    r = np.minimum(S / np.maximum(D - S, 1.0), 1.0)
    factor = np.where(window, D / np.maximum(D - S, 1.0) * (1.0 - r / 6.0), 1.0)
    ftt = np.where(window, (1.0 - r / 2.0) / (1.0 - r / 6.0), 1.0)
    return _predict_once(x, rate * factor, L, m, nmax, even, ftt)


def _predict_once(x, rate, L, m, nmax, even, ftt=1.0):
    a, bd, bp, g, gp, z, t0, kap, tm = x
    n = rate.size
    stable, p0 = np.ones(n, bool), np.ones(n)
    B, Ls = np.zeros(n), np.zeros(n)
    sel = ~even  # the chain (Poisson arrivals) only where it is read
    if np.any(sel):
        stable[sel], p0[sel], B[sel], Ls[sel] = chain(x, rate[sel], L[sel], m[sel], nmax[sel])
    lam = rate / 1000.0
    with np.errstate(divide="ignore", invalid="ignore"):
        service = np.where(lam > 0, B / np.maximum(lam, 1e-300), 0.0)
        wait = np.where(lam > 0, (Ls - B) / np.maximum(lam, 1e-300), 0.0)
    own = (bp * L + gp * L * L) / m  # the request's own prompt, in its TTFT, not its ITL
    itl = np.where(lam > 0, service / m, _step(x, np.ones_like(m), L, m)) - own
    if np.any(even):
        fs, fB = fluid(x, rate, L, m, nmax)
        fB = np.where(lam > 0, fB, 0.0)
        fitl = _step(x, np.maximum(fB, 1.0), L, m) - own
        stable = np.where(even, fs | (lam <= 0), stable)
        B = np.where(even, fB, B)
        itl = np.where(even, fitl, itl)
        wait = np.where(even, 0.0, wait)
        p0 = np.where(even, np.exp(-np.nan_to_num(fB, nan=0.0)), p0)
    Bt = B * ftt
    prefill = a + bp * L + gp * L * L + (bd + g * (L + m / 2.0)) * Bt + z * (Bt + 1.0) ** 2
    ttft = t0 + tm * m + wait + kap * (1.0 - p0) * itl + prefill
    itl = np.where(stable, itl, np.nan)
    ttft = np.where(stable, ttft, np.nan)
    return itl, ttft, stable, B, p0, np.where(stable, wait, np.nan)

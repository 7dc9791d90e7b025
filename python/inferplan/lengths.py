"""Prompt and output length distributions in the service model (docs/model.md 7).

:class:`~inferplan.PrefillDecode` describes every request by its mean prompt ``L`` and output
``m``. Real prompts and outputs vary, and the work of a request is not linear in them: decode
token ``t`` reads ``L + t`` cached tokens, so the KV read of a request grows with ``m^2``
and ``m L``, and the chunking of a prompt depends on its own length. :class:`Lengths`
describes the two laws (lognormal with a mean and CV, or measured samples) and builds the
service-time vector and read-off that :mod:`inferplan.arrivals` solves:

- the iteration at batch ``b`` costs ``alpha`` plus the work of the steps in it; a slot of
  the batch is held by a request for ``c + m`` steps (``c`` prefill chunks), so by
  renewal-reward the mean work per slot and step is ``E[work] / E[c + m]`` and
  ``tau(b) = E[c(b) + m] alpha + b E[work(b)]``, with
  ``E[work] = E[w_pre(c(b; L), L)] + beta E[m] + gamma (E[m] E[L] + E[m (m + 1)] / 2)``
  (prompt and output independent); with one length each this is docs/model.md 2.2 exactly;
- the read-off charges an arriving request its own prefill averaged over its prompt law;
- the queueing delay of a non-memoryless service time is corrected by the factor
  ``(ca2 + cs2) / (ca2 + 1)`` (Allen-Cunneen's two-moment form, relative to the chain's
  exponential service; ``ca2`` the arrivals' squared CV, ``cs2 = Var(c + m) / E[c + m]^2``
  the steps' squared CV). This part is an approximation; docs/traffic.md measures it.

>>> import inferplan
>>> from inferplan import arrivals
>>> from inferplan.lengths import Lengths
>>> model = inferplan.PrefillDecode(8, 0.02, 5e-5, 500, 200)
>>> r = inferplan.Replica(model, max_batch=32)
>>> heavy = arrivals.analyze(r, 10.0, lengths=Lengths(out_cv=2.0))
>>> heavy.max_rate < r.max_rate   # the KV read grows with E[m^2]
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from . import _lazy
from ._kernels import reference as _ref
from ._metrics import KIND_DECODE_ONLY, KIND_PREFILL_DECODE
from .admission import _chunks_at

POINTS = 48
"""Quadrature points per length law (Gauss-Hermite on the log scale for a lognormal,
equal-probability bins of samples; the mean is restored exactly)."""


@lru_cache(maxsize=8)
def _gauss_hermite(points: int):
    """Return Gauss-Hermite nodes and normalised weights of the standard normal law.

    The arrays are read-only and computed once per point count (an eigenvalue problem per
    call otherwise).
    """
    z, w = np.polynomial.hermite_e.hermegauss(points)
    w = w / w.sum()
    z.setflags(write=False)
    w.setflags(write=False)
    return z, w


def _points(mean: float, cv: float, values, points: int):
    """Return (values, weights) of a length law with the given mean.

    One point for CV 0, Gauss-Hermite points of a lognormal otherwise, or the means of
    equal-probability bins of measured ``values`` (both rescaled to the exact mean).
    """
    if values is not None:
        v = np.sort(np.asarray(values, dtype=float))
        bins = np.array_split(v, min(points, v.size))
        x = np.array([b.mean() for b in bins])
        w = np.array([b.size for b in bins], dtype=float) / v.size
    elif cv == 0.0 or mean == 0.0:
        return np.array([mean]), np.array([1.0])
    else:
        # Gauss-Hermite nodes of the normal law on the log scale: moments E[X^k] =
        # exp(k mu + k^2 s2 / 2) come out to a relative error far below 1e-6 for k <= 2
        # (a quantile grid would cut the upper tail and lose up to 10% of E[X^2]).
        s2 = math.log1p(cv * cv)
        z, w = _gauss_hermite(points)
        x = np.exp(math.log(mean) - s2 / 2 + math.sqrt(s2) * z)
    m = float(x @ w)
    if m > 0:
        x = x * (mean / m)
    return x, w


def _check_cv(name, value) -> float:
    try:
        if isinstance(value, (bool, str, bytes)):  # True is not a CV of 1, nor "2" of 2
            raise TypeError
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"Lengths.{name} must be a number >= 0, got {value!r}") from None
    if not (math.isfinite(x) and 0.0 <= x <= 20.0):
        raise ValueError(f"Lengths.{name} must be finite and in [0, 20], got {value!r}")
    return x


def _check_values(name, values):
    if values is None:
        return None
    try:
        v = np.array(values, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"Lengths.{name} must be a sequence of numbers") from None
    if v.size == 0:
        raise ValueError(f"Lengths.{name} must hold at least one value")
    bad = np.flatnonzero(~(np.isfinite(v) & (v >= 0)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"Lengths.{name}[{i}] must be finite and >= 0, got {v[i]!r}")
    v.setflags(write=False)
    return v


@dataclass(frozen=True)
class Lengths:
    """Length laws around the model's mean prompt and output tokens.

    Lognormal with coefficients of variation ``in_cv`` and ``out_cv`` (0: every request
    has the mean), or measured samples ``in_values`` / ``out_values`` (e.g. a trace's
    column; their means replace the model's). Pass as ``lengths=`` to
    :mod:`inferplan.arrivals`.
    """

    in_cv: float = 0.0
    out_cv: float = 0.0
    in_values: np.ndarray | None = field(default=None, repr=False)
    out_values: np.ndarray | None = field(default=None, repr=False)
    points: int = POINTS

    def __post_init__(self) -> None:
        """Check the CVs and the samples (ValueError naming the field otherwise)."""
        object.__setattr__(self, "in_cv", _check_cv("in_cv", self.in_cv))
        object.__setattr__(self, "out_cv", _check_cv("out_cv", self.out_cv))
        object.__setattr__(self, "in_values", _check_values("in_values", self.in_values))
        object.__setattr__(self, "out_values", _check_values("out_values", self.out_values))
        if self.out_values is not None and not self.out_values.mean() > 0:
            raise ValueError("Lengths.out_values must have a mean > 0")
        if not (isinstance(self.points, int) and 1 <= self.points <= 1024):
            raise ValueError(f"Lengths.points must be an integer in [1, 1024], got {self.points!r}")

    @classmethod
    def empirical(cls, in_tokens, out_tokens, points: int = POINTS) -> Lengths:
        """From measured prompt and output token counts (e.g. a trace's columns)."""
        return cls(in_values=in_tokens, out_values=out_tokens, points=points)

    def laws(self, in_mean: float, out_mean: float):
        """((L values, weights), (m values, weights)) around the given means."""
        if self.in_values is not None:
            in_mean = float(self.in_values.mean())
        if self.out_values is not None:
            out_mean = float(self.out_values.mean())
        return (
            _points(in_mean, self.in_cv, self.in_values, self.points),
            _points(out_mean, self.out_cv, self.out_values, self.points),
        )

    def service(self, model, max_batch: int):
        """Return the :class:`inferplan.arrivals.Service` of ``model`` under these laws.

        ``model`` is a DecodeOnly or PrefillDecode model (see the module docs).
        """
        from .arrivals import Service

        kind, alpha, beta, gamma, L0, m0, M = model.params()
        if kind not in (KIND_DECODE_ONLY, KIND_PREFILL_DECODE):
            raise ValueError(
                "lengths need a DecodeOnly or PrefillDecode model (a ServiceTimes vector "
                "has no token structure)"
            )
        N = int(max_batch)
        (Lx, Lw), (mx, mw) = self.laws(L0, m0)
        m1 = float(mx @ mw)
        m2 = float(mx * mx @ mw)
        if kind == KIND_DECODE_ONLY:
            tau = m1 * (alpha + beta * np.arange(1, N + 1))
            scv = max(m2 / (m1 * m1) - 1.0, 0.0)
            params = (kind, alpha, beta, gamma, 0.0, m1, M)
            return Service(tau, lambda B, service: (0.0, service / m1), params, scv)
        L1 = float(Lx @ Lw)
        # chunk counts c(b; L) of every prompt point, at the mean output length
        b = np.arange(1, N + 1, dtype=float)
        C = _chunks_at(b[None, :], N, Lx[:, None], m1, M)  # (points, N), closed form
        Ec = Lw @ C  # E[c](b)
        Ewpre = Lw @ ((beta + gamma * (C + 1.0) / 2.0) * Lx[:, None])  # E[w_pre](b)
        w_dec = beta * m1 + gamma * (m1 * L1 + (m2 + m1) / 2.0)
        work = Ewpre + w_dec
        tau = (Ec + m1) * alpha + b * work
        delta = work / (Ec + m1)
        # steps c + m: Var = Var(c) + Var(m) (independent), at the busiest batch N
        var_c = float(Lw @ (C[:, -1] - Ec[-1]) ** 2)
        steps = Ec[-1] + m1
        scv = (var_c + m2 - m1 * m1) / (steps * steps)

        def read_off(B, service):
            k = min(max(_ref.round_half_away(B), 1), N) - 1
            c = C[:, k]
            pre = c * max(0.0, alpha + (B - 1.0) * delta[k]) + (beta + gamma * (c + 1) / 2) * Lx
            prefill = float(Lw @ pre)
            return prefill, (service - prefill) / m1

        params = (kind, alpha, beta, gamma, L1, m1, M)
        return Service(tau, read_off, params, scv)


__all__ = ["POINTS", "Lengths"]

__dir__ = _lazy.public_dir(__name__)

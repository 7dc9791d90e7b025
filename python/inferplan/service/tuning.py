"""Online tuning: an extended Kalman filter that keeps a profile's parameters up to date.

A :class:`Tuner` holds the parameters of a service profile -- ``alpha, beta`` of a
DecodeOnly profile (docs/model.md 2.1) or ``alpha, beta, gamma`` of a PrefillDecode one
(2.2) -- with their covariance, and updates them from each window of observations
(:class:`inferplan.service.metrics.Window`): every (batch, ITL) point of the window is a
measurement of the model's ITL at that batch. See docs/tuning.md.

The measurement function (the model's ITL at the window's batch) is linear in the
parameters except where the read-off clamps at zero, so the filter is an *extended* Kalman
filter with the Jacobian taken by central differences at the current estimate (any read-off
of the model can be a measurement). The starting uncertainty is relative (``prior_sd`` times
each starting value), and the parameters are kept >= 0 after each update. Robustness:

* **idle windows** (no points) are skipped: nothing is learned, the uncertainty is kept;
* **outliers**: a point whose normalised innovation exceeds ``gate`` standard deviations is
  rejected; between ``huber`` and ``gate`` its noise is inflated by the Huber weight, so a
  stall in the server moves the estimate little;
* **drift**: between windows the covariance grows by ``drift`` (relative, per window), so
  the filter follows a server whose speed changes (a new driver, a different GPU clock).

The covariance update is Joseph's form, which stays symmetric and positive.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _lazy
from ..models import DecodeOnly, PrefillDecode

__all__ = [
    "KINDS",
    "MAX_CHUNKS",
    "MAX_IN_TOKENS",
    "MAX_MS",
    "TuneStep",
    "Tuner",
    "fit_iteration_times",
]
__dir__ = _lazy.public_dir(__name__)

KINDS = {"decode_only": ("alpha", "beta"), "prefill_decode": ("alpha", "beta", "gamma")}
MAX_MS = 1e9  # no iteration parameter or measured ITL is anywhere near 11 days
MAX_IN_TOKENS = 1e7  # prompts beyond any real model (the chunk count grows with them)
MAX_CHUNKS = 1e5
_FLOOR = 1e-6  # ms: the scale of a parameter that starts at 0 (for its prior and drift)


@dataclass(frozen=True)
class TuneStep:
    """What one window did to the tuner."""

    window: int
    status: str
    """``"updated"``, ``"idle"`` (no points: skipped) or ``"rejected"`` (every point gated)."""
    used: int
    """Points that updated the estimate (down-weighted ones included)."""
    downweighted: int
    rejected: int
    predicted_itl_ms: float
    """The model's ITL at the window's median point batch, before the update (NaN if idle)."""
    measured_itl_ms: float
    """The window's median measured ITL (NaN if idle)."""
    params: dict[str, float]
    sd: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        """Return the step as a JSON-able dict (non-finite numbers as None)."""
        out = dict(self.__dict__)
        for k in ("predicted_itl_ms", "measured_itl_ms"):
            out[k] = out[k] if math.isfinite(out[k]) else None
        return out


def _kind_of(profile) -> tuple[str, dict[str, float], dict[str, float]]:
    """(kind, parameters, shape) of a model instance or a mapping."""
    if isinstance(profile, DecodeOnly):
        return "decode_only", {"alpha": profile.alpha, "beta": profile.beta}, {
            "out_tokens": profile.out_tokens}  # fmt: skip
    if isinstance(profile, PrefillDecode):
        return "prefill_decode", {
            "alpha": profile.alpha, "beta": profile.beta, "gamma": profile.gamma}, {
            "in_tokens": profile.in_tokens, "out_tokens": profile.out_tokens,
            "max_num_tokens": profile.max_num_tokens}  # fmt: skip
    if isinstance(profile, Mapping):
        kind = str(profile.get("kind", "decode_only")).lower()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        params = {}
        for name in KINDS[kind]:
            v = profile.get(name, 0.0 if name == "gamma" else None)
            try:
                x = float(v)
            except (TypeError, ValueError):
                raise ValueError(f"{name} must be a number, got {v!r}") from None
            if not (math.isfinite(x) and 0 <= x <= MAX_MS):
                raise ValueError(f"{name} must be in [0, {MAX_MS:g}] ms, got {v!r}")
            params[name] = x
        shape = {}
        for name, default in (("in_tokens", 0.0), ("out_tokens", 1.0), ("max_num_tokens", 8192.0)):
            v = profile.get(name, default)
            try:
                x = float(v)
            except (TypeError, ValueError):
                raise ValueError(f"{name} must be a number, got {v!r}") from None
            if not (math.isfinite(x) and 0 <= x <= MAX_MS):
                raise ValueError(f"{name} must be in [0, {MAX_MS:g}], got {v!r}")
            shape[name] = x
        return kind, params, shape
    raise TypeError(f"profile must be DecodeOnly, PrefillDecode or a mapping, got {profile!r}")


def _check_sizes(in_tokens: float, budget: float) -> None:
    if in_tokens > MAX_IN_TOKENS or in_tokens / max(budget, 1e-300) > MAX_CHUNKS:
        raise ValueError(f"in_tokens must be at most {MAX_IN_TOKENS:g} and at most "
                         f"{MAX_CHUNKS:g} x max_num_tokens, got {in_tokens!r}")  # fmt: skip


def _positive(name: str, value, *, allow_zero: bool = False) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(x) or x < 0 or (x == 0 and not allow_zero) or x > MAX_MS:
        raise ValueError(f"{name} must be finite, > 0 and <= {MAX_MS:g}, got {value!r}")
    return x


class Tuner:
    """Extended Kalman filter over a profile's parameters (see the module docstring).

    ``profile``: a :class:`~inferplan.DecodeOnly` or :class:`~inferplan.PrefillDecode`, or a
    mapping with ``kind`` ("decode_only" / "prefill_decode") and the parameters; its values
    are the starting estimate. ``prior_sd``: the starting uncertainty of each parameter, as a
    standard deviation relative to its starting value (1.0: "off by up to its own size",
    which covers a start 2x too high or too low). ``noise``:
    relative standard deviation of one ITL measurement, plus ``noise_ms`` absolute.
    ``huber`` and ``gate`` are in standard deviations of the innovation.

    >>> from inferplan import DecodeOnly
    >>> from inferplan.service.metrics import Window
    >>> tuner = Tuner(DecodeOnly(alpha=10.0, beta=0.6, out_tokens=200))  # 2x off
    >>> for k in range(40):  # the server really runs at alpha 5, beta 0.3
    ...     pts = tuple((b, 5.0 + 0.3 * b) for b in (4.0, 16.0, 64.0))
    ...     step = tuner.update(Window(start=10.0 * k, end=10.0 * (k + 1), points=pts))
    >>> {k: round(v, 2) for k, v in tuner.params.items()}
    {'alpha': 5.0, 'beta': 0.3}
    """

    def __init__(
        self,
        profile,
        *,
        prior_sd: float = 1.0,
        drift: float = 0.005,
        noise: float = 0.02,
        noise_ms: float = 1.0,
        huber: float = 1.0,
        gate: float = 10.0,
    ):
        kind, params, shape = _kind_of(profile)
        _check_sizes(shape.get("in_tokens", 0.0), shape.get("max_num_tokens", 8192.0))
        self.kind = kind
        self.names = KINDS[kind]
        self.shape = shape
        self.prior_sd = _positive("prior_sd", prior_sd)
        self.drift = _positive("drift", drift, allow_zero=True)
        self.noise = _positive("noise", noise, allow_zero=True)
        self.noise_ms = _positive("noise_ms", noise_ms, allow_zero=True)
        if self.noise == 0 and self.noise_ms == 0:
            raise ValueError("noise and noise_ms cannot both be 0")
        self.huber = _positive("huber", huber)
        self.gate = _positive("gate", gate)
        if self.gate < self.huber:
            raise ValueError(f"gate ({gate}) must be >= huber ({huber})")
        self.x = np.maximum(np.array([params[n] for n in self.names], dtype=float), 0.0)
        self.P = np.diag((self.prior_sd * np.maximum(self.x, _FLOOR)) ** 2)
        self.windows = 0
        self.updates = 0
        self.history: list[TuneStep] = []
        self._lock = threading.Lock()

    # -- the model --------------------------------------------------------------------------
    @property
    def params(self) -> dict[str, float]:
        """The current estimate (ms)."""
        return dict(zip(self.names, self.x.tolist(), strict=True))

    @property
    def sd(self) -> dict[str, float]:
        """Standard deviation of each parameter (ms)."""
        sd = np.sqrt(np.diag(self.P))
        return dict(zip(self.names, sd.tolist(), strict=True))

    @property
    def covariance(self) -> np.ndarray:
        """Covariance of the parameters (ms^2)."""
        return self.P.copy()

    def _itl(self, x: np.ndarray, batch: float, in_tokens: float, out_tokens: float) -> float:
        p = x
        if self.kind == "decode_only":
            return float(p[0] + p[1] * batch)
        from .._kernels.reference import chunk_counts, prefill_decode_parts

        alpha, beta, gamma = p
        L, m, M = in_tokens, max(out_tokens, 1.0), self.shape["max_num_tokens"]
        n = max(round(float(batch)), 1)
        c = float(chunk_counts(L, m, M, n)[-1]) if L > 0 else 1.0
        _, delta = prefill_decode_parts(alpha, beta, gamma, L, m, M)
        base = max(0.0, alpha + (batch - 1.0) * delta(c))
        return float(base + beta + gamma * (L + (m + 1) / 2))

    def predict_itl(self, batch: float, *, in_tokens: float | None = None,
                    out_tokens: float | None = None) -> float:  # fmt: skip
        """Return the model's mean ITL (ms) at mean batch ``batch`` with the current estimate."""
        b = _positive("batch", batch)
        return self._itl(self.x, b, *self._tokens(in_tokens, out_tokens))

    def _tokens(self, in_tokens, out_tokens) -> tuple[float, float]:
        L = self.shape.get("in_tokens", 0.0) if in_tokens is None or not math.isfinite(
            in_tokens) else in_tokens  # fmt: skip
        m = self.shape.get("out_tokens", 1.0) if out_tokens is None or not math.isfinite(
            out_tokens) else out_tokens  # fmt: skip
        return float(L), float(m)

    def model(self, *, in_tokens: float | None = None, out_tokens: float | None = None):
        """Return the profile with the current estimate, as a service model for sizing."""
        p = self.params
        L, m = self._tokens(in_tokens, out_tokens)
        if self.kind == "decode_only":
            return DecodeOnly(p["alpha"], p["beta"], m)
        return PrefillDecode(p["alpha"], p["beta"], p["gamma"], L, m,
                             self.shape["max_num_tokens"])  # fmt: skip

    # -- the filter -------------------------------------------------------------------------
    def _jacobian(self, batch, L, m) -> tuple[float, np.ndarray]:
        h0 = self._itl(self.x, batch, L, m)
        H = np.empty(self.x.size)
        for j in range(self.x.size):
            e = np.zeros_like(self.x)
            e[j] = 1e-6 * max(abs(self.x[j]), 1e-3)
            H[j] = (self._itl(self.x + e, batch, L, m) - self._itl(self.x - e, batch, L, m)) / (
                2 * e[j]
            )
        return h0, H

    def update(self, window) -> TuneStep:
        """Update the estimate from one window.

        A :class:`Window` or a mapping with ``points`` = [[batch, itl_ms], ...] and optional
        ``in_tokens``/``out_tokens``.
        """
        points, L, m = self._window_points(window)
        with self._lock:
            self.windows += 1
            if not points:
                step = self._step("idle", 0, 0, 0, math.nan, math.nan)
                self.history.append(step)
                return step
            bs = np.array([p[0] for p in points])
            mid = float(np.median(bs))
            predicted = self._itl(self.x, mid, L, m)
            measured = float(np.median([p[1] for p in points]))
            self.P = self.P + np.diag((self.drift * np.maximum(self.x, _FLOOR)) ** 2)
            used = down = rejected = 0
            n = self.x.size
            for batch, y in points:
                h, H = self._jacobian(batch, L, m)
                R = (self.noise * max(h, 1e-9)) ** 2 + self.noise_ms**2
                PH = self.P @ H
                S = float(H @ PH) + R
                nu = y - h
                r = abs(nu) / math.sqrt(S)
                if r > self.gate:
                    rejected += 1
                    continue
                if r > self.huber:
                    R = R * (r / self.huber)  # Huber weight huber / r on this point
                    S = float(H @ PH) + R
                    down += 1
                K = PH / S
                self.x = self.x + K * nu
                self.x = np.maximum(self.x, 0.0)
                A = np.eye(n) - np.outer(K, H)
                self.P = A @ self.P @ A.T + np.outer(K, K) * R
                self.P = 0.5 * (self.P + self.P.T)
                used += 1
            if used:
                self.updates += 1
            step = self._step("updated" if used else "rejected", used, down, rejected,
                              predicted, measured)  # fmt: skip
            self.history.append(step)
            return step

    def update_many(self, windows: Iterable) -> list[TuneStep]:
        """Update the estimate from each window in turn; return the steps."""
        return [self.update(w) for w in windows]

    def _step(self, status, used, down, rejected, predicted, measured) -> TuneStep:
        return TuneStep(self.windows, status, used, down, rejected, predicted, measured,
                        self.params, self.sd)  # fmt: skip

    def _window_points(self, window) -> tuple[list[tuple[float, float]], float, float]:
        if isinstance(window, Mapping):
            raw = window.get("points")
            if raw is None and window.get("batch") is not None and window.get("itl_ms") is not None:
                raw = [[window["batch"], window["itl_ms"]]]
            raw = raw or []
            in_tok, out_tok = window.get("in_tokens"), window.get("out_tokens")
        else:
            raw = window.points
            in_tok, out_tok = window.in_tokens, window.out_tokens
        if not isinstance(raw, (list, tuple)):
            raise ValueError(f"points must be a list of [batch, itl_ms] pairs, got {raw!r}")
        points = []
        for i, pt in enumerate(raw):
            try:
                b, y = (float(v) for v in pt)
            except (TypeError, ValueError):
                raise ValueError(f"points[{i}] must be a pair [batch, itl_ms], got {pt!r}") \
                    from None  # fmt: skip
            if not (
                math.isfinite(b) and math.isfinite(y) and 0 <= b <= MAX_MS and 0 <= y <= MAX_MS
            ):
                raise ValueError(f"points[{i}] must be finite, >= 0 and <= {MAX_MS:g}, got {pt!r}")
            if b > 0 and y > 0:  # an idle point (nothing running) carries no information
                points.append((b, y))
        for name, v in (("in_tokens", in_tok), ("out_tokens", out_tok)):
            if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool)):
                raise ValueError(f"{name} must be a number, got {v!r}")
            if v is not None and math.isfinite(v) and v < 0:
                raise ValueError(f"{name} must be >= 0, got {v!r}")
        L, m = self._tokens(in_tok, out_tok)
        if self.kind == "prefill_decode":
            _check_sizes(L, self.shape["max_num_tokens"])
        return points, L, m

    # -- state -------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Return a JSON-able summary.

        kind, parameters, standard deviations, covariance, windows seen and updates made.
        """
        with self._lock:
            return {
                "kind": self.kind,
                "params": self.params,
                "sd": self.sd,
                "covariance": self.P.tolist(),
                "shape": dict(self.shape),
                "windows": self.windows,
                "updates": self.updates,
            }


def fit_iteration_times(batch, iteration_ms, *, loss: str = "soft_l1", f_scale: float = 1.0):
    """Fit ``iteration_ms = alpha + beta * batch`` offline, robustly.

    Offline robust fit of ``iteration_ms = alpha + beta * batch`` (scipy's ``least_squares``
    with a robust ``loss``; ``f_scale`` ms is where it turns robust). Returns ``(alpha,
    beta)``, both >= 0.
    """
    from scipy.optimize import least_squares

    b = np.asarray(batch, dtype=float)
    t = np.asarray(iteration_ms, dtype=float)
    if b.shape != t.shape or b.size < 2:
        raise ValueError("batch and iteration_ms need the same length, at least 2")
    ols = np.linalg.lstsq(np.c_[np.ones_like(b), b], t, rcond=None)[0]
    start = np.maximum(ols, 1e-6)
    res = least_squares(lambda p: p[0] + p[1] * b - t, start, loss=loss, f_scale=f_scale,
                        bounds=([0.0, 0.0], [np.inf, np.inf]))  # fmt: skip
    return float(res.x[0]), float(res.x[1])

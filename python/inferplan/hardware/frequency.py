"""GPU clock scaling of a measured profile and of its power.

A profile (``alpha``, ``beta``, ``gamma`` in ms) is measured at a reference clock
``ref_mhz``. At another clock ``f`` each coefficient splits into a compute-bound part that
scales as ``ref_mhz / f`` and a memory-bound part that does not (HBM runs on its own clock):

    x(f) = x_ref * (1 - phi + phi * ref_mhz / f)        phi = compute_fraction in [0, 1]

Board power at full load has a static part and a part that grows with the clock:

    P_full(f) = static_w + (P_full(ref) - static_w) * (f / ref_mhz) ** exponent

``exponent`` ~ 1 is ``P ~ f`` at fixed voltage; 2..3 approximates ``f * V(f)**2`` where the
voltage follows the clock. The whole curve above idle (mid and full points) is scaled by
``(P_full(f) - idle) / (P_full(ref) - idle)`` so that idle stays where the card idles.

The default example (see docs/energy.md) reproduces OASIS (Mittal et al., "OASIS: Optimal
Allocation Strategy for Inference Services in Cloud Environments"): an A100 at 1320 MHz
drawing 239.4 W and at 855 MHz 145.2 W, about 7 % fewer tokens per second, and 261.7 ->
171.5 mJ per token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import _lazy
from .power import PowerCurve

__all__ = [
    "FrequencyModel",
    "fit_power_frequency",
]
__dir__ = _lazy.public_dir(__name__)


def _finite(owner: str, name: str, value, lo=None, hi=None, *, open_lo=False) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}.{name} must be a number, got {value!r}") from None
    bad = not math.isfinite(x)
    if lo is not None:
        bad = bad or (x <= lo if open_lo else x < lo)
    if hi is not None:
        bad = bad or x > hi
    if bad:
        rng = f"{'(' if open_lo else '['}{lo}, {hi if hi is not None else 'inf'}]"
        raise ValueError(f"{owner}.{name} must be finite and in {rng}, got {value!r}")
    return x


@dataclass(frozen=True)
class FrequencyModel:
    """How a profile measured at ``ref_mhz`` changes with the GPU clock.

    ``compute_fraction`` (phi) applies to alpha, beta and gamma alike unless
    ``compute_fraction_alpha`` / ``_beta`` / ``_gamma`` override it.
    ``static_w`` and ``exponent`` describe the power (module docstring).

    >>> fm = FrequencyModel(ref_mhz=1320, compute_fraction=0.148, static_w=77.1, exponent=2)
    >>> round(float(fm.power_full_w(239.4, 855)), 1)
    145.2
    """

    ref_mhz: float
    compute_fraction: float = 0.5
    static_w: float = 0.0
    exponent: float = 2.0
    compute_fraction_alpha: float | None = None
    compute_fraction_beta: float | None = None
    compute_fraction_gamma: float | None = None

    def __post_init__(self) -> None:
        """Check every field (finite, in range), naming the field and the value."""
        o = "FrequencyModel"
        object.__setattr__(self, "ref_mhz", _finite(o, "ref_mhz", self.ref_mhz, 0, open_lo=True))
        for name in (
            "compute_fraction",
            "compute_fraction_alpha",
            "compute_fraction_beta",
            "compute_fraction_gamma",
        ):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, _finite(o, name, v, 0, 1))
        object.__setattr__(self, "static_w", _finite(o, "static_w", self.static_w, 0))
        object.__setattr__(self, "exponent", _finite(o, "exponent", self.exponent, 0))

    def _phi(self, which: str) -> float:
        v = getattr(self, f"compute_fraction_{which}")
        return self.compute_fraction if v is None else v

    def time_scale(self, freq_mhz, which: str = "alpha"):
        """Factor on ``alpha``/``beta``/``gamma`` at ``freq_mhz`` (vectorised)."""
        f = np.asarray(freq_mhz, dtype=float)
        if np.any(~np.isfinite(f) | (f <= 0)):
            raise ValueError(f"frequency_mhz must be finite and > 0, got {freq_mhz!r}")
        phi = self._phi(which)
        return 1.0 - phi + phi * self.ref_mhz / f

    def power_full_w(self, full_w_ref, freq_mhz):
        """Full-load power at ``freq_mhz`` given ``full_w_ref`` at the reference clock."""
        f = np.asarray(freq_mhz, dtype=float) / self.ref_mhz
        out = (
            self.static_w + (np.asarray(full_w_ref, dtype=float) - self.static_w) * f**self.exponent
        )
        return out[()] if out.ndim == 0 else out

    def power_scale(self, curve: PowerCurve, freq_mhz):
        """Factor on the part of ``curve`` above idle at ``freq_mhz`` (vectorised)."""
        span = curve.full_w - curve.idle_w
        if span <= 0:
            return np.ones_like(np.asarray(freq_mhz, dtype=float))
        return (self.power_full_w(curve.full_w, freq_mhz) - curve.idle_w) / span

    def scale_model(self, model, freq_mhz: float):
        """``model`` (DecodeOnly or PrefillDecode) as it would run at ``freq_mhz``."""
        from dataclasses import replace

        f = float(freq_mhz)
        changes = {
            "alpha": model.alpha * float(self.time_scale(f, "alpha")),
            "beta": model.beta * float(self.time_scale(f, "beta")),
        }
        if hasattr(model, "gamma"):
            changes["gamma"] = model.gamma * float(self.time_scale(f, "gamma"))
        return replace(model, **changes)

    def scale_curve(self, curve: PowerCurve, freq_mhz: float) -> PowerCurve:
        """``curve`` as it would be drawn at ``freq_mhz``."""
        return curve.scaled(float(self.power_scale(curve, freq_mhz)))

    @classmethod
    def calibrate_power(
        cls, ref_mhz, ref_full_w, other_mhz, other_full_w, *, exponent=2.0, **kwargs
    ) -> FrequencyModel:
        """Return the model whose static power matches full-load powers measured at two clocks.

        The static power makes full-load power ``ref_full_w`` at ``ref_mhz`` and
        ``other_full_w`` at ``other_mhz`` for the given ``exponent``.

        >>> fm = FrequencyModel.calibrate_power(1320, 239.4, 855, 145.2, exponent=2)
        >>> round(fm.static_w, 1)
        77.1
        """
        r = (float(other_mhz) / float(ref_mhz)) ** float(exponent)
        if r == 1.0:
            raise ValueError("calibrate_power: other_mhz must differ from ref_mhz")
        static = (float(other_full_w) - float(ref_full_w) * r) / (1.0 - r)
        if static < 0:
            raise ValueError(
                f"calibrate_power: the two points need a negative static power ({static:.4g} W) "
                f"with exponent {exponent}; use a larger exponent"
            )
        return cls(ref_mhz=ref_mhz, static_w=static, exponent=exponent, **kwargs)

    @classmethod
    def calibrate_throughput(cls, ref_mhz, other_mhz, throughput_ratio, **kwargs):
        """Return the model whose compute fraction matches a throughput ratio between two clocks.

        The compute fraction turns a throughput at ``ref_mhz`` into ``throughput_ratio``
        times it at ``other_mhz`` (time scales by 1/ratio).

        >>> fm = FrequencyModel.calibrate_throughput(1320, 855, 1 - 0.0745)
        >>> round(fm.compute_fraction, 3)
        0.148
        """
        s = float(ref_mhz) / float(other_mhz) - 1.0
        if s == 0:
            raise ValueError("calibrate_throughput: other_mhz must differ from ref_mhz")
        phi = (1.0 / float(throughput_ratio) - 1.0) / s
        return cls(ref_mhz=ref_mhz, compute_fraction=phi, **kwargs)


def fit_power_frequency(freq_mhz, power_w, *, ref_mhz=None, exponent=None) -> FrequencyModel:
    """Fit ``P(f) = static + dynamic * (f/ref)**exponent`` to measured full-load powers.

    A least-squares fit; ``exponent`` is fitted too (scipy) unless given.
    """
    f = np.asarray(freq_mhz, dtype=float)
    p = np.asarray(power_w, dtype=float)
    for name, col in (("frequency_mhz", f), ("power_w", p)):
        if col.size != f.size or np.any(~np.isfinite(col)) or np.any(col <= 0):
            raise ValueError(f"{name} must hold finite positive values, one per measurement")
    if np.unique(f).size < 2:
        raise ValueError("frequency_mhz: need at least two distinct frequencies")
    ref = float(f.max() if ref_mhz is None else ref_mhz)
    x = f / ref
    if exponent is None:
        from scipy.optimize import curve_fit

        if np.unique(f).size < 3:
            raise ValueError("frequency_mhz: need three distinct frequencies to fit the exponent")
        (static, _dyn, k), _ = curve_fit(
            lambda x, s, d, k: s + d * x**k, x, p, p0=(0.3 * p.min(), p.max(), 2.0), maxfev=10000
        )
    else:
        k = float(exponent)
        a = np.column_stack([np.ones_like(x), x**k])
        (static, _dyn), *_ = np.linalg.lstsq(a, p, rcond=None)
    return FrequencyModel(ref_mhz=ref, static_w=max(float(static), 0.0), exponent=float(k))

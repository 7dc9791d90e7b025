"""Power as a function of utilisation, energy per token, and what a fleet's power costs.

The power curve is the one of docs/model.md section 5 (and of the inferno accelerator data):
linear from ``idle_w`` at utilisation 0 to ``mid_w`` at ``mid_util``, then linear to
``full_w`` at utilisation 1. Utilisation is the queue model's mean batch occupancy over the
max batch (:attr:`inferplan.Metrics.utilization`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import _lazy
from .specs import PowerCurve

__all__ = [
    "HOURS_PER_DAY",
    "PowerCurve",
    "Savings",
    "co2_kg_per_day",
    "cost_per_day",
    "energy_kwh_per_day",
    "energy_per_token_mj",
    "energy_value",
    "fleet_power_w",
    "power_at",
    "savings",
]
__dir__ = _lazy.public_dir(__name__)

HOURS_PER_DAY = 24.0


def _positive(owner: str, name: str, value, *, allow_zero: bool = True) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}.{name} must be a number, got {value!r}") from None
    if not math.isfinite(x) or x < 0 or (not allow_zero and x == 0):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{owner}.{name} must be finite and {bound}, got {value!r}")
    return x


def power_at(utilization, *, idle_w, mid_w, mid_util, full_w, dynamic_scale=1.0):
    """Vectorised power curve: every argument may be an array; they broadcast together.

    ``dynamic_scale`` multiplies the part above idle (the frequency model's factor, see
    :func:`inferplan.hardware.frequency.FrequencyModel.power_scale`).
    """
    u = np.clip(np.asarray(utilization, dtype=float), 0.0, 1.0)
    idle = np.asarray(idle_w, dtype=float)
    mid = np.asarray(mid_w, dtype=float)
    full = np.asarray(full_w, dtype=float)
    mu = np.asarray(mid_util, dtype=float)
    low = idle + (mid - idle) * np.divide(u, mu)
    high = mid + (full - mid) * np.divide(u - mu, 1.0 - mu)
    curve = np.where(u <= mu, low, high)
    return idle + (curve - idle) * np.asarray(dynamic_scale, dtype=float)


def energy_per_token_mj(power_w, tokens_per_s):
    """Energy per token in millijoules: ``1000 * power / token rate`` (inf at zero rate)."""
    p = np.asarray(power_w, dtype=float)
    t = np.asarray(tokens_per_s, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(t > 0, 1000.0 * p / np.where(t > 0, t, 1.0), np.inf)


def fleet_power_w(replicas, acc_count, power_w):
    """Fleet power: sum over servers of ``replicas * acc_count * power per card`` (W).

    Arguments broadcast; ``power_w`` is the per-card power at each server's utilisation.
    """
    return float(
        np.sum(
            np.asarray(replicas, dtype=float)
            * np.asarray(acc_count, dtype=float)
            * np.asarray(power_w, dtype=float)
        )
    )


def energy_kwh_per_day(power_w):
    """Return the kWh drawn in a day at a constant ``power_w``."""
    return np.asarray(power_w, dtype=float) * HOURS_PER_DAY / 1000.0


def cost_per_day(power_w, price_per_kwh):
    """Electricity cost per day (currency of ``price_per_kwh``) at a constant power."""
    return energy_kwh_per_day(power_w) * np.asarray(price_per_kwh, dtype=float)


def co2_kg_per_day(power_w, grid_kg_per_kwh):
    """CO2 emitted per day (kg) at a constant power and grid carbon intensity (kg/kWh)."""
    return energy_kwh_per_day(power_w) * np.asarray(grid_kg_per_kwh, dtype=float)


@dataclass(frozen=True)
class Savings:
    """What lowering a fleet's power from ``before_w`` to ``after_w`` per unit is worth."""

    before_w: float
    after_w: float
    units: float
    reduction: float
    """Relative power reduction, ``1 - after/before``."""
    kwh_per_day: float
    cost_per_day: float
    co2_kg_per_day: float


def savings(before_w, after_w, *, units=1, price_per_kwh, grid_kg_per_kwh) -> Savings:
    """Return the daily energy, cost and CO2 saved by drawing less power.

    Each of ``units`` draws ``after_w`` instead of ``before_w`` (W) around the clock.

    >>> s = savings(188.2, 164.9, units=159, price_per_kwh=0.12, grid_kg_per_kwh=0.391)
    >>> round(s.reduction * 100, 1), round(s.cost_per_day, 2), round(s.co2_kg_per_day, 1)
    (12.4, 10.67, 34.8)
    """
    before = _positive("savings", "before_w", before_w, allow_zero=False)
    after = _positive("savings", "after_w", after_w)
    n = _positive("savings", "units", units)
    price = _positive("savings", "price_per_kwh", price_per_kwh)
    grid = _positive("savings", "grid_kg_per_kwh", grid_kg_per_kwh)
    saved_w = (before - after) * n
    kwh = float(energy_kwh_per_day(saved_w))
    return Savings(before, after, n, 1.0 - after / before, kwh, kwh * price, kwh * grid)


def energy_value(power_w, *, cost=0.0, energy_weight=1.0, cost_weight=0.0, price_per_kwh=None):
    """Objective for the fleet optimizer's energy mode (smaller is better).

    ``energy_weight * power_w + cost_weight * cost``; with ``price_per_kwh`` the power is
    first turned into an electricity cost per hour (``power_w / 1000 * price``) so that both
    terms share a unit. With the defaults it is the power itself: minimise watts.
    Arguments broadcast; returns an array (or a float for scalar input).

    >>> float(energy_value(270.0))
    270.0
    >>> float(energy_value(250.0, cost=3.0, energy_weight=1, cost_weight=1, price_per_kwh=0.12))
    3.03
    """
    p = np.asarray(power_w, dtype=float)
    if price_per_kwh is not None:
        p = p / 1000.0 * float(price_per_kwh)
    out = float(energy_weight) * p + float(cost_weight) * np.asarray(cost, dtype=float)
    return out[()] if out.ndim == 0 else out

"""The hardware vocabulary every part of inferplan shares.

accelerators, power curves, model profiles and the economics of a token.

One type per concept, used by the cost table (:func:`inferplan.hardware.cost_table`), the
fleet optimizer (:mod:`inferplan.fleet`, whose loader reads the reference JSON layout into
these types and writes them back) and the runtime (:mod:`inferplan.runtime`). Units are in
the field names: W, MHz, GB, GB/s, per hour, per second.

Importing this module loads nothing heavy (NumPy is imported by the functions that need it),
so that ``inferplan optimize`` and ``inferplan --help`` start fast.
"""

from __future__ import annotations

import math
import operator
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import _lazy

if TYPE_CHECKING:
    from .frequency import FrequencyModel

__all__ = [
    "SECONDS_PER_HOUR",
    "Accelerator",
    "PowerCurve",
    "Profile",
    "cost_per_million_tokens",
]
__dir__ = _lazy.public_dir(__name__)

SECONDS_PER_HOUR = 3600.0
_type = type  # ``type`` is also a field of Accelerator


def _deprecated(old: str, new: str, stacklevel: int = 3) -> None:
    warnings.warn(f"{old} is deprecated; use {new}", DeprecationWarning, stacklevel=stacklevel)


def _non_negative(owner: str, name: str, value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}.{name} must be a number, got {value!r}") from None
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"{owner}.{name} must be finite and >= 0, got {value!r}")
    return x


# ---------------------------------------------------------------------------------------------
# Power


@dataclass(frozen=True, init=False)
class PowerCurve:
    """Board power (W) against utilisation in [0, 1], in two linear pieces (docs/model.md 5).

    ``idle_w`` at 0, ``mid_w`` at ``mid_util``, ``full_w`` at 1. The default is the zero
    curve (no power data).

    >>> curve = PowerCurve(idle_w=60, mid_w=180, mid_util=0.5, full_w=240)
    >>> float(curve(0.25)), curve.at(0.75)
    (120.0, 210.0)

    The fleet's former keywords ``idle``, ``mid_power`` and ``full`` (and the attributes of
    those names) still work and warn: they are deprecated.
    """

    idle_w: float
    mid_w: float
    mid_util: float
    full_w: float

    def __init__(
        self,
        idle_w: float = 0.0,
        mid_w: float = 0.0,
        mid_util: float = 0.5,
        full_w: float = 0.0,
        **former: float,
    ) -> None:
        if former:  # the fleet's former keywords: idle=, mid_power=, full=
            unknown = set(former) - {"idle", "mid_power", "full"}
            if unknown:
                raise TypeError(f"PowerCurve got unexpected keyword(s) {sorted(unknown)}")
            _deprecated("PowerCurve(idle=, mid_power=, full=)", "idle_w=, mid_w=, full_w=")
            idle_w = former.get("idle", idle_w)
            mid_w = former.get("mid_power", mid_w)
            full_w = former.get("full", full_w)
        set_ = object.__setattr__
        for name, value in (("idle_w", idle_w), ("mid_w", mid_w), ("full_w", full_w)):
            t = type(value)
            if (t is float or t is int) and 0 <= value < math.inf:  # the common case
                set_(self, name, float(value))
            else:
                set_(self, name, _non_negative("PowerCurve", name, value))
        try:
            u = float(mid_util)
        except (TypeError, ValueError):
            u = math.nan
        if not (0.0 < u < 1.0):
            raise ValueError(
                f"PowerCurve.mid_util must be strictly between 0 and 1, got {mid_util!r}"
            )
        set_(self, "mid_util", u)
        if not (self.idle_w <= self.mid_w <= self.full_w):
            raise ValueError(
                "PowerCurve: need idle_w <= mid_w <= full_w, got "
                f"{self.idle_w}, {self.mid_w}, {self.full_w}"
            )

    @classmethod
    def flat(cls, power_w: float) -> PowerCurve:
        """Return a curve that draws ``power_w`` whatever the load (a measured average)."""
        return cls(power_w, power_w, 0.5, power_w)

    def __call__(self, utilization):
        """Power in W at ``utilization`` (scalar or array; clipped to [0, 1])."""
        import numpy as np

        u = np.clip(np.asarray(utilization, dtype=float), 0.0, 1.0)
        return np.interp(u, [0.0, self.mid_util, 1.0], [self.idle_w, self.mid_w, self.full_w])

    def at(self, utilization: float) -> float:
        """Power in W at one ``utilization`` (clipped to [0, 1]), as a float."""
        u = min(max(float(utilization), 0.0), 1.0)
        if u <= self.mid_util:
            return self.idle_w + (self.mid_w - self.idle_w) * (u / self.mid_util)
        return self.mid_w + (self.full_w - self.mid_w) * (
            (u - self.mid_util) / (1.0 - self.mid_util)
        )

    def scaled(self, factor: float) -> PowerCurve:
        """Return the same shape with the part above idle multiplied by ``factor`` (frequency)."""
        f = _non_negative("PowerCurve.scaled", "factor", factor)
        return PowerCurve(
            self.idle_w,
            self.idle_w + (self.mid_w - self.idle_w) * f,
            self.mid_util,
            self.idle_w + (self.full_w - self.idle_w) * f,
        )

    # deprecated names (the fleet's former PowerCurve)
    @property
    def idle(self) -> float:
        """Deprecated name of :attr:`idle_w`."""
        _deprecated("PowerCurve.idle", "PowerCurve.idle_w")
        return self.idle_w

    @property
    def mid_power(self) -> float:
        """Deprecated name of :attr:`mid_w`."""
        _deprecated("PowerCurve.mid_power", "PowerCurve.mid_w")
        return self.mid_w

    @property
    def full(self) -> float:
        """Deprecated name of :attr:`full_w`."""
        _deprecated("PowerCurve.full", "PowerCurve.full_w")
        return self.full_w


_ZERO_CURVE = PowerCurve()


def _trusted(cls, **values):
    """Build an instance of ``cls`` (a frozen type here) from values already checked.

    The values were checked field by field by a loader, with every field given: no checks,
    no defaults. The fleet loader's fast path (a reference system has hundreds of
    profiles); it gives the object the constructor would give for the same values.
    """
    obj = object.__new__(cls)
    obj.__dict__.update(values)
    return obj


_UNSET: Any = object()


# ---------------------------------------------------------------------------------------------
# Accelerators


@dataclass(frozen=True, init=False)
class Accelerator:
    """A card, a MIG slice of one, or a group of cards a replica runs on.

    - ``power``: the WHOLE card's curve at the reference clock (default: no power data).
    - ``cost_per_hour``: its rental per hour (the reference's ``cost``; the fleet optimizer's
      cost of a replica is ``replicas x accCount x cost_per_hour``). For a MIG slice it is the
      whole card's rental.
    - ``frequency``: clock scaling (:class:`~inferplan.hardware.FrequencyModel`; None:
      fixed clock).
    - ``card`` and ``mig_profile`` (e.g. ``"A100-80GB"``, ``"3g.40gb"``): a MIG slice, which
      draws ``power_share`` of the card's power at its own utilisation (default: its compute
      fraction, so that the shares of a full card add up to the card's power with idle
      counted once) and costs ``power_share`` of ``cost_per_hour`` in the cost table.
    - ``type`` and ``multiplicity``: the fleet optimizer's capacity: one unit of this
      accelerator takes ``multiplicity`` units of capacity ``type`` (default: ``card``, else
      ``name``).
    - ``mem_size_gb``, ``mem_bw_gbps``: memory size and bandwidth (the reference's
      ``memSize`` and ``memBW``; informational, 0 = not given).

    The fleet's former spellings still work and warn (deprecated): the keyword and attribute
    ``cost`` (now ``cost_per_hour``) and the positional order ``Accelerator(name, type, cost,
    multiplicity, power, mem_size_gb)``.
    """

    name: str
    power: PowerCurve
    cost_per_hour: float
    frequency: FrequencyModel | None
    card: str | None
    mig_profile: str | None
    power_share: float | None
    type: str
    multiplicity: int
    mem_size_gb: float
    mem_bw_gbps: float

    def __init__(
        self,
        name: str,
        power: PowerCurve = _ZERO_CURVE,
        cost_per_hour: float = 0.0,
        frequency: FrequencyModel | None = None,
        card: str | None = None,
        mig_profile: str | None = None,
        power_share: float | None = None,
        *,
        type: str | None = None,
        multiplicity: int = 1,
        mem_size_gb: float = 0.0,
        mem_bw_gbps: float = 0.0,
        cost: float = _UNSET,
    ) -> None:
        if isinstance(power, str):  # the fleet's former order: (name, type, cost, mult, power, mem)
            _deprecated(
                "Accelerator(name, type, cost, multiplicity, power, mem_size_gb)",
                "Accelerator(name, power, cost_per_hour, type=, multiplicity=, mem_size_gb=)",
            )
            type, cost_per_hour = power, cost_per_hour
            multiplicity = 1 if frequency is None else frequency  # type: ignore[assignment]
            power = _ZERO_CURVE if card is None else card  # type: ignore[assignment]
            mem_size_gb = 0.0 if mig_profile is None else mig_profile  # type: ignore[assignment]
            frequency = card = mig_profile = None
        if cost is not _UNSET:
            _deprecated("Accelerator(cost=)", "Accelerator(cost_per_hour=)")
            cost_per_hour = cost
        if not isinstance(name, str):
            raise TypeError(f"Accelerator.name must be a str, got {name!r}")
        if not isinstance(power, PowerCurve):
            raise TypeError(
                f"Accelerator {name!r}: power must be a PowerCurve, got {_type(power).__name__}"
            )
        set_ = object.__setattr__
        set_(self, "name", name)
        set_(self, "power", power)
        c = cost_per_hour
        if not ((_type(c) is float or _type(c) is int) and 0 <= c < math.inf):
            c = _non_negative(f"Accelerator {name!r}: Accelerator", "cost_per_hour", c)
        set_(self, "cost_per_hour", c)
        set_(self, "frequency", frequency)
        if (card is None) != (mig_profile is None):
            raise ValueError(f"Accelerator {name!r}: give both card and mig_profile or neither")
        if mig_profile is not None:
            from .mig import profile as mig_lookup

            mig_lookup(card, mig_profile)
        set_(self, "card", card)
        set_(self, "mig_profile", mig_profile)
        if power_share is not None and not (0 < float(power_share) <= 1):
            raise ValueError(
                f"Accelerator {name!r}: power_share must be in (0, 1], got {power_share!r}"
            )
        set_(self, "power_share", power_share)
        t = (card if card is not None else name) if type is None else type
        if not isinstance(t, str):
            raise TypeError(f"Accelerator {name!r}: type must be a str, got {t!r}")
        set_(self, "type", t)
        try:
            units = operator.index(multiplicity)
        except TypeError:
            units = 0
        if units < 1:
            raise ValueError(
                f"Accelerator {name!r}: multiplicity must be an integer >= 1, got {multiplicity!r}"
            )
        set_(self, "multiplicity", int(units))
        for key, value in (("mem_size_gb", mem_size_gb), ("mem_bw_gbps", mem_bw_gbps)):
            if not ((_type(value) in (float, int)) and 0 <= value < math.inf):
                value = _non_negative(f"Accelerator {name!r}: Accelerator", key, value)
            set_(self, key, value)

    @property
    def share(self) -> float:
        """The fraction of the card's power (and rental) this accelerator takes."""
        if self.power_share is not None:
            return float(self.power_share)
        if self.mig_profile is not None:
            from .mig import profile as mig_lookup

            return mig_lookup(self.card, self.mig_profile).power_share
        return 1.0

    @property
    def ref_mhz(self) -> float:
        """The reference clock of its frequency model (NaN without one)."""
        return math.nan if self.frequency is None else self.frequency.ref_mhz

    @property
    def cost(self) -> float:
        """Deprecated: :attr:`cost_per_hour`."""
        _deprecated("Accelerator.cost", "Accelerator.cost_per_hour")
        return self.cost_per_hour


# ---------------------------------------------------------------------------------------------
# Model profiles


@dataclass(frozen=True)
class Profile:
    """Measured service parameters of one model on one accelerator (by accelerator name).

    ``alpha``, ``beta``, ``gamma`` in ms (docs/model.md 2.1 for ``kind="DecodeOnly"``, 2.2
    for ``"PrefillDecode"``); ``frequency_mhz`` the clock they were measured at (None: the
    accelerator's reference clock); ``max_num_tokens`` the prefill chunk budget (cost table).

    The fleet optimizer's fields (the reference's ``accCount``, ``maxBatchSize``,
    ``atTokens``): ``acc_count`` accelerator units per replica, ``max_batch_size`` measured
    at ``at_tokens`` output tokens. The fleet sizes every profile of a system by the system's
    rules (g3 or g1), whatever its ``kind``; its loader sets ``kind`` from the layout
    (``perfParms``: PrefillDecode; top-level alpha/beta: DecodeOnly).
    """

    model: str
    accelerator: str
    alpha: float
    beta: float
    gamma: float = 0.0
    kind: str = "DecodeOnly"
    frequency_mhz: float | None = None
    max_num_tokens: float = 8192
    acc_count: int = 1
    max_batch_size: int = 1
    at_tokens: int = 1


# ---------------------------------------------------------------------------------------------
# Economics


def cost_per_million_tokens(cost_per_hour, tokens_per_s):
    """Cost of a million output tokens.

    ``cost_per_hour / (tokens_per_s x 3600) x 1e6``; inf where nothing is produced
    (``tokens_per_s <= 0``), NaN where the rate is NaN. Arguments broadcast; returns an
    array (a 0-d one for scalars).

    >>> float(cost_per_million_tokens(3.6, 1000.0))
    1.0
    >>> float(cost_per_million_tokens(3.6, 0.0))
    inf
    """
    import numpy as np

    per_hour = np.asarray(cost_per_hour, dtype=float)
    tokens = np.asarray(tokens_per_s, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        cost = np.where(tokens > 0, per_hour / (tokens * SECONDS_PER_HOUR) * 1e6, np.inf)
    return np.where(np.isnan(tokens), np.nan, cost)

"""What the runtime may provision: instance options read off the hardware cost table.

An option is one row of :func:`inferplan.cost_table` for a query class: a full GPU or a
MIG slice, a GPU clock and a max batch, with the largest rate it serves while the class's
mean latencies stay within its sizing targets (:class:`ClassSLO`). The runtime adds what
the cost table does not carry: the slice's compute slices (to count cards and their idle
power) and the power curve at that clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import _lazy
from ..hardware.cost_table import Accelerator, Profile, QueryClass
from ..hardware.frequency import FrequencyModel
from ..hardware.mig import COMPUTE_SLICES
from ..hardware.mig import profile as mig_profile
from ..hardware.power import PowerCurve

__all__ = [
    "Hardware",
    "Options",
    "build_options",
    "campus_hardware",
]
__dir__ = _lazy.public_dir(__name__)


@dataclass(frozen=True)
class Hardware:
    """The hardware to provision from: accelerators, clocks, max batches and electricity.

    Accelerators (full cards and MIG slices) with their measured profiles, the clocks and
    max batches to consider, and the price and carbon intensity of electricity.

    ``max_batch`` caps the batch per accelerator name (memory for the KV cache shrinks with
    the slice); ``static_accelerator`` is the full card the static policy provisions, at its
    reference clock. ``provision_delay_s`` is how long a new instance takes to serve (model
    load); a new MIG slice also waits ``repartition_delay_s`` for the card to be
    repartitioned.
    """

    accelerators: tuple[Accelerator, ...]
    profiles: tuple[Profile, ...]
    frequencies_mhz: tuple[float, ...] | None
    batch_sizes: tuple[int, ...]
    static_accelerator: str
    max_batch: dict[str, int] = field(default_factory=dict)
    price_per_kwh: float = 0.12
    grid_kg_per_kwh: float = 0.391
    provision_delay_s: float = 30.0
    repartition_delay_s: float = 5.0

    def accelerator(self, name: str) -> Accelerator:
        """Return the accelerator called ``name``; ValueError if there is none."""
        for a in self.accelerators:
            if a.name == name:
                return a
        raise ValueError(f"no accelerator {name!r}; have {[a.name for a in self.accelerators]}")


def campus_hardware(**overrides) -> Hardware:
    """Return an A100-80GB serving one 8B model, whole or as 3g/2g/1g MIG slices.

    It runs at 1410, 1140 or 855 MHz. Illustrative parameters: the full-card and 3g.40gb
    profiles and the power curve are those of docs/energy.md (which reproduce OASIS's MIG
    figures); the 2g and 1g slices extrapolate them (fewer SMs: larger per-token costs).
    """
    curve = PowerCurve(idle_w=60.0, mid_w=250.0, mid_util=0.5, full_w=344.3)
    clock = FrequencyModel(ref_mhz=1410, compute_fraction=0.3, static_w=77.1, exponent=2)
    card = "A100-80GB"
    accs = (
        Accelerator("A100", curve, 2.0, clock),
        Accelerator("A100-3g", curve, 2.0, clock, card=card, mig_profile="3g.40gb"),
        Accelerator("A100-2g", curve, 2.0, clock, card=card, mig_profile="2g.20gb"),
        Accelerator("A100-1g", curve, 2.0, clock, card=card, mig_profile="1g.10gb"),
    )
    profiles = (
        Profile("llm-8b", "A100", 15.0, 0.01, 1.25e-4, "PrefillDecode"),
        Profile("llm-8b", "A100-3g", 17.0, 0.02, 2.25e-4, "PrefillDecode"),
        Profile("llm-8b", "A100-2g", 18.0, 0.03, 3.4e-4, "PrefillDecode"),
        Profile("llm-8b", "A100-1g", 20.0, 0.06, 6.8e-4, "PrefillDecode"),
    )
    options = dict(
        accelerators=accs,
        profiles=profiles,
        frequencies_mhz=(855.0, 1140.0, 1410.0),
        batch_sizes=(8, 16, 32, 64),
        static_accelerator="A100",
        max_batch={"A100": 64, "A100-3g": 32, "A100-2g": 16, "A100-1g": 8},
    )
    options.update(overrides)
    return Hardware(**options)


@dataclass(frozen=True)
class Options:
    """Instance options per class as columns (one entry per option)."""

    class_index: np.ndarray
    accelerator: np.ndarray  # names
    card: np.ndarray  # card type a MIG slice lives on; the accelerator name for a full card
    mig_profile: np.ndarray  # profile name, or "" for a full card
    slices: np.ndarray  # compute slices of the card (7 for a full card)
    share: np.ndarray  # share of the card's dynamic power
    frequency_mhz: np.ndarray
    max_batch: np.ndarray
    rate: np.ndarray  # max serviceable req/s under the sizing targets
    utilization: np.ndarray  # at that rate
    alpha: np.ndarray
    beta: np.ndarray
    gamma: np.ndarray
    kind: np.ndarray
    max_num_tokens: np.ndarray
    idle_w: np.ndarray
    curve_mid_w: np.ndarray
    curve_mid_util: np.ndarray
    curve_full_w: np.ndarray
    is_static: np.ndarray  # the static policy's option for its class
    # Per class (not per option): what the options were sized for, which the fleet
    # optimizer needs to size them again at a window's load.
    class_names: tuple[str, ...] = ()
    class_in_tokens: np.ndarray | None = None
    class_out_tokens: np.ndarray | None = None
    class_itl_ms: np.ndarray | None = None  # mean ITL target
    class_ttft_ms: np.ndarray | None = None  # mean TTFT target

    def __len__(self) -> int:
        """Return the number of instance options."""
        return len(self.rate)

    def power_w(self, idx, utilization):
        """Return the board power of each instance ``idx`` at ``utilization``.

        As a full card would draw it at that option's clock (vectorised).
        """
        u = np.clip(np.asarray(utilization, dtype=float), 0.0, 1.0)
        mu = self.curve_mid_util[idx]
        idle = self.idle_w[idx]
        mid = self.curve_mid_w[idx]
        full = self.curve_full_w[idx]
        low = idle + (mid - idle) * u / mu
        high = mid + (full - mid) * (u - mu) / (1.0 - mu)
        return np.where(u <= mu, low, high)

    def dynamic_w(self, idx, utilization):
        """Power an instance adds above its card's idle: ``share * (P(u) - idle)``."""
        return self.share[idx] * (self.power_w(idx, utilization) - self.idle_w[idx])

    def describe(self, i: int) -> str:
        """Return a short description of option ``i``: accelerator, MIG profile, clock and batch."""
        mig = f" {self.mig_profile[i]}" if self.mig_profile[i] else ""
        return (
            f"{self.accelerator[i]}{mig} @{self.frequency_mhz[i]:.0f} MHz, "
            f"batch {self.max_batch[i]}"
        )


def build_options(hardware: Hardware, rules, class_tokens) -> Options:
    """Size every (accelerator, clock, max batch) for every class with :func:`inferplan.cost_table`.

    Each class is sized at its mean prompt and output tokens (``class_tokens``: one ``(in,
    out)`` per rule) and its sizing targets.
    """
    from ..hardware.cost_table import cost_table

    classes = [
        QueryClass(
            r.name,
            max(float(i), 1.0),
            max(float(o), 1.0),
            itl_ms=r.slo.mean_itl_ms,
            ttft_ms=r.slo.mean_ttft_ms,
        )
        for r, (i, o) in zip(rules, class_tokens, strict=True)
    ]
    table = cost_table(
        list(hardware.profiles),
        list(hardware.accelerators),
        classes,
        batch_sizes=list(hardware.batch_sizes),
        frequencies_mhz=hardware.frequencies_mhz,
    )
    cap = table["accelerator"].map(lambda a: hardware.max_batch.get(a, math.inf)).astype(float)
    table = table[table["feasible"] & (table["rate"] > 0) & (table["max_batch"] <= cap)]
    table = table.reset_index(drop=True)
    names = [r.name for r in rules]
    class_index = table["query_class"].map({n: k for k, n in enumerate(names)}).to_numpy()
    accs = {a.name: a for a in hardware.accelerators}
    acc_names = table["accelerator"].astype(str).to_numpy()
    freq = table["frequency_mhz"].to_numpy(dtype=float)
    n = len(table)
    card, prof = np.empty(n, dtype=object), np.empty(n, dtype=object)
    slices, share = np.empty(n, dtype=np.int64), np.empty(n)
    idle, mid, mid_u, full = (np.empty(n) for _ in range(4))
    for k in range(n):
        a = accs[acc_names[k]]
        if a.mig_profile is not None:
            card[k], prof[k] = a.card, a.mig_profile
            slices[k] = mig_profile(a.card, a.mig_profile).compute_slices
        else:
            card[k], prof[k], slices[k] = a.name, "", COMPUTE_SLICES
        share[k] = a.share
        curve = a.power
        if a.frequency is not None and math.isfinite(freq[k]):
            curve = a.frequency.scale_curve(curve, freq[k])
        idle[k], mid[k], mid_u[k], full[k] = curve.idle_w, curve.mid_w, curve.mid_util, curve.full_w
    static_acc = hardware.accelerator(hardware.static_accelerator)
    if static_acc.mig_profile is not None:
        raise ValueError("static_accelerator must be a full card, not a MIG slice")
    is_static = np.zeros(n, dtype=bool)
    rate = table["rate"].to_numpy(dtype=float)
    for c in range(len(rules)):
        # The static policy runs full cards at the reference clock with the largest rate.
        ref = static_acc.ref_mhz
        cand = (class_index == c) & (acc_names == static_acc.name)
        if math.isfinite(ref) and np.any(cand & np.isclose(freq, ref)):
            cand &= np.isclose(freq, ref)
        if not np.any(cand):
            raise ValueError(
                f"class {names[c]!r}: no feasible option on {static_acc.name!r} under its "
                "sizing targets; relax the SLO or add hardware"
            )
        is_static[np.flatnonzero(cand)[np.argmax(rate[cand])]] = True
    for c, name in enumerate(names):
        if not np.any(class_index == c):
            raise ValueError(f"class {name!r}: no feasible instance option")
    return Options(
        class_index=class_index.astype(np.int64),
        accelerator=acc_names,
        card=card,
        mig_profile=prof,
        slices=slices,
        share=share,
        frequency_mhz=freq,
        max_batch=table["max_batch"].to_numpy(dtype=np.int64),
        rate=rate,
        utilization=table["utilization"].to_numpy(dtype=float),
        alpha=table["alpha"].to_numpy(dtype=float),
        beta=table["beta"].to_numpy(dtype=float),
        gamma=table["gamma"].to_numpy(dtype=float),
        kind=table["kind"].to_numpy(dtype=np.int64),
        max_num_tokens=np.full(n, 8192.0),
        idle_w=idle,
        curve_mid_w=mid,
        curve_mid_util=mid_u,
        curve_full_w=full,
        is_static=is_static,
        class_names=tuple(names),
        class_in_tokens=np.array([q.in_tokens for q in classes], dtype=float),
        class_out_tokens=np.array([q.out_tokens for q in classes], dtype=float),
        class_itl_ms=np.array([q.itl_ms or 0.0 for q in classes], dtype=float),
        class_ttft_ms=np.array([q.ttft_ms or 0.0 for q in classes], dtype=float),
    )

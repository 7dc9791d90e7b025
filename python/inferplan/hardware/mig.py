"""Multi-Instance GPU (MIG) partitions: the profiles of each card, valid layouts, packing.

A MIG-capable A100 or H100 has 7 compute slices and 8 memory slices. A GPU instance
profile ``<g>g.<m>gb`` takes ``g`` compute slices and a block of memory slices; it may only
start at the memory-slice offsets NVIDIA lists for it (``nvidia-smi mig -lgipp``, "GPU
instance profile placements"), and instances on one card may not overlap. The tables below
follow the NVIDIA Multi-Instance GPU User Guide, "Supported MIG Profiles" for A100-40GB,
A100-80GB and H100-80GB (https://docs.nvidia.com/datacenter/tesla/mig-user-guide/).
The ``+me`` (media-extension) variants are left out: they only add decoders.

A layout is valid when every instance sits at one of its profile's allowed offsets, no two
instances share a memory slice, and at most 7 compute slices are used.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

import numpy as np

from .. import _lazy

__all__ = [
    "CATALOGUE",
    "COMPUTE_SLICES",
    "MEMORY_SLICES",
    "MigProfile",
    "Packing",
    "is_valid_layout",
    "mig_card_power_w",
    "pack",
    "place",
    "profile",
    "valid_layouts",
]
__dir__ = _lazy.public_dir(__name__)

COMPUTE_SLICES = 7
MEMORY_SLICES = 8


@dataclass(frozen=True)
class MigProfile:
    """One GPU instance profile of one card type."""

    card: str
    name: str
    compute_slices: int
    memory_slices: int
    memory_gb: int
    max_instances: int
    placements: tuple[int, ...]
    """Memory-slice offsets at which an instance may start."""

    @property
    def compute_fraction(self) -> Fraction:
        """Share of the card's streaming multiprocessors, in sevenths."""
        return Fraction(self.compute_slices, COMPUTE_SLICES)

    @property
    def memory_fraction(self) -> Fraction:
        """Share of the card's memory, in eighths."""
        return Fraction(self.memory_slices, MEMORY_SLICES)

    @property
    def power_share(self) -> float:
        """Default share of the card's dynamic power (above idle): the compute fraction."""
        return float(self.compute_fraction)

    @property
    def slots(self) -> int:
        """Memory slices one instance occupies (the placement size)."""
        return self.memory_slices


def _profiles(card: str, unit_gb: int, rows) -> dict[str, MigProfile]:
    out = {}
    for g, mem_slices, max_n, placements in rows:
        gb = unit_gb * mem_slices
        name = f"{g}g.{gb}gb"
        out[name] = MigProfile(card, name, g, mem_slices, gb, max_n, tuple(placements))
    return out


# (compute slices, memory slices, max instances per card, allowed start offsets)
_LAYOUT_ROWS = (
    (1, 1, 7, range(7)),
    (1, 2, 4, (0, 2, 4, 6)),
    (2, 2, 3, (0, 2, 4)),
    (3, 4, 2, (0, 4)),
    (4, 4, 1, (0,)),
    (7, 8, 1, (0,)),
)

CATALOGUE: dict[str, dict[str, MigProfile]] = {
    "A100-40GB": _profiles("A100-40GB", 5, _LAYOUT_ROWS),
    "A100-80GB": _profiles("A100-80GB", 10, _LAYOUT_ROWS),
    "H100-80GB": _profiles("H100-80GB", 10, _LAYOUT_ROWS),
}
"""card -> profile name -> :class:`MigProfile` (e.g. ``CATALOGUE["A100-80GB"]["3g.40gb"]``)."""


def profile(card: str, name: str) -> MigProfile:
    """Look up a profile, with an error that lists what exists."""
    try:
        profiles = CATALOGUE[card]
    except KeyError:
        raise ValueError(f"card must be one of {sorted(CATALOGUE)}, got {card!r}") from None
    try:
        return profiles[name]
    except KeyError:
        raise ValueError(
            f"{card} has no MIG profile {name!r}; it has {', '.join(profiles)}"
        ) from None


def place(card: str, names) -> tuple[tuple[str, int], ...] | None:
    """Return a placement ``((profile, offset), ...)`` of the instances ``names`` on one card.

    None if they do not fit together. Tries the largest instances first.
    """
    profs = sorted((profile(card, n) for n in names), key=lambda p: (-p.slots, -p.compute_slices))
    if sum(p.compute_slices for p in profs) > COMPUTE_SLICES:
        return None
    used = [False] * MEMORY_SLICES
    chosen: list[tuple[str, int]] = []

    def search(i: int) -> bool:
        if i == len(profs):
            return True
        p = profs[i]
        for start in p.placements:
            span = range(start, start + p.slots)
            if any(used[s] for s in span):
                continue
            for s in span:
                used[s] = True
            chosen.append((p.name, start))
            if search(i + 1):
                return True
            chosen.pop()
            for s in span:
                used[s] = False
        return False

    return tuple(chosen) if search(0) else None


def is_valid_layout(card: str, names) -> bool:
    """Whether the instances ``names`` (profile names, repeats allowed) fit on one card.

    >>> is_valid_layout("A100-80GB", ["3g.40gb", "3g.40gb"])
    True
    >>> is_valid_layout("A100-80GB", ["4g.40gb", "4g.40gb"])
    False
    >>> is_valid_layout("A100-80GB", ["1g.10gb"] * 8)
    False
    """
    return place(card, list(names)) is not None


@cache
def _layouts(card: str) -> tuple[tuple[str, ...], ...]:
    profs = list(CATALOGUE[card].values())
    found: set[tuple[str, ...]] = set()
    bounds = [range(p.max_instances + 1) for p in profs]
    for counts in itertools.product(*bounds):
        if not any(counts):
            continue
        names = tuple(n for p, c in zip(profs, counts, strict=False) for n in [p.name] * c)
        if sum(p.compute_slices * c for p, c in zip(profs, counts, strict=False)) > COMPUTE_SLICES:
            continue
        if place(card, names) is not None:
            found.add(names)
    return tuple(sorted(found, key=lambda t: (-len(t), t)))


def valid_layouts(card: str, *, maximal: bool = False) -> list[tuple[str, ...]]:
    """Every non-empty multiset of instances that fits on one ``card`` (sorted names).

    With ``maximal=True`` only layouts to which no further instance can be added.
    """
    profile(card, next(iter(CATALOGUE.get(card, {"": None}))))  # validates the card name
    layouts = list(_layouts(card))
    if not maximal:
        return layouts
    names = list(CATALOGUE[card])
    as_set = set(layouts)
    return [lay for lay in layouts if not any(tuple(sorted((*lay, n))) in as_set for n in names)]


@dataclass(frozen=True)
class Packing:
    """Cards needed to host requested instances, with the placement on each card."""

    card: str
    cards: tuple[tuple[tuple[str, int], ...], ...]
    """Per card: ``(profile, memory-slice offset)`` of each instance."""

    @property
    def num_cards(self) -> int:
        """Number of cards the packing uses."""
        return len(self.cards)


def pack(card: str, requested: dict[str, int]) -> Packing:
    """Place ``requested`` instances (profile name -> count) on the fewest ``card`` s.

    Solved exactly as a small integer program over the card's maximal layouts
    (``scipy.optimize.milp``): how many cards use each layout, covering every request.

    >>> pack("A100-80GB", {"3g.40gb": 2, "2g.20gb": 1, "1g.10gb": 2}).num_cards
    2
    """
    for name, n in requested.items():
        profile(card, name)
        if int(n) != n or n < 0:
            raise ValueError(f"requested[{name!r}] must be a non-negative integer, got {n!r}")
    want = {k: int(v) for k, v in requested.items() if v}
    if not want:
        return Packing(card, ())
    from scipy.optimize import Bounds, LinearConstraint, milp

    layouts = [lay for lay in valid_layouts(card, maximal=True) if any(n in want for n in lay)]
    names = sorted(want)
    a = np.array([[Counter(lay)[n] for lay in layouts] for n in names], dtype=float)
    b = np.array([want[n] for n in names], dtype=float)
    res = milp(
        c=np.ones(len(layouts)),
        constraints=LinearConstraint(a, lb=b, ub=np.inf),
        integrality=np.ones(len(layouts)),
        bounds=Bounds(0, np.inf),
    )
    if not res.success:  # pragma: no cover - every single profile fits on an empty card
        raise RuntimeError(f"MIG packing failed: {res.message}")
    remaining = Counter(want)
    cards = []
    for lay, k in zip(layouts, np.rint(res.x).astype(int), strict=False):
        for _ in range(k):
            keep = []
            for n in lay:
                if remaining[n] > 0:
                    remaining[n] -= 1
                    keep.append(n)
            placed = place(card, keep)
            assert placed is not None
            cards.append(tuple(sorted(placed, key=lambda t: t[1])))
    return Packing(card, tuple(cards))


def mig_card_power_w(idle_w: float, slice_power_w, power_share) -> float:
    """Return the board power of one MIG card from what its instances would draw.

    Each instance would draw ``slice_power_w`` on the whole card's curve; the card draws
    idle once, plus each instance's share of the power above idle.

    ``power = idle + sum_i share_i * (P_i - idle)``; with shares summing to 1 and all
    instances equally loaded this is the whole card's curve.
    """
    p = np.asarray(slice_power_w, dtype=float)
    s = np.asarray(power_share, dtype=float)
    if np.sum(s) > 1.0 + 1e-12:
        raise ValueError(f"power shares on one card sum to {np.sum(s):.4g} > 1")
    return float(idle_w + np.sum(s * (p - idle_w)))

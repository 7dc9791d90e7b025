"""Per-window provisioning through the fleet allocation optimizer (:mod:`inferplan.fleet`).

Each window becomes a fleet :class:`~inferplan.fleet.System`:

- one **server** per query class, whose model is the class itself, whose load is the
  window's target rate (req/s) at the class's mean prompt and output tokens, whose
  ``min_replicas`` is the class's floor, and whose **current allocation** is the previous
  window's decision (so the optimizer's transition penalty applies);
- one **accelerator** (:class:`inferplan.hardware.Accelerator`, the type the cost table and
  the fleet share) per (accelerator or MIG slice, clock, max batch) of the cost table, with
  a power curve that is the instance's own draw: its share of the card's power above idle
  plus its compute share (``slices / 7``) of the card's idle power. Its type is the card it
  lives on (``Options.card``) and it occupies ``slices`` units of that type, so a capacity
  of ``N`` cards is ``7 N`` units (compute slices);
- one **profile** per (class, accelerator) with the cost table's alpha, beta, gamma at that
  clock, and one **service class** per query class whose targets are the class's mean
  TTFT and ITL targets (the ones the cost table sized the options for).

The objective is ``"cost+energy"`` by default: the instances' power in W plus a cost of
``instance_cost_w`` (50 W-equivalent) per instance, whatever its size. The cost term is what
carries the fleet optimizer's transition penalty (:func:`inferplan.fleet.candidates._penalty`):
keeping the current accelerator with the same count adds nothing, changing the count adds
the cost difference, and changing the accelerator adds 10% of the old and the new
allocation's cost on top. With equal counts a class therefore moves to another
configuration only when that saves more than ``0.2 x instance_cost_w`` W per instance
(10 W by default), and an extra instance must save its 50 W-equivalent. This replaces the
direct search's 5% hysteresis. ``objective="power"`` minimises power alone (no penalty).
(A cost proportional to the instance's size or power would not do: the penalty's cost
difference then rewards moving to a smaller option as much as the 10% penalises it.)

**MIG layouts.** Per-type capacity in compute slices is a relaxation: a set of slices that
fits in ``7 N`` compute slices may still need more than ``N`` cards once placed (memory
slices and placement rules, e.g. three 3g.40gb slices never share a card). After the
optimizer picks, the slices of each card type are packed with
:func:`inferplan.hardware.mig.pack` (fewest valid layouts). When a capacity in cards is given
and the packing needs more cards than that, the type's capacity is lowered by one compute
slice and the window is solved again, until the packing fits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _lazy, fleet
from ..hardware.mig import COMPUTE_SLICES, pack
from ..hardware.specs import Accelerator, PowerCurve, Profile
from .catalog import Options

__all__ = [
    "OBJECTIVES",
    "SOLVERS",
    "UNLIMITED_CARDS",
    "FleetCatalog",
    "decide_window",
    "fleet_catalog",
    "fleet_name",
    "solve_window",
    "window_system",
]
__dir__ = _lazy.public_dir(__name__)

UNLIMITED_CARDS = 1_000_000
SOLVERS = ("greedy", "milp", "unlimited")
OBJECTIVES = ("cost+energy", "power")


@dataclass(frozen=True)
class FleetCatalog:
    """The parts of a window's fleet system that do not change from window to window."""

    accelerators: tuple[Accelerator, ...]
    profiles: tuple[Profile, ...]
    classes: tuple[fleet.ServiceClass, ...]
    name_of: np.ndarray  # option -> fleet accelerator name
    option_of: dict[tuple[int, str], int]  # (class, fleet accelerator name) -> option
    unit_cost: dict[str, float]  # fleet accelerator name -> cost of one instance (W)


def fleet_name(options: Options, o: int) -> str:
    """Return the fleet accelerator name of option ``o``: accelerator, clock and max batch."""
    return f"{options.accelerator[o]}@{options.frequency_mhz[o]:g}MHz/b{options.max_batch[o]}"


def fleet_catalog(options: Options, instance_cost_w: float = 50.0, out_tokens=None) -> FleetCatalog:
    """Fleet accelerators, profiles and service classes for the options of every class.

    ``out_tokens`` (one per class) overrides the options' class output sizes (a policy
    sizing a window from what earlier windows saw).
    """
    if options.class_out_tokens is None:
        raise ValueError("options lack their classes' token sizes; build them with build_options")
    accs: dict[str, Accelerator] = {}
    unit_cost: dict[str, float] = {}
    profiles = []
    name_of = np.empty(len(options), dtype=object)
    option_of: dict[tuple[int, str], int] = {}
    for o in range(len(options)):
        name = fleet_name(options, o)
        name_of[o] = name
        k = int(options.class_index[o])
        option_of[(k, name)] = o
        if name not in accs:
            idle = float(options.idle_w[o]) * float(options.slices[o]) / COMPUTE_SLICES
            share = float(options.share[o])
            curve = PowerCurve(
                idle,
                idle + share * float(options.curve_mid_w[o] - options.idle_w[o]),
                float(options.curve_mid_util[o]),
                idle + share * float(options.curve_full_w[o] - options.idle_w[o]),
            )
            unit_cost[name] = float(instance_cost_w)
            accs[name] = Accelerator(
                name,
                curve,
                unit_cost[name],
                type=str(options.card[o]),
                multiplicity=int(options.slices[o]),
            )
        cls_out = options.class_out_tokens if out_tokens is None else out_tokens
        at_tokens = max(float(cls_out[k]), 1.0)
        profiles.append(
            Profile(
                model=options.class_names[k],
                accelerator=name,
                alpha=float(options.alpha[o]),
                beta=float(options.beta[o]),
                gamma=float(options.gamma[o]),
                max_batch_size=int(options.max_batch[o]),
                at_tokens=int(at_tokens),  # batch * at_tokens // out_tokens == batch
            )
        )
    classes = tuple(
        fleet.ServiceClass(
            name=n,
            targets={
                n: fleet.Target(
                    itl_ms=float(options.class_itl_ms[k]) or None,
                    ttft_ms=float(options.class_ttft_ms[k]) or None,
                )
            },
        )
        for k, n in enumerate(options.class_names)
    )
    return FleetCatalog(
        tuple(accs.values()), tuple(profiles), classes, name_of, option_of, unit_cost
    )


def window_system(
    catalog: FleetCatalog,
    options: Options,
    target: np.ndarray,
    floor: np.ndarray,
    prev_option: np.ndarray | None = None,
    prev_count: np.ndarray | None = None,
    capacity_slices: dict[str, int] | None = None,
    tokens=None,
) -> fleet.System:
    """Return the fleet system of one window.

    ``target`` req/s and ``floor`` instances per class; the previous window's
    ``prev_option``/``prev_count`` are the current allocation; ``capacity_slices`` in
    compute slices per card type (None: unlimited); ``tokens`` an optional ``(in_tokens,
    out_tokens)`` pair of per-class arrays replacing the options' class sizes (the catalog
    must then be built with the same ``out_tokens``).
    """
    in_tok, out_tok = (
        (options.class_in_tokens, options.class_out_tokens) if tokens is None else tokens
    )
    servers = []
    for k, name in enumerate(options.class_names):
        current = fleet.CurrentAllocation()
        if prev_option is not None and prev_option[k] >= 0 and prev_count[k] > 0:
            acc = catalog.name_of[int(prev_option[k])]
            n = int(prev_count[k])
            current = fleet.CurrentAllocation(
                accelerator=acc,
                num_replicas=n,
                max_batch=int(options.max_batch[int(prev_option[k])]),
                cost=n * catalog.unit_cost[acc],
            )
        servers.append(
            fleet.Server(
                name=name,
                service_class=name,
                model=name,
                load=fleet.Load(
                    rate_per_s=float(target[k]),
                    in_tokens=float(in_tok[k]),
                    out_tokens=max(float(out_tok[k]), 1.0),
                ),
                current=current,
                min_replicas=int(floor[k]),
            )
        )
    types = sorted({a.type for a in catalog.accelerators})
    capacity = {t: UNLIMITED_CARDS * COMPUTE_SLICES for t in types}
    capacity.update(capacity_slices or {})
    return fleet.System(
        accelerators=catalog.accelerators,
        capacity=capacity,
        profiles=catalog.profiles,
        classes=catalog.classes,
        servers=tuple(servers),
        source="<runtime window>",
    )


def solve_window(
    system: fleet.System,
    solver: str = "greedy",
    objective: str = "cost+energy",
    admission: str | None = None,
):
    """Size the window's candidates and allocate (one place, so tests can compare).

    ``admission`` is the rule TTFT targets are sized with (:meth:`inferplan.Replica.size`).
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    cands = fleet.build_candidates(system, objective=objective, admission=admission)
    options = {"saturation_policy": "PriorityExhaustive"} if solver == "greedy" else {}
    return fleet.solve(cands, solver, **options)


def decide_window(
    catalog: FleetCatalog,
    options: Options,
    target: np.ndarray,
    floor: np.ndarray,
    prev_option: np.ndarray | None = None,
    prev_count: np.ndarray | None = None,
    *,
    capacity: dict[str, int] | None = None,
    solver: str = "greedy",
    objective: str = "cost+energy",
    fallback: np.ndarray | None = None,
    tokens=None,
    admission: str | None = None,
):
    """Decide one window: return (option per class, count per class, fleet solution).

    ``tokens`` and ``admission`` as in :func:`window_system` and :func:`solve_window`.

    ``capacity`` is in cards per card type (``Options.card``). A class the optimizer leaves
    without instances keeps its previous option (or ``fallback``) with count 0.
    """
    slices = {t: int(n) * COMPUTE_SLICES for t, n in (capacity or {}).items()}
    c = len(options.class_names)
    while True:
        system = window_system(
            catalog, options, target, floor, prev_option, prev_count, slices, tokens
        )
        sol = solve_window(system, solver, objective, admission)
        option = np.full(c, -1, dtype=np.int64)
        count = np.zeros(c, dtype=np.int64)
        cands = sol.candidates
        for k, a in sol.assignments.items():
            granted = [(row, n) for row, n in a.parts if n > 0 and cands.accelerator[row] >= 0]
            if not granted:
                continue
            # One configuration per class: the part with most replicas (a heterogeneous
            # MILP split is not used here; the default MILP gives one part).
            row, _ = max(granted, key=lambda p: p[1])
            name = system.accelerators[int(cands.accelerator[row])].name
            option[k] = catalog.option_of[(k, name)]
            count[k] = sum(n for _, n in granted)
        over = _overfull_type(options, option, count, capacity)
        if over is None or slices.get(over, 0) <= 0:
            break
        slices[over] -= 1
    for k in range(c):
        if option[k] < 0:
            if prev_option is not None and prev_option[k] >= 0:
                option[k] = prev_option[k]
            elif fallback is not None:
                option[k] = fallback[k]
    return option, count, sol


def _overfull_type(options: Options, option, count, capacity) -> str | None:
    """Return a card type whose packed MIG layout needs more cards than its capacity, if any."""
    if not capacity:
        return None
    per_card: dict[str, dict[str, int]] = {}
    full: dict[str, int] = {}
    for o, n in zip(option, count, strict=True):
        if o < 0 or n == 0:
            continue
        card = str(options.card[o])
        if options.mig_profile[o]:
            d = per_card.setdefault(card, {})
            d[options.mig_profile[o]] = d.get(options.mig_profile[o], 0) + int(n)
        else:
            full[card] = full.get(card, 0) + int(n)
    for card, d in per_card.items():
        if card in capacity and len(pack(card, d).cards) + full.get(card, 0) > capacity[card]:
            return card
    return None

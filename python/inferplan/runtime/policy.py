"""Provisioning policies: per window and per class, which instance option and how many.

- ``static``: full cards at the reference clock, enough for the PEAK window rate of the
  whole trace (what an operator without a runtime would provision), never changed.
- ``reactive``: each window is provisioned for the rate observed in the previous one.
- ``proactive``: each window is provisioned for a Holt forecast plus ``z`` times the RMS of
  past forecast errors.

No look-ahead: an adaptive policy decides window ``t`` from windows ``< t`` only, and window
0 (no data) gets the static option with ``max(min_instances, 1)`` instances per class. Given
the trace (a :class:`~inferplan.runtime.traffic.History`), it also sizes from the token laws,
arrival CV and count noise seen so far, and given a replayer it closes the loop on replayed
latency (:mod:`inferplan.runtime.traffic`).

Adaptive policies choose, for every window, through the fleet allocation optimizer
(``method="optimizer"``, the default; see :mod:`inferplan.runtime.provision`): the window
becomes a fleet ``System`` whose servers are the classes at the target rate
``(1 + headroom) * estimate``, whose accelerators are the cost-table options, and whose
current allocation is the previous window's decision; it is solved with ``solver``
(greedy by default) for ``objective`` (power plus a per-instance cost that carries the
optimizer's transition penalty). ``method="direct"`` is the earlier per-class search: the
option (full card or MIG slice, clock, max batch) of least estimated power, ``n =
ceil(target / rate)`` instances, each drawing its share of the power above idle at the
utilisation the target implies plus its share of the card's idle power (a slice of ``g``
of 7 compute slices pays ``g/7`` of idle); a class keeps its previous option while that
costs at most ``switch_tolerance`` more than the best (hysteresis against churn). Every
class keeps at least ``min_instances`` instances (with 0, a class that gets a request while
it has none starts one on demand); instances beyond what the target needs are released.
The first window's instances are ready when the trace starts; later new ones pay the
provisioning delays (see :func:`inferplan.runtime.replay`).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .. import _lazy, _validate
from ..hardware.mig import pack
from .catalog import Options
from .forecast import holt_forecasts

__all__ = [
    "METHODS",
    "POLICIES",
    "Plan",
    "PolicyConfig",
    "make_plan",
    "observed_rates",
]
__dir__ = _lazy.public_dir(__name__)

POLICIES = ("static", "reactive", "proactive")
METHODS = ("optimizer", "direct")


@dataclass(frozen=True)
class PolicyConfig:
    """Knobs of the adaptive policies (see the module docstring)."""

    headroom: float = 0.5
    z: float = 2.0
    min_instances: int = 1
    switch_tolerance: float = 0.05
    forecaster: str = "holt"
    holt_alpha: float = 0.5
    holt_beta: float = 0.1
    method: str = "optimizer"  # or "direct": the per-class min-power search
    solver: str = "greedy"  # fleet solver: greedy, milp or unlimited
    objective: str = "cost+energy"  # or "power" (no transition penalty)
    instance_cost_w: float = 50.0  # the optimizer's cost of one instance, in W-equivalent
    capacity: tuple[tuple[str, int], ...] | None = None  # cards per card type (Options.card)
    # What the adaptive policies learn from the traffic they have served (used when
    # make_plan gets a History; see inferplan.runtime.traffic):
    burstiness: bool = True  # size for the measured arrival CV and length laws
    rate_margin: bool = True  # add z x the count noise (dispersion CV^2) of the last rate
    feedback: bool = True  # closed loop: raise a class's capacity after a latency miss
    admission: str | None = None  # servers' admission rule, also used in sizing; None:
    # sized by the chain's read-off, replayed with iteration-level admission

    def __post_init__(self) -> None:
        """Check every field of the configuration, naming the field and the value."""
        where = "PolicyConfig"
        _validate.number(self.headroom, "headroom", where=where, minimum=0)
        _validate.number(self.z, "z", where=where, minimum=0)
        _validate.count(self.min_instances, "min_instances", where=where)
        _validate.number(self.switch_tolerance, "switch_tolerance", where=where, minimum=0)
        _validate.number(self.holt_alpha, "holt_alpha", where=where, above=0, maximum=1)
        _validate.number(self.holt_beta, "holt_beta", where=where, minimum=0, maximum=1)
        _validate.number(self.instance_cost_w, "instance_cost_w", where=where, minimum=0)
        _validate.choice(self.method, "method", METHODS, where=where)


@dataclass(frozen=True)
class Plan:
    """Decisions of one policy: arrays of shape (windows, classes) unless noted."""

    policy: str
    window_s: float
    observed: np.ndarray  # req/s seen in each window
    estimate: np.ndarray  # req/s the policy believed before the window
    option: np.ndarray  # index into Options
    count: np.ndarray  # instances
    kept: np.ndarray  # of which carried over from the previous window (ready at once)
    cards: np.ndarray  # (windows,) cards powered: full cards plus cards hosting MIG slices
    new_instances: np.ndarray  # (windows,) instances started in the window
    repartitions: np.ndarray  # (windows,) MIG cards whose layout changed
    decide_s: float  # wall time of the decisions
    target: np.ndarray | None = None  # req/s the window was provisioned for (adaptive)
    burst_factor: np.ndarray | None = None  # capacity factor from arrival CV and lengths
    arrival_cv: np.ndarray | None = None  # measured per instance in the previous window
    safeguard: object = None  # traffic.Safeguard of a closed-loop plan


def observed_rates(
    window_index: np.ndarray, class_index: np.ndarray, windows: int, classes: int, window_s: float
) -> np.ndarray:
    """Return the requests per second per (window, class)."""
    counts = np.bincount(window_index * classes + class_index, minlength=windows * classes).reshape(
        windows, classes
    )
    return counts / window_s


@lru_cache(maxsize=4096)
def _cards_for(card: str, counts: tuple[tuple[str, int], ...]) -> tuple:
    return pack(card, dict(counts)).cards


def _mig_cards(options: Options, option_row: np.ndarray, count_row: np.ndarray):
    """Per MIG card type: the packed layout of this window's slices."""
    per_card: dict[str, dict[str, int]] = {}
    for o, n in zip(option_row, count_row, strict=True):
        if o < 0 or n == 0 or not options.mig_profile[o]:
            continue
        d = per_card.setdefault(options.card[o], {})
        d[options.mig_profile[o]] = d.get(options.mig_profile[o], 0) + int(n)
    return {card: _cards_for(card, tuple(sorted(d.items()))) for card, d in per_card.items()}


def _kept_row(options: Options, option, count, t):
    """Instances of window ``t`` carried over from ``t - 1`` (ready at once)."""
    if t == 0:
        return count[0].copy()
    same = (options.accelerator[option[t]] == options.accelerator[option[t - 1]]) & (
        options.max_batch[option[t]] == options.max_batch[option[t - 1]]
    )
    return np.where(same, np.minimum(count[t], count[t - 1]), 0)


def _optimizer_decisions(
    observed, estimate, options, config, static_of, option, count, *, history=None,
    replayer=None, rules=None, prior_tokens=None,
):  # fmt: skip
    """Fill ``option`` and ``count`` window by window with the fleet optimizer.

    Each window's current allocation is the previous window's decision. Window 0 has no
    data: each class gets ``max(min_instances, 1)`` static-option instances (full cards at
    the reference clock). With a ``history`` (the trace), window ``t`` is also sized from
    what windows ``< t`` showed (token means and laws, arrival CV, count noise), and with a
    ``replayer`` each window is replayed before the next is decided (closed loop).
    """
    from .provision import decide_window, fleet_catalog
    from .traffic import Safeguard, burst_factor, latency_ratios

    w, c = observed.shape
    capacity = dict(config.capacity) if config.capacity else None
    # A request for a class with no instance starts one on demand (a cold start).
    floor = np.maximum(config.min_instances, (observed > 0).astype(np.int64))
    target = np.zeros((w, c))
    factor = np.ones((w, c))
    cvs = np.full((w, c), np.nan)
    guard = Safeguard(c) if (replayer is not None and config.feedback) else None
    cache: dict = {}
    catalogs: dict = {}
    kappa_cache: dict = {}
    for t in range(w):
        if t == 0:
            option[0] = static_of
            count[0] = np.maximum(config.min_instances, 1)
        else:
            base = estimate[t].copy()
            tokens = None
            if history is not None:
                ins, outs, laws = history.tokens_before(t, prior_tokens)
                tokens = (ins, outs)
                for k in range(c):
                    cv_cls = history.arrival_cv(t - 1, k)
                    cv_cls = 1.0 if not np.isfinite(cv_cls) else cv_cls
                    if config.rate_margin:
                        base[k] += (
                            config.z * cv_cls * np.sqrt(observed[t - 1, k] / history.window_s)
                        )
                    if config.burstiness:
                        cvs[t, k] = history.arrival_cv(t - 1, k, count[t - 1, k])
                        factor[t, k] = burst_factor(
                            options, int(option[t - 1, k]), ins[k], outs[k], cvs[t, k], laws[k],
                            float(options.class_itl_ms[k]), float(options.class_ttft_ms[k]),
                            config.admission, kappa_cache,
                        )  # fmt: skip
            target[t] = base * (1.0 + config.headroom) * factor[t]
            if guard is not None:
                target[t] *= guard.factor
            key_tokens = None if tokens is None else (tokens[0].tobytes(), tokens[1].tobytes())
            if key_tokens not in catalogs:
                catalogs[key_tokens] = fleet_catalog(
                    options, config.instance_cost_w, None if tokens is None else tokens[1]
                )
            key = (
                target[t].tobytes(),
                floor[t].tobytes(),
                option[t - 1].tobytes(),
                count[t - 1].tobytes(),
                key_tokens,
            )
            if key not in cache:  # identical windows (e.g. idle nights) are solved once
                o, n, _ = decide_window(
                    catalogs[key_tokens],
                    options,
                    target[t],
                    floor[t],
                    option[t - 1],
                    count[t - 1],
                    capacity=capacity,
                    solver=config.solver,
                    objective=config.objective,
                    fallback=static_of,
                    tokens=tokens,
                    admission=config.admission,
                )
                cache[key] = (o, n)
            option[t], count[t] = cache[key]
        if replayer is not None:
            prev = (option[t - 1], count[t - 1]) if t else (None, None)
            replayer.window(t, option[t], count[t], _kept_row(options, option, count, t), *prev)
            if guard is not None:
                guard.update(
                    latency_ratios(
                        replayer.ttft, replayer.itl, lambda k, t=t: replayer.requests(t, k), rules
                    )
                )
    return target, factor, cvs, guard


def make_plan(
    policy: str,
    observed: np.ndarray,
    options: Options,
    window_s: float,
    config: PolicyConfig | None = None,
    *,
    history=None,
    replayer=None,
    rules=None,
    prior_tokens=None,
) -> Plan:
    """Return the decisions of ``policy`` over the windows of ``observed``.

    ``observed`` is req/s per window and class. An adaptive policy decides window ``t`` from
    windows ``< t`` only; window 0, before any data, gets the static option with
    ``max(min_instances, 1)`` instances per class. ``history``
    (:class:`~inferplan.runtime.traffic.History`) lets it size from the traffic seen
    (arrival CV, token laws, count noise; ``prior_tokens[k]`` stand in for a class not seen
    yet); ``replayer`` (:class:`~inferplan.runtime.replay.Replayer`, with ``rules``) replays
    each window before the next is decided, for the closed loop.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    config = PolicyConfig() if config is None else config
    if config.method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {config.method!r}")
    t0 = time.perf_counter()
    w, c = observed.shape
    if policy == "static":
        estimate = np.broadcast_to(observed.max(axis=0), (w, c)).copy()
    elif policy == "reactive":
        # window t is provisioned for window t - 1; window 0 has no data (NaN: the prior)
        estimate = np.vstack([np.full((min(w, 1), c), np.nan), observed[:-1]])
    else:
        fc, spread = holt_forecasts(
            observed, alpha=config.holt_alpha, beta=config.holt_beta, method=config.forecaster
        )
        estimate = np.maximum(fc + config.z * spread, 0.0)
        estimate[:1] = np.nan  # holt's window 0 is its own value: not known beforehand
    target = estimate * (1.0 + config.headroom)
    extra: dict = {}

    option = np.full((w, c), -1, dtype=np.int64)
    count = np.zeros((w, c), dtype=np.int64)
    per_class = [np.flatnonzero(options.class_index == k) for k in range(c)]
    static_of = [idx[options.is_static[idx]][0] for idx in per_class]
    if policy != "static" and config.method == "optimizer":
        target, factor, cvs, guard = _optimizer_decisions(
            observed, estimate, options, config, np.array(static_of), option, count,
            history=history, replayer=replayer, rules=rules, prior_tokens=prior_tokens,
        )  # fmt: skip
        extra = dict(target=target, burst_factor=factor, arrival_cv=cvs, safeguard=guard)
    for t in range(w if policy == "static" or config.method == "direct" else 0):
        for k in range(c):
            lam = target[t, k]
            if policy != "static" and t == 0:  # no data yet: the prior
                option[0, k] = static_of[k]
                count[0, k] = max(config.min_instances, 1)
                continue
            if policy == "static":
                o = static_of[k]
                option[t, k] = o
                count[t, k] = max(math.ceil(lam / options.rate[o] - 1e-9), config.min_instances)
                continue
            idx = per_class[k]
            # A request for a class with no instance starts one on demand (a cold start).
            floor = max(config.min_instances, 1 if observed[t, k] > 0 else 0)
            n = np.maximum(np.ceil(lam / options.rate[idx] - 1e-9), floor)
            load = np.where(n > 0, lam / np.maximum(n, 1) / options.rate[idx], 0.0)
            util = np.minimum(options.utilization[idx] * load, 1.0)
            est = n * (
                options.dynamic_w(idx, util) + options.idle_w[idx] * options.slices[idx] / 7.0
            )
            best = int(np.argmin(est))
            prev = option[t - 1, k] if t else -1
            if prev >= 0:
                j = int(np.flatnonzero(idx == prev)[0])
                if est[j] <= (1.0 + config.switch_tolerance) * est[best]:
                    best = j
            option[t, k] = idx[best]
            count[t, k] = int(n[best])

    kept = np.zeros_like(count)
    for t in range(w):
        kept[t] = _kept_row(options, option, count, t)
    new = (count - kept).sum(axis=1)

    cards = np.zeros(w, dtype=np.int64)
    repartitions = np.zeros(w, dtype=np.int64)
    full = options.mig_profile[option] == ""
    prev_layout: dict = {}
    for t in range(w):
        cards[t] = int(count[t][full[t]].sum())
        layout = _mig_cards(options, option[t], count[t])
        cards[t] += sum(len(v) for v in layout.values())
        if t:  # a card whose exact placement did not exist before had to be repartitioned
            for card, placed in layout.items():
                repartitions[t] += sum(
                    (Counter(placed) - Counter(prev_layout.get(card, ()))).values()
                )
        prev_layout = layout
    return Plan(
        policy,
        float(window_s),
        observed,
        estimate,
        option,
        count,
        kept,
        cards,
        new,
        repartitions,
        time.perf_counter() - t0,
        **extra,
    )

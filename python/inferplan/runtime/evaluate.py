"""Evaluate provisioning policies over a trace.

The decisions, the replay, and the figures users and operators care about (SLO attainment,
power, energy, cost and CO2 per day).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .. import _lazy
from ..hardware.power import co2_kg_per_day as _co2_per_day
from ..hardware.power import cost_per_day as _cost_per_day
from .catalog import Hardware, Options, build_options, campus_hardware
from .classes import classify, oasis_classes
from .policy import POLICIES, Plan, PolicyConfig, make_plan, observed_rates
from .replay import Replay, Replayer, replay
from .traces import Trace, load_trace
from .traffic import History

__all__ = [
    "MAX_WINDOWS",
    "PolicyResult",
    "RuntimeReport",
    "evaluate",
]
__dir__ = _lazy.public_dir(__name__)


def _server_admission(config: PolicyConfig) -> str:
    """Return the servers' admission rule in the replay: the config's, else iteration-level."""
    return config.admission or "iteration"


MAX_WINDOWS = 1_000_000  # decision windows in one evaluation


@dataclass(frozen=True)
class PolicyResult:
    """One policy's decisions, its replay, and a JSON-ready ``summary``."""

    plan: Plan
    replay: Replay | None
    summary: dict = field(repr=False)


@dataclass(frozen=True)
class RuntimeReport:
    """Everything :func:`evaluate` measured; ``as_dict()`` is what the CLI writes as JSON."""

    trace: Trace
    rules: tuple
    class_index: np.ndarray = field(repr=False)
    options: Options = field(repr=False)
    hardware: Hardware = field(repr=False)
    results: dict[str, PolicyResult] = field(repr=False)
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def window_s(self) -> float:
        """Length of a decision window (s)."""
        return next(iter(self.results.values())).plan.window_s

    def as_dict(self) -> dict:
        """Return the report as plain data (what the JSON report holds)."""
        names = [r.name for r in self.rules]
        counts = np.bincount(self.class_index[self.class_index >= 0], minlength=len(names))
        return {
            "trace": {
                "name": self.trace.name,
                "requests": len(self.trace),
                "failed": self.trace.num_failed,
                "duration_s": self.trace.duration_s,
                "load_report": None
                if self.trace.load_report is None
                else self.trace.load_report.as_dict(),
                "class_counts": dict(zip(names, counts.tolist(), strict=True)),
            },
            "classes": [
                {
                    "name": r.name,
                    "in_tokens": [r.in_min, r.in_max],
                    "out_tokens": [r.out_min, r.out_max],
                    "slo": {
                        "ttft_ms": r.slo.ttft_ms,
                        "itl_ms": r.slo.itl_ms,
                        "percentile": r.slo.percentile,
                    },
                }
                for r in self.rules
            ],
            "window_s": self.window_s,
            "price_per_kwh": self.hardware.price_per_kwh,
            "grid_kg_per_kwh": self.hardware.grid_kg_per_kwh,
            "policies": {k: v.summary for k, v in self.results.items()},
            "timings_s": self.timings_s,
        }


def _percentiles(x: np.ndarray, qs=(95.0, 99.0)) -> dict[str, float | None]:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {f"p{q:g}": None for q in qs}
    return {f"p{q:g}": float(v) for q, v in zip(qs, np.percentile(x, qs), strict=True)}


def _latency_summary(rep: Replay, class_index: np.ndarray, rules) -> dict:
    out = {}
    ok_all = np.zeros(class_index.size, dtype=bool)
    served = np.isfinite(rep.ttft_ms)
    for k, rule in enumerate(rules):
        mask = class_index == k
        ttft = rep.ttft_ms[mask]
        itl = rep.itl_ms[mask]
        slo = rule.slo
        ok = (ttft <= slo.ttft_ms) & ~(itl > slo.itl_ms)
        ok_all[mask] = ok
        n_served = int(np.count_nonzero(np.isfinite(ttft)))
        q = slo.percentile
        p_ttft = _percentiles(ttft, (95.0, 99.0, q))
        p_itl = _percentiles(itl, (95.0, 99.0, q))
        met = (p_ttft[f"p{q:g}"] is None or p_ttft[f"p{q:g}"] <= slo.ttft_ms) and (
            p_itl[f"p{q:g}"] is None or p_itl[f"p{q:g}"] <= slo.itl_ms
        )
        out[rule.name] = {
            "requests": int(mask.sum()),
            "served": n_served,
            "ttft_ms": p_ttft,
            "itl_ms": p_itl,
            "latency_ms": _percentiles(rep.latency_ms[mask]),
            "attainment": float(ok.sum() / n_served) if n_served else None,
            "slo_met": bool(met),
        }
    overall = {
        "ttft_ms": _percentiles(rep.ttft_ms),
        "itl_ms": _percentiles(rep.itl_ms),
        "latency_ms": _percentiles(rep.latency_ms),
        "attainment": float(ok_all[served].mean()) if served.any() else None,
        "slo_met": all(v["slo_met"] for v in out.values()),
    }
    return {"overall": overall, "classes": out}


def _summarize(plan: Plan, rep: Replay | None, class_index, rules, options, hardware, duration_s):
    w = plan.count.shape[0]
    s: dict = {
        "policy": plan.policy,
        "decide_s": plan.decide_s,
        "mean_cards": float(plan.cards.mean()),
        "peak_cards": int(plan.cards.max()) if w else 0,
        "new_instances": int(plan.new_instances[1:].sum()),
        "repartitions": int(plan.repartitions.sum()),
        "configurations": {},
    }
    for k, rule in enumerate(rules):
        opts, counts = np.unique(plan.option[:, k], return_counts=True)
        top = opts[np.argmax(counts)]
        s["configurations"][rule.name] = {
            "most_used": options.describe(int(top)),
            "mean_instances": float(plan.count[:, k].mean()),
            "distinct_options": int(opts.size),
        }
    if plan.burst_factor is not None:
        traffic = {}
        for k, rule in enumerate(rules):
            cv = plan.arrival_cv[1:, k] if plan.arrival_cv is not None else np.array([])
            cv = cv[np.isfinite(cv)]
            f = plan.burst_factor[1:, k]
            traffic[rule.name] = {
                "mean_arrival_cv": float(cv.mean()) if cv.size else None,
                "max_arrival_cv": float(cv.max()) if cv.size else None,
                "mean_burst_factor": float(f.mean()) if f.size else 1.0,
                "max_burst_factor": float(f.max()) if f.size else 1.0,
            }
        s["traffic"] = traffic
    if plan.safeguard is not None:
        s["safeguard"] = plan.safeguard.summary([r.name for r in rules])
    if rep is None:
        return s
    # Energy over the windows actually covered by the trace (the last one may be partial).
    span = np.full(w, plan.window_s)
    if w:
        span[-1] = max(duration_s - (w - 1) * plan.window_s, 1e-9)
    energy_j = float(np.sum(rep.power_w * span))
    mean_w = energy_j / float(span.sum()) if w else 0.0
    s.update(
        mean_power_w=mean_w,
        peak_power_w=float(rep.power_w.max()) if w else 0.0,
        energy_kwh=energy_j / 3.6e6,
        cost_per_day=float(_cost_per_day(mean_w, hardware.price_per_kwh)),
        co2_kg_per_day=float(_co2_per_day(mean_w, hardware.grid_kg_per_kwh)),
        replay_s=rep.simulate_s,
        simulated_instance_windows=rep.simulated_instance_windows,
        latency=_latency_summary(rep, class_index, rules),
    )
    return s


def evaluate(
    trace,
    *,
    policies=POLICIES,
    rules=None,
    threshold: float = 500,
    hardware: Hardware | None = None,
    window_s: float = 300.0,
    config: PolicyConfig | None = None,
    simulate: bool = True,
    seed=None,
    prior_tokens=None,
) -> RuntimeReport:
    """Evaluate provisioning policies over a trace, window by window.

    Classify the requests of ``trace`` (a :class:`Trace`, a path or ``synthetic:NAME``),
    size the instance options of each class from the cost table, let each policy decide
    window by window, and replay the trace through the simulator under each decision.

    ``rules`` default to OASIS's four classes at ``threshold`` tokens; ``hardware`` to
    :func:`campus_hardware`. Requests that match no rule raise an error (add a catch-all
    rule to keep them). ``simulate=False`` stops after the decisions.

    No look-ahead: an adaptive policy decides each window from the windows before it (rates,
    arrival CV, token laws and, in closed loop, the replayed latencies); the options are
    sized at ``prior_tokens`` (default 256/1024 tokens per small/large side of each OASIS
    class), not at the trace's. Only the static baseline sees the whole trace (its peak).
    """
    config = PolicyConfig() if config is None else config
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    trace = load_trace(trace, seed=seed)
    timings["load_s"] = time.perf_counter() - t0
    source = trace.load_report.source if trace.load_report is not None else trace.name
    if len(trace) == 0:
        raise ValueError(f"{source}: the trace holds no requests")
    rules = tuple(oasis_classes(threshold) if rules is None else rules)
    hardware = campus_hardware() if hardware is None else hardware
    if not (math.isfinite(window_s) and window_s > 0):
        raise ValueError(f"window_s must be > 0, got {window_s!r}")
    policies = tuple(
        POLICIES
        if policies in (None, "all")
        else (policies,)
        if isinstance(policies, str)
        else policies
    )

    t0 = time.perf_counter()
    class_index = classify(rules, trace.in_tokens, np.maximum(trace.out_tokens, 1))
    unmatched = int(np.count_nonzero(class_index < 0))
    if unmatched:
        raise ValueError(f"{unmatched} request(s) match no class rule; add a catch-all rule")
    c_count = len(rules)
    fallback = [(256.0, 256.0), (256.0, 1024.0), (1024.0, 256.0), (1024.0, 1024.0)]
    # The instance options and their nominal rates are sized at prior token sizes, not at
    # the trace's (no look-ahead): the adaptive policies re-size every window from what
    # earlier windows showed. prior_tokens (one (in, out) per rule) overrides the default
    # of 256/1024 tokens for small/large input and output.
    prior = [fallback[k % 4] for k in range(c_count)] if prior_tokens is None else prior_tokens
    prior = [(float(i), float(o)) for i, o in prior]
    if len(prior) != c_count:
        raise ValueError(f"prior_tokens needs one (in, out) pair per rule ({c_count})")
    timings["classify_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    options = build_options(hardware, rules, prior)
    timings["options_s"] = time.perf_counter() - t0

    span = trace.duration_s / window_s
    if not span <= MAX_WINDOWS:
        raise ValueError(
            f"{source}: the trace spans {trace.duration_s:.6g} s, {span:.3g} decision "
            f"windows of {window_s:g} s, more than {MAX_WINDOWS:,}: use a longer window "
            "(window_s; --window on the command line) or a shorter trace"
        )
    windows = max(math.ceil(span), 1)
    win = np.minimum((trace.time_s // window_s).astype(np.int64), windows - 1)
    observed = observed_rates(win, class_index.astype(np.int64), windows, c_count, window_s)
    results = {}
    history = History(trace, class_index, windows, c_count, window_s)
    for policy in policies:
        closed = simulate and policy != "static" and config.method == "optimizer"
        replayer = None
        if closed and config.feedback:
            replayer = Replayer(trace, class_index, windows, c_count, window_s, options,
                                hardware, _server_admission(config))  # fmt: skip
        plan = make_plan(
            policy, observed, options, window_s, config,
            history=history if policy != "static" else None, replayer=replayer,
            rules=rules, prior_tokens=prior,
        )  # fmt: skip
        if replayer is not None:
            rep = replayer.result()
        elif simulate:
            rep = replay(trace, class_index, plan, options, hardware,
                         admission=_server_admission(config))  # fmt: skip
        else:
            rep = None
        summary = _summarize(plan, rep, class_index, rules, options, hardware, trace.duration_s)
        results[policy] = PolicyResult(plan, rep, summary)
        # a closed-loop plan replays inside its decisions: its decide_s includes the replay
        replayed = rep.simulate_s if (rep is not None and replayer is None) else 0.0
        timings[f"{policy}_s"] = plan.decide_s + replayed
    if "static" in results and results["static"].replay is not None:
        base = results["static"].summary["mean_power_w"]
        for res in results.values():
            s = res.summary
            if "mean_power_w" in s and base > 0:
                saved = base - s["mean_power_w"]
                s["vs_static"] = {
                    "power_reduction": saved / base,
                    "saved_w": saved,
                    "saved_cost_per_day": float(_cost_per_day(saved, hardware.price_per_kwh)),
                    "saved_co2_kg_per_day": float(_co2_per_day(saved, hardware.grid_kg_per_kwh)),
                }
    return RuntimeReport(trace, rules, class_index, options, hardware, results, timings)

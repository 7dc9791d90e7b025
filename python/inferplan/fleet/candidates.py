"""Candidate allocations: for every (server, accelerator), how many replicas meet the SLOs.

All rows of a system are sized in ONE batch call (``_size_many``); identical rows (same model,
accelerator, load and targets) are sized once. docs/model.md section 4 gives the rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import _validate
from .._metrics import KIND_DECODE_ONLY, KIND_PREFILL_DECODE
from .._status import Status, status_message
from ..batch import size_many
from .data import System

# The reference divides a wait target by -ln(0.05): the 95th percentile of an exponential law.
EXPONENTIAL_P95 = -math.log(0.05)
ACCELERATOR_PENALTY = 0.1
G1_QUEUE_PER_BATCH = 9  # K = 10 N states in all
_CEIL_SLACK = 1e-9
MAX_REPLICAS = _validate.MAX_COUNT  # replicas of one candidate, as a data file's counts


def _size_many(**columns):
    """The one place that sizes replicas: one batch call for the whole system."""
    return size_many(**columns)


def _analyze_many(
    kind, alpha, beta, gamma, in_tokens, out_tokens, max_batch, max_queue, rate, admission=None
):
    """ITL, TTFT, wait and utilization of each row at an offered rate (req/s), in one batch
    call (under ``admission``, see :meth:`inferplan.Replica.analyze`)."""
    from ..batch import analyze_many

    return analyze_many(
        kind=np.asarray(kind, dtype=np.int32), alpha=alpha, beta=beta, gamma=gamma,
        in_tokens=in_tokens, out_tokens=out_tokens, max_batch=max_batch, max_queue=max_queue,
        rate=rate, metrics=["itl_ms", "ttft_ms", "wait_ms", "utilization"], threads=None,
        admission=admission,
    )  # fmt: skip


def _status_text(code: int) -> str:
    try:
        return status_message(Status(code))
    except ValueError:
        return f"sizing failed with status {code}"


_ROW_COLUMNS = (
    "server",
    "accelerator",
    "units",
    "replicas",
    "max_batch",
    "max_queue",
    "cost",
    "value",
    "itl_ms",
    "ttft_ms",
    "wait_ms",
    "capacity_per_replica",
    "total_rate",
    "utilization",
)


@dataclass
class Candidates:
    """All candidates of a system, sorted per server by (value, cost, accelerator order).

    Column arrays have one entry per candidate; ``start[s]:stop[s]`` are server ``s``'s rows.
    ``accelerator`` is -1 for the empty allocation of an idle server.
    """

    system: System
    server: np.ndarray
    accelerator: np.ndarray
    acc_type: list[str]
    units: np.ndarray  # cards per replica (accCount * multiplicity)
    replicas: np.ndarray
    max_batch: np.ndarray
    max_queue: np.ndarray
    cost: np.ndarray
    value: np.ndarray
    itl_ms: np.ndarray
    ttft_ms: np.ndarray
    wait_ms: np.ndarray
    capacity_per_replica: np.ndarray  # req/s one replica carries within the SLOs
    total_rate: np.ndarray  # req/s the server must carry
    utilization: np.ndarray  # per replica at total_rate / replicas
    start: np.ndarray
    stop: np.ndarray
    reasons: dict[int, list[str]] = field(default_factory=dict)

    @property
    def num_servers(self) -> int:
        return len(self.system.servers)

    def of(self, s: int) -> range:
        return range(int(self.start[s]), int(self.stop[s]))

    def select(self, keep: np.ndarray, reason: str = "no candidate left") -> Candidates:
        """The candidates where ``keep`` is true (same order); emptied servers get ``reason``."""
        keep = np.asarray(keep, dtype=bool)
        idx = np.flatnonzero(keep)
        cols = {name: getattr(self, name)[idx] for name in _ROW_COLUMNS}
        server = cols["server"]
        ids = np.arange(self.num_servers)
        start = np.searchsorted(server, ids, side="left")
        stop = np.searchsorted(server, ids, side="right")
        reasons = {s: list(self.reasons.get(s, [reason])) for s in ids if start[s] == stop[s]}
        return Candidates(
            system=self.system,
            acc_type=[self.acc_type[i] for i in idx],
            start=start,
            stop=stop,
            reasons=reasons,
            **cols,
        )


def _penalty(
    cur_reps: int, cur_cost: float, new_reps: np.ndarray, new_cost: np.ndarray, same: np.ndarray
) -> np.ndarray:
    """Transition value: cost change, plus 10% of both costs when the accelerator changes."""
    delta = new_cost - cur_cost
    changed = ACCELERATOR_PENALTY * (cur_cost + new_cost) + delta
    return np.where(same, np.where(new_reps == cur_reps, 0.0, delta), changed)


OBJECTIVES = ("cost", "power", "cost+energy")


def build_candidates(
    system: System,
    *,
    g1_wait: str = "exponential",
    objective: str = "cost",
    energy_weight: float = 1.0,
    price_per_kwh: float | None = None,
    admission: str | None = None,
) -> Candidates:
    """Size every (server, accelerator) pair and turn the result into candidates.

    ``g1_wait``: ``"exponential"`` bounds the mean wait by slo-ttw / 2.9957 as the reference
    does; ``"percentile"`` bounds the exact 95th percentile of the wait by slo-ttw.

    ``objective`` sets each candidate's value, which every solver minimises: ``"cost"`` (the
    reference's dollar cost plus transition penalty), ``"power"`` (the replicas' power in W
    at their utilization, docs/model.md 5), or ``"cost+energy"`` (cost value plus
    ``energy_weight`` x power, the power first turned into $/h with ``price_per_kwh`` when
    given; see :func:`inferplan.hardware.energy_value`).

    ``admission`` (None, ``"immediate"`` or ``"iteration"``): TTFT and wait targets are
    met as an arriving request sees them (see :meth:`inferplan.Replica.analyze`) rather than
    at the chain's mean batch; None keeps the reference's sizing.
    """
    from ..admission import check_admission

    admission = check_admission(admission)
    if g1_wait not in ("exponential", "percentile"):
        raise ValueError(f"g1_wait must be 'exponential' or 'percentile', got {g1_wait!r}")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if not (math.isfinite(energy_weight) and energy_weight >= 0):
        raise ValueError(f"energy_weight must be finite and >= 0, got {energy_weight!r}")
    if price_per_kwh is not None and not (math.isfinite(price_per_kwh) and price_per_kwh >= 0):
        raise ValueError(f"price_per_kwh must be finite and >= 0, got {price_per_kwh!r}")
    g1 = system.rules == "g1"
    accs = system.accelerators
    if objective != "cost":
        for i, acc in enumerate(accs):
            if not acc.power.full > 0:
                raise ValueError(
                    f"{system.source}: accelerators[{i}] ({acc.name!r}): the {objective} "
                    "objective needs its power curve (field 'power' with 'full' > 0)"
                )
    acc_index = {a.name: i for i, a in enumerate(accs)}
    profiles = {(p.model, p.accelerator): p for p in system.profiles}
    classes = {c.name: c for c in system.classes}
    reasons: dict[int, list[str]] = {}

    # One row per (server, accelerator) to consider: (server, acc, profile, kind of row).
    sized: list[tuple[int, int]] = []
    fixed: list[tuple[int, int]] = []  # zero load with min replicas: no SLO analysis
    empty: list[int] = []  # zero load, no replicas required
    for s, srv in enumerate(system.servers):
        cls = classes.get(srv.service_class)
        if cls is None:
            reasons[s] = [f"service class {srv.service_class!r} is not defined"]
            continue
        target = cls.targets.get(srv.model)
        if target is None:
            reasons[s] = [f"class {cls.name!r} has no target for model {srv.model!r}"]
            continue
        if 0 < srv.load.out_tokens < 1 or not math.isfinite(srv.load.out_tokens):
            raise ValueError(
                f"servers[{s}] ({srv.name!r}): load.out_tokens must be 0 (no load) or a "
                f"finite mean >= 1, got {srv.load.out_tokens!r}"
            )
        zero = srv.load.arrival_rate == 0 or srv.load.out_tokens == 0
        if zero and srv.min_replicas == 0:
            empty.append(s)
            continue
        names = [a.name for a in accs]
        if srv.keep_accelerator and srv.current.accelerator:
            names = [srv.current.accelerator] if srv.current.accelerator in acc_index else []
            if not names:
                reasons[s] = [
                    f"keepAccelerator: current accelerator "
                    f"{srv.current.accelerator!r} is not in the catalogue"
                ]
                continue
        rows = [(s, acc_index[n]) for n in names if (srv.model, n) in profiles]
        if not rows:
            reasons[s] = [
                f"no model profile for {srv.model!r} on "
                + (
                    "its kept accelerator"
                    if srv.keep_accelerator and srv.current.accelerator
                    else "any accelerator"
                )
            ]
            continue
        if not zero and not (target.itl_ms or target.ttft_ms or target.ttw_ms or target.tps):
            reasons[s] = [f"class {cls.name!r} sets no target for model {srv.model!r}"]
            continue
        (fixed if zero else sized).extend(rows)

    # Sizing columns for all rows at once.
    n = len(sized)
    srv_of = np.array([r[0] for r in sized], dtype=np.int64)
    acc_of = np.array([r[1] for r in sized], dtype=np.int64)
    prof = [profiles[(system.servers[s].model, accs[a].name)] for s, a in sized]
    srvs = [system.servers[s] for s, _ in sized]
    tgts = [classes[x.service_class].targets[x.model] for x in srvs]
    out_tok = np.array([x.load.out_tokens for x in srvs], dtype=float)
    in_tok = np.zeros(n) if g1 else np.array([x.load.in_tokens for x in srvs], dtype=float)
    alpha = np.array([p.alpha for p in prof], dtype=float)
    beta = np.array([p.beta for p in prof], dtype=float)
    gamma = np.zeros(n) if g1 else np.array([p.gamma for p in prof], dtype=float)
    kind = np.full(n, KIND_DECODE_ONLY if g1 else KIND_PREFILL_DECODE, dtype=np.int32)
    nb = np.array(
        [
            x.max_batch_size
            if x.max_batch_size > 0
            else max(p.max_batch_size * p.at_tokens // int(x.load.out_tokens), 1)
            for x, p in zip(srvs, prof, strict=True)
        ],
        dtype=np.int64,
    )
    nq = (
        (G1_QUEUE_PER_BATCH * nb).astype(float)
        if g1
        else np.array([x.max_queue_size for x in srvs], dtype=float)
    )
    itl_t = np.array([t.itl_ms or 0.0 for t in tgts], dtype=float)
    ttft_t = np.zeros(n) if g1 else np.array([t.ttft_ms or 0.0 for t in tgts], dtype=float)
    ttw = np.array([t.ttw_ms or 0.0 for t in tgts], dtype=float) if g1 else np.zeros(n)
    tps_t = np.array([t.tps or 0.0 for t in tgts], dtype=float)
    wait_t = ttw / EXPONENTIAL_P95 if g1_wait == "exponential" else ttw
    wait_p = np.zeros(n) if g1_wait == "exponential" else np.where(ttw > 0, 95.0, 0.0)

    table = (
        np.column_stack(
            [
                kind,
                alpha,
                beta,
                gamma,
                in_tok,
                out_tok,
                nb,
                nq,
                itl_t,
                ttft_t,
                wait_t,
                wait_p,
                tps_t,
            ]
        )
        if n
        else np.zeros((0, 13))
    )
    uniq, inverse = np.unique(table, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    u = uniq.T
    res = (
        _size_many(
            kind=u[0].astype(np.int32),
            alpha=u[1],
            beta=u[2],
            gamma=u[3],
            in_tokens=u[4],
            out_tokens=u[5],
            max_batch=u[6].astype(np.int64),
            max_queue=u[7],
            itl_ms=u[8],
            ttft_ms=u[9],
            wait_ms=u[10] if g1_wait == "exponential" else 0.0,
            # Percentile mode: the 95th percentile of the wait (u[11] in percent) <= ttw.
            wait_percentile=(u[11] / 100.0, u[10]) if g1_wait == "percentile" else None,
            tps=u[12],
            admission=admission,
        )
        if uniq.shape[0]
        else None
    )
    if res is not None:
        status = res["status"][inverse]
        per_replica = (res["rate"] if g1 else res["throughput"])[inverse]
    else:
        status = np.zeros(0, dtype=np.int32)
        per_replica = np.zeros(0)
    arrival = np.array([x.load.arrival_rate / 60.0 for x in srvs], dtype=float)
    total = np.where(tps_t > 0, tps_t / np.where(out_tok > 0, out_tok, 1.0), arrival)
    ok = (status == 0) & (per_replica > 0)
    for i in np.flatnonzero(~ok):
        reasons.setdefault(int(srv_of[i]), []).append(
            f"{accs[acc_of[i]].name}: {_status_text(int(status[i]))}"
        )
    min_reps = np.array([x.min_replicas for x in srvs], dtype=np.int64)
    with np.errstate(over="ignore", invalid="ignore"):
        need = total / np.where(ok, per_replica, 1.0)
    # A load no sane number of replicas carries (e.g. 1e100 req/min): unservable, with the
    # reason, rather than an integer overflow. ``not <=`` also catches inf and NaN.
    too_many = ok & ~(need * (1 - _CEIL_SLACK) <= MAX_REPLICAS)
    for i in np.flatnonzero(too_many):
        reasons.setdefault(int(srv_of[i]), []).append(
            f"{accs[acc_of[i]].name}: saturated: the load of {total[i] * 60:.6g} req/min needs "
            f"{need[i]:.3g} replicas of {per_replica[i] * 60:.6g} req/min each (more than "
            f"{MAX_REPLICAS})"
        )
    ok &= ~too_many
    ratio = np.where(ok, need, 0.0)
    reps = np.maximum(np.ceil(ratio * (1 - _CEIL_SLACK)).astype(np.int64), min_reps)
    reps = np.maximum(reps, 1)
    load = np.where(ok, total / np.maximum(reps, 1), 0.0)
    m = _analyze_many(
        kind,
        alpha,
        beta,
        gamma,
        in_tok,
        np.where(out_tok > 0, out_tok, 1.0),
        nb,
        nq,
        np.where(ok, load, 0.0),
        admission,
    )
    itl = np.where(ok, m["itl_ms"], np.nan)
    ttft = np.where(ok, m["ttft_ms"], np.nan)
    wait = np.where(ok, m["wait_ms"], np.nan)
    util = np.where(ok, m["utilization"], np.nan)

    # Assemble every candidate (sized, fixed, empty), then sort per server.
    cols: dict[str, list] = {
        k: []
        for k in (
            "server",
            "accelerator",
            "replicas",
            "max_batch",
            "max_queue",
            "itl",
            "ttft",
            "wait",
            "cap",
            "total",
            "util",
        )
    }

    def add(s, a, r, b, q, i_, t_, w_, c_, tot, ut):
        for k, v in zip(cols, (s, a, r, b, q, i_, t_, w_, c_, tot, ut), strict=True):
            cols[k].append(v)

    for i in np.flatnonzero(ok):
        add(
            int(srv_of[i]),
            int(acc_of[i]),
            int(reps[i]),
            int(nb[i]),
            float(nq[i]),
            float(itl[i]),
            float(ttft[i]),
            float(wait[i]),
            float(per_replica[i]),
            float(total[i]),
            float(util[i]),
        )
    for s, a in fixed:
        srv = system.servers[s]
        p = profiles[(srv.model, accs[a].name)]
        b = srv.max_batch_size if srv.max_batch_size > 0 else p.max_batch_size
        add(
            s,
            a,
            srv.min_replicas,
            b,
            float(srv.max_queue_size),
            math.nan,
            math.nan,
            math.nan,
            math.nan,
            0.0,
            0.0,
        )
    for s in empty:
        add(s, -1, 0, 0, 0.0, math.nan, math.nan, math.nan, math.nan, 0.0, 0.0)

    server = np.array(cols["server"], dtype=np.int64)
    accelerator = np.array(cols["accelerator"], dtype=np.int64)
    replicas = np.array(cols["replicas"], dtype=np.int64)
    acc_count = np.array(
        [
            profiles[(system.servers[s].model, accs[a].name)].acc_count if a >= 0 else 0
            for s, a in zip(server, accelerator, strict=True)
        ],
        dtype=np.int64,
    )
    mult = np.array([accs[a].multiplicity if a >= 0 else 0 for a in accelerator], dtype=np.int64)
    unit_cost = np.array([accs[a].cost if a >= 0 else 0.0 for a in accelerator], dtype=float)
    cost = replicas * acc_count * unit_cost
    value = np.empty_like(cost)
    for s in np.unique(server):
        rows_s = np.flatnonzero(server == s)
        cur = system.servers[s].current
        names = np.array([accs[a].name if a >= 0 else "" for a in accelerator[rows_s]])
        value[rows_s] = _penalty(
            cur.num_replicas, cur.cost, replicas[rows_s], cost[rows_s], names == cur.accelerator
        )
    if objective != "cost":
        util_all = np.array(cols["util"], dtype=float)
        power = np.array(
            [
                r * k * accs[a].power.at(u if math.isfinite(u) else 0.0) if a >= 0 else 0.0
                for a, r, k, u in zip(accelerator, replicas, acc_count, util_all, strict=True)
            ]
        )
        if objective == "power":
            value = power
        else:
            from ..hardware.power import energy_value

            value = value + energy_value(
                power, energy_weight=energy_weight, price_per_kwh=price_per_kwh
            )
    order = np.lexsort((accelerator, cost, value, server))
    nserv = len(system.servers)
    server_sorted = server[order]
    start = np.searchsorted(server_sorted, np.arange(nserv), side="left")
    stop = np.searchsorted(server_sorted, np.arange(nserv), side="right")
    for s in range(nserv):
        if start[s] == stop[s] and s not in reasons:
            reasons[s] = ["no feasible candidate"]
    return Candidates(
        system=system,
        server=server_sorted,
        accelerator=accelerator[order],
        acc_type=[accs[a].type if a >= 0 else "" for a in accelerator[order]],
        units=(acc_count * mult)[order],
        replicas=replicas[order],
        max_batch=np.array(cols["max_batch"], dtype=np.int64)[order],
        max_queue=np.array(cols["max_queue"], dtype=float)[order],
        cost=cost[order],
        value=value[order],
        itl_ms=np.array(cols["itl"])[order],
        ttft_ms=np.array(cols["ttft"])[order],
        wait_ms=np.array(cols["wait"])[order],
        capacity_per_replica=np.array(cols["cap"])[order],
        total_rate=np.array(cols["total"])[order],
        utilization=np.array(cols["util"])[order],
        start=start,
        stop=stop,
        reasons={s: r for s, r in reasons.items() if start[s] == stop[s]},
    )

"""Candidate allocations: for every (server, accelerator), how many replicas meet the SLOs.

docs/model.md section 4 gives the rules. :func:`build_candidates` runs them as named steps
over columns (NumPy arrays, one entry per server, per profile or per candidate row):

1. ``_catalogue``: the accelerators' and profiles' columns, and the lookups by name;
2. ``_server_columns``: one pass over the servers (class, target, load, current allocation,
   which accelerators to consider), and the reasons of servers that have no candidate;
3. ``_expand``: the (server, accelerator) rows, as index arrays;
4. ``_size``: ONE batch sizing call for all rows (``_size_many``; identical rows once);
5. ``_replica_counts``: replicas per row, and the loads no sane replica count carries;
6. ``_analyze``: ONE batch call for ITL/TTFT/wait/utilization at the per-replica load;
7. ``_assemble``: the sized rows, zero-load rows and empty allocations as one table;
8. ``_values``: cost and value (transition penalty, power or cost+energy), then the sort.

No Python object is built per candidate on this path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from .. import _lazy, _validate
from .._metrics import KIND_DECODE_ONLY, KIND_PREFILL_DECODE
from .data import System

__all__ = [
    "ACCELERATOR_PENALTY",
    "COV_MODES",
    "EXPONENTIAL_P95",
    "G1_QUEUE_PER_BATCH",
    "MAX_REPLICAS",
    "OBJECTIVES",
    "Candidates",
    "build_candidates",
]
__dir__ = _lazy.public_dir(__name__)

# The reference divides a wait target by -ln(0.05): the 95th percentile of an exponential law.
EXPONENTIAL_P95 = -math.log(0.05)
ACCELERATOR_PENALTY = 0.1
G1_QUEUE_PER_BATCH = 9  # K = 10 N states in all
_CEIL_SLACK = 1e-9
MAX_REPLICAS = _validate.MAX_COUNT  # replicas of one candidate, as a data file's counts
OBJECTIVES = ("cost", "power", "cost+energy")
COV_MODES = ("ignore", "use")
# Below this many rows one kernel thread is quicker than waking the pool (same numbers).
_ONE_THREAD_ROWS = 2048


def _threads(rows: int) -> int | None:
    return 1 if rows < _ONE_THREAD_ROWS else None


def _traffic(srvs, cov: str) -> tuple[np.ndarray, np.ndarray]:
    """Return, per server, the arrival CV and the output-length CV sizing uses.

    With ``cov="use"`` the load's ``arrivalCOV`` and ``serviceCOV``; otherwise, and where a
    field is absent or 0 (the reference format's zero value: not set), Poisson (1) and mean
    lengths (0).
    """
    n = len(srvs)
    if cov != "use":
        return np.ones(n), np.zeros(n)
    arrival = [x.load.arrival_cov for x in srvs]
    service = [x.load.service_cov for x in srvs]
    return (
        np.array([c if c else 1.0 for c in arrival], dtype=float),
        np.array([c if c else 0.0 for c in service], dtype=float),
    )


def _size_many(**columns):
    """Size replicas with one batch call for the whole system (the one place that does)."""
    from ..batch import size_many

    return size_many(**columns)


def _analyze_many(
    kind, alpha, beta, gamma, in_tokens, out_tokens, max_batch, max_queue, rate, admission=None,
    arrival_cv=None, out_tokens_cv=None,
):  # fmt: skip
    """Return the ITL, TTFT, wait and utilization of each row at an offered rate (req/s).

    In one batch call (under ``admission``, see :meth:`inferplan.Replica.analyze`;
    ``arrival_cv`` and ``out_tokens_cv`` as in :func:`inferplan.analyze_many`).
    """
    from ..batch import analyze_many

    return analyze_many(
        kind=np.asarray(kind, dtype=np.int32), alpha=alpha, beta=beta, gamma=gamma,
        in_tokens=in_tokens, out_tokens=out_tokens, max_batch=max_batch, max_queue=max_queue,
        rate=rate, metrics=["itl_ms", "ttft_ms", "wait_ms", "utilization"],
        threads=_threads(np.size(alpha)), admission=admission, arrival_cv=arrival_cv,
        out_tokens_cv=out_tokens_cv,
    )  # fmt: skip


@cache
def _status_text(code: int) -> str:
    from .._status import Status, status_message

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
        """Number of servers in the system."""
        return len(self.system.servers)

    def of(self, s: int) -> range:
        """Return the candidate rows of server ``s``."""
        return range(int(self.start[s]), int(self.stop[s]))

    def select(self, keep: np.ndarray, reason: str = "no candidate left") -> Candidates:
        """Return the candidates where ``keep`` is true (same order).

        Emptied servers get ``reason``.
        """
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


def _penalty(cur_reps, cur_cost, new_reps: np.ndarray, new_cost: np.ndarray, same: np.ndarray):
    """Transition value: cost change, plus 10% of both costs when the accelerator changes.

    The current allocation's replicas and cost are scalars or one entry per row.
    """
    delta = new_cost - cur_cost
    changed = ACCELERATOR_PENALTY * (cur_cost + new_cost) + delta
    return np.where(same, np.where(new_reps == cur_reps, 0.0, delta), changed)


def _check_options(g1_wait, objective, energy_weight, price_per_kwh) -> None:
    if g1_wait not in ("exponential", "percentile"):
        raise ValueError(f"g1_wait must be 'exponential' or 'percentile', got {g1_wait!r}")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if not (math.isfinite(energy_weight) and energy_weight >= 0):
        raise ValueError(f"energy_weight must be finite and >= 0, got {energy_weight!r}")
    if price_per_kwh is not None and not (math.isfinite(price_per_kwh) and price_per_kwh >= 0):
        raise ValueError(f"price_per_kwh must be finite and >= 0, got {price_per_kwh!r}")


# ---------------------------------------------------------------------------------------------
# Step 1: the catalogue (accelerators and profiles) as columns


@dataclass(repr=False, eq=False)  # internal: __init__ only (cheaper to define)
class _Catalogue:
    """Per accelerator (catalogue position) and per profile columns, and the lookups."""

    acc_index: dict[str, int]  # name -> position (the last one of a repeated name)
    canon: np.ndarray  # position -> acc_index[its name]
    acc_cost: np.ndarray
    acc_mult: np.ndarray
    acc_type: np.ndarray  # object: the type names, then "" for the empty allocation (-1)
    profile: np.ndarray  # [model id, position] -> profile index, -1 where none
    model_id: dict[str, int]
    alpha: np.ndarray
    beta: np.ndarray
    gamma: np.ndarray
    acc_count: np.ndarray
    max_batch: np.ndarray
    at_tokens: np.ndarray


def _catalogue(system: System) -> _Catalogue:
    accs = system.accelerators
    acc_index = {a.name: i for i, a in enumerate(accs)}
    by_pair = {(p.model, p.accelerator): i for i, p in enumerate(system.profiles)}
    model_id: dict[str, int] = {}
    for model, _ in by_pair:
        model_id.setdefault(model, len(model_id))
    # one extra row of -1 for a model without any profile
    table = np.full((len(model_id) + 1, len(accs)), -1, dtype=np.int64)
    positions: dict[str, list[int]] = {}
    for j, a in enumerate(accs):
        positions.setdefault(a.name, []).append(j)
    at_m, at_pos, at_prof = [], [], []
    for (model, acc), i in by_pair.items():
        for j in positions.get(acc, ()):
            at_m.append(model_id[model])
            at_pos.append(j)
            at_prof.append(i)
    table[at_m, at_pos] = at_prof
    profs = system.profiles
    return _Catalogue(
        acc_index=acc_index,
        canon=np.array([acc_index[a.name] for a in accs], dtype=np.int64),
        acc_cost=np.array([a.cost_per_hour for a in accs] + [0.0], dtype=float),
        acc_mult=np.array([a.multiplicity for a in accs] + [0], dtype=np.int64),
        acc_type=np.array([a.type for a in accs] + [""], dtype=object),
        profile=table,
        model_id=model_id,
        alpha=np.array([p.alpha for p in profs], dtype=float),
        beta=np.array([p.beta for p in profs], dtype=float),
        gamma=np.array([p.gamma for p in profs], dtype=float),
        acc_count=np.array([p.acc_count for p in profs] + [0], dtype=np.int64),
        max_batch=np.array([p.max_batch_size for p in profs], dtype=np.int64),
        at_tokens=np.array([p.at_tokens for p in profs], dtype=np.int64),
    )


# ---------------------------------------------------------------------------------------------
# Step 2: one pass over the servers


# What a server contributes: sized rows, zero-load rows (min replicas, no SLO analysis), an
# empty allocation, or nothing (with a reason).
_NONE, _SIZED, _FIXED, _EMPTY = 0, 1, 2, 3


@dataclass(repr=False, eq=False)  # internal: __init__ only (cheaper to define)
class _Servers:
    """One entry per server."""

    mode: np.ndarray  # _NONE, _SIZED, _FIXED or _EMPTY
    model: np.ndarray  # model id (the catalogue's extra row when no profile has it)
    keep: np.ndarray  # the kept accelerator's position, -1 = any, -2 = not in the catalogue
    arrival: np.ndarray  # req/s
    in_tokens: np.ndarray
    out_tokens: np.ndarray
    min_replicas: np.ndarray
    max_batch: np.ndarray
    max_queue: np.ndarray
    itl: np.ndarray
    ttft: np.ndarray
    ttw: np.ndarray
    tps: np.ndarray
    cur_acc: np.ndarray  # current accelerator's position, -2 = not in the catalogue
    cur_none: np.ndarray  # no current accelerator (name "")
    cur_reps: np.ndarray
    cur_cost: np.ndarray
    reasons: dict[int, list[str]]
    arrival_cv: np.ndarray  # 1: Poisson (see _traffic)
    out_cv: np.ndarray  # 0: mean lengths


def _server_columns(system: System, cat: _Catalogue, cov: str = "use") -> _Servers:
    classes = {c.name: c for c in system.classes}
    n = len(system.servers)
    mode = [_NONE] * n
    model = [len(cat.model_id)] * n
    keep = [-1] * n
    targets = [(0.0, 0.0, 0.0, 0.0)] * n
    cur_acc = [-2] * n
    reasons: dict[int, list[str]] = {}
    acc_index = cat.acc_index
    for s, srv in enumerate(system.servers):
        cur = srv.current.accelerator
        cur_acc[s] = acc_index.get(cur, -2)
        cls = classes.get(srv.service_class)
        if cls is None:
            reasons[s] = [f"service class {srv.service_class!r} is not defined"]
            continue
        target = cls.targets.get(srv.model)
        if target is None:
            reasons[s] = [f"class {cls.name!r} has no target for model {srv.model!r}"]
            continue
        out = srv.load.out_tokens
        if 0 < out < 1 or not math.isfinite(out):
            raise ValueError(
                f"servers[{s}] ({srv.name!r}): load.out_tokens must be 0 (no load) or a "
                f"finite mean >= 1, got {out!r}"
            )
        zero = srv.load.rate_per_s == 0 or out == 0
        if zero and srv.min_replicas == 0:
            mode[s] = _EMPTY
            continue
        if srv.keep_accelerator and cur:
            keep[s] = acc_index.get(cur, -2)
            if keep[s] == -2:
                reasons[s] = [
                    f"keepAccelerator: current accelerator {cur!r} is not in the catalogue"
                ]
                continue
        model[s] = cat.model_id.get(srv.model, len(cat.model_id))
        t = target
        if not zero and not (t.itl_ms or t.ttft_ms or t.ttw_ms or t.tps):
            mode[s] = -1  # decided after the profile check, whose reason comes first
            continue
        mode[s] = _FIXED if zero else _SIZED
        targets[s] = (t.itl_ms or 0.0, t.ttft_ms or 0.0, t.ttw_ms or 0.0, t.tps or 0.0)
    srvs = system.servers
    tcols = np.array(targets, dtype=float).reshape(n, 4).T
    arrival_cv, out_cv = _traffic(srvs, cov)
    return _Servers(
        mode=np.array(mode, dtype=np.int64),
        model=np.array(model, dtype=np.int64),
        keep=np.array(keep, dtype=np.int64),
        arrival=np.array([x.load.rate_per_s for x in srvs], dtype=float),
        in_tokens=np.array([x.load.in_tokens for x in srvs], dtype=float),
        out_tokens=np.array([x.load.out_tokens for x in srvs], dtype=float),
        min_replicas=np.array([x.min_replicas for x in srvs], dtype=np.int64),
        max_batch=np.array([x.max_batch_size for x in srvs], dtype=np.int64),
        max_queue=np.array([x.max_queue_size for x in srvs], dtype=float),
        itl=tcols[0],
        ttft=tcols[1],
        ttw=tcols[2],
        tps=tcols[3],
        cur_acc=np.array(cur_acc, dtype=np.int64),
        cur_none=np.array([x.current.accelerator == "" for x in srvs], dtype=bool),
        cur_reps=np.array([x.current.num_replicas for x in srvs], dtype=np.int64),
        cur_cost=np.array([x.current.cost for x in srvs], dtype=float),
        reasons=reasons,
        arrival_cv=arrival_cv,
        out_cv=out_cv,
    )


# ---------------------------------------------------------------------------------------------
# Step 3: the (server, accelerator) rows


def _expand(system: System, cat: _Catalogue, sv: _Servers):
    """Return index arrays (server, accelerator, profile) of the rows to size and zero-load rows.

    Both are server-major in catalogue order; the servers left without a profile are
    recorded.
    """
    wanted = (sv.mode == _SIZED) | (sv.mode == _FIXED) | (sv.mode == -1)
    ids = np.flatnonzero(wanted)
    prof = cat.profile[sv.model[ids]]  # servers x positions
    kept = sv.keep[ids]
    if prof.shape[1]:
        cols = np.arange(prof.shape[1])
        prof = np.where((kept[:, None] < 0) | (cols[None, :] == kept[:, None]), prof, -1)
    has = prof >= 0
    for s in ids[~has.any(axis=1)]:
        srv = system.servers[s]
        where = (
            "its kept accelerator"
            if srv.keep_accelerator and srv.current.accelerator
            else "any accelerator"
        )
        sv.reasons[int(s)] = [f"no model profile for {srv.model!r} on {where}"]
        sv.mode[s] = _NONE
    for s in ids[has.any(axis=1) & (sv.mode[ids] == -1)]:
        srv = system.servers[s]
        sv.reasons[int(s)] = [f"class {srv.service_class!r} sets no target for model {srv.model!r}"]
        sv.mode[s] = _NONE
    i, pos = np.nonzero(has)
    server = ids[i]
    acc = cat.canon[pos]
    profile = prof[i, pos]
    m = sv.mode[server]
    sized, fixed = m == _SIZED, m == _FIXED
    return (server[sized], acc[sized], profile[sized]), (server[fixed], acc[fixed], profile[fixed])


# ---------------------------------------------------------------------------------------------
# Steps 4-6: sizing, replica counts, metrics at the per-replica load


@dataclass(repr=False, eq=False)  # internal: __init__ only (cheaper to define)
class _Rows:
    """The rows to size: the kernel's configuration and target columns."""

    server: np.ndarray
    accelerator: np.ndarray
    profile: np.ndarray
    kind: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    gamma: np.ndarray
    in_tokens: np.ndarray
    out_tokens: np.ndarray
    max_batch: np.ndarray
    max_queue: np.ndarray
    itl: np.ndarray
    ttft: np.ndarray
    wait: np.ndarray  # the mean-wait bound, or (percentile mode) the percentile's bound
    wait_pct: np.ndarray  # percent, percentile mode only
    tps: np.ndarray
    arrival_cv: np.ndarray
    out_tokens_cv: np.ndarray


def _rows(cat: _Catalogue, sv: _Servers, server, acc, prof, g1: bool, g1_wait: str) -> _Rows:
    n = server.size
    out_tok = sv.out_tokens[server]
    zeros = np.zeros(n)
    own = sv.max_batch[server]
    # max(maxBatchSize * atTokens // m, 1); m >= 1 on a sized row
    scaled = np.maximum((cat.max_batch[prof] * cat.at_tokens[prof]) // out_tok.astype(np.int64), 1)
    nb = np.where(own > 0, own, scaled)
    ttw = sv.ttw[server] if g1 else zeros
    return _Rows(
        server=server,
        accelerator=acc,
        profile=prof,
        kind=np.full(n, KIND_DECODE_ONLY if g1 else KIND_PREFILL_DECODE, dtype=np.int32),
        alpha=cat.alpha[prof],
        beta=cat.beta[prof],
        gamma=zeros if g1 else cat.gamma[prof],
        in_tokens=zeros if g1 else sv.in_tokens[server],
        out_tokens=out_tok,
        max_batch=nb,
        max_queue=(G1_QUEUE_PER_BATCH * nb).astype(float) if g1 else sv.max_queue[server],
        itl=sv.itl[server],
        ttft=zeros if g1 else sv.ttft[server],
        wait=ttw / EXPONENTIAL_P95 if g1_wait == "exponential" else ttw,
        wait_pct=zeros if g1_wait == "exponential" else np.where(ttw > 0, 95.0, 0.0),
        tps=sv.tps[server],
        arrival_cv=sv.arrival_cv[server],
        out_tokens_cv=sv.out_cv[server],
    )


_SIZING_COLUMNS = (
    "kind", "alpha", "beta", "gamma", "in_tokens", "out_tokens", "max_batch", "max_queue",
    "itl", "ttft", "wait", "wait_pct", "tps", "arrival_cv", "out_tokens_cv",
)  # fmt: skip


def _size(r: _Rows, g1: bool, g1_wait: str, admission) -> tuple[np.ndarray, np.ndarray]:
    """Return (status, per-replica capacity in req/s) per row, from ONE sizing call.

    The call covers the distinct rows.
    """
    n = r.server.size
    if n == 0:
        return np.zeros(0, dtype=np.int32), np.zeros(0)
    table = np.empty((n, len(_SIZING_COLUMNS)))
    for j, name in enumerate(_SIZING_COLUMNS):
        table[:, j] = getattr(r, name)
    keys = table.view(np.dtype((np.void, table.itemsize * table.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    u = table[first].T
    res = _size_many(
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
        arrival_cv=u[13],
        out_tokens_cv=u[14],
        admission=admission,
        metrics=["throughput"],
        threads=_threads(first.size),
    )
    inverse = inverse.reshape(-1)
    return res["status"][inverse], (res["rate"] if g1 else res["throughput"])[inverse]


def _replica_counts(r: _Rows, sv: _Servers, status, per_replica):
    """Return which rows are ok, which carry too much load, and what each row needs.

    Per row: the server's rate, the replicas needed (as a ratio and as a count) and the
    per-replica load.
    """
    out_tok = r.out_tokens
    total = np.where(r.tps > 0, r.tps / np.where(out_tok > 0, out_tok, 1.0), sv.arrival[r.server])
    ok = (status == 0) & (per_replica > 0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        need = total / np.where(ok, per_replica, 1.0)
    # A load no sane number of replicas carries (e.g. 1e100 req/min): unservable, with the
    # reason, rather than an integer overflow. ``not <=`` also catches inf and NaN.
    too_many = ok & ~(need * (1 - _CEIL_SLACK) <= MAX_REPLICAS)
    ok &= ~too_many
    ratio = np.where(ok, need, 0.0)
    reps = np.maximum(
        np.ceil(ratio * (1 - _CEIL_SLACK)).astype(np.int64), sv.min_replicas[r.server]
    )
    reps = np.maximum(reps, 1)
    load = np.where(ok, total / np.maximum(reps, 1), 0.0)
    return ok, too_many, total, need, reps, load


def _failure_reasons(r, status, per_replica, ok, too_many, total, need, accs, servers, reasons):
    """Return the per-accelerator reasons of ``servers`` (rows not ok), in row order.

    Sizing failures first, then loads beyond MAX_REPLICAS.
    """
    mine = np.isin(r.server, servers)
    for i in np.flatnonzero(mine & ~ok & ~too_many):
        reasons.setdefault(int(r.server[i]), []).append(
            f"{accs[r.accelerator[i]].name}: {_status_text(int(status[i]))}"
        )
    for i in np.flatnonzero(mine & too_many):
        reasons.setdefault(int(r.server[i]), []).append(
            f"{accs[r.accelerator[i]].name}: saturated: the load of {total[i] * 60:.6g} req/min "
            f"needs {need[i]:.3g} replicas of {per_replica[i] * 60:.6g} req/min each (more "
            f"than {MAX_REPLICAS})"
        )


# ---------------------------------------------------------------------------------------------
# Steps 7-8: one table, values, order


def _power_curve(cat_accs, acc: np.ndarray, util: np.ndarray) -> np.ndarray:
    """Return the power of each row's accelerator at its utilization (NaN or inf read as 0).

    As :meth:`PowerCurve.at` computes it, for all rows at once.
    """
    curves = [a.power for a in cat_accs] + [None]
    idle = np.array([c.idle_w if c else 0.0 for c in curves], dtype=float)[acc]
    mid = np.array([c.mid_w if c else 0.0 for c in curves], dtype=float)[acc]
    mu = np.array([c.mid_util if c else 0.5 for c in curves], dtype=float)[acc]
    full = np.array([c.full_w if c else 0.0 for c in curves], dtype=float)[acc]
    u = np.minimum(np.maximum(np.where(np.isfinite(util), util, 0.0), 0.0), 1.0)
    span = 1.0 - mu
    with np.errstate(divide="ignore", invalid="ignore"):
        low = idle + (mid - idle) * np.where(mu != 0, u / mu, 1.0)
        high = mid + (full - mid) * np.where(span != 0, (u - mu) / span, 1.0)
    return np.where(u <= mu, low, high)


def build_candidates(
    system: System,
    *,
    g1_wait: str = "exponential",
    objective: str = "cost",
    energy_weight: float = 1.0,
    price_per_kwh: float | None = None,
    admission: str | None = None,
    cov: str = "use",
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

    ``cov``: ``"use"`` (default) sizes each server's candidates with
    ``arrival_cv = arrivalCOV`` and an output length of coefficient of variation
    ``serviceCOV`` (lognormal, :class:`inferplan.lengths.Lengths`), a field that is absent
    or 0 meaning not set (docs/allocation.md); ``"ignore"`` sizes for Poisson arrivals and
    mean lengths whatever the fields say, as the reference does.
    """
    from ..admission import check_admission

    admission = check_admission(admission)
    _validate.choice(cov, "cov", COV_MODES)
    _check_options(g1_wait, objective, energy_weight, price_per_kwh)
    g1 = system.rules == "g1"
    accs = system.accelerators
    if objective != "cost":
        for i, acc in enumerate(accs):
            if not acc.power.full_w > 0:
                raise ValueError(
                    f"{system.source}: accelerators[{i}] ({acc.name!r}): the {objective} "
                    "objective needs its power curve (field 'power' with 'full' > 0)"
                )
    cat = _catalogue(system)
    sv = _server_columns(system, cat, cov)
    (s_srv, s_acc, s_prof), (f_srv, f_acc, f_prof) = _expand(system, cat, sv)
    rows = _rows(cat, sv, s_srv, s_acc, s_prof, g1, g1_wait)
    status, per_replica = _size(rows, g1, g1_wait, admission)
    ok, too_many, total, need, reps, load = _replica_counts(rows, sv, status, per_replica)
    m = _analyze_many(
        rows.kind, rows.alpha, rows.beta, rows.gamma, rows.in_tokens,
        np.where(rows.out_tokens > 0, rows.out_tokens, 1.0), rows.max_batch, rows.max_queue,
        np.where(ok, load, 0.0), admission, rows.arrival_cv, rows.out_tokens_cv,
    )  # fmt: skip

    # One table: the sized rows that are ok, the zero-load rows, the empty allocations.
    keep = np.flatnonzero(ok)
    empty = np.flatnonzero(sv.mode == _EMPTY)
    nf, ne = f_srv.size, empty.size
    nan_f = np.full(nf + ne, math.nan)
    zero_f = np.zeros(nf + ne)
    f_own = sv.max_batch[f_srv]

    def cat3(sized, fixed, idle):
        return np.concatenate((sized, fixed, idle))

    server = cat3(rows.server[keep], f_srv, empty)
    accelerator = cat3(rows.accelerator[keep], f_acc, np.full(ne, -1, dtype=np.int64))
    profile = cat3(rows.profile[keep], f_prof, np.full(ne, -1, dtype=np.int64))
    replicas = cat3(reps[keep], sv.min_replicas[f_srv], np.zeros(ne, dtype=np.int64))
    max_batch = cat3(
        rows.max_batch[keep],
        np.where(f_own > 0, f_own, cat.max_batch[f_prof]),
        np.zeros(ne, dtype=np.int64),
    )
    max_queue = cat3(rows.max_queue[keep], sv.max_queue[f_srv], np.zeros(ne))
    itl = np.concatenate((m["itl_ms"][keep], nan_f))
    ttft = np.concatenate((m["ttft_ms"][keep], nan_f))
    wait = np.concatenate((m["wait_ms"][keep], nan_f))
    util = np.concatenate((m["utilization"][keep], zero_f))
    cap = np.concatenate((per_replica[keep], nan_f))
    total_rate = np.concatenate((total[keep], zero_f))

    # Cost and value.
    acc_count = cat.acc_count[profile]  # profile -1: the appended 0
    cost = replicas * acc_count * cat.acc_cost[accelerator]
    cur = sv.cur_acc[server]
    same = np.where(accelerator >= 0, accelerator == cur, sv.cur_none[server])
    value = _penalty(sv.cur_reps[server], sv.cur_cost[server], replicas, cost, same)
    if objective != "cost":
        power = np.where(
            accelerator >= 0, replicas * acc_count * _power_curve(accs, accelerator, util), 0.0
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
    ids = np.arange(nserv)
    start = np.searchsorted(server_sorted, ids, side="left")
    stop = np.searchsorted(server_sorted, ids, side="right")
    reasons = dict(sorted(sv.reasons.items()))  # server order, as the checks ran
    bare = np.flatnonzero(start == stop)
    if bare.size:
        _failure_reasons(rows, status, per_replica, ok, too_many, total, need, accs, bare, reasons)
        for s in bare.tolist():
            reasons.setdefault(s, ["no feasible candidate"])
    acc_sorted = accelerator[order]
    return Candidates(
        system=system,
        server=server_sorted,
        accelerator=acc_sorted,
        acc_type=cat.acc_type[acc_sorted].tolist(),
        units=(acc_count * cat.acc_mult[accelerator])[order],
        replicas=replicas[order],
        max_batch=max_batch[order],
        max_queue=max_queue[order],
        cost=cost[order],
        value=value[order],
        itl_ms=itl[order],
        ttft_ms=ttft[order],
        wait_ms=wait[order],
        capacity_per_replica=cap[order],
        total_rate=total_rate[order],
        utilization=util[order],
        start=start,
        stop=stop,
        reasons={s: r for s, r in reasons.items() if start[s] == stop[s]},
    )

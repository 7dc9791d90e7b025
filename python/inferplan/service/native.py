"""inferplan's own routes (``/v1/...``).

Every target kind and admission rule, batch calls, fleet allocation with any solver, the
hardware cost table, and online tuning (``/tune``).

Unlike the reference routes these explain themselves: an infeasible sizing answers 200 with
``feasible: false``, the status and the reason; a fleet with servers left out answers the
partial solution with the reason per server.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from .. import _lazy, fleet
from .._status import status_message
from ..models import DecodeOnly, PrefillDecode
from ..replica import Replica, optimal_concurrency
from ..sizing import BINDING_NAMES
from . import schemas
from ._fields import ApiError, boolean, finite, lower_keys, number, string

__all__ = [
    "MAX_CHUNKS",
    "MAX_IN_TOKENS",
    "MAX_OUT_TOKENS",
    "MAX_ROWS",
    "MAX_TUNERS",
    "Tuners",
    "add_native_routes",
    "analyze",
    "analyze_many",
    "check_fleet_sizes",
    "concurrency",
    "cost_table",
    "fleet_optimize",
    "size",
    "size_many",
]
__dir__ = _lazy.public_dir(__name__)

_ADMISSION = ("chain", "immediate", "iteration")
MAX_IN_TOKENS = 1e7  # beyond any real model (the chunk count grows with the prompt)
MAX_OUT_TOKENS = 1e9
MAX_CHUNKS = 1e5  # prompt / token budget: more chunks than any real server makes
_EXPLAIN = {
    None: "no target binds: the rate is capped at 0.999 x the saturation throughput",
    "itl_ms": "the mean ITL target binds", "ttft_ms": "the mean TTFT target binds",
    "wait_ms": "the mean wait target binds", "ttft_percentile": "the TTFT percentile binds",
    "wait_percentile": "the wait percentile binds", "max_block": "the blocking target binds",
    "tps": "the TPS target binds: the replica runs at 0.9 x its cap (10% headroom)",
}  # fmt: skip


def _model(d: dict):
    kind = string(d, "kind", default="prefill_decode").lower()
    if kind in ("decode_only", "decodeonly", "0"):
        return DecodeOnly(number(d, "alpha", default=None), number(d, "beta", default=None),
                          number(d, "out_tokens", default=None, positive=True,
                                 maximum=MAX_OUT_TOKENS))  # fmt: skip
    if kind in ("prefill_decode", "prefilldecode", "1"):
        in_tokens = number(d, "in_tokens", maximum=MAX_IN_TOKENS)
        budget = number(d, "max_num_tokens", default=8192.0, minimum=1.0)
        if in_tokens / budget > MAX_CHUNKS:
            raise ApiError(400, f"field 'max_num_tokens' ({budget!r}) splits a prompt of "
                           f"{in_tokens!r} tokens into more than {MAX_CHUNKS:g} chunks",
                           field="max_num_tokens")  # fmt: skip
        return PrefillDecode(
            number(d, "alpha", default=None), number(d, "beta", default=None),
            number(d, "gamma"), in_tokens,
            number(d, "out_tokens", default=None, positive=True, maximum=MAX_OUT_TOKENS),
            budget,
        )  # fmt: skip
    raise ApiError(400, f"field 'kind' must be 'prefill_decode' or 'decode_only', got {kind!r}",
                   field="kind")  # fmt: skip


def _replica(d: dict) -> Replica:
    try:
        model = _model(d)
    except ValueError as err:
        raise ApiError(400, str(err), field=_field_in(str(err))) from None
    n = number(d, "max_batch", default=None, integer=True, positive=True, maximum=1 << 24)
    q = d.get("max_queue")
    if q is not None:
        q = number(d, "max_queue", integer=True, maximum=float(1 << 50))
    return Replica(model, max_batch=n, max_queue=q)


_REPLICA_KEYS = ("kind", "alpha", "beta", "gamma", "in_tokens", "out_tokens", "max_num_tokens",
                 "max_batch", "max_queue")  # fmt: skip
_TARGET_KEYS = ("itl_ms", "ttft_ms", "wait_ms", "tps", "max_block", "ttft_percentile",
                "wait_percentile")  # fmt: skip


def _known(d: dict, *groups: tuple[str, ...]) -> None:
    """Refuse a key the route does not read.

    A misspelt target ("itl" for "itl_ms") would otherwise be sized without it and answered
    as if it were met (the batch routes refuse unknown columns the same way).
    """
    known = [k for g in groups for k in g]
    for key in d:
        if key not in known:
            raise ApiError(400, f"unknown field {key!r} (known: {', '.join(known)})", field=key)


def _field_in(message: str) -> str | None:
    for name in ("alpha", "beta", "gamma", "in_tokens", "out_tokens", "max_num_tokens"):
        if name in message:
            return name
    return None


def _admission(d: dict) -> str | None:
    a = d.get("admission")
    if a is None or a == "chain":
        return None
    if a not in _ADMISSION:
        raise ApiError(400, f"field 'admission' must be one of {', '.join(_ADMISSION)}, got "
                       f"{a!r}", field="admission")  # fmt: skip
    return a


def _pair(d: dict, key: str):
    v = d.get(key)
    if v is None:
        return None
    if not (
        isinstance(v, (list, tuple))
        and len(v) == 2
        and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
    ):
        raise ApiError(400, f"field {key!r} must be a pair [quantile, ms], got {v!r}", field=key)
    q, ms = float(v[0]), float(v[1])
    if not (0 < q < 1 and math.isfinite(ms) and ms > 0):
        raise ApiError(400, f"field {key!r} needs 0 < quantile < 1 and ms > 0, got {v!r}",
                       field=key)  # fmt: skip
    return (q, ms)


def _targets(d: dict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("itl_ms", "ttft_ms", "wait_ms", "tps"):
        v = number(d, key, default=0.0)
        if v > 0:
            out[key] = v
    mb = number(d, "max_block", default=0.0, maximum=1.0)
    if mb > 0:
        if mb >= 1:
            raise ApiError(400, f"field 'max_block' must be in (0, 1), got {mb!r}",
                           field="max_block")  # fmt: skip
        out["max_block"] = mb
    for key in ("ttft_percentile", "wait_percentile"):
        p = _pair(d, key)
        if p is not None:
            out[key] = p
    return out


def _metrics(m) -> dict[str, Any] | None:
    return None if m is None else {k: finite(v) for k, v in m._asdict().items()}


def analyze(doc: Any) -> dict[str, Any]:
    """Serve ``/v1/analyze``: the metrics of one replica at a rate."""
    d = lower_keys(doc, "the body")
    _known(d, _REPLICA_KEYS, ("rate", "admission", "quantiles"))
    r = _replica(d)
    rate = number(d, "rate", default=None)
    try:
        m = r.analyze(rate, admission=_admission(d))
    except ValueError as err:  # an unbounded queue at or above saturation
        raise ApiError(422, str(err), field="rate") from None
    out = {"metrics": _metrics(m)}
    quantiles = d.get("quantiles")
    if quantiles is not None:
        if not isinstance(quantiles, list):
            raise ApiError(400, "field 'quantiles' must be a list of numbers in (0, 1)",
                           field="quantiles")  # fmt: skip
        qs = {}
        for i, q in enumerate(quantiles):
            if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 < q < 1:
                raise ApiError(400, f"field 'quantiles[{i}]' must be in (0, 1), got {q!r}",
                               field="quantiles")  # fmt: skip
            if rate == 0:  # nothing arrives, nothing waits: the idle replica's TTFT
                qs[str(q)] = {"wait_ms": 0.0, "ttft_ms": m.ttft_ms}
                continue
            adm = _admission(d)
            qs[str(q)] = {
                "wait_ms": finite(r.wait_quantile(rate, q, admission=adm)),
                "ttft_ms": finite(r.ttft_quantile(rate, q, admission=adm)),
            }
        out["quantiles"] = qs
    return out


def size(doc: Any) -> dict[str, Any]:
    """Serve ``/v1/size``: the largest rate meeting any set of targets, explained."""
    d = lower_keys(doc, "the body")
    _known(d, _REPLICA_KEYS, _TARGET_KEYS, ("admission",))
    r = _replica(d)
    res = r.size(**_targets(d), admission=_admission(d))
    return {
        "rate": res.rate,
        "feasible": res.feasible,
        "status": res.status.name,
        "reason": None if res.feasible else res.reason,
        "binding": res.binding,
        "explanation": _EXPLAIN.get(res.binding) if res.feasible else res.reason,
        "iterations": res.iterations,
        "throughput": res.throughput if res.feasible else 0.0,
        "metrics": _metrics(res.metrics),
    }


def concurrency(doc: Any) -> dict[str, Any]:
    """Serve ``/v1/optimal-concurrency``: the smallest max batch at near-peak throughput."""
    d = lower_keys(doc, "the body")
    _known(d, _REPLICA_KEYS, _TARGET_KEYS, ("tolerance",))
    try:
        model = _model(d)
    except ValueError as err:
        raise ApiError(400, str(err), field=_field_in(str(err))) from None
    n = number(d, "max_batch", default=None, integer=True, positive=True, maximum=1 << 16)
    q = d.get("max_queue")
    if q is not None:
        q = number(d, "max_queue", integer=True)
    tol = number(d, "tolerance", default=0.05, maximum=0.999999)
    res = optimal_concurrency(model, n, q, tolerance=tol, **_targets(d))
    s = res.size
    return {"max_batch": res.max_batch, "peak_throughput": res.peak_throughput,
            "feasible": s.feasible, "status": s.status.name,
            "reason": None if s.feasible else s.reason, "rate": s.rate,
            "metrics": _metrics(s.metrics)}  # fmt: skip


_COLUMNS = ("kind", "alpha", "beta", "gamma", "in_tokens", "out_tokens", "max_num_tokens",
            "max_batch", "max_queue", "rate", "itl_ms", "ttft_ms", "wait_ms", "max_block", "tps",
            "ttft_pq", "ttft_p_ms", "wait_pq", "wait_p_ms")  # fmt: skip
MAX_ROWS = 1_000_000


def _columns(d: dict) -> tuple[dict[str, Any], int]:
    rows = d.get("rows", d)
    if not isinstance(rows, dict):
        raise ApiError(400, "field 'rows' must be an object of columns", field="rows")
    cols: dict[str, Any] = {}
    n = 1
    for key, v in rows.items():
        k = str(key).lower()
        if k in ("threads", "admission", "metrics", "rows"):
            continue
        if k not in _COLUMNS:
            raise ApiError(400, f"unknown column {key!r} (known: {', '.join(_COLUMNS)})",
                           field=str(key))  # fmt: skip
        if k == "kind":
            cols[k] = v if not isinstance(v, list) else [x for x in v]
            if isinstance(v, list):
                n = _common(n, len(v), key)
            continue
        if isinstance(v, list):
            try:
                arr = np.asarray([math.inf if x is None and k == "max_queue" else x for x in v],
                                 dtype=float)  # fmt: skip
            except (TypeError, ValueError):
                raise ApiError(400, f"column {key!r} must hold numbers", field=str(key)) from None
            n = _common(n, arr.size, key)
            cols[k] = arr
        elif v is None and k == "max_queue":
            cols[k] = math.inf
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            cols[k] = float(v)
        else:
            raise ApiError(400, f"column {key!r} must be a number or a list, got {v!r}",
                           field=str(key))  # fmt: skip
    if n > MAX_ROWS:
        raise ApiError(413, f"at most {MAX_ROWS} rows per request, got {n}", field="rows")
    in_tok = np.asarray(cols.get("in_tokens", 0.0), dtype=float)
    budget = np.asarray(cols.get("max_num_tokens", 8192.0), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        too_big = (in_tok > MAX_IN_TOKENS) | (in_tok / budget > MAX_CHUNKS)
    if np.any(too_big):
        i = int(np.flatnonzero(np.broadcast_to(too_big, (n,)))[0])
        raise ApiError(400, f"row {i}: column 'in_tokens' must be at most {MAX_IN_TOKENS:g} and "
                       f"at most {MAX_CHUNKS:g} x max_num_tokens", field="in_tokens")  # fmt: skip
    return cols, n


def _common(n: int, m: int, key) -> int:
    if n != 1 and m != 1 and m != n:
        raise ApiError(400, f"column {key!r} has {m} rows, others have {n}", field=str(key))
    return max(n, m)


def _table(out: dict[str, np.ndarray]) -> dict[str, Any]:
    res: dict[str, Any] = {}
    for k, v in out.items():
        a = np.asarray(v)
        if a.dtype.kind == "f":
            res[k] = [x if math.isfinite(x) else None for x in a.tolist()]
        else:
            res[k] = a.tolist()
    if "status" in res:
        res["status_message"] = [status_message(int(s)) for s in res["status"]]
    if "binding" in res:
        res["binding"] = [BINDING_NAMES[int(b)] for b in res["binding"]]
    return res


def analyze_many(doc: Any) -> dict[str, Any]:
    """Serve ``/v1/analyze-many``: many configurations at once (columns)."""
    from ..batch import analyze_many as run

    d = lower_keys(doc, "the body")
    cols, _ = _columns(d)
    if "rate" not in cols:
        raise ApiError(400, "binding error: column 'rate' is required", field="rate")
    rate = cols.pop("rate")
    for k in ("itl_ms", "ttft_ms", "wait_ms", "max_block", "tps"):
        cols.pop(k, None)
    try:
        return _table(run(rate=rate, admission=_admission(d), threads=_threads(d), **cols))
    except (ValueError, TypeError) as err:
        raise ApiError(400, str(err)) from None


def size_many(doc: Any) -> dict[str, Any]:
    """Serve ``/v1/size-many``: size many configurations at once (columns)."""
    from ..batch import size_many as run

    d = lower_keys(doc, "the body")
    cols, _ = _columns(d)
    cols.pop("rate", None)
    try:
        return _table(run(admission=_admission(d), threads=_threads(d), **cols))
    except (ValueError, TypeError) as err:
        raise ApiError(400, str(err)) from None


def _threads(d: dict) -> int | None:
    v = d.get("threads")
    return None if v is None else number(d, "threads", integer=True, positive=True, maximum=256)


def fleet_optimize(doc: Any) -> dict[str, Any]:
    """Serve ``/v1/fleet/optimize``: allocate a fleet."""
    d = lower_keys(doc, "the body")
    if "system" not in d:
        raise ApiError(400, "binding error: field 'system' is required", field="system")
    solver = d.get("solver")
    if solver is not None and solver not in ("greedy", "unlimited", "milp"):
        raise ApiError(400, f"field 'solver' must be greedy, unlimited or milp, got {solver!r}",
                       field="solver")  # fmt: skip
    options = d.get("options") or {}
    if not isinstance(options, dict):
        raise ApiError(400, "field 'options' must be an object", field="options")
    allowed = {"saturation_policy", "delayed_best_effort", "time_limit", "heterogeneous",
               "priorities", "objective", "energy_weight", "price_per_kwh", "admission",
               "g1_wait"}  # fmt: skip
    bad = sorted(set(options) - allowed)
    if bad:
        raise ApiError(400, f"unknown option(s) {', '.join(bad)} (known: "
                       f"{', '.join(sorted(allowed))})", field="options")  # fmt: skip
    try:
        system = fleet.system_from_dict({"system": d["system"]}, source="system")
        if not system.servers:  # a misnamed section must not answer "every server is allocated"
            raise ApiError(400, "data error: field 'system' holds no servers (serverData."
                           "servers) to allocate", field="system")  # fmt: skip
        check_fleet_sizes(system)
        sol = fleet.optimize(system, solver, **options)
    except fleet.DataError as err:
        raise ApiError(400, f"data error: {err}") from None
    except (ValueError, TypeError) as err:
        raise ApiError(400, f"options: {err}", field="options") from None
    out = fleet.summary(sol)
    out["explanation"] = (
        "every server is allocated" if not sol.unallocated else
        f"{len(sol.unallocated)} server(s) left out: see 'unallocated' for the reason of each"
    )  # fmt: skip
    return out


def check_fleet_sizes(system) -> None:
    """Refuse request sizes beyond any real model.

    They would keep the kernel counting prefill chunks for ever.
    """

    def check(where: str, name: str, v: float, top: float) -> None:
        if v > top:
            raise ApiError(400, f"data error: {where}: field {name!r} must be at most {top:g}, "
                           f"got {v!r}", field=name)  # fmt: skip

    for i, srv in enumerate(system.servers):
        where = f"servers[{i}] ({srv.name!r})"
        check(where + ".currentAlloc.load", "avgInTokens", srv.load.in_tokens, MAX_IN_TOKENS)
        check(where + ".currentAlloc.load", "avgOutTokens", srv.load.out_tokens, MAX_OUT_TOKENS)
        check(where, "maxBatchSize", srv.max_batch_size, 1 << 24)
        check(where, "maxQueueSize", srv.max_queue_size, float(1 << 50))
        check(where, "minNumReplicas", srv.min_replicas, 1e9)
        check(where + ".currentAlloc", "numReplicas", srv.current.num_replicas, 1e9)
    for i, p in enumerate(system.profiles):
        where = f"models[{i}] ({p.model!r} on {p.accelerator!r})"
        check(where, "accCount", p.acc_count, 1e6)
        check(where, "maxBatchSize", p.max_batch_size, 1 << 24)
        check(where, "atTokens", p.at_tokens, 1e9)
    for i, a in enumerate(system.accelerators):
        check(f"accelerators[{i}] ({a.name!r})", "multiplicity", a.multiplicity, 1e6)
    for t, c in system.capacity.items():
        check(f"count ({t!r})", "count", c, 1e12)


def cost_table(doc: Any) -> dict[str, Any]:
    """Serve ``/v1/cost-table``: the hardware cost table."""
    from ..hardware import PowerCurve
    from ..hardware.cost_table import Accelerator, Profile, QueryClass
    from ..hardware.cost_table import cost_table as run

    d = lower_keys(doc, "the body")

    def records(key, build):
        items = d.get(key)
        if not isinstance(items, list) or not items:
            raise ApiError(400, f"field {key!r} must be a non-empty list", field=key)
        out = []
        for i, raw in enumerate(items):
            if not isinstance(raw, dict):
                raise ApiError(400, f"field '{key}[{i}]' must be an object", field=f"{key}[{i}]")
            try:
                out.append(build(raw))
            except (TypeError, ValueError) as err:
                raise ApiError(400, f"field '{key}[{i}]': {err}", field=f"{key}[{i}]") from None
        return out

    def acc(raw):
        raw = dict(raw)
        power = raw.pop("power", None)
        if not isinstance(power, dict):
            raise ValueError("power must be an object {idle_w, mid_w, mid_util, full_w}")
        return Accelerator(power=PowerCurve(**power), **raw)

    accs = records("accelerators", acc)
    profiles = records("profiles", lambda raw: Profile(**raw))
    classes = records("query_classes", lambda raw: QueryClass(**raw))
    for i, q in enumerate(classes):
        budget = min((float(p.max_num_tokens) for p in profiles), default=8192.0)
        L = float(q.in_tokens)
        if not (math.isfinite(L) and L <= MAX_IN_TOKENS and L / max(budget, 1e-300) <= MAX_CHUNKS):
            raise ApiError(400, f"field 'query_classes[{i}]': in_tokens must be at most "
                           f"{MAX_IN_TOKENS:g} and {MAX_CHUNKS:g} x the profiles' "
                           f"max_num_tokens, got {q.in_tokens!r}",
                           field=f"query_classes[{i}]")  # fmt: skip
    batches = d.get("batch_sizes")
    if not isinstance(batches, list) or not batches:
        raise ApiError(400, "field 'batch_sizes' must be a non-empty list of integers",
                       field="batch_sizes")  # fmt: skip
    try:
        table = run(profiles, accs, classes, batch_sizes=batches,
                    max_queue=math.inf if d.get("max_queue") is None else number(d, "max_queue"),
                    price_per_kwh=number(d, "price_per_kwh"),
                    grid_kg_per_kwh=number(d, "grid_kg_per_kwh"))  # fmt: skip
    except (ValueError, TypeError) as err:
        raise ApiError(400, str(err)) from None
    cols = {c: table[c].to_numpy() for c in table.columns}
    return {"rows": len(table), "columns": _table(cols)}


# -- tuning -----------------------------------------------------------------------------------


MAX_TUNERS = 10_000


class Tuners:
    """Named tuners (one per model server), shared by the service's requests."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_name: dict[str, Any] = {}
        self.telemetry = None  # the service's metrics, set when the routes are added

    def tune(self, doc: Any) -> dict[str, Any]:
        """Feed windows to a named tuner (creating or resetting it); return its state."""
        from .tuning import Tuner

        d = lower_keys(doc, "the body")
        _known(d, ("tuner", "reset", "windows", "size", "targets"))
        if isinstance(d.get("targets"), dict):  # before any window changes the tuner
            _known(lower_keys(d["targets"], "targets"), _TUNE_TARGET_KEYS, _TARGET_KEYS)
        name = string(d, "tuner", default="default")
        reset = d.get("reset")
        with self.lock:
            tuner = self.by_name.get(name)
            if reset is not None:
                if name not in self.by_name and len(self.by_name) >= MAX_TUNERS:
                    raise ApiError(400, f"at most {MAX_TUNERS} tuners: reuse a name",
                                   field="tuner")  # fmt: skip
                if not isinstance(reset, dict):
                    raise ApiError(400, "field 'reset' must be an object (a profile)",
                                   field="reset")  # fmt: skip
                r = lower_keys(reset, "reset")
                opts = {k: r.pop(k) for k in ("prior_sd", "drift", "noise", "noise_ms", "huber",
                                                "gate") if k in r}  # fmt: skip
                try:
                    tuner = Tuner(r, **opts)
                except (TypeError, ValueError) as err:
                    raise ApiError(400, f"field 'reset': {err}", field="reset") from None
                self.by_name[name] = tuner
            if tuner is None:
                raise ApiError(404, f"no tuner {name!r}: create it with 'reset' (a profile)",
                               field="tuner")  # fmt: skip
        windows = d.get("windows", [])
        if not isinstance(windows, list):
            raise ApiError(400, "field 'windows' must be a list", field="windows")
        steps = []
        for i, w in enumerate(windows):
            if not isinstance(w, dict):
                raise ApiError(400, f"field 'windows[{i}]' must be an object",
                               field=f"windows[{i}]")  # fmt: skip
            try:
                steps.append(tuner.update(w).as_dict())
            except ValueError as err:
                raise ApiError(400, f"field 'windows[{i}]': {err}", field=f"windows[{i}]") \
                    from None  # fmt: skip
        out = {"tuner": name, "steps": steps, "state": tuner.state()}
        if self.telemetry is not None:
            for param, value in out["state"]["params"].items():
                self.telemetry.tuned.labels(name, param).set(value)
        if boolean(d, "size", default=False) or d.get("targets") is not None:
            out["sizing"] = _tuned_size(tuner, d)
        return out

    def get(self, name: str) -> dict[str, Any]:
        """Return the state of the tuner ``name`` (404 if there is none)."""
        with self.lock:
            tuner = self.by_name.get(name)
        if tuner is None:
            raise ApiError(404, f"no tuner {name!r}", field="tuner")
        return {"tuner": name, "state": tuner.state()}


_TUNE_TARGET_KEYS = ("in_tokens", "out_tokens", "max_batch", "max_queue", "arrival_rate")


def _tuned_size(tuner, d: dict) -> dict[str, Any]:
    t = d.get("targets") or {}
    if not isinstance(t, dict):
        raise ApiError(400, "field 'targets' must be an object", field="targets")
    t = lower_keys(t, "targets")
    _known(t, _TUNE_TARGET_KEYS, _TARGET_KEYS)
    model = tuner.model(in_tokens=number(t, "in_tokens", default=None) if "in_tokens" in t
                        else None, out_tokens=number(t, "out_tokens", default=None)
                        if "out_tokens" in t else None)  # fmt: skip
    n = number(t, "max_batch", default=None, integer=True, positive=True, maximum=1 << 24)
    q = number(t, "max_queue", integer=True) if t.get("max_queue") is not None else None
    res = Replica(model, max_batch=n, max_queue=q).size(**_targets(t))
    rate = number(t, "arrival_rate", default=0.0)
    replicas = (math.ceil(rate / res.throughput) if res.feasible and res.throughput > 0
                else None)  # fmt: skip
    return {"rate": res.rate, "feasible": res.feasible, "reason": None if res.feasible
            else res.reason, "binding": res.binding, "replicas": replicas}  # fmt: skip


def add_native_routes(app, ep, tuners: Tuners | None = None) -> None:
    """Add inferplan's own ``/v1`` routes to ``app``."""
    tuners = tuners if tuners is not None else Tuners()
    tuners.telemetry = ep.telemetry
    app.state.tuners = tuners
    tag = ["inferplan"]
    errors = {400: {"model": schemas.Message, "description": "bad request: the field is named"}}

    def post(path, compute, summary, body, heavy=None):
        from .app import _body_schema

        app.add_api_route(path, ep.json_post(path, compute, heavy), methods=["POST"],
                          summary=summary, tags=tag, responses=errors,
                          openapi_extra=_body_schema(body))  # fmt: skip

    large = _large_replica
    post("/v1/analyze", analyze, "Metrics of one replica at a rate (any admission rule)",
         schemas.AnalyzeRequest, large)  # fmt: skip
    post("/v1/size", size, "The largest rate meeting any set of targets, explained",
         schemas.SizeRequest, large)  # fmt: skip
    post("/v1/optimal-concurrency", concurrency, "The smallest max batch at near-peak throughput",
         schemas.SizeRequest)  # fmt: skip
    post("/v1/analyze-many", analyze_many, "Many configurations at once (columns)",
         schemas.ManyRequest)  # fmt: skip
    post("/v1/size-many", size_many, "Size many configurations at once (columns)",
         schemas.ManyRequest)  # fmt: skip
    post("/v1/fleet/optimize", fleet_optimize,
         "Allocate a fleet with any solver; servers left out are explained",
         schemas.FleetRequest)  # fmt: skip
    post("/v1/cost-table", cost_table, "The hardware cost table", schemas.CostTableRequest)
    for path in ("/tune", "/v1/tune"):
        post(path, tuners.tune, "Update a tuner from windows of observations (and size)",
             schemas.TuneRequest)  # fmt: skip
    app.add_api_route("/v1/tune/{name}", ep.call("/v1/tune/{name}", tuners.get),
                      methods=["GET"], summary="A tuner's state", tags=tag)  # fmt: skip


def _large_replica(doc: Any) -> bool:
    """Whether to use a worker thread.

    Small replicas take microseconds and are answered inline on the event loop.
    """
    if not isinstance(doc, dict):
        return False
    n = next((v for k, v in doc.items() if k.lower() == "max_batch"), 0)
    return not (isinstance(n, (int, float)) and n <= 2048)

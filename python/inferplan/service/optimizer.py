"""The reference fleet optimizer's REST interface (optimizer-light's REST server).

Stateless: ``POST /optimizeOne`` with a whole ``SystemData``. Stateful: ``/setAccelerators``,
``/setCapacities``, ``/setModels``, ``/setServiceClasses``, ``/setServers``, then
``POST /optimize`` with a bare optimizer spec; getters and editors as the reference names them
(tests/data/reference/REST.md). Data are read by :mod:`inferplan.fleet.data` (keys without
regard to case) and allocated by :func:`inferplan.fleet.optimize`.

As in the reference, a solution that leaves some server without an allocation is answered
with HTTP 404 and no body; inferplan's own ``/v1/fleet/optimize`` answers the partial
solution with the reason per server instead. Invalid data get 400 naming the entry and field.

The state is shared by all requests: every read and write holds one lock, and ``/optimize``
works on a snapshot taken under it, so concurrent edits never tear a system.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from .. import _lazy, fleet
from ..fleet.data import DataError, system_from_parts
from ..fleet.report import allocations
from . import schemas
from ._fields import ApiError, lower_keys, parse_json

_SECTIONS = (  # (state key, list key in the data, system-data.json section)
    ("accelerators", "accelerators", "acceleratorData"),
    ("capacities", "count", "capacityData"),
    ("models", "models", "modelData"),
    ("serviceClasses", "serviceClasses", "serviceClassData"),
    ("servers", "servers", "serverData"),
)


def _name(entry: dict, key: str = "name") -> str:
    for k, v in entry.items():
        if k.lower() == key.lower():
            return v if isinstance(v, str) else str(v)
    return ""


def _check_section(list_key: str, items: Any, where: str) -> list[dict]:
    """Validate one section with the fleet data reader (errors name entry and field)."""
    if not isinstance(items, list):
        raise ApiError(400, f"binding error: field {list_key!r} must be a list", field=list_key)
    try:
        system_from_parts([(where, {list_key.lower(): items})], check_references=False)
    except DataError as err:
        raise ApiError(400, f"data error: {err}", field=list_key) from None
    return [dict(x) for x in items]


def _list_of(doc: Any, list_key: str, where: str) -> list[dict]:
    d = lower_keys(doc, "the body")
    return _check_section(list_key, d.get(list_key.lower(), []), where)


class OptimizerState:
    """The stateful optimizer's data, guarded by one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.accelerators: dict[str, dict] = {}
        self.capacities: dict[str, dict] = {}
        self.models: dict[tuple[str, str], dict] = {}
        self.model_names: list[str] = []
        self.service_classes: dict[str, dict] = {}
        self.servers: dict[str, dict] = {}

    # -- whole sections ---------------------------------------------------------------------
    def set_section(self, section: str, items: list[dict]) -> None:
        """Replace one section of the system data."""
        with self.lock:
            if section == "accelerators":
                self.accelerators = {_name(x): x for x in items}
            elif section == "capacities":
                self.capacities = {_name(x, "type"): x for x in items}
            elif section == "models":
                self.models = {(_name(x), _name(x, "acc")): x for x in items}
                self.model_names = list(dict.fromkeys(_name(x) for x in items))
            elif section == "serviceClasses":
                self.service_classes = {_name(x): x for x in items}
            elif section == "servers":
                self.servers = {_name(x): x for x in items}

    def get_section(self, section: str) -> list[dict]:
        """Return a copy of one section of the system data."""
        with self.lock:
            src = {
                "accelerators": self.accelerators, "capacities": self.capacities,
                "models": self.models, "serviceClasses": self.service_classes,
                "servers": self.servers,
            }[section]  # fmt: skip
            return copy.deepcopy(list(src.values()))

    def replace_all(self, sections: dict[str, list[dict]]) -> None:
        """Replace every section given."""
        for key, items in sections.items():
            self.set_section(key, items)

    def system_parts(self) -> list[tuple[str, dict]]:
        """Return a consistent copy of the data, as parts for the fleet reader."""
        with self.lock:
            return [
                ("accelerators", {"accelerators": copy.deepcopy(list(self.accelerators.values()))}),
                ("capacities", {"count": copy.deepcopy(list(self.capacities.values()))}),
                ("models", {"models": copy.deepcopy(list(self.models.values()))}),
                ("serviceClasses",
                 {"serviceclasses": copy.deepcopy(list(self.service_classes.values()))}),
                ("servers", {"servers": copy.deepcopy(list(self.servers.values()))}),
            ]  # fmt: skip

    def record_desired(self, solution: dict[str, dict]) -> None:
        """Write each server's new allocation into its ``desiredAlloc``, as the reference does."""
        with self.lock:
            for name, alloc in solution.items():
                if name in self.servers:
                    self.servers[name] = dict(self.servers[name], desiredAlloc=alloc)


def _solution_json(sol, system) -> dict[str, dict]:
    """Return the reference's AllocationSolution.

    Its load carries ``throughput`` (0 unless given).
    """
    out = allocations(sol)
    if system.rules == "g3":
        for alloc in out.values():
            ld = alloc["load"]
            alloc["load"] = {
                "arrivalRate": ld["arrivalRate"], "throughput": 0,
                "avgInTokens": ld["avgInTokens"], "avgOutTokens": ld["avgOutTokens"],
            }  # fmt: skip
    return out


def _optimize(system) -> dict[str, Any]:
    from .native import check_fleet_sizes

    check_fleet_sizes(system)
    try:
        sol = fleet.optimize(system, cov="ignore")  # the reference sizes for Poisson
    except (DataError, ValueError) as err:
        raise ApiError(400, f"data error: {err}") from None
    if sol.unallocated:
        names = sorted(system.servers[s].name for s in sol.unallocated)
        raise ApiError(404, f"no feasible allocation for servers: [{', '.join(names)}]")
    return {"allocations": _solution_json(sol, system)}


def _settings_parts(doc: Any) -> list[tuple[str, dict]]:
    d = lower_keys(doc if doc is not None else {}, "the body")
    if isinstance(d.get("optimizer"), dict):  # also accept the wrapped OptimizerData
        d = lower_keys(d["optimizer"], "optimizer")
    return [("optimizer", {"optimizer": d})]


def optimize_state(state: OptimizerState, doc: Any) -> dict[str, Any]:
    """``POST /optimize``: allocate the stored system under the given optimizer spec."""
    parts = state.system_parts() + _settings_parts(doc)
    try:
        system = system_from_parts(parts, source="state")
    except DataError as err:
        raise ApiError(400, f"data error: {err}") from None
    out = _optimize(system)
    state.record_desired(out["allocations"])
    return out


def optimize_one(state: OptimizerState, doc: Any) -> dict[str, Any]:
    """Serve ``POST /optimizeOne``: allocate the system in the body.

    Allocate the system in the body (it becomes the state, so the getters show it
    afterwards, as in the reference).
    """
    top = lower_keys(doc, "the body")
    if "system" not in top:
        raise ApiError(400, "binding error: field 'system' is required", field="system")
    sys_d = lower_keys(top["system"], "system")
    sections: dict[str, list[dict]] = {}
    for key, list_key, section in _SECTIONS:
        raw = sys_d.get(section.lower())
        if raw is None:
            continue
        sections[key] = _list_of(raw, list_key, f"system.{section}")
    try:
        system = fleet.system_from_dict(doc, source="system")
    except DataError as err:
        raise ApiError(400, f"data error: {err}") from None
    state.replace_all(sections)
    out = _optimize(system)
    state.record_desired(out["allocations"])
    return out


def _not_found(kind: str, name: str) -> ApiError:
    return ApiError(404, f"{kind} {name!r} not found")


def add_optimizer_routes(app, ep, prefix: str, state: OptimizerState) -> None:
    """Add the reference optimizer's routes to ``app`` under ``prefix``."""
    tag = ["reference optimizer (optimizer-light)"]
    errors = {
        400: {"model": schemas.Message, "description": "bad data: entry and field named"},
        404: {"description": "no feasible allocation (no body), or an unknown name"},
    }

    def post(path, compute, summary, body=None, empty_404=False):
        from .app import _body_schema

        app.add_api_route(
            prefix + path, ep.json_post(prefix + path, compute, empty_404=empty_404),
            methods=["POST"], summary=summary, tags=tag, responses=errors,
            openapi_extra=_body_schema(body) if body is not None else None,
        )  # fmt: skip

    def get(path, compute, summary):
        app.add_api_route(
            prefix + path, ep.call(prefix + path, compute), methods=["GET"], summary=summary,
            tags=tag, responses=errors,
        )  # fmt: skip

    post(
        "/optimizeOne",
        lambda doc: optimize_one(state, doc),
        "Allocate the fleet in the body (stateless)",
        schemas.SystemData,
        empty_404=True,
    )
    post("/optimize", lambda doc: optimize_state(state, doc),
         "Allocate the stored fleet under this optimizer spec", schemas.OptimizerSpec,
         empty_404=True)  # fmt: skip

    # -- whole sections -----------------------------------------------------------------------
    for key, list_key, section in _SECTIONS:
        setter = {"accelerators": "/setAccelerators", "capacities": "/setCapacities",
                  "models": "/setModels", "serviceClasses": "/setServiceClasses",
                  "servers": "/setServers"}[key]  # fmt: skip
        getter = setter.replace("/set", "/get")

        def set_section(doc, key=key, list_key=list_key, section=section):
            state.set_section(key, _list_of(doc, list_key, section))

        post(setter, set_section, f"Replace all {key}")
        if key != "models":
            get(getter, lambda key=key, list_key=list_key: {list_key: state.get_section(key)},
                f"All {key}")  # fmt: skip
    get("/getModels", lambda: list(state.model_names), "Names of all models")

    # -- accelerators ---------------------------------------------------------------------------
    def get_one(table: str, kind: str):
        def compute(name: str):
            with state.lock:
                item = getattr(state, table).get(name)
            if item is None:
                raise _not_found(kind, name)
            return item

        return compute

    def remove_one(table: str, kind: str):
        def compute(name: str):
            with state.lock:
                item = getattr(state, table).pop(name, None)
            if item is None:
                raise _not_found(kind, name)

        return compute

    def add_one(table: str, list_key: str, key: str = "name"):
        def compute(doc):
            (item,) = _check_section(list_key, [doc], list_key)
            with state.lock:
                getattr(state, table)[_name(item, key)] = item

        return compute

    get("/getAccelerator/{name}", get_one("accelerators", "accelerator"), "One accelerator")
    post("/addAccelerator", add_one("accelerators", "accelerators"), "Add an accelerator")
    get("/removeAccelerator/{name}", remove_one("accelerators", "accelerator"),
        "Remove an accelerator")  # fmt: skip
    get("/getCapacity/{name}", get_one("capacities", "capacity of type"), "One type's count")
    post("/setCapacity", add_one("capacities", "count", "type"), "Set one type's count")
    get("/removeCapacity/{name}", remove_one("capacities", "capacity of type"),
        "Remove one type's count")  # fmt: skip
    get("/getServer/{name}", get_one("servers", "server"), "One server")
    post("/addServer", add_one("servers", "servers"), "Add a server")
    get("/removeServer/{name}", remove_one("servers", "server"), "Remove a server")
    get("/getServiceClass/{name}", get_one("service_classes", "service class"),
        "One service class")  # fmt: skip

    def remove_class(name: str):
        with state.lock:
            item = state.service_classes.pop(name, None)
        if item is None:
            raise _not_found("service class", name)
        return item

    get("/removeServiceClass/{name}", remove_class, "Remove a service class")

    def add_class(name: str, priority: str):
        try:
            prio = int(priority)
        except ValueError:
            raise ApiError(400, f"data error: field 'priority' must be an integer, got "
                           f"{priority!r}", field="priority") from None  # fmt: skip
        item = {"name": name, "priority": prio, "modelTargets": []}
        _check_section("serviceClasses", [item], "serviceClasses")
        with state.lock:
            state.service_classes[name] = item
        return item

    get("/addServiceClass/{name}/{priority}", add_class, "Add a service class")

    def add_targets(doc):
        (spec,) = _check_section("serviceClasses", [doc], "serviceClasses")
        name = _name(spec)
        new = lower_keys(spec, "the body").get("modeltargets") or []
        with state.lock:
            cls = state.service_classes.get(name)
            if cls is None:
                cls = {"name": name, "priority": lower_keys(spec, "the body").get("priority"),
                       "modelTargets": []}  # fmt: skip
            targets = {_name(t, "model"): t for t in
                       (lower_keys(cls, "class").get("modeltargets") or [])}  # fmt: skip
            for t in new:
                targets[_name(t, "model")] = t
            cls = {k: v for k, v in cls.items() if k.lower() != "modeltargets"}
            cls["modelTargets"] = list(targets.values())
            state.service_classes[name] = cls
            return copy.deepcopy(cls)

    post("/addServiceClassModelTargets", add_targets, "Add model targets to a service class")

    def class_target(remove: bool):
        def compute(name: str, model: str):
            with state.lock:
                cls = state.service_classes.get(name)
                if cls is None:
                    raise _not_found("service class", name)
                targets = lower_keys(cls, "class").get("modeltargets") or []
                hit = next((t for t in targets if _name(t, "model") == model), None)
                if hit is None:
                    raise _not_found(f"target of class {name!r} for model", model)
                if remove:
                    cls = {k: v for k, v in cls.items() if k.lower() != "modeltargets"}
                    cls["modelTargets"] = [t for t in targets if t is not hit]
                    state.service_classes[name] = cls
                return hit

        return compute

    get("/getServiceClassModelTarget/{name}/{model}", class_target(False),
        "The targets of a (class, model)")  # fmt: skip
    get("/removeServiceClassModelTarget/{name}/{model}", class_target(True),
        "Remove the targets of a (class, model)")  # fmt: skip

    # -- models and per (model, accelerator) performance data ----------------------------------
    def get_model(name: str):
        with state.lock:
            perf = [v for (m, _), v in state.models.items() if m == name]
            known = name in state.model_names
        if not perf and not known:
            raise _not_found("model", name)
        return {"models": perf}

    def add_model(name: str):
        with state.lock:
            if name not in state.model_names:
                state.model_names.append(name)

    def remove_model(name: str):
        with state.lock:
            if name not in state.model_names:
                raise _not_found("model", name)
            state.model_names.remove(name)
            state.models = {k: v for k, v in state.models.items() if k[0] != name}

    get("/getModel/{name}", get_model, "A model's performance data")
    get("/addModel/{name}", add_model, "Add a model by name")
    get("/removeModel/{name}", remove_model, "Remove a model and its performance data")

    def get_perf(model: str, acc: str):
        with state.lock:
            item = state.models.get((model, acc))
        if item is None:
            raise _not_found(f"performance data of model {model!r} on accelerator", acc)
        return item

    def add_perf(doc):
        (item,) = _check_section("models", [doc], "models")
        with state.lock:
            state.models[(_name(item), _name(item, "acc"))] = item
            if _name(item) not in state.model_names:
                state.model_names.append(_name(item))

    def remove_perf(model: str, acc: str):
        with state.lock:
            if state.models.pop((model, acc), None) is None:
                raise _not_found(f"performance data of model {model!r} on accelerator", acc)

    get("/getModelAcceleratorPerf/{model}/{acc}", get_perf, "Perf data of a (model, accelerator)")
    post("/addModelAcceleratorPerf", add_perf, "Add perf data of a (model, accelerator)")
    get("/removeModelAcceleratorPerf/{model}/{acc}", remove_perf,
        "Remove perf data of a (model, accelerator)")  # fmt: skip


__all__ = ["OptimizerState", "add_optimizer_routes", "optimize_one", "optimize_state",
           "parse_json"]  # fmt: skip

__dir__ = _lazy.public_dir(__name__)

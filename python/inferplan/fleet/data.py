"""Fleet data: accelerators, capacity, model profiles, service classes, servers.

Two JSON layouts are read (docs/model.md section 4): the current one ("g3": ``perfParms`` with
alpha/beta/gamma, ``slo-ttft``, ``avgInTokens``/``avgOutTokens``) and the seed's ("g1":
top-level alpha/beta, ``slo-ttw``, ``avgLength``). Either as a directory of ``*-data.json``
files or as one ``system-data.json`` holding them all. Keys are matched case-insensitively.
The same dataclasses build a system in code; :func:`system_to_dict` writes one back.

Accelerators, power curves and model profiles are the hardware vocabulary of
:mod:`inferplan.hardware.specs` (``fleet.Accelerator is hardware.Accelerator``; the fleet's
``ModelProfile`` is ``hardware.Profile``): the loader maps the reference's fields into them
(``cost`` -> ``cost_per_hour``, ``memSize``/``memBW`` -> ``mem_size_gb``/``mem_bw_gbps``,
``power.idle/midPower/midUtil/full`` -> ``idle_w/mid_w/mid_util/full_w``). Rates are per
second in the types (``Load.rate_per_s``) and per minute in the files (``arrivalRate``).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from .. import _lazy, _validate
from ..hardware.specs import Accelerator, PowerCurve, Profile, _trusted

# The fleet's names for the shared hardware vocabulary (the same types, not copies).
ModelProfile = Profile

__all__ = [
    "DEFAULT_PRIORITY",
    "SATURATION_POLICIES",
    "Accelerator",
    "CurrentAllocation",
    "DataError",
    "DataWarning",
    "Load",
    "ModelProfile",
    "OptimizerSettings",
    "PowerCurve",
    "Profile",
    "Rules",
    "Server",
    "ServiceClass",
    "System",
    "Target",
    "accelerator_to_dict",
    "load_system",
    "profile_to_dict",
    "system_from_dict",
    "system_from_parts",
    "system_to_dict",
    "validate",
]
__dir__ = _lazy.public_dir(__name__)

Rules = Literal["g3", "g1"]
SATURATION_POLICIES = ("None", "PriorityExhaustive", "RoundRobin", "PriorityRoundRobin")
DEFAULT_PRIORITY = 100


_EXACT = 2**53  # integers a float holds exactly: the fast path of _num takes these


class DataError(ValueError):
    """Invalid fleet data; the message names the file, the entry, the field and the value."""


class DataWarning(UserWarning):
    """Fleet data that is valid but probably not what was meant.

    A value the reference's semantics read as "not set" (docs/model.md 4). The message names
    the file, the entry, the field and what the value is taken as.
    """


@dataclass(frozen=True)
class Target:
    """SLO targets of a (class, model); None = not set."""

    itl_ms: float | None = None
    ttft_ms: float | None = None
    ttw_ms: float | None = None
    tps: float | None = None


@dataclass(frozen=True)
class ServiceClass:
    """A service class: its name, priority and targets per model."""

    name: str
    priority: int = DEFAULT_PRIORITY
    targets: Mapping[str, Target] = field(default_factory=dict)


@dataclass(frozen=True, init=False)
class Load:
    """Offered load of a server.

    ``rate_per_s`` requests per second, the mean prompt and output tokens, and optionally
    the coefficients of variation of the interarrival and service times (the reference's
    ``arrivalCOV`` and ``serviceCOV``).

    The data files give the rate per MINUTE (``arrivalRate``); the loader converts it and
    :attr:`rate_per_min` gives it back exactly as read. The former per-minute field
    ``arrival_rate`` (keyword, attribute and first positional argument) still works and warns:
    it is deprecated.
    """

    rate_per_s: float
    in_tokens: float
    out_tokens: float
    arrival_cov: float | None
    """Coefficient of variation of the gaps between arrivals (``arrivalCOV``); None or 0:
    not set. Used in sizing with ``cov="use"`` (docs/allocation.md)."""
    service_cov: float | None
    """Coefficient of variation of a request's service time (``serviceCOV``), taken as
    that of its output length; None or 0: not set. Used with ``cov="use"``."""
    # the per-minute rate as read (None when built from a per-second rate)
    _per_min: float | None = field(default=None, init=False, repr=False, compare=False)

    def __init__(
        self,
        *args: float | None,
        rate_per_s: float = 0.0,
        in_tokens: float = 0.0,
        out_tokens: float = 0.0,
        arrival_cov: float | None = None,
        service_cov: float | None = None,
        arrival_rate: float | None = None,
    ) -> None:
        per_min = None
        names = ("arrival_rate", "in_tokens", "out_tokens", "arrival_cov", "service_cov")
        if len(args) > len(names):
            raise TypeError(f"Load takes at most {len(names)} positional arguments")
        if args:  # the former positional order: (arrival_rate per minute, in, out, covs)
            warnings.warn(
                "positional Load(arrival_rate, in_tokens, out_tokens, ...) is deprecated (the "
                "rate was per minute); use Load(rate_per_s=..., in_tokens=..., out_tokens=...)",
                DeprecationWarning,
                stacklevel=2,
            )
            given = dict(zip(names, args, strict=False))
            arrival_rate = given.get("arrival_rate", arrival_rate)
            in_tokens = given.get("in_tokens", in_tokens)  # type: ignore[assignment]
            out_tokens = given.get("out_tokens", out_tokens)  # type: ignore[assignment]
            arrival_cov = given.get("arrival_cov", arrival_cov)
            service_cov = given.get("service_cov", service_cov)
        elif arrival_rate is not None:
            warnings.warn(
                "Load(arrival_rate=) (requests per minute) is deprecated; use "
                "Load(rate_per_s=) or Load.from_per_minute()",
                DeprecationWarning,
                stacklevel=2,
            )
        if arrival_rate is not None:
            per_min = arrival_rate
            rate_per_s = arrival_rate / 60.0
        set_ = object.__setattr__
        set_(self, "rate_per_s", rate_per_s)
        set_(self, "in_tokens", in_tokens)
        set_(self, "out_tokens", out_tokens)
        set_(self, "arrival_cov", arrival_cov)
        set_(self, "service_cov", service_cov)
        set_(self, "_per_min", per_min)

    @classmethod
    def from_per_minute(
        cls,
        rate_per_min: float,
        in_tokens: float = 0.0,
        out_tokens: float = 0.0,
        arrival_cov: float | None = None,
        service_cov: float | None = None,
    ) -> Load:
        """Return a load whose rate is given per minute, as in the data files (``arrivalRate``)."""
        return _trusted(
            cls,
            rate_per_s=rate_per_min / 60.0,
            in_tokens=in_tokens,
            out_tokens=out_tokens,
            arrival_cov=arrival_cov,
            service_cov=service_cov,
            _per_min=rate_per_min,
        )

    @property
    def rate_per_min(self) -> float:
        """The rate in requests per minute: as read when it was given so, else x 60."""
        per_min = self._per_min
        if per_min is not None and per_min / 60.0 == self.rate_per_s:
            return per_min
        return self.rate_per_s * 60.0

    @property
    def arrival_rate(self) -> float:
        """Deprecated: the rate per minute (:attr:`rate_per_min`)."""
        warnings.warn(
            "Load.arrival_rate (requests per minute) is deprecated; use Load.rate_per_s or "
            "Load.rate_per_min",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.rate_per_min


@dataclass(frozen=True)
class CurrentAllocation:
    """A server's current allocation: accelerator, replicas, max batch and cost."""

    accelerator: str = ""
    num_replicas: int = 0
    max_batch: int = 0
    cost: float = 0.0


@dataclass(frozen=True)
class Server:
    """A model server: its class, model, offered load, current allocation and limits."""

    name: str
    service_class: str
    model: str
    load: Load = field(default_factory=Load)
    current: CurrentAllocation = field(default_factory=CurrentAllocation)
    min_replicas: int = 0
    max_batch_size: int = 0
    max_queue_size: int = 0
    keep_accelerator: bool = False


@dataclass(frozen=True)
class OptimizerSettings:
    """The optimizer's settings, as the reference's ``optimizer`` section gives them."""

    unlimited: bool = False
    heterogeneous: bool = False
    milp: bool = False
    delayed_best_effort: bool = False
    saturation_policy: str = "None"


@dataclass(frozen=True)
class System:
    """Everything the allocation needs. ``rules`` selects the sizing rules (g3 or g1)."""

    accelerators: tuple[Accelerator, ...]
    capacity: Mapping[str, int]
    profiles: tuple[Profile, ...]
    classes: tuple[ServiceClass, ...]
    servers: tuple[Server, ...]
    settings: OptimizerSettings = field(default_factory=OptimizerSettings)
    rules: Rules = "g3"
    source: str = "<code>"

    def with_settings(self, **changes: Any) -> System:
        """Return a copy of the system with the given optimizer settings changed."""
        return replace(self, settings=replace(self.settings, **changes))

    def with_capacity(self, capacity: Mapping[str, int]) -> System:
        """Return a copy of the system with ``capacity`` (cards per type) instead of its own."""
        return replace(self, capacity=dict(capacity))


# ---------------------------------------------------------------------------------------------
# JSON reading


class _Ctx:
    """Where we are in the input, for error messages."""

    def __init__(self, file: str, entry: str):
        self.file = file
        self.entry = entry

    def fail(self, fieldname: str, message: str, value: Any = ...) -> DataError:
        got = "" if value is ... else f", got {value!r}"
        return DataError(f"{self.file}: {self.entry}: field {fieldname!r} {message}{got}")


def _lower(d: Any, ctx: _Ctx, what: str) -> dict[str, Any]:
    if type(d) is dict:  # what json gives: str keys
        try:
            return dict(zip(map(str.lower, d), d.values(), strict=True))
        except TypeError:  # a key that is not a str (a dict built in code)
            pass
    elif not isinstance(d, Mapping):
        raise DataError(
            f"{ctx.file}: {ctx.entry}: {what} must be an object, got {type(d).__name__}"
        )
    return {str(k).lower(): v for k, v in d.items()}


def _num(
    d: dict,
    key: str,
    ctx: _Ctx,
    *,
    default: Any = ...,
    minimum: float | None = 0.0,
    maximum: float | None = None,
    positive: bool = False,
    integer: bool = False,
) -> Any:
    """Return a number field, checked by :func:`inferplan._validate.number`.

    Integers are bounded by ``MAX_COUNT`` unless ``maximum`` says otherwise.

    The common case (a plain float or int within the bounds) is answered here without the
    general check; anything else goes through it, so the errors are the same.
    """
    v = d.get(key.lower())
    if v is None:
        if default is ...:
            raise ctx.fail(key, "is required")
        return default
    if integer and maximum is None:
        maximum = _validate.MAX_COUNT
    t = type(v)
    if t is int and -_EXACT < v < _EXACT:
        x = v if integer else float(v)
    elif t is float and not integer and -math.inf < v < math.inf:
        x = v
    else:
        x = None
    if x is not None and (
        (minimum is None or positive or x >= minimum)
        and (not positive or x > 0.0)
        and (maximum is None or x <= maximum)
    ):
        return x
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ctx.fail(key, "must be a number", v)
    return _validate.number(
        v,
        f"field {key!r}",
        where=f"{ctx.file}: {ctx.entry}",
        minimum=None if positive else minimum,
        above=0.0 if positive else None,
        maximum=maximum,
        integer=integer,
        error=DataError,
    )


def _warn(ctx: _Ctx, fieldname: str, message: str, value: Any) -> None:
    warnings.warn(
        DataWarning(f"{ctx.file}: {ctx.entry}: field {fieldname!r} is {value!r}: {message}"),
        stacklevel=3,
    )


def _str(d: dict, key: str, ctx: _Ctx, *, default: Any = ...) -> str:
    v = d.get(key.lower())
    if v is None:
        if default is ...:
            raise ctx.fail(key, "is required")
        return default
    if not isinstance(v, str):
        raise ctx.fail(key, "must be a string", v)
    return v


def _bool(d: dict, key: str, ctx: _Ctx, default: bool = False) -> bool:
    v = d.get(key.lower(), default)
    if v is None:
        return default
    if not isinstance(v, bool):
        raise ctx.fail(key, "must be true or false", v)
    return v


def _list(d: dict, key: str, file: str, where: str) -> list:
    v = d.get(key.lower(), [])
    if v is None:
        return []
    if not isinstance(v, list):
        raise DataError(f"{file}: {where}: field {key!r} must be a list, got {type(v).__name__}")
    return v


def _label(kind: str, i: int, raw: Any) -> str:
    name = raw.get("name") if isinstance(raw, Mapping) else None
    name = (
        name
        if name is not None
        else next((v for k, v in raw.items() if str(k).lower() == "name"), None)
        if isinstance(raw, Mapping)
        else None
    )
    return f"{kind}[{i}]" + (f" ({name!r})" if name is not None else "")


def _accelerators(items: list, file: str) -> list[Accelerator]:
    out = []
    for i, raw in enumerate(items):
        ctx = _Ctx(file, _label("accelerators", i, raw))
        d = _lower(raw, ctx, "entry")
        if d.get("power") is None:
            warnings.warn(
                DataWarning(
                    f"{ctx.file}: {ctx.entry}: field 'power' is missing: its power is taken "
                    "as 0 W (the power and cost+energy objectives refuse it)"
                ),
                stacklevel=2,
            )
        p = _lower(d.get("power", {}) or {}, ctx, "power")
        mid_util = _num(p, "midUtil", ctx, default=0.5)
        if not 0 < mid_util < 1:
            raise ctx.fail("power.midUtil", "must be in (0, 1)", mid_util)
        idle, mid = _num(p, "idle", ctx, default=0.0), _num(p, "midPower", ctx, default=0.0)
        # a curve without its full power would report 0 W: required when power is given
        full = _num(p, "full", ctx, positive=True) if p else 0.0
        if not idle <= mid <= full:
            raise ctx.fail(
                "power", "must rise with utilization: need idle <= midPower <= full",
                {"idle": idle, "midPower": mid, "full": full},
            )  # fmt: skip
        name = _str(d, "name", ctx)
        # every field checked above and by _num/_str: the types' fast path (the same objects
        # their constructors give, without checking again)
        curve = _trusted(PowerCurve, idle_w=idle, mid_w=mid, mid_util=mid_util, full_w=full)
        out.append(
            _trusted(
                Accelerator,
                name=name,
                power=curve,
                cost_per_hour=_num(d, "cost", ctx),
                frequency=None,
                card=None,
                mig_profile=None,
                power_share=None,
                type=_str(d, "type", ctx, default=name),
                multiplicity=_num(d, "multiplicity", ctx, default=1, integer=True, minimum=1),
                mem_size_gb=_num(d, "memSize", ctx, default=0.0),
                mem_bw_gbps=_num(d, "memBW", ctx, default=0.0),
            )
        )
    return out


def _capacity(items: list, file: str) -> dict[str, int]:
    cap: dict[str, int] = {}
    for i, raw in enumerate(items):
        ctx = _Ctx(file, f"count[{i}]")
        d = _lower(raw, ctx, "entry")
        t = _str(d, "type", ctx)
        ctx.entry = f"count[{i}] ({t!r})"
        cap[t] = cap.get(t, 0) + _num(d, "count", ctx, integer=True)
    return cap


def _profiles(items: list, file: str) -> tuple[list[Profile], bool]:
    out, g1 = [], False
    for i, raw in enumerate(items):
        ctx = _Ctx(file, _label("models", i, raw))
        d = _lower(raw, ctx, "entry")
        name, acc = _str(d, "name", ctx), _str(d, "acc", ctx)
        ctx.entry = f"models[{i}] ({name!r} on {acc!r})"
        if "perfparms" in d:
            pp = _lower(d["perfparms"], ctx, "perfParms")
            alpha, beta = _num(pp, "alpha", ctx), _num(pp, "beta", ctx)
            gamma = _num(pp, "gamma", ctx, default=0.0)
            kind = "PrefillDecode"
        else:
            alpha, beta, gamma = _num(d, "alpha", ctx), _num(d, "beta", ctx), 0.0
            kind = "DecodeOnly"
            g1 = True
        if alpha + beta <= 0:
            raise ctx.fail("alpha", "plus beta must be > 0 (a zero iteration time)", alpha)
        out.append(
            _trusted(
                Profile,
                model=name,
                accelerator=acc,
                alpha=alpha,
                beta=beta,
                gamma=gamma,
                kind=kind,
                frequency_mhz=None,
                max_num_tokens=8192,
                acc_count=_num(d, "accCount", ctx, default=1, integer=True, minimum=1),
                max_batch_size=_num(
                    d, "maxBatchSize", ctx, integer=True, minimum=1, maximum=_validate.MAX_BATCH
                ),
                at_tokens=_num(d, "atTokens", ctx, integer=True, minimum=1),
            )
        )
    return out, g1


def _opt_target(d: dict, key: str, ctx: _Ctx) -> float | None:
    v = _num(d, key, ctx, default=None)
    if v == 0:
        _warn(ctx, key, "0 means not set (docs/model.md 4), so this target is ignored", d[key])
    return v if v else None


def _classes(items: list, file: str) -> tuple[list[ServiceClass], bool]:
    out, g1 = [], False
    for i, raw in enumerate(items):
        ctx = _Ctx(file, _label("serviceClasses", i, raw))
        d = _lower(raw, ctx, "entry")
        name = _str(d, "name", ctx)
        prio = d.get("priority")
        if prio is None:
            prio = DEFAULT_PRIORITY  # docs/model.md 4: missing -> 100
        elif isinstance(prio, bool) or not isinstance(prio, (int, float)):
            raise ctx.fail("priority", "must be an integer in [1, 100] (1 = highest)", prio)
        elif not (math.isfinite(prio) and float(prio).is_integer() and 1 <= prio <= 100):
            _warn(ctx, "priority", f"outside [1, 100]: taken as {DEFAULT_PRIORITY}, the "
                  "lowest (docs/model.md 4)", prio)  # fmt: skip
            prio = DEFAULT_PRIORITY
        targets: dict[str, Target] = {}
        for j, rt in enumerate(_list(d, "modelTargets", file, ctx.entry)):
            tctx = _Ctx(file, f"serviceClasses[{i}] ({name!r}).modelTargets[{j}]")
            t = _lower(rt, tctx, "entry")
            model = _str(t, "model", tctx)
            tctx.entry += f" ({model!r})"
            if "slo-ttw" in t:
                g1 = True
            targets[model] = Target(
                itl_ms=_opt_target(t, "slo-itl", tctx),
                ttft_ms=_opt_target(t, "slo-ttft", tctx),
                ttw_ms=_opt_target(t, "slo-ttw", tctx),
                tps=_opt_target(t, "slo-tps", tctx),
            )
        out.append(ServiceClass(name=name, priority=int(prio), targets=targets))
    return out, g1


def _servers(items: list, file: str) -> tuple[list[Server], bool]:
    out, g1 = [], False
    for i, raw in enumerate(items):
        ctx = _Ctx(file, _label("servers", i, raw))
        d = _lower(raw, ctx, "entry")
        name = _str(d, "name", ctx)
        cur = _lower(d.get("currentalloc", {}) or {}, ctx, "currentAlloc")
        ld = _lower(cur.get("load", {}) or {}, ctx, "currentAlloc.load")
        lctx = _Ctx(file, f"servers[{i}] ({name!r}).currentAlloc.load")
        tokens = dict(default=0.0, maximum=_validate.MAX_EXACT)
        out_key = "avgLength" if "avglength" in ld else "avgOutTokens"
        if out_key == "avgLength":
            g1 = True
            in_tok = 0.0
        else:
            in_tok = _num(ld, "avgInTokens", lctx, **tokens)
        out_tok = _num(ld, out_key, lctx, **tokens)
        if 0 < out_tok < 1:  # every request emits at least one token
            raise lctx.fail(out_key, "must be 0 (no load) or >= 1 (mean output tokens)", out_tok)
        rate = _num(ld, "arrivalRate", lctx, default=0.0)
        if out_tok == 0 and rate > 0:
            _warn(lctx, out_key, f"with arrivalRate {rate:g} > 0 this is taken as zero load: "
                  "minNumReplicas replicas and no sizing (docs/model.md 4)", 0)  # fmt: skip
        load = Load.from_per_minute(
            rate,
            in_tokens=in_tok,
            out_tokens=out_tok,
            arrival_cov=_num(ld, "arrivalCOV", lctx, default=None, maximum=_validate.MAX_CV),
            service_cov=_num(ld, "serviceCOV", lctx, default=None, maximum=_validate.MAX_CV),
        )
        cctx = _Ctx(file, f"servers[{i}] ({name!r}).currentAlloc")
        current = CurrentAllocation(
            accelerator=_str(cur, "accelerator", cctx, default=""),
            num_replicas=_num(cur, "numReplicas", cctx, default=0, integer=True),
            max_batch=_num(cur, "maxBatch", cctx, default=0, integer=True),
            cost=_num(cur, "cost", cctx, default=0.0),
        )
        out.append(
            Server(
                name=name,
                service_class=_str(d, "class", ctx, default="Default"),
                model=_str(d, "model", ctx),
                load=load,
                current=current,
                min_replicas=_num(d, "minNumReplicas", ctx, default=0, integer=True),
                max_batch_size=_server_batch(d, ctx),
                max_queue_size=_num(d, "maxQueueSize", ctx, default=0, integer=True),
                keep_accelerator=_bool(d, "keepAccelerator", ctx),
            )
        )
    return out, g1


def _server_batch(d: dict, ctx: _Ctx) -> int:
    n = _num(d, "maxBatchSize", ctx, default=0, integer=True, maximum=_validate.MAX_BATCH)
    if n == 0 and "maxbatchsize" in d:
        _warn(ctx, "maxBatchSize", "0 means not set (docs/model.md 4), so the batch comes "
              "from the model profile", 0)  # fmt: skip
    return n


def _settings(raw: Any, file: str) -> OptimizerSettings:
    ctx = _Ctx(file, "optimizer")
    d = _lower(raw or {}, ctx, "optimizer")
    policy = _str(d, "saturationPolicy", ctx, default="None")
    match = {p.lower(): p for p in SATURATION_POLICIES}
    if policy.lower() not in match:
        raise ctx.fail(
            "saturationPolicy", f"must be one of {', '.join(SATURATION_POLICIES)}", policy
        )
    return OptimizerSettings(
        unlimited=_bool(d, "unlimited", ctx),
        heterogeneous=_bool(d, "heterogeneous", ctx),
        milp=_bool(d, "milpSolver", ctx),
        delayed_best_effort=_bool(d, "delayedBestEffort", ctx),
        saturation_policy=match[policy.lower()],
    )


_SECTIONS = {  # section key in system-data.json -> list key inside it
    "acceleratordata": "accelerators",
    "capacitydata": "count",
    "modeldata": "models",
    "serviceclassdata": "serviceClasses",
    "serverdata": "servers",
    "optimizerdata": "optimizer",
}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON: {err}") from None
    except RecursionError:
        raise DataError(f"{path}: not valid fleet data: JSON nested too deeply") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not a UTF-8 text file ({err.reason})") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read: {err.strerror}") from None


def _parts_from_file(path: Path) -> list[tuple[str, dict]]:
    """(file label, top-level object with lower-cased keys) for each part in a file."""
    doc = _read_json(path)
    ctx = _Ctx(str(path), "top level")
    top = _lower(doc, ctx, "the document")
    if "system" in top:
        sys_d = _lower(top["system"], ctx, "system")
        parts = []
        for key, value in sys_d.items():
            if key in _SECTIONS:
                parts.append((f"{path}: system.{key}", _lower(value, ctx, key)))
        if not parts:
            raise DataError(
                f"{path}: system: no fleet data (expected one of acceleratorData, "
                f"capacityData, modelData, serviceClassData, serverData, optimizerData), "
                f"got keys {sorted(top['system'])}"
            )
        return parts
    if not any(key.lower() in top for key in _SECTIONS.values()):
        raise DataError(
            f"{path}: no fleet data (expected 'system' or one of "
            f"{', '.join(_SECTIONS.values())}), got keys {sorted(doc)}"
        )
    return [(str(path), top)]


def load_system(path: str | Path, *, rules: Rules | None = None) -> System:
    """Read a system from a directory of ``*-data.json`` files or from one JSON file.

    ``rules`` forces the g3 or g1 sizing rules; by default the layout decides (top-level
    alpha/beta profiles, ``slo-ttw`` or ``avgLength`` mean g1).
    """
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.glob("*-data.json") if f.name != "system-data.json")
        if not files:
            files = [p / "system-data.json"]
            if not files[0].exists():
                raise DataError(f"{p}: no *-data.json files in this directory")
    elif p.exists():
        files = [p]
    else:
        raise DataError(f"{p}: no such file or directory")
    parts: list[tuple[str, dict]] = []
    for f in files:
        parts.extend(_parts_from_file(f))
    return system_from_parts(parts, rules=rules, source=str(p))


def system_from_dict(
    doc: Mapping[str, Any], *, rules: Rules | None = None, source: str = "<dict>"
) -> System:
    """Return a system from an already parsed ``{"system": {...}}`` (or flat) document."""
    ctx = _Ctx(source, "top level")
    top = _lower(doc, ctx, "the document")
    if "system" in top:
        sys_d = _lower(top["system"], ctx, "system")
        parts = [
            (f"{source}: system.{k}", _lower(v, ctx, k)) for k, v in sys_d.items() if k in _SECTIONS
        ]
    else:
        parts = [(source, top)]
    return system_from_parts(parts, rules=rules, source=source)


def system_from_parts(
    parts: Iterable[tuple[str, dict]],
    *,
    rules: Rules | None = None,
    source: str = "<parts>",
    check_references: bool = True,
) -> System:
    """Return a system from ``(file, section)`` pairs.

    ``check_references=False`` validates each entry but not the names one section gives
    another (a profile's accelerator), for checking one section on its own before the others
    are known.
    """
    accs: list[Accelerator] = []
    cap: dict[str, int] = {}
    profiles: list[Profile] = []
    classes: list[ServiceClass] = []
    servers: list[Server] = []
    settings = OptimizerSettings()
    g1 = False
    where: list[tuple[str, int, Profile]] = []  # each profile's file and index
    for file, top in parts:
        if "accelerators" in top:
            accs += _accelerators(_list(top, "accelerators", file, "top level"), file)
        if "count" in top:
            for t, c in _capacity(_list(top, "count", file, "top level"), file).items():
                cap[t] = cap.get(t, 0) + c
        if "models" in top:
            got, flag = _profiles(_list(top, "models", file, "top level"), file)
            profiles += got
            where += [(file, i, p) for i, p in enumerate(got)]
            g1 |= flag
        if "serviceclasses" in top:
            got_c, flag = _classes(_list(top, "serviceClasses", file, "top level"), file)
            classes += got_c
            g1 |= flag
        if "servers" in top:
            got_s, flag = _servers(_list(top, "servers", file, "top level"), file)
            servers += got_s
            g1 |= flag
        if "optimizer" in top:
            settings = _settings(top["optimizer"], file)
    names = {a.name for a in accs}
    for file, i, prof in where if check_references else ():
        if prof.accelerator not in names:
            known = ", ".join(sorted(names)) or "none"
            raise DataError(
                f"{file}: models[{i}] ({prof.model!r} on {prof.accelerator!r}): field 'acc' "
                f"names no accelerator (known: {known}), got {prof.accelerator!r}"
            )
    system = System(
        accelerators=tuple(accs),
        capacity=cap,
        profiles=tuple(profiles),
        classes=tuple(classes),
        servers=tuple(servers),
        settings=settings,
        rules=rules or ("g1" if g1 else "g3"),
        source=source,
    )
    validate(system)
    return system


def validate(system: System) -> None:
    """Cross-checks: unique names; raises DataError naming the duplicate."""
    for kind, names in (
        ("accelerators", [a.name for a in system.accelerators]),
        ("serviceClasses", [c.name for c in system.classes]),
        ("servers", [s.name for s in system.servers]),
    ):
        seen: set[str] = set()
        for i, n in enumerate(names):
            if n in seen:
                raise DataError(
                    f"{system.source}: {kind}[{i}]: field 'name' duplicates an "
                    f"earlier entry, got {n!r}"
                )
            seen.add(n)
    if system.rules not in ("g3", "g1"):
        raise DataError(f"{system.source}: rules must be 'g3' or 'g1', got {system.rules!r}")


# ---------------------------------------------------------------------------------------------
# JSON writing: the reference layout, read back by load_system into an equal System


def accelerator_to_dict(acc: Accelerator) -> dict[str, Any]:
    """Return one entry of ``accelerators`` in the reference layout.

    ``memSize``/``memBW`` only when given, ``power`` only when the accelerator has a power
    curve.
    """
    out: dict[str, Any] = {"name": acc.name, "type": acc.type, "multiplicity": acc.multiplicity}
    if acc.mem_size_gb:
        out["memSize"] = acc.mem_size_gb
    if acc.mem_bw_gbps:
        out["memBW"] = acc.mem_bw_gbps
    p = acc.power
    if p.full_w > 0:
        out["power"] = {
            "idle": p.idle_w,
            "full": p.full_w,
            "midPower": p.mid_w,
            "midUtil": p.mid_util,
        }
    out["cost"] = acc.cost_per_hour
    return out


def profile_to_dict(profile: Profile) -> dict[str, Any]:
    """Return one entry of ``models`` in the reference layout.

    ``perfParms`` (g3) for a PrefillDecode profile or one with a ``gamma``, top-level
    alpha/beta (g1) otherwise.
    """
    out: dict[str, Any] = {
        "name": profile.model,
        "acc": profile.accelerator,
        "accCount": profile.acc_count,
        "maxBatchSize": profile.max_batch_size,
        "atTokens": profile.at_tokens,
    }
    if profile.kind == "DecodeOnly" and not profile.gamma:
        out["alpha"], out["beta"] = profile.alpha, profile.beta
    else:
        out["perfParms"] = {"alpha": profile.alpha, "beta": profile.beta, "gamma": profile.gamma}
    return out


def _class_to_dict(c: ServiceClass) -> dict[str, Any]:
    keys = (
        ("slo-itl", "itl_ms"), ("slo-ttft", "ttft_ms"), ("slo-ttw", "ttw_ms"), ("slo-tps", "tps")
    )  # fmt: skip
    targets = [
        {"model": m, **{k: getattr(t, a) for k, a in keys if getattr(t, a) is not None}}
        for m, t in c.targets.items()
    ]
    return {"name": c.name, "priority": c.priority, "modelTargets": targets}


def _server_to_dict(s: Server, g1: bool) -> dict[str, Any]:
    ld = s.load
    load: dict[str, Any] = {"arrivalRate": ld.rate_per_min}
    if g1:
        load["avgLength"] = ld.out_tokens
    else:
        load["avgInTokens"], load["avgOutTokens"] = ld.in_tokens, ld.out_tokens
    if ld.arrival_cov is not None:
        load["arrivalCOV"] = ld.arrival_cov
    if ld.service_cov is not None:
        load["serviceCOV"] = ld.service_cov
    cur = s.current
    current: dict[str, Any] = {
        k: v
        for k, v in (
            ("accelerator", cur.accelerator),
            ("numReplicas", cur.num_replicas),
            ("maxBatch", cur.max_batch),
            ("cost", cur.cost),
        )
        if v
    }
    out: dict[str, Any] = {
        "name": s.name,
        "class": s.service_class,
        "model": s.model,
        "currentAlloc": {**current, "load": load},
    }
    for key, value in (
        ("minNumReplicas", s.min_replicas),
        ("maxBatchSize", s.max_batch_size),
        ("maxQueueSize", s.max_queue_size),
        ("keepAccelerator", s.keep_accelerator),
    ):
        if value:
            out[key] = value
    return out


def system_to_dict(system: System) -> dict[str, Any]:
    """Return the system as one ``{"system": {...}}`` document in the reference layout.

    It is what ``system-data.json`` holds; :func:`system_from_dict` reads it back into an
    equal :class:`System` (rates per minute as read, g1 or g3 layout as ``system.rules``
    says).

    >>> from inferplan import fleet
    >>> system = fleet.load_system(fleet.example_path())
    >>> fleet.system_from_dict(fleet.system_to_dict(system)).servers == system.servers
    True
    """
    g1 = system.rules == "g1"
    s = system.settings
    count = [{"type": t, "count": n} for t, n in system.capacity.items()]
    return {
        "system": {
            "acceleratorData": {
                "accelerators": [accelerator_to_dict(a) for a in system.accelerators]
            },
            "capacityData": {"count": count},
            "modelData": {"models": [profile_to_dict(p) for p in system.profiles]},
            "serviceClassData": {"serviceClasses": [_class_to_dict(c) for c in system.classes]},
            "serverData": {"servers": [_server_to_dict(v, g1) for v in system.servers]},
            "optimizerData": {
                "optimizer": {
                    "unlimited": s.unlimited,
                    "heterogeneous": s.heterogeneous,
                    "milpSolver": s.milp,
                    "delayedBestEffort": s.delayed_best_effort,
                    "saturationPolicy": s.saturation_policy,
                }
            },
        }
    }

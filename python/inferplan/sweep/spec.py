"""Sweep specifications: parsing, validation, and lazy row indexing.

A spec is a mapping (read from YAML or JSON, or given as a Python dict)::

    operation: analyze            # analyze | size | optimal_concurrency
    fixed:                        # one value for every row
      kind: prefill_decode
      in_tokens: 512
      out_tokens: 256
    axes:                         # a product, first axis slowest, last fastest
      model: [llama-8b, llama-70b]
      alpha: [6.0, 21.0]
      beta: [0.02, 0.09]
      max_batch: {start: 8, stop: 256, step: 8}
      rate: {start: 0.01, stop: 50, num: 200, scale: log}
    zip:                          # axes that move together instead of multiplying
      - [model, alpha, beta]
    columns: [model, max_batch, rate, throughput, itl_ms, status]   # optional
    chunk_rows: 2000000           # optional
    admission: iteration          # optional: immediate | iteration (analyze and size;
                                  # TTFT as an arriving request sees it, docs/accuracy.md)

``arrival_cv`` and ``out_tokens_cv`` (analyze and size, fixed or an axis) are the batch
calls' columns of the same names: Poisson arrivals and mean lengths when absent.

The grid is never built. Row ``i`` is decoded from its index in mixed radix (the last
factor is the fastest digit), so any chunk ``[start, stop)`` costs O(stop - start) memory
whatever the size of the whole sweep.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import _lazy, _validate
from .._codes import KINDS
from .._metrics import METRIC_NAMES
from ..batch import CONFIG_DEFAULTS, SIZE_DEFAULT_METRICS
from ..sizing import TARGET_FIELDS

__all__ = [
    "ADMISSIONS",
    "BUILTIN_LABELS",
    "DEFAULTS",
    "DEFAULT_CHUNK_ROWS",
    "DEFAULT_OUTPUTS",
    "DERIVED",
    "FORMAT",
    "KIND_NAMES",
    "MAX_AXIS_VALUES",
    "MAX_CHUNK_ROWS",
    "OPERATIONS",
    "OUTPUTS",
    "PARAMS",
    "POWER_PARAMS",
    "REQUIRED",
    "TOP_KEYS",
    "Factor",
    "SpecError",
    "SweepSpec",
    "available_columns",
    "column_name",
    "load_spec",
    "param_of_column",
    "read_spec_file",
]
__dir__ = _lazy.public_dir(__name__)

FORMAT = "inferplan-sweep/1"
DEFAULT_CHUNK_ROWS = 2_000_000
# Values one range axis may expand to: an axis is held in memory (8 bytes a value); the
# grid, the product of the axes, is never built and may be as large as wanted.
MAX_AXIS_VALUES = 10_000_000
MAX_CHUNK_ROWS = 50_000_000
OPERATIONS = ("analyze", "size", "optimal_concurrency")
TOP_KEYS = ("operation", "axes", "zip", "fixed", "columns", "labels", "chunk_rows", "admission")
ADMISSIONS = ("immediate", "iteration")

_KINDS = {
    "decode_only": 0,
    "decodeonly": 0,
    "prefill_decode": 1,
    "prefilldecode": 1,
}
# The kinds a sweep row may have, each at the index of its code (ServiceTimes has no row form).
KIND_NAMES = tuple(
    name for name, code in sorted(KINDS.items(), key=lambda kv: kv[1])
    if code != KINDS["service_times"]
)  # fmt: skip

# Parameter name -> (type, rule). Types: float, int (integer-valued), queue (integer or
# inf), kind, label (any string). Rules: ">=0", ">0", "target" (>= 0, 0 = unset),
# "quantile" (0 = unset, else in (0, 1)), "fraction" (strictly in (0, 1)).
_MODEL_PARAMS = {
    "kind": ("kind", None),
    "alpha": ("float", ">=0"),
    "beta": ("float", ">=0"),
    "gamma": ("float", ">=0"),
    "in_tokens": ("float", ">=0"),
    "out_tokens": ("float", ">0"),
    "max_num_tokens": ("float", ">0"),
    "max_batch": ("int", ">=1"),
    "max_queue": ("queue", ">=0"),
}
# The targets of inferplan.size_many, in kernel order: percentiles' quantiles are "quantile".
_TARGETS = {
    name: ("float", "quantile" if name.endswith("_pq") else "target") for name in TARGET_FIELDS
}
# Optional economics: where present, derived columns appear (see DERIVED).
_ECONOMICS = {
    "cost_per_hour": ("float", ">=0"),
    "price_per_kwh": ("float", ">=0"),
    "idle_w": ("float", ">=0"),
    "mid_w": ("float", ">=0"),
    "mid_util": ("float", "fraction"),
    "full_w": ("float", ">=0"),
}
# The traffic: arrival and output-length variability (docs/model.md 6-7); absent, Poisson
# arrivals (1) and mean lengths (0), the batch calls' defaults.
_TRAFFIC = {
    "arrival_cv": ("float", "cv"),
    "out_tokens_cv": ("float", "cv"),
}
BUILTIN_LABELS = ("model", "accelerator", "query_class")
_TOKEN_COUNTS = ("in_tokens", "out_tokens")  # at most 2**53, as everywhere else
POWER_PARAMS = ("idle_w", "mid_w", "mid_util", "full_w")

PARAMS = {
    "analyze": {**_MODEL_PARAMS, "rate": ("float", ">=0"), **_TRAFFIC, **_ECONOMICS},
    "size": {**_MODEL_PARAMS, **_TARGETS, **_TRAFFIC, **_ECONOMICS},
    "optimal_concurrency": {
        **_MODEL_PARAMS,
        **_TARGETS,
        "tolerance": ("float", ">=0"),
        **_ECONOMICS,
    },
}
REQUIRED = {
    "analyze": ("kind", "alpha", "beta", "out_tokens", "max_batch", "rate"),
    "size": ("kind", "alpha", "beta", "out_tokens", "max_batch"),
    "optimal_concurrency": ("kind", "alpha", "beta", "out_tokens", "max_batch"),
}
DEFAULTS = dict(CONFIG_DEFAULTS)  # the batch layer's (inferplan.batch)

# Output columns an operation can compute (besides status), and those written by default.
# ``size``: the largest rate meeting the targets, which target binds, the solver's
# iterations, and metrics there. ``optimal_concurrency``: the same at the chosen max batch
# (``optimal_max_batch``, searched in 1..max_batch) and the best throughput seen.
_METRICS = tuple(m for m in METRIC_NAMES if m != "rate")
_SIZE_DEFAULT = SIZE_DEFAULT_METRICS
OUTPUTS = {
    "analyze": _METRICS,
    "size": ("rate", "binding", "iterations", *_METRICS),
    "optimal_concurrency": (
        "optimal_max_batch",
        "peak_throughput",
        "rate",
        "binding",
        "iterations",
        *_METRICS,
    ),
}
DEFAULT_OUTPUTS = {
    "analyze": _METRICS,
    "size": ("rate", "binding", *_SIZE_DEFAULT),
    "optimal_concurrency": (
        "optimal_max_batch",
        "peak_throughput",
        "rate",
        "binding",
        *_SIZE_DEFAULT,
    ),
}
# Derived column -> parameters it needs (besides the operation's throughput/utilization).
DERIVED = {
    "tokens_per_s": (),
    "power_w": POWER_PARAMS,
    "energy_per_token_mj": POWER_PARAMS,
    "cost_per_million_tokens": ("cost_per_hour",),
}


class SpecError(ValueError):
    """A sweep spec is invalid; the message names the offending key."""


@dataclass
class Factor:
    """One digit of the mixed-radix row index: a single axis, or several zipped axes."""

    names: tuple[str, ...]
    values: dict[str, np.ndarray]
    size: int
    stride: int = 1


@dataclass
class SweepSpec:
    """A validated sweep: see the module docstring. Build with :func:`load_spec`."""

    operation: str
    fixed: dict[str, object]
    factors: list[Factor]
    columns: list[str]
    chunk_rows: int
    labels: tuple[str, ...]
    source: dict = field(repr=False)
    param_types: dict[str, str] = field(repr=False, default_factory=dict)
    admission: str | None = None

    @property
    def total_rows(self) -> int:
        """Number of rows of the grid (the product of the factors' sizes)."""
        n = 1
        for f in self.factors:
            n *= f.size
        return n

    @property
    def num_chunks(self) -> int:
        """Number of chunks of ``chunk_rows`` rows."""
        return -(-self.total_rows // self.chunk_rows)

    @property
    def axis_names(self) -> list[str]:
        """Names of the parameters that vary, in factor order."""
        return [name for f in self.factors for name in f.names]

    def chunk_bounds(self, index: int) -> tuple[int, int]:
        """Return the rows ``(start, stop)`` of chunk ``index``."""
        if not 0 <= index < self.num_chunks:
            raise IndexError(f"chunk {index} out of range 0..{self.num_chunks - 1}")
        start = index * self.chunk_rows
        return start, min(start + self.chunk_rows, self.total_rows)

    def has(self, name: str) -> bool:
        """Return whether parameter ``name`` is fixed or varies in the spec."""
        return name in self.fixed or name in self.axis_names

    def digits(self, start: int, stop: int) -> list[np.ndarray]:
        """Per factor, the value index of every row in ``[start, stop)``."""
        idx = np.arange(start, stop, dtype=np.int64)
        out = []
        for j, f in enumerate(self.factors):
            d = idx // f.stride if f.stride > 1 else idx
            # The slowest digit needs no modulo: the index never reaches total_rows.
            out.append(d if j == 0 else d % f.size)
        return out

    def rows(self, start: int, stop: int) -> dict[str, object]:
        """Parameter columns of rows ``[start, stop)``: arrays for axes, scalars for fixed.

        Label axes come back as ``(codes, values)`` pairs so that they can be written as
        dictionary-encoded columns without materialising one string per row.
        """
        cols: dict[str, object] = dict(self.fixed)
        for f, d in zip(self.factors, self.digits(start, stop), strict=True):
            for name in f.names:
                vals = f.values[name]
                if self.param_types.get(name) in ("label", "kind"):
                    cols[name] = (d, vals)
                else:
                    cols[name] = vals[d]
        return cols

    @property
    def spec_hash(self) -> str:
        """Hash of everything that decides the rows and their place.

        The expanded axis values (so equal grids written differently hash the same), fixed
        values, the operation, the output columns and the chunk size.
        """
        h = hashlib.sha256()
        head = {
            "format": FORMAT,
            "operation": self.operation,
            "fixed": {k: _jsonable(v) for k, v in sorted(self.fixed.items())},
            "factors": [list(f.names) for f in self.factors],
            "columns": self.columns,
            "chunk_rows": self.chunk_rows,
        }
        h.update(json.dumps(head, sort_keys=True).encode())
        for f in self.factors:
            for name in f.names:
                v = f.values[name]
                h.update(name.encode())
                if v.dtype.kind in "OU":
                    h.update(json.dumps([str(x) for x in v]).encode())
                else:
                    h.update(str(v.dtype).encode())
                    h.update(np.ascontiguousarray(v).tobytes())
        return h.hexdigest()


def _jsonable(v):
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, np.generic):
        return v.item()
    return v


def _yaml_loader():
    """Return a safe YAML loader that refuses a key given twice in one mapping.

    Plain YAML keeps the last one silently; this one names the key and both lines.
    """
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen: dict = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: the base class reports it
                    break
                if first is not None:
                    raise SpecError(
                        f"line {key_node.start_mark.line + 1}: duplicate key {key!r} (first "
                        f"given on line {first}); each key may appear once in a mapping"
                    )
                seen[key] = key_node.start_mark.line + 1
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def _unique_pairs(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise SpecError(f"duplicate key {k!r}; each key may appear once in an object")
        out[k] = v
    return out


def read_spec_file(path) -> dict:
    """Return a spec mapping from a ``.yaml``/``.yml`` or ``.json`` file.

    A missing or unreadable file, malformed YAML/JSON and duplicate keys raise
    :class:`SpecError` naming the file (and the line where the parser knows it).
    """
    path = Path(path)
    try:
        text = _validate.input_file(path, "spec").read_text()
    except UnicodeDecodeError as err:
        raise SpecError(f"{path}: not a UTF-8 text file ({err.reason})") from None
    except OSError as err:
        raise SpecError(f"{path}: cannot read: {err.strerror}") from None
    except ValueError as err:
        raise SpecError(str(err)) from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ImportError(
                "YAML specs need pyyaml: pip install 'inferplan[sweep]' (or use JSON)"
            ) from None
        try:
            data = yaml.load(text, Loader=_yaml_loader())  # a SafeLoader (_yaml_loader)
        except SpecError as err:
            raise SpecError(f"{path}: {err}") from None
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise SpecError(f"{path}: not valid YAML{where}: {problem}") from None
        except RecursionError:
            raise SpecError(f"{path}: not valid YAML: nested too deeply") from None
    else:
        try:
            data = json.loads(text, object_pairs_hook=_unique_pairs)
        except SpecError as err:
            raise SpecError(f"{path}: {err}") from None
        except json.JSONDecodeError as err:
            raise SpecError(f"{path}: not valid JSON: {err}") from None
        except RecursionError:
            raise SpecError(f"{path}: not valid JSON: nested too deeply") from None
    if not isinstance(data, Mapping):
        raise SpecError(f"{path}: a spec must be a mapping at the top level")
    return dict(data)


def load_spec(spec, *, chunk_rows: int | None = None) -> SweepSpec:
    """Validate ``spec`` (a mapping, a path to YAML/JSON, or a SweepSpec) before any work.

    ``chunk_rows`` overrides the spec's own value. Raises :class:`SpecError` naming the key.
    """
    if isinstance(spec, SweepSpec):
        if chunk_rows is None or chunk_rows == spec.chunk_rows:
            return spec
        spec = spec.source
    if isinstance(spec, (str, Path)):
        spec = read_spec_file(spec)
    if not isinstance(spec, Mapping):
        raise SpecError(f"a spec must be a mapping or a path, got {type(spec).__name__}")
    source = copy.deepcopy(dict(spec))
    unknown = [k for k in source if k not in TOP_KEYS]
    if unknown:
        raise SpecError(f"unknown top-level key(s) {unknown}; allowed: {', '.join(TOP_KEYS)}")

    operation = source.get("operation", "analyze")
    if operation not in OPERATIONS:
        raise SpecError(f"operation: must be one of {', '.join(OPERATIONS)}, got {operation!r}")

    admission = source.get("admission")
    if admission is not None and admission not in ADMISSIONS:
        raise SpecError(
            f"admission: must be one of {', '.join(ADMISSIONS)} (or absent: the chain's "
            f"read-off), got {admission!r}"
        )
    if admission is not None and operation == "optimal_concurrency":
        raise SpecError("admission: applies to the analyze and size operations only")

    labels = source.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise SpecError(f"labels: must be a list of column names, got {labels!r}")
    params = dict(PARAMS[operation])
    for name in (*BUILTIN_LABELS, *labels):
        if name in params and params[name][0] != "label":
            raise SpecError(f"labels: {name!r} is a parameter, not a label")
        params[name] = ("label", None)

    fixed_raw = source.get("fixed", {}) or {}
    if not isinstance(fixed_raw, Mapping):
        raise SpecError(f"fixed: must be a mapping of parameter -> value, got {fixed_raw!r}")
    axes_raw = source.get("axes", {}) or {}
    if not isinstance(axes_raw, Mapping):
        raise SpecError(f"axes: must be a mapping of parameter -> values, got {axes_raw!r}")
    if not axes_raw:
        raise SpecError("axes: a sweep needs at least one axis")

    types = {}
    fixed: dict[str, object] = {}
    for name, value in fixed_raw.items():
        key = f"fixed.{name}"
        if name not in params:
            raise SpecError(_unknown_message(key, name, operation, params))
        if name in axes_raw:
            raise SpecError(f"{key}: {name!r} is both fixed and an axis")
        kind, rule = params[name]
        arr = _validate_values(key, name, [value], kind, rule)
        fixed[name] = arr[0].item() if isinstance(arr[0], np.generic) else arr[0]
        types[name] = kind

    axes: dict[str, np.ndarray] = {}
    for name, definition in axes_raw.items():
        key = f"axes.{name}"
        if name not in params:
            raise SpecError(_unknown_message(key, name, operation, params))
        kind, rule = params[name]
        values = _expand_axis(key, definition, kind)
        axes[name] = _validate_values(key, name, values, kind, rule)
        types[name] = kind

    missing = [n for n in REQUIRED[operation] if n not in fixed and n not in axes]
    if missing:
        raise SpecError(
            f"missing parameter(s) {missing} for operation {operation!r}: give each in "
            "'fixed' or 'axes'"
        )
    for name, value in DEFAULTS.items():
        if name not in fixed and name not in axes:
            fixed[name] = value
            types[name] = params[name][0]
    for q, ms in (("ttft_pq", "ttft_p_ms"), ("wait_pq", "wait_p_ms")):
        for a, b in ((q, ms), (ms, q)):
            given = a in axes or (a in fixed and fixed[a] != 0)
            if given and b not in fixed and b not in axes:
                raise SpecError(
                    f"{a}: a percentile target needs both {q} (the quantile, e.g. 0.9) and "
                    f"{ms} (its bound in ms); {b} is missing"
                )
    power = [n for n in POWER_PARAMS if n in fixed or n in axes]
    if power and len(power) != len(POWER_PARAMS):
        absent = [n for n in POWER_PARAMS if n not in power]
        raise SpecError(f"{power[0]}: a power curve needs all of {POWER_PARAMS}; missing {absent}")

    factors = _factors(source.get("zip", []) or [], axes)
    stride = 1
    for f in reversed(factors):
        f.stride = stride
        stride *= f.size

    if chunk_rows is None:
        chunk_rows = source.get("chunk_rows", DEFAULT_CHUNK_ROWS)
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, (int, np.integer)):
        raise SpecError(f"chunk_rows: must be a positive integer, got {chunk_rows!r}")
    if chunk_rows < 1:
        raise SpecError(f"chunk_rows: must be a positive integer, got {chunk_rows!r}")
    if chunk_rows > MAX_CHUNK_ROWS:
        raise SpecError(
            f"chunk_rows: at most {MAX_CHUNK_ROWS:,} (two chunks are held in memory), "
            f"got {chunk_rows!r}"
        )

    spec_obj = SweepSpec(
        operation=operation,
        fixed=fixed,
        factors=factors,
        columns=[],
        chunk_rows=int(chunk_rows),
        labels=tuple(n for n, t in types.items() if t == "label"),
        source=source,
        param_types=types,
        admission=admission,
    )
    spec_obj.columns = _columns(source.get("columns"), spec_obj)
    return spec_obj


def _unknown_message(key, name, operation, params) -> str:
    return (
        f"{key}: unknown parameter {name!r} for operation {operation!r}; known: "
        f"{', '.join(sorted(params))} (declare extra text columns under 'labels')"
    )


def _factors(zips, axes: dict[str, np.ndarray]) -> list[Factor]:
    if not isinstance(zips, list):
        raise SpecError(f"zip: must be a list of lists of axis names, got {zips!r}")
    group_of: dict[str, int] = {}
    for g, group in enumerate(zips):
        key = f"zip[{g}]"
        if not isinstance(group, list) or len(group) < 2:
            raise SpecError(f"{key}: must list at least two axis names, got {group!r}")
        for name in group:
            if name not in axes:
                raise SpecError(f"{key}: {name!r} is not an axis")
            if name in group_of:
                raise SpecError(f"{key}: axis {name!r} is already zipped in zip[{group_of[name]}]")
            group_of[name] = g
        sizes = {name: axes[name].size for name in group}
        if len(set(sizes.values())) != 1:
            raise SpecError(f"{key}: zipped axes must have equal lengths, got {sizes}")
    factors: list[Factor] = []
    placed: set[int] = set()
    for name in axes:
        if name in group_of:
            g = group_of[name]
            if g in placed:
                continue
            placed.add(g)
            names = tuple(zips[g])
            factors.append(Factor(names, {n: axes[n] for n in names}, axes[names[0]].size))
        else:
            factors.append(Factor((name,), {name: axes[name]}, axes[name].size))
    return factors


def _number(key: str, x, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise SpecError(f"{key}: {what} must be a number, got {x!r}")
    return float(x)


def _axis_size(key: str, n) -> None:
    if n > MAX_AXIS_VALUES:
        raise SpecError(
            f"{key}: the range has {n:.4g} values, more than the {MAX_AXIS_VALUES:,} an axis "
            "may hold (each axis is kept in memory; split it into several axes, whose "
            "product is never built, or use a coarser step)"
        )


def _expand_axis(key: str, definition, kind: str) -> list:
    """Values of one axis: an explicit list, or a linear/log/step range."""
    if isinstance(definition, np.ndarray) and definition.ndim == 1:
        definition = definition.tolist()
    elif isinstance(definition, tuple):
        definition = list(definition)
    if isinstance(definition, list):
        if not definition:
            raise SpecError(f"{key}: empty list of values")
        _axis_size(key, len(definition))
        return definition
    if not isinstance(definition, Mapping):
        raise SpecError(
            f"{key}: an axis is a list of values or a range mapping "
            f"{{start, stop, num, scale}} / {{start, stop, step}}, got {definition!r}"
        )
    allowed = {"start", "stop", "num", "step", "scale"}
    extra = sorted(set(definition) - allowed)
    if extra:
        raise SpecError(f"{key}: unknown range key(s) {extra}; allowed: {sorted(allowed)}")
    if kind in ("label", "kind"):
        raise SpecError(f"{key}: a text axis takes a list of values, not a range")
    for k in ("start", "stop"):
        if k not in definition:
            raise SpecError(f"{key}.{k}: a range needs start and stop")
    start = _number(f"{key}.start", definition["start"], "start")
    stop = _number(f"{key}.stop", definition["stop"], "stop")
    for k, v in (("start", start), ("stop", stop)):
        if not math.isfinite(v):
            raise SpecError(f"{key}.{k}: must be finite, got {v!r}")
    if ("num" in definition) == ("step" in definition):
        raise SpecError(f"{key}: give exactly one of num (with scale) or step")
    if "step" in definition:
        if "scale" in definition:
            raise SpecError(f"{key}.scale: only with num (a step range is linear)")
        step = _number(f"{key}.step", definition["step"], "step")
        if not (math.isfinite(step) and step > 0):
            raise SpecError(f"{key}.step: must be finite and > 0, got {step!r}")
        if stop < start:
            raise SpecError(f"{key}: empty range (stop {stop:g} < start {start:g})")
        count = math.floor((stop - start) / step * (1 + 1e-12) + 1e-9) + 1
        _axis_size(key, count)
        n = int(count)
        values = start + step * np.arange(n, dtype=float)
    else:
        num = definition["num"]
        if isinstance(num, bool) or not isinstance(num, (int, np.integer)):
            raise SpecError(f"{key}.num: must be an integer, got {num!r}")
        if num < 1:
            raise SpecError(f"{key}.num: empty range (num = {num})")
        _axis_size(key, num)
        scale = definition.get("scale", "linear")
        if scale == "linear":
            values = np.linspace(start, stop, int(num))
        elif scale == "log":
            if start <= 0 or stop <= 0:
                bad = "start" if start <= 0 else "stop"
                raise SpecError(
                    f"{key}.{bad}: a log range needs positive bounds, got {definition[bad]!r}"
                )
            values = np.geomspace(start, stop, int(num))
        else:
            raise SpecError(f"{key}.scale: must be 'linear' or 'log', got {scale!r}")
    if kind in ("int", "queue"):
        # Integer axes: round, then drop the repeats a dense log range produces.
        values = np.round(values)
        _, first = np.unique(values, return_index=True)
        values = values[np.sort(first)]
    return values.tolist()


def _validate_values(key: str, name: str, values, kind: str, rule) -> np.ndarray:
    if kind == "label":
        for i, v in enumerate(values):
            if not isinstance(v, str):
                raise SpecError(f"{key}[{i}]: {name!r} is a text column, got {v!r}")
        return np.asarray(values, dtype=object)
    if kind == "kind":
        out = []
        for i, v in enumerate(values):
            if isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v in (0, 1):
                out.append(KIND_NAMES[int(v)])
            elif isinstance(v, str) and v.strip().lower() in _KINDS:
                out.append(KIND_NAMES[_KINDS[v.strip().lower()]])
            else:
                raise SpecError(
                    f"{key}[{i}]: kind must be 'decode_only' or 'prefill_decode' (or 0/1), "
                    f"got {v!r}"
                )
        return np.asarray(out, dtype=object)
    nums = []
    for i, v in enumerate(values):
        where = f"{key}[{i}]" if len(values) > 1 or key.startswith("axes") else key
        if kind == "queue" and (v is None or (isinstance(v, str) and v.lower() == "inf")):
            nums.append(math.inf)
            continue
        x = _number(where, v, name)
        if math.isnan(x):
            raise SpecError(f"{where}: {name} must not be NaN")
        if kind == "queue":
            if math.isinf(x) and x > 0:
                nums.append(x)
                continue
            if x < 0 or x != math.floor(x):
                raise SpecError(f"{where}: {name} must be an integer >= 0 or inf, got {v!r}")
        elif not math.isfinite(x):
            raise SpecError(f"{where}: {name} must be finite, got {v!r}")
        if kind == "int" and x != math.floor(x):
            raise SpecError(f"{where}: {name} must be an integer, got {v!r}")
        if name in _TOKEN_COUNTS and x > _validate.MAX_EXACT:
            raise SpecError(f"{where}: {name} must be at most 2**53 tokens, got {v!r}")
        if rule == ">=1" and x < 1:
            raise SpecError(f"{where}: {name} must be >= 1, got {v!r}")
        if rule in (">=0", "target") and x < 0:
            raise SpecError(f"{where}: {name} must be >= 0, got {v!r}")
        if rule == ">0" and x <= 0:
            raise SpecError(f"{where}: {name} must be > 0, got {v!r}")
        if rule == "quantile" and not (x == 0 or 0 < x < 1):
            raise SpecError(f"{where}: {name} must be in (0, 1) (0 = unset), got {v!r}")
        if rule == "cv" and not 0 <= x <= _validate.MAX_CV:
            raise SpecError(
                f"{where}: {name} must be in [0, {_validate.MAX_CV:g}] (a coefficient of "
                f"variation), got {v!r}"
            )
        if rule == "fraction" and not (0 < x < 1):
            raise SpecError(f"{where}: {name} must be strictly between 0 and 1, got {v!r}")
        nums.append(x)
    dtype = np.int64 if kind == "int" else np.float64
    return np.asarray(nums, dtype=dtype)


def column_name(param: str) -> str:
    """Return a parameter's name as an output column.

    SLO targets get a ``target_`` prefix, since ``itl_ms`` etc. also name the metrics at the
    sized rate.
    """
    return f"target_{param}" if param in _TARGETS else param


def param_of_column(column: str) -> str:
    """Inverse of :func:`column_name`."""
    if column.startswith("target_") and column[len("target_") :] in _TARGETS:
        return column[len("target_") :]
    return column


def available_columns(spec: SweepSpec) -> list[str]:
    """Every column this spec can write, in the default order."""
    names = ["row"] + [column_name(p) for p in spec.param_types]
    outputs = [o for o in OUTPUTS[spec.operation] if o not in names]
    derived = [d for d, need in DERIVED.items() if all(spec.has(n) for n in need)]
    return names + outputs + derived + ["status"]


def _columns(requested, spec: SweepSpec) -> list[str]:
    available = available_columns(spec)
    if requested is None:
        axes = [column_name(a) for a in spec.axis_names]
        # a fixed arrival or length CV changes every number: written, as an axis would be
        axes += [n for n in _TRAFFIC if n in spec.fixed]
        outputs = [o for o in DEFAULT_OUTPUTS[spec.operation] if o not in axes]
        derived = [d for d, need in DERIVED.items() if all(spec.has(n) for n in need)]
        return axes + outputs + derived + ["status"]
    if not isinstance(requested, list) or not requested:
        raise SpecError(f"columns: must be a non-empty list of column names, got {requested!r}")
    for i, name in enumerate(requested):
        if name not in available:
            raise SpecError(
                f"columns[{i}]: unknown column {name!r}; available: {', '.join(available)}"
            )
    if len(set(requested)) != len(requested):
        raise SpecError("columns: a column is listed twice")
    return list(requested)

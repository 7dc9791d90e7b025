"""Vectorised calls over columns of configurations (NumPy arrays or a pandas DataFrame).

Columns broadcast: each is a scalar, or an array of the common length. A bad value in one
row sets that row's ``status`` (see :class:`inferplan.Status`) and NaN metrics; the other
rows are computed as usual.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence

import numpy as np

from . import _lazy
from ._codes import KINDS, Status
from ._kernels import dispatch
from ._metrics import KIND_VECTOR, METRIC_INDEX, METRIC_NAMES
from ._status import StatusError
from .sizing import BINDING_NAMES

# The kinds a batch row may have (ServiceTimes has no column form), also spelt without "_".
_KIND_NAMES = {
    spelling: code
    for name, code in KINDS.items()
    if code != KIND_VECTOR
    for spelling in (name, name.replace("_", ""))
}
CONFIG_COLUMNS = (
    "kind",
    "alpha",
    "beta",
    "gamma",
    "in_tokens",
    "out_tokens",
    "max_num_tokens",
    "max_batch",
    "max_queue",
)
CONFIG_DEFAULTS = {"gamma": 0.0, "in_tokens": 0.0, "max_num_tokens": 8192.0, "max_queue": math.inf}
DEFAULT_METRICS = METRIC_NAMES


def _kind_column(value) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind in "US O".replace(" ", ""):
        flat = arr.reshape(-1)
        codes = np.empty(flat.size, dtype=np.int32)
        for i, v in enumerate(flat):
            if isinstance(v, (int, float, np.number)) and not isinstance(v, bool):
                codes[i] = int(v) if v in (0, 1, 2) else -1  # -1: BAD_KIND for the row
                continue
            key = str(v).strip().lower()
            if key not in _KIND_NAMES:
                raise ValueError(
                    f"kind[{i}] must be 'decode_only' or 'prefill_decode' (or 0/1), got "
                    f"{v.item() if isinstance(v, np.generic) else v!r}"
                )
            codes[i] = _KIND_NAMES[key]
        return codes
    if arr.ndim > 1:
        raise ValueError(f"kind must be a scalar or a 1-D array, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        try:
            arr = arr.astype(float)
        except (TypeError, ValueError):
            raise ValueError(f"kind must be numeric or a name, got dtype {arr.dtype}") from None
    # Compared before any cast: a code outside int32 would otherwise wrap (2**32 -> 0,
    # DecodeOnly). Anything but 0, 1, 2 becomes -1, which the kernel rejects (BAD_KIND).
    valid = (arr == 0) | (arr == 1) | (arr == 2)
    return np.ascontiguousarray(np.where(valid, arr, -1).reshape(-1), dtype=np.int32)


def _numeric(name: str, value, dtype) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim > 1:
        raise ValueError(f"{name} must be a scalar or a 1-D array, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        try:
            arr = arr.astype(float)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}") from None
    if np.dtype(dtype).kind in "iu" and arr.dtype.kind == "f":
        # Non-integral or non-finite values become an out-of-range sentinel: the row is
        # rejected by the kernel instead of being silently truncated.
        bad = ~np.isfinite(arr) | (arr != np.floor(np.where(np.isfinite(arr), arr, 0)))
        bad |= np.abs(np.where(bad, 0, arr)) > 2.0**62  # would not fit the integer type
        arr = np.where(bad, -1, arr)
    return np.ascontiguousarray(arr.reshape(-1), dtype=dtype)


def _columns(source, overrides: Mapping, names: Sequence[str], defaults: Mapping):
    """Read ``names`` from a DataFrame/mapping source and keyword overrides."""
    found = {}
    for name in names:
        if name in overrides and overrides[name] is not None:
            found[name] = overrides[name]
        elif source is not None and name in source:
            found[name] = np.asarray(source[name])
        elif name in defaults:
            found[name] = defaults[name]
        else:
            raise ValueError(f"missing column {name!r}: pass {name}=... or include it in the data")
    return found


def broadcast_rows(cols: Mapping[str, np.ndarray]) -> int:
    """Return the common length of the columns (each of length 1 or n).

    An error names the mismatch.
    """
    n = 1
    owner = None
    for name, arr in cols.items():
        size = arr.shape[0]
        if size == 1:
            continue
        if n == 1:
            n, owner = size, name
        elif size != n:
            raise ValueError(f"column {name!r} has {size} rows but {owner!r} has {n}")
    if any(arr.shape[0] == 0 for arr in cols.values()):
        return 0
    return n


TRAFFIC_COLUMNS = ("arrival_cv", "out_tokens_cv")
TRAFFIC_DEFAULTS = {"arrival_cv": 1.0, "out_tokens_cv": 0.0}


def traffic_columns(source=None, **overrides):
    """Return the ``arrival_cv`` and ``out_tokens_cv`` columns of a batch call.

    Their defaults are 1 (Poisson) and 0 (every request has the mean output length).
    """
    given = {k: overrides.get(k) for k in TRAFFIC_COLUMNS}
    raw = _columns(source, given, TRAFFIC_COLUMNS, TRAFFIC_DEFAULTS)
    return {k: _numeric(k, v, np.float64) for k, v in raw.items()}


def _traffic_rows(traffic, status, rows: int):
    """Return the rows off the kernel's path, the rows given a bad CV, and the CVs.

    The rows off the kernel's path (``arrival_cv != 1`` or ``out_tokens_cv != 0``) are those
    whose configuration the kernel accepted. A CV outside ``[0, MAX_CV]`` (or NaN) sets
    BAD_ARRIVAL_CV / BAD_OUT_TOKENS_CV here.
    """
    from ._validate import MAX_CV

    cv, ocv = traffic["arrival_cv"], traffic["out_tokens_cv"]
    none = np.zeros(0, dtype=np.int64)
    if cv.size == 1 and ocv.size == 1 and cv[0] == 1.0 and ocv[0] == 0.0:
        return none, none, cv, ocv  # the common case: nothing to do
    cv = np.broadcast_to(cv, (rows,))
    ocv = np.broadcast_to(ocv, (rows,))
    special = ((cv != 1.0) | (ocv != 0.0)) & (status < 20)
    bad_cv = special & ~((cv >= 0.0) & (cv <= MAX_CV))
    bad_ocv = special & ~bad_cv & ~((ocv >= 0.0) & (ocv <= MAX_CV))
    status[bad_cv] = Status.BAD_ARRIVAL_CV
    status[bad_ocv] = Status.BAD_OUT_TOKENS_CV
    bad = bad_cv | bad_ocv
    return np.flatnonzero(special & ~bad), np.flatnonzero(bad), cv, ocv


def _row_replica(cfg, i: int, ocv: float):
    """Return the Replica and Lengths (None for mean lengths) of configuration row ``i``."""
    from .lengths import Lengths
    from .models import from_params
    from .replica import Replica

    kind, alpha, beta, gamma, in_tok, out_tok, mnt, n, q = (c[i] for c in cfg)
    model = from_params(kind, alpha, beta, gamma, in_tok, out_tok, mnt)
    lengths = Lengths(out_cv=float(ocv)) if ocv > 0.0 else None
    return Replica(model, max_batch=int(n), max_queue=float(q)), lengths


def _none_as_unbounded(value):
    """max_queue None (or None entries of an object column) means an unbounded queue."""
    if value is None:
        return math.inf
    arr = np.asarray(value)
    if arr.dtype == object:
        arr = np.where(arr == None, math.inf, arr).astype(float)  # noqa: E711
    return arr


def config_columns(source=None, **overrides):
    """Normalised configuration columns and the row count."""
    raw = _columns(source, overrides, CONFIG_COLUMNS, CONFIG_DEFAULTS)
    cols = {"kind": _kind_column(raw["kind"])}
    for name in CONFIG_COLUMNS[1:]:
        if name == "max_batch":
            cols[name] = _numeric(name, raw[name], np.int64)
        else:
            value = raw[name]
            if name == "max_queue":
                value = _none_as_unbounded(value)
            cols[name] = _numeric(name, value, np.float64)
    return cols


def _metric_selection(metrics) -> list[str]:
    if metrics is None or metrics == "all":
        return list(DEFAULT_METRICS)
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    for name in names:
        if name not in METRIC_INDEX:
            raise ValueError(f"unknown metric {name!r}; choose from {', '.join(METRIC_NAMES)}")
    return names


def _threads(threads) -> int:
    if threads is None:
        return 0
    if int(threads) < 1:
        raise ValueError(f"threads must be >= 1 or None (all cores), got {threads!r}")
    return int(threads)


def _wrap(source, result: dict):
    # A DataFrame can only come from a caller that imported pandas already: never import it
    # here (it costs most of a second on the first call).
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(source, pd.DataFrame):
        return pd.DataFrame(result, index=source.index if len(source) else None)
    return result


def analyze_many(
    data=None,
    *,
    rate=None,
    metrics=None,
    threads=None,
    admission=None,
    arrival_cv=None,
    out_tokens_cv=None,
    **columns,
):
    """Steady-state metrics for many configurations at once.

    Parameters
    ----------
    data
        Optional DataFrame or mapping holding any of the columns below.
    kind
        0 / ``"decode_only"`` or 1 / ``"prefill_decode"``.
    alpha, beta, gamma, in_tokens, out_tokens, max_num_tokens
        Service-model parameters (see :class:`DecodeOnly`, :class:`PrefillDecode`).
    max_batch, max_queue
        Replica limits; ``max_queue`` inf (default) is an unbounded queue.
    rate
        Offered rate, req/s.
    metrics
        Names of the metric columns to return (default: all of :class:`Metrics`).
    threads
        Worker threads (default: all cores).
    admission
        None (the chain's read-off), ``"immediate"`` or ``"iteration"``: refines
        ``ttft_ms`` (and for ``"iteration"`` ``wait_ms`` and ``response_ms``) as
        :meth:`Replica.analyze` does (in each backend's kernel).
    arrival_cv
        Coefficient of variation of the gaps between arrivals (default 1: Poisson; 0 a
        constant rate, above 1 bursty; at most 100). Rows other than 1 are solved as
        :func:`inferplan.arrivals.analyze` solves them (docs/model.md 6): on the C++
        backend in one kernel call on ``threads`` threads, elsewhere one row at a time.
    out_tokens_cv
        Coefficient of variation of the output length (default 0: every request emits
        ``out_tokens``); above 0 a lognormal law, :class:`inferplan.lengths.Lengths`
        (docs/model.md 7), solved one row at a time.

    Returns a dict of NumPy columns (a DataFrame if ``data`` is one): the metrics and
    ``status`` (int32, 0 = ok, see :class:`Status`; ``BAD_ARRIVAL_CV`` /
    ``BAD_OUT_TOKENS_CV`` for a CV outside [0, 100] or NaN).
    """
    from .admission import CODES, check_admission

    admission = check_admission(admission)
    code = CODES[admission]
    unknown = set(columns) - set(CONFIG_COLUMNS)
    if unknown:
        raise TypeError(f"analyze_many() got unexpected column(s) {sorted(unknown)}")
    cols = config_columns(data, **columns)
    rate_col = _columns(data, {"rate": rate}, ("rate",), {})["rate"]
    cols["rate"] = _numeric("rate", rate_col, np.float64)
    traffic = traffic_columns(data, arrival_cv=arrival_cv, out_tokens_cv=out_tokens_cv)
    rows = broadcast_rows({**cols, **traffic})
    names = _metric_selection(metrics)
    block = np.empty((len(names), rows))
    outs: list = [None] * len(METRIC_NAMES)
    for j, name in enumerate(names):
        outs[METRIC_INDEX[name]] = block[j]
    status = np.zeros(rows, dtype=np.int32)
    if rows:
        config = tuple(cols[name] for name in CONFIG_COLUMNS)
        dispatch.active().analyze_many(config, cols["rate"], outs, status, _threads(threads),
                                       code)  # fmt: skip
    full = {name: block[j] for j, name in enumerate(names)}
    if rows:
        _analyze_rows_traffic(cols, traffic, status, full, admission, rows, _threads(threads))
    result = {name: full[name] for name in names}
    result["status"] = status
    return _wrap(data, result)


def _analyze_rows_traffic(cols, traffic, status, full, admission, rows, threads) -> None:
    """Analyze the rows with an arrival or output-length CV, through inferplan.arrivals.

    On the C++ backend the rows with mean output lengths take one kernel batch call.
    """
    todo, bad, cv, ocv = _traffic_rows(traffic, status, rows)
    for values in full.values():
        values[bad] = np.nan
    if not todo.size:
        return
    from . import arrivals  # only for such rows: the Poisson path does not import it

    cfg = [np.broadcast_to(cols[k], (rows,)) for k in CONFIG_COLUMNS]
    rate = np.broadcast_to(cols["rate"], (rows,))
    todo = arrivals._analyze_in_kernel(cfg, rate, cv, ocv, todo, status, full, admission,
                                       threads)  # fmt: skip
    for i in todo:
        replica, lengths = _row_replica(cfg, i, ocv[i])
        try:
            m = arrivals.analyze(replica, float(rate[i]), arrival_cv=float(cv[i]),
                                 admission=admission, lengths=lengths)  # fmt: skip
        except StatusError as err:  # e.g. UNSTABLE, BAD_ARRIVAL_LEVELS: the row's status
            status[i] = err.status
            for values in full.values():
                values[i] = np.nan
            continue
        status[i] = Status.OK
        for name, values in full.items():
            values[i] = m[METRIC_INDEX[name]]


SIZE_DEFAULT_METRICS = (
    "throughput",
    "itl_ms",
    "ttft_ms",
    "wait_ms",
    "utilization",
    "p_block",
    "max_rate",
)
_TARGET_SCALARS = ("itl_ms", "ttft_ms", "wait_ms", "max_block", "tps")


def _target_columns(data, targets: dict) -> dict[str, np.ndarray]:
    """Return the target columns in kernel order; None / absent -> 0 (not set).

    Percentiles come as ``(q, ms)`` keyword pairs or as data columns
    ``ttft_pq``/``ttft_p_ms`` (and wait_*).
    """
    cols = {}
    for name in _TARGET_SCALARS:
        value = targets.get(name)
        if value is None and data is not None and name in data:
            value = np.asarray(data[name])
        cols[name] = _numeric(name, 0.0 if value is None else value, np.float64)
    for prefix in ("ttft", "wait"):
        pair = targets.get(f"{prefix}_percentile")
        if pair is not None:
            try:
                q, ms = pair
            except (TypeError, ValueError):
                raise ValueError(
                    f"{prefix}_percentile must be a pair (quantile, ms), got {pair!r}"
                ) from None
        else:
            q = data[f"{prefix}_pq"] if data is not None and f"{prefix}_pq" in data else 0.0
            ms = data[f"{prefix}_p_ms"] if data is not None and f"{prefix}_p_ms" in data else 0.0
        cols[f"{prefix}_pq"] = _numeric(f"{prefix}_percentile quantile", q, np.float64)
        cols[f"{prefix}_p_ms"] = _numeric(f"{prefix}_percentile ms", ms, np.float64)
    from .sizing import TARGET_FIELDS

    return {name: cols[name] for name in TARGET_FIELDS}


def _prepare_size_call(data, columns, targets, metrics, default_metrics, traffic=None):
    unknown = set(columns) - set(CONFIG_COLUMNS)
    if unknown:
        raise TypeError(f"unexpected column(s) {sorted(unknown)}")
    cols = config_columns(data, **columns)
    tcols = _target_columns(data, targets)
    rows = broadcast_rows({**cols, **tcols, **(traffic or {})})
    names = _metric_selection(default_metrics if metrics is None else metrics)
    block = np.empty((len(names), rows))
    outs: list = [None] * len(METRIC_NAMES)
    for j, name in enumerate(names):
        outs[METRIC_INDEX[name]] = block[j]
    result = {
        "rate": np.empty(rows),
        "status": np.zeros(rows, dtype=np.int32),
        "binding": np.zeros(rows, dtype=np.int32),
        "iterations": np.zeros(rows, dtype=np.int32),
    }
    config = tuple(cols[name] for name in CONFIG_COLUMNS)
    targets_t = tuple(tcols.values())
    for j, name in enumerate(names):
        if name != "rate":
            result[name] = block[j]
    return rows, config, targets_t, outs, result


def size_many(
    data=None,
    *,
    itl_ms=None,
    ttft_ms=None,
    wait_ms=None,
    ttft_percentile=None,
    wait_percentile=None,
    max_block=None,
    tps=None,
    metrics=None,
    threads=None,
    admission=None,
    arrival_cv=None,
    out_tokens_cv=None,
    **columns,
):
    """Sizes many replicas at once: the largest offered rate meeting the targets.

    Takes the configuration columns of :func:`analyze_many` and target columns (each a
    scalar or an array; 0 or NaN = not set): ``itl_ms``, ``ttft_ms``, ``wait_ms`` (means),
    ``ttft_percentile`` / ``wait_percentile`` as ``(q, ms)`` pairs (or data columns
    ``ttft_pq``, ``ttft_p_ms``, ``wait_pq``, ``wait_p_ms``), ``max_block``, ``tps``.
    Semantics per row as :meth:`Replica.size`.

    Returns columns ``rate`` (req/s, NaN where not ok), ``status`` (int32, see
    :class:`Status`: infeasible targets and bad input are per row), ``binding`` (int32 code:
    index into ``inferplan.sizing.BINDING_NAMES``), ``iterations``, and the metrics at
    ``rate`` (default: throughput, itl_ms, ttft_ms, wait_ms, utilization, p_block,
    max_rate; ``metrics="all"`` for every one). A dict of arrays, or a DataFrame if
    ``data`` is one. Runs in the kernel on ``threads`` threads (default all cores), GIL
    released.
    ``admission`` (None, ``"immediate"`` or ``"iteration"``) sizes the TTFT (and for
    ``"iteration"`` the wait) targets as :meth:`Replica.size` does.

    ``arrival_cv`` and ``out_tokens_cv`` (columns, as in :func:`analyze_many`): rows other
    than 1 and 0 are sized as :func:`inferplan.arrivals.size` sizes them: on the C++ backend
    the rows with ``out_tokens_cv`` 0 in one kernel call, the others one row at a time.
    """
    from .admission import CODES, check_admission

    admission = check_admission(admission)
    code = CODES[admission]
    targets = dict(
        itl_ms=itl_ms,
        ttft_ms=ttft_ms,
        wait_ms=wait_ms,
        max_block=max_block,
        tps=tps,
        ttft_percentile=ttft_percentile,
        wait_percentile=wait_percentile,
    )
    traffic = traffic_columns(data, arrival_cv=arrival_cv, out_tokens_cv=out_tokens_cv)
    rows, config, tcols, outs, result = _prepare_size_call(
        data, columns, targets, metrics, SIZE_DEFAULT_METRICS, traffic
    )
    if rows:
        dispatch.active().size_many(
            config, tcols, outs, result["rate"], result["status"], result["binding"],
            result["iterations"], _threads(threads), code,
        )  # fmt: skip
        _size_rows_traffic(config, tcols, traffic, result, outs, admission, _threads(threads))
    return _wrap(data, result)


def _size_rows_traffic(config, tcols, traffic, result, outs, admission, threads) -> None:
    """Size the rows with an arrival or output-length CV with inferplan.arrivals.

    On the C++ backend the rows with mean output lengths take one kernel batch call.
    """
    status = result["status"]
    rows = status.size
    todo, bad, cv, ocv = _traffic_rows(traffic, status, rows)
    result["rate"][bad] = np.nan
    result["binding"][bad] = 0
    result["iterations"][bad] = 0
    for out in outs:
        if out is not None:
            out[bad] = np.nan
    if not todo.size:
        return
    from . import arrivals  # only for such rows: the Poisson path does not import it

    cfg = [np.broadcast_to(c, (rows,)) for c in config]
    tgt = [np.broadcast_to(c, (rows,)) for c in tcols]
    todo = arrivals._size_in_kernel(cfg, tgt, cv, ocv, todo, result, outs, admission, threads)

    def given(x):  # 0 or NaN: not set
        return float(x) if x > 0.0 else None

    for i in todo:
        itl, ttft, wait, tq, tms, wq, wms, block, tps = (float(c[i]) for c in tgt)
        replica, lengths = _row_replica(cfg, i, ocv[i])
        try:
            res = arrivals.size(
                replica, arrival_cv=float(cv[i]), itl_ms=given(itl), ttft_ms=given(ttft),
                wait_ms=given(wait), ttft_percentile=(tq, tms) if tq > 0.0 else None,
                wait_percentile=(wq, wms) if wq > 0.0 else None, max_block=given(block),
                tps=given(tps), admission=admission, lengths=lengths,
            )  # fmt: skip
        except StatusError as err:  # e.g. a finite queue too long for the exact solve
            status[i] = err.status
            result["rate"][i] = np.nan
            result["binding"][i] = result["iterations"][i] = 0
            for out in outs:
                if out is not None:
                    out[i] = np.nan
            continue
        status[i] = int(res.status)
        result["binding"][i] = BINDING_NAMES.index(res.binding)
        result["iterations"][i] = res.iterations
        result["rate"][i] = res.rate if res.feasible else np.nan
        for j, out in enumerate(outs):
            if out is not None:
                out[i] = res.metrics[j] if res.feasible else np.nan


def optimal_concurrency_many(
    data=None,
    *,
    tolerance=0.05,
    itl_ms=None,
    ttft_ms=None,
    wait_ms=None,
    ttft_percentile=None,
    wait_percentile=None,
    max_block=None,
    tps=None,
    metrics=None,
    threads=None,
    **columns,
):
    """Find each row's smallest max batch with a sized throughput within ``tolerance`` of the best.

    The max batch is searched in ``1..max_batch`` (see
    :func:`inferplan.optimal_concurrency`).

    Returns the columns of :func:`size_many` at the chosen batch plus ``max_batch``
    (chosen) and ``peak_throughput``.
    """
    targets = dict(
        itl_ms=itl_ms,
        ttft_ms=ttft_ms,
        wait_ms=wait_ms,
        max_block=max_block,
        tps=tps,
        ttft_percentile=ttft_percentile,
        wait_percentile=wait_percentile,
    )
    rows, config, tcols, outs, result = _prepare_size_call(
        data, columns, targets, metrics, SIZE_DEFAULT_METRICS
    )
    tol = _numeric("tolerance", tolerance, np.float64)
    result["max_batch"] = np.zeros(rows, dtype=np.int64)
    result["peak_throughput"] = np.zeros(rows)
    if rows:
        dispatch.active().optimal_concurrency_many(
            config, tcols, tol, outs, result["rate"], result["status"], result["binding"],
            result["iterations"], result["max_batch"], result["peak_throughput"],
            _threads(threads),
        )  # fmt: skip
    return _wrap(data, result)


__all__ = [
    "CONFIG_COLUMNS",
    "CONFIG_DEFAULTS",
    "DEFAULT_METRICS",
    "SIZE_DEFAULT_METRICS",
    "analyze_many",
    "broadcast_rows",
    "config_columns",
    "optimal_concurrency_many",
    "size_many",
    "traffic_columns",
]

__dir__ = _lazy.public_dir(__name__)

"""Observations from running servers: vLLM's Prometheus metrics and engine-statistics logs.

A :class:`Window` is what the tuner (:mod:`inferplan.service.tuning`) and a control loop
consume: over an interval, the arrival rate, the mean prompt and output tokens, mean TTFT,
ITL and end-to-end latency, the mean batch occupancy, and ``points`` -- the (batch, ITL)
pairs the interval measured.

Two sources:

* **Prometheus exposition** (vLLM's ``/metrics``, from a URL or a file), parsed with
  ``prometheus_client``'s text parser into a :class:`Scrape`; two successive scrapes give a
  window (:func:`window_between`): counters and histogram sums are differenced (a counter
  that went down was reset: the later value is taken as the increase), gauges averaged.
  Metric names of vLLM's V0 and V1 engines are both understood (``vllm:gpu_cache_usage_perc``
  or ``vllm:kv_cache_usage_perc``, ``vllm:time_per_output_token_seconds`` or
  ``vllm:inter_token_latency_seconds``).
* **Engine-statistics logs** (CSV: ``timestamp, prompt_throughput, generation_throughput,
  num_running, num_swapped, num_pending, gpu_kvcache_usage, cpu_kvcache_usage``, one row per
  logging interval): :func:`read_engine_log` and :func:`engine_log_windows`. In a pure-decode
  interval (no prompt tokens, nothing pending) one iteration takes
  ``1000 * num_running / generation_throughput`` ms at batch ``num_running``: those are the
  window's points.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import _lazy

# (field, candidate metric family names, kind); the first name present wins.
_FAMILIES = (
    ("running", ("vllm:num_requests_running",), "gauge"),
    ("waiting", ("vllm:num_requests_waiting",), "gauge"),
    ("kv_usage", ("vllm:gpu_cache_usage_perc", "vllm:kv_cache_usage_perc"), "gauge"),
    ("prompt_tokens", ("vllm:prompt_tokens", "vllm:prompt_tokens_total"), "counter"),
    ("generation_tokens", ("vllm:generation_tokens", "vllm:generation_tokens_total"),
     "counter"),
    ("requests", ("vllm:request_success", "vllm:request_success_total"), "counter"),
    ("ttft", ("vllm:time_to_first_token_seconds",), "histogram"),
    ("itl", ("vllm:time_per_output_token_seconds", "vllm:inter_token_latency_seconds"),
     "histogram"),
    ("e2e", ("vllm:e2e_request_latency_seconds",), "histogram"),
    ("queue", ("vllm:request_queue_time_seconds",), "histogram"),
)  # fmt: skip


@dataclass(frozen=True)
class Scrape:
    """One reading of a server's metrics at ``timestamp`` (s).

    Counters are totals since the server started; histograms are ``(sum, count)``; a metric
    the server did not expose is NaN (or ``(nan, nan)``).
    """

    timestamp: float
    running: float = math.nan
    waiting: float = math.nan
    kv_usage: float = math.nan
    prompt_tokens: float = math.nan
    generation_tokens: float = math.nan
    requests: float = math.nan
    ttft: tuple[float, float] = (math.nan, math.nan)
    itl: tuple[float, float] = (math.nan, math.nan)
    e2e: tuple[float, float] = (math.nan, math.nan)
    queue: tuple[float, float] = (math.nan, math.nan)


@dataclass(frozen=True)
class Window:
    """Observations over ``[start, end]`` (s).

    Rates per second, times in ms; NaN = not measured. ``points`` are (batch, ITL ms) pairs
    for the tuner; an idle window has none.
    """

    start: float
    end: float
    arrival_rate: float = math.nan
    in_tokens: float = math.nan
    out_tokens: float = math.nan
    prompt_tokens_per_s: float = math.nan
    generation_tokens_per_s: float = math.nan
    ttft_ms: float = math.nan
    itl_ms: float = math.nan
    e2e_ms: float = math.nan
    queue_ms: float = math.nan
    batch: float = math.nan
    waiting: float = math.nan
    kv_usage: float = math.nan
    points: tuple[tuple[float, float], ...] = field(default=())

    @property
    def duration_s(self) -> float:
        """Length of the window, s."""
        return self.end - self.start

    @property
    def idle(self) -> bool:
        """Whether the window holds no decode points."""
        return not self.points

    def as_dict(self) -> dict:
        """Return the window as a JSON-able dict (non-finite numbers as None)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "points"}
        out = {k: (v if isinstance(v, float) and math.isfinite(v) else None) for k, v in
               out.items()}  # fmt: skip
        out["points"] = [list(p) for p in self.points]
        out["duration_s"] = self.duration_s
        return out


# ---------------------------------------------------------------------------------------------
# Prometheus exposition


def _matches(labels: dict, selector: dict | None) -> bool:
    return not selector or all(labels.get(k) == v for k, v in selector.items())


def parse_exposition(
    text: str, timestamp: float | None = None, *, labels: dict | None = None
) -> Scrape:
    """Return a :class:`Scrape` from Prometheus text exposition (vLLM's ``/metrics``).

    Series are summed over their label sets (several models or engines add up); ``labels``
    (e.g. ``{"model_name": "llama"}``) keeps only the matching series. Raises ValueError
    naming the line when the text is not valid exposition format.
    """
    from prometheus_client.parser import text_string_to_metric_families

    found: dict[str, dict[str, float]] = {}
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as err:  # the parser raises ValueError, or worse on garbage
        raise ValueError(f"not Prometheus text exposition format: {err}") from None
    by_name: dict[str, list] = {}
    for f in families:  # a name may come back as several families (e.g. untyped lines)
        by_name.setdefault(f.name, []).extend(f.samples)
    values: dict = {}
    for key, names, kind in _FAMILIES:
        name = next((n for n in names if n in by_name), None)
        if name is None:
            continue
        sums: dict[str, float] = {}
        for s in by_name[name]:
            if not _matches(s.labels, labels):
                continue
            suffix = s.name[len(name) :]
            if kind == "histogram" and suffix not in ("_sum", "_count"):
                continue
            if kind == "counter" and suffix not in ("_total", ""):
                continue
            v = float(s.value)
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"metric {s.name} {s.labels or ''} has value {s.value!r}")
            sums[suffix] = sums.get(suffix, 0.0) + v
        found[key] = sums
        if kind == "histogram":
            values[key] = (sums.get("_sum", math.nan), sums.get("_count", math.nan))
        else:
            values[key] = next(iter(sums.values()), math.nan) if sums else math.nan
    return Scrape(timestamp=time.time() if timestamp is None else float(timestamp), **values)


def scrape(source: str | Path, *, timeout: float = 5.0, labels: dict | None = None,
           timestamp: float | None = None) -> Scrape:  # fmt: skip
    """Read a server's metrics from an ``http(s)://`` URL or a file of exposition text.

    The timestamp is the time of reading (for a file, its modification time unless
    ``timestamp`` is given).
    """
    src = str(source)
    if src.startswith(("http://", "https://")):
        import urllib.request

        try:
            with urllib.request.urlopen(src, timeout=timeout) as resp:
                text = resp.read().decode("utf-8", "replace")
        except OSError as err:
            raise ValueError(f"{src}: cannot read metrics: {err}") from None
        return parse_exposition(text, timestamp, labels=labels)
    path = Path(src)
    try:
        text = path.read_text()
    except OSError as err:
        raise ValueError(f"{path}: cannot read metrics: {err.strerror}") from None
    try:
        return parse_exposition(text, path.stat().st_mtime if timestamp is None else timestamp,
                                labels=labels)  # fmt: skip
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def _increase(a: float, b: float) -> float:
    """Counter increase from a to b; a drop means the counter was reset (b counts since)."""
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return b - a if b >= a else b


def _ratio(num: float, den: float, scale: float = 1.0) -> float:
    return num / den * scale if den > 0 and math.isfinite(num) else math.nan


def _mean(*xs: float) -> float:
    vals = [x for x in xs if not math.isnan(x)]
    return sum(vals) / len(vals) if vals else math.nan


def window_between(prev: Scrape, cur: Scrape) -> Window:
    """Return the window between two scrapes of the same server (``cur`` later than ``prev``)."""
    dt = cur.timestamp - prev.timestamp
    if not dt > 0:
        raise ValueError(
            f"scrapes must be in time order: {prev.timestamp!r} then {cur.timestamp!r}"
        )
    done = _increase(prev.requests, cur.requests)
    prompt = _increase(prev.prompt_tokens, cur.prompt_tokens)
    gen = _increase(prev.generation_tokens, cur.generation_tokens)

    def hist_mean(a, b):
        s, n = _increase(a[0], b[0]), _increase(a[1], b[1])
        return _ratio(s, n, 1000.0)

    itl = hist_mean(prev.itl, cur.itl)
    batch = _mean(prev.running, cur.running)
    points = ((batch, itl),) if batch > 0 and itl > 0 else ()
    return Window(
        start=prev.timestamp, end=cur.timestamp,
        arrival_rate=_ratio(done, dt), in_tokens=_ratio(prompt, done),
        out_tokens=_ratio(gen, done), prompt_tokens_per_s=_ratio(prompt, dt),
        generation_tokens_per_s=_ratio(gen, dt), ttft_ms=hist_mean(prev.ttft, cur.ttft),
        itl_ms=itl, e2e_ms=hist_mean(prev.e2e, cur.e2e),
        queue_ms=hist_mean(prev.queue, cur.queue), batch=batch,
        waiting=_mean(prev.waiting, cur.waiting), kv_usage=_mean(prev.kv_usage, cur.kv_usage),
        points=points,
    )  # fmt: skip


class MetricsWindows:
    """Turns successive scrapes of one server into windows.

    ``push(scrape)`` returns the window since the previous scrape (None for the first one).
    """

    def __init__(self) -> None:
        self.last: Scrape | None = None

    def push(self, s: Scrape) -> Window | None:
        """Add a scrape; return the window since the previous one (None for the first)."""
        prev, self.last = self.last, s
        return None if prev is None else window_between(prev, s)


# ---------------------------------------------------------------------------------------------
# Engine-statistics logs (CSV)

ENGINE_LOG_COLUMNS = ("timestamp", "prompt_throughput", "generation_throughput", "num_running",
                      "num_pending", "gpu_kvcache_usage")  # fmt: skip


@dataclass(frozen=True)
class EngineLog:
    """An engine-statistics log as columns (NumPy arrays), one row per logging interval."""

    path: str
    timestamp: np.ndarray
    prompt_throughput: np.ndarray
    generation_throughput: np.ndarray
    num_running: np.ndarray
    num_pending: np.ndarray
    gpu_kvcache_usage: np.ndarray

    def __len__(self) -> int:
        """Return the number of log rows."""
        return int(self.timestamp.size)

    def decode_mask(self) -> np.ndarray:
        """Pure-decode intervals: no prompt tokens, nothing pending, tokens generated."""
        return (
            (self.prompt_throughput == 0) & (self.num_pending == 0)
            & (self.generation_throughput > 0) & (self.num_running > 0)
        )  # fmt: skip

    def iteration_points(self) -> tuple[np.ndarray, np.ndarray]:
        """(batch, iteration ms) of the pure-decode intervals."""
        m = self.decode_mask()
        b = self.num_running[m]
        return b, 1000.0 * b / self.generation_throughput[m]


def read_engine_log(path: str | Path) -> EngineLog:
    """Read an engine-statistics CSV log.

    Missing columns, non-numeric or negative values and timestamps out of order raise
    ValueError naming the file, row and column.
    """
    p = Path(path)
    try:
        fh = p.open(newline="")
    except OSError as err:
        raise ValueError(f"{p}: cannot read: {err.strerror}") from None
    with fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in ENGINE_LOG_COLUMNS if c not in header]
        if missing:
            raise ValueError(f"{p}: missing column(s) {', '.join(missing)} (header: {header})")
        cols: dict[str, list[float]] = {c: [] for c in ENGINE_LOG_COLUMNS}
        for i, row in enumerate(reader, start=2):
            for c in ENGINE_LOG_COLUMNS:
                raw = row.get(c)
                try:
                    v = float(raw)
                except (TypeError, ValueError):
                    raise ValueError(f"{p}: row {i}: column {c!r} is not a number: {raw!r}") \
                        from None  # fmt: skip
                if not math.isfinite(v) or (v < 0 and c != "timestamp"):
                    raise ValueError(f"{p}: row {i}: column {c!r} must be finite and >= 0, "
                                     f"got {raw!r}")  # fmt: skip
                cols[c].append(v)
    arrays = {c: np.asarray(v, dtype=float) for c, v in cols.items()}
    ts = arrays["timestamp"]
    if ts.size == 0:
        raise ValueError(f"{p}: no rows")
    back = np.flatnonzero(np.diff(ts) <= 0)
    if back.size:
        i = int(back[0]) + 3  # header is row 1
        raise ValueError(f"{p}: row {i}: timestamp {ts[i - 2]!r} is not after the previous one")
    return EngineLog(path=str(p), **arrays)


def engine_log_windows(
    log: EngineLog | str | Path, *, window_s: float = 10.0, in_tokens: float | None = None
) -> list[Window]:
    """Cut an engine log into windows of ``window_s`` seconds.

    Cut an engine log into windows of ``window_s`` seconds (the last partial one is kept if
    it has data). ``points`` are the pure-decode intervals' (batch, iteration ms).
    ``arrival_rate`` is estimated as prompt tokens per second / ``in_tokens`` when the mean
    prompt length is given (the log counts tokens, not requests).
    """
    if not isinstance(log, EngineLog):
        log = read_engine_log(log)
    if not (window_s > 0 and math.isfinite(window_s)):
        raise ValueError(f"window_s must be > 0, got {window_s!r}")
    ts = log.timestamp
    # each row reports the interval that ends at its timestamp
    dt = np.diff(ts, prepend=ts[0] - (np.median(np.diff(ts)) if ts.size > 1 else 1.0))
    decode = log.decode_mask()
    t0 = ts[0] - dt[0]
    index = np.floor((ts - t0 - 1e-9) / window_s).astype(int)
    out = []
    for k in range(int(index.max()) + 1):
        rows = np.flatnonzero(index == k)
        if rows.size == 0:
            continue
        span = float(dt[rows].sum())
        prompt = float((log.prompt_throughput[rows] * dt[rows]).sum())
        gen = float((log.generation_throughput[rows] * dt[rows]).sum())
        d = rows[decode[rows]]
        b = log.num_running[d]
        iteration = 1000.0 * b / log.generation_throughput[d]
        points = tuple(zip(b.tolist(), iteration.tolist(), strict=True))
        itl = float(np.median([p[1] for p in points])) if points else math.nan
        rate = prompt / span / in_tokens if in_tokens else math.nan
        out.append(Window(
            start=float(ts[rows[0]] - dt[rows[0]]), end=float(ts[rows[-1]]),
            arrival_rate=rate, in_tokens=in_tokens if in_tokens else math.nan,
            prompt_tokens_per_s=prompt / span, generation_tokens_per_s=gen / span,
            itl_ms=itl, batch=float(log.num_running[rows].mean()),
            waiting=float(log.num_pending[rows].mean()),
            kv_usage=float(log.gpu_kvcache_usage[rows].mean()), points=points,
        ))  # fmt: skip
    return out


def windows_from_scrapes(scrapes: Iterable[Scrape]) -> list[Window]:
    """Windows between each pair of successive scrapes."""
    w = MetricsWindows()
    return [x for x in (w.push(s) for s in scrapes) if x is not None]


__all__: Sequence[str] = [
    "EngineLog", "MetricsWindows", "Scrape", "Window", "engine_log_windows", "parse_exposition",
    "read_engine_log", "scrape", "window_between", "windows_from_scrapes",
]  # fmt: skip

__dir__ = _lazy.public_dir(__name__)

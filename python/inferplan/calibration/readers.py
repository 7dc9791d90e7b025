"""Readers for what people measure: benchmark reports and engine statistics, into one table.

:func:`read_benchmarks` detects the format of each file and returns one pandas DataFrame of
benchmark points, one row per measured load level, with the columns of :data:`COLUMNS`
(docs/calibration.md describes each one). Engine statistics (vLLM's periodic log lines, its
Prometheus metrics or a CSV of them) are time series rather than load levels; they come back
in the same table with the columns of :data:`ENGINE_COLUMNS` filled instead.

A row that cannot be used (a negative or NaN latency, a missing field, an unparsable value)
is never used silently: it is skipped, listed in ``df.attrs["skipped"]`` as
``(file, row, reason)`` and reported with one :class:`BenchmarkWarning`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .. import _lazy

__all__ = [
    "COLUMNS",
    "ENGINE_COLUMNS",
    "PROMETHEUS_COUNTERS",
    "PROMETHEUS_GAUGES",
    "BenchmarkFormatError",
    "BenchmarkWarning",
    "detect_format",
    "read_benchmarks",
]
__dir__ = _lazy.public_dir(__name__)

#: Columns of a benchmark point (times in ms, rates in req/s, tokens per request).
COLUMNS = (
    "source",  # file the row came from
    "row",  # 1-based position of the benchmark in that file (record, line or CSV data row)
    "format",  # detected format, e.g. "guidellm-json", "vllm-bench-json"
    "benchmark",  # the tool's name for the run, e.g. "constant@5.98"
    "arrival",  # constant | poisson | gamma | synchronous | concurrent | throughput | ...
    "request_rate",  # measured completed requests per second
    "offered_rate",  # the rate the tool was asked to send (NaN when not a rate run)
    "duration_s",  # length of the measurement window
    "in_tokens",  # mean prompt tokens of completed requests
    "out_tokens",  # mean output tokens of completed requests
    "ttft_ms",  # mean time to first token
    "ttft_median_ms",
    "ttft_p90_ms",
    "ttft_p99_ms",
    "itl_ms",  # mean inter-token latency
    "itl_median_ms",
    "itl_p90_ms",
    "itl_p99_ms",
    "tpot_ms",  # mean time per output token (latency / output tokens)
    "latency_ms",  # mean end-to-end request latency
    "concurrency",  # mean requests in flight
    "completed",  # requests completed in the window
    "errored",
    "incomplete",
    "output_tps",  # output tokens per second
)
#: Extra columns of engine-statistics rows (one row per sample).
ENGINE_COLUMNS = (
    "timestamp_s",
    "num_running",
    "num_waiting",
    "prompt_tps",  # prompt tokens per second over the sampling interval
    "generation_tps",  # generated tokens per second over the sampling interval
    "kv_cache_usage",  # fraction 0..1 (percentages are converted)
    "batch_size",  # = num_running
    "iteration_ms",  # 1000 * num_running / generation_tps on pure-decode samples, else NaN
)


class BenchmarkWarning(UserWarning):
    """Rows of a benchmark file were skipped (see ``df.attrs["skipped"]``)."""


class BenchmarkFormatError(ValueError):
    """A file is in no supported format, or is malformed beyond one row."""


# --------------------------------------------------------------------------- helpers


def _num(value) -> float:
    """Return a float from a number or numeric string; NaN for None/''/'nan'. Raises ValueError."""
    if value is None:
        return math.nan
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if text == "" or text.lower() in ("nan", "none", "null", "n/a"):
        return math.nan
    if text.lower() in ("inf", "+inf", "infinity"):
        return math.inf
    return float(text)


def _pct_list(text) -> list[float]:
    """GuideLLM's '[min, 0.1, 1, 5, 10, 25, 75, 90, 95, 99, max]' percentile string."""
    if isinstance(text, (list, tuple)):
        return [float(x) for x in text]
    values = json.loads(str(text))
    return [float(x) for x in values]


# positions in GuideLLM's percentile strings
_P_INDEX = {"min": 0, "p001": 1, "p01": 2, "p05": 3, "p10": 4, "p25": 5, "p75": 6, "p90": 7,
            "p95": 8, "p99": 9, "max": 10}  # fmt: skip


class _Sink:
    """Collects rows and skipped rows of one read."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.skipped: list[tuple[str, int, str]] = []

    def skip(self, source: str, row: int, reason: str) -> None:
        self.skipped.append((source, row, reason))


def _validate(rec: dict, source: str, row: int, sink: _Sink) -> None:
    """Check the numbers of a benchmark point and add it, or skip it with the reason."""
    for name in ("ttft_ms", "ttft_median_ms", "itl_ms", "itl_median_ms", "request_rate",
                 "in_tokens", "out_tokens", "concurrency", "latency_ms", "tpot_ms",
                 "ttft_p90_ms", "ttft_p99_ms", "itl_p90_ms", "itl_p99_ms"):  # fmt: skip
        v = rec.get(name, math.nan)
        if isinstance(v, float) and not math.isnan(v) and (v < 0 or math.isinf(v)):
            sink.skip(source, row, f"{name} = {v!r} (must be finite and >= 0)")
            return
    for name in ("request_rate", "out_tokens"):
        v = rec.get(name, math.nan)
        if not (isinstance(v, float) and v > 0):
            sink.skip(source, row, f"{name} = {v!r} (missing or not > 0)")
            return
    if all(math.isnan(rec.get(n, math.nan)) for n in ("ttft_ms", "ttft_median_ms", "itl_ms")):
        sink.skip(source, row, "no TTFT or ITL measurement")
        return
    out = {c: math.nan for c in COLUMNS}
    out.update(rec)
    out["source"], out["row"] = source, row
    sink.rows.append(out)


def _arrival(kind: str | None) -> str:
    kind = (kind or "").lower()
    return {
        "constant": "constant",
        "poisson": "poisson",
        "synchronous": "synchronous",
        "concurrent": "concurrent",
        "throughput": "throughput",
        "sweep": "sweep",
    }.get(kind, kind or "unknown")


# ------------------------------------------------------------ GuideLLM flat records


_FLAT_STATS = {
    "request_rate": "Requests per second",
    "concurrency": "Request concurrency",
    "latency_s": "Request latency",
    "in_tokens": "Prompt token count",
    "out_tokens": "Output token count",
    "ttft": "Time to first token ms",
    "tpot": "Time per output token ms",
    "itl": "Inter token latency ms",
    "output_tps": "Output tokens per second",
}
_FLAT_PCT_SUFFIX = " [min, 0.1, 1, 5, 10, 25, 75, 90, 95, 99, max]"


def _flat_record(d: dict, source: str, row: int, fmt: str, sink: _Sink) -> None:
    """One benchmark in GuideLLM's flat layout.

    The CSV writer's columns of the 0.3 era ("Successful Time to first token ms mean", ...),
    as CSV or as JSON records.
    """

    def get(metric: str, stat: str) -> float:
        key = f"Successful {_FLAT_STATS[metric]} {stat}"
        if key not in d:
            raise KeyError(key)
        return _num(d[key])

    def pct(metric: str, which: str) -> float:
        key = f"Successful {_FLAT_STATS[metric]}{_FLAT_PCT_SUFFIX}"
        if key not in d or d[key] in (None, ""):
            return math.nan
        return _pct_list(d[key])[_P_INDEX[which]]

    try:
        name = str(d.get("Name", d.get("Benchmark", "")))
        kind, offered, duration = _flat_strategy(d, name)
        rec = {
            "format": fmt,
            "benchmark": name,
            "arrival": _arrival(kind),
            "request_rate": get("request_rate", "mean"),
            "offered_rate": offered,
            "duration_s": duration,
            "in_tokens": get("in_tokens", "mean"),
            "out_tokens": get("out_tokens", "mean"),
            "ttft_ms": get("ttft", "mean"),
            "ttft_median_ms": get("ttft", "median"),
            "ttft_p90_ms": pct("ttft", "p90"),
            "ttft_p99_ms": pct("ttft", "p99"),
            "itl_ms": get("itl", "mean"),
            "itl_median_ms": get("itl", "median"),
            "itl_p90_ms": pct("itl", "p90"),
            "itl_p99_ms": pct("itl", "p99"),
            "tpot_ms": get("tpot", "mean"),
            "latency_ms": 1000.0 * get("latency_s", "mean"),
            "concurrency": get("concurrency", "mean"),
            "completed": _num(d.get("Successful Requests")),
            "errored": _num(d.get("Errored Requests")),
            "incomplete": _num(d.get("Incomplete Requests")),
            "output_tps": get("output_tps", "mean"),
        }
    except KeyError as exc:
        sink.skip(source, row, f"missing field {exc.args[0]!r}")
        return
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        sink.skip(source, row, f"unparsable value ({exc})")
        return
    _validate(rec, source, row, sink)


def _flat_strategy(d: dict, name: str) -> tuple[str, float, float]:
    """(strategy type, offered rate or NaN, window seconds) of a flat record."""
    kind, offered, duration = "", math.nan, _num(d.get("Duration"))
    args = d.get("Args")
    if isinstance(args, str) and args.strip().startswith("{"):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            args = None
    if isinstance(args, dict):
        strategy = args.get("strategy") or {}
        kind = str(strategy.get("type_", "") or "")
        if strategy.get("rate") is not None:
            offered = _num(strategy["rate"])
        max_duration = _num(args.get("max_duration"))
        if not math.isnan(max_duration):
            duration = max_duration
    if not kind:
        kind = name.split("@")[0]
    if math.isnan(offered) and "@" in name:
        with contextlib.suppress(ValueError):
            offered = float(name.split("@", 1)[1])
    if kind not in ("constant", "poisson"):
        offered = math.nan
    return kind, offered, duration


# ----------------------------------------------------------------- GuideLLM JSON


def _dist(metrics: dict, name: str, status: str = "successful") -> dict:
    m = metrics.get(name)
    if m is None:
        raise KeyError(f"metrics.{name}")
    if isinstance(m, dict) and status in m:
        m = m[status]
    if m is None:
        raise KeyError(f"metrics.{name}.{status}")
    return m


def _stat(metrics: dict, name: str, stat: str) -> float:
    d = _dist(metrics, name)
    if stat.startswith("p") and stat[1:].isdigit():
        p = d.get("percentiles") or {}
        if stat in p:
            return _num(p[stat])
        return math.nan
    if stat not in d:
        raise KeyError(f"metrics.{name}.successful.{stat}")
    return _num(d[stat])


def _guidellm_benchmark(b: dict, source: str, row: int, fmt: str, sink: _Sink) -> None:
    """Read one entry of a GuideLLM JSON report's ``benchmarks`` list.

    Either the 0.3-era ``args`` or the current ``config`` layout.
    """
    try:
        metrics = b["metrics"]
        conf = b.get("config") or b.get("args") or {}
        strategy = conf.get("strategy") or {}
        kind = str(strategy.get("type_", "") or "")
        offered = _num(strategy.get("rate")) if kind in ("constant", "poisson") else math.nan
        duration = _num(b.get("duration"))
        if math.isnan(duration):
            rs = b.get("run_stats") or b.get("scheduler_metrics") or {}
            start = _num(rs.get("measure_start_time", rs.get("start_time")))
            end = _num(rs.get("measure_end_time", rs.get("end_time")))
            duration = end - start if end > start else math.nan
        totals = metrics.get("request_totals") or b.get("request_totals") or {}
        itl_name = "inter_token_latency_ms"
        rec = {
            "format": fmt,
            "benchmark": f"{kind}@{offered:.2f}" if not math.isnan(offered) else kind,
            "arrival": _arrival(kind),
            "request_rate": _stat(metrics, "requests_per_second", "mean"),
            "offered_rate": offered,
            "duration_s": duration,
            "in_tokens": _stat(metrics, "prompt_token_count", "mean"),
            "out_tokens": _stat(metrics, "output_token_count", "mean"),
            "ttft_ms": _stat(metrics, "time_to_first_token_ms", "mean"),
            "ttft_median_ms": _stat(metrics, "time_to_first_token_ms", "median"),
            "ttft_p90_ms": _stat(metrics, "time_to_first_token_ms", "p90"),
            "ttft_p99_ms": _stat(metrics, "time_to_first_token_ms", "p99"),
            "itl_ms": _stat(metrics, itl_name, "mean"),
            "itl_median_ms": _stat(metrics, itl_name, "median"),
            "itl_p90_ms": _stat(metrics, itl_name, "p90"),
            "itl_p99_ms": _stat(metrics, itl_name, "p99"),
            "tpot_ms": _stat(metrics, "time_per_output_token_ms", "mean"),
            "latency_ms": 1000.0 * _stat(metrics, "request_latency", "mean"),
            "concurrency": _stat(metrics, "request_concurrency", "mean"),
            "completed": _num(totals.get("successful")),
            "errored": _num(totals.get("errored")),
            "incomplete": _num(totals.get("incomplete")),
            "output_tps": _stat(metrics, "output_tokens_per_second", "mean")
            if "output_tokens_per_second" in metrics
            else math.nan,
        }
    except KeyError as exc:
        sink.skip(source, row, f"missing field {exc.args[0]!r}")
        return
    except (ValueError, TypeError, AttributeError) as exc:
        sink.skip(source, row, f"unparsable value ({exc})")
        return
    _validate(rec, source, row, sink)


# ---------------------------------------------------------- GuideLLM CSV (current)

# The current CSV writer: three header rows (group, "<Status> <units>", statistic), one
# data row per benchmark. Each distribution is a block of four cells (Mean, Median, Std
# Dev, Percentiles "[min, p0.1, p1, p5, p10, p25, p75, p90, p95, p99, max]"); a status's
# block is written only when it has data, but the header comes from the first benchmark
# alone, so later rows with incomplete or errored requests carry extra blocks the header
# does not name. Blocks are re-aligned from the row's own request counts.

_STATUSES = ("Successful", "Incomplete", "Errored")


def _csv_blocks(header: list[tuple[str, str, str]]):
    """Split a 3-row header into scalar fields and stat blocks, in column order.

    ``[("field", (group, name), col) | ("block", group, units, status, col)]``.
    """
    items = []
    i = 0
    while i < len(header):
        group, mid, stat = header[i]
        if stat == "Mean" and i + 3 < len(header) and header[i + 3][2] == "Percentiles":
            status, units = "", mid
            for s in _STATUSES:
                if mid.startswith(s + " ") or mid == s:
                    status, units = s, mid[len(s) :].strip()
            items.append(("block", group, units, status, i))
            i += 4
        else:
            items.append(("field", (group, mid), i))
            i += 1
    return items


def _guidellm_csv_current(rows: list[list[str]], source: str, sink: _Sink) -> None:
    header = list(zip(*[r + [""] * (max(map(len, rows[:3])) - len(r)) for r in rows[:3]],
                      strict=False))  # fmt: skip
    items = _csv_blocks(header)
    groups: list[tuple[str, str, list[str]]] = []  # (group, units, statuses in header)
    for it in items:
        if it[0] == "block":
            if groups and groups[-1][0] == it[1] and groups[-1][1] == it[2]:
                groups[-1][2].append(it[3])
            else:
                groups.append((it[1], it[2], [it[3]]))
    fields = {it[1]: it[2] for it in items if it[0] == "field"}
    first_block_col = min((it[4] for it in items if it[0] == "block"), default=len(header))
    for k, data in enumerate(rows[3:], start=1):
        if not any(cell.strip() for cell in data):
            continue
        try:
            counts = {s: _num(data[fields[("Request Counts", s)]]) for s in _STATUSES}
        except (KeyError, IndexError, ValueError) as exc:
            sink.skip(source, k, f"no readable 'Request Counts' columns ({exc})")
            continue
        values = _row_blocks(data, first_block_col)
        if values is None:
            sink.skip(source, k, "a statistics block is malformed (no percentile list)")
            continue
        layout = _align(groups, counts, len(values))
        if layout is None:
            sink.skip(
                source, k, f"cannot align its {len(values)} statistics blocks with the header "
                "(written from the first benchmark) and this row's request counts",
            )  # fmt: skip
            continue
        stats: dict[tuple[str, str], tuple] = {}
        j = 0
        for group, units, st in layout:
            for s in st:
                if s in ("Successful", ""):
                    stats[(group, units)] = values[j]
                j += 1
        try:
            kind, offered = _csv_strategy(data, fields)
            duration = _num(data[fields[("Timings", "Duration")]]) if (
                "Timings", "Duration") in fields else math.nan  # fmt: skip

            def s(group, units, stats=stats):
                return _num(stats[(group, units)][0])

            ttft = stats[("Time to First Token", "ms")]
            itl = stats[("Inter Token Latency", "ms")]
            rec = {
                "format": "guidellm-csv",
                "benchmark": f"{kind}@{offered:.2f}" if not math.isnan(offered) else kind,
                "arrival": _arrival(kind),
                "request_rate": s("Server Throughput", "Requests/Sec"),
                "offered_rate": offered,
                "duration_s": duration,
                "in_tokens": s("Token Metrics", "Input Tokens"),
                "out_tokens": s("Token Metrics", "Output Tokens"),
                "ttft_ms": _num(ttft[0]),
                "ttft_median_ms": _num(ttft[1]),
                "ttft_p90_ms": ttft[3][_P_INDEX["p90"]],
                "ttft_p99_ms": ttft[3][_P_INDEX["p99"]],
                "itl_ms": _num(itl[0]),
                "itl_median_ms": _num(itl[1]),
                "itl_p90_ms": itl[3][_P_INDEX["p90"]],
                "itl_p99_ms": itl[3][_P_INDEX["p99"]],
                "tpot_ms": s("Time per Output Token", "ms"),
                "latency_ms": 1000.0 * s("Request Latency", "Sec"),
                "concurrency": s("Server Throughput", "Concurrency"),
                "completed": counts["Successful"],
                "errored": counts["Errored"],
                "incomplete": counts["Incomplete"],
                "output_tps": s("Token Throughput", "Output Tokens/Sec")
                if ("Token Throughput", "Output Tokens/Sec") in stats
                else math.nan,
            }
        except KeyError as exc:
            sink.skip(source, k, f"missing column {exc.args[0]!r}")
            continue
        except (ValueError, IndexError) as exc:
            sink.skip(source, k, f"unparsable value ({exc})")
            continue
        _validate(rec, source, k, sink)


# Timing metrics that need a first token: an errored (or incomplete) request without one has
# no data there, so the writer leaves its block out.
_TOKEN_TIMING = ("Time to First Token", "Time per Output Token", "Inter Token Latency",
                 "Streaming Iterations")  # fmt: skip


def _align(groups, counts, n_blocks):
    """Return the (group, units, statuses) layout of a data row with ``n_blocks`` blocks.

    The header's, or every status the row has requests in, possibly without the incomplete
    or errored blocks of the token-timing metrics. None if no candidate fits.
    """
    present = [s for s in _STATUSES if counts.get(s, 0) > 0]
    candidates = [groups]
    for drop in ((), ("Errored",), ("Incomplete",), ("Errored", "Incomplete")):
        lay = []
        for group, units, statuses in groups:
            st = [s for s in _STATUSES if s in statuses or s in present]
            if group in _TOKEN_TIMING:
                st = [s for s in st if s not in drop or s == statuses[0]]
            lay.append((group, units, st))
        candidates.append(lay)
    for lay in candidates:
        if sum(len(st) for _, _, st in lay) == n_blocks:
            return lay
    return None


def _row_blocks(data: list[str], start: int):
    """Return the row's stat blocks from column ``start``.

    (mean, median, std, percentiles) each, found by their percentile list; scalar cells
    between blocks end the run.
    """
    out = []
    i = start
    while i + 3 < len(data):
        cell = data[i + 3].strip()
        if not cell.startswith("["):
            break
        try:
            pct = _pct_list(cell)
        except (ValueError, json.JSONDecodeError):
            return None
        out.append((data[i], data[i + 1], data[i + 2], pct))
        i += 4
    return out


def _csv_strategy(data, fields) -> tuple[str, float]:
    kind = data[fields[("Benchmark", "Strategy")]] if ("Benchmark", "Strategy") in fields else ""
    offered = math.nan
    if ("Run Info", "Profile") in fields:
        try:
            prof = json.loads(data[fields[("Run Info", "Profile")]])
            rates = prof.get("rate")
            idx = _num(data[fields[("Run Info", "Run Index")]]) if ("Run Info", "Run Index") in \
                fields else math.nan  # fmt: skip
            if isinstance(rates, list) and not math.isnan(idx) and int(idx) < len(rates):
                offered = _num(rates[int(idx)])
            elif isinstance(rates, (int, float)) and rates > 0:
                offered = float(rates)
        except (json.JSONDecodeError, ValueError, AttributeError, TypeError):
            pass
    if kind not in ("constant", "poisson"):
        offered = math.nan
    return kind, offered


# ------------------------------------------------------- vLLM benchmark_serving JSON


def _vllm_bench(d: dict, source: str, row: int, sink: _Sink) -> None:
    """One result of vLLM's ``benchmark_serving.py`` / ``vllm bench serve --save-result``."""
    try:
        completed = _num(d["completed"])
        duration = _num(d["duration"])
        rate = _num(d.get("request_rate"))
        burst = _num(d.get("burstiness", 1.0))
        if math.isinf(rate) or math.isnan(rate):
            arrival, offered = "throughput", math.nan
        else:
            arrival = "poisson" if burst == 1.0 or math.isnan(burst) else "gamma"
            offered = rate
        if not math.isnan(_num(d.get("max_concurrency"))) and math.isinf(rate):
            arrival = "concurrent"
        in_lens = d.get("input_lens")
        out_lens = d.get("output_lens")
        if in_lens and out_lens:
            ok = [i for i, o in enumerate(out_lens) if o and o > 0]
            in_tokens = float(np.mean([in_lens[i] for i in ok])) if ok else math.nan
            out_tokens = float(np.mean([out_lens[i] for i in ok])) if ok else math.nan
        else:
            in_tokens = _num(d["total_input_tokens"]) / completed
            out_tokens = _num(d["total_output_tokens"]) / completed
        rec = {
            "format": "vllm-bench-json",
            "benchmark": f"rate={d.get('request_rate')}",
            "arrival": arrival,
            "request_rate": _num(d["request_throughput"]),
            "offered_rate": offered,
            "duration_s": duration,
            "in_tokens": in_tokens,
            "out_tokens": out_tokens,
            "ttft_ms": _num(d["mean_ttft_ms"]),
            "ttft_median_ms": _num(d.get("median_ttft_ms")),
            "ttft_p90_ms": _num(d.get("p90_ttft_ms")),
            "ttft_p99_ms": _num(d.get("p99_ttft_ms")),
            "itl_ms": _num(d["mean_itl_ms"]),
            "itl_median_ms": _num(d.get("median_itl_ms")),
            "itl_p90_ms": _num(d.get("p90_itl_ms")),
            "itl_p99_ms": _num(d.get("p99_itl_ms")),
            "tpot_ms": _num(d.get("mean_tpot_ms")),
            "latency_ms": _num(d.get("mean_e2el_ms")),
            "concurrency": _num(d.get("mean_e2el_ms")) * _num(d["request_throughput"]) / 1000.0,
            "completed": completed,
            "errored": _num(d.get("num_prompts", completed)) - completed
            if d.get("num_prompts") is not None
            else math.nan,
            "incomplete": math.nan,
            "output_tps": _num(d.get("output_throughput")),
        }
    except KeyError as exc:
        sink.skip(source, row, f"missing field {exc.args[0]!r}")
        return
    except (ValueError, TypeError, ZeroDivisionError) as exc:
        sink.skip(source, row, f"unparsable value ({exc})")
        return
    _validate(rec, source, row, sink)


# ------------------------------------------------------------ vLLM engine statistics

_LOG_LINE = re.compile(
    r"Avg prompt throughput:\s*(?P<prompt>[-\d.eE+]+)\s*tokens/s,\s*"
    r"Avg generation throughput:\s*(?P<gen>[-\d.eE+]+)\s*tokens/s,\s*"
    r"Running:\s*(?P<running>[-\d]+)\s*reqs?,\s*"
    r"(?:Swapped:\s*(?P<swapped>[-\d]+)\s*reqs?,\s*)?"
    r"(?:Pending|Waiting):\s*(?P<waiting>[-\d]+)\s*reqs?,\s*"
    r"GPU KV cache usage:\s*(?P<kv>[-\d.eE+]+)%"
)
_LOG_TIME = re.compile(r"(\d{2})-(\d{2})\s+(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?")

#: Prometheus series read from a vLLM ``/metrics`` scrape (gauges; counters are differenced).
PROMETHEUS_GAUGES = {
    "vllm:num_requests_running": "num_running",
    "vllm:num_requests_waiting": "num_waiting",
    "vllm:gpu_cache_usage_perc": "kv_cache_usage",
    "vllm:kv_cache_usage_perc": "kv_cache_usage",
    "vllm:avg_prompt_throughput_toks_per_s": "prompt_tps",
    "vllm:avg_generation_throughput_toks_per_s": "generation_tps",
}
PROMETHEUS_COUNTERS = {
    "vllm:prompt_tokens_total": "prompt_tps",
    "vllm:generation_tokens_total": "generation_tps",
}


def _engine_row(sample: dict, source: str, row: int, fmt: str, sink: _Sink) -> None:
    rec = {c: math.nan for c in COLUMNS + ENGINE_COLUMNS}
    rec.update(sample)
    rec.update(source=source, row=row, format=fmt, arrival="engine")
    for name in ("num_running", "num_waiting", "prompt_tps", "generation_tps",
                 "kv_cache_usage"):  # fmt: skip
        v = rec[name]
        if isinstance(v, float) and not math.isnan(v) and (v < 0 or math.isinf(v)):
            sink.skip(source, row, f"{name} = {v!r} (must be finite and >= 0)")
            return
    if math.isnan(rec["num_running"]) or math.isnan(rec["generation_tps"]):
        sink.skip(source, row, "missing num_running or generation throughput")
        return
    b = rec["num_running"]
    rec["batch_size"] = b
    pure_decode = (rec["prompt_tps"] == 0 or math.isnan(rec["prompt_tps"])) and (
        rec["num_waiting"] == 0 or math.isnan(rec["num_waiting"])
    )
    if pure_decode and b > 0 and rec["generation_tps"] > 0:
        rec["iteration_ms"] = 1000.0 * b / rec["generation_tps"]
    sink.rows.append(rec)


def _engine_csv(rows: list[dict], source: str, sink: _Sink) -> None:
    """CSV of engine statistics.

    timestamp, prompt_throughput, generation_throughput, num_running, num_pending (or
    num_waiting), gpu_kvcache_usage, ... The KV-cache usage is a percentage when any value
    of the file exceeds 1 (as vLLM prints it), else a fraction; it is stored as a fraction.
    """
    kv_scale = 1.0
    try:
        kv = [_num(r.get("gpu_kvcache_usage", r.get("kv_cache_usage"))) for r in rows]
        if any(v > 1.0 for v in kv if not math.isnan(v)):
            kv_scale = 0.01
    except (ValueError, TypeError):
        pass  # reported per row below
    for k, r in enumerate(rows, start=1):
        try:
            sample = {
                "timestamp_s": _num(r.get("timestamp")),
                "prompt_tps": _num(r.get("prompt_throughput")),
                "generation_tps": _num(r["generation_throughput"]),
                "num_running": _num(r["num_running"]),
                "num_waiting": _num(r.get("num_pending", r.get("num_waiting"))),
                "kv_cache_usage": kv_scale
                * _num(r.get("gpu_kvcache_usage", r.get("kv_cache_usage"))),
            }
        except KeyError as exc:
            sink.skip(source, k, f"missing column {exc.args[0]!r}")
            continue
        except (ValueError, TypeError) as exc:
            sink.skip(source, k, f"unparsable value ({exc})")
            continue
        _engine_row(sample, source, k, "vllm-engine-csv", sink)


def _engine_log(lines: list[str], source: str, sink: _Sink) -> None:
    """Read vLLM's periodic 'Avg prompt throughput: ... GPU KV cache usage: ...%' log lines."""
    found = 0
    for k, line in enumerate(lines, start=1):
        if "Avg prompt throughput" not in line:
            continue
        m = _LOG_LINE.search(line)
        if m is None:
            sink.skip(source, k, "a stats log line in an unknown layout")
            continue
        found += 1
        t = _LOG_TIME.search(line)
        ts = math.nan
        if t is not None:
            _mo, dd, hh, mi, ss, frac = t.groups()
            ts = ((int(dd) * 24 + int(hh)) * 60 + int(mi)) * 60 + int(ss)
            ts += float("0." + frac) if frac else 0.0
        sample = {
            "timestamp_s": ts,
            "prompt_tps": float(m["prompt"]),
            "generation_tps": float(m["gen"]),
            "num_running": float(m["running"]),
            "num_waiting": float(m["waiting"]),
            "kv_cache_usage": float(m["kv"]) / 100.0,
        }
        _engine_row(sample, source, k, "vllm-engine-log", sink)
    if not found and not sink.skipped:
        raise BenchmarkFormatError(f"{source}: no vLLM engine statistics lines found")


_PROM = re.compile(
    r"^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)(?:\s+(?P<ts>\d+))?"
)


def _engine_prometheus(lines: list[str], source: str, sink: _Sink) -> None:
    """Prometheus text exposition of vLLM's /metrics.

    Several scrapes may follow each other in one file (a ``# scrape`` comment or a repeated
    series starts the next); samples with timestamps are grouped by timestamp. Counters
    become rates between scrapes.
    """
    scrapes: list[dict] = []
    cur: dict = {}
    line_of: list[int] = []
    for k, line in enumerate(lines, start=1):
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            if s.lower().startswith("# scrape") and cur:
                scrapes.append(cur)
                line_of.append(k)
                cur = {}
            continue
        m = _PROM.match(s)
        if m is None:
            sink.skip(source, k, "not a Prometheus sample line")
            continue
        name = m["name"]
        if name not in PROMETHEUS_GAUGES and name not in PROMETHEUS_COUNTERS:
            continue
        try:
            value = _num(m["value"])
        except ValueError:
            sink.skip(source, k, f"{name} has value {m['value']!r}")
            continue
        ts = float(m["ts"]) / 1000.0 if m["ts"] else math.nan
        if not math.isnan(ts) and "timestamp_s" in cur and cur["timestamp_s"] != ts:
            scrapes.append(cur)
            line_of.append(k)
            cur = {}
        key = ("counter:" + name) if name in PROMETHEUS_COUNTERS else PROMETHEUS_GAUGES[name]
        # a repeated series: the next scrape (or another engine: summed)
        if key in cur and math.isnan(ts):
            scrapes.append(cur)
            line_of.append(k)
            cur = {}
        cur[key] = cur.get(key, 0.0) + value if key in cur else value
        if not math.isnan(ts):
            cur["timestamp_s"] = ts
    if cur:
        scrapes.append(cur)
        line_of.append(len(lines))
    if not scrapes:
        raise BenchmarkFormatError(f"{source}: no vLLM Prometheus series found")
    prev = None
    for i, sc in enumerate(scrapes, start=1):
        sample = {k: v for k, v in sc.items() if not k.startswith("counter:")}
        if prev is not None and not math.isnan(sc.get("timestamp_s", math.nan)):
            dt = sc["timestamp_s"] - prev.get("timestamp_s", math.nan)
            for name, col in PROMETHEUS_COUNTERS.items():
                key = "counter:" + name
                if key in sc and key in prev and dt > 0 and col not in sample:
                    sample[col] = (sc[key] - prev[key]) / dt
        prev = sc
        if "generation_tps" not in sample:
            if i == 1 and len(scrapes) > 1:
                continue  # the first scrape only anchors the counters
            sample.setdefault("generation_tps", math.nan)
        _engine_row(sample, source, i, "vllm-prometheus", sink)


# ------------------------------------------------------------------- detection


def detect_format(path: str | os.PathLike) -> str:
    """Return the format of one file.

    ``guidellm-json``, ``guidellm-records``, ``guidellm-csv``, ``guidellm-csv-flat``,
    ``vllm-bench-json``, ``vllm-engine-csv``, ``vllm-engine-log`` or ``vllm-prometheus``.
    Raises :class:`BenchmarkFormatError` if none fits.
    """
    text = _read_text(path)
    return _detect(text, str(path))[0]


def _read_text(path) -> str:
    p = Path(path)
    if not p.exists():
        raise BenchmarkFormatError(f"{p}: no such file")
    if p.is_dir():
        raise BenchmarkFormatError(f"{p}: is a directory (pass the files in it)")
    raw = p.read_bytes()
    if p.suffix == ".gz":
        import gzip

        raw = gzip.decompress(raw)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BenchmarkFormatError(f"{p}: not a text file (UTF-8)") from None


def _detect(text: str, source: str):
    s = text.lstrip()
    if not s:
        raise BenchmarkFormatError(f"{source}: the file is empty")
    if s[0] in "[{":
        try:
            data = json.loads(s)
        except json.JSONDecodeError as exc:
            lines = [ln for ln in s.splitlines() if ln.strip()]
            if s[0] == "{" and len(lines) > 1:  # JSON lines, one result a line
                return "vllm-bench-jsonl", None
            raise BenchmarkFormatError(
                f"{source}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            ) from None
        if isinstance(data, dict) and isinstance(data.get("benchmarks"), list):
            return "guidellm-json", data
        if isinstance(data, dict) and "mean_ttft_ms" in data:
            return "vllm-bench-json", data
        if isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
            if any(any(str(k).startswith("Successful ") for k in x) for x in data):
                return "guidellm-records", data
            if all("mean_ttft_ms" in x for x in data):
                return "vllm-bench-json", data
        raise BenchmarkFormatError(
            f"{source}: JSON, but neither a GuideLLM report (a 'benchmarks' list or "
            "flat records) nor a vLLM benchmark_serving result ('mean_ttft_ms')"
        )
    head = s[:4096]
    if "Avg prompt throughput" in head or "Avg generation throughput" in text[:200000]:
        return "vllm-engine-log", None
    if re.search(r"^vllm:\w+", s, re.M) or "# TYPE vllm:" in head:
        return "vllm-prometheus", None
    first = next(csv.reader(io.StringIO(s.splitlines()[0])), [])
    first = [c.strip() for c in first]
    if "num_running" in first and "generation_throughput" in first:
        return "vllm-engine-csv", None
    if any(c.startswith("Successful ") for c in first):
        return "guidellm-csv-flat", None
    if "Run Info" in first or "Benchmark" in first or "Request Counts" in first:
        return "guidellm-csv", None
    raise BenchmarkFormatError(
        f"{source}: unknown format (expected GuideLLM JSON/CSV, vLLM benchmark_serving JSON, "
        "vLLM engine statistics as CSV, log lines or Prometheus text)"
    )


def _read_one(path, sink: _Sink) -> str:
    source = str(path)
    text = _read_text(path)
    fmt, data = _detect(text, source)
    if fmt == "guidellm-json":
        for k, b in enumerate(data["benchmarks"], start=1):
            if not isinstance(b, dict):
                sink.skip(source, k, "a benchmark entry that is not an object")
                continue
            _guidellm_benchmark(b, source, k, fmt, sink)
    elif fmt == "guidellm-records":
        for k, b in enumerate(data, start=1):
            _flat_record(b, source, k, fmt, sink)
    elif fmt == "vllm-bench-json":
        for k, d in enumerate(data if isinstance(data, list) else [data], start=1):
            _vllm_bench(d, source, k, sink)
    elif fmt == "vllm-bench-jsonl":
        fmt = "vllm-bench-json"
        for k, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as exc:
                sink.skip(source, k, f"malformed JSON ({exc.msg})")
                continue
            _vllm_bench(d, source, k, sink)
    elif fmt == "guidellm-csv-flat":
        reader = csv.DictReader(io.StringIO(text))
        for k, r in enumerate(reader, start=1):
            if None in r:
                sink.skip(source, k, f"{len(r[None])} more cells than the header has columns")
                continue
            _flat_record(r, source, k, fmt, sink)
    elif fmt == "guidellm-csv":
        rows = list(csv.reader(io.StringIO(text)))
        if len(rows) < 4:
            raise BenchmarkFormatError(f"{source}: a GuideLLM CSV needs 3 header rows and data")
        _guidellm_csv_current(rows, source, sink)
    elif fmt == "vllm-engine-csv":
        _engine_csv(list(csv.DictReader(io.StringIO(text))), source, sink)
    elif fmt == "vllm-engine-log":
        _engine_log(text.splitlines(), source, sink)
    elif fmt == "vllm-prometheus":
        _engine_prometheus(text.splitlines(), source, sink)
    return fmt


def _paths(path_or_paths) -> list[tuple[Path, bool]]:
    """(file, given explicitly) pairs; a directory gives its files (not explicitly)."""
    if isinstance(path_or_paths, (str, os.PathLike)):
        items: Iterable = [path_or_paths]
    else:
        items = path_or_paths
    out: list[tuple[Path, bool]] = []
    for p in items:
        p = Path(p)
        if p.is_dir():
            files = [(q, False) for q in sorted(p.iterdir()) if q.is_file()]
            if not files:
                raise BenchmarkFormatError(f"{p}: no files in this directory")
            out.extend(files)
        else:
            out.append((p, True))
    if not out:
        raise BenchmarkFormatError("no benchmark files given")
    return out


def read_benchmarks(path_or_paths, *, warn: bool = True):
    """Read benchmark reports and engine statistics into one DataFrame.

    ``path_or_paths``: a file, a directory (its files) or a list of them. The format of each
    file is detected (:func:`detect_format`). Returns a DataFrame with the columns of
    :data:`COLUMNS` (and :data:`ENGINE_COLUMNS` when engine statistics were read), one row
    per benchmark point; ``df.attrs["skipped"]`` lists the rows left out as
    ``(file, row, reason)`` and ``df.attrs["formats"]`` maps each file to its format. A file
    named explicitly in no supported format raises :class:`BenchmarkFormatError` naming it;
    such a file found in a directory is listed as skipped (row 0) instead.
    """
    import pandas as pd

    sink = _Sink()
    formats = {}
    for p, explicit in _paths(path_or_paths):
        try:
            formats[str(p)] = _read_one(p, sink)
        except BenchmarkFormatError as exc:
            if explicit:
                raise
            sink.skip(str(p), 0, f"not read: {exc}")  # a stray file in a directory
    if not formats:  # only directories, and not one file in them could be read
        shown = "; ".join(why.removeprefix("not read: ") for _, _, why in sink.skipped[:3])
        more = f" (and {len(sink.skipped) - 3} more)" if len(sink.skipped) > 3 else ""
        raise BenchmarkFormatError(f"no benchmark file could be read: {shown}{more}")
    cols = list(COLUMNS)
    if any("num_running" in r for r in sink.rows):
        cols += list(ENGINE_COLUMNS)
    df = pd.DataFrame(sink.rows, columns=cols)
    for c in cols:
        if c not in ("source", "format", "benchmark", "arrival"):
            df[c] = pd.to_numeric(df[c], errors="coerce")
    df["row"] = df["row"].astype(int)
    df.attrs["skipped"] = list(sink.skipped)
    df.attrs["formats"] = formats
    if sink.skipped and warn:
        shown = "; ".join(f"{Path(f).name} row {r}: {why}" for f, r, why in sink.skipped[:5])
        more = f" (and {len(sink.skipped) - 5} more)" if len(sink.skipped) > 5 else ""
        warnings.warn(
            f"read_benchmarks skipped {len(sink.skipped)} row(s): {shown}{more}; "
            'see df.attrs["skipped"]',
            BenchmarkWarning,
            stacklevel=2,
        )
    return df

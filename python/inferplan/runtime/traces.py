"""Request traces: loaders (BurstGPT CSV, generic CSV/Parquet) and a synthetic generator.

A :class:`Trace` is a structure of arrays sorted by arrival time: ``time_s`` (seconds from
the start of the trace), ``in_tokens``, ``out_tokens`` and ``failed``. Nothing is dropped
silently: failed requests stay in the trace (flagged), and a loader either rejects a file
with the line numbers of its malformed rows or, with ``strict=False``, skips them and
says how many and which in :attr:`Trace.load_report`.

BurstGPT (Wang et al., "BurstGPT: A Real-world Workload Dataset to Optimize LLM Serving
Systems", https://github.com/HPMLL/BurstGPT) logs one request per row with the columns
``Timestamp`` (seconds from the start of the log), ``Model``, ``Request tokens``,
``Response tokens``, ``Total tokens`` and ``Log Type``; a failed request has 0 response
tokens.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import _lazy, _validate

__all__ = [
    "BURSTGPT_COLUMNS",
    "COLUMN_KEYS",
    "MAX_REQUESTS",
    "MAX_TRACE_S",
    "PRESETS",
    "SHOWN_BAD_LINES",
    "LoadReport",
    "TokenLaw",
    "Trace",
    "TraceError",
    "diurnal_profile",
    "load_burstgpt",
    "load_table",
    "load_trace",
    "parse_columns",
    "synthetic_trace",
]
__dir__ = _lazy.public_dir(__name__)

BURSTGPT_COLUMNS = (
    "Timestamp",
    "Model",
    "Request tokens",
    "Response tokens",
    "Total tokens",
    "Log Type",
)
_GENERIC_ALIASES = {
    # Azure/Splitwise (vidur): arrived_at, num_prefill_tokens, num_decode_tokens; Azure LLM
    # inference trace 2023: TIMESTAMP (date-time), ContextTokens, GeneratedTokens; BurstGPT
    # names for a file without BurstGPT's full header.
    "timestamp": ("timestamp", "time", "time_s", "arrival_time", "arrival_s", "arrived_at"),
    "in_tokens": ("in_tokens", "input_tokens", "prompt_tokens", "request_tokens",
                  "num_prefill_tokens", "contexttokens", "context_tokens", "request tokens"),
    "out_tokens": ("out_tokens", "output_tokens", "completion_tokens", "response_tokens",
                   "num_decode_tokens", "generatedtokens", "generated_tokens",
                   "response tokens"),
}  # fmt: skip
COLUMN_KEYS = {"arrival": "timestamp", "in": "in_tokens", "out": "out_tokens"}
"""Keys of a ``--columns`` mapping and the field each names."""


def parse_columns(text: str) -> dict[str, str]:
    """Parse a ``--columns`` string into a mapping of trace fields to column names.

    ``"arrival=arrived_at,in=num_prefill_tokens,out=num_decode_tokens"`` -> ``{"timestamp":
    "arrived_at", "in_tokens": ..., "out_tokens": ...}``; any subset of the keys
    ``arrival``, ``in``, ``out`` (the others are auto-detected).
    """
    out: dict[str, str] = {}
    for item in str(text).split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or not value:
            raise ValueError(f"--columns: bad item {item!r}; use key=column, e.g. in=prompt_len")
        if key not in COLUMN_KEYS:
            raise ValueError(
                f"--columns: unknown key {key!r}; use {', '.join(COLUMN_KEYS)} "
                "(e.g. arrival=arrived_at,in=num_prefill_tokens,out=num_decode_tokens)"
            )
        if COLUMN_KEYS[key] in out:
            raise ValueError(f"--columns: key {key!r} given twice")
        out[COLUMN_KEYS[key]] = value
    if not out:
        raise ValueError("--columns: empty mapping; use e.g. arrival=time,in=prompt,out=output")
    return out


SHOWN_BAD_LINES = 5


class TraceError(ValueError):
    """A trace file with malformed rows; ``bad_lines`` lists ``(line, reason)``.

    The message ends with how to skip the rows instead: ``strict=False`` in Python;
    :meth:`with_hint` gives the same error for another interface (the command line's
    ``--lenient``).
    """

    API_HINT = "pass strict=False to skip them and get a report"

    def __init__(self, path, bad_lines, total_bad, hint: str = API_HINT):
        self.path = path
        self.bad_lines = list(bad_lines)
        self.total_bad = int(total_bad)
        self.hint = hint
        shown = "; ".join(f"line {n}: {why}" for n, why in self.bad_lines[:SHOWN_BAD_LINES])
        more = self.total_bad - min(len(self.bad_lines), SHOWN_BAD_LINES)
        tail = f" (and {more} more)" if more > 0 else ""
        text = f"{path}: {self.total_bad} malformed row(s): {shown}{tail}"
        super().__init__(f"{text}; {hint}" if hint else text)

    def with_hint(self, hint: str) -> TraceError:
        """Return the same error, its last words telling how to skip the rows in another way."""
        return TraceError(self.path, self.bad_lines, self.total_bad, hint)


@dataclass(frozen=True)
class LoadReport:
    """What a loader read.

    ``rows`` data rows, ``kept`` of them, the ``rejected`` count and the first ``(line,
    reason)`` pairs, and ``failed`` requests (0 response tokens; kept).
    """

    source: str
    rows: int
    kept: int
    rejected: int
    rejected_lines: tuple[tuple[int, str], ...]
    failed: int

    def as_dict(self) -> dict:
        """Return the load report as plain data."""
        return {
            "source": self.source,
            "rows": self.rows,
            "kept": self.kept,
            "rejected": self.rejected,
            "rejected_lines": [list(x) for x in self.rejected_lines],
            "failed": self.failed,
        }


@dataclass(frozen=True)
class Trace:
    """Requests sorted by arrival.

    Seconds from the start, prompt and output tokens, and whether the request failed
    (BurstGPT: 0 response tokens).
    """

    time_s: np.ndarray
    in_tokens: np.ndarray
    out_tokens: np.ndarray
    failed: np.ndarray
    name: str = "trace"
    load_report: LoadReport | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        """Check that the columns have one entry per request and the times are sorted."""
        n = len(self.time_s)
        for a in ("in_tokens", "out_tokens", "failed"):
            if len(getattr(self, a)) != n:
                raise ValueError(f"Trace.{a} has {len(getattr(self, a))} entries, expected {n}")
        if n and np.any(np.diff(self.time_s) < 0):
            raise ValueError("Trace.time_s must be sorted (use Trace.from_arrays)")

    @classmethod
    def from_arrays(cls, time_s, in_tokens, out_tokens, failed=None, *, name="trace", report=None):
        """Build a trace from unsorted columns.

        Times are shifted to start at 0 and the rows sorted stably by time. ``failed``
        defaults to ``out_tokens == 0``.
        """
        t = np.asarray(time_s, dtype=np.float64).reshape(-1)
        i = np.asarray(in_tokens).reshape(-1).astype(np.int64)
        o = np.asarray(out_tokens).reshape(-1).astype(np.int64)
        f = (o == 0) if failed is None else np.asarray(failed, dtype=bool).reshape(-1)
        if t.size and not np.all(np.isfinite(t)):
            raise ValueError("time_s must be finite")
        if np.any(i < 0) or np.any(o < 0):
            raise ValueError("token counts must be >= 0")
        order = np.argsort(t, kind="stable")
        if t.size and np.all(order == np.arange(t.size)):
            order = slice(None)
        t = t[order]
        if t.size:
            t = t - t[0]
        return cls(t, i[order], o[order], f[order], name, report)

    def __len__(self) -> int:
        """Return the number of requests."""
        return len(self.time_s)

    @property
    def duration_s(self) -> float:
        """Arrival time of the last request (s from the start; 0 for an empty trace)."""
        return float(self.time_s[-1]) if len(self) else 0.0

    @property
    def num_failed(self) -> int:
        """Number of failed requests."""
        return int(np.count_nonzero(self.failed))

    def head(self, seconds: float) -> Trace:
        """Return the requests of the first ``seconds``."""
        k = int(np.searchsorted(self.time_s, seconds, side="left"))
        return Trace(
            self.time_s[:k], self.in_tokens[:k], self.out_tokens[:k], self.failed[:k], self.name
        )


# --- loaders --------------------------------------------------------------------------


def _numeric(col, what):
    """Return the parsed floats and a per-row reason ("" where the value is fine)."""
    import pandas as pd

    raw = col.astype(str).str.strip()
    x = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(x)
    reasons = np.where(bad, f"{what} is not a finite number", "").astype(object)
    neg = ~bad & (x < 0)
    reasons = np.where(neg, f"{what} is negative", reasons)
    # beyond 2**53 a float no longer holds every integer (and a token count no longer fits
    # the int64 the trace keeps): e.g. 1e300 tokens, or a timestamp of 1e300 s
    huge = ~bad & ~neg & (np.abs(x) > _validate.MAX_EXACT)
    reasons = np.where(huge, f"{what} is too large (more than 2**53)", reasons)
    frac = ~bad & ~neg & (what != "Timestamp") & (what != "timestamp") & (x != np.floor(x))
    reasons = np.where(frac, f"{what} is not an integer", reasons)
    return x, reasons


def _first_reason(*reason_columns):
    out = reason_columns[0].copy()
    for r in reason_columns[1:]:
        out = np.where(out == "", r, out)
    return out


def _finish(path, t, i, o, reasons, line_numbers, rows, strict, name, failed=None):
    bad = reasons != ""
    nbad = int(np.count_nonzero(bad))
    listed = [
        (int(n), str(r)) for n, r in zip(line_numbers[bad][:50], reasons[bad][:50], strict=True)
    ]
    if nbad and strict:
        raise TraceError(path, listed, nbad)
    keep = ~bad
    o_kept = o[keep]
    f = (o_kept == 0) if failed is None else failed[keep]
    report = LoadReport(
        str(path), rows, int(keep.sum()), nbad, tuple(listed[: SHOWN_BAD_LINES * 4]), int(f.sum())
    )
    return Trace.from_arrays(t[keep], i[keep], o_kept, f, name=name, report=report)


def _read_csv_strings(path, expected):
    """Read every cell as a string.

    A row with the wrong number of fields is reported with its line number instead of
    aborting the read.
    """
    import pandas as pd

    try:
        df = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            engine="c",
        )
        return df, []
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: empty file (no header line and no rows)") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a UTF-8 text file ({err.reason})") from None
    except pd.errors.ParserError:
        pass
    # Slow path, only for files with ragged rows: the csv module knows line numbers.
    rows, ragged = [], []
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        for row in reader:
            if len(row) != len(header):
                ragged.append((reader.line_num, f"expected {len(header)} fields, got {len(row)}"))
                continue
            rows.append(row)
    df = pd.DataFrame(rows, columns=header)
    return df, ragged


def _line_numbers_without(ragged, n_rows):
    """File line of each parsed data row, the ragged lines (already reported) taken out."""
    skip = np.asarray(sorted(n for n, _ in ragged), dtype=np.int64)
    lines = np.arange(2, n_rows + 2 + skip.size, dtype=np.int64)
    if skip.size:
        lines = lines[~np.isin(lines, skip)]
    return lines[:n_rows]


def load_burstgpt(path, *, strict: bool = True, models=None, log_types=None) -> Trace:
    """Load a BurstGPT CSV (columns :data:`BURSTGPT_COLUMNS`).

    Malformed rows (missing or non-numeric fields, negative or fractional token counts,
    ``Total tokens`` different from request + response, a wrong number of fields) raise a
    :class:`TraceError` naming their line numbers; with ``strict=False`` they are skipped
    and counted in ``trace.load_report``. Failed requests (0 response tokens) are kept and
    flagged. ``models`` / ``log_types`` keep only the rows of those models / log types
    (e.g. ``["ChatGPT"]``, ``["Conversation log"]``); the report counts the rest as kept
    rows of the file but they are not in the trace.
    """
    path = Path(path)
    df, ragged = _read_csv_strings(path, BURSTGPT_COLUMNS)
    missing = [c for c in BURSTGPT_COLUMNS if c not in df.columns]
    if missing:
        raise TraceError(path, [(1, f"header lacks column(s) {missing}")], 1)
    lines = _line_numbers_without(ragged, len(df))
    t, rt = _numeric(df["Timestamp"], "Timestamp")
    i, ri = _numeric(df["Request tokens"], "Request tokens")
    o, ro = _numeric(df["Response tokens"], "Response tokens")
    tot, rtot = _numeric(df["Total tokens"], "Total tokens")
    mismatch = np.where(
        (rtot == "") & (ri == "") & (ro == "") & (tot != i + o),
        "Total tokens != Request tokens + Response tokens",
        "",
    ).astype(object)
    # pandas pads a short row with empty fields: a missing Model or Log Type shows it.
    empty = [
        np.where(df[c].str.strip().to_numpy() == "", f"{c} is missing", "").astype(object)
        for c in ("Model", "Log Type")
    ]
    reasons = _first_reason(rt, ri, ro, rtot, mismatch, *empty)
    select = np.ones(len(df), dtype=bool)
    if models is not None:
        select &= df["Model"].isin(list(models)).to_numpy()
    if log_types is not None:
        select &= df["Log Type"].isin(list(log_types)).to_numpy()
    if ragged:
        reasons = np.concatenate([reasons, np.array([r for _, r in ragged], dtype=object)])
        lines = np.concatenate([lines, np.array([n for n, _ in ragged], dtype=np.int64)])
        nan = np.full(len(ragged), np.nan)
        t, i, o = (np.concatenate([a, nan]) for a in (t, i, o))
        select = np.concatenate([select, np.ones(len(ragged), dtype=bool)])
        order = np.argsort(lines, kind="stable")
        reasons, lines, t, i, o, select = (a[order] for a in (reasons, lines, t, i, o, select))
    rows = len(reasons)
    if not select.all():
        reasons, lines, t, i, o = (a[select] for a in (reasons, lines, t, i, o))
    return _finish(path, t, i, o, reasons, lines, rows, strict, path.stem)


def load_table(
    path, *, strict: bool = True, timestamp=None, in_tokens=None, out_tokens=None, failed=None
) -> Trace:
    """Load a generic CSV or Parquet trace.

    A timestamp (seconds, or date-times) and the prompt and output token counts per request.

    Column names default to the first present of the aliases in ``_GENERIC_ALIASES``
    (``timestamp``/``time``/..., ``in_tokens``/``input_tokens``/``prompt_tokens``/...,
    ``out_tokens``/``output_tokens``/...). ``failed`` names an optional boolean column
    (default: a request with 0 output tokens failed). Rows are reported by file line in a
    CSV and by 0-based row index in a Parquet file.
    """
    import pandas as pd

    path = Path(path)
    parquet = path.suffix.lower() in (".parquet", ".pq")
    if parquet:
        df = pd.read_parquet(path)
        ragged: list = []
        lines = np.arange(len(df), dtype=np.int64)
    else:
        df, ragged = _read_csv_strings(path, None)
        lines = _line_numbers_without(ragged, len(df))
    lower = {c.lower().strip(): c for c in df.columns}

    def pick(given, key):
        if given is not None:
            if given not in df.columns:
                raise ValueError(f"{path}: no column {given!r}; columns are {list(df.columns)}")
            return given
        for alias in _GENERIC_ALIASES[key]:
            if alias in lower:
                return lower[alias]
        raise ValueError(
            f"{path}: no {key} column (looked for {_GENERIC_ALIASES[key]}); "
            f"columns are {list(df.columns)}"
        )

    ct = pick(timestamp, "timestamp")
    ci = pick(in_tokens, "in_tokens")
    co = pick(out_tokens, "out_tokens")
    t, rt = _numeric(df[ct], "timestamp")
    if len(df) and np.all(rt != ""):  # not numbers at all: try date-times
        stamps = pd.to_datetime(df[ct], errors="coerce", utc=True)
        ok = stamps.notna().to_numpy()
        t = np.where(ok, (stamps - stamps[ok].min()).dt.total_seconds().to_numpy(), np.nan)
        rt = np.where(ok, "", "timestamp is neither a number nor a date-time").astype(object)
    i, ri = _numeric(df[ci], "in_tokens")
    o, ro = _numeric(df[co], "out_tokens")
    reasons = _first_reason(rt, ri, ro)
    f = None
    if failed is not None:
        f = df[failed].astype(str).str.strip().str.lower().isin(["1", "true", "yes"]).to_numpy()
    if ragged:
        reasons = np.concatenate([reasons, np.array([r for _, r in ragged], dtype=object)])
        lines = np.concatenate([lines, np.array([n for n, _ in ragged], dtype=np.int64)])
        nan = np.full(len(ragged), np.nan)
        t, i, o = (np.concatenate([a, nan]) for a in (t, i, o))
        if f is not None:
            f = np.concatenate([f, np.zeros(len(ragged), dtype=bool)])
    return _finish(path, t, i, o, reasons, lines, len(reasons), strict, path.stem, f)


# --- synthetic traces ------------------------------------------------------------------


@dataclass(frozen=True)
class TokenLaw:
    """A law of token counts.

    ``lognormal`` with ``mean`` and ``cv``, or ``zipf`` with exponent ``a`` (> 1) times
    ``scale`` tokens; clipped to ``[minimum, maximum]``.
    """

    kind: str = "lognormal"
    mean: float = 500.0
    cv: float = 1.0
    a: float = 1.5
    scale: float = 50.0
    minimum: int = 1
    maximum: int = 8192

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` token counts from the law with ``rng``."""
        if self.kind == "lognormal":
            s2 = math.log1p(self.cv**2)
            mu = math.log(self.mean) - s2 / 2
            x = rng.lognormal(mu, math.sqrt(s2), n)
        elif self.kind == "zipf":
            if self.a <= 1:
                raise ValueError(f"TokenLaw.a must be > 1 for zipf, got {self.a!r}")
            x = rng.zipf(self.a, n) * self.scale
        else:
            raise ValueError(f"TokenLaw.kind must be 'lognormal' or 'zipf', got {self.kind!r}")
        return np.clip(np.rint(x), self.minimum, self.maximum).astype(np.int64)


def diurnal_profile(hours, *, amplitude: float, peak_hour: float, night_floor: float = 0.0):
    """Return the relative rate at ``hours`` of the day.

    A cosine of the given ``amplitude`` peaking at ``peak_hour``, floored at
    ``night_floor``; mean about 1 over a day.
    """
    h = np.asarray(hours, dtype=float)
    shape = 1.0 + amplitude * np.cos(2 * np.pi * (h - peak_hour) / 24.0)
    return np.maximum(shape, night_floor)


def synthetic_trace(
    *,
    duration_s: float,
    mean_rate: float | None = None,
    num_requests: int | None = None,
    arrival_cv: float = 2.0,
    start_hour: float = 0.0,
    amplitude: float = 0.7,
    peak_hour: float = 14.0,
    night_floor: float = 0.05,
    bursts_per_hour: float = 2.0,
    burst_factor: float = 2.5,
    burst_minutes: float = 6.0,
    in_tokens: TokenLaw = TokenLaw("lognormal", 600.0, 1.3, maximum=8192),
    out_tokens: TokenLaw = TokenLaw("lognormal", 300.0, 1.0, maximum=2048),
    failed_fraction: float = 0.005,
    seed=0,
    name: str = "synthetic",
) -> Trace:
    """Return a bursty trace with a diurnal pattern, generated with vectorised NumPy.

    The rate follows :func:`diurnal_profile` from ``start_hour`` (hours of the day), times
    ``burst_factor`` during random bursts (``bursts_per_hour`` on average, exponentially
    long with mean ``burst_minutes``). Arrivals form a Gamma renewal process in "operational
    time" (the integral of the rate) whose gaps have coefficient of variation
    ``arrival_cv``: bursty at short time scales as well. Give ``mean_rate`` (req/s,
    averaged over the trace) or ``num_requests`` (exactly that many). Token counts follow
    ``in_tokens`` and ``out_tokens``; ``failed_fraction`` of the requests get 0 output
    tokens, as failed requests do in BurstGPT. ``seed``: an int or a numpy Generator.
    """
    if (mean_rate is None) == (num_requests is None):
        raise ValueError("give exactly one of mean_rate and num_requests")
    duration = float(duration_s)
    if not (math.isfinite(duration) and duration > 0):
        raise ValueError(f"duration_s must be > 0, got {duration_s!r}")
    if not arrival_cv > 0:
        raise ValueError(f"arrival_cv must be > 0, got {arrival_cv!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    # Rate profile on a 10-second grid; the cumulative intensity is piecewise linear.
    step = 10.0
    grid = np.arange(0.0, duration + step, step)
    shape = diurnal_profile(
        start_hour + grid / 3600.0,
        amplitude=amplitude,
        peak_hour=peak_hour,
        night_floor=night_floor,
    )
    n_bursts = rng.poisson(bursts_per_hour * duration / 3600.0)
    if n_bursts:
        starts = rng.uniform(0, duration, n_bursts)
        ends = starts + rng.exponential(burst_minutes * 60.0, n_bursts)
        depth = np.zeros(grid.size + 1)
        np.add.at(depth, np.searchsorted(grid, starts), 1)
        np.add.at(depth, np.searchsorted(grid, ends), -1)
        shape = shape * np.where(np.cumsum(depth)[:-1] > 0, burst_factor, 1.0)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (shape[1:] + shape[:-1]) * step)])
    total_shape = float(np.interp(duration, grid, cum))

    k = 1.0 / arrival_cv**2
    if num_requests is not None:
        n = int(num_requests)
        if n < 1:
            raise ValueError(f"num_requests must be >= 1, got {num_requests!r}")
        gaps = rng.gamma(k, 1.0 / k, n)
        op = np.cumsum(gaps)
        op *= total_shape / op[-1] * (1 - 0.5 / n)  # exactly n requests inside the trace
    else:
        scale = float(mean_rate) * duration / total_shape
        expected = total_shape * scale
        n_draw = int(expected + 6 * math.sqrt(expected * max(arrival_cv**2, 1)) + 16)
        op = np.cumsum(rng.gamma(k, 1.0 / k, n_draw)) / scale
        while op[-1] < total_shape:  # rare: draw more
            more = np.cumsum(rng.gamma(k, 1.0 / k, n_draw)) / scale + op[-1]
            op = np.concatenate([op, more])
        op = op[op < total_shape]
        n = op.size
    times = np.interp(op, cum, grid)
    ins = in_tokens.draw(rng, n)
    outs = out_tokens.draw(rng, n)
    failed = rng.random(n) < failed_fraction
    outs[failed] = 0
    return Trace(times, ins, outs, failed, name)


# Named presets for ``synthetic:NAME``. "campus": a university deployment over an
# afternoon (OASIS evaluates 4 hours of BurstGPT campus traffic), moderate and bursty.
PRESETS: dict[str, dict] = {
    "campus": dict(
        duration_s=4 * 3600.0,
        mean_rate=6.0,
        start_hour=10.0,
        amplitude=0.6,
        peak_hour=14.0,
        arrival_cv=2.0,
        bursts_per_hour=1.5,
        burst_factor=2.0,
    ),
    "day": dict(duration_s=24 * 3600.0, num_requests=10_000_000, start_hour=0.0),
}


# What ``synthetic:NAME:key=value,...`` may set, and how each value is checked.
MAX_TRACE_S = 366 * 86400.0  # a synthetic trace spans at most a year
MAX_REQUESTS = 1_000_000_000
_SYNTHETIC_OPTIONS = {
    "duration_s": dict(above=0, maximum=MAX_TRACE_S),
    "mean_rate": dict(above=0, maximum=1e7),
    "num_requests": dict(integer=True, minimum=1, maximum=MAX_REQUESTS),
    "arrival_cv": dict(above=0, maximum=100),
    "start_hour": dict(minimum=0, below=24),
    "amplitude": dict(minimum=0, maximum=1e3),
    "peak_hour": dict(minimum=0, below=24),
    "night_floor": dict(minimum=0, maximum=1e3),
    "bursts_per_hour": dict(minimum=0, maximum=1e4),
    "burst_factor": dict(above=0, maximum=1e3),
    "burst_minutes": dict(above=0, maximum=1e4),
    "failed_fraction": dict(minimum=0, maximum=1),
    "seed": dict(integer=True, minimum=0),
}


def _synthetic(spec: str, seed) -> Trace:
    parts = spec.split(":", 2)
    name = parts[1]
    if name not in PRESETS:
        raise ValueError(f"{spec}: unknown synthetic trace {name!r}; presets: {sorted(PRESETS)}")
    options = dict(PRESETS[name])
    given: dict = {}
    if len(parts) == 3 and parts[2]:
        for item in parts[2].split(","):
            key, eq, value = (x.strip() for x in item.partition("="))
            if not eq or not key:
                raise ValueError(f"{spec}: bad option {item!r}; use key=value")
            if key not in _SYNTHETIC_OPTIONS:
                raise ValueError(
                    f"{spec}: unknown option {key!r}; options: {', '.join(_SYNTHETIC_OPTIONS)}"
                )
            given[key] = _validate.number(value, key, where=spec, **_SYNTHETIC_OPTIONS[key])
    if "mean_rate" in given and "num_requests" in given:
        raise ValueError(f"{spec}: give mean_rate or num_requests, not both")
    if "mean_rate" in given:
        options.pop("num_requests", None)
    if "num_requests" in given:
        options.pop("mean_rate", None)
    options.update(given)
    if "mean_rate" in options:
        expected = options["mean_rate"] * options["duration_s"]
        if expected > MAX_REQUESTS:
            raise ValueError(
                f"{spec}: mean_rate x duration_s is {expected:.3g} requests, more than "
                f"{MAX_REQUESTS:,}"
            )
    if seed is not None:
        options["seed"] = _validate.count(seed, "seed", minimum=0, maximum=2**63 - 1)
    return synthetic_trace(name=f"synthetic:{name}", **options)


def load_trace(spec, *, strict: bool = True, seed=None, columns=None) -> Trace:
    """Return a trace from a path or from ``synthetic:NAME[:key=value,...]``.

    A path is read as BurstGPT CSV if it has BurstGPT's header, else as a generic CSV or
    Parquet; NAME is one of :data:`PRESETS` (e.g.
    ``synthetic:campus:seed=3,duration_s=7200``; the keys are those of
    :func:`synthetic_trace` that take a number, each checked).

    ``columns`` maps ``timestamp``/``in_tokens``/``out_tokens`` (or a ``--columns`` string
    ``arrival=...,in=...,out=...``, see :func:`parse_columns`) to a file's column names; it
    makes any CSV or Parquet a generic table.
    """
    if isinstance(spec, Trace):
        return spec
    if isinstance(columns, str):
        columns = parse_columns(columns)
    spec = str(spec)
    if spec.startswith("synthetic:"):
        return _synthetic(spec, seed)
    path = Path(spec)
    if not path.exists():
        raise ValueError(f"trace file not found: {spec}")
    if path.is_dir():
        raise ValueError(f"{spec} is a directory; give a trace file (CSV or Parquet)")
    if columns:
        return load_table(path, strict=strict, **columns)
    if path.suffix.lower() in (".parquet", ".pq"):
        return load_table(path, strict=strict)
    try:
        with open(path, newline="") as fh:
            header = next(csv.reader(fh), [])
    except UnicodeDecodeError as err:
        raise ValueError(f"{spec}: not a UTF-8 text file ({err.reason})") from None
    if not header:
        raise ValueError(f"{spec}: empty file (no header line and no rows)")
    if all(c in header for c in BURSTGPT_COLUMNS):
        return load_burstgpt(path, strict=strict)
    return load_table(path, strict=strict)

#!/usr/bin/env python
"""Differential and property fuzzing of every kernel entry point (docs/reliability.md).

Random and extreme rows (both service models, every target kind, the admission rules,
queues 0..inf, batches 1..1e5, and deliberately bad values) go through

* ``analyze``  - :func:`inferplan.analyze_many`,
* ``size``     - :func:`inferplan.size_many`,
* ``replica``  - :class:`inferplan.Replica` scalar calls (``analyze``, ``size``,
  ``wait_quantile``, ``ttft_quantile``),
* ``capi``     - the C ABI batch calls ``ip_analyze_many`` / ``ip_size_many`` (cffi),

in chunks, each in its own subprocess under a time limit (a chunk that overruns or dies is
split until the rows that hang or crash are found, each reported with a reproducer). Every
row is checked:

* a bad input carries an error status (>= 20) and NaN outputs;
* a row with status OK has only finite, non-negative metrics (probabilities in [0, 1]);
* UNSTABLE exactly when the queue is unbounded and the rate at or above saturation;
* a sized rate meets every target there, and some target fails just above it unless the
  rate is the saturation cap (sizing checks);
* the backends agree: the Numba kernel (bit for bit) and the NumPy reference (to 1e-6) on a
  subsample.

    python scripts/fuzz.py                       # 1,000,000 rows per entry point
    python scripts/fuzz.py --rows 20000 --entry analyze --seed 7

Prints a summary table: rows, statuses, failures by kind, and a reproducer line per failure.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from inferplan.batch import CONFIG_COLUMNS
from inferplan.sizing import TARGET_FIELDS

ENTRIES = ("analyze", "size", "replica", "capi")
ORDER = ("analyze", "capi", "size", "replica")  # the slow scalar calls last
ADMISSIONS = (None, "immediate", "iteration")
# Relative steps above a sized rate at which a failing target is looked for, besides 1e-9 and
# 1e-6: the sizing search closes rates to 1e-10 relative (docs/model.md 3.1).
FINE_ABOVE = (1e-10, 2e-10, 3e-10, 5e-10)
# The batch API's configuration columns and the kernels' target order (one source each).
CONFIG = CONFIG_COLUMNS
TARGETS = TARGET_FIELDS
# Which failures belong to the sizing search (the rest are the analysis kernels, the
# validation and the harness's hang/crash checks).
SIZING_CHECKS = {
    "size_target_violated",
    "size_met_above",
    "size_above_cap",
    "size_infeasible_wrong",
    "size_backend_mismatch",
    "size_zero_rate_ok",
}

# ------------------------------------------------------------------ row generation

_EXTREMES = {
    "alpha": [0.0, 5e-324, 1e-300, 1e200, 1e308, math.nan, math.inf, -1.0],
    "beta": [0.0, 5e-324, 1e-300, 1e200, 1e308, math.nan, -math.inf, -1.0],
    "gamma": [0.0, 5e-324, 1e100, 1e308, math.nan, -1.0],
    "in_tokens": [0.0, 5e-324, 1e18, 1e19, 1e20, 1e300, math.inf, -1.0],
    "out_tokens": [5e-324, 1e-300, 1e-3, 1e15, 1e300, 0.0, math.nan, -1.0],
    "max_num_tokens": [1e-15, 5e-324, 0.5, 1e300, 0.0, math.inf, -1.0],
    "max_batch": [1, 2, 100_000, 1 << 24, (1 << 24) + 1, 0, -1],
    "max_queue": [0.0, 1.0, 1e12, 1e15, 1e300, math.inf, 0.5, -1.0, math.nan],
}
_RATE_EXTREMES = [0.0, 5e-324, 1e-300, 1e130, 1e300, 1.7e308, math.nan, math.inf, -1.0]
_TARGET_EXTREMES = [5e-324, 1e-300, 1e308, math.nan, math.inf, -1.0]


def _loguniform(rng, lo, hi, n):
    return 10.0 ** rng.uniform(lo, hi, n)


def gen_configs(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Return ``n`` random configurations.

    Realistic ranges, with 3% of rows given one extreme or invalid field.
    """
    kind = rng.integers(0, 2, n).astype(np.int64)
    c = {
        "kind": kind,
        "alpha": np.where(rng.random(n) < 0.05, 0.0, _loguniform(rng, -2, 3, n)),
        "beta": np.where(rng.random(n) < 0.05, 0.0, _loguniform(rng, -5, 1, n)),
        "gamma": np.where(rng.random(n) < 0.2, 0.0, _loguniform(rng, -8, -2, n)),
        "in_tokens": np.where(rng.random(n) < 0.02, 0.0, _loguniform(rng, 0, 5, n)),
        "out_tokens": np.where(
            rng.random(n) < 0.05, rng.uniform(0.1, 1, n), _loguniform(rng, 0, 4, n)
        ),
        "max_num_tokens": np.where(rng.random(n) < 0.5, 8192.0, 2.0 ** rng.uniform(4, 15, n)),
        # 1..1e5, log-uniform below 1e3 for 90% of the rows and above it for the rest (the
        # work per row is O(max_batch): this keeps the mean near 2,300).
        "max_batch": np.maximum(
            1,
            np.floor(
                np.where(rng.random(n) < 0.9, _loguniform(rng, 0, 3, n), _loguniform(rng, 3, 5, n))
            ),
        ).astype(np.int64),
        "max_queue": np.select(
            [rng.random(n) < 0.15, rng.random(n) < 0.3],
            [0.0, math.inf],
            np.floor(_loguniform(rng, 0, 11, n)),
        ),
    }
    extreme = np.flatnonzero(rng.random(n) < 0.03)
    fields = list(_EXTREMES)
    for i in extreme:
        f = fields[rng.integers(len(fields))]
        values = _EXTREMES[f]
        v = values[rng.integers(len(values))]
        if f == "max_batch" and v == 1 << 24 and rng.random() < 0.9:
            v = 100_000  # the largest batches are slow: keep them rare
        c[f][i] = v
    rare = np.flatnonzero(rng.random(n) < 0.001)
    c["kind"][rare] = rng.choice([2, 3, -1, 2**32], rare.size)
    return c


def expected_invalid(c: dict[str, np.ndarray]) -> np.ndarray:
    """Rows whose input breaks a documented rule (docs/reference.md).

    They must get an error status. (Rows the kernel may also reject, such as service times
    out of range, are not predicted here.)
    """
    k = c["kind"]

    def nonneg(x):
        return np.isfinite(x) & (x >= 0)

    def pos(x):
        return np.isfinite(x) & (x > 0)

    bad = ~np.isin(k, (0, 1))
    bad |= ~nonneg(c["alpha"]) | ~nonneg(c["beta"]) | ~pos(c["out_tokens"])
    pd = k == 1
    bad |= pd & (~nonneg(c["gamma"]) | ~nonneg(c["in_tokens"]) | ~pos(c["max_num_tokens"]))
    with np.errstate(invalid="ignore", over="ignore"):
        bad |= (k == 0) & ~(c["alpha"] + c["beta"] > 0)
        bad |= pd & ~(c["alpha"] + c["beta"] + c["gamma"] > 0)
    n = c["max_batch"]
    bad |= (n < 1) | (n > 1 << 24)
    q = c["max_queue"]
    with np.errstate(invalid="ignore"):
        bad |= np.isnan(q) | (q < 0) | (np.isfinite(q) & (q != np.floor(np.nan_to_num(q))))
    return bad


def gen_rates(rng, n, max_rate) -> np.ndarray:
    """Draw offered rates, with edge cases at saturation and at idle."""
    mr = np.where(np.isfinite(max_rate) & (max_rate > 0), max_rate, 1.0)
    rate = mr * _loguniform(rng, -3, 0.3, n)
    edge = rng.random(n) < 0.05
    rate[edge] = (mr * (1 + rng.choice([-1e-12, 0.0, 1e-12, -1e-9, 1e-9], n)))[edge]
    idle = rng.random(n) < 0.01
    rate[idle] = 0.0
    extreme = np.flatnonzero(rng.random(n) < 0.02)
    rate[extreme] = rng.choice(_RATE_EXTREMES, extreme.size)
    return rate


def gen_targets(rng, n, idle: dict, busy: dict, c: dict) -> dict[str, np.ndarray]:
    """Draw targets around the range where they bind.

    Targets between the near-idle value and somewhat above the value at 95% of saturation
    (so some are infeasible and some never bind), each set with its own probability; 2% of
    the set values are extreme.
    """
    t = {name: np.zeros(n) for name in TARGETS}

    def between(lo, hi):
        lo = np.nan_to_num(lo, nan=1.0, posinf=1.0)
        hi = np.nan_to_num(hi, nan=2.0, posinf=2.0)
        hi = np.maximum(hi, lo * 1.0001)
        return lo * 0.98 + rng.uniform(0, 1.25, n) * (hi - lo * 0.98)

    for name, p in (("itl_ms", 0.5), ("ttft_ms", 0.4), ("wait_ms", 0.15)):
        on = rng.random(n) < p
        lo = np.maximum(idle[name], 1e-3 * np.nan_to_num(busy["service_ms"], nan=1.0))
        t[name] = np.where(on, between(lo, busy[name]), 0.0)
    on = rng.random(n) < 0.15
    t["ttft_pq"] = np.where(on, rng.choice([0.5, 0.9, 0.95, 0.99, 0.999], n), 0.0)
    t["ttft_p_ms"] = np.where(on, between(idle["ttft_ms"], 3 * busy["ttft_ms"]), 0.0)
    on = rng.random(n) < 0.1
    t["wait_pq"] = np.where(on, rng.choice([0.5, 0.9, 0.99], n), 0.0)
    t["wait_p_ms"] = np.where(
        on,
        between(1e-3 * np.nan_to_num(busy["service_ms"], nan=1.0), 3 * busy["wait_ms"] + 1.0),
        0.0,
    )
    on = (rng.random(n) < 0.15) & np.isfinite(c["max_queue"])
    t["max_block"] = np.where(on, _loguniform(rng, -12, -0.5, n), 0.0)
    on = rng.random(n) < 0.1
    t["tps"] = np.where(
        on,
        np.nan_to_num(busy["throughput"], nan=1.0) * c["out_tokens"] * _loguniform(rng, -1, 1, n),
        0.0,
    )
    for name in ("itl_ms", "ttft_ms", "wait_ms", "ttft_p_ms", "wait_p_ms", "max_block", "tps"):
        hit = np.flatnonzero((t[name] != 0) & (rng.random(n) < 0.02))
        t[name][hit] = rng.choice(_TARGET_EXTREMES, hit.size)
    return t


def target_invalid(t: dict) -> np.ndarray:
    """Return the rows whose targets are invalid input."""

    def bad_pos(x):
        return (x != 0) & ~np.isnan(x) & ~(np.isfinite(x) & (x > 0))

    bad = bad_pos(t["itl_ms"]) | bad_pos(t["ttft_ms"]) | bad_pos(t["wait_ms"]) | bad_pos(t["tps"])
    for q, ms in (("ttft_pq", "ttft_p_ms"), ("wait_pq", "wait_p_ms")):
        set_ = ((t[q] != 0) & ~np.isnan(t[q])) | ((t[ms] != 0) & ~np.isnan(t[ms]))
        ok = (t[q] > 0) & (t[q] < 1) & np.isfinite(t[ms]) & (t[ms] > 0)
        bad |= set_ & ~ok
    mb = t["max_block"]
    bad |= (mb != 0) & ~np.isnan(mb) & ~((mb > 0) & (mb < 1))
    return bad


def chunk_rng(seed: int, entry: str, chunk: int) -> np.random.Generator:
    """Return the generator of one chunk."""
    return np.random.default_rng([seed, ENTRIES.index(entry), chunk])


def build_chunk(seed, entry, chunk, rows):
    """Return the rows of one chunk (deterministic in seed, entry, chunk).

    configurations, rates, targets and the admission rule of the chunk.
    """
    import inferplan as ip

    rng = chunk_rng(seed, entry, chunk)
    c = gen_configs(rng, rows)
    with np.errstate(all="ignore"):
        idle = ip.analyze_many(**c, rate=0.0, threads=1)
        if entry == "analyze":  # no targets: the busy values only shape them
            busy = {k: np.full(rows, np.nan) for k in idle}
        else:
            busy = ip.analyze_many(**c, rate=np.nan_to_num(0.95 * idle["max_rate"]), threads=1)
    rate = gen_rates(rng, rows, idle["max_rate"])
    t = gen_targets(rng, rows, idle, busy, c)
    admission = ADMISSIONS[chunk % 3]
    return c, rate, t, admission, idle["max_rate"]


# ------------------------------------------------------------------ reproducers


def _f(x) -> str:
    x = float(x)
    if math.isnan(x):
        return "math.nan"
    if math.isinf(x):
        return "math.inf" if x > 0 else "-math.inf"
    return repr(x)


def _model(c, i) -> str:
    k = int(c["kind"][i])
    if k == 0:
        return f"ip.DecodeOnly({_f(c['alpha'][i])}, {_f(c['beta'][i])}, {_f(c['out_tokens'][i])})"
    return (
        f"ip.PrefillDecode({_f(c['alpha'][i])}, {_f(c['beta'][i])}, {_f(c['gamma'][i])}, "
        f"{_f(c['in_tokens'][i])}, {_f(c['out_tokens'][i])}, {_f(c['max_num_tokens'][i])})"
    )


def _config_kwargs(c, i) -> str:
    return ", ".join(
        f"{k}={int(c[k][i]) if k in ('kind', 'max_batch') else _f(c[k][i])}" for k in CONFIG
    )


def _target_kwargs(t, i) -> str:
    parts = []
    for k in ("itl_ms", "ttft_ms", "wait_ms", "max_block", "tps"):
        if t[k][i] != 0 and not (isinstance(t[k][i], float) and math.isnan(t[k][i])):
            parts.append(f"{k}={_f(t[k][i])}")
    for p in ("ttft", "wait"):
        q, ms = t[f"{p}_pq"][i], t[f"{p}_p_ms"][i]
        if (q != 0 and not math.isnan(q)) or (ms != 0 and not math.isnan(ms)):
            parts.append(f"{p}_percentile=({_f(q)}, {_f(ms)})")
    return ", ".join(parts)


def reproducer(entry, c, i, rate=None, t=None, admission=None, call="analyze") -> str:
    """Return a one-line Python reproducer of row ``i``."""
    adm = "" if admission is None else f", admission={admission!r}"
    pre = "import math, inferplan as ip; "
    if entry == "analyze":
        return pre + f"ip.analyze_many({_config_kwargs(c, i)}, rate={_f(rate[i])}{adm})"
    if entry == "size":
        return pre + f"ip.size_many({_config_kwargs(c, i)}, {_target_kwargs(t, i)}{adm})"
    q = "" if math.isinf(c["max_queue"][i]) else f", max_queue={_f(c['max_queue'][i])}"
    rep = f"ip.Replica({_model(c, i)}, max_batch={int(c['max_batch'][i])}{q})"
    if call == "size":
        return pre + f"{rep}.size({_target_kwargs(t, i)}{adm})"
    if call.endswith("quantile"):
        return pre + f"{rep}.{call}({_f(rate[i])}, 0.9)"
    return pre + f"{rep}.analyze({_f(rate[i])}{adm})"


# ------------------------------------------------------------------ checks

METRICS = None  # filled lazily from inferplan.METRIC_NAMES


class Report:
    """Counts and failures of one chunk, JSON-serialisable."""

    def __init__(self):
        self.rows = 0
        self.status = Counter()
        self.failures: list[dict] = []
        self.checks = Counter()

    def fail(self, check, repro, detail=""):
        """Record a failed check."""
        self.failures.append({"check": check, "repro": repro, "detail": detail})

    def to_json(self):
        """Return the report as a JSON-able dict."""
        return {
            "rows": self.rows,
            "status": dict(self.status),
            "failures": self.failures,
            "checks": dict(self.checks),
        }


def _metric_problem(m: dict, i: int, rate=None) -> str:
    """Why row i's metrics are not a valid OK answer ("" if they are)."""
    bad = [k for k, v in m.items() if not (math.isfinite(v[i]) and v[i] >= 0)]
    if bad:
        return "non-finite or negative: " + ", ".join(f"{k}={m[k][i]!r}" for k in bad[:4])
    for k in ("p0", "p_block"):
        if k in m and m[k][i] > 1 + 1e-12:
            return f"{k}={m[k][i]!r} > 1"
    if "utilization" in m and m["utilization"][i] > 1 + 1e-9:
        return f"utilization={m['utilization'][i]!r} > 1"
    if rate is not None and "throughput" in m and m["throughput"][i] > rate * (1 + 1e-9) + 1e-300:
        return f"throughput {m['throughput'][i]!r} above the rate {rate!r}"
    return ""


def check_analyze_rows(rep, entry, c, rate, status, m, admission, invalid):
    """Property checks of analysis rows (status and metric columns)."""
    mr = m["max_rate"]
    for i in range(status.size):
        s = int(status[i])
        rep.status[s] += 1
        if invalid[i] and s < 20:
            rep.fail(
                "bad_input_accepted",
                reproducer(entry, c, i, rate, admission=admission),
                f"status {s}",
            )
            continue
        if s == 0:
            why = _metric_problem(m, i, rate[i])
            if why:
                rep.fail(
                    "ok_with_bad_metrics", reproducer(entry, c, i, rate, admission=admission), why
                )
                continue
            if math.isinf(c["max_queue"][i]) and rate[i] >= mr[i] * (1 + 1e-9):
                rep.fail(
                    "ok_above_saturation",
                    reproducer(entry, c, i, rate, admission=admission),
                    f"rate {rate[i]!r} >= max_rate {mr[i]!r}",
                )
        else:
            if any(not math.isnan(v[i]) for v in m.values()):
                rep.fail(
                    "error_with_values",
                    reproducer(entry, c, i, rate, admission=admission),
                    f"status {s}",
                )
            if s == 1 and not (math.isinf(c["max_queue"][i])):
                rep.fail(
                    "unstable_with_finite_queue", reproducer(entry, c, i, rate, admission=admission)
                )
    rep.rows += status.size


def _excess_at(ip, c, t, rates, admission, rows):
    """Return the largest relative excess of the mean and blocking targets at rates.

    The excess is metric / target - 1 (NaN where the analysis fails); the metrics there too.
    """
    sub = {k: v[rows] for k, v in c.items()}
    with np.errstate(all="ignore"):
        m = ip.analyze_many(**sub, rate=rates, admission=admission, threads=1)
        worst = np.full(rows.size, -np.inf)
        for name, metric in (
            ("itl_ms", "itl_ms"),
            ("ttft_ms", "ttft_ms"),
            ("wait_ms", "wait_ms"),
            ("max_block", "p_block"),
        ):
            T = t[name][rows]
            on = (T != 0) & ~np.isnan(T)
            e = np.where(on, m[metric] / np.where(on, T, 1.0) - 1.0, -np.inf)
            worst = np.maximum(worst, e)
        worst = np.where(m["status"] == 0, worst, np.nan)
    return worst, m


def _percentile_excess(ip, c, t, i, rate, admission) -> float:
    """Return the percentile targets' largest relative excess at rate (scalar Replica calls)."""
    from inferplan.models import from_params

    q = c["max_queue"][i]
    rep = ip.Replica(
        from_params(*(c[k][i] for k in CONFIG[:7])),
        max_batch=int(c["max_batch"][i]),
        max_queue=None if math.isinf(q) else q,
    )
    worst = -math.inf
    if t["ttft_pq"][i] > 0:
        v = rep.ttft_quantile(rate, t["ttft_pq"][i], admission=admission)
        worst = max(worst, v / t["ttft_p_ms"][i] - 1)
    if t["wait_pq"][i] > 0:
        v = rep.wait_quantile(rate, t["wait_pq"][i], admission=admission)
        worst = max(worst, v / t["wait_p_ms"][i] - 1)
    return worst


def check_size_rows(rep, entry, c, t, res, admission, invalid, max_rate, budget_pct=64):
    """Property checks of sizing rows: statuses, metrics, and the answer itself."""
    import inferplan as ip

    status, rate, binding = res["status"], res["rate"], res["binding"]
    n = status.size
    rep.rows += n
    for i in range(n):
        rep.status[int(status[i])] += 1
    bad_t = target_invalid(t)
    metrics = {
        k: res[k]
        for k in (
            "throughput",
            "itl_ms",
            "ttft_ms",
            "wait_ms",
            "utilization",
            "p_block",
            "max_rate",
        )
        if k in res
    }
    ok = np.flatnonzero(status == 0)
    for i in range(n):
        s = int(status[i])
        if (invalid[i] or bad_t[i]) and s < 20:
            rep.fail(
                "bad_input_accepted",
                reproducer(entry, c, i, t=t, admission=admission),
                f"status {s}",
            )
        elif s != 0 and not math.isnan(rate[i]):
            rep.fail(
                "error_with_values",
                reproducer(entry, c, i, t=t, admission=admission),
                f"status {s} rate {rate[i]!r}",
            )
    good = []
    for i in ok:
        if invalid[i] or bad_t[i]:
            continue
        why = _metric_problem(metrics, i)
        if not (math.isfinite(rate[i]) and rate[i] >= 0):
            why = f"rate {rate[i]!r}"
        if why:
            rep.fail("ok_with_bad_metrics", reproducer(entry, c, i, t=t, admission=admission), why)
            continue
        good.append(i)
    good = np.asarray(good, dtype=np.int64)
    if good.size == 0:
        return
    cap = (
        0.999 * max_rate[good] * np.where((t["tps"][good] != 0) & ~np.isnan(t["tps"][good]), 0.9, 1)
    )
    r = rate[good]
    above_cap = r > cap * (1 + 1e-12)
    for j in np.flatnonzero(above_cap):
        i = good[j]
        rep.fail(
            "size_above_cap",
            reproducer(entry, c, i, t=t, admission=admission),
            f"rate {r[j]!r} > cap {cap[j]!r}",
        )
    zero = r == 0
    for j in np.flatnonzero(zero):
        rep.fail("size_zero_rate_ok", reproducer(entry, c, good[j], t=t, admission=admission))
    # Mean and blocking targets at the rate, and just above it.
    e_at, _ = _excess_at(ip, c, t, r, admission, good)
    for j in np.flatnonzero(e_at > 1e-9):
        i = good[j]
        rep.fail(
            "size_target_violated",
            reproducer(entry, c, i, t=t, admission=admission),
            f"excess {e_at[j]:.3g} at rate {r[j]!r}",
        )
    below_cap = (r < cap * (1 - 1e-6)) & (binding[good] != 0)
    pct = (t["ttft_pq"][good] > 0) | (t["wait_pq"][good] > 0)
    check_above = np.flatnonzero(below_cap & ~pct & ~zero)
    if check_above.size:
        met = np.ones(check_above.size, dtype=bool)
        for eps in (1e-9, 1e-6):
            e, _ = _excess_at(ip, c, t, r[check_above] * (1 + eps), admission, good[check_above])
            met &= ~(e > 0)
        # Where PrefillDecode's read-off jumps down just above a crossing, the targets may
        # fail only on a window narrower than 1e-9: probe it at the search's resolution
        # (rates are closed to 1e-10 relative), and a failure there certifies the answer.
        for eps in FINE_ABOVE:
            rows = np.flatnonzero(met)
            if not rows.size:
                break
            sel = check_above[rows]
            e, _ = _excess_at(ip, c, t, r[sel] * (1 + eps), admission, good[sel])
            met[rows[e > 0]] = False
        for j in np.flatnonzero(met):
            i = good[check_above[j]]
            rep.fail(
                "size_met_above",
                reproducer(entry, c, i, t=t, admission=admission),
                f"every target holds up to 1e-6 above rate {rate[i]!r}",
            )
    # Percentile targets on a subsample (scalar quantile calls).
    for j in np.flatnonzero(pct)[:budget_pct]:
        i = good[j]
        try:
            e = _percentile_excess(ip, c, t, i, r[j], admission)
        except ValueError as exc:
            rep.fail(
                "size_target_violated",
                reproducer(entry, c, i, t=t, admission=admission),
                f"quantile at the sized rate failed: {exc}",
            )
            continue
        rep.checks["percentile_checked"] += 1
        if e > 1e-7:
            rep.fail(
                "size_target_violated",
                reproducer(entry, c, i, t=t, admission=admission),
                f"percentile excess {e:.3g} at rate {r[j]!r}",
            )


def compare_backends(rep, entry, c, rate, t, admission, cpp_result, kind, rows):
    """Check that the Numba kernel gives the C++ bits, and the NumPy reference the same to 1e-6."""
    import inferplan as ip
    from inferplan._kernels import dispatch

    if rows.size == 0:
        return
    sub = {k: v[rows] for k, v in c.items()}
    for name in ("numba", "numpy"):
        if name not in dispatch.available():
            continue
        if name == "numpy":  # the reference is slow: small batches and queues only
            keep = (sub["max_batch"] <= 2000) & (
                (sub["max_queue"] <= 1e6) | np.isinf(sub["max_queue"])
            )
            sel = rows[keep][:20]
        else:
            sel = rows
        if sel.size == 0:
            continue
        dispatch.use(name)
        try:
            with np.errstate(all="ignore"):
                if kind == "analyze":
                    other = ip.analyze_many(
                        **{k: v[sel] for k, v in c.items()},
                        rate=rate[sel],
                        admission=admission,
                        threads=1,
                    )
                else:
                    other = ip.size_many(
                        **{k: v[sel] for k, v in c.items()},
                        **_target_args({k: v[sel] for k, v in t.items()}),
                        admission=admission,
                        threads=1,
                    )
        finally:
            dispatch.use(None)
        rep.checks[f"{kind}_compared_{name}"] += sel.size
        pos = {int(r): j for j, r in enumerate(rows)}
        for j, i in enumerate(sel):
            a = {k: cpp_result[k][pos[int(i)]] for k in other}
            b = {k: other[k][j] for k in other}
            # Bit for bit against Numba (admission rules included), 1e-6 against NumPy.
            tol = 0.0 if name == "numba" else 1e-6
            load = rate[i] / a["max_rate"] if rate is not None and "max_rate" in a else 0.0
            why = _differs(a, b, tol, float(load))
            if why:
                check = "size_backend_mismatch" if kind == "size" else "backend_mismatch"
                repro = reproducer(entry, c, i, rate, t, admission=admission)
                rep.fail(check, repro, f"cpp vs {name}: {why}")


_PROBABILITIES = ("p0", "p_block", "utilization")
_TIMES = ("response_ms", "service_ms", "wait_ms", "itl_ms", "ttft_ms", "prefill_ms")
_COUNTS = ("in_system", "in_service", "in_queue")


def _differs(a, b, tol, load=0.0) -> str:
    """Why two backends' rows differ ("" if they agree).

    Bit for bit when tol is 0, else to tol relative, with an absolute floor of 1e-12 for
    probabilities, of tol times the row's service time for times (a wait of 1e-15 ms next to
    a service of 1e3 ms is 0) and of 1e-12 times the mean number in the replica for counts.
    Within 1e-9 of saturation (load = rate / max_rate) the queue's moments have condition
    number 1 / |1 - load| (up to 1e12): tol is at least 1e-14 times that (a few tens of ulps
    of the ratio lam / mu(N), which PrefillDecode's mu(N) reaches through its sum of work
    terms).
    """
    if int(a["status"]) != int(b["status"]):
        return f"status {int(a['status'])} vs {int(b['status'])}"
    if tol and abs(1.0 - load) < 1e-9:
        tol = max(tol, 1e-14 / max(abs(1.0 - load), 1e-300))
    scale = abs(float(a["service_ms"])) if "service_ms" in a else 0.0
    for k in a:
        if k in ("status", "iterations"):
            continue
        x, y = float(a[k]), float(b[k])
        if math.isnan(x) and math.isnan(y):
            continue
        if tol == 0.0:
            if x != y:
                return f"{k} {x!r} vs {y!r}"
            continue
        floor = (
            1e-12
            if k in _PROBABILITIES
            else tol * scale
            if k in _TIMES
            else 1e-12 * (1.0 + abs(float(a["in_system"])))
            if k in _COUNTS and "in_system" in a
            else 1e-300
        )
        if not abs(x - y) <= tol * max(abs(x), abs(y)) + floor:
            return f"{k} {x!r} vs {y!r}"
    return ""


def _target_args(t):
    args = {k: t[k] for k in ("itl_ms", "ttft_ms", "wait_ms", "max_block", "tps")}
    args["ttft_percentile"] = (t["ttft_pq"], t["ttft_p_ms"])
    args["wait_percentile"] = (t["wait_pq"], t["wait_p_ms"])
    return args


# ------------------------------------------------------------------ entry points


def run_analyze(rep, seed, chunk, rows, subset):
    """Fuzz ``analyze_many`` on the rows ``subset`` of a chunk."""
    import inferplan as ip

    c, rate, t, adm, _ = build_chunk(seed, "analyze", chunk, rows)
    c, rate = _take(c, subset), rate[subset]
    with np.errstate(all="ignore"):
        res = ip.analyze_many(**c, rate=rate, admission=adm, threads=1)
    m = {k: v for k, v in res.items() if k != "status"}
    check_analyze_rows(rep, "analyze", c, rate, res["status"], m, adm, expected_invalid(c))
    sample = np.flatnonzero(np.random.default_rng([seed, chunk, 99]).random(rate.size) < 0.02)
    compare_backends(
        rep, "analyze", c, rate, t, adm, {k: v[sample] for k, v in res.items()}, "analyze", sample
    )


def run_size(rep, seed, chunk, rows, subset):
    """Fuzz ``size_many`` on the rows ``subset`` of a chunk."""
    import inferplan as ip

    c, _rate, t, adm, max_rate = build_chunk(seed, "size", chunk, rows)
    c, t, max_rate = _take(c, subset), _take(t, subset), max_rate[subset]
    with np.errstate(all="ignore"):
        res = ip.size_many(
            **c,
            **_target_args(t),
            admission=adm,
            threads=1,
            metrics=[
                "throughput",
                "itl_ms",
                "ttft_ms",
                "wait_ms",
                "utilization",
                "p_block",
                "max_rate",
                "prefill_ms",
            ],
        )
    check_size_rows(rep, "size", c, t, res, adm, expected_invalid(c), max_rate)
    sample = np.flatnonzero(np.random.default_rng([seed, chunk, 98]).random(t["tps"].size) < 0.005)
    compare_backends(
        rep, "size", c, None, t, adm, {k: v[sample] for k, v in res.items()}, "size", sample
    )


# Wait quantiles whose Erlang window is summed term by term (a finite queue of more than
# this many places, at or within 1e-6 of saturation) cost up to seconds per call: the scalar
# entry computes at most this many of them per chunk, and counts the others.
HEAVY_QUEUE = 1e5
HEAVY_QUANTILES_PER_CHUNK = 1


def _same(x, y) -> bool:
    """Bit for bit (NaN equals NaN)."""
    x, y = float(x), float(y)
    return x == y or (math.isnan(x) and math.isnan(y))


# Share of the rows whose scalar size() is also compared with size_many bit for bit (every
# row's analyze() is).
SIZE_COMPARED = 0.1


def run_replica(rep, seed, chunk, rows, subset):
    """Run the scalar calls: construction, analyze, size and a wait quantile per row.

    analyze() must equal analyze_many's row bit for bit (whose rows go through the analyze entry's
    property checks); the size() results themselves go through the size entry's property checks
    (vectorised over the chunk), and on a SIZE_COMPARED share of the rows must equal size_many's bit
    for bit.
    """
    import inferplan as ip
    from inferplan.models import from_params
    from inferplan.sizing import BINDING_NAMES

    c, rate, t, adm, max_rate = build_chunk(seed, "replica", chunk, rows)
    c, rate, t, max_rate = _take(c, subset), rate[subset], _take(t, subset), max_rate[subset]
    invalid = expected_invalid(c)
    bad_t = target_invalid(t)
    names = ip.Metrics._fields
    with np.errstate(all="ignore"):
        batch_a = ip.analyze_many(**c, rate=rate, admission=adm, metrics="all", threads=1)
        compared = np.random.default_rng([seed, chunk, 96]).random(rate.size) < SIZE_COMPARED
        sized = ip.size_many(
            **_take(c, compared), **_target_args(_take(t, compared)), admission=adm,
            metrics="all", threads=1,
        )  # fmt: skip
        batch_s = {
            k: np.full(rate.size, np.nan) if v.dtype.kind == "f" else np.zeros(rate.size, v.dtype)
            for k, v in sized.items()
        }
        for k, v in sized.items():
            batch_s[k][compared] = v
    # The analyze entry's property checks on the batch rows (their own report: rows and
    # statuses of this entry are the scalar calls').
    props = Report()
    m_a = {k: v for k, v in batch_a.items() if k != "status"}
    check_analyze_rows(props, "analyze", c, rate, batch_a["status"], m_a, adm, invalid)
    # The scalar size() results, gathered for the size entry's property checks.
    size_rows = []
    size_cols = {k: np.full(rate.size, np.nan) for k in names}
    size_cols.update(
        status=np.zeros(rate.size, np.int32), binding=np.zeros(rate.size, np.int32),
        rate=np.full(rate.size, np.nan),
    )  # fmt: skip
    heavy_done = 0

    def mismatch(call, i, detail):
        rep.fail("scalar_batch_mismatch", reproducer("replica", c, i, rate, t, adm, call), detail)

    for i in range(rate.size):
        rep.rows += 1
        try:
            model = from_params(*(c[k][i] for k in CONFIG[:7]))
            q = c["max_queue"][i]
            r = ip.Replica(
                model, max_batch=int(c["max_batch"][i]), max_queue=None if math.isinf(q) else q
            )
        except ValueError:
            rep.status["rejected"] += 1
            if batch_a["status"][i] < 20:
                mismatch("analyze", i, f"constructor refused, batch status {batch_a['status'][i]}")
            continue
        except Exception as exc:  # anything but a clear ValueError is a failure
            rep.fail("exception", reproducer("replica", c, i, rate), repr(exc))
            continue
        if invalid[i]:
            rep.fail("bad_input_accepted", reproducer("replica", c, i, rate))
            continue
        for call in ("analyze", "size", "wait_quantile"):
            try:
                with np.errstate(all="ignore"):
                    if call == "analyze":
                        m = r.analyze(rate[i], admission=adm)
                        rep.status["analyze_ok"] += 1
                        if batch_a["status"][i] != 0:
                            mismatch(call, i, f"OK, batch status {batch_a['status'][i]}")
                            continue
                        diff = [k for k, v in zip(names, m, strict=True)
                                if not _same(v, batch_a[k][i])]  # fmt: skip
                        if diff:
                            k = diff[0]
                            mismatch(call, i, f"{k} {getattr(m, k)!r} vs {batch_a[k][i]!r}")
                    elif call == "size":
                        if bad_t[i]:
                            continue
                        args = {}
                        for k in ("itl_ms", "ttft_ms", "wait_ms", "max_block", "tps"):
                            if t[k][i] != 0 and not math.isnan(t[k][i]):
                                args[k] = float(t[k][i])
                        for p in ("ttft", "wait"):
                            if t[f"{p}_pq"][i] > 0:
                                args[f"{p}_percentile"] = (
                                    float(t[f"{p}_pq"][i]),
                                    float(t[f"{p}_p_ms"][i]),
                                )
                        res = r.size(**args, admission=adm)
                        rep.status[f"size_{res.status.name}"] += 1
                        size_rows.append(i)
                        size_cols["status"][i] = int(res.status)
                        size_cols["binding"][i] = BINDING_NAMES.index(res.binding)
                        if res.feasible:
                            size_cols["rate"][i] = res.rate
                            for k, v in zip(names, res.metrics, strict=True):
                                size_cols[k][i] = v
                        if not compared[i]:
                            continue
                        rep.checks["size_compared_batch"] += 1
                        bs = int(batch_s["status"][i])
                        why = ""
                        if int(res.status) != bs:
                            why = f"status {int(res.status)} vs batch {bs}"
                        elif res.binding != BINDING_NAMES[int(batch_s["binding"][i])]:
                            why = f"binding {res.binding} vs batch {batch_s['binding'][i]}"
                        elif res.feasible:
                            if not _same(res.rate, batch_s["rate"][i]):
                                why = f"rate {res.rate!r} vs batch {batch_s['rate'][i]!r}"
                            else:
                                for k, v in zip(names, res.metrics, strict=True):
                                    if k in batch_s and not _same(v, batch_s[k][i]):
                                        why = f"{k} {v!r} vs batch {batch_s[k][i]!r}"
                                        break
                        if why:
                            mismatch(call, i, why)
                    else:
                        heavy = (
                            math.isfinite(c["max_queue"][i])
                            and c["max_queue"][i] > HEAVY_QUEUE
                            and rate[i] >= max_rate[i] * (1 - 1e-6)
                        )
                        if heavy:
                            if heavy_done >= HEAVY_QUANTILES_PER_CHUNK:
                                rep.checks["heavy_quantiles_not_run"] += 1
                                continue
                            heavy_done += 1
                        w = r.wait_quantile(rate[i], 0.9)
                        rep.checks["wait_quantiles"] += 1
                        if not (math.isfinite(w) and w >= 0):
                            rep.fail(
                                "ok_with_bad_metrics",
                                reproducer("replica", c, i, rate, t, adm, call),
                                f"quantile {w!r}",
                            )
            except ValueError:
                rep.status[f"{call}_rejected"] += 1
                if call == "analyze" and batch_a["status"][i] == 0:
                    mismatch(call, i, "ValueError, batch status OK")
                continue
            except Exception as exc:
                rep.fail("exception", reproducer("replica", c, i, rate, t, adm, call), repr(exc))
                continue
    sel = np.asarray(size_rows, dtype=np.int64)
    if sel.size:
        check_size_rows(
            props, "size", _take(c, sel), _take(t, sel), _take(size_cols, sel), adm,
            invalid[sel], max_rate[sel],
        )  # fmt: skip
    rep.failures.extend(props.failures)
    rep.checks.update(props.checks)
    rep.checks["analyze_property_checked"] += rate.size
    rep.checks["size_property_checked"] += sel.size


def run_capi(rep, seed, chunk, rows, subset):
    """Run the C ABI batch calls on arrays of its structs (same rows as the kernel would get)."""
    from inferplan import capi

    api = capi.load()
    ffi, lib = api.ffi, api.lib
    c, rate, t, _, max_rate = build_chunk(seed, "capi", chunk, rows)
    c, rate, t, max_rate = _take(c, subset), rate[subset], _take(t, subset), max_rate[subset]
    n = rate.size
    services = np.zeros(n, api.service_dtype)
    kind32 = np.clip(c["kind"], -(2**31), 2**31 - 1).astype(np.int32)
    services["kind"] = kind32
    for k in CONFIG[1:7]:
        services[k] = c[k]
    reserved = np.random.default_rng([seed, chunk, 97]).random(n) < 0.001
    services["reserved"] = np.where(reserved, 1, 0)
    max_batch = np.ascontiguousarray(c["max_batch"], dtype=np.int64)
    max_queue = np.ascontiguousarray(c["max_queue"], dtype=float)
    metrics = np.zeros(n, api.metrics_dtype)
    status = np.zeros(n, np.int32)
    call = lib.ip_analyze_many(
        n,
        ffi.from_buffer("ip_service[]", services),
        ffi.from_buffer("int64_t[]", max_batch),
        ffi.from_buffer("double[]", max_queue),
        ffi.from_buffer("double[]", rate),
        ffi.from_buffer("ip_metrics[]", metrics),
        ffi.from_buffer("int32_t[]", status),
        1,
    )
    if call != 0:
        rep.fail("call_error", f"ip_analyze_many returned {call}")
        return
    invalid = expected_invalid(c) | (kind32 != c["kind"])
    m = {k: metrics[k] for k in api.metrics_dtype.names}
    status = np.where(reserved & (status == lib.IP_BAD_RESERVED), 112, status)
    for i in np.flatnonzero(reserved & (status != lib.IP_BAD_RESERVED)):
        rep.fail(
            "bad_input_accepted",
            f"capi row with reserved=1 (seed {seed} chunk {chunk})",
            f"status {status[i]}",
        )
    check_analyze_rows(rep, "analyze", c, rate, status, m, None, invalid | reserved)
    targets = np.zeros(n, api.targets_dtype)
    for k in TARGETS:
        targets[k] = t[k]
    out = np.zeros(n, api.size_result_dtype)
    call = lib.ip_size_many(
        n,
        ffi.from_buffer("ip_service[]", services),
        ffi.from_buffer("int64_t[]", max_batch),
        ffi.from_buffer("double[]", max_queue),
        ffi.from_buffer("ip_targets[]", targets),
        ffi.from_buffer("ip_size_result[]", out),
        1,
    )
    if call != 0:
        rep.fail("call_error", f"ip_size_many returned {call}")
        return
    res = {"status": out["status"], "rate": out["rate"], "binding": out["binding"]}
    for k in ("throughput", "itl_ms", "ttft_ms", "wait_ms", "utilization", "p_block", "max_rate"):
        res[k] = out["metrics"][k]
    keep = ~reserved
    check_size_rows(
        rep,
        "size",
        _take(c, keep),
        _take(t, keep),
        {k: v[keep] for k, v in res.items()},
        None,
        invalid[keep],
        max_rate[keep],
    )


def _take(d, sel):
    return {k: v[sel] for k, v in d.items()}


RUNNERS = {"analyze": run_analyze, "size": run_size, "replica": run_replica, "capi": run_capi}


def worker(entry, seed, chunk, rows, start, stop) -> None:
    """Run rows [start, stop) of a chunk in this process; print the report as JSON."""
    rep = Report()
    RUNNERS[entry](rep, seed, chunk, rows, np.arange(start, stop))
    print(json.dumps(rep.to_json()))


# ------------------------------------------------------------------ driver


def _run_rows(entry, seed, chunk, rows, start, stop, timeout, reports, depth=0):
    """Run a row range in a subprocess.

    On a timeout or crash, splits it until the rows that hang or crash are isolated.
    """
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        entry,
        "--seed",
        str(seed),
        "--chunk",
        str(chunk),
        "--chunk-rows",
        str(rows),
        "--start",
        str(start),
        "--stop",
        str(stop),
    ]
    limit = timeout(stop - start)
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        problem = f"hang (no answer in {limit:.0f} s)"
    else:
        if proc.returncode == 0:
            reports.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            return time.monotonic() - t0
        problem = f"crash (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"
    if stop - start == 1:
        rep = Report()
        rep.rows = 1
        rep.status["hang_or_crash"] += 1
        rep.fail(
            "hang" if problem.startswith("hang") else "crash",
            f"python scripts/fuzz.py --worker {entry} --seed {seed} --chunk {chunk} "
            f"--chunk-rows {rows} --start {start} --stop {stop}",
            problem,
        )
        reports.append(rep.to_json())
        return limit
    mid = (start + stop) // 2
    used = _run_rows(entry, seed, chunk, rows, start, mid, timeout, reports, depth + 1)
    return used + _run_rows(entry, seed, chunk, rows, mid, stop, timeout, reports, depth + 1)


class Progress:
    """One rewritten stderr line: rows done, rate and ETA."""

    def __init__(self, total, label):
        self.total, self.label, self.done, self.t0 = total, label, 0, time.monotonic()

    def update(self, n, failures):
        """Count ``n`` more rows done and redraw the progress line."""
        self.done += n
        dt = time.monotonic() - self.t0
        rate = self.done / dt if dt > 0 else 0
        eta = (self.total - self.done) / rate if rate else 0
        sys.stderr.write(
            f"\r{self.label:8s} {self.done:>9,}/{self.total:,} rows "
            f"{100 * self.done / self.total:5.1f}%  {rate:8.0f} rows/s  "
            f"ETA {eta:6.0f} s  failures {failures}"
        )
        sys.stderr.flush()

    def close(self):
        """End the progress line."""
        sys.stderr.write("\n")


def run_entry(entry, total, seed, chunk_rows, jobs, row_bound_s):
    """All chunks of one entry point, `jobs` subprocesses at a time."""
    from concurrent.futures import ThreadPoolExecutor

    chunks = (total + chunk_rows - 1) // chunk_rows

    # Chunk limit: start-up (20 s), plus the per-row work bound for every row, stretched by
    # how oversubscribed the machine is when the chunk starts (the load average per core,
    # at least 1): on a shared machine a slow chunk is not a hang.
    def timeout(n):
        try:
            busy = os.getloadavg()[0] / (os.cpu_count() or 1)
        except OSError:
            busy = 1.0
        return (20.0 + row_bound_s * n) * max(1.0, busy)

    reports: list[dict] = []
    bar = Progress(total, entry)

    def one(k):
        rows = min(chunk_rows, total - k * chunk_rows)
        local: list[dict] = []
        _run_rows(entry, seed, k, rows, 0, rows, timeout, local)
        return rows, local

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for rows, local in pool.map(one, range(chunks)):
            reports.extend(local)
            bar.update(rows, sum(len(r["failures"]) for r in reports))
    bar.close()
    return reports


def summarise(results: dict[str, list[dict]], elapsed: dict[str, float]) -> int:
    """Print the summary; return the exit status."""
    from inferplan import Status

    def name(code):
        try:
            return Status(int(code)).name
        except ValueError:
            return {"112": "IP_BAD_RESERVED"}.get(str(code), str(code))

    total_failures = 0
    print()
    print(
        f"{'entry':8s} {'rows':>10s} {'seconds':>8s} {'failures':>9s} {'robustness':>10s} "
        f"{'sizing':>7s}"
    )
    per_entry = {}
    for entry, reports in results.items():
        rows = sum(r["rows"] for r in reports)
        fails = [f for r in reports for f in r["failures"]]
        sizing = sum(f["check"] in SIZING_CHECKS for f in fails)
        per_entry[entry] = (reports, fails)
        total_failures += len(fails)
        print(
            f"{entry:8s} {rows:>10,} {elapsed[entry]:>8.0f} {len(fails):>9,} "
            f"{len(fails) - sizing:>10,} {sizing:>7,}"
        )
    for entry, (reports, fails) in per_entry.items():
        status = Counter()
        checks = Counter()
        for r in reports:
            status.update(r["status"])
            checks.update(r["checks"])
        print(f"\n[{entry}] statuses:")
        for code, count in sorted(status.items(), key=lambda kv: -kv[1]):
            label = name(code) if str(code).lstrip("-").isdigit() else code
            print(f"  {label:34s} {count:>10,}")
        if checks:
            print(f"[{entry}] cross-checks: " + ", ".join(f"{k} {v:,}" for k, v in checks.items()))
        by_check = Counter(f["check"] for f in fails)
        if by_check:
            print(f"[{entry}] failures by check:")
            for check, count in by_check.most_common():
                area = "sizing" if check in SIZING_CHECKS else "robustness"
                print(f"  {check:28s} {count:>8,}  ({area})")
            shown = Counter()
            print(f"[{entry}] reproducers (up to 5 per check):")
            for f in fails:
                if shown[f["check"]] >= 5:
                    continue
                shown[f["check"]] += 1
                print(f"  [{f['check']}] {f['detail']}\n    {f['repro']}")
    return total_failures


def main(argv=None) -> int:
    """Run the fuzzer; return the exit status."""
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows per entry point")
    ap.add_argument(
        "--replica-rows",
        type=int,
        default=None,
        help="rows for the scalar Replica calls (default: --rows)",
    )
    ap.add_argument("--seed", type=int, default=0, help="random seed (rows are reproducible)")
    ap.add_argument("--entry", choices=(*ENTRIES, "all"), default="all", help="entry point to fuzz")
    ap.add_argument("--chunk-rows", type=int, default=20_000, help="rows per subprocess")
    ap.add_argument("--jobs", type=int, default=2, help="subprocesses at a time")
    ap.add_argument(
        "--row-bound",
        type=float,
        default=0.02,
        help="per-row work bound in seconds (a chunk may take 20 s plus this per row)",
    )
    ap.add_argument("--json", type=Path, default=None, help="also write the raw reports here")
    ap.add_argument("--worker", choices=ENTRIES, help=argparse.SUPPRESS)
    ap.add_argument("--chunk", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--stop", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, args.seed, args.chunk, args.chunk_rows, args.start, args.stop)
        return 0
    if args.rows < 1 or args.chunk_rows < 1 or args.jobs < 1:
        ap.error("--rows, --chunk-rows and --jobs must be >= 1")
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    entries = ORDER if args.entry == "all" else (args.entry,)
    results, elapsed = {}, {}
    for entry in entries:
        total = args.replica_rows if entry == "replica" and args.replica_rows else args.rows
        t0 = time.monotonic()
        chunk = args.chunk_rows
        results[entry] = run_entry(entry, total, args.seed, chunk, args.jobs, args.row_bound)
        elapsed[entry] = time.monotonic() - t0
        if len(entries) > 1:  # each entry's figures as soon as they are known
            summarise({entry: results[entry]}, elapsed)
            sys.stdout.flush()
    failures = summarise(results, elapsed)
    if args.json:
        args.json.write_text(json.dumps(results))
    print(
        f"\n{failures:,} failures; command: python scripts/fuzz.py "
        + " ".join(sys.argv[1:] if argv is None else argv)
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

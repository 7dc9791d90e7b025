"""Calibrate an engine model against benchmark points.

Fit an :class:`EngineModel` to benchmark points by minimising the model's prediction error
of TTFT and ITL at the measured rates, over all request shapes at once.

The residual of a point is ``log(predicted / measured)`` for ITL and for TTFT (relative
errors, so short and long shapes weigh alike), minimised with SciPy's ``least_squares``
under a robust loss (``soft_l1`` by default). Confidence intervals come from the Jacobian
at the optimum (docs/calibration.md).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import _lazy
from .engine import PARAMS, UNITS, EngineModel, capacity, predict_arrays

__all__ = [
    "EVEN_ARRIVALS",
    "FIT_ARRIVALS",
    "PROFILE_FORMAT",
    "Calibration",
    "calibrate",
    "count_shapes",
    "error_summary",
    "error_table",
    "load_profile",
    "predict",
    "shape_label",
]
__dir__ = _lazy.public_dir(__name__)

#: Arrival patterns whose points are fitted and scored (the others, e.g. GuideLLM's
#: "throughput" runs that send everything at once, are closed-loop saturation tests).
FIT_ARRIVALS = ("constant", "poisson", "gamma", "synchronous")
#: Arrival patterns with evenly spaced requests (read off the fluid fixed point).
EVEN_ARRIVALS = ("constant", "synchronous")
#: Profile file format tag.
PROFILE_FORMAT = "inferplan-engine-profile"

_X0 = np.array([6.0, 0.02, 0.02, 5e-5, 1e-6, 1e-5, 5.0, 0.5, 1e-3])
_SCALE = np.array([1.0, 1e-2, 1e-2, 1e-4, 1e-6, 1e-5, 1.0, 1.0, 1e-3])
_UNSTABLE = math.log(10.0)  # residual of a point the model has no steady state for
_START_FACTORS = (1.0, 0.5, 2.0, 0.25, 4.0)  # starting points: the default vector scaled


def _points(points):
    """Return validated arrays of the points to fit or predict.

    A DataFrame from read_benchmarks or anything with its columns.
    """
    import os

    import pandas as pd

    if isinstance(points, (str, os.PathLike)) or (
        isinstance(points, (list, tuple))
        and points
        and all(isinstance(p, (str, os.PathLike)) for p in points)
    ):  # benchmark files or directories: read them as read_benchmarks does (it warns)
        from .readers import read_benchmarks

        points = read_benchmarks(points)
    if points is None:
        raise ValueError("points must be a DataFrame of benchmark points or benchmark paths")
    df = points if isinstance(points, pd.DataFrame) else pd.DataFrame(points)
    if "arrival" in df.columns:  # engine statistics are samples, not benchmark points
        df = df[df["arrival"].astype(str) != "engine"]
    need = ("request_rate", "in_tokens", "out_tokens")
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"points need the columns {list(need)}; missing {missing}")
    df = df.reset_index(drop=True)
    arrival = (
        df["arrival"].astype(str).to_numpy()
        if "arrival" in df.columns
        else np.full(len(df), "poisson")
    )
    rate = df["request_rate"].to_numpy(float)
    L = df["in_tokens"].to_numpy(float)
    m = df["out_tokens"].to_numpy(float)
    for name, v, lo in (("request_rate", rate, 0.0), ("in_tokens", L, 0.0), ("out_tokens", m, 1.0)):
        bad = np.flatnonzero(~(np.isfinite(v) & (v >= lo)))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"{_where(df, i)}: {name} = {float(v[i])!r} must be finite and >= {lo:g}"
            )
    dur = (
        df["duration_s"].to_numpy(float) if "duration_s" in df.columns else np.full(len(df), np.nan)
    )
    window = np.isin(arrival, ("constant", "poisson", "gamma")) & np.isfinite(dur) & (dur > 0)
    rate = np.where(arrival == "synchronous", 0.0, rate)
    return df, arrival, rate, L, m, dur, window, np.isin(arrival, EVEN_ARRIVALS)


def _measured(df, name):
    return df[name].to_numpy(float) if name in df.columns else np.full(len(df), np.nan)


@dataclass
class Calibration:
    """A fitted engine profile with its uncertainty and the points it was fitted on.

    ``engine``: the :class:`EngineModel` (use :meth:`service_times`/:meth:`replica` for one
    request shape, :meth:`prefill_decode` for the linear PrefillDecode profile the fleet
    optimizer, ``cost_table`` and the runtime take); ``ci_low``/``ci_high``: confidence
    intervals of the parameters; ``points``: the fitted points with predictions.
    """

    engine: EngineModel
    stderr: dict
    ci_low: dict
    ci_high: dict
    confidence: float
    loss: str
    points: object = field(repr=False, default=None)
    seconds: float = 0.0
    n_points: int = 0
    ttft: str = "mean"
    shapes: int = 0
    cost: float = math.nan
    skipped: list = field(default_factory=list)
    """The points left out of the fit, each as ``"point i (file row r): reason"``."""

    # ---------------------------------------------------------------- use the model
    def service_times(self, in_tokens: float, out_tokens: float):
        """Return the engine's service times for one request shape."""
        return self.engine.service_times(in_tokens, out_tokens)

    def replica(self, in_tokens: float, out_tokens: float, max_queue=None):
        """Return a replica of the engine serving one request shape."""
        return self.engine.replica(in_tokens, out_tokens, max_queue=max_queue)

    def predict(self, points):
        """Predict the metrics of each point.

        Predicted ``ttft_ms``, ``itl_ms``, ``throughput`` (req/s), ``batch`` and
        ``steady_state`` for each point (a DataFrame like read_benchmarks returns, or
        columns request_rate, in_tokens, out_tokens [, arrival, duration_s]). Where the
        points carry measurements, ``ttft_err`` and ``itl_err`` are the relative errors.
        """
        return predict(self.engine, points, ttft=self.ttft)

    def prefill_decode(self, in_tokens: float, out_tokens: float, max_num_tokens=8192):
        """Return the :class:`inferplan.PrefillDecode` closest to the engine around one shape.

        A robust regression of its service time over batch sizes and the shapes with half
        and twice the prompt and output (fit.py).
        """
        from ..models import PrefillDecode

        shapes = [(in_tokens * f, out_tokens * g) for f in (0.5, 1, 2) for g in (0.5, 1, 2)]
        a, b, g = self.perf_parms(shapes, max_num_tokens=max_num_tokens)
        return PrefillDecode(a, b, g, in_tokens, out_tokens, max_num_tokens)

    def perf_parms(self, shapes=None, *, max_num_tokens=8192) -> tuple[float, float, float]:
        """Return the linear PrefillDecode profile (alpha, beta, gamma) nearest the engine.

        (alpha, beta, gamma) of the linear PrefillDecode profile (docs/model.md 2.2) that
        best matches the engine's service time over ``shapes`` (default: the fitted ones)
        and batches up to half their caps: the profile the fleet data (``perfParms``),
        ``cost_table`` and the runtime take.
        """
        from ..hardware.fit import fit_prefill_decode

        if shapes is None:
            shapes = sorted({(round(a), round(b)) for a, b in self._shapes()})
        if len(shapes) < 2:
            L, m = shapes[0] if shapes else (512, 256)
            shapes = [(L * f, m * g) for f in (0.5, 1, 2) for g in (0.5, 1, 2)]
        rows = {"batch_size": [], "in_tokens": [], "out_tokens": [], "request_ms": []}
        for L, m in shapes:
            n = self.engine.max_batch(L, m)
            b = np.unique(np.linspace(1, max(n // 2, 2), 24).round())
            tau = self.engine.service_times(L, m).tau_ms[b.astype(int) - 1]
            rows["batch_size"] += list(b)
            rows["in_tokens"] += [float(L)] * b.size
            rows["out_tokens"] += [float(m)] * b.size
            rows["request_ms"] += list(tau)
        fit = fit_prefill_decode(rows, max_num_tokens=max_num_tokens, loss="soft_l1")
        p = fit.as_dict()
        return max(p["alpha"], 1e-9), max(p["beta"], 0.0), max(p["gamma"], 0.0)

    def model_data(
        self,
        model: str = "model",
        accelerator: str = "gpu",
        *,
        acc_count: int = 1,
        max_batch_size: int | None = None,
        at_tokens: float | None = None,
    ) -> dict:
        """Return the fleet data's model-profile entry for this engine.

        Return the fleet data's model-profile entry (``model-data.json``'s ``models`` list,
        docs/model.md 4): name, acc, accCount, maxBatchSize at atTokens, perfParms.
        ``at_tokens`` defaults to the median output length of the fitted points and
        ``max_batch_size`` to the engine's batch cap for the median shape.
        """
        L, m = 512.0, 256.0
        if self.points is not None and len(self.points):
            L = float(np.median(self.points["in_tokens"]))
            m = float(np.median(self.points["out_tokens"]))
        at = float(at_tokens) if at_tokens is not None else round(m)
        n = int(max_batch_size) if max_batch_size is not None else self.engine.max_batch(L, at)
        a, b, g = self.perf_parms()
        return {"name": model, "acc": accelerator, "accCount": int(acc_count),
                "maxBatchSize": n, "atTokens": at,
                "perfParms": {"alpha": a, "beta": b, "gamma": g}}  # fmt: skip

    def profile(self, model: str = "model", accelerator: str = "gpu"):
        """Return a :class:`inferplan.hardware.Profile` (PrefillDecode) for ``cost_table``."""
        from ..hardware.cost_table import Profile

        a, b, g = self.perf_parms()
        return Profile(model, accelerator, a, b, g, kind="PrefillDecode")

    def _shapes(self):
        if self.points is None:
            return []
        return list(zip(self.points["in_tokens"], self.points["out_tokens"], strict=False))

    # -------------------------------------------------------------------- report
    def errors(self, points=None):
        """Per-point relative errors of the fitted (or given) points."""
        return self.predict(self.points if points is None else points)

    def table(self, points=None):
        """Per-shape error table: shape, points, median and max |error| of TTFT and ITL."""
        return error_table(self.errors(points))

    def summary(self, points=None) -> dict:
        """Return the error summary of :meth:`errors` (see :func:`error_summary`)."""
        return error_summary(self.errors(points))

    def plot(self, path=None, points=None, *, title=None):
        """Predicted vs measured TTFT and ITL against request rate, one panel per shape."""
        from .report import plot_points

        return plot_points(self.errors(points), path, title=title)

    # ---------------------------------------------------------------- persistence
    def to_dict(self, *, model="model", accelerator="gpu") -> dict:
        """Return the profile as saved: the fleet model entry plus the engine parameters."""
        entry = self.model_data(model, accelerator)
        return {
            "format": PROFILE_FORMAT,
            "version": 1,
            **entry,
            "engine": self.engine.as_dict(),
            "units": dict(UNITS),
            "stderr": self.stderr,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "confidence": self.confidence,
            "loss": self.loss,
            "ttft": self.ttft,
            "fit": {
                "points": self.n_points,
                "skipped": len(self.skipped),
                "seconds": round(self.seconds, 3),
                **self.summary(),
            },
        }

    def save(self, path, **names) -> None:
        """Write the profile to ``path`` as JSON (read back by :func:`load_profile`)."""
        Path(path).write_text(json.dumps(self.to_dict(**names), indent=2) + "\n")


def load_profile(path) -> Calibration:
    """Read a profile written by :meth:`Calibration.save` / ``inferplan calibrate --out``."""
    try:
        d = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: no such profile file") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(d, dict) or d.get("format") != PROFILE_FORMAT:
        raise ValueError(f"{path}: not an inferplan engine profile (format {PROFILE_FORMAT!r})")
    try:
        engine = EngineModel.from_dict(d["engine"])
    except KeyError:
        raise ValueError(f"{path}: the profile has no 'engine' section") from None
    return Calibration(
        engine, d.get("stderr", {}), d.get("ci_low", {}), d.get("ci_high", {}),
        d.get("confidence", 0.95), d.get("loss", ""), ttft=d.get("ttft", "mean"),
    )  # fmt: skip


# ------------------------------------------------------------------------- predict


def predict(engine: EngineModel, points, *, ttft: str = "mean"):
    """Predict the metrics of ``points`` under ``engine`` (see :meth:`Calibration.predict`).

    ``ttft`` names the measured TTFT the errors are taken against ("mean": ttft_ms,
    "median": ttft_median_ms).
    """
    if ttft not in _TTFT_COLUMN:
        raise ValueError(f"ttft must be 'mean' or 'median', got {ttft!r}")
    ttft_column = _TTFT_COLUMN[ttft]
    df, _arrival, rate, L, m, dur, window, even = _points(points)
    nmax = np.array([engine.max_batch(a, b) for a, b in zip(L, m, strict=True)], dtype=float)
    itl, ttft, stable, B, _p0, _wait = predict_arrays(
        engine.vector(), rate, L, m, nmax, duration_s=dur, window=window, even=even
    )
    out = df.copy()
    out["pred_ttft_ms"] = ttft
    out["pred_itl_ms"] = itl
    out["pred_throughput"] = np.where(stable, df["request_rate"].to_numpy(float), np.nan)
    out["pred_batch"] = np.where(stable, B, np.nan)
    out["steady_state"] = stable
    mt, mi = _measured(df, ttft_column), _measured(df, "itl_ms")
    with np.errstate(invalid="ignore", divide="ignore"):
        out["ttft_err"] = ttft / mt - 1.0
        out["itl_err"] = itl / mi - 1.0
    return out


# ----------------------------------------------------------------------------- fit


_TTFT_COLUMN = {"mean": "ttft_ms", "median": "ttft_median_ms"}
_SAT_WEIGHT = 3.0  # a 1 % shortfall of saturation throughput weighs as a 3 % latency error


def _saturation_runs(points):
    """(rate, in, out) of the closed-loop saturation runs among the points."""
    import os

    import pandas as pd

    if isinstance(points, (str, os.PathLike)) or (
        isinstance(points, (list, tuple))
        and points
        and all(isinstance(p, (str, os.PathLike)) for p in points)
    ):  # benchmark files or directories: read them as read_benchmarks does (it warns)
        from .readers import read_benchmarks

        points = read_benchmarks(points)
    if points is None:
        raise ValueError("points must be a DataFrame of benchmark points or benchmark paths")
    df = points if isinstance(points, pd.DataFrame) else pd.DataFrame(points)
    if "arrival" not in df.columns or not len(df):
        return np.empty(0), np.empty(0), np.empty(0)
    sel = df["arrival"].astype(str).to_numpy() == "throughput"
    r = df["request_rate"].to_numpy(float)[sel]
    L = df["in_tokens"].to_numpy(float)[sel]
    m = df["out_tokens"].to_numpy(float)[sel]
    ok = np.isfinite(r) & (r > 0) & np.isfinite(L) & (L >= 0) & np.isfinite(m) & (m >= 1)
    return r[ok], L[ok], m[ok]


def _where(df, i: int) -> str:
    where = f"point {i}"
    if "source" in df.columns and "row" in df.columns:
        where += f" ({df['source'].iloc[i]} row {df['row'].iloc[i]})"
    return where


def _fit_arrays(df, ttft_column="ttft_ms"):
    """Return the fitted points and the points left out, each with its reason.

    A measured latency that is negative or infinite is an error naming the point; a missing
    one (NaN, or a column the points do not have) leaves the point out, and so does an
    arrival type that is not fitted: both are listed in the returned ``skipped``.
    """
    df, arrival, rate, L, m, dur, window, even = _points(df)
    fit_arrival = np.isin(arrival, FIT_ARRIVALS)
    mt, mi = _measured(df, ttft_column), _measured(df, "itl_ms")
    for name, v in ((ttft_column, mt), ("itl_ms", mi)):
        bad = np.flatnonzero(fit_arrival & ~np.isnan(v) & ~(np.isfinite(v) & (v >= 0)))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{_where(df, i)}: {name} = {float(v[i])!r} must be finite and >= 0")
    keep = fit_arrival & (mt > 0) & (mi > 0)
    skipped = []
    for i in np.flatnonzero(~keep):
        if not fit_arrival[i]:
            if arrival[i] == "throughput":
                continue  # a saturation run: used as a bound on capacity, not skipped
            reason = f"arrival {arrival[i]!r} is not fitted (only {', '.join(FIT_ARRIVALS)})"
        else:
            missing = [n for n, v in ((ttft_column, mt), ("itl_ms", mi)) if not v[i] > 0]
            reason = f"no measured {' and '.join(missing)} (missing, NaN or 0)"
        skipped.append(f"{_where(df, int(i))}: {reason}")
    return df[keep].reset_index(drop=True), rate[keep], L[keep], m[keep], dur[keep], \
        window[keep], even[keep], mt[keep], mi[keep], skipped  # fmt: skip


def calibrate(
    points,
    *,
    loss: str = "cauchy",
    f_scale: float = 0.03,
    confidence: float = 0.95,
    max_num_seqs: int = 1024,
    kv_capacity_tokens: float = math.inf,
    ttft_weight: float = 1.0,
    ttft: str = "mean",
    fixed: dict | None = None,
    starts: int = 3,
    x0=None,
) -> Calibration:
    """Fit one engine profile to benchmark points of any number of request shapes.

    ``points``: a DataFrame from :func:`inferplan.read_benchmarks` (or with its columns:
    request_rate, in_tokens, out_tokens, ttft_ms, itl_ms, and optionally arrival and
    duration_s), or the benchmark files and directories themselves (read with
    :func:`inferplan.read_benchmarks`). Points of constant-rate, Poisson and synchronous
    runs are fitted; closed-loop saturation runs (GuideLLM "throughput") bound the model's
    saturation throughput from below; engine-statistics rows are left out.

    ``loss``: the ``least_squares`` loss ("cauchy", "soft_l1", "huber", "arctan" or
    "linear") of the residuals ``log(predicted / measured)``, ``f_scale`` its scale (0.03 =
    3 %); the default Cauchy loss lets the few points at the edge of saturation, where a 1 %
    error in capacity is a 20 % error in latency, pull least (docs/calibration.md).
    ``confidence``: of the parameter intervals. ``max_num_seqs`` and ``kv_capacity_tokens``:
    the engine's limits (not fitted). ``ttft_weight``: weight of the TTFT residuals against
    the ITL ones. ``ttft``: fit the ``"mean"`` (column ttft_ms) or the ``"median"`` TTFT
    (ttft_median_ms). ``fixed``: parameters held at given values, e.g. ``{"zeta": 0}``; with
    a single request shape the context and output terms cannot be told from the others, so
    ``gamma``, ``gamma_prefill`` and ``ttft_per_out_ms`` are then held at 0 unless given.
    ``starts``: local fits from that many starting points (the default vector scaled by 1,
    0.5, 2, ...; ``x0`` replaces the first); the lowest robust cost is kept.

    Returns a :class:`Calibration`. Raises ValueError naming the point and field of bad
    input, or when there are fewer points than free parameters plus one.
    """
    from scipy import optimize, stats

    if loss not in ("linear", "soft_l1", "huber", "cauchy", "arctan"):
        raise ValueError(f"loss must be linear, soft_l1, huber, cauchy or arctan, got {loss!r}")
    if not (0 < float(confidence) < 1):
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if not (float(f_scale) > 0):
        raise ValueError(f"f_scale must be > 0, got {f_scale!r}")
    if ttft not in ("mean", "median"):
        raise ValueError(f"ttft must be 'mean' or 'median', got {ttft!r}")
    t_start = time.perf_counter()
    df, rate, L, m, dur, window, even, mt, mi, skipped = _fit_arrays(points, _TTFT_COLUMN[ttft])
    # closed-loop saturation runs (GuideLLM "throughput"): the engine served this rate, so
    # the model's saturation throughput must be at least as high (a one-sided residual)
    sat_r, sat_L, sat_m = _saturation_runs(points)
    shapes = count_shapes(L, m)
    fixed = dict(fixed or {})
    if len(shapes) == 1:
        for name in ("gamma", "gamma_prefill", "ttft_per_out_ms"):
            fixed.setdefault(name, 0.0)
    unknown = set(fixed) - set(PARAMS)
    if unknown:
        raise ValueError(f"fixed: unknown parameter(s) {sorted(unknown)}; known: {PARAMS}")
    for k, v in fixed.items():
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise ValueError(f"fixed[{k!r}] must be a finite number >= 0, got {v!r}")
    free = np.array([n not in fixed for n in PARAMS])
    if len(df) < int(free.sum()) + 1:
        raise ValueError(
            f"calibrate needs at least {int(free.sum()) + 1} points with TTFT and ITL from "
            f"constant-rate, Poisson or synchronous runs; got {len(df)}"
        )
    limits = dict(max_num_seqs=max_num_seqs, kv_capacity_tokens=kv_capacity_tokens)
    nmax = np.array(
        [EngineModel(1.0, 0, 0, **limits).max_batch(a, b) for a, b in zip(L, m, strict=True)],
        dtype=float,
    )
    wt = math.sqrt(float(ttft_weight))
    sat_nmax = np.array(
        [
            EngineModel(1.0, 0, 0, **limits).max_batch(a, b)
            for a, b in zip(sat_L, sat_m, strict=True)
        ],
        dtype=float,
    )

    z_all = (np.asarray(x0, float) if x0 is not None else _X0.copy()) / _SCALE
    for k, v in fixed.items():
        z_all[PARAMS.index(k)] = v / _SCALE[PARAMS.index(k)]

    def full(zf):
        z = z_all.copy()
        z[free] = zf
        return z

    def residuals(zf):
        x = full(zf) * _SCALE
        itl, ttft, _stable, *_ = predict_arrays(
            x, rate, L, m, nmax, duration_s=dur, window=window, even=even
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            ri = np.log(itl / mi)
            rt = np.log(ttft / mt) * wt
            # a point without a steady state: a miss that grows with the overload, so the
            # optimiser sees which way restores the steady state
            over = _UNSTABLE + 10.0 * np.maximum(np.log(rate / capacity(x, L, m, nmax)), 0.0)
        ri = np.where(np.isfinite(ri), ri, over)
        rt = np.where(np.isfinite(rt), rt, over * wt)
        if sat_r.size:
            cap = capacity(x, sat_L, sat_m, sat_nmax)
            rs = _SAT_WEIGHT * np.maximum(np.log(sat_r / cap), 0.0)
            return np.concatenate([ri, rt, rs])
        return np.concatenate([ri, rt])

    res = None
    for k in range(max(int(starts), 1)):  # a few starts; the lowest robust cost wins
        z_start = z_all[free] * _START_FACTORS[k % len(_START_FACTORS)]
        if x0 is not None and k == 0:
            z_start = z_all[free]
        r_k = optimize.least_squares(
            residuals, z_start, bounds=(0.0, np.inf), loss=loss, f_scale=f_scale,
            x_scale="jac", method="trf",
        )  # fmt: skip
        if res is None or r_k.cost < res.cost:
            res = r_k
    z = full(res.x)
    if z[0] <= 0:
        z[0] = 1e-6
    x = z * _SCALE
    engine = EngineModel.from_vector(x, **limits)
    # uncertainty: Gauss-Newton covariance of the robust fit at the optimum
    J = res.jac * (1.0 / _SCALE[free])[None, :]
    r = res.fun
    n, p = J.shape
    dof = max(n - p, 1)
    s2 = float(r @ r) / dof
    se = np.zeros(len(PARAMS))  # a fixed parameter has no uncertainty
    try:
        cov = s2 * np.linalg.pinv(J.T @ J)
        se[free] = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    except np.linalg.LinAlgError:
        se[free] = np.nan
    tq = float(stats.t.ppf(0.5 + float(confidence) / 2.0, dof))
    fitted = predict(engine, df, ttft=ttft)
    return Calibration(
        engine=engine,
        stderr={k: float(v) for k, v in zip(PARAMS, se, strict=True)},
        ci_low={k: float(max(v - tq * s, 0.0)) for k, v, s in zip(PARAMS, x, se, strict=True)},
        ci_high={k: float(v + tq * s) for k, v, s in zip(PARAMS, x, se, strict=True)},
        confidence=float(confidence),
        loss=loss,
        points=fitted,
        seconds=time.perf_counter() - t_start,
        n_points=len(df),
        ttft=ttft,
        shapes=len(shapes),
        cost=float(res.cost),
        skipped=skipped,
    )


# ------------------------------------------------------------------------ summaries


def count_shapes(in_tokens, out_tokens, ratio: float = 1.35) -> list:
    """Distinct request shapes.

    A point within ``ratio`` of a shape's first point in both prompt and output tokens
    belongs to it (greedy, in order of the points).
    """
    reps: list[tuple[float, float]] = []
    for a, b in zip(in_tokens, out_tokens, strict=True):
        a1, b1 = float(a) + 1.0, float(b) + 1.0
        if not any(max(a1 / x, x / a1) <= ratio and max(b1 / y, y / b1) <= ratio
                   for x, y in reps):  # fmt: skip
            reps.append((a1, b1))
    return reps


def shape_label(in_tokens, out_tokens) -> str:
    """Return the label of a request shape, e.g. ``in 512 / out 128``."""
    return f"in {in_tokens:.0f} / out {out_tokens:.0f}"


def error_summary(pred) -> dict:
    """Error summary of the fit over the scored points.

    Median, p90 and max absolute relative error of TTFT and ITL over the scored points
    (constant, Poisson, synchronous), and how many points lack a steady state.
    """
    sel = np.isin(pred["arrival"].astype(str), FIT_ARRIVALS) if "arrival" in pred else \
        np.ones(len(pred), bool)  # fmt: skip
    p = pred[sel]
    out = {"points": len(p), "no_steady_state": int((~p["steady_state"]).sum())}
    for name in ("ttft", "itl"):
        e = np.abs(p[f"{name}_err"].to_numpy(float))
        e = np.where(np.isfinite(e), e, np.inf)  # no steady state counts as a miss
        e = e[~np.isnan(p[f"{name}_err"].to_numpy(float)) | ~p["steady_state"].to_numpy()]
        if e.size:
            out[f"{name}_median"] = float(np.median(e))
            out[f"{name}_p90"] = float(np.percentile(e, 90)) if np.isfinite(e).all() else \
                float(np.quantile(e, 0.9, method="higher"))  # fmt: skip
            out[f"{name}_max"] = float(e.max())
    return out


def error_table(pred):
    """One row per request shape: points, median/max |error| of TTFT and ITL (in %)."""
    import pandas as pd

    pred = pred[np.isin(pred["arrival"].astype(str), FIT_ARRIVALS)] if "arrival" in pred else pred
    key = pred["source"] if "source" in pred else pred.apply(
        lambda r: shape_label(r["in_tokens"], r["out_tokens"]), axis=1
    )  # fmt: skip
    rows = []
    for k, g in pred.groupby(key, sort=False):
        et = np.abs(g["ttft_err"].to_numpy(float))
        ei = np.abs(g["itl_err"].to_numpy(float))
        rows.append({
            "shape": shape_label(g["in_tokens"].median(), g["out_tokens"].median()),
            "source": Path(str(k)).name,
            "points": len(g),
            "steady": int(g["steady_state"].sum()),
            "ttft_median_pct": 100 * float(np.nanmedian(et)) if np.isfinite(et).any() else np.nan,
            "ttft_max_pct": 100 * float(np.nanmax(et)) if np.isfinite(et).any() else np.nan,
            "itl_median_pct": 100 * float(np.nanmedian(ei)) if np.isfinite(ei).any() else np.nan,
            "itl_max_pct": 100 * float(np.nanmax(ei)) if np.isfinite(ei).any() else np.nan,
        })  # fmt: skip
    return pd.DataFrame(rows)

"""Fitting service-model parameters to benchmark measurements by linear least squares.

DecodeOnly: an iteration with ``b`` requests takes ``alpha + beta*b`` ms, so the measured
iteration time (or per-token latency, the same thing in pure decode) is linear in
``(1, b)``.

PrefillDecode (docs/model.md 2.2): the mean iteration time at batch ``b`` for requests of ``L``
input and ``m`` output tokens, with ``c = c(b)`` prefill chunks, is
``alpha + b*delta(c)`` where ``delta(c)`` is linear in ``beta`` and ``gamma``:

    delta = beta * (L + m)/(c + m) + gamma * ((c+1)/2 * L + m*(L + (m+1)/2)) / (c + m)

so the iteration time is linear in ``(1, x_beta, x_gamma)``. A per-request service time
(``request_ms``) is divided by ``c + m`` iterations first.

Confidence intervals are Student-t intervals from the least-squares covariance. With
``loss="huber"`` (or ``"soft_l1"``, ``"cauchy"``, ``"arctan"``) the fit is robust: SciPy's
``least_squares`` with that loss, so the upper-tail outliers of real engine logs (stalls,
preemptions) pull little; the covariance is then the Gauss-Newton one at the optimum.
Batch sizes may be fractional (a mean concurrency, which is what benchmark tools report).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import _lazy

__all__ = [
    "DECODE_LATENCY_COLUMNS",
    "PREFILL_LATENCY_COLUMNS",
    "FitResult",
    "fit_by_frequency",
    "fit_decode_only",
    "fit_prefill_decode",
    "prefill_decode_design",
]
__dir__ = _lazy.public_dir(__name__)

DECODE_LATENCY_COLUMNS = ("iteration_ms", "itl_ms")
PREFILL_LATENCY_COLUMNS = ("iteration_ms", "request_ms")


@dataclass(frozen=True)
class FitResult:
    """Parameters, their uncertainty and the residuals of one fit."""

    kind: str
    names: tuple[str, ...]
    params: np.ndarray
    stderr: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    confidence: float
    residuals_ms: np.ndarray = field(repr=False)
    fitted_ms: np.ndarray = field(repr=False)
    observed_ms: np.ndarray = field(repr=False)
    batch_size: np.ndarray = field(repr=False)
    r_squared: float = 0.0

    def __getitem__(self, name: str) -> float:
        """Return the fitted value of parameter ``name``."""
        return float(self.params[self.names.index(name)])

    def as_dict(self) -> dict[str, float]:
        """Return the fitted parameters by name."""
        return {n: float(v) for n, v in zip(self.names, self.params, strict=False)}

    def interval(self, name: str) -> tuple[float, float]:
        """Return the confidence interval ``(low, high)`` of parameter ``name``."""
        i = self.names.index(name)
        return float(self.ci_low[i]), float(self.ci_high[i])

    @property
    def rmse_ms(self) -> float:
        """Root mean square of the residuals (ms)."""
        return float(np.sqrt(np.mean(self.residuals_ms**2)))

    def model(self, *, out_tokens, in_tokens=None, max_num_tokens=8192):
        """Return the fitted :class:`inferplan.DecodeOnly` or :class:`inferplan.PrefillDecode`.

        Negative estimates are clipped to 0.
        """
        from ..models import DecodeOnly, PrefillDecode

        p = {n: max(float(v), 0.0) for n, v in zip(self.names, self.params, strict=False)}
        if self.kind == "DecodeOnly":
            return DecodeOnly(p["alpha"], p["beta"], out_tokens)
        return PrefillDecode(
            p["alpha"], p["beta"], p["gamma"], in_tokens, out_tokens, max_num_tokens
        )

    def plot(self, path=None, *, title=None):
        """Plot measured vs fitted latency against batch size, and the residuals.

        With matplotlib (Agg backend). Saves to ``path`` if given; returns the figure.
        """
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        fig, (ax, axr) = plt.subplots(
            2, 1, figsize=(6, 5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
        )
        order = np.argsort(self.batch_size, kind="stable")
        ax.plot(self.batch_size, self.observed_ms, "o", ms=3, label="measured")
        ax.plot(self.batch_size[order], self.fitted_ms[order], "-", label="fit")
        ax.set_ylabel("iteration time (ms)")
        label = ", ".join(
            f"{n}={v:.4g}±{(h - v):.2g}"
            for n, v, h in zip(self.names, self.params, self.ci_high, strict=False)
        )
        ax.set_title(title or f"{self.kind}: {label}", fontsize=9)
        ax.legend()
        axr.axhline(0.0, color="grey", lw=0.8)
        axr.plot(self.batch_size, self.residuals_ms, ".", ms=3)
        axr.set_xlabel("batch size")
        axr.set_ylabel("residual (ms)")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=80)
        return fig


def _columns(data) -> dict[str, np.ndarray]:
    if hasattr(data, "columns"):  # pandas DataFrame: its numeric columns
        out = {}
        for c in data.columns:
            try:
                out[str(c)] = np.asarray(data[c], dtype=float)
            except (TypeError, ValueError):
                continue
        return out
    if isinstance(data, (str, bytes)) or hasattr(data, "__fspath__"):
        import pandas as pd

        return _columns(pd.read_csv(data))
    return {str(k): np.asarray(v, dtype=float).reshape(-1) for k, v in data.items()}


def _column(cols, name, *, positive=False) -> np.ndarray:
    if name not in cols:
        raise ValueError(f"measurements need a column {name!r}; got {sorted(cols)}")
    x = cols[name]
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        raise ValueError(f"column {name!r} has a NaN or infinite value at row {int(bad[0])}")
    bad = np.flatnonzero(x <= 0 if positive else x < 0)
    if bad.size:
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"column {name!r} must be {bound}; row {int(bad[0])} has {x[bad[0]]!r}")
    return x


def _latency(cols, allowed):
    for name in allowed:
        if name in cols:
            return name, _column(cols, name, positive=True)
    raise ValueError(f"measurements need one latency column of {allowed}; got {sorted(cols)}")


_LOSSES = ("linear", "huber", "soft_l1", "cauchy", "arctan")


def _check_loss(loss, f_scale):
    if loss not in _LOSSES:
        raise ValueError(f"loss must be one of {', '.join(_LOSSES)}, got {loss!r}")
    f = float(f_scale) if f_scale is not None else None
    if f is not None and not (f > 0 and np.isfinite(f)):
        raise ValueError(f"f_scale must be > 0, got {f_scale!r}")
    return loss, f


def _solve(kind, names, design, y, batch, confidence, loss="linear", f_scale=None) -> FitResult:
    from scipy import stats

    n, p = design.shape
    if n < p + 1:
        raise ValueError(
            f"{kind} fit needs at least {p + 1} measurements (rows) to estimate {p} parameters "
            f"with an error, got {n}"
        )
    if np.linalg.matrix_rank(design) < p:
        raise ValueError(
            f"{kind}: the measurements cannot separate {', '.join(names)} (columns in_tokens / "
            "out_tokens need at least two distinct request shapes)"
        )
    params, *_ = np.linalg.lstsq(design, y, rcond=None)
    if loss != "linear":
        from scipy.optimize import least_squares

        # the scale of a "typical" residual: the median absolute OLS residual (or given)
        r0 = y - design @ params
        scale = f_scale if f_scale is not None else max(float(np.median(np.abs(r0))), 1e-9)
        params = least_squares(
            lambda p: design @ p - y, params, loss=loss, f_scale=scale, method="trf"
        ).x
    fitted = design @ params
    resid = y - fitted
    dof = n - p
    s2 = float(resid @ resid) / dof
    cov = s2 * np.linalg.inv(design.T @ design)
    stderr = np.sqrt(np.diag(cov))
    t = stats.t.ppf(0.5 + confidence / 2.0, dof)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(resid @ resid) / ss_tot if ss_tot > 0 else 1.0
    return FitResult(
        kind,
        names,
        params,
        stderr,
        params - t * stderr,
        params + t * stderr,
        confidence,
        resid,
        fitted,
        y,
        batch,
        r2,
    )


def _check_confidence(confidence):
    c = float(confidence)
    if not (0.0 < c < 1.0):
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return c


def _batches(cols) -> np.ndarray:
    b = _column(cols, "batch_size", positive=True)
    if np.unique(b).size < 2:
        raise ValueError(
            "column 'batch_size' needs at least two distinct batch sizes to separate "
            f"alpha from beta, got only {np.unique(b).tolist()}"
        )
    return b


def fit_decode_only(
    data, *, confidence: float = 0.95, loss: str = "linear", f_scale: float | None = None
) -> FitResult:
    """Fit ``alpha`` and ``beta`` (ms) of :class:`inferplan.DecodeOnly`.

    ``data``: a DataFrame, a mapping of columns, or a CSV path with ``batch_size`` (may be
    fractional: a mean concurrency) and one of ``iteration_ms`` / ``itl_ms`` (per-token
    latency). ``loss``: "linear" (ordinary least squares) or a robust loss of SciPy's
    ``least_squares`` ("huber", "soft_l1", "cauchy", "arctan") with scale ``f_scale`` ms
    (default: the median absolute residual of the ordinary fit).
    """
    confidence = _check_confidence(confidence)
    loss, f_scale = _check_loss(loss, f_scale)
    cols = _columns(data)
    b = _batches(cols)
    _, y = _latency(cols, DECODE_LATENCY_COLUMNS)
    design = np.column_stack([np.ones_like(b), b])
    return _solve("DecodeOnly", ("alpha", "beta"), design, y, b, confidence, loss, f_scale)


def prefill_decode_design(batch_size, in_tokens, out_tokens, max_num_tokens=8192):
    """Regressors ``(1, x_beta, x_gamma)`` and iterations per request ``c + m`` per row."""
    from .._kernels.reference import chunk_counts

    b = np.asarray(batch_size, dtype=float)
    L = np.broadcast_to(np.asarray(in_tokens, dtype=float), b.shape)
    m = np.broadcast_to(np.asarray(out_tokens, dtype=float), b.shape)
    M = np.broadcast_to(np.asarray(max_num_tokens, dtype=float), b.shape)
    c = np.empty_like(b)
    bi = np.maximum(np.ceil(b - 1e-9), 1).astype(int)  # a fractional batch: the next one up
    for li, mi, Mi in set(zip(L, m, M, strict=False)):
        sel = (li == L) & (m == mi) & (Mi == M)
        counts = chunk_counts(li, mi, Mi, int(bi[sel].max()))
        c[sel] = np.asarray(counts, dtype=float)[bi[sel] - 1]
    iters = c + m
    x_beta = b * (L + m) / iters
    x_gamma = b * ((c + 1.0) / 2.0 * L + m * (L + (m + 1.0) / 2.0)) / iters
    return np.column_stack([np.ones_like(b), x_beta, x_gamma]), iters


def fit_prefill_decode(
    data,
    *,
    max_num_tokens=8192,
    confidence: float = 0.95,
    loss: str = "linear",
    f_scale: float | None = None,
) -> FitResult:
    """Fit ``alpha``, ``beta`` and ``gamma`` (ms) of :class:`inferplan.PrefillDecode`.

    ``data`` needs ``batch_size`` (may be fractional: a mean concurrency; the chunk count
    is that of the next whole batch), ``in_tokens``, ``out_tokens`` and one of
    ``iteration_ms`` (mean iteration time) or ``request_ms`` (time in service of one
    request); at least two distinct request shapes are needed to tell ``beta`` from
    ``gamma``. ``loss``/``f_scale`` as in :func:`fit_decode_only`.
    """
    confidence = _check_confidence(confidence)
    loss, f_scale = _check_loss(loss, f_scale)
    cols = _columns(data)
    b = _batches(cols)
    L = _column(cols, "in_tokens")
    m = _column(cols, "out_tokens", positive=True)
    name, y = _latency(cols, PREFILL_LATENCY_COLUMNS)
    design, iters = prefill_decode_design(b, L, m, max_num_tokens)
    if name == "request_ms":
        y = y / iters
    return _solve(
        "PrefillDecode", ("alpha", "beta", "gamma"), design, y, b, confidence, loss, f_scale
    )


def fit_by_frequency(data, fit=fit_decode_only, **kwargs) -> dict[float, FitResult]:
    """One fit per distinct value of the ``frequency_mhz`` column."""
    cols = _columns(data)
    f = _column(cols, "frequency_mhz", positive=True)
    return {float(v): fit({k: c[f == v] for k, c in cols.items()}, **kwargs) for v in np.unique(f)}

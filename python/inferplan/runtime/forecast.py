"""One-step-ahead forecasts of per-class request rates, window by window.

``holt``: Holt's linear exponential smoothing (level and trend), vectorised over classes,
with fixed smoothing constants. ``statsmodels``: the same recursion, with the constants
re-estimated by maximum likelihood (``statsmodels.tsa.holtwinters.ExponentialSmoothing``)
on the history every ``refit_every`` windows; needs the ``runtime`` extra.
"""

from __future__ import annotations

import numpy as np

from .. import _lazy

__all__ = [
    "holt_forecasts",
]
__dir__ = _lazy.public_dir(__name__)


def holt_forecasts(
    observed: np.ndarray,
    *,
    alpha: float = 0.5,
    beta: float = 0.1,
    method: str = "holt",
    refit_every: int = 12,
    min_fit: int = 12,
) -> tuple[np.ndarray, np.ndarray]:
    """Forecast window ``t`` from windows ``< t`` for every column of ``observed``.

    ``observed`` is windows x classes. Also returns the running RMS of the one-step errors
    seen so far (the spread a proactive policy provisions for). Window 0 is "forecast" as
    its own value: the operator knows the initial load.
    """
    y = np.asarray(observed, dtype=float)
    if y.ndim != 2:
        raise ValueError("observed must be a (windows, classes) array")
    if method not in ("holt", "statsmodels"):
        raise ValueError(f"method must be 'holt' or 'statsmodels', got {method!r}")
    w, c = y.shape
    fc = np.zeros_like(y)
    spread = np.zeros_like(y)
    if w == 0:
        return fc, spread
    a = np.full(c, float(alpha))
    b = np.full(c, float(beta))
    level = y[0].copy()
    trend = np.zeros(c)
    fc[0] = y[0]
    sq = np.zeros(c)
    for t in range(1, w):
        if method == "statsmodels" and t >= min_fit and (t - min_fit) % refit_every == 0:
            a, b = _fit_constants(y[:t], a, b)
        fc[t] = np.maximum(level + trend, 0.0)
        spread[t] = np.sqrt(sq / (t - 1)) if t > 1 else 0.0  # t - 1 errors seen so far
        err = y[t] - fc[t]
        sq += err**2
        new_level = a * y[t] + (1 - a) * (level + trend)
        trend = b * (new_level - level) + (1 - b) * trend
        level = new_level
    return fc, spread


def _fit_constants(history: np.ndarray, a: np.ndarray, b: np.ndarray):
    """Fit smoothing constants per class on ``history``.

    The old ones are kept where a fit fails or the series is flat.
    """
    import warnings

    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    a, b = a.copy(), b.copy()
    for k in range(history.shape[1]):
        series = history[:, k]
        if np.ptp(series) <= 0:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fit = ExponentialSmoothing(
                    series, trend="add", initialization_method="estimated"
                ).fit()
            except (ValueError, np.linalg.LinAlgError):
                continue
        a[k] = float(np.clip(fit.params["smoothing_level"], 0.01, 1.0))
        b[k] = float(np.clip(fit.params["smoothing_trend"], 0.0, 1.0))
    return a, b

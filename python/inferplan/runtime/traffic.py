"""What an adaptive policy learns from the traffic it has already served, window by window.

Everything here reads windows ``< t`` only when window ``t`` is decided (no look-ahead):

- :class:`History`: per class and window, the arrival times and token counts; the running
  token means and length laws of the windows seen so far; the coefficient of variation of
  the gaps between arrivals (``arrival_cv``, as :func:`inferplan.simulate` names it) of the
  class and of each instance's share of it (the replay routes a class round robin).
- :func:`burst_factor`: how much more capacity the class needs than the Poisson,
  mean-length sizing of the fleet optimizer says: the ratio of the rates one instance
  serves within the class's mean targets under Poisson arrivals at mean lengths and under
  the measured arrival CV and length CVs (:func:`inferplan.arrivals.size` with lognormal
  :class:`inferplan.lengths.Lengths` of the measured CVs), at least 1.
- :class:`Safeguard`: a closed loop per class. After each window is replayed, a class whose
  observed latency exceeded its targets (P99 TTFT or ITL above the SLO, or the mean TTFT or
  ITL above the sizing targets) gets its capacity multiplied by the overshoot (at least
  1.25, at most 2 per window, at most ``max_factor`` in all); a class comfortably inside
  (every ratio below ``relax_below``) relaxes by 10% per window towards 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import _lazy, arrivals
from ..lengths import Lengths
from ..models import PrefillDecode
from ..replica import Replica


def _cv(mean: float, mean_sq: float) -> float:
    """Coefficient of variation from the mean and the mean square."""
    return math.sqrt(max(mean_sq - mean * mean, 0.0)) / mean if mean > 0 else 0.0


class History:
    """Per (window, class) request indices of a trace, for policies that learn from it."""

    def __init__(self, trace, class_index, windows: int, classes: int, window_s: float):
        self.trace = trace
        self.windows, self.classes, self.window_s = int(windows), int(classes), float(window_s)
        win = np.minimum((trace.time_s // window_s).astype(np.int64), self.windows - 1)
        key = win * self.classes + np.asarray(class_index, dtype=np.int64)
        self.order = np.argsort(key, kind="stable")
        self.bounds = np.searchsorted(key[self.order], np.arange(self.windows * self.classes + 1))
        self.out_tokens = np.maximum(trace.out_tokens, 1).astype(float)
        self.in_tokens = np.asarray(trace.in_tokens, dtype=float)
        # running sums per class over windows < t (row t): count, sum and sum of squares of
        # prompt and output tokens, so that a window's token statistics cost O(1)
        cells = self.windows * self.classes
        cols = [np.ones_like(self.in_tokens), self.in_tokens, self.in_tokens**2,
                self.out_tokens, self.out_tokens**2]  # fmt: skip
        per = np.stack([np.bincount(key, c, minlength=cells) for c in cols], axis=-1)
        per = per.reshape(self.windows, self.classes, len(cols))
        self.before = np.concatenate([np.zeros((1, *per.shape[1:])), np.cumsum(per, axis=0)])

    def requests(self, w: int, k: int) -> np.ndarray:
        """Return the indices of the requests of class ``k`` in window ``w``."""
        i = w * self.classes + k
        return self.order[self.bounds[i] : self.bounds[i + 1]]

    def tokens_before(self, t: int, prior) -> tuple[np.ndarray, np.ndarray, list]:
        """Return the mean prompt and output tokens per class over windows ``< t``, and their CVs.

        ``prior[k]`` stands in for a class not seen yet; the CVs of the two laws are None
        where not seen.
        """
        c = self.classes
        ins, outs, laws = np.empty(c), np.empty(c), []
        for k in range(c):
            n, s_in, q_in, s_out, q_out = self.before[max(t, 0), k]
            if n == 0:
                ins[k], outs[k] = prior[k]
                laws.append(None)
                continue
            ins[k], outs[k] = s_in / n, s_out / n

            laws.append((_cv(ins[k], q_in / n), _cv(outs[k], q_out / n)))
        return ins, outs, laws

    def arrival_cv(self, w: int, k: int, instances: int = 1) -> float:
        """Return the CV of the gaps of class ``k``'s arrivals in window ``w`` at one instance.

        As one instance of ``instances`` sees them (round robin); NaN with too few requests.
        """
        t = self.trace.time_s[self.requests(w, k)]
        n = max(int(instances), 1)
        if n == 1:
            return arrivals.measure_cv(t)
        cvs = [arrivals.measure_cv(t[j::n]) for j in range(n)]
        cvs = [x for x in cvs if math.isfinite(x)]
        return float(np.mean(cvs)) if cvs else math.nan


def _sig2(x: float) -> float:
    """Return x rounded to two significant digits (the cache grid of :func:`burst_factor`)."""
    if not (math.isfinite(x) and x > 0):
        return 1.0
    e = math.floor(math.log10(x)) - 1
    return round(x / 10.0**e) * 10.0**e


def burst_factor(options, o: int, in_tokens: float, out_tokens: float, cv: float, law,
                 itl_ms: float, ttft_ms: float, admission=None, cache=None) -> float:  # fmt: skip
    """Return how many times more option ``o`` serves with Poisson arrivals and mean lengths.

    The Poisson-and-mean-length capacity of option ``o`` over its capacity under arrival CV
    ``cv`` and the measured length laws ``law`` (the ``(prompt CV, output CV)`` of
    :meth:`History.tokens_before`, or None), both sized for the mean ITL and TTFT targets;
    at least 1, at most 8.

    To keep a day of windows cheap the inputs are put on a grid first (and the result
    cached on it): tokens to two significant digits, the arrival CV and the prompt and
    output CVs to 0.1, the length laws as lognormal laws of those CVs.
    """
    cv = 1.0 if not math.isfinite(cv) else float(np.clip(cv, 0.0, 20.0))
    cv = round(cv, 1)
    L, m = _sig2(max(float(in_tokens), 1.0)), _sig2(max(float(out_tokens), 1.0))
    in_cv = out_cv = None
    if law is not None:
        in_cv, out_cv = round(float(law[0]), 1), round(float(law[1]), 1)
    key = (o, L, m, cv, in_cv, out_cv, itl_ms, ttft_ms, admission)
    if cache is not None and key in cache:
        return cache[key]
    model = PrefillDecode(
        float(options.alpha[o]), float(options.beta[o]), float(options.gamma[o]), L, m,
        float(options.max_num_tokens[o]),
    )  # fmt: skip
    replica = Replica(model, max_batch=int(options.max_batch[o]))
    targets = {"itl_ms": itl_ms or None, "ttft_ms": ttft_ms or None}
    base = replica.size(**targets, admission=admission)
    lengths = None if law is None else Lengths(in_cv=min(in_cv, 20.0), out_cv=min(out_cv, 20.0))
    if not base.feasible:
        factor = 1.0
    elif cv <= 1.0 and lengths is None:
        factor = 1.0  # never below the Poisson sizing
    else:
        got = arrivals.size(replica, arrival_cv=cv, lengths=lengths, admission=admission,
                            **targets)  # fmt: skip
        if not got.feasible or got.rate <= 0:
            factor = 8.0
        else:
            factor = float(np.clip(base.rate / got.rate, 1.0, 8.0))
    if cache is not None:
        cache[key] = factor
    return factor


@dataclass
class Safeguard:
    """The closed loop of one policy: a capacity factor per class (see the module docs)."""

    classes: int
    max_factor: float = 8.0
    relax_below: float = 0.5
    factor: np.ndarray = field(default=None)
    history: list = field(default_factory=list)  # per window: (factor row, ratio row)

    def __post_init__(self):
        """Start every class at a factor of 1 unless factors are given."""
        if self.factor is None:
            self.factor = np.ones(self.classes)

    def update(self, ratios: np.ndarray) -> None:
        """Raise or relax the safety factors from the latency ratios of the window just replayed.

        ``ratios[k]``: the worst observed-to-target latency ratio of class ``k`` in the
        window just replayed (NaN: no request).
        """
        r = np.asarray(ratios, dtype=float)
        up = np.isfinite(r) & (r > 1.0)
        relax = np.isfinite(r) & (r < self.relax_below)
        step = np.clip(np.where(up, r, 1.0), 1.25, 2.0)
        self.factor = np.where(up, np.minimum(self.factor * step, self.max_factor), self.factor)
        self.factor = np.where(relax, np.maximum(self.factor * 0.9, 1.0), self.factor)
        self.history.append((self.factor.copy(), r.copy()))

    def summary(self, names) -> dict:
        """Return per class name: windows over target, max and final factors, worst ratio."""
        f = np.array([h[0] for h in self.history]) if self.history else np.ones((0, self.classes))
        r = np.array([h[1] for h in self.history]) if self.history else np.ones((0, self.classes))
        out = {}
        for k, name in enumerate(names):
            col = f[:, k] if f.size else np.ones(0)
            rk = r[:, k] if r.size else np.ones(0)
            out[name] = {
                "windows_over_target": int(np.sum(np.isfinite(rk) & (rk > 1.0))),
                "max_factor": float(col.max()) if col.size else 1.0,
                "final_factor": float(col[-1]) if col.size else 1.0,
                "worst_ratio": float(np.nanmax(rk)) if np.isfinite(rk).any() else None,
            }
        return out


def latency_ratios(ttft_ms, itl_ms, requests_of, rules) -> np.ndarray:
    """Return the worst observed-to-target ratio per class in one window.

    P99 TTFT and ITL against the SLO, mean TTFT and ITL against the sizing targets
    (``requests_of(k)``: the class's request indices in the window).
    """
    out = np.full(len(rules), np.nan)
    for k, rule in enumerate(rules):
        idx = requests_of(k)
        if idx.size == 0:
            continue
        t = ttft_ms[idx]
        t = t[np.isfinite(t)]
        i = itl_ms[idx]
        i = i[np.isfinite(i)]
        slo = rule.slo
        q = slo.percentile
        r = []
        if t.size:
            r.append(np.percentile(t, q) / slo.ttft_ms)
            if slo.mean_ttft_ms:
                r.append(t.mean() / slo.mean_ttft_ms)
        if i.size:
            r.append(np.percentile(i, q) / slo.itl_ms)
            if slo.mean_itl_ms:
                r.append(i.mean() / slo.mean_itl_ms)
        if r:
            out[k] = float(max(r))
    return out


__all__ = ["History", "Safeguard", "burst_factor", "latency_ratios"]

__dir__ = _lazy.public_dir(__name__)

"""Sizing results and target handling shared by the scalar and batch APIs."""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import _lazy
from ._codes import BINDINGS
from ._status import Status, status_message

__all__ = [
    "BINDING_NAMES",
    "SATURATION_CAP",
    "TARGET_FIELDS",
    "TPS_CAP",
    "ConcurrencyResult",
    "SizeResult",
    "close_bracket",
    "target_tuple",
]
__dir__ = _lazy.public_dir(__name__)

# Order of the target values every kernel takes (mirrors sizing.hpp Targets).
TARGET_FIELDS = (
    "itl_ms",
    "ttft_ms",
    "wait_ms",
    "ttft_pq",
    "ttft_p_ms",
    "wait_pq",
    "wait_p_ms",
    "max_block",
    "tps",
)

BINDING_NAMES = tuple(sorted(BINDINGS, key=BINDINGS.__getitem__))
"""The binding target of each binding code (inferplan._codes.BINDINGS): None where nothing
binds below the saturation cap."""

SATURATION_CAP = 1.0 - 1e-3
TPS_CAP = 0.9


def _positive(name: str, value) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number > 0, got {value!r}") from None
    if not (math.isfinite(x) and x > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return x


def _fraction(name: str, value) -> float:
    x = _positive(name, value)
    if x >= 1:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return x


def _percentile(name: str, value) -> tuple[float, float]:
    try:
        q, ms = value
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a pair (quantile, ms) such as (0.95, 500), got {value!r}"
        ) from None
    return _fraction(f"{name} quantile", q), _positive(f"{name} ms", ms)


def target_tuple(
    *, itl_ms=None, ttft_ms=None, wait_ms=None, ttft_percentile=None, wait_percentile=None,
    max_block=None, tps=None,
) -> tuple[float, ...]:  # fmt: skip
    """Return validated targets in kernel order; None means not set (0 for the kernel)."""
    ttft_pq, ttft_p_ms = (
        (0.0, 0.0) if ttft_percentile is None else _percentile("ttft_percentile", ttft_percentile)
    )
    wait_pq, wait_p_ms = (
        (0.0, 0.0) if wait_percentile is None else _percentile("wait_percentile", wait_percentile)
    )
    return (
        0.0 if itl_ms is None else _positive("itl_ms", itl_ms),
        0.0 if ttft_ms is None else _positive("ttft_ms", ttft_ms),
        0.0 if wait_ms is None else _positive("wait_ms", wait_ms),
        ttft_pq,
        ttft_p_ms,
        wait_pq,
        wait_p_ms,
        0.0 if max_block is None else _fraction("max_block", max_block),
        0.0 if tps is None else _positive("tps", tps),
    )


@dataclass(frozen=True)
class SizeResult:
    """The largest offered rate one replica can take while meeting its SLOs."""

    rate: float
    """Offered rate (req/s) at the answer; 0 when infeasible."""
    status: Status
    """``Status.OK``, or which target is infeasible."""
    binding: str | None
    """The target that limits the rate (``"itl_ms"``, ``"ttft_ms"``, ...), ``"tps"`` when
    the TPS headroom cap binds, or None when only saturation limits it."""
    iterations: int
    """Function evaluations used by the root finder."""
    metrics: object
    """:class:`~inferplan.Metrics` at ``rate`` (None when infeasible)."""

    @property
    def feasible(self) -> bool:
        """Whether the sizing succeeded (status OK)."""
        return self.status == Status.OK

    @property
    def reason(self) -> str:
        """Why the configuration is infeasible ("ok" when feasible)."""
        return status_message(self.status)

    @property
    def throughput(self) -> float:
        """Accepted rate at the answer (req/s): the replica's capacity."""
        return self.metrics.throughput if self.metrics is not None else 0.0


@dataclass(frozen=True)
class ConcurrencyResult:
    """The smallest max batch whose sized throughput is within ``tolerance`` of the best."""

    max_batch: int
    peak_throughput: float
    size: SizeResult


def close_bracket(excess, lo, f_lo, m_lo, hi, f_hi, which_hi, *, rel_tol, max_evaluations,
                  bisect_after=None):  # fmt: skip
    """Close a bracket ``[lo, hi]`` of a sizing root with the Illinois method.

    ``excess(rate)`` returns ``(e, which, metrics)``: the worst target's excess (> 0 fails)
    and which target that is; ``f_lo <= 0 < f_hi``. Steps are false-position steps whose
    stale end is halved (Illinois), bisection where a step leaves the bracket, and only
    bisection after ``bisect_after`` steps (which always closes). Stops when the bracket is
    below ``rel_tol`` of ``hi``, at an exact root, or after ``max_evaluations``.
    Returns ``(lo, m_lo, which_hi, evaluations)``: the last feasible rate and its metrics
    (``m_lo`` as given if ``lo`` never moved) and the target failing at the last
    infeasible rate.
    """
    side = evaluations = 0
    while hi - lo > rel_tol * hi and evaluations < max_evaluations:
        if bisect_after is not None and evaluations >= bisect_after:
            rate = 0.5 * (lo + hi)
        else:
            rate = hi - f_hi * (hi - lo) / (f_hi - f_lo)
            if not lo < rate < hi:
                rate = 0.5 * (lo + hi)
        f, which, m = excess(rate)
        evaluations += 1
        if f > 0.0:
            hi, f_hi, which_hi = rate, f, which
            if side == 1:
                f_lo *= 0.5
            side = 1
        else:
            lo, f_lo, m_lo = rate, f, m
            if f == 0.0:
                break
            if side == -1:
                f_hi *= 0.5
            side = -1
    return lo, m_lo, which_hi, evaluations

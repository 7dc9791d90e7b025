"""Discrete-event simulation of one replica with iteration-level continuous batching.

The simulator checks the analytic chain of :class:`inferplan.Replica` without its
assumptions: deterministic or heavy-tailed request sizes, bursty or traced arrivals, the
discreteness of iterations and the token budget of chunked prefill. The model it
simulates is described in ``docs/accuracy.md``; the C++ kernel is
``cpp/include/inferplan/simulator.hpp``.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from . import _lazy, _validate
from ._codes import SIM_ADMISSIONS
from ._metrics import KIND_DECODE_ONLY
from ._status import status_message
from .models import DecodeOnly, PrefillDecode

__all__ = [
    "ADMISSIONS",
    "MAX_SIMULATED_STEPS",
    "Estimate",
    "Records",
    "SimulationResult",
    "Tokens",
    "check_work",
    "simulate",
    "t_quantile",
]
__dir__ = _lazy.public_dir(__name__)

_TOKEN_KINDS = {
    "constant": 0,
    "exponential": 1,
    "geometric": 2,
    "lognormal": 3,
    "empirical": 4,
    "trace": 5,
}
_ARRIVAL_POISSON, _ARRIVAL_GAMMA, _ARRIVAL_TRACE = 0, 1, 2
#: Admission policies (see :func:`simulate`), as the kernel numbers them.
ADMISSIONS = SIM_ADMISSIONS  # the codes of admission.hpp (inferplan._codes)

# Most request-iterations (requests x (prefill chunks + output tokens)) one call simulates.
MAX_SIMULATED_STEPS = 1e11

_SCALARS = (
    "arrivals",
    "completed",
    "rejected",
    "window_ms",
    "throughput",
    "token_throughput",
    "p_block",
    "in_service",
    "utilization",
    "busy",
    "wait_ms",
    "ttft_ms",
    "itl_ms",
    "response_ms",
    "service_ms",
)


def _number(name: str, value, *, positive: bool = False) -> float:
    return _validate.number(value, name, above=0.0 if positive else None,
                            minimum=None if positive else 0.0)  # fmt: skip


def check_work(model, *, in_mean: float, out_mean: float, num_requests: int, replications: int):
    """Refuse a simulation the simulator cannot finish.

    It steps every iteration, so a prompt of 1e20 tokens (1e16 prefill chunks per request)
    would run for ever. The work is requests x (prefill chunks + output tokens), at most
    :data:`MAX_SIMULATED_STEPS`.
    """
    chunks = 0.0
    if model.kind != KIND_DECODE_ONLY:
        chunks = in_mean / max(math.floor(model.max_num_tokens), 1)
    steps = (chunks + out_mean) * num_requests * replications
    if not steps <= MAX_SIMULATED_STEPS:
        raise ValueError(
            f"this simulation needs about {steps:.3g} request-iterations ({replications} x "
            f"{num_requests} requests of {chunks:.3g} prefill chunks and {out_mean:.3g} "
            f"output tokens on average), more than the limit {MAX_SIMULATED_STEPS:.0e}: lower "
            "in_tokens, out_tokens, num_requests or replications (or raise max_num_tokens)"
        )


@dataclass(frozen=True)
class Tokens:
    """Distribution of a request's token count (prompt or output).

    Build one with a constructor: :meth:`constant`, :meth:`exponential`,
    :meth:`geometric`, :meth:`lognormal`, :meth:`empirical` or :meth:`trace`. Draws are
    integers: continuous laws are rounded to the nearest integer, and every draw is at
    least 1 for outputs and 0 for prompts.
    """

    kind: str
    mean: float = 0.0
    cv: float = 1.0
    values: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def constant(cls, n: float) -> Tokens:
        """Every request has ``n`` tokens (rounded)."""
        return cls("constant", _number("tokens.constant", n))

    @classmethod
    def exponential(cls, mean: float) -> Tokens:
        """Exponential with the given mean, rounded."""
        return cls("exponential", _number("tokens.mean", mean, positive=True))

    @classmethod
    def geometric(cls, mean: float) -> Tokens:
        """Geometric on the integers from the minimum (1 for outputs) with the given mean.

        Each token ends the request with the same probability, so the service time of a
        request is memoryless, which is the analytic model's assumption.
        """
        return cls("geometric", _number("tokens.mean", mean, positive=True))

    @classmethod
    def lognormal(cls, mean: float, cv: float = 1.0) -> Tokens:
        """Lognormal with the given mean and coefficient of variation, rounded."""
        return cls(
            "lognormal",
            _number("tokens.mean", mean, positive=True),
            _number("tokens.cv", cv, positive=True),
        )

    @classmethod
    def empirical(cls, values) -> Tokens:
        """Draws uniformly at random from ``values`` (e.g. lengths measured in a log)."""
        v = cls._values("tokens.values", values)
        return cls("empirical", float(v.mean()), values=v)

    @classmethod
    def trace(cls, values) -> Tokens:
        """Request ``i`` gets ``values[i % len(values)]``: replays a log in order."""
        v = cls._values("tokens.values", values)
        return cls("trace", float(v.mean()), values=v)

    @staticmethod
    def _values(name: str, values) -> np.ndarray:
        try:
            v = np.array(values, dtype=float, copy=True).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a sequence of numbers") from None
        if v.size == 0:
            raise ValueError(f"{name} must hold at least one value")
        if not np.all(np.isfinite(v) & (v >= 0)):
            raise ValueError(f"{name} must be finite and >= 0")
        v.setflags(write=False)
        return v

    def _kernel(self, lo: int) -> tuple:
        return (_TOKEN_KINDS[self.kind], self.mean, self.cv, self.values, lo)


def _tokens(name: str, spec, default_mean: float, *, lo: int) -> Tokens:
    """Return a Tokens from a Tokens, a number (constant) or a name (mean from the model)."""
    if spec is None:
        spec = "constant" if name == "in_tokens" else "geometric"
    if isinstance(spec, Tokens):
        tokens = spec
    elif isinstance(spec, str):
        if spec not in ("constant", "exponential", "geometric", "lognormal"):
            raise ValueError(
                f"{name} must be a Tokens, a number or one of 'constant', 'exponential', "
                f"'geometric', 'lognormal', got {spec!r}"
            )
        if spec == "constant":
            tokens = Tokens("constant", default_mean)
        elif default_mean <= 0:
            raise ValueError(f"{name}: a {spec} distribution needs a mean > 0")
        else:
            tokens = Tokens(spec, default_mean)
    elif isinstance(spec, (int, float, np.integer, np.floating)) and not isinstance(spec, bool):
        tokens = Tokens("constant", _number(name, spec))
    else:
        raise ValueError(f"{name} must be a Tokens, a number or a name, got {spec!r}")
    if tokens.kind not in _TOKEN_KINDS:
        raise ValueError(f"{name}.kind must be one of {sorted(_TOKEN_KINDS)}, got {tokens.kind!r}")
    if lo >= 1 and tokens.kind in ("geometric",) and tokens.mean < lo:
        raise ValueError(f"{name}.mean must be >= {lo} for a geometric law, got {tokens.mean!r}")
    return tokens


class Estimate(NamedTuple):
    """Mean over independent replications with a Student-t confidence interval."""

    mean: float
    low: float
    high: float
    std_err: float

    @property
    def half_width(self) -> float:
        """Half the width of the interval."""
        return self.high - self.mean

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies in the interval."""
        return self.low <= value <= self.high


class Records(NamedTuple):
    """Per-request log: one row per replication, one column per arrival.

    Per-request log, one row per replication and one column per arrival (warm-up included;
    the first ``warmup`` columns are not in the summary). Times in ms from the start of the
    replication; NaN for rejected requests.
    """

    arrival_ms: np.ndarray
    start_ms: np.ndarray
    first_token_ms: np.ndarray
    finish_ms: np.ndarray
    in_tokens: np.ndarray
    out_tokens: np.ndarray
    rejected: np.ndarray


@dataclass(frozen=True)
class SimulationResult:
    """Summary of a simulation: every metric is an :class:`Estimate` over replications.

    Rates in req/s (``token_throughput`` in tokens/s), times in ms. ``itl_ms`` is the mean
    gap between consecutive output tokens, weighted by tokens; ``in_service`` is the
    time-average batch occupancy, ``utilization`` that over ``max_batch``, ``busy`` the
    fraction of time an iteration runs. Percentile dicts map the percentile (e.g. 99.0) to
    its estimate.
    """

    throughput: Estimate
    token_throughput: Estimate
    p_block: Estimate
    in_service: Estimate
    utilization: Estimate
    busy: Estimate
    wait_ms: Estimate
    ttft_ms: Estimate
    itl_ms: Estimate
    response_ms: Estimate
    service_ms: Estimate
    ttft_percentiles: dict[float, Estimate]
    itl_percentiles: dict[float, Estimate]
    wait_percentiles: dict[float, Estimate]
    per_replication: dict[str, np.ndarray] = field(repr=False)
    records: Records | None = field(repr=False)
    confidence: float
    replications: int
    warmup: int
    num_requests: int

    def as_dict(self) -> dict:
        """Plain-Python view (for JSON): estimates as dicts of mean/low/high/std_err."""
        out: dict = {}
        for name in _SCALARS[4:]:
            out[name] = getattr(self, name)._asdict()
        for name in ("ttft_percentiles", "itl_percentiles", "wait_percentiles"):
            out[name] = {str(q): e._asdict() for q, e in getattr(self, name).items()}
        out.update(
            confidence=self.confidence,
            replications=self.replications,
            warmup=self.warmup,
            num_requests=self.num_requests,
        )
        return out


def _t_cdf(t: float, df: int) -> float:
    """CDF of Student's t with integer df.

    The finite trigonometric series (Abramowitz and Stegun 26.7.3-4).
    """
    theta = math.atan(t / math.sqrt(df))
    c2 = math.cos(theta) ** 2
    s = math.sin(theta)
    if df % 2 == 1:
        total, term = 0.0, math.cos(theta)
        if df > 1:
            total = term
            for k in range(3, df, 2):
                term *= c2 * (k - 1) / k
                total += term
        a = 2.0 / math.pi * (theta + s * total)
    else:
        total, term = 1.0, 1.0
        for k in range(2, df, 2):
            term *= c2 * (k - 1) / k
            total += term
        a = s * total
    return 0.5 + 0.5 * a


def t_quantile(p: float, df: int) -> float:
    """Quantile of Student's t distribution (p in (0.5, 1)), by bisection of the CDF."""
    lo, hi = 0.0, 1.0
    while _t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return 0.5 * (lo + hi)


def _estimate(x: np.ndarray, tq: float) -> Estimate:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if x.size < 2:
        return Estimate(mean, math.nan, math.nan, math.nan)
    se = float(x.std(ddof=1) / math.sqrt(x.size))
    return Estimate(mean, mean - tq * se, mean + tq * se, se)


def _seed(seed) -> int:
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63))
    try:
        s = operator.index(seed)
    except TypeError:
        raise ValueError(
            f"seed must be an integer in [0, 2**64) or a Generator, got {seed!r}"
        ) from None
    if not 0 <= s < 2**64:
        raise ValueError(f"seed must be an integer in [0, 2**64), got {seed!r}")
    return s


def simulate(
    model: DecodeOnly | PrefillDecode,
    *,
    max_batch: int,
    max_queue=None,
    rate: float | None = None,
    arrival_cv: float = 1.0,
    arrival_times_ms=None,
    in_tokens=None,
    out_tokens=None,
    num_requests: int = 100_000,
    warmup: int | None = None,
    replications: int = 10,
    seed=0,
    percentiles=(50.0, 90.0, 99.0),
    confidence: float = 0.95,
    records: bool = False,
    threads: int | None = None,
    admission: str = "iteration",
) -> SimulationResult:
    """Simulate one replica under continuous batching.

    Simulate one replica serving ``max_batch`` requests at once with ``max_queue`` more
    waiting (``None``: unbounded), under continuous batching.

    Arrivals: Poisson at ``rate`` req/s (``arrival_cv`` 1), a Gamma renewal process with
    the given coefficient of variation of the gaps (``arrival_cv`` > 1: burstier), or the
    timestamps ``arrival_times_ms`` (a trace; ``rate`` must then be None).

    Request sizes: ``out_tokens`` and ``in_tokens`` are :class:`Tokens`, a number
    (constant) or a name (``"geometric"``, ``"exponential"``, ``"lognormal"``,
    ``"constant"``) whose mean is the model's. Defaults: geometric outputs (the analytic
    model's memoryless service) and constant prompts of the model's ``in_tokens``.

    Each of ``replications`` independent runs simulates ``num_requests`` arrivals; the first
    ``warmup`` (default a tenth) are left out of the statistics. Runs are seeded from
    ``seed`` and the replication index only, so results are identical bit for bit whatever
    ``threads`` is. ``records=True`` keeps the per-request log.

    Admission: ``"iteration"`` (default) is what a continuous-batching server does: a
    request joins the batch only at the next iteration boundary, so one that finds a free
    slot still waits for the iteration in progress. ``"immediate"`` is the analytic
    chain's assumption: a request that finds fewer than ``max_batch`` in service starts at
    once. Each request then runs on its own iteration clock, starting its first iteration
    when it is admitted, and every request in service advances at the speed of the current
    batch (see ``docs/accuracy.md``). Use it to check the chain on its own terms.

    >>> import inferplan
    >>> model = inferplan.DecodeOnly(alpha=19, beta=1, out_tokens=1024)
    >>> res = inferplan.simulate(model, max_batch=48, max_queue=152, rate=0.5,
    ...                          num_requests=20_000, replications=4, seed=1)
    >>> round(res.itl_ms.mean), round(inferplan.Replica(model, max_batch=48,
    ...                                    max_queue=152).analyze(0.5).itl_ms)
    (41, 41)
    """
    if not isinstance(model, (DecodeOnly, PrefillDecode)):
        raise ValueError(
            f"model must be DecodeOnly or PrefillDecode (an iteration-level model), "
            f"got {type(model).__name__}"
        )
    max_batch = _validate.count(max_batch, "max_batch", minimum=1, maximum=_validate.MAX_BATCH)
    if max_queue is None:
        queue = math.inf
    else:
        try:
            queue = float(max_queue)
        except (TypeError, ValueError):
            raise ValueError(
                f"max_queue must be None or an integer >= 0, got {max_queue!r}"
            ) from None
        if math.isnan(queue) or queue < 0 or (math.isfinite(queue) and not queue.is_integer()):
            raise ValueError(f"max_queue must be None or an integer >= 0, got {max_queue!r}")
    cv = _number("arrival_cv", arrival_cv, positive=True)

    times = None
    if arrival_times_ms is not None:
        if rate is not None:
            raise ValueError("rate must be None when arrival_times_ms (a trace) is given")
        try:
            times = np.array(arrival_times_ms, dtype=float, copy=True).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError("arrival_times_ms must be a sequence of numbers") from None
        if times.size < 2:
            raise ValueError("arrival_times_ms must hold at least 2 timestamps")
        if not np.all(np.isfinite(times) & (times >= 0)):
            raise ValueError("arrival_times_ms must be finite and >= 0")
        if np.any(np.diff(times) < 0):
            raise ValueError("arrival_times_ms must be nondecreasing")
        arrival_kind, rate_value = _ARRIVAL_TRACE, 0.0
        num_requests = times.size
    else:
        if rate is None:
            raise ValueError("rate (req/s) is required unless arrival_times_ms is given")
        rate_value = _number("rate", rate, positive=True)
        arrival_kind = _ARRIVAL_POISSON if cv == 1.0 else _ARRIVAL_GAMMA
        num_requests = _validate.count(num_requests, "num_requests", minimum=2)
    if warmup is None:
        warmup = num_requests // 10
    warmup = _validate.count(warmup, "warmup", minimum=0)
    if warmup > num_requests - 2:
        raise ValueError(
            f"warmup must leave at least 2 measured requests (num_requests {num_requests}), "
            f"got {warmup!r}"
        )
    replications = _validate.count(replications, "replications", minimum=1)
    seed_value = _seed(seed)
    try:
        pct = np.array(percentiles, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"percentiles must be numbers in [0, 100], got {percentiles!r}") from None
    if not np.all((pct >= 0) & (pct <= 100)):
        raise ValueError(f"percentiles must be numbers in [0, 100], got {percentiles!r}")
    confidence = _number("confidence", confidence, positive=True)
    if not confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    n_threads = 0 if threads is None else _validate.count(threads, "threads", minimum=1)
    if not isinstance(admission, str) or admission not in ADMISSIONS:
        raise ValueError(
            f"admission must be one of {', '.join(map(repr, ADMISSIONS))}, got {admission!r}"
        )

    is_decode = model.kind == KIND_DECODE_ONLY
    out_spec = _tokens("out_tokens", out_tokens, model.out_tokens, lo=1)
    in_spec = _tokens("in_tokens", in_tokens, 0.0 if is_decode else model.in_tokens, lo=0)
    kind, alpha, beta, gamma, _, _, max_num_tokens = model.params()
    if not is_decode and math.floor(max_num_tokens) < 1:
        raise ValueError(f"max_num_tokens must be >= 1, got {max_num_tokens!r}")
    check_work(
        model,
        in_mean=in_spec.mean,
        out_mean=out_spec.mean,
        num_requests=num_requests,
        replications=replications,
    )

    try:
        from . import _core
    except ImportError as exc:
        raise ImportError(
            "inferplan.simulate needs the compiled extension inferplan._core: build it with "
            "scripts/dev_build.sh or install the package"
        ) from exc

    status, summaries, recs = _core.simulate(
        kind,
        alpha,
        beta,
        gamma,
        max_num_tokens,
        max_batch,
        queue,
        arrival_kind,
        rate_value,
        cv,
        times,
        in_spec._kernel(0),
        out_spec._kernel(1),
        num_requests,
        warmup,
        seed_value,
        pct,
        replications,
        bool(records),
        n_threads,
        ADMISSIONS[admission],
    )
    if status != 0:
        raise ValueError(status_message(status))

    tq = t_quantile(0.5 + confidence / 2, replications - 1) if replications > 1 else math.nan
    per_rep = {name: summaries[:, i].copy() for i, name in enumerate(_SCALARS)}
    n_scalar, npct = len(_SCALARS), pct.size
    blocks = {}
    for b, name in enumerate(("ttft_percentiles", "itl_percentiles", "wait_percentiles")):
        start = n_scalar + b * npct
        blocks[name] = {float(q): _estimate(summaries[:, start + k], tq) for k, q in enumerate(pct)}
    return SimulationResult(
        **{name: _estimate(per_rep[name], tq) for name in _SCALARS[4:]},
        **blocks,
        per_replication=per_rep,
        records=Records(*recs) if recs is not None else None,
        confidence=confidence,
        replications=replications,
        warmup=warmup,
        num_requests=num_requests,
    )

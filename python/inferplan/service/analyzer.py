"""The reference queue analyzer's REST interface (``POST /solve``, ``/target``, ``/optimize``).

Request body ``ProblemData`` and answers ``AnalysisData`` / ``OptimizeData`` as the public
reference service spells them (tests/data/reference/REST.md), computed by inferplan's kernel
(docs/model.md 2.2 and 3). The numbers agree with the reference to about 1e-4 relative (it
computes in float32); they are printed as doubles.

Errors are answered as the reference answers them -- HTTP 400 with ``{"message": ...}`` -- and
the message (and a ``field`` key) names the field at fault.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .. import _lazy
from ..models import PrefillDecode
from ..replica import Replica
from ._fields import ApiError, lower_keys, number

__all__ = [
    "MAX_BATCH_LIMIT",
    "MAX_IN_TOKENS",
    "MAX_OUT_TOKENS",
    "ONSET_EPSILON",
    "ONSET_MAX_ITERS",
    "ROUTES",
    "TOKEN_BUDGET",
    "Problem",
    "brackets",
    "handle",
    "is_heavy",
    "optimize",
    "parse_problem",
    "solve",
    "target",
]
__dir__ = _lazy.public_dir(__name__)

TOKEN_BUDGET = 8192  # the reference fixes the token budget per iteration
ONSET_EPSILON = 0.02  # /optimize: "near-peak" is within epsilon/2 of the anchor
ONSET_MAX_ITERS = 6


@dataclass(frozen=True)
class Problem:
    """One analyzer request: the replica, its load and the targets."""

    rps: float
    max_batch: int
    in_tokens: float
    out_tokens: float
    alpha: float
    beta: float
    gamma: float
    max_queue: int
    target_ttft: float
    target_itl: float

    def model(self) -> PrefillDecode:
        """Return the request's PrefillDecode model."""
        return PrefillDecode(
            self.alpha, self.beta, self.gamma, self.in_tokens, self.out_tokens, TOKEN_BUDGET
        )

    def replica(self, max_batch: int | None = None) -> Replica:
        """Return the request's replica (``max_batch`` overrides the request's)."""
        return Replica(self.model(), max_batch=max_batch or self.max_batch,
                       max_queue=self.max_queue)  # fmt: skip

    @property
    def cost(self) -> int:
        """A rough size of the work (the chain has max_batch states that matter)."""
        return self.max_batch


MAX_BATCH_LIMIT = 1 << 20
# Request sizes beyond any real model: the chunked-prefill count grows with the prompt, and a
# prompt of 1e30 tokens would keep the kernel counting chunks for ever.
MAX_IN_TOKENS = 1e7
MAX_OUT_TOKENS = 1e9


# lower-cased key -> (Problem field, maximum, integer, must be > 0)
_FIELDS = {
    "rps": ("rps", math.inf, False, False),
    "maxbatchsize": ("max_batch", MAX_BATCH_LIMIT, True, True),
    "avginputtokens": ("in_tokens", MAX_IN_TOKENS, False, False),
    "avgoutputtokens": ("out_tokens", MAX_OUT_TOKENS, False, False),
    "alpha": ("alpha", math.inf, False, False),
    "beta": ("beta", math.inf, False, False),
    "gamma": ("gamma", math.inf, False, False),
    "maxqueuesize": ("max_queue", float(1 << 40), True, False),
    "targetttft": ("target_ttft", math.inf, False, False),
    "targetitl": ("target_itl", math.inf, False, False),
}
_DEFAULTS = {f[0]: 0.0 for f in _FIELDS.values()}


def _parse_fast(doc: Any) -> Problem | None:
    """Parse the common case -- an object of plain, valid numbers -- in one pass.

    None when anything is unusual (the careful parser then says what).
    """
    if type(doc) is not dict:
        return None
    values = dict(_DEFAULTS)
    fields = _FIELDS
    for key, v in doc.items():
        spec = fields.get(key.lower()) if type(key) is str else None
        if spec is None:
            continue
        name, top, integer, positive = spec
        t = type(v)
        if t is int:
            pass
        elif t is float:
            if integer and not v.is_integer():
                return None
        else:
            return None
        if not 0 <= v <= top or (positive and v == 0):  # NaN fails here too
            return None
        values[name] = v
    if values["max_batch"] < 1 or values["out_tokens"] <= 0:
        return None
    if values["alpha"] + values["beta"] + values["gamma"] <= 0:
        return None
    values["max_batch"] = int(values["max_batch"])
    values["max_queue"] = int(values["max_queue"])
    return Problem(**{k: v if k in ("max_batch", "max_queue") else float(v)
                      for k, v in values.items()})  # fmt: skip


def parse_problem(doc: Any) -> Problem:
    """``ProblemData`` -> Problem; a bad field raises ApiError(400) naming it."""
    p = _parse_fast(doc)
    if p is not None:
        return p
    d = lower_keys(doc, "the body")
    p = Problem(
        rps=number(d, "RPS"),
        max_batch=number(d, "maxBatchSize", integer=True, positive=True, maximum=MAX_BATCH_LIMIT),
        in_tokens=number(d, "avgInputTokens", maximum=MAX_IN_TOKENS),
        out_tokens=number(d, "avgOutputTokens", maximum=MAX_OUT_TOKENS),
        alpha=number(d, "alpha"),
        beta=number(d, "beta"),
        gamma=number(d, "gamma"),
        max_queue=number(d, "maxQueueSize", integer=True, maximum=float(1 << 40)),
        target_ttft=number(d, "targetTTFT"),
        target_itl=number(d, "targetITL"),
    )
    if p.out_tokens <= 0:
        raise ApiError(
            400,
            f"data error: field 'avgOutputTokens' must be > 0 (a request emits at least one "
            f"token), got {p.out_tokens!r}",
            field="avgOutputTokens",
        )
    if p.alpha + p.beta + p.gamma <= 0:
        raise ApiError(
            400,
            "data error: fields 'alpha', 'beta' and 'gamma' are all 0: an iteration would take "
            "no time",
            field="alpha",
        )
    return p


def _analysis(m, rps_ttft: float = 0.0, rps_itl: float = 0.0) -> dict[str, Any]:
    return {
        "offeredRPS": m.rate,
        "throughput": m.throughput,
        "avgRespTime": m.response_ms,
        "avgWaitTime": m.wait_ms,
        "avgNumInServ": m.in_service,
        "avgTTFT": m.ttft_ms,
        "avgITL": m.itl_ms,
        "maxRPS": 0.999 * m.max_rate,
        "RPSTargetTTFT": rps_ttft,
        "RPSTargetITL": rps_itl,
    }


def solve(p: Problem) -> dict[str, Any]:
    """``/solve``: the metrics at ``RPS`` (which must be > 0, as in the reference)."""
    if p.rps <= 0:
        raise ApiError(
            400, f"Analyze() failed: field 'RPS' must be > 0, got {p.rps!r}", field="RPS"
        )
    return _analysis(p.replica().analyze(p.rps))


_TARGET_FIELD = {"ttft_ms": "targetTTFT", "itl_ms": "targetITL"}


def _size_one(replica: Replica, **target):
    res = replica.size(**target)
    if not res.feasible:
        (name,) = target
        field = _TARGET_FIELD[name]
        idle = replica.analyze(0.0)
        reached = idle.ttft_ms if name == "ttft_ms" else idle.itl_ms
        raise ApiError(
            400,
            f"Size() failed: field {field!r} ({target[name]!r} ms) is below what a near-idle "
            f"replica achieves ({reached:.6g} ms): the target is below the bounded region",
            field=field,
        )
    return res


def target(p: Problem) -> dict[str, Any]:
    """Answer ``/target``: the largest rate meeting the TTFT and ITL targets.

    The largest rate meeting ``targetTTFT`` and ``targetITL`` (0 = unset), the metrics
    there, and the rate each target alone allows (an unset target allows the reference's
    bound, 0.999 x the saturation throughput).
    """
    replica = p.replica()
    cap = None
    if p.target_ttft > 0:
        by_ttft = _size_one(replica, ttft_ms=p.target_ttft)
    else:
        by_ttft = cap = replica.size()
    if p.target_itl > 0:
        by_itl = _size_one(replica, itl_ms=p.target_itl)
    else:
        by_itl = cap if cap is not None else replica.size()
    # each sizing carries the metrics at its own rate: the smaller rate's are the answer
    m = by_ttft.metrics if by_ttft.rate <= by_itl.rate else by_itl.metrics
    return _analysis(m, by_ttft.rate, by_itl.rate)


def _largest_within(values, limit: float) -> int:
    """Return the largest batch b (1-based) with values[b-1] <= limit.

    1 if none (as the reference's closed-form bracket).
    """
    best = 1
    for b, v in enumerate(values, 1):
        if v <= limit:
            best = b
    return best


def brackets(p: Problem, m_max: int) -> tuple[int, int]:
    """Return (M_ITL, M_TPF), the largest batches within the ITL and prefill targets.

    M_ITL (M_TPF) is the largest batch whose closed-form ITL (prefill time, docs/model.md
    2.2's read-off at an integer batch) stays within the target; 1 when none does (an unset
    target, 0, gives 1, as in the reference).
    """
    import numpy as np

    from .._kernels.reference import chunk_counts, prefill_decode_parts

    L, m = p.in_tokens, p.out_tokens
    c = chunk_counts(L, m, TOKEN_BUDGET, m_max)
    w_pre, delta = prefill_decode_parts(p.alpha, p.beta, p.gamma, L, m, TOKEN_BUDGET)
    b = np.arange(1, m_max + 1, dtype=float)
    base = np.maximum(0.0, p.alpha + (b - 1) * delta(c))
    itl = base + p.beta + p.gamma * (L + (m + 1) / 2)
    prefill = c * base + w_pre(c)
    return _largest_within(itl, p.target_itl), _largest_within(prefill, p.target_ttft)


def optimize(p: Problem) -> dict[str, Any]:
    """Answer ``/optimize``: the smallest max batch at near-peak throughput.

    The smallest max batch in 1..maxBatchSize whose sized throughput is within 1%
    (epsilon/2) of the throughput at maxBatchSize, by the reference's onset search (anchor
    at the top, bisection between the closed-form brackets, at most 6 probes, then a
    confirmatory probe); ``oracleCalls`` counts the feasible probes.
    """
    m_max = p.max_batch
    targets = {}
    if p.target_ttft > 0:
        targets["ttft_ms"] = p.target_ttft
    if p.target_itl > 0:
        targets["itl_ms"] = p.target_itl
    model = p.model()
    sized: dict[int, Any] = {}
    calls = 0

    def size_at(n: int):
        if n not in sized:
            sized[n] = Replica(model, max_batch=n, max_queue=p.max_queue).size(**targets)
        return sized[n]

    def probe(n: int) -> float:
        nonlocal calls
        res = size_at(n)
        thr = res.throughput if res.feasible else 0.0
        if thr > 0:
            calls += 1
        return thr

    m_itl, m_tpf = brackets(p, m_max)
    out: dict[str, Any] = {
        "concurrency": 1, "throughput": 0.0, "avgRespTime": 0.0, "avgWaitTime": 0.0,
        "avgNumInServ": 0.0, "avgTTFT": 0.0, "avgITL": 0.0, "maxRPS": 0.0,
        "M_ITL": m_itl, "M_TPF": m_tpf, "oracleCalls": 0, "feasible": False,
    }  # fmt: skip
    anchor = probe(m_max)
    if anchor <= 0:
        out["oracleCalls"] = calls
        return out
    threshold = (1 - ONSET_EPSILON / 2) * anchor
    lo = max(1, min(m_itl, m_tpf))
    upper = max(m_itl, m_tpf)
    hi = max(lo, min(m_max, max(3 * upper, lo + 1)))
    iters = 0
    while lo < hi and iters < ONSET_MAX_ITERS:
        mid = (lo + hi) // 2
        if probe(mid) >= threshold:
            hi = mid
        else:
            lo = mid + 1
        iters += 1
    best = max(1, min(m_max, hi))
    thr = probe(best)
    out.update(concurrency=best, throughput=thr, oracleCalls=calls, feasible=thr > 0)
    if thr > 0:
        m = size_at(best).metrics
        out.update(
            avgRespTime=m.response_ms, avgWaitTime=m.wait_ms, avgNumInServ=m.in_service,
            avgTTFT=m.ttft_ms, avgITL=m.itl_ms, maxRPS=0.999 * m.max_rate,
        )  # fmt: skip
    return out


ROUTES = {"solve": solve, "target": target, "optimize": optimize}


def handle(route: str, doc: Any) -> dict[str, Any]:
    """Parse, compute and answer one request of the queue-analysis interface."""
    p = parse_problem(doc)
    try:
        return ROUTES[route](p)
    except ValueError as err:  # a model the kernel refuses: say why, as a 400
        raise ApiError(400, f"NewLLMQueueAnalyzer() failed: {err}") from None


def is_heavy(doc: Any) -> bool:
    """Whether a request is worth a worker thread (a large batch).

    Small ones take microseconds and are answered on the event loop, and so are malformed
    ones (refused).
    """
    if type(doc) is not dict:
        return False
    n = doc.get("maxBatchSize")
    if n is None:
        n = next((v for k, v in doc.items() if str(k).lower() == "maxbatchsize"), 0)
    return type(n) in (int, float) and n > 2048

"""Query classes: named rules on input and output token counts, each with its SLOs.

OASIS (Mittal et al., "OASIS: Optimal Allocation Strategy for Inference Services in Cloud
Environments") splits queries at a threshold of 500 tokens into four classes: SISO, SILO,
LISO and LILO (Small/Large Input, Small/Large Output; "small" means ``<= threshold``). Any
other partition is a list of :class:`ClassRule`: a request belongs to the first rule whose
bounds contain it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import _lazy

__all__ = [
    "ClassRule",
    "ClassSLO",
    "classify",
    "oasis_classes",
]
__dir__ = _lazy.public_dir(__name__)


@dataclass(frozen=True)
class ClassSLO:
    """What users of a class are promised.

    The ``percentile``-th TTFT and per-request ITL (ms) must stay within ``ttft_ms`` and
    ``itl_ms``.

    The provisioning policy sizes instances with the analytic model, which gives MEAN
    latencies, so it aims at ``mean_ttft_ms`` and ``mean_itl_ms`` (tighter than the tail
    bounds: the rest of the budget is for bursts and the tail that the replay measures).
    """

    ttft_ms: float = 20_000.0
    itl_ms: float = 200.0
    percentile: float = 99.0
    mean_ttft_ms: float = 2_000.0
    mean_itl_ms: float = 50.0

    def __post_init__(self) -> None:
        """Check the targets (finite, > 0, means within the tail bounds) and the percentile."""
        for name in ("ttft_ms", "itl_ms", "mean_ttft_ms", "mean_itl_ms"):
            v = float(getattr(self, name))
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"ClassSLO.{name} must be finite and > 0, got {v!r}")
        if not 0 < float(self.percentile) < 100:
            raise ValueError(f"ClassSLO.percentile must be in (0, 100), got {self.percentile!r}")
        if self.mean_ttft_ms > self.ttft_ms or self.mean_itl_ms > self.itl_ms:
            raise ValueError("ClassSLO: the mean targets must not exceed the tail bounds")


@dataclass(frozen=True)
class ClassRule:
    """Requests with ``in_min < in_tokens <= in_max`` and ``out_min < out_tokens <= out_max``.

    Lower bounds are exclusive and upper bounds inclusive, so adjacent rules sharing a
    threshold never overlap (``in_min = -1`` admits empty prompts).
    """

    name: str
    in_min: float = -1
    in_max: float = math.inf
    out_min: float = -1
    out_max: float = math.inf
    slo: ClassSLO = ClassSLO()

    def __post_init__(self) -> None:
        """Check that the rule has a name and non-empty token ranges."""
        if not self.name:
            raise ValueError("ClassRule.name must be a non-empty string")
        if not (self.in_min < self.in_max and self.out_min < self.out_max):
            raise ValueError(f"ClassRule {self.name!r}: empty token ranges")

    def matches(self, in_tokens, out_tokens) -> np.ndarray:
        """Return whether each request's prompt and output tokens fall in the rule's ranges."""
        i = np.asarray(in_tokens)
        o = np.asarray(out_tokens)
        return (i > self.in_min) & (i <= self.in_max) & (o > self.out_min) & (o <= self.out_max)


def oasis_classes(threshold: float = 500, slos: dict[str, ClassSLO] | None = None):
    """Return OASIS's SISO, SILO, LISO and LILO classes at ``threshold`` tokens.

    Each class gets its SLO from ``slos`` (name -> :class:`ClassSLO`; missing names get the
    default SLO).
    """
    t = float(threshold)
    if not (math.isfinite(t) and t >= 0):
        raise ValueError(f"threshold must be finite and >= 0, got {threshold!r}")
    slos = dict(slos or {})
    rules = []
    for in_name, (i_lo, i_hi) in (("S", (-1, t)), ("L", (t, math.inf))):
        for out_name, (o_lo, o_hi) in (("S", (-1, t)), ("L", (t, math.inf))):
            name = f"{in_name}I{out_name}O"
            rules.append(ClassRule(name, i_lo, i_hi, o_lo, o_hi, slos.pop(name, ClassSLO())))
    if slos:
        raise ValueError(f"slos names unknown classes {sorted(slos)}; use SISO/SILO/LISO/LILO")
    return rules


def classify(rules, in_tokens, out_tokens) -> np.ndarray:
    """Index into ``rules`` of each request's class (vectorised), or -1 where none matches."""
    rules = list(rules)
    if not rules:
        raise ValueError("classify needs at least one ClassRule")
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise ValueError(f"class names must be unique, got {names}")
    i = np.asarray(in_tokens)
    o = np.asarray(out_tokens)
    out = np.full(np.broadcast_shapes(i.shape, o.shape), -1, dtype=np.int8)
    for k in range(len(rules) - 1, -1, -1):  # reversed: the first matching rule wins
        out[rules[k].matches(i, o)] = k
    return out

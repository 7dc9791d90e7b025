"""Service models: how long one request is in service when the batch holds b requests.

All times are in milliseconds. See docs/background.md (docs/model.md section 2) for the
derivations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Union

import numpy as np

from . import _lazy
from ._metrics import KIND_DECODE_ONLY, KIND_PREFILL_DECODE, KIND_VECTOR

__all__ = [
    "DecodeOnly",
    "PrefillDecode",
    "ServiceModel",
    "ServiceTimes",
    "from_params",
]
__dir__ = _lazy.public_dir(__name__)


def _check(owner: str, name: str, value, *, positive: bool = False) -> float:
    """Return value as float or raise ValueError naming owner.name and the value."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}.{name} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{owner}.{name} must be finite, got {value!r}")
    if positive and x <= 0:
        raise ValueError(f"{owner}.{name} must be > 0, got {value!r}")
    if x < 0:
        raise ValueError(f"{owner}.{name} must be >= 0, got {value!r}")
    return x


@dataclass(frozen=True)
class DecodeOnly:
    """Decode-only service: each iteration takes ``alpha + beta*b`` ms.

    Each iteration with ``b`` requests takes ``alpha + beta*b`` ms and emits one token per
    request; a request needs ``out_tokens`` tokens: ``tau(b) = out_tokens * (alpha +
    beta*b)``.

    ITL is ``service_ms / out_tokens`` and TTFT is ``wait_ms + ITL``.
    """

    alpha: float
    beta: float
    out_tokens: float

    def __post_init__(self) -> None:
        """Check the parameters, naming the one at fault."""
        for name in ("alpha", "beta"):
            object.__setattr__(self, name, _check("DecodeOnly", name, getattr(self, name)))
        object.__setattr__(
            self, "out_tokens", _check("DecodeOnly", "out_tokens", self.out_tokens, positive=True)
        )
        if self.alpha + self.beta <= 0:
            raise ValueError("DecodeOnly: alpha + beta must be > 0 (a zero iteration time)")

    kind = KIND_DECODE_ONLY

    def params(self) -> tuple[int, float, float, float, float, float, float]:
        """(kind, alpha, beta, gamma, in_tokens, out_tokens, max_num_tokens) for the kernels."""
        return (KIND_DECODE_ONLY, self.alpha, self.beta, 0.0, 0.0, self.out_tokens, 8192.0)

    def service_times(self, max_batch: int) -> np.ndarray:
        """tau(1..max_batch) in ms."""
        b = np.arange(1, int(max_batch) + 1, dtype=float)
        return self.out_tokens * (self.alpha + self.beta * b)


@dataclass(frozen=True)
class PrefillDecode:
    """Chunked prefill plus decode (docs/model.md 2.2).

    ``alpha`` ms per iteration, ``beta`` ms per computed token, ``gamma`` ms per token of KV
    cache read; requests of ``in_tokens`` prompt and ``out_tokens`` output tokens; at most
    ``max_num_tokens`` tokens per iteration, so long prompts are split into chunks.
    """

    alpha: float
    beta: float
    gamma: float
    in_tokens: float
    out_tokens: float
    max_num_tokens: float = 8192

    def __post_init__(self) -> None:
        """Check the parameters, naming the one at fault."""
        for name in ("alpha", "beta", "gamma", "in_tokens"):
            object.__setattr__(self, name, _check("PrefillDecode", name, getattr(self, name)))
        for name in ("out_tokens", "max_num_tokens"):
            object.__setattr__(
                self, name, _check("PrefillDecode", name, getattr(self, name), positive=True)
            )
        if self.alpha + self.beta + self.gamma <= 0:
            raise ValueError("PrefillDecode: alpha + beta + gamma must be > 0")

    kind = KIND_PREFILL_DECODE

    def params(self) -> tuple[int, float, float, float, float, float, float]:
        """Return the kernel parameter row ``(kind, alpha, beta, gamma, in, out, budget)``."""
        return (
            KIND_PREFILL_DECODE,
            self.alpha,
            self.beta,
            self.gamma,
            self.in_tokens,
            self.out_tokens,
            self.max_num_tokens,
        )

    def service_times(self, max_batch: int) -> np.ndarray:
        """Return tau(1..max_batch), ms."""
        from ._kernels.reference import service_times

        return service_times(*self.params(), int(max_batch))[0]


@dataclass(frozen=True)
class ServiceTimes:
    """A measured service-time vector.

    ``tau_ms[b-1]`` is the time one request spends in service at batch ``b``. The replica's
    max batch is ``len(tau_ms)``. ITL is ``service_ms / out_tokens``.
    """

    tau_ms: np.ndarray = field(repr=False)
    out_tokens: float = 1.0

    def __post_init__(self) -> None:
        """Check the service times and store them as a read-only array."""
        tau = np.array(self.tau_ms, dtype=float, copy=True).reshape(-1)
        if tau.size == 0:
            raise ValueError("ServiceTimes.tau_ms must hold at least one value")
        bad = np.flatnonzero(~(np.isfinite(tau) & (tau > 0)))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"ServiceTimes.tau_ms[{i}] (batch {i + 1}) must be finite and > 0, got {tau[i]!r}"
            )
        tau.setflags(write=False)
        object.__setattr__(self, "tau_ms", tau)
        object.__setattr__(
            self, "out_tokens", _check("ServiceTimes", "out_tokens", self.out_tokens, positive=True)
        )

    kind = KIND_VECTOR

    @classmethod
    def from_rates(cls, mu_per_s, out_tokens: float = 1.0) -> ServiceTimes:
        """From total completion rates mu(1..N) in req/s: tau(b) = 1000 * b / mu(b)."""
        mu = np.asarray(mu_per_s, dtype=float).reshape(-1)
        if mu.size and not np.all(np.isfinite(mu) & (mu > 0)):
            raise ValueError("ServiceTimes.from_rates: every rate must be finite and > 0")
        return cls(1000.0 * np.arange(1, mu.size + 1) / mu, out_tokens)

    def params(self) -> tuple[int, float, float, float, float, float, float]:
        """Return the kernel parameter row (the times themselves are passed apart)."""
        return (KIND_VECTOR, 0.0, 0.0, 0.0, 0.0, self.out_tokens, 8192.0)

    def service_times(self, max_batch: int | None = None) -> np.ndarray:
        """Return tau(1..N), ms (``max_batch`` is ignored)."""
        return self.tau_ms


def from_params(kind, alpha, beta, gamma, in_tokens, out_tokens, max_num_tokens=8192.0):
    """Return the DecodeOnly (kind 0) or PrefillDecode (kind 1) model of a kernel parameter row.

    The inverse of ``model.params()``. Bad values raise ValueError naming the field.
    """
    if int(kind) == KIND_DECODE_ONLY:
        return DecodeOnly(alpha, beta, out_tokens)
    if int(kind) == KIND_PREFILL_DECODE:
        return PrefillDecode(alpha, beta, gamma, in_tokens, out_tokens, max_num_tokens)
    raise ValueError(f"kind must be 0 (DecodeOnly) or 1 (PrefillDecode), got {kind!r}")


ServiceModel = Union[DecodeOnly, PrefillDecode, ServiceTimes]  # noqa: UP007 (a runtime alias)
"""Any of the service models accepted by :class:`inferplan.Replica`."""

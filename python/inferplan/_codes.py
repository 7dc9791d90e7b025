"""The one source of every code table the kernels share with Python.

Each backend, the C ABI and the compiled module speak in small integers: model kinds,
status codes, the order of the metrics in every flat output, sizing's binding codes and the
admission rules. Their names and values are declared here once (the statuses as the enum
:class:`Status`, ``inferplan.Status``); ``_status.py``,
``_metrics.py``, ``admission.py`` and the Numba kernel import them, and
tests/test_codes.py checks that every copy the compiler needs (cpp/include/inferplan/*.hpp,
cpp/capi/inferplan.h, the tables the compiled module exports) equals them.
"""

from __future__ import annotations

from enum import IntEnum

KINDS: dict[str, int] = {"decode_only": 0, "prefill_decode": 1, "service_times": 2}
"""Service-model kinds (service.hpp ServiceKind; the C ABI's IP_VECTOR is service_times)."""

FIRST_ERROR = 20
"""Status codes from here up are errors in the input."""


class Status(IntEnum):
    """Outcome of one row of a batch call. ``OK`` is 0; errors are 20 and above."""

    OK = 0
    UNSTABLE = 1
    INFEASIBLE_ITL = 2
    INFEASIBLE_TTFT = 3
    INFEASIBLE_TTFT_PERCENTILE = 4
    INFEASIBLE_WAIT_PERCENTILE = 5
    INFEASIBLE_BLOCK = 6
    INFEASIBLE_TPS = 7
    INFEASIBLE_WAIT = 8
    NOT_CERTIFIED = 9
    BAD_KIND = 20
    BAD_ALPHA = 21
    BAD_BETA = 22
    BAD_GAMMA = 23
    BAD_IN_TOKENS = 24
    BAD_OUT_TOKENS = 25
    BAD_MAX_NUM_TOKENS = 26
    BAD_MAX_BATCH = 27
    BAD_MAX_QUEUE = 28
    BAD_RATE = 29
    BAD_TARGET_ITL = 30
    BAD_TARGET_TTFT = 31
    BAD_TTFT_PERCENTILE = 32
    BAD_WAIT_PERCENTILE = 33
    BAD_MAX_BLOCK = 34
    BAD_TPS = 35
    BAD_SERVICE_TIME = 36
    BAD_QUANTILE = 37
    BAD_TARGET_WAIT = 38
    BAD_ADMISSION = 39
    BAD_ARRIVAL_CV = 40
    BAD_OUT_TOKENS_CV = 41
    BAD_ARRIVAL_FIT = 42
    BAD_ARRIVAL_LEVELS = 43
    BAD_ARRIVAL_COLLISIONS = 44

    @property
    def is_error(self) -> bool:
        return self.value >= FIRST_ERROR


STATUSES: dict[str, int] = {status.name: status.value for status in Status}
"""Per-row outcomes (status.hpp Status): 0 ok, 1-19 outcomes, 20 and above errors."""

METRICS: tuple[str, ...] = (
    "rate",
    "p0",
    "p_block",
    "throughput",
    "in_system",
    "in_service",
    "in_queue",
    "response_ms",
    "service_ms",
    "wait_ms",
    "itl_ms",
    "ttft_ms",
    "prefill_ms",
    "utilization",
    "max_rate",
)
"""The metrics in the order of every flat output (metrics.hpp MetricIndex)."""

BINDINGS: dict[str | None, int] = {
    None: 0,  # nothing binds: the saturation cap
    "itl_ms": 1,
    "ttft_ms": 2,
    "wait_ms": 3,
    "ttft_percentile": 4,
    "wait_percentile": 5,
    "max_block": 6,
    "tps": 7,
}
"""Sizing's binding target (sizing.hpp Binding)."""

ADMISSIONS: dict[str | None, int] = {None: 0, "immediate": 1, "iteration": 2}
"""Admission rules (admission.hpp Admission): None is the chain's read-off
(docs/model.md 2)."""

SIM_ADMISSIONS: dict[str, int] = {"iteration": ADMISSIONS["iteration"],
                                  "immediate": ADMISSIONS["immediate"]}  # fmt: skip
"""The simulator's admission rules, its default first (simulator.hpp uses admission.hpp's
codes)."""

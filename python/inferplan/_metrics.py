"""Names and order of the metrics every kernel returns (mirrors metrics.hpp)."""

from __future__ import annotations

METRIC_NAMES: tuple[str, ...] = (
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
NUM_METRICS = len(METRIC_NAMES)
METRIC_INDEX = {name: i for i, name in enumerate(METRIC_NAMES)}

KIND_DECODE_ONLY = 0
KIND_PREFILL_DECODE = 1
KIND_VECTOR = 2

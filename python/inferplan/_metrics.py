"""Names and order of the metrics every kernel returns, and the model kinds (from _codes)."""

from __future__ import annotations

from ._codes import KINDS, METRICS

METRIC_NAMES: tuple[str, ...] = METRICS
NUM_METRICS = len(METRIC_NAMES)
METRIC_INDEX = {name: i for i, name in enumerate(METRIC_NAMES)}

KIND_DECODE_ONLY = KINDS["decode_only"]
KIND_PREFILL_DECODE = KINDS["prefill_decode"]
KIND_VECTOR = KINDS["service_times"]

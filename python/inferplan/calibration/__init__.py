"""Calibration against real measurements: benchmark readers and the fitted engine model.

``read_benchmarks`` reads GuideLLM, vLLM benchmark_serving and vLLM engine statistics into
one table; ``calibrate`` fits an :class:`EngineModel` to it (docs/calibration.md).
"""

from .calibrate import Calibration, calibrate, error_summary, error_table, load_profile, predict
from .engine import EngineModel, kv_capacity_tokens
from .readers import (
    COLUMNS,
    ENGINE_COLUMNS,
    BenchmarkFormatError,
    BenchmarkWarning,
    detect_format,
    read_benchmarks,
)

__all__ = [
    "COLUMNS",
    "ENGINE_COLUMNS",
    "BenchmarkFormatError",
    "BenchmarkWarning",
    "Calibration",
    "EngineModel",
    "calibrate",
    "detect_format",
    "error_summary",
    "error_table",
    "kv_capacity_tokens",
    "load_profile",
    "predict",
    "read_benchmarks",
]

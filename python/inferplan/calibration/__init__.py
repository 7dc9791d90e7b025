"""Calibration against real measurements: benchmark readers and the fitted engine model.

``read_benchmarks`` reads GuideLLM, vLLM benchmark_serving and vLLM engine statistics into
one table; ``calibrate`` fits an :class:`EngineModel` to it (docs/calibration.md).
"""

from .. import _lazy

# Loaded on first use, so that building the CLI's parser (calibration.cli) imports nothing heavy.
__getattr__, __dir__ = _lazy.attach(
    __name__,
    {
        **dict.fromkeys(
            ("Calibration", "error_summary", "error_table", "load_profile", "predict"),
            ".calibrate",
        ),
        **dict.fromkeys(("EngineModel", "kv_capacity_tokens"), ".engine"),
        **dict.fromkeys(
            (
                "COLUMNS",
                "ENGINE_COLUMNS",
                "BenchmarkFormatError",
                "BenchmarkWarning",
                "detect_format",
                "read_benchmarks",
            ),
            ".readers",
        ),
    },
    # the function, not its module of the same name
    shadowed={"calibrate": ".calibrate"},
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

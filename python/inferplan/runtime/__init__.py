"""OASIS phase 2 at run time.

Classify queries, provision instances window by window (full GPUs or MIG slices, GPU clock),
and replay a trace through the simulator to see what users would get and what the fleet
would draw.

>>> from inferplan import runtime
>>> trace = runtime.synthetic_trace(duration_s=1800, mean_rate=2.0, seed=1)
>>> report = runtime.evaluate(trace, policies=("static", "reactive"))
>>> s = report.results["reactive"].summary
>>> s["mean_power_w"] < report.results["static"].summary["mean_power_w"]
True
"""

from .. import _lazy
from .catalog import Hardware, Options, build_options, campus_hardware
from .classes import ClassRule, ClassSLO, classify, oasis_classes
from .evaluate import PolicyResult, RuntimeReport, evaluate
from .forecast import holt_forecasts
from .policy import METHODS, POLICIES, Plan, PolicyConfig, make_plan
from .provision import decide_window, fleet_catalog, window_system
from .replay import Replay, replay
from .report import plot, print_table, write_report
from .traces import (
    PRESETS,
    LoadReport,
    TokenLaw,
    Trace,
    TraceError,
    load_burstgpt,
    load_table,
    load_trace,
    synthetic_trace,
)

__all__ = [
    "METHODS",
    "POLICIES",
    "PRESETS",
    "ClassRule",
    "ClassSLO",
    "Hardware",
    "LoadReport",
    "Options",
    "Plan",
    "PolicyConfig",
    "PolicyResult",
    "Replay",
    "RuntimeReport",
    "TokenLaw",
    "Trace",
    "TraceError",
    "build_options",
    "campus_hardware",
    "classify",
    "decide_window",
    "evaluate",
    "fleet_catalog",
    "holt_forecasts",
    "load_burstgpt",
    "load_table",
    "load_trace",
    "make_plan",
    "oasis_classes",
    "plot",
    "print_table",
    "replay",
    "synthetic_trace",
    "window_system",
    "write_report",
]

__dir__ = _lazy.public_dir(__name__)

"""The ``runtime`` subcommand: evaluate provisioning policies over a trace."""

from __future__ import annotations

import argparse

from .. import _lazy
from .._cliopts import add_out
from .._validate import option, output_dir
from .policy import METHODS, POLICIES, PolicyConfig
from .provision import OBJECTIVES, SOLVERS

__all__ = [
    "add_runtime_arguments",
    "run_runtime",
]
__dir__ = _lazy.public_dir(__name__)


def add_runtime_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of ``inferplan runtime`` to ``p``."""
    p.add_argument(
        "trace",
        help="a BurstGPT CSV, a CSV/Parquet of timestamp,in_tokens,out_tokens, or "
        "synthetic:NAME[:key=value,...] (NAME: campus, day)",
    )
    p.add_argument("--policy", choices=(*POLICIES, "all"), default="all")
    add_out(p, "report directory", default="runtime-report", metavar="DIR")
    p.add_argument("--window", type=option(above=0), default=300.0, help="decision window (s)")
    p.add_argument(
        "--threshold",
        type=option(above=0),
        default=500.0,
        help="tokens that split small from large prompts and outputs (the four classes)",
    )
    p.add_argument("--ttft-ms", type=option(above=0), default=20_000.0, help="P99 TTFT SLO")
    p.add_argument("--itl-ms", type=option(above=0), default=200.0, help="P99 ITL SLO")
    p.add_argument(
        "--headroom",
        type=option(minimum=0),
        default=PolicyConfig.headroom,
        help="adaptive policies provision for (1 + headroom) x the estimated rate",
    )
    p.add_argument(
        "--z",
        type=option(minimum=0),
        default=PolicyConfig.z,
        help="proactive: forecast + z x the RMS of past forecast errors",
    )
    p.add_argument("--forecaster", choices=("holt", "statsmodels"), default="holt")
    p.add_argument(
        "--method",
        choices=METHODS,
        default=PolicyConfig.method,
        help="optimizer: the fleet allocation optimizer per window; direct: min-power search",
    )
    p.add_argument(
        "--solver",
        choices=SOLVERS,
        default=PolicyConfig.solver,
        help="fleet solver of the optimizer method",
    )
    p.add_argument(
        "--objective",
        choices=OBJECTIVES,
        default=PolicyConfig.objective,
        help="cost+energy carries the transition penalty; power does not",
    )
    p.add_argument(
        "--columns",
        default=None,
        metavar="arrival=COL,in=COL,out=COL",
        help="column names of a CSV/Parquet trace (any subset; default: detected, e.g. "
        "arrived_at,num_prefill_tokens,num_decode_tokens or TIMESTAMP,ContextTokens,"
        "GeneratedTokens)",
    )
    p.add_argument(
        "--admission",
        choices=("iteration", "immediate"),
        default=None,
        help="servers' admission rule, replayed and used in sizing (default: replay "
        "iteration-level admission, size with the chain's read-off)",
    )
    p.add_argument(
        "--no-feedback",
        action="store_true",
        help="adaptive policies: no closed-loop correction from replayed latency",
    )
    p.add_argument(
        "--no-burstiness",
        action="store_true",
        help="adaptive policies: size for Poisson arrivals at mean lengths (no measured "
        "arrival CV, length laws or count noise)",
    )
    p.add_argument(
        "--price-per-kwh", type=option(minimum=0), default=0.12, help="electricity, $/kWh"
    )
    p.add_argument(
        "--grid-kg-per-kwh",
        type=option(minimum=0),
        default=0.391,
        help="carbon intensity of the grid, kg CO2/kWh",
    )
    p.add_argument(
        "--seed",
        type=option(integer=True, minimum=0),
        default=None,
        help="seed of a synthetic trace (default: the preset's)",
    )
    p.add_argument("--lenient", action="store_true", help="skip malformed rows (reported)")
    p.add_argument("--no-plots", action="store_true", help="write the report without plots")


def run_runtime(args: argparse.Namespace) -> int:
    """Run ``inferplan runtime`` with the parsed ``args``; return the exit status."""
    from .catalog import campus_hardware
    from .classes import ClassSLO, oasis_classes
    from .evaluate import evaluate
    from .report import print_table, write_report
    from .traces import TraceError, load_trace

    output_dir(args.out, "--out")  # before the work
    slo = ClassSLO(
        ttft_ms=args.ttft_ms,
        itl_ms=args.itl_ms,
        mean_ttft_ms=min(ClassSLO.mean_ttft_ms, args.ttft_ms),
        mean_itl_ms=min(ClassSLO.mean_itl_ms, args.itl_ms),
    )
    rules = oasis_classes(args.threshold, {n: slo for n in ("SISO", "SILO", "LISO", "LILO")})
    try:
        trace = load_trace(
            args.trace, strict=not args.lenient, seed=args.seed, columns=args.columns
        )
    except TraceError as err:  # name the flag of this interface, not the Python argument
        raise err.with_hint("add --lenient to skip them (they are reported)") from None
    if trace.load_report is not None and trace.load_report.rejected:
        r = trace.load_report
        lines = ", ".join(str(n) for n, _ in r.rejected_lines[:10])
        more = ", ..." if r.rejected > 10 else ""
        print(f"skipped {r.rejected} malformed row(s) (lines {lines}{more})")
    report = evaluate(
        trace,
        policies=args.policy,
        rules=rules,
        hardware=campus_hardware(
            price_per_kwh=args.price_per_kwh, grid_kg_per_kwh=args.grid_kg_per_kwh
        ),
        window_s=args.window,
        config=PolicyConfig(
            headroom=args.headroom,
            z=args.z,
            forecaster=args.forecaster,
            method=args.method,
            solver=args.solver,
            objective=args.objective,
            admission=args.admission,
            feedback=not args.no_feedback,
            burstiness=not args.no_burstiness,
            rate_margin=not args.no_burstiness,
        ),
    )
    print_table(report)
    files = write_report(report, args.out, plots=not args.no_plots)
    print("wrote " + ", ".join(str(p) for p in files.values()))
    return 0

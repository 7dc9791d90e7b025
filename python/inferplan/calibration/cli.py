"""``inferplan calibrate FILES... --out profile.json [--plot fit.png]``."""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings

from .. import _lazy
from .._cliopts import add_format, add_out

__all__ = [
    "add_calibrate_parser",
    "run_calibrate",
]
__dir__ = _lazy.public_dir(__name__)


def add_calibrate_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``calibrate`` command to ``subparsers``."""
    p = subparsers.add_parser(
        "calibrate",
        help="fit one engine profile to benchmark files (GuideLLM, vLLM) and report its error",
        description="Read benchmark reports (GuideLLM JSON or CSV, vLLM benchmark_serving "
        "JSON; format detected), fit one engine profile to every request shape at once, print "
        "predicted vs measured TTFT and ITL per shape, and write the profile (JSON) and a plot.",
    )
    p.add_argument("files", nargs="+", help="benchmark files or directories of them")
    add_out(p, "write the fitted profile (JSON) here", metavar="FILE")
    p.add_argument("--plot", default=None, help="write predicted vs measured per shape (PNG)")
    p.add_argument(
        "--loss",
        default="cauchy",
        choices=("cauchy", "soft_l1", "huber", "arctan", "linear"),
        help="robust loss of the fit (scipy least_squares)",
    )
    p.add_argument("--f-scale", type=float, default=0.03, help="loss scale (relative error)")
    p.add_argument("--ttft", default="mean", choices=("mean", "median"), help="TTFT to fit")
    p.add_argument("--max-num-seqs", type=int, default=1024, help="the engine's batch cap")
    p.add_argument(
        "--kv-capacity-tokens", type=float, default=None, help="KV-cache tokens (default: no cap)"
    )
    p.add_argument("--model", default="model", help="model name written into the profile")
    p.add_argument("--accelerator", default="gpu", help="accelerator name for the profile")
    add_format(p, help="the summary on stdout", flags=("json",))
    p.set_defaults(run=run_calibrate)
    return p


def run_calibrate(args) -> int:
    """Run ``inferplan calibrate``; return the exit status."""
    from .._validate import output_file
    from .calibrate import calibrate
    from .readers import BenchmarkWarning, read_benchmarks
    from .report import format_table

    if args.out:  # before reading and fitting, so that a typo does not waste the fit
        output_file(args.out, "--out")
    if args.plot:
        output_file(args.plot, "--plot")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BenchmarkWarning)
        df = read_benchmarks(args.files)
    for f, r, why in df.attrs["skipped"]:
        print(f"skipped {f} row {r}: {why}", file=sys.stderr)
    kv = math.inf if args.kv_capacity_tokens is None else args.kv_capacity_tokens
    cal = calibrate(
        df, loss=args.loss, f_scale=args.f_scale, ttft=args.ttft,
        max_num_seqs=args.max_num_seqs, kv_capacity_tokens=kv,
    )  # fmt: skip
    for line in cal.skipped:
        print(f"left out of the fit: {line}", file=sys.stderr)
    summary = cal.summary()
    if args.out:
        cal.save(args.out, model=args.model, accelerator=args.accelerator)
    if args.plot:
        cal.plot(args.plot, title=f"{args.model} on {args.accelerator}: model vs measured")
    if args.format == "json":
        print(json.dumps({"summary": summary, "engine": cal.engine.as_dict(),
                          "ci_low": cal.ci_low, "ci_high": cal.ci_high,
                          "seconds": cal.seconds}, indent=2))  # fmt: skip
        return 0
    print(f"fitted {cal.n_points} points of {cal.shapes} request shapes in {cal.seconds:.2f} s "
          f"(loss {cal.loss}, {args.ttft} TTFT)")  # fmt: skip
    print(format_table(cal.table(), summary))
    print()
    print(f"{'parameter':<18}{'value':>12}  {100 * cal.confidence:.0f}% interval")
    for name, value in cal.engine.as_dict().items():
        if name in cal.ci_low:
            lo, hi = cal.ci_low[name], cal.ci_high[name]
            print(f"{name:<18}{value:>12.6g}  [{lo:.4g}, {hi:.4g}]")
    if args.out:
        print(f"profile written to {args.out}")
    if args.plot:
        print(f"plot written to {args.plot}")
    return 0

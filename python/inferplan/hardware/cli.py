r"""``inferplan profile``: rate and energy per token against GPU clock and max batch.

Plot max serviceable rate and energy per token against GPU clock and max batch for one
measured profile (the command is added to the main CLI by :mod:`inferplan.cli`).

Example::

    inferplan profile --alpha 15 --beta 0.6245 --out-tokens 256 --ref-mhz 1320 \
        --compute-fraction 0.148 --static-w 77.1 --idle-w 60 --mid-w 180 --full-w 239.4 \
        --itl-ms 50 --frequencies 855,1005,1155,1320 --batch-sizes 8,16,32,64 -o profile.png
"""

from __future__ import annotations

import argparse

from .. import _lazy
from .._cliopts import add_out
from .._validate import MAX_BATCH, MAX_EXACT, number_list, option

__all__ = [
    "add_profile_parser",
    "main",
    "run_profile",
]
__dir__ = _lazy.public_dir(__name__)


def add_profile_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``profile`` sub-command on an ``argparse`` sub-parsers object."""
    p = subparsers.add_parser(
        "profile",
        help="plot max rate and energy per token against GPU clock and batch size",
        description="Size one profile over a grid of GPU clocks and max batch sizes (one "
        "vectorised call) and write a PNG of max serviceable rate and energy per token.",
    )
    g = p.add_argument_group("service model (ms, at --ref-mhz)")
    g.add_argument("--alpha", type=option(minimum=0), required=True, help="ms per iteration")
    g.add_argument(
        "--beta", type=option(minimum=0), required=True, help="ms per token in the batch"
    )
    g.add_argument(
        "--gamma",
        type=option(minimum=0),
        default=None,
        help="set for PrefillDecode; leave out for DecodeOnly",
    )
    g.add_argument(
        "--in-tokens",
        type=option(minimum=0, maximum=MAX_EXACT),
        default=0.0,
        help="mean prompt tokens",
    )
    g.add_argument(
        "--out-tokens",
        type=option(above=0, maximum=MAX_EXACT),
        required=True,
        help="mean output tokens",
    )
    f = p.add_argument_group("clock and power")
    f.add_argument(
        "--ref-mhz", type=option(above=0), required=True, help="clock of the measured profile"
    )
    f.add_argument(
        "--compute-fraction",
        type=option(minimum=0, maximum=1),
        default=0.5,
        help="share of the times that scales with the clock (docs/energy.md)",
    )
    f.add_argument(
        "--static-w", type=option(minimum=0), default=0.0, help="power that does not scale, W"
    )
    f.add_argument(
        "--exponent", type=option(above=0), default=2.0, help="full power ~ clock^exponent"
    )
    f.add_argument("--idle-w", type=option(minimum=0), required=True, help="power when idle, W")
    f.add_argument("--mid-w", type=option(minimum=0), required=True, help="power at --mid-util, W")
    f.add_argument(
        "--mid-util", type=option(above=0, below=1), default=0.5, help="utilization of --mid-w"
    )
    f.add_argument("--full-w", type=option(above=0), required=True, help="power at full load, W")
    s = p.add_argument_group("SLOs and grid")
    s.add_argument(
        "--itl-ms", type=option(above=0), default=None, help="mean ITL target (default: none)"
    )
    s.add_argument(
        "--ttft-ms", type=option(above=0), default=None, help="mean TTFT target (default: none)"
    )
    s.add_argument(
        "--frequencies", type=number_list(above=0), required=True, help="MHz, comma-separated"
    )
    s.add_argument(
        "--batch-sizes",
        type=number_list(integer=True, minimum=1, maximum=MAX_BATCH),
        required=True,
        help="comma-separated",
    )
    add_out(p, "PNG to write", default="profile.png", metavar="PNG", former="--output")
    p.add_argument("--csv", default=None, help="also write the table as CSV")
    p.set_defaults(func=run_profile)
    return p


def run_profile(args) -> int:
    """Build the table, plot it, write the PNG (and CSV). Returns a process exit code."""
    import sys

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .._validate import output_file
    from .cost_table import Accelerator, Profile, QueryClass, cost_table
    from .frequency import FrequencyModel
    from .power import PowerCurve

    try:
        output_file(args.out, "--out")
        if args.csv:
            output_file(args.csv, "--csv")
        acc = Accelerator(
            "gpu",
            PowerCurve(args.idle_w, args.mid_w, args.mid_util, args.full_w),
            frequency=FrequencyModel(
                ref_mhz=args.ref_mhz,
                compute_fraction=args.compute_fraction,
                static_w=args.static_w,
                exponent=args.exponent,
            ),
        )
        kind = "DecodeOnly" if args.gamma is None else "PrefillDecode"
        prof = Profile("model", "gpu", args.alpha, args.beta, args.gamma or 0.0, kind=kind)
        query = QueryClass("query", args.in_tokens, args.out_tokens, args.itl_ms, args.ttft_ms)
        table = cost_table(
            [prof],
            [acc],
            [query],
            batch_sizes=args.batch_sizes,
            frequencies_mhz=sorted(args.frequencies),
        )
    except ValueError as err:
        print(f"inferplan profile: error: {err}", file=sys.stderr)
        return 2
    if args.csv:
        table.to_csv(args.csv, index=False)
    fig, (ax_rate, ax_energy) = plt.subplots(1, 2, figsize=(9, 3.6))
    for batch, rows in table.groupby("max_batch"):
        rows = rows.sort_values("frequency_mhz")
        ok = rows[rows.feasible]
        ax_rate.plot(ok.frequency_mhz, ok.rate, "o-", ms=3, label=f"batch {batch}")
        ax_energy.plot(ok.frequency_mhz, ok.energy_per_token_mj, "o-", ms=3)
    ax_rate.set(xlabel="GPU clock (MHz)", ylabel="max rate under SLOs (req/s)")
    ax_energy.set(xlabel="GPU clock (MHz)", ylabel="energy per output token (mJ)")
    ax_rate.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=72)
    plt.close(fig)
    feasible = int(table.feasible.sum())
    print(f"wrote {args.out}: {feasible} of {len(table)} configurations meet the SLOs")
    return 0


def main(argv=None) -> int:
    """``python -m inferplan.hardware.cli profile ...``: the same as ``inferplan profile``."""
    import sys

    from ..cli import main as inferplan_main

    return inferplan_main(sys.argv[1:] if argv is None else list(argv))


if __name__ == "__main__":
    raise SystemExit(main())

"""``inferplan optimize``: allocate a fleet from a data directory or a system JSON file.

The lead wires ``add_optimize_parser`` and ``run_optimize`` into ``inferplan.cli``;
``python -m inferplan.fleet.cli optimize ...`` runs the command on its own.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from .. import _lazy
from .._cliopts import add_admission, add_format, add_out
from .._validate import option, output_file

__all__ = [
    "add_optimize_parser",
    "main",
    "run_optimize",
]
__dir__ = _lazy.public_dir(__name__)


def add_optimize_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``optimize`` command and its options to ``subparsers``; return its parser."""
    p = subparsers.add_parser(
        "optimize",
        help="allocate accelerators to model servers",
        description="Size every (server, accelerator) candidate and allocate the fleet.",
    )
    p.add_argument(
        "path",
        metavar="DIR_OR_SYSTEM_JSON",
        help="directory of *-data.json files, or one system-data.json",
    )
    p.add_argument(
        "--solver",
        choices=("greedy", "unlimited", "milp"),
        default=None,
        help="default: from the optimizer settings in the data (greedy otherwise)",
    )
    add_out(p, "also write the JSON result to FILE", metavar="FILE")
    add_format(
        p,
        choices=("json", "table"),
        default=None,
        help="output on stdout (default: table on a terminal, json otherwise)",
    )
    p.add_argument(
        "--saturation-policy",
        default=None,
        choices=("None", "PriorityExhaustive", "RoundRobin", "PriorityRoundRobin"),
        help="greedy: what servers that do not fit get (default: the data's "
        "saturationPolicy, else None; docs/model.md 4)",
    )
    p.add_argument(
        "--delayed-best-effort",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="greedy: best effort once after all priority groups instead of after each "
        "(default: the data's delayedBestEffort)",
    )
    p.add_argument(
        "--heterogeneous",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="milp: allow one server's replicas on several accelerator types (default: the "
        "data's heterogeneous)",
    )
    p.add_argument("--time-limit", type=option(above=0), default=60.0, help="milp time limit (s)")
    p.add_argument(
        "--objective",
        choices=("cost", "power", "cost+energy"),
        default="cost",
        help="what the solvers minimise (default: dollar cost with transition penalty)",
    )
    p.add_argument(
        "--energy-weight",
        type=option(minimum=0),
        default=1.0,
        help="cost+energy: weight of the power term (per W, or per $/h with --price-per-kwh)",
    )
    p.add_argument(
        "--price-per-kwh",
        type=option(minimum=0),
        default=None,
        help="electricity price, $/kWh (default: the power term in W)",
    )
    add_admission(
        p,
        "",
        help="TTFT/wait targets: at the chain's mean batch (default, as the reference), or "
        "as an arriving request sees them when it joins at once or at the next iteration "
        "(see docs/accuracy.md)",
    )
    p.add_argument(
        "--cov",
        choices=("ignore", "use"),
        default="use",
        help="the loads' arrivalCOV and serviceCOV: use = size with them (arrival CV, "
        "output-length CV; absent or 0 = not set; default); ignore = Poisson arrivals and "
        "mean lengths, as the reference sizes (docs/allocation.md)",
    )
    p.add_argument(
        "--rules",
        choices=("g3", "g1"),
        default=None,
        help="sizing rules (default: detected from the data layout)",
    )
    p.set_defaults(func=run_optimize)
    return p


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_clean(v) for v in x]
    return x


def _table(result: dict[str, Any], out) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=out)
    g1 = any("waitAverage" in a for a in result["allocations"].values())
    t = Table(title=f"Allocation ({result['solver']}, {result['status']})")
    for col in (
        "server",
        "accelerator",
        "replicas",
        "batch",
        "cost",
        "ITL ms",
        "wait ms" if g1 else "TTFT ms",
        "req/min",
    ):
        left = col in ("server", "accelerator")
        t.add_column(col, justify="left" if left else "right", no_wrap=left)
    for name, a in result["allocations"].items():
        lat = a.get("waitAverage" if g1 else "ttftAverage")
        t.add_row(
            name,
            (a["accelerator"] or "-") + (" (saturated)" if a.get("saturated") else ""),
            str(a["numReplicas"]),
            str(a["maxBatch"]),
            f"{a['cost']:.2f}",
            "-" if a["itlAverage"] is None else f"{a['itlAverage']:.2f}",
            "-" if lat is None else f"{lat:.2f}",
            f"{a['load']['arrivalRate']:g}",
        )
    console.print(t)
    for name, why in result["unallocated"].items():
        console.print(f"[bold red]unallocated[/] {name}: {why}")
    u = Table(title="Usage per accelerator type")
    for col in ("type", "used", "capacity"):
        u.add_column(col, justify="left" if col == "type" else "right")
    for typ, v in result["usage"].items():
        u.add_row(typ, str(v["used"]), str(v["capacity"]))
    console.print(u)
    console.print(
        f"total cost {result['totalCost']:.2f}   total power "
        f"{result['totalPowerWatts'] / 1000:.2f} kW   changes {len(result['diff'])}"
    )


def run_optimize(args: argparse.Namespace) -> int:
    """Run ``inferplan optimize`` with the parsed ``args``; return the exit status."""
    from .candidates import build_candidates
    from .data import DataError, load_system
    from .report import summary
    from .solvers import solve

    if args.out:
        output_file(args.out)  # before the work: a typo must not cost a long solve
    try:
        system = load_system(args.path, rules=args.rules)
    except DataError as err:
        print(f"inferplan optimize: error: {err}", file=sys.stderr)
        return 2
    solver = args.solver
    if solver is None:
        st = system.settings
        solver = "unlimited" if st.unlimited else "milp" if st.milp else "greedy"
    options: dict[str, Any] = {}
    if solver == "greedy":
        options = {
            "saturation_policy": args.saturation_policy,
            "delayed_best_effort": args.delayed_best_effort,
        }
    elif solver == "milp":
        options = {"heterogeneous": args.heterogeneous, "time_limit": args.time_limit}
    try:
        cands = build_candidates(
            system,
            objective=args.objective,
            energy_weight=args.energy_weight,
            price_per_kwh=args.price_per_kwh,
            admission=None if args.admission == "chain" else args.admission,
            cov=args.cov,
        )
    except ValueError as err:
        print(f"inferplan optimize: error: {err}", file=sys.stderr)
        return 2
    sol = solve(cands, solver, **options)
    result = _clean(summary(sol))
    if args.out:
        try:
            with open(args.out, "w") as f:
                json.dump(result, f, indent=2)
        except OSError as err:
            raise ValueError(f"--out {args.out!r}: cannot write: {err.strerror}") from None
    fmt = args.format or ("table" if sys.stdout.isatty() else "json")
    if fmt == "table":
        _table(result, sys.stdout)
    else:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m inferplan.fleet.cli optimize ...``: the same as ``inferplan optimize``."""
    from ..cli import main as inferplan_main

    return inferplan_main(sys.argv[1:] if argv is None else list(argv))


if __name__ == "__main__":
    sys.exit(main())

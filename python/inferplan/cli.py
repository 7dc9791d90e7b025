"""Command-line interface: ``inferplan <subcommand> ...`` (also ``python -m inferplan``).

Each subcommand is a pair of functions, one adding its arguments to a parser and one
running it, registered in ``SUBCOMMANDS``; a new subcommand adds one entry.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence

from .models import DecodeOnly, PrefillDecode
from .simulate import Tokens, simulate


def _add_simulate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", choices=("decode", "prefill-decode"), default="decode")
    p.add_argument("--alpha", type=float, required=True, help="ms per iteration")
    p.add_argument("--beta", type=float, required=True, help="ms per token in the batch")
    p.add_argument("--gamma", type=float, default=0.0, help="ms per KV token read")
    p.add_argument("--in-tokens", type=float, default=0.0, help="mean prompt tokens")
    p.add_argument("--out-tokens", type=float, required=True, help="mean output tokens")
    p.add_argument("--max-num-tokens", type=float, default=8192, help="token budget")
    p.add_argument("--max-batch", type=int, required=True)
    p.add_argument("--max-queue", type=int, default=None, help="default: unbounded")
    rate = p.add_mutually_exclusive_group(required=True)
    rate.add_argument("--rate", type=float, help="arrival rate, req/s")
    rate.add_argument("--load", type=float, help="arrival rate as a fraction of max_rate")
    p.add_argument("--arrival-cv", type=float, default=1.0, help="1: Poisson; >1: bursty")
    p.add_argument(
        "--out-dist",
        default="geometric",
        choices=("constant", "exponential", "geometric", "lognormal"),
    )
    p.add_argument(
        "--in-dist",
        default="constant",
        choices=("constant", "exponential", "geometric", "lognormal"),
    )
    p.add_argument("--cv", type=float, default=1.0, help="cv of lognormal token counts")
    p.add_argument("--num-requests", type=int, default=100_000, help="per replication")
    p.add_argument("--warmup", type=int, default=None, help="default: a tenth")
    p.add_argument("--replications", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument(
        "--admission",
        default="iteration",
        choices=("iteration", "immediate"),
        help="iteration: join at the next iteration boundary (a real server); "
        "immediate: join at once (the analytic chain's assumption)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--compare",
        action="store_true",
        help="also print the analytic metrics under the same --admission rule "
        "(JSON: 'analytic'; the chain's own read-off as 'analytic_chain')",
    )


def _dist(name: str, mean: float, cv: float) -> Tokens:
    if name == "lognormal":
        return Tokens.lognormal(mean, cv)
    return getattr(Tokens, name)(mean)


def _run_simulate(args: argparse.Namespace) -> int:
    from .replica import Replica

    if args.model == "decode":
        model = DecodeOnly(alpha=args.alpha, beta=args.beta, out_tokens=args.out_tokens)
    else:
        model = PrefillDecode(
            alpha=args.alpha,
            beta=args.beta,
            gamma=args.gamma,
            in_tokens=args.in_tokens,
            out_tokens=args.out_tokens,
            max_num_tokens=args.max_num_tokens,
        )
    replica = Replica(model, max_batch=args.max_batch, max_queue=args.max_queue)
    rate = args.rate if args.rate is not None else args.load * replica.max_rate
    in_tokens = None
    if args.model != "decode" and args.in_tokens > 0:
        in_tokens = _dist(args.in_dist, args.in_tokens, args.cv)
    res = simulate(
        model,
        max_batch=args.max_batch,
        max_queue=args.max_queue,
        rate=rate,
        arrival_cv=args.arrival_cv,
        in_tokens=in_tokens,
        out_tokens=_dist(args.out_dist, args.out_tokens, args.cv),
        num_requests=args.num_requests,
        warmup=args.warmup,
        replications=args.replications,
        seed=args.seed,
        threads=args.threads,
        admission=args.admission,
    )
    analytic = chain = None
    if args.compare:
        try:
            # the same admission rule as the simulation, and the chain's own read-off
            analytic = replica.analyze(rate, admission=args.admission)._asdict()
            chain = replica.analyze(rate)._asdict()
        except ValueError as exc:  # no steady state: say so, keep the simulation
            analytic = {"error": str(exc)}
    if args.json:
        out = {"rate": rate, "simulated": res.as_dict()}
        if analytic is not None:
            out["analytic"] = analytic
        if chain is not None:
            out["analytic_chain"] = chain
        print(json.dumps(out, indent=2))
        return 0
    pct = int(round(res.confidence * 100))
    print(
        f"rate {rate:.6g} req/s, {res.replications} replications of "
        f"{res.num_requests} requests ({res.warmup} warm-up), {pct}% CI"
    )
    names = (
        "throughput",
        "token_throughput",
        "p_block",
        "in_service",
        "utilization",
        "wait_ms",
        "ttft_ms",
        "itl_ms",
        "response_ms",
    )
    header = f"{'metric':18s} {'simulated':>12s} {'+/-':>10s}"
    if analytic is not None and "error" not in analytic:
        header += f" {'analytic':>12s}"
    print(header)
    for name in names:
        e = getattr(res, name)
        line = f"{name:18s} {e.mean:12.6g} {e.half_width:10.3g}"
        if analytic is not None and "error" not in analytic and name in analytic:
            line += f" {analytic[name]:12.6g}"
        print(line)
    for label, block in (("ttft", res.ttft_percentiles), ("itl", res.itl_percentiles)):
        for q, e in block.items():
            print(f"{label + '_p' + format(q, 'g'):18s} {e.mean:12.6g} {e.half_width:10.3g}")
    if analytic is not None and "error" in analytic:
        print(f"analytic: {analytic['error']}")
    return 0


def _add_runtime(p: argparse.ArgumentParser) -> None:
    from .runtime.cli import add_runtime_arguments

    add_runtime_arguments(p)


def _run_runtime(args: argparse.Namespace) -> int:
    from .runtime.cli import run_runtime

    return run_runtime(args)


def _add_sweep(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="sweep spec, YAML or JSON (see docs/sweeps.md)")
    p.add_argument("--out", required=True, help="output directory (Parquet parts + manifest)")
    p.add_argument("--overwrite", action="store_true", help="replace a different sweep in --out")
    p.add_argument("--chunk-rows", type=int, default=None, help="rows per chunk and part file")
    p.add_argument("--threads", type=int, default=None, help="kernel threads per chunk")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address, e.g. tcp://host:8786")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--workers-write",
        dest="workers_write",
        action="store_true",
        default=None,
        help="Dask workers write the parts (--out on a shared filesystem)",
    )
    where.add_argument(
        "--client-writes",
        dest="workers_write",
        action="store_false",
        help="Dask workers send tables back and this process writes them",
    )
    p.add_argument("--compression", default="snappy", help="Parquet codec (default snappy)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")


def _run_sweep(args: argparse.Namespace) -> int:
    from .sweep import sweep

    res = sweep(
        args.spec,
        args.out,
        overwrite=args.overwrite,
        scheduler=args.scheduler,
        threads=args.threads,
        chunk_rows=args.chunk_rows,
        workers_write=args.workers_write,
        compression=args.compression,
        progress=False if args.quiet else None,
    )
    if not args.quiet:
        if res.computed_chunks == 0:
            print(f"{res.out}: all {res.num_chunks} chunks already done ({res.total_rows} rows)")
        else:
            print(
                f"{res.out}: {res.computed_rows} rows in {res.computed_chunks} chunks, "
                f"{res.seconds:.1f} s ({res.rows_per_s:,.0f} rows/s); "
                f"{res.total_rows} rows in all"
            )
    return 0


def _add_sweep_summary(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="a sweep's output directory")
    p.add_argument(
        "--objective",
        default=None,
        help="column to rank by (default: cost_per_million_tokens, else energy_per_token_mj, "
        "else the largest rate/throughput)",
    )
    best = p.add_mutually_exclusive_group()
    best.add_argument("--min", dest="minimize", action="store_true", default=None)
    best.add_argument("--max", dest="minimize", action="store_false")
    p.add_argument("--by", default=None, help="group column (default: model when present)")
    p.add_argument("--top", type=int, default=1, help="rows per group")
    p.add_argument("--columns", default=None, help="comma-separated columns to print")
    p.add_argument("--csv", action="store_true", help="print CSV instead of a table")


def _run_sweep_summary(args: argparse.Namespace) -> int:
    from .sweep import summarize

    table = summarize(
        args.out, objective=args.objective, minimize=args.minimize, by=args.by, top=args.top
    )
    if args.columns:
        table = table[[c.strip() for c in args.columns.split(",") if c.strip()]]
    if args.csv:
        table.to_csv(sys.stdout, index=False)
    else:
        import pandas as pd

        with pd.option_context("display.max_columns", None, "display.width", 200):
            print(table.to_string(index=False))
    return 0


def _add_serve(p: argparse.ArgumentParser) -> None:
    from .service.cli import add_serve_arguments

    add_serve_arguments(p)


def _run_serve(args: argparse.Namespace) -> int:
    from .service.cli import run_serve

    return run_serve(args)


# name -> (help, add arguments, run)
SUBCOMMANDS: dict[
    str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
] = {
    "simulate": (
        "simulate one replica with continuous batching (discrete-event)",
        _add_simulate,
        _run_simulate,
    ),
    "runtime": (
        "evaluate static, reactive and proactive provisioning over a request trace",
        _add_runtime,
        _run_runtime,
    ),
    "sweep": (
        "evaluate a declarative grid into Parquet parts (resumable; Dask with --scheduler)",
        _add_sweep,
        _run_sweep,
    ),
    "serve": (
        "HTTP service: the reference analyzer's and optimizer's REST routes, inferplan's own, "
        "online tuning (docs/service.md)",
        _add_serve,
        _run_serve,
    ),
    "sweep-summary": (
        "best configurations of a finished sweep per model (cost, energy or rate)",
        _add_sweep_summary,
        _run_sweep_summary,
    ),
}


def _package_subcommands():
    """Subcommands that live beside their subpackage: (add_parser(subparsers), run)."""
    from .fleet.cli import add_optimize_parser, run_optimize
    from .hardware.cli import add_profile_parser, run_profile

    return [(add_optimize_parser, run_optimize), (add_profile_parser, run_profile)]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inferplan", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add, run) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add(p)
        p.set_defaults(run=run)
    for add_parser, run in _package_subcommands():
        add_parser(sub).set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ValueError as exc:
        print(f"inferplan {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`inferplan ... | head`): not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())

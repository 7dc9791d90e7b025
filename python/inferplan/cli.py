"""Command-line interface: ``inferplan <subcommand> ...`` (also ``python -m inferplan``).

Each subcommand is a pair of functions, one adding its arguments to a parser and one
running it, registered in ``SUBCOMMANDS``; a new subcommand adds one entry.
"""

from __future__ import annotations

import argparse
import json
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
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--compare", action="store_true", help="also print the analytic metrics")


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
    )
    analytic = None
    if args.compare:
        try:
            analytic = replica.analyze(rate)._asdict()
        except ValueError as exc:  # no steady state: say so, keep the simulation
            analytic = {"error": str(exc)}
    if args.json:
        out = {"rate": rate, "simulated": res.as_dict()}
        if analytic is not None:
            out["analytic"] = analytic
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


if __name__ == "__main__":
    sys.exit(main())

"""Command-line interface: inferplan <command> ... (also python -m inferplan).

Each command is a pair of functions, one adding its arguments to a parser and one running
it, registered in ``SUBCOMMANDS``; a new command adds one entry. Heavy modules are imported
inside the commands, so that ``inferplan --help`` and argument errors stay quick.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from collections.abc import Callable, Sequence

from . import _lazy, _validate
from ._cliopts import ADMISSION_CHOICES, add_admission, add_format, add_out, add_threads
from ._validate import option

__all__ = [
    "ADMISSION_CHOICES",
    "DESCRIPTION",
    "EPILOG",
    "SUBCOMMANDS",
    "add_replica_arguments",
    "build_parser",
    "main",
    "service_model",
    "version",
]
__dir__ = _lazy.public_dir(__name__)

DESCRIPTION = (
    "Capacity planning for LLM inference: analyze and size one replica, simulate it, "
    "allocate a fleet of model servers to accelerators, sweep grids of configurations and "
    "evaluate provisioning policies over request traces. Also runs as: python -m inferplan."
)
EPILOG = "Run 'inferplan COMMAND --help' for the options of a command (docs/reference.md)."

_DISTS = ("constant", "exponential", "geometric", "lognormal")


# ------------------------------------------------------------------ one replica: arguments


def _queue(text: str) -> float | None:
    """--max-queue: an integer >= 0, or inf/none/unbounded."""
    if text.strip().lower() in ("inf", "none", "unbounded"):
        return None
    try:
        return _validate.number(text, "", minimum=0, integer=True)
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"{str(err).strip()} (an integer >= 0, or inf for an unbounded queue)"
        ) from None


_queue.__name__ = "queue"


def add_replica_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of the service model and the replica's limits.

    They are shared by analyze, size and simulate. Every value is checked here
    (docs/model.md 2) before any work starts.
    """
    g = p.add_argument_group("replica (docs/model.md 2)")
    g.add_argument(
        "--model",
        choices=("decode", "prefill-decode"),
        default="decode",
        help="decode: DecodeOnly (alpha, beta, out-tokens); prefill-decode: PrefillDecode "
        "(also gamma, in-tokens, max-num-tokens)",
    )
    g.add_argument("--alpha", type=option(minimum=0), required=True, help="ms per iteration")
    g.add_argument(
        "--beta", type=option(minimum=0), required=True, help="ms per token in the batch"
    )
    g.add_argument(
        "--gamma", type=option(minimum=0), default=0.0, help="prefill-decode: ms per KV token read"
    )
    g.add_argument(
        "--in-tokens",
        type=option(minimum=0, maximum=_validate.MAX_EXACT),
        default=0.0,
        help="prefill-decode: mean prompt tokens",
    )
    g.add_argument(
        "--out-tokens",
        type=option(above=0, maximum=_validate.MAX_EXACT),
        required=True,
        help="mean output tokens",
    )
    g.add_argument(
        "--max-num-tokens",
        type=option(above=0),
        default=8192.0,
        help="prefill-decode: token budget per iteration (chunked prefill)",
    )
    g.add_argument(
        "--max-batch",
        type=option(integer=True, minimum=1, maximum=_validate.MAX_BATCH),
        required=True,
        help=f"requests served at once (1 to {_validate.MAX_BATCH})",
    )
    g.add_argument(
        "--max-queue",
        type=_queue,
        default=None,
        help="requests waiting beyond the batch (an integer, or inf; default: unbounded)",
    )


def service_model(args: argparse.Namespace):
    """Return the DecodeOnly or PrefillDecode the replica arguments describe."""
    from .models import DecodeOnly, PrefillDecode

    if args.model == "decode":
        extra = [
            f"--{n.replace('_', '-')}"
            for n, default in (("gamma", 0.0), ("in_tokens", 0.0), ("max_num_tokens", 8192.0))
            if getattr(args, n) != default
        ]
        if extra:
            raise ValueError(
                f"{', '.join(extra)} only apply to --model prefill-decode (the decode model "
                "has no prefill)"
            )
        return DecodeOnly(alpha=args.alpha, beta=args.beta, out_tokens=args.out_tokens)
    return PrefillDecode(
        alpha=args.alpha,
        beta=args.beta,
        gamma=args.gamma,
        in_tokens=args.in_tokens,
        out_tokens=args.out_tokens,
        max_num_tokens=args.max_num_tokens,
    )


def _replica_json(replica, admission) -> dict:
    q = replica.max_queue
    return {
        "model": type(replica.model).__name__,
        **{k: v for k, v in vars(replica.model).items()},
        "max_batch": replica.max_batch,
        "max_queue": None if math.isinf(q) else int(q),
        "admission": admission or "chain",
        "max_rate": replica.max_rate,
    }


def _admission(args) -> str | None:
    return None if args.admission == "chain" else args.admission


def _replica(args: argparse.Namespace):
    """Return the Replica the replica arguments describe, and the --admission rule (None: chain)."""
    from .replica import Replica

    replica = Replica(service_model(args), max_batch=args.max_batch, max_queue=args.max_queue)
    return replica, _admission(args)


def _add_arrival_cv(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--arrival-cv",
        type=option(minimum=0, maximum=_validate.MAX_CV),
        default=1.0,
        metavar="CV",
        help="coefficient of variation of the gaps between arrivals: 1 Poisson (the "
        "birth-death chain), 0 a constant rate, above 1 bursty (docs/model.md 6) "
        "(default: %(default)s)",
    )


def _fmt(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


_UNITS = {
    "rate": "req/s",
    "p0": "",
    "p_block": "",
    "throughput": "req/s",
    "in_system": "requests",
    "in_service": "requests",
    "in_queue": "requests",
    "response_ms": "ms",
    "service_ms": "ms",
    "wait_ms": "ms",
    "itl_ms": "ms",
    "ttft_ms": "ms",
    "prefill_ms": "ms",
    "utilization": "",
    "max_rate": "req/s",
}


# ----------------------------------------------------------------------------- analyze


def _add_analyze(p: argparse.ArgumentParser) -> None:
    add_replica_arguments(p)
    rate = p.add_mutually_exclusive_group(required=True)
    rate.add_argument(
        "--rate",
        type=_validate.number_list(minimum=0),
        help="offered rate(s) in req/s, comma-separated (e.g. 0.5,1,2)",
    )
    rate.add_argument(
        "--load",
        type=_validate.number_list(minimum=0),
        help="offered rate(s) as fractions of the saturation rate max_rate",
    )
    p.add_argument(
        "--quantile",
        type=option(above=0, below=1),
        action="append",
        metavar="Q",
        help="also the Q-quantiles of the wait and of TTFT (repeatable, e.g. --quantile 0.9)",
    )
    add_admission(p, "TTFT and wait")
    _add_arrival_cv(p)
    add_format(p)


def _run_analyze(args: argparse.Namespace) -> int:
    replica, admission = _replica(args)
    rates = args.rate if args.rate is not None else [x * replica.max_rate for x in args.load]
    quantiles = args.quantile or []
    results, failed = [], 0
    for r in rates:
        try:
            cv = args.arrival_cv
            m = replica.analyze(r, admission=admission, arrival_cv=cv)._asdict()
            for q in quantiles:
                m[f"wait_p{100 * q:g}_ms"] = replica.wait_quantile(
                    r, q, admission=admission, arrival_cv=cv
                )
                m[f"ttft_p{100 * q:g}_ms"] = replica.ttft_quantile(
                    r, q, admission=admission, arrival_cv=cv
                )
            results.append(m)
        except ValueError as err:  # no steady state at this rate: say so, keep the others
            results.append({"rate": r, "error": str(err)})
            failed += 1
    if args.format == "json":
        out = {
            "replica": _replica_json(replica, admission),
            "arrival_cv": args.arrival_cv,
            "results": results,
        }
        print(json.dumps(_finite(out), indent=2, allow_nan=False))
    else:
        print(_describe(replica, admission) + _cv_text(args.arrival_cv))
        names = next((list(x) for x in results if "error" not in x), ["rate"])
        names = [n for n in names if n != "rate"]
        rows = [["metric", "unit", *(f"rate {_fmt(x['rate'])}" for x in results)]]
        for name in names:
            unit = _UNITS.get(name, "ms" if name.endswith("_ms") else "")
            rows.append([name, unit, *(_fmt(x.get(name)) for x in results)])
        _print_rows(rows)
        for x in results:
            if "error" in x:
                print(f"rate {_fmt(x['rate'])}: {x['error']}")
    return 1 if failed else 0


def _finite(x):
    """JSON has no NaN or infinity: null instead (e.g. max_queue unbounded)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


def _describe(replica, admission) -> str:
    q = "unbounded" if math.isinf(replica.max_queue) else int(replica.max_queue)
    return (
        f"{replica.model!r}, max_batch {replica.max_batch}, max_queue {q}, "
        f"admission {admission or 'chain'}; max_rate {replica.max_rate:.6g} req/s"
    )


def _cv_text(cv: float) -> str:
    return "" if cv == 1.0 else f"; arrival_cv {cv:g}"


def _print_rows(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        cells = [
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


# -------------------------------------------------------------------------------- size


def _add_size(p: argparse.ArgumentParser) -> None:
    add_replica_arguments(p)
    t = p.add_argument_group("targets (any combination; none: the saturation cap)")
    t.add_argument("--itl-ms", type=option(above=0), help="mean inter-token latency at most")
    t.add_argument("--ttft-ms", type=option(above=0), help="mean time to first token at most")
    t.add_argument("--wait-ms", type=option(above=0), help="mean wait in the queue at most")
    t.add_argument(
        "--ttft-percentile",
        type=_validate.percentile_option,
        metavar="Q:MS",
        help="the Q-quantile of TTFT at most MS ms (e.g. 0.9:2000)",
    )
    t.add_argument(
        "--wait-percentile",
        type=_validate.percentile_option,
        metavar="Q:MS",
        help="the Q-quantile of the wait at most MS ms (e.g. 0.99:500)",
    )
    t.add_argument(
        "--max-block",
        type=option(above=0, below=1),
        help="blocking probability (bounded queue) at most",
    )
    t.add_argument(
        "--tps",
        type=option(above=0),
        help="tokens/s the fleet must deliver: the replica runs at most at 0.9 of its cap",
    )
    add_admission(p, "TTFT and wait targets")
    _add_arrival_cv(p)
    add_format(p)


def _run_size(args: argparse.Namespace) -> int:
    replica, admission = _replica(args)
    res = replica.size(
        itl_ms=args.itl_ms,
        ttft_ms=args.ttft_ms,
        wait_ms=args.wait_ms,
        ttft_percentile=args.ttft_percentile,
        wait_percentile=args.wait_percentile,
        max_block=args.max_block,
        tps=args.tps,
        admission=admission,
        arrival_cv=args.arrival_cv,
    )
    metrics = res.metrics._asdict() if res.metrics is not None else None
    out = {
        "rate": res.rate,
        "rate_per_min": res.rate * 60.0,
        "status": res.status.name,
        "feasible": res.feasible,
        "binding": res.binding if res.feasible else None,
        "reason": res.reason,
        "iterations": res.iterations,
        "metrics": metrics,
    }
    if args.format == "json":
        out["replica"] = _replica_json(replica, admission)
        out["arrival_cv"] = args.arrival_cv
        print(json.dumps(_finite(out), indent=2, allow_nan=False))
    else:
        print(_describe(replica, admission) + _cv_text(args.arrival_cv))
        rows = [["result", "unit", "value"]]
        rows.append(["status", "", res.status.name])
        if res.feasible:
            rows.append(["rate", "req/s", _fmt(res.rate)])
            rows.append(["rate", "req/min", _fmt(res.rate * 60.0)])
            rows.append(["binding", "", res.binding or "saturation"])
            rows.append(["iterations", "", str(res.iterations)])
            for name, v in metrics.items():
                if name != "rate":
                    rows.append([name, _UNITS.get(name, ""), _fmt(v)])
        _print_rows(rows)
        if not res.feasible:
            print(f"infeasible: {res.reason}")
    return 0 if res.feasible else 1


# ---------------------------------------------------------------------------- simulate


def _add_simulate(p: argparse.ArgumentParser) -> None:
    add_replica_arguments(p)
    rate = p.add_mutually_exclusive_group(required=True)
    rate.add_argument("--rate", type=option(above=0), help="arrival rate, req/s")
    rate.add_argument("--load", type=option(above=0), help="arrival rate as a fraction of max_rate")
    p.add_argument("--arrival-cv", type=option(above=0), default=1.0, help="1: Poisson; >1: bursty")
    p.add_argument("--out-dist", default="geometric", choices=_DISTS)
    p.add_argument("--in-dist", default="constant", choices=_DISTS)
    p.add_argument("--cv", type=option(above=0), default=1.0, help="cv of lognormal token counts")
    p.add_argument(
        "--num-requests",
        type=option(integer=True, minimum=2),
        default=100_000,
        help="per replication",
    )
    p.add_argument(
        "--warmup",
        type=option(integer=True, minimum=0),
        default=None,
        help="requests left out at the start (default: a tenth)",
    )
    p.add_argument("--replications", type=option(integer=True, minimum=1), default=10)
    p.add_argument("--seed", type=option(integer=True, minimum=0, below=2**64), default=0)
    add_threads(p, "simulation threads (one replication each)")
    add_admission(
        p,
        "",
        choices=("iteration", "immediate"),
        default="iteration",
        help="iteration: join at the next iteration boundary (a real server); "
        "immediate: join at once (the analytic chain's assumption)",
    )
    add_format(p, flags=("json",))
    p.add_argument(
        "--compare",
        action="store_true",
        help="also print the analytic metrics under the same --admission rule "
        "(JSON: 'analytic'; the chain's own read-off as 'analytic_chain')",
    )


def _dist(name: str, mean: float, cv: float):
    from .simulate import Tokens

    if name == "lognormal":
        return Tokens.lognormal(mean, cv)
    return getattr(Tokens, name)(mean)


def _run_simulate(args: argparse.Namespace) -> int:
    from .replica import Replica
    from .simulate import check_work, simulate

    model = service_model(args)
    # Refuse work the simulator cannot finish before anything else runs.
    check_work(
        model,
        in_mean=args.in_tokens,
        out_mean=args.out_tokens,
        num_requests=args.num_requests,
        replications=args.replications,
    )
    replica = Replica(model, max_batch=args.max_batch, max_queue=args.max_queue)
    rate = args.rate if args.rate is not None else args.load * replica.max_rate
    if args.max_queue is None and rate >= replica.max_rate:
        print(
            f"inferplan simulate: warning: rate {rate:.6g} req/s is at or above the saturation "
            f"rate {replica.max_rate:.6g} req/s with an unbounded queue: no steady state, the "
            "queue grows through the run and the waits depend on --num-requests (lower the "
            "rate or set --max-queue)",
            file=sys.stderr,
        )
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
    if args.format == "json":
        out = {"rate": rate, "simulated": res.as_dict()}
        if analytic is not None:
            out["analytic"] = analytic
        if chain is not None:
            out["analytic_chain"] = chain
        print(json.dumps(out, indent=2))
        return 0
    pct = round(res.confidence * 100)
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
    from .sweep.run import COMPRESSIONS

    p.add_argument("spec", help="sweep spec, YAML or JSON (see docs/sweeps.md)")
    add_out(p, "output directory (Parquet parts + manifest)", required=True, metavar="DIR")
    p.add_argument("--overwrite", action="store_true", help="replace a different sweep in --out")
    p.add_argument(
        "--chunk-rows",
        type=option(integer=True, minimum=1),
        default=None,
        help="rows per chunk and part file (default: the spec's chunk_rows, else 2000000)",
    )
    add_threads(p, "kernel threads per chunk")
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
    p.add_argument(
        "--compression",
        default="snappy",
        choices=COMPRESSIONS,
        help="Parquet codec",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")


def _run_sweep(args: argparse.Namespace) -> int:
    from .sweep import sweep

    _validate.output_dir(args.out, "--out")  # named as typed here (the API says "out")
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
    best.add_argument(
        "--min",
        dest="minimize",
        action="store_true",
        default=None,
        help="rank by the lowest --objective (default: lowest cost or energy, highest rate)",
    )
    best.add_argument(
        "--max", dest="minimize", action="store_false", help="rank by the highest --objective"
    )
    p.add_argument("--by", default=None, help="group column (default: model when present)")
    p.add_argument("--top", type=option(integer=True, minimum=1), default=1, help="rows per group")
    p.add_argument("--columns", default=None, help="comma-separated columns to print")
    add_format(p, choices=("table", "csv"), flags=("csv",))


def _run_sweep_summary(args: argparse.Namespace) -> int:
    from .sweep import summarize

    table = summarize(
        args.out, objective=args.objective, minimize=args.minimize, by=args.by, top=args.top
    )
    if args.columns:
        table = table[[c.strip() for c in args.columns.split(",") if c.strip()]]
    if args.format == "csv":
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
    "analyze": (
        "steady-state metrics of one replica at given rates (latency, queue, throughput)",
        _add_analyze,
        _run_analyze,
    ),
    "size": (
        "the largest rate one replica carries within latency targets (exit 1: infeasible)",
        _add_size,
        _run_size,
    ),
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
    """Subcommands that live beside their subpackage: (add_parser(subparsers), run).

    Their modules import only what building the parser needs (the subpackages load the
    rest on first use).
    """
    from .calibration.cli import add_calibrate_parser, run_calibrate
    from .fleet.cli import add_optimize_parser, run_optimize
    from .hardware.cli import add_profile_parser, run_profile

    return [
        (add_optimize_parser, run_optimize),
        (add_profile_parser, run_profile),
        (add_calibrate_parser, run_calibrate),
    ]


class _Version(argparse.Action):
    """--version: ``inferplan.__version__``, looked up only when asked."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kw):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"inferplan {version()}")
        parser.exit()


def version() -> str:
    """Return ``inferplan.__version__``.

    That is the installed distribution's version (package metadata), or a source tree's
    pyproject.toml version when run from one.
    """
    from . import __version__

    return __version__


def _show_defaults(parser: argparse.ArgumentParser) -> None:
    """Append "(default: X)" to the help of the options of ``parser`` and its commands.

    Only to options that have a default worth showing (not None, not a flag's False) and
    whose help does not already say it.
    """
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                _show_defaults(sub)
            continue
        d = action.default
        if (
            not action.option_strings
            or action.help == argparse.SUPPRESS
            or d is None
            or d is argparse.SUPPRESS
            or isinstance(d, bool)
            or "default" in (action.help or "").lower()
        ):
            continue
        shown = f"{d:g}" if isinstance(d, float) else str(d)
        text = f"(default: {shown})".replace("%", "%%")
        action.help = f"{action.help} {text}" if action.help else text


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Return the parser of every command.

    With ``command``, the options of that command only (the others are listed, by name and
    help): what :func:`main` builds, so that one command does not import what the others'
    options need (e.g. the runtime's or the sweeps').
    """
    parser = argparse.ArgumentParser(prog="inferplan", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add, run) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if command is None or command == name:
            add(p)
        p.set_defaults(run=run)
    for add_parser, run in _package_subcommands():
        add_parser(sub).set_defaults(run=run)
    _show_defaults(parser)
    return parser


def _one_line_warnings(command: str) -> None:
    """Warnings (e.g. fleet data read as "not set") as one line each on stderr."""

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"inferplan {command}: warning: {message}", file=sys.stderr)

    warnings.showwarning = show


def _command(argv: Sequence[str]) -> str:
    """Return the command of ``SUBCOMMANDS`` named on the command line, else "".

    The command is the first word that is not an option; "" means ``--help``, ``--version``,
    a misspelt command, or a command of ``_package_subcommands``, whose parsers are always
    built (they are cheap).
    """
    word = next((a for a in argv if not a.startswith("-")), "")
    return word if word in SUBCOMMANDS else ""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_command(argv)).parse_args(argv)
    _one_line_warnings(args.command)
    try:
        return args.run(args)
    except (ValueError, OSError, ImportError) as exc:
        if isinstance(exc, BrokenPipeError):  # the reader went away (`... | head`): fine
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 0
        message = str(exc) or type(exc).__name__
        if isinstance(exc, OSError) and exc.filename is not None:
            message = f"{exc.filename}: {exc.strerror or message}"
        print(f"inferplan {args.command}: error: {message}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"inferplan {args.command}: error: out of memory", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"inferplan {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

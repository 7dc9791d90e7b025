r"""A control loop for an autoscaler: metrics -> tune -> size -> desired replicas.

Each cycle reads the model server's metrics (vLLM's Prometheus ``/metrics`` from a URL, or
successive exposition files, or an engine-statistics CSV log), turns them into a window of
observations, updates the profile's parameters with the online tuner, sizes one replica for
the SLOs with the tuned profile, and prints the number of replicas the load needs -- as one
JSON line per cycle, either plain or in the shape an autoscaler consumes:

* ``--format json`` (default): the window, the tuned parameters with their standard
  deviations, the sizing and ``desiredReplicas`` (a KEDA ``metrics-api`` scaler reads it with
  ``valueLocation: desiredReplicas``);
* ``--format external``: an ``ExternalMetricValueList`` (``external.metrics.k8s.io/v1beta1``),
  what an external-metrics adapter serves to a HorizontalPodAutoscaler (metric
  ``inferplan_desired_replicas``; with an ``AverageValue`` target of 1 the HPA runs that many
  replicas).

Examples (docs/tuning.md)::

    # a live server, every 15 s, for ever
    python examples/control_loop.py --metrics http://vllm:8000/metrics --interval 15 \
        --alpha 5 --beta 0.3 --out-tokens 200 --max-batch 128 --itl-ms 40
    # a recorded engine log, 10-s windows
    python examples/control_loop.py \
        --engine-log tests/data/vllm-logs/vllm_log_scale200_prompt500.csv --interval 10 \
        --in-tokens 500 --alpha 10 --beta 0.6 --out-tokens 200 --max-batch 256 --itl-ms 40
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from datetime import datetime, timezone

from inferplan import DecodeOnly, PrefillDecode, Replica
from inferplan.service.metrics import MetricsWindows, engine_log_windows, scrape
from inferplan.service.tuning import Tuner


def external_metrics(desired: int, server: str, when: float) -> dict:
    """Return the ``ExternalMetricValueList`` an external-metrics adapter answers."""
    stamp = datetime.fromtimestamp(when, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "kind": "ExternalMetricValueList",
        "apiVersion": "external.metrics.k8s.io/v1beta1",
        "metadata": {},
        "items": [
            {
                "metricName": "inferplan_desired_replicas",
                "metricLabels": {"server": server},
                "timestamp": stamp,
                "value": str(desired),
            }
        ],
    }


def decide(tuner: Tuner, window, args) -> dict:
    """Size one replica with the tuned profile; the replicas the window's load needs."""
    in_tokens = window.in_tokens if math.isfinite(window.in_tokens) else args.in_tokens
    out_tokens = window.out_tokens if math.isfinite(window.out_tokens) else args.out_tokens
    model = tuner.model(in_tokens=in_tokens, out_tokens=out_tokens)
    targets = {k: v for k, v in (("itl_ms", args.itl_ms), ("ttft_ms", args.ttft_ms)) if v}
    res = Replica(model, max_batch=args.max_batch, max_queue=args.max_queue).size(**targets)
    rate = window.arrival_rate
    if not res.feasible:
        desired, why = args.max_replicas, f"infeasible: {res.reason}"
    elif not math.isfinite(rate):
        desired, why = None, "the window has no arrival rate"
    else:
        desired = max(args.min_replicas, math.ceil(rate / res.throughput))
        desired, why = min(desired, args.max_replicas), f"binding: {res.binding}"
    return {
        "perReplicaRate": res.rate if res.feasible else 0.0,
        "feasible": res.feasible,
        "why": why,
        "arrivalRate": rate if math.isfinite(rate) else None,
        "desiredReplicas": desired,
    }


def windows(args):
    """Yield the metric windows of the engine log or of the metrics endpoint in ``args``."""
    if args.engine_log:
        yield from engine_log_windows(args.engine_log, window_s=args.interval,
                                      in_tokens=args.in_tokens)  # fmt: skip
        return
    stream = MetricsWindows()
    sources = args.metrics
    live = len(sources) == 1 and sources[0].startswith(("http://", "https://"))
    cycle = 0
    while True:
        if live:
            s = scrape(sources[0])
        elif cycle < len(sources):  # recorded scrapes, one interval apart
            s = scrape(sources[cycle], timestamp=cycle * args.interval)
        else:
            return
        w = stream.push(s)
        if w is not None:
            yield w
        cycle += 1
        if args.cycles and cycle > args.cycles:
            return
        if live:
            time.sleep(args.interval)


def main(argv=None) -> int:
    """Run the control loop on the command line's source; return the exit status."""
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--metrics", nargs="+", help="a /metrics URL, or exposition files in order")
    src.add_argument("--engine-log", help="an engine-statistics CSV log")
    ap.add_argument("--interval", type=float, default=15.0, help="seconds per window")
    ap.add_argument("--cycles", type=int, default=0, help="stop after this many (0: never)")
    ap.add_argument("--kind", choices=("decode_only", "prefill_decode"), default="decode_only")
    ap.add_argument("--alpha", type=float, required=True, help="starting profile, ms")
    ap.add_argument("--beta", type=float, required=True)
    ap.add_argument("--gamma", type=float, default=0.0)
    ap.add_argument("--in-tokens", type=float, default=0.0, help="when the window has none")
    ap.add_argument("--out-tokens", type=float, default=200.0, help="when the window has none")
    ap.add_argument("--max-batch", type=int, required=True)
    ap.add_argument("--max-queue", type=int, default=None, help="default: unbounded")
    ap.add_argument("--itl-ms", type=float, default=None)
    ap.add_argument("--ttft-ms", type=float, default=None)
    ap.add_argument("--min-replicas", type=int, default=1)
    ap.add_argument("--max-replicas", type=int, default=100)
    ap.add_argument("--server", default="default", help="label in the external metric")
    ap.add_argument("--format", choices=("json", "external"), default="json")
    args = ap.parse_args(argv)
    for name, ok, rule in (  # NaN fails every comparison, so it is refused too
        ("--interval", args.interval > 0 and math.isfinite(args.interval), "finite and > 0"),
        ("--cycles", args.cycles >= 0, ">= 0"),
        ("--max-batch", args.max_batch >= 1, ">= 1"),
        ("--max-queue", args.max_queue is None or args.max_queue >= 0, ">= 0"),
        ("--itl-ms", args.itl_ms is None or args.itl_ms > 0, "> 0"),
        ("--ttft-ms", args.ttft_ms is None or args.ttft_ms > 0, "> 0"),
        (
            "--min-replicas",
            0 <= args.min_replicas <= args.max_replicas,
            ">= 0 and <= --max-replicas",
        ),
    ):
        if not ok:
            value = getattr(args, name[2:].replace("-", "_"))
            ap.error(f"argument {name}: must be {rule}, got {value!r}")
    try:
        if args.kind == "decode_only":
            profile = DecodeOnly(args.alpha, args.beta, args.out_tokens)
        else:
            profile = PrefillDecode(args.alpha, args.beta, args.gamma, args.in_tokens,
                                    args.out_tokens)  # fmt: skip
        tuner = Tuner(profile)
        for w in windows(args):
            step = tuner.update(w)
            decision = decide(tuner, w, args)
            if args.format == "external":
                if decision["desiredReplicas"] is not None:
                    out = external_metrics(decision["desiredReplicas"], args.server, time.time())
                    print(json.dumps(out), flush=True)
                continue
            window = w.as_dict()
            window["points"] = len(w.points)  # how many (batch, ITL) points it measured
            print(json.dumps({"window": window, "tuning": step.as_dict(), **decision}), flush=True)
    except (ValueError, OSError) as err:
        print(f"control_loop: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Runtime benchmark.

A 24-hour trace of 10 million requests, evaluated under the static, reactive and proactive
policies (decisions plus replay through the simulator).

Baselines measured in the same process: the time to generate the trace, and the static
policy's evaluation (one configuration, never changed) against which the adaptive ones
are compared. The target is the whole evaluation in under 5 minutes.

    PYTHONPATH=python python scripts/bench_runtime.py                  # 10 M requests
    PYTHONPATH=python python scripts/bench_runtime.py --requests 1e6   # quicker

The asv suite's counterpart (one million requests) is benchmarks/benchmarks/bench_runtime.py.
"""

from __future__ import annotations

import argparse
import time

from inferplan import runtime

DAY_S = 24 * 3600.0


def make_trace(requests: int, seed: int = 0) -> runtime.Trace:
    """Return the seeded 24-hour synthetic trace."""
    return runtime.synthetic_trace(duration_s=DAY_S, num_requests=requests, seed=seed)


def run(requests: int, seed: int = 0) -> dict:
    """Generate and evaluate one trace; return the timings."""
    t0 = time.perf_counter()
    trace = make_trace(requests, seed)
    generate_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = runtime.evaluate(trace)
    total_s = time.perf_counter() - t0
    out = {"requests": len(trace), "generate_s": generate_s, "evaluate_s": total_s}
    out.update(report.timings_s)
    for name, res in report.results.items():
        s = res.summary
        out[f"{name}_mean_power_w"] = s["mean_power_w"]
        out[f"{name}_instance_windows"] = s["simulated_instance_windows"]
        out[f"{name}_slo_met"] = s["latency"]["overall"]["slo_met"]
    return out


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=float, default=10e6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    r = run(int(args.requests), args.seed)
    n = r["requests"]
    print(f"trace: {n:,} requests over 24 h, generated in {r['generate_s']:.2f} s (baseline)")
    print(f"setup: classify {r['classify_s']:.2f} s, cost-table options {r['options_s']:.2f} s")
    for name in runtime.POLICIES:
        sec = r[f"{name}_s"]
        print(
            f"{name:9s} {sec:7.2f} s  ({n / sec / 1e6:.2f} M req/s, "
            f"{r[f'{name}_instance_windows']:,} instance-windows simulated, "
            f"{sec / r['static_s']:.2f} x static)  mean power {r[f'{name}_mean_power_w']:.0f} W, "
            f"SLO met: {r[f'{name}_slo_met']}"
        )
    verdict = "under" if r["evaluate_s"] < 300 else "OVER"
    print(
        f"total evaluation {r['evaluate_s']:.1f} s for three policies ({verdict} the 5-minute "
        f"target), {r['evaluate_s'] / r['generate_s']:.1f} x the generation time"
    )


if __name__ == "__main__":
    main()

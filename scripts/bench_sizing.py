"""Max-rate solves per second (SLO sizing) and their memory.

Against baselines measured in the same process.

    python scripts/bench_sizing.py [--rows 1000000] [--memory-rows 10000000]

Workload (issue #3): DecodeOnly, N uniform in 1..256, Q = 1000, ITL targets drawn between a
near-idle and a saturated replica's ITL (so that most bind); the same for PrefillDecode with
ITL and TTFT targets. Baselines: the NumPy reference (bisection to 1e-13) on a sample, and a
per-item Python loop of Replica.size calls.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

import inferplan as ip
from inferplan._kernels import dispatch

from _bench_common import binding_itl_targets, random_configs


def solves_per_second(fn, rows: int, repeat: int = 5) -> float:
    """Return rows per second of ``fn`` (best of ``repeat``)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return rows / best


MEMORY_CHILD = """
import resource, sys, numpy as np
sys.path.insert(0, {bench!r})
import inferplan as ip
from _bench_common import random_configs
n = {rows}
full = random_configs(n, kind=0, max_queue=1000)
# The columns a DecodeOnly sweep varies; the rest are scalars (broadcast, no memory).
cfg = {{k: full[k] for k in ("alpha", "beta", "out_tokens", "max_batch")}}
del full
itl = cfg["alpha"] + cfg["beta"] * (1 + 0.5 * (cfg["max_batch"] - 1))
out = ip.size_many(kind=0, max_queue=1000.0, itl_ms=itl, **cfg)
assert (out["status"] == 0).mean() > 0.9
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--memory-rows", type=int, default=10_000_000)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    n = args.rows
    figures: dict = {}

    do = random_configs(n, kind=0, max_queue=1000)
    do_itl = binding_itl_targets(do)
    pd_cfg = random_configs(n, kind=1, max_queue=1000, seed=3)
    pd_itl = binding_itl_targets(pd_cfg, seed=4)
    idle = ip.analyze_many(rate=0.0, metrics=["ttft_ms", "max_rate"], **pd_cfg)
    busy = ip.analyze_many(rate=0.9 * idle["max_rate"], metrics=["ttft_ms"], **pd_cfg)
    pd_ttft = idle["ttft_ms"] + np.random.default_rng(5).uniform(0.05, 1, n) * (
        busy["ttft_ms"] - idle["ttft_ms"]
    )

    for name in dispatch.available():
        if name == "numpy":
            continue
        dispatch.use(name)
        for threads in (1, 2):
            ip.size_many(
                itl_ms=do_itl[:1000], threads=threads, **{k: v[:1000] for k, v in do.items()}
            )  # warm-up (JIT)
            figures[f"decode_only/{name}/{threads}"] = solves_per_second(
                lambda threads=threads: ip.size_many(itl_ms=do_itl, threads=threads, **do), n
            )
        figures[f"prefill_decode/{name}/2"] = solves_per_second(
            lambda: ip.size_many(itl_ms=pd_itl, ttft_ms=pd_ttft, threads=2, **pd_cfg), n
        )
    res = ip.size_many(itl_ms=do_itl, **do)
    figures["decode_only/evaluations_per_solve"] = float(res["iterations"].mean())
    figures["decode_only/binding_fraction"] = float((res["binding"] == 1).mean())

    dispatch.use("numpy")
    sample = 300
    figures["decode_only/numpy/1"] = solves_per_second(
        lambda: ip.size_many(itl_ms=do_itl[:sample], **{k: v[:sample] for k, v in do.items()}),
        sample,
        repeat=1,
    )
    dispatch.use(None)

    replica = ip.Replica(ip.DecodeOnly(19, 1, 1024), max_batch=48, max_queue=152)
    calls = 50_000
    t0 = time.perf_counter()
    for _ in range(calls):
        replica.size(itl_ms=50)
    figures["replica_size_us"] = (time.perf_counter() - t0) / calls * 1e6
    loop_n = 20_000
    models = [
        ip.DecodeOnly(a, b, k)
        for a, b, k in zip(
            do["alpha"][:loop_n], do["beta"][:loop_n], do["out_tokens"][:loop_n], strict=True
        )
    ]
    t0 = time.perf_counter()
    for i, m in enumerate(models):
        ip.Replica(m, int(do["max_batch"][i]), 1000).size(itl_ms=do_itl[i])
    figures["decode_only/python_loop"] = loop_n / (time.perf_counter() - t0)

    if args.memory_rows:
        bench = str(__import__("pathlib").Path(__file__).resolve().parent)
        out = subprocess.run(
            [sys.executable, "-c", MEMORY_CHILD.format(bench=bench, rows=args.memory_rows)],
            capture_output=True,
            text=True,
            check=True,
        )
        figures["memory_rows"] = args.memory_rows
        figures["memory_peak_gib"] = int(out.stdout.split()[-1]) / 2**20

    base = figures["decode_only/numpy/1"]
    print(f"{'workload':38s} {'solves/s':>14s} {'vs numpy ref':>13s}")
    for key, value in figures.items():
        if "/" in key and key.count("/") == 2:
            print(f"{key:38s} {value:14,.0f} {value / base:12,.0f}x")
    cpp2 = figures.get("decode_only/cpp/2")
    nb2 = figures.get("decode_only/numba/2")
    if cpp2 and nb2:
        print(f"numba / cpp (2 threads): {nb2 / cpp2:.2f}")
    print(f"per-item Python loop of Replica.size: {figures['decode_only/python_loop']:,.0f} /s")
    print(
        f"evaluations per solve: {figures['decode_only/evaluations_per_solve']:.2f}, "
        f"binding: {figures['decode_only/binding_fraction']:.0%}"
    )
    print(f"Replica.size from Python: {figures['replica_size_us']:.2f} us per call")
    if "memory_peak_gib" in figures:
        print(
            f"size_many on {figures['memory_rows']:,} rows: peak RSS "
            f"{figures['memory_peak_gib']:.2f} GiB"
        )
    print(
        f"(this process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f}"
        " GiB)"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()

"""Sweep benchmark: a 100-million-row ``analyze`` sweep in this process, to Parquet.

The grid: 4 models (zipped alpha/beta) x 25 max batch sizes (8..200) x 1,000,000 offered
rates (log-spaced) = 100 M rows, PrefillDecode, seven output columns. Reported:

* sweep rows/s (grid decoding, kernel, Arrow conversion, Parquet writing, manifest);
* the raw batch kernel's rows/s, measured in the same process on the same inputs: a few
  chunks spread over the sweep, built first and then timed through ``analyze_many`` alone,
  once before and once after the sweep (averaged); the ratio of the two is the figure of
  merit (target >= 0.7). On a shared machine wall-clock rates move with the other jobs, so
  the same ratio is also given in CPU time (all threads of this process), which does not;
* peak resident memory (``ru_maxrss``), which should depend on the chunk size only.

    PYTHONPATH=python python scripts/bench_sweep.py                 # 100 M rows
    PYTHONPATH=python python scripts/bench_sweep.py --rows 20e6     # fewer rows

The asv suite's counterpart (200,000 rows) is benchmarks/benchmarks/bench_sweep.py.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import inferplan
from inferplan.sweep import load_spec
from inferplan.sweep import sweep as run_sweep
from inferplan.sweep.run import _kernel_value

MODELS = {
    "names": ["m-8b", "m-13b", "m-34b", "m-70b"],
    "alpha": [6.0, 9.0, 15.0, 24.0],
    "beta": [0.02, 0.035, 0.06, 0.1],
}
METRICS = ["throughput", "itl_ms", "ttft_ms", "utilization"]


def make_spec(rows: float, chunk_rows: int) -> dict:
    """Return the benchmark grid, with the rate axis sized so that the sweep has ``rows`` rows."""
    per_rate = len(MODELS["names"]) * 25
    num_rates = max(1, round(float(rows) / per_rate))
    return {
        "operation": "analyze",
        "fixed": {
            "kind": "prefill_decode",
            "gamma": 1e-4,
            "in_tokens": 512,
            "out_tokens": 256,
            "max_queue": 256,
        },
        "axes": {
            "model": MODELS["names"],
            "alpha": MODELS["alpha"],
            "beta": MODELS["beta"],
            "max_batch": {"start": 8, "stop": 200, "step": 8},
            "rate": {"start": 0.05, "stop": 40.0, "num": num_rates, "scale": "log"},
        },
        "zip": [["model", "alpha", "beta"]],
        "columns": ["model", "max_batch", "rate", *METRICS, "status"],
        "chunk_rows": chunk_rows,
    }


def peak_rss_gib() -> float:
    """Return the peak resident memory of this process, GiB."""
    # Linux reports kilobytes, macOS bytes.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**30


def raw_kernel_rate(spec_dict: dict, samples: int, threads) -> tuple[float, float, int]:
    """Time ``analyze_many`` alone on ``samples`` chunks spread over the sweep.

    Returns (rows per wall second, rows per CPU second, rows).
    """
    spec = load_spec(spec_dict)
    picks = np.unique(np.linspace(0, spec.num_chunks - 1, samples).round().astype(int))
    rows = wall = cpu = 0.0
    for index in picks:
        params = spec.rows(*spec.chunk_bounds(int(index)))
        cols = {
            n: _kernel_value(spec, n, params[n])
            for n in (
                "kind", "alpha", "beta", "gamma", "in_tokens", "out_tokens",
                "max_num_tokens", "max_batch", "max_queue",
            )
        }  # fmt: skip
        t0, c0 = time.perf_counter(), time.process_time()
        res = inferplan.analyze_many(rate=params["rate"], metrics=METRICS, threads=threads, **cols)
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        rows += res["status"].size
        del res, params, cols
    return rows / wall, rows / cpu, int(rows)


def run(rows: float, chunk_rows: int, threads, out: Path | None, samples: int, quiet: bool):
    """Run the sweep and return its figures."""
    spec = make_spec(rows, chunk_rows)
    total = load_spec(spec).total_rows
    tmp = None
    if out is None:
        tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
        out = tmp / "out"
    try:
        before = raw_kernel_rate(spec, samples, threads)
        t0, c0 = time.perf_counter(), time.process_time()
        res = run_sweep(spec, out, threads=threads, overwrite=True, progress=not quiet)
        sweep_s, sweep_cpu = time.perf_counter() - t0, time.process_time() - c0
        sweep_rss = peak_rss_gib()
        size_gb = sum(p.stat().st_size for p in out.glob("part-*.parquet")) / 1e9
        after = raw_kernel_rate(spec, samples, threads)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    kernel_wall = (before[0] + after[0]) / 2
    kernel_cpu = (before[1] + after[1]) / 2
    sweep_rate, sweep_cpu_rate = total / sweep_s, total / sweep_cpu
    print(f"backend                 {inferplan.backend()}")
    print(f"rows                    {total:,} in {res.num_chunks} chunks of {chunk_rows:,}")
    print(
        f"sweep                   {sweep_s:.1f} s, {sweep_rate / 1e6:.3f} M rows/s "
        f"({size_gb:.2f} GB of Parquet); {sweep_cpu_rate / 1e6:.3f} M rows per CPU-s"
    )
    print(
        f"raw analyze_many        {kernel_wall / 1e6:.3f} M rows/s (before "
        f"{before[0] / 1e6:.3f}, after {after[0] / 1e6:.3f}; {before[2]:,} rows each); "
        f"{kernel_cpu / 1e6:.3f} M rows per CPU-s"
    )
    print(
        f"sweep / raw kernel      {sweep_rate / kernel_wall:.2f} wall clock, "
        f"{sweep_cpu_rate / kernel_cpu:.2f} CPU time  (target >= 0.70)"
    )
    print(f"peak RSS during sweep   {sweep_rss:.2f} GiB  (target < 1.5 GiB)")
    return sweep_rate, kernel_wall, sweep_rss


def main(argv=None) -> int:
    """Run the benchmark; return the exit status."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=float, default=100e6, help="rows in the sweep (default 1e8)")
    p.add_argument("--chunk-rows", type=int, default=2_000_000)
    p.add_argument("--threads", type=int, default=None, help="default: all cores")
    p.add_argument("--samples", type=int, default=4, help="chunks timed for the raw kernel")
    p.add_argument("--out", type=Path, default=None, help="keep the parts here (default: temp)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    args = p.parse_args(argv)
    run(args.rows, args.chunk_rows, args.threads, args.out, args.samples, args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Check sizing answers from the outside on many random PrefillDecode replicas.

Sizes many random PrefillDecode replicas with an ITL and a TTFT target (drawn between the
idle and the 95 %-load values, the workload where the read-off's ITL can fall as the rate
rises) and checks the answers from the outside: no OK row at rate 0, the evaluation counts,
and, on a sample of OK rows, that every target holds on a grid of rates up to the answer,
one fails just above it and it is the reported binding target (tests/_sizing_check.py).

    python scripts/check_sizing.py [--rows 1000000] [--sample 2000] [--seed 42]

Run by hand (a million rows take a few seconds on two cores, the sample about a minute).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _sizing_check import check_sized

import inferplan as ip


def main() -> int:
    """Run the check; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows (default 1000000)")
    parser.add_argument("--sample", type=int, default=2000, help="OK rows checked (default 2000)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    args = parser.parse_args()
    n, rng = args.rows, np.random.default_rng(args.seed)
    cfg = dict(kind=np.ones(n, np.int32), alpha=rng.uniform(5, 50, n),
               beta=rng.uniform(0.005, 0.05, n), gamma=rng.uniform(0, 2e-4, n),
               in_tokens=rng.uniform(16, 3500, n).round(),
               out_tokens=rng.uniform(2, 1100, n).round(), max_batch=rng.integers(1, 64, n),
               max_queue=rng.integers(0, 1000, n).astype(float))  # fmt: skip
    idle = ip.analyze_many(rate=0.0, metrics=["itl_ms", "ttft_ms", "max_rate"], **cfg)
    busy = ip.analyze_many(rate=0.95 * idle["max_rate"], metrics=["itl_ms", "ttft_ms"], **cfg)
    u = rng.uniform(0, 1, (2, n))
    itl = idle["itl_ms"] + u[0] * (busy["itl_ms"] - idle["itl_ms"])
    ttft = idle["ttft_ms"] + u[1] * (busy["ttft_ms"] - idle["ttft_ms"])
    t0 = time.perf_counter()
    out = ip.size_many(itl_ms=itl, ttft_ms=ttft, **cfg)
    seconds = time.perf_counter() - t0
    status, ok = out["status"], out["status"] == 0
    codes, numbers = np.unique(status, return_counts=True)
    counts = {ip.Status(int(k)).name: int(v) for k, v in zip(codes, numbers, strict=True)}
    zero = int((out["rate"][ok] <= 0).sum())
    print(f"backend {ip.backend()}: {n:,} rows sized in {seconds:.1f} s; statuses {counts}")
    print(f"OK rows at rate 0: {zero}; evaluations per row: mean "
          f"{out['iterations'].mean():.1f}, max {out['iterations'].max()}")  # fmt: skip
    rows = np.flatnonzero(ok)
    sample = rng.choice(rows, min(args.sample, rows.size), replace=False)
    wrong = 0
    for i in sample:
        model = ip.PrefillDecode(cfg["alpha"][i], cfg["beta"][i], cfg["gamma"][i],
                                 cfg["in_tokens"][i], cfg["out_tokens"][i])  # fmt: skip
        replica = ip.Replica(model, int(cfg["max_batch"][i]), cfg["max_queue"][i])
        res = replica.size(itl_ms=itl[i], ttft_ms=ttft[i])
        try:
            assert res.rate == out["rate"][i], "size_many and Replica.size differ"
            check_sized(replica, res, {"itl_ms": itl[i], "ttft_ms": ttft[i]})
        except AssertionError as err:
            wrong += 1
            print(f"row {i}: {err}")
    print(f"checked {sample.size} OK rows from the outside: {wrong} wrong")
    return 1 if zero or wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())

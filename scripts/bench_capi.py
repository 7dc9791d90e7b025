"""Cost of calling the kernel through the C interface from Numba (cffi), per call.

The same sizing (the seed's example: DecodeOnly(19, 1, 1024), max batch 48, queue 152, ITL
50 ms) is timed along several paths, per call:

- kernel: ``ip_size_many`` over ROWS identical rows on one thread, divided by ROWS. The
  loop runs inside the library, so this is the kernel's own time (preparation + sizing)
  with no call boundary per row.
- numba: a ``@njit`` loop calling ``ip_size_params`` through cffi ROWS times.
- numba_handle: the same with ``ip_size`` on a handle prepared once (made in Python, used
  through ``capi.numba_replica_pointer``).
- numba_empty: a ``@njit`` loop calling ``ip_abi_version``: the bare call boundary.
- cffi_python: ``ip_size_params`` called from Python through cffi.
- python: ``inferplan.Replica.size`` (cpp backend) from Python.

The overhead of the Numba path is numba - kernel (target: under 1 us).
``python scripts/bench_capi.py`` prints the figures, each the best of several repeats,
interleaved so that a noisy machine affects all paths alike; the paths are the asv suite's
(benchmarks/benchmarks/bench_capi.py).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from benchmarks.bench_capi import ROWS, CApiSize

import inferplan


def main(repeats: int = 7) -> None:
    """Run the benchmark."""
    inferplan._kernels.dispatch.use("cpp")
    bench = CApiSize()
    bench.setup()
    paths = {
        "kernel (ip_size_many / row)": bench.time_kernel_size_many,
        "numba -> cffi -> ip_size_params": bench.time_numba_size_params,
        "numba -> cffi -> ip_size (handle)": bench.time_numba_size_handle,
        "numba -> cffi -> ip_abi_version": bench.time_numba_empty_call,
        "python -> cffi -> ip_size_params": bench.time_cffi_python_size_params,
        "python Replica.size (cpp)": bench.time_python_replica_size,
    }
    best = dict.fromkeys(paths, float("inf"))
    for _ in range(repeats):
        for name, fn in paths.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], (time.perf_counter() - t0) / ROWS)
    # The Numba and kernel paths size the same configuration: identical answers.
    assert bench.one.tobytes() == bench.out[:1].tobytes()
    kernel = best["kernel (ip_size_many / row)"]
    print(f"per call, best of {repeats} x {ROWS} calls ({inferplan.capi.load().version()}):")
    for name, t in best.items():
        print(f"  {name:36s} {t * 1e6:9.3f} us   {t / kernel:7.2f} x kernel")
    overhead = best["numba -> cffi -> ip_size_params"] - kernel
    print(f"Numba path overhead above the kernel: {overhead * 1e6:+.3f} us per call")


if __name__ == "__main__":
    main()

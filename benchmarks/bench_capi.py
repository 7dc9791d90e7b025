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

The overhead of the Numba path is numba - kernel (target: under 1 us). asv collects the
``time_`` methods; ``python benchmarks/bench_capi.py`` prints the figures, each the best of
several repeats, interleaved so that a noisy machine affects all paths alike.
"""

from __future__ import annotations

import time

import numba
import numpy as np

import inferplan
from inferplan import capi

ROWS = 20_000
MODEL = inferplan.DecodeOnly(alpha=19, beta=1, out_tokens=1024)
MAX_BATCH, MAX_QUEUE, ITL_MS = 48, 152.0, 50.0

api = capi.load(numba=True)
ffi = api.ffi
size_params = api.lib.ip_size_params
size_handle = api.lib.ip_size
abi_version = api.lib.ip_abi_version
replica_pointer = capi.numba_replica_pointer()


@numba.njit
def _numba_loop(n, service, targets, out):
    service_p, targets_p, out_p = (
        ffi.from_buffer(service), ffi.from_buffer(targets), ffi.from_buffer(out)
    )  # fmt: skip
    acc = 0.0
    for _ in range(n):
        size_params(service_p, MAX_BATCH, MAX_QUEUE, targets_p, out_p)
        acc += out[0].rate
    return acc


@numba.njit
def _numba_handle_loop(n, address, targets, out):
    handle, targets_p, out_p = (
        replica_pointer(address),
        ffi.from_buffer(targets),
        ffi.from_buffer(out),
    )
    acc = 0.0
    for _ in range(n):
        size_handle(handle, targets_p, out_p)
        acc += out[0].rate
    return acc


@numba.njit
def _numba_empty_loop(n):
    acc = 0
    for _ in range(n):
        acc += abi_version()
    return acc


class CApiSize:
    """Per-call paths into the kernel; each ``time_`` method runs ROWS calls."""

    def setup(self):
        self.service = np.zeros(ROWS, api.service_dtype)
        for name, value in zip(
            ("kind", "alpha", "beta", "gamma", "in_tokens", "out_tokens", "max_num_tokens"),
            MODEL.params(),
            strict=True,
        ):
            self.service[name] = value
        self.max_batch = np.full(ROWS, MAX_BATCH, np.int64)
        self.max_queue = np.full(ROWS, MAX_QUEUE)
        self.targets = np.zeros(ROWS, api.targets_dtype)
        self.targets["itl_ms"] = ITL_MS
        self.out = np.zeros(ROWS, api.size_result_dtype)
        self.one = np.zeros(1, api.size_result_dtype)
        handle_p = ffi.new("ip_replica**")
        status = api.lib.ip_replica_new(
            ffi.from_buffer("ip_service*", self.service[:1]), MAX_BATCH, MAX_QUEUE, ffi.NULL,
            handle_p,
        )  # fmt: skip
        assert status == 0
        self.handle = ffi.gc(handle_p[0], api.lib.ip_replica_free)
        self.address = capi.replica_address(self.handle)
        self.replica = inferplan.Replica(MODEL, max_batch=MAX_BATCH, max_queue=MAX_QUEUE)
        self.cffi_args = (
            ffi.from_buffer("ip_service*", self.service[:1]), MAX_BATCH, MAX_QUEUE,
            ffi.from_buffer("ip_targets*", self.targets[:1]),
            ffi.from_buffer("ip_size_result*", self.one),
        )  # fmt: skip
        # Compile outside the timings.
        _numba_loop(1, self.service[:1], self.targets[:1], self.one)
        _numba_handle_loop(1, self.address, self.targets[:1], self.one)
        _numba_empty_loop(1)

    def time_kernel_size_many(self):
        api.lib.ip_size_many(
            ROWS, ffi.from_buffer("ip_service[]", self.service),
            ffi.from_buffer("int64_t[]", self.max_batch),
            ffi.from_buffer("double[]", self.max_queue),
            ffi.from_buffer("ip_targets[]", self.targets),
            ffi.from_buffer("ip_size_result[]", self.out), 1,
        )  # fmt: skip

    def time_numba_size_params(self):
        _numba_loop(ROWS, self.service[:1], self.targets[:1], self.one)

    def time_numba_size_handle(self):
        _numba_handle_loop(ROWS, self.address, self.targets[:1], self.one)

    def time_numba_empty_call(self):
        _numba_empty_loop(ROWS)

    def time_cffi_python_size_params(self):
        for _ in range(ROWS):
            api.lib.ip_size_params(*self.cffi_args)

    def time_python_replica_size(self):
        for _ in range(ROWS):
            self.replica.size(itl_ms=ITL_MS)


def main(repeats: int = 7) -> None:
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

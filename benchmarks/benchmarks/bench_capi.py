"""Cost of calling the kernel through the C interface from Numba (cffi), per call.

The seed's example (DecodeOnly(19, 1, 1024), max batch 48, queue 152, ITL 50 ms) sized along
several paths, each ``time_`` method ROWS calls (see scripts/bench_capi.py, which prints the
per-call figures and the Numba path's overhead above the kernel):

- kernel: ``ip_size_many`` over ROWS identical rows on one thread (no call boundary a row);
- numba: a ``@njit`` loop calling ``ip_size_params`` through cffi;
- numba_handle: the same with ``ip_size`` on a handle prepared once;
- numba_empty: a ``@njit`` loop calling ``ip_abi_version``: the bare call boundary;
- cffi_python: ``ip_size_params`` called from Python through cffi;
- python: ``inferplan.Replica.size`` (cpp backend) from Python.

Skipped (NotImplementedError in setup) where Numba, cffi or the C library is missing.
"""

from __future__ import annotations

from functools import cache

import numpy as np

import inferplan

from . import common

ROWS = 2_000 if common.SMOKE else 20_000
MODEL = inferplan.DecodeOnly(alpha=19, beta=1, out_tokens=1024)
MAX_BATCH, MAX_QUEUE, ITL_MS = 48, 152.0, 50.0


@cache
def compiled():
    """Return ``(api, loops)``.

    The C library through cffi and the three ``@njit`` loops, compiled once a process.
    """
    try:
        import numba

        from inferplan import capi

        api = capi.load(numba=True)
        replica_pointer = capi.numba_replica_pointer()
    except (ImportError, OSError) as error:
        raise NotImplementedError(f"Numba, cffi or the C library is missing: {error}") from None
    ffi = api.ffi
    size_params = api.lib.ip_size_params
    size_handle = api.lib.ip_size
    abi_version = api.lib.ip_abi_version

    @numba.njit
    def numba_loop(n, service, targets, out):
        service_p, targets_p, out_p = (
            ffi.from_buffer(service), ffi.from_buffer(targets), ffi.from_buffer(out)
        )  # fmt: skip
        acc = 0.0
        for _ in range(n):
            size_params(service_p, MAX_BATCH, MAX_QUEUE, targets_p, out_p)
            acc += out[0].rate
        return acc

    @numba.njit
    def numba_handle_loop(n, address, targets, out):
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
    def numba_empty_loop(n):
        acc = 0
        for _ in range(n):
            acc += abi_version()
        return acc

    return api, (numba_loop, numba_handle_loop, numba_empty_loop)


class CApiSize:
    """Per-call paths into the kernel; each ``time_`` method runs ROWS calls."""

    def setup(self):
        from inferplan import capi

        api, loops = compiled()
        self._numba_loop, self._numba_handle_loop, self._numba_empty_loop = loops
        self.api, self.ffi, self.lib = api, api.ffi, api.lib
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
        handle_p = self.ffi.new("ip_replica**")
        status = self.lib.ip_replica_new(
            self.ffi.from_buffer("ip_service*", self.service[:1]), MAX_BATCH, MAX_QUEUE,
            self.ffi.NULL, handle_p,
        )  # fmt: skip
        assert status == 0
        self.handle = self.ffi.gc(handle_p[0], self.lib.ip_replica_free)
        self.address = capi.replica_address(self.handle)
        self.replica = inferplan.Replica(MODEL, max_batch=MAX_BATCH, max_queue=MAX_QUEUE)
        self.cffi_args = (
            self.ffi.from_buffer("ip_service*", self.service[:1]), MAX_BATCH, MAX_QUEUE,
            self.ffi.from_buffer("ip_targets*", self.targets[:1]),
            self.ffi.from_buffer("ip_size_result*", self.one),
        )  # fmt: skip
        # Compile outside the timings.
        self._numba_loop(1, self.service[:1], self.targets[:1], self.one)
        self._numba_handle_loop(1, self.address, self.targets[:1], self.one)
        self._numba_empty_loop(1)

    def time_kernel_size_many(self):
        self.lib.ip_size_many(
            ROWS, self.ffi.from_buffer("ip_service[]", self.service),
            self.ffi.from_buffer("int64_t[]", self.max_batch),
            self.ffi.from_buffer("double[]", self.max_queue),
            self.ffi.from_buffer("ip_targets[]", self.targets),
            self.ffi.from_buffer("ip_size_result[]", self.out), 1,
        )  # fmt: skip

    def time_numba_size_params(self):
        self._numba_loop(ROWS, self.service[:1], self.targets[:1], self.one)

    def time_numba_size_handle(self):
        self._numba_handle_loop(ROWS, self.address, self.targets[:1], self.one)

    def time_numba_empty_call(self):
        self._numba_empty_loop(ROWS)

    def time_cffi_python_size_params(self):
        for _ in range(ROWS):
            self.lib.ip_size_params(*self.cffi_args)

    def time_python_replica_size(self):
        for _ in range(ROWS):
            self.replica.size(itl_ms=ITL_MS)

"""A Numba-jitted autoscaler that sizes replicas through the inferplan C library.

Every control tick brings an observed arrival rate (req/s) and the mean output length of
the requests seen in that tick. The loop re-sizes one replica for the current output
length (the largest rate at which it meets the ITL and TTFT targets), then asks for
``ceil(load / sized throughput)`` replicas. The whole loop runs in nopython mode: the
kernel is called through cffi (``ip_size_params``, no Python object and no allocation per
tick), so it can sit inside a larger jitted simulator or scheduler.

    PYTHONPATH=python python examples/numba_control_loop.py
"""

from __future__ import annotations

import math

import numba
import numpy as np

import inferplan

# Registers the C structs with Numba; the functions must be globals of the jitted code.
api = inferplan.capi.load(numba=True)
ffi = api.ffi
size_params = api.lib.ip_size_params


@numba.njit(cache=False)
def control_loop(loads, out_tokens, service, max_batch, max_queue, targets, result,
                 replicas, per_replica):  # fmt: skip
    """Fill replicas[t] and per_replica[t] (sized throughput, req/s) for every tick t.

    service, targets and result are 1-element arrays of api.service_dtype,
    api.targets_dtype and api.size_result_dtype. A tick whose sizing fails (infeasible
    targets or bad input) gets replicas -status and per_replica NaN.
    """
    service_p = ffi.from_buffer(service)
    targets_p = ffi.from_buffer(targets)
    result_p = ffi.from_buffer(result)
    for t in range(loads.size):
        service[0].out_tokens = out_tokens[t]
        status = size_params(service_p, max_batch, max_queue, targets_p, result_p)
        if status != 0:
            replicas[t] = -status
            per_replica[t] = np.nan
            continue
        capacity = result[0].metrics.throughput
        per_replica[t] = capacity
        replicas[t] = max(1, math.ceil(loads[t] / capacity))


def plan(loads, out_tokens, *, alpha, beta, max_batch, max_queue=math.inf, itl_ms=0.0,
         ttft_ms=0.0):  # fmt: skip
    """Replicas per tick for a DecodeOnly(alpha, beta, out_tokens[t]) server."""
    service = np.zeros(1, api.service_dtype)
    service[0]["kind"] = api.lib.IP_DECODE_ONLY
    service[0]["alpha"] = alpha
    service[0]["beta"] = beta
    service[0]["max_num_tokens"] = 8192.0
    targets = np.zeros(1, api.targets_dtype)
    targets[0]["itl_ms"] = itl_ms
    targets[0]["ttft_ms"] = ttft_ms
    result = np.zeros(1, api.size_result_dtype)
    loads = np.ascontiguousarray(loads, dtype=np.float64)
    out_tokens = np.ascontiguousarray(out_tokens, dtype=np.float64)
    replicas = np.zeros(loads.size, dtype=np.int64)
    per_replica = np.zeros(loads.size)
    control_loop(loads, out_tokens, service, max_batch, float(max_queue), targets, result,
                 replicas, per_replica)  # fmt: skip
    return replicas, per_replica


def main() -> None:
    """Plan a day of synthetic load with the jitted loop and print it."""
    rng = np.random.default_rng(7)
    ticks = 24
    hours = np.arange(ticks)
    loads = 20.0 + 15.0 * np.sin(2 * np.pi * hours / ticks) + rng.uniform(-2, 2, ticks)
    out_tokens = rng.uniform(200, 600, ticks).round()
    replicas, per_replica = plan(loads, out_tokens, alpha=19, beta=1, max_batch=48,
                                 max_queue=152, itl_ms=50, ttft_ms=2000)  # fmt: skip
    print("tick  load_req_s  out_tokens  per_replica_req_s  replicas")
    for t in range(ticks):
        print(f"{t:4d}  {loads[t]:10.2f}  {out_tokens[t]:10.0f}  {per_replica[t]:17.4f}"
              f"  {replicas[t]:8d}")  # fmt: skip


if __name__ == "__main__":
    main()

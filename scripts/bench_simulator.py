"""Simulator throughput: simulated requests per second of wall time on one core.

``python scripts/bench_simulator.py`` prints the rates and compares them with a baseline
run in the same process: a plain Python event loop of the same DecodeOnly replica
(iteration by iteration) on a small run. Ratios survive a noisy machine better than
absolute figures. The asv suite's counterpart is benchmarks/benchmarks/bench_simulator.py.
"""

from __future__ import annotations

import heapq
import math
import random
import time

import inferplan

# The seed's worked example (docs/model.md 2.1) at 90% of saturation: the heavy case.
MODEL = inferplan.DecodeOnly(alpha=19, beta=1, out_tokens=1024)
MAX_BATCH, MAX_QUEUE = 48, 152
RATE = 0.9 * inferplan.Replica(MODEL, max_batch=MAX_BATCH, max_queue=MAX_QUEUE).max_rate


def run_cpp(
    num_requests: int,
    *,
    model=MODEL,
    rate=RATE,
    out_tokens=None,
    replications=1,
    admission="iteration",
):
    """Simulate the example replica with the C++ simulator."""
    return inferplan.simulate(
        model,
        max_batch=MAX_BATCH,
        max_queue=MAX_QUEUE,
        rate=rate,
        out_tokens=out_tokens,
        num_requests=num_requests,
        replications=replications,
        seed=1,
        threads=1,
        admission=admission,
    )


def run_python(num_requests: int, seed: int = 1) -> float:
    """Run the reference event loop in pure Python, one iteration at a time; return mean TTFT."""
    rng = random.Random(seed)
    alpha, beta, m = MODEL.alpha, MODEL.beta, MODEL.out_tokens
    lam = RATE / 1000.0
    log_q = math.log((m - 1) / m)
    arrivals, t = [], 0.0
    for _ in range(num_requests):
        t += rng.expovariate(lam)
        arrivals.append((t, 1 + int(math.log(1.0 - rng.random()) / log_q)))
    queue: list[tuple[float, int]] = []
    batch: list[tuple[int, float]] = []  # (tokens left, arrival) as a heap on tokens left
    i, now, ttft_sum, served = 0, 0.0, 0.0, 0
    while i < num_requests or queue or batch:
        if not batch and not queue:
            now = max(now, arrivals[i][0])
        while i < num_requests and arrivals[i][0] <= now:
            if len(batch) + len(queue) < MAX_BATCH + MAX_QUEUE:
                queue.append(arrivals[i])
            i += 1
        joined = []
        while queue and len(batch) < MAX_BATCH:
            arrival, tokens = queue.pop(0)
            joined.append(arrival)
            heapq.heappush(batch, (tokens, arrival))
        now += alpha + beta * len(batch)
        for arrival in joined:
            ttft_sum += now - arrival
            served += 1
        batch = [(k - 1, a) for k, a in batch if k > 1]
        heapq.heapify(batch)
    return ttft_sum / served


def _rate(fn, n: int, repeat: int = 3) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(n)
        best = min(best, time.perf_counter() - t0)
    return n / best


def main() -> None:
    """Run the benchmark."""
    n_cpp, n_py = 2_000_000, 2_000
    cpp = _rate(run_cpp, n_cpp)
    const = _rate(lambda n: run_cpp(n, out_tokens=inferplan.Tokens.constant(1024)), n_cpp)
    imm = _rate(lambda n: run_cpp(n, admission="immediate"), n_cpp)
    py = _rate(run_python, n_py, repeat=1)
    pd = inferplan.PrefillDecode(alpha=8, beta=0.02, gamma=5e-5, in_tokens=500, out_tokens=200)
    pd_rate = 0.9 * inferplan.Replica(pd, max_batch=MAX_BATCH, max_queue=MAX_QUEUE).max_rate
    pdr = _rate(lambda n: run_cpp(n, model=pd, rate=pd_rate), 20_000)
    pdi = _rate(lambda n: run_cpp(n, model=pd, rate=pd_rate, admission="immediate"), 20_000)
    print(f"DecodeOnly alpha=19 beta=1 m=1024 N={MAX_BATCH} Q={MAX_QUEUE}, 90% load, one thread")
    print(f"  C++ simulator, geometric lengths  {cpp:14,.0f} requests/s  ({n_cpp:,} requests)")
    print(f"  C++ simulator, constant lengths   {const:14,.0f} requests/s")
    print(f"  C++ simulator, immediate admission{imm:14,.0f} requests/s  (geometric lengths)")
    print(f"  pure Python iteration loop        {py:14,.0f} requests/s  ({n_py:,} requests)")
    print(f"  speed-up over the Python loop     {cpp / py:14,.0f} x")
    print(f"PrefillDecode L=500 m=200, 90% load {pdr:14,.0f} requests/s  (iteration by iteration)")
    print(f"  immediate admission               {pdi:14,.0f} requests/s  (step by step)")


if __name__ == "__main__":
    main()

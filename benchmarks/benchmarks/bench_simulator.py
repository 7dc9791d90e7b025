"""Discrete-event simulator (``inferplan.simulate``) on one thread at 90% of saturation.

DecodeOnly with geometric and constant output lengths, PrefillDecode, under iteration (and,
with geometric lengths, immediate) admission; and the speed-up over a plain Python event
loop of the same DecodeOnly replica, per simulated request, timed in the same process.
"""

from __future__ import annotations

import heapq
import math
import random

import inferplan

from . import common

MAX_BATCH, MAX_QUEUE = common.STATES[201]
PREFILL = inferplan.PrefillDecode(alpha=8, beta=0.02, gamma=5e-5, in_tokens=500, out_tokens=200)
CASES = {
    # name: (model, requests, output lengths, admission)
    "decode_only": (common.EXAMPLE_MODEL, 200_000, None, "iteration"),
    "decode_only_constant": (common.EXAMPLE_MODEL, 200_000, "constant", "iteration"),
    "decode_only_immediate": (common.EXAMPLE_MODEL, 200_000, None, "immediate"),
    "prefill_decode": (PREFILL, 20_000, None, "iteration"),
    "prefill_decode_immediate": (PREFILL, 20_000, None, "immediate"),
}


def _rate(model):
    return 0.9 * inferplan.Replica(model, max_batch=MAX_BATCH, max_queue=MAX_QUEUE).max_rate


def _simulate(model, requests, out_tokens=None, admission="iteration"):
    return inferplan.simulate(
        model,
        max_batch=MAX_BATCH,
        max_queue=MAX_QUEUE,
        rate=_rate(model),
        out_tokens=out_tokens,
        num_requests=requests,
        replications=1,
        seed=1,
        threads=1,
        admission=admission,
    )


class Simulate:
    params = tuple(CASES)
    param_names = ("case",)

    def setup(self, case):
        self.model, self.requests, self.out_tokens, self.admission = CASES[case]

    def time_simulate(self, case):
        _simulate(self.model, self.requests, self.out_tokens, self.admission)

    def peakmem_simulate(self, case):
        _simulate(self.model, self.requests, self.out_tokens, self.admission)


def python_event_loop(requests: int, seed: int = 1) -> float:
    """Step the example DecodeOnly replica one iteration at a time in pure Python.

    Poisson arrivals, geometric output lengths, FCFS admission. Returns the mean TTFT.
    """
    model = common.EXAMPLE_MODEL
    rng = random.Random(seed)
    gap_rate = _rate(model) / 1000.0  # per ms
    log_stay = math.log(1.0 - 1.0 / model.out_tokens)
    arrivals, t = [], 0.0
    for _ in range(requests):
        t += rng.expovariate(gap_rate)
        arrivals.append((t, 1 + int(math.log(1.0 - rng.random()) / log_stay)))
    waiting: list = []
    running: list = []  # heap of (tokens left, arrival time)
    nxt, now, ttft_total, admitted = 0, 0.0, 0.0, 0
    while nxt < requests or waiting or running:
        if not running and not waiting:
            now = max(now, arrivals[nxt][0])
        while nxt < requests and arrivals[nxt][0] <= now:
            if len(running) + len(waiting) < MAX_BATCH + MAX_QUEUE:
                waiting.append(arrivals[nxt])
            nxt += 1
        started = []
        while waiting and len(running) < MAX_BATCH:
            arrival, tokens = waiting.pop(0)
            started.append(arrival)
            heapq.heappush(running, (tokens, arrival))
        now += model.alpha + model.beta * len(running)
        ttft_total += sum(now - a for a in started)
        admitted += len(started)
        running = [(k - 1, a) for k, a in running if k > 1]
        heapq.heapify(running)
    return ttft_total / admitted


class SimulatorSpeedup:
    unit = "ratio"
    cpp_requests = 100_000
    python_requests = 1_000

    def track_cpp_vs_python_event_loop(self):
        per_request_cpp = (
            common.best_seconds(
                lambda: _simulate(common.EXAMPLE_MODEL, self.cpp_requests), repeat=3
            )
            / self.cpp_requests
        )
        per_request_python = (
            common.best_seconds(lambda: python_event_loop(self.python_requests), repeat=2)
            / self.python_requests
        )
        return per_request_python / per_request_cpp

    track_cpp_vs_python_event_loop.unit = "ratio"

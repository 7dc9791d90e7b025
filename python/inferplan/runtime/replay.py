"""Replay a trace through the simulator under a policy's decisions.

Every window's requests of a class are routed round robin to that class's instances; each
instance-window is then simulated by :func:`inferplan.simulate` in trace mode, with the
trace's own arrival times and token counts (no analytic shortcut: the C++ simulator handles
about a million requests per second, so even 10 million requests replay in seconds).

Approximations, all stated in ``docs/runtime.md``:

- Each instance-window starts empty, and the requests of a window are served to completion
  by the instance they were routed to: the backlog of a window is not carried into the
  next (with 5-minute windows and responses of seconds, boundary effects are small).
- A NEW instance (not carried over from the previous window) serves nothing for
  ``provision_delay_s`` (plus ``repartition_delay_s`` for a MIG slice). Meanwhile the class's
  requests go to its carried-over instances, or, if it has none, wait for the first to be
  ready (their TTFT includes the wait).
- Failed requests (0 output tokens) are replayed with their prompt and one output token
  (the work the server did before failing) and left out of the latency percentiles.

Power of a window: every full card draws its curve at the utilisation (time-average batch
occupancy over max batch) of the instance it hosts; every card hosting MIG slices draws
its idle power once plus each slice's share of the power above idle at that slice's
utilisation (:func:`inferplan.hardware.mig.mig_card_power_w`). Released cards draw nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .. import _lazy
from ..models import DecodeOnly, PrefillDecode
from ..simulate import Tokens, simulate
from .catalog import Hardware, Options
from .policy import Plan, _mig_cards
from .traces import Trace

__all__ = [
    "Replay",
    "Replayer",
    "replay",
]
__dir__ = _lazy.public_dir(__name__)

_FAR_MS = 1e12


@dataclass(frozen=True)
class Replay:
    """What a replay measured, per request and per window.

    Per request: TTFT, mean ITL and end-to-end latency (ms; NaN for failed requests and, for
    ITL, single-token answers). Per window: power (W) and instance utilisation.
    """

    ttft_ms: np.ndarray
    itl_ms: np.ndarray
    latency_ms: np.ndarray
    power_w: np.ndarray
    utilization: np.ndarray  # (windows, classes): mean over the class's instances
    simulated_instance_windows: int
    simulate_s: float


def _model(options: Options, o: int, ins: np.ndarray, outs: np.ndarray):
    if options.kind[o] == 0:
        return DecodeOnly(
            alpha=options.alpha[o], beta=options.beta[o], out_tokens=max(outs.mean(), 1.0)
        )
    return PrefillDecode(
        alpha=options.alpha[o],
        beta=options.beta[o],
        gamma=options.gamma[o],
        in_tokens=max(ins.mean(), 1.0),
        out_tokens=max(outs.mean(), 1.0),
        max_num_tokens=options.max_num_tokens[o],
    )


def _route(t_ms: np.ndarray, n: int, bridge: int, ready_ms: float):
    """Instance of each request (round robin) and the time it can start being served.

    Instances ``0..n-1`` are the window's; until ``ready_ms`` only the ``bridge`` instances
    serve: the first ``bridge`` of them when they were carried over, else extra ones
    (indices ``n..``) left over from the previous window. With no bridge at all, early
    arrivals wait for ``ready_ms``.
    """
    m = t_ms.size
    if ready_ms <= 0:
        return np.arange(m) % n, t_ms
    e = int(np.searchsorted(t_ms, ready_ms))  # arrivals are sorted: the early ones first
    inst = np.empty(m, dtype=np.int64)
    if bridge > 0:
        inst[:e] = np.arange(e) % bridge
        inst[e:] = np.arange(m - e) % n
        return inst, t_ms
    inst[:] = np.arange(m) % n
    return inst, np.maximum(t_ms, ready_ms)


def _instances_power(options: Options, opts: np.ndarray, u: np.ndarray) -> float:
    """Return the power (W) the instances ``opts`` draw at utilization ``u``.

    Full cards draw their whole curve; MIG slices what they add above the card's idle (the
    card's idle is counted once per card by the caller).
    """
    mig = options.mig_profile[opts] != ""
    return float(np.sum(np.where(mig, options.dynamic_w(opts, u), options.power_w(opts, u))))


class Replayer:
    """A trace replayed window by window.

    So that a closed-loop policy can see a window's latencies before it decides the next;
    :func:`replay` runs it over a whole plan.
    """

    def __init__(self, trace: Trace, class_index, windows: int, classes: int, window_s: float,
                 options, hardware: Hardware, admission: str = "iteration"):  # fmt: skip
        self.simulate_s = 0.0
        self.trace, self.options, self.hardware = trace, options, hardware
        self.admission = admission
        self.w_count, self.c_count = int(windows), int(classes)
        self.window_s = float(window_s)
        n_req = len(trace)
        win = np.minimum((trace.time_s // window_s).astype(np.int64), self.w_count - 1)
        self.class_index = np.asarray(class_index, dtype=np.int64)
        key = win * self.c_count + self.class_index
        self.order = np.argsort(key, kind="stable")
        self.bounds = np.searchsorted(key[self.order], np.arange(self.w_count * self.c_count + 1))
        self.outs_all = np.maximum(trace.out_tokens, 1)
        window_ms = self.window_s * 1000.0
        # The last window ends with the trace: utilisation is over the time it covers.
        self.span_ms = np.full(self.w_count, window_ms)
        self.span_ms[-1] = max(trace.duration_s * 1000.0 - (self.w_count - 1) * window_ms, 1.0)
        self.ttft = np.full(n_req, np.nan)
        self.itl = np.full(n_req, np.nan)
        self.latency = np.full(n_req, np.nan)
        self.power = np.zeros(self.w_count)
        self.utilization = np.zeros((self.w_count, self.c_count))
        self.sims = 0

    def requests(self, w: int, c: int) -> np.ndarray:
        """Return the indices of the requests of class ``c`` in window ``w`` (in arrival order)."""
        return self.order[self.bounds[w * self.c_count + c] : self.bounds[w * self.c_count + c + 1]]

    def window(self, w, option, count, kept, prev_option=None, prev_count=None) -> None:
        """Simulate window ``w`` under its decision (per-class rows) and the previous one."""
        t0 = time.perf_counter()
        try:
            self._window(w, option, count, kept, prev_option, prev_count)
        finally:
            self.simulate_s += time.perf_counter() - t0

    def _window(self, w, option, count, kept, prev_option, prev_count) -> None:
        trace, options, hardware = self.trace, self.options, self.hardware
        window_s = self.window_s
        span_ms = self.span_ms
        ttft, itl, latency, outs_all = self.ttft, self.itl, self.latency, self.outs_all
        idle_mig = 0.0
        for card, placed in _mig_cards(options, option, count).items():
            mig_opts = np.flatnonzero(options.card == card)
            idle_mig += len(placed) * float(options.idle_w[mig_opts[0]])
        self.power[w] += idle_mig
        for c in range(self.c_count):
            o, n, kept_c = int(option[c]), int(count[c]), int(kept[c])
            if n == 0:
                continue
            is_mig = bool(options.mig_profile[o])
            idx = self.requests(w, c)
            # Who serves before the new instances are ready: carried-over ones, or else
            # the previous window's instances of the class, kept on until then.
            new_instances = n - kept_c
            delay_s = 0.0
            if new_instances > 0 and w > 0:
                delay_s = hardware.provision_delay_s + (
                    hardware.repartition_delay_s if is_mig else 0.0
                )
            prev_o, extra = o, 0
            if delay_s > 0 and kept_c == 0 and prev_count[c] > 0:
                prev_o, extra = int(prev_option[c]), int(prev_count[c])
            bridge = kept_c if kept_c > 0 else extra
            inst_option = np.concatenate([np.full(n, o), np.full(extra, prev_o)])
            busy = np.zeros(n + extra)
            if idx.size:
                t_ms = (trace.time_s[idx] - w * window_s) * 1000.0
                inst, start_ms = _route(t_ms, n, bridge, delay_s * 1000.0)
                if extra:
                    inst = np.where(t_ms < delay_s * 1000.0, inst + n, inst)
                shift = start_ms - t_ms
                by_inst = np.argsort(inst, kind="stable")
                cuts = np.searchsorted(inst[by_inst], np.arange(n + extra + 1))
                for j in range(n + extra):
                    sel = by_inst[cuts[j] : cuts[j + 1]]
                    if sel.size == 0:
                        continue
                    oj = int(inst_option[j])
                    req = idx[sel]
                    arr = start_ms[sel]
                    ins = trace.in_tokens[req].astype(float)
                    outs = outs_all[req].astype(float)
                    if sel.size == 1:  # the simulator needs two arrivals; a far later one
                        arr = np.append(arr, arr[0] + _FAR_MS)  # changes nothing
                        ins = np.append(ins, ins[0])
                        outs = np.append(outs, outs[0])
                    res = simulate(
                        _model(options, oj, ins, outs),
                        max_batch=int(options.max_batch[oj]),
                        arrival_times_ms=arr,
                        in_tokens=Tokens.trace(ins),
                        out_tokens=Tokens.trace(outs),
                        replications=1,
                        warmup=0,
                        records=True,
                        threads=1,
                        percentiles=(),
                        admission=self.admission,
                    )
                    self.sims += 1
                    rec = res.records
                    k = sel.size
                    first = rec.first_token_ms[0, :k]
                    finish = rec.finish_ms[0, :k]
                    ttft[req] = first - arr[:k] + shift[sel]
                    latency[req] = finish - arr[:k] + shift[sel]
                    gaps = outs[:k] - 1.0
                    with np.errstate(invalid="ignore", divide="ignore"):
                        itl[req] = np.where(gaps > 0, (finish - first) / gaps, np.nan)
                    busy[j] = float(np.sum(finish - rec.start_ms[0, :k]))
            u = np.minimum(busy[:n] / (options.max_batch[o] * span_ms[w]), 1.0)
            self.utilization[w, c] = float(u.mean())
            self.power[w] += _instances_power(options, np.full(n, o), u)
            if extra:  # the old instances ran for delay_s of this window
                delay_ms = delay_s * 1000.0
                u_old = np.minimum(busy[n:] / (options.max_batch[prev_o] * delay_ms), 1.0)
                self.power[w] += _instances_power(options, np.full(extra, prev_o), u_old) * min(
                    delay_ms / span_ms[w], 1.0
                )

    def result(self) -> Replay:
        """Return what was replayed so far (NaN latencies for failed requests)."""
        failed = self.trace.failed
        ttft, itl, latency = self.ttft.copy(), self.itl.copy(), self.latency.copy()
        if failed.any():
            ttft[failed] = np.nan
            itl[failed] = np.nan
            latency[failed] = np.nan
        return Replay(ttft, itl, latency, self.power.copy(), self.utilization.copy(), self.sims,
                      self.simulate_s)  # fmt: skip


def replay(
    trace: Trace,
    class_index: np.ndarray,
    plan: Plan,
    options: Options,
    hardware: Hardware,
    *,
    admission: str = "iteration",
) -> Replay:
    """Simulate every instance-window of ``plan`` over ``trace`` (see the module docs).

    ``admission`` is the servers' admission rule (:func:`inferplan.simulate`).
    """
    w_count, c_count = plan.count.shape
    r = Replayer(trace, class_index, w_count, c_count, plan.window_s, options, hardware, admission)
    for w in range(w_count):
        prev = (plan.option[w - 1], plan.count[w - 1]) if w else (None, None)
        r.window(w, plan.option[w], plan.count[w], plan.kept[w], *prev)
    return r.result()

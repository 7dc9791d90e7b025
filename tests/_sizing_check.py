"""Checks of a sized rate from the outside (docs/model.md 3 and 3.1).

What a sized rate must satisfy, checked through ``Replica.analyze`` and the quantiles,
independently of how the search found it:

* every target holds at the rate and on a grid of rates below it (the whole of [0, rate]);
* unless the rate is the saturation cap, some target fails just above it, and the reported
  binding target is one that does.
"""

from __future__ import annotations

import math

import numpy as np

import inferplan as ip
from inferplan.sizing import BINDING_NAMES, SATURATION_CAP, TPS_CAP

# A metric within this relative slack of its target meets it (the kernels use 1e-12; the
# grid allows for the last digits where two backends compute a metric apart).
HOLD_SLACK = 1e-9
# Just above the answer: the search closes its bracket to 1e-10, so the true root lies
# below the first of these.
ABOVE = (1e-9, 1e-8, 1e-7)
# How close to its target a flat binding metric must sit (relative).
FLAT = 1e-11


def excesses(
    replica: ip.Replica, rate: float, targets: dict, admission=None, hold: bool = False
) -> dict:
    """{binding name: metric / target - 1} for the set targets at ``rate``.

    With ``hold``, a percentile is compared on the scale of its target plus one service
    interval of the full batch, 1 / max_rate: where the waiting time's density is tiny, its
    tail (what the search bounds, to 1e-12) fixes the quantile only to that scale.
    """
    m = replica.analyze(rate, admission=admission)
    scale = 1000.0 / replica.max_rate if hold else 0.0
    out = {}
    if targets.get("itl_ms"):
        out["itl_ms"] = m.itl_ms / targets["itl_ms"] - 1
    if targets.get("ttft_ms"):
        out["ttft_ms"] = m.ttft_ms / targets["ttft_ms"] - 1
    if targets.get("wait_ms"):
        out["wait_ms"] = m.wait_ms / targets["wait_ms"] - 1
    if targets.get("ttft_percentile"):
        q, ms = targets["ttft_percentile"]
        v = replica.ttft_quantile(rate, q, admission=admission)
        out["ttft_percentile"] = (v - ms) / (ms + scale)
    if targets.get("wait_percentile"):
        q, ms = targets["wait_percentile"]
        v = replica.wait_quantile(rate, q, admission=admission)
        out["wait_percentile"] = (v - ms) / (ms + scale)
    if targets.get("max_block"):
        out["max_block"] = m.p_block / targets["max_block"] - 1
    return out


def grid_below(rate: float, n: int = 24) -> np.ndarray:
    """Rates in (0, rate]: geometric from rate * 1e-6, linear, and just below rate."""
    return np.unique(np.concatenate([
        rate * np.geomspace(1e-6, 1, n // 3),
        rate * np.linspace(0, 1, n // 3 + 1)[1:],
        rate * (1 - np.geomspace(1e-8, 1e-2, n // 3)),
    ]))  # fmt: skip


def check_sized(replica: ip.Replica, res, targets: dict, admission=None, grid: int = 24) -> None:
    """Assert that an OK sizing result is certified and tight (see the module docstring)."""
    assert res.status == ip.Status.OK, res
    rate = res.rate
    assert math.isfinite(rate), res
    assert rate > 0, res
    for x in grid_below(rate, grid):
        e = excesses(replica, float(x), targets, admission, hold=True)
        worst = max(e, key=e.get)
        assert e[worst] <= HOLD_SLACK, (
            f"{worst} misses its target below the sized rate: at {x!r} (rate {rate!r}) "
            f"excess {e[worst]:.3g}"
        )
    cap = SATURATION_CAP * replica.max_rate * (TPS_CAP if targets.get("tps") else 1.0)
    if rate >= cap * (1 - 1e-12):
        assert res.binding in (None, "tps"), res
        return
    failing = set()
    for eps in ABOVE:
        e = excesses(replica, rate * (1 + eps), targets, admission)
        failing |= {k for k, v in e.items() if v > 1e-12}
        if failing:
            break
    assert res.binding in BINDING_NAMES
    if not failing:
        # A metric so flat in the rate that 1e-7 above it moves by less than its rounding:
        # the rate is tight when that metric sits at its target.
        at = excesses(replica, rate, targets, admission)
        assert at.get(res.binding, -1) >= -FLAT, (
            f"no target fails just above the sized rate {rate!r}: {res}"
        )
        return
    assert res.binding in failing, f"binding {res.binding} but {failing} fail just above"


def same_answer(replica, a, b, targets: dict, admission=None) -> bool:
    """Two OK results agree.

    The same rate to 1e-9, or (where the binding metric is so flat that rounding moves its
    root further) both rates put it at its target to FLAT. Under an admission rule the
    refined metrics of a near-idle replica come from 1 - p0, which keeps only about 8 digits
    when p0 is close to 1: there the rates agree to 1e-7.
    """
    if math.isclose(a.rate, b.rate, rel_tol=1e-9 if admission is None else 1e-7):
        return True
    return all(excesses(replica, r.rate, targets, admission).get(r.binding, -1) >= -FLAT
               for r in (a, b))  # fmt: skip

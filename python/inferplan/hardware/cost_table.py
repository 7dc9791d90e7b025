"""The hardware cost table (OASIS phase 1).

Every (model, accelerator or MIG slice, GPU clock, max batch, query class) with its max
serviceable rate under the SLOs, power, energy per token and cost per million tokens.

All rows are sized by ONE vectorised call of ``size_many`` (see :func:`_size_many`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import _lazy
from .power import energy_per_token_mj, power_at
from .specs import Accelerator, Profile, cost_per_million_tokens

__all__ = [
    "KIND_CODES",
    "Accelerator",
    "Profile",
    "QueryClass",
    "cost_table",
    "oasis_query_classes",
]
__dir__ = _lazy.public_dir(__name__)

KIND_CODES = {"DecodeOnly": 0, "PrefillDecode": 1}


def _size_many(**columns):
    """Size with one batch call (the single entry point to batch sizing)."""
    from ..batch import size_many

    return size_many(**columns)


@dataclass(frozen=True)
class QueryClass:
    """A request shape and its SLOs (ms; None = not set), e.g. OASIS's SISO/SILO/LISO/LILO."""

    name: str
    in_tokens: float
    out_tokens: float
    itl_ms: float | None = None
    ttft_ms: float | None = None


def oasis_query_classes(*, small=256, large=1024, threshold=500, itl_ms=None, ttft_ms=None):
    """OASIS's four query classes (threshold 500 tokens) with representative sizes."""
    if not (small <= threshold < large):
        raise ValueError("need small <= threshold < large")
    return [
        QueryClass(
            f"{'S' if i == small else 'L'}I{'S' if o == small else 'L'}O", i, o, itl_ms, ttft_ms
        )
        for i in (small, large)
        for o in (small, large)
    ]


def _records(items, cls):
    if hasattr(items, "to_dict"):
        items = [cls(**row) for row in items.to_dict("records")]
    out = list(items)
    for x in out:
        if not isinstance(x, cls):
            raise TypeError(f"expected {cls.__name__} items, got {type(x).__name__}")
    return out


def _resolve_frequencies(profiles, accs, frequencies_mhz):
    """Per (profile pair, clock): parameters scaled to the clock and the power factor."""
    pairs: dict[tuple[str, str], dict[float, Profile]] = {}
    for p in profiles:
        if p.accelerator not in accs:
            raise ValueError(f"Profile {p.model!r} names unknown accelerator {p.accelerator!r}")
        if p.kind not in KIND_CODES:
            raise ValueError(f"Profile {p.model!r}: kind must be one of {list(KIND_CODES)}")
        acc = accs[p.accelerator]
        f = acc.ref_mhz if p.frequency_mhz is None else float(p.frequency_mhz)
        pairs.setdefault((p.model, p.accelerator), {})[f] = p
    rows = []
    for (model, acc_name), measured in pairs.items():
        acc = accs[acc_name]
        wanted = sorted(measured) if frequencies_mhz is None else list(frequencies_mhz)
        for f in wanted:
            f = float(f)
            if f in measured:
                base, scale = measured[f], (1.0, 1.0, 1.0)
            else:
                fm = acc.frequency
                if fm is None:
                    raise ValueError(
                        f"no profile of {model!r} on {acc_name!r} at {f} MHz and the accelerator "
                        "has no frequency model to derive one"
                    )
                f0 = min(
                    measured, key=lambda g: abs(g - fm.ref_mhz) if not math.isnan(g) else math.inf
                )
                base = measured[f0]
                f0 = fm.ref_mhz if math.isnan(f0) else f0
                scale = tuple(
                    float(fm.time_scale(f, w) / fm.time_scale(f0, w))
                    for w in ("alpha", "beta", "gamma")
                )
            pf = 1.0
            if acc.frequency is not None and not math.isnan(f):
                pf = float(acc.frequency.power_scale(acc.power, f))
            rows.append((model, acc_name, f, base, scale, pf))
    return rows


def cost_table(
    profiles,
    accelerators,
    query_classes,
    *,
    batch_sizes,
    frequencies_mhz=None,
    max_queue=math.inf,
    price_per_kwh=0.0,
    grid_kg_per_kwh=0.0,
    threads=None,
):
    """Evaluate every (profile, clock, max batch, query class) combination.

    ``profiles``: :class:`Profile` items (or a DataFrame with their fields); a (model,
    accelerator) pair may be measured at several clocks. ``frequencies_mhz``: the clocks to
    tabulate for every pair (None: the measured ones); an unmeasured clock is derived from
    the measurement nearest the accelerator's reference clock by its
    :class:`FrequencyModel`. ``batch_sizes``: max batch sizes. Query classes carry the SLOs.

    Returns a pandas DataFrame, one row per combination, with ``rate`` (max serviceable
    rate, req/s, meeting all SLOs), ``feasible``, ``status``, ``binding``, ``max_rate``
    (saturation), ``throughput``, ``tokens_per_s`` (output tokens), ``utilization``,
    ``itl_ms``, ``ttft_ms``, ``power_w`` (the accelerator's share at that utilisation and
    clock), ``energy_per_token_mj``, ``cost_per_hour`` (rental plus electricity),
    ``cost_per_million_tokens`` and ``co2_g_per_million_tokens``.
    """
    import pandas as pd

    accs = {a.name: a for a in _records(accelerators, Accelerator)}
    profiles = _records(profiles, Profile)
    classes = _records(query_classes, QueryClass)
    if not profiles or not classes:
        raise ValueError("cost_table needs at least one profile and one query class")
    batches = np.asarray(batch_sizes).reshape(-1)
    if batches.size == 0 or np.any(batches < 1) or np.any(batches != np.round(batches)):
        raise ValueError(f"batch_sizes must be integers >= 1, got {batch_sizes!r}")
    batches = batches.astype(np.int64)
    resolved = _resolve_frequencies(profiles, accs, frequencies_mhz)

    npf, nb, nc = len(resolved), batches.size, len(classes)

    # Per (pair, clock) columns, then broadcast to (pair-clock, batch, class) in C order.
    def per_pf(values, dtype=float):
        return np.asarray(values, dtype=dtype)[:, None, None]

    base = [r[3] for r in resolved]
    acc_of = [accs[r[1]] for r in resolved]
    kind = per_pf([KIND_CODES[b.kind] for b in base], np.int32)
    alpha = per_pf([b.alpha * r[4][0] for b, r in zip(base, resolved, strict=False)])
    beta = per_pf([b.beta * r[4][1] for b, r in zip(base, resolved, strict=False)])
    gamma = per_pf([b.gamma * r[4][2] for b, r in zip(base, resolved, strict=False)])
    mnt = per_pf([b.max_num_tokens for b in base])
    in_tok = np.asarray([q.in_tokens for q in classes], dtype=float)[None, None, :]
    out_tok = np.asarray([q.out_tokens for q in classes], dtype=float)[None, None, :]
    itl = np.asarray([q.itl_ms or 0.0 for q in classes], dtype=float)[None, None, :]
    ttft = np.asarray([q.ttft_ms or 0.0 for q in classes], dtype=float)[None, None, :]
    nbatch = batches[None, :, None]
    shape = (npf, nb, nc)

    def full(x):
        return np.broadcast_to(x, shape).reshape(-1)

    sized = _size_many(
        kind=full(kind),
        alpha=full(alpha),
        beta=full(beta),
        gamma=full(gamma),
        in_tokens=full(in_tok),
        out_tokens=full(out_tok),
        max_num_tokens=full(mnt),
        max_batch=full(nbatch),
        max_queue=max_queue,
        itl_ms=full(itl),
        ttft_ms=full(ttft),
        threads=threads,
    )
    status = np.asarray(sized["status"])
    feasible = status == 0
    util = np.where(feasible, sized["utilization"], 0.0)
    share = per_pf([a.share for a in acc_of])
    curve = {
        k: per_pf([getattr(a.power, k) for a in acc_of])
        for k in ("idle_w", "mid_w", "mid_util", "full_w")
    }
    power = full(share) * power_at(
        util,
        **{k: full(v) for k, v in curve.items()},
        dynamic_scale=full(per_pf([r[5] for r in resolved])),
    )
    tokens = np.where(feasible, sized["throughput"], 0.0) * full(out_tok)
    energy = energy_per_token_mj(power, tokens)
    rent = full(share * per_pf([a.cost_per_hour for a in acc_of]))
    cost_hour = rent + power / 1000.0 * float(price_per_kwh)
    per_mtok = cost_per_million_tokens(cost_hour, tokens)
    # g per million tokens = mJ/token / 3.6e9 (kWh) * kg/kWh * 1e3 (g) * 1e6 (tokens)
    co2_g_per_mtok = energy * float(grid_kg_per_kwh) / 3.6

    pf_i, b_i, c_i = (i.reshape(-1) for i in np.indices(shape))
    table = pd.DataFrame(
        {
            "model": _categorical([r[0] for r in resolved], pf_i),
            "accelerator": _categorical([r[1] for r in resolved], pf_i),
            "frequency_mhz": np.asarray([r[2] for r in resolved])[pf_i],
            "max_batch": batches[b_i],
            "query_class": _categorical([q.name for q in classes], c_i),
            "kind": full(kind),
            "alpha": full(alpha),
            "beta": full(beta),
            "gamma": full(gamma),
            "in_tokens": full(in_tok),
            "out_tokens": full(out_tok),
            "feasible": feasible,
            "status": status,
            "binding": np.asarray(sized["binding"]),
            "rate": np.asarray(sized["rate"]),
            "max_rate": np.asarray(sized["max_rate"]),
            "throughput": np.asarray(sized["throughput"]),
            "tokens_per_s": tokens,
            "utilization": np.asarray(sized["utilization"]),
            "itl_ms": np.asarray(sized["itl_ms"]),
            "ttft_ms": np.asarray(sized["ttft_ms"]),
            "power_w": power,
            "energy_per_token_mj": energy,
            "cost_per_hour": cost_hour,
            "cost_per_million_tokens": per_mtok,
            "co2_g_per_million_tokens": co2_g_per_mtok,
        }
    )
    return table


def _categorical(names, codes):
    """Column of ``names[codes]`` stored as a pandas Categorical (cheap for 1e6 rows)."""
    import pandas as pd

    cats = list(dict.fromkeys(names))
    lookup = np.asarray([cats.index(n) for n in names], dtype=np.int32)
    return pd.Categorical.from_codes(lookup[codes], categories=cats)

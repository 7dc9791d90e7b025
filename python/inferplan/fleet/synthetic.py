"""Seeded synthetic fleets for benchmarks and experiments.

Any number of servers, accelerators and models, with capacity tight enough that some servers
must take their second choice.
"""

from __future__ import annotations

import numpy as np

from .. import _lazy
from ..hardware.specs import Accelerator, PowerCurve, Profile
from .candidates import build_candidates
from .data import Load, OptimizerSettings, Server, ServiceClass, System, Target

__all__ = [
    "synthetic_system",
]
__dir__ = _lazy.public_dir(__name__)


def synthetic_system(
    servers: int = 3000,
    accelerators: int = 20,
    models: int = 40,
    tight: float = 0.8,
    spare: float = 0.5,
    seed: int = 0,
) -> System:
    """Return a seeded synthetic system whose card capacity is tight.

    ``accelerators`` kinds over half as many card types, every model on every accelerator.
    Each type holds ``tight`` x the cards of everyone's cheapest choice on it plus ``spare``
    x the mean of those needs, so some servers must take a second choice.
    """
    rng = np.random.default_rng(seed)
    types = [f"T{i}" for i in range(max(accelerators // 2, 1))]
    accs = []
    for a in range(accelerators):
        mult = int(rng.choice([1, 2, 4]))
        accs.append(
            Accelerator(
                f"A{a}",
                PowerCurve(50, 250, 0.6, 350),
                float(rng.uniform(2, 60)) * mult,
                type=types[a % len(types)],
                multiplicity=mult,
            )
        )
    profiles = []
    for m in range(models):
        size = rng.uniform(0.5, 8)
        for acc in accs:
            speed = rng.uniform(0.5, 4) * acc.multiplicity**0.7
            profiles.append(
                Profile(
                    f"M{m}",
                    acc.name,
                    alpha=float(10 * size / speed),
                    beta=float(0.02 * size / speed),
                    gamma=float(6e-4 * size / speed),
                    acc_count=int(rng.choice([1, 1, 2])),
                    max_batch_size=int(rng.integers(8, 128)),
                    at_tokens=512,
                )
            )
    classes = tuple(
        ServiceClass(
            f"C{p}",
            p,
            {
                f"M{m}": Target(itl_ms=40.0 * p * (1 + m % 3), ttft_ms=1000.0 * p)
                for m in range(models)
            },
        )
        for p in (1, 2, 3)
    )
    srvs = tuple(
        Server(
            f"S{i}",
            f"C{int(rng.integers(1, 4))}",
            f"M{int(rng.integers(models))}",
            load=Load.from_per_minute(
                float(rng.choice([30, 60, 120, 240, 600])),
                in_tokens=float(rng.choice([128, 512, 2048])),
                out_tokens=float(rng.choice([128, 512, 1024])),
            ),
        )
        for i in range(servers)
    )
    system = System(
        tuple(accs),
        {t: 10**9 for t in types},
        tuple(profiles),
        classes,
        srvs,
        OptimizerSettings(saturation_policy="PriorityExhaustive"),
    )
    # capacity: a fraction of what the unconstrained cheapest choices use
    c = build_candidates(system)
    need: dict[str, int] = {}
    for s in range(c.num_servers):
        rows = c.of(s)
        if rows:
            r = rows[0]
            need[c.acc_type[r]] = need.get(c.acc_type[r], 0) + int(c.units[r] * c.replicas[r])
    mean = sum(need.values()) / len(types)
    return system.with_capacity({t: int(tight * need.get(t, 0) + spare * mean) for t in types})

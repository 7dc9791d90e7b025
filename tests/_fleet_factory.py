"""Small random fleet systems for the allocation tests (seeded, built with the dataclass API)."""

from __future__ import annotations

import numpy as np

from inferplan.fleet import (
    Accelerator,
    CurrentAllocation,
    Load,
    ModelProfile,
    OptimizerSettings,
    PowerCurve,
    Server,
    ServiceClass,
    System,
    Target,
)


def random_system(
    seed: int,
    *,
    servers: int = 4,
    accelerators: int = 3,
    tight: float = 0.5,
    policy: str = "None",
    current: bool = False,
) -> System:
    """Return a random g3 system with capacity ``tight`` x the cheapest need.

    Its capacity is ``tight`` x what the cheapest choices would need.
    """
    rng = np.random.default_rng(seed)
    accs = []
    for a in range(accelerators):
        mult = int(rng.choice([1, 1, 2]))
        accs.append(
            Accelerator(
                name=f"acc{a}",
                type=f"t{a % max(accelerators - 1, 1)}",
                cost_per_hour=float(rng.integers(1, 40)) * mult,
                multiplicity=mult,
                power=PowerCurve(idle_w=20, mid_w=60, mid_util=0.6, full_w=80),
            )
        )
    models = [f"m{k}" for k in range(2)]
    profiles = []
    for m in models:
        for a in accs:
            if rng.random() < 0.85:
                speed = rng.uniform(0.3, 3.0)
                profiles.append(
                    ModelProfile(
                        model=m,
                        accelerator=a.name,
                        alpha=float(20 / speed),
                        beta=float(0.04 / speed),
                        gamma=float(0.001 / speed),
                        acc_count=int(rng.integers(1, 3)),
                        max_batch_size=int(rng.integers(8, 64)),
                        at_tokens=512,
                    )
                )
    classes = (
        ServiceClass(
            "gold",
            1,
            {
                m: Target(itl_ms=float(rng.uniform(30, 90)), ttft_ms=float(rng.uniform(500, 2000)))
                for m in models
            },
        ),
        ServiceClass(
            "bronze",
            2,
            {
                m: Target(
                    itl_ms=float(rng.uniform(60, 200)), ttft_ms=float(rng.uniform(1000, 4000))
                )
                for m in models
            },
        ),
    )
    srvs = []
    for i in range(servers):
        cur = CurrentAllocation()
        if current and rng.random() < 0.5:
            a = accs[int(rng.integers(len(accs)))]
            n = int(rng.integers(1, 4))
            cur = CurrentAllocation(accelerator=a.name, num_replicas=n, cost=a.cost_per_hour * n)
        srvs.append(
            Server(
                name=f"s{i}",
                service_class=str(rng.choice(["gold", "bronze"])),
                model=str(rng.choice(models)),
                load=Load.from_per_minute(
                    float(rng.choice([0.0, rng.uniform(5, 400)], p=[0.1, 0.9])),
                    in_tokens=float(rng.integers(64, 1024)),
                    out_tokens=float(rng.integers(64, 1024)),
                ),
                current=cur,
                min_replicas=int(rng.choice([0, 0, 1, 2])),
            )
        )
    types = sorted({a.type for a in accs})
    cap = {t: int(rng.integers(0, 40 * tight + 2)) for t in types}
    return System(
        accelerators=tuple(accs),
        capacity=cap,
        profiles=tuple(profiles),
        classes=classes,
        servers=tuple(srvs),
        settings=OptimizerSettings(saturation_policy=policy),
    )

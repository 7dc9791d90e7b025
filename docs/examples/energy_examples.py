"""Reproduce the OASIS energy figures with inferplan's models (run: python energy_examples.py).

Source of the published figures: V. Mittal et al., "OASIS: Optimal Allocation Strategy for
Inference Services in Cloud Environments" (as summarised in /work/shared/seeds). The INPUTS
below (profiles, power curves, loads, prices) are illustrative values chosen so that the
models reproduce the published totals; they are not OASIS's measurements. See
docs/energy.md for the reasoning behind each one.
"""

from __future__ import annotations

import inferplan
from inferplan.hardware import FrequencyModel, PowerCurve, energy_per_token_mj, savings
from inferplan.hardware.mig import mig_card_power_w, pack, profile

# --- 1. GPU clock: A100 at 1320 MHz vs 855 MHz, saturated decode ------------------------
FREQ_CARD_POWER = PowerCurve(idle_w=60.0, mid_w=180.0, mid_util=0.5, full_w=239.4)
FREQ_MODEL = FrequencyModel(ref_mhz=1320, compute_fraction=0.148, static_w=77.1, exponent=2)
FREQ_PROFILE = inferplan.DecodeOnly(alpha=15.0, beta=0.6245, out_tokens=256)
FREQ_MAX_BATCH = 32


def frequency_example(freqs_mhz=(1320, 855)) -> dict[float, dict[str, float]]:
    """Power, token throughput and energy per token of a saturated replica per clock."""
    out = {}
    for f in freqs_mhz:
        model = FREQ_MODEL.scale_model(FREQ_PROFILE, f)
        replica = inferplan.Replica(model, FREQ_MAX_BATCH)
        tokens_per_s = replica.max_rate * model.out_tokens
        power_w = float(FREQ_MODEL.scale_curve(FREQ_CARD_POWER, f)(1.0))
        out[float(f)] = {
            "power_w": power_w,
            "tokens_per_s": tokens_per_s,
            "energy_per_token_mj": float(energy_per_token_mj(power_w, tokens_per_s)),
            "itl_ms": model.alpha + model.beta * FREQ_MAX_BATCH,
        }
    return out


# --- 2. MIG: Llama3-8B and Qwen-7B, LISO, two full A100s vs two 3g.40gb slices -----------
MIG_CARD = "A100-80GB"
MIG_CARD_POWER = PowerCurve(idle_w=60.0, mid_w=250.0, mid_util=0.5, full_w=344.3)
LISO_IN, LISO_OUT, MAX_BATCH = 1024, 384, 64
MIG_SLO = {"itl_ms": 50.0, "ttft_ms": 2000.0}
MIG_SERVERS = {
    # name: (load req/s, full-card (alpha, beta, gamma), 3g.40gb slice (alpha, beta, gamma))
    "Llama3-8B": (3.69, (15.0, 0.01, 1.250e-4), (17.0, 0.02, 2.250e-4)),
    "Qwen-7B": (3.17, (16.0, 0.01, 1.822e-4), (18.0, 0.02, 3.280e-4)),
}


def _serve(params, load):
    model = inferplan.PrefillDecode(*params, LISO_IN, LISO_OUT)
    metrics = inferplan.Replica(model, MAX_BATCH).analyze(load)
    sized = _size(params)
    return metrics, sized


def _size(params):
    from inferplan.hardware.cost_table import _size_many

    return _size_many(
        kind=1,
        alpha=params[0],
        beta=params[1],
        gamma=params[2],
        in_tokens=LISO_IN,
        out_tokens=LISO_OUT,
        max_batch=MAX_BATCH,
        **MIG_SLO,
    )


def mig_example() -> dict[str, object]:
    """Power of each layout at the same loads, and whether every server meets its SLOs."""
    full, mig = {}, {}
    for name, (load, full_params, slice_params) in MIG_SERVERS.items():
        m, s = _serve(full_params, load)
        full[name] = {
            "utilization": m.utilization,
            "power_w": float(MIG_CARD_POWER(m.utilization)),
            "itl_ms": m.itl_ms,
            "ttft_ms": m.ttft_ms,
            "response_ms": m.response_ms,
            "max_slo_rate": float(s["rate"][0]),
            "meets_slo": bool(s["rate"][0] >= load),
        }
        m, s = _serve(slice_params, load)
        mig[name] = {
            "utilization": m.utilization,
            "itl_ms": m.itl_ms,
            "ttft_ms": m.ttft_ms,
            "response_ms": m.response_ms,
            "max_slo_rate": float(s["rate"][0]),
            "meets_slo": bool(s["rate"][0] >= load),
        }
    layout = pack(MIG_CARD, {"3g.40gb": len(MIG_SERVERS)})
    share = profile(MIG_CARD, "3g.40gb").power_share
    mig_power = mig_card_power_w(
        MIG_CARD_POWER.idle_w,
        [float(MIG_CARD_POWER(v["utilization"])) for v in mig.values()],
        [share] * len(mig),
    )
    return {
        "full": full,
        "full_power_w": sum(v["power_w"] for v in full.values()),
        "mig": mig,
        "mig_cards": layout.num_cards,
        "mig_layout": layout.cards,
        "mig_power_w": mig_power,
    }


# --- 3. Campus: 12.4 % less power, per day ------------------------------------------------
CAMPUS = {
    "before_w": 188.2,
    "after_w": 164.9,
    "units": 159,
    "price_per_kwh": 0.12,
    "grid_kg_per_kwh": 0.391,
}


def campus_example():
    """Daily money and CO2 saved by the campus fleet (:func:`inferplan.hardware.savings`)."""
    c = dict(CAMPUS)
    return savings(c.pop("before_w"), c.pop("after_w"), **c)


def main() -> None:
    """Print the examples' tables."""
    f = frequency_example()
    hi, lo = f[1320.0], f[855.0]
    print("clock     power_W  tokens/s  mJ/token")
    for mhz, r in f.items():
        print(
            f"{mhz:6.0f}  {r['power_w']:8.1f}  {r['tokens_per_s']:8.1f}  "
            f"{r['energy_per_token_mj']:8.1f}"
        )
    print(
        f"throughput loss {100 * (1 - lo['tokens_per_s'] / hi['tokens_per_s']):.1f} %, "
        f"energy per token "
        f"{100 * (1 - lo['energy_per_token_mj'] / hi['energy_per_token_mj']):.0f} % lower"
    )
    m = mig_example()
    parts = " + ".join(f"{v['power_w']:.0f} W {k}" for k, v in m["full"].items())
    print(f"two full GPUs: {m['full_power_w']:.0f} W ({parts})")
    print(f"MIG, {m['mig_cards']} card {m['mig_layout']}: {m['mig_power_w']:.0f} W")
    for layout in ("full", "mig"):
        for k, v in m[layout].items():
            print(
                f"  {layout:4s} {k:9s} util {v['utilization']:.2f} ITL {v['itl_ms']:.1f} ms "
                f"TTFT {v['ttft_ms']:.0f} ms response {v['response_ms'] / 1000:.1f} s "
                f"SLO rate {v['max_slo_rate']:.2f} req/s meets SLO: {v['meets_slo']}"
            )
    s = campus_example()
    print(
        f"campus: {100 * s.reduction:.1f} % less power, ${s.cost_per_day:.2f}/day, "
        f"{s.co2_kg_per_day:.1f} kg CO2/day"
    )


if __name__ == "__main__":
    main()

"""Hardware profiles and energy: fitting, GPU clocks, MIG partitions, power, cost, CO2.

This package owns the hardware vocabulary the whole of inferplan uses
(:mod:`inferplan.hardware.specs`): :class:`Accelerator`, :class:`PowerCurve`,
:class:`Profile` and :func:`cost_per_million_tokens`; ``inferplan.fleet`` reads and writes
the reference JSON into these types.
"""

from .. import _lazy

# Imported on first use (the fits need SciPy); ``inferplan profile`` builds its parser from
# .cli alone.
__getattr__, __dir__ = _lazy.attach(
    __name__,
    {
        "Accelerator": ".specs",
        "Profile": ".specs",
        "PowerCurve": ".specs",
        "cost_per_million_tokens": ".specs",
        "QueryClass": ".cost_table",
        "FitResult": ".fit",
        "fit_by_frequency": ".fit",
        "fit_decode_only": ".fit",
        "fit_prefill_decode": ".fit",
        "FrequencyModel": ".frequency",
        "fit_power_frequency": ".frequency",
        "MIG_CATALOGUE": ".mig:CATALOGUE",
        "MigProfile": ".mig",
        "Packing": ".mig",
        "is_valid_layout": ".mig",
        "pack": ".mig",
        "valid_layouts": ".mig",
        "Savings": ".power",
        "co2_kg_per_day": ".power",
        "cost_per_day": ".power",
        "energy_per_token_mj": ".power",
        "energy_value": ".power",
        "fleet_power_w": ".power",
        "power_at": ".power",
        "savings": ".power",
    },
    # the function shadows its module: ``inferplan.hardware.cost_table(...)``
    shadowed={"cost_table": ".cost_table"},
)

__all__ = [
    "MIG_CATALOGUE",
    "Accelerator",
    "FitResult",
    "FrequencyModel",
    "MigProfile",
    "Packing",
    "PowerCurve",
    "Profile",
    "QueryClass",
    "Savings",
    "co2_kg_per_day",
    "cost_per_day",
    "cost_per_million_tokens",
    "cost_table",
    "energy_per_token_mj",
    "energy_value",
    "fit_by_frequency",
    "fit_decode_only",
    "fit_power_frequency",
    "fit_prefill_decode",
    "fleet_power_w",
    "is_valid_layout",
    "pack",
    "power_at",
    "savings",
    "valid_layouts",
]

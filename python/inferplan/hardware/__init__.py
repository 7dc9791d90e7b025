"""Hardware profiles and energy: fitting, GPU clocks, MIG partitions, power, cost, CO2."""

from .. import _lazy

# Imported on first use (the fits need SciPy); ``inferplan profile`` builds its parser from
# .cli alone.
__getattr__, __dir__ = _lazy.attach(
    __name__,
    {
        "Accelerator": ".cost_table",
        "Profile": ".cost_table",
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
        "PowerCurve": ".power",
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
    "Accelerator",
    "FitResult",
    "FrequencyModel",
    "MIG_CATALOGUE",
    "MigProfile",
    "Packing",
    "PowerCurve",
    "Profile",
    "QueryClass",
    "Savings",
    "co2_kg_per_day",
    "cost_per_day",
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

"""Hardware profiles and energy: fitting, GPU clocks, MIG partitions, power, cost, CO2."""

from .cost_table import Accelerator, Profile, QueryClass, cost_table
from .fit import FitResult, fit_by_frequency, fit_decode_only, fit_prefill_decode
from .frequency import FrequencyModel, fit_power_frequency
from .mig import CATALOGUE as MIG_CATALOGUE
from .mig import MigProfile, Packing, is_valid_layout, pack, valid_layouts
from .power import (
    PowerCurve,
    Savings,
    co2_kg_per_day,
    cost_per_day,
    energy_per_token_mj,
    energy_value,
    fleet_power_w,
    power_at,
    savings,
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

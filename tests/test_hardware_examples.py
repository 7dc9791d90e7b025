"""The OASIS figures, reproduced from the documented inputs of docs/examples/energy_examples.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "energy_examples.py"


@pytest.fixture(scope="module")
def ex():
    spec = importlib.util.spec_from_file_location("energy_examples", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_frequency_figures(ex):
    f = ex.frequency_example()
    hi, lo = f[1320.0], f[855.0]
    assert round(hi["power_w"], 1) == 239.4
    assert round(lo["power_w"], 1) == 145.2
    assert round(hi["energy_per_token_mj"], 1) == 261.7
    assert round(lo["energy_per_token_mj"], 1) == 171.5
    loss = 1 - lo["tokens_per_s"] / hi["tokens_per_s"]
    assert 0.065 < loss < 0.08  # "about 7 %"
    assert round(1 - lo["energy_per_token_mj"] / hi["energy_per_token_mj"], 2) == 0.34


def test_mig_figures(ex):
    m = ex.mig_example()
    assert [round(v["power_w"]) for v in m["full"].values()] == [235, 232]
    assert round(m["full_power_w"]) == 467
    assert round(m["mig_power_w"]) == 270
    assert m["mig_cards"] == 1
    assert all(v["meets_slo"] for layout in ("full", "mig") for v in m[layout].values())
    assert all(v["response_ms"] < 20_000 for v in m["mig"].values())


def test_campus_figures(ex):
    s = ex.campus_example()
    assert round(100 * s.reduction, 1) == 12.4
    assert round(s.cost_per_day, 2) == 10.67
    assert round(s.co2_kg_per_day, 1) == 34.8


def test_example_script_runs(ex, capsys):
    ex.main()
    out = capsys.readouterr().out
    assert "467 W" in out
    assert "270 W" in out
    assert "$10.67/day" in out

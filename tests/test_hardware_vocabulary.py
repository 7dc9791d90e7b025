"""One hardware vocabulary (inferplan.hardware.specs) for the cost table, fleet and runtime.

The fleet's names are the same types, its loader maps the reference JSON into them
and writes it back unchanged, and the former spellings still work with a DeprecationWarning.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import inferplan
from inferplan import fleet, hardware
from inferplan.fleet import DataError, Load, load_system

REFERENCE = Path(__file__).parent / "data" / "reference" / "inferno"
DIRS = [REFERENCE / g / size for g in ("g1", "g3") for size in ("small", "large")]


def _lower(x):
    """Keys lower-cased at every level (the reference matches keys case-insensitively)."""
    if isinstance(x, dict):
        return {k.lower(): _lower(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_lower(v) for v in x]
    return x


def test_the_fleet_names_are_the_hardware_types():
    assert fleet.Accelerator is hardware.Accelerator
    assert fleet.PowerCurve is hardware.PowerCurve
    assert fleet.ModelProfile is hardware.Profile is fleet.Profile
    system = load_system(REFERENCE / "g3" / "small")
    assert all(type(a) is hardware.Accelerator for a in system.accelerators)
    assert all(type(a.power) is hardware.PowerCurve for a in system.accelerators)
    assert all(type(p) is hardware.Profile for p in system.profiles)


@pytest.mark.parametrize("path", DIRS, ids=lambda p: f"{p.parent.name}-{p.name}")
def test_reference_files_round_trip(path):
    """Accelerator-, capacity- and model-data.json written back equal the files.

    Keys are compared case-insensitively, numbers by value; the servers' per-minute rates too.
    """
    system = load_system(path)
    doc = fleet.system_to_dict(system)["system"]
    accs = json.loads((path / "accelerator-data.json").read_text())["accelerators"]
    assert _lower(doc["acceleratorData"]["accelerators"]) == _lower(accs)
    models = json.loads((path / "model-data.json").read_text())["models"]
    assert _lower(doc["modelData"]["models"]) == _lower(models)
    count = json.loads((path / "capacity-data.json").read_text())["count"]
    assert doc["capacityData"]["count"] == count
    servers = json.loads((path / "server-data.json").read_text())["servers"]
    want = {s["name"]: _lower(s["currentAlloc"]["load"]) for s in servers}
    got = {s["name"]: _lower(s["currentAlloc"]["load"]) for s in doc["serverData"]["servers"]}
    assert got == want
    # the whole document reads back into an equal system, through JSON text
    again = fleet.system_from_dict(json.loads(json.dumps({"system": doc})))
    assert again.accelerators == system.accelerators
    assert again.profiles == system.profiles
    assert again.servers == system.servers
    assert again.classes == system.classes
    assert again.capacity == system.capacity
    assert again.settings == system.settings
    assert again.rules == system.rules


def test_loader_maps_fields_and_units():
    system = load_system(REFERENCE / "g3" / "small")
    raw = json.loads((REFERENCE / "g3" / "small" / "accelerator-data.json").read_text())
    first = raw["accelerators"][0]
    acc = system.accelerators[0]
    assert acc.name == first["name"]
    assert acc.cost_per_hour == first["cost"]
    assert acc.mem_size_gb == first["memSize"]
    assert acc.mem_bw_gbps == first["memBW"]
    assert (acc.power.idle_w, acc.power.mid_w, acc.power.mid_util, acc.power.full_w) == (
        first["power"]["idle"],
        first["power"]["midPower"],
        first["power"]["midUtil"],
        first["power"]["full"],
    )
    servers = json.loads((REFERENCE / "g3" / "small" / "server-data.json").read_text())
    for srv, raw_srv in zip(system.servers, servers["servers"], strict=True):
        per_min = raw_srv["currentAlloc"]["load"]["arrivalRate"]
        assert srv.load.rate_per_s == per_min / 60.0
        assert srv.load.rate_per_min == per_min
    g1 = load_system(REFERENCE / "g1" / "small")
    assert {p.kind for p in g1.profiles} == {"DecodeOnly"}
    assert {p.kind for p in system.profiles} == {"PrefillDecode"}


@pytest.mark.parametrize("path", DIRS, ids=lambda p: f"{p.parent.name}-{p.name}")
def test_loader_fast_path_gives_what_the_constructors_give(path):
    """The loader's unchecked objects are the very objects the constructors give.

    The loader builds them without running the constructors' checks again (it has checked
    every field).
    """
    from dataclasses import asdict

    system = load_system(path)
    for a in system.accelerators:
        p = a.power
        curve = hardware.PowerCurve(p.idle_w, p.mid_w, p.mid_util, p.full_w)
        built = hardware.Accelerator(
            a.name, curve, a.cost_per_hour, type=a.type, multiplicity=a.multiplicity,
            mem_size_gb=a.mem_size_gb, mem_bw_gbps=a.mem_bw_gbps,
        )  # fmt: skip
        assert built == a
        assert vars(built) == vars(a)
        assert vars(curve) == vars(p)
        assert [type(v) for v in vars(built).values()] == [type(v) for v in vars(a).values()]
    for prof in system.profiles:
        built = hardware.Profile(**asdict(prof))
        assert built == prof
        assert vars(built) == vars(prof)
    for srv in system.servers:
        ld = srv.load
        built = Load.from_per_minute(ld.rate_per_min, ld.in_tokens, ld.out_tokens,
                                     ld.arrival_cov, ld.service_cov)  # fmt: skip
        assert built == ld
        assert vars(built) == vars(ld)
        assert Load(rate_per_s=ld.rate_per_s, in_tokens=ld.in_tokens, out_tokens=ld.out_tokens,
                    arrival_cov=ld.arrival_cov, service_cov=ld.service_cov) == ld  # fmt: skip


def test_rate_per_min_is_exact_where_times_60_is_not():
    per_min = 31.0  # 31 / 60 * 60 == 30.999999999999996 in binary floating point
    assert per_min / 60.0 * 60.0 != per_min
    load = Load.from_per_minute(per_min, in_tokens=10, out_tokens=20)
    assert load.rate_per_s == per_min / 60.0
    assert load.rate_per_min == per_min
    assert load == Load(rate_per_s=per_min / 60.0, in_tokens=10, out_tokens=20)
    # a load built per second (or changed) gives rate x 60
    assert Load(rate_per_s=2.0).rate_per_min == 120.0
    from dataclasses import replace

    assert replace(load, rate_per_s=1.0).rate_per_min == 60.0


def test_deprecated_load_spellings_keep_their_per_minute_meaning():
    with pytest.warns(DeprecationWarning, match="per minute"):
        old = Load(60, 128, 1024)
    assert old == Load(rate_per_s=1.0, in_tokens=128, out_tokens=1024)
    with pytest.warns(DeprecationWarning, match="arrival_rate"):
        kw = Load(arrival_rate=90.0, in_tokens=1.0, out_tokens=2.0)
    assert kw.rate_per_s == 1.5
    with pytest.warns(DeprecationWarning, match="rate_per_s"):
        assert kw.arrival_rate == 90.0
    with pytest.raises(TypeError, match="at most 5"):
        Load(1, 2, 3, 4, 5, 6)


def test_deprecated_power_curve_and_accelerator_spellings():
    new = hardware.PowerCurve(idle_w=25, mid_w=65, mid_util=0.6, full_w=75)
    with pytest.warns(DeprecationWarning, match="idle_w"):
        old = hardware.PowerCurve(idle=25, mid_power=65, mid_util=0.6, full=75)
    assert old == new
    for name, want in (("idle", 25.0), ("mid_power", 65.0), ("full", 75.0)):
        with pytest.warns(DeprecationWarning, match=name):
            assert getattr(new, name) == want
    acc = hardware.Accelerator("A", new, 6.0, type="T", multiplicity=2, mem_size_gb=24)
    with pytest.warns(DeprecationWarning, match="cost_per_hour"):
        assert hardware.Accelerator("A", new, type="T", multiplicity=2, mem_size_gb=24,
                                    cost=6.0) == acc  # fmt: skip
    with pytest.warns(DeprecationWarning, match="cost_per_hour"):
        assert acc.cost == 6.0
    # the fleet's former positional order (name, type, cost, multiplicity, power, memSize)
    with pytest.warns(DeprecationWarning, match="type="):
        assert fleet.Accelerator("A", "T", 6.0, 2, new, 24) == acc


def test_power_curve_matches_the_fleet_formula_bit_for_bit():
    """PowerCurve.at is the fleet's scalar formula; the candidates' vectorised one equals it."""
    from inferplan.fleet.candidates import _power_curve

    system = load_system(REFERENCE / "g3" / "large")
    u = np.linspace(-0.2, 1.2, 57)
    for i, acc in enumerate(system.accelerators):
        vec = _power_curve(system.accelerators, np.full(u.size, i), u)
        assert vec.tolist() == [acc.power.at(x) for x in u]
        assert np.allclose(acc.power(u), vec, rtol=1e-12, atol=0)


def test_bad_vocabulary_is_named():
    with pytest.raises(ValueError, match="mid_util"):
        hardware.PowerCurve(1, 2, 1.0, 3)
    with pytest.raises(ValueError, match="idle_w <= mid_w <= full_w"):
        hardware.PowerCurve(60, 400, 0.5, 300)
    with pytest.raises(TypeError, match="idle_watts"):
        hardware.PowerCurve(idle_watts=60)
    with pytest.raises(ValueError, match="cost_per_hour"):
        hardware.Accelerator("A", hardware.PowerCurve(), math.nan)
    with pytest.raises(ValueError, match="multiplicity"):
        hardware.Accelerator("A", multiplicity=0)
    with pytest.raises(TypeError, match="power must be a PowerCurve"):
        hardware.Accelerator("A", power={"idle_w": 1})


def test_loader_names_a_falling_power_curve(tmp_path):
    doc = json.loads((REFERENCE / "g3" / "small" / "system-data.json").read_text())
    doc["system"]["acceleratorData"]["accelerators"][1]["power"]["midPower"] = 999
    path = tmp_path / "system-data.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"accelerators\[1\].*'power'.*midPower.*999"):
        load_system(path)


def test_cost_per_million_tokens_is_one_function():
    f = hardware.cost_per_million_tokens
    got = f([3.6, 2.0, 1.0, 1.0], [1000.0, 0.0, -1.0, math.nan])
    assert got[0] == pytest.approx(1.0)
    assert math.isinf(got[1])
    assert math.isinf(got[2])
    assert math.isnan(got[3])
    # the cost table's column is that function of its cost per hour and token rate
    curve = hardware.PowerCurve(60, 250, 0.5, 344.3)
    table = hardware.cost_table(
        [hardware.Profile("m", "A100", 15.0, 0.2)],
        [hardware.Accelerator("A100", curve, 2.0)],
        [hardware.QueryClass("q", 256, 256, itl_ms=60.0)],
        batch_sizes=[8, 64],
        price_per_kwh=0.12,
    )
    want = table.cost_per_hour / (table.tokens_per_s * 3600.0) * 1e6
    assert table.cost_per_million_tokens.tolist() == want.tolist()


def test_runtime_builds_the_shared_types():
    """The runtime's window systems hold the shared types at the window's rate per second.

    They are built without deprecated names.
    """
    from inferplan import runtime
    from inferplan.runtime import provision
    from inferplan.runtime.catalog import build_options, campus_hardware

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        opts = build_options(campus_hardware(), runtime.oasis_classes(500), [(256.0, 512.0)] * 4)
        cat = provision.fleet_catalog(opts)
        target = np.array([0.5, 1.0, 2.0, 31 / 60])
        system = provision.window_system(cat, opts, target, np.zeros(4, int))
    assert all(type(a) is inferplan.hardware.Accelerator for a in cat.accelerators)
    assert all(type(p) is inferplan.hardware.Profile for p in cat.profiles)
    assert [s.load.rate_per_s for s in system.servers] == target.tolist()

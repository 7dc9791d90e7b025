"""Hardware profiles and energy: fitting, clocks, MIG layouts, power, cost table."""

from __future__ import annotations

import math
import sys
from fractions import Fraction

import numpy as np
import pytest

import inferplan
from inferplan.hardware import (
    Accelerator,
    FrequencyModel,
    PowerCurve,
    Profile,
    QueryClass,
    cost_table,
    energy_per_token_mj,
    energy_value,
    fit_by_frequency,
    fit_decode_only,
    fit_power_frequency,
    fit_prefill_decode,
    is_valid_layout,
    pack,
    valid_layouts,
)
from inferplan.hardware.fit import prefill_decode_design
from inferplan.hardware.mig import CATALOGUE, mig_card_power_w

pd = pytest.importorskip("pandas")


# ---------------------------------------------------------------- fitting
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_decode_only_fit_recovers_parameters_within_ci(seed):
    rng = np.random.default_rng(seed)
    b = np.repeat(np.arange(1, 129, 4), 3).astype(float)
    y = 12.5 + 0.31 * b + rng.normal(0.0, 0.3, b.size)
    fit = fit_decode_only(pd.DataFrame({"batch_size": b, "itl_ms": y}), confidence=0.99)
    for name, true in (("alpha", 12.5), ("beta", 0.31)):
        lo, hi = fit.interval(name)
        assert lo <= true <= hi, (name, lo, hi)
    assert fit.residuals_ms.shape == b.shape
    assert fit.r_squared > 0.99
    assert isinstance(fit.model(out_tokens=128), inferplan.DecodeOnly)


def test_prefill_decode_fit_recovers_parameters_within_ci(tmp_path):
    rng = np.random.default_rng(7)
    b = np.tile(np.arange(1, 65), 3).astype(float)
    L = np.repeat([128.0, 1024.0, 4096.0], 64)
    m = np.repeat([256.0, 64.0, 512.0], 64)
    design, iters = prefill_decode_design(b, L, m)
    truth = np.array([9.0, 0.02, 4e-4])
    y = (design @ truth + rng.normal(0.0, 0.2, b.size)) * iters
    path = tmp_path / "bench.csv"
    pd.DataFrame({"batch_size": b, "in_tokens": L, "out_tokens": m, "request_ms": y}).to_csv(
        path, index=False
    )
    fit = fit_prefill_decode(path, confidence=0.99)
    for i, name in enumerate(fit.names):
        lo, hi = fit.interval(name)
        assert lo <= truth[i] <= hi, (name, lo, hi)
    fig = fit.plot(tmp_path / "fit.png")
    assert (tmp_path / "fit.png").stat().st_size > 1000
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_fit_by_frequency_and_power_frequency():
    rng = np.random.default_rng(0)
    rows = []
    for f, a in ((1410.0, 10.0), (1005.0, 12.0)):
        for b in range(1, 33):
            rows.append(
                {
                    "frequency_mhz": f,
                    "batch_size": b,
                    "iteration_ms": a + 0.2 * b + rng.normal(0, 0.05),
                }
            )
    fits = fit_by_frequency(pd.DataFrame(rows))
    assert set(fits) == {1005.0, 1410.0}
    assert fits[1005.0]["alpha"] == pytest.approx(12.0, abs=0.2)
    f = np.array([855.0, 1005.0, 1155.0, 1320.0])
    truth = FrequencyModel(ref_mhz=1320, static_w=77.1, exponent=2.0)
    p = truth.power_full_w(239.4, f)
    fitted = fit_power_frequency(f, p)
    assert fitted.static_w == pytest.approx(77.1, rel=1e-3)
    assert fitted.exponent == pytest.approx(2.0, rel=1e-3)


@pytest.mark.parametrize(
    ("data", "column"),
    [
        ({"batch_size": [1, 2], "iteration_ms": [1.0, 2.0]}, "3 measurements"),
        ({"batch_size": [4, 4, 4, 4], "iteration_ms": [1.0, 2.0, 3.0, 4.0]}, "batch_size"),
        ({"batch_size": [1, 2, 3, 4], "iteration_ms": [1.0, np.nan, 3.0, 4.0]}, "iteration_ms"),
        ({"batch_size": [1, -2, 3, 4], "iteration_ms": [1.0, 2.0, 3.0, 4.0]}, "batch_size"),
        ({"batch_size": [1, 2, 3, 4], "itl_ms": [1.0, 2.0, -3.0, 4.0]}, "itl_ms"),
        ({"batch_size": [1, 2, 3, 4], "latency": [1.0, 2.0, 3.0, 4.0]}, "iteration_ms"),
    ],
)
def test_decode_fit_rejects_bad_data_naming_the_column(data, column):
    with pytest.raises(ValueError, match=column):
        fit_decode_only(data)


def test_prefill_fit_needs_two_request_shapes():
    b = np.arange(1, 20, dtype=float)
    data = {
        "batch_size": b,
        "in_tokens": np.full_like(b, 512),
        "out_tokens": np.full_like(b, 64),
        "iteration_ms": 5 + b,
    }
    with pytest.raises(ValueError, match="in_tokens"):
        fit_prefill_decode(data)
    with pytest.raises(ValueError, match="out_tokens"):
        fit_prefill_decode({**data, "out_tokens": np.zeros_like(b)})


# ---------------------------------------------------------------- frequency
def test_frequency_scaling_of_model_and_curve():
    fm = FrequencyModel(ref_mhz=1400, compute_fraction=0.5, static_w=50, exponent=2)
    model = inferplan.PrefillDecode(10.0, 0.02, 1e-4, 512, 128)
    slow = fm.scale_model(model, 700)
    assert slow.alpha == pytest.approx(15.0)
    assert slow.gamma == pytest.approx(1.5e-4)
    assert fm.scale_model(model, 1400) == model
    curve = PowerCurve(40, 150, 0.5, 250)
    scaled = fm.scale_curve(curve, 700)
    assert scaled.idle_w == 40
    assert scaled.full_w == pytest.approx(50 + 200 * 0.25)
    with pytest.raises(ValueError, match="compute_fraction"):
        FrequencyModel(ref_mhz=1400, compute_fraction=1.5)
    with pytest.raises(ValueError, match="frequency_mhz"):
        fm.time_scale(-1.0)


def test_calibrations_invert_each_other():
    fm = FrequencyModel.calibrate_power(1320, 239.4, 855, 145.2, exponent=2)
    assert fm.power_full_w(239.4, 855) == pytest.approx(145.2)
    ft = FrequencyModel.calibrate_throughput(1320, 855, 0.9255)
    assert 1 / ft.time_scale(855) == pytest.approx(0.9255)
    with pytest.raises(ValueError, match="negative static"):
        FrequencyModel.calibrate_power(1320, 239.4, 855, 100.0, exponent=1)


# ---------------------------------------------------------------- MIG
@pytest.mark.parametrize(
    ("layout", "valid"),
    [
        (["7g.80gb"], True),
        (["4g.40gb", "3g.40gb"], True),
        (["3g.40gb", "3g.40gb"], True),
        (["3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"], True),
        (["2g.20gb"] * 3 + ["1g.10gb"], True),
        (["1g.10gb"] * 7, True),
        (["1g.20gb"] * 4, True),
        (["1g.10gb"] * 8, False),
        (["4g.40gb", "4g.40gb"], False),
        (["4g.40gb", "3g.40gb", "1g.10gb"], False),
        (["7g.80gb", "1g.10gb"], False),
        (["3g.40gb"] * 3, False),
        (["2g.20gb"] * 4, False),
        (["1g.20gb"] * 5, False),
        (["4g.40gb", "2g.20gb", "2g.20gb"], False),
    ],
)
def test_mig_layout_validity(layout, valid):
    assert is_valid_layout("A100-80GB", layout) is valid
    assert is_valid_layout("H100-80GB", layout) is valid
    # the 40GB card has the same geometry under other names (3g.40gb -> 3g.20gb, ...)
    names_40 = {
        p.compute_slices * 100 + p.memory_slices: p.name for p in CATALOGUE["A100-40GB"].values()
    }
    spec = {
        p.name: p.compute_slices * 100 + p.memory_slices for p in CATALOGUE["A100-80GB"].values()
    }
    translated = [names_40[spec[n]] for n in layout]
    assert is_valid_layout("A100-40GB", translated) is valid


def test_mig_catalogue_fractions_and_limits():
    for card, profiles in CATALOGUE.items():
        for p in profiles.values():
            assert p.compute_slices <= 7
            assert p.memory_slices <= 8
            assert is_valid_layout(card, [p.name] * p.max_instances)
            assert not is_valid_layout(card, [p.name] * (p.max_instances + 1))
        for lay in valid_layouts(card):
            assert sum(profiles[n].compute_slices for n in lay) <= 7
    p = CATALOGUE["A100-80GB"]["3g.40gb"]
    assert (p.compute_fraction, p.memory_fraction) == (Fraction(3, 7), Fraction(4, 8))
    with pytest.raises(ValueError, match=r"5g\.50gb"):
        is_valid_layout("A100-80GB", ["5g.50gb"])
    with pytest.raises(ValueError, match="card"):
        is_valid_layout("V100", ["1g.10gb"])


@pytest.mark.parametrize(
    ("request_", "cards"),
    [
        ({"3g.40gb": 2}, 1),
        ({"3g.40gb": 3}, 2),
        ({"4g.40gb": 2, "3g.40gb": 2}, 2),
        ({"1g.10gb": 15}, 3),
        ({"2g.20gb": 3, "1g.10gb": 1}, 1),
        ({"4g.40gb": 1, "2g.20gb": 1, "1g.10gb": 1}, 1),
        ({"7g.80gb": 2, "1g.10gb": 1}, 3),
    ],
)
def test_pack_uses_fewest_cards(request_, cards):
    packing = pack("A100-80GB", request_)
    assert packing.num_cards == cards
    placed = {}
    for card in packing.cards:
        assert is_valid_layout("A100-80GB", [n for n, _ in card])
        for n, _ in card:
            placed[n] = placed.get(n, 0) + 1
    assert placed == request_


# ---------------------------------------------------------------- power
def test_power_curve_pieces_and_validation():
    c = PowerCurve(idle_w=60, mid_w=200, mid_util=0.4, full_w=300)
    u = np.array([0.0, 0.2, 0.4, 0.7, 1.0, 1.5])
    np.testing.assert_allclose(c(u), [60, 130, 200, 250, 300, 300])
    assert PowerCurve.flat(100.0)(0.3) == 100.0
    with pytest.raises(ValueError, match="mid_util"):
        PowerCurve(60, 200, 1.0, 300)
    with pytest.raises(ValueError, match="idle_w"):
        PowerCurve(-1, 200, 0.5, 300)
    with pytest.raises(ValueError, match="idle_w <= mid_w <= full_w"):
        PowerCurve(60, 400, 0.5, 300)


def test_energy_helpers():
    assert energy_per_token_mj(239.4, 914.7) == pytest.approx(261.72, abs=0.01)
    assert np.isinf(energy_per_token_mj(100.0, 0.0))
    assert energy_value(270.0) == 270.0
    np.testing.assert_allclose(
        energy_value([100.0, 200.0], cost=[1.0, 0.0], cost_weight=2.0), [102.0, 200.0]
    )
    # a full card split in seven equally loaded slices draws the card's power
    c = PowerCurve(60, 250, 0.5, 344.3)
    assert mig_card_power_w(60, [c(0.8)] * 7, [1 / 7] * 7) == pytest.approx(float(c(0.8)))
    with pytest.raises(ValueError, match="power shares"):
        mig_card_power_w(60, [100, 100], [0.6, 0.6])


def test_power_reacts_to_queue_utilization():
    replica = inferplan.Replica(inferplan.DecodeOnly(19, 1, 1024), max_batch=48)
    c = PowerCurve(60, 200, 0.5, 300)
    powers = [float(c(replica.analyze(r).utilization)) for r in (0.1, 0.3, 0.5)]
    assert powers == sorted(powers)
    assert 60 < powers[0] < powers[-1] < 300


# ---------------------------------------------------------------- cost table
def _table(**kw):
    curve = PowerCurve(60, 250, 0.5, 344.3)
    fm = FrequencyModel(ref_mhz=1410, compute_fraction=0.3, static_w=80, exponent=2)
    accs = [
        Accelerator("A100", curve, 2.0, fm),
        Accelerator("A100-3g", curve, 2.0, fm, card="A100-80GB", mig_profile="3g.40gb"),
    ]
    profiles = [
        Profile("llama", "A100", 10, 0.2),
        Profile("llama", "A100-3g", 18, 0.4),
        Profile("llama", "A100", 14, 0.25, frequency_mhz=1005),
        Profile("qwen", "A100", 8, 0.01, 2e-4, kind="PrefillDecode"),
    ]
    classes = [
        QueryClass("SISO", 256, 256, itl_ms=60, ttft_ms=1000),
        QueryClass("LISO", 1024, 128, itl_ms=60, ttft_ms=2000),
        QueryClass("tight", 256, 256, itl_ms=1),
    ]
    return cost_table(
        profiles,
        accs,
        classes,
        batch_sizes=[8, 32, 128],
        frequencies_mhz=[1410, 1005],
        price_per_kwh=0.12,
        grid_kg_per_kwh=0.4,
        **kw,
    )


def test_cost_table_rows_and_consistency():
    t = _table()
    assert len(t) == 3 * 2 * 3 * 3
    ok = t[t.feasible]
    assert (~t[t.query_class == "tight"].feasible).all()
    # every feasible row meets its SLOs and its metrics agree with Replica.analyze
    row = ok.iloc[5]
    model = (
        inferplan.DecodeOnly(row.alpha, row.beta, row.out_tokens)
        if row.kind == 0
        else inferplan.PrefillDecode(row.alpha, row.beta, row.gamma, row.in_tokens, row.out_tokens)
    )
    m = inferplan.Replica(model, int(row.max_batch)).analyze(row.rate)
    assert m.itl_ms == pytest.approx(row.itl_ms, rel=1e-9)
    assert m.utilization == pytest.approx(row.utilization, rel=1e-9)
    assert (ok.itl_ms <= 60 * (1 + 1e-9)).all()
    np.testing.assert_allclose(ok.energy_per_token_mj, 1000 * ok.power_w / ok.tokens_per_s)
    # the measured 1005 MHz profile is used as is, the 3g slice draws 3/7 of the card
    measured = t[(t.accelerator == "A100") & (t.model == "llama") & (t.frequency_mhz == 1005)]
    assert (measured.alpha == 14).all()
    derived = t[(t.accelerator == "A100-3g") & (t.frequency_mhz == 1005)]
    assert derived.alpha.iloc[0] == pytest.approx(18 * (0.7 + 0.3 * 1410 / 1005))
    slice_rows = t[(t.accelerator == "A100-3g") & t.feasible]
    assert (slice_rows.power_w <= 344.3 * 3 / 7 + 1e-9).all()
    assert t[t.frequency_mhz == 1005].power_w.max() < t[t.frequency_mhz == 1410].power_w.max()


def test_cost_table_uses_one_sizing_call(monkeypatch):
    import inferplan.hardware.cost_table  # noqa: F401  (the module, not the function)

    module = sys.modules["inferplan.hardware.cost_table"]

    calls = []
    real = module._size_many

    def counting(**kw):
        calls.append(np.size(kw["alpha"]))
        return real(**kw)

    monkeypatch.setattr(module, "_size_many", counting)
    t = _table()
    assert calls == [len(t)]


def test_cost_table_rejects_bad_input():
    curve = PowerCurve(60, 250, 0.5, 344.3)
    accs = [Accelerator("A100", curve)]
    q = [QueryClass("SISO", 256, 256)]
    with pytest.raises(ValueError, match="batch_sizes"):
        cost_table([Profile("m", "A100", 1, 1)], accs, q, batch_sizes=[0])
    with pytest.raises(ValueError, match="unknown accelerator"):
        cost_table([Profile("m", "H100", 1, 1)], accs, q, batch_sizes=[8])
    with pytest.raises(ValueError, match="frequency model"):
        cost_table([Profile("m", "A100", 1, 1)], accs, q, batch_sizes=[8], frequencies_mhz=[1000])
    with pytest.raises(ValueError, match="mig_profile"):
        Accelerator("x", curve, card="A100-80GB")
    assert math.isfinite(
        cost_table([Profile("m", "A100", 1, 1)], accs, q, batch_sizes=[8]).rate.iloc[0]
    )


# ---------------------------------------------------------------- CLI
def test_profile_cli_writes_png(tmp_path, capsys):
    import argparse

    from inferplan.hardware.cli import add_profile_parser

    parser = argparse.ArgumentParser()
    add_profile_parser(parser.add_subparsers(dest="command"))
    png, csv = tmp_path / "p.png", tmp_path / "p.csv"
    args = parser.parse_args(
        [
            "profile",
            "--alpha",
            "15",
            "--beta",
            "0.6",
            "--out-tokens",
            "256",
            "--ref-mhz",
            "1320",
            "--idle-w",
            "60",
            "--mid-w",
            "180",
            "--full-w",
            "240",
            "--itl-ms",
            "50",
            "--frequencies",
            "855,1320",
            "--batch-sizes",
            "8,32",
            "-o",
            str(png),
            "--csv",
            str(csv),
        ]
    )
    assert args.func(args) == 0
    assert png.stat().st_size > 1000
    assert len(pd.read_csv(csv)) == 4
    bad = parser.parse_args(
        [
            "profile",
            "--alpha",
            "15",
            "--beta",
            "0.6",
            "--out-tokens",
            "256",
            "--ref-mhz",
            "1320",
            "--idle-w",
            "60",
            "--mid-w",
            "30",
            "--full-w",
            "240",
            "--frequencies",
            "855",
            "--batch-sizes",
            "8",
            "-o",
            str(png),
        ]
    )
    assert bad.func(bad) == 2
    assert "mid_w" in capsys.readouterr().err

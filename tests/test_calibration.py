"""Benchmark readers and calibration against real vLLM measurements.

Benchmark readers and calibration against real vLLM measurements (tests/data/guidellm,
tests/data/vllm-logs, tests/data/formats; provenance in tests/data/README.md).
"""

from __future__ import annotations

import csv
import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import inferplan
from inferplan.calibration import (
    BenchmarkFormatError,
    BenchmarkWarning,
    EngineModel,
    detect_format,
    error_summary,
    load_profile,
    read_benchmarks,
)
from inferplan.calibration.engine import chain

DATA = Path(__file__).parent / "data"
GUIDELLM = DATA / "guidellm"
FORMATS = DATA / "formats"
LOGS = DATA / "vllm-logs"
ROOT = Path(__file__).resolve().parents[1]


def _quiet_read(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BenchmarkWarning)
        return read_benchmarks(path)


@pytest.fixture(scope="module")
def guidellm():
    return _quiet_read(GUIDELLM)


def _raw_negative_ttft():
    """Return (file, 1-based record) of every benchmark with a negative mean TTFT.

    (file, 1-based record) of every benchmark whose mean TTFT is negative, from the raw JSON
    (the independent truth the reader's skip list is checked against).
    """
    out = []
    for f in sorted(GUIDELLM.glob("*.json")):
        for k, rec in enumerate(json.loads(f.read_text()), start=1):
            if rec["Successful Time to first token ms mean"] < 0:
                out.append((f.name, k))
    return out


# ------------------------------------------------------------------------ readers


def test_guidellm_records_every_file_and_every_benchmark(guidellm):
    files = sorted(GUIDELLM.glob("*.json"))
    assert len(files) == 16
    total = sum(len(json.loads(f.read_text())) for f in files)
    skipped = guidellm.attrs["skipped"]
    assert len(guidellm) + len(skipped) == total
    assert set(guidellm.attrs["formats"].values()) == {"guidellm-records"}
    assert guidellm.groupby("arrival").size().to_dict() == {
        "constant": 122, "synchronous": 16, "throughput": 15,
    }  # fmt: skip
    # one benchmark checked field by field against its raw record
    rec = json.loads((GUIDELLM / "sweep-i1024-o1024.json").read_text())[3]
    row = guidellm[(guidellm.source.str.endswith("sweep-i1024-o1024.json")) & (guidellm.row == 4)]
    r = row.iloc[0]
    assert r.benchmark == rec["Name"] == "constant@1.59"
    assert r.ttft_ms == rec["Successful Time to first token ms mean"]
    assert r.ttft_median_ms == rec["Successful Time to first token ms median"]
    pct = json.loads(rec["Successful Inter token latency ms [min, 0.1, 1, 5, 10, 25, 75, 90, "
                         "95, 99, max]"])  # fmt: skip
    assert r.itl_p90_ms == pct[7]
    assert r.itl_p99_ms == pct[9]
    assert r.request_rate == rec["Successful Requests per second mean"]
    assert r.offered_rate == pytest.approx(json.loads(rec["Args"])["strategy"]["rate"])
    assert r.duration_s == 360.0
    assert r.latency_ms == 1000 * rec["Successful Request latency mean"]


def test_negative_ttft_rows_are_skipped_and_named(guidellm):
    expected = _raw_negative_ttft()
    assert len(expected) == 7  # the real files carry these corrupt rows
    got = [(Path(f).name, r) for f, r, _ in guidellm.attrs["skipped"]]
    assert got == expected
    assert all("ttft_ms" in why and "-" in why for _, _, why in guidellm.attrs["skipped"])
    assert (guidellm.ttft_ms > 0).all()
    with pytest.warns(BenchmarkWarning, match=r"sweep-i256-o256\.json row 2: ttft_ms"):
        read_benchmarks(GUIDELLM / "sweep-i256-o256.json")


@pytest.mark.parametrize(
    ("name", "fmt", "source"),
    [
        ("guidellm-0.3-i1024-o256.json", "guidellm-json", "sweep-i1024-o256.json"),
        ("guidellm-current-i64-o64.json", "guidellm-json", "sweep-i64-o64.json"),
        ("guidellm-current-i1024-o4096.csv", "guidellm-csv", "sweep-i1024-o4096.json"),
        ("guidellm-0.3-i256-o256.csv", "guidellm-csv-flat", "sweep-i256-o256.json"),
    ],
)
def test_guidellm_formats_read_the_same_numbers(name, fmt, source, guidellm):
    df = _quiet_read(FORMATS / name)
    assert detect_format(FORMATS / name) == fmt
    ref = guidellm[guidellm.source.str.endswith(source)].set_index("row")
    got = df.set_index("row")
    assert list(got.index) == list(ref.index)  # the same benchmarks, the same bad rows out
    for col in ("request_rate", "in_tokens", "out_tokens", "ttft_ms", "ttft_median_ms",
                "itl_ms", "itl_p90_ms", "concurrency", "latency_ms"):  # fmt: skip
        np.testing.assert_allclose(got[col], ref[col], rtol=1e-12, err_msg=col)
    assert list(got.arrival) == list(ref.arrival)


def test_current_csv_realigns_the_extra_errored_blocks():
    """The current writer takes its header from the first benchmark.

    The throughput row (89 errored requests) carries errored blocks the header does not
    name.
    """
    path = FORMATS / "guidellm-current-i1024-o4096.csv"
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows[4]) > len(rows[0])  # the data row is longer than its header
    df = _quiet_read(path)
    thr = df[df.arrival == "throughput"].iloc[0]
    rec = json.loads((GUIDELLM / "sweep-i1024-o4096.json").read_text())[1]
    assert thr.errored == 89
    assert thr.ttft_ms == pytest.approx(rec["Successful Time to first token ms mean"], 1e-12)
    assert thr.output_tps == pytest.approx(rec["Successful Output tokens per second mean"])


def test_current_csv_row_that_cannot_be_aligned_is_named(tmp_path):
    with (FORMATS / "guidellm-current-i1024-o4096.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    rows[6] = rows[6][:-9] + rows[6][-1:]  # data row 4 loses two stat blocks and a cell
    bad = tmp_path / "cut.csv"
    with bad.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    with pytest.warns(BenchmarkWarning, match=r"cut\.csv row 4"):
        df = read_benchmarks(bad)
    assert len(df) == 9
    assert df.attrs["skipped"][0][:2] == (str(bad), 4)


def test_vllm_benchmark_serving_json_lines(tmp_path):
    path = FORMATS / "vllm-bench-i256-o1024.jsonl"
    df = _quiet_read(path)
    assert set(df.arrival) == {"poisson"}
    assert len(df) == 8
    first = json.loads(path.read_text().splitlines()[0])
    assert df.ttft_ms.iloc[0] == first["mean_ttft_ms"]
    assert df.in_tokens.iloc[0] == first["total_input_tokens"] / first["completed"]
    lines = path.read_text().splitlines()
    broken = json.loads(lines[2])
    broken["mean_itl_ms"] = -1.0
    lines[2] = json.dumps(broken)
    lines[4] = lines[4][:40]  # a truncated line
    bad = tmp_path / "bench.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.warns(BenchmarkWarning):
        df = read_benchmarks(bad)
    assert [(r, why.split()[0]) for _, r, why in df.attrs["skipped"]] == [
        (3, "itl_ms"), (5, "malformed"),
    ]  # fmt: skip
    single = tmp_path / "one.json"
    single.write_text(json.dumps(first))
    assert detect_format(single) == "vllm-bench-json"
    assert _quiet_read(single).request_rate.iloc[0] == first["request_throughput"]


def test_engine_statistics_csv_log_and_prometheus_agree():
    csv_df = _quiet_read(LOGS / "vllm_log_scale100_prompt500.csv")
    with (LOGS / "vllm_log_scale100_prompt500.csv").open(newline="") as f:
        raw = list(csv.DictReader(f))
    assert len(csv_df) == len(raw)
    # iteration time only on pure-decode samples: 1000 * running / generation throughput
    for r, (_, row) in zip(raw, csv_df.iterrows(), strict=True):
        decode = float(r["prompt_throughput"]) == 0 and int(r["num_pending"]) == 0
        if decode and int(r["num_running"]) > 0:
            want = 1000 * int(r["num_running"]) / float(r["generation_throughput"])
            assert row.iteration_ms == pytest.approx(want, rel=1e-12)
        else:
            assert math.isnan(row.iteration_ms)
    log = _quiet_read(FORMATS / "vllm_log_scale100_prompt500.log")
    assert detect_format(FORMATS / "vllm_log_scale100_prompt500.log") == "vllm-engine-log"
    np.testing.assert_array_equal(log.num_running, csv_df.num_running[: len(log)])
    np.testing.assert_allclose(log.generation_tps, csv_df.generation_tps[: len(log)], atol=0.05)
    # KV-cache usage as a fraction everywhere (the CSV and the log print percent)
    np.testing.assert_allclose(log.kv_cache_usage, csv_df.kv_cache_usage[: len(log)], atol=5e-4)
    assert 0.1 < csv_df.kv_cache_usage.max() < 0.5
    prom = _quiet_read(FORMATS / "vllm_log_scale100_prompt500.prom")
    assert detect_format(FORMATS / "vllm_log_scale100_prompt500.prom") == "vllm-prometheus"
    # counters differenced between scrapes give the interval throughputs back
    np.testing.assert_array_equal(prom.num_running, csv_df.num_running[1 : len(prom) + 1])
    np.testing.assert_allclose(
        prom.generation_tps, csv_df.generation_tps[1 : len(prom) + 1], rtol=5e-3
    )  # the scrape timestamps are whole milliseconds


def test_engine_log_v1_wording(tmp_path):
    """Read the V1 wording.

    vLLM V1 prints 'Engine 000: ... Waiting: n reqs ... Prefix cache hit rate'.
    """
    line = (FORMATS / "vllm_log_scale100_prompt500.log").read_text().splitlines()[7]
    v1 = re.sub(r"Swapped: \d+ reqs, Pending", "Waiting", line)
    v1 = v1.replace("] Avg", "] Engine 000: Avg").replace(
        ", CPU KV cache usage: 0.0%.", ", Prefix cache hit rate: 0.0%"
    )
    p = tmp_path / "v1.log"
    p.write_text(v1 + "\n")
    df = _quiet_read(p)
    ref = _quiet_read(FORMATS / "vllm_log_scale100_prompt500.log").iloc[7]
    assert len(df) == 1
    assert df.format.iloc[0] == "vllm-engine-log"
    for col in ("num_running", "num_waiting", "generation_tps", "prompt_tps", "kv_cache_usage"):
        assert df[col].iloc[0] == ref[col]


def test_engine_log_bad_line_is_named(tmp_path):
    lines = (FORMATS / "vllm_log_scale100_prompt500.log").read_text().splitlines()
    lines[3] = re.sub(r"Running: \d+ reqs", "Running: many reqs", lines[3])
    lines[5] = lines[5].replace("Avg generation throughput: ", "Avg generation throughput: -")
    bad = tmp_path / "engine.log"
    bad.write_text("\n".join(lines))
    with pytest.warns(BenchmarkWarning):
        df = read_benchmarks(bad)
    assert [r for _, r, _ in df.attrs["skipped"]] == [4, 6]
    assert len(df) == len(lines) - 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("{not json", "malformed JSON at line 1"),
        ('{"foo": 1}', "neither a GuideLLM report"),
        ("a,b,c\n1,2,3\n", "unknown format"),
    ],
)
def test_bad_files_are_named(tmp_path, content, message):
    p = tmp_path / "bench.txt"
    p.write_text(content)
    with pytest.raises(BenchmarkFormatError, match=message) as err:
        read_benchmarks(p)
    assert str(p) in str(err.value)


def test_stray_file_in_a_directory_is_listed_not_fatal(tmp_path):
    (tmp_path / "a.json").write_text((GUIDELLM / "sweep-i64-o64.json").read_text())
    (tmp_path / "notes.txt").write_text("not a benchmark")
    with pytest.warns(BenchmarkWarning, match=r"notes\.txt row 0: not read"):
        df = read_benchmarks(tmp_path)
    assert len(df) == 10
    with pytest.raises(BenchmarkFormatError, match=r"notes\.txt"):
        read_benchmarks([tmp_path / "a.json", tmp_path / "notes.txt"])


def test_a_directory_with_nothing_readable_is_an_error(tmp_path, inferplan_cli):
    """A directory without benchmark files is an error naming it.

    A directory of no benchmark file once gave an empty DataFrame (and calibrate a
    misleading "needs at least 10 points"); an empty directory said "no benchmark files
    given" without naming it.
    """
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BenchmarkFormatError, match=re.escape(f"{empty}: no files")):
        read_benchmarks(empty)
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "README.md").write_text("# not a benchmark\n")
    with pytest.raises(BenchmarkFormatError, match=r"no benchmark file could be read: .*README"):
        read_benchmarks(notes)
    p = inferplan_cli("calibrate", notes)
    assert p.returncode == 2, p.stderr
    assert p.stderr.count("\n") == 1, p.stderr
    assert "README.md: unknown format" in p.stderr
    assert "Traceback" not in p.stderr


def test_missing_file_and_missing_field(tmp_path):
    with pytest.raises(BenchmarkFormatError, match="no such file"):
        read_benchmarks(tmp_path / "nope.json")
    recs = json.loads((GUIDELLM / "sweep-i64-o64.json").read_text())
    del recs[4]["Successful Inter token latency ms mean"]
    recs[6]["Successful Requests per second mean"] = "fast"
    p = tmp_path / "recs.json"
    p.write_text(json.dumps(recs))
    with pytest.warns(BenchmarkWarning):
        df = read_benchmarks(p)
    assert [(r, w.split()[0]) for _, r, w in df.attrs["skipped"]] == [
        (5, "missing"),
        (7, "unparsable"),
    ]
    assert "Successful Inter token latency ms mean" in df.attrs["skipped"][0][2]


# --------------------------------------------------------------------- calibration


def _folds(df):
    """Return the 4 leave-shapes-out folds: every input and every output length held out once."""
    sh = df.source.str.extract(r"i(\d+)-o(\d+)").astype(int)
    sizes = [64, 256, 1024, 4096]
    for f in range(4):
        held = np.zeros(len(df), bool)
        for k in range(4):
            held |= (sh[0] == sizes[k]).to_numpy() & (sh[1] == sizes[(k + f) % 4]).to_numpy()
        yield held


def test_held_out_shapes_meet_the_acceptance_bar(guidellm):
    """One profile fitted on 12 shapes predicts the other 4.

    One profile fitted on 12 shapes predicts the other 4, over every measured constant-rate
    point (docs/validation.md has the full table).
    """
    parts = []
    for held in _folds(guidellm):
        assert held.sum() > 0
        assert len(set(guidellm.source[held])) == 4
        cal = inferplan.calibrate(guidellm[~held])
        parts.append(cal.predict(guidellm[held]))
    pred = pd.concat(parts)
    constant = pred[pred.arrival == "constant"]
    s = error_summary(constant)
    assert s["points"] == 122
    assert s["no_steady_state"] == 0
    assert s["ttft_median"] <= 0.08, s
    assert s["ttft_p90"] <= 0.20, s
    assert s["itl_median"] <= 0.03, s
    assert s["itl_p90"] <= 0.08, s


def _simulated_points(alpha, beta, gamma):
    """Return benchmark points of inferplan's own simulator: a server whose parameters are known.

    Benchmark points of inferplan's own simulator (iteration-level batching, chunked
    prefill) with evenly spaced arrivals: a server whose parameters are known.
    """
    rows = []
    for L in (128, 1024, 3000):
        for m in (64, 512, 2048):
            model = inferplan.PrefillDecode(alpha, beta, gamma, L, m, 8192)
            cap = inferplan.Replica(model, max_batch=256).max_rate
            for f in (0.0, 0.2, 0.4, 0.6, 0.8):
                n = 60 if f == 0 else 3000
                gap = 1e6 if f == 0 else 1000.0 / (f * cap)
                res = inferplan.simulate(
                    model, max_batch=256, arrival_times_ms=np.arange(n) * gap,
                    in_tokens=inferplan.Tokens.constant(L), out_tokens=inferplan.Tokens.constant(m),
                    num_requests=n, replications=1, seed=1,
                )  # fmt: skip
                rows.append({
                    "arrival": "synchronous" if f == 0 else "constant",
                    "request_rate": res.throughput.mean, "in_tokens": L, "out_tokens": m,
                    "ttft_ms": res.ttft_ms.mean, "itl_ms": res.itl_ms.mean,
                })  # fmt: skip
    return pd.DataFrame(rows)


def test_calibration_recovers_the_simulated_engine():
    alpha, beta, gamma = 6.5, 0.02, 5e-5
    cal = inferplan.calibrate(_simulated_points(alpha, beta, gamma), max_num_seqs=256)
    e = cal.engine
    # the simulator's step costs alpha + beta*(tokens) + gamma*(KV read): a decoding request
    # costs beta + gamma*(L + t), a one-chunk prompt reads its L cached tokens once
    assert e.alpha == pytest.approx(alpha, rel=0.03)
    assert e.beta_decode == pytest.approx(beta, rel=0.06)
    assert e.beta_prefill == pytest.approx(beta + gamma, rel=0.03)
    assert e.gamma == pytest.approx(gamma, rel=0.03)
    assert e.zeta * 256**2 < 0.1 * alpha  # no spurious convexity
    for name in ("alpha", "beta_prefill", "gamma"):
        assert cal.ci_low[name] <= getattr(e, name) <= cal.ci_high[name]
    s = cal.summary()
    assert s["itl_median"] < 0.01
    assert s["itl_p90"] < 0.03
    assert s["ttft_median"] < 0.05


def test_chain_is_the_kernels_chain():
    """The vectorised chain used in fitting is the kernel's chain (Replica.analyze)."""
    e = EngineModel(6.7, 0.018, 0.019, 4.6e-5, 1.2e-6, 3.4e-5, 5.0, 0.7, 0.002)
    rates, Ls, ms = [], [], []
    for L, m in ((256, 256), (4096, 64), (64, 4096)):
        rep = e.replica(L, m)
        for f in (0.1, 0.5, 0.9, 0.99):
            rates.append(f * rep.max_rate)
            Ls.append(L)
            ms.append(m)
    Ls, ms = np.array(Ls, float), np.array(ms, float)
    nmax = np.array([e.max_batch(a, b) for a, b in zip(Ls, ms, strict=True)], float)
    stable, p0, B, Lsys = chain(e.vector(), np.array(rates), Ls, ms, nmax)
    assert stable.all()
    for i, (r, L, m) in enumerate(zip(rates, Ls, ms, strict=True)):
        met = e.replica(L, m).analyze(r)
        assert B[i] == pytest.approx(met.in_service, rel=1e-9)
        assert Lsys[i] == pytest.approx(met.in_system, rel=1e-9)
        assert p0[i] == pytest.approx(met.p0, rel=1e-9, abs=1e-300)
    poisson = pd.DataFrame({"request_rate": rates, "in_tokens": Ls, "out_tokens": ms})
    pred = inferplan.calibration.predict(e, poisson)
    itl = [e.replica(L, m).analyze(r).itl_ms - (e.beta_prefill * L + e.gamma_prefill * L * L) / m
           for r, L, m in zip(rates, Ls, ms, strict=True)]  # fmt: skip
    np.testing.assert_allclose(pred.pred_itl_ms, itl, rtol=1e-9)
    over = inferplan.calibration.predict(e, poisson.assign(request_rate=2 * np.array(rates)))
    assert not over.steady_state.iloc[-1]
    assert np.isnan(over.pred_itl_ms.iloc[-1])


def test_calibration_is_a_profile_everywhere(guidellm, tmp_path):
    cal = inferplan.calibrate(guidellm)
    # the closed-loop saturation runs bound the model's saturation throughput from below
    for r in guidellm[guidellm.arrival == "throughput"].itertuples():
        assert cal.replica(r.in_tokens, r.out_tokens).max_rate >= 0.98 * r.request_rate
    rep = cal.replica(512, 256)
    size = rep.size(itl_ms=20.0)
    assert size.feasible
    assert rep.analyze(size.rate).itl_ms == pytest.approx(20.0, rel=1e-6)
    # the linear PrefillDecode projection: close to the engine on a fitted shape
    pdm = cal.prefill_decode(512, 256)
    rate = 0.5 * rep.max_rate
    lin = inferplan.Replica(pdm, max_batch=512).analyze(rate)
    assert lin.itl_ms == pytest.approx(rep.analyze(rate).itl_ms, rel=0.15)
    prof = cal.profile("llama-8b", "h100")
    acc = inferplan.hardware.Accelerator("h100", inferplan.hardware.PowerCurve(60, 180, 0.5, 240))
    q = inferplan.hardware.QueryClass("q", 512, 256, itl_ms=20.0)
    table = inferplan.cost_table([prof], [acc], [q], batch_sizes=[64])
    assert bool(table.feasible.iloc[0])
    assert table.rate.iloc[0] > 0
    path = tmp_path / "profile.json"
    cal.save(path, model="llama-8b", accelerator="h100")
    d = json.loads(path.read_text())
    assert d["perfParms"]["alpha"] > 0
    assert d["name"] == "llama-8b"
    # the profile file is a model entry of the fleet data: append it to a real system
    import shutil

    system = tmp_path / "system"
    shutil.copytree(DATA / "reference" / "inferno" / "g3" / "small", system)
    (system / "system-data.json").unlink()
    md = json.loads((system / "model-data.json").read_text())
    d["acc"] = md["models"][0]["acc"]
    md["models"].append(d)
    (system / "model-data.json").write_text(json.dumps(md))
    loaded = inferplan.fleet.load_system(system)
    mine = [p for p in loaded.profiles if p.alpha == d["perfParms"]["alpha"]]
    assert len(mine) == 1
    assert mine[0].gamma == d["perfParms"]["gamma"]
    back = load_profile(path)
    assert back.engine == cal.engine
    np.testing.assert_allclose(
        back.predict(guidellm).pred_itl_ms, cal.predict(guidellm).pred_itl_ms
    )
    # engine statistics read alongside are samples, not points: calibrate leaves them out
    mixed = pd.concat([guidellm, _quiet_read(LOGS / "vllm_log_scale100_prompt500.csv")])
    assert inferplan.calibrate(mixed).engine == cal.engine
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something"}')
    with pytest.raises(ValueError, match="not an inferplan engine profile"):
        load_profile(bad)


def test_calibrate_rejects_bad_input(guidellm):
    with pytest.raises(ValueError, match="request_rate"):
        inferplan.calibrate(pd.DataFrame({"in_tokens": [1.0]}))
    with pytest.raises(ValueError, match="at least 7 points"):  # one shape: 6 parameters
        inferplan.calibrate(guidellm.head(5))
    with pytest.raises(ValueError, match="loss"):
        inferplan.calibrate(guidellm, loss="l2")
    # the point is named by its file and row too, and the value is a plain number
    src, row = guidellm["source"].iloc[3], guidellm["row"].iloc[3]
    with pytest.raises(
        ValueError, match=re.escape(f"point 3 ({src} row {row}): out_tokens = -1.0 must be")
    ):
        inferplan.calibrate(guidellm.assign(out_tokens=[1.0] * 3 + [-1.0] + [1.0] * 149))
    with pytest.raises(ValueError, match="DataFrame of benchmark points or benchmark paths"):
        inferplan.calibrate(None)


def test_calibrate_lists_the_points_it_leaves_out(guidellm):
    """A point with no measured latency is left out and named, never dropped silently.

    That holds for a point of the user's own DataFrame; a negative latency is an error naming
    the point.
    """
    base = inferplan.calibrate(guidellm)
    assert base.skipped == [
        line for line in base.skipped if "not fitted" in line
    ]  # the real files: only arrival types that are not fitted (if any)
    holes = guidellm.copy()
    holes.loc[holes.index[[4, 9]], "ttft_ms"] = np.nan
    holes.loc[holes.index[9], "itl_ms"] = np.nan
    cal = inferplan.calibrate(holes)
    assert cal.n_points == base.n_points - 2
    src4, row4 = holes["source"].iloc[4], holes["row"].iloc[4]
    new = [line for line in cal.skipped if line not in base.skipped]
    assert new == [
        f"point 4 ({src4} row {row4}): no measured ttft_ms (missing, NaN or 0)",
        f"point 9 ({holes['source'].iloc[9]} row {holes['row'].iloc[9]}): "
        "no measured ttft_ms and itl_ms (missing, NaN or 0)",
    ]
    assert cal.to_dict()["fit"]["skipped"] == len(cal.skipped)
    neg = guidellm.copy()
    neg.loc[neg.index[4], "itl_ms"] = -3.0
    with pytest.raises(ValueError, match=re.escape(f"point 4 ({src4} row {row4}): itl_ms = -3.0")):
        inferplan.calibrate(neg)


def test_calibrate_takes_the_benchmark_paths(guidellm):
    """``calibrate(path)`` reads the files as read_benchmarks does.

    calibrate(path) reads the files as read_benchmarks does (once it failed inside pandas:
    "DataFrame constructor not properly called!") and fits the same profile.
    """
    with pytest.warns(BenchmarkWarning, match="skipped 7 row"):
        from_path = inferplan.calibrate(GUIDELLM)
    assert from_path.engine == inferplan.calibrate(guidellm).engine
    with pytest.warns(BenchmarkWarning):
        assert from_path.n_points == inferplan.calibrate([str(GUIDELLM)]).n_points
    with pytest.raises(ValueError, match=r"kv_capacity|no memory"):
        inferplan.calibration.kv_capacity_tokens(16, 15, layers=32, kv_heads=8, head_dim=128)


def test_kv_capacity_caps_the_batch():
    e = EngineModel(6.7, 0.02, 0.02, kv_capacity_tokens=100_000)
    assert e.max_batch(4096, 4096) == 100_000 // 8192
    assert e.service_times(4096, 4096).tau_ms.size == 12
    assert EngineModel(6.7, 0.02, 0.02).max_batch(4096, 4096) == 1024


def test_robust_iteration_regression_on_real_engine_logs():
    """Pure-decode samples of a real vLLM.

    Stalls make heavy upper-tail outliers; the robust fit follows the bulk, ordinary least
    squares is pulled up.
    """
    df = _quiet_read(LOGS)
    dec = df[df.iteration_ms.notna() & (df.batch_size >= 1)]
    assert len(dec) > 300
    ols = inferplan.hardware.fit_decode_only(dec)
    rob = inferplan.hardware.fit_decode_only(dec, loss="huber")
    med = lambda f: float(np.median(np.abs(f.residuals_ms)))  # noqa: E731
    assert med(rob) < 0.6 * med(ols)
    assert rob["beta"] < ols["beta"]  # the outliers at large batches tilt the OLS line
    at1 = float(dec.iteration_ms[dec.batch_size == 1].median())  # the measured batch-1 step
    assert abs(rob["alpha"] + rob["beta"] - at1) < abs(ols["alpha"] + ols["beta"] - at1)
    # fractional batch sizes (a mean concurrency) are accepted
    frac = dec.assign(batch_size=dec.batch_size + 0.5)
    assert inferplan.hardware.fit_decode_only(frac, loss="soft_l1")["beta"] > 0
    pdf = pd.DataFrame({"batch_size": [1.5, 3.2, 7.9, 2.5, 11.1, 5.0],
                        "in_tokens": [100, 100, 100, 900, 900, 900],
                        "out_tokens": [200] * 6,
                        "iteration_ms": [7.1, 7.3, 7.9, 7.6, 9.4, 8.4]})  # fmt: skip
    assert inferplan.hardware.fit_prefill_decode(pdf, loss="huber")["alpha"] > 0


# ---------------------------------------------------------------------------- CLI


def test_cli_calibrate(tmp_path, inferplan_cli):
    out, png = tmp_path / "profile.json", tmp_path / "fit.png"
    res = inferplan_cli("calibrate", GUIDELLM, "--out", out, "--plot", png, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "p90 |error|" in res.stdout
    assert "in 4130 / out 4059" in res.stdout
    assert "sweep-i256-o256.json row 2" in res.stderr  # the skipped rows are named
    assert png.stat().st_size > 10_000
    assert png.read_bytes()[:4] == b"\x89PNG"
    cal = load_profile(out)
    assert cal.engine.alpha > 0
    res = inferplan_cli("calibrate", tmp_path / "missing.json", cwd=tmp_path)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert res.stderr.strip().count("\n") == 0
    assert "no such file" in res.stderr
    from inferplan.cli import build_parser

    sub = build_parser()._subparsers._group_actions[0].choices["calibrate"]
    assert "(default: cauchy)" in " ".join(sub.format_help().split())

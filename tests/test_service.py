"""``inferplan serve`` over real HTTP on the loopback.

The reference analyzer's answers (the golden outputs and the published /optimize example),
the reference optimizer's totals on the small g3 system (stateless and stateful), bad
requests refused with the field named, thread safety of the stateful optimizer, inferplan's
own routes, /metrics, /healthz, OpenAPI.

One server (default layout) is started for the module; the root layouts and the
INFERNO_HOST/INFERNO_PORT variables get their own short-lived servers.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from _http import ROOT, Server, free_port, package_env

pytest.importorskip("fastapi", reason="the service needs the optional extra 'service'")
pytest.importorskip("uvicorn", reason="the service needs the optional extra 'service'")

EXAMPLE = {  # the reference's examples/solution-optimize.json inputs (REST.md)
    "RPS": 3, "maxBatchSize": 48, "avgInputTokens": 128, "avgOutputTokens": 512, "alpha": 12,
    "beta": 0.05, "gamma": 0.0005, "maxQueueSize": 128, "targetTTFT": 60, "targetITL": 20,
}  # fmt: skip


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


def _golden(reference_dir):
    with open(reference_dir / "queue-analysis" / "golden_handpicked.csv") as f:
        return list(csv.DictReader(f))


def _problem(row) -> dict:
    f = lambda k: float(row[k])  # noqa: E731
    return {
        "RPS": f("rate_rps"), "maxBatchSize": int(f("max_batch_size")),
        "avgInputTokens": f("avg_in_tokens"), "avgOutputTokens": f("avg_out_tokens"),
        "alpha": f("alpha"), "beta": f("beta"), "gamma": f("gamma"),
        "maxQueueSize": int(f("max_queue_size")), "targetTTFT": f("target_ttft_ms"),
        "targetITL": f("target_itl_ms"),
    }  # fmt: skip


def _close(got, want, rel=1e-4, abs_=0.0):
    return abs(got - want) <= max(rel * abs(want), abs_)


# -- the reference analyzer ------------------------------------------------------------------


def test_solve_matches_reference_golden(server, reference_dir):
    """``/analyzer/solve`` matches every golden case the service can take.

    /analyzer/solve on every golden case the service can take (the token budget is fixed at
    8192 there, as in the reference service).
    """
    checked = 0
    for row in _golden(reference_dir):
        if row["max_num_tokens"] != "8192" or row["category"] == "overload_1e6rps":
            continue  # another budget; float32 noise of the reference (tests/data/README.md)
        status, got = server.post("/analyzer/solve", _problem(row))
        if row["an_status"] == "err_invalid_rate":
            assert status == 400, (row["case_id"], got)
            assert got["field"] == "RPS", (row["case_id"], got)
            continue
        if row["an_status"] == "err_invalid_model":  # N = 1, Q = 0: valid here (a loss system)
            assert status == 200
            assert got["throughput"] < float(row["rate_rps"])
            continue
        assert status == 200, (row["case_id"], got)
        pairs = {"throughput": "an_throughput_rps", "avgRespTime": "an_avg_resp_ms",
                 "avgNumInServ": "an_avg_num_in_serv", "avgTTFT": "an_avg_ttft_ms",
                 "avgITL": "an_avg_itl_ms", "maxRPS": "an_max_rate_rps",
                 "offeredRPS": "an_offered_rps"}  # fmt: skip
        for key, col in pairs.items():
            assert _close(got[key], float(row[col])), (row["case_id"], key, got[key], row[col])
        wait = float(row["an_avg_wait_ms"])
        assert _close(got["avgWaitTime"], wait, abs_=2e-6 * float(row["an_avg_resp_ms"]) + 1e-9)
        checked += 1
    assert checked >= 35


def test_target_matches_reference_golden(server, reference_dir):
    """``/analyzer/target`` matches the reference's golden outputs.

    The sized point and the rate each target allows; infeasible targets answered 400 naming
    the target, as the reference's 'below the bounded region'.
    """
    checked = 0
    for row in _golden(reference_dir):
        if row["max_num_tokens"] != "8192" or row["max_batch_size"] == "1":
            continue  # N = 1 cases are reference artefacts (tests/data/README.md)
        if float(row["target_tps"]) > 0:
            continue  # the reference service ignores TPS targets
        status, got = server.post("/analyzer/target", _problem(row))
        if float(row["rate_rps"]) < 0:  # the service validates every field, RPS included
            assert status == 400
            assert got["field"] == "RPS"
            continue
        if row["sz_status"].startswith("err_"):
            field = {"err_ttft_below_region": "targetTTFT",
                     "err_itl_below_region": "targetITL"}[row["sz_status"]]  # fmt: skip
            assert status == 400, (row["case_id"], got)
            assert got["field"] == field, (row["case_id"], got)
            assert field in got["message"]
            continue
        assert status == 200, (row["case_id"], got)
        pairs = {"RPSTargetTTFT": "sz_rate_ttft_rps", "RPSTargetITL": "sz_rate_itl_rps",
                 "throughput": "sz_throughput_rps", "avgRespTime": "sz_avg_resp_ms",
                 "avgNumInServ": "sz_avg_num_in_serv", "avgTTFT": "sz_avg_ttft_ms",
                 "avgITL": "sz_avg_itl_ms"}  # fmt: skip
        for key, col in pairs.items():
            assert _close(got[key], float(row[col])), (row["case_id"], key, got[key], row[col])
        assert _close(got["offeredRPS"], min(got["RPSTargetTTFT"], got["RPSTargetITL"]), 1e-12)
        checked += 1
    assert checked >= 25


def test_optimize_reproduces_the_published_example(server):
    status, got = server.post("/analyzer/optimize", EXAMPLE)
    assert status == 200
    want = {"concurrency": 48, "M_ITL": 31, "M_TPF": 48, "oracleCalls": 6, "feasible": True}
    assert {k: got[k] for k in want} == want
    published = {"throughput": 2.9494622, "avgRespTime": 10231.625, "avgWaitTime": 14.219727,
                 "avgNumInServ": 30.135853, "avgTTFT": 60.000584, "avgITL": 19.90533,
                 "maxRPS": 3.8609295}  # fmt: skip
    for key, value in published.items():
        assert _close(got[key], value, 1e-4), (key, got[key], value)


def test_optimize_is_the_onset_of_the_plateau(server):
    """The reference's own service test inputs.

    feasible, and the answer is near the peak -- its sized throughput within 1% of the
    throughput at maxBatchSize, checked through /target at both batches.
    """
    pd = {"maxBatchSize": 256, "maxQueueSize": 128, "avgInputTokens": 256,
          "avgOutputTokens": 1024, "alpha": 8, "beta": 0.033, "gamma": 0.000333,
          "targetTTFT": 60, "targetITL": 20}  # fmt: skip
    status, got = server.post("/analyzer/optimize", pd)
    assert status == 200
    assert got["feasible"]
    assert 1 <= got["concurrency"] <= 256
    _, top = server.post("/analyzer/target", pd)
    _, at = server.post("/analyzer/target", dict(pd, maxBatchSize=got["concurrency"]))
    assert at["throughput"] == pytest.approx(got["throughput"], rel=1e-12)
    assert at["throughput"] >= 0.99 * top["throughput"]
    # an impossible target: infeasible everywhere, as the reference reports it
    status, got = server.post("/analyzer/optimize", dict(pd, targetITL=0.5))
    assert status == 200
    assert got["feasible"] is False
    assert got["concurrency"] == 1


def test_keys_match_without_regard_to_case_and_unknown_keys_are_ignored(server):
    body = {k.lower(): v for k, v in EXAMPLE.items()} | {"comment": "ignored"}
    status, got = server.post("/analyzer/target", body)
    _, want = server.post("/analyzer/target", EXAMPLE)
    assert status == 200
    assert got == want


# -- the reference optimizer -----------------------------------------------------------------


def _expected(inferno_dir, name):
    return json.loads((inferno_dir / "expected" / name).read_text())["allocations"]


def _assert_same_solution(got, want):
    """Assert the same servers and total.

    Per server the same allocation (latencies to the reference's float32 accuracy) or, where
    the reference broke a tie at random, one of equal cost.
    """
    assert set(got) == set(want)
    assert sum(a["cost"] for a in got.values()) == pytest.approx(
        sum(a["cost"] for a in want.values()), abs=1e-6
    )
    for name, w in want.items():
        g = got[name]
        assert set(g) == set(w), name
        if (g["accelerator"], g["numReplicas"], g["maxBatch"]) == (
            w["accelerator"], w["numReplicas"], w["maxBatch"],
        ):  # fmt: skip
            for key in ("itlAverage", "ttftAverage"):
                assert g[key] == pytest.approx(w[key], rel=3e-4), (name, key)
        else:
            assert g["cost"] == pytest.approx(w["cost"]), name
        assert g["load"] == pytest.approx(w["load"]), name


def test_optimize_one_matches_reference(server, inferno_dir):
    doc = json.loads((inferno_dir / "g3" / "small" / "system-data.json").read_text())
    status, got = server.post("/optimizer/optimizeOne", doc)
    assert status == 200
    _assert_same_solution(got["allocations"], _expected(inferno_dir, "g3-small-limited.json"))
    assert sum(a["cost"] for a in got["allocations"].values()) == pytest.approx(25826)

    doc["system"]["optimizerData"]["optimizer"]["unlimited"] = True
    status, got = server.post("/optimizer/optimizeOne", doc)
    assert status == 200
    _assert_same_solution(got["allocations"], _expected(inferno_dir, "g3-small-unlimited.json"))
    assert sum(a["cost"] for a in got["allocations"].values()) == pytest.approx(21252)


def _load_state(server, inferno_dir):
    small = inferno_dir / "g3" / "small"
    for route, name in (("/setAccelerators", "accelerator"), ("/setCapacities", "capacity"),
                        ("/setModels", "model"), ("/setServiceClasses", "serviceclass"),
                        ("/setServers", "server")):  # fmt: skip
        body = json.loads((small / f"{name}-data.json").read_text())
        status, got = server.post("/optimizer" + route, body)
        assert status == 200, (route, got)


def test_stateful_optimize_matches_reference(server, inferno_dir):
    _load_state(server, inferno_dir)
    spec = {"unlimited": False, "delayedBestEffort": False, "saturationPolicy": "None"}
    status, got = server.post("/optimizer/optimize", spec)
    assert status == 200
    _assert_same_solution(got["allocations"], _expected(inferno_dir, "g3-small-limited.json"))
    status, got_u = server.post("/optimizer/optimize", dict(spec, unlimited=True))
    assert sum(a["cost"] for a in got_u["allocations"].values()) == pytest.approx(21252)

    # getters, and the desired allocation recorded on each server
    status, servers = server.get("/optimizer/getServers")
    assert status == 200
    assert len(servers["servers"]) == 15
    assert all("desiredAlloc" in s for s in servers["servers"])
    status, acc = server.get("/optimizer/getAccelerator/G2")
    assert status == 200
    assert acc["name"] == "G2"
    assert server.get("/optimizer/getAccelerator/nope")[0] == 404
    status, names = server.get("/optimizer/getModels")
    assert status == 200
    assert "granite_13b" in names
    status, perf = server.get("/optimizer/getModelAcceleratorPerf/granite_13b/G2")
    assert status == 200
    assert perf["acc"] == "G2"
    status, target = server.get("/optimizer/getServiceClassModelTarget/Premium/granite_13b")
    assert status == 200
    assert target["model"] == "granite_13b"

    # an edit: without one server the total drops by exactly that server's cost
    name = "Free-granite_13b"
    cost = got["allocations"][name]["cost"]
    assert server.get(f"/optimizer/removeServer/{name}")[0] == 200
    status, fewer = server.post("/optimizer/optimize", spec)
    assert status == 200
    assert name not in fewer["allocations"]
    total = sum(a["cost"] for a in got["allocations"].values())
    assert sum(a["cost"] for a in fewer["allocations"].values()) == pytest.approx(total - cost)


def test_no_feasible_allocation_answers_404_without_body(server, inferno_dir):
    """As the reference: 404 and no body.

    inferplan's own route answers the partial solution and names the servers left out, with
    the reason.
    """
    doc = json.loads((inferno_dir / "g3" / "small" / "system-data.json").read_text())
    for c in doc["system"]["capacityData"]["count"]:
        c["count"] = 1
    doc["system"]["optimizerData"]["optimizer"]["saturationPolicy"] = "None"
    status, body = server.post("/optimizer/optimizeOne", doc)
    assert status == 404
    assert body is None
    status, got = server.post("/v1/fleet/optimize", {"system": doc["system"]})
    assert status == 200
    assert got["unallocated"]
    assert all(isinstance(why, str) and why for why in got["unallocated"].values())
    assert "left out" in got["explanation"]


def test_stateful_optimizer_is_thread_safe(server, inferno_dir):
    """Concurrent edits (add/remove servers) and optimizations never tear the state.

    Every answer is a 200 whose allocations are a subset of the servers known at some
    instant, and the final state is what the edits leave.
    """
    _load_state(server, inferno_dir)
    _, base = server.get("/optimizer/getServers")
    template = base["servers"][0]
    spec = {"unlimited": True}

    def edit(k):
        for j in range(5):
            srv = dict(template, name=f"extra-{k}-{j}")
            assert server.post("/optimizer/addServer", srv)[0] == 200
            if j % 2:
                assert server.get(f"/optimizer/removeServer/extra-{k}-{j}")[0] == 200

    def solve(_):
        status, got = server.post("/optimizer/optimize", spec)
        assert status == 200, got
        return set(got["allocations"])

    with ThreadPoolExecutor(8) as pool:
        edits = [pool.submit(edit, k) for k in range(4)]
        solves = [pool.submit(solve, k) for k in range(8)]
        for f in edits:
            f.result()
        names = [f.result() for f in solves]
    originals = {s["name"] for s in base["servers"]}
    for got in names:
        assert originals <= got
    _, final = server.get("/optimizer/getServers")
    extra = {s["name"] for s in final["servers"]} - originals
    assert extra == {f"extra-{k}-{j}" for k in range(4) for j in (0, 2, 4)}


# -- bad input ---------------------------------------------------------------------------------


def _bench():
    spec = importlib.util.spec_from_file_location(
        "bench_service", ROOT / "scripts" / "bench_service.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_malformed_bodies_get_4xx_naming_the_field(server):
    """The load script's malformed bodies (a CI-sized share of its 1,000).

    Each gets a 4xx whose message and ``field`` name the field at fault; the service stays
    up.
    """
    for body, field in _bench().malformed_bodies(110):
        for route in ("/analyzer/solve", "/analyzer/target", "/analyzer/optimize"):
            status, got = server.post(route, raw=body)
            assert 400 <= status < 500, (route, body, got)
            assert isinstance(got, dict), (route, body, got)
            assert got["message"], (route, body, got)
            if field is not None:
                assert got.get("field") == field, (body, got)
                assert field in got["message"], (body, got)
    assert server.get("/healthz")[0] == 200


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("/optimizer/setAccelerators", {"accelerators": [{"name": "A", "cost": -1}]}, "cost"),
        ("/optimizer/setServers", {"servers": [{"name": "s"}]}, "model"),
        ("/optimizer/optimize", {"saturationPolicy": "Sometimes"}, "saturationPolicy"),
        ("/optimizer/optimizeOne", {"sys": {}}, "system"),
        ("/v1/size", {"alpha": 1, "beta": 1, "out_tokens": 10, "max_batch": 0}, "max_batch"),
        ("/v1/size", {"alpha": "x", "beta": 1, "out_tokens": 10, "max_batch": 4}, "alpha"),
        (
            "/v1/size",
            {"alpha": 1, "beta": 1, "out_tokens": 10, "max_batch": 4, "ttft_percentile": [2, 100]},
            "ttft_percentile",
        ),
        (
            "/v1/analyze",
            {
                "alpha": 1,
                "beta": 1,
                "out_tokens": 10,
                "max_batch": 4,
                "rate": 1,
                "admission": "later",
            },
            "admission",
        ),
        ("/v1/size-many", {"rows": {"alpha": [1, 2], "beta": [1, 2, 3]}}, "beta"),
        # a misspelt target must not be sized as if it were absent ("no target binds")
        ("/v1/size", {"alpha": 1, "beta": 1, "out_tokens": 10, "max_batch": 4, "itl": 5}, "itl"),
        ("/tune", {"tuner": "t-typo", "window": []}, "window"),
        (
            "/tune",
            {
                "tuner": "t-typo2",
                "reset": {"kind": "decode_only", "alpha": 10, "beta": 0.6, "out_tokens": 200},
                "targets": {"max_batch": 64, "itl": 20},
            },
            "itl",
        ),
        (
            "/v1/analyze",
            {"alpha": 1, "beta": 1, "out_tokens": 10, "max_batch": 4, "rate": 1, "qantiles": []},
            "qantiles",
        ),
        (
            "/v1/optimal-concurrency",
            {"alpha": 1, "beta": 1, "out_tokens": 10, "max_batch": 4, "admission": "iteration"},
            "admission",
        ),
        ("/v1/fleet/optimize", {"system": {}, "solver": "magic"}, "solver"),
        ("/v1/fleet/optimize", {"system": {"serverdata": {"srvers": []}}}, "system"),
        ("/tune", {"tuner": "t-bad", "reset": {"kind": "decode_only", "alpha": -1}}, "reset"),
        # sizes beyond any real model, which would keep the kernel counting prefill chunks
        ("/analyzer/target", dict(EXAMPLE, avgInputTokens=1e30), "avgInputTokens"),
        (
            "/v1/size",
            {"alpha": 1, "beta": 1, "in_tokens": 1e30, "out_tokens": 10, "max_batch": 4},
            "in_tokens",
        ),
        (
            "/v1/size",
            {
                "alpha": 1,
                "beta": 1,
                "in_tokens": 1e6,
                "out_tokens": 10,
                "max_num_tokens": 1e-3,
                "max_batch": 4,
            },
            "max_num_tokens",
        ),
        (
            "/v1/size-many",
            {
                "rows": {
                    "alpha": 1,
                    "beta": 1,
                    "in_tokens": [1, 1e30],
                    "out_tokens": 10,
                    "max_batch": 4,
                }
            },
            "in_tokens",
        ),
        (
            "/tune",
            {"tuner": "t-big", "reset": {"kind": "decode_only", "alpha": 1e308, "beta": 1}},
            "alpha",
        ),
    ],
)
def test_bad_requests_name_the_field(server, route, body, field):
    status, got = server.post(route, body)
    assert 400 <= status < 500, got
    assert field in got["message"], got


def test_unbounded_queue_above_saturation_is_explained(server):
    body = {"alpha": 10, "beta": 1, "out_tokens": 100, "max_batch": 8, "rate": 1e6}
    status, got = server.post("/v1/analyze", body)
    assert status == 422
    assert got["field"] == "rate"
    assert "saturation" in got["message"]


# -- inferplan's own routes ----------------------------------------------------------------------


def test_own_routes_agree_with_the_library(server):
    import inferplan as ip

    model = ip.PrefillDecode(12, 0.05, 0.0005, 128, 512)
    r = ip.Replica(model, max_batch=48, max_queue=128)
    body = {"alpha": 12, "beta": 0.05, "gamma": 0.0005, "in_tokens": 128, "out_tokens": 512,
            "max_batch": 48, "max_queue": 128}  # fmt: skip
    for admission in (None, "immediate", "iteration"):
        status, got = server.post("/v1/analyze", dict(body, rate=2.5, admission=admission,
                                                      quantiles=[0.9]))  # fmt: skip
        assert status == 200
        want = r.analyze(2.5, admission=admission)
        assert got["metrics"]["ttft_ms"] == pytest.approx(want.ttft_ms, rel=1e-12)
        assert got["quantiles"]["0.9"]["wait_ms"] == pytest.approx(
            r.wait_quantile(2.5, 0.9, admission=admission), rel=1e-12)  # fmt: skip
        status, got = server.post("/v1/size", dict(body, admission=admission, itl_ms=20,
                                                   ttft_percentile=[0.95, 400]))  # fmt: skip
        want = r.size(itl_ms=20, ttft_percentile=(0.95, 400), admission=admission)
        assert status == 200
        assert got["rate"] == pytest.approx(want.rate, rel=1e-12)
        assert got["binding"] == want.binding
        assert got["explanation"]
    status, got = server.post("/v1/size", dict(body, itl_ms=1))
    assert status == 200
    assert got["feasible"] is False
    assert "itl_ms" in got["reason"]

    cols = {"kind": "prefill_decode", "alpha": [12, 8], "beta": 0.05, "gamma": 0.0005,
            "in_tokens": 128, "out_tokens": 512, "max_batch": [48, 64], "max_queue": 128,
            "itl_ms": [20, 0.1]}  # fmt: skip
    status, got = server.post("/v1/size-many", {"rows": cols})
    assert status == 200
    assert got["status"][1] == int(ip.Status.INFEASIBLE_ITL)
    assert got["rate"][0] == pytest.approx(r.size(itl_ms=20).rate, rel=1e-12)
    assert got["rate"][1] is None
    assert "itl_ms" in got["status_message"][1]
    status, got = server.post("/v1/analyze-many", {"rows": dict(cols, rate=[1.0, 2.0])})
    assert status == 200
    assert got["itl_ms"][0] == pytest.approx(r.analyze(1.0).itl_ms, rel=1e-12)
    status, got = server.post("/v1/optimal-concurrency", dict(body, itl_ms=20, ttft_ms=60))
    assert status == 200
    assert 1 <= got["max_batch"] <= 48


def test_fleet_optimize_any_solver(server, inferno_dir):
    doc = json.loads((inferno_dir / "g3" / "small" / "system-data.json").read_text())
    totals = {}
    for solver in ("greedy", "unlimited", "milp"):
        status, got = server.post("/v1/fleet/optimize", {"system": doc["system"],
                                                         "solver": solver})  # fmt: skip
        assert status == 200, got
        totals[solver] = got["totalCost"]
    assert totals["greedy"] == pytest.approx(25826)
    assert totals["unlimited"] == pytest.approx(21252)
    assert totals["unlimited"] <= totals["milp"] + 1e-6 <= totals["greedy"] + 1e-6


def test_cost_table_route(server):
    body = {
        "accelerators": [{"name": "A100", "cost_per_hour": 2.0,
                          "power": {"idle_w": 60, "mid_w": 250, "mid_util": 0.5,
                                    "full_w": 400}}],
        "profiles": [{"model": "m", "accelerator": "A100", "alpha": 19, "beta": 1,
                      "kind": "DecodeOnly"}],
        "query_classes": [{"name": "q", "in_tokens": 0, "out_tokens": 256, "itl_ms": 50}],
        "batch_sizes": [8, 32],
    }  # fmt: skip
    status, got = server.post("/v1/cost-table", body)
    assert status == 200
    assert got["rows"] == 2
    import inferplan as ip

    want = ip.Replica(ip.DecodeOnly(19, 1, 256), max_batch=32).size(itl_ms=50).rate
    assert got["columns"]["rate"][1] == pytest.approx(want, rel=1e-9)


# -- service plumbing ---------------------------------------------------------------------------


def test_heavy_requests_do_not_block_the_event_loop(server):
    """Long searches run in worker threads; ``/healthz`` keeps answering.

    Large-batch searches (a million-request batch: tenths of a second each) run in worker
    threads: /healthz keeps answering in a fraction of that time while they run.
    """
    heavy = dict(EXAMPLE, maxBatchSize=1_000_000, maxQueueSize=1000, beta=0.0005,
                 gamma=5e-7, targetTTFT=600_000, targetITL=2000)  # fmt: skip
    t0 = time.perf_counter()
    assert server.post("/analyzer/optimize", heavy)[0] == 200
    single = time.perf_counter() - t0
    assert single > 0.1  # heavy enough to tell a blocked loop from a free one
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(server.post, "/analyzer/optimize", heavy) for _ in range(3)]
        time.sleep(0.02)
        probes = []
        while not all(f.done() for f in futures):
            t0 = time.perf_counter()
            assert server.get("/healthz")[0] == 200
            probes.append(time.perf_counter() - t0)
        assert all(f.result()[0] == 200 for f in futures)
    assert len(probes) >= 3
    probes.sort()
    assert probes[len(probes) // 2] < single / 3, (probes, single)


def test_healthz_metrics_openapi(server):
    status, health = server.get("/healthz")
    assert status == 200
    assert health["status"] == "ok"
    assert health["api"] == "both"
    before = _count(server, "/analyzer/target", "200")
    server.post("/analyzer/target", EXAMPLE)
    assert _count(server, "/analyzer/target", "200") == before + 1
    status, spec = server.get("/openapi.json")
    assert status == 200
    for path in ("/analyzer/solve", "/analyzer/target", "/analyzer/optimize",
                 "/optimizer/optimizeOne", "/optimizer/optimize", "/optimizer/setServers",
                 "/v1/size", "/v1/fleet/optimize", "/tune"):  # fmt: skip
        assert path in spec["paths"], path
    body = spec["paths"]["/analyzer/target"]["post"]["requestBody"]
    assert "maxBatchSize" in json.dumps(body)


def _count(server, route, status):
    _, text = server.get("/metrics")
    text = text.decode() if isinstance(text, bytes) else str(text)
    for line in text.splitlines():
        if line.startswith("inferplan_requests_total{") and f'route="{route}"' in line \
                and f'status="{status}"' in line:  # fmt: skip
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_root_layouts_and_inferno_environment():
    """--api analyzer / optimizer serve the reference routes at the root.

    INFERNO_HOST and INFERNO_PORT choose where to listen when --host/--port are not given.
    """
    port = free_port()
    s = Server("--api", "analyzer", env={"INFERNO_HOST": "127.0.0.1", "INFERNO_PORT": str(port)},
               port=port)  # fmt: skip
    try:
        status, got = s.post("/target", EXAMPLE)
        assert status == 200
        assert got["RPSTargetTTFT"] == pytest.approx(2.9494622, rel=1e-4)
        assert s.post("/optimizeOne", {})[0] == 404  # not the optimizer's layout
        assert s.get("/healthz")[1]["api"] == "analyzer"
    finally:
        s.stop()
    s = Server("--api", "optimizer")
    try:
        assert s.post("/optimize", {"unlimited": True})[0] == 200  # an empty fleet
        assert s.post("/solve", EXAMPLE)[0] == 404
    finally:
        s.stop()


def test_serve_cli_errors_are_one_line(server):
    import subprocess
    import sys

    env = package_env(INFERNO_PORT="eighty")
    env.pop("INFERNO_HOST", None)
    res = subprocess.run([sys.executable, "-m", "inferplan", "serve"], env=env,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0
    assert "INFERNO_PORT" in res.stderr
    res = subprocess.run([sys.executable, "-m", "inferplan", "serve", "--help"],
                         env=dict(env, INFERNO_PORT="1"), capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert res.returncode == 0
    assert "--api" in res.stdout
    assert "INFERNO_HOST" in res.stdout
    res = subprocess.run([sys.executable, "-m", "inferplan", "serve", "--port", str(server.port)],
                         env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert res.returncode == 2
    assert "cannot listen" in res.stderr
    assert res.stderr.strip().count("\n") == 0


def test_no_nan_in_answers(server):
    """JSON has no NaN: answers are finite numbers or null."""
    status, got = server.post("/v1/analyze", {"alpha": 10, "beta": 1, "out_tokens": 100,
                                              "max_batch": 8, "rate": 0})  # fmt: skip
    assert status == 200
    assert all(v is None or math.isfinite(v) for v in got["metrics"].values())


def test_tune_over_http_matches_the_library(server):
    """POST /tune with the windows of a real engine log.

    The same estimate as the Python Tuner fed the same windows; the state readable
    afterwards and exported in /metrics.
    """
    import inferplan as ip
    from inferplan.service.metrics import engine_log_windows
    from inferplan.service.tuning import Tuner

    log = ROOT / "tests" / "data" / "vllm-logs" / "vllm_log_scale200_prompt500.csv"
    windows = engine_log_windows(log, window_s=10.0)
    profile = {"kind": "decode_only", "alpha": 10.0, "beta": 0.6, "out_tokens": 200}
    status, got = server.post("/tune", {"tuner": "t1", "reset": profile,
                                        "windows": [w.as_dict() for w in windows],
                                        "targets": {"max_batch": 256, "itl_ms": 40,
                                                    "arrival_rate": 20}})  # fmt: skip
    assert status == 200, got
    local = Tuner(ip.DecodeOnly(10.0, 0.6, 200))
    local.update_many(windows)
    for k, v in local.params.items():
        assert got["state"]["params"][k] == pytest.approx(v, rel=1e-12)
    assert [s["status"] for s in got["steps"]] == [s.status for s in local.history]
    size = ip.Replica(local.model(), max_batch=256).size(itl_ms=40)
    assert got["sizing"]["replicas"] == math.ceil(20 / size.throughput)
    status, state = server.get("/v1/tune/t1")
    assert status == 200
    assert state["state"]["windows"] == len(windows)
    _, text = server.get("/metrics")
    assert 'inferplan_tuner_parameter{parameter="beta",tuner="t1"}' in text.decode()
    assert server.post("/tune", {"tuner": "nobody", "windows": []})[0] == 404


def test_mutated_bodies_never_get_a_5xx(server, inferno_dir):
    """Valid bodies with fields replaced by wrong types, extremes and nesting.

    Always a 2xx or a 4xx with a message, never a 5xx or a hang, and the service stays up.
    """
    import random

    rng = random.Random(19)
    values = [None, -1, 0, 1, 1.5, 1e308, -1e308, "x", "", True, [], {}, [1, 2], 10**30]
    bases = {
        "/v1/size": {"alpha": 12, "beta": 0.05, "gamma": 5e-4, "in_tokens": 128,
                     "out_tokens": 512, "max_batch": 48, "max_queue": 128, "itl_ms": 20,
                     "ttft_percentile": [0.9, 200], "admission": "iteration"},
        "/v1/analyze": {"alpha": 12, "beta": 0.05, "out_tokens": 512, "max_batch": 48,
                        "rate": 1, "quantiles": [0.5], "kind": "decode_only"},
        "/v1/size-many": {"rows": {"alpha": [12, 8], "beta": 0.05, "out_tokens": 100,
                                   "max_batch": [8, 16], "itl_ms": 30}},
        "/tune": {"tuner": "f", "reset": {"kind": "decode_only", "alpha": 5, "beta": 0.3},
                  "windows": [{"points": [[4, 6]]}],
                  "targets": {"max_batch": 8, "itl_ms": 30, "arrival_rate": 1}},
        "/analyzer/optimize": EXAMPLE,
        "/optimizer/optimizeOne": json.loads(
            (inferno_dir / "g3" / "small" / "system-data.json").read_text()),
    }  # fmt: skip

    def mutate(doc, depth=0):
        if isinstance(doc, (dict, list)) and doc and depth < 5:
            out = dict(doc) if isinstance(doc, dict) else list(doc)
            key = rng.choice(list(out)) if isinstance(out, dict) else rng.randrange(len(out))
            if isinstance(out[key], (dict, list)) and rng.random() < 0.7:
                out[key] = mutate(out[key], depth + 1)
            else:
                out[key] = rng.choice(values)
            return out
        return rng.choice(values)

    for route, base in bases.items():
        for _ in range(25):
            status, got = server.post(route, mutate(mutate(base)), timeout=30)
            assert status < 500, (route, got)
            if status >= 400:
                assert isinstance(got, dict), (route, got)
                assert got["message"], (route, got)
    assert server.get("/healthz")[0] == 200


def test_oversized_body_is_refused_without_reading_it(server):
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(b"POST /v1/size HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100000000\r\n\r\n{")  # fmt: skip
        answer = ""
        while not answer.endswith("}"):
            chunk = s.recv(4096).decode()
            if not chunk:
                break
            answer += chunk
    assert answer.startswith("HTTP/1.1 413")
    assert "MiB" in answer
    assert server.get("/healthz")[0] == 200

"""Hostile and odd fleet data through ``inferplan optimize`` (real subprocesses) and the loader.

Every case is a one-line error naming file, entry and field, a documented warning where the
reference reads the value as "not set" (docs/model.md 4), or an explicit unallocated server
with its reason.
"""

from __future__ import annotations

import json
import shutil

import pytest

from inferplan import fleet
from inferplan.fleet.data import DataWarning


def make(tmp_path, edit, name="sys"):
    """Return a copy of the package's example system (a directory of *-data.json), edited."""
    d = tmp_path / name
    d.mkdir()
    docs = {f.name: json.loads(f.read_text()) for f in fleet.example_path().glob("*-data.json")}
    edit(docs)
    for file, doc in docs.items():
        (d / file).write_text(json.dumps(doc))
    return d


def server(docs, i=0):
    return docs["server-data.json"]["servers"][i]


def load(docs, **kw):
    server(docs)["currentAlloc"]["load"].update(kw)


def target(docs, **kw):
    docs["serviceclass-data.json"]["serviceClasses"][0]["modelTargets"][0].update(kw)


def optimize(inferplan_cli, path, *args):
    return inferplan_cli("optimize", path, "--format", "json", *args)


def warnings_of(p):
    return [x for x in p.stderr.splitlines() if "warning:" in x]


def test_unservable_load_is_reported_with_its_reason(inferplan_cli, tmp_path):
    path = make(tmp_path, lambda d: load(d, arrivalRate=1e100))
    for solver in ("greedy", "unlimited"):
        p = optimize(inferplan_cli, path, "--solver", solver)
        assert p.returncode == 0, p.stderr
        assert p.stderr == ""  # no RuntimeWarning from a NaN cast to int
        result = json.loads(p.stdout)
        assert "chat-8b" not in result["allocations"]
        why = result["unallocated"]["chat-8b"]
        assert why.count("saturated") == 4  # one reason per accelerator with a profile
        assert "L4: saturated: the load of 1e+100 req/min needs" in why
        assert "more than 2147483647" in why
        assert len(result["allocations"]) == 4  # the other servers are unaffected


def test_zero_output_tokens_with_load_warns_and_is_zero_load(inferplan_cli, tmp_path):
    path = make(tmp_path, lambda d: load(d, avgOutTokens=0))
    p = optimize(inferplan_cli, path)
    assert p.returncode == 0, p.stderr
    (w,) = warnings_of(p)
    assert "server-data.json: servers[0] ('chat-8b').currentAlloc.load" in w
    assert "'avgOutTokens'" in w
    assert "zero load" in w
    a = json.loads(p.stdout)["allocations"]["chat-8b"]
    assert a["numReplicas"] == 0
    assert a["accelerator"] == ""


@pytest.mark.parametrize(
    ("edit", "needles"),
    [
        (lambda d: load(d, avgOutTokens=0.5), ("servers[0] ('chat-8b')", "'avgOutTokens'", "0.5")),
        (
            lambda d: d["model-data.json"]["models"][0].update(maxBatchSize=0),
            ("model-data.json", "models[0] ('llama-8b' on 'L4')", "'maxBatchSize'", ">= 1"),
        ),
        (
            lambda d: d["serviceclass-data.json"]["serviceClasses"][0].update(priority="high"),
            ("serviceclass-data.json", "serviceClasses[0] ('interactive')", "'priority'", "high"),
        ),
        (
            lambda d: d["model-data.json"]["models"][0].update(acc="Z9"),
            ("model-data.json", "models[0] ('llama-8b' on 'Z9')", "'acc'", "'Z9'"),
        ),
        (
            lambda d: server(d).update(minNumReplicas=10**30),
            ("server-data.json", "servers[0] ('chat-8b')", "'minNumReplicas'", "2147483647"),
        ),
        (
            lambda d: server(d).update(maxBatchSize=10**9),
            ("servers[0] ('chat-8b')", "'maxBatchSize'", "16777216"),
        ),
        (
            lambda d: load(d, avgInTokens=1e20),
            ("servers[0] ('chat-8b')", "'avgInTokens'", "at most"),
        ),
        (
            lambda d: docs_power(d).update(full=None),
            ("accelerator-data.json", "accelerators[0] ('L4')", "'full'", "required"),
        ),
    ],
)
def test_invalid_data_is_a_one_line_error(inferplan_cli, one_line_error, tmp_path, edit, needles):
    p = optimize(inferplan_cli, make(tmp_path, edit))
    one_line_error(p, *needles)
    assert p.stdout == ""


def docs_power(d):
    return d["accelerator-data.json"]["accelerators"][0]["power"]


def test_values_read_as_unset_warn_and_mean_unset(inferplan_cli, tmp_path):
    """Unset-like values allocate as if the field were absent, with a warning.

    slo-itl 0, a server's maxBatchSize 0 and a priority outside [1, 100] give the same
    allocation as leaving the field out (or priority 100), each with a warning.
    """

    def zero(d):
        target(d, **{"slo-itl": 0})
        server(d).update(maxBatchSize=0)
        d["serviceclass-data.json"]["serviceClasses"][1]["priority"] = 500

    def unset(d):
        del d["serviceclass-data.json"]["serviceClasses"][0]["modelTargets"][0]["slo-itl"]
        d["serviceclass-data.json"]["serviceClasses"][1]["priority"] = 100

    p = optimize(inferplan_cli, make(tmp_path, zero, "zero"))
    q = optimize(inferplan_cli, make(tmp_path, unset, "unset"))
    assert p.returncode == 0, p.stderr
    assert q.returncode == 0, q.stderr
    w = warnings_of(p)
    assert len(w) == 3
    assert not warnings_of(q)
    assert any("'slo-itl' is 0" in x and "modelTargets[0] ('llama-8b')" in x for x in w)
    assert any("servers[0] ('chat-8b'): field 'maxBatchSize' is 0" in x for x in w)
    assert any("serviceClasses[1] ('standard'): field 'priority' is 500" in x for x in w)
    a, b = json.loads(p.stdout), json.loads(q.stdout)
    assert a["allocations"] == b["allocations"]
    assert a["totalCost"] == b["totalCost"]


def test_accelerator_without_power(inferplan_cli, one_line_error, tmp_path):
    path = make(tmp_path, lambda d: d["accelerator-data.json"]["accelerators"][0].pop("power"))
    p = optimize(inferplan_cli, path)
    assert p.returncode == 0, p.stderr
    (w,) = warnings_of(p)
    assert "accelerators[0] ('L4'): field 'power' is missing" in w
    one_line_error(optimize(inferplan_cli, path, "--objective", "power"), "'L4'", "'power'")
    with pytest.warns(DataWarning, match="'power' is missing"):
        fleet.load_system(path)


def test_deeply_nested_json(inferplan_cli, one_line_error, tmp_path):
    f = tmp_path / "system-data.json"
    f.write_text("[" * 100_000 + "]" * 100_000)
    one_line_error(optimize(inferplan_cli, f), "system-data.json", "nested too deeply")


def test_out_is_checked_before_the_work(inferplan_cli, one_line_error, tmp_path):
    example = fleet.example_path()
    p = optimize(inferplan_cli, example, "--out", tmp_path / "no" / "such" / "r.json")
    one_line_error(p, "--out", "does not exist")
    assert p.stdout == ""
    p = optimize(inferplan_cli, example, "--out", tmp_path)
    one_line_error(p, "--out", "is a directory")


def test_milp_json_is_clean_on_stdout(inferplan_cli):
    p = optimize(inferplan_cli, fleet.example_path(), "--solver", "milp")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("{")
    result = json.loads(p.stdout)  # nothing but the JSON (no HiGHS banner)
    assert result["solver"] == "milp"
    assert result["allocations"]


def test_loader_raises_and_warns_in_python(tmp_path):
    path = make(tmp_path, lambda d: target(d, **{"slo-ttft": 0}))
    with pytest.warns(DataWarning, match=r"'slo-ttft' is 0: 0 means not set"):
        system = fleet.load_system(path)
    assert system.classes[0].targets["llama-8b"].ttft_ms is None
    bad = make(tmp_path, lambda d: load(d, avgOutTokens=0.25), "bad")
    with pytest.raises(fleet.DataError, match=r"'avgOutTokens' must be 0 \(no load\) or >= 1"):
        fleet.load_system(bad)
    shutil.rmtree(bad)


def test_a_system_built_in_code_is_checked_too():
    from dataclasses import replace

    system = fleet.load_system(fleet.example_path())
    s0 = system.servers[0]
    bad = replace(system, servers=(replace(s0, load=replace(s0.load, out_tokens=0.5)),
                                   *system.servers[1:]))  # fmt: skip
    with pytest.raises(ValueError, match=r"servers\[0\] \('chat-8b'\): load.out_tokens"):
        fleet.optimize(bad)


@pytest.mark.parametrize(
    ("doc", "needles"),
    [
        ({}, ("no fleet data", "got keys []")),
        ({"serverData": {"servers": []}}, ("no fleet data", "serverData")),  # no "system"
        ({"system": {"servers": []}}, ("system: no fleet data", "serverData")),
        ({"benchmarks": []}, ("no fleet data", "benchmarks")),  # a GuideLLM report, say
    ],
)
def test_a_file_without_fleet_data_is_an_error(
    inferplan_cli, one_line_error, tmp_path, doc, needles
):
    """JSON that holds none of the sections is an error, not an empty fleet.

    JSON that holds none of the sections once gave an empty allocation with status "ok" and
    exit 0: a wrong file must not look like an empty fleet.
    """
    f = tmp_path / "system-data.json"
    f.write_text(json.dumps(doc))
    with pytest.raises(fleet.DataError, match="no fleet data"):
        fleet.load_system(f)
    one_line_error(optimize(inferplan_cli, f), str(f), *needles)

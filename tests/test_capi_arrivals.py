"""The C interface's arrival calls (ABI minor 1), through cffi.

ip_analyze_arrivals, ip_quantiles_arrivals, ip_size_arrivals and their batch forms. Same
kernel as the Python module, so the numbers equal inferplan.arrivals on the cpp backend bit
for bit; at arrival_cv 1 they equal the Poisson calls bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import inferplan
from inferplan import arrivals
from inferplan.sizing import TARGET_FIELDS, target_tuple

METRICS = inferplan.Metrics._fields
MODEL = inferplan.PrefillDecode(8, 0.02, 5e-5, 500, 200)


def _service(api, model):
    s = np.zeros(1, api.service_dtype)
    names = ("kind", "alpha", "beta", "gamma", "in_tokens", "out_tokens", "max_num_tokens")
    for name, value in zip(names, model.params(), strict=True):
        s[0][name] = value
    return s


def _targets(api, rows=1, **targets):
    t = np.zeros(rows, api.targets_dtype)
    for name, value in zip(TARGET_FIELDS, target_tuple(**targets), strict=True):
        t[name] = value
    return t


def _handle(api, model, max_batch, max_queue):
    ffi, lib = api.ffi, api.lib
    p = ffi.new("ip_replica**")
    service = _service(api, model)
    assert lib.ip_replica_new(ffi.from_buffer("ip_service*", service), max_batch, max_queue,
                              ffi.NULL, p) == 0  # fmt: skip
    return ffi.gc(p[0], lib.ip_replica_free)


def test_versions(api):
    assert api.lib.ip_abi_version() == 1
    assert api.lib.ip_abi_minor() == 1


@pytest.mark.parametrize("max_queue", [math.inf, 30.0])
@pytest.mark.parametrize("cv", [0.0, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("rule", [None, "iteration"])
def test_calls_equal_the_python_api(api, cpp, max_queue, cv, rule):
    ffi, lib = api.ffi, api.lib
    code = inferplan.admission.CODES[rule]
    r = inferplan.Replica(MODEL, max_batch=12, max_queue=None if math.isinf(max_queue)
                          else max_queue)  # fmt: skip
    h = _handle(api, MODEL, 12, max_queue)
    rate = 0.7 * r.max_rate
    m = ffi.new("ip_metrics*")
    assert lib.ip_analyze_arrivals(h, rate, cv, lib.IP_FIT_GAMMA, code, m) == 0
    got = tuple(getattr(m, n) for n in METRICS)
    assert got == tuple(arrivals.analyze(r, rate, arrival_cv=cv, admission=rule))
    if cv == 1.0:
        assert lib.ip_analyze_admitted(h, rate, code, m) == 0
        assert got == tuple(getattr(m, n) for n in METRICS)
    w, t = ffi.new("double*"), ffi.new("double*")
    assert lib.ip_quantiles_arrivals(h, rate, 0.9, cv, 0, code, w, t) == 0
    assert w[0] == arrivals.wait_quantile(r, rate, 0.9, arrival_cv=cv, admission=rule)
    assert t[0] == arrivals.ttft_quantile(r, rate, 0.9, arrival_cv=cv, admission=rule)
    assert lib.ip_quantiles_arrivals(h, rate, 0.9, cv, 0, code, ffi.NULL, t) == 0
    assert lib.ip_ttft_by_batch_arrivals(h, rate, 0.9, cv, 0, code, w) == 0
    assert w[0] == arrivals.ttft_quantile(r, rate, 0.9, arrival_cv=cv, admission=rule,
                                          by_batch=True)  # fmt: skip
    assert lib.ip_ttft_by_batch_arrivals(h, rate, 0.0, cv, 0, code, w) == lib.IP_BAD_QUANTILE
    targets = {"itl_ms": 45.0, "ttft_percentile": (0.9, 600.0)}
    res = np.zeros(1, api.size_result_dtype)
    status = lib.ip_size_arrivals(h, ffi.from_buffer("ip_targets*", _targets(api, **targets)),
                                  cv, 0, code, ffi.from_buffer("ip_size_result*", res))  # fmt: skip
    expected = arrivals.size(r, arrival_cv=cv, admission=rule, **targets)
    assert status == res[0]["status"] == int(expected.status)
    assert res[0]["rate"] == expected.rate
    assert tuple(res[0]["metrics"].tolist()) == tuple(expected.metrics)


def test_batch_forms_equal_the_scalar_calls(api, cpp):
    ffi, lib = api.ffi, api.lib
    rows = 5
    services = np.repeat(_service(api, MODEL), rows)
    max_batch = np.full(rows, 12, np.int64)
    max_queue = np.array([math.inf, 20.0, 0.0, math.inf, 20.0])
    cv = np.array([0.5, 2.0, 1.0, -1.0, 1.5])
    r = inferplan.Replica(MODEL, max_batch=12)
    rate = np.full(rows, 0.5 * r.max_rate)
    metrics = np.zeros(rows, api.metrics_dtype)
    status = np.zeros(rows, np.int32)
    assert lib.ip_analyze_arrivals_many(
        rows, ffi.from_buffer("ip_service*", services), ffi.from_buffer("int64_t*", max_batch),
        ffi.from_buffer("double*", max_queue), ffi.from_buffer("double*", rate),
        ffi.from_buffer("double*", cv), 0, lib.IP_ADMIT_ITERATION,
        ffi.from_buffer("ip_metrics*", metrics), ffi.from_buffer("int32_t*", status), 1,
    ) == 0  # fmt: skip
    assert status.tolist() == [0, 0, 0, lib.IP_BAD_ARRIVAL_CV, 0]
    assert all(math.isnan(metrics[3][n]) for n in METRICS)
    m = ffi.new("ip_metrics*")
    for i in (0, 1, 2, 4):
        h = _handle(api, MODEL, 12, max_queue[i])
        assert lib.ip_analyze_arrivals(h, rate[i], cv[i], 0, lib.IP_ADMIT_ITERATION, m) == 0
        assert tuple(metrics[i].tolist()) == tuple(getattr(m, n) for n in METRICS)
    targets = _targets(api, rows, itl_ms=45.0)
    out = np.zeros(rows, api.size_result_dtype)
    assert lib.ip_size_arrivals_many(
        rows, ffi.from_buffer("ip_service*", services), ffi.from_buffer("int64_t*", max_batch),
        ffi.from_buffer("double*", max_queue), ffi.from_buffer("ip_targets*", targets),
        ffi.from_buffer("double*", cv), 0, 0, ffi.from_buffer("ip_size_result*", out), 1,
    ) == 0  # fmt: skip
    assert out["status"].tolist() == [0, 0, 0, lib.IP_BAD_ARRIVAL_CV, 0]
    one = np.zeros(1, api.size_result_dtype)
    for i in (0, 1, 2, 4):
        h = _handle(api, MODEL, 12, max_queue[i])
        lib.ip_size_arrivals(h, ffi.from_buffer("ip_targets*", targets[i:i + 1]), cv[i], 0, 0,
                             ffi.from_buffer("ip_size_result*", one))  # fmt: skip
        assert one[0]["rate"] == out[i]["rate"]
        assert one[0]["iterations"] == out[i]["iterations"]


def test_bad_input_returns_codes_naming_the_parameter(api):
    ffi, lib = api.ffi, api.lib
    h = _handle(api, MODEL, 8, 10.0)
    m = ffi.new("ip_metrics*")

    def message(code):
        return ffi.string(lib.ip_status_message(code)).decode()

    assert lib.ip_analyze_arrivals(h, 1.0, -0.5, 0, 0, m) == lib.IP_BAD_ARRIVAL_CV
    assert lib.ip_analyze_arrivals(h, 1.0, math.nan, 0, 0, m) == lib.IP_BAD_ARRIVAL_CV
    assert "arrival_cv" in message(lib.IP_BAD_ARRIVAL_CV)
    assert lib.ip_analyze_arrivals(h, 1.0, 2.0, 9, 0, m) == lib.IP_BAD_ARRIVAL_FIT
    assert "IP_FIT_GAMMA" in message(lib.IP_BAD_ARRIVAL_FIT)
    assert lib.ip_analyze_arrivals(h, 1.0, 2.0, 0, 3, m) == lib.IP_BAD_ADMISSION
    assert lib.ip_analyze_arrivals(ffi.NULL, 1.0, 2.0, 0, 0, m) == lib.IP_NULL_REPLICA
    assert lib.ip_analyze_arrivals(h, 1.0, 2.0, 0, 0, ffi.NULL) == lib.IP_NULL_OUT
    assert lib.ip_quantiles_arrivals(h, 1.0, 0.9, 2.0, 0, 0, ffi.NULL, ffi.NULL) == (
        lib.IP_NULL_OUT
    )
    w = ffi.new("double*")
    assert lib.ip_quantiles_arrivals(h, 1.0, 1.5, 2.0, 0, 0, w, ffi.NULL) == lib.IP_BAD_QUANTILE
    big = _handle(api, MODEL, 8, 1e6)
    assert lib.ip_analyze_arrivals(big, 1.0, 0.5, 0, 0, m) == lib.IP_BAD_ARRIVAL_LEVELS
    assert "400,000" in message(lib.IP_BAD_ARRIVAL_LEVELS)
    # CV 10 and hundreds of prefill chunks: the collision law is beyond the work bound
    bursty = inferplan.PrefillDecode(8, 0.02, 5e-5, 129 * 1024.0, 200, 1024)
    hb = _handle(api, bursty, 32, math.inf)
    rate = 0.5 * inferplan.Replica(bursty, max_batch=32).max_rate
    assert lib.ip_ttft_by_batch_arrivals(hb, rate, 0.99, 10.0, 0, lib.IP_ADMIT_IMMEDIATE, w) == (
        lib.IP_BAD_ARRIVAL_COLLISIONS
    )
    assert "work bound" in message(lib.IP_BAD_ARRIVAL_COLLISIONS)
    assert lib.ip_ttft_by_batch_arrivals(hb, rate, 0.99, 10.0, 0, lib.IP_ADMIT_ITERATION, w) == 0
    assert math.isfinite(w[0])
    services = np.repeat(_service(api, MODEL), 2)
    mb, mq, rate = np.full(2, 8, np.int64), np.full(2, math.inf), np.ones(2)
    st = np.zeros(2, np.int32)
    metrics = np.zeros(2, api.metrics_dtype)
    assert lib.ip_analyze_arrivals_many(
        2, ffi.from_buffer("ip_service*", services), ffi.from_buffer("int64_t*", mb),
        ffi.from_buffer("double*", mq), ffi.from_buffer("double*", rate), ffi.NULL, 0, 0,
        ffi.from_buffer("ip_metrics*", metrics), ffi.from_buffer("int32_t*", st), 1,
    ) == lib.IP_NULL_ARRIVAL_CV  # fmt: skip
    assert "arrival_cv" in message(lib.IP_NULL_ARRIVAL_CV)

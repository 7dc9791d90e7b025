"""The C interface (libinferplan, inferplan.h).

The C example, the cffi bindings from Python and from Numba, and bad input. Its numbers must
equal the Python API's on the cpp backend bit for bit (same kernel); the C example prints 17
digits and is compared to 1e-12.
"""

from __future__ import annotations

import importlib.util
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import inferplan
from inferplan import capi

ROOT = Path(__file__).resolve().parents[1]
METRICS = inferplan.Metrics._fields


def _extension_built() -> bool:
    try:
        from inferplan import _core  # noqa: F401
    except ImportError:
        return False
    return True


def test_library_is_built_with_the_extension():
    """A failed build is a failed suite: where the extension is built, so is the C library."""
    if not _extension_built():
        pytest.skip("inferplan._core is not built (the C library is built with it)")
    assert Path(capi.c_library_path()).is_file()
    assert (Path(capi.c_include_dir()) / "inferplan.h").is_file()


# (name, model, max_batch, max_queue, targets for Replica.size)
CASES = [
    ("seed_itl", inferplan.DecodeOnly(19, 1, 1024), 48, 152, {"itl_ms": 50}),
    (
        "prefill_ttft_itl_unbounded",
        inferplan.PrefillDecode(8, 0.02, 1e-4, 512, 256),
        64,
        math.inf,
        {"ttft_ms": 800, "itl_ms": 40},
    ),
    (
        "prefill_chunks_wait_p99",
        inferplan.PrefillDecode(5, 0.05, 2e-4, 6000, 300, max_num_tokens=2048),
        32,
        100,
        {"wait_percentile": (0.99, 400)},
    ),
    (
        "ttft_p95_block",
        inferplan.DecodeOnly(10, 0.5, 200),
        16,
        20,
        {"ttft_percentile": (0.95, 1500), "max_block": 1e-3},
    ),
    ("tps_cap", inferplan.DecodeOnly(19, 1, 1024), 48, 152, {"tps": 5000}),
    ("no_target", inferplan.DecodeOnly(19, 1, 1024), 8, 0, {}),
    ("infeasible_itl", inferplan.DecodeOnly(19, 1, 1024), 48, 152, {"itl_ms": 10}),
]
IDS = [c[0] for c in CASES]


def _service(api, model):
    s = np.zeros(1, api.service_dtype)
    for name, value in zip(
        ("kind", "alpha", "beta", "gamma", "in_tokens", "out_tokens", "max_num_tokens"),
        model.params(),
        strict=True,
    ):
        s[0][name] = value
    return s


def _targets(api, targets):
    t = np.zeros(1, api.targets_dtype)
    values = inferplan.sizing.target_tuple(**targets)
    for name, value in zip(inferplan.sizing.TARGET_FIELDS, values, strict=True):
        t[0][name] = value
    return t


def _c_args(model, max_batch, max_queue, targets) -> list[str]:
    names = ("kind", "alpha", "beta", "gamma", "in_tokens", "out_tokens", "max_num_tokens")
    args = [f"{n}={v!r}" for n, v in zip(names, model.params(), strict=True)]
    args += [f"max_batch={max_batch}", f"max_queue={max_queue!r}"]
    tuple_ = inferplan.sizing.target_tuple(**targets)
    args += [f"{n}={v!r}" for n, v in zip(inferplan.sizing.TARGET_FIELDS, tuple_, strict=True)]
    return args


# --- the C example ------------------------------------------------------------------


@pytest.fixture(scope="module")
def c_example(api, tmp_path_factory):
    compiler = shutil.which(os.environ.get("CC", "cc"))
    if compiler is None:
        pytest.skip("no C compiler (cc) on PATH")
    libdir = str(Path(capi.c_library_path()).parent)
    exe = tmp_path_factory.mktemp("c") / "size_replica"
    cmd = [
        compiler, "-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror",
        str(ROOT / "examples" / "c" / "size_replica.c"),
        f"-I{capi.c_include_dir()}", f"-L{libdir}", "-linferplan", f"-Wl,-rpath,{libdir}",
        "-o", str(exe),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return exe


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_c_example_matches_python(c_example, cpp, case):
    _, model, max_batch, max_queue, targets = case
    expected = inferplan.Replica(model, max_batch=max_batch, max_queue=max_queue).size(**targets)
    proc = subprocess.run(
        [str(c_example), *_c_args(model, max_batch, max_queue, targets)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if not expected.feasible:
        assert proc.returncode == 1, proc.stderr
        assert f"status {int(expected.status)}" in proc.stderr
        return
    assert proc.returncode == 0, proc.stderr
    out = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert int(out["status"]) == 0
    assert inferplan.sizing.BINDING_NAMES[int(out["binding"])] == expected.binding
    assert int(out["iterations"]) == expected.iterations
    assert float(out["sized_rate"]) == pytest.approx(expected.rate, rel=1e-12, abs=0)
    for name in METRICS:
        assert float(out[name]) == pytest.approx(getattr(expected.metrics, name), rel=1e-12,
                                                 abs=1e-300), name  # fmt: skip


def test_c_example_reports_bad_input(c_example):
    proc = subprocess.run([str(c_example), "alpha=nan"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "service.alpha" in proc.stderr


# --- cffi from Python ----------------------------------------------------------------


def test_versions(api):
    assert api.lib.ip_abi_version() == capi._header_abi_version() == 1
    assert api.version() == inferplan.__version__


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_handle_matches_replica_bitwise(api, cpp, case):
    _, model, max_batch, max_queue, targets = case
    ffi, lib = api.ffi, api.lib
    replica = inferplan.Replica(model, max_batch=max_batch, max_queue=max_queue)
    handle_p = ffi.new("ip_replica**")
    assert lib.ip_replica_new(ffi.from_buffer("ip_service*", _service(api, model)), max_batch,
                              max_queue, ffi.NULL, handle_p) == 0  # fmt: skip
    handle = ffi.gc(handle_p[0], lib.ip_replica_free)

    expected = replica.size(**targets)
    res = np.zeros(1, api.size_result_dtype)
    status = lib.ip_size(handle, ffi.from_buffer("ip_targets*", _targets(api, targets)),
                         ffi.from_buffer("ip_size_result*", res))  # fmt: skip
    assert status == res[0]["status"] == int(expected.status)
    if not expected.feasible:
        assert math.isnan(res[0]["rate"])
        return
    assert res[0]["rate"] == expected.rate
    assert tuple(res[0]["metrics"].tolist()) == tuple(expected.metrics)

    rate = 0.5 * expected.rate
    m = ffi.new("ip_metrics*")
    assert lib.ip_analyze(handle, rate, m) == 0
    assert tuple(getattr(m, n) for n in METRICS) == tuple(replica.analyze(rate))
    out = ffi.new("double*")
    assert lib.ip_wait_quantile(handle, rate, 0.9, out) == 0
    assert out[0] == replica.wait_quantile(rate, 0.9)
    assert lib.ip_ttft_quantile(handle, rate, 0.9, out) == 0
    assert out[0] == replica.ttft_quantile(rate, 0.9)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("rule", ["immediate", "iteration"])
def test_admission_matches_replica_bitwise(api, cpp, case, rule):
    _, model, max_batch, max_queue, targets = case
    ffi, lib = api.ffi, api.lib
    code = {"immediate": lib.IP_ADMIT_IMMEDIATE, "iteration": lib.IP_ADMIT_ITERATION}[rule]
    replica = inferplan.Replica(model, max_batch=max_batch, max_queue=max_queue)
    handle_p = ffi.new("ip_replica**")
    assert lib.ip_replica_new(ffi.from_buffer("ip_service*", _service(api, model)), max_batch,
                              max_queue, ffi.NULL, handle_p) == 0  # fmt: skip
    handle = ffi.gc(handle_p[0], lib.ip_replica_free)
    expected = replica.size(admission=rule, **targets)
    res = np.zeros(1, api.size_result_dtype)
    status = lib.ip_size_admitted(handle, ffi.from_buffer("ip_targets*", _targets(api, targets)),
                                  code, ffi.from_buffer("ip_size_result*", res))  # fmt: skip
    assert status == int(expected.status)
    if expected.feasible:
        assert res[0]["rate"] == expected.rate
        assert tuple(res[0]["metrics"].tolist()) == tuple(expected.metrics)
    rate = 0.5 * replica.max_rate
    m = ffi.new("ip_metrics*")
    assert lib.ip_analyze_admitted(handle, rate, code, m) == 0
    assert tuple(getattr(m, n) for n in METRICS) == tuple(replica.analyze(rate, admission=rule))
    assert lib.ip_analyze_admitted(handle, rate, lib.IP_ADMIT_CHAIN, m) == 0
    assert tuple(getattr(m, n) for n in METRICS) == tuple(replica.analyze(rate))
    assert lib.ip_analyze_admitted(handle, rate, 3, m) == lib.IP_BAD_ADMISSION
    assert "IP_ADMIT_ITERATION" in _message(api, lib.IP_BAD_ADMISSION)


def test_service_times_vector(api, cpp):
    ffi, lib = api.ffi, api.lib
    tau = 1000.0 * np.arange(1, 33) / np.linspace(2.0, 30.0, 32)
    model = inferplan.ServiceTimes(tau, out_tokens=128)
    service = _service(api, model)
    handle_p = ffi.new("ip_replica**")
    svc = ffi.from_buffer("ip_service*", service)
    assert lib.ip_replica_new(svc, 32, 64.0, ffi.NULL, handle_p) == lib.IP_NULL_TAU
    assert lib.ip_replica_new(svc, 32, 64.0, ffi.from_buffer("double[]", tau), handle_p) == 0
    handle = ffi.gc(handle_p[0], lib.ip_replica_free)
    res = ffi.new("ip_size_result*")
    lib.ip_size(handle, ffi.from_buffer("ip_targets*", _targets(api, {"ttft_ms": 300})), res)
    expected = inferplan.Replica(model, max_queue=64).size(ttft_ms=300)
    assert res.status == 0
    assert res.rate == expected.rate
    assert res.metrics.ttft_ms == expected.metrics.ttft_ms
    # The stateless and batch paths need no vector: they refuse IP_VECTOR.
    out = ffi.new("ip_size_result*")
    assert lib.ip_size_params(svc, 32, 64.0, ffi.new("ip_targets*"), out) == lib.IP_BAD_KIND


def test_size_many_matches_rows(api, cpp):
    """Batch rows equal scalar sizing, also on several threads (> 2048 rows)."""
    ffi, lib = api.ffi, api.lib
    rng = np.random.default_rng(3)
    rows = 4500
    services = np.zeros(rows, api.service_dtype)
    services["kind"] = 0
    services["alpha"] = rng.uniform(5, 30, rows)
    services["beta"] = rng.uniform(0.1, 2, rows)
    services["out_tokens"] = rng.integers(50, 1000, rows)
    services["max_num_tokens"] = 8192
    max_batch = rng.integers(1, 64, rows).astype(np.int64)
    max_queue = rng.integers(0, 200, rows).astype(np.float64)
    max_batch[7] = -5  # a bad row keeps its own status
    targets = np.zeros(rows, api.targets_dtype)
    targets["itl_ms"] = services["alpha"] + services["beta"] * 30
    out = np.zeros(rows, api.size_result_dtype)
    status = lib.ip_size_many(
        rows, ffi.from_buffer("ip_service[]", services), ffi.from_buffer("int64_t[]", max_batch),
        ffi.from_buffer("double[]", max_queue), ffi.from_buffer("ip_targets[]", targets),
        ffi.from_buffer("ip_size_result[]", out), 2,
    )  # fmt: skip
    assert status == 0
    assert out[7]["status"] == lib.IP_BAD_MAX_BATCH
    assert math.isnan(out[7]["rate"])
    one = np.zeros(1, api.size_result_dtype)
    for i in [*list(range(0, rows, 97)), rows - 1]:
        lib.ip_size_params(
            ffi.from_buffer("ip_service*", services[i : i + 1]), int(max_batch[i]),
            float(max_queue[i]), ffi.from_buffer("ip_targets*", targets[i : i + 1]),
            ffi.from_buffer("ip_size_result*", one),
        )  # fmt: skip
        assert one.tobytes() == out[i : i + 1].tobytes(), i

    rate = 0.5 * np.nan_to_num(out["rate"])
    metrics = np.zeros(rows, api.metrics_dtype)
    row_status = np.zeros(rows, np.int32)
    assert lib.ip_analyze_many(
        rows, ffi.from_buffer("ip_service[]", services), ffi.from_buffer("int64_t[]", max_batch),
        ffi.from_buffer("double[]", max_queue), ffi.from_buffer("double[]", rate),
        ffi.from_buffer("ip_metrics[]", metrics), ffi.from_buffer("int32_t[]", row_status), 2,
    ) == 0  # fmt: skip
    assert row_status[7] == lib.IP_BAD_MAX_BATCH
    i = 11
    model = inferplan.DecodeOnly(services["alpha"][i], services["beta"][i],
                                 services["out_tokens"][i])  # fmt: skip
    expected = inferplan.Replica(model, max_batch=int(max_batch[i]),
                                 max_queue=max_queue[i]).analyze(rate[i])  # fmt: skip
    assert tuple(metrics[i].tolist()) == tuple(expected)


def test_scratch_is_reused_across_max_batches(api):
    """ip_size_params keeps per-thread scratch.

    A smaller max batch after a larger one (stale values beyond N) must not change the
    answer.
    """
    ffi, lib = api.ffi, api.lib
    svc = ffi.from_buffer("ip_service*", _service(api, inferplan.DecodeOnly(19, 1, 1024)))
    tg = ffi.from_buffer("ip_targets*", _targets(api, {"itl_ms": 50}))
    first, again = ffi.new("ip_size_result*"), ffi.new("ip_size_result*")
    lib.ip_size_params(svc, 48, 152.0, tg, first)
    lib.ip_size_params(svc, 4096, 152.0, tg, ffi.new("ip_size_result*"))
    lib.ip_size_params(svc, 48, 152.0, tg, again)
    assert ffi.buffer(first)[:] == ffi.buffer(again)[:]


# --- Numba -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def numba_size(api):
    numba = pytest.importorskip("numba")
    ffi, size_params = api.ffi, api.lib.ip_size_params

    @numba.njit
    def size(service, max_batch, max_queue, targets, out):
        return size_params(ffi.from_buffer(service), max_batch, max_queue,
                           ffi.from_buffer(targets), ffi.from_buffer(out))  # fmt: skip

    return size


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_numba_matches_replica_bitwise(api, numba_size, cpp, case):
    _, model, max_batch, max_queue, targets = case
    expected = inferplan.Replica(model, max_batch=max_batch, max_queue=max_queue).size(**targets)
    out = np.zeros(1, api.size_result_dtype)
    status = numba_size(_service(api, model), max_batch, float(max_queue),
                        _targets(api, targets), out)  # fmt: skip
    assert status == out[0]["status"] == int(expected.status)
    assert out[0]["binding"] == inferplan.sizing.BINDING_NAMES.index(expected.binding)
    assert out[0]["iterations"] == expected.iterations
    if expected.feasible:
        assert out[0]["rate"] == expected.rate
        assert tuple(out[0]["metrics"].tolist()) == tuple(expected.metrics)


def test_numba_handle_path(api, cpp):
    """A handle made in Python, used from nopython mode through its address."""
    numba = pytest.importorskip("numba")
    ffi, size, wait_quantile = api.ffi, api.lib.ip_size, api.lib.ip_wait_quantile
    replica_pointer = capi.numba_replica_pointer()

    @numba.njit
    def size_and_p90(address, targets, out, wait):
        handle = replica_pointer(address)
        size(handle, ffi.from_buffer(targets), ffi.from_buffer(out))
        return wait_quantile(handle, 0.5 * out[0].rate, 0.9, ffi.from_buffer(wait))

    model = inferplan.PrefillDecode(8, 0.02, 1e-4, 512, 256)
    handle_p = ffi.new("ip_replica**")
    service = ffi.from_buffer("ip_service*", _service(api, model))
    assert api.lib.ip_replica_new(service, 64, 100.0, ffi.NULL, handle_p) == 0
    handle = ffi.gc(handle_p[0], api.lib.ip_replica_free)
    out, wait = np.zeros(1, api.size_result_dtype), np.zeros(1)
    targets = _targets(api, {"ttft_ms": 800})
    assert size_and_p90(capi.replica_address(handle), targets, out, wait) == 0
    replica = inferplan.Replica(model, max_batch=64, max_queue=100)
    expected = replica.size(ttft_ms=800)
    assert out[0]["rate"] == expected.rate
    assert tuple(out[0]["metrics"].tolist()) == tuple(expected.metrics)
    assert wait[0] == replica.wait_quantile(0.5 * expected.rate, 0.9)


def test_numba_control_loop_example(api, cpp):
    pytest.importorskip("numba")
    spec = importlib.util.spec_from_file_location(
        "numba_control_loop", ROOT / "examples" / "numba_control_loop.py"
    )
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    loads = np.array([0.5, 12.0, 40.0, 3.3])
    out_tokens = np.array([1024.0, 300.0, 700.0, 50.0])
    replicas, per_replica = example.plan(loads, out_tokens, alpha=19, beta=1, max_batch=48,
                                         max_queue=152, itl_ms=50)  # fmt: skip
    for t in range(loads.size):
        sized = inferplan.Replica(inferplan.DecodeOnly(19, 1, out_tokens[t]), max_batch=48,
                                  max_queue=152).size(itl_ms=50)  # fmt: skip
        assert per_replica[t] == sized.metrics.throughput
        assert replicas[t] == max(1, math.ceil(loads[t] / sized.metrics.throughput))
    # An infeasible tick is flagged, not fatal.
    replicas, per_replica = example.plan([1.0], [100.0], alpha=19, beta=1, max_batch=48,
                                         itl_ms=5)  # fmt: skip
    assert replicas[0] == -inferplan.Status.INFEASIBLE_ITL
    assert math.isnan(per_replica[0])


# --- bad input ---------------------------------------------------------------------


def _message(api, code) -> str:
    return api.status_message(code)


def test_bad_input_returns_codes_naming_the_parameter(api):
    ffi, lib = api.ffi, api.lib
    good = _service(api, inferplan.DecodeOnly(19, 1, 1024))
    nan_alpha = good.copy()
    nan_alpha[0]["alpha"] = np.nan
    targets = ffi.from_buffer("ip_targets*", _targets(api, {"itl_ms": 50}))
    res = ffi.new("ip_size_result*")
    handle_p = ffi.new("ip_replica**")

    def svc(a):
        return ffi.from_buffer("ip_service*", a)

    # NaN alpha: every entry point says so.
    assert lib.ip_size_params(svc(nan_alpha), 48, 152.0, targets, res) == lib.IP_BAD_ALPHA
    assert res.status == lib.IP_BAD_ALPHA
    assert math.isnan(res.rate)
    assert "alpha" in _message(api, lib.IP_BAD_ALPHA)
    handle_p[0] = ffi.cast("ip_replica*", 1)
    assert lib.ip_replica_new(svc(nan_alpha), 48, 152.0, ffi.NULL, handle_p) == lib.IP_BAD_ALPHA
    assert handle_p[0] == ffi.NULL

    # Negative, zero and huge max_batch; fractional or negative max_queue.
    for n in (-1, 0, -(2**62), 2**40):
        assert lib.ip_size_params(svc(good), n, 152.0, targets, res) == lib.IP_BAD_MAX_BATCH
        assert lib.ip_replica_new(svc(good), n, 152.0, ffi.NULL, handle_p) == lib.IP_BAD_MAX_BATCH
    assert "max_batch" in _message(api, lib.IP_BAD_MAX_BATCH)
    for q in (-1.0, 2.5, np.nan):
        assert lib.ip_size_params(svc(good), 48, q, targets, res) == lib.IP_BAD_MAX_QUEUE
    assert "max_queue" in _message(api, lib.IP_BAD_MAX_QUEUE)

    # Null pointers.
    assert lib.ip_size_params(ffi.NULL, 48, 152.0, targets, res) == lib.IP_NULL_SERVICE
    assert lib.ip_size_params(svc(good), 48, 152.0, ffi.NULL, res) == lib.IP_NULL_TARGETS
    assert lib.ip_size_params(svc(good), 48, 152.0, targets, ffi.NULL) == lib.IP_NULL_OUT
    assert lib.ip_replica_new(svc(good), 48, 152.0, ffi.NULL, ffi.NULL) == lib.IP_NULL_OUT
    assert lib.ip_replica_new(ffi.NULL, 48, 152.0, ffi.NULL, handle_p) == lib.IP_NULL_SERVICE
    assert lib.ip_analyze(ffi.NULL, 1.0, ffi.new("ip_metrics*")) == lib.IP_NULL_REPLICA
    assert lib.ip_size(ffi.NULL, targets, res) == lib.IP_NULL_REPLICA
    assert lib.ip_wait_quantile(ffi.NULL, 1.0, 0.5, ffi.new("double*")) == lib.IP_NULL_REPLICA
    assert lib.ip_size_many(3, ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL, 1) == (
        lib.IP_NULL_SERVICE
    )
    assert lib.ip_size_many(-1, ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL, 1) == (
        lib.IP_BAD_ROWS
    )
    assert lib.ip_service_defaults(ffi.NULL, 0) == lib.IP_NULL_SERVICE
    for code, word in [
        (lib.IP_NULL_SERVICE, "service"), (lib.IP_NULL_TARGETS, "targets"),
        (lib.IP_NULL_OUT, "out"), (lib.IP_NULL_REPLICA, "replica"),
        (lib.IP_NULL_TAU, "tau_ms"), (lib.IP_NULL_MAX_BATCH, "max_batch"),
        (lib.IP_NULL_MAX_QUEUE, "max_queue"), (lib.IP_NULL_RATE, "rate"),
        (lib.IP_NULL_STATUS, "status"), (lib.IP_BAD_ROWS, "rows"),
    ]:  # fmt: skip
        assert word in _message(api, code)
    lib.ip_replica_free(ffi.NULL)  # allowed

    # q outside (0, 1), bad rate and an unstable queue on a valid handle.
    assert lib.ip_replica_new(svc(good), 48, math.inf, ffi.NULL, handle_p) == 0
    handle = ffi.gc(handle_p[0], lib.ip_replica_free)
    out = ffi.new("double*")
    for q in (0.0, 1.0, -0.5, 2.0, np.nan):
        assert lib.ip_wait_quantile(handle, 0.1, q, out) == lib.IP_BAD_QUANTILE
        assert lib.ip_ttft_quantile(handle, 0.1, q, out) == lib.IP_BAD_QUANTILE
    assert "q " in _message(api, lib.IP_BAD_QUANTILE)
    m = ffi.new("ip_metrics*")
    assert lib.ip_analyze(handle, -1.0, m) == lib.IP_BAD_RATE
    assert lib.ip_analyze(handle, math.inf, m) == lib.IP_BAD_RATE
    assert lib.ip_analyze(handle, 100.0, m) == lib.IP_UNSTABLE
    assert "rate" in _message(api, lib.IP_BAD_RATE)

    # Bad targets and an unknown kind.
    bad_targets = _targets(api, {})
    bad_targets[0]["ttft_pq"] = 1.5
    bad_targets[0]["ttft_p_ms"] = 100
    assert lib.ip_size(handle, ffi.from_buffer("ip_targets*", bad_targets), res) == (
        lib.IP_BAD_TTFT_PERCENTILE
    )
    assert "ttft_pq" in _message(api, lib.IP_BAD_TTFT_PERCENTILE)
    bad_kind = good.copy()
    bad_kind[0]["kind"] = 7
    assert lib.ip_size_params(svc(bad_kind), 48, 152.0, targets, res) == lib.IP_BAD_KIND
    assert _message(api, 12345) == "unknown status"


def test_every_code_has_a_message(api):
    for status in inferplan.Status:
        assert _message(api, int(status)) != "unknown status", status


def test_missing_library_says_how_to_build(monkeypatch, tmp_path):
    monkeypatch.setattr(capi, "_PACKAGE_DIR", tmp_path)
    with pytest.raises(capi.CLibraryNotFoundError, match=r"dev_build\.sh"):
        capi.c_library_path()
    with pytest.raises(capi.CLibraryNotFoundError, match="pip install"):
        capi.c_include_dir()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))

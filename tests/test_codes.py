"""Every copy of the kernel's code tables equals the one source, inferplan._codes.

The C++ enums (cpp/include/inferplan/*.hpp), the C ABI's header (cpp/capi/inferplan.h), the
tables the compiled module exports, the Numba kernel's constants and the Python modules
built on them. The headers are read as text, so a renumbered or renamed enumerator fails
here even on a machine without a compiler.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from inferplan import _codes
from inferplan._kernels import dispatch

ROOT = Path(__file__).resolve().parents[1]
INCLUDE = ROOT / "cpp" / "include" / "inferplan"
HEADER = ROOT / "cpp" / "capi" / "inferplan.h"


def _strip_comments(text: str) -> str:
    return re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)


def _enum(text: str, name: str | None) -> dict[str, int]:
    """Return the enumerators of the enums whose name matches the regex name, with values.

    None matches the anonymous enums; implicit values count on from the last explicit one.
    """
    pattern = r"enum\s+" + (name + r"\s*(?::\s*[\w:]+)?" if name else "") + r"\s*\{(.*?)\}"
    out: dict[str, int] = {}
    for body in re.findall(pattern, _strip_comments(text), flags=re.S):
        value = -1
        for item in filter(None, (x.strip() for x in body.split(","))):
            key, _, expr = (p.strip() for p in item.partition("="))
            value = int(expr) if expr else value + 1
            out[key] = value
    return out


def _snake(camel: str) -> str:
    """KInfeasibleTtftPercentile -> infeasible_ttft_percentile, kP0 -> p0."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", camel[1:]).lower()


def _read(name: str) -> str:
    return (INCLUDE / name).read_text()


def test_cpp_headers_equal_the_source():
    statuses = {_snake(k).upper(): v for k, v in _enum(_read("status.hpp"), "Status").items()}
    assert statuses == _codes.STATUSES
    metrics = _enum(_read("metrics.hpp"), "MetricIndex")
    assert metrics.pop("kNumMetrics") == len(_codes.METRICS)
    assert sorted(metrics, key=metrics.get) == [f"k{_camel(m)}" for m in _codes.METRICS]
    kinds = _enum(_read("service.hpp"), "ServiceKind")
    assert kinds == {"kDecodeOnly": 0, "kPrefillDecode": 1, "kVector": 2}
    assert list(kinds.values()) == list(_codes.KINDS.values())
    bindings = _enum(_read("sizing.hpp"), "Binding")
    names = {None: "kBindNone", "itl_ms": "kBindItl", "ttft_ms": "kBindTtft",
             "wait_ms": "kBindWait", "ttft_percentile": "kBindTtftPercentile",
             "wait_percentile": "kBindWaitPercentile", "max_block": "kBindBlock",
             "tps": "kBindTps"}  # fmt: skip
    assert {k: bindings[names[k]] for k in _codes.BINDINGS} == _codes.BINDINGS
    assert len(bindings) == len(_codes.BINDINGS)
    admissions = _enum(_read("admission.hpp"), "Admission")
    assert admissions == {"kAdmitChain": _codes.ADMISSIONS[None],
                          "kAdmitImmediate": _codes.ADMISSIONS["immediate"],
                          "kAdmitIteration": _codes.ADMISSIONS["iteration"]}  # fmt: skip


def _camel(snake: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_"))


def test_each_enumerator_is_declared_once():
    """One enum per table: the simulator takes admission.hpp's codes, no copy of its own."""
    seen: dict[str, str] = {}
    for path in sorted(INCLUDE.glob("*.hpp")):
        for key in _enum(path.read_text(), r"\w+"):
            assert key not in seen, f"{key} in {path.name} and {seen[key]}"
            seen[key] = path.name
    assert seen["kAdmitIteration"] == "admission.hpp"


def test_c_header_equals_the_source():
    enums = _enum(HEADER.read_text(), None)
    statuses = {k[3:]: v for k, v in enums.items() if k[3:] in _codes.STATUSES}
    assert statuses == _codes.STATUSES
    # the ABI's own codes (null pointers and the like) stay clear of the kernel's
    abi = {k: v for k, v in enums.items() if k.startswith("IP_") and v >= 100}
    assert all(v not in _codes.STATUSES.values() for v in abi.values())
    assert enums["IP_DECODE_ONLY"] == _codes.KINDS["decode_only"]
    assert enums["IP_PREFILL_DECODE"] == _codes.KINDS["prefill_decode"]
    assert enums["IP_VECTOR"] == _codes.KINDS["service_times"]
    assert enums["IP_ADMIT_CHAIN"] == _codes.ADMISSIONS[None]
    assert enums["IP_ADMIT_IMMEDIATE"] == _codes.ADMISSIONS["immediate"]
    assert enums["IP_ADMIT_ITERATION"] == _codes.ADMISSIONS["iteration"]
    bind = {k[8:]: v for k, v in enums.items() if k.startswith("IP_BIND_")}
    short = {None: "NONE", "max_block": "BLOCK"}
    assert {k: bind[short.get(k) or k.upper().removesuffix("_MS")] for k in _codes.BINDINGS} \
        == _codes.BINDINGS  # fmt: skip
    assert enums["IP_NUM_METRICS"] == len(_codes.METRICS)
    struct = re.search(r"typedef struct ip_metrics \{(.*?)\} ip_metrics;",
                       _strip_comments(HEADER.read_text()), flags=re.S).group(1)  # fmt: skip
    assert tuple(re.findall(r"double (\w+);", struct)) == _codes.METRICS


def test_compiled_module_tables_equal_the_source():
    if "cpp" not in dispatch.available():
        pytest.skip("the C++ extension is not built")
    from inferplan import _core

    assert _core.STATUSES == _codes.STATUSES
    assert _core.KINDS == _codes.KINDS
    assert tuple(sorted(_core.METRICS, key=_core.METRICS.get)) == _codes.METRICS
    assert sorted(_core.METRICS.values()) == list(range(len(_codes.METRICS)))
    assert len(_codes.METRICS) == _core.NUM_METRICS
    assert {None if k == "none" else k: v for k, v in _core.BINDINGS.items()} == _codes.BINDINGS
    assert {None if k == "chain" else k: v for k, v in _core.ADMISSIONS.items()} \
        == _codes.ADMISSIONS  # fmt: skip


def test_python_modules_equal_the_source():
    import importlib

    from inferplan import Status, admission, sizing
    from inferplan._metrics import KIND_DECODE_ONLY, KIND_PREFILL_DECODE, KIND_VECTOR, METRIC_NAMES
    from inferplan.replica import Metrics

    simulate = importlib.import_module("inferplan.simulate")
    spec = importlib.import_module("inferplan.sweep.spec")

    assert {s.name: s.value for s in Status} == _codes.STATUSES
    assert METRIC_NAMES == _codes.METRICS == Metrics._fields
    assert tuple(_codes.KINDS.values()) == (KIND_DECODE_ONLY, KIND_PREFILL_DECODE, KIND_VECTOR)
    assert tuple(_codes.BINDINGS) == sizing.BINDING_NAMES
    assert admission.CODES == _codes.ADMISSIONS
    assert simulate.ADMISSIONS == _codes.SIM_ADMISSIONS
    assert all(simulate.ADMISSIONS[k] == _codes.ADMISSIONS[k] for k in simulate.ADMISSIONS)
    assert tuple(spec.PARAMS["size"])[9:18] == sizing.TARGET_FIELDS
    assert {name: spec.KIND_NAMES.index(name) for name in spec.KIND_NAMES} == {
        k: v for k, v in _codes.KINDS.items() if k != "service_times"
    }


def test_numba_constants_equal_the_source():
    pytest.importorskip("numba")
    from inferplan._kernels import numba_kernels as nk

    aliases = {"BAD_TTFT_PCT": "BAD_TTFT_PERCENTILE", "BAD_WAIT_PCT": "BAD_WAIT_PERCENTILE",
               "INF_ITL": "INFEASIBLE_ITL", "INF_TTFT": "INFEASIBLE_TTFT",
               "INF_WAIT": "INFEASIBLE_WAIT", "INF_BLOCK": "INFEASIBLE_BLOCK",
               "INF_TTFT_PCT": "INFEASIBLE_TTFT_PERCENTILE",
               "INF_WAIT_PCT": "INFEASIBLE_WAIT_PERCENTILE"}  # fmt: skip
    checked = 0
    for name, value in vars(nk).items():
        key = aliases.get(name, name)
        if key in _codes.STATUSES and isinstance(value, int):
            assert value == _codes.STATUSES[key], name
            checked += 1
    assert checked >= 25
    assert len(_codes.METRICS) == nk.NUM_METRICS
    binds = (nk.BIND_NONE, nk.BIND_ITL, nk.BIND_TTFT, nk.BIND_WAIT, nk.BIND_TTFT_PCT,
             nk.BIND_WAIT_PCT, nk.BIND_BLOCK, nk.BIND_TPS)  # fmt: skip
    assert binds == tuple(_codes.BINDINGS.values())
    assert tuple(_codes.ADMISSIONS.values()) == (
        nk.ADMIT_CHAIN,
        nk.ADMIT_IMMEDIATE,
        nk.ADMIT_ITERATION,
    )

"""Every kernel backend implements the protocol of inferplan._kernels.protocol in full.

They agree over one grid of inputs, admission rules included: the Numba kernel equals the
C++ one bit for bit (it mirrors it operation for operation), the NumPy reference (its own
plain algorithms: a log-space chain, bisection) equals them to a tolerance. The batch calls
equal their scalar calls row by row on each backend.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

from inferplan import DecodeOnly, PrefillDecode, ServiceTimes
from inferplan._codes import ADMISSIONS, STATUSES
from inferplan._kernels import dispatch
from inferplan._kernels.protocol import MEMBERS, Backend
from inferplan.batch import CONFIG_COLUMNS
from inferplan.sizing import TARGET_FIELDS

AVAILABLE = dispatch.available()
FAST = [name for name in ("cpp", "numba") if name in AVAILABLE]

SHORT = PrefillDecode(alpha=8, beta=0.02, gamma=5e-5, in_tokens=500, out_tokens=200)
LONG = PrefillDecode(alpha=5, beta=0.05, gamma=1e-4, in_tokens=6000, out_tokens=200,
                     max_num_tokens=4096)  # fmt: skip
DECODE = DecodeOnly(alpha=19, beta=1, out_tokens=256)
VECTOR = ServiceTimes(np.linspace(20.0, 80.0, 12), out_tokens=100)
# (model, max_batch, max_queue): finite, empty and unbounded queues, every kind
CONFIGS = [(SHORT, 32, 128.0), (LONG, 16, 0.0), (DECODE, 48, math.inf), (VECTOR, 12, 40.0),
           (SHORT, 8, math.inf)]  # fmt: skip
LOADS = (0.0, 0.1, 0.6, 0.95, 1.3)
RULES = (ADMISSIONS[None], ADMISSIONS["immediate"], ADMISSIONS["iteration"], 7)
TARGETS = [
    dict(ttft_ms=45.0),
    dict(ttft_ms=60.0, itl_ms=9.5),
    dict(ttft_pq=0.9, ttft_p_ms=120.0),
    dict(wait_ms=3.0, ttft_ms=600.0),
    dict(wait_pq=0.99, wait_p_ms=40.0, max_block=1e-3),
    dict(ttft_ms=20.0, tps=400.0),
]


def _targets(d) -> tuple[float, ...]:
    return tuple(float(d.get(name, 0.0)) for name in TARGET_FIELDS)


def _tau(model):
    return model.tau_ms if isinstance(model, ServiceTimes) else None


def _handle(kernel, model, n, q):
    return kernel.replica(model.params(), n, q, _tau(model))


@pytest.mark.parametrize("name", AVAILABLE)
def test_backend_implements_every_member(name):
    kernel = dispatch.load(name)
    assert isinstance(kernel, Backend)
    assert name == kernel.NAME
    for member in MEMBERS[1:]:
        want = inspect.signature(getattr(Backend, member))
        got = inspect.signature(getattr(kernel, member))
        wanted = list(want.parameters.values())[1:]  # without self
        assert len(got.parameters) == len(wanted), (name, member)
        for have, spec in zip(got.parameters.values(), wanted, strict=True):
            assert have.default == spec.default, (name, member, have.name)
            if spec.default is not inspect.Parameter.empty:
                assert have.name == spec.name, (name, member)


def _scalar_results(kernel, configs, loads, rules, targets):
    """Every scalar call of the protocol over the grid, keyed by its inputs."""
    out = {}
    for c, (model, n, q) in enumerate(configs):
        h = _handle(kernel, model, n, q)
        assert h.status == 0
        mu = kernel.analyze(h, 0.0)[1][-1]
        for load in loads:
            rate = load * mu
            out["analyze", c, load] = kernel.analyze(h, rate)
            out["quantiles", c, load] = kernel.quantiles(h, rate, 0.9)
            for rule in rules:
                out["analyze_admitted", c, load, rule] = kernel.analyze_admitted(h, rate, rule)
        for k, t in enumerate(targets):
            out["size", c, k] = kernel.size(h, _targets(t))
            for rule in rules:
                out["size_admitted", c, k, rule] = kernel.size_admitted(h, _targets(t), rule)
        if n <= 16:
            out["optimal_concurrency", c] = kernel.optimal_concurrency(h, _targets(targets[1]),
                                                                       0.05)  # fmt: skip
    return out


def _percentile(key) -> bool:
    """Whether a sizing key of the grid has a percentile target."""
    return key[0].startswith("size") and any(k.endswith("_pq") for k in TARGETS[key[2]])


def _bits(value):
    """Every bit of a result (NaN included), whatever the numeric types."""
    if isinstance(value, (list, tuple)):
        return tuple(_bits(v) for v in value)
    if isinstance(value, (float, np.floating)):
        return float(value).hex()
    return int(value)


def test_numba_equals_cpp_bit_for_bit():
    if FAST != ["cpp", "numba"]:
        pytest.skip("needs both the extension and numba")
    cpp = _scalar_results(dispatch.load("cpp"), CONFIGS, LOADS, RULES, TARGETS)
    nb = _scalar_results(dispatch.load("numba"), CONFIGS, LOADS, RULES, TARGETS)
    assert cpp.keys() == nb.keys()
    for key, want in cpp.items():
        got = nb[key]
        assert got[0] == want[0], key  # the status
        if want[0] != 0:
            continue
        if _percentile(key):
            # quantiles go through lgamma, which Numba and libm implement apart
            assert (got[0], got[2]) == (want[0], want[2]), key
            _close([float(got[1]), *got[4]], [want[1], *want[4]], 1e-11)
        elif key[0] == "quantiles":
            _close(list(got[1:]), list(want[1:]), 1e-11)
        else:
            assert _bits(got) == _bits(want), key
    statuses = {v[0] for v in cpp.values()}
    assert {0, STATUSES["BAD_ADMISSION"], STATUSES["INFEASIBLE_TTFT"]} <= statuses


def _close(got, want, rel):
    if isinstance(want, list):
        np.testing.assert_allclose(got, want, rtol=rel, atol=1e-12)
    else:
        assert got == pytest.approx(want, rel=rel, abs=1e-12)


# The NumPy reference is slow (a Python loop per chain state): a smaller grid.
NUMPY_CONFIGS = [CONFIGS[0], CONFIGS[2], CONFIGS[3]]
NUMPY_TARGETS = [TARGETS[0], TARGETS[2], TARGETS[3]]


def test_numpy_reference_agrees_to_tolerance():
    if not FAST:
        pytest.skip("needs a fast backend to compare with")
    fast = _scalar_results(dispatch.load(FAST[0]), NUMPY_CONFIGS, (0.0, 0.6, 1.3), RULES,
                           NUMPY_TARGETS)  # fmt: skip
    ref = _scalar_results(dispatch.load("numpy"), NUMPY_CONFIGS, (0.0, 0.6, 1.3), RULES,
                          NUMPY_TARGETS)  # fmt: skip
    assert fast.keys() == ref.keys()
    for key, want in fast.items():
        got = ref[key]
        assert int(got[0]) == want[0], (key, got[0], want[0])
        if want[0] != 0:
            continue
        if key[0].startswith("size"):
            # status, rate, binding, iterations (each search's own), metrics
            assert got[2] == want[2], key
            _close(got[1], want[1], 1e-8)
            _close(list(got[4]), list(want[4]), 1e-7)
        elif key[0] == "optimal_concurrency":
            assert (got[1], got[4]) == (want[1], want[4]), key  # max batch, binding
            _close(list(got[2:4]), list(want[2:4]), 1e-8)
            _close(list(got[6]), list(want[6]), 1e-7)
        elif key[0] == "quantiles":
            _close(list(got[1:]), list(want[1:]), 1e-9)
        else:
            _close(list(got[1]), list(want[1]), 1e-9)


def _columns(configs):
    rows = len(configs)
    cols = {name: np.empty(rows) for name in CONFIG_COLUMNS}
    for i, (model, n, q) in enumerate(configs):
        for name, value in zip(CONFIG_COLUMNS[:7], model.params(), strict=True):
            cols[name][i] = value
        cols["max_batch"][i], cols["max_queue"][i] = n, q
    cols["kind"] = cols["kind"].astype(np.int32)
    cols["max_batch"] = cols["max_batch"].astype(np.int64)
    return tuple(cols[name] for name in CONFIG_COLUMNS)


@pytest.mark.parametrize("name", AVAILABLE)
@pytest.mark.parametrize("rule", RULES[:3])
def test_batch_calls_equal_scalar_calls(name, rule):
    """Batch calls under each admission rule equal the scalar calls row by row.

    analyze_many and size_many against analyze_admitted and size_admitted, exactly on the
    fast backends.
    """
    kernel = dispatch.load(name)
    configs = [c for c in CONFIGS if not isinstance(c[0], ServiceTimes)]  # no batch form
    if name == "numpy":
        configs, targets = configs[:2], TARGETS[:2]
    else:
        targets = TARGETS
    config = _columns(configs)
    rows = len(configs)
    handles = [_handle(kernel, *c) for c in configs]
    rates = np.array([0.7 * kernel.analyze(h, 0.0)[1][-1] for h in handles])
    block = np.empty((15, rows))
    status = np.zeros(rows, dtype=np.int32)
    kernel.analyze_many(config, rates, list(block), status, 1, rule)
    for i, h in enumerate(handles):
        s, m = kernel.analyze_admitted(h, float(rates[i]), rule)
        assert status[i] == s == 0
        assert block[:, i].tolist() == m
    for t in targets:
        tcols = tuple(np.full(1, v) for v in _targets(t))
        rate, st = np.empty(rows), np.zeros(rows, dtype=np.int32)
        binding, iterations = np.zeros(rows, dtype=np.int32), np.zeros(rows, dtype=np.int32)
        block = np.empty((15, rows))
        kernel.size_many(config, tcols, list(block), rate, st, binding, iterations, 1, rule)
        for i, h in enumerate(handles):
            s, r, b, it, m = kernel.size_admitted(h, _targets(t), rule)
            assert (st[i], binding[i], iterations[i]) == (s, b, it), (t, i)
            if s == 0:
                assert rate[i] == r, (t, i)
                assert block[:, i].tolist() == list(m), (t, i)
            else:
                assert math.isnan(rate[i])


def test_numba_equals_cpp_on_random_rows_under_admission():
    """analyze_many and size_many under each admission rule on random configurations.

    The Numba kernel gives the C++ bits (to 1e-11 where a percentile target's lgamma
    enters).
    """
    if FAST != ["cpp", "numba"]:
        pytest.skip("needs both the extension and numba")
    import inferplan as ip

    rng = np.random.default_rng(18)
    n = 300
    # the grid's models (no ServiceTimes: it has no batch form), scaled at random
    base = _columns([c for c in CONFIGS if not isinstance(c[0], ServiceTimes)])
    pick = rng.integers(0, base[0].size, n)
    cols = {name: col[pick] for name, col in zip(CONFIG_COLUMNS, base, strict=True)}
    for name in ("alpha", "beta", "gamma", "in_tokens"):
        cols[name] = cols[name] * rng.uniform(0.5, 2.0, n)
    cols["max_batch"] = rng.integers(1, 100, n)
    cols["max_queue"] = np.where(rng.random(n) < 0.2, np.inf, rng.integers(0, 500, n))
    idle = ip.analyze_many(rate=0.0, **cols)
    rate = idle["max_rate"] * rng.uniform(0.0, 1.2, n)
    ttft = idle["ttft_ms"] * rng.uniform(0.9, 4.0, n)
    wait = np.where(rng.random(n) < 0.5, 5.0, 0.0)
    out = {}
    for name in FAST:
        dispatch.use(name)
        try:
            for admission in ("immediate", "iteration"):
                out[name, admission, "a"] = ip.analyze_many(rate=rate, admission=admission,
                                                            **cols)  # fmt: skip
                out[name, admission, "s"] = ip.size_many(
                    ttft_ms=ttft, wait_ms=wait,
                    admission=admission, metrics="all", **cols,
                )  # fmt: skip
                out[name, admission, "p"] = ip.size_many(
                    ttft_percentile=(0.9, 3000.0), admission=admission, metrics="all", **cols
                )
        finally:
            dispatch.use(None)
    for (name, admission, call), want in out.items():
        if name != "cpp":
            continue
        got = out["numba", admission, call]
        assert (want["status"] == 0).sum() > n // 3  # most rows are solved
        for key in want:
            if call == "p":
                np.testing.assert_allclose(got[key], want[key], rtol=1e-11, err_msg=key)
            else:
                np.testing.assert_array_equal(got[key], want[key], err_msg=(admission, key))

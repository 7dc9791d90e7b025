"""Regression tests for the sizing search (issue 15, items 1, 3 and 7).

Each case that came back wrong, hung or mis-named its target, on every backend. What a sized
rate must satisfy is checked from the outside by tests/_sizing_check.py (every target holds
on [0, rate], one fails just above it and it is the binding one).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from _sizing_check import check_sized, excesses

import inferplan as ip
from inferplan._kernels import reference

# --- item 1: rate 0 with status OK ------------------------------------------------------

ITEM1 = [
    # (model, max_batch, max_queue, itl_ms, ttft_ms, answer to 1e-6)
    (ip.PrefillDecode(45.56, 0.02642, 0.0001191, 60, 479), 12, 431, 46.1, 575.7, 0.33445894),
    (ip.PrefillDecode(40.54, 0.02104, 2.351e-05, 343, 1023), 21, 74, 41.03, 92.07, 0.22180629),
]


@pytest.mark.parametrize(("model", "n", "q", "itl", "ttft", "answer"), ITEM1)
def test_itl_and_ttft_together_are_not_rate_zero(backend, model, n, q, itl, ttft, answer):
    r = ip.Replica(model, n, q)
    both = r.size(itl_ms=itl, ttft_ms=ttft)
    assert both.status == ip.Status.OK
    assert both.feasible
    assert both.rate == pytest.approx(answer, abs=1e-6)
    # Both metrics rise with the rate here (one chunk at every batch): the answer is the
    # smaller of the two single-target answers, and ITL binds.
    alone = min(r.size(itl_ms=itl).rate, r.size(ttft_ms=ttft).rate)
    assert both.rate == pytest.approx(alone, rel=1e-9)
    assert both.binding == "itl_ms"
    check_sized(r, both, {"itl_ms": itl, "ttft_ms": ttft})


def test_item1_rows_in_size_many(backend):
    cols = {k: [] for k in ("kind", "alpha", "beta", "gamma", "in_tokens", "out_tokens",
                            "max_batch", "max_queue", "itl_ms", "ttft_ms")}  # fmt: skip
    for model, n, q, itl, ttft, _ in ITEM1:
        for k, v in zip(("kind", "alpha", "beta", "gamma", "in_tokens", "out_tokens"),
                        model.params()[:6], strict=True):  # fmt: skip
            cols[k].append(v)
        cols["max_batch"].append(n)
        cols["max_queue"].append(q)
        cols["itl_ms"].append(itl)
        cols["ttft_ms"].append(ttft)
    out = ip.size_many(**{k: np.asarray(v) for k, v in cols.items()})
    assert (out["status"] == 0).all()
    np.testing.assert_allclose(out["rate"], [row[-1] for row in ITEM1], atol=1e-6)


# --- item 3: unbounded queues, binding targets, falling ITL, big rows --------------------


def test_percentile_with_unbounded_queue(backend):
    model = ip.DecodeOnly(alpha=19, beta=1, out_tokens=1024)
    target = {"ttft_percentile": (0.9, 5000)}
    unbounded = ip.Replica(model, max_batch=48).size(**target)
    bounded = ip.Replica(model, max_batch=48, max_queue=10**6).size(**target)
    assert unbounded.status == ip.Status.OK
    assert unbounded.binding == "ttft_percentile"
    assert unbounded.rate == pytest.approx(0.6248, abs=1e-4)
    assert unbounded.rate == pytest.approx(bounded.rate, rel=1e-9)
    check_sized(ip.Replica(model, max_batch=48), unbounded, target)
    # The P90 TTFT at 0.5 req/s is far below the target (41 ms).
    assert ip.Replica(model, max_batch=48).ttft_quantile(0.5, 0.9) < 100
    many = ip.size_many(kind=0, alpha=19.0, beta=1.0, out_tokens=1024.0, max_batch=48,
                        max_queue=math.inf, ttft_percentile=(0.9, 5000.0))  # fmt: skip
    assert many["status"][0] == 0
    assert many["rate"][0] == pytest.approx(unbounded.rate, rel=1e-12)


BINDING_CASES = [
    (ip.PrefillDecode(alpha=15.924434202362399, beta=0.09717829666905653,
                      gamma=0.0005819635128657404, in_tokens=2197, out_tokens=1058),
     53, 790, {"ttft_ms": 607.4413751924177, "wait_ms": 521.6551785386291}, "ttft_ms"),
    (ip.DecodeOnly(19, 1, 1024), 16, 152, {"itl_ms": 30, "ttft_percentile": (0.9, 2000)},
     "itl_ms"),
]  # fmt: skip


@pytest.mark.parametrize(("model", "n", "q", "targets", "binding"), BINDING_CASES)
def test_binding_is_the_target_that_fails_just_above(backend, model, n, q, targets, binding):
    r = ip.Replica(model, n, q)
    res = r.size(**targets)
    assert res.status == ip.Status.OK
    assert res.binding == binding
    check_sized(r, res, targets)
    e = excesses(r, res.rate, targets)
    assert abs(e[binding]) < 1e-6  # the binding metric sits at its target
    assert all(v < -1e-3 for k, v in e.items() if k != binding)  # the others have room


FALLING = ip.PrefillDecode(alpha=10, beta=0.01, gamma=0, in_tokens=8192, out_tokens=4,
                           max_num_tokens=512)  # fmt: skip


def test_falling_itl_follows_from_the_read_off(backend):
    """ITL rises and falls with the load (docs/model.md 3.1).

    The read-off takes the prefill of c(round(B)) chunks from the service time, and c grows
    with the batch.
    """
    r = ip.Replica(FALLING, 512, 0)
    itl = [r.analyze(x).itl_ms for x in (0.01, 1, 10)]
    assert itl[1] > 1.5 * itl[0]
    assert itl[2] < 0.7 * itl[1]
    # The same numbers from the model's definitions (the NumPy reference).
    for x, v in zip((0.01, 1, 10), itl, strict=True):
        ref = reference.analyze(FALLING.params(), 512, 0.0, x)[1]
        assert v == pytest.approx(ref[10], rel=1e-9)
    # A target between the low- and high-load ITL is met again at 10 req/s, but the sized
    # rate is the first crossing: every rate below it meets the target.
    target = {"itl_ms": 0.5 * (itl[0] + itl[1])}
    res = r.size(**target)
    assert res.status == ip.Status.OK
    assert res.rate < 1
    assert r.analyze(10).itl_ms < target["itl_ms"]
    check_sized(r, res, target)


def test_itl_that_falls_within_one_piece():
    """Fewer output tokens than prefill chunks' weight.

    With one chunk at every batch the ITL still falls near saturation; the cap meets the
    target but a hump below does not.
    """
    model = ip.PrefillDecode(alpha=2.3069425025940142, beta=0.03941179538483327,
                             gamma=0.0004954397598165878, in_tokens=320.93889438434826,
                             out_tokens=0.5)  # fmt: skip
    r = ip.Replica(model, 2, 10**9)
    target = {"itl_ms": 11.33615897527126}
    assert r.analyze(0.999 * r.max_rate).itl_ms < target["itl_ms"]
    from inferplan._kernels import dispatch

    for name in dispatch.available():
        dispatch.use(name)
        try:
            rr = ip.Replica(model, 2, 10**9)
            res = rr.size(**target)
            assert res.status == ip.Status.OK
            assert res.rate < 0.5 * rr.max_rate
            check_sized(rr, res, target)
        finally:
            dispatch.use(None)


def test_huge_batch_and_queue_return_promptly(backend):
    """Batch 64,669 with 6.6e10 queue slots: every row returns within the work bound.

    (The NumPy reference sums the waiting time's law term by term, one per queue slot: it
    takes the ITL rows only.)
    """
    model = ip.DecodeOnly(1, 0.001, 2)
    pct = {} if backend == "numpy" else {"wait_percentile": (0.9, 1e6)}
    t0 = time.perf_counter()
    out = ip.size_many(kind=0, alpha=1.0, beta=0.001, out_tokens=2.0, max_batch=64669,
                       max_queue=6.6e10, itl_ms=np.array([1.05, 1.2]), **pct)  # fmt: skip
    assert time.perf_counter() - t0 < 60  # a hang guard, not a performance claim
    assert set(out["status"]) <= {ip.Status.OK, ip.Status.NOT_CERTIFIED}
    r = ip.Replica(model, 64669, 6.6e10)
    for i, itl in enumerate((1.05, 1.2)):
        res = r.size(itl_ms=itl, **pct)
        assert res.status == out["status"][i]
        if res.status == ip.Status.OK:
            assert out["rate"][i] == pytest.approx(res.rate, rel=1e-12)
            assert r.analyze(res.rate).itl_ms <= itl * (1 + 1e-9)


# --- item 7: extreme targets and parameters ---------------------------------------------


@pytest.mark.parametrize("queue", [1e6, 1e11])
def test_percentile_target_of_1e308_ms(backend, queue):
    r = ip.Replica(ip.DecodeOnly(alpha=1, beta=0.025, out_tokens=2), 48, queue)
    res = r.size(ttft_percentile=(0.9, 1e308))
    assert res.status == ip.Status.OK
    assert res.binding is None
    assert res.rate == pytest.approx(0.999 * r.max_rate, rel=1e-12)
    assert res.rate == pytest.approx(10898.18, abs=0.01)


def test_denormal_out_tokens_is_a_named_status(backend):
    try:
        r = ip.Replica(ip.DecodeOnly(alpha=1, beta=0.025, out_tokens=5e-324), 48, 10)
    except ValueError as err:  # refused up front: names the parameter
        refused = str(err)
    else:
        refused = None
    if refused is not None:
        assert "out_tokens" in refused or "service" in refused
        return
    res = r.size()
    assert res.status in (ip.Status.BAD_SERVICE_TIME, ip.Status.BAD_OUT_TOKENS)
    assert (not res.feasible and "service time" in res.reason) or "out_tokens" in res.reason
    assert r.size(itl_ms=50).status != ip.Status.OK


def test_denormal_wait_target_is_infeasible(backend):
    r = ip.Replica(ip.DecodeOnly(19, 1, 1024), 48, 152)
    for admission in (None, "iteration"):
        res = r.size(wait_ms=5e-324, admission=admission)
        assert res.status == ip.Status.INFEASIBLE_WAIT
        assert res.rate == 0.0
        assert res.binding == "wait_ms"
    # the smallest normal double is a target like any other
    assert r.size(wait_ms=2.2250738585072014e-308).status == ip.Status.OK


def test_sized_throughput_never_exceeds_max_rate(backend):
    """max_rate is mu(N), the rate of a full replica.

    PrefillDecode's mu is not monotone (mu(b) > mu(N) for some b < N here), yet a sized rate
    stays below 0.999 mu(N), so its throughput does too (docs/model.md 3.1).
    """
    model = ip.PrefillDecode(alpha=10, beta=0.01, gamma=1e-4, in_tokens=8192, out_tokens=4,
                             max_num_tokens=512)  # fmt: skip
    tau, _ = reference.service_times(*model.params(), 64)
    mu = np.arange(1, 65) / tau
    assert mu.max() > mu[-1] * 1.01  # not monotone
    for q in (0, 10, math.inf):
        r = ip.Replica(model, 64, q)
        for targets in ({}, {"ttft_ms": 1e9}, {"itl_ms": 1e9}):
            res = r.size(**targets)
            assert res.status == ip.Status.OK
            assert res.rate <= 0.999 * r.max_rate * (1 + 1e-12)
            assert res.metrics.throughput <= res.metrics.max_rate


def test_rate_zero_is_never_ok(backend):
    """A target met only at rate 0 is infeasible, never rate 0 with status OK."""
    rng = np.random.default_rng(11)
    n = 200
    cfg = dict(kind=rng.integers(0, 2, n), alpha=rng.uniform(1, 40, n),
               beta=rng.uniform(0.001, 0.1, n), gamma=rng.uniform(0, 1e-3, n),
               in_tokens=rng.choice([60.0, 2000.0, 3000.0], n),
               out_tokens=rng.choice([4.0, 479.0], n), max_batch=rng.integers(1, 64, n),
               max_queue=rng.choice([0.0, 74.0, np.inf], n))  # fmt: skip
    idle = ip.analyze_many(rate=0.0, metrics=["itl_ms", "ttft_ms", "max_rate"], **cfg)
    busy = ip.analyze_many(rate=0.95 * idle["max_rate"], metrics=["itl_ms", "ttft_ms"], **cfg)
    u = rng.uniform(0, 1, (2, n))
    out = ip.size_many(itl_ms=idle["itl_ms"] + u[0] * (busy["itl_ms"] - idle["itl_ms"]) + 1e-9,
                       ttft_ms=idle["ttft_ms"] + u[1] * (busy["ttft_ms"] - idle["ttft_ms"]) + 1e-9,
                       **cfg)  # fmt: skip
    ok = out["status"] == 0
    assert ok.mean() > 0.9
    assert (out["rate"][ok] > 0).all()
    assert (out["status"] != ip.Status.NOT_CERTIFIED).all()


def test_not_certified_is_in_every_status_table():
    assert ip.Status.NOT_CERTIFIED == 9
    assert not ip.Status.NOT_CERTIFIED.is_error
    assert "certify" in ip.status_message(9)
    from inferplan import capi

    api = capi.load()
    assert api.lib.IP_NOT_CERTIFIED == 9
    assert "certify" in api.status_message(9)


# --- the last failures of the million-row size_many fuzz (docs/reliability.md) ------------
# Each row as scripts/fuzz.py printed it; checked on every backend against what the model
# says the answer must be, not against another backend's number.

_NO_QUEUE_ONE_SLOT = [
    # (kind, alpha, beta, gamma, in, out, max_num_tokens, targets)
    (0, 142.77172445516166, 0.007962901100213604, 0.0, 113.39048390652411, 5234.0219210357955,
     8192.0, {"itl_ms": 747.7818954843959, "ttft_ms": 745.7731042854826}),
    (0, 0.3456954247843434, 0.008906787580841905, 0.00427377843707166, 808.2222870575064,
     2466.717055159955, 8192.0, {"itl_ms": 0.8632095192756466, "ttft_ms": 0.8767410172804986}),
    (1, 5.445327672034309, 0.027373502210397943, 6.204656243317367e-08, 158.6799528538114,
     5209.964139879705, 7194.625483956545, {"ttft_percentile": (0.5, 51.610498422585344)}),
    (0, 6.673593479687049, 0.6575383328444181, 3.0641211916804484e-07, 4.973756225202094,
     1.1336524479832748, 137.2446212594529,
     {"wait_ms": 0.008193145493770313, "max_block": 1.1636287756785534e-10,
      "ttft_percentile": (0.95, 10.18067502157362)}),
]  # fmt: skip


def _cols(kind, alpha, beta, gamma, in_tokens, out_tokens, mnt, max_batch, max_queue):
    return dict(kind=kind, alpha=alpha, beta=beta, gamma=gamma, in_tokens=in_tokens,
                out_tokens=out_tokens, max_num_tokens=mnt, max_batch=max_batch,
                max_queue=max_queue)  # fmt: skip


@pytest.mark.parametrize("row", _NO_QUEUE_ONE_SLOT)
def test_one_slot_without_queue_never_waits_under_iteration_admission(backend, row):
    """One slot and no queue: the wait under iteration admission is exactly 0.

    An accepted request always finds the replica empty, so no running iteration delays it: the wait
    is exactly 0 (it was 1 - p0 - P(n >= 1) rounded, 2e-14 ms on one backend and 0 on another).
    """
    *params, targets = row
    c = _cols(*params, 1, 0.0)
    res = ip.size_many(**c, **targets, admission="iteration", metrics="all")
    assert res["status"][0] == 0
    assert res["wait_ms"][0] == 0.0
    m = ip.analyze_many(**c, rate=res["rate"][0] * np.array([0.5, 1.0, 3.0]),
                        admission="iteration")  # fmt: skip
    assert np.all(m["wait_ms"] == 0.0)


_ORDER = ("ttft_ms", "itl_ms", "wait_ms", "ttft_percentile", "wait_percentile", "max_block")
_IDLE_INFEASIBLE = [
    # (kind, alpha, beta, gamma, in, out, mnt, max_batch, max_queue, targets, admission)
    (0, 2.2526684596621953, 0.00021748394887041004, 0.008176329951835315, 73453.48795788157,
     0.8088387776946733, 9981.613569005243, 74, 0.0,
     {"itl_ms": 2.236769705328296, "ttft_ms": 2.238923771113841}, "immediate"),
    (1, 8.591661124135527, 5.156566564630681e-05, 0.0003503087894046169, 0.0,
     1.3452521539362943, 2242.5691500775024, 349, 19.0,
     {"itl_ms": 8.500212258417905, "ttft_ms": 17.15724434582704}, None),
    (0, 2.488085109630299, 0.0014915058556513273, 2.38655223883758e-06, 33.69392240942735,
     0.21065113203325903, 61.996650077657506, 1, 2.0,
     {"itl_ms": 2.4421458148174797, "ttft_ms": 2.968725534411749,
      "ttft_percentile": (0.99, 2.458642895949534)}, "immediate"),
]  # fmt: skip


@pytest.mark.parametrize("row", _IDLE_INFEASIBLE)
def test_idle_infeasibility_names_the_first_failing_target(backend, row):
    """Several targets fail at the idle replica: the status names the first that fails.

    The order is TTFT, ITL, wait, TTFT percentile, wait percentile, blocking (docs/model.md 3),
    found here from the idle metrics themselves (at rate 0 nobody waits: a TTFT percentile is
    prefill + one ITL).
    """
    *params, targets, admission = row
    c = _cols(*params)
    idle = ip.analyze_many(**c, rate=0.0, metrics="all")
    value = {"ttft_ms": idle["ttft_ms"][0], "itl_ms": idle["itl_ms"][0],
             "wait_ms": idle["wait_ms"][0], "max_block": idle["p_block"][0]}  # fmt: skip
    failing = []
    for name in _ORDER:
        if name not in targets:
            continue
        if name == "ttft_percentile":
            fails = idle["prefill_ms"][0] + idle["itl_ms"][0] > targets[name][1]
        else:
            fails = value[name] > targets[name]
        if fails:
            failing.append(name)
    assert len(failing) >= 2  # the case in question: more than one target fails
    res = ip.size_many(**c, **targets, admission=admission)
    expected = getattr(ip.Status, "INFEASIBLE_" + failing[0].upper().replace("_MS", ""))
    assert res["status"][0] == expected


def test_ttft_that_jumps_at_a_chunk_boundary_is_sized_to_the_jump(backend):
    """PrefillDecode with a prompt of 14 chunks: the answer is where TTFT jumps.

    TTFT rises smoothly, then jumps above its target where round(B) reaches a batch of more chunks.
    The answer is that jump (the search once stopped 2.8e-4 below it, at a rate where the target
    still held).
    """
    c = _cols(1, 15.26949020384674, 1.2628216466016744, 1.3153239598843244e-07,
              28194.19554109175, 82.63517756717896, 2280.237103005348, 16963, 21.0)  # fmt: skip
    target = 205642.8373438513
    res = ip.size_many(**c, ttft_ms=target, metrics="all")
    assert res["status"][0] == 0
    assert res["binding"][0] == 2
    r = res["rate"][0]
    m = ip.analyze_many(**c, rate=r * np.array([1.0, 1 + 1e-9]), metrics="all")
    assert m["ttft_ms"][0] <= target < m["ttft_ms"][1]
    # ... and the jump is where the mean batch crosses 10.5 (one more chunk from there).
    assert m["in_service"][0] < 10.5 <= m["in_service"][1]


@pytest.mark.parametrize(("queue", "targets", "binding"), [
    (7423091175.0, {"ttft_percentile": (0.9, 1e308)}, 0),
    (264785362.0, {"itl_ms": 123.51888570246086, "tps": 1068.8866952087105,
                   "wait_percentile": (0.5, 1e308)}, 7),
])  # fmt: skip
def test_1e308_ms_percentile_on_a_huge_queue_under_admission(backend, queue, targets, binding):
    """A 1e308 ms percentile never binds: the answer is the saturation cap.

    With a TPS target it is 0.9 of it. The admitted search once charged a quantile for a window
    scaled on the target (1e308 ms) instead of the terms it sums, and gave up (NOT_CERTIFIED).
    """
    params = ((0, 870.3433429441054, 0.0001979335366906583, 2.142737001255921e-08,
               79514.28027754236, 9.36888590777695, 1460.5056558473698, 18)
              if binding == 0 else
              (0, 7.6929191312435234, 0.7785183329611863, 4.9265842363059896e-08,
               17.49561041901191, 934.1742311293823, 23002.81181288982, 525))  # fmt: skip
    c = _cols(*params, queue)
    res = ip.size_many(**c, **targets, admission="iteration", metrics="all")
    assert res["status"][0] == 0
    assert res["binding"][0] == binding
    cap = 0.999 * res["max_rate"][0] * (0.9 if binding == 7 else 1.0)
    assert res["rate"][0] == pytest.approx(cap, rel=1e-12)


def test_wait_percentile_of_1e_300_ms_is_where_the_quantile_leaves_0(backend):
    """P90 wait <= 1e-300 ms holds while at most 10% of requests wait at all.

    The answer is the rate where P(W > 0) reaches 0.1, where the quantile is still exactly 0 and
    just above which it is positive (it was a rate where it was 5.9e-11 ms).
    """
    model = ip.DecodeOnly(0.13456279768057275, 0.0010300354821578606, 1245.8533635723913)
    r = ip.Replica(model, max_batch=6, max_queue=4399501401.0)
    res = r.size(wait_percentile=(0.9, 1e-300))
    assert res.status == ip.Status.OK
    assert res.binding == "wait_percentile"
    assert r.wait_quantile(res.rate, 0.9) == 0.0
    assert r.wait_quantile(res.rate * (1 + 1e-9), 0.9) > 1e-300


@pytest.mark.parametrize("admission", [None, "immediate"])
def test_a_crossing_just_below_a_downward_jump_is_the_answer(backend, admission):
    """ITL crosses its target 3.4e-10 below the rate where it jumps down: that crossing is it.

    PrefillDecode's ITL rises to the target, exceeds it on a window of 3.4e-10 (relative)
    until round(B) reaches the next batch, and falls back below it there: the largest rate
    below which the target always holds is the crossing, although the target holds again
    1e-9 above it (the fuzz's first probes there took the answer for a miss).
    """
    c = _cols(1, 103.61237098138099, 0.11683744277398514, 2.0206193057448955e-08,
              2214.716646872204, 23.861875046311496, 2594.4692374503547, 2577, 99.0)  # fmt: skip
    target = 424.3437508300742
    res = ip.size_many(**c, itl_ms=target, admission=admission)
    rate = res["rate"][0]
    assert res["status"][0] == ip.Status.OK
    assert rate == pytest.approx(2.8231272675629047, rel=1e-9)
    probe = ip.analyze_many(**c, rate=rate * (1 + np.array([0.0, 1e-10, 1e-9])))["itl_ms"]
    assert probe[0] <= target  # held at the rate
    assert probe[1] > target  # fails just above it
    assert probe[2] < target  # and holds again past the jump

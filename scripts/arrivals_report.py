"""Writes docs/traffic.md.

inferplan.arrivals (renewal arrivals solved as a QBD) and inferplan.lengths (length laws)
against the continuous-batching simulator.

    PYTHONPATH=python python scripts/arrivals_report.py [--quick] [--out docs/traffic.md]

Grid: Gamma renewal arrivals with squared CV 0 (represented by Gamma shape 25 = Erlang-25
in both the simulator and the model: CV^2 = 0.04, the documented stand-in for a constant
rate), 1, 2 and 4 with geometric output lengths; lognormal output lengths with CV 0.5, 1
and 2 under Poisson and CV^2 = 2 arrivals; loads 10-95% of the replica's saturation rate;
DecodeOnly and PrefillDecode; unbounded queue; ``admission="immediate"`` in both (the
chain's own assumption, so that only the traffic differs). Seeded: the same code gives the
same document. ``tests/test_arrivals.py`` and ``tests/test_lengths.py`` hold the CI-sized
checks.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import time

import inferplan
from inferplan import DecodeOnly, PrefillDecode, Replica, Tokens, arrivals
from inferplan.lengths import Lengths

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEED = 20260101
LOADS = (0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95)
MODELS = {
    "DecodeOnly": (DecodeOnly(alpha=19, beta=1, out_tokens=256), 48),
    "PrefillDecode": (
        PrefillDecode(alpha=8, beta=0.02, gamma=5e-5, in_tokens=500, out_tokens=200),
        32,
    ),
}
MEAN_TOL, P99_TOL = 0.10, 0.15


def _err(value, est):
    """(relative error, inside the CI or the tolerance) of an analytic value."""
    if est.mean == 0:
        return (0.0 if value == 0 else math.inf), value <= est.high
    return (value - est.mean) / est.mean, est.contains(value)


def point(model, max_batch, load, cv, out_cv, n, reps):
    """Compare the analysis with simulation at one load."""
    replica = Replica(model, max_batch=max_batch)
    lengths = None if out_cv is None else Lengths(out_cv=out_cv)
    base = arrivals.analyze(replica, 1.0, lengths=lengths) if lengths else replica.analyze(1.0)
    rate = load * base.max_rate
    out = None if out_cv is None else Tokens.lognormal(model.out_tokens, out_cv)
    sim = inferplan.simulate(model, max_batch=max_batch, rate=rate, arrival_cv=cv,
                             out_tokens=out, num_requests=n, replications=reps, seed=SEED,
                             admission="immediate", percentiles=(99.0,))  # fmt: skip
    kw = dict(arrival_cv=cv, lengths=lengths, admission="immediate")
    a = arrivals.analyze(replica, rate, **kw)
    p = arrivals.analyze(replica, rate, admission="immediate")  # Poisson, mean lengths
    w99 = arrivals.wait_quantile(replica, rate, 0.99, **kw)
    t99 = arrivals.ttft_quantile(replica, rate, 0.99, **kw)
    b99 = arrivals.ttft_quantile(replica, rate, 0.99, by_batch=True, **kw)
    row = {"load": load}
    for name, value, est in (
        ("wait", a.wait_ms, sim.wait_ms), ("ttft", a.ttft_ms, sim.ttft_ms),
        ("itl", a.itl_ms, sim.itl_ms), ("w99", w99, sim.wait_percentiles[99.0]),
        ("t99", t99, sim.ttft_percentiles[99.0]),
        ("b99", b99, sim.ttft_percentiles[99.0]), ("poisson_ttft", p.ttft_ms, sim.ttft_ms),
    ):  # fmt: skip
        row[name], row[name + "_in_ci"] = _err(value, est)
        row[name + "_sim"] = est.mean
        row[name + "_ci"] = est.half_width / est.mean if est.mean else 0.0
    return row


def fmt(x):
    """Format a number, or ``-`` for None."""
    return "-" if x is None else f"{x:.4g}"


def pct(x):
    """Format a relative error as a signed percentage."""
    return "n/a" if not math.isfinite(x) else f"{100 * x:+.1f}%"


def misses(rows, label, max_load=0.9):
    """Return the rows whose errors exceed the tolerances, up to ``max_load``."""
    out = []
    for r in rows:
        if r["load"] > max_load + 1e-9:
            continue
        for name, tol in (("wait", MEAN_TOL), ("ttft", MEAN_TOL), ("w99", P99_TOL),
                          ("b99", P99_TOL)):  # fmt: skip
            small = r[name + "_sim"] < 1.0  # below a millisecond: nothing to compare
            if not (r[name + "_in_ci"] or abs(r[name]) <= tol or small):
                out.append(f"{label} {name} at {r['load']:.2f} ({pct(r[name])})")
    return out


def main():
    """Run the report."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a smoke test: few requests")
    ap.add_argument("--out", default=str(ROOT / "docs" / "traffic.md"))
    args = ap.parse_args()
    n, reps = (4_000, 3) if args.quick else (60_000, 8)
    n_pd = (2_000, 3) if args.quick else (20_000, 6)
    t0 = time.perf_counter()
    cases = []
    for mname, (model, N) in MODELS.items():
        nn, rr = (n, reps) if mname == "DecodeOnly" else n_pd
        for c2 in (0, 1, 2, 4):
            cv = 0.2 if c2 == 0 else math.sqrt(c2)
            label = f"{mname} CV^2 {'0 (0.04)' if c2 == 0 else c2}"
            rows = [point(model, N, load, cv, None, nn, rr) for load in LOADS]
            cases.append((label, rows))
        for c2, out_cv in ((1, 0.5), (1, 1.0), (1, 2.0), (2, 2.0)):
            label = f"{mname} CV^2 {c2}, lognormal out CV {out_cv}"
            rows = [point(model, N, load, math.sqrt(c2), out_cv, nn, rr) for load in LOADS]
            cases.append((label, rows))
        print(f"{mname}: {time.perf_counter() - t0:.0f} s", flush=True)
    elapsed = time.perf_counter() - t0

    lines = [
        "# Bursty arrivals and length distributions: analytic against simulated",
        "",
        "<!-- Generated by scripts/arrivals_report.py; edit the script, not this file. -->",
        "",
        "`inferplan.arrivals` solves a replica under renewal arrivals with a given coefficient",
        "of variation ([model.md](model.md) 6) and `inferplan.lengths` adds prompt and output",
        "length laws ([model.md](model.md) 7). This page compares both with `inferplan.simulate`",
        "fed the",
        "same traffic: Gamma renewal arrivals of CV^2 0, 1, 2 and 4 and lognormal output",
        "lengths of CV 0.5 to 2, at 10-95% of the replica's saturation rate, for DecodeOnly",
        "(alpha 19, beta 1, m 256, max_batch 48) and PrefillDecode (alpha 8, beta 0.02,",
        "gamma 5e-5, L 500, m 200, max_batch 32), unbounded queue. Both sides use",
        '`admission="immediate"`, the chain\'s own admission, so that only the traffic',
        "differs from the chain's assumptions ([accuracy.md](accuracy.md) covers admission).",
        "",
        "- CV^2 0 (a constant rate) is represented on both sides by Gamma gaps of shape 25",
        "  (an Erlang-25 process, CV^2 0.04): the simulator cannot draw CV 0, and the model",
        "  caps the Erlang order at 64 (`inferplan.phasetype.MAX_PHASES`).",
        "- For CV^2 > 1 the model's hyperexponential matches the Gamma law's first three",
        "  moments, not its whole distribution; the GI/M/1 closed forms (tests) show what",
        "  that leaves: the mean wait of a single server is 3% (CV^2 2) and 7% (CV^2 4) low",
        "  at 50% load, within 2% from 70%, and 10-22% low at 30%, where it is small anyway.",
        '- Errors are `(analytic - simulated) / simulated`; "Poisson" is what',
        "  `Replica.analyze` says (Poisson arrivals, mean lengths): the error this work",
        "  removes. P99 is the 99th percentile of the wait (`w99`) and TTFT (`b99`:",
        "  `ttft_quantile(..., by_batch=True)`, the service part at the batch each arrival",
        "  joins, from the arrival-stationary law; `t99`: the default, at the mean batch,",
        "  as `Replica.ttft_quantile`).",
        f"- {n:,} requests x {reps} replications per DecodeOnly point, {n_pd[0]:,} x "
        f"{n_pd[1]} per PrefillDecode point, seed {SEED}; this run took {elapsed:.0f} s.",
        "",
        "## Where the model misses",
        "",
        f"Criteria up to 90% load: mean wait and TTFT within {100 * MEAN_TOL:.0f}% or the",
        f"simulation's 95% CI, P99 within {100 * P99_TOL:.0f}% or the CI (values below 1 ms",
        "are not compared).",
        "",
    ]
    all_misses = []
    for label, rows in cases:
        all_misses += misses(rows, label)
    if all_misses:
        lines += [f"- {m}" for m in all_misses]
    else:
        lines.append("- none")
    lines += [
        "",
        "Why, where it misses: (1) the default TTFT percentile (`t99`, not a criterion) is",
        "the wait percentile plus the mean prefill and first-token time, so at low load,",
        "where the wait is nil, it misses how the first iteration lengthens in a fuller",
        "batch (by 20-30%); `by_batch` takes that from the arrival's law; (2) heavy-tailed",
        "lengths (CV 2) make the time in",
        "service far from exponential, and the chain's queue is corrected only in its mean",
        "and spread by the two-moment factor ([model.md](model.md) 7); near saturation that",
        "factor overestimates the queue of a 32-48-slot batch by 40-140% at 70-90% load (on",
        "the safe side for sizing); (3) PrefillDecode TTFT at light load depends on how",
        "many requests arrive within one prefill of each other, so their prefills share",
        "iterations. The model counts them from the Gamma renewal process itself (not its",
        "fitted H2, which has several times fewer near-simultaneous arrivals), and `b99`",
        "mixes over how many there are ([model.md](model.md) 6): with Poisson arrivals P99",
        "TTFT at 10-50% load is within 8% (it was 24-33% low with the mean overlap), with",
        "CV^2 2 within 12% at 10-30% load (was 39-48% low); CV^2 4 at 10-50% load and CV^2",
        "2 at 50% are still 16-33% low, and the mean TTFT of CV^2 4 9-15% low (was 22-26%):",
        "the batch an arrival joins still comes from the H2 chain, and collisions that",
        "lengthen each other's windows are not followed; (4) at CV^2 0 (Erlang-25) and 90%",
        "load the wait is 20% high.",
        "",
    ]
    for label, rows in cases:
        lines += [
            f"## {label}",
            "",
            "| load | wait sim (ms) | wait err | TTFT sim (ms) | TTFT err | TTFT err, Poisson"
            " | P99 wait sim | P99 wait err | P99 TTFT sim | P99 TTFT err (b99) | (t99)"
            " | ITL sim | ITL err |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r['load']:.2f} | {fmt(r['wait_sim'])} | {pct(r['wait'])} | "
                f"{fmt(r['ttft_sim'])} | {pct(r['ttft'])} | {pct(r['poisson_ttft'])} | "
                f"{fmt(r['w99_sim'])} | {pct(r['w99'])} | {fmt(r['t99_sim'])} | "
                f"{pct(r['b99'])} | {pct(r['t99'])} | {fmt(r['itl_sim'])} | {pct(r['itl'])} |"
            )
        lines.append("")
    lines += [
        "## Reproducing",
        "",
        "```",
        "PYTHONPATH=python python scripts/arrivals_report.py",
        "```",
        "",
    ]
    pathlib.Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out} in {elapsed:.0f} s")


if __name__ == "__main__":
    main()

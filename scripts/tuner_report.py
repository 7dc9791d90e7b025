"""How the online tuner does on real vLLM engine logs (run by hand; figures for docs/tuning.md).

For every log given (default: the vendored ones in tests/data/vllm-logs), cut into windows of
``--window`` seconds, start the tuner ``--factor`` x off the robust offline fit of the whole
log (both parameters too high, then both too low), and report: the first window from which
it stays within 10% of the robust offline fit of the data seen so far, its distance from the
whole-log fit at the end, and the median error of its one-step-ahead ITL after window 10.

    python scripts/tuner_report.py                       # the vendored logs
    python scripts/tuner_report.py path/to/*.csv --window 5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from inferplan import DecodeOnly  # noqa: E402
from inferplan.service.metrics import engine_log_windows  # noqa: E402
from inferplan.service.tuning import Tuner, fit_iteration_times  # noqa: E402


def evaluate(path: Path, window_s: float, factor: float) -> list[dict]:
    """Run the tuner on one engine log; return its per-window errors."""
    windows = engine_log_windows(path, window_s=window_s)
    fits = []
    for k in range(1, len(windows) + 1):
        pts = [p for w in windows[:k] for p in w.points]
        fits.append(fit_iteration_times(*zip(*pts, strict=True)) if len(pts) >= 3 else None)
    a_full, b_full = fits[-1]
    out = []
    for f in (factor, 1 / factor):
        tuner = Tuner(DecodeOnly(f * a_full, f * b_full, 100))
        within, errors = [], []
        for k, w in enumerate(windows, 1):
            if k > 10:
                errors += [abs(tuner.predict_itl(b) / y - 1) for b, y in w.points]
            tuner.update(w)
            fit = fits[k - 1]
            p = tuner.params
            within.append(fit is not None and abs(p["alpha"] / fit[0] - 1) <= 0.1
                          and abs(p["beta"] / fit[1] - 1) <= 0.1)  # fmt: skip
        first = next((k + 1 for k in range(len(within)) if all(within[k:])), None)
        p = tuner.params
        out.append({
            "log": path.name, "start": f"{f:g}x", "windows": len(windows),
            "fit_alpha": a_full, "fit_beta": b_full, "stays_within_10pct_from": first,
            "end_alpha_err": p["alpha"] / a_full - 1, "end_beta_err": p["beta"] / b_full - 1,
            "itl_median_err_after_10": float(np.median(errors)) if errors else float("nan"),
        })  # fmt: skip
    return out


def main(argv=None) -> int:
    """Run the report; return the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("logs", nargs="*", type=Path)
    ap.add_argument("--window", type=float, default=10.0, help="window length, s (default 10)")
    ap.add_argument("--factor", type=float, default=2.0, help="how far off the start is")
    args = ap.parse_args(argv)
    logs = args.logs or sorted((ROOT / "tests" / "data" / "vllm-logs").glob("*.csv"))
    print(f"{'log':34s} {'start':>5s} {'win':>4s} {'alpha':>7s} {'beta':>7s} {'conv@':>5s} "
          f"{'d_alpha':>8s} {'d_beta':>7s} {'ITL err':>7s}")  # fmt: skip
    for path in logs:
        for r in evaluate(path, args.window, args.factor):
            conv = "-" if r["stays_within_10pct_from"] is None else r["stays_within_10pct_from"]
            print(f"{r['log']:34s} {r['start']:>5s} {r['windows']:4d} {r['fit_alpha']:7.3f} "
                  f"{r['fit_beta']:7.4f} {conv!s:>5s} {r['end_alpha_err']:+8.1%} "
                  f"{r['end_beta_err']:+7.1%} {r['itl_median_err_after_10']:7.1%}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

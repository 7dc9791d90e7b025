"""Plots and text tables of predicted vs measured benchmark points."""

from __future__ import annotations

import math

import numpy as np

from .. import _lazy

__all__ = [
    "format_table",
    "plot_points",
]
__dir__ = _lazy.public_dir(__name__)


def plot_points(pred, path=None, *, title=None, ttft_column="ttft_ms"):
    """One panel per request shape.

    Measured (markers) and predicted (lines) TTFT and ITL against the request rate.
    ``pred``: the DataFrame of :meth:`Calibration.predict`. Saves a PNG to ``path`` if
    given; returns the figure.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .calibrate import FIT_ARRIVALS, shape_label

    pred = pred[np.isin(pred["arrival"].astype(str), FIT_ARRIVALS)]
    key = pred["source"] if "source" in pred else pred.apply(
        lambda r: shape_label(r["in_tokens"], r["out_tokens"]), axis=1
    )  # fmt: skip
    groups = list(pred.groupby(key, sort=False))
    groups.sort(key=lambda kv: (kv[1]["in_tokens"].median(), kv[1]["out_tokens"].median()))
    n = max(len(groups), 1)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, (_, g) in zip(axes.flat, groups, strict=False):
        g = g.sort_values("request_rate")
        x = g["request_rate"].to_numpy(float)
        ax.plot(x, g[ttft_column], "o", ms=3, color="C0", label="TTFT measured")
        ax.plot(x, g["pred_ttft_ms"], "-", color="C0", label="TTFT model")
        ax2 = ax.twinx()
        ax2.plot(x, g["itl_ms"], "s", ms=3, color="C3", label="ITL measured")
        ax2.plot(x, g["pred_itl_ms"], "--", color="C3", label="ITL model")
        bad = ~g["steady_state"].to_numpy(bool)
        if bad.any():
            ax.plot(x[bad], g[ttft_column].to_numpy(float)[bad], "x", color="k", ms=7,
                    label="no steady state")  # fmt: skip
        ax.set_title(shape_label(g["in_tokens"].median(), g["out_tokens"].median()), fontsize=9)
        ax.set_xlabel("request rate (req/s)", fontsize=8)
        ax.set_ylabel("TTFT (ms)", fontsize=8, color="C0")
        ax2.set_ylabel("ITL (ms)", fontsize=8, color="C3")
        ax.tick_params(labelsize=7)
        ax2.tick_params(labelsize=7)
    h1, l1 = axes.flat[0].get_legend_handles_labels()
    extra = [
        plt.Line2D([], [], marker="s", ls="", color="C3"),
        plt.Line2D([], [], ls="--", color="C3"),
    ]
    labels = [*l1, "ITL measured", "ITL model"]
    fig.legend(h1 + extra, labels, loc="lower center", ncol=6, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97 if title else 1))
    if path is not None:
        fig.savefig(path, dpi=90)
    return fig


def format_table(table, summary=None) -> str:
    """Return the per-shape error table as aligned text (what ``inferplan calibrate`` prints)."""
    head = f"{'shape':<22}{'points':>7}{'steady':>7}{'TTFT med%':>10}{'max%':>8}" \
           f"{'ITL med%':>10}{'max%':>8}"  # fmt: skip
    lines = [head, "-" * len(head)]
    for r in table.itertuples(index=False):
        lines.append(
            f"{r.shape:<22}{r.points:>7}{r.steady:>7}{r.ttft_median_pct:>10.1f}"
            f"{r.ttft_max_pct:>8.1f}{r.itl_median_pct:>10.1f}{r.itl_max_pct:>8.1f}"
        )
    if summary:
        lines.append("-" * len(head))
        lines.append(
            f"{'all':<22}{summary['points']:>7}{summary['points'] - summary['no_steady_state']:>7}"
            f"{100 * summary.get('ttft_median', math.nan):>10.1f}"
            f"{100 * summary.get('ttft_max', math.nan):>8.1f}"
            f"{100 * summary.get('itl_median', math.nan):>10.1f}"
            f"{100 * summary.get('itl_max', math.nan):>8.1f}"
        )
        lines.append(
            f"p90 |error|: TTFT {100 * summary.get('ttft_p90', math.nan):.1f} %, "
            f"ITL {100 * summary.get('itl_p90', math.nan):.1f} %"
        )
    return "\n".join(lines)

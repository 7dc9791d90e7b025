"""The runtime report: a table (rich on a terminal, plain text otherwise), PNG plots and JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from .. import _lazy
from .evaluate import RuntimeReport

__all__ = [
    "plain_table",
    "plot",
    "print_table",
    "table_rows",
    "write_json",
    "write_report",
]
__dir__ = _lazy.public_dir(__name__)

_COLUMNS = (
    ("policy", "{}"),
    ("mean W", "{:.1f}"),
    ("vs static", "{}"),
    ("cards", "{:.2f}"),
    ("kWh", "{:.2f}"),
    ("$/day", "{:.2f}"),
    ("kg CO2/day", "{:.1f}"),
    ("P99 TTFT ms", "{:.0f}"),
    ("P99 ITL ms", "{:.1f}"),
    ("attain", "{:.4f}"),
    ("SLO met", "{}"),
    ("new inst", "{}"),
    ("time s", "{:.2f}"),
)


def table_rows(report: RuntimeReport) -> list[list[str]]:
    """One row of formatted cells per policy, in :data:`_COLUMNS` order."""
    rows = []
    for name, res in report.results.items():
        s = res.summary
        if "latency" not in s:
            continue
        lat = s["latency"]["overall"]
        vs = s.get("vs_static")
        cells = (
            name,
            s["mean_power_w"],
            "-" if vs is None or name == "static" else f"{-100 * vs['power_reduction']:+.1f}%",
            s["mean_cards"],
            s["energy_kwh"],
            s["cost_per_day"],
            s["co2_kg_per_day"],
            max(v["ttft_ms"]["p99"] or 0.0 for v in s["latency"]["classes"].values()),
            max(v["itl_ms"]["p99"] or 0.0 for v in s["latency"]["classes"].values()),
            lat["attainment"] if lat["attainment"] is not None else float("nan"),
            "yes" if lat["slo_met"] else "NO",
            s["new_instances"],
            s["decide_s"] + s["replay_s"],
        )
        rows.append([fmt.format(v) for (_, fmt), v in zip(_COLUMNS, cells, strict=True)])
    return rows


def plain_table(report: RuntimeReport) -> str:
    """Return the report's table as plain text, one row per policy."""
    head = [c for c, _ in _COLUMNS]
    rows = table_rows(report)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def print_table(report: RuntimeReport, file=None) -> None:
    """Rich table on a terminal, plain text otherwise (pipes, files, CI logs)."""
    file = sys.stdout if file is None else file
    title = (
        f"{report.trace.name}: {len(report.trace):,} requests "
        f"({report.trace.num_failed:,} failed) over {report.trace.duration_s / 3600:.2f} h, "
        f"{report.window_s:.0f} s windows; worst class P99 shown"
    )
    if file.isatty():
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            pass
        else:
            table = Table(title=title)
            for c, _ in _COLUMNS:
                table.add_column(c, justify="right")
            for r in table_rows(report):
                table.add_row(*r)
            Console(file=file).print(table)
            return
    print(title, file=file)
    print(plain_table(report), file=file)


def write_json(report: RuntimeReport, path) -> Path:
    """Write the report as JSON to ``path``; return the path."""
    path = Path(path)

    def default(x):
        if isinstance(x, np.generic):
            return x.item()
        raise TypeError(f"not JSON serialisable: {type(x).__name__}")

    path.write_text(json.dumps(report.as_dict(), indent=2, default=default))
    return path


def plot(report: RuntimeReport, out_dir, *, dpi: int = 80) -> list[Path]:
    """Plot the report into ``out_dir``: ``load_instances.png``, ``power.png``, ``latency.png``.

    ``load_instances.png`` shows per-class load and cards over time; ``latency.png`` the
    P95/P99 TTFT and ITL per class and policy, against the SLOs.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [r.name for r in report.rules]
    any_plan = next(iter(report.results.values())).plan
    hours = np.arange(any_plan.observed.shape[0]) * report.window_s / 3600.0
    paths = []

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    ax1.stackplot(hours, any_plan.observed.T, labels=names, step="post", alpha=0.8)
    ax1.set_ylabel("load (req/s)")
    ax1.legend(loc="upper left", ncol=len(names), fontsize=8)
    for policy, res in report.results.items():
        ax2.step(hours, res.plan.cards, where="post", label=policy)
    ax2.set_ylabel("cards powered")
    ax2.set_xlabel("hours from the start of the trace")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out_dir / "load_instances.png")
    fig.savefig(paths[-1], dpi=dpi)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 3.5))
    for policy, res in report.results.items():
        if res.replay is None:
            continue
        mean_w = res.summary["mean_power_w"]
        ax.step(hours, res.replay.power_w, where="post", label=f"{policy} (mean {mean_w:.0f} W)")
    ax.set_ylabel("fleet power (W)")
    ax.set_xlabel("hours from the start of the trace")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out_dir / "power.png")
    fig.savefig(paths[-1], dpi=dpi)
    plt.close(fig)

    done = [(p, r) for p, r in report.results.items() if r.replay is not None]
    if done:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
        x = np.arange(len(names))
        width = 0.8 / len(done)
        for metric, ax in zip(("ttft_ms", "itl_ms"), axes, strict=True):
            for i, (policy, res) in enumerate(done):
                cls = res.summary["latency"]["classes"]
                p99 = [cls[n][metric]["p99"] or 0.0 for n in names]
                p95 = [cls[n][metric]["p95"] or 0.0 for n in names]
                pos = x - 0.4 + width * (i + 0.5)
                ax.bar(pos, p99, width, label=f"{policy} P99", alpha=0.9)
                ax.scatter(pos, p95, color="k", marker="_", zorder=3)
            slo = [getattr(r.slo, metric) for r in report.rules]
            ax.scatter(x, slo, color="red", marker="v", zorder=4, label="SLO")
            ax.set_yscale("log")
            ax.set_xticks(x, names)
            ax.set_title(f"{metric.replace('_ms', '').upper()} (ms): bars P99, ticks P95")
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        paths.append(out_dir / "latency.png")
        fig.savefig(paths[-1], dpi=dpi)
        plt.close(fig)
    return paths


def write_report(report: RuntimeReport, out_dir, *, plots: bool = True) -> dict[str, Path]:
    """JSON, plain-text table and (optionally) plots under ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"json": write_json(report, out_dir / "runtime.json")}
    text = out_dir / "runtime.txt"
    with open(text, "w") as fh:
        print_table(report, fh)
    files["table"] = text
    if plots:
        for p in plot(report, out_dir):
            files[p.stem] = p
    return files

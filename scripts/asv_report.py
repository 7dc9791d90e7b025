#!/usr/bin/env python
"""Turn one asv result file into Markdown tables for docs/performance.md.

One table per benchmark class.

    cd benchmarks && asv run --python=same   # writes benchmarks/.asv/results/<machine>/...
    python scripts/asv_report.py             # newest result file of this machine
    python scripts/asv_report.py benchmarks/.asv/results/vm/0fd75003-existing-....json
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from collections import defaultdict
from pathlib import Path

from asv.results import Results
from asv.util import human_value

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / ".asv" / "results"  # asv.conf.json's results_dir


def newest_result() -> Path:
    """Return this machine's newest result file."""
    files = [p for p in RESULTS.glob("*/*.json") if p.name != "machine.json"]
    if not files:
        raise SystemExit(f"no results under {RESULTS}: run `asv run --python=same` first")
    return max(files, key=lambda p: p.stat().st_mtime)


def fmt(value, unit: str) -> str:
    """Format a benchmark value in its unit."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "ratio":
        return f"{value:.2f}x" if value < 100 else f"{value:,.0f}x"
    if unit not in ("seconds", "bytes"):
        return f"{value:,.0f} {unit}"
    return human_value(value, unit).strip()


def tables(path: Path) -> str:
    """Return the Markdown tables of one result file."""
    result = Results.load(str(path))
    meta = json.loads((RESULTS / "benchmarks.json").read_text())
    machine = json.loads((path.parent / "machine.json").read_text())
    by_class = defaultdict(list)
    for name in sorted(result.get_all_result_keys()):
        params = result.get_result_params(name)
        values = result.get_result_value(name, params)
        names = meta.get(name, {}).get("param_names", [])
        unit = meta.get(name, {}).get("unit", "")
        combos = list(itertools.product(*params)) if params else [()]
        module, _, rest = name.partition(".")
        owner, _, method = rest.rpartition(".")
        for combo, value in zip(combos, values, strict=True):
            label = ", ".join(f"{n}={v.strip(chr(39))}" for n, v in zip(names, combo, strict=True))
            by_class[f"{module}.{owner}" if owner else module].append(
                (method, label, fmt(value, unit))
            )
    lines = [
        f"Commit `{result.commit_hash[:8]}`, machine `{machine.get('machine')}` "
        f"({machine.get('cpu')}, {machine.get('num_cpu')} CPUs), "
        f"{result.env_name}.",
        "",
    ]
    for group, rows in by_class.items():
        lines += [f"#### {group}", "", "| benchmark | parameters | value |", "|---|---|---:|"]
        lines += [f"| {m} | {p or '-'} | {v} |" for m, p, v in rows]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    """Print the tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("result", nargs="?", type=Path, help="an asv result file (default: newest)")
    args = ap.parse_args()
    print(tables(args.result or newest_result()))


if __name__ == "__main__":
    main()

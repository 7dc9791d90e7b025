#!/usr/bin/env python
"""Compares the benchmark suite between two commits.

Exit 1 on a regression, 2 when there is nothing to compare (the suite did not run).

    scripts/asv_compare.sh BASE HEAD [--factor 1.5] [-b REGEX ...] [--quick]

Why not ``asv continuous``: it builds every commit in a fresh virtualenv, which needs PyPI
and several minutes per commit here. Instead each commit is exported (``git archive``) to
a temporary directory and its extension is built there with ``scripts/dev_build.sh``
(``INFERPLAN_BUILD_DIR`` inside the same directory, so nothing of the checkout is touched).
The *current* suite (``benchmarks/benchmarks``) then runs against each build with
``asv run --python=same --set-commit-hash SHA``, the build put first on the path through
``ASV_PYTHONPATH``, as ``asv continuous`` also runs one suite against both commits.
Results land in ``benchmarks/.asv/compare/results`` (emptied at each comparison, apart
from the ordinary ``.asv/results``) under each commit's hash; ``asv compare``
prints the usual table, and the gate below decides the exit status:

* ``time_*`` and ``peakmem_*``: a regression when HEAD / BASE > factor;
* ``track_*`` in calls/s or a speed-up ratio (names with ``speedup``, ``_vs_``,
  ``per_second``, ``two_threads``): higher is better, a regression when BASE / HEAD >
  factor; any other ``track_*`` (a cost ratio): HEAD / BASE > factor;
* a benchmark that ran on BASE and fails on HEAD.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "benchmarks"  # the asv suite: asv.conf.json and benchmarks/
# A results directory of its own, emptied at each comparison, so that a comparison neither
# mixes with nor deletes the results of ordinary `asv run`s in .asv/results.
RESULTS = HERE / ".asv" / "compare" / "results"
CONFIG = HERE / ".asv" / "compare" / "asv.conf.json"
HIGHER_IS_BETTER = re.compile(r"speedup|_vs_|per_second|two_threads")


def git(*args: str) -> str:
    """Run git in the repository; return its stdout."""
    return subprocess.run(
        ["git", *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()


def build(sha: str, workdir: Path) -> Path:
    """Export ``sha`` to ``workdir/src`` and compile its extension in place there."""
    src = workdir / "src"
    src.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", sha], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    env = dict(os.environ, INFERPLAN_BUILD_DIR=str(workdir / "build"))
    print(f"== building {sha[:8]} in {src}", flush=True)
    subprocess.run(
        ["bash", str(src / "scripts" / "dev_build.sh")],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return src / "python"


def run_suite(sha: str, python_dir: Path, benches: list[str], quick: bool) -> None:
    """Run the benchmark suite on the build of ``sha``."""
    cmd = [
        "asv",
        "run",
        f"--config={CONFIG}",
        "--python=same",
        f"--set-commit-hash={sha}",
        "--show-stderr",
    ]
    if quick:
        cmd.append("--quick")
    for bench in benches:
        cmd += ["--bench", bench]
    env = dict(os.environ, ASV_PYTHONPATH=str(python_dir))
    print(f"== running the suite against {sha[:8]}: {' '.join(cmd)}", flush=True)
    # asv exits 2 when a benchmark fails, which the gate reports; anything else (the suite
    # does not import, a bad option) means there is nothing to compare.
    code = subprocess.run(cmd, cwd=HERE, env=env, check=False).returncode
    if code not in (0, 2):
        raise SystemExit(f"asv run failed (exit {code}) for {sha[:8]}: no comparison")


def write_config() -> None:
    """Return the suite's asv.conf.json with absolute paths and the private results directory."""
    from asv.util import load_json

    shutil.rmtree(RESULTS.parent, ignore_errors=True)
    conf = load_json(str(HERE / "asv.conf.json"), js_comments=True)
    conf.update(
        repo=str(ROOT),
        benchmark_dir=str(HERE / "benchmarks"),
        env_dir=str(HERE / ".asv" / "env"),
        results_dir=str(RESULTS),
        html_dir=str(RESULTS.parent / "html"),
    )
    CONFIG.parent.mkdir(parents=True, exist_ok=True)
    CONFIG.write_text(json.dumps(conf, indent=2))


def machine_name() -> str:
    """Return this machine's asv name."""
    config = json.loads((Path.home() / ".asv-machine.json").read_text())
    names = [k for k in config if k != "version"]
    return names[0]


def load(sha: str, machine: str) -> tuple[dict, dict]:
    """{(benchmark, params): value} of ``sha`` on ``machine``, and the benchmark metadata."""
    from asv.results import iter_results_for_machine_and_hash

    results_dir = RESULTS
    meta = json.loads((results_dir / "benchmarks.json").read_text())
    values: dict = {}
    for result in iter_results_for_machine_and_hash(str(results_dir), machine, sha):
        for name in result.get_all_result_keys():
            params = result.get_result_params(name)
            combos = [()] if not params else _product(params)
            values_ = result.get_result_value(name, params)
            for combo, value in zip(combos, values_, strict=True):
                values[(name, combo)] = value
    return values, meta


def _product(params):
    import itertools

    return list(itertools.product(*params))


def regressions(base: dict, head: dict, meta: dict, factor: float) -> list[str]:
    """Return the benchmarks that got slower by more than ``factor`` (or broke)."""
    found = []
    for key in sorted(set(base) | set(head), key=str):
        name, combo = key
        before, after = base.get(key), head.get(key)
        label = f"{name}{'(' + ', '.join(map(str, combo)) + ')' if combo else ''}"
        if _ok(before) and not _ok(after) and key in head:
            found.append(f"{label}: ran on BASE ({before:.4g}), failed on HEAD")
            continue
        if not (_ok(before) and _ok(after)) or before <= 0 or after <= 0:
            continue
        kind = meta.get(name, {}).get("type", "time")
        higher_better = kind == "track" and HIGHER_IS_BETTER.search(name.rsplit(".", 1)[-1])
        worse = before / after if higher_better else after / before
        if worse > factor:
            unit = meta.get(name, {}).get("unit", "")
            found.append(f"{label}: {before:.4g} -> {after:.4g} {unit} ({worse:.2f}x worse)")
    return found


def _ok(value) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def main() -> int:
    """Compare two commits; return the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", help="the reference commit (any git revision)")
    ap.add_argument("head", help="the commit under test (any git revision)")
    ap.add_argument(
        "--factor",
        type=float,
        default=1.5,
        help="how many times worse counts as a regression (default 1.5)",
    )
    ap.add_argument(
        "-b",
        "--bench",
        action="append",
        default=[],
        help="regex of the benchmarks to run (repeatable; default all)",
    )
    ap.add_argument("--quick", action="store_true", help="one sample per benchmark (fast, noisier)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary builds")
    args = ap.parse_args()

    shas = [git("rev-parse", "--verify", f"{rev}^{{commit}}") for rev in (args.base, args.head)]
    subprocess.run(["asv", "machine", "--yes"], cwd=HERE, check=True, stdout=subprocess.DEVNULL)
    machine = machine_name()
    write_config()
    workdir = Path(tempfile.mkdtemp(prefix="inferplan-compare-"))
    try:
        for i, sha in enumerate(shas):
            python_dir = build(sha, workdir / f"c{i}")
            run_suite(sha, python_dir, args.bench, args.quick)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    subprocess.run(
        ["asv", "compare", "--split", f"--factor={args.factor}", *shas], cwd=HERE, check=False
    )
    base, meta = load(shas[0], machine)
    head, _ = load(shas[1], machine)
    if not base or not head:
        print(f"no results to compare (BASE {len(base)}, HEAD {len(head)})")
        return 2
    found = regressions(base, head, meta, args.factor)
    if found:
        print(
            f"\nREGRESSION: {len(found)} benchmark(s) more than {args.factor}x worse "
            f"at {shas[1][:8]} than at {shas[0][:8]}:"
        )
        for line in found:
            print("  " + line)
        return 1
    print(f"\nno regression beyond {args.factor}x ({len(head)} results compared)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

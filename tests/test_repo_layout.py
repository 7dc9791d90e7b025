"""The repository's layout.

``benchmarks/`` holds the asv suite only (the standalone figure scripts live in
``scripts/``), and every script or benchmark path that the README, the docs and the scripts
cite exists.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CITED = re.compile(r"(?<![\w/.])((?:scripts|benchmarks)/[\w./-]+\.(?:py|sh|json))")


def test_benchmarks_holds_the_asv_suite_only():
    tracked = {p.name for p in (ROOT / "benchmarks").iterdir() if not p.name.startswith(".")}
    assert tracked <= {"asv.conf.json", "benchmarks", "results", "html"}, tracked
    suite = ROOT / "benchmarks" / "benchmarks"
    for path in suite.glob("*.py"):
        text = path.read_text()
        assert "__main__" not in text, f"{path.name}: a script in the asv suite"


def test_cited_script_and_benchmark_paths_exist():
    pages = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "scripts").glob("*.py")]
    pages += [*(ROOT / "benchmarks" / "benchmarks").glob("*.py"), *(ROOT / "tests").glob("*.py")]
    missing, cited = [], 0
    for page in pages:
        for path in CITED.findall(page.read_text(encoding="utf-8")):
            if "/.asv/" in path or "*" in path:
                continue  # asv's output, or a pattern
            cited += 1
            if not (ROOT / path).exists():
                missing.append(f"{page.relative_to(ROOT)}: {path}")
    assert cited > 20  # the pattern finds the citations at all
    assert missing == []

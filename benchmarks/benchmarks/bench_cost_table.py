"""Hardware cost table (``inferplan.cost_table``).

Every (model, accelerator or MIG slice, clock, max batch, query class) row sized in one
batch call. Grids of 384, 6144 and 73,728 rows; the 1.5 M-row grid of issue figures is
``python scripts/bench_cost_table.py --full``. The speed-up is per row against a Python loop
of scalar bisections on ``Replica.analyze`` over a sample of the same rows, timed in the
same process.
"""

from __future__ import annotations

import inferplan

from . import common

ITL_MS, TTFT_MS = common.COST_TARGETS


def _table(grid):
    profiles, accs, classes, clocks, batches = common.cost_table_inputs(grid)
    return inferplan.cost_table(
        profiles,
        accs,
        classes,
        batch_sizes=batches,
        frequencies_mhz=clocks,
        price_per_kwh=0.12,
        grid_kg_per_kwh=0.4,
        threads=1,
    )


class CostTable:
    params = tuple(common.COST_GRIDS)
    param_names = ("grid",)
    timeout = 300

    def setup(self, grid):
        common.skip_heavy(grid == "large")
        common.cost_table_inputs(grid)
        _table("small")  # first-call costs (imports, pandas) outside the timing

    def time_cost_table(self, grid):
        _table(grid)

    def peakmem_cost_table(self, grid):
        _table(grid)


def _bisect_rows(table, rows):
    """Size rows the naive way, for the baseline.

    Size each of the first ``rows`` rows by 40 bisection steps on ``Replica.analyze``
    against the query classes' targets.
    """
    for r in table.head(rows).itertuples():
        if r.kind == 0:
            model = inferplan.DecodeOnly(r.alpha, r.beta, r.out_tokens)
        else:
            model = inferplan.PrefillDecode(r.alpha, r.beta, r.gamma, r.in_tokens, r.out_tokens)
        replica = inferplan.Replica(model, int(r.max_batch))
        lo, hi = 0.0, 0.999 * replica.max_rate
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            m = replica.analyze(mid)
            if m.itl_ms <= ITL_MS and m.ttft_ms <= TTFT_MS:
                lo = mid
            else:
                hi = mid


class CostTableSpeedup:
    unit = "ratio"
    sample_rows = 40

    def setup(self):
        self.table = _table("medium")

    def track_cost_table_vs_scalar_bisection(self):
        rows = len(self.table)
        per_row_table = common.best_seconds(lambda: _table("medium"), repeat=3) / rows
        per_row_loop = (
            common.best_seconds(lambda: _bisect_rows(self.table, self.sample_rows), repeat=2)
            / self.sample_rows
        )
        return per_row_loop / per_row_table

    track_cost_table_vs_scalar_bisection.unit = "ratio"

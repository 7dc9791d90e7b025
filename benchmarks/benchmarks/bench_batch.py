"""Batch calls over many configurations.

``size_many`` from 1e3 to 1e6 rows on 1 and 2 threads, ``analyze_many`` per backend,
``optimal_concurrency_many``; and the speed-ups of the batch calls over a plain Python loop
of scalar calls on the same rows (the loop runs on a sample of rows and is compared per
row).
"""

from __future__ import annotations

import numpy as np

import inferplan

from . import common

ROWS = [1_000, 10_000, 100_000, 1_000_000]


def warm_up():
    """One tiny call first.

    The first batch call of a process imports pandas (about 0.5 s here), a one-off cost that
    would otherwise land in the quick run's single sample.
    """
    inferplan.size_many(threads=1, **common.TARGETS, **common.config_columns(4))


class SizeMany:
    params = (ROWS, [1, 2])
    param_names = ("rows", "threads")
    timeout = 300

    def setup(self, rows, threads):
        common.skip_heavy(rows > 10_000)
        self.columns = common.config_columns(rows)
        warm_up()

    def time_size_many(self, rows, threads):
        inferplan.size_many(threads=threads, **common.TARGETS, **self.columns)

    def peakmem_size_many(self, rows, threads):
        inferplan.size_many(threads=threads, **common.TARGETS, **self.columns)


class AnalyzeMany:
    # The NumPy reference loops in Python, so its 1e5-row case is sampled down to 1e4.
    params = (common.BACKENDS, [1_000, 100_000])
    param_names = ("backend", "rows")
    timeout = 300

    def setup(self, backend, rows):
        common.skip_heavy(rows > 10_000)
        common.use_backend(backend)
        if backend == "numpy" and rows > 10_000:
            rows = 10_000
        self.columns = common.config_columns(rows)
        self.rate = common.offered_rates(self.columns)
        inferplan.analyze_many(rate=self.rate[:8], threads=1, **common.take(self.columns, 8))

    def teardown(self, backend, rows):
        common.reset_backend()

    def time_analyze_many(self, backend, rows):
        inferplan.analyze_many(rate=self.rate, threads=1, **self.columns)

    def peakmem_analyze_many(self, backend, rows):
        inferplan.analyze_many(rate=self.rate, threads=1, **self.columns)


class OptimalConcurrencyMany:
    params = (100, 1_000)
    param_names = ("rows",)

    def setup(self, rows):
        common.skip_heavy(rows > 100)
        self.columns = common.config_columns(rows)
        warm_up()

    def time_optimal_concurrency_many(self, rows):
        inferplan.optimal_concurrency_many(threads=1, **common.TARGETS, **self.columns)

    def peakmem_optimal_concurrency_many(self, rows):
        inferplan.optimal_concurrency_many(threads=1, **common.TARGETS, **self.columns)


class BatchSpeedup:
    """Speed-ups of the batch calls over a Python loop, and of two threads over one.

    Per-row cost of a plain Python loop of scalar calls (``Replica(...).size()`` or
    ``.analyze()`` on each row) divided by the per-row cost of one batch call on one thread,
    both on the default backend, timed in the same process. ``track_two_threads`` is the
    1-thread time over the 2-thread time of ``size_many`` on 1e5 rows (at most 2 on this
    machine).
    """

    unit = "ratio"
    batch_rows = 20_000
    loop_rows = 500

    def setup(self):
        self.columns = common.config_columns(self.batch_rows, seed=3)
        self.rate = common.offered_rates(self.columns)
        self.sample = common.take(self.columns, self.loop_rows)

    def track_size_many_vs_scalar_loop(self):
        cols, sample = self.columns, self.sample

        def batch():
            inferplan.size_many(threads=1, **common.TARGETS, **cols)

        def loop():
            for i in range(self.loop_rows):
                common.scalar_replica(sample, i).size(**common.TARGETS)

        per_row_batch = common.best_seconds(batch, repeat=3) / self.batch_rows
        per_row_loop = common.best_seconds(loop, repeat=3) / self.loop_rows
        return per_row_loop / per_row_batch

    def track_analyze_many_vs_scalar_loop(self):
        cols, sample, rate = self.columns, self.sample, self.rate

        def batch():
            inferplan.analyze_many(rate=rate, threads=1, **cols)

        def loop():
            for i in range(self.loop_rows):
                common.scalar_replica(sample, i).analyze(float(rate[i]))

        per_row_batch = common.best_seconds(batch, repeat=3) / self.batch_rows
        per_row_loop = common.best_seconds(loop, repeat=3) / self.loop_rows
        return per_row_loop / per_row_batch

    def track_two_threads(self):
        cols = common.config_columns(100_000, seed=4)
        return common.speedup(
            lambda: inferplan.size_many(threads=2, **common.TARGETS, **cols),
            lambda: inferplan.size_many(threads=1, **common.TARGETS, **cols),
            repeat=2,
        )

    track_size_many_vs_scalar_loop.unit = "ratio"
    track_analyze_many_vs_scalar_loop.unit = "ratio"
    track_two_threads.unit = "ratio"


def _check_rows_agree():
    """Keep the sampled baseline honest.

    The loop and the batch call size the same rows to the same rates (run by
    tests/test_benchmarks.py).
    """
    cols = common.config_columns(50, seed=3)
    batch = inferplan.size_many(threads=1, **common.TARGETS, **cols)["rate"]
    loop = np.array([common.scalar_replica(cols, i).size(**common.TARGETS).rate for i in range(50)])
    ok = np.isfinite(batch)
    return np.allclose(batch[ok], loop[ok], rtol=1e-9)

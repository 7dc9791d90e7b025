"""Parameter sweeps (``inferplan.sweep``).

A seeded analyze sweep of 200,000 rows written to Parquet in a temporary directory, against
``analyze_many`` on the same rows in the same process. Skipped (NotImplementedError in
setup) where the package has no sweep module.
"""

from __future__ import annotations

import importlib
import shutil
import tempfile

import numpy as np

import inferplan

from . import common

RATES = 2_000  # x 4 models x 25 max batch sizes = 200,000 rows


def _spec():
    return {
        "operation": "analyze",
        "fixed": {
            "kind": "prefill_decode",
            "gamma": 1e-4,
            "in_tokens": 512,
            "out_tokens": 256,
            "max_queue": 256,
        },
        "axes": {
            "model": ["m-8b", "m-13b", "m-34b", "m-70b"],
            "alpha": [6.0, 9.0, 15.0, 24.0],
            "beta": [0.02, 0.035, 0.06, 0.1],
            "max_batch": {"start": 8, "stop": 200, "step": 8},
            "rate": {"start": 0.05, "stop": 40.0, "num": RATES, "scale": "log"},
        },
        "zip": [["model", "alpha", "beta"]],
        "columns": ["model", "max_batch", "rate", "throughput", "itl_ms", "ttft_ms", "status"],
        "chunk_rows": 50_000,
    }


def _sweep_module():
    # import_module, not ``import inferplan.sweep``: older versions re-export the function
    # ``sweep`` under the module's name.
    try:
        return importlib.import_module("inferplan.sweep")
    except ImportError:
        raise NotImplementedError("this version of inferplan has no sweep module") from None


class Sweep:
    timeout = 300

    def setup(self):
        self.out = None
        self.sweep = _sweep_module()
        self.spec = _spec()
        self.out = tempfile.mkdtemp(prefix="inferplan-asv-sweep-")

    def teardown(self):
        if self.out is not None:
            shutil.rmtree(self.out, ignore_errors=True)

    def _run(self):
        target = tempfile.mkdtemp(dir=self.out)
        self.sweep.sweep(self.spec, target, progress=False)

    def time_sweep(self):
        self._run()

    def peakmem_sweep(self):
        self._run()

    def track_sweep_over_kernel(self):
        """Sweep time over the time of ``analyze_many`` alone on the same rows.

        The cost of grid decoding, Arrow conversion and Parquet writing (1.0 = free).
        """
        axes = self.spec["axes"]
        alpha, batch, rate = np.meshgrid(
            np.arange(len(axes["model"])),
            np.arange(8, 201, 8),
            np.geomspace(0.05, 40.0, RATES),
            indexing="ij",
        )
        model = alpha.ravel()
        grid = dict(
            self.spec["fixed"],
            alpha=np.asarray(axes["alpha"])[model],
            beta=np.asarray(axes["beta"])[model],
            max_batch=batch.ravel(),
            rate=rate.ravel(),
        )
        metrics = ["throughput", "itl_ms", "ttft_ms"]
        kernel = common.best_seconds(
            lambda: inferplan.analyze_many(metrics=metrics, **grid), repeat=2
        )
        return common.best_seconds(self._run, repeat=2) / kernel

    track_sweep_over_kernel.unit = "ratio"

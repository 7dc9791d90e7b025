"""A sweep killed with SIGKILL mid-run and started again loses and duplicates nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import inferplan

pytest.importorskip("pyarrow")

PACKAGE_ROOT = str(Path(inferplan.__file__).resolve().parents[1])

SPEC = {
    "fixed": {
        "kind": "prefill_decode",
        "alpha": 10.0,
        "beta": 0.5,
        "gamma": 1e-4,
        "in_tokens": 512,
        "out_tokens": 256,
        "max_queue": 100,
    },
    "axes": {
        "max_batch": {"start": 512, "stop": 2048, "step": 512},
        "rate": {"start": 0.1, "stop": 5, "num": 50_000},
    },
    "columns": ["row", "max_batch", "rate", "throughput", "itl_ms", "status"],
    "chunk_rows": 4_000,
}


def test_kill_and_resume(tmp_path):
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(SPEC))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [
        sys.executable,
        "-m",
        "inferplan",
        "sweep",
        str(spec_file),
        "--out",
        str(out),
        "--threads",
        "1",
        "-q",
    ]
    # the with block closes the pipes (and waits) however the test leaves it
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        deadline = time.monotonic() + 60
        try:
            while len(list(out.glob("part-*.parquet"))) < 2:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "no part file written within 60 s"
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    num_chunks = 50
    written = len(list(out.glob("part-*.parquet")))
    assert 2 <= written < num_chunks, "the sweep finished before it could be killed"

    resumed = subprocess.run(cmd[:-1], env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert f"in {num_chunks - written} chunks" in resumed.stdout
    again = subprocess.run(cmd[:-1], env=env, capture_output=True, text=True, timeout=60)
    assert "already done" in again.stdout

    frame = inferplan.read_sweep(out)
    np.testing.assert_array_equal(frame["row"].to_numpy(), np.arange(200_000))
    rates = np.linspace(0.1, 5, 50_000)
    batches = np.arange(512, 2049, 512)
    direct = inferplan.analyze_many(
        kind=1,
        alpha=10.0,
        beta=0.5,
        gamma=1e-4,
        in_tokens=512,
        out_tokens=256,
        max_queue=100,
        max_batch=np.repeat(batches, rates.size),
        rate=np.tile(rates, batches.size),
        metrics=["throughput", "itl_ms"],
    )
    for name in ("throughput", "itl_ms", "status"):
        np.testing.assert_array_equal(frame[name].to_numpy(), direct[name], err_msg=name)
    assert not list(out.glob(".*tmp*"))
    assert json.loads((out / "manifest.json").read_text())["complete"]

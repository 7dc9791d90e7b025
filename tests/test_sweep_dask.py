"""A real local Dask cluster (two worker processes) writes the same parts as one process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import inferplan

from _sweep_grid import spec

distributed = pytest.importorskip("distributed")
pytest.importorskip("pyarrow")

PACKAGE_ROOT = str(Path(inferplan.__file__).resolve().parents[1])


@pytest.fixture(scope="module")
def client():
    # Worker processes import inferplan from the same tree as this test.
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = PACKAGE_ROOT + (os.pathsep + old if old else "")
    try:
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=50,
        )
        with cluster, distributed.Client(cluster) as c:
            yield c
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old


def parts(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.glob("part-*.parquet"))}


@pytest.mark.parametrize("workers_write", [True, False, None], ids=["workers", "client", "auto"])
def test_cluster_matches_in_process(tmp_path, client, workers_write):
    local = inferplan.run_sweep(spec(), tmp_path / "local", progress=False)
    res = inferplan.run_sweep(
        spec(), tmp_path / "dask", client=client, workers_write=workers_write, progress=False
    )
    assert res.computed_chunks == local.num_chunks
    assert len(client.nthreads()) == 2
    a, b = parts(tmp_path / "local"), parts(tmp_path / "dask")
    assert list(a) == list(b)
    assert len(a) == local.num_chunks
    assert a == b  # byte for byte
    assert inferplan.read_sweep(tmp_path / "local").equals(inferplan.read_sweep(tmp_path / "dask"))


def test_cluster_resumes_a_partial_directory(tmp_path, client):
    inferplan.run_sweep(spec(), tmp_path, progress=False)
    for name in ("part-000001.parquet", "part-000006.parquet"):
        (tmp_path / name).unlink()
    res = inferplan.run_sweep(spec(), tmp_path, client=client, progress=False)
    assert res.computed_chunks == 2
    assert len(inferplan.read_sweep(tmp_path)) == 816


def test_cli_scheduler_address(tmp_path, client):
    import json

    from inferplan.cli import main

    (tmp_path / "spec.json").write_text(json.dumps(spec()))
    inferplan.run_sweep(spec(), tmp_path / "local", progress=False)
    argv = ["sweep", str(tmp_path / "spec.json"), "--out", str(tmp_path / "dask"), "-q"]
    assert main([*argv, "--scheduler", client.scheduler.address, "--client-writes"]) == 0
    assert parts(tmp_path / "local") == parts(tmp_path / "dask")

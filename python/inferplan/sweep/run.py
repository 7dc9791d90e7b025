"""Running a sweep: chunks through the batch API into Parquet parts, in-process or on Dask.

In-process, chunks run one after another; each uses every core (the kernel is
multithreaded and releases the GIL) while a writer thread writes the previous chunk, so
at most two chunks are in memory. On a Dask cluster each task is one chunk index; the
worker either writes its part file itself (the output directory is on a filesystem it
shares with the client) or sends the Arrow table back for the client to write.
"""

from __future__ import annotations

import itertools
import math
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import _lazy, _validate
from .._metrics import METRIC_INDEX
from ..batch import CONFIG_COLUMNS
from . import io
from .spec import (
    FORMAT,
    KIND_NAMES,
    OUTPUTS,
    POWER_PARAMS,
    SweepSpec,
    load_spec,
    param_of_column,
)

_MODEL_COLUMNS = CONFIG_COLUMNS  # the batch calls' configuration columns
COMPRESSIONS = ("snappy", "zstd", "gzip", "brotli", "lz4", "none")
_MEAN_TARGETS = ("itl_ms", "ttft_ms", "wait_ms", "max_block", "tps")


@dataclass(frozen=True)
class SweepResult:
    """What one call of :func:`sweep` did."""

    out: Path
    spec_hash: str
    total_rows: int
    num_chunks: int
    computed_chunks: int
    computed_rows: int
    seconds: float

    @property
    def rows_per_s(self) -> float:
        """Rows computed per second (NaN if no time was measured)."""
        return self.computed_rows / self.seconds if self.seconds > 0 else math.nan


# ---------------------------------------------------------------------------- evaluation


def _operation(name: str):
    """Return the batch function behind an operation."""
    from .. import batch

    return getattr(batch, f"{name}_many")


def _kernel_value(spec: SweepSpec, name: str, value):
    """Return a parameter as the batch API takes it: kinds as codes, labels left out."""
    kind = spec.param_types.get(name)
    if kind == "kind":
        if isinstance(value, tuple):
            codes, names = value
            table = np.asarray([KIND_NAMES.index(n) for n in names], dtype=np.int32)
            return table[codes]
        return KIND_NAMES.index(value)
    return value


def _needed_outputs(spec: SweepSpec) -> list[str]:
    wanted = [c for c in spec.columns if c in OUTPUTS[spec.operation]]
    derived = {"tokens_per_s", "power_w", "energy_per_token_mj", "cost_per_million_tokens"}
    if derived & set(spec.columns):
        wanted += ["throughput"]
        powered = {"power_w", "energy_per_token_mj", "cost_per_million_tokens"} & set(spec.columns)
        if powered and spec.has("idle_w"):
            wanted += ["utilization"]
    return list(dict.fromkeys(wanted))


def _compute(spec: SweepSpec, params: dict, threads) -> dict:
    fn = _operation(spec.operation)
    args = {n: _kernel_value(spec, n, params[n]) for n in _MODEL_COLUMNS if n in params}
    wanted = _needed_outputs(spec)
    metrics = [m for m in wanted if m in METRIC_INDEX and m != "rate"]
    if spec.admission is not None:
        args["admission"] = spec.admission
    for name in ("arrival_cv", "out_tokens_cv"):
        if name in params:
            args[name] = params[name]
    if spec.operation == "analyze":
        return fn(rate=params["rate"], metrics=metrics, threads=threads, **args)
    # Percentile targets travel as (quantile, ms) column pairs in ``data``.
    pairs = {n: params[n] for n in ("ttft_pq", "ttft_p_ms", "wait_pq", "wait_p_ms") if n in params}
    means = {n: params[n] for n in _MEAN_TARGETS if n in params}
    if spec.operation == "optimal_concurrency" and "tolerance" in params:
        means["tolerance"] = params["tolerance"]
    result = dict(fn(pairs or None, metrics=metrics, threads=threads, **args, **means))
    if spec.operation == "optimal_concurrency":
        result["optimal_max_batch"] = result.pop("max_batch")
    result["binding"] = _binding_names(result["binding"], result["status"])
    return result


def _binding_names(codes, status):
    """Which target binds, as text (null where the row is not ok)."""
    import pyarrow as pa

    from ..sizing import BINDING_NAMES

    names = ["saturation" if n is None else n for n in BINDING_NAMES]
    indices = pa.array(np.asarray(codes, dtype=np.int32), mask=np.asarray(status) != 0)
    return pa.DictionaryArray.from_arrays(indices, pa.array(names))


def _derived(spec: SweepSpec, params: dict, result: dict) -> dict:
    """tokens/s, power, energy per token and cost per million tokens where asked for."""
    from ..hardware.power import energy_per_token_mj, power_at
    from ..hardware.specs import cost_per_million_tokens

    cols = set(spec.columns)
    out = {}
    if not cols & {"tokens_per_s", "power_w", "energy_per_token_mj", "cost_per_million_tokens"}:
        return out
    tokens = np.asarray(result["throughput"]) * params["out_tokens"]
    out["tokens_per_s"] = tokens
    power = None
    if spec.has("idle_w"):
        power = power_at(result["utilization"], **{n: params[n] for n in POWER_PARAMS})
        out["power_w"] = power
        out["energy_per_token_mj"] = energy_per_token_mj(power, tokens)
    if spec.has("cost_per_hour"):
        per_hour = np.asarray(params["cost_per_hour"], dtype=float)
        if power is not None and spec.has("price_per_kwh"):
            per_hour = per_hour + power / 1000.0 * np.asarray(params["price_per_kwh"])
        out["cost_per_million_tokens"] = cost_per_million_tokens(per_hour, tokens)
    return out


def _arrow_column(value, rows: int):
    import pyarrow as pa

    if isinstance(value, pa.Array):
        return value
    if isinstance(value, tuple):  # (codes, values) of a text column
        codes, values = value
        return pa.DictionaryArray.from_arrays(
            pa.array(np.asarray(codes, dtype=np.int32)), pa.array([str(v) for v in values])
        )
    if isinstance(value, str):
        return pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(rows, dtype=np.int32)), pa.array([value])
        )
    arr = np.asarray(value)
    if arr.ndim == 0:
        arr = np.full(rows, arr)
    return pa.array(arr)


def evaluate_chunk(spec: SweepSpec, index: int, *, threads=None):
    """Chunk ``index`` of ``spec`` as a ``pyarrow.Table`` with the spec's columns."""
    import pyarrow as pa

    start, stop = spec.chunk_bounds(index)
    rows = stop - start
    params = spec.rows(start, stop)
    result = dict(_compute(spec, params, threads))
    result.update(_derived(spec, params, result))
    arrays = {}
    for name in spec.columns:
        if name == "row":
            arrays[name] = pa.array(np.arange(start, stop, dtype=np.int64))
        elif name in result:
            arrays[name] = _arrow_column(result[name], rows)
        else:
            arrays[name] = _arrow_column(params[param_of_column(name)], rows)
    table = pa.table(arrays)
    return table.replace_schema_metadata({"inferplan.sweep": spec.spec_hash})


# ---------------------------------------------------------------------------- progress


class Progress:
    """Rows done, rate and ETA: tqdm when installed, else one rewritten stderr line."""

    def __init__(self, total_rows: int, done_rows: int, enabled: bool):
        self.total, self.done, self.enabled = total_rows, done_rows, enabled
        self.start_done, self.t0, self.last = done_rows, time.perf_counter(), 0.0
        self.bar = None
        if enabled:
            try:
                from tqdm import tqdm

                self.bar = tqdm(
                    total=total_rows,
                    initial=done_rows,
                    unit="row",
                    unit_scale=True,
                    desc="sweep",
                    file=sys.stderr,
                )
            except ImportError:
                self._line(force=True)

    def update(self, rows: int) -> None:
        self.done += rows
        if self.bar is not None:
            self.bar.update(rows)
        elif self.enabled:
            self._line()

    def _line(self, force=False, end="") -> None:
        now = time.perf_counter()
        if not force and now - self.last < 0.5:
            return
        self.last = now
        elapsed = now - self.t0
        new = self.done - self.start_done
        rate = new / elapsed if elapsed > 0 and new else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else math.nan
        pct = 100.0 * self.done / self.total if self.total else 100.0
        eta_text = "?" if math.isnan(eta) else _duration(eta)
        sys.stderr.write(
            f"\rsweep: {self.done:,}/{self.total:,} rows ({pct:5.1f}%), "
            f"{rate / 1e6:.3g} M rows/s, ETA {eta_text}   {end}"
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            self._line(force=True, end="\n")


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


# ---------------------------------------------------------------------------- directory


def _manifest(spec: SweepSpec, done) -> dict:
    return {
        "format": FORMAT,
        "spec_hash": spec.spec_hash,
        "operation": spec.operation,
        "chunk_rows": spec.chunk_rows,
        "total_rows": spec.total_rows,
        "num_chunks": spec.num_chunks,
        "columns": spec.columns,
        "complete": len(done) == spec.num_chunks,
        "done_chunks": sorted(done),
        "spec": spec.source,
    }


def _prepare(out: Path, spec: SweepSpec, overwrite: bool) -> set[int]:
    """Check ``out`` belongs to this spec (or clear it) and return the done chunks."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = io.read_manifest(out)
    parts = io.part_files(out)
    foreign = None
    if manifest is not None and manifest.get("spec_hash") != spec.spec_hash:
        foreign = f"a different sweep (spec hash {manifest.get('spec_hash', '?')[:12]}, this "
        foreign += f"one {spec.spec_hash[:12]})"
    elif manifest is None and parts:
        foreign = "part files but no manifest"
    if foreign:
        if not overwrite:
            raise io.SweepDirectoryError(
                f"{out} holds {foreign}; choose another directory or pass --overwrite "
                "(overwrite=True) to replace it"
            )
        for path in parts.values():
            path.unlink()
        (out / io.MANIFEST).unlink(missing_ok=True)
        parts = {}
    io.remove_temporaries(out)
    return {i for i in parts if i < spec.num_chunks}


# ---------------------------------------------------------------------------- drivers


def _write_task(spec: SweepSpec, index: int, out: str, threads, compression: str):
    """Dask task: evaluate one chunk and write its part (shared filesystem)."""
    table = evaluate_chunk(spec, index, threads=threads)
    return index, io.write_part(out, index, table, compression=compression)


def _table_task(spec: SweepSpec, index: int, threads):
    """Dask task: evaluate one chunk and send the table back to the client."""
    return index, evaluate_chunk(spec, index, threads=threads)


def _probe(path: str, token: str) -> bool:
    try:
        return Path(path).read_text() == token
    except OSError:
        return False


def workers_share(client, out: Path) -> bool:
    """Return True if every worker reads the same ``out`` as this process (shared filesystem)."""
    token = uuid.uuid4().hex
    probe = out / f".probe-{token}"
    probe.write_text(token)
    try:
        seen = client.run(_probe, str(probe.resolve()), token)
    finally:
        probe.unlink(missing_ok=True)
    return bool(seen) and all(seen.values())


def _run_local(spec, out, todo, threads, compression, on_done) -> None:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sweep-writer") as writer:
        pending = None
        for index in todo:
            table = evaluate_chunk(spec, index, threads=threads)
            if pending is not None:
                on_done(*pending.result())
            pending = writer.submit(_write_indexed, out, index, table, compression)
            del table
        if pending is not None:
            on_done(*pending.result())


def _write_indexed(out, index, table, compression):
    return index, io.write_part(out, index, table, compression=compression)


def _run_dask(spec, out, todo, client, threads, compression, workers_write, on_done) -> None:
    from distributed import as_completed

    if workers_write is None:
        workers_write = workers_share(client, out)
    spec_future = client.scatter(spec, broadcast=True, hash=False)
    run_id = uuid.uuid4().hex[:8]
    slots = sum(client.nthreads().values()) or 1
    # Returned tables wait in memory until written: keep at most two per worker thread.
    window = len(todo) if workers_write else 2 * slots
    pending = iter(todo)

    def submit(index):
        key = f"inferplan-sweep-{run_id}-{index}"
        if workers_write:
            return client.submit(
                _write_task,
                spec_future,
                index,
                str(out.resolve()),
                threads,
                compression,
                key=key,
                retries=2,
            )
        return client.submit(_table_task, spec_future, index, threads, key=key, retries=2)

    futures = as_completed([submit(i) for i in itertools.islice(pending, window)])
    for future in futures:
        index, value = future.result()
        future.release()
        rows = value if workers_write else io.write_part(out, index, value, compression=compression)
        on_done(index, rows)
        nxt = next(pending, None)
        if nxt is not None:
            futures.add(submit(nxt))


def sweep(
    spec,
    out,
    *,
    overwrite: bool = False,
    client=None,
    scheduler: str | None = None,
    threads: int | None = None,
    chunk_rows: int | None = None,
    workers_write: bool | None = None,
    compression: str = "snappy",
    progress: bool | None = None,
) -> SweepResult:
    """Evaluate every row of a sweep spec into Parquet parts under ``out``.

    Parameters
    ----------
    spec
        A mapping, a path to a YAML/JSON spec, or a :class:`SweepSpec`
        (see :mod:`inferplan.sweep.spec` for the format). Validated before any work.
    out
        Output directory. Chunks already written there by the same spec are kept: a killed
        sweep started again computes only the missing chunks, and a finished one is a
        no-op. A different spec there is an error unless ``overwrite=True``.
    client, scheduler
        A ``dask.distributed.Client``, or the address of a scheduler
        (``"tcp://host:8786"``) to connect to: chunks then run on the cluster. Neither:
        in this process on all cores.
    threads
        Kernel threads per chunk (default: all cores of the machine running it).
    chunk_rows
        Rows per chunk and part file (default: the spec's ``chunk_rows``, else 2,000,000).
        Memory is bounded by about two chunks, whatever the size of the sweep.
    workers_write
        Dask only: True, workers write their part files (``out`` must be on a filesystem
        they share); False, they return Arrow tables and this process writes; None
        (default): True when every worker can see ``out``, checked with a probe file.
    compression
        Parquet codec (``"snappy"``, ``"zstd"``, ``"none"``, ...).
    progress
        Progress bar with rate and ETA on stderr; default: when stderr is a terminal.
    """
    # Everything is checked before anything is written.
    spec = load_spec(spec, chunk_rows=chunk_rows)
    if threads is not None:
        threads = _validate.count(threads, "threads", minimum=1)
    compression = _validate.choice(str(compression).lower(), "compression", COMPRESSIONS)
    if client is not None and scheduler is not None:
        raise ValueError("give a Dask client or a scheduler address, not both")
    out = _validate.output_dir(out, "out")
    done = _prepare(out, spec, overwrite)
    todo = [i for i in range(spec.num_chunks) if i not in done]
    io.write_manifest(out, _manifest(spec, done))
    if not todo:
        return SweepResult(out, spec.spec_hash, spec.total_rows, spec.num_chunks, 0, 0, 0.0)

    if progress is None:
        progress = sys.stderr.isatty()
    done_rows = sum(b - a for a, b in map(spec.chunk_bounds, done))
    bar = Progress(spec.total_rows, done_rows, progress)
    t0 = time.perf_counter()
    computed = [0, 0]
    last_manifest = [time.perf_counter()]

    def on_done(index: int, rows: int) -> None:
        done.add(index)
        computed[0] += 1
        computed[1] += rows
        bar.update(rows)
        now = time.perf_counter()
        if now - last_manifest[0] > 1.0:
            io.write_manifest(out, _manifest(spec, done))
            last_manifest[0] = now

    own_client = None
    try:
        if client is None and scheduler is not None:
            from distributed import Client

            client = own_client = Client(scheduler)
        if client is not None:
            _run_dask(spec, out, todo, client, threads, compression, workers_write, on_done)
        else:
            _run_local(spec, out, todo, threads, compression, on_done)
    finally:
        bar.close()
        io.write_manifest(out, _manifest(spec, done))
        if own_client is not None:
            own_client.close()
    return SweepResult(
        out,
        spec.spec_hash,
        spec.total_rows,
        spec.num_chunks,
        computed[0],
        computed[1],
        time.perf_counter() - t0,
    )


__all__ = ["SweepResult", "evaluate_chunk", "sweep", "workers_share"]

__dir__ = _lazy.public_dir(__name__)

"""The on-disk layout of a sweep, and reading it back.

A sweep directory holds ``manifest.json`` and one Parquet file per chunk,
``part-000000.parquet``, ... Each part is written to a hidden temporary name and then
renamed (``os.replace``, atomic on POSIX filesystems), so a part file that exists is
complete: a process killed mid-write leaves only a ``.part-*.tmp-*`` file, which the next
run deletes. The part files are the truth about which chunks are done; the manifest
records the spec (and its hash), the chunking and a copy of the done list for humans and
tools.
"""

from __future__ import annotations

import json
import math
import os
import re
import uuid
from pathlib import Path

import numpy as np

from .. import _lazy

__all__ = [
    "MANIFEST",
    "SweepDirectoryError",
    "default_objective",
    "part_files",
    "part_name",
    "read_manifest",
    "read_sweep",
    "remove_temporaries",
    "summarize",
    "write_manifest",
    "write_part",
]
__dir__ = _lazy.public_dir(__name__)

MANIFEST = "manifest.json"
_PART = re.compile(r"^part-(\d{6,})\.parquet$")
_TEMP = re.compile(r"^\.(part-\d{6,}\.parquet|manifest\.json)\.tmp-")


class SweepDirectoryError(ValueError):
    """The output directory holds something this sweep must not write over."""


def part_name(index: int) -> str:
    """Return the file name of chunk ``index``."""
    return f"part-{index:06d}.parquet"


def _temp_path(final: Path) -> Path:
    return final.with_name(f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def write_part(out, index: int, table, *, compression: str = "snappy") -> int:
    """Write chunk ``index`` atomically; return its row count."""
    import pyarrow.parquet as pq

    final = Path(out) / part_name(index)
    tmp = _temp_path(final)
    try:
        pq.write_table(table, tmp, compression=compression, row_group_size=table.num_rows or None)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return table.num_rows


def part_files(out) -> dict[int, Path]:
    """Chunk index -> part file, for every complete part in ``out``."""
    found = {}
    out = Path(out)
    if not out.is_dir():
        return found
    for entry in os.scandir(out):
        m = _PART.match(entry.name)
        if m:
            found[int(m.group(1))] = out / entry.name
    return found


def remove_temporaries(out) -> None:
    """Delete half-written files left by a killed run."""
    for entry in os.scandir(out):
        if _TEMP.match(entry.name):
            Path(entry.path).unlink(missing_ok=True)


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _json_default(value):
    """Return a JSON-able form of the NumPy values in a spec given as a Python dict."""
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    raise TypeError(f"cannot store {type(value).__name__} in the manifest")


def write_manifest(out, manifest: dict) -> None:
    """Write ``manifest`` into the sweep directory ``out`` atomically (unchanged: no write)."""
    final = Path(out) / MANIFEST
    text = json.dumps(_json_safe(manifest), indent=1, default=_json_default)
    if final.exists() and final.read_text() == text:
        return  # re-running a finished sweep touches nothing
    tmp = _temp_path(final)
    tmp.write_text(text)
    os.replace(tmp, final)


def read_manifest(out) -> dict | None:
    """Return the manifest of the sweep directory ``out``, or None if it has none."""
    path = Path(out) / MANIFEST
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SweepDirectoryError(f"{path}: unreadable manifest ({exc})") from None


def _open(out, allow_partial: bool, partial_hint: str = ", or pass allow_partial=True"):
    out = Path(out)
    manifest = read_manifest(out)
    if manifest is None:
        raise FileNotFoundError(f"{out} is not a sweep directory (no {MANIFEST})")
    parts = part_files(out)
    parts = {i: p for i, p in parts.items() if i < manifest["num_chunks"]}
    if len(parts) < manifest["num_chunks"] and not allow_partial:
        raise ValueError(
            f"the sweep in {out} is incomplete ({len(parts)} of {manifest['num_chunks']} "
            f"chunks): run it again to finish it{partial_hint}"
        )
    return manifest, [parts[i] for i in sorted(parts)]


def read_sweep(out, *, lazy: bool = False, columns=None, allow_partial: bool = False):
    """Return the rows of a finished sweep, in row order.

    Returns a pandas DataFrame (label columns as categoricals), or with ``lazy=True`` a
    ``pyarrow.dataset.Dataset`` over the part files that reads nothing until asked (use
    ``.to_batches()``, ``.to_table(filter=...)``, or hand it to DuckDB / Polars / Dask).
    ``columns`` selects columns. An unfinished sweep is an error unless
    ``allow_partial=True``.
    """
    import pyarrow.dataset as ds

    _, paths = _open(out, allow_partial)
    dataset = ds.dataset([str(p) for p in paths], format="parquet")
    if lazy:
        return _select(dataset, columns)
    return dataset.to_table(columns=columns).to_pandas()


def _select(dataset, columns):
    if columns is None:
        return dataset
    import pyarrow.dataset as ds

    schema = dataset.schema
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise KeyError(f"no column(s) {missing} in this sweep; it has {schema.names}")
    return ds.dataset(dataset.files, format="parquet", schema=_subschema(schema, columns))


def _subschema(schema, columns):
    import pyarrow as pa

    return pa.schema([schema.field(c) for c in columns])


_MINIMISE = ("cost_per_million_tokens", "energy_per_token_mj")


def default_objective(columns, operation: str) -> tuple[str, bool]:
    """(column, minimise?): cost, else energy per token, else the largest rate."""
    for name in _MINIMISE:
        if name in columns:
            return name, True
    if operation == "analyze" and "throughput" in columns:
        return "throughput", False
    if "rate" in columns:
        return "rate", False
    raise ValueError(
        "this sweep has no cost, energy, rate or throughput column to rank by; "
        f"choose one of {list(columns)} as the objective"
    )


def summarize(
    out,
    *,
    objective: str | None = None,
    minimize: bool | None = None,
    by: str | None = None,
    top: int = 1,
):
    """Return the ``top`` best rows per group (default: per ``model`` when there is one).

    Only rows with status 0 and a finite objective count. The part files are scanned one
    record batch at a time, so a sweep far larger than memory summarises in bounded memory.
    Returns a pandas DataFrame sorted by group, then objective.
    """
    import pandas as pd
    import pyarrow.dataset as ds

    manifest, paths = _open(out, allow_partial=False, partial_hint="")  # no such option here
    dataset = ds.dataset([str(p) for p in paths], format="parquet")
    names = dataset.schema.names
    if objective is None:
        objective, best_low = default_objective(names, manifest.get("operation", "analyze"))
    elif objective not in names:
        raise ValueError(f"objective {objective!r} is not a column of this sweep: {names}")
    else:
        best_low = objective in _MINIMISE
    if minimize is not None:
        best_low = minimize
    if by is None and "model" in names:
        by = "model"
    if by is not None and by not in names:
        raise ValueError(f"by {by!r} is not a column of this sweep: {names}")
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")

    def best(frame):
        frame = frame.sort_values(objective, ascending=best_low, kind="stable")
        if by is None:
            return frame.head(top)
        return frame.groupby(by, observed=True, sort=False).head(top)

    kept = None
    for batch in dataset.to_batches():
        frame = batch.to_pandas()
        ok = np.isfinite(frame[objective].to_numpy(dtype=float))
        if "status" in frame:
            ok &= frame["status"].to_numpy() == 0
        frame = frame[ok]
        if frame.empty:
            continue
        if by is not None:
            frame[by] = frame[by].astype(str)
        kept = best(frame if kept is None else pd.concat([kept, frame], ignore_index=True))
    if kept is None:
        return pd.DataFrame(columns=names)
    kept = best(kept)
    order = [by, objective] if by is not None else [objective]
    ascending = [True, best_low] if by is not None else [best_low]
    return kept.sort_values(order, ascending=ascending, kind="stable").reset_index(drop=True)

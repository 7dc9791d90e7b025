"""Parameter sweeps at scale: declarative grids, chunked Parquet output, resumable runs,
and Dask for clusters. See ``docs/sweeps.md``.

>>> import inferplan, tempfile
>>> spec = {
...     "fixed": {"kind": "decode_only", "alpha": 19.0, "beta": 1.0, "out_tokens": 1024},
...     "axes": {"max_batch": [16, 48], "rate": {"start": 0.1, "stop": 0.5, "num": 3}},
...     "columns": ["max_batch", "rate", "itl_ms", "status"],
... }
>>> out = tempfile.mkdtemp()
>>> inferplan.sweep(spec, out, progress=False).total_rows
6
>>> inferplan.read_sweep(out).shape
(6, 4)
"""

from .. import _lazy
from .io import read_sweep, summarize
from .run import SweepResult, evaluate_chunk, sweep
from .spec import SpecError, SweepSpec, load_spec

__all__ = [
    "SpecError",
    "SweepResult",
    "SweepSpec",
    "evaluate_chunk",
    "load_spec",
    "read_sweep",
    "summarize",
    "sweep",
]

__dir__ = _lazy.public_dir(__name__)

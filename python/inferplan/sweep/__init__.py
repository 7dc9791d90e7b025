"""Parameter sweeps at scale.

Declarative grids, chunked Parquet output, resumable runs, and Dask for clusters. See
``docs/sweeps.md``.

``inferplan.sweep`` is this module; the function that runs a sweep is
:func:`inferplan.run_sweep` (also ``inferplan.sweep.sweep``). Calling the module itself,
``inferplan.sweep(spec, out)``, still runs the sweep but is deprecated (it warns).

>>> import inferplan, tempfile
>>> spec = {
...     "fixed": {"kind": "decode_only", "alpha": 19.0, "beta": 1.0, "out_tokens": 1024},
...     "axes": {"max_batch": [16, 48], "rate": {"start": 0.1, "stop": 0.5, "num": 3}},
...     "columns": ["max_batch", "rate", "itl_ms", "status"],
... }
>>> out = tempfile.mkdtemp()
>>> inferplan.run_sweep(spec, out, progress=False).total_rows
6
>>> inferplan.read_sweep(out).shape
(6, 4)
"""

import sys
import types
import warnings

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


class _SweepModule(types.ModuleType):
    """Make the module callable for the former ``inferplan.sweep(spec, out)`` (deprecated)."""

    def __call__(self, *args, **kwargs):
        warnings.warn(
            "calling the module inferplan.sweep is deprecated; use inferplan.run_sweep(...) "
            "(the same function as inferplan.sweep.sweep)",
            DeprecationWarning,
            stacklevel=2,
        )
        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _SweepModule

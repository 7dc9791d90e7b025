"""inferplan: fast, exact capacity planning for LLM inference fleets.

The hot path is a C++ kernel (``inferplan._core``); when it is unavailable a Numba
mirror, then the NumPy reference, give the same numbers. ``inferplan.backend()`` says
which one is active; ``INFERPLAN_BACKEND=cpp|numba|numpy`` forces one.

Every public name is imported on first use (``import inferplan`` loads nothing heavy), so
that a command or a service that needs one part does not pay for the others.
"""

from . import _lazy

# Subpackages: ``runtime`` and ``calibration`` pull in pandas, SciPy and matplotlib, ``fleet``
# NumPy and the kernel.
__getattr__, __dir__ = _lazy.attach(
    __name__,
    {
        # from the package metadata, or a source tree's pyproject.toml (see _version.py)
        "__version__": "._version",
        "Status": "._status",
        "status_message": "._status",
        "analyze_many": ".batch",
        "optimal_concurrency_many": ".batch",
        "size_many": ".batch",
        "c_include_dir": ".capi",
        "c_library_path": ".capi",
        "cost_table": ".hardware",
        "energy_value": ".hardware",
        "DecodeOnly": ".models",
        "PrefillDecode": ".models",
        "ServiceModel": ".models",
        "ServiceTimes": ".models",
        "Metrics": ".replica",
        "Replica": ".replica",
        "backend": ".replica",
        "optimal_concurrency": ".replica",
        "Estimate": ".simulate",
        "SimulationResult": ".simulate",
        "Tokens": ".simulate",
        "ConcurrencyResult": ".sizing",
        "SizeResult": ".sizing",
        "read_sweep": ".sweep",
        "run_sweep": ".sweep.run:sweep",
        "sweep": ".sweep",
        "fleet": ".fleet",
        "hardware": ".hardware",
        "runtime": ".runtime",
        # docs/model.md 6-7: renewal arrivals, length laws and their phase-type solver
        "arrivals": ".arrivals",
        "lengths": ".lengths",
        "phasetype": ".phasetype",
        "calibrate": ".calibration",
        "read_benchmarks": ".calibration",
    },
    # The function shadows its module on purpose: ``inferplan.simulate(model, ...)``; the module
    # stays importable as ``from inferplan.simulate import Tokens``. ``inferplan.sweep`` is the
    # subpackage (its function is ``run_sweep``; calling the module is deprecated).
    shadowed={"simulate": ".simulate"},
)

__all__ = [
    "ConcurrencyResult",
    "DecodeOnly",
    "Estimate",
    "Metrics",
    "PrefillDecode",
    "Replica",
    "ServiceModel",
    "ServiceTimes",
    "SimulationResult",
    "SizeResult",
    "Status",
    "Tokens",
    "analyze_many",
    "arrivals",
    "backend",
    "c_include_dir",
    "c_library_path",
    "calibrate",
    "cost_table",
    "energy_value",
    "fleet",
    "hardware",
    "lengths",
    "optimal_concurrency",
    "optimal_concurrency_many",
    "read_benchmarks",
    "read_sweep",
    "run_sweep",
    "runtime",
    "simulate",
    "size_many",
    "status_message",
    "sweep",
]

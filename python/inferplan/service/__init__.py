"""inferplan as a live service for schedulers and autoscalers.

* :mod:`inferplan.service.app` -- ``inferplan serve``: an HTTP service (FastAPI) with the
  reference analyzer's and optimizer's routes and JSON, plus inferplan's own routes
  (docs/service.md);
* :mod:`inferplan.service.metrics` -- vLLM's Prometheus metrics and engine-statistics logs
  turned into windows of observations;
* :mod:`inferplan.service.tuning` -- an extended Kalman filter that keeps a service profile's
  parameters up to date from those windows (docs/tuning.md).

The metrics and tuning modules need only NumPy (and ``prometheus_client`` to parse an
exposition); the HTTP service needs the ``service`` extra (FastAPI, uvicorn).
"""

from __future__ import annotations

from .. import _lazy

# the submodules load on first use (``app`` needs the service extra)
__getattr__, __dir__ = _lazy.attach(
    __name__, {"app": ".app", "metrics": ".metrics", "tuning": ".tuning"}
)

__all__ = ["app", "metrics", "tuning"]

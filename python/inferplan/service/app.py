"""``inferplan serve``: the HTTP service (FastAPI on uvicorn). See docs/service.md.

Layouts (``create_app(api=...)``):

* ``"analyzer"`` -- the reference queue analyzer's routes at the root (``/solve``,
  ``/target``, ``/optimize``);
* ``"optimizer"`` -- the reference fleet optimizer's routes at the root (``/optimizeOne``,
  the stateful ``/set...``, ``/get...`` routes and ``/optimize``);
* ``"both"`` (default) -- the two under ``/analyzer/...`` and ``/optimizer/...``.

Every layout also has inferplan's own routes under ``/v1/...``, ``/healthz``, ``/metrics``
(Prometheus) and the OpenAPI schema (``/openapi.json``, ``/docs``).

Concurrency: a request that takes microseconds (a small replica) is answered on the event
loop; anything bigger (large batches, searches, batch calls, fleets, tuning) runs in the
worker thread pool, where the kernel releases the GIL, so requests proceed in parallel.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from .. import __version__, _lazy
from ..replica import backend
from . import analyzer, schemas
from ._fields import ApiError, parse_json
from .telemetry import Telemetry

__all__ = [
    "APIS",
    "MAX_BODY",
    "FastPath",
    "app_from_env",
    "create_app",
    "log",
]
__dir__ = _lazy.public_dir(__name__)

log = logging.getLogger("inferplan.service")

APIS = ("both", "analyzer", "optimizer")
_NO_OTEL = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


def _body_schema(model) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema(
                ref_template="#/components/schemas/{model}")}},
        }
    }  # fmt: skip


_ERRORS = {400: {"model": schemas.Message, "description": "bad request: the field is named"}}


class _Endpoints:
    """Builds route functions that share parsing, error answers and telemetry."""

    def __init__(self, telemetry: Telemetry):
        self.telemetry = telemetry

    def json_post(
        self,
        route: str,
        compute: Callable[[Any], Any],
        heavy: Callable[[Any], bool] | None = None,
        *,
        empty_404: bool = False,
    ):
        """Return a POST route.

        Parse the JSON body, compute (inline or in a thread), answer JSON.

        ``compute`` returns the answer (a dict) or raises ApiError; ``heavy(doc)`` says
        whether to run it in the thread pool (default: always).
        """
        telemetry = self.telemetry

        async def endpoint(request: Request) -> Response:
            t0 = time.perf_counter()
            try:
                doc = parse_json(await _read_body(request))
                if heavy is not None and not heavy(doc):
                    result = compute(doc)
                else:
                    result = await run_in_threadpool(compute, doc)
                resp = _answer(result)
            except ApiError as err:
                resp = _error(err, empty_404)
            except Exception:  # a defect, never bad input: log it, say so, stay up
                log.exception("internal error on %s", route)
                resp = JSONResponse({"message": f"internal error on {route}"}, status_code=500)
            telemetry.observe(route, resp.status_code, time.perf_counter() - t0)
            return resp

        return endpoint

    def call(self, route: str, compute: Callable[..., Any], *, threaded: bool = False,
             empty_404: bool = False):  # fmt: skip
        """Return a route without a JSON body (GET with path parameters)."""
        telemetry = self.telemetry

        async def endpoint(request: Request) -> Response:
            t0 = time.perf_counter()
            args = dict(request.path_params)
            try:
                if threaded:
                    result = await run_in_threadpool(compute, **args)
                else:
                    result = compute(**args)
                resp = _answer(result)
            except ApiError as err:
                resp = _error(err, empty_404)
            except Exception:
                log.exception("internal error on %s", route)
                resp = JSONResponse({"message": f"internal error on {route}"}, status_code=500)
            telemetry.observe(route, resp.status_code, time.perf_counter() - t0)
            return resp

        return endpoint


MAX_BODY = 64 << 20  # bytes: a fleet or a batch of a million rows fits


def _too_large() -> ApiError:
    return ApiError(413, f"the request body is larger than {MAX_BODY >> 20} MiB")


async def _read_body(request: Request) -> bytes:
    """Return the body, refused (413) beyond MAX_BODY bytes without reading the rest."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise _too_large()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(status_code=200)
    return Response(_dumps(result), media_type="application/json")


def _error(err: ApiError, empty_404: bool) -> Response:
    if empty_404 and err.status == 404:
        return Response(status_code=404)  # the reference answers 404 without a body
    return JSONResponse(err.body(), status_code=err.status)


class FastPath:
    """Pure ASGI middleware answering the reference analyzer's POST routes directly.

    Those routes are what a control loop calls every cycle; their computation takes tens of
    microseconds, less than FastAPI's routing and dependency machinery around it, so they are
    answered here, before the framework, with the same parsing, answers, errors and telemetry
    as the FastAPI routes (which stay, and document them in the OpenAPI schema).
    """

    def __init__(self, app, routes: dict[str, Callable[[Any], Any]], heavy, telemetry):
        self.app = app
        self.routes = routes
        self.heavy = heavy
        self.telemetry = telemetry

    async def __call__(self, scope, receive, send):
        """Serve the fast routes; pass everything else to the application."""
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        compute = self.routes.get(scope["path"])
        if compute is None:
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        chunks = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            more = message.get("more_body", False)
            if size > MAX_BODY:
                break
        body = b"".join(chunks)
        try:
            if size > MAX_BODY:
                raise _too_large()
            doc = parse_json(body)
            if self.heavy(scope["path"], doc):
                result = await run_in_threadpool(compute, doc)
            else:
                result = compute(doc)
            status, payload = 200, _dumps(result)
        except ApiError as err:
            status, payload = err.status, _dumps(err.body())
        except Exception:  # a defect, never bad input
            log.exception("internal error on %s", scope["path"])
            status, payload = 500, _dumps({"message": f"internal error on {scope['path']}"})
        await send({
            "type": "http.response.start", "status": status,
            "headers": [(b"content-type", b"application/json"),
                        (b"content-length", str(len(payload)).encode())],
        })  # fmt: skip
        await send({"type": "http.response.body", "body": payload})
        self.telemetry.observe(scope["path"], status, time.perf_counter() - t0)


def _add_analyzer(app: FastAPI, ep: _Endpoints, prefix: str) -> None:
    docs = {
        "solve": ("Analyse one replica at RPS", schemas.AnalysisData),
        "target": ("The largest rate meeting targetTTFT and targetITL", schemas.AnalysisData),
        "optimize": ("The smallest max batch at near-peak sized throughput",
                     schemas.OptimizeData),
    }  # fmt: skip
    for route, (summary, out) in docs.items():
        heavy = analyzer.is_heavy if route != "optimize" else None

        def compute(doc, route=route):
            return analyzer.handle(route, doc)

        app.add_api_route(
            f"{prefix}/{route}",
            ep.json_post(f"{prefix}/{route}", compute, heavy),
            methods=["POST"],
            summary=summary,
            tags=["reference analyzer (queue-analysis)"],
            response_model=out,
            responses=_ERRORS,
            openapi_extra=_body_schema(schemas.ProblemData),
        )


def create_app(api: str = "both", *, optimizer_state=None, tuners=None) -> FastAPI:
    """Return the service's ASGI application (see the module docstring for ``api``)."""
    if api not in APIS:
        raise ValueError(f"api must be one of {', '.join(APIS)}, got {api!r}")
    app = FastAPI(
        title="inferplan",
        version=__version__,
        description="Capacity planning for LLM inference fleets: the reference analyzer's "
        "and optimizer's REST interfaces, and inferplan's own (docs/service.md).",
        # FastAPI's own OpenTelemetry hooks look the providers up on every request; the
        # service reports through its Prometheus /metrics instead (INFERPLAN_OTEL=1 keeps them)
        **({} if os.environ.get("INFERPLAN_OTEL") == "1" else {"telemetry": _NO_OTEL}),
    )
    telemetry = Telemetry()
    app.state.telemetry = telemetry
    ep = _Endpoints(telemetry)

    if api in ("both", "analyzer"):
        prefix = "/analyzer" if api == "both" else ""
        _add_analyzer(app, ep, prefix)
        routes = {
            f"{prefix}/{route}": (lambda doc, route=route: analyzer.handle(route, doc))
            for route in analyzer.ROUTES
        }
        optimize_path = f"{prefix}/optimize"

        def heavy(path: str, doc: Any) -> bool:
            return path == optimize_path or analyzer.is_heavy(doc)

        app.add_middleware(FastPath, routes=routes, heavy=heavy, telemetry=telemetry)
    if api in ("both", "optimizer"):
        from .optimizer import OptimizerState, add_optimizer_routes

        state = optimizer_state if optimizer_state is not None else OptimizerState()
        app.state.optimizer = state
        add_optimizer_routes(app, ep, "/optimizer" if api == "both" else "", state)

    from .native import add_native_routes

    add_native_routes(app, ep, tuners)

    started = time.time()

    @app.get("/healthz", tags=["service"], summary="Liveness and what is served")
    async def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "backend": backend(),
            "api": api,
            "uptimeSeconds": time.time() - started,
        }

    @app.get("/metrics", tags=["service"], summary="The service's own Prometheus metrics")
    async def metrics() -> Response:
        body, content_type = telemetry.exposition()
        return Response(body, media_type=content_type)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):  # pragma: no cover - defects
        log.exception("internal error on %s", request.url.path)
        return JSONResponse({"message": "internal error"}, status_code=500)

    return app


def app_from_env() -> FastAPI:
    """For ``uvicorn inferplan.service.app:app_from_env --factory``.

    The layout from ``INFERPLAN_API`` (default ``both``).
    """
    import gc

    app = create_app(os.environ.get("INFERPLAN_API", "both"))
    # Everything built so far lives as long as the process: keep it out of the cyclic
    # collector's full passes, which would otherwise scan it every so often (a few ms each,
    # straight into the tail latency).
    gc.collect()
    gc.freeze()
    return app

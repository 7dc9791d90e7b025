"""``inferplan serve``: run the HTTP service (docs/service.md)."""

from __future__ import annotations

import argparse
import os

from .. import _lazy

__all__ = [
    "APIS",
    "add_serve_arguments",
    "run_serve",
]
__dir__ = _lazy.public_dir(__name__)

APIS = ("both", "analyzer", "optimizer")  # as inferplan.service.app.APIS (not imported here:
# building the CLI parser must not need FastAPI)


def _env_port() -> int:
    raw = os.environ.get("INFERNO_PORT", "8080")
    try:
        port = int(raw)
    except ValueError:
        raise ValueError(f"INFERNO_PORT must be a port number, got {raw!r}") from None
    return port


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _check_can_listen(host: str, port: int) -> None:
    """Say it in one line, before starting, when the address cannot be listened on."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise ValueError(f"cannot resolve host {host!r}: {err.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as err:
            raise ValueError(f"cannot listen on {host}:{port}: {err.strerror}") from None


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``serve`` command's options to ``p``."""
    p.add_argument(
        "--api",
        choices=APIS,
        default="both",
        help="both (default): the reference analyzer under /analyzer/... and optimizer under "
        "/optimizer/...; analyzer or optimizer: that one's routes at the root. inferplan's "
        "own /v1/... routes, /healthz and /metrics are always served",
    )
    p.add_argument(
        "--host",
        default=None,
        help="address to listen on (default: $INFERNO_HOST, else 127.0.0.1; 0.0.0.0 for all)",
    )
    p.add_argument(
        "--port", type=int, default=None, help="port (default: $INFERNO_PORT, else 8080)"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (default 1; the stateful optimizer routes keep their state per "
        "process, so use 1 with them)",
    )
    p.add_argument(
        "--log-level",
        default="warning",
        choices=("critical", "error", "warning", "info", "debug"),
        help="uvicorn log level (default warning; info logs every request)",
    )


def run_serve(args: argparse.Namespace) -> int:
    """Run ``inferplan serve``; return the exit status."""
    try:
        import uvicorn
    except ImportError:
        raise ValueError(
            "the service needs FastAPI and uvicorn: pip install 'inferplan[service]'"
        ) from None
    host = args.host or os.environ.get("INFERNO_HOST") or "127.0.0.1"
    port = args.port if args.port is not None else _env_port()
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be in 0..65535, got {port}")
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    _check_can_listen(host, port)
    os.environ["INFERPLAN_API"] = args.api
    uvicorn.run(
        "inferplan.service.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=args.log_level in ("info", "debug"),
        http="httptools" if _has("httptools") else "auto",
        loop="uvloop" if _has("uvloop") else "auto",
    )
    return 0

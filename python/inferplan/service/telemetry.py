"""The service's own Prometheus metrics (``GET /metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from .. import _lazy

__all__ = [
    "Telemetry",
]
__dir__ = _lazy.public_dir(__name__)

_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            2.5, 10.0)  # fmt: skip


class Telemetry:
    """Requests by route and status, and their latency, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "inferplan_requests", "Requests answered, by route and HTTP status",
            ("route", "status"), registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "inferplan_request_seconds", "Time to answer a request (s), by route",
            ("route",), buckets=_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.tuned = Gauge(
            "inferplan_tuner_parameter", "Current estimate of a tuner's parameter",
            ("tuner", "parameter"), registry=self.registry,
        )  # fmt: skip
        self._children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}

    def observe(self, route: str, status: int, seconds: float) -> None:
        """Count one request of ``route`` and its latency."""
        key = (route, status)
        pair = self._children.get(key)
        if pair is None:  # label lookups cost more than the update: cache the children
            pair = (self.requests.labels(route, str(status)), self.latency.labels(route))
            self._children[key] = pair
        pair[0].inc()
        pair[1].observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """Return the metrics in Prometheus text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

"""Pydantic models of the request and response bodies, for the OpenAPI schema only.

Requests are decoded by hand (:mod:`inferplan.service._fields`) so that keys match without
regard to case, as the reference services' decoder does, and so that every refusal names
the field; these models document the shapes in ``/openapi.json`` and ``/docs``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .. import _lazy

__all__ = [
    "AllocationSolution",
    "AnalysisData",
    "AnalyzeRequest",
    "CostTableRequest",
    "FleetRequest",
    "ManyRequest",
    "Message",
    "ModelSpec",
    "OptimizeData",
    "OptimizerSpec",
    "ProblemData",
    "ReplicaSpec",
    "SizeRequest",
    "SystemData",
    "Targets",
    "TuneRequest",
]
__dir__ = _lazy.public_dir(__name__)


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ProblemData(_Doc):
    """The reference analyzer's request (keys matched without regard to case)."""

    RPS: float = Field(0, ge=0, description="request rate (req/s); /solve analyses at it")
    maxBatchSize: int = Field(..., gt=0, description="max requests in service at once")
    avgInputTokens: float = Field(0, ge=0, description="mean prompt tokens")
    avgOutputTokens: float = Field(..., gt=0, description="mean output tokens")
    alpha: float = Field(0, ge=0, description="ms per iteration")
    beta: float = Field(0, ge=0, description="ms per computed token")
    gamma: float = Field(0, ge=0, description="ms per KV-cache token read")
    maxQueueSize: int = Field(0, ge=0, description="max requests waiting")
    targetTTFT: float = Field(0, ge=0, description="mean TTFT target (ms; 0 = none)")
    targetITL: float = Field(0, ge=0, description="mean ITL target (ms; 0 = none)")


class AnalysisData(_Doc):
    """The reference analyzer's answer of /solve and /target for one replica."""

    offeredRPS: float
    throughput: float
    avgRespTime: float = Field(description="ms")
    avgWaitTime: float = Field(description="ms")
    avgNumInServ: float
    avgTTFT: float = Field(description="ms")
    avgITL: float = Field(description="ms")
    maxRPS: float = Field(description="0.999 x the saturation throughput (req/s)")
    RPSTargetTTFT: float = Field(0, description="/target: the rate the TTFT target allows")
    RPSTargetITL: float = Field(0, description="/target: the rate the ITL target allows")


class OptimizeData(_Doc):
    """The reference analyzer's answer of /optimize: the batch cap and its metrics."""

    concurrency: int
    throughput: float
    avgRespTime: float
    avgWaitTime: float
    avgNumInServ: float
    avgTTFT: float
    avgITL: float
    maxRPS: float
    M_ITL: int
    M_TPF: int
    oracleCalls: int
    feasible: bool


class Message(_Doc):
    """An error: the message and the field at fault."""

    message: str
    field: str | None = Field(None, description="the request field at fault")


class SystemData(_Doc):
    """The whole fleet system, as the reference's data files hold it.

    ``{"system": {acceleratorData, capacityData, modelData, serviceClassData, serverData,
    optimizerData}}``.
    """

    system: dict[str, Any]


class OptimizerSpec(_Doc):
    """The reference optimizer's options."""

    unlimited: bool = False
    delayedBestEffort: bool = False
    saturationPolicy: Literal["None", "PriorityExhaustive", "RoundRobin",
                              "PriorityRoundRobin"] = "None"  # fmt: skip


class AllocationSolution(_Doc):
    """The reference optimizer's answer: an allocation per server."""

    allocations: dict[str, dict[str, Any]]


class ModelSpec(_Doc):
    """A service model.

    ``kind`` "prefill_decode" (alpha, beta, gamma, in_tokens, out_tokens, max_num_tokens) or
    "decode_only" (alpha, beta, out_tokens).
    """

    kind: Literal["prefill_decode", "decode_only"] = "prefill_decode"
    alpha: float
    beta: float
    gamma: float = 0.0
    in_tokens: float = 0.0
    out_tokens: float
    max_num_tokens: float = 8192


class ReplicaSpec(ModelSpec):
    """A replica: a service model, its batch cap, queue and admission rule."""

    max_batch: int = Field(..., gt=0)
    max_queue: int | None = Field(None, ge=0, description="null: an unbounded queue")
    admission: Literal["chain", "immediate", "iteration"] | None = None


class AnalyzeRequest(ReplicaSpec):
    """The body of ``/v1/analyze``."""

    rate: float = Field(..., ge=0, description="req/s")


class Targets(_Doc):
    """Latency, throughput and blocking targets for sizing."""

    itl_ms: float | None = None
    ttft_ms: float | None = None
    wait_ms: float | None = None
    ttft_percentile: tuple[float, float] | None = Field(None, description="[q, ms]")
    wait_percentile: tuple[float, float] | None = Field(None, description="[q, ms]")
    max_block: float | None = None
    tps: float | None = None


class SizeRequest(ReplicaSpec, Targets):
    """The body of ``/v1/size``."""


class ManyRequest(_Doc):
    """Columns: each a scalar or a list of one common length (inferplan.size_many)."""

    rows: dict[str, Any]
    threads: int | None = None


class CostTableRequest(_Doc):
    """The arguments of ``inferplan.cost_table`` (docs/energy.md).

    Accelerators as ``{name, power: {idle_w, mid_w, mid_util, full_w}, cost_per_hour}``,
    profiles as ``{model, accelerator, alpha, beta, gamma, kind}``, query classes as
    ``{name, in_tokens, out_tokens, itl_ms, ttft_ms}``.
    """

    accelerators: list[dict[str, Any]]
    profiles: list[dict[str, Any]]
    query_classes: list[dict[str, Any]]
    batch_sizes: list[int]
    max_queue: int | None = None
    price_per_kwh: float = 0.0
    grid_kg_per_kwh: float = 0.0


class FleetRequest(SystemData):
    """The body of ``/v1/fleet/optimize``."""

    solver: Literal["greedy", "unlimited", "milp"] | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class TuneRequest(_Doc):
    """The body of ``/tune`` and ``/v1/tune``."""

    tuner: str = Field("default", description="name of the tuner (one per model server)")
    windows: list[dict[str, Any]] = Field(default_factory=list)
    reset: dict[str, Any] | None = Field(None, description="create or reset the tuner")

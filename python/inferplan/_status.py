"""Status codes returned per row by the kernels (the table is inferplan._codes.STATUSES)."""

from __future__ import annotations

from ._codes import Status

_MESSAGES = {
    Status.OK: "ok",
    Status.UNSTABLE: "unbounded queue at or above saturation: the replica has no steady state "
    "(lower the rate below max_rate or bound the queue)",
    Status.INFEASIBLE_ITL: "itl_ms target is below the ITL of a near-idle replica",
    Status.INFEASIBLE_TTFT: "ttft_ms target is below the TTFT of a near-idle replica",
    Status.INFEASIBLE_TTFT_PERCENTILE: "ttft_percentile target is below what a near-idle "
    "replica achieves",
    Status.INFEASIBLE_WAIT_PERCENTILE: "wait_percentile target is below what a near-idle "
    "replica achieves",
    Status.INFEASIBLE_BLOCK: "max_block target is below the blocking of a near-idle replica",
    Status.INFEASIBLE_TPS: "tps target needs more than the replica can deliver",
    Status.INFEASIBLE_WAIT: "wait_ms target is below the mean wait of a near-idle replica",
    Status.NOT_CERTIFIED: "sizing could not certify that every target holds below a rate "
    "within its work bound (docs/model.md 3.1); no rate is reported",
    Status.BAD_KIND: "model kind must be 0 (DecodeOnly) or 1 (PrefillDecode)",
    Status.BAD_ALPHA: "alpha must be finite and >= 0, and the service time must be positive",
    Status.BAD_BETA: "beta must be finite and >= 0",
    Status.BAD_GAMMA: "gamma must be finite and >= 0",
    Status.BAD_IN_TOKENS: "in_tokens must be finite and >= 0",
    Status.BAD_OUT_TOKENS: "out_tokens must be finite and at least 1e-9",
    Status.BAD_MAX_NUM_TOKENS: "max_num_tokens must be finite and > 0, and large enough that "
    "a prompt of in_tokens needs at most 2**53 prefill chunks at the max batch",
    Status.BAD_MAX_BATCH: "max_batch must be an integer in [1, 16777216]",
    Status.BAD_MAX_QUEUE: "max_queue must be an integer in [0, 2**53] or infinite, and a "
    "finite queue at most 1e300 ms of full-batch services long (max_queue * tau(N) / N)",
    Status.BAD_RATE: "rate must be finite and >= 0",
    Status.BAD_TARGET_ITL: "itl_ms target must be finite and > 0",
    Status.BAD_TARGET_TTFT: "ttft_ms target must be finite and > 0",
    Status.BAD_TTFT_PERCENTILE: "ttft_percentile must be (q, ms) with 0 < q < 1 and ms > 0",
    Status.BAD_WAIT_PERCENTILE: "wait_percentile must be (q, ms) with 0 < q < 1 and ms > 0",
    Status.BAD_MAX_BLOCK: "max_block must be in (0, 1)",
    Status.BAD_TPS: "tps target must be finite and > 0",
    Status.BAD_SERVICE_TIME: "service times must be finite and > 0, with tau(b)/b between "
    "1e-290 and 1e290 ms (from tau_ms or the model's alpha, beta, gamma, in_tokens, "
    "out_tokens)",
    Status.BAD_QUANTILE: "quantile must be in (0, 1)",
    Status.BAD_TARGET_WAIT: "wait_ms target must be finite and > 0",
    Status.BAD_ADMISSION: "admission must be 0 (the chain's read-off), 1 (immediate) or "
    "2 (iteration)",
    Status.BAD_ARRIVAL_CV: "arrival_cv (coefficient of variation of the gaps between arrivals) "
    "must be finite and in [0, 100]",
    Status.BAD_OUT_TOKENS_CV: "out_tokens_cv (coefficient of variation of the output length) "
    "must be finite and in [0, 100]",
    Status.BAD_ARRIVAL_FIT: "fit must be 0 (gamma: three moments of the Gamma law) or "
    "1 (balanced means)",
    Status.BAD_ARRIVAL_LEVELS: "the exact solve under non-Poisson arrivals takes at most "
    "400,000 levels (max_batch + max_queue) and levels x phases within the kernel's work "
    "bound: use max_queue=None (unbounded), a shorter queue or a larger arrival_cv",
    Status.BAD_ARRIVAL_COLLISIONS: "the prefill-collision law of the TTFT quantile by batch "
    "under immediate admission, with the quantile search over it, exceeds the kernel's work "
    "bound (bursty arrivals and many prefill chunks, or a long finite queue): use a smaller "
    "arrival_cv, fewer chunks (a larger max_num_tokens), a shorter queue or another "
    "admission rule",
}


class StatusError(ValueError):
    """A ValueError that carries the status a batch call gives the same input.

    Raised where a scalar call refuses an input that the batch calls answer with a status
    per row, so that a batch built on the scalar call reports that status (never by
    matching the message).
    """

    def __init__(self, status: int, message: str | None = None) -> None:
        self.status = Status(int(status))
        super().__init__(message if message is not None else status_message(self.status))


def status_message(code: int) -> str:
    """Human-readable explanation of a status code."""
    try:
        return _MESSAGES[Status(int(code))]
    except ValueError:
        return f"unknown status {code}"

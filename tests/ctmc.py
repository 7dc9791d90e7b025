"""Independent truth for the chain tests: a dense CTMC solve.

The replica's chain solved as a dense CTMC (generator matrix, linear solve), without any of
the kernel's closed forms. The solve runs in 40-digit arithmetic (mpmath) so that tiny
probabilities are exact to far below the 1e-10 tolerance.
"""

from __future__ import annotations

import mpmath
import numpy as np


def dense_metrics(tau_ms: np.ndarray, max_queue: int, rate_per_s: float) -> dict:
    """Return the steady-state metrics of the chain by a dense solve.

    Steady-state metrics of the chain with service times tau(1..N) (ms), a finite queue and
    Poisson arrivals at rate_per_s.
    """
    with mpmath.workdps(40):
        N = len(tau_ms)
        K = N + max_queue
        lam = mpmath.mpf(rate_per_s) / 1000
        mu = [
            mpmath.mpf(b) / mpmath.mpf(float(t))
            for b, t in zip(range(1, N + 1), tau_ms, strict=True)
        ]
        G = mpmath.zeros(K + 1, K + 1)
        for n in range(K + 1):
            if n < K:
                G[n, n + 1] = lam
            if n > 0:
                G[n, n - 1] = mu[min(n, N) - 1]
            G[n, n] = -sum(G[n, j] for j in range(K + 1) if j != n)
        A = G.T
        for j in range(K + 1):
            A[K, j] = 1
        b = mpmath.zeros(K + 1, 1)
        b[K] = 1
        p = mpmath.lu_solve(A, b)
        L = sum(n * p[n] for n in range(K + 1))
        B = sum(min(n, N) * p[n] for n in range(K + 1))
        Lq = sum(max(n - N, 0) * p[n] for n in range(K + 1))
        X = lam * (1 - p[K])
        out = {
            "p0": p[0],
            "p_block": p[K],
            "throughput": X * 1000,
            "in_system": L,
            "in_service": B,
            "in_queue": Lq,
            "response_ms": L / X,
            "service_ms": B / X,
            "wait_ms": Lq / X,
            "utilization": B / N,
            "max_rate": mu[-1] * 1000,
        }
        return {k: float(v) for k, v in out.items()}

// Waiting-time distribution under FCFS (docs/model.md section 3).
//
// An accepted arrival that finds n = N + j requests (0 <= j < Q) waits for j + 1
// departures at rate mu(N): an Erlang(j + 1, mu(N)) time. By PASTA it finds
// state n with probability p(n) / (1 - p_block), so the wait is a mixture of
// Erlang laws with geometric weights p(N) r^j. Swapping the sums,
//   P(W > t) = p(N) / (1 - p_block) * sum_{k<Q} Pois(k; x) G(k),  x = mu(N) t,
// where G(k) = sum_{j=k}^{Q-1} r^j; only the Poisson window around x matters.
#pragma once

#include <cmath>
#include <limits>

#include "chain.hpp"
#include "geometric.hpp"

namespace inferplan {

// log(sum_{i=0}^{n-1} exp(i * lr)) for any sign of lr (n >= 1, may be +inf if lr < 0).
inline double log_geo_sum(double lr, double n) {
  if (lr <= 0.0) return std::log(geo_sums(-lr, n).g0);
  return (n - 1.0) * lr + std::log(geo_sums(lr, n).g0);
}

// P(W > t) for an accepted arrival, t in ms.
inline double wait_ccdf(const ChainView& c, const Moments& mo, double t) {
  const double Q = c.Q;
  if (Q == 0.0) return 0.0;
  const double lr = mo.log_r;
  const double log_scale = mo.log_p_full() - std::log(mo.not_blocked);
  if (t <= 0.0) return std::min(1.0, std::exp(log_scale + log_geo_sum(lr, Q)));  // P(W > 0)
  const double x = c.max_rate() * t;
  if (std::isinf(Q)) {
    // Geometric mixture of Erlangs: exponential with rate mu(N)(1 - r).
    const double one_minus_r = -std::expm1(lr);
    return std::min(1.0, std::exp(log_scale - std::log(one_minus_r) - x * one_minus_r));
  }
  const double spread = 15.0 * std::sqrt(x) + 15.0;
  const double k_lo = std::max(0.0, std::floor(x - spread));
  const double k_hi = std::min(Q - 1.0, std::ceil(x + spread));
  if (k_lo > k_hi) return 0.0;  // every queued request has left by t
  const double log_x = std::log(x);
  double sum = 0.0;
  for (double k = k_lo; k <= k_hi; k += 1.0) {
    double log_pmf = k * log_x - x - std::lgamma(k + 1.0);
    double log_g = k * lr + log_geo_sum(lr, Q - k);
    sum += std::exp(log_scale + log_pmf + log_g);
  }
  return std::min(1.0, sum);
}

// Smallest t with P(W > t) <= 1 - q (the q-quantile of the wait), in ms.
inline double wait_quantile(const ChainView& c, const Moments& mo, double q) {
  const double target = 1.0 - q;
  if (wait_ccdf(c, mo, 0.0) <= target) return 0.0;
  // Bracket: grow from one mean service interval of the full batch.
  double lo = 0.0, hi = 1.0 / c.max_rate();
  while (wait_ccdf(c, mo, hi) > target) {
    lo = hi;
    hi *= 2.0;
    if (!std::isfinite(hi)) return std::numeric_limits<double>::infinity();
  }
  // Bisection on a monotone function: ~60 steps reach double resolution.
  for (int i = 0; i < 200 && hi - lo > 1e-13 * hi; ++i) {
    double mid = 0.5 * (lo + hi);
    if (wait_ccdf(c, mo, mid) > target) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return hi;
}

}  // namespace inferplan

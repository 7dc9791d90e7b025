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

// Below exp(-745) a double is 0.
constexpr double kLogNegligible = -745.0;

// log(1 - p_block). Far in saturation (lam / mu(N) > e^40 with a finite
// queue) 1 - p_block = mu(N) / lam to double precision and may underflow: its
// logarithm is then -log(r).
inline double log_not_blocked(const ChainView& c, const Moments& mo) {
  if (!(mo.not_blocked > 0x1p-1000) && mo.log_r > detail::kDeepSaturationLogR &&
      !std::isinf(c.Q))
    return -mo.log_r;
  return std::log(mo.not_blocked);
}

// P(W > t) for an accepted arrival, t in ms.
// With terms, also the number of Poisson terms summed (left as it is where a
// closed form answers); a window of more than max_terms terms is not summed and
// gives NaN, so a caller with a work bound pays only for what it can afford.
inline double wait_ccdf(const ChainView& c, const Moments& mo, double t, double* terms = nullptr,
                        double max_terms = std::numeric_limits<double>::infinity()) {
  const double Q = c.Q;
  // Nobody waits without a queue, or when no state at or above N has mass (an
  // idle replica, or p(N) below the smallest double: the tail is smaller still).
  if (Q == 0.0 || (!(mo.p_full > 0.0) && std::isnan(mo.log_p_full_deep))) return 0.0;
  const double lr = mo.log_r;
  const double log_scale = mo.log_p_full() - log_not_blocked(c, mo);
  const double x = c.max_rate() * t;
  // P(W > 0); also for a t so short that mu(N) t is below 2^-60: P(W > t) then
  // equals P(W > 0) to double precision, and taking the same expression keeps it
  // consistent with wait_quantile's test at 0 (a percentile target of 1e-300 ms
  // holds exactly where the quantile is 0).
  if (t <= 0.0 || x < 0x1p-60) return std::min(1.0, std::exp(log_scale + log_geo_sum(lr, Q)));
  if (!(x <= detail::kHuge)) return 0.0;  // t beyond every departure: mu(N) t overflows
  // Poisson terms beyond 9 standard deviations (and 9) are below 1e-17 of the sum.
  const double spread = 9.0 * std::sqrt(x) + 9.0;
  if (lr < 0.0 && (std::isinf(Q) || x + spread < Q - 1.0)) {
    // Every Poisson term that matters has k < Q: sum_k Pois(k; x) r^k = e^{-x(1-r)}
    // in closed form, and G(k) = (r^k - r^Q) / (1 - r), so
    //   P(W > t) = scale (e^{-x(1-r)} - r^Q) / (1 - r),
    // the difference taken as e^{-x(1-r)} (1 - e^{Q log r + x(1-r)}) without
    // cancellation (an unbounded queue: exponential of rate mu(N)(1 - r)).
    const double one_minus_r = -std::expm1(lr);
    const double head = std::exp(log_scale - std::log(one_minus_r) - x * one_minus_r);
    const double rest = std::isinf(Q) ? 1.0 : -std::expm1(Q * lr + x * one_minus_r);
    return std::min(1.0, head * rest);
  }
  const double k_lo = std::max(0.0, std::floor(x - spread));
  const double k_hi = std::min(Q - 1.0, std::ceil(x + spread));
  if (k_lo > k_hi) return 0.0;  // every queued request has left by t
  // G(k) is monotone in k and the Poisson terms sum to at most 1, so the sum is at
  // most scale * max(G(k_lo), G(k_hi)): where that underflows, so does every term (a
  // wide window far into a short-tailed queue, as sizing meets below saturation).
  const double log_bound =
      log_scale + std::max(k_lo * lr + log_geo_sum(lr, Q - k_lo), k_hi * lr + log_geo_sum(lr, Q - k_hi));
  if (log_bound < kLogNegligible) return 0.0;
  const double window = k_hi - k_lo + 1.0;
  if (terms) *terms = window;
  if (window > max_terms) return std::numeric_limits<double>::quiet_NaN();
  const double log_x = std::log(x);
  double sum = 0.0;
  for (double k = k_lo; k <= k_hi; k += 1.0) {
    double log_pmf = k * log_x - x - std::lgamma(k + 1.0);
    double log_g = k * lr + log_geo_sum(lr, Q - k);
    sum += std::exp(log_scale + log_pmf + log_g);
  }
  return std::min(1.0, sum);
}

template <class Ccdf>
inline double wait_quantile_with(const ChainView& c, const Moments& mo, double q, Ccdf&& wait_ccdf) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  const double target = 1.0 - q;
  const double p0 = wait_ccdf(0.0);
  if (std::isnan(p0)) return kNaN;
  if (p0 <= target) return 0.0;
  const double mu = c.max_rate();
  // Mean wait of an accepted request, L_q / X (X = lam (1 - p_block)).
  const double log_x = mo.log_r + std::log(mu) + log_not_blocked(c, mo);
  const double mean_wait = mo.in_queue * std::exp(-log_x);
  double lo = 0.0, hi = mean_wait / target * (1.0 + 1e-9);
  if (!(std::isfinite(hi) && hi > 0.0)) hi = 1.0 / mu;
  double f_hi = wait_ccdf(hi) - target;
  if (std::isnan(f_hi)) return kNaN;
  for (int grow = 0; f_hi > 0.0; ++grow) {  // only if rounding defeats the bound
    if (grow == 64) return std::numeric_limits<double>::infinity();
    lo = hi;
    hi *= 2.0;
    f_hi = wait_ccdf(hi) - target;
    if (std::isnan(f_hi)) return kNaN;
  }
  double f_lo = wait_ccdf(lo) - target;  // > 0
  int side = 0;
  for (int i = 0; i < 200 && hi - lo > 1e-13 * hi; ++i) {
    double mid = hi - f_hi * (hi - lo) / (f_hi - f_lo);
    if (!(mid > lo && mid < hi)) mid = 0.5 * (lo + hi);
    const double f = wait_ccdf(mid) - target;
    if (std::isnan(f)) return kNaN;
    if (f > 0.0) {
      lo = mid;
      f_lo = f;
      if (side == -1) f_hi *= 0.5;
      side = -1;
    } else {
      hi = mid;
      f_hi = f;
      if (side == 1) f_lo *= 0.5;
      side = 1;
    }
  }
  return hi;
}

// Smallest t with P(W > t) <= 1 - q (the q-quantile of the wait), in ms.
// Markov's inequality brackets it, P(W > t) <= E[W] / t, so the search starts
// from [0, E[W] / (1 - q)] and needs no growing phase whatever the queue; the
// Illinois method (false position that halves a stale end) then narrows the
// bracket to 1e-13 relative in a few tens of evaluations.
// With terms, also the Poisson terms its evaluations of wait_ccdf summed; one
// that would take the total past max_terms is not summed and gives NaN (a
// caller with a work bound pays only for what it can afford).
inline double wait_quantile(const ChainView& c, const Moments& mo, double q,
                            double* terms = nullptr,
                            double max_terms = std::numeric_limits<double>::infinity()) {
  double used = 0.0;
  auto ccdf = [&](double t) {
    double n = 0.0;
    const double p = wait_ccdf(c, mo, t, &n, max_terms - used);
    used += n;
    return p;
  };
  const double w = wait_quantile_with(c, mo, q, ccdf);
  if (terms) *terms = used;
  return w;
}

}  // namespace inferplan

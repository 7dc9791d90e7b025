// Steady state of the birth-death chain of one replica (MODEL.md section 1).
//
// State n = requests in the replica, 0 <= n <= K = N + Q. Arrivals at rate
// lam, completions at rate mu(min(n, N)). Weights w(n) = prod lam/mu(i) are
// evaluated relative to the largest one, so nothing overflows or underflows
// whatever N, Q or lam; the tail above N is geometric and summed in closed
// form, so the cost is O(N) whatever Q is (and O(mode width) for the common
// case of nondecreasing service rates, where the weights are unimodal and
// negligible terms are skipped).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "geometric.hpp"
#include "status.hpp"

namespace inferplan {

// Rate-independent part of a chain: computed once per configuration and
// reused by every evaluation of a search. Non-owning view.
struct ChainView {
  std::int64_t N = 1;
  double Q = 0.0;                       // queue slots, integer-valued, may be +inf
  const double* mu = nullptr;           // mu[b-1] = b / tau(b), per ms, b = 1..N
  const double* log_prefix = nullptr;   // S[n] = sum_{i<=n} log mu(i), n = 0..N
  bool monotone = true;                 // mu nondecreasing: weights unimodal in n

  double max_rate() const { return mu[N - 1]; }  // per ms
};

// Fills mu and the log prefix from tau (ms); returns whether mu is nondecreasing.
inline bool prepare_chain(std::int64_t N, const double* tau, double* mu, double* log_prefix) {
  bool monotone = true;
  log_prefix[0] = 0.0;
  for (std::int64_t b = 1; b <= N; ++b) {
    mu[b - 1] = static_cast<double>(b) / tau[b - 1];
    log_prefix[b] = log_prefix[b - 1] + std::log(mu[b - 1]);
    if (b > 1 && mu[b - 1] < mu[b - 2]) monotone = false;
  }
  return monotone;
}

// Normalised moments of the steady state.
struct Moments {
  double p0 = 1.0;
  double p_block = 0.0;
  double not_blocked = 1.0;  // 1 - p_block, computed without cancellation
  double in_system = 0.0;    // L
  double in_service = 0.0;   // B
  double in_queue = 0.0;     // L - B, computed directly
};

namespace detail {
// Weights below this (relative to the largest, which is 1) are dropped once
// the ratio of successive weights is below 1/2, so the rest sum to less.
constexpr double kNegligible = 1e-24;
}  // namespace detail

// Evaluates the chain at arrival rate lam (per ms, >= 0). Returns kUnstable
// for an unbounded queue at or above saturation.
inline Status evaluate_chain(const ChainView& c, double lam, Moments& out) {
  out = Moments{};
  if (lam == 0.0) return kOk;
  const std::int64_t N = c.N;
  const double* mu = c.mu;
  const double* S = c.log_prefix;
  const double ll = std::log(lam);
  const double lr = ll - std::log(mu[N - 1]);  // log(lam / mu(N))
  const bool unbounded = std::isinf(c.Q);
  if (unbounded && lr >= 0.0) return kUnstable;

  // Mode of the head weights log w(n) = n ll - S[n].
  std::int64_t mode = 0;
  if (c.monotone) {
    mode = std::lower_bound(mu, mu + N, lam) - mu;  // weights rise while mu(n) < lam
  } else {
    double best = 0.0;
    for (std::int64_t n = 1; n <= N; ++n) {
      double v = static_cast<double>(n) * ll - S[n];
      if (v > best) { best = v; mode = n; }
    }
  }
  const double log_mode = static_cast<double>(mode) * ll - S[mode];

  // Head sums over n < N, relative to the mode weight; w(N) apart.
  double h0 = 0.0, h1 = 0.0, w0 = 0.0, wN = 0.0;
  bool have_w0 = false, have_wN = false;
  if (mode == N) {
    wN = 1.0;
    have_wN = true;
  } else {
    h0 = 1.0;
    h1 = static_cast<double>(mode);
  }
  if (mode == 0) { w0 = 1.0; have_w0 = true; }
  {
    const double inv_lam = 1.0 / lam;
    double w = 1.0;
    for (std::int64_t n = mode; n >= 1; --n) {  // w(n-1) = w(n) mu(n) / lam
      double ratio = mu[n - 1] * inv_lam;
      w *= ratio;
      h0 += w;
      h1 += static_cast<double>(n - 1) * w;
      if (n == 1) { w0 = w; have_w0 = true; }
      if (c.monotone && w < detail::kNegligible && ratio < 0.5) break;
    }
    w = 1.0;
    for (std::int64_t n = mode + 1; n <= N; ++n) {  // w(n) = w(n-1) lam / mu(n)
      double ratio = lam / mu[n - 1];
      w *= ratio;
      if (n == N) { wN = w; have_wN = true; break; }
      h0 += w;
      h1 += static_cast<double>(n) * w;
      if (c.monotone && w < detail::kNegligible && ratio < 0.5) break;
    }
  }
  if (!have_w0) w0 = std::exp(-log_mode);
  const double log_wN = static_cast<double>(N) * ll - S[N] - log_mode;
  if (!have_wN) wN = std::exp(log_wN);

  // Tail n = N+1..K: w(N) r^j, j = 1..Q, r = lam / mu(N).
  double t0 = 0.0, t1 = 0.0, t0_excl_top = 0.0, w_top = 0.0;
  double head_scale = 1.0;
  const double Q = c.Q;
  if (Q == 0.0) {
    w_top = wN;
  } else if (lr < 0.0) {
    const double t = -lr;
    const GeoSums g = geo_sums(t, Q);
    const double r = std::exp(lr);
    t0 = wN * r * g.g0;
    t1 = t0 * (g.mean + 1.0);
    if (!unbounded) {
      w_top = wN * std::exp(Q * lr);
      t0_excl_top = Q > 1.0 ? wN * r * geo_sums(t, Q - 1.0).g0 : 0.0;
    }
  } else {
    // Growing tail: sum from the top state K down, ratio u = 1/r.
    const double t = lr;
    const double log_top = log_wN + Q * lr;
    double top = 1.0;
    if (log_top > 0.0) {
      head_scale = std::exp(-log_top);
    } else {
      top = std::exp(log_top);
    }
    const GeoSums g = geo_sums(t, Q);
    t0 = top * g.g0;
    t1 = t0 * (Q - g.mean);
    w_top = top;
    t0_excl_top = Q > 1.0 ? top * std::exp(-t) * geo_sums(t, Q - 1.0).g0 : 0.0;
    h0 *= head_scale;
    h1 *= head_scale;
    w0 *= head_scale;
    wN *= head_scale;
  }

  const double Nd = static_cast<double>(N);
  const double Z = h0 + wN + t0;
  const double inv_Z = 1.0 / Z;
  out.p0 = w0 * inv_Z;
  if (unbounded) {
    out.p_block = 0.0;
    out.not_blocked = 1.0;
  } else {
    out.p_block = w_top * inv_Z;
    out.not_blocked = (Q == 0.0 ? h0 : h0 + wN + t0_excl_top) * inv_Z;
  }
  out.in_service = (h1 + Nd * (wN + t0)) * inv_Z;
  out.in_queue = t1 * inv_Z;
  out.in_system = out.in_service + out.in_queue;
  return kOk;
}

}  // namespace inferplan

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
// reused by every evaluation of a search. Non-owning view over buffers of N
// (mu, inv_mu) and N + 1 (log prefix) doubles.
struct ChainView {
  std::int64_t N = 1;
  double Q = 0.0;                  // queue slots, integer-valued, may be +inf
  const double* mu = nullptr;      // mu[b-1] = b / tau(b), per ms, b = 1..N
  const double* inv_mu = nullptr;  // 1 / mu
  bool monotone = true;            // mu nondecreasing: weights unimodal in n
  // S[n] = sum_{i<=n} log mu(i), filled on demand: only non-monotone chains and
  // evaluations whose negligible terms were skipped need it, and N logarithms
  // would otherwise dominate a sizing search. *log_filled entries are valid;
  // views of the same buffers (prefixes, in optimal concurrency) share them.
  double* log_prefix = nullptr;
  std::int64_t* log_filled = nullptr;

  double max_rate() const { return mu[N - 1]; }  // per ms
  double log_max_rate() const { return -std::log(inv_mu[N - 1]); }

  double log_prefix_at(std::int64_t n) const {
    std::int64_t k = *log_filled;
    if (k <= n) {
      if (k == 0) {
        log_prefix[0] = 0.0;
        k = 1;
      }
      for (; k <= n; ++k) log_prefix[k] = log_prefix[k - 1] + std::log(mu[k - 1]);
      *log_filled = k;
    }
    return log_prefix[n];
  }
};

// Fills mu and 1/mu from tau (ms); returns whether mu is nondecreasing.
inline bool prepare_chain(std::int64_t N, const double* tau, double* mu, double* inv_mu) {
  bool monotone = true;
  for (std::int64_t b = 1; b <= N; ++b) {
    mu[b - 1] = static_cast<double>(b) / tau[b - 1];
    inv_mu[b - 1] = tau[b - 1] / static_cast<double>(b);
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
  double p_full = 0.0;       // p(N): the batch is full and nobody waits
  double log_r = 0.0;        // log(lam / mu(N)), the ratio of the geometric tail
  // log p(N) where p(N) itself underflows (a long queue far above saturation);
  // NaN when log(p_full) is exact.
  double log_p_full_deep = std::numeric_limits<double>::quiet_NaN();

  double log_p_full() const {
    return std::isnan(log_p_full_deep) ? std::log(p_full) : log_p_full_deep;
  }
};

namespace detail {

// A term is dropped once the terms still to come (bounded by a geometric
// series, as the ratios only shrink away from the mode of a monotone chain)
// are below this fraction of the sums so far, weighted by their largest index.
constexpr double kTruncation = 1e-18;

}  // namespace detail

// Evaluates the chain at arrival rate lam (per ms, >= 0). Returns kUnstable
// for an unbounded queue at or above saturation.
inline Status evaluate_chain(const ChainView& c, double lam, Moments& out) {
  out = Moments{};
  if (lam == 0.0) return kOk;
  const std::int64_t N = c.N;
  const double* mu = c.mu;
  const double* inv_mu = c.inv_mu;
  const double ll = std::log(lam);
  const double lr = ll - c.log_max_rate();  // log(lam / mu(N))
  const bool unbounded = std::isinf(c.Q);
  if (unbounded && lr >= 0.0) return kUnstable;
  const double Nd = static_cast<double>(N);

  // Mode of the head weights log w(n) = n ll - S[n].
  std::int64_t mode = 0;
  if (c.monotone) {
    mode = std::lower_bound(mu, mu + N, lam) - mu;  // weights rise while mu(n) < lam
  } else {
    double best = 0.0;
    c.log_prefix_at(N);
    const double* S = c.log_prefix;
    for (std::int64_t n = 1; n <= N; ++n) {
      double v = static_cast<double>(n) * ll - S[n];
      if (v > best) {
        best = v;
        mode = n;
      }
    }
  }
  // log w(mode) - log w(0), needed only when a loop skipped negligible terms.
  auto log_mode = [&]() { return static_cast<double>(mode) * ll - c.log_prefix_at(mode); };

  // Head sums over n < N relative to the mode weight (1); w(N) kept apart.
  // Down: w(n-1) = w(n) mu(n) / lam. Up: w(n) = w(n-1) lam / mu(n).
  double h0a = mode < N ? 1.0 : 0.0, h0b = 0.0;
  double h1a = mode < N ? static_cast<double>(mode) : 0.0, h1b = 0.0;
  double w0 = mode == 0 ? 1.0 : 0.0, wN = mode == N ? 1.0 : 0.0;
  bool have_w0 = mode == 0, have_wN = mode == N;
  const double inv_lam = 1.0 / lam;
  {
    double w = 1.0;
    std::int64_t j = mode - 1;  // next index to compute
    double jd = static_cast<double>(j);
    while (j >= 3) {
      const double r0 = mu[j] * inv_lam, r1 = mu[j - 1] * inv_lam;
      const double r2 = mu[j - 2] * inv_lam, r3 = mu[j - 3] * inv_lam;
      const double p01 = r0 * r1, p012 = p01 * r2, p0123 = p012 * r3;
      const double a = w * r0, b = w * p01, cc = w * p012, d = w * p0123;
      h0a += a + b;
      h0b += cc + d;
      h1a += jd * a + (jd - 1.0) * b;
      h1b += (jd - 2.0) * cc + (jd - 3.0) * d;
      w = d;
      j -= 4;
      jd -= 4.0;
      // Ratios shrink downwards: the rest is below w r3 / (1 - r3).
      if (c.monotone && r3 < 1.0 &&
          w * r3 * (1.0 + jd) < detail::kTruncation * (1.0 - r3) * (h0a + h0b) &&
          jd * w * r3 < detail::kTruncation * (1.0 - r3) * (h1a + h1b))
        break;
    }
    if (j < 3) {
      for (; j >= 0; --j, jd -= 1.0) {
        w *= mu[j] * inv_lam;
        h0a += w;
        h1a += jd * w;
      }
      w0 = w;
      have_w0 = true;
    }
  }
  {
    double w = 1.0;
    std::int64_t n = mode + 1;  // next index to compute (n < N)
    double nd = static_cast<double>(n);
    while (n + 3 < N) {
      const double r0 = lam * inv_mu[n - 1], r1 = lam * inv_mu[n];
      const double r2 = lam * inv_mu[n + 1], r3 = lam * inv_mu[n + 2];
      const double p01 = r0 * r1, p012 = p01 * r2, p0123 = p012 * r3;
      const double a = w * r0, b = w * p01, cc = w * p012, d = w * p0123;
      h0a += a + b;
      h0b += cc + d;
      h1a += nd * a + (nd + 1.0) * b;
      h1b += (nd + 2.0) * cc + (nd + 3.0) * d;
      w = d;
      n += 4;
      nd += 4.0;
      // Ratios shrink upwards: the rest is below w r3 / (1 - r3), indices <= N.
      if (c.monotone && r3 < 1.0 &&
          w * r3 * Nd < detail::kTruncation * (1.0 - r3) * (h1a + h1b) &&
          w * r3 < detail::kTruncation * (1.0 - r3) * (h0a + h0b))
        break;
    }
    if (n + 3 >= N) {
      for (; n < N; ++n, nd += 1.0) {
        w *= lam * inv_mu[n - 1];
        h0a += w;
        h1a += nd * w;
      }
      if (mode < N) {
        wN = w * lam * inv_mu[N - 1];
        have_wN = true;
      }
    }
  }
  double h0 = h0a + h0b, h1 = h1a + h1b;
  if (!have_w0) w0 = std::exp(-log_mode());
  double log_wN = std::numeric_limits<double>::quiet_NaN();  // log w(N) - log w(mode)
  if (!have_wN) {
    log_wN = Nd * ll - c.log_prefix_at(N) - log_mode();
    wN = std::exp(log_wN);
  }

  // Tail n = N+1..K: w(N) r^j, j = 1..Q, r = lam / mu(N).
  double t0 = 0.0, t1 = 0.0, t0_excl_top = 0.0, w_top = 0.0;
  const double Q = c.Q;
  if (Q == 0.0) {
    w_top = wN;
  } else if (lr < 0.0) {
    const GeoTail g(-lr, Q);  // x = r
    t0 = wN * g.x * g.g0;
    t1 = t0 * (g.mean + 1.0);
    if (!unbounded) {
      w_top = wN * g.xn;
      t0_excl_top = wN * g.x * g.g0_less_last();
    }
  } else {
    // Growing tail: sum from the top state K down, ratio u = 1/r.
    if (std::isnan(log_wN)) log_wN = std::log(wN);
    const double log_top = log_wN + Q * lr;
    double top = 1.0;
    const GeoTail g(lr, Q);  // x = u
    if (log_top > 0.0) {
      const double head_scale = std::exp(-log_top);
      h0 *= head_scale;
      h1 *= head_scale;
      w0 *= head_scale;
      wN *= head_scale;
      out.log_p_full_deep = log_wN - log_top;  // normalised below
    } else {
      top = std::exp(log_top);
    }
    t0 = top * g.g0;
    t1 = t0 * (Q - g.mean);
    w_top = top;
    t0_excl_top = top * g.x * g.g0_less_last();
  }

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
  out.p_full = wN * inv_Z;
  if (!std::isnan(out.log_p_full_deep)) out.log_p_full_deep -= std::log(Z);
  out.log_r = lr;
  return kOk;
}

}  // namespace inferplan

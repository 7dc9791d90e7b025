// Steady state of the birth-death chain of one replica (docs/model.md section 1).
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
#include <cstring>
#include <limits>

#include "geometric.hpp"
#include "status.hpp"

namespace inferplan {

// Rate-independent part of a chain: computed once per configuration and
// reused by every evaluation of a search. Non-owning view over buffers of N
// (inv_mu) and N + 1 (log prefix) doubles.
struct ChainView {
  std::int64_t N = 1;
  double Q = 0.0;                  // queue slots, integer-valued, may be +inf
  const double* inv_mu = nullptr;  // 1 / mu(b) = tau(b) / b, ms, b = 1..N
  bool monotone = true;            // mu nondecreasing: weights unimodal in n
  double max_ratio_per_rate = 0.0; // max_b 1/mu(b): bounds every weight ratio lam / mu(b)
  // Only chains with a non-monotone mu need S[n] = sum_{i<=n} log mu(i); it is
  // filled on demand. *log_filled entries are valid; views of the same buffers
  // (prefixes, in optimal concurrency) share them.
  double* log_prefix = nullptr;
  std::int64_t* log_filled = nullptr;

  double max_rate() const { return 1.0 / inv_mu[N - 1]; }  // mu(N), per ms

  double log_prefix_at(std::int64_t n) const {
    std::int64_t k = *log_filled;
    if (k <= n) {
      if (k == 0) {
        log_prefix[0] = 0.0;
        k = 1;
      }
      for (; k <= n; ++k) log_prefix[k] = log_prefix[k - 1] - std::log(inv_mu[k - 1]);
      *log_filled = k;
    }
    return log_prefix[n];
  }
};

typedef double Lanes __attribute__((vector_size(32)));
typedef std::int64_t LaneIndex __attribute__((vector_size(32)));

inline double lane_sum(Lanes v) { return (v[0] + v[1]) + (v[2] + v[3]); }

// Fills 1/mu from tau (ms) and the reciprocals 1/b; returns whether mu is
// nondecreasing (1/mu nonincreasing) and the largest 1/mu. The scans run four
// lanes at a time (a maximum and a count of rises are exact in any order).
inline bool prepare_chain(std::int64_t N, const double* __restrict tau,
                          const double* __restrict inv_index, double* __restrict inv_mu,
                          double* max_inv_mu) {
  for (std::int64_t b = 0; b < N; ++b) inv_mu[b] = tau[b] * inv_index[b];
  Lanes top = {0.0, 0.0, 0.0, 0.0};
  LaneIndex rises = {0, 0, 0, 0};  // -1 per lane and rise
  std::int64_t b = 0;
  for (; b + 5 <= N; b += 4) {
    Lanes v, next;
    std::memcpy(&v, inv_mu + b, sizeof v);
    std::memcpy(&next, inv_mu + b + 1, sizeof next);
    top = v > top ? v : top;
    rises += next > v;
  }
  double largest = std::max(std::max(top[0], top[1]), std::max(top[2], top[3]));
  std::int64_t rose = rises[0] | rises[1] | rises[2] | rises[3];
  for (; b < N; ++b) {
    largest = inv_mu[b] > largest ? inv_mu[b] : largest;
    if (b + 1 < N) rose |= inv_mu[b + 1] > inv_mu[b];
  }
  *max_inv_mu = largest;
  return rose == 0;
}

// 1/b for b = 1..n, so that preparing a row multiplies instead of dividing.
inline void fill_reciprocals(std::int64_t n, double* inv_index) {
  for (std::int64_t b = 0; b < n; ++b) inv_index[b] = 1.0 / static_cast<double>(b + 1);
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
  // Slopes with respect to log(lam), filled by evaluate_chain<true> (sizing's
  // Newton steps): for a product-form chain d E[g]/d log(lam) = Cov(g, n).
  double in_service_slope = 0.0;  // dB
  double in_queue_slope = 0.0;    // d(L - B)
  double p_block_slope = 0.0;     // d p_block
  // Second derivatives in log(lam), for sizing's Halley steps: with
  // d E[g] = Cov(g, n) once more, d^2 E[g] = E[g (n - L)^2] - E[g] Var(n).
  double var_n = 0.0;             // Var(n)
  double in_service_curv = 0.0;   // d^2 B
  double in_queue_curv = 0.0;     // d^2 (L - B)
  double p_block_curv = 0.0;      // d^2 p_block

  double log_p_full() const {
    return std::isnan(log_p_full_deep) ? std::log(p_full) : log_p_full_deep;
  }
};

namespace detail {

// A head term is dropped once the terms still to come (bounded by a geometric
// series: along a monotone chain the ratios only shrink after the mode) are
// below this fraction of the sums so far, weighted by their largest index.
constexpr double kTruncation = 1e-18;
// Running weights are kept below 2^600 by exact power-of-two rescaling.
constexpr double kRescaleAbove = 0x1p600;
constexpr double kRescale = 0x1p-600;
constexpr double kLogRescale = -600.0 * 0.69314718055994530942;
// Ratios above this could overflow a block of four before the rescale check.
constexpr double kMaxBlockRatio = 0x1p100;
constexpr double kSaturationUlps = 4.0 * 2.220446049250313e-16;
constexpr double kMaxScalarRatio = 0x1p400;
constexpr double kHuge = std::numeric_limits<double>::max();
// Beyond a tail ratio of e^40 a finite chain sits in its top states to double
// precision: p(n < K) ~ 1/r < 5e-18, so the throughput is mu(N) (see latency()).
constexpr double kDeepSaturationLogR = 40.0;

// Head sums relative to a scale: true value = stored value * exp(log_scale).
struct Head {
  double h0 = 0.0;  // sum_{n<N} w(n)
  double h1 = 0.0;  // sum_{n<N} n w(n)
  double h2 = 0.0;  // sum_{n<N} n^2 w(n), only with slopes
  double h3 = 0.0;  // sum_{n<N} n^3 w(n), only with slopes
  double w0 = 0.0;  // w(0)
  double wN = 0.0;  // w(N)
  double log_wN = std::numeric_limits<double>::quiet_NaN();  // log of stored w(N) if known
  double log_scale = 0.0;
};

// Monotone chains: one pass up from w(0) = 1, w(n) = w(n-1) lam / mu(n). The
// weights rise to the mode and then fall, so rescaling down while they rise
// keeps everything finite and what underflows later is negligible. Four terms
// share one multiply on the critical path: w(n+4) = w(n) (r0 r1 r2 r3), the
// partial products computed off it.
// Four consecutive terms per step, one per lane of a vector of four doubles
// (AVX where the build targets it, pairs of SSE2 registers otherwise; the
// numbers are the same). Lane k holds the term n+k:
//   ratios  R = lam [1/mu(n) .. 1/mu(n+3)]
//   prefix  P = [r0, r0 r1, r0 (r1 r2), (r0 r1)(r2 r3)]  (two shift-and-multiply steps)
//   terms   T = w P,   H0 += T,   H1 += n T,   H2 += n (n T)
// and the next block starts from w P[3], so one multiply is on the critical path.
template <bool kSlopes>
inline Head head_monotone(const ChainView& c, double lam) {
  const std::int64_t N = c.N;
  const double* inv_mu = c.inv_mu;
  const double Nd = static_cast<double>(N);
  Head h;
  const Lanes one = {1.0, 1.0, 1.0, 1.0};
  Lanes H0 = {0.0, 0.0, 0.0, 0.0}, H1 = H0, H2 = H0, H3 = H0;
  double h0 = 1.0, h1 = 0.0, h2 = 0.0, h3 = 0.0, w = 1.0;  // the scalar part: n = 0 and the rest
  std::int64_t n = 1;  // next index (n < N in the loop)
  Lanes idx = {1.0, 2.0, 3.0, 4.0};
  auto rescale = [&]() {  // exact: a power of two
    w *= kRescale;
    h0 *= kRescale;
    h1 *= kRescale;
    h2 *= kRescale;
    h3 *= kRescale;
    H0 *= kRescale;
    H1 *= kRescale;
    H2 *= kRescale;
    H3 *= kRescale;
    h.log_scale -= kLogRescale;
  };
  const bool blocks = lam * c.max_ratio_per_rate < kMaxBlockRatio;
  while (blocks && n + 3 < N) {
    Lanes R;
    std::memcpy(&R, inv_mu + (n - 1), sizeof R);
    R *= lam;
    const Lanes S1 = R * __builtin_shuffle(one, R, LaneIndex{0, 4, 5, 6});
    const Lanes S2 = S1 * __builtin_shuffle(one, S1, LaneIndex{0, 1, 4, 5});
    // w(n+4) = w S2[3] is T[3]: the same product taken in a scalar register, so
    // that the next block does not wait for a lane extract and broadcast.
    const double block = S2[3];
    const Lanes T = w * S2;
    const Lanes NT = idx * T;
    H0 += T;
    H1 += NT;
    if (kSlopes) {
      const Lanes NNT = idx * NT;
      H2 += NNT;
      H3 += idx * NNT;
    }
    w *= block;
    n += 4;
    idx += 4.0;
    const double r3 = R[3];
    if (w > kRescaleAbove) {
      rescale();
    } else if (r3 < 1.0 && (n & 15) == 1) {  // checked every fourth block
      // Ratios shrink from here on: the rest is below w r3 / (1 - r3).
      const double bound = w * r3;
      const double room = kTruncation * (1.0 - r3);
      if (bound * Nd < room * (h1 + lane_sum(H1)) && bound < room * (h0 + lane_sum(H0))) {
        // The rest of the head is negligible; w(N) is still needed exactly.
        for (; n < N; ++n) w *= lam * inv_mu[n - 1];
        break;
      }
    }
  }
  h0 += lane_sum(H0);
  h1 += lane_sum(H1);
  h2 += lane_sum(H2);
  h3 += lane_sum(H3);
  for (double nd = static_cast<double>(n); n < N; ++n, nd += 1.0) {
    w *= lam * inv_mu[n - 1];
    h0 += w;
    h1 += nd * w;
    if (kSlopes) {
      const double nnw = nd * (nd * w);
      h2 += nnw;
      h3 += nd * nnw;
    }
    if (w > kRescaleAbove) rescale();
  }
  h.h0 = h0;
  h.h1 = h1;
  h.h2 = h2;
  h.h3 = h3;
  h.wN = w * lam * inv_mu[N - 1];
  h.w0 = h.log_scale == 0.0 ? 1.0 : std::exp(-h.log_scale);
  return h;
}

// Any chain: log w(n) = n log(lam) - S[n] relative to its maximum.
inline Head head_general(const ChainView& c, double lam) {
  const std::int64_t N = c.N;
  const double ll = std::log(lam);
  c.log_prefix_at(N);
  const double* S = c.log_prefix;
  double top = 0.0;
  for (std::int64_t n = 1; n <= N; ++n) top = std::max(top, static_cast<double>(n) * ll - S[n]);
  Head h;
  for (std::int64_t n = 0; n < N; ++n) {
    const double w = std::exp(static_cast<double>(n) * ll - S[n] - top);
    h.h0 += w;
    h.h1 += static_cast<double>(n) * w;
    h.h2 += static_cast<double>(n) * static_cast<double>(n) * w;
    h.h3 += static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n) * w;
  }
  h.w0 = std::exp(-top);
  h.log_wN = static_cast<double>(N) * ll - S[N] - top;
  h.wN = std::exp(h.log_wN);
  h.log_scale = top;
  return h;
}

}  // namespace detail

// Evaluates the chain at arrival rate lam (per ms, >= 0). Returns kUnstable
// for an unbounded queue at or above saturation. kSlopes adds the moments'
// derivatives with respect to log(lam).
template <bool kSlopes = false>
inline Status evaluate_chain(const ChainView& c, double lam, Moments& out) {
  out = Moments{};
  if (lam == 0.0) return kOk;
  const std::int64_t N = c.N;
  const double r = lam * c.inv_mu[N - 1];  // lam / mu(N), the tail's ratio
  // log(r), also where r itself overflows (a load beyond 1e308 times saturation).
  const double lr = r < detail::kHuge ? std::log(r) : std::log(lam) + std::log(c.inv_mu[N - 1]);
  const bool unbounded = std::isinf(c.Q);
  // At saturation to rounding (lam / mu(N) within a few ulps of 1) there is no
  // steady state either: the mean queue would exceed 1e15.
  if (unbounded && lr >= -detail::kSaturationUlps) return kUnstable;
  const double Nd = static_cast<double>(N);
  // The recurrence of head_monotone takes ratios lam / mu(n) below 2^400 (the
  // rescaling keeps its weights below 2^600); above that, logarithms.
  detail::Head hd = c.monotone && lam * c.max_ratio_per_rate < detail::kMaxScalarRatio
                        ? detail::head_monotone<kSlopes>(c, lam)
                        : detail::head_general(c, lam);
  double h0 = hd.h0, h1 = hd.h1, h2 = hd.h2, h3 = hd.h3, w0 = hd.w0, wN = hd.wN;

  // Tail n = N+1..K: w(N) r^j, j = 1..Q, r = lam / mu(N); t_k = sum j^k w.
  double t0 = 0.0, t1 = 0.0, t2 = 0.0, t3 = 0.0, t0_excl_top = 0.0, w_top = 0.0;
  const double Q = c.Q;
  if (Q == 0.0) {
    w_top = wN;
  } else if (lr < 0.0) {
    const GeoTail g(r, -lr, Q);  // x = r
    t0 = wN * g.x * g.g0;
    t1 = t0 * (g.mean + 1.0);
    if (kSlopes) {  // raw moments of j = i + 1 from the cumulants of i
      const double mu = g.mean + 1.0;
      t2 = t0 * (g.var + mu * mu);
      t3 = t0 * (g.skew + mu * (3.0 * g.var + mu * mu));
    }
    if (!unbounded) {
      w_top = wN * g.xn;
      t0_excl_top = wN * g.x * g.g0_less_last();
    }
  } else {
    // Growing tail: sum from the top state K down, ratio u = 1/r.
    // w(N) is finite here (the weights rise to N or were taken in logs).
    const double log_wN = std::isnan(hd.log_wN) ? std::log(wN) : hd.log_wN;
    const double log_top = log_wN + Q * lr;
    double top = 1.0;
    const GeoTail g(1.0 / r, lr, Q);  // x = u
    if (log_top > 0.0) {
      const double head_scale = std::exp(-log_top);
      h0 *= head_scale;
      h1 *= head_scale;
      h2 *= head_scale;
      h3 *= head_scale;
      w0 *= head_scale;
      wN *= head_scale;
      out.log_p_full_deep = log_wN - log_top;  // normalised below
    } else {
      top = std::exp(log_top);
    }
    t0 = top * g.g0;
    t1 = t0 * (Q - g.mean);
    if (kSlopes) {  // j = Q - i: the third cumulant changes sign
      const double mu = Q - g.mean;
      t2 = t0 * (g.var + mu * mu);
      t3 = t0 * (mu * (3.0 * g.var + mu * mu) - g.skew);
    }
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
  if (kSlopes) {
    const double L = out.in_system, B = out.in_service, Lq = out.in_queue;
    // E[n b], E[n q] and E[n^2 b], E[n^2 q] for b = min(n, N), q = (n - N)^+,
    // over head, state N and tail (n = N + j there).
    const double n_by_batch = (h2 + Nd * Nd * wN + Nd * (Nd * t0 + t1)) * inv_Z;
    const double n_by_queue = (Nd * t1 + t2) * inv_Z;
    const double nn_by_batch =
        (h3 + Nd * (Nd * Nd * wN + Nd * (Nd * t0 + 2.0 * t1) + t2)) * inv_Z;
    const double nn_by_queue = (Nd * (Nd * t1 + 2.0 * t2) + t3) * inv_Z;
    const double n2 = n_by_batch + n_by_queue;  // E[n^2]
    const double var = n2 - L * L;
    out.var_n = var;
    out.in_service_slope = n_by_batch - L * B;
    out.in_queue_slope = n_by_queue - L * Lq;
    // E[g (n - L)^2] - E[g] Var(n) = E[g n^2] - 2 L E[g n] + E[g] (2 L^2 - E[n^2])
    const double c2 = 2.0 * L * L - n2;
    out.in_service_curv = nn_by_batch - 2.0 * L * n_by_batch + B * c2;
    out.in_queue_curv = nn_by_queue - 2.0 * L * n_by_queue + Lq * c2;
    if (unbounded) {
      out.p_block_slope = out.p_block_curv = 0.0;
    } else {
      const double top = Nd + Q - L;
      out.p_block_slope = out.p_block * top;
      out.p_block_curv = out.p_block * (top * top - var);
    }
  }
  return kOk;
}

}  // namespace inferplan

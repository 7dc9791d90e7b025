// A replica fed by a renewal arrival process (docs/model.md 6): the exact
// level-dependent quasi-birth-death (QBD) solve, the metrics read off it, the
// wait and TTFT quantiles, and sizing under arrival_cv.
//
// State (n, j): n requests in the replica, j the phase of the gap in progress
// (phasetype.hpp). The up block t alpha has rank one, so pi(n+1) = s(n) v(n) with
// the scalar s(n) = pi(n) t; the row vectors v(n) follow from the top down (one
// m x m solve per level), the levels from the bottom up in logs. With an unbounded
// queue the levels above N are geometric of ratio sigma, the root in (0, 1) of
// sigma = A*(mu(N)(1 - sigma)). python/inferplan/phasetype.py and arrivals.py are
// the NumPy reference of every step here (the same operations, in the same order
// where it matters); the tests compare the two.
//
// arrival_cv == 1 routes to the birth-death chain (analyze_admitted,
// size_admitted, the Poisson quantiles): the same bits as the Poisson calls.
#pragma once

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "admission.hpp"
#include "batch.hpp"
#include "phasetype.hpp"
#include "quantile.hpp"
#include "sizing.hpp"

namespace inferplan {

// Largest max_batch + max_queue of the finite-queue solve (one solve per level).
constexpr std::int64_t kMaxQbdLevels = 400000;

// Work of one solve, in the units of kMaxWork (about a few ns each): a level costs about
// 4m for an Erlang mixture (one forward pass) and m^3 / 16 plus a constant otherwise
// (a dense m x m solve; m <= 2 there).
inline double qbd_work(double levels, int m, bool erlang) {
  const double md = static_cast<double>(m);
  return levels * (8.0 + (erlang && m > 2 ? 4.0 * md : md * md * md / 16.0));
}

// The stationary law: p[n] the time-average probability of n requests, pa[n] the
// probability that an arrival finds n, n = 0..top. With an unbounded queue the levels
// N + j (j >= 1) are geometric: p[N+j] = tail_p sigma^(j-1), pa[N+j] = pa[N] sigma^j.
struct QbdSolution {
  std::vector<double> p, pa;
  double sigma = std::numeric_limits<double>::quiet_NaN();
  double tail_p = 0.0;
  std::int64_t N = 0;
  double Q = 0.0;

  std::int64_t top() const { return static_cast<std::int64_t>(p.size()) - 1; }
  double p_block() const { return std::isinf(Q) ? 0.0 : pa.back(); }
};

namespace detail {

// The root in (0, 1) of sigma = A*(mu (1 - sigma)) for gaps of rate lam; 1 when there
// is none below 1. Newton from 0 (f(s) = A*(mu(1-s)) - s is convex, f(0) > 0).
inline double qbd_sigma(const PhaseType& ph, double lam, double mu) {
  const int m = ph.m;
  const bool fast = ph.erlang && m > 2;  // the closed-form transform below
  std::vector<double> S(fast ? 0 : ph.S.size()), t(static_cast<std::size_t>(m), 0.0);
  for (std::size_t i = 0; i < S.size(); ++i) S[i] = lam * ph.S[i];
  for (int i = 0; i < m && !fast; ++i) {
    double s = 0.0;
    for (int j = 0; j < m; ++j) s += S[i * m + j];
    t[i] = -s;
  }
  std::vector<double> A(S.size()), y(static_cast<std::size_t>(m)),
      z(static_cast<std::size_t>(m));
  auto lst_and_slope = [&](double x, double* a_star, double* a_slope) {
    if (ph.erlang && m > 2) {
      // alpha_j starts j phases in: A*(x) = sum_j alpha_j z^(m-j), z = theta / (theta + x),
      // and alpha (xI - S)^-2 t = -dA*/dx = sum_j alpha_j (m-j) z^(m-j) / (theta + x).
      const double theta = lam * ph.nu;
      const double z = theta / (theta + x);
      const double zk1 = std::pow(z, m - 1), zk = zk1 * z;
      *a_star = ph.alpha[0] * zk + ph.alpha[1] * zk1;
      *a_slope = (ph.alpha[0] * m * zk + ph.alpha[1] * (m - 1) * zk1) / (theta + x);
      return;
    }
    if (m == 2) {  // Cramer's rule, as the reference
      const double s00 = S[0], s01 = S[1], s10 = S[2], s11 = S[3];
      auto resolvent = [&](double b0, double b1, double* o0, double* o1) {
        const double m00 = x - s00, m01 = -s01, m10 = -s10, m11 = x - s11;
        const double det = m00 * m11 - m01 * m10;
        *o0 = (m11 * b0 - m01 * b1) / det;
        *o1 = (m00 * b1 - m10 * b0) / det;
      };
      double y0, y1, z0, z1;
      resolvent(t[0], t[1], &y0, &y1);
      resolvent(y0, y1, &z0, &z1);
      *a_star = ph.alpha[0] * y0 + ph.alpha[1] * y1;
      *a_slope = ph.alpha[0] * z0 + ph.alpha[1] * z1;
      return;
    }
    auto fill = [&]() {
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < m; ++j) A[i * m + j] = (i == j ? x : 0.0) - S[i * m + j];
    };
    fill();
    y = t;
    dense_solve(m, A.data(), y.data());
    fill();
    z = y;
    dense_solve(m, A.data(), z.data());
    double a = 0.0, b = 0.0;
    for (int i = 0; i < m; ++i) {
      a += ph.alpha[i] * y[i];
      b += ph.alpha[i] * z[i];
    }
    *a_star = a;
    *a_slope = b;
  };
  double sigma = 0.0, last_step = std::numeric_limits<double>::infinity();
  for (int it = 0; it < 200; ++it) {
    const double x = mu * (1.0 - sigma);
    double a_star, a_slope;
    lst_and_slope(x, &a_star, &a_slope);
    const double f = a_star - sigma;
    const double df = mu * a_slope - 1.0;
    if (df >= 0.0) return 1.0;
    const double next = sigma - f / df;
    if (next >= 1.0) return 1.0;
    const double step = std::fabs(next - sigma);
    if (step <= 1e-15 * std::max(next, 1e-300)) return next;
    // Newton converges monotonically: a step that does not shrink is rounding noise.
    if (step >= last_step) return next;
    last_step = step;
    sigma = next;
  }
  return sigma;
}

}  // namespace detail

// The stationary law of a replica with completion rates mu[b-1] (per ms) at b = 1..N in
// service, a queue of Q (inf allowed), fed by a renewal process of rate lam (per ms, > 0)
// with gap law ph. kUnstable when the queue is unbounded and lam >= mu(N);
// kBadArrivalLevels beyond kMaxQbdLevels levels or kMaxWork.
inline Status qbd_solve(const double* mu, std::int64_t N, double Q, double lam,
                        const PhaseType& ph, QbdSolution& sol) {
  const int m = ph.m;
  // Erlang mixtures of more than two phases use their structure: no m x m matrix at all.
  const bool fast = ph.erlang && m > 2;
  const std::size_t mm = fast ? 0 : static_cast<std::size_t>(m) * m;
  const bool infinite = std::isinf(Q);
  const double mu_N = mu[N - 1];
  std::vector<double> S(mm), t(static_cast<std::size_t>(m), 0.0), G(mm), A(mm),
      v_top(static_cast<std::size_t>(m), 0.0), d(static_cast<std::size_t>(m), 0.0),
      v(static_cast<std::size_t>(m)), H(mm);
  if (fast) {
    t[m - 1] = lam * ph.nu;  // the exit rates: only the last phase leaves
  } else {
    for (std::size_t i = 0; i < mm; ++i) S[i] = lam * ph.S[i];
    for (int i = 0; i < m; ++i) {
      double s = 0.0;
      for (int j = 0; j < m; ++j) s += S[i * m + j];
      t[i] = -s;
    }
  }
  const double* alpha = ph.alpha.data();
  std::int64_t top;
  double sigma = std::numeric_limits<double>::quiet_NaN();
  if (infinite) {
    if (lam >= mu_N) return kUnstable;
    top = N;
  } else {
    if (Q > static_cast<double>(kMaxQbdLevels)) return kBadArrivalLevels;
    top = N + static_cast<std::int64_t>(Q);
    if (top > kMaxQbdLevels) return kBadArrivalLevels;
  }
  if (qbd_work(static_cast<double>(top + 1), m, ph.erlang) > kMaxWork) return kBadArrivalLevels;
  if (infinite) {
    sigma = m == 1 ? lam / mu_N : detail::qbd_sigma(ph, lam, mu_N);
    if (!(sigma < 1.0)) return kUnstable;
    // v_top (mu_N (1 - sigma) I - S) = alpha
    if (fast) {  // lower bidiagonal after transposition: one forward pass
      const double nu = lam * ph.nu, diag = mu_N * (1.0 - sigma) + nu;
      v_top[0] = alpha[0] / diag;
      for (int j = 1; j < m; ++j) v_top[j] = (alpha[j] + nu * v_top[j - 1]) / diag;
    } else {
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < m; ++j)
          A[i * m + j] = (i == j ? mu_N * (1.0 - sigma) : 0.0) - S[j * m + i];
      std::copy(alpha, alpha + m, v_top.begin());
      detail::dense_solve(m, A.data(), v_top.data());
    }
  }
  // G = -S - t alpha (zero row sums, 0 for Poisson arrivals).
  for (std::size_t i = 0; i < mm / m; ++i)
    for (int j = 0; j < m; ++j) G[i * m + j] = -S[i * m + j] - t[i] * alpha[j];
  if (infinite && fast) {
    // v G = -v S - (v t) alpha, with (-v S)_j = nu (v_j - v_(j-1)).
    const double nu = lam * ph.nu, vt = nu * v_top[m - 1];
    for (int j = 0; j < m; ++j)
      d[j] = (nu * (v_top[j] - (j > 0 ? v_top[j - 1] : 0.0)) - vt * alpha[j]) / (1.0 - sigma);
  } else if (infinite) {
    for (int j = 0; j < m; ++j) {
      double s = 0.0;
      for (int i = 0; i < m; ++i) s += v_top[i] * G[i * m + j];
      d[j] = s / (1.0 - sigma);
    }
  }
  // Per level n = 1..top: log(v(n-1) t) and log(v(n-1) 1).
  const std::size_t levels = static_cast<std::size_t>(top);
  std::vector<double> log_vt(levels), log_v1(levels);
  auto rate_at = [&](std::int64_t n) { return mu[std::min(n, N) - 1]; };
  if (m == 2) {
    const double g00 = G[0], g01 = G[1], g10 = G[2], g11 = G[3];
    const double t0 = t[0], t1 = t[1], a0 = alpha[0], a1 = alpha[1];
    double d0 = d[0], d1 = d[1];
    for (std::int64_t n = top; n >= 1; --n) {
      const double c = 0.5 * (d0 - d1);
      d0 = c;
      d1 = -c;
      const double h00 = g00 + t0 * d0, h01 = g01 + t0 * d1;
      const double h10 = g10 + t1 * d0, h11 = g11 + t1 * d1;
      const double r = rate_at(n);
      const double m00 = r + h00, m11 = r + h11;
      const double det = m00 * m11 - h01 * h10;
      const double v0 = (a0 * m11 - a1 * h10) / det;
      const double v1 = (a1 * m00 - a0 * h01) / det;
      log_vt[n - 1] = std::log(v0 * t0 + v1 * t1);
      log_v1[n - 1] = std::log(v0 + v1);
      d0 = v0 * h00 + v1 * h10;
      d1 = v0 * h01 + v1 * h11;
    }
    d[0] = d0;
    d[1] = d1;
  } else if (ph.erlang) {
    // M = r I - S + t u with u = d - alpha: upper bidiagonal plus a rank-one term in the
    // last row (t = nu e_l). v M = alpha by one forward pass, v_j = a_j + b_j v_l.
    const int l = m - 1;
    const double nu = lam * ph.nu;
    std::vector<double> a(static_cast<std::size_t>(m)), b(static_cast<std::size_t>(m)),
        u(static_cast<std::size_t>(m));
    for (std::int64_t n = top; n >= 1; --n) {
      double mean = 0.0;
      for (int j = 0; j < m; ++j) mean += d[j];
      mean /= m;
      for (int j = 0; j < m; ++j) u[j] = (d[j] - mean) - alpha[j];
      const double diag = rate_at(n) + nu;
      const double inv = 1.0 / diag, w = nu * inv;  // one division per level
      a[0] = alpha[0] * inv;
      b[0] = -u[0] * w;
      for (int j = 1; j < l; ++j) {
        a[j] = alpha[j] * inv + w * a[j - 1];
        b[j] = w * (b[j - 1] - u[j]);
      }
      const double vl = (alpha[l] + nu * a[l - 1]) / (diag + nu * u[l] - nu * b[l - 1]);
      double v1 = vl;
      for (int j = 0; j < l; ++j) {
        v[j] = a[j] + b[j] * vl;
        v1 += v[j];
      }
      v[l] = vl;
      const double vt = nu * vl;
      log_vt[n - 1] = std::log(vt);
      log_v1[n - 1] = std::log(v1);
      // d = v H = -v S + (v t) u
      d[0] = nu * v[0] + vt * u[0];
      for (int j = 1; j < m; ++j) d[j] = nu * (v[j] - v[j - 1]) + vt * u[j];
    }
  } else {
    for (std::int64_t n = top; n >= 1; --n) {
      double mean = 0.0;
      for (int j = 0; j < m; ++j) mean += d[j];
      mean /= m;
      for (int j = 0; j < m; ++j) d[j] -= mean;
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < m; ++j) H[i * m + j] = G[i * m + j] + t[i] * d[j];
      // v (rate I + H) = alpha: the transposed system.
      const double r = rate_at(n);
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < m; ++j) A[i * m + j] = (i == j ? r : 0.0) + H[j * m + i];
      std::copy(alpha, alpha + m, v.begin());
      detail::dense_solve(m, A.data(), v.data());
      double vt = 0.0, v1 = 0.0;
      for (int i = 0; i < m; ++i) {
        vt += v[i] * t[i];
        v1 += v[i];
      }
      log_vt[n - 1] = std::log(vt);
      log_v1[n - 1] = std::log(v1);
      for (int j = 0; j < m; ++j) {
        double s = 0.0;
        for (int i = 0; i < m; ++i) s += v[i] * H[i * m + j];
        d[j] = s;
      }
    }
  }
  {
    double mean = 0.0;
    for (int j = 0; j < m; ++j) mean += d[j];
    mean /= m;
    for (int j = 0; j < m; ++j) d[j] -= mean;
  }
  // Level 0: pi0 (G + t d) = 0, pi0 1 = 1.
  std::vector<double> pi0(static_cast<std::size_t>(m), 0.0);
  if (ph.erlang && m > 2) {
    // pi0 (-S + t u) = 0 with u = d - alpha reads nu (pi_j - pi_(j-1)) + nu pi_l u_j = 0:
    // pi_j is proportional to -(u_0 + ... + u_j) (and pi_l to 1, as sum u = -1).
    double c = 0.0, total = 0.0;
    for (int j = 0; j < m; ++j) {
      c -= d[j] - alpha[j];
      pi0[j] = c;
    }
    pi0[m - 1] = 1.0;
    for (int j = 0; j < m; ++j) total += pi0[j];
    for (int j = 0; j < m; ++j) pi0[j] /= total;
  } else {
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < m; ++j) A[i * m + j] = G[j * m + i] + t[j] * d[i];
    for (int j = 0; j < m; ++j) A[(m - 1) * m + j] = 1.0;
    pi0[m - 1] = 1.0;
    detail::dense_solve(m, A.data(), pi0.data());
  }
  double pi0_t = 0.0, pi0_1 = 0.0;
  for (int i = 0; i < m; ++i) {
    pi0[i] = std::max(pi0[i], 0.0);
    pi0_t += pi0[i] * t[i];
    pi0_1 += pi0[i];
  }
  // log s(n) = log s(n-1) + log(v(n-1) t); log mass(n) = log s(n-1) + log(v(n-1) 1).
  sol.p.resize(levels + 1);
  sol.pa.resize(levels + 1);
  std::vector<double>& mass = sol.p;    // logs first, then the law
  std::vector<double>& log_s = sol.pa;  // logs first, then the law
  log_s[0] = std::log(pi0_t);
  mass[0] = std::log(pi0_1);
  double big = mass[0];
  for (std::size_t n = 1; n <= levels; ++n) {
    log_s[n] = log_s[n - 1] + log_vt[n - 1];
    mass[n] = log_s[n - 1] + log_v1[n - 1];
    big = std::max(big, mass[n]);
  }
  double tail_log = -std::numeric_limits<double>::infinity();
  double v_top_1 = 0.0;
  if (infinite) {
    for (int i = 0; i < m; ++i) v_top_1 += v_top[i];
    tail_log = log_s[levels] + std::log(v_top_1) - std::log1p(-sigma);
    big = std::max(big, tail_log);
  }
  const double log_s_top = log_s[levels];
  double Z = 0.0;
  for (std::size_t n = 0; n <= levels; ++n) {
    mass[n] = std::exp(mass[n] - big);
    Z += mass[n];
  }
  if (infinite) Z += std::exp(tail_log - big);
  double arrivals = 0.0;
  for (std::size_t n = 0; n <= levels; ++n) {
    mass[n] /= Z;
    log_s[n] = std::exp(log_s[n] - big) / Z;
    arrivals += log_s[n];
  }
  sol.tail_p = 0.0;
  if (infinite) {
    sol.tail_p = std::exp(log_s_top + std::log(v_top_1) - big) / Z;
    arrivals += log_s[levels] * sigma / (1.0 - sigma);
  }
  for (std::size_t n = 0; n <= levels; ++n) log_s[n] /= arrivals;
  sol.sigma = sigma;
  sol.N = N;
  sol.Q = Q;
  return kOk;
}

// P(W > t) for an accepted arrival (t in ms): it finds N + j requests with probability
// pa[N+j] / (1 - p_block) and waits for j + 1 departures at rate mu_N (per ms).
// terms (if given) is increased by the Poisson terms summed.
inline double qbd_wait_ccdf(const QbdSolution& sol, double mu_N, double t_ms,
                            double* terms = nullptr) {
  const std::int64_t N = sol.N;
  if (std::isinf(sol.Q)) {
    const double p_wait = sol.pa[N] / (1.0 - sol.sigma);
    return std::min(1.0, p_wait * std::exp(-mu_N * (1.0 - sol.sigma) * std::max(t_ms, 0.0)));
  }
  const std::int64_t Qn = static_cast<std::int64_t>(sol.Q);
  if (Qn == 0) return 0.0;
  const double accepted = 1.0 - sol.p_block();
  // tail(k) = P(j >= k) = sum_{j >= k} pa[N+j] / accepted, j = 0..Q-1
  double total = 0.0;
  for (std::int64_t j = 0; j < Qn; ++j) total += sol.pa[N + j];
  total /= accepted;
  if (t_ms <= 0.0) return std::min(1.0, total);
  const double x = mu_N * t_ms;
  if (!std::isfinite(x)) return 0.0;
  // Poisson terms more than 40 standard deviations (and 40) from x are below e^-800.
  const double spread = 40.0 * std::sqrt(x) + 40.0;
  const double lo_d = std::max(0.0, std::floor(x - spread));
  const double hi_d = std::min(static_cast<double>(Qn - 1), std::ceil(x + spread));
  if (lo_d > hi_d) return 0.0;
  const std::int64_t lo = static_cast<std::int64_t>(lo_d), hi = static_cast<std::int64_t>(hi_d);
  // tail at lo: the weights from lo on.
  double tail = 0.0;
  for (std::int64_t j = lo; j < Qn; ++j) tail += sol.pa[N + j];
  tail /= accepted;
  const double lx = std::log(x);
  double s = 0.0;
  for (std::int64_t k = lo; k <= hi; ++k) {
    const double kd = static_cast<double>(k);
    s += std::exp(kd * lx - x - std::lgamma(kd + 1.0)) * tail;
    tail -= sol.pa[N + k] / accepted;
  }
  if (terms) *terms += static_cast<double>(hi - lo + 1);
  return std::min(1.0, s);
}

// Smallest t with P(W > t) <= 1 - q (closed form for an unbounded queue).
inline double qbd_wait_quantile(const QbdSolution& sol, double mu_N, double q,
                                double* terms = nullptr) {
  const std::int64_t N = sol.N;
  if (std::isinf(sol.Q)) {
    const double p_wait = sol.pa[N] / (1.0 - sol.sigma);
    if (p_wait <= 1.0 - q) return 0.0;
    return std::log(p_wait / (1.0 - q)) / (mu_N * (1.0 - sol.sigma));
  }
  if (qbd_wait_ccdf(sol, mu_N, 0.0) <= 1.0 - q) return 0.0;
  double lo = 0.0, hi = 1.0 / mu_N;
  while (qbd_wait_ccdf(sol, mu_N, hi, terms) > 1.0 - q) {
    lo = hi;
    hi *= 2.0;
    if (!std::isfinite(hi)) return std::numeric_limits<double>::quiet_NaN();
  }
  while (hi - lo > 1e-13 * hi) {
    const double mid = 0.5 * (lo + hi);
    if (qbd_wait_ccdf(sol, mu_N, mid, terms) > 1.0 - q) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return hi;
}

// The read-off of docs/model.md 6 (section 2's at the mean batch B, without section 2.2's
// cap on the prefill share: the same as the reference, arrivals.model_service).
inline void arrival_read_off(const ReplicaView& r, double B, double service_ms, double* prefill,
                             double* itl) {
  const ServiceParams& p = r.service;
  if (p.kind != kPrefillDecode) {
    *prefill = 0.0;
    *itl = service_ms / p.out_tokens;
    return;
  }
  PrefillDecodeWork w(p);
  const double c = chunks_at(r, B);
  *prefill = c * std::max(0.0, p.alpha + (B - 1.0) * w.delta(c)) + w.w_pre(c);
  *itl = (service_ms - *prefill) / p.out_tokens;
}

// One solve at one rate: the metrics and what the admission rules and quantiles need.
struct ArrivalSolve {
  PhaseType ph;
  QbdSolution sol;
  bool idle = true;  // rate 0: no solve
  double rate = 0.0, lam = 0.0, mu_N = 0.0;
  double metrics[kNumMetrics] = {};
  double arrival_idle = 1.0, arrival_full = 0.0;
};

// Prepares the mu vector of a replica (per ms).
inline void arrival_mu(const ReplicaView& r, std::vector<double>& mu) {
  const std::int64_t N = r.chain.N;
  mu.resize(static_cast<std::size_t>(N));
  for (std::int64_t b = 0; b < N; ++b) mu[b] = static_cast<double>(b + 1) / r.tau[b];
}

// Solves at rate (req/s) with the gap law ph; mu from arrival_mu.
inline Status arrival_solve(const ReplicaView& r, const std::vector<double>& mu, double rate,
                            const PhaseType& ph, ArrivalSolve& out) {
  if (!(std::isfinite(rate) && rate >= 0.0)) return kBadRate;
  const std::int64_t N = r.chain.N;
  out.ph = ph;
  out.rate = rate;
  out.mu_N = mu[N - 1];
  const double lam = rate / 1000.0;
  out.lam = lam;
  double* m = out.metrics;
  if (lam == 0.0) {
    out.idle = true;
    double prefill, itl;
    const double tau0 = r.tau[0];
    arrival_read_off(r, 0.0, tau0, &prefill, &itl);
    const double vals[kNumMetrics] = {rate,  1.0,  0.0, 0.0,          0.0, 0.0, 0.0, tau0,
                                      tau0, 0.0,  itl, prefill + itl, prefill, 0.0,
                                      out.mu_N * 1000.0};
    std::copy(vals, vals + kNumMetrics, m);
    out.arrival_idle = 1.0;
    out.arrival_full = 0.0;
    return kOk;
  }
  out.idle = false;
  const Status s = qbd_solve(mu.data(), N, r.chain.Q, lam, ph, out.sol);
  if (s != kOk) return s;
  const QbdSolution& sol = out.sol;
  const std::int64_t top = sol.top();
  double B = 0.0, Lq = 0.0;
  for (std::int64_t n = 0; n <= top; ++n) {
    const double nd = static_cast<double>(n);
    B += std::min(nd, static_cast<double>(N)) * sol.p[n];
    Lq += std::max(nd - static_cast<double>(N), 0.0) * sol.p[n];
  }
  const bool infinite = std::isinf(r.chain.Q);
  if (infinite) {
    const double one = 1.0 - sol.sigma;
    B += static_cast<double>(N) * sol.tail_p / one;
    Lq += sol.tail_p / (one * one);
  }
  const double L = B + Lq;
  const double p_block = sol.p_block();
  const double X = lam * (1.0 - p_block);
  const double service_ms = B / X, wait = Lq / X;
  double prefill, itl;
  arrival_read_off(r, B, service_ms, &prefill, &itl);
  const double vals[kNumMetrics] = {rate,
                                    sol.p[0],
                                    p_block,
                                    X * 1000.0,
                                    L,
                                    B,
                                    Lq,
                                    L / X,
                                    service_ms,
                                    wait,
                                    itl,
                                    wait + prefill + itl,
                                    prefill,
                                    B / static_cast<double>(N),
                                    out.mu_N * 1000.0};
  std::copy(vals, vals + kNumMetrics, m);
  out.arrival_idle = sol.pa[0];
  if (infinite) {
    out.arrival_full = sol.pa[N] / (1.0 - sol.sigma);
  } else {
    double f = 0.0;
    for (std::int64_t n = N; n <= top; ++n) f += sol.pa[n];
    out.arrival_full = f;
  }
  return kOk;
}

// The metrics of a solve under an admission rule (into m): the arrival's view of an
// idle or full replica, and for PrefillDecode the prefills an arrival meets taken from
// the renewal function (arrivals cluster when the gaps are bursty).
inline void arrival_admitted(const ReplicaView& r, const ArrivalSolve& a, std::int32_t rule,
                             double* m) {
  std::copy(a.metrics, a.metrics + kNumMetrics, m);
  if (rule != kAdmitImmediate && rule != kAdmitIteration) return;
  double seen[kNumMetrics];
  std::copy(a.metrics, a.metrics + kNumMetrics, seen);
  if (r.service.kind == kPrefillDecode && !a.idle && a.ph.m > 1) {
    const double d = a.metrics[kPrefillMs] + a.metrics[kItlMs];
    double cluster = 1.0;
    if (d > 0.0 && a.ph.fit == kFitGamma) {  // the Gamma process's own renewal function
      std::vector<double> counts;
      gamma_counts(a.ph.cv, a.lam, d, counts);
      double mean = 0.0;
      for (std::size_t k = 0; k < counts.size(); ++k) mean += counts[k] * static_cast<double>(k);
      cluster = mean / (a.lam * d);
    } else if (d > 0.0) {
      cluster = renewal_count(a.ph, a.lam, d) / (a.lam * d);
    }
    seen[kThroughput] = a.metrics[kThroughput] * cluster;
  }
  admit(r, rule, seen, 0.0, a.arrival_idle, a.arrival_full);
  m[kTtftMs] = seen[kTtftMs];
  m[kWaitMs] = seen[kWaitMs];
  m[kResponseMs] = seen[kResponseMs];
}

// (wait, TTFT) q-quantiles of a solve under an admission rule: the wait quantile, shifted
// by the rule's change of the mean wait; TTFT adds the service part at the mean batch.
inline void arrival_quantiles(const ReplicaView& r, const ArrivalSolve& a, double q,
                              std::int32_t rule, double* wait_q, double* ttft_q,
                              double* terms = nullptr) {
  const double w = a.idle ? 0.0 : qbd_wait_quantile(a.sol, a.mu_N, q, terms);
  double m[kNumMetrics];
  arrival_admitted(r, a, rule, m);
  *wait_q = w + (m[kWaitMs] - a.metrics[kWaitMs]);
  *ttft_q = w + (m[kTtftMs] - m[kWaitMs]);
}

// ---- The prefill-collision law (PrefillDecode, immediate admission; docs/model.md 6). ----
// Lattices in 1/grid chunk steps; arrivals.py's _atom, _uniform_jumps and _add.
namespace detail {

inline std::vector<double> lattice_atom(double x, int grid, double weight) {
  std::vector<double> out(static_cast<std::size_t>(std::nearbyint(x * grid)) + 1, 0.0);
  out.back() = weight;
  return out;
}

inline std::vector<double> lattice_uniform(double a, double b, int grid, double weight) {
  if (b <= a || weight <= 0.0) return std::vector<double>(1, 0.0);
  const std::int64_t n = std::max<std::int64_t>(
      1, static_cast<std::int64_t>(std::nearbyint((b - a) * grid)));
  std::vector<std::int64_t> idx(static_cast<std::size_t>(n));
  std::int64_t top = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double mid = a + (static_cast<double>(i) + 0.5) * (b - a) / static_cast<double>(n);
    idx[i] = static_cast<std::int64_t>(std::nearbyint(mid * grid));
    top = std::max(top, idx[i]);
  }
  std::vector<double> out(static_cast<std::size_t>(top) + 1, 0.0);
  const double each = weight / static_cast<double>(n);
  for (std::int64_t i = 0; i < n; ++i) out[idx[i]] += each;
  return out;
}

inline void lattice_add(std::vector<double>& a, const std::vector<double>& b, double scale = 1.0) {
  if (a.size() < b.size()) a.resize(b.size(), 0.0);
  for (std::size_t i = 0; i < b.size(); ++i) a[i] += scale * b[i];
}

inline std::vector<double> convolve(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> out(a.size() + b.size() - 1, 0.0);
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double x = a[i];
    if (x == 0.0) continue;
    for (std::size_t j = 0; j < b.size(); ++j) out[i + j] += x * b[j];
  }
  return out;
}

}  // namespace detail

// Above this many multiply-adds the collision law is summed by FFT instead of repeated
// convolutions (the same law to rounding, about 1e-15 of its largest term).
constexpr double kCollisionDirectWork = 2e7;

// The work of the FFT sum (compound_law_fft) in the units of kMaxWork: a transform of n
// points (the law's length rounded up to a power of two), Horner on it over the K0 + K1
// count terms of the two sides and three transforms of about log2(n) butterflies per
// point, each complex multiply-add counted as 2 units (about 2 ns each on one core).
inline double collision_fft_work(double n, double terms) {
  return 2.0 * n * (terms + 2.0 * std::log2(n));
}

// The work of by_batch's quantile search over a collision law of `points` lattice values:
// about 40 evaluations of the mixture CDF, each one wait-law evaluation per value, of about
// 10 units (closed form, unbounded queue) or 10 per queue slot (a finite queue's Erlang
// mixture: its tail sums and Poisson terms).
inline double collision_search_work(double points, double max_queue) {
  const double per_eval = std::isinf(max_queue) ? 10.0 : 10.0 * std::max(1.0, max_queue);
  return 40.0 * points * per_eval;
}

namespace detail {

// In-place radix-2 FFT of a (size a power of two); the inverse is scaled by 1/n. The
// twiddles are computed directly (one cos/sin each), not by repeated products.
inline void fft(std::vector<std::complex<double>>& a, bool inverse) {
  const std::size_t n = a.size();
  for (std::size_t i = 1, j = 0; i < n; ++i) {
    std::size_t bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) std::swap(a[i], a[j]);
  }
  const double pi = 3.14159265358979323846;
  std::vector<std::complex<double>> root(n / 2);
  for (std::size_t j = 0; j < n / 2; ++j) {
    const double ang = (inverse ? 2.0 : -2.0) * pi * static_cast<double>(j) / static_cast<double>(n);
    root[j] = {std::cos(ang), std::sin(ang)};
  }
  for (std::size_t len = 2; len <= n; len <<= 1) {
    const std::size_t step = n / len, half = len / 2;
    for (std::size_t i = 0; i < n; i += len)
      for (std::size_t j = 0; j < half; ++j) {
        const std::complex<double> u = a[i + j], v = a[i + j + half] * root[j * step];
        a[i + j] = u + v;
        a[i + j + half] = u - v;
      }
  }
  if (inverse)
    for (auto& x : a) x /= static_cast<double>(n);
}

// The law of X_before + X_after, each X a sum of N iid jumps of law w[side] with
// P(N = k) = counts[side][k], on the lattice: sum_k p_k w^(*k) per side (Horner on the
// transform), the two sides multiplied, one inverse transform.
inline std::vector<double> compound_law_fft(const std::vector<double> (&counts)[2],
                                            const std::vector<double> (&w)[2]) {
  std::size_t len = 1;
  for (int side = 0; side < 2; ++side)
    len += (counts[side].size() - 1) * (w[side].size() - 1);
  std::size_t n = 1;
  while (n < len) n <<= 1;
  std::vector<std::complex<double>> out(n, 1.0), wf(n);
  for (int side = 0; side < 2; ++side) {
    std::fill(wf.begin(), wf.end(), 0.0);
    for (std::size_t i = 0; i < w[side].size(); ++i) wf[i] = w[side][i];
    fft(wf, false);
    const std::vector<double>& p = counts[side];
    for (std::size_t f = 0; f < n; ++f) {
      std::complex<double> t = p.back();
      for (std::size_t k = p.size() - 1; k-- > 0;) t = t * wf[f] + p[k];
      out[f] *= t;
    }
  }
  fft(out, true);
  std::vector<double> law(len);
  for (std::size_t i = 0; i < len; ++i) law[i] = out[i].real();
  return law;
}

}  // namespace detail

// The law of the extra first-token time an arrival's prefill suffers from the prefills
// that share its iterations (arrivals.py's _Solved.collisions): lattice values (ms) and
// their probabilities, (0, 1) where there is none. Another request whose prefill starts u
// steps after the arrival's shares h(u) chunks: c + u for -c < u < 0, c for 0 < u < 1,
// c + 1 - u up to c + 1 (the last part in the first decode step, of itl ms). The arrivals
// before and after are counted separately from the gap law: the Gamma renewal process
// itself under kFitGamma, the fitted phase-type law under kFitBalanced.
//
// Its work is estimated before it is summed: the repeated convolutions' multiply-adds, or,
// above kCollisionDirectWork, the FFT's (collision_fft_work); beyond kMaxWork (bursty
// arrivals with many chunks: about a second on one core) the law is not computed and the
// call returns kBadArrivalCollisions (arrivals.py's _Solved.collisions raises the same).
// *work (if given) receives the estimate (0 where there is no law).
inline Status arrival_collisions(const ReplicaView& r, const ArrivalSolve& a, std::int32_t rule,
                                 std::vector<double>& values, std::vector<double>& probs,
                                 double* work = nullptr) {
  if (work) *work = 0.0;
  values.assign(1, 0.0);
  probs.assign(1, 1.0);
  const ServiceParams& p = r.service;
  if (rule != kAdmitImmediate || p.kind != kPrefillDecode || a.idle) return kOk;
  const double* m = a.metrics;
  const double L = p.in_tokens;
  const double c = chunks_at(r, m[kInService]);
  const double chunk = (p.beta + p.gamma * (c + 1.0) / 2.0) * L / c;
  const double step_pre = m[kPrefillMs] / c;
  const double itl = m[kItlMs];
  if (!(chunk > 0.0 && step_pre > 0.0)) return kOk;
  constexpr int grid = 16;  // lattice points per chunk
  std::vector<double> before = detail::lattice_uniform(0.0, c, grid, c * step_pre);
  std::vector<double> after = detail::lattice_atom(c, grid, step_pre);
  detail::lattice_add(after, detail::lattice_uniform(1.0, c, grid, (c - 1.0) * step_pre));
  detail::lattice_add(after, detail::lattice_uniform(0.0, 1.0, grid, itl));
  std::vector<double> law, counts[2], w[2];
  const std::vector<double>* jumps_of[2] = {&before, &after};
  const double windows[2] = {c * step_pre, c * step_pre + itl};
  double direct_work = 0.0;  // multiply-adds of the repeated convolutions below
  for (int side = 0; side < 2; ++side) {
    if (a.ph.fit == kFitGamma) {
      gamma_counts(a.ph.cv, a.lam, windows[side], counts[side]);
    } else {
      renewal_counts(a.ph, a.lam, windows[side], counts[side]);
    }
    const std::vector<double>& jumps = *jumps_of[side];
    double jsum = 0.0;
    for (double v : jumps) jsum += v;
    w[side].resize(jumps.size());
    for (std::size_t i = 0; i < jumps.size(); ++i) w[side][i] = jumps[i] / jsum;
    const double K = static_cast<double>(counts[side].size());
    const double lw = static_cast<double>(w[side].size());
    direct_work += 0.5 * K * K * (lw - 1.0) * lw;
  }
  if (direct_work > kCollisionDirectWork) {
    double len = 1.0, n = 1.0;
    for (int side = 0; side < 2; ++side)
      len += static_cast<double>(counts[side].size() - 1) * static_cast<double>(w[side].size() - 1);
    while (n < len) n *= 2.0;
    const double terms = static_cast<double>(counts[0].size() + counts[1].size());
    const double fft_work = collision_fft_work(n, terms);
    if (work) *work = fft_work;
    if (fft_work > kMaxWork) return kBadArrivalCollisions;
  } else if (work) {
    *work = direct_work;
  }
  if (direct_work <= kCollisionDirectWork) {
    for (int side = 0; side < 2; ++side) {
      std::vector<double> total(1, 0.0), power(1, 1.0);
      for (std::size_t k = 0; k < counts[side].size(); ++k) {
        if (k) power = detail::convolve(power, w[side]);
        if (counts[side][k] > 0.0) detail::lattice_add(total, power, counts[side][k]);
      }
      law = side == 0 ? total : detail::convolve(law, total);
    }
  } else {
    law = detail::compound_law_fft(counts, w);
  }
  double sum = 0.0;
  for (double v : law) sum += v;
  values.clear();
  probs.clear();
  for (std::size_t i = 0; i < law.size(); ++i) {
    if (law[i] > 1e-15) {
      values.push_back(static_cast<double>(i) * chunk / grid);
      probs.push_back(law[i] / sum);
    }
  }
  return kOk;
}

// The q-quantile of TTFT with the service part taken at the batch each arrival joins: an
// arrival that finds n < N requests starts at batch n + 1, one that waits at batch N, and
// its first token comes after its prefill and one iteration there (the read-off at that
// batch with service_ms = tau(b)); shifted by the admission rule's change of the mean. Under
// immediate admission (PrefillDecode) the prefills that share the arrival's iterations add
// their law (arrival_collisions), independent of the rest, in place of their mean.
// kBadArrivalCollisions where that law is beyond the work bound; the quantile in *out.
inline Status arrival_ttft_by_batch(const ReplicaView& r, const ArrivalSolve& a, double q,
                                    std::int32_t rule, double* out) {
  double m[kNumMetrics];
  arrival_admitted(r, a, rule, m);
  const std::int64_t N = r.chain.N;
  auto part = [&](std::int64_t b) {
    double prefill, itl;
    arrival_read_off(r, static_cast<double>(b), r.tau[b - 1], &prefill, &itl);
    return prefill + itl;
  };
  if (a.idle) {
    *out = part(1) + (m[kTtftMs] - a.metrics[kTtftMs]);
    return kOk;
  }
  std::vector<double> extra, p_extra;
  double work = 0.0;
  const Status s = arrival_collisions(r, a, rule, extra, p_extra, &work);
  if (s != kOk) return s;
  // the law and the quantile search over it, together within the work bound
  if (extra.size() > 1 &&
      work + collision_search_work(static_cast<double>(extra.size()), a.sol.Q) > kMaxWork)
    return kBadArrivalCollisions;
  double extra_mean = 0.0;
  for (std::size_t i = 0; i < extra.size(); ++i) extra_mean += extra[i] * p_extra[i];
  const double shift = m[kTtftMs] - a.metrics[kTtftMs] - extra_mean;
  const QbdSolution& sol = a.sol;
  const double accepted = 1.0 - sol.p_block();
  std::vector<std::pair<double, double>> sw(static_cast<std::size_t>(N));
  double s_max = 0.0;
  for (std::int64_t n = 0; n < N; ++n) {
    sw[n] = {part(n + 1), sol.pa[n] / accepted};
    s_max = std::max(s_max, sw[n].first);
  }
  std::stable_sort(sw.begin(), sw.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<double> s_sorted(sw.size()), w_cum(sw.size());
  double acc = 0.0;
  for (std::size_t i = 0; i < sw.size(); ++i) {
    s_sorted[i] = sw[i].first;
    acc += sw[i].second;
    w_cum[i] = acc;
  }
  const double s_full = part(N);
  const double p_wait = qbd_wait_ccdf(sol, a.mu_N, 0.0);
  auto cdf_one = [&](double x) {
    const double y = x - s_full;
    const double queued = y < 0.0 ? 0.0 : p_wait - qbd_wait_ccdf(sol, a.mu_N, y);
    const auto k = std::upper_bound(s_sorted.begin(), s_sorted.end(), x) - s_sorted.begin();
    return (k ? w_cum[k - 1] : 0.0) + queued;
  };
  // cdf_one is exactly 0 below the smallest service part; extra ascends, so the terms
  // from there on add nothing and are skipped.
  const double s_min = std::min(s_sorted.front(), s_full);
  auto cdf = [&](double x) {
    double total = 0.0;
    for (std::size_t i = 0; i < extra.size() && x - extra[i] >= s_min; ++i)
      total += p_extra[i] * cdf_one(x - extra[i]);
    return total;
  };
  double lo = 0.0, hi = std::max(s_max, s_full) + extra.back() + 1.0;
  while (cdf(hi) < q) {
    lo = hi;
    hi *= 2.0;
    if (!std::isfinite(hi)) {
      *out = std::numeric_limits<double>::quiet_NaN();
      return kOk;
    }
  }
  while (hi - lo > 1e-10 * hi) {
    const double mid = 0.5 * (lo + hi);
    if (cdf(mid) < q) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  *out = hi + shift;
  return kOk;
}

// ---- Entry points: a prepared replica, a rate, arrival_cv and its fit. ----

// The first steps of the entry points: the gap law of CV cv fitted, the QBD solved at rate.
inline Status fit_and_solve(const ReplicaView& r, double rate, double cv, std::int32_t fit,
                            ArrivalSolve& a) {
  PhaseType ph;
  const Status s = fit_renewal(cv, fit, ph);
  if (s != kOk) return s;
  std::vector<double> mu;
  arrival_mu(r, mu);
  return arrival_solve(r, mu, rate, ph, a);
}

inline Status check_arrivals(double cv, std::int32_t fit, std::int32_t rule) {
  if (!valid_arrival_cv(cv)) return kBadArrivalCv;
  if (fit != kFitGamma && fit != kFitBalanced) return kBadArrivalFit;
  if (!valid_admission(rule)) return kBadAdmission;
  return kOk;
}

// Metrics at rate (req/s) under renewal arrivals of CV cv: analyze_admitted at cv == 1.
inline Status analyze_arrivals(const ReplicaView& r, double rate, double cv, std::int32_t fit,
                               std::int32_t rule, double* m) {
  Status s = check_arrivals(cv, fit, rule);
  if (s != kOk) return s;
  if (cv == 1.0) return analyze_admitted(r, rate, rule, m);
  ArrivalSolve a;
  s = fit_and_solve(r, rate, cv, fit, a);
  if (s != kOk) return s;
  arrival_admitted(r, a, rule, m);
  return kOk;
}

// The Poisson quantiles of the existing calls (Replica.wait_quantile / ttft_quantile):
// the chain's exact wait quantile, shifted by the admission rule's change of the mean.
inline Status poisson_quantiles(const ReplicaView& r, double rate, double q, std::int32_t rule,
                                double* wait_q, double* ttft_q) {
  double m[kNumMetrics];
  Status s = analyze(r, rate, m);
  if (s != kOk) return s;
  Moments mo;
  evaluate_chain(r.chain, rate / 1000.0, mo);
  double w = wait_quantile(r.chain, mo, q);
  double ttft = w + m[kPrefillMs] + m[kItlMs];
  if (rule == kAdmitImmediate || rule == kAdmitIteration) {
    double adj[kNumMetrics];
    s = analyze_admitted(r, rate, rule, adj);
    if (s != kOk) return s;
    w += adj[kWaitMs] - m[kWaitMs];
    ttft += adj[kTtftMs] - m[kTtftMs];
  }
  *wait_q = w;
  *ttft_q = ttft;
  return kOk;
}

// (wait, TTFT) q-quantiles (ms) at rate under renewal arrivals of CV cv.
inline Status quantiles_arrivals(const ReplicaView& r, double rate, double q, double cv,
                                 std::int32_t fit, std::int32_t rule, double* wait_q,
                                 double* ttft_q) {
  Status s = check_arrivals(cv, fit, rule);
  if (s != kOk) return s;
  if (!(q > 0.0 && q < 1.0)) return kBadQuantile;
  if (cv == 1.0) return poisson_quantiles(r, rate, q, rule, wait_q, ttft_q);
  ArrivalSolve a;
  s = fit_and_solve(r, rate, cv, fit, a);
  if (s != kOk) return s;
  arrival_quantiles(r, a, q, rule, wait_q, ttft_q);
  return kOk;
}

// TTFT q-quantile (ms) with the service part at the batch each arrival joins
// (arrival_ttft_by_batch); the QBD is solved at every arrival_cv, 1 included (one phase).
inline Status ttft_by_batch_arrivals(const ReplicaView& r, double rate, double q, double cv,
                                     std::int32_t fit, std::int32_t rule, double* out) {
  Status s = check_arrivals(cv, fit, rule);
  if (s != kOk) return s;
  if (!(q > 0.0 && q < 1.0)) return kBadQuantile;
  ArrivalSolve a;
  s = fit_and_solve(r, rate, cv, fit, a);
  if (s != kOk) return s;
  return arrival_ttft_by_batch(r, a, q, rule, out);
}

// Rates scanned (evenly up to the cap) for the first crossing before the root search.
constexpr int kArrivalGrid = 24;

// Sizing under renewal arrivals of CV cv (size_admitted at cv == 1): the largest rate
// at which every target holds, with the targets, caps and statuses of size_replica. The
// excess max_k f_k / T_k - 1 is scanned on kArrivalGrid rates up to the cap for its first
// sign change (the read-off is not monotone for PrefillDecode), then that bracket is
// closed to 1e-10 relative by false position (Illinois); the answer is on the feasible
// side. The solves count against kMaxWork (kNotCertified beyond it).
inline Status size_arrivals(const ReplicaView& r, const Targets& t, double cv, std::int32_t fit,
                            std::int32_t rule, SizeResult& out) {
  out = SizeResult{};
  Status s = check_arrivals(cv, fit, rule);
  if (s != kOk) return set_status(out, s);
  if (cv == 1.0) return size_admitted(r, t, rule, out);
  s = validate_targets(t);
  if (s != kOk) return set_status(out, s);
  PhaseType ph;
  s = fit_renewal(cv, fit, ph);
  if (s != kOk) return set_status(out, s);
  using detail::is_set;
  std::vector<double> mu;
  arrival_mu(r, mu);
  const std::int64_t N = r.chain.N;
  const double mu_N = static_cast<double>(N) / r.tau[N - 1] * 1000.0;
  const bool tps = is_set(t.tps);
  const double cap = kSaturationCap * mu_N * (tps ? kTpsCap : 1.0);
  const std::int32_t cap_binding = tps ? kBindTps : kBindNone;
  const bool any = is_set(t.itl_ms) || is_set(t.ttft_ms) || is_set(t.wait_ms) ||
                   is_set(t.ttft_pq) || is_set(t.wait_pq) || is_set(t.max_block);
  const double levels =
      std::isinf(r.chain.Q) ? static_cast<double>(N) + 1.0 : static_cast<double>(N) + r.chain.Q + 1.0;
  double work = 0.0;
  int evaluations = 0;
  ArrivalSolve a;
  double m[kNumMetrics];
  // The excess at rate; m gets the admitted metrics there. NaN with *st set on failure.
  auto excess = [&](double rate, Status* st, std::int32_t* which) {
    ++evaluations;
    work += qbd_work(levels, ph.m, ph.erlang);
    if (work > kMaxWork) {
      *st = kNotCertified;
      return std::numeric_limits<double>::quiet_NaN();
    }
    *st = arrival_solve(r, mu, rate, ph, a);
    if (*st != kOk) return std::numeric_limits<double>::quiet_NaN();
    arrival_admitted(r, a, rule, m);
    double worst = -std::numeric_limits<double>::infinity();
    *which = kBindNone;
    double terms = 0.0;
    bool have_tq = false, have_wq = false;
    double tq_w = 0.0, tq_t = 0.0, wq_w = 0.0, wq_t = 0.0;
    auto consider = [&](double v, std::int32_t code) {
      const double e = std::fabs(v - 1.0) > kTargetSlack ? v - 1.0 : 0.0;
      if (e > worst) {
        worst = e;
        *which = code;
      }
    };
    // In the reference's order: itl, ttft, wait, ttft percentile, wait percentile, block.
    if (is_set(t.itl_ms)) consider(m[kItlMs] / t.itl_ms, kBindItl);
    if (is_set(t.ttft_ms)) consider(m[kTtftMs] / t.ttft_ms, kBindTtft);
    if (is_set(t.wait_ms)) consider(m[kWaitMs] / t.wait_ms, kBindWait);
    if (is_set(t.ttft_pq)) {
      arrival_quantiles(r, a, t.ttft_pq, rule, &tq_w, &tq_t, &terms);
      have_tq = true;
      consider(tq_t / t.ttft_p_ms, kBindTtftPercentile);
    }
    if (is_set(t.wait_pq)) {
      if (have_tq && t.wait_pq == t.ttft_pq) {
        wq_w = tq_w;
      } else {
        arrival_quantiles(r, a, t.wait_pq, rule, &wq_w, &wq_t, &terms);
      }
      have_wq = true;
      consider(wq_w / t.wait_p_ms, kBindWaitPercentile);
    }
    (void)have_wq;
    if (is_set(t.max_block)) consider(m[kPBlock] / t.max_block, kBindBlock);
    work += terms * kWindowTermCost;
    if (work > kMaxWork) {
      *st = kNotCertified;
      return std::numeric_limits<double>::quiet_NaN();
    }
    return worst;
  };
  auto finish = [&](double rate, std::int32_t binding, Status st, const double* metrics) {
    out.rate = rate;
    out.binding = binding;
    out.iterations = evaluations;
    if (metrics) std::copy(metrics, metrics + kNumMetrics, out.metrics);
    return set_status(out, st);
  };
  auto fail = [&](Status st) {
    out.rate = std::numeric_limits<double>::quiet_NaN();
    out.iterations = evaluations;
    std::fill(out.metrics, out.metrics + kNumMetrics, std::numeric_limits<double>::quiet_NaN());
    return set_status(out, st);
  };
  std::int32_t which = kBindNone;
  if (!any) {
    ++evaluations;
    s = arrival_solve(r, mu, cap, ph, a);
    if (s != kOk) return fail(s);
    arrival_admitted(r, a, rule, m);
    return finish(cap, cap_binding, kOk, m);
  }
  const double f0 = excess(0.0, &s, &which);
  if (s != kOk) return fail(s);
  if (f0 >= 0.0) {
    out.rate = 0.0;
    out.binding = which;
    out.iterations = evaluations;
    std::fill(out.metrics, out.metrics + kNumMetrics, std::numeric_limits<double>::quiet_NaN());
    return set_status(out, infeasible_status(which));
  }
  double lo = 0.0, f_lo = f0, hi = 0.0, f_hi = 0.0;
  bool have_m_lo = false, found = false;
  double m_lo[kNumMetrics];
  std::int32_t which_hi = kBindNone;
  for (int k = 1; k <= kArrivalGrid; ++k) {
    const double rate = cap * k / kArrivalGrid;
    const double f = excess(rate, &s, &which);
    if (s != kOk) return fail(s);
    if (f > 0.0) {
      hi = rate;
      f_hi = f;
      which_hi = which;
      found = true;
      break;
    }
    lo = rate;
    f_lo = f;
    std::copy(m, m + kNumMetrics, m_lo);
    have_m_lo = true;
  }
  if (!found) return finish(cap, cap_binding, kOk, m_lo);
  // Illinois false position, as sizing.close_bracket in the reference.
  int side = 0;
  const int budget = kMaxIterations - evaluations;
  for (int used = 0; hi - lo > 1e-10 * hi && used < budget; ++used) {
    double rate = hi - f_hi * (hi - lo) / (f_hi - f_lo);
    if (!(lo < rate && rate < hi)) rate = 0.5 * (lo + hi);
    const double f = excess(rate, &s, &which);
    if (s != kOk) return fail(s);
    if (f > 0.0) {
      hi = rate;
      f_hi = f;
      which_hi = which;
      if (side == 1) f_lo *= 0.5;
      side = 1;
    } else {
      lo = rate;
      f_lo = f;
      std::copy(m, m + kNumMetrics, m_lo);
      have_m_lo = true;
      if (f == 0.0) break;
      if (side == -1) f_hi *= 0.5;
      side = -1;
    }
  }
  if (!have_m_lo) {  // the root lies below the first grid point: the metrics at lo (0)
    s = arrival_solve(r, mu, lo, ph, a);
    if (s != kOk) return fail(s);
    arrival_admitted(r, a, rule, m_lo);
  }
  return finish(lo, which_hi, kOk, m_lo);
}

// ---- Batch calls: one arrival_cv per row (a column; stride 0 broadcasts). ----

// A row costs a QBD solve (tens of microseconds) or a sizing (hundreds): a few dozen rows
// pay for a thread.
constexpr std::int64_t kArrivalRowsPerThread = 32;

inline void analyze_arrivals_many(const ConfigColumns& cfg, Column<double> rate,
                                  Column<double> cv, std::int64_t rows, const MetricColumns& out,
                                  std::int32_t* status, int threads, std::int32_t admission,
                                  std::int32_t fit) {
  for_each_row(cfg, rows, threads, [&](Status s, const ReplicaView& view, std::int64_t i) {
    double m[kNumMetrics];
    if (s == kOk) s = analyze_arrivals(view, rate[i], cv[i], fit, admission, m);
    status[i] = s;
    if (s == kOk) {
      out.write(i, m);
    } else {
      out.write_nan(i);
    }
  }, kArrivalRowsPerThread);
}

inline void size_arrivals_many(const ConfigColumns& cfg, const TargetColumns& tc,
                               Column<double> cv, std::int64_t rows, const SizeColumns& sc,
                               const MetricColumns& out, int threads, std::int32_t admission,
                               std::int32_t fit) {
  for_each_config(cfg, rows, threads, sc, out, [&](const ReplicaView& view, std::int64_t i) {
    SizeResult r;
    size_arrivals(view, tc.row(i), cv[i], fit, admission, r);
    write_size(sc, out, i, r);
  }, kArrivalRowsPerThread);
}

// (wait, TTFT) q-quantiles per row; NaN where status is not kOk.
inline void quantiles_arrivals_many(const ConfigColumns& cfg, Column<double> rate,
                                    Column<double> q, Column<double> cv, std::int64_t rows,
                                    double* wait_q, double* ttft_q, std::int32_t* status,
                                    int threads, std::int32_t admission, std::int32_t fit) {
  for_each_row(cfg, rows, threads, [&](Status s, const ReplicaView& view, std::int64_t i) {
    double w = std::numeric_limits<double>::quiet_NaN(), t = w;
    if (s == kOk) s = quantiles_arrivals(view, rate[i], q[i], cv[i], fit, admission, &w, &t);
    status[i] = s;
    if (s != kOk) w = t = std::numeric_limits<double>::quiet_NaN();
    wait_q[i] = w;
    ttft_q[i] = t;
  }, kArrivalRowsPerThread);
}

}  // namespace inferplan

// Phase-type renewal processes for arrivals that are not Poisson (docs/model.md 6).
//
// A gap law PH(alpha, S) of mean 1 (scale S by a rate lam for gaps of mean 1/lam):
// exponential at CV 1, a mixture of Erlang(k-1) and Erlang(k) of common rate below
// (two moments, fewest phases; an Erlang-64 below CV 1/8), a two-phase
// hyperexponential above (three moments of the Gamma law of the same CV, or
// balanced means). python/inferplan/phasetype.py is the NumPy reference of the
// same fits and of the solve in qbd.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "status.hpp"

namespace inferplan {

constexpr int kMaxPhases = 64;
constexpr double kMaxArrivalCv = 100.0;

// The third-moment rule of the hyperexponential used above CV 1.
enum RenewalFit : std::int32_t {
  kFitGamma = 0,     // the Gamma law's third moment (the simulator's renewal process)
  kFitBalanced = 1,  // balanced means (two moments)
};

struct PhaseType {
  int m = 1;                  // phases
  std::vector<double> alpha;  // m initial probabilities
  std::vector<double> S;      // m x m sub-generator, row-major, mean 1
  double scv = 1.0;           // squared CV of the gap
  // An Erlang mixture: S = -nu I + nu (superdiagonal), alpha on the first two phases, exit
  // only from the last (qbd.hpp solves its levels in O(m) instead of O(m^3)).
  bool erlang = false;
  double nu = 0.0;
  // The gap CV and fit it was made for: the prefill-collision counts (qbd.hpp) take the
  // Gamma renewal process itself under kFitGamma, this law under kFitBalanced.
  double cv = 1.0;
  std::int32_t fit = kFitGamma;
};

inline bool valid_arrival_cv(double cv) {
  return std::isfinite(cv) && cv >= 0.0 && cv <= kMaxArrivalCv;
}

// The gap law for inter-arrival times of coefficient of variation cv (not its square).
inline Status fit_renewal(double cv, std::int32_t fit, PhaseType& ph) {
  if (!valid_arrival_cv(cv)) return kBadArrivalCv;
  if (fit != kFitGamma && fit != kFitBalanced) return kBadArrivalFit;
  ph.cv = cv;
  ph.fit = fit;
  const double c2 = cv * cv;
  if (c2 == 1.0) {
    ph.m = 1;
    ph.erlang = false;
    ph.alpha.assign(1, 1.0);
    ph.S.assign(1, -1.0);
    ph.scv = 1.0;
    return kOk;
  }
  if (c2 < 1.0) {
    // Erlang(k-1) with probability p, else Erlang(k), both of rate k - p (Tijms 2003,
    // sec. 2.3.2): mean 1, squared CV s.
    const double s = std::max(c2, 1.0 / kMaxPhases);
    const int k = std::max(2, static_cast<int>(std::ceil(1.0 / s - 1e-9)));
    const double kd = static_cast<double>(k);
    double p = (kd * s - std::sqrt(std::max(0.0, kd * (1.0 + s) - kd * kd * s))) / (1.0 + s);
    p = std::min(std::max(p, 0.0), 1.0);
    const double nu = kd - p;
    ph.m = k;
    ph.alpha.assign(static_cast<std::size_t>(k), 0.0);
    ph.alpha[0] = 1.0 - p;
    ph.alpha[1] = p;
    ph.S.assign(static_cast<std::size_t>(k) * k, 0.0);
    for (int i = 0; i < k; ++i) {
      ph.S[static_cast<std::size_t>(i) * k + i] = -nu;
      if (i + 1 < k) ph.S[static_cast<std::size_t>(i) * k + i + 1] = nu;
    }
    ph.scv = s;
    ph.erlang = true;
    ph.nu = nu;
    return kOk;
  }
  double p1, r1, r2;
  if (fit == kFitBalanced) {
    p1 = 0.5 * (1.0 + std::sqrt((c2 - 1.0) / (c2 + 1.0)));
    r1 = 2.0 * p1;
    r2 = 2.0 * (1.0 - p1);
  } else {
    // Moments over k!: a1 = 1, a2 = (1 + c2)/2, a3 = (1 + c2)(1 + 2 c2)/6; the branch
    // means are the roots of x^2 - s x + P with a(k+2) = s a(k+1) - P a(k).
    const double a1 = 1.0, a2 = (1.0 + c2) / 2.0, a3 = (1.0 + c2) * (1.0 + 2.0 * c2) / 6.0;
    const double s = (a3 - a1 * a2) / (a2 - a1 * a1);
    const double P = s * a1 - a2;
    const double root = std::sqrt(std::max(s * s - 4.0 * P, 0.0));
    const double x1 = (s + root) / 2.0, x2 = (s - root) / 2.0;
    p1 = (a1 - x2) / (x1 - x2);
    r1 = 1.0 / x1;
    r2 = 1.0 / x2;
  }
  ph.m = 2;
  ph.erlang = false;
  ph.alpha = {p1, 1.0 - p1};
  ph.S = {-r1, 0.0, 0.0, -r2};
  const double m1 = p1 / r1 + (1.0 - p1) / r2;
  const double m2 = 2.0 * (p1 / (r1 * r1) + (1.0 - p1) / (r2 * r2));
  ph.scv = m2 / (m1 * m1) - 1.0;
  return kOk;
}

namespace detail {

// Solves A x = b in place (A n x n row-major, overwritten by its LU factors) by Gaussian
// elimination with partial pivoting; b becomes x.
inline void dense_solve(int n, double* A, double* b) {
  for (int k = 0; k < n; ++k) {
    int piv = k;
    double best = std::fabs(A[k * n + k]);
    for (int i = k + 1; i < n; ++i) {
      const double v = std::fabs(A[i * n + k]);
      if (v > best) {
        best = v;
        piv = i;
      }
    }
    if (piv != k) {
      for (int j = 0; j < n; ++j) std::swap(A[k * n + j], A[piv * n + j]);
      std::swap(b[k], b[piv]);
    }
    const double inv = 1.0 / A[k * n + k];
    for (int i = k + 1; i < n; ++i) {
      const double f = A[i * n + k] * inv;
      if (f == 0.0) continue;
      double* row = A + i * n;
      const double* top = A + k * n;
      for (int j = k + 1; j < n; ++j) row[j] -= f * top[j];
      b[i] -= f * b[k];
    }
  }
  for (int k = n - 1; k >= 0; --k) {
    double s = b[k];
    for (int j = k + 1; j < n; ++j) s -= A[k * n + j] * b[j];
    b[k] = s / A[k * n + k];
  }
}

// C = A B for n x n row-major matrices.
inline void matmul(int n, const double* A, const double* B, double* C) {
  std::fill(C, C + n * n, 0.0);
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < n; ++k) {
      const double a = A[i * n + k];
      if (a == 0.0) continue;
      for (int j = 0; j < n; ++j) C[i * n + j] += a * B[k * n + j];
    }
}

// exp(A) by scaling and squaring of a Taylor series (small matrices); A is overwritten.
inline void expm(int n, std::vector<double>& A, std::vector<double>& out) {
  double norm = 0.0;
  for (int i = 0; i < n; ++i) {
    double s = 0.0;
    for (int j = 0; j < n; ++j) s += std::fabs(A[i * n + j]);
    norm = std::max(norm, s);
  }
  int k = 0;
  if (norm > 0.5) k = std::max(0, static_cast<int>(std::ceil(std::log2(norm))) + 1);
  const double scale = std::ldexp(1.0, -k);
  for (double& x : A) x *= scale;
  std::vector<double> term(static_cast<std::size_t>(n) * n, 0.0), next(term.size());
  for (int i = 0; i < n; ++i) term[i * n + i] = 1.0;
  out = term;
  for (int j = 1; j < 30; ++j) {
    matmul(n, term.data(), A.data(), next.data());
    double tmax = 0.0, omax = 0.0;
    for (std::size_t i = 0; i < term.size(); ++i) {
      term[i] = next[i] / j;
      out[i] += term[i];
      tmax = std::max(tmax, std::fabs(term[i]));
      omax = std::max(omax, std::fabs(out[i]));
    }
    if (tmax <= 1e-17 * omax) break;
  }
  for (int i = 0; i < k; ++i) {
    matmul(n, out.data(), out.data(), next.data());
    out.swap(next);
  }
}

}  // namespace detail

// Expected arrivals in a window of length d (ms) that starts at an arrival, for gaps of
// rate lam (per ms): the renewal function m(d) = int_0^d alpha exp((S + t alpha) u) t du;
// lam d for Poisson, more for bursty gaps.
inline double renewal_count(const PhaseType& ph, double lam, double d) {
  if (d <= 0.0) return 0.0;
  const int m = ph.m;
  if (m == 1) return lam * d;
  if (ph.erlang && m > 2) {
    // Uniformization at theta = nu lam (every phase's rate): with P = I + Q / theta,
    // int_0^d exp(Qu) du = sum_n P^n P(Pois(theta d) > n) / theta, and for an Erlang
    // mixture x P shifts x one phase on (the last phase's mass restarts as alpha), so
    // alpha P^n t = theta (alpha P^n)_l: O(m) per term. Terms beyond 40 standard
    // deviations of theta d are below e^-800.
    const double theta = lam * ph.nu, x = theta * d;
    const double spread = 40.0 * std::sqrt(x) + 40.0;
    const double n_hi_d = std::ceil(x + spread);
    if (n_hi_d <= 2e5) {
      const std::int64_t n_hi = static_cast<std::int64_t>(n_hi_d);
      // The Poisson weights by their ratios from the mode (relative to the mode's), then
      // normalised by their sum; tail[n] = P(Pois(x) > n) summed from the top.
      std::vector<double> tail(static_cast<std::size_t>(n_hi) + 1, 0.0);
      const std::int64_t mode = std::min(n_hi, static_cast<std::int64_t>(x));
      tail[mode] = 1.0;
      for (std::int64_t n = mode; n < n_hi; ++n)
        tail[n + 1] = tail[n] * (x / static_cast<double>(n + 1));
      for (std::int64_t n = mode; n > 0; --n) tail[n - 1] = tail[n] * (static_cast<double>(n) / x);
      double total = 0.0;
      for (std::int64_t n = 0; n <= n_hi; ++n) total += tail[n];
      double acc = 0.0;
      for (std::int64_t n = n_hi; n >= 0; --n) {
        const double pmf = tail[n];
        tail[n] = acc / total;
        acc += pmf;
      }
      std::vector<double> cur(ph.alpha), next(static_cast<std::size_t>(m));
      const int l = m - 1;
      double s = 0.0;
      for (std::int64_t n = 0; n <= n_hi; ++n) {
        s += cur[l] * tail[n];
        const double restart = cur[l];
        for (int j = m - 1; j >= 1; --j) next[j] = cur[j - 1] + restart * ph.alpha[j];
        next[0] = restart * ph.alpha[0];
        cur.swap(next);
      }
      return s;
    }
  }
  const int n = m + 1;
  std::vector<double> big(static_cast<std::size_t>(n) * n, 0.0), E;
  for (int i = 0; i < m; ++i) {
    double t = 0.0;
    for (int j = 0; j < m; ++j) t -= lam * ph.S[i * m + j];
    for (int j = 0; j < m; ++j) big[i * n + j] = (lam * ph.S[i * m + j] + t * ph.alpha[j]) * d;
    big[i * n + m] = t * d;
  }
  detail::expm(n, big, E);
  double s = 0.0;
  for (int i = 0; i < m; ++i) s += ph.alpha[i] * E[i * n + m];
  return s;
}

// The regularized lower incomplete gamma function P(a, x): the series below a + 1, Lentz's
// continued fraction for Q(a, x) above, both to double precision (arrivals.py's _gamma_p).
inline double gamma_p(double a, double x) {
  if (x <= 0.0) return 0.0;
  const double log_front = a * std::log(x) - x - std::lgamma(a);
  if (x < a + 1.0) {
    double term = 1.0 / a, total = term, n = a;
    for (int i = 0; i < 100000; ++i) {
      n += 1.0;
      term *= x / n;
      total += term;
      if (std::abs(term) < std::abs(total) * 1e-16) break;
    }
    return std::min(1.0, total * std::exp(log_front));
  }
  const double tiny = 1e-300;
  double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
  for (int i = 1; i < 100000; ++i) {
    const double an = -static_cast<double>(i) * (static_cast<double>(i) - a);
    b += 2.0;
    d = an * d + b;
    if (std::abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::abs(c) < tiny) c = tiny;
    d = 1.0 / d;
    const double delta = d * c;
    h *= delta;
    if (std::abs(delta - 1.0) < 1e-16) break;
  }
  return std::max(0.0, 1.0 - std::exp(log_front) * h);
}

// P(k arrivals in a window of length d (ms) that starts at an arrival), k = 0, 1, ..., of
// the Gamma renewal process of gap CV cv at rate lam (per ms), the simulator's process:
// P(N >= k) = P(k a, lam a d) with a = 1 / cv^2; cv 0 is gaps of exactly 1 / lam.
inline void gamma_counts(double cv, double lam, double d, std::vector<double>& out,
                         double tail = 1e-9) {
  out.clear();
  if (cv == 0.0) {
    out.assign(static_cast<std::size_t>(std::floor(lam * d)) + 1, 0.0);
    out.back() = 1.0;
    return;
  }
  const double a = 1.0 / (cv * cv), x = lam * a * d;
  std::vector<double> at_least(1, 1.0);
  int k = 1;
  while (at_least.back() > tail && k < 100000) {
    at_least.push_back(gamma_p(static_cast<double>(k) * a, x));
    ++k;
  }
  at_least.push_back(0.0);
  out.resize(at_least.size() - 1);
  for (std::size_t i = 0; i + 1 < at_least.size(); ++i)
    out[i] = std::max(0.0, at_least[i] - at_least[i + 1]);
}

// The same counts for a renewal process of gaps ph at rate lam: exact for two phases (a
// level chain of the gap phases truncated at kmax arrivals, one matrix exponential, kmax
// doubled until the levels hold all but tail of the mass, at most 1024), Poisson with the
// renewal function's mean otherwise (exact for Poisson). arrivals.py's _counts.
inline void renewal_counts(const PhaseType& ph, double lam, double d, std::vector<double>& out,
                           double tail = 1e-9) {
  out.clear();
  const double mean = renewal_count(ph, lam, d);
  if (ph.m != 2) {
    if (!(mean > 0.0)) {
      out.assign(1, 1.0);
      return;
    }
    const int kmax = static_cast<int>(mean + 12.0 * std::sqrt(mean) + 12.0);
    out.resize(static_cast<std::size_t>(kmax) + 1);
    for (int k = 0; k <= kmax; ++k)
      out[k] = std::exp(k * std::log(mean) - mean - std::lgamma(k + 1.0));
    return;
  }
  double S[4], t[2];
  for (int i = 0; i < 4; ++i) S[i] = lam * ph.S[i];
  for (int i = 0; i < 2; ++i) t[i] = -(S[2 * i] + S[2 * i + 1]);
  int kmax = std::max(16, static_cast<int>(4.0 * mean) + 16);
  while (true) {
    const int n = (kmax + 1) * 2;
    std::vector<double> Q(static_cast<std::size_t>(n) * n, 0.0), E;
    for (int k = 0; k <= kmax; ++k) {
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) {
          Q[(2 * k + i) * n + 2 * k + j] = S[2 * i + j] * d;
          if (k < kmax) Q[(2 * k + i) * n + 2 * k + 2 + j] = t[i] * ph.alpha[j] * d;
        }
    }
    detail::expm(n, Q, E);
    out.assign(static_cast<std::size_t>(kmax) + 1, 0.0);
    double total = 0.0;
    for (int k = 0; k <= kmax; ++k) {
      double v = 0.0;
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) v += ph.alpha[i] * E[i * n + 2 * k + j];
      out[k] = v;
      total += v;
    }
    if (total >= 1.0 - tail || kmax >= 1024) {
      for (double& v : out) v = std::max(0.0, v);
      return;
    }
    kmax *= 2;
  }
}

}  // namespace inferplan

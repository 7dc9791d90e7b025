// Closed forms for the geometric tail of the chain (states above the max
// batch), accurate for ratios arbitrarily close to 1 and counts up to 1e12
// or unbounded.
#pragma once

#include <cmath>
#include <limits>

namespace inferplan {

// f(s) = 1/expm1(s) - 1/s, smooth at 0 where it equals -1/2.
inline double geo_f(double s) {
  if (std::fabs(s) < 1e-3) {
    double s2 = s * s;
    return -0.5 + s / 12.0 - s * s2 / 720.0 + s * s2 * s2 / 30240.0;
  }
  return 1.0 / std::expm1(s) - 1.0 / s;
}

// h(s) = 1/(4 sinh^2(s/2)) - 1/s^2, smooth at 0 where it equals -1/12.
inline double geo_h(double s) {
  const double s2 = s * s;
  return -1.0 / 12.0 + s2 / 240.0 - s2 * s2 / 6048.0;
}

// k(s) = x (1 + x) / (1 - x)^3 - 2/s^3 with x = exp(-s): the third cumulant's
// pole removed, smooth at 0 where it equals -s/120. The series serves below
// 0.1 (where the pole would cancel badly), to well below double rounding.
inline double geo_k(double s) {
  const double s2 = s * s;
  return s * (-1.0 / 120.0 + s2 * (1.0 / 1512.0 + s2 * (-1.0 / 28800.0 + s2 / 665280.0)));
}
constexpr double kSkewSeries = 0.1;

// For the terms x^i, i = 0..n-1 with x = exp(-t), t >= 0 (n may be +inf):
//   sum   G0 = sum x^i
//   mean  E  = sum i x^i / G0
struct GeoSums {
  double g0;
  double mean;
};

inline GeoSums geo_sums(double t, double n) {
  GeoSums out;
  if (std::isinf(n)) {  // requires t > 0
    out.g0 = -1.0 / std::expm1(-t);
    out.mean = 1.0 / std::expm1(t);
    return out;
  }
  double nt = n * t;
  if (t == 0.0) {
    out.g0 = n;
  } else {
    out.g0 = std::expm1(-nt) / std::expm1(-t);
  }
  // E = 1/expm1(t) - n/expm1(n t), written without the 1/t cancellation.
  out.mean = geo_f(t) - n * geo_f(nt);
  return out;
}

// exp(-s) and expm1(-s) for s >= 0 from one call: whichever is computed
// directly, the other follows without cancellation (below 0.7 the exponential
// is above 1/2, above it expm1 is below -1/2).
inline void exp_pair(double s, double& e, double& em) {
  if (s > 746.0) {  // exp(-s) is 0 in double precision: skip the call
    e = 0.0;
    em = -1.0;
  } else if (s < 0.7) {
    em = std::expm1(-s);
    e = 1.0 + em;
  } else {
    e = std::exp(-s);
    em = e - 1.0;
  }
}

// Everything the chain's tail needs about x^i, i = 0..n-1 with x = exp(-t),
// t >= 0, n >= 1 (or +inf with t > 0). The caller passes x itself (the chain's
// ratio, exact as computed) with t = -log(x): x - 1 is then exact where it
// matters (Sterbenz), and only x^n needs a transcendental call. Reciprocals are
// taken once, so the whole tail costs four divisions.
struct GeoTail {
  double x;     // exp(-t)
  double xn;    // x^n (0 for n = inf)
  double g0;    // sum x^i
  double mean;  // sum i x^i / g0
  double var;   // sum (i - mean)^2 x^i / g0
  double skew;  // sum (i - mean)^3 x^i / g0, the third cumulant
  double n;

  GeoTail(double x_, double t, double n_) : x(x_), n(n_) {
    const double em = x - 1.0;
    const double inv_em = 1.0 / em, inv_t = 1.0 / t;
    const double ft = t < 1e-3 ? geo_f(t) : -x * inv_em - inv_t;
    // x / (1 - x)^2 = 1 / (4 sinh^2(t/2)), less its 1/t^2 pole where t is small.
    const double vt = t < 1e-3 ? geo_h(t) : x * (inv_em * inv_em) - inv_t * inv_t;
    // x (1 + x) / (1 - x)^3 = -x (1 + x) / em^3, less its 2/t^3 pole.
    const double inv_em3 = inv_em * inv_em * inv_em;
    const double kt = t < kSkewSeries ? geo_k(t) : -x * (1.0 + x) * inv_em3 - 2.0 * (inv_t * inv_t * inv_t);
    if (std::isinf(n)) {
      xn = 0.0;
      g0 = -inv_em;
      mean = ft + inv_t;
      var = x * (inv_em * inv_em);
      skew = -x * (1.0 + x) * inv_em3;
      return;
    }
    const double nt = n * t;
    if (t == 0.0) {
      xn = 1.0;
      g0 = n;
      mean = 0.5 * (n - 1.0);
      var = (n * n - 1.0) / 12.0;
      skew = 0.0;
      return;
    }
    double emn;
    exp_pair(nt, xn, emn);
    const double inv_emn = 1.0 / emn, inv_nt = 1.0 / nt;
    g0 = emn * inv_em;
    // 1/expm1(nt) = -x^n / expm1(-nt)
    const double fnt = nt < 1e-3 ? geo_f(nt) : -xn * inv_emn - inv_nt;
    mean = ft - n * fnt;
    // Var = 1/(4 sinh^2(t/2)) - n^2/(4 sinh^2(nt/2)); the poles 1/t^2 cancel.
    const double vnt = nt < 1e-3 ? geo_h(nt) : xn * (inv_emn * inv_emn) - inv_nt * inv_nt;
    var = vt - n * n * vnt;
    // Skew = k(t) - n^3 k(nt); the poles 2/t^3 cancel.
    double knt;
    if (nt < kSkewSeries) {
      knt = geo_k(nt);
    } else {
      const double inv_emn3 = inv_emn * inv_emn * inv_emn;
      knt = -xn * (1.0 + xn) * inv_emn3 - 2.0 * (inv_nt * inv_nt * inv_nt);
    }
    skew = kt - n * n * n * knt;
  }

  // sum_{i=0}^{n-2} x^i = g0 - x^(n-1): drops the smallest term, no cancellation.
  double g0_less_last() const {
    if (n <= 1.0) return 0.0;
    const double last = x > 0.0 ? xn / x : 0.0;
    return g0 - last;
  }
};

}  // namespace inferplan

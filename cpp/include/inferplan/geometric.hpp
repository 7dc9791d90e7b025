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

}  // namespace inferplan

// Service models: the time tau(b) one request spends in service when the
// batch holds b requests, and how that time splits into prefill and decode.
//
// Times are in milliseconds. Each model fills tau(1..N) once per
// configuration; everything rate-dependent happens in chain.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "status.hpp"

namespace inferplan {

enum ServiceKind : std::int32_t {
  kDecodeOnly = 0,     // T(b) = alpha + beta*b per token, out_tokens tokens
  kPrefillDecode = 1,  // chunked prefill under a token budget
  kVector = 2,         // tau(1..N) given by the caller
};

struct ServiceParams {
  std::int32_t kind = kDecodeOnly;
  double alpha = 0.0;           // ms per iteration
  double beta = 0.0;            // ms per token in the batch (DecodeOnly) or computed token
  double gamma = 0.0;           // ms per token of KV cache read (PrefillDecode)
  double in_tokens = 0.0;       // mean prompt length L
  double out_tokens = 1.0;      // mean output length m
  double max_num_tokens = 8192; // token budget per iteration M
};

inline bool finite_nonneg(double x) { return std::isfinite(x) && x >= 0.0; }

// A mean output length below this makes ITL = decode time / out_tokens overflow.
constexpr double kMinOutTokens = 1e-9;
inline bool valid_out_tokens(double m) { return std::isfinite(m) && m >= kMinOutTokens; }

// Validates the scalar parameters of a model (not the vector of kVector).
inline Status validate(const ServiceParams& p) {
  if (p.kind != kDecodeOnly && p.kind != kPrefillDecode && p.kind != kVector) return kBadKind;
  if (p.kind == kVector) {
    if (!valid_out_tokens(p.out_tokens)) return kBadOutTokens;
    return kOk;
  }
  if (!finite_nonneg(p.alpha)) return kBadAlpha;
  if (!finite_nonneg(p.beta)) return kBadBeta;
  if (p.kind == kDecodeOnly) {
    if (!(p.alpha + p.beta > 0.0)) return kBadAlpha;  // service time would be zero
    if (!valid_out_tokens(p.out_tokens)) return kBadOutTokens;
    return kOk;
  }
  if (!finite_nonneg(p.gamma)) return kBadGamma;
  if (!finite_nonneg(p.in_tokens)) return kBadInTokens;
  if (!valid_out_tokens(p.out_tokens)) return kBadOutTokens;
  if (!(std::isfinite(p.max_num_tokens) && p.max_num_tokens > 0.0)) return kBadMaxNumTokens;
  if (!(p.alpha + p.beta + p.gamma > 0.0)) return kBadAlpha;
  return kOk;
}

// The most prefill chunks a model may need: beyond 2^53 consecutive chunk
// counts are no longer distinct doubles, and the model means nothing anyway
// (a prompt split into more pieces than it has tokens many times over).
constexpr double kMaxChunks = 9007199254740992.0;  // 2^53

// Service times, per request in the batch (tau(b) / b, ms), must lie in this
// range: beyond it the service rates 1/ms or the rates in req/s overflow.
constexpr double kMinServicePerRequest = 1e-290;
constexpr double kMaxServicePerRequest = 1e290;

inline bool valid_service_per_request(double tau_over_b) {
  return tau_over_b >= kMinServicePerRequest && tau_over_b <= kMaxServicePerRequest;
}

// PrefillDecode helpers (docs/model.md 2.2).
struct PrefillDecodeWork {
  double alpha, beta, gamma, L, m, M;
  double w_dec;

  explicit PrefillDecodeWork(const ServiceParams& p)
      : alpha(p.alpha), beta(p.beta), gamma(p.gamma), L(p.in_tokens), m(p.out_tokens),
        M(p.max_num_tokens),
        w_dec(p.beta * p.out_tokens +
              p.gamma * p.out_tokens * (p.in_tokens + (p.out_tokens + 1.0) / 2.0)) {}

  // Largest batch at which a prefill split into j chunks fits the budget.
  double batch_limit(double j) const {
    double x = (j + m) * (M - L / j) / (L + m);
    return std::floor(x > 0.0 ? x : 0.0);
  }
  double w_pre(double c) const { return (beta + gamma * (c + 1.0) / 2.0) * L; }
  double delta(double c) const { return (w_pre(c) + w_dec) / (c + m); }
  double tau(double b, double c) const { return (c + m) * (alpha + b * delta(c)); }

  // Smallest j >= j_min whose batch limit reaches b (the limit grows with j,
  // so callers walk b upwards and pass the previous answer as j_min). The
  // quadratic's root usually gives it at once; otherwise a doubling search and
  // a bisection over the integers find it, so the work is bounded (about 110
  // evaluations at most) whatever the parameters. Returns kMaxChunks * 2 when
  // even kMaxChunks chunks are not enough (the caller rejects the model).
  double chunks(double b, double j_min) const {
    double lo = j_min < 1.0 ? 1.0 : j_min;
    if (batch_limit(lo) >= b) return lo;
    // (j+m)(M - L/j) >= b(L+m)  <=>  M j^2 + (mM - L - b(L+m)) j - mL >= 0;
    // its positive root, in the form without cancellation for either sign of q.
    const double q = m * M - L - b * (L + m);
    const double disc = std::sqrt(q * q + 4.0 * M * m * L);
    const double est = q > 0.0 ? 2.0 * m * L / (q + disc) : (-q + disc) / (2.0 * M);
    double hi = std::ceil(est);
    if (std::isfinite(hi) && hi > lo && hi <= kMaxChunks) {
      if (batch_limit(hi) >= b) {
        if (!(batch_limit(hi - 1.0) >= b)) return hi;  // the usual case
      } else {
        lo = hi;  // the estimate fell short
        hi = lo + 1.0;
      }
    } else {
      hi = lo + 1.0;
    }
    // Invariant: batch_limit(lo) < b. Grow hi until it fits ...
    for (double step = 1.0; !(batch_limit(hi) >= b); step *= 2.0) {
      if (hi >= kMaxChunks) return 2.0 * kMaxChunks;
      lo = hi;
      hi = std::min(lo + step, kMaxChunks);
    }
    // ... then bisect: batch_limit(lo) < b <= batch_limit(hi).
    while (hi - lo > 1.0) {
      const double mid = std::floor(0.5 * (lo + hi));
      if (batch_limit(mid) >= b) {
        hi = mid;
      } else {
        lo = mid;
      }
    }
    return hi;
  }
};

// PrefillDecode: fills tau[0..N-1] = tau(1..N) in ms and chunks[0..N-1] = c(b).
// Returns kOk or the code of the first bad field: kBadMaxNumTokens where a
// prompt would need more than kMaxChunks chunks (max_num_tokens too small for
// in_tokens), kBadServiceTime where a service time leaves the valid range. (DecodeOnly's tau(b) =
// m (alpha + beta b) is filled together with 1/mu in prepare_replica.)
inline Status fill_service_times(const ServiceParams& p, std::int64_t N, double* tau,
                                 double* chunks) {
  Status s = validate(p);
  if (s != kOk) return s;
  if (N < 1) return kBadMaxBatch;
  if (p.kind == kPrefillDecode) {
    PrefillDecodeWork w(p);
    // c(b) only grows with b and is mostly constant: keep its batch limit and
    // delta until b outgrows them (the same numbers as calling chunks() and
    // tau() for every b, without their divisions).
    double c = 1.0, limit = w.batch_limit(c), delta = w.delta(c);
    for (std::int64_t b = 1; b <= N; ++b) {
      const double bd = static_cast<double>(b);
      if (!(limit >= bd)) {
        c = w.chunks(bd, c);
        if (!(c <= kMaxChunks)) return kBadMaxNumTokens;  // more chunks than 2^53
        limit = w.batch_limit(c);
        delta = w.delta(c);
      }
      chunks[b - 1] = c;
      tau[b - 1] = (c + w.m) * (w.alpha + bd * delta);  // w.tau(b, c)
    }
    return kOk;
  }
  return kBadKind;  // DecodeOnly and kVector are filled by prepare_replica / the caller
}

}  // namespace inferplan

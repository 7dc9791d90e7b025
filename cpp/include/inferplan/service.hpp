// Service models: the time tau(b) one request spends in service when the
// batch holds b requests, and how that time splits into prefill and decode.
//
// Times are in milliseconds. Each model fills tau(1..N) once per
// configuration; everything rate-dependent happens in chain.hpp.
#pragma once

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

// Validates the scalar parameters of a model (not the vector of kVector).
inline Status validate(const ServiceParams& p) {
  if (p.kind != kDecodeOnly && p.kind != kPrefillDecode && p.kind != kVector) return kBadKind;
  if (p.kind == kVector) {
    if (!(std::isfinite(p.out_tokens) && p.out_tokens > 0.0)) return kBadOutTokens;
    return kOk;
  }
  if (!finite_nonneg(p.alpha)) return kBadAlpha;
  if (!finite_nonneg(p.beta)) return kBadBeta;
  if (p.kind == kDecodeOnly) {
    if (!(p.alpha + p.beta > 0.0)) return kBadAlpha;  // service time would be zero
    if (!(std::isfinite(p.out_tokens) && p.out_tokens > 0.0)) return kBadOutTokens;
    return kOk;
  }
  if (!finite_nonneg(p.gamma)) return kBadGamma;
  if (!finite_nonneg(p.in_tokens)) return kBadInTokens;
  if (!(std::isfinite(p.out_tokens) && p.out_tokens > 0.0)) return kBadOutTokens;
  if (!(std::isfinite(p.max_num_tokens) && p.max_num_tokens > 0.0)) return kBadMaxNumTokens;
  if (!(p.alpha + p.beta + p.gamma > 0.0)) return kBadAlpha;
  return kOk;
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

  // Smallest j >= j_min whose batch limit reaches b. The limit grows with j,
  // so callers walk b upwards and pass the previous answer as j_min; a
  // quadratic estimate jumps over long runs of too-small j.
  double chunks(double b, double j_min) const {
    double j = j_min < 1.0 ? 1.0 : j_min;
    if (batch_limit(j) >= b) return j;
    // (j+m)(M - L/j) >= b(L+m)  <=>  M j^2 + (mM - L - b(L+m)) j - mL >= 0
    double q = m * M - L - b * (L + m);
    double est = (-q + std::sqrt(q * q + 4.0 * M * m * L)) / (2.0 * M);
    est = std::floor(est) - 1.0;
    if (est > j) j = est;
    while (batch_limit(j) < b) j += 1.0;
    // The estimate may overshoot by rounding: step back while it still fits.
    while (j > j_min && j > 1.0 && batch_limit(j - 1.0) >= b) j -= 1.0;
    return j;
  }
};

// PrefillDecode: fills tau[0..N-1] = tau(1..N) in ms and chunks[0..N-1] = c(b).
// Returns kOk or the code of the first bad field. (DecodeOnly's tau(b) =
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

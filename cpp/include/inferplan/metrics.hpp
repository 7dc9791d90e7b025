// Metrics of one replica at an offered rate: the chain's moments turned into
// times (Little's law) and the service model's read-off of ITL and TTFT.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "chain.hpp"
#include "service.hpp"

namespace inferplan {

// Order of the metrics in every flat output array (Python mirrors it).
enum MetricIndex : int {
  kRate = 0,        // offered rate, req/s
  kP0,
  kPBlock,
  kThroughput,      // req/s
  kInSystem,
  kInService,
  kInQueue,
  kResponseMs,
  kServiceMs,
  kWaitMs,
  kItlMs,
  kTtftMs,
  kPrefillMs,
  kUtilization,
  kMaxRate,         // saturation throughput mu(N), req/s
  kNumMetrics
};

// Everything the kernel needs to know about one configured replica.
struct ReplicaView {
  ChainView chain;
  ServiceParams service;
  const double* tau = nullptr;     // tau(1..N), ms
  const double* chunks = nullptr;  // c(1..N) (PrefillDecode), else 1
};

// Fills prefill/ITL/TTFT from the service model at mean batch B.
inline void read_off(const ReplicaView& r, double B, double service_ms, double wait_ms,
                     double* m) {
  const ServiceParams& p = r.service;
  double prefill = 0.0;
  if (p.kind == kPrefillDecode) {
    PrefillDecodeWork w(p);
    double b = std::round(B);
    b = std::min(std::max(b, 1.0), static_cast<double>(r.chain.N));
    double c = r.chunks[static_cast<std::int64_t>(b) - 1];
    prefill = c * std::max(0.0, p.alpha + (B - 1.0) * w.delta(c)) + w.w_pre(c);
  }
  double itl = (service_ms - prefill) / p.out_tokens;
  m[kPrefillMs] = prefill;
  m[kItlMs] = itl;
  m[kTtftMs] = wait_ms + prefill + itl;
}

// Full metrics at rate (req/s). m must hold kNumMetrics values.
inline Status analyze(const ReplicaView& r, double rate_per_s, double* m) {
  if (!(std::isfinite(rate_per_s) && rate_per_s >= 0.0)) return kBadRate;
  const double lam = rate_per_s / 1000.0;
  Moments mo;
  Status s = evaluate_chain(r.chain, lam, mo);
  if (s != kOk) return s;
  const double X = lam * mo.not_blocked;  // per ms
  double response, service, wait;
  if (lam == 0.0) {  // limit of an idle replica
    response = service = r.tau[0];
    wait = 0.0;
  } else {
    response = mo.in_system / X;
    service = mo.in_service / X;
    wait = mo.in_queue / X;
  }
  m[kRate] = rate_per_s;
  m[kP0] = mo.p0;
  m[kPBlock] = mo.p_block;
  m[kThroughput] = X * 1000.0;
  m[kInSystem] = mo.in_system;
  m[kInService] = mo.in_service;
  m[kInQueue] = mo.in_queue;
  m[kResponseMs] = response;
  m[kServiceMs] = service;
  m[kWaitMs] = wait;
  m[kUtilization] = mo.in_service / static_cast<double>(r.chain.N);
  m[kMaxRate] = r.chain.max_rate() * 1000.0;
  read_off(r, mo.in_service, service, wait, m);
  return kOk;
}

}  // namespace inferplan

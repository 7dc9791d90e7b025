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

// Full metrics at rate (req/s). m must hold kNumMetrics values. With kSlopes,
// dm receives d m / d log(rate) for ITL, TTFT, wait and p_block (others 0),
// and mo_out (if given) the chain's moments.
template <bool kSlopes = false>
inline Status analyze(const ReplicaView& r, double rate_per_s, double* m, double* dm = nullptr,
                      Moments* mo_out = nullptr) {
  if (!(std::isfinite(rate_per_s) && rate_per_s >= 0.0)) return kBadRate;
  const double lam = rate_per_s / 1000.0;
  Moments local;
  Moments& mo = mo_out ? *mo_out : local;
  Status s = evaluate_chain<kSlopes>(r.chain, lam, mo);
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
  if (kSlopes) {
    for (int k = 0; k < kNumMetrics; ++k) dm[k] = 0.0;
    if (lam == 0.0) return kOk;
    const double dX = lam * (mo.not_blocked - mo.p_block_slope);
    const double inv_X2 = 1.0 / (X * X);
    const double d_service = (mo.in_service_slope * X - mo.in_service * dX) * inv_X2;
    const double d_wait = (mo.in_queue_slope * X - mo.in_queue * dX) * inv_X2;
    double d_prefill = 0.0;
    if (r.service.kind == kPrefillDecode) {
      PrefillDecodeWork w(r.service);
      double b = std::min(std::max(std::round(mo.in_service), 1.0), static_cast<double>(r.chain.N));
      double c = r.chunks[static_cast<std::int64_t>(b) - 1];
      if (r.service.alpha + (mo.in_service - 1.0) * w.delta(c) > 0.0)
        d_prefill = c * w.delta(c) * mo.in_service_slope;
    }
    const double d_itl = (d_service - d_prefill) / r.service.out_tokens;
    dm[kItlMs] = d_itl;
    dm[kTtftMs] = d_wait + d_prefill + d_itl;
    dm[kWaitMs] = d_wait;
    dm[kPBlock] = mo.p_block_slope;
  }
  return kOk;
}

}  // namespace inferplan

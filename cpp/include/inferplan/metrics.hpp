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

// Prefill, ITL and TTFT from the service model at mean batch B.
struct ReadOff {
  double prefill = 0.0;
  double itl = 0.0;
  double ttft = 0.0;
};

// PrefillDecode reads off at c(round(B)) chunks, B clamped to 1..N.
inline double chunks_at(const ReplicaView& r, double B) {
  double b = std::round(B);
  b = std::min(std::max(b, 1.0), static_cast<double>(r.chain.N));
  return r.chunks[static_cast<std::int64_t>(b) - 1];
}

// The prefill share of service at mean batch B (0 without chunked prefill),
// never more than the mean service time leaves for decoding (docs/model.md
// 2.2). The read-off takes prefill at c(round(B)) chunks, but the chain's mean
// service time averages tau over the batches the replica visits; where c(b)
// jumps inside that range, it can fall below tau at B with c(round(B)) chunks
// by more than the decode part, and service - prefill would be negative. The
// decode part is at least a lone request's, m alpha + w_dec (one iteration
// per token): the prefill is capped to leave it. Where the mean service time
// is at least tau at the mean batch (c constant over the batches visited: mu
// is concave, Jensen) the cap never binds.
inline double prefill_within(const ReplicaView& r, double B, double service_ms) {
  const ServiceParams& p = r.service;
  if (p.kind != kPrefillDecode) return 0.0;
  PrefillDecodeWork w(p);
  const double c = chunks_at(r, B);
  const double prefill = c * std::max(0.0, p.alpha + (B - 1.0) * w.delta(c)) + w.w_pre(c);
  const double room = service_ms - (w.m * w.alpha + w.w_dec);
  if (prefill <= room) return prefill;
  return room > 0.0 ? room : 0.0;
}

inline ReadOff read_off(const ReplicaView& r, double B, double service_ms, double wait_ms) {
  ReadOff o;
  o.prefill = prefill_within(r, B, service_ms);
  o.itl = (service_ms - o.prefill) * (1.0 / r.service.out_tokens);
  o.ttft = wait_ms + o.prefill + o.itl;
  return o;
}

// The times of one replica at lam (per ms) from the chain's moments there: what
// sizing compares with its targets, and the core of every metric.
struct Latency {
  double X = 0.0;        // throughput, per ms
  double inv_X = 0.0;    // 1 / X (unused when idle)
  double service = 0.0;  // ms in service
  double wait = 0.0;     // ms in the queue
  ReadOff ro;
};

inline Latency latency(const ReplicaView& r, double lam, const Moments& mo) {
  Latency l;
  // In deep saturation (a finite queue, lam / mu(N) > e^40) the throughput is
  // mu(N) to double precision, while lam * (1 - p_block) would take 1 - p_block
  // below the smallest double at extreme loads.
  l.X = mo.log_r > detail::kDeepSaturationLogR && !std::isinf(r.chain.Q) ? r.chain.max_rate()
                                                                         : lam * mo.not_blocked;
  if (lam == 0.0) {  // limit of an idle replica
    l.service = r.tau[0];
    l.wait = 0.0;
  } else {
    l.inv_X = 1.0 / l.X;
    l.service = mo.in_service * l.inv_X;
    l.wait = mo.in_queue * l.inv_X;
  }
  l.ro = read_off(r, mo.in_service, l.service, l.wait);
  return l;
}

// Every metric at rate (req/s) from the chain's moments there. m must hold
// kNumMetrics values.
inline void fill_metrics(const ReplicaView& r, double rate_per_s, const Moments& mo, double* m) {
  const double lam = rate_per_s / 1000.0;
  const Latency l = latency(r, lam, mo);
  m[kRate] = rate_per_s;
  m[kP0] = mo.p0;
  m[kPBlock] = mo.p_block;
  m[kThroughput] = l.X * 1000.0;
  m[kInSystem] = mo.in_system;
  m[kInService] = mo.in_service;
  m[kInQueue] = mo.in_queue;
  m[kResponseMs] = lam == 0.0 ? r.tau[0] : mo.in_system * l.inv_X;
  m[kServiceMs] = l.service;
  m[kWaitMs] = l.wait;
  m[kUtilization] = mo.in_service / static_cast<double>(r.chain.N);
  m[kMaxRate] = r.chain.max_rate() * 1000.0;
  m[kPrefillMs] = l.ro.prefill;
  m[kItlMs] = l.ro.itl;
  m[kTtftMs] = l.ro.ttft;
}

// First and second derivatives in log(rate).
struct Derivs {
  double d1 = 0.0;
  double d2 = 0.0;
};

// Derivatives of one of ITL, TTFT and wait at lam > 0, from moments evaluated
// with slopes (evaluate_chain<true>) and their latency l. With X = lam nb the
// throughput, a = X'/X and c = X''/X, any Y/X has
//   (Y/X)'  = (Y' - a Y) / X,
//   (Y/X)'' = (Y'' - 2 a Y' - c Y + 2 a^2 Y) / X.
inline Derivs latency_derivs(const ReplicaView& r, double lam, const Moments& mo,
                             const Latency& l, int metric) {
  const double X = l.X, inv_X = l.inv_X;
  const double dX = lam * (mo.not_blocked - mo.p_block_slope);
  const double inv_X2 = inv_X * inv_X;
  const double inv_nb = 1.0 / mo.not_blocked;
  const double a = 1.0 - mo.p_block_slope * inv_nb;
  const double c = 1.0 - (2.0 * mo.p_block_slope + mo.p_block_curv) * inv_nb;
  auto second = [&](double y, double dy, double d2y) {
    return (d2y - 2.0 * a * dy - c * y + 2.0 * (a * a) * y) * inv_X;
  };
  Derivs wait{(mo.in_queue_slope * X - mo.in_queue * dX) * inv_X2,
              second(mo.in_queue, mo.in_queue_slope, mo.in_queue_curv)};
  if (metric == kWaitMs) return wait;
  const double d_service = (mo.in_service_slope * X - mo.in_service * dX) * inv_X2;
  const double d2_service = second(mo.in_service, mo.in_service_slope, mo.in_service_curv);
  double d_prefill = 0.0, d2_prefill = 0.0;
  if (r.service.kind == kPrefillDecode) {
    PrefillDecodeWork w(r.service);
    const double ch = chunks_at(r, mo.in_service);
    if (r.service.alpha + (mo.in_service - 1.0) * w.delta(ch) > 0.0) {
      d_prefill = ch * w.delta(ch) * mo.in_service_slope;
      d2_prefill = ch * w.delta(ch) * mo.in_service_curv;
    }
  }
  const double inv_k = 1.0 / r.service.out_tokens;
  const Derivs itl{(d_service - d_prefill) * inv_k, (d2_service - d2_prefill) * inv_k};
  if (metric == kItlMs) return itl;
  return {wait.d1 + d_prefill + itl.d1, wait.d2 + d2_prefill + itl.d2};
}

// Full metrics at rate (req/s). m must hold kNumMetrics values; mo_out (if
// given) receives the chain's moments.
inline Status analyze(const ReplicaView& r, double rate_per_s, double* m,
                      Moments* mo_out = nullptr) {
  if (!(std::isfinite(rate_per_s) && rate_per_s >= 0.0)) return kBadRate;
  Moments local;
  Moments& mo = mo_out ? *mo_out : local;
  const Status s = evaluate_chain(r.chain, rate_per_s / 1000.0, mo);
  if (s != kOk) return s;
  fill_metrics(r, rate_per_s, mo, m);
  return kOk;
}

}  // namespace inferplan

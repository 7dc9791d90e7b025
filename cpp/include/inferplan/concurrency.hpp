// Optimal concurrency: the smallest max batch whose sized throughput is within
// a fraction of the best over 1..N_max. tau(b) does not depend on the max
// batch, so every candidate N reuses a prefix of the arrays prepared for N_max.
#pragma once

#include "sizing.hpp"

namespace inferplan {

struct ConcurrencyResult {
  std::int64_t max_batch = 0;
  double peak_throughput = 0.0;  // best sized throughput over 1..N_max, req/s
  SizeResult size;               // sizing at the chosen max batch
};

inline Status optimal_concurrency(const ReplicaView& full, const Targets& t, double tolerance,
                                  ConcurrencyResult& out) {
  out = ConcurrencyResult{};
  if (!(std::isfinite(tolerance) && tolerance >= 0.0 && tolerance < 1.0)) {
    out.size.status = kBadQuantile;
    return kBadQuantile;
  }
  const std::int64_t n_max = full.chain.N;
  ReplicaView view = full;
  SizeResult res;
  Status first_error = kOk;  // the status of the first N that failed
  // Pass 1: the peak. Pass 2 stops at the first N within the tolerance.
  double peak = 0.0;
  for (std::int64_t n = 1; n <= n_max; ++n) {
    view.chain.N = n;
    Status s = size_replica(view, t, res);
    if (is_error(s)) return set_status(out.size, s);
    if (s == kOk) {
      peak = std::max(peak, res.metrics[kThroughput]);
    } else if (first_error == kOk) {
      first_error = s;
    }
  }
  if (peak <= 0.0) {
    // Every N is infeasible for the same reason: the first one's.
    return set_status(out.size, first_error);
  }
  out.peak_throughput = peak;
  for (std::int64_t n = 1; n <= n_max; ++n) {
    view.chain.N = n;
    if (size_replica(view, t, res) == kOk && res.metrics[kThroughput] >= (1.0 - tolerance) * peak) {
      out.max_batch = n;
      out.size = res;
      return kOk;
    }
  }
  return set_status(out.size, kOk);  // unreachable: the peak itself qualifies
}

}  // namespace inferplan

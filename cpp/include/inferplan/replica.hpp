// One configured replica that owns its rate-independent arrays: the object
// behind scalar calls. Batch calls use ReplicaView over scratch buffers.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "metrics.hpp"

namespace inferplan {

// Largest max batch accepted: the scratch arrays are O(N) doubles.
constexpr std::int64_t kMaxBatchLimit = std::int64_t{1} << 24;
// Largest finite queue: beyond 2^53 consecutive integers are the same double (and the
// tail's moments, of order Q^2, would overflow); use an unbounded queue instead.
constexpr double kMaxQueue = 9007199254740992.0;  // 2^53

inline Status validate_queue(std::int64_t N, double Q) {
  if (N < 1 || N > kMaxBatchLimit) return kBadMaxBatch;
  if (std::isnan(Q) || Q < 0.0) return kBadMaxQueue;
  if (!std::isinf(Q) && (std::floor(Q) != Q || Q > kMaxQueue)) return kBadMaxQueue;
  return kOk;
}

// The longest mean wait a finite queue may imply (Q times 1/mu(N), ms).
constexpr double kMaxWaitMs = 1e300;

// Caller-provided buffers for the rate-independent arrays of one replica.
struct ReplicaBuffers {
  double* tau;                // N
  double* chunks;             // N
  const double* inv_index;    // N: 1/b
  double* inv_mu;             // N
  double* log_prefix;         // N + 1
  std::int64_t* log_filled;
};

inline Status prepare_replica(const ServiceParams& p, std::int64_t N, double Q,
                              const ReplicaBuffers& buf, ReplicaView& view) {
  double* tau = buf.tau;
  double* chunks = buf.chunks;
  Status s = validate_queue(N, Q);
  if (s != kOk) return s;
  bool monotone = true;
  double max_inv_mu = 0.0;
  if (p.kind == kDecodeOnly) {
    // One pass: tau(b) = m (alpha + beta b) and 1/mu(b) = tau(b) / b = m (alpha / b + beta),
    // nonincreasing, so mu is monotone and 1/mu(1) the largest (to rounding, which the
    // monotone pass tolerates).
    s = validate(p);
    if (s != kOk) return s;
    const double k = p.out_tokens, alpha = p.alpha, beta = p.beta;
    const double* inv_index = buf.inv_index;
    double* inv_mu = buf.inv_mu;
    const std::int32_t n = static_cast<std::int32_t>(N);  // converts in vector registers
    for (std::int32_t b = 0; b < n; ++b) {
      const double t = k * (alpha + beta * static_cast<double>(b + 1));
      tau[b] = t;
      chunks[b] = 1.0;
      inv_mu[b] = t * inv_index[b];
    }
    max_inv_mu = inv_mu[0];
    // 1/mu is nonincreasing here: its ends bound it.
    if (!(valid_service_per_request(inv_mu[0]) && valid_service_per_request(inv_mu[N - 1])))
      return kBadServiceTime;
  } else {
    if (p.kind == kVector) {
      s = validate(p);
      if (s != kOk) return s;
      for (std::int64_t b = 0; b < N; ++b) {
        if (!(std::isfinite(tau[b]) && tau[b] > 0.0)) return kBadServiceTime;
        chunks[b] = 1.0;
      }
    } else {
      s = fill_service_times(p, N, tau, chunks);
      if (s != kOk) return s;
    }
    monotone = prepare_chain(N, tau, buf.inv_index, buf.inv_mu, &max_inv_mu);
    for (std::int64_t b = 0; b < N; ++b)
      if (!valid_service_per_request(buf.inv_mu[b])) return kBadServiceTime;
  }
  // Waits are at most Q services of the full batch: beyond 1e300 ms they overflow.
  if (!std::isinf(Q) && Q * buf.inv_mu[N - 1] > kMaxWaitMs) return kBadMaxQueue;
  view.service = p;
  view.tau = tau;
  view.chunks = chunks;
  view.chain.N = N;
  view.chain.Q = Q;
  view.chain.inv_mu = buf.inv_mu;
  view.chain.log_prefix = buf.log_prefix;
  view.chain.log_filled = buf.log_filled;
  *buf.log_filled = 0;
  view.chain.monotone = monotone;
  view.chain.max_ratio_per_rate = max_inv_mu;
  return kOk;
}

class Replica {
 public:
  // For kVector, tau_ms holds tau(1..N); otherwise it is ignored.
  Status init(const ServiceParams& p, std::int64_t N, double Q, const double* tau_ms) {
    Status s = validate_queue(N, Q);
    if (s != kOk) return s;
    const std::size_t n = static_cast<std::size_t>(N);
    tau_.assign(n, 0.0);
    if (p.kind == kVector) tau_.assign(tau_ms, tau_ms + n);
    chunks_.assign(n, 1.0);
    inv_index_.assign(n, 0.0);
    fill_reciprocals(N, inv_index_.data());
    inv_mu_.assign(n, 0.0);
    log_prefix_.assign(n + 1, 0.0);
    ReplicaBuffers buf{tau_.data(),    chunks_.data(),     inv_index_.data(),
                       inv_mu_.data(), log_prefix_.data(), &log_filled_};
    return prepare_replica(p, N, Q, buf, view_);
  }

  const ReplicaView& view() const { return view_; }
  const std::vector<double>& tau() const { return tau_; }
  const std::vector<double>& chunks() const { return chunks_; }

 private:
  std::vector<double> tau_, chunks_, inv_index_, inv_mu_, log_prefix_;
  std::int64_t log_filled_ = 0;
  ReplicaView view_;
};

}  // namespace inferplan

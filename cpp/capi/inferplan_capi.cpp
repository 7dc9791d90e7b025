// The C interface (inferplan.h) over the header-only kernel: type translation and
// argument checks only. Every entry point catches everything, so no C++ exception
// crosses the boundary; the numerics are the kernel's, shared with the Python module.
#define INFERPLAN_BUILDING
#include "inferplan.h"

#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <vector>

#include "inferplan/admission.hpp"
#include "inferplan/batch.hpp"
#include "inferplan/metrics.hpp"
#include "inferplan/qbd.hpp"
#include "inferplan/quantile.hpp"
#include "inferplan/replica.hpp"
#include "inferplan/sizing.hpp"
#include "inferplan/status.hpp"

#ifndef INFERPLAN_VERSION
#define INFERPLAN_VERSION "unknown"
#endif

namespace ip = inferplan;

// The C enums are the kernel's codes; a mismatch is a build error, not a wrong answer.
// (Unary plus compares them as ints: they are different enum types.)
static_assert(+IP_DECODE_ONLY == +ip::kDecodeOnly && +IP_PREFILL_DECODE == +ip::kPrefillDecode &&
                  +IP_VECTOR == +ip::kVector,
              "service kinds");
static_assert(+IP_OK == +ip::kOk && +IP_UNSTABLE == +ip::kUnstable &&
                  +IP_INFEASIBLE_ITL == +ip::kInfeasibleItl &&
                  +IP_INFEASIBLE_TTFT == +ip::kInfeasibleTtft &&
                  +IP_INFEASIBLE_TTFT_PERCENTILE == +ip::kInfeasibleTtftPercentile &&
                  +IP_INFEASIBLE_WAIT_PERCENTILE == +ip::kInfeasibleWaitPercentile &&
                  +IP_INFEASIBLE_BLOCK == +ip::kInfeasibleBlock &&
                  +IP_INFEASIBLE_TPS == +ip::kInfeasibleTps &&
                  +IP_INFEASIBLE_WAIT == +ip::kInfeasibleWait &&
                  +IP_NOT_CERTIFIED == +ip::kNotCertified,
              "outcome codes");
static_assert(+IP_BAD_KIND == +ip::kBadKind && +IP_BAD_ALPHA == +ip::kBadAlpha &&
                  +IP_BAD_BETA == +ip::kBadBeta && +IP_BAD_GAMMA == +ip::kBadGamma &&
                  +IP_BAD_IN_TOKENS == +ip::kBadInTokens && +IP_BAD_OUT_TOKENS == +ip::kBadOutTokens &&
                  +IP_BAD_MAX_NUM_TOKENS == +ip::kBadMaxNumTokens &&
                  +IP_BAD_MAX_BATCH == +ip::kBadMaxBatch && +IP_BAD_MAX_QUEUE == +ip::kBadMaxQueue &&
                  +IP_BAD_RATE == +ip::kBadRate && +IP_BAD_TARGET_ITL == +ip::kBadTargetItl &&
                  +IP_BAD_TARGET_TTFT == +ip::kBadTargetTtft &&
                  +IP_BAD_TTFT_PERCENTILE == +ip::kBadTtftPercentile &&
                  +IP_BAD_WAIT_PERCENTILE == +ip::kBadWaitPercentile &&
                  +IP_BAD_MAX_BLOCK == +ip::kBadMaxBlock && +IP_BAD_TPS == +ip::kBadTps &&
                  +IP_BAD_SERVICE_TIME == +ip::kBadServiceTime &&
                  +IP_BAD_QUANTILE == +ip::kBadQuantile && +IP_BAD_TARGET_WAIT == +ip::kBadTargetWait &&
                  +IP_BAD_ADMISSION == +ip::kBadAdmission &&
                  +IP_BAD_ARRIVAL_CV == +ip::kBadArrivalCv &&
                  +IP_BAD_OUT_TOKENS_CV == +ip::kBadOutTokensCv &&
                  +IP_BAD_ARRIVAL_FIT == +ip::kBadArrivalFit &&
                  +IP_BAD_ARRIVAL_LEVELS == +ip::kBadArrivalLevels &&
                  +IP_BAD_ARRIVAL_COLLISIONS == +ip::kBadArrivalCollisions,
              "error codes");
static_assert(+IP_FIT_GAMMA == +ip::kFitGamma && +IP_FIT_BALANCED == +ip::kFitBalanced,
              "renewal fits");
static_assert(+IP_ADMIT_CHAIN == +ip::kAdmitChain && +IP_ADMIT_IMMEDIATE == +ip::kAdmitImmediate &&
                  +IP_ADMIT_ITERATION == +ip::kAdmitIteration,
              "admission rules");
static_assert(+IP_BIND_NONE == +ip::kBindNone && +IP_BIND_ITL == +ip::kBindItl &&
                  +IP_BIND_TTFT == +ip::kBindTtft && +IP_BIND_WAIT == +ip::kBindWait &&
                  +IP_BIND_TTFT_PERCENTILE == +ip::kBindTtftPercentile &&
                  +IP_BIND_WAIT_PERCENTILE == +ip::kBindWaitPercentile &&
                  +IP_BIND_BLOCK == +ip::kBindBlock && +IP_BIND_TPS == +ip::kBindTps,
              "binding codes");
static_assert(+IP_NUM_METRICS == +ip::kNumMetrics, "metric count");

// The layouts promised by the header, on every platform.
static_assert(sizeof(ip_service) == 56 && offsetof(ip_service, alpha) == 8, "ip_service");
static_assert(sizeof(ip_targets) == 9 * sizeof(double), "ip_targets");
static_assert(sizeof(ip_metrics) == ip::kNumMetrics * sizeof(double), "ip_metrics");
static_assert(offsetof(ip_metrics, max_rate) == ip::kMaxRate * sizeof(double) &&
                  offsetof(ip_metrics, prefill_ms) == ip::kPrefillMs * sizeof(double) &&
                  offsetof(ip_metrics, ttft_ms) == ip::kTtftMs * sizeof(double),
              "ip_metrics follows MetricIndex");
static_assert(sizeof(ip_size_result) == 144 && offsetof(ip_size_result, metrics) == 24,
              "ip_size_result");

struct ip_replica {
  ip::Replica impl;
};

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

ip::ServiceParams params_of(const ip_service& s) {
  ip::ServiceParams p;
  p.kind = s.kind;
  p.alpha = s.alpha;
  p.beta = s.beta;
  p.gamma = s.gamma;
  p.in_tokens = s.in_tokens;
  p.out_tokens = s.out_tokens;
  p.max_num_tokens = s.max_num_tokens;
  return p;
}

ip::Targets targets_of(const ip_targets& t) {
  ip::Targets k;
  k.itl_ms = t.itl_ms;
  k.ttft_ms = t.ttft_ms;
  k.wait_ms = t.wait_ms;
  k.ttft_pq = t.ttft_pq;
  k.ttft_p_ms = t.ttft_p_ms;
  k.wait_pq = t.wait_pq;
  k.wait_p_ms = t.wait_p_ms;
  k.max_block = t.max_block;
  k.tps = t.tps;
  return k;
}

void write_metrics(const double* m, ip_metrics* out) {
  std::memcpy(out, m, sizeof(ip_metrics));  // layout checked above
}

void write_nan(ip_metrics* out) {
  double m[ip::kNumMetrics];
  for (double& x : m) x = kNaN;
  write_metrics(m, out);
}

// Same convention as the kernel's batch output: NaN rate and metrics unless OK.
void write_size(const ip::SizeResult& r, ip_size_result* out) {
  out->status = r.status;
  out->binding = r.binding;
  out->iterations = r.iterations;
  out->reserved = 0;
  if (r.status == ip::kOk) {
    out->rate = r.rate;
    write_metrics(r.metrics, &out->metrics);
  } else {
    out->rate = kNaN;
    write_nan(&out->metrics);
  }
}

void write_error(std::int32_t status, ip_size_result* out) {
  ip::SizeResult r;
  r.status = status;
  write_size(r, out);
}

// Runs body() and turns any exception into a status code.
template <class Body>
int guarded(Body&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return IP_OUT_OF_MEMORY;
  } catch (...) {
    return IP_INTERNAL_ERROR;
  }
}

int quantiles(const ip_replica* replica, double rate, double q, double* wait_ms,
              double* ttft_ms) {
  if (!replica) return IP_NULL_REPLICA;
  if (!(q > 0.0 && q < 1.0)) return IP_BAD_QUANTILE;
  const ip::ReplicaView& view = replica->impl.view();
  double m[ip::kNumMetrics];
  int s = ip::analyze(view, rate, m);
  if (s != ip::kOk) return s;
  ip::Moments mo;
  ip::evaluate_chain(view.chain, rate / 1000.0, mo);
  const double w = ip::wait_quantile(view.chain, mo, q);
  if (wait_ms) *wait_ms = w;
  if (ttft_ms) *ttft_ms = w + m[ip::kPrefillMs] + m[ip::kItlMs];
  return IP_OK;
}

// Rate-independent arrays for ip_size_params, one set per thread, grown on demand.
struct ThreadScratch {
  std::vector<double> tau, chunks, inv_index, inv_mu, log_prefix;
  std::int64_t log_filled = 0;

  ip::ReplicaBuffers buffers(std::int64_t n) {
    if (static_cast<std::int64_t>(tau.size()) < n) {
      const std::size_t sz = static_cast<std::size_t>(n);
      tau.resize(sz);
      chunks.resize(sz);
      inv_index.resize(sz);
      ip::fill_reciprocals(n, inv_index.data());
      inv_mu.resize(sz);
      log_prefix.resize(sz + 1);
    }
    return ip::ReplicaBuffers{tau.data(),    chunks.data(),     inv_index.data(),
                              inv_mu.data(), log_prefix.data(), &log_filled};
  }
};

// Input columns of a batch call: strided views of the caller's array of structs.
ip::ConfigColumns config_columns(const ip_service* services, const std::int64_t* max_batch,
                                 const double* max_queue) {
  constexpr std::int64_t kDoubles = sizeof(ip_service) / sizeof(double);
  constexpr std::int64_t kInts = sizeof(ip_service) / sizeof(std::int32_t);
  ip::ConfigColumns c;
  c.kind = {&services->kind, kInts};
  c.alpha = {&services->alpha, kDoubles};
  c.beta = {&services->beta, kDoubles};
  c.gamma = {&services->gamma, kDoubles};
  c.in_tokens = {&services->in_tokens, kDoubles};
  c.out_tokens = {&services->out_tokens, kDoubles};
  c.max_num_tokens = {&services->max_num_tokens, kDoubles};
  c.max_batch = {max_batch, 1};
  c.max_queue = {max_queue, 1};
  return c;
}

// Calls row(view, i) for every row with a valid configuration, fail(status, i) otherwise,
// through the kernel's own batch driver (inferplan::for_each_row).
template <class Row, class Fail>
void for_each_row(const ip::ConfigColumns& cfg, std::int64_t rows, int threads, Row&& row,
                  Fail&& fail, std::int64_t rows_per_thread = 2048) {
  ip::for_each_row(cfg, rows, threads,
                   [&](ip::Status s, const ip::ReplicaView& view, std::int64_t i) {
                     if (s == ip::kOk) {
                       row(view, i);
                     } else {
                       fail(s, i);
                     }
                   }, rows_per_thread);
}

// The analysis batch calls: every row's status and metrics from analyze(view, i, m), which
// returns a kernel status; a row with a non-zero reserved field, or one the kernel refuses,
// gets its code and NaN metrics.
template <class Analyze>
void analyze_rows(const ip_service* services, const std::int64_t* max_batch,
                  const double* max_queue, std::int64_t rows, int threads, ip_metrics* metrics,
                  std::int32_t* status, Analyze&& analyze, std::int64_t rows_per_thread = 2048) {
  for_each_row(
      config_columns(services, max_batch, max_queue), rows, threads,
      [&](const ip::ReplicaView& view, std::int64_t i) {
        double m[ip::kNumMetrics];
        const int s = services[i].reserved != 0 ? +IP_BAD_RESERVED : +analyze(view, i, m);
        status[i] = s;
        if (s == ip::kOk) {
          write_metrics(m, &metrics[i]);
        } else {
          write_nan(&metrics[i]);
        }
      },
      [&](ip::Status s, std::int64_t i) {
        status[i] = services[i].reserved != 0 ? +IP_BAD_RESERVED : +s;
        write_nan(&metrics[i]);
      },
      rows_per_thread);
}

}  // namespace

extern "C" {

int ip_abi_version(void) { return INFERPLAN_ABI_VERSION; }

int ip_abi_minor(void) { return INFERPLAN_ABI_MINOR; }

const char* ip_version(void) { return INFERPLAN_VERSION; }

const char* ip_status_message(int status) {
  switch (status) {
    case IP_OK: return "ok";
    case IP_UNSTABLE:
      return "rate: an unbounded queue at or above saturation has no steady state "
             "(lower the rate below max_rate or bound the queue with max_queue)";
    case IP_INFEASIBLE_ITL: return "targets.itl_ms is below the ITL of a near-idle replica";
    case IP_INFEASIBLE_TTFT: return "targets.ttft_ms is below the TTFT of a near-idle replica";
    case IP_INFEASIBLE_TTFT_PERCENTILE:
      return "targets.ttft_p_ms is below the TTFT percentile of a near-idle replica";
    case IP_INFEASIBLE_WAIT_PERCENTILE:
      return "targets.wait_p_ms is below the wait percentile of a near-idle replica";
    case IP_INFEASIBLE_BLOCK:
      return "targets.max_block is below the blocking probability of a near-idle replica";
    case IP_INFEASIBLE_TPS: return "targets.tps needs more than the replica can deliver";
    case IP_INFEASIBLE_WAIT:
      return "targets.wait_ms is below the mean wait of a near-idle replica";
    case IP_NOT_CERTIFIED:
      return "sizing could not certify that every target holds below a rate within its work "
             "bound (see docs/model.md 3.1); no rate is reported";
    case IP_BAD_KIND:
      return "service.kind must be IP_DECODE_ONLY (0) or IP_PREFILL_DECODE (1), or "
             "IP_VECTOR (2) with tau_ms in ip_replica_new";
    case IP_BAD_ALPHA:
      return "service.alpha must be finite and >= 0, and the service time must be positive";
    case IP_BAD_BETA: return "service.beta must be finite and >= 0";
    case IP_BAD_GAMMA: return "service.gamma must be finite and >= 0";
    case IP_BAD_IN_TOKENS: return "service.in_tokens must be finite and >= 0";
    case IP_BAD_OUT_TOKENS: return "service.out_tokens must be finite and at least 1e-9";
    case IP_BAD_MAX_NUM_TOKENS:
      return "service.max_num_tokens must be finite and > 0, and large enough that a prompt of "
             "service.in_tokens needs at most 2^53 prefill chunks at max_batch";
    case IP_BAD_MAX_BATCH: return "max_batch must be an integer in [1, 16777216]";
    case IP_BAD_MAX_QUEUE:
      return "max_queue must be an integer in [0, 2^53] or INFINITY, and a finite queue at "
             "most 1e300 ms of full-batch services long (max_queue * tau(N) / N)";
    case IP_BAD_RATE: return "rate must be finite and >= 0 (req/s)";
    case IP_BAD_TARGET_ITL: return "targets.itl_ms must be finite and > 0 (or 0 or NaN: not set)";
    case IP_BAD_TARGET_TTFT: return "targets.ttft_ms must be finite and > 0 (or 0 or NaN: not set)";
    case IP_BAD_TTFT_PERCENTILE:
      return "targets.ttft_pq must be in (0, 1) and targets.ttft_p_ms finite and > 0 "
             "(or both 0 or NaN: not set)";
    case IP_BAD_WAIT_PERCENTILE:
      return "targets.wait_pq must be in (0, 1) and targets.wait_p_ms finite and > 0 "
             "(or both 0 or NaN: not set)";
    case IP_BAD_MAX_BLOCK: return "targets.max_block must be in (0, 1) (or 0 or NaN: not set)";
    case IP_BAD_TPS: return "targets.tps must be finite and > 0 (or 0 or NaN: not set)";
    case IP_BAD_SERVICE_TIME:
      return "service time: every tau(b) (tau_ms, or from the service's alpha, beta, gamma, "
             "in_tokens, out_tokens) must be finite and > 0, with tau(b)/b in [1e-290, 1e290] ms";
    case IP_BAD_QUANTILE: return "q must be in (0, 1)";
    case IP_BAD_TARGET_WAIT: return "targets.wait_ms must be finite and > 0 (or 0 or NaN: not set)";
    case IP_BAD_ADMISSION:
      return "admission must be IP_ADMIT_CHAIN, IP_ADMIT_IMMEDIATE or IP_ADMIT_ITERATION";
    case IP_BAD_ARRIVAL_CV:
      return "arrival_cv (coefficient of variation of the gaps between arrivals) must be "
             "finite and in [0, 100]";
    case IP_BAD_OUT_TOKENS_CV:
      return "out_tokens_cv (coefficient of variation of the output length) must be finite "
             "and in [0, 100]";
    case IP_BAD_ARRIVAL_FIT: return "fit must be IP_FIT_GAMMA or IP_FIT_BALANCED";
    case IP_BAD_ARRIVAL_LEVELS:
      return "arrival_cv != 1: max_batch + max_queue must be at most 400,000 levels and levels "
             "x phases within the kernel's work bound (use an unbounded queue, a shorter "
             "queue or a larger arrival_cv)";
    case IP_BAD_ARRIVAL_COLLISIONS:
      return "the prefill-collision law of the TTFT quantile by batch under immediate "
             "admission, with the quantile search over it, exceeds the kernel's work bound "
             "(bursty arrivals and many prefill chunks, or a long finite queue): use a "
             "smaller arrival_cv, fewer chunks (a larger max_num_tokens), a shorter queue or "
             "another admission rule";
    case IP_NULL_ARRIVAL_CV: return "arrival_cv (the array) is NULL";
    case IP_NULL_SERVICE: return "service (or services) is NULL";
    case IP_NULL_REPLICA: return "replica is NULL";
    case IP_NULL_TARGETS: return "targets is NULL";
    case IP_NULL_OUT: return "out (the output pointer or array) is NULL";
    case IP_NULL_TAU: return "tau_ms is NULL but service.kind is IP_VECTOR";
    case IP_NULL_MAX_BATCH: return "max_batch (the array) is NULL";
    case IP_NULL_MAX_QUEUE: return "max_queue (the array) is NULL";
    case IP_NULL_RATE: return "rate (the array) is NULL";
    case IP_NULL_STATUS: return "status (the array) is NULL";
    case IP_BAD_ROWS: return "rows must be >= 0";
    case IP_OUT_OF_MEMORY: return "out of memory";
    case IP_INTERNAL_ERROR: return "internal error in the inferplan kernel";
    case IP_BAD_RESERVED: return "service.reserved must be 0";
    default: return "unknown status";
  }
}

int ip_service_defaults(ip_service* service, int32_t kind) {
  if (!service) return IP_NULL_SERVICE;
  if (kind != IP_DECODE_ONLY && kind != IP_PREFILL_DECODE && kind != IP_VECTOR)
    return IP_BAD_KIND;
  std::memset(service, 0, sizeof(ip_service));
  const ip::ServiceParams d;
  service->kind = kind;
  service->out_tokens = d.out_tokens;
  service->max_num_tokens = d.max_num_tokens;
  return IP_OK;
}

int ip_replica_new(const ip_service* service, std::int64_t max_batch, double max_queue,
                   const double* tau_ms, ip_replica** out) {
  if (out) *out = nullptr;
  if (!out) return IP_NULL_OUT;
  if (!service) return IP_NULL_SERVICE;
  if (service->reserved != 0) return IP_BAD_RESERVED;
  if (service->kind == IP_VECTOR && !tau_ms) return IP_NULL_TAU;
  return guarded([&]() -> int {
    // Checked before allocating: a huge or negative max_batch must not reach the vectors.
    int s = ip::validate_queue(max_batch, max_queue);
    if (s != ip::kOk) return s;
    std::unique_ptr<ip_replica> r(new ip_replica);
    s = r->impl.init(params_of(*service), max_batch, max_queue, tau_ms);
    if (s != ip::kOk) return s;
    // Fill the lazily computed log prefix now, so that later calls only read the handle
    // and it can be shared across threads. Same values as filling it on demand.
    const ip::ChainView& chain = r->impl.view().chain;
    chain.log_prefix_at(chain.N);
    *out = r.release();
    return IP_OK;
  });
}

void ip_replica_free(ip_replica* replica) { delete replica; }

// The chain's read-off is the admission rule IP_ADMIT_CHAIN (same bits).
int ip_analyze(const ip_replica* replica, double rate, ip_metrics* out) {
  return ip_analyze_admitted(replica, rate, IP_ADMIT_CHAIN, out);
}

int ip_size(const ip_replica* replica, const ip_targets* targets, ip_size_result* out) {
  return ip_size_admitted(replica, targets, IP_ADMIT_CHAIN, out);
}

int ip_analyze_admitted(const ip_replica* replica, double rate, std::int32_t admission,
                        ip_metrics* out) {
  if (!replica) return IP_NULL_REPLICA;
  if (!out) return IP_NULL_OUT;
  return guarded([&]() -> int {
    double m[ip::kNumMetrics];
    int s = ip::analyze_admitted(replica->impl.view(), rate, admission, m);
    if (s == ip::kOk) write_metrics(m, out);
    return s;
  });
}

int ip_size_admitted(const ip_replica* replica, const ip_targets* targets,
                     std::int32_t admission, ip_size_result* out) {
  if (!replica) return IP_NULL_REPLICA;
  if (!targets) return IP_NULL_TARGETS;
  if (!out) return IP_NULL_OUT;
  return guarded([&]() -> int {
    ip::SizeResult r;
    ip::size_admitted(replica->impl.view(), targets_of(*targets), admission, r);
    write_size(r, out);
    return r.status;
  });
}

int ip_wait_quantile(const ip_replica* replica, double rate, double q, double* out_ms) {
  if (!out_ms) return IP_NULL_OUT;
  return guarded([&]() { return quantiles(replica, rate, q, out_ms, nullptr); });
}

int ip_ttft_quantile(const ip_replica* replica, double rate, double q, double* out_ms) {
  if (!out_ms) return IP_NULL_OUT;
  return guarded([&]() { return quantiles(replica, rate, q, nullptr, out_ms); });
}

int ip_size_params(const ip_service* service, std::int64_t max_batch, double max_queue,
                   const ip_targets* targets, ip_size_result* out) {
  if (!service) return IP_NULL_SERVICE;
  if (!targets) return IP_NULL_TARGETS;
  if (!out) return IP_NULL_OUT;
  return guarded([&]() -> int {
    const ip::ServiceParams p = params_of(*service);
    int s = service->reserved != 0 ? +IP_BAD_RESERVED
            : p.kind == ip::kVector ? +ip::kBadKind
                                    : +ip::validate_queue(max_batch, max_queue);
    if (s != ip::kOk) {
      write_error(s, out);
      return s;
    }
    thread_local ThreadScratch scratch;
    ip::ReplicaView view;
    s = ip::prepare_replica(p, max_batch, max_queue, scratch.buffers(max_batch), view);
    ip::SizeResult r;
    if (s == ip::kOk) {
      ip::size_replica(view, targets_of(*targets), r);
    } else {
      r.status = s;
    }
    write_size(r, out);
    return r.status;
  });
}

namespace {

constexpr int kGoOn = -1;

// The checks every batch call starts with, in this order: kGoOn to go on, else the code to
// return (no rows is IP_OK whatever the pointers).
int batch_columns(std::int64_t rows, const ip_service* services, const std::int64_t* max_batch,
                  const double* max_queue) {
  if (rows < 0) return IP_BAD_ROWS;
  if (rows == 0) return IP_OK;
  if (!services) return IP_NULL_SERVICE;
  if (!max_batch) return IP_NULL_MAX_BATCH;
  if (!max_queue) return IP_NULL_MAX_QUEUE;
  return kGoOn;
}

}  // namespace

int ip_analyze_many(std::int64_t rows, const ip_service* services, const std::int64_t* max_batch,
                    const double* max_queue, const double* rate, ip_metrics* metrics,
                    std::int32_t* status, int threads) {
  if (const int c = batch_columns(rows, services, max_batch, max_queue); c != kGoOn) return c;
  if (!rate) return IP_NULL_RATE;
  if (!metrics) return IP_NULL_OUT;
  if (!status) return IP_NULL_STATUS;
  return guarded([&]() -> int {
    analyze_rows(services, max_batch, max_queue, rows, threads, metrics, status,
                 [&](const ip::ReplicaView& view, std::int64_t i, double* m) {
                   return ip::analyze(view, rate[i], m);
                 });
    return IP_OK;
  });
}

int ip_size_many(std::int64_t rows, const ip_service* services, const std::int64_t* max_batch,
                 const double* max_queue, const ip_targets* targets, ip_size_result* out,
                 int threads) {
  if (const int c = batch_columns(rows, services, max_batch, max_queue); c != kGoOn) return c;
  if (!targets) return IP_NULL_TARGETS;
  if (!out) return IP_NULL_OUT;
  return guarded([&]() -> int {
    for_each_row(
        config_columns(services, max_batch, max_queue), rows, threads,
        [&](const ip::ReplicaView& view, std::int64_t i) {
          if (services[i].reserved != 0) return write_error(IP_BAD_RESERVED, &out[i]);
          ip::SizeResult r;
          ip::size_replica(view, targets_of(targets[i]), r);
          write_size(r, &out[i]);
        },
        [&](ip::Status s, std::int64_t i) {
          write_error(services[i].reserved != 0 ? +IP_BAD_RESERVED : +s, &out[i]);
        });
    return IP_OK;
  });
}

int ip_analyze_arrivals(const ip_replica* replica, double rate, double arrival_cv,
                        std::int32_t fit, std::int32_t admission, ip_metrics* out) {
  if (!replica) return IP_NULL_REPLICA;
  if (!out) return IP_NULL_OUT;
  return guarded([&]() -> int {
    double m[ip::kNumMetrics];
    int s = ip::analyze_arrivals(replica->impl.view(), rate, arrival_cv, fit, admission, m);
    if (s == ip::kOk) write_metrics(m, out);
    return s;
  });
}

int ip_quantiles_arrivals(const ip_replica* replica, double rate, double q, double arrival_cv,
                          std::int32_t fit, std::int32_t admission, double* wait_ms,
                          double* ttft_ms) {
  if (!replica) return IP_NULL_REPLICA;
  if (!wait_ms && !ttft_ms) return IP_NULL_OUT;
  return guarded([&]() -> int {
    double w = 0.0, t = 0.0;
    int s = ip::quantiles_arrivals(replica->impl.view(), rate, q, arrival_cv, fit, admission,
                                   &w, &t);
    if (s == ip::kOk) {
      if (wait_ms) *wait_ms = w;
      if (ttft_ms) *ttft_ms = t;
    }
    return s;
  });
}

int ip_ttft_by_batch_arrivals(const ip_replica* replica, double rate, double q,
                              double arrival_cv, std::int32_t fit, std::int32_t admission,
                              double* out_ms) {
  if (!replica) return IP_NULL_REPLICA;
  if (!out_ms) return IP_NULL_OUT;
  return guarded([&]() -> int {
    double v = 0.0;
    int s = ip::ttft_by_batch_arrivals(replica->impl.view(), rate, q, arrival_cv, fit, admission,
                                       &v);
    if (s == ip::kOk) *out_ms = v;
    return s;
  });
}

int ip_size_arrivals(const ip_replica* replica, const ip_targets* targets, double arrival_cv,
                     std::int32_t fit, std::int32_t admission, ip_size_result* out) {
  if (!replica) return IP_NULL_REPLICA;
  if (!targets) return IP_NULL_TARGETS;
  if (!out) return IP_NULL_OUT;
  return guarded([&]() -> int {
    ip::SizeResult r;
    ip::size_arrivals(replica->impl.view(), targets_of(*targets), arrival_cv, fit, admission, r);
    write_size(r, out);
    return r.status;
  });
}

int ip_analyze_arrivals_many(std::int64_t rows, const ip_service* services,
                             const std::int64_t* max_batch, const double* max_queue,
                             const double* rate, const double* arrival_cv, std::int32_t fit,
                             std::int32_t admission, ip_metrics* metrics, std::int32_t* status,
                             int threads) {
  if (const int c = batch_columns(rows, services, max_batch, max_queue); c != kGoOn) return c;
  if (!rate) return IP_NULL_RATE;
  if (!arrival_cv) return IP_NULL_ARRIVAL_CV;
  if (!metrics) return IP_NULL_OUT;
  if (!status) return IP_NULL_STATUS;
  return guarded([&]() -> int {
    analyze_rows(
        services, max_batch, max_queue, rows, threads, metrics, status,
        [&](const ip::ReplicaView& view, std::int64_t i, double* m) {
          return ip::analyze_arrivals(view, rate[i], arrival_cv[i], fit, admission, m);
        },
        ip::kArrivalRowsPerThread);
    return IP_OK;
  });
}

int ip_size_arrivals_many(std::int64_t rows, const ip_service* services,
                          const std::int64_t* max_batch, const double* max_queue,
                          const ip_targets* targets, const double* arrival_cv, std::int32_t fit,
                          std::int32_t admission, ip_size_result* out, int threads) {
  if (const int c = batch_columns(rows, services, max_batch, max_queue); c != kGoOn) return c;
  if (!targets) return IP_NULL_TARGETS;
  if (!arrival_cv) return IP_NULL_ARRIVAL_CV;
  if (!out) return IP_NULL_OUT;
  return guarded([&]() -> int {
    for_each_row(
        config_columns(services, max_batch, max_queue), rows, threads,
        [&](const ip::ReplicaView& view, std::int64_t i) {
          if (services[i].reserved != 0) return write_error(IP_BAD_RESERVED, &out[i]);
          ip::SizeResult r;
          ip::size_arrivals(view, targets_of(targets[i]), arrival_cv[i], fit, admission, r);
          write_size(r, &out[i]);
        },
        [&](ip::Status s, std::int64_t i) {
          write_error(services[i].reserved != 0 ? +IP_BAD_RESERVED : +s, &out[i]);
        },
        ip::kArrivalRowsPerThread);
    return IP_OK;
  });
}

}  // extern "C"

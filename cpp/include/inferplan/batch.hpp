// Vectorised entry points over columns of configurations (structure of
// arrays). Every column is a pointer and a stride in elements; stride 0
// broadcasts one value to all rows, so scalars cost no memory. Each worker
// owns scratch buffers sized for the largest max batch: no allocation per row.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "admission.hpp"
#include "concurrency.hpp"
#include "parallel.hpp"
#include "replica.hpp"
#include "sizing.hpp"

namespace inferplan {

template <class T>
struct Column {
  const T* data = nullptr;
  std::int64_t stride = 0;
  T operator[](std::int64_t i) const { return data[i * stride]; }
};

struct ConfigColumns {
  Column<std::int32_t> kind;
  Column<double> alpha, beta, gamma, in_tokens, out_tokens, max_num_tokens;
  Column<std::int64_t> max_batch;
  Column<double> max_queue;

  ServiceParams params(std::int64_t i) const {
    ServiceParams p;
    p.kind = kind[i];
    p.alpha = alpha[i];
    p.beta = beta[i];
    p.gamma = gamma[i];
    p.in_tokens = in_tokens[i];
    p.out_tokens = out_tokens[i];
    p.max_num_tokens = max_num_tokens[i];
    return p;
  }
};

// Output columns: out[k] receives metric k for every row, or is null.
struct MetricColumns {
  double* out[kNumMetrics] = {};

  void write(std::int64_t i, const double* m) const {
    for (int k = 0; k < kNumMetrics; ++k)
      if (out[k]) out[k][i] = m[k];
  }
  void write_nan(std::int64_t i) const {
    for (int k = 0; k < kNumMetrics; ++k)
      if (out[k]) out[k][i] = std::numeric_limits<double>::quiet_NaN();
  }
};

// Per-worker scratch for the rate-independent arrays of one row.
struct Scratch {
  std::vector<double> tau, chunks, inv_index, inv_mu, log_prefix;
  std::int64_t log_filled = 0;
  explicit Scratch(std::int64_t max_n)
      : tau(static_cast<std::size_t>(max_n)), chunks(static_cast<std::size_t>(max_n)),
        inv_index(static_cast<std::size_t>(max_n)), inv_mu(static_cast<std::size_t>(max_n)),
        log_prefix(static_cast<std::size_t>(max_n) + 1) {
    fill_reciprocals(max_n, inv_index.data());
  }

  Status prepare(const ConfigColumns& cfg, std::int64_t i, ReplicaView& view) {
    ServiceParams p = cfg.params(i);
    if (p.kind == kVector) return kBadKind;  // vectors go through Replica
    ReplicaBuffers buf{tau.data(),    chunks.data(),     inv_index.data(),
                       inv_mu.data(), log_prefix.data(), &log_filled};
    return prepare_replica(p, cfg.max_batch[i], cfg.max_queue[i], buf, view);
  }
};

inline std::int64_t max_batch_of(const ConfigColumns& cfg, std::int64_t rows) {
  // Invalid rows are rejected later; they must not size the scratch.
  std::int64_t m = 1;
  const std::int64_t n = cfg.max_batch.stride == 0 ? std::min<std::int64_t>(rows, 1) : rows;
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t b = cfg.max_batch[i];
    if (b <= kMaxBatchLimit) m = std::max(m, b);
  }
  return m;
}

// Prepares every row in per-worker scratch (sized once for the largest max
// batch) and calls fn(status, view, row); view is valid only when status is kOk.
template <class Fn>
void for_each_row(const ConfigColumns& cfg, std::int64_t rows, int threads, Fn&& fn,
                  std::int64_t rows_per_thread = 2048) {
  const std::int64_t max_n = max_batch_of(cfg, rows);
  const int nthreads = resolve_threads(threads, rows, rows_per_thread);
  std::vector<Scratch> scratch;
  scratch.reserve(static_cast<std::size_t>(nthreads));
  for (int w = 0; w < nthreads; ++w) scratch.emplace_back(max_n);
  parallel_for(rows, nthreads, [&](int worker, std::int64_t begin, std::int64_t end) {
    Scratch& sc = scratch[static_cast<std::size_t>(worker)];
    ReplicaView view;
    for (std::int64_t i = begin; i < end; ++i) fn(sc.prepare(cfg, i, view), view, i);
  }, rows_per_thread);
}

// admission: an Admission rule (admission.hpp); kAdmitChain is analyze itself.
inline void analyze_many(const ConfigColumns& cfg, Column<double> rate, std::int64_t rows,
                         const MetricColumns& out, std::int32_t* status, int threads,
                         std::int32_t admission = kAdmitChain) {
  for_each_row(cfg, rows, threads, [&](Status s, const ReplicaView& view, std::int64_t i) {
    double m[kNumMetrics];
    if (s == kOk) s = analyze_admitted(view, rate[i], admission, m);
    status[i] = s;
    if (s == kOk) {
      out.write(i, m);
    } else {
      out.write_nan(i);
    }
  });
}

struct TargetColumns {
  Column<double> itl_ms, ttft_ms, wait_ms, ttft_pq, ttft_p_ms, wait_pq, wait_p_ms, max_block, tps;

  Targets row(std::int64_t i) const {
    Targets t;
    t.itl_ms = itl_ms[i];
    t.ttft_ms = ttft_ms[i];
    t.wait_ms = wait_ms[i];
    t.ttft_pq = ttft_pq[i];
    t.ttft_p_ms = ttft_p_ms[i];
    t.wait_pq = wait_pq[i];
    t.wait_p_ms = wait_p_ms[i];
    t.max_block = max_block[i];
    t.tps = tps[i];
    return t;
  }
};

// Per-row sizing outputs besides the metric columns.
struct SizeColumns {
  double* rate = nullptr;
  std::int32_t* status = nullptr;
  std::int32_t* binding = nullptr;
  std::int32_t* iterations = nullptr;
  std::int64_t* max_batch = nullptr;        // optimal concurrency only
  double* peak_throughput = nullptr;        // optimal concurrency only
};

// Runs fn(view, row) for every row whose configuration is valid; the others
// get their status and NaN outputs.
template <class Fn>
void for_each_config(const ConfigColumns& cfg, std::int64_t rows, int threads,
                     const SizeColumns& sc, const MetricColumns& out, Fn&& fn,
                     std::int64_t rows_per_thread = 2048) {
  for_each_row(cfg, rows, threads, [&](Status st, const ReplicaView& view, std::int64_t i) {
    if (st == kOk) {
      fn(view, i);
      return;
    }
    sc.status[i] = st;
    sc.rate[i] = std::numeric_limits<double>::quiet_NaN();
    sc.binding[i] = kBindNone;
    sc.iterations[i] = 0;
    out.write_nan(i);
  }, rows_per_thread);
}

inline void write_size(const SizeColumns& sc, const MetricColumns& out, std::int64_t i,
                       const SizeResult& r) {
  sc.status[i] = r.status;
  sc.binding[i] = r.binding;
  sc.iterations[i] = r.iterations;
  if (r.status == kOk) {
    sc.rate[i] = r.rate;
    out.write(i, r.metrics);
  } else {
    sc.rate[i] = std::numeric_limits<double>::quiet_NaN();
    out.write_nan(i);
  }
}

inline void size_many(const ConfigColumns& cfg, const TargetColumns& tc, std::int64_t rows,
                      const SizeColumns& sc, const MetricColumns& out, int threads,
                      std::int32_t admission = kAdmitChain) {
  for_each_config(cfg, rows, threads, sc, out, [&](const ReplicaView& view, std::int64_t i) {
    SizeResult r;
    size_admitted(view, tc.row(i), admission, r);
    write_size(sc, out, i, r);
  });
}

inline void optimal_concurrency_many(const ConfigColumns& cfg, const TargetColumns& tc,
                                     Column<double> tolerance, std::int64_t rows,
                                     const SizeColumns& sc, const MetricColumns& out,
                                     int threads) {
  for_each_config(cfg, rows, threads, sc, out, [&](const ReplicaView& view, std::int64_t i) {
    ConcurrencyResult r;
    optimal_concurrency(view, tc.row(i), tolerance[i], r);
    write_size(sc, out, i, r.size);
    sc.max_batch[i] = r.max_batch;
    sc.peak_throughput[i] = r.peak_throughput;
  });
}

}  // namespace inferplan

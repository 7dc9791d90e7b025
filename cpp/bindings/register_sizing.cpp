// Bindings for sizing, quantiles and optimal concurrency.
#include <array>

#include <pybind11/stl.h>

#include "convert.hpp"
#include "inferplan/admission.hpp"
#include "inferplan/batch.hpp"
#include "inferplan/concurrency.hpp"
#include "inferplan/quantile.hpp"
#include "inferplan/sizing.hpp"

using inferplan::kNumMetrics;

namespace {

std::array<double, kNumMetrics> metrics_of(const inferplan::SizeResult& r) {
  std::array<double, kNumMetrics> m{};
  std::copy(r.metrics, r.metrics + kNumMetrics, m.begin());
  return m;
}

py::tuple size_scalar(const PyReplica& r, const py::sequence& targets) {
  inferplan::SizeResult res;
  inferplan::size_replica(r.impl.view(), targets_from(targets), res);
  return py::make_tuple(res.status, res.rate, res.binding, res.iterations, metrics_of(res));
}

py::tuple size_admitted_scalar(const PyReplica& r, const py::sequence& targets, int rule) {
  inferplan::SizeResult res;
  inferplan::size_admitted(r.impl.view(), targets_from(targets), rule, res);
  return py::make_tuple(res.status, res.rate, res.binding, res.iterations, metrics_of(res));
}

// (status, metrics) at rate (req/s) under an admission rule.
py::tuple analyze_admitted_scalar(const PyReplica& r, double rate, int rule) {
  std::array<double, kNumMetrics> m{};
  int s = inferplan::analyze_admitted(r.impl.view(), rate, rule, m.data());
  return py::make_tuple(s, m);
}

// (status, wait quantile ms, TTFT quantile ms) at rate (req/s).
py::tuple quantiles_scalar(const PyReplica& r, double rate, double q) {
  const auto& view = r.impl.view();
  std::array<double, kNumMetrics> m{};
  int s = inferplan::analyze(view, rate, m.data());
  if (s != inferplan::kOk) return py::make_tuple(s, 0.0, 0.0);
  inferplan::Moments mo;
  inferplan::evaluate_chain(view.chain, rate / 1000.0, mo);
  double w = inferplan::wait_quantile(view.chain, mo, q);
  return py::make_tuple(s, w, w + m[inferplan::kPrefillMs] + m[inferplan::kItlMs]);
}

py::tuple concurrency_scalar(const PyReplica& r, const py::sequence& targets, double tolerance) {
  inferplan::ConcurrencyResult res;
  inferplan::optimal_concurrency(r.impl.view(), targets_from(targets), tolerance, res);
  const auto& sz = res.size;
  return py::make_tuple(sz.status, res.max_batch, res.peak_throughput, sz.rate, sz.binding,
                        sz.iterations, metrics_of(sz));
}

using I32 = py::array_t<std::int32_t, py::array::c_style>;
using F64 = py::array_t<double, py::array::c_style>;
using I64 = py::array_t<std::int64_t, py::array::c_style>;

inferplan::SizeColumns size_columns(F64& rate, I32& status, I32& binding, I32& iterations,
                                    std::int64_t rows) {
  inferplan::SizeColumns sc;
  sc.rate = out_ptr(rate, rows);
  sc.status = out_ptr(status, rows);
  sc.binding = out_ptr(binding, rows);
  sc.iterations = out_ptr(iterations, rows);
  return sc;
}

}  // namespace

void register_sizing(py::module_& m) {
  m.def("size_replica", &size_scalar, py::arg("replica"), py::arg("targets"));
  m.def("quantiles", &quantiles_scalar, py::arg("replica"), py::arg("rate"), py::arg("q"));
  m.def("size_admitted", &size_admitted_scalar, py::arg("replica"), py::arg("targets"),
        py::arg("admission"));
  m.def("analyze_admitted", &analyze_admitted_scalar, py::arg("replica"), py::arg("rate"),
        py::arg("admission"));
  m.def("optimal_concurrency", &concurrency_scalar, py::arg("replica"), py::arg("targets"),
        py::arg("tolerance"));

  m.def(
      "size_many",
      [](py::tuple cfg_cols, py::tuple target_cols, py::sequence outs, F64 rate, I32 status,
         I32 binding, I32 iterations, int threads, int admission) {
        const std::int64_t rows = status.shape(0);
        auto cfg = config_columns(cfg_cols, rows);
        auto tc = target_columns(target_cols, rows);
        auto out = metric_columns(outs, rows);
        auto sc = size_columns(rate, status, binding, iterations, rows);
        py::gil_scoped_release release;
        inferplan::size_many(cfg, tc, rows, sc, out, threads, admission);
      },
      py::arg("config"), py::arg("targets"), py::arg("out"), py::arg("rate"), py::arg("status"),
      py::arg("binding"), py::arg("iterations"), py::arg("threads") = 0,
      py::arg("admission") = 0);

  m.def(
      "optimal_concurrency_many",
      [](py::tuple cfg_cols, py::tuple target_cols, py::array_t<double, 0> tolerance,
         py::sequence outs, F64 rate, I32 status, I32 binding, I32 iterations, I64 max_batch,
         F64 peak, int threads) {
        const std::int64_t rows = status.shape(0);
        auto cfg = config_columns(cfg_cols, rows);
        auto tc = target_columns(target_cols, rows);
        auto tol = column(tolerance, rows);
        auto out = metric_columns(outs, rows);
        auto sc = size_columns(rate, status, binding, iterations, rows);
        sc.max_batch = out_ptr(max_batch, rows);
        sc.peak_throughput = out_ptr(peak, rows);
        py::gil_scoped_release release;
        inferplan::optimal_concurrency_many(cfg, tc, tol, rows, sc, out, threads);
      },
      py::arg("config"), py::arg("targets"), py::arg("tolerance"), py::arg("out"),
      py::arg("rate"), py::arg("status"), py::arg("binding"), py::arg("iterations"),
      py::arg("max_batch"), py::arg("peak_throughput"), py::arg("threads") = 0);
}

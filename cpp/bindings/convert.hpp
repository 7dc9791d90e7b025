// Type translation between NumPy buffers and the kernel's column views.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <stdexcept>

#include "inferplan/batch.hpp"
#include "inferplan/replica.hpp"

namespace py = pybind11;

template <class T>
inferplan::Column<T> column(const py::array_t<T, 0>& a, std::int64_t rows) {
  if (a.ndim() != 1 || (a.shape(0) != rows && a.shape(0) != 1))
    throw std::invalid_argument("column has the wrong shape");
  inferplan::Column<T> c;
  c.data = a.data();
  c.stride = a.shape(0) == 1 ? 0 : static_cast<std::int64_t>(a.strides(0)) / sizeof(T);
  return c;
}

inline inferplan::ConfigColumns config_columns(const py::tuple& cols, std::int64_t rows) {
  if (cols.size() != 9) throw std::invalid_argument("expected 9 configuration columns");
  inferplan::ConfigColumns c;
  c.kind = column(cols[0].cast<py::array_t<std::int32_t, 0>>(), rows);
  c.alpha = column(cols[1].cast<py::array_t<double, 0>>(), rows);
  c.beta = column(cols[2].cast<py::array_t<double, 0>>(), rows);
  c.gamma = column(cols[3].cast<py::array_t<double, 0>>(), rows);
  c.in_tokens = column(cols[4].cast<py::array_t<double, 0>>(), rows);
  c.out_tokens = column(cols[5].cast<py::array_t<double, 0>>(), rows);
  c.max_num_tokens = column(cols[6].cast<py::array_t<double, 0>>(), rows);
  c.max_batch = column(cols[7].cast<py::array_t<std::int64_t, 0>>(), rows);
  c.max_queue = column(cols[8].cast<py::array_t<double, 0>>(), rows);
  return c;
}

// outs: a sequence of kNumMetrics entries, each a float64 array of `rows` or None.
inline inferplan::MetricColumns metric_columns(const py::sequence& outs, std::int64_t rows) {
  if (static_cast<int>(outs.size()) != inferplan::kNumMetrics)
    throw std::invalid_argument("expected one output slot per metric");
  inferplan::MetricColumns mc;
  for (int k = 0; k < inferplan::kNumMetrics; ++k) {
    py::object o = outs[static_cast<std::size_t>(k)];
    if (o.is_none()) continue;
    auto a = o.cast<py::array_t<double, py::array::c_style>>();
    if (a.ndim() != 1 || a.shape(0) != rows) throw std::invalid_argument("bad output array");
    mc.out[k] = a.mutable_data();
  }
  return mc;
}

inline inferplan::ServiceParams service_params(int kind, double alpha, double beta, double gamma,
                                               double in_tokens, double out_tokens,
                                               double max_num_tokens) {
  inferplan::ServiceParams p;
  p.kind = kind;
  p.alpha = alpha;
  p.beta = beta;
  p.gamma = gamma;
  p.in_tokens = in_tokens;
  p.out_tokens = out_tokens;
  p.max_num_tokens = max_num_tokens;
  return p;
}

// A configured replica as held by Python, with the status of its preparation.
struct PyReplica {
  inferplan::Replica impl;
  int status = 0;
};

inline inferplan::Targets targets_from(const py::sequence& t) {
  if (t.size() != 9) throw std::invalid_argument("expected 9 target values");
  inferplan::Targets out;
  double* fields[9] = {&out.itl_ms, &out.ttft_ms, &out.wait_ms, &out.ttft_pq, &out.ttft_p_ms,
                       &out.wait_pq, &out.wait_p_ms, &out.max_block, &out.tps};
  for (std::size_t k = 0; k < 9; ++k) *fields[k] = t[k].cast<double>();
  return out;
}

inline inferplan::TargetColumns target_columns(const py::tuple& cols, std::int64_t rows) {
  if (cols.size() != 9) throw std::invalid_argument("expected 9 target columns");
  inferplan::TargetColumns tc;
  inferplan::Column<double>* fields[9] = {&tc.itl_ms, &tc.ttft_ms, &tc.wait_ms,
                                          &tc.ttft_pq, &tc.ttft_p_ms, &tc.wait_pq,
                                          &tc.wait_p_ms, &tc.max_block, &tc.tps};
  for (std::size_t k = 0; k < 9; ++k)
    *fields[k] = column(cols[k].cast<py::array_t<double, 0>>(), rows);
  return tc;
}

template <class T>
T* out_ptr(py::array_t<T, py::array::c_style>& a, std::int64_t rows) {
  if (a.ndim() != 1 || a.shape(0) != rows) throw std::invalid_argument("bad output array");
  return a.mutable_data();
}

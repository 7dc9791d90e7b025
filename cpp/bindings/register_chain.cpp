// Bindings for the chain: a configured replica and batch analysis.
#include <array>

#include <pybind11/stl.h>

#include "convert.hpp"
#include "inferplan/batch.hpp"
#include "inferplan/replica.hpp"

using inferplan::kNumMetrics;

namespace {

py::tuple analyze_scalar(const PyReplica& r, double rate) {
  std::array<double, kNumMetrics> m{};
  int s = inferplan::analyze(r.impl.view(), rate, m.data());
  return py::make_tuple(s, m);
}

}  // namespace

void register_chain(py::module_& m) {
  m.attr("NUM_METRICS") = static_cast<int>(kNumMetrics);

  py::class_<PyReplica>(m, "Replica")
      .def(py::init([](int kind, double alpha, double beta, double gamma, double in_tokens,
                       double out_tokens, double max_num_tokens, std::int64_t max_batch,
                       double max_queue, py::object tau) {
             auto r = std::make_unique<PyReplica>();
             auto p = service_params(kind, alpha, beta, gamma, in_tokens, out_tokens,
                                     max_num_tokens);
             const double* tau_ptr = nullptr;
             py::array_t<double, py::array::c_style | py::array::forcecast> tau_arr;
             if (!tau.is_none()) {
               tau_arr = tau.cast<decltype(tau_arr)>();
               if (tau_arr.ndim() != 1 || tau_arr.shape(0) != max_batch)
                 throw std::invalid_argument("tau must hold max_batch values");
               tau_ptr = tau_arr.data();
             } else if (kind == inferplan::kVector) {
               throw std::invalid_argument("a vector model needs tau");
             }
             r->status = r->impl.init(p, max_batch, max_queue, tau_ptr);
             return r;
           }),
           py::arg("kind"), py::arg("alpha"), py::arg("beta"), py::arg("gamma"),
           py::arg("in_tokens"), py::arg("out_tokens"), py::arg("max_num_tokens"),
           py::arg("max_batch"), py::arg("max_queue"), py::arg("tau") = py::none())
      .def_readonly("status", &PyReplica::status)
      .def("analyze", &analyze_scalar, py::arg("rate"))
      .def("service_times", [](const PyReplica& r) {
        return py::array_t<double>(static_cast<py::ssize_t>(r.impl.tau().size()),
                                   r.impl.tau().data());
      });

  m.def(
      "analyze_many",
      [](py::tuple cfg_cols, py::array_t<double, 0> rate, py::sequence outs,
         py::array_t<std::int32_t, py::array::c_style> status, int threads, int admission) {
        const std::int64_t rows = status.shape(0);
        auto cfg = config_columns(cfg_cols, rows);
        auto rate_col = column(rate, rows);
        auto out = metric_columns(outs, rows);
        std::int32_t* st = status.mutable_data();
        py::gil_scoped_release release;
        inferplan::analyze_many(cfg, rate_col, rows, out, st, threads, admission);
      },
      py::arg("config"), py::arg("rate"), py::arg("out"), py::arg("status"),
      py::arg("threads") = 0, py::arg("admission") = 0);
}

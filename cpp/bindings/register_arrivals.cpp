// Bindings for arrivals beyond Poisson (qbd.hpp): scalar calls on a configured replica,
// the QBD solve itself, and batch calls with an arrival_cv column. The GIL is released
// while the kernel runs.
#include <array>

#include <pybind11/stl.h>

#include "convert.hpp"
#include "inferplan/qbd.hpp"

using inferplan::kNumMetrics;

namespace {

using I32 = py::array_t<std::int32_t, py::array::c_style>;
using F64 = py::array_t<double, py::array::c_style>;

py::tuple analyze_arrivals_scalar(const PyReplica& r, double rate, double cv, int admission,
                                  int fit) {
  std::array<double, kNumMetrics> m{};
  int s;
  {
    py::gil_scoped_release release;
    s = inferplan::analyze_arrivals(r.impl.view(), rate, cv, fit, admission, m.data());
  }
  return py::make_tuple(s, m);
}

py::tuple quantiles_arrivals_scalar(const PyReplica& r, double rate, double q, double cv,
                                    int admission, int fit) {
  double w = 0.0, t = 0.0;
  int s;
  {
    py::gil_scoped_release release;
    s = inferplan::quantiles_arrivals(r.impl.view(), rate, q, cv, fit, admission, &w, &t);
  }
  return py::make_tuple(s, w, t);
}

py::tuple ttft_by_batch_scalar(const PyReplica& r, double rate, double q, double cv,
                               int admission, int fit) {
  double v = 0.0;
  int s;
  {
    py::gil_scoped_release release;
    s = inferplan::ttft_by_batch_arrivals(r.impl.view(), rate, q, cv, fit, admission, &v);
  }
  return py::make_tuple(s, v);
}

py::tuple size_arrivals_scalar(const PyReplica& r, const py::sequence& targets, double cv,
                               int admission, int fit) {
  const inferplan::Targets t = targets_from(targets);
  inferplan::SizeResult res;
  {
    py::gil_scoped_release release;
    inferplan::size_arrivals(r.impl.view(), t, cv, fit, admission, res);
  }
  std::array<double, kNumMetrics> m{};
  std::copy(res.metrics, res.metrics + kNumMetrics, m.begin());
  return py::make_tuple(res.status, res.rate, res.binding, res.iterations, m);
}

// (status, p, pa, sigma, tail_p) of the QBD with completion rates mu (per ms), a queue of
// max_queue, arrivals of rate lam (per ms) and CV arrival_cv.
py::tuple qbd_solve_scalar(py::array_t<double, py::array::c_style | py::array::forcecast> mu,
                           double max_queue, double lam, double cv, int fit) {
  if (mu.ndim() != 1 || mu.shape(0) < 1) throw std::invalid_argument("mu must be a 1-d array");
  const std::int64_t N = mu.shape(0);
  for (std::int64_t b = 0; b < N; ++b)
    if (!(std::isfinite(mu.data()[b]) && mu.data()[b] > 0.0))
      return py::make_tuple(static_cast<int>(inferplan::kBadServiceTime), py::none(), py::none(),
                            0.0, 0.0);
  inferplan::QbdSolution sol;
  int s = inferplan::validate_queue(N, max_queue);
  if (s == inferplan::kOk && !(std::isfinite(lam) && lam > 0.0)) s = inferplan::kBadRate;
  if (s != inferplan::kOk)
    return py::make_tuple(s, py::none(), py::none(), 0.0, 0.0);
  inferplan::PhaseType ph;
  s = inferplan::fit_renewal(cv, fit, ph);
  if (s == inferplan::kOk) {
    py::gil_scoped_release release;
    s = inferplan::qbd_solve(mu.data(), N, max_queue, lam, ph, sol);
  }
  if (s != inferplan::kOk) return py::make_tuple(s, py::none(), py::none(), 0.0, 0.0);
  F64 p(static_cast<py::ssize_t>(sol.p.size()), sol.p.data());
  F64 pa(static_cast<py::ssize_t>(sol.pa.size()), sol.pa.data());
  return py::make_tuple(s, p, pa, sol.sigma, sol.tail_p);
}

// (status, alpha, S) of the phase-type gap law of mean 1 for arrival_cv.
py::tuple renewal_fit_scalar(double cv, int fit) {
  inferplan::PhaseType ph;
  const int s = inferplan::fit_renewal(cv, fit, ph);
  if (s != inferplan::kOk) return py::make_tuple(s, py::none(), py::none());
  F64 alpha(static_cast<py::ssize_t>(ph.m), ph.alpha.data());
  F64 S({static_cast<py::ssize_t>(ph.m), static_cast<py::ssize_t>(ph.m)}, ph.S.data());
  return py::make_tuple(s, alpha, S);
}

// (status, m(d)): expected arrivals in a window of d ms that starts at an arrival.
py::tuple renewal_count_scalar(double cv, double lam, double d, int fit) {
  inferplan::PhaseType ph;
  const int s = inferplan::fit_renewal(cv, fit, ph);
  if (s != inferplan::kOk) return py::make_tuple(s, 0.0);
  return py::make_tuple(s, inferplan::renewal_count(ph, lam, d));
}

}  // namespace

void register_arrivals(py::module_& m) {
  m.attr("MAX_PHASES") = inferplan::kMaxPhases;
  m.attr("MAX_QBD_LEVELS") = inferplan::kMaxQbdLevels;
  m.def("analyze_arrivals", &analyze_arrivals_scalar, py::arg("replica"), py::arg("rate"),
        py::arg("arrival_cv"), py::arg("admission") = 0, py::arg("fit") = 0);
  m.def("quantiles_arrivals", &quantiles_arrivals_scalar, py::arg("replica"), py::arg("rate"),
        py::arg("q"), py::arg("arrival_cv"), py::arg("admission") = 0, py::arg("fit") = 0);
  m.def("ttft_by_batch_arrivals", &ttft_by_batch_scalar, py::arg("replica"), py::arg("rate"),
        py::arg("q"), py::arg("arrival_cv"), py::arg("admission") = 0, py::arg("fit") = 0);
  m.def("size_arrivals", &size_arrivals_scalar, py::arg("replica"), py::arg("targets"),
        py::arg("arrival_cv"), py::arg("admission") = 0, py::arg("fit") = 0);
  m.def("qbd_solve", &qbd_solve_scalar, py::arg("mu"), py::arg("max_queue"), py::arg("lam"),
        py::arg("arrival_cv"), py::arg("fit") = 0);
  m.def("renewal_fit", &renewal_fit_scalar, py::arg("arrival_cv"), py::arg("fit") = 0);
  m.def("renewal_count", &renewal_count_scalar, py::arg("arrival_cv"), py::arg("lam"),
        py::arg("d"), py::arg("fit") = 0);

  m.def(
      "analyze_arrivals_many",
      [](py::tuple cfg_cols, py::array_t<double, 0> rate, py::array_t<double, 0> cv,
         py::sequence outs, I32 status, int threads, int admission, int fit) {
        const std::int64_t rows = status.shape(0);
        auto cfg = config_columns(cfg_cols, rows);
        auto rate_col = column(rate, rows);
        auto cv_col = column(cv, rows);
        auto out = metric_columns(outs, rows);
        std::int32_t* st = out_ptr(status, rows);
        py::gil_scoped_release release;
        inferplan::analyze_arrivals_many(cfg, rate_col, cv_col, rows, out, st, threads,
                                         admission, fit);
      },
      py::arg("config"), py::arg("rate"), py::arg("arrival_cv"), py::arg("out"),
      py::arg("status"), py::arg("threads") = 0, py::arg("admission") = 0, py::arg("fit") = 0);

  m.def(
      "size_arrivals_many",
      [](py::tuple cfg_cols, py::tuple target_cols, py::array_t<double, 0> cv, py::sequence outs,
         F64 rate, I32 status, I32 binding, I32 iterations, int threads, int admission, int fit) {
        const std::int64_t rows = status.shape(0);
        auto cfg = config_columns(cfg_cols, rows);
        auto tc = target_columns(target_cols, rows);
        auto cv_col = column(cv, rows);
        auto out = metric_columns(outs, rows);
        inferplan::SizeColumns sc;
        sc.rate = out_ptr(rate, rows);
        sc.status = out_ptr(status, rows);
        sc.binding = out_ptr(binding, rows);
        sc.iterations = out_ptr(iterations, rows);
        py::gil_scoped_release release;
        inferplan::size_arrivals_many(cfg, tc, cv_col, rows, sc, out, threads, admission, fit);
      },
      py::arg("config"), py::arg("targets"), py::arg("arrival_cv"), py::arg("out"),
      py::arg("rate"), py::arg("status"), py::arg("binding"), py::arg("iterations"),
      py::arg("threads") = 0, py::arg("admission") = 0, py::arg("fit") = 0);

  m.def(
      "quantiles_arrivals_many",
      [](py::tuple cfg_cols, py::array_t<double, 0> rate, py::array_t<double, 0> q,
         py::array_t<double, 0> cv, F64 wait, F64 ttft, I32 status, int threads, int admission,
         int fit) {
        const std::int64_t rows = status.shape(0);
        auto cfg = config_columns(cfg_cols, rows);
        auto rate_col = column(rate, rows);
        auto q_col = column(q, rows);
        auto cv_col = column(cv, rows);
        double* w = out_ptr(wait, rows);
        double* t = out_ptr(ttft, rows);
        std::int32_t* st = out_ptr(status, rows);
        py::gil_scoped_release release;
        inferplan::quantiles_arrivals_many(cfg, rate_col, q_col, cv_col, rows, w, t, st, threads,
                                           admission, fit);
      },
      py::arg("config"), py::arg("rate"), py::arg("q"), py::arg("arrival_cv"), py::arg("wait"),
      py::arg("ttft"), py::arg("status"), py::arg("threads") = 0, py::arg("admission") = 0,
      py::arg("fit") = 0);
}

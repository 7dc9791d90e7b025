// Bindings for the simulator: NumPy buffers in, summaries and logs out.
#include <vector>

#include "convert.hpp"
#include "inferplan/simulator.hpp"

namespace {

using DoubleArray = py::array_t<double, py::array::c_style | py::array::forcecast>;

// dist = (kind, mean, cv, values or None, lo); `keep` holds the values alive.
inferplan::sim::TokenDist token_dist(const py::tuple& dist, std::vector<DoubleArray>& keep) {
  if (dist.size() != 5) throw std::invalid_argument("a token distribution has 5 fields");
  inferplan::sim::TokenDist d;
  d.kind = dist[0].cast<std::int32_t>();
  d.mean = dist[1].cast<double>();
  d.cv = dist[2].cast<double>();
  if (!dist[3].is_none()) {
    keep.push_back(dist[3].cast<DoubleArray>());
    d.values = keep.back().data();
    d.n_values = keep.back().size();
  }
  d.lo = dist[4].cast<std::int64_t>();
  return d;
}

py::tuple simulate(int kind, double alpha, double beta, double gamma, double max_num_tokens,
                   std::int64_t max_batch, double max_queue, int arrival_kind, double rate_per_s,
                   double arrival_cv, py::object times, py::tuple in_dist, py::tuple out_dist,
                   std::int64_t num_requests, std::int64_t warmup, std::uint64_t seed,
                   DoubleArray percentiles, std::int64_t replications, bool keep_records,
                   int threads, int admission) {
  namespace sim = inferplan::sim;
  std::vector<DoubleArray> keep;
  sim::SimConfig cfg;
  cfg.service = service_params(kind, alpha, beta, gamma, 0.0, 1.0, max_num_tokens);
  cfg.admission = admission;
  cfg.max_batch = max_batch;
  cfg.max_queue = max_queue;
  cfg.arrivals.kind = arrival_kind;
  cfg.arrivals.rate_per_ms = rate_per_s / 1000.0;
  cfg.arrivals.cv = arrival_cv;
  if (!times.is_none()) {
    keep.push_back(times.cast<DoubleArray>());
    cfg.arrivals.times = keep.back().data();
    cfg.arrivals.n_times = keep.back().size();
  }
  cfg.in_tokens = token_dist(in_dist, keep);
  cfg.out_tokens = token_dist(out_dist, keep);
  cfg.num_requests = num_requests;
  cfg.warmup = warmup;
  cfg.seed = seed;
  cfg.percentiles = percentiles.data();
  cfg.n_percentiles = static_cast<int>(percentiles.size());
  const int status = sim::validate(cfg);
  const int width = cfg.summary_size();
  py::array_t<double> summaries({static_cast<py::ssize_t>(replications),
                                 static_cast<py::ssize_t>(width)});
  if (status != inferplan::kOk) return py::make_tuple(status, summaries, py::none());

  const auto shape = std::vector<py::ssize_t>{static_cast<py::ssize_t>(replications),
                                              static_cast<py::ssize_t>(num_requests)};
  py::object records = py::none();
  std::vector<sim::RequestLog> logs;
  std::vector<const sim::RequestLog*> log_ptrs;
  if (keep_records) {
    py::array_t<double> arrival(shape), start(shape), first(shape), finish(shape);
    py::array_t<std::int64_t> in_tok(shape), out_tok(shape);
    py::array_t<std::uint8_t> rejected(shape);
    for (std::int64_t r = 0; r < replications; ++r) {
      logs.push_back(sim::RequestLog{arrival.mutable_data(r), start.mutable_data(r),
                                     first.mutable_data(r), finish.mutable_data(r),
                                     in_tok.mutable_data(r), out_tok.mutable_data(r),
                                     rejected.mutable_data(r)});
    }
    for (const auto& l : logs) log_ptrs.push_back(&l);
    records = py::make_tuple(arrival, start, first, finish, in_tok, out_tok, rejected);
  }
  double* out = summaries.mutable_data();
  {
    py::gil_scoped_release release;
    sim::simulate_many(cfg, 0, replications, keep_records ? log_ptrs.data() : nullptr, out,
                       threads);
  }
  return py::make_tuple(status, summaries, records);
}

}  // namespace

void register_simulator(py::module_& m) {
  m.attr("SIM_NUM_SCALAR") = static_cast<int>(inferplan::sim::kSimNumScalar);
  m.def("simulate", &simulate, py::arg("kind"), py::arg("alpha"), py::arg("beta"),
        py::arg("gamma"), py::arg("max_num_tokens"), py::arg("max_batch"), py::arg("max_queue"),
        py::arg("arrival_kind"), py::arg("rate"), py::arg("arrival_cv"), py::arg("times"),
        py::arg("in_tokens"), py::arg("out_tokens"), py::arg("num_requests"),
        py::arg("warmup"), py::arg("seed"), py::arg("percentiles"), py::arg("replications"),
        py::arg("records"), py::arg("threads"), py::arg("admission") = static_cast<int>(inferplan::kAdmitIteration));
}

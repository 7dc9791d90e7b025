// Discrete-event simulation of one replica with iteration-level continuous
// batching (docs/accuracy.md describes the model; docs/model.md 2.1-2.2 the
// service models it mirrors).
//
// The replica runs iterations back to back while it holds work. Requests join
// and leave only at iteration boundaries: at a boundary, finished requests
// leave, then waiting requests are admitted in FCFS order up to max_batch.
// An arrival finding N + Q requests in the replica (batch plus queue) is
// rejected. Times are in ms.
//
// DecodeOnly: an iteration with b requests takes alpha + beta*b and gives each
// request one token. The batch only changes when a request finishes or one
// can join, so the simulator jumps over whole runs of identical iterations:
// the cost is O(log N) per request, not per token.
//
// PrefillDecode: an iteration serves the batch in admission order under a
// budget of floor(max_num_tokens) tokens. A request still in prefill takes
// min(prompt left, budget left) prompt tokens (a chunk); a request in decode
// takes one token. The iteration costs alpha + beta*(tokens computed) +
// gamma*(KV tokens read), where a chunk ending at prompt position p reads p
// cached tokens and decode token t reads L + t, exactly the per-token costs
// behind w_pre and w_dec in docs/model.md 2.2. As in the analytic model, the
// first output token comes from the first decode iteration after the prompt.
//
// Admission. kAdmitIteration (the default, the behaviour above): a request
// joins only at an iteration boundary, so one that finds a free slot still
// waits for the iteration in progress to end. kAdmitImmediate is the
// birth-death chain's own assumption (docs/model.md 1): a request enters service
// the moment a slot is free. To keep that exact, the iteration clock becomes
// per request: every request in service runs its own iterations back to back,
// starting the first the instant it is admitted, and all of them advance at
// the speed of the current batch, 1/T tokens (steps) per ms with T the cost
// of an iteration over the batch of the moment (alpha + beta*b for
// DecodeOnly; alpha + beta*sum(tokens) + gamma*sum(KV read) over the steps in
// progress for PrefillDecode). When the batch changes mid-step, the rest of
// every step in progress runs at the new speed. A global progress clock P
// (iterations served per request in service, dP/dt = 1/T) makes a step that
// begins at P end at P + 1, so the engine keeps the same cost as the default
// one. Under the token budget, a step takes the tokens left by the steps in
// progress (first come, first served rather than admission order); with none
// left it stalls for one step. A request that finds the replica idle is
// served exactly as in the default mode.
//
// Randomness: xoshiro256** seeded through splitmix64, with every variate built
// from it here (no std:: distributions), so results are identical across
// standard libraries. Each replication uses its own two streams (arrivals,
// request sizes), derived from (seed, replication).
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <queue>
#include <thread>
#include <utility>
#include <vector>

#include "admission.hpp"
#include "service.hpp"
#include "status.hpp"

namespace inferplan {
namespace sim {

// ---------------------------------------------------------------- random ---

inline std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// xoshiro256** (Blackman and Vigna, https://prng.di.unimi.it/).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) {
    for (auto& w : s_) w = splitmix64(seed);
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform on (0, 1]: safe to take the log of.
  double uniform_pos() { return static_cast<double>((next() >> 11) + 1) * 0x1.0p-53; }
  // Uniform on [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double exponential() { return -std::log(uniform_pos()); }

  // Standard normal, Marsaglia's polar method (the spare value is kept).
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u, v, s;
    do {
      u = 2.0 * uniform() - 1.0;
      v = 2.0 * uniform() - 1.0;
      s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    const double f = std::sqrt(-2.0 * std::log(s) / s);
    spare_ = v * f;
    has_spare_ = true;
    return u * f;
  }

  // Gamma(shape, 1): Marsaglia and Tsang (2000); shape < 1 by boosting.
  double gamma(double shape) {
    if (shape < 1.0) return gamma(shape + 1.0) * std::pow(uniform_pos(), 1.0 / shape);
    const double d = shape - 1.0 / 3.0;
    const double c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
      double x, v;
      do {
        x = normal();
        v = 1.0 + c * x;
      } while (v <= 0.0);
      v = v * v * v;
      const double u = uniform_pos();
      if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
      if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
    }
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
  double spare_ = 0.0;
  bool has_spare_ = false;
};

// Seed of stream `stream` of replication `rep`: distinct, well-mixed words.
inline std::uint64_t stream_seed(std::uint64_t seed, std::uint64_t rep, std::uint64_t stream) {
  std::uint64_t s = seed;
  std::uint64_t a = splitmix64(s);
  s = a ^ (rep * 0xd1b54a32d192ed03ULL);
  std::uint64_t b = splitmix64(s);
  s = b ^ (stream * 0x8cb92ba72f3d8dd7ULL);
  return splitmix64(s);
}

// ------------------------------------------------------------ token sizes ---

enum TokenKind : std::int32_t {
  kConstant = 0,
  kExponential = 1,  // rounded to the nearest integer
  kGeometric = 2,    // on {lo, lo+1, ...} with the given mean
  kLognormal = 3,    // mean and coefficient of variation, rounded
  kEmpirical = 4,    // uniform draw from `values`
  kTokenTrace = 5,   // request i gets values[i % n]
};

struct TokenDist {
  std::int32_t kind = kConstant;
  double mean = 1.0;
  double cv = 1.0;
  const double* values = nullptr;  // kEmpirical, kTokenTrace
  std::int64_t n_values = 0;
  std::int64_t lo = 1;  // smallest value: 1 for outputs, 0 for prompts

  // Derived constants, set by prepare().
  double log_q = 0.0, ln_mu = 0.0, ln_sigma = 0.0;

  void prepare() {
    if (kind == kGeometric) {
      const double excess = mean - static_cast<double>(lo);  // mean of the excess over lo
      log_q = excess > 0.0 ? std::log(excess / (excess + 1.0)) : -INFINITY;
    } else if (kind == kLognormal) {
      ln_sigma = std::sqrt(std::log1p(cv * cv));
      ln_mu = std::log(mean) - 0.5 * ln_sigma * ln_sigma;
    }
  }

  std::int64_t clamp(double x) const {
    const double r = std::nearbyint(x);
    if (!(r >= static_cast<double>(lo))) return lo;
    if (r > 4e18) return static_cast<std::int64_t>(4e18);
    return static_cast<std::int64_t>(r);
  }

  std::int64_t sample(Rng& rng, std::int64_t index) const {
    switch (kind) {
      case kExponential:
        return clamp(mean * rng.exponential());
      case kGeometric: {
        if (log_q == -INFINITY) return lo;
        const double x = std::floor(std::log(rng.uniform_pos()) / log_q);
        return clamp(static_cast<double>(lo) + x);
      }
      case kLognormal:
        return clamp(std::exp(ln_mu + ln_sigma * rng.normal()));
      case kEmpirical: {
        const auto i = static_cast<std::int64_t>(rng.uniform() * static_cast<double>(n_values));
        return clamp(values[std::min(i, n_values - 1)]);
      }
      case kTokenTrace:
        return clamp(values[index % n_values]);
      default:
        return clamp(mean);
    }
  }
};

// --------------------------------------------------------------- arrivals ---

enum ArrivalKind : std::int32_t {
  kPoisson = 0,
  kGammaRenewal = 1,  // i.i.d. Gamma gaps with mean 1/rate and the given cv
  kArrivalTrace = 2,  // timestamps (ms, nondecreasing)
};

struct ArrivalSpec {
  std::int32_t kind = kPoisson;
  double rate_per_ms = 0.0;
  double cv = 1.0;
  const double* times = nullptr;
  std::int64_t n_times = 0;
};

// --------------------------------------------------------------- outputs ---

// Scalar summary of one replication; percentiles follow in three blocks
// (TTFT, ITL, wait), each with one value per requested percentile.
enum SimMetric : int {
  kSimArrivals = 0,     // measured arrivals (after warm-up)
  kSimCompleted,        // measured arrivals that completed
  kSimRejected,         // measured arrivals that were rejected
  kSimWindowMs,         // length of the measurement window
  kSimThroughput,       // completions in the window per second
  kSimTokenThroughput,  // output tokens of those completions per second
  kSimPBlock,           // rejected / arrivals
  kSimInService,        // time-average batch occupancy over the window
  kSimUtilization,      // in_service / max_batch
  kSimBusy,             // fraction of the window with an iteration running
  kSimWaitMs,           // mean start - arrival
  kSimTtftMs,           // mean first token - arrival
  kSimItlMs,            // sum(finish - first token) / sum(out - 1)
  kSimResponseMs,       // mean finish - arrival
  kSimServiceMs,        // mean finish - start
  kSimNumScalar
};

// Per-request log, one slot per arrival (warm-up included). Non-owning.
struct RequestLog {
  double* arrival = nullptr;
  double* start = nullptr;        // NaN if rejected
  double* first_token = nullptr;  // NaN if rejected
  double* finish = nullptr;       // NaN if rejected
  std::int64_t* in_tokens = nullptr;
  std::int64_t* out_tokens = nullptr;
  std::uint8_t* rejected = nullptr;
};

// Owning storage for a log, for replications whose records are not kept.
struct LogBuffers {
  std::vector<double> arrival, start, first_token, finish;
  std::vector<std::int64_t> in_tokens, out_tokens;
  std::vector<std::uint8_t> rejected;

  RequestLog resize(std::int64_t n) {
    const auto s = static_cast<std::size_t>(n);
    arrival.resize(s);
    start.resize(s);
    first_token.resize(s);
    finish.resize(s);
    in_tokens.resize(s);
    out_tokens.resize(s);
    rejected.resize(s);
    return RequestLog{arrival.data(), start.data(), first_token.data(), finish.data(),
                      in_tokens.data(), out_tokens.data(), rejected.data()};
  }
};

// Admission rules are admission.hpp's codes: kAdmitIteration (join at the next
// iteration boundary, the default) or kAdmitImmediate (join at once, on a
// per-request iteration clock); kAdmitChain is not a rule a server follows.

struct SimConfig {
  ServiceParams service;  // kDecodeOnly or kPrefillDecode
  std::int32_t admission = kAdmitIteration;
  std::int64_t max_batch = 1;
  double max_queue = INFINITY;
  ArrivalSpec arrivals;
  TokenDist in_tokens, out_tokens;
  std::int64_t num_requests = 0;  // arrivals per replication, warm-up included
  std::int64_t warmup = 0;        // leading arrivals left out of the summary
  std::uint64_t seed = 0;
  const double* percentiles = nullptr;  // in [0, 100]
  int n_percentiles = 0;

  int summary_size() const { return kSimNumScalar + 3 * n_percentiles; }
};

// ------------------------------------------------------------ simulation ---

namespace detail {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// State shared by both service models: arrivals, the FCFS queue, the log and
// the time integrals over the measurement window.
class Replication {
 public:
  Replication(const SimConfig& cfg, std::uint64_t rep, const RequestLog& log)
      : cfg_(cfg), log_(log), arrival_rng_(stream_seed(cfg.seed, rep, 0)),
        size_rng_(stream_seed(cfg.seed, rep, 1)), n_(cfg.num_requests),
        capacity_(std::isinf(cfg.max_queue)
                      ? std::numeric_limits<double>::infinity()
                      : static_cast<double>(cfg.max_batch) + cfg.max_queue) {
    accepted_.reserve(static_cast<std::size_t>(std::min<std::int64_t>(n_, 1 << 20)));
    if (n_ > 0) generate(0, 0.0);
  }

  bool more_arrivals() const { return next_ < n_; }
  double next_arrival() const { return next_time_; }
  std::int64_t waiting() const {
    return static_cast<std::int64_t>(accepted_.size()) - head_;
  }

  // Handles every arrival before (strictly) or up to time t, in order; the
  // replica holds `in_batch` requests meanwhile.
  void arrivals_until(double t, std::int64_t in_batch, bool inclusive) {
    while (next_ < n_ && (next_time_ < t || (inclusive && next_time_ == t))) {
      const std::int64_t id = next_;
      if (static_cast<double>(in_batch + waiting()) < capacity_) {
        accepted_.push_back(id);
        log_.rejected[id] = 0;
      } else {
        log_.rejected[id] = 1;
        log_.start[id] = log_.first_token[id] = log_.finish[id] = kNaN;
      }
      ++next_;
      if (next_ < n_) generate(next_, next_time_);
    }
  }

  // Pops the next waiting request, or -1.
  std::int64_t pop_waiting() {
    if (head_ == static_cast<std::int64_t>(accepted_.size())) return -1;
    return accepted_[static_cast<std::size_t>(head_++)];
  }

  // Batch occupancy b held over [t0, t1]: accumulated where it overlaps the
  // window [arrival of the first measured request, last arrival]. Window ends
  // not yet drawn lie beyond every arrival handled so far, hence beyond t1.
  void hold(double t0, double t1, std::int64_t b) {
    const double lo = std::max(t0, window_begin_);
    const double hi = std::min(t1, window_end_);
    if (hi > lo) {
      occupancy_ += static_cast<double>(b) * (hi - lo);
      if (b > 0) busy_ += hi - lo;
    }
  }

  void summarize(double* out) const;

  const RequestLog& log() const { return log_; }
  const SimConfig& cfg() const { return cfg_; }

 private:
  void generate(std::int64_t id, double previous) {
    double t;
    const ArrivalSpec& a = cfg_.arrivals;
    if (a.kind == kArrivalTrace) {
      t = a.times[id];
    } else if (a.kind == kGammaRenewal && a.cv != 1.0) {
      const double shape = 1.0 / (a.cv * a.cv);
      t = previous + arrival_rng_.gamma(shape) / (shape * a.rate_per_ms);
    } else {
      t = previous + arrival_rng_.exponential() / a.rate_per_ms;
    }
    next_time_ = t;
    log_.arrival[id] = t;
    log_.in_tokens[id] = cfg_.in_tokens.sample(size_rng_, id);
    log_.out_tokens[id] = cfg_.out_tokens.sample(size_rng_, id);
    if (id == cfg_.warmup) window_begin_ = t;
    if (id == n_ - 1) window_end_ = t;
  }

  const SimConfig& cfg_;
  RequestLog log_;
  Rng arrival_rng_, size_rng_;
  std::int64_t n_;
  double capacity_;
  std::int64_t next_ = 0;
  double next_time_ = 0.0;
  std::vector<std::int64_t> accepted_;  // accepted ids in arrival (= FCFS) order
  std::int64_t head_ = 0;               // accepted_[head_..] are waiting
  double window_begin_ = std::numeric_limits<double>::infinity();
  double window_end_ = std::numeric_limits<double>::infinity();
  double occupancy_ = 0.0, busy_ = 0.0;
};

// Percentile q (0..100) of v, linear interpolation between order statistics
// (NumPy's default method). Reorders v.
inline double percentile(std::vector<double>& v, double q) {
  if (v.empty()) return kNaN;
  const double h = (static_cast<double>(v.size()) - 1.0) * q / 100.0;
  const auto i = static_cast<std::size_t>(std::floor(h));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  const double lo = v[i];
  if (i + 1 >= v.size()) return lo;
  const double hi = *std::min_element(v.begin() + static_cast<std::ptrdiff_t>(i) + 1, v.end());
  return lo + (h - static_cast<double>(i)) * (hi - lo);
}

inline void Replication::summarize(double* out) const {
  const RequestLog& g = log_;
  const std::int64_t first = std::min(cfg_.warmup, n_);
  const double w0 = first < n_ ? g.arrival[first] : kNaN;
  const double w1 = n_ > 0 ? g.arrival[n_ - 1] : kNaN;
  const double window = w1 - w0;
  std::vector<double> ttft, itl, wait;
  const auto m = static_cast<std::size_t>(n_ - first);
  ttft.reserve(m);
  itl.reserve(m);
  wait.reserve(m);
  double sum_wait = 0, sum_ttft = 0, sum_resp = 0, sum_serv = 0, sum_gap = 0, sum_gap_tokens = 0;
  double done_in_window = 0, tokens_in_window = 0;
  std::int64_t rejected = 0;
  for (std::int64_t i = 0; i < n_; ++i) {
    if (g.rejected[i]) {
      if (i >= first) ++rejected;
      continue;
    }
    if (g.finish[i] >= w0 && g.finish[i] <= w1) {
      done_in_window += 1.0;
      tokens_in_window += static_cast<double>(g.out_tokens[i]);
    }
    if (i < first) continue;
    const double w = g.start[i] - g.arrival[i];
    const double f = g.first_token[i] - g.arrival[i];
    sum_wait += w;
    sum_ttft += f;
    sum_resp += g.finish[i] - g.arrival[i];
    sum_serv += g.finish[i] - g.start[i];
    wait.push_back(w);
    ttft.push_back(f);
    if (g.out_tokens[i] > 1) {
      const double gaps = static_cast<double>(g.out_tokens[i] - 1);
      const double span = g.finish[i] - g.first_token[i];
      sum_gap += span;
      sum_gap_tokens += gaps;
      itl.push_back(span / gaps);
    }
  }
  const double arrivals = static_cast<double>(n_ - first);
  const double done = static_cast<double>(wait.size());
  out[kSimArrivals] = arrivals;
  out[kSimCompleted] = done;
  out[kSimRejected] = static_cast<double>(rejected);
  out[kSimWindowMs] = window;
  const bool has_window = window > 0.0;
  out[kSimThroughput] = has_window ? 1000.0 * done_in_window / window : kNaN;
  out[kSimTokenThroughput] = has_window ? 1000.0 * tokens_in_window / window : kNaN;
  out[kSimPBlock] = arrivals > 0 ? static_cast<double>(rejected) / arrivals : kNaN;
  out[kSimInService] = has_window ? occupancy_ / window : kNaN;
  out[kSimUtilization] = out[kSimInService] / static_cast<double>(cfg_.max_batch);
  out[kSimBusy] = has_window ? busy_ / window : kNaN;
  out[kSimWaitMs] = done > 0 ? sum_wait / done : kNaN;
  out[kSimTtftMs] = done > 0 ? sum_ttft / done : kNaN;
  out[kSimItlMs] = sum_gap_tokens > 0 ? sum_gap / sum_gap_tokens : kNaN;
  out[kSimResponseMs] = done > 0 ? sum_resp / done : kNaN;
  out[kSimServiceMs] = done > 0 ? sum_serv / done : kNaN;
  const int np = cfg_.n_percentiles;
  for (int k = 0; k < np; ++k) {
    const double q = cfg_.percentiles[k];
    out[kSimNumScalar + k] = percentile(ttft, q);
    out[kSimNumScalar + np + k] = percentile(itl, q);
    out[kSimNumScalar + 2 * np + k] = percentile(wait, q);
  }
}

// DecodeOnly: jumps over runs of iterations in which the batch is unchanged.
inline void run_decode_only(Replication& r) {
  const SimConfig& cfg = r.cfg();
  const RequestLog& g = r.log();
  const double alpha = cfg.service.alpha, beta = cfg.service.beta;
  const std::int64_t N = cfg.max_batch;
  // Min-heap of (iteration at which the request emits its last token, id).
  using Entry = std::pair<std::uint64_t, std::int64_t>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> batch;
  std::vector<std::int64_t> joined;
  std::uint64_t iter = 0;  // iterations run so far
  double t = 0.0;

  auto admit = [&]() {
    joined.clear();
    while (static_cast<std::int64_t>(batch.size()) < N) {
      const std::int64_t id = r.pop_waiting();
      if (id < 0) break;
      g.start[id] = t;
      batch.emplace(iter + static_cast<std::uint64_t>(g.out_tokens[id]), id);
      joined.push_back(id);
    }
    // The next iteration runs with the new batch: it yields their first token.
    const double step = alpha + beta * static_cast<double>(batch.size());
    for (std::int64_t id : joined) g.first_token[id] = t + step;
  };

  for (;;) {
    if (batch.empty()) {
      if (!r.more_arrivals()) break;
      t = std::max(t, r.next_arrival());  // idle until the next arrival
      r.arrivals_until(t, 0, true);
      admit();
      continue;
    }
    const auto b = static_cast<std::int64_t>(batch.size());
    const double step = alpha + beta * static_cast<double>(b);
    std::uint64_t k = batch.top().first - iter;
    if (b < N && r.more_arrivals()) {
      // The next arrival can join at the first boundary at or after it.
      const double gap = r.next_arrival() - t;
      const double j = gap > 0.0 ? std::ceil(gap / step) : 1.0;
      if (j < static_cast<double>(k)) k = static_cast<std::uint64_t>(std::max(j, 1.0));
    }
    const double t_next = t + static_cast<double>(k) * step;
    r.arrivals_until(t_next, b, false);
    r.hold(t, t_next, b);
    t = t_next;
    iter += k;
    while (!batch.empty() && batch.top().first == iter) {
      g.finish[batch.top().second] = t;
      batch.pop();
    }
    r.arrivals_until(t, static_cast<std::int64_t>(batch.size()), true);
    admit();
  }
}

// PrefillDecode: one iteration at a time under the token budget.
inline void run_prefill_decode(Replication& r) {
  const SimConfig& cfg = r.cfg();
  const RequestLog& g = r.log();
  const ServiceParams& p = cfg.service;
  const std::int64_t N = cfg.max_batch;
  const double budget_max = std::floor(p.max_num_tokens);
  struct Slot {
    std::int64_t id, prompt_left, prompt_done, decoded;
  };
  std::vector<Slot> batch, kept;
  std::vector<std::int64_t> joined;
  double t = 0.0;

  auto admit = [&]() {
    while (static_cast<std::int64_t>(batch.size()) < N) {
      const std::int64_t id = r.pop_waiting();
      if (id < 0) break;
      g.start[id] = t;
      batch.push_back(Slot{id, g.in_tokens[id], 0, 0});
    }
  };

  for (;;) {
    if (batch.empty()) {
      if (!r.more_arrivals()) break;
      t = std::max(t, r.next_arrival());
      r.arrivals_until(t, 0, true);
      admit();
      continue;
    }
    double budget = budget_max, tokens = 0.0, kv = 0.0;
    for (Slot& s : batch) {
      if (budget <= 0.0) break;
      if (s.prompt_left > 0) {
        const double chunk = std::min(static_cast<double>(s.prompt_left), budget);
        const auto c = static_cast<std::int64_t>(chunk);
        s.prompt_left -= c;
        s.prompt_done += c;
        tokens += chunk;
        kv += static_cast<double>(s.prompt_done);
        budget -= chunk;
      } else {
        s.decoded += 1;
        tokens += 1.0;
        kv += static_cast<double>(s.prompt_done + s.decoded);
        budget -= 1.0;
      }
    }
    const double step = p.alpha + p.beta * tokens + p.gamma * kv;
    const auto b = static_cast<std::int64_t>(batch.size());
    const double t_next = t + step;
    r.arrivals_until(t_next, b, false);
    r.hold(t, t_next, b);
    t = t_next;
    kept.clear();
    for (const Slot& s : batch) {
      if (s.decoded == 1 && s.prompt_left == 0 && std::isnan(g.first_token[s.id]))
        g.first_token[s.id] = t;
      if (s.decoded >= g.out_tokens[s.id]) {
        g.finish[s.id] = t;
      } else {
        kept.push_back(s);
      }
    }
    batch.swap(kept);
    r.arrivals_until(t, static_cast<std::int64_t>(batch.size()), true);
    admit();
  }
}

// DecodeOnly, immediate admission: per-request iteration clocks on a global
// progress clock P (dP/dt = 1 / (alpha + beta*b)). A request admitted at P
// emits its first token at P + 1 and its last at P + k. Events are arrivals
// (while a slot is free) and finishes; first tokens are read off between them.
inline void run_decode_only_immediate(Replication& r) {
  const SimConfig& cfg = r.cfg();
  const RequestLog& g = r.log();
  const double alpha = cfg.service.alpha, beta = cfg.service.beta;
  const std::int64_t N = cfg.max_batch;
  using Entry = std::pair<double, std::int64_t>;  // (P at the last token, id)
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> batch;
  // (P at the first token, id) in admission order: P is nondecreasing, so FIFO.
  std::vector<Entry> firsts;
  std::size_t first_head = 0;
  double t = 0.0, P = 0.0;

  auto admit = [&]() {
    while (static_cast<std::int64_t>(batch.size()) < N) {
      const std::int64_t id = r.pop_waiting();
      if (id < 0) break;
      g.start[id] = t;
      batch.emplace(P + static_cast<double>(g.out_tokens[id]), id);
      firsts.emplace_back(P + 1.0, id);
    }
    if (first_head > 4096 && 2 * first_head > firsts.size()) {
      firsts.erase(firsts.begin(), firsts.begin() + static_cast<std::ptrdiff_t>(first_head));
      first_head = 0;
    }
  };

  for (;;) {
    if (batch.empty()) {
      if (!r.more_arrivals()) break;
      t = std::max(t, r.next_arrival());  // idle: the clock P stands still
      r.arrivals_until(t, 0, true);
      admit();
      continue;
    }
    const auto b = static_cast<std::int64_t>(batch.size());
    const double step = alpha + beta * static_cast<double>(b);
    const double p_fin = batch.top().first;
    double t_next = t + (p_fin - P) * step;
    double p_next = p_fin;
    if (b < N && r.more_arrivals() && r.next_arrival() < t_next) {
      t_next = r.next_arrival();
      p_next = P + (t_next - t) / step;
    }
    r.arrivals_until(t_next, b, false);
    r.hold(t, t_next, b);
    while (first_head < firsts.size() && firsts[first_head].first <= p_next) {
      const Entry& e = firsts[first_head++];
      g.first_token[e.second] = t + (e.first - P) * step;
    }
    while (!batch.empty() && batch.top().first <= p_next) {
      g.finish[batch.top().second] = t + (batch.top().first - P) * step;
      batch.pop();
    }
    t = t_next;
    P = p_next;
    r.arrivals_until(t, static_cast<std::int64_t>(batch.size()), true);
    admit();
  }
}

// PrefillDecode, immediate admission: the same per-request clocks, one step
// (a prefill chunk, a decode token or a stall) at a time. T is the cost of one
// iteration over the steps in progress; the sums of their tokens and KV reads
// are integers, so T carries no rounding drift.
inline void run_prefill_decode_immediate(Replication& r) {
  const SimConfig& cfg = r.cfg();
  const RequestLog& g = r.log();
  const ServiceParams& p = cfg.service;
  const std::int64_t N = cfg.max_batch;
  const double budget_max = std::floor(p.max_num_tokens);
  struct Slot {
    std::int64_t id, prompt_left, prompt_done, decoded, tok, kv;
  };
  std::vector<Slot> slots;
  std::vector<std::int64_t> free_slots;
  using Entry = std::pair<double, std::int64_t>;  // (P at the end of the step, slot)
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> steps;
  std::int64_t tok_sum = 0, kv_sum = 0, active = 0;
  double t = 0.0, P = 0.0;

  // Starts the next step of slot k at progress p0.
  auto begin_step = [&](std::int64_t k, double p0) {
    Slot& s = slots[static_cast<std::size_t>(k)];
    const double avail = budget_max - static_cast<double>(tok_sum);
    s.tok = s.kv = 0;  // a stall unless the budget has room
    if (avail >= 1.0) {
      if (s.prompt_left > 0) {
        s.tok = static_cast<std::int64_t>(std::min(static_cast<double>(s.prompt_left), avail));
        s.kv = s.prompt_done + s.tok;
      } else {
        s.tok = 1;
        s.kv = s.prompt_done + s.decoded + 1;
      }
    }
    tok_sum += s.tok;
    kv_sum += s.kv;
    steps.emplace(p0 + 1.0, k);
  };

  auto admit = [&]() {
    while (active < N) {
      const std::int64_t id = r.pop_waiting();
      if (id < 0) break;
      g.start[id] = t;
      std::int64_t k;
      const Slot fresh{id, g.in_tokens[id], 0, 0, 0, 0};
      if (free_slots.empty()) {
        k = static_cast<std::int64_t>(slots.size());
        slots.push_back(fresh);
      } else {
        k = free_slots.back();
        free_slots.pop_back();
        slots[static_cast<std::size_t>(k)] = fresh;
      }
      ++active;
      begin_step(k, P);
    }
  };

  for (;;) {
    if (active == 0) {
      if (!r.more_arrivals()) break;
      t = std::max(t, r.next_arrival());
      r.arrivals_until(t, 0, true);
      admit();
      continue;
    }
    const double step = p.alpha + p.beta * static_cast<double>(tok_sum) +
                        p.gamma * static_cast<double>(kv_sum);
    const double p_end = steps.top().first;
    double t_next = t + (p_end - P) * step;
    double p_next = p_end;
    if (active < N && r.more_arrivals() && r.next_arrival() < t_next) {
      t_next = r.next_arrival();
      p_next = P + (t_next - t) / step;
    }
    r.arrivals_until(t_next, active, false);
    r.hold(t, t_next, active);
    while (!steps.empty() && steps.top().first <= p_next) {
      const auto [pe, k] = steps.top();
      steps.pop();
      Slot& s = slots[static_cast<std::size_t>(k)];
      const double te = t + (pe - P) * step;
      tok_sum -= s.tok;
      kv_sum -= s.kv;
      if (s.prompt_left > 0) {
        s.prompt_left -= s.tok;
        s.prompt_done += s.tok;
      } else if (s.tok > 0) {
        s.decoded += 1;
        if (s.decoded == 1) g.first_token[s.id] = te;
      }
      if (s.prompt_left == 0 && s.decoded >= g.out_tokens[s.id]) {
        g.finish[s.id] = te;
        s.tok = s.kv = 0;
        free_slots.push_back(k);
        --active;
      } else {
        begin_step(k, pe);
      }
    }
    t = t_next;
    P = p_next;
    r.arrivals_until(t, active, true);
    admit();
  }
}

}  // namespace detail

// Validates what the Python layer cannot check cheaply once per call.
inline Status validate(const SimConfig& c) {
  if (c.service.kind != kDecodeOnly && c.service.kind != kPrefillDecode) return kBadKind;
  Status s = validate(c.service);
  if (s != kOk) return s;
  if (c.max_batch < 1) return kBadMaxBatch;
  if (c.admission != kAdmitIteration && c.admission != kAdmitImmediate) return kBadKind;
  if (std::isnan(c.max_queue) || c.max_queue < 0.0) return kBadMaxQueue;
  return kOk;
}

// Runs replication `rep` into `log` (num_requests slots) and writes its
// summary (cfg.summary_size() values).
inline void simulate_replication(const SimConfig& cfg, std::uint64_t rep, const RequestLog& log,
                                 double* summary) {
  SimConfig c = cfg;
  c.in_tokens.prepare();
  c.out_tokens.prepare();
  for (std::int64_t i = 0; i < c.num_requests; ++i) log.first_token[i] = detail::kNaN;
  detail::Replication r(c, rep, log);
  const bool immediate = c.admission == kAdmitImmediate;
  if (c.service.kind == kDecodeOnly) {
    if (immediate) {
      detail::run_decode_only_immediate(r);
    } else {
      detail::run_decode_only(r);
    }
  } else if (immediate) {
    detail::run_prefill_decode_immediate(r);
  } else {
    detail::run_prefill_decode(r);
  }
  r.summarize(summary);
}

// Runs replications first_rep .. first_rep + count - 1 on up to `threads`
// threads (0: all cores). logs[i] may be null: the replication then logs into
// scratch owned by its worker. summaries holds count * cfg.summary_size().
inline void simulate_many(const SimConfig& cfg, std::uint64_t first_rep, std::int64_t count,
                          const RequestLog* const* logs, double* summaries, int threads) {
  int hw = static_cast<int>(std::thread::hardware_concurrency());
  if (hw < 1) hw = 1;
  int nthreads = threads > 0 ? threads : hw;
  nthreads = static_cast<int>(std::min<std::int64_t>(nthreads, std::max<std::int64_t>(count, 1)));
  std::atomic<std::int64_t> next{0};
  const int width = cfg.summary_size();
  auto work = [&]() {
    LogBuffers scratch;
    for (;;) {
      const std::int64_t i = next.fetch_add(1);
      if (i >= count) break;
      RequestLog log = logs && logs[i] ? *logs[i] : scratch.resize(cfg.num_requests);
      simulate_replication(cfg, first_rep + static_cast<std::uint64_t>(i), log,
                           summaries + i * width);
    }
  };
  std::vector<std::thread> pool;
  for (int w = 1; w < nthreads; ++w) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();
}

}  // namespace sim
}  // namespace inferplan

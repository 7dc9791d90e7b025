// Sizing: the largest offered rate at which one replica meets its SLOs
// (MODEL.md section 3).
//
// Every target's metric grows with the rate, so all targets are folded into
// one excess function e(lam) = max_k (f_k(lam) / T_k - 1), evaluated from one
// chain solve per rate; its first root is the answer, found by Brent's method
// on the bracket [0, cap] to 1e-10 relative. The rate-independent part of the
// chain (service rates, their log prefix) is prepared once per configuration.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "metrics.hpp"
#include "quantile.hpp"

namespace inferplan {

// Which target limits the sized rate.
enum Binding : std::int32_t {
  kBindNone = 0,  // nothing binds below the saturation cap
  kBindItl = 1,
  kBindTtft = 2,
  kBindWait = 3,
  kBindTtftPercentile = 4,
  kBindWaitPercentile = 5,
  kBindBlock = 6,
  kBindTps = 7,
};

// Targets; 0 or NaN means "not set".
struct Targets {
  double itl_ms = 0.0;
  double ttft_ms = 0.0;
  double wait_ms = 0.0;       // mean wait
  double ttft_pq = 0.0;       // TTFT percentile: quantile in (0, 1) ...
  double ttft_p_ms = 0.0;     // ... must be at most this many ms
  double wait_pq = 0.0;
  double wait_p_ms = 0.0;
  double max_block = 0.0;     // blocking probability in (0, 1)
  double tps = 0.0;           // tokens per second for the whole fleet
};

// Headroom below saturation: the sized rate never exceeds (1 - 1e-3) mu(N),
// and with a TPS target 0.9 of that.
constexpr double kSaturationCap = 1.0 - 1e-3;
constexpr double kTpsCap = 0.9;
constexpr double kRateRelTol = 1e-10;
constexpr int kMaxIterations = 200;

struct SizeResult {
  double rate = 0.0;  // req/s
  std::int32_t status = kOk;
  std::int32_t binding = kBindNone;
  std::int32_t iterations = 0;
  double metrics[kNumMetrics] = {};
};

inline Status set_status(SizeResult& r, Status s) {
  r.status = s;
  return s;
}

namespace detail {

inline bool is_set(double x) { return !std::isnan(x) && x != 0.0; }
inline bool positive(double x) { return std::isfinite(x) && x > 0.0; }
inline bool fraction(double x) { return std::isfinite(x) && x > 0.0 && x < 1.0; }

}  // namespace detail

inline Status validate_targets(const Targets& t) {
  using detail::fraction;
  using detail::is_set;
  using detail::positive;
  if (is_set(t.itl_ms) && !positive(t.itl_ms)) return kBadTargetItl;
  if (is_set(t.ttft_ms) && !positive(t.ttft_ms)) return kBadTargetTtft;
  if (is_set(t.wait_ms) && !positive(t.wait_ms)) return kBadTargetWait;
  if ((is_set(t.ttft_pq) || is_set(t.ttft_p_ms)) && !(fraction(t.ttft_pq) && positive(t.ttft_p_ms)))
    return kBadTtftPercentile;
  if ((is_set(t.wait_pq) || is_set(t.wait_p_ms)) && !(fraction(t.wait_pq) && positive(t.wait_p_ms)))
    return kBadWaitPercentile;
  if (is_set(t.max_block) && !fraction(t.max_block)) return kBadMaxBlock;
  if (is_set(t.tps) && !positive(t.tps)) return kBadTps;
  return kOk;
}

// Evaluates every set target at one rate.
class TargetExcess {
 public:
  TargetExcess(const ReplicaView& r, const Targets& t) : r_(r), t_(t) {
    using detail::is_set;
    itl_ = is_set(t.itl_ms);
    ttft_ = is_set(t.ttft_ms);
    wait_ = is_set(t.wait_ms);
    ttft_p_ = is_set(t.ttft_pq);
    wait_p_ = is_set(t.wait_pq);
    block_ = is_set(t.max_block);
  }

  bool any() const { return itl_ || ttft_ || wait_ || ttft_p_ || wait_p_ || block_; }

  // Fills m and returns the largest relative excess; *which = its binding code.
  // Order of ties (TTFT first) follows the reference's reporting.
  double operator()(double rate, double* m, std::int32_t* which, Status* status) const {
    *status = analyze(r_, rate, m);
    if (*status != kOk) return std::numeric_limits<double>::infinity();
    double best = -std::numeric_limits<double>::infinity();
    std::int32_t arg = kBindNone;
    auto consider = [&](double excess, std::int32_t code) {
      if (excess > best) {
        best = excess;
        arg = code;
      }
    };
    if (ttft_) consider(m[kTtftMs] / t_.ttft_ms - 1.0, kBindTtft);
    if (itl_) consider(m[kItlMs] / t_.itl_ms - 1.0, kBindItl);
    if (wait_) consider(m[kWaitMs] / t_.wait_ms - 1.0, kBindWait);
    if (ttft_p_ || wait_p_) {
      Moments mo;
      evaluate_chain(r_.chain, rate / 1000.0, mo);
      if (ttft_p_) {
        // TTFT = wait + prefill + ITL, the latter two at the mean batch.
        double t = t_.ttft_p_ms - m[kPrefillMs] - m[kItlMs];
        double tail = t < 0.0 ? 1.0 : wait_ccdf(r_.chain, mo, t);
        consider(tail / (1.0 - t_.ttft_pq) - 1.0, kBindTtftPercentile);
      }
      if (wait_p_) {
        double tail = wait_ccdf(r_.chain, mo, t_.wait_p_ms);
        consider(tail / (1.0 - t_.wait_pq) - 1.0, kBindWaitPercentile);
      }
    }
    if (block_) consider(m[kPBlock] / t_.max_block - 1.0, kBindBlock);
    *which = arg;
    return best;
  }

 private:
  const ReplicaView& r_;
  const Targets& t_;
  bool itl_, ttft_, wait_, ttft_p_, wait_p_, block_;
};

inline Status infeasible_status(std::int32_t binding) {
  switch (binding) {
    case kBindItl: return kInfeasibleItl;
    case kBindTtft: return kInfeasibleTtft;
    case kBindWait: return kInfeasibleWait;
    case kBindTtftPercentile: return kInfeasibleTtftPercentile;
    case kBindWaitPercentile: return kInfeasibleWaitPercentile;
    default: return kInfeasibleBlock;
  }
}

// Sizes one prepared replica. On success out.rate is the largest offered rate
// (req/s) meeting every target, out.metrics the metrics there.
inline Status size_replica(const ReplicaView& r, const Targets& t, SizeResult& out) {
  out = SizeResult{};
  Status s = validate_targets(t);
  if (s != kOk) return set_status(out, s);
  const double mu_N = r.chain.max_rate() * 1000.0;  // req/s
  double cap = kSaturationCap * mu_N;
  std::int32_t cap_binding = kBindNone;
  if (detail::is_set(t.tps)) {
    cap *= kTpsCap;
    cap_binding = kBindTps;
  }
  TargetExcess excess(r, t);
  double m_hi[kNumMetrics];
  std::int32_t which = kBindNone;
  if (!excess.any()) {
    s = analyze(r, cap, out.metrics);
    out.rate = cap;
    out.binding = cap_binding;
    out.iterations = 1;
    return set_status(out, s);
  }
  // Idle: a target missed even here can never be met.
  double e_lo = excess(0.0, out.metrics, &which, &s);
  if (s != kOk) return set_status(out, s);
  int iterations = 1;
  if (e_lo > 0.0) {
    out.binding = which;
    out.iterations = iterations;
    return set_status(out, infeasible_status(which));
  }
  double e_hi = excess(cap, m_hi, &which, &s);
  ++iterations;
  if (s != kOk) return set_status(out, s);
  if (e_hi <= 0.0) {
    std::copy(m_hi, m_hi + kNumMetrics, out.metrics);
    out.rate = cap;
    out.binding = cap_binding;
    out.iterations = iterations;
    return set_status(out, kOk);
  }
  // Brent's method (inverse quadratic interpolation, secant, bisection) on
  // the bracket [0, cap]. The answer is the largest feasible rate evaluated:
  // within the final bracket width (1e-10 relative) of the root.
  double a = 0.0, fa = e_lo;  // previous iterate
  double b = cap, fb = e_hi;  // best estimate
  double c = a, fc = fa;      // contrapoint: f(c) has the other sign
  double d = b - a, e = d;
  double best_feasible = 0.0;
  double m_try[kNumMetrics];
  for (; iterations < kMaxIterations; ++iterations) {
    if ((fb > 0.0) == (fc > 0.0)) {
      c = a;
      fc = fa;
      d = e = b - a;
    }
    if (std::fabs(fc) < std::fabs(fb)) {
      a = b; b = c; c = a;
      fa = fb; fb = fc; fc = fa;
    }
    const double tol = 0.5 * kRateRelTol * std::fabs(b) + 1e-300;
    const double xm = 0.5 * (c - b);
    if (std::fabs(xm) <= tol || fb == 0.0) break;
    if (std::fabs(e) >= tol && std::fabs(fa) > std::fabs(fb)) {
      double p, q;
      const double sb = fb / fa;
      if (a == c) {
        p = 2.0 * xm * sb;
        q = 1.0 - sb;
      } else {
        const double qa = fa / fc, rb = fb / fc;
        p = sb * (2.0 * xm * qa * (qa - rb) - (b - a) * (rb - 1.0));
        q = (qa - 1.0) * (rb - 1.0) * (sb - 1.0);
      }
      if (p > 0.0) {
        q = -q;
      } else {
        p = -p;
      }
      if (2.0 * p < std::min(3.0 * xm * q - std::fabs(tol * q), std::fabs(e * q))) {
        e = d;
        d = p / q;
      } else {
        d = e = xm;
      }
    } else {
      d = e = xm;
    }
    a = b;
    fa = fb;
    b += std::fabs(d) > tol ? d : (xm > 0.0 ? tol : -tol);
    fb = excess(b, m_try, &which, &s);
    if (s != kOk) return set_status(out, s);
    if (fb <= 0.0) {
      if (b > best_feasible) {
        best_feasible = b;
        std::copy(m_try, m_try + kNumMetrics, out.metrics);
      }
    } else {
      out.binding = which;
    }
  }
  if (out.binding == kBindNone) excess(cap, m_try, &out.binding, &s);
  out.rate = best_feasible;
  out.iterations = iterations;
  return set_status(out, kOk);
}

}  // namespace inferplan

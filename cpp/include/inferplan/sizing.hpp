// Sizing: the largest offered rate at which one replica meets its SLOs
// (docs/model.md section 3).
//
// All targets are folded into one excess function e(lam) = max_k (f_k(lam) /
// T_k - 1), evaluated from one chain solve per rate. The answer is the largest
// rate r with e <= 0 on all of [0, r] (to 1e-10 relative): a safeguarded
// Halley search finds a root, and where PrefillDecode's read-off makes e drop
// at a jump of the chunk count, a scan over the pieces of constant chunk
// count below it certifies that no earlier crossing exists (docs/model.md
// 3.1). A search that cannot certify its answer within the work bound says so
// (kNotCertified) instead of returning a rate.
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
// A metric within this relative slack of its target meets it, so that a flat
// metric (the ITL of a one-request replica) equal to its target does not
// leave the answer to rounding noise.
constexpr double kTargetSlack = 1e-12;
constexpr int kMaxIterations = 200;
// Work bound per sized replica, in chain states visited (an evaluation of the
// chain costs N, a term of a percentile's Erlang window kWindowTermCost): about
// a second of one core. A search that would exceed it stops with kNotCertified.
constexpr double kMaxWork = 4e8;
constexpr double kWindowTermCost = 100.0;
constexpr double kEvaluationCost = 64.0;  // the fixed part of one evaluation
// A Newton (Halley) step below this, in log rate, lands within ~1e-10 (3e-11)
// of the root.
constexpr double kNewtonClose = 1e-5;
constexpr double kHalleyClose = 3e-4;

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

// PrefillDecode's read-off with c prefill chunks instead of c(round(B)): the
// metrics of the piece of c chunks, continued past its end (docs/model.md 3.1).
inline ReadOff read_off_chunks(const ReplicaView& r, double B, double service_ms, double wait_ms,
                               double c) {
  const PrefillDecodeWork w(r.service);
  ReadOff o;
  o.prefill = c * std::max(0.0, r.service.alpha + (B - 1.0) * w.delta(c)) + w.w_pre(c);
  o.itl = (service_ms - o.prefill) * (1.0 / r.service.out_tokens);
  o.ttft = wait_ms + o.prefill + o.itl;
  return o;
}

// A target below the smallest normal double (ms, or a probability) cannot be
// told apart from 0 to the relative precision the search compares at: it is
// reported infeasible (the binding code of the first such target), never met
// by a rate lost in subnormal arithmetic. kBindNone if there is none.
inline std::int32_t subnormal_target(const Targets& t) {
  using detail::is_set;
  constexpr double kMin = std::numeric_limits<double>::min();
  if (is_set(t.ttft_ms) && t.ttft_ms < kMin) return kBindTtft;
  if (is_set(t.itl_ms) && t.itl_ms < kMin) return kBindItl;
  if (is_set(t.wait_ms) && t.wait_ms < kMin) return kBindWait;
  if (is_set(t.ttft_pq) && t.ttft_p_ms < kMin) return kBindTtftPercentile;
  if (is_set(t.wait_pq) && t.wait_p_ms < kMin) return kBindWaitPercentile;
  if (is_set(t.max_block) && t.max_block < kMin) return kBindBlock;
  return kBindNone;
}

// Evaluates every set target at one rate, and counts the work spent (chain
// states visited) against kMaxWork.
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
    // Excesses are metric * (1 / target) - 1: reciprocals once, not a division
    // per evaluation on the search's critical path.
    inv_itl_ = 1.0 / t.itl_ms;
    inv_ttft_ = 1.0 / t.ttft_ms;
    inv_wait_ = 1.0 / t.wait_ms;
    inv_ttft_tail_ = 1.0 / (1.0 - t.ttft_pq);
    inv_wait_tail_ = 1.0 / (1.0 - t.wait_pq);
    inv_block_ = 1.0 / t.max_block;
  }

  bool any() const { return itl_ || ttft_ || wait_ || ttft_p_ || wait_p_ || block_; }
  int count() const {
    return int{itl_} + int{ttft_} + int{wait_} + int{ttft_p_} + int{wait_p_} + int{block_};
  }

  // Whether a set target's metric can drop where PrefillDecode's chunk count
  // jumps up: the ITL always (more prefill is subtracted from the service
  // time), TTFT and its percentile only with fewer than one output token
  // (TTFT = wait + service / m + prefill (1 - 1/m)).
  bool drops_at_chunk_jumps() const {
    return r_.service.kind == kPrefillDecode &&
           (itl_ || ((ttft_ || ttft_p_) && r_.service.out_tokens < 1.0));
  }

  // The chain at rate (req/s) into mo, with slopes, counted against the bound.
  Status chain(double rate, Moments& mo) const {
    work_ += static_cast<double>(r_.chain.N) + kEvaluationCost;
    if (work_ > kMaxWork) return kNotCertified;
    return evaluate_chain<true>(r_.chain, rate / 1000.0, mo);
  }

  // Evaluates the chain at rate (req/s) into mo and returns the largest
  // relative excess; *which = its binding code. Order of ties (TTFT first)
  // follows the reference's reporting. With log_slope, also d log(metric) /
  // d log(rate) of the binding target (NaN for a percentile, whose slope is not
  // computed): a Newton step's derivative, and with log_curv its second
  // derivative (Halley's). Only the targets' metrics are computed here;
  // fill_metrics gives the rest from mo.
  double operator()(double rate, Moments& mo, std::int32_t* which, Status* status,
                    double* log_slope = nullptr, double* log_curv = nullptr) const {
    constexpr double kInf = std::numeric_limits<double>::infinity();
    if (!(std::isfinite(rate) && rate >= 0.0)) {
      *status = kBadRate;
      return kInf;
    }
    work_ += static_cast<double>(r_.chain.N) + kEvaluationCost;
    if (work_ > kMaxWork) {
      *status = kNotCertified;
      return kInf;
    }
    const double lam = rate / 1000.0;
    *status = log_slope ? evaluate_chain<true>(r_.chain, lam, mo)
                        : evaluate_chain<false>(r_.chain, lam, mo);
    if (*status != kOk) return kInf;
    const Latency l = latency(r_, lam, mo);
    int metric = -1;  // the binding target's metric, -1 for a percentile
    double value = 0.0;
    const double best = combine(lam, mo, l, which, &metric, &value, status);
    if (*status != kOk) return kInf;
    if (log_slope) {
      Derivs d;
      if (lam > 0.0 && metric >= 0) {
        d = metric == kPBlock ? Derivs{mo.p_block_slope, mo.p_block_curv}
                              : latency_derivs(r_, lam, mo, l, metric);
      }
      constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
      const bool known = metric >= 0 && value > 0.0;
      const double inv_value = 1.0 / value;
      const double g1 = known ? d.d1 * inv_value : kNaN;
      *log_slope = g1;
      // G'' = f''/f - (f'/f)^2 for G = log f.
      if (log_curv) *log_curv = known ? d.d2 * inv_value - g1 * g1 : kNaN;
    }
    return best;
  }

  // The excess at rate (req/s) from the chain's moments mo there, with the
  // read-off taken at c prefill chunks (PrefillDecode): the excess of the piece
  // of c chunks, continued.
  double forced(double rate, const Moments& mo, double c, std::int32_t* which,
                Status* status) const {
    const double lam = rate / 1000.0;
    Latency l = latency(r_, lam, mo);
    l.ro = read_off_chunks(r_, mo.in_service, l.service, l.wait, c);
    int metric = -1;
    double value = 0.0;
    const double e = combine(lam, mo, l, which, &metric, &value, status);
    return *status == kOk ? e : std::numeric_limits<double>::quiet_NaN();
  }

  // The excess at rate (req/s) from the chain's moments mo there.
  double at(double rate, const Moments& mo, std::int32_t* which, Status* status) const {
    const double lam = rate / 1000.0;
    int metric = -1;
    double value = 0.0;
    const double e = combine(lam, mo, latency(r_, lam, mo), which, &metric, &value, status);
    return *status == kOk ? e : std::numeric_limits<double>::quiet_NaN();
  }

  // The first target in the reporting order that fails at rate (req/s), from
  // the chain's moments mo there (docs/model.md 3): which infeasible status an
  // idle replica that misses several targets reports.
  std::int32_t first_failing(double rate, const Moments& mo, Status* status) const {
    const double lam = rate / 1000.0;
    const Latency l = latency(r_, lam, mo);
    std::int32_t which = kBindNone;
    int metric = -1;
    double value = 0.0;
    combine_values(lam, mo, l.ro.ttft, l.ro.itl, l.wait, l.ro.prefill + l.ro.itl, mo.p_block,
                   &which, &metric, &value, status, true);
    return which;
  }

  // An upper bound on the excess over all of [x1, x2] (req/s) from the
  // chain's moments at both ends (docs/model.md 3.1). B, the service time, the
  // wait, p_block and every wait tail rise with the rate (the chain is
  // stochastically increasing in it, and tau(b) rises with b), and the
  // read-off's prefill rises with B and with the chunk count, so ITL = (service
  // - prefill) / m is at most (service(x2) - prefill(x1)) / m, TTFT = wait +
  // service / m + prefill (1 - 1/m) at most its value with the prefill at the
  // end that maximises it, and the other metrics their values at x2.
  // The read-off's prefill share may be capped to leave a lone request's
  // decode part D = m alpha + w_dec of the service time (min(prefill, service -
  // D)); both arguments rise with the rate, so the share is at least its
  // value with the prefill at x1 and the service time at x1, and at most its
  // read-off at x2. Without the cap the lower value only loosens the bound.
  double bound(double x1, const Moments& m1, double x2, const Moments& m2, std::int32_t* which,
               Status* status) const {
    const double lam2 = x2 / 1000.0;
    const Latency l2 = latency(r_, lam2, m2);
    double p_lo = 0.0;
    if (r_.service.kind == kPrefillDecode) {
      const PrefillDecodeWork w(r_.service);
      const double B1 = m1.in_service, c1 = chunks_at(r_, B1);
      const double raw = c1 * std::max(0.0, w.alpha + (B1 - 1.0) * w.delta(c1)) + w.w_pre(c1);
      const double room = latency(r_, x1 / 1000.0, m1).service - (w.m * w.alpha + w.w_dec);
      p_lo = std::min(raw, std::max(room, 0.0));
    }
    const double p_hi = l2.ro.prefill;
    const double inv_m = 1.0 / r_.service.out_tokens;
    const double p_ttft = inv_m <= 1.0 ? p_hi : p_lo;  // the prefill's weight 1 - 1/m
    const double part = l2.service * inv_m + p_ttft * (1.0 - inv_m);
    int metric = -1;
    double value = 0.0;
    const double e = combine_values(lam2, m2, l2.wait + part, (l2.service - p_lo) * inv_m,
                                    l2.wait, part, m2.p_block, which, &metric, &value, status);
    return *status == kOk ? e : std::numeric_limits<double>::quiet_NaN();
  }

 private:
  // P(W > t) of an accepted arrival: 0 at an idle replica (nobody waits) and
  // for a t so long that mu(N) t overflows (every queued request has left).
  double tail(double lam, const Moments& mo, double t, Status* status) const {
    if (lam == 0.0 || r_.chain.Q == 0.0) return 0.0;
    const double x = r_.chain.max_rate() * t;
    if (!(x < std::numeric_limits<double>::infinity())) return 0.0;
    // Only a window of Erlang terms that no closed form answers costs work: the
    // terms it would sum count against the bound, before they are summed.
    double terms = 0.0;
    const double p =
        wait_ccdf(r_.chain, mo, t, &terms, std::max(0.0, (kMaxWork - work_) / kWindowTermCost));
    work_ += kWindowTermCost * terms;
    if (work_ > kMaxWork) {
      *status = kNotCertified;
      return std::numeric_limits<double>::quiet_NaN();
    }
    return p;
  }

  double combine(double lam, const Moments& mo, const Latency& l, std::int32_t* which,
                 int* metric_out, double* value_out, Status* status) const {
    return combine_values(lam, mo, l.ro.ttft, l.ro.itl, l.wait, l.ro.prefill + l.ro.itl,
                          mo.p_block, which, metric_out, value_out, status);
  }

  // service_part: prefill + ITL, what a TTFT percentile adds to the wait.
  // With first_failing, *which is the first target in the order below (TTFT,
  // ITL, wait, TTFT percentile, wait percentile, blocking) whose excess is
  // positive, and the excess its (docs/model.md 3: the status reported when
  // several targets fail at the idle replica); else the largest excess.
  double combine_values(double lam, const Moments& mo, double ttft, double itl, double wait,
                        double service_part, double p_block, std::int32_t* which,
                        int* metric_out, double* value_out, Status* status,
                        bool first_failing = false) const {
    double best = -std::numeric_limits<double>::infinity(), value = 0.0;
    std::int32_t arg = kBindNone;
    int metric = -1;
    auto take = [&](double excess, double v, std::int32_t code, int k) {
      if (first_failing ? (excess > 0.0 && !(best > 0.0)) || (best <= 0.0 && excess > best)
                        : excess > best) {
        best = excess;
        arg = code;
        metric = k;
        value = v;
      }
    };
    auto consider = [&](double v, double inv_target, std::int32_t code, int k) {
      take(v * inv_target - 1.0 - kTargetSlack, v, code, k);
    };
    // A percentile target holds iff P(W > t) <= 1 - q, compared exactly (no
    // slack): the same test as wait_quantile's, so that the quantile at the
    // sized rate is at most its target even where it sits at the atom at 0.
    auto consider_tail = [&](double p, double tail_target, double inv_tail, std::int32_t code) {
      take((p - tail_target) * inv_tail, p, code, -1);
    };
    if (ttft_) consider(ttft, inv_ttft_, kBindTtft, kTtftMs);
    if (itl_) consider(itl, inv_itl_, kBindItl, kItlMs);
    if (wait_) consider(wait, inv_wait_, kBindWait, kWaitMs);
    if (ttft_p_) {
      // TTFT = wait + prefill + ITL, the latter two at the mean batch.
      const double tt = t_.ttft_p_ms - service_part;
      consider_tail(tt < 0.0 ? 1.0 : tail(lam, mo, tt, status), 1.0 - t_.ttft_pq, inv_ttft_tail_,
                    kBindTtftPercentile);
    }
    if (wait_p_)
      consider_tail(tail(lam, mo, t_.wait_p_ms, status), 1.0 - t_.wait_pq, inv_wait_tail_,
                    kBindWaitPercentile);
    if (block_) consider(p_block, inv_block_, kBindBlock, kPBlock);
    *which = arg;
    *metric_out = metric;
    *value_out = value;
    return best;
  }

  const ReplicaView& r_;
  const Targets& t_;
  bool itl_, ttft_, wait_, ttft_p_, wait_p_, block_;
  double inv_itl_, inv_ttft_, inv_wait_, inv_ttft_tail_, inv_wait_tail_, inv_block_;
  mutable double work_ = 0.0;
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

// Brent's method (inverse quadratic interpolation, secant, bisection) for a
// root of f on [a, b] with f(a) <= 0 < f(b), to rel_tol relative. f is called
// at each new point (and may record what it needs); a NaN stops the search.
// Returns the number of evaluations.
template <class F>
int brent_root(F&& f, double a, double fa, double b, double fb, double rel_tol) {
  double c = a, fc = fa;  // contrapoint: f(c) has the other sign from f(b)
  double d = b - a, e = d;
  int evaluations = 0;
  for (; evaluations < kMaxIterations; ++evaluations) {
    if ((fb > 0.0) == (fc > 0.0)) {
      c = a;
      fc = fa;
      d = e = b - a;
    }
    if (std::fabs(fc) < std::fabs(fb)) {
      a = b;
      b = c;
      c = a;
      fa = fb;
      fb = fc;
      fc = fa;
    }
    const double tol = 0.5 * rel_tol * std::fabs(b) + 1e-300;
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
    fb = f(b);
    if (std::isnan(fb)) return evaluations + 1;
  }
  return evaluations;
}

// Closes a sign bracket [a, b] (fa = e(a) <= 0 < fb = e(b)) to kRateRelTol by
// Brent's method, keeping it a bracket whatever the excess's shape: a point
// only moves the end on its side, and only inward. ev(x, &status, &which) is
// the excess at x; b_which gets the binding target at b. *closed: whether the
// bracket closed (a few rounds of Brent always close it for an excess whose
// sign changes once).
template <class Ev>
int close_bracket(Ev&& ev, double& a, double& fa, double& b, double& fb, std::int32_t& b_which,
                  Status* status, bool* closed, double rel_tol = kRateRelTol) {
  int evaluations = 0;
  for (int round = 0; round < 8 && b - a > rel_tol * b; ++round) {
    double na = a, nfa = fa, nb = b, nfb = fb;
    std::int32_t nw = b_which;
    auto f = [&](double x) {
      std::int32_t w = kBindNone;
      const double v = ev(x, status, &w);
      if (*status != kOk) return std::numeric_limits<double>::quiet_NaN();
      if (x > na && x < nb) {
        if (v <= 0.0) {
          na = x;
          nfa = v;
        } else {
          nb = x;
          nfb = v;
          nw = w;
        }
      }
      // A target met exactly is met: Brent must not stop there as at a root.
      return v == 0.0 ? -std::numeric_limits<double>::denorm_min() : v;
    };
    evaluations += brent_root(f, a, fa, b, fb, rel_tol);
    if (*status != kOk) break;
    a = na;
    fa = nfa;
    b = nb;
    fb = nfb;
    b_which = nw;
  }
  *closed = *status == kOk && b - a <= 2.0 * rel_tol * b;
  return evaluations;
}

// Halley's method in log-log coordinates, G(l) = log(f(e^l) / (T (1 + slack)))
// for the binding target, from x, safeguarded by the bracket [a, b] (a
// feasible, b not). With G' and G'' known the step is Halley's (cubic
// convergence: from the queue-free guess, usually two steps reach 1e-10);
// without G'' it is Newton's. A step that leaves the bracket, a target
// without a slope, a slope carried over from another target, or two steps that
// halved neither the bracket nor the step fall back to false position on G
// between the bracket ends (bisection while a is 0 or after such a stall). Converged when the
// bracket or the step is below the tolerance (*converged says which happened:
// the search may also run out of steps); an infeasible last point then tries
// one step to just below the root.
// G = log(f / T) - log(1 + slack) = log1p(e + slack) - log1p(slack) for an
// excess e; near the root a short series replaces log1p (the candidate points
// only need to be computed identically everywhere, not to the last bit).
inline double excess_to_g(double e) {
  const double u = e + kTargetSlack;
  if (std::fabs(u) < 1e-3) return u * (1.0 - u * (0.5 - u * (1.0 / 3.0 - 0.25 * u))) - kTargetSlack;
  return std::log1p(u) - std::log1p(kTargetSlack);
}

// Halley's step in log(rate) from G, G' and G'' (Newton's where G'' is
// unknown or the correction is not small); *cubic tells which.
inline double halley_step(double g, double slope, double curv, bool* cubic) {
  const double inv_slope = 1.0 / slope;
  const double newton = g * inv_slope;
  const double denom = 1.0 - 0.5 * newton * curv * inv_slope;  // 1 - G G'' / (2 G'^2)
  *cubic = denom > 0.5 && denom < 2.0;  // false for NaN
  return *cubic ? newton / denom : newton;
}

// The state of a search: the bracket [a, b] (e(a) <= 0 < e(b), b = +inf while
// no infeasible rate is known), the target closest to failing at a and the one
// failing at b, and the moments at a.
struct Bracket {
  double a = 0.0, ga = -std::numeric_limits<double>::infinity();
  double b = std::numeric_limits<double>::infinity(), gb = 0.0;
  std::int32_t a_which = kBindNone, binding = kBindNone;
  Moments a_mo;

  // The binding target: the one failing at b where b is within the tolerance
  // of a (the answer may sit at a jump), else the one closest to failing at a
  // (Newton's step put the root within the tolerance of a).
  std::int32_t binding_at_root() const {
    return b - a <= 4.0 * kRateRelTol * b ? binding : a_which;
  }
};

template <class Excess>
int newton_root(const Excess& excess, Bracket& br, double x, double gx, double slope, double curv,
                std::int32_t slope_which, Moments& mo, Status& s, bool* converged) {
  int evaluations = 0, stalled = 0;
  bool halved = true;
  double prev_step = std::numeric_limits<double>::infinity();
  std::int32_t which = kBindNone;
  *converged = false;
  while (evaluations < kMaxIterations) {
    const double a = br.a, b = br.b;
    if (b - a <= kRateRelTol * b) {
      *converged = true;
      break;
    }
    bool cubic;
    const double step = halley_step(gx, slope, curv, &cubic);  // in log(rate)
    // A stall: a bracket with a feasible end (while a is 0 it cannot halve
    // before the root is near) did not halve, and Newton's step did not either.
    stalled = a > 0.0 && !halved && !(std::fabs(step) < 0.5 * std::fabs(prev_step))
                  ? stalled + 1
                  : 0;
    prev_step = step;
    const double shrink =
        std::fabs(step) < 1e-3 ? 1.0 - step * (1.0 - step * (0.5 - step / 6.0)) : std::exp(-step);
    double cand = x * shrink;
    const bool newton_ok =
        stalled < 2 && slope > 0.0 && std::isfinite(cand) && cand > a && cand < b;
    if (newton_ok && std::fabs(step) <= kRateRelTol && gx <= 0.0) {  // x is the answer
      *converged = true;
      break;
    }
    const bool close = newton_ok && std::fabs(step) < (cubic ? kHalleyClose : kNewtonClose);
    if (close) {
      // Cubic (quadratic) convergence: the root is within ~step^3 (step^2) of
      // cand, so aim just below it, where the next point is feasible and
      // itself converged.
      cand *= 1.0 - 0.5 * kRateRelTol;
      if (!(cand > a)) {
        *converged = true;
        break;
      }
    } else if (!newton_ok) {
      if (a == 0.0) {
        cand = 0.5 * b;
      } else {
        const double la = std::log(a), lb = std::log(b);
        double lc = la - br.ga * (lb - la) / (br.gb - br.ga);
        const double guard = 1e-3 * (lb - la);
        if (stalled >= 2 || !(lc > la + guard && lc < lb - guard)) lc = 0.5 * (la + lb);
        cand = std::exp(lc);
      }
    }
    // The point aimed just below the root only has to confirm it: the
    // derivatives there differ from the last ones by ~1e-4 relative, plenty to
    // test the step that remains, so it is evaluated without them (a cheaper
    // pass) and they carry over, unless another target binds there.
    double new_slope = slope, new_curv = curv;
    const double e = close ? excess(cand, mo, &which, &s)
                           : excess(cand, mo, &which, &s, &new_slope, &new_curv);
    ++evaluations;
    if (s != kOk) return evaluations;
    if (close && which != slope_which) new_slope = std::numeric_limits<double>::quiet_NaN();
    slope_which = which;
    const double g = excess_to_g(e);
    const double width = b - a;
    if (e <= 0.0) {
      br.a = cand;
      br.ga = g;
      br.a_which = which;
      br.a_mo = mo;
    } else {
      br.b = cand;
      br.gb = g;
      br.binding = which;
    }
    halved = !(br.b - br.a > 0.5 * width);
    x = cand;
    gx = g;
    slope = new_slope;
    curv = new_curv;
  }
  return evaluations;
}

// PrefillDecode reads ITL and TTFT off at c(round(B)) chunks: where the mean
// batch B reaches b + 1/2 and c(b + 1) > c(b), the prefill share jumps up and
// the ITL drops, so the excess may cross zero more than once (docs/model.md
// 3.1). Used for the admitted TTFT of size_admitted, whose refinement has no
// interval bound: there the excess is taken to be continuous and nondecreasing
// within a piece of constant chunk count (the property tests check it), so
// e <= 0 on [0, answer] iff at the end of every piece below the answer its left
// limit is <= 0; and since the excess of the piece of c chunks, continued past
// the piece's end, keeps rising, any rate at or above the end bounds that
// limit. (The chain's ITL is not monotone within a piece in general:
// size_replica certifies it with certify_bound.) certify_pieces walks the pieces' ends
// upwards: it bounds each end by the forced excess (forced(x, mo, c, &which))
// at points where B has passed it, moving towards the end (Newton's method on
// log B against log rate, safeguarded by bisection) only while the bound is
// positive. An end whose bound stays positive once it is bracketed to
// kRateRelTol holds the first crossing: it is searched for in that piece with
// actual(x, &which). On return answer (and above, the nearest rate found that
// fails, with its binding target) are certified; returns kOk or why not.
template <class Chain, class Forced, class Actual>
Status certify_pieces(const ReplicaView& r, double& answer, const Moments& answer_mo,
                      double& above, std::int32_t& binding, int& evaluations, Chain&& chain,
                      Forced&& forced, Actual&& actual) {
  const double* ch = r.chunks;
  const std::int64_t top = static_cast<std::int64_t>(
      std::min(std::max(std::round(answer_mo.in_service), 1.0), static_cast<double>(r.chain.N)));
  if (ch[0] == ch[top - 1]) return kOk;  // one piece up to the answer
  const double root = answer;
  double lo = 0.0, safe = 0.0;  // B(lo) < the current end; B(safe) < the previous one
  double hi = root;             // B(hi) >= the current end
  Moments hi_mo = answer_mo, last_mo = answer_mo, mo;
  double last = root;  // the last point evaluated, where Newton steps start
  for (std::int64_t b = 1; b < top; ++b) {
    if (ch[b] == ch[b - 1]) continue;
    const double level = static_cast<double>(b) + 0.5, c = ch[b - 1];
    if (hi_mo.in_service < level) {  // hi lies before this end: below it now
      lo = hi;
      hi = root;
      hi_mo = answer_mo;
    }
    int stalled = 0;
    for (;;) {
      std::int32_t w = kBindNone;
      Status st = kOk;
      const double bound = forced(hi, hi_mo, c, &w, &st);
      if (st != kOk) return st;
      if (bound <= 0.0) break;  // this piece is certified
      if (hi - lo <= kRateRelTol * hi) {
        // The left limit at this end is positive: the first crossing lies in
        // this piece, after safe (e <= 0 up to the previous end, and the
        // excess rises within the piece).
        std::int32_t w_lo = kBindNone;
        const double e_lo = actual(lo, &st, &w_lo);
        ++evaluations;
        if (st != kOk) return st;
        if (e_lo <= 0.0) {  // at the end itself, to the tolerance
          answer = lo;
          above = hi;
          binding = w;
          return kOk;
        }
        double a = safe, fa = actual(safe, &st, &w), b_end = lo, fb = e_lo;
        ++evaluations;
        if (st != kOk) return st;
        if (fa > 0.0) return kNotCertified;  // the pieces below were not monotone
        bool closed;
        evaluations += close_bracket(actual, a, fa, b_end, fb, w_lo, &st, &closed);
        if (st != kOk) return st;
        if (!closed) return kNotCertified;
        answer = a;
        above = b_end;
        binding = w_lo;
        return kOk;
      }
      // Newton's step on log B towards log(level) from the last point, aimed a
      // hair past the end once close so that the bracket closes from both sides.
      const double B = last_mo.in_service;
      const double step = (std::log(B) - std::log(level)) * B / last_mo.in_service_slope;
      double y = last * std::exp(-step);
      if (std::fabs(step) < 1e-4) y *= B >= level ? 1.0 - 0.5 * kRateRelTol : 1.0 + 0.5 * kRateRelTol;
      if (stalled >= 2 || !(y > lo && y < hi)) y = lo > 0.0 ? std::sqrt(lo * hi) : 0.5 * hi;
      const Status s = chain(y, mo);
      ++evaluations;
      if (s != kOk) return s;
      const double width = hi - lo;
      if (mo.in_service >= level) {
        hi = y;
        hi_mo = mo;
      } else {
        lo = y;
      }
      stalled = hi - lo > 0.5 * width ? stalled + 1 : 0;
      last = y;
      last_mo = mo;
    }
    safe = lo;
  }
  return kOk;
}

// The gap left below the answer: [0, answer (1 - kCertifyGap)] is certified,
// so the answer lies within 1e-9 of the largest rate below which every target
// holds (it is feasible itself, and a rate within the tolerance above fails).
constexpr double kCertifyGap = 5e-10;
// The share of the width at which the bound, extrapolated linearly from the
// last interval, would reach 0 that the next interval takes.
constexpr double kCertifyStep = 0.97;

// Certifies e <= 0 on [0, answer] where a target's metric may fall as the rate
// rises (PrefillDecode's ITL, docs/model.md 3.1), with the interval bound of
// TargetExcess::bound, from 0 upwards: an interval [x1, x2] (x1 certified) is
// certified when the bound over it is <= 0; its width comes from the margin at
// x1 and the bound's growth over the last interval tried (so a few intervals
// cover [0, answer] where the metric rises steeply, more where it rises and
// falls). A rate x2 found to fail holds the first crossing in (x1, x2]: a
// bracket closed by Brent there becomes the answer, and the certification
// goes on up to it. chain(x, mo) evaluates the chain with slopes; actual(x,
// &status, &which) is the excess at x. Returns kOk (answer, above and binding
// updated) or why not (kNotCertified when the work runs out).
template <class Chain, class Actual>
Status certify_bound(const TargetExcess& ex, double e_idle, const Moments& idle_mo,
                     double& answer, double& above, std::int32_t& binding, int& evaluations,
                     Chain&& chain, Actual&& actual) {
  Moments m1 = idle_mo, m2;
  double x1 = 0.0, e1 = e_idle;
  double end = answer * (1.0 - kCertifyGap);
  double w = end;  // first try all of [0, end] at once
  while (x1 < end) {
    const double x2 = std::min(x1 + w, end);
    Status st = chain(x2, m2);
    ++evaluations;
    if (st != kOk) return st;
    std::int32_t w2 = kBindNone;
    const double e2 = ex.at(x2, m2, &w2, &st);
    if (st != kOk) return st;
    if (e2 > 0.0) {
      // The first crossing lies in (x1, x2]: the answer moves down to it.
      double a = x1, fa = e1, b = x2, fb = e2;
      bool closed;
      evaluations += close_bracket(actual, a, fa, b, fb, w2, &st, &closed);
      if (st != kOk) return st;
      if (!closed) return kNotCertified;
      answer = a;
      above = b;
      binding = w2;
      end = answer * (1.0 - kCertifyGap);
      w = end - x1;
      continue;
    }
    std::int32_t wb = kBindNone;
    const double u = ex.bound(x1, m1, x2, m2, &wb, &st);
    if (st != kOk) return st;
    const double growth = (u - e1) / (x2 - x1);  // the bound's rise per req/s from x1
    if (u <= 0.0) {
      x1 = x2;
      m1 = m2;
      e1 = e2;
      w = growth > 0.0 ? std::min(8.0 * w, kCertifyStep * -e1 / growth) : 8.0 * w;
    } else if (x2 - x1 > kRateRelTol * x2) {
      w = std::min(0.9 * w, kCertifyStep * -e1 / growth);
    } else {
      // Both ends hold but the bound cannot rule out a failure between them:
      // the answer moves down to x1, which is certified.
      answer = x1;
      above = x2;
      binding = wb;
      return kOk;
    }
  }
  return kOk;
}

// A first guess for the sized rate that ignores queueing: with no wait the mean
// batch B and the rate satisfy lam = B / tau(B), so find the batch b whose
// read-off ITL (or TTFT less the wait) first misses its target, place B
// between b - 1 and b where the read-off's excess crosses zero (linearly), and
// guess lam = B / tau(B) with tau interpolated alike. Queueing only adds delay,
// so the answer is usually a little below. Returns 0 where there is no ITL or
// TTFT target, or none is missed by batch N.
inline double guess_rate(const ReplicaView& r, const Targets& t, double cap) {
  const bool itl = detail::is_set(t.itl_ms), ttft = detail::is_set(t.ttft_ms);
  if (!itl && !ttft) return 0.0;
  const double inv_itl = 1.0 / t.itl_ms, inv_ttft = 1.0 / t.ttft_ms;
  auto excess = [&](std::int64_t b) {  // > 0: missed
    const ReadOff o = read_off(r, static_cast<double>(b), r.tau[b - 1], 0.0);
    const double e_itl = itl ? o.itl * inv_itl - 1.0 : -1.0;
    const double e_ttft = ttft ? o.ttft * inv_ttft - 1.0 : -1.0;
    return e_itl > e_ttft ? e_itl : e_ttft;
  };
  std::int64_t lo = 0, hi = r.chain.N;  // missed(hi); lo = 0 or not missed
  const double e_top = excess(hi);
  if (!(e_top > 0.0)) return 0.0;
  double e_hi = e_top;
  while (hi - lo > 1) {  // branch-free halving: the outcome is unpredictable
    const std::int64_t mid = lo + (hi - lo) / 2;
    const double e = excess(mid);
    const bool m = e > 0.0;
    hi = m ? mid : hi;
    e_hi = m ? e : e_hi;
    lo = m ? lo : mid;
  }
  double guess = 1000.0 * static_cast<double>(hi) / r.tau[hi - 1];
  if (lo >= 1) {
    const double e_lo = excess(lo);  // <= 0
    const double f = e_lo / (e_lo - e_hi);
    const double B = static_cast<double>(lo) + f;
    const double tau = r.tau[lo - 1] + f * (r.tau[hi - 1] - r.tau[lo - 1]);
    guess = 1000.0 * B / tau;
  }
  return guess < cap ? guess : 0.0;
}

// Whether PrefillDecode's chunk count changes between batches 1 and N (its
// read-off, and the excess with it, may then jump as the rate rises).
inline bool has_chunk_jumps(const ReplicaView& r) {
  return r.service.kind == kPrefillDecode && r.chain.N > 1 && r.chunks[0] != r.chunks[r.chain.N - 1];
}

// Sizes one prepared replica. On success out.rate is the largest offered rate
// (req/s) r such that every target holds on all of [0, r], out.binding the
// target that fails just above it (kBindNone or kBindTps at the saturation
// cap), out.metrics the metrics at r. A rate of 0 is never a success: a target
// that no positive rate meets is infeasible.
inline Status size_replica(const ReplicaView& r, const Targets& t, SizeResult& out) {
  out = SizeResult{};
  Status s = validate_targets(t);
  if (s != kOk) return set_status(out, s);
  if (const std::int32_t tiny = subnormal_target(t)) {
    out.binding = tiny;
    return set_status(out, infeasible_status(tiny));
  }
  const double mu_N = r.chain.max_rate() * 1000.0;  // req/s
  // A service time so small that mu(N) overflows has no saturation rate.
  if (!(std::isfinite(mu_N) && mu_N > 0.0)) return set_status(out, kBadServiceTime);
  double cap = kSaturationCap * mu_N;
  std::int32_t cap_binding = kBindNone;
  if (detail::is_set(t.tps)) {
    cap *= kTpsCap;
    cap_binding = kBindTps;
  }
  TargetExcess excess(r, t);
  std::int32_t which = kBindNone;
  if (!excess.any()) {
    s = analyze(r, cap, out.metrics);
    out.rate = cap;
    out.binding = cap_binding;
    out.iterations = 1;
    return set_status(out, s);
  }
  Moments mo, idle_mo;
  Bracket br;
  // Idle: a target missed even here can never be met.
  const double e_lo = excess(0.0, idle_mo, &which, &s);
  br.a_mo = idle_mo;
  if (s != kOk) return set_status(out, s);
  int iterations = 1;
  if (e_lo > 0.0) {
    which = excess.first_failing(0.0, idle_mo, &s);
    if (s != kOk) return set_status(out, s);
    fill_metrics(r, 0.0, br.a_mo, out.metrics);
    out.binding = which;
    out.iterations = iterations;
    return set_status(out, infeasible_status(which));
  }
  // Newton starts from the queue-free guess where there is one (usually just
  // above the answer, so the cap need not be evaluated), else from the cap.
  double x = guess_rate(r, t, cap), gx = 0.0, slope = 0.0, curv = 0.0;
  if (x > 0.0) {
    const double e0 = excess(x, mo, &which, &s, &slope, &curv);
    ++iterations;
    if (s != kOk) return set_status(out, s);
    gx = excess_to_g(e0);
    if (e0 <= 0.0) {
      br.a = x;
      br.ga = gx;
      br.a_which = which;
      br.a_mo = mo;
      x = 0.0;  // the cap decides
    } else {
      br.b = x;
      br.gb = gx;
      br.binding = which;
    }
  }
  bool at_cap = false;
  if (x == 0.0) {
    const double e_hi = excess(cap, mo, &which, &s, &slope, &curv);
    ++iterations;
    if (s != kOk) return set_status(out, s);
    if (e_hi <= 0.0) {
      at_cap = true;
      br.a = cap;
      br.a_mo = mo;
      br.binding = cap_binding;
    } else {
      br.b = x = cap;
      br.gb = gx = excess_to_g(e_hi);
      br.binding = which;
    }
  }
  if (!at_cap) {
    bool converged;
    iterations += newton_root(excess, br, x, gx, slope, curv, which, mo, s, &converged);
    if (s != kOk) return set_status(out, s);
    if (!converged) {
      // Newton ran out of steps: Brent closes the bracket.
      auto ev = [&](double xx, Status* st, std::int32_t* w) { return excess(xx, mo, w, st); };
      iterations += close_bracket(ev, br.a, br.ga, br.b, br.gb, br.binding, &s, &converged);
      if (s != kOk) return set_status(out, s);
      if (!converged) return set_status(out, kNotCertified);
      if (br.a > 0.0) {  // the moments at the answer
        excess(br.a, br.a_mo, &which, &s);
        ++iterations;
        if (s != kOk) return set_status(out, s);
      }
    }
  }
  if (!at_cap && (excess.count() > 1 || has_chunk_jumps(r)) &&
      !(br.b - br.a <= 4.0 * kRateRelTol * br.b)) {
    // Newton's step put the root within the tolerance above a, but with more
    // than one target the one failing there has to be seen; and where
    // PrefillDecode's chunk count jumps, the excess may jump up between a and
    // b, where Newton's step (from the piece above the jump) cannot see it:
    // the point just above a tells, and Brent closes the bracket at the jump.
    const double up = br.a * (1.0 + 2.0 * kRateRelTol);
    const double e_up = excess(up, mo, &which, &s);
    ++iterations;
    if (s != kOk) return set_status(out, s);
    if (e_up > 0.0) {
      br.b = up;
      br.binding = which;
    } else {  // the root lies further up: Brent closes the bracket
      br.a = up;
      br.ga = excess_to_g(e_up);
      br.a_which = which;
      bool closed;
      auto ev = [&](double xx, Status* st, std::int32_t* w) { return excess(xx, mo, w, st); };
      iterations += close_bracket(ev, br.a, br.ga, br.b, br.gb, br.binding, &s, &closed);
      if (s != kOk) return set_status(out, s);
      if (!closed) return set_status(out, kNotCertified);
      excess(br.a, br.a_mo, &which, &s);
      ++iterations;
      if (s != kOk) return set_status(out, s);
    }
  }
  double answer = br.a, above = br.b;
  std::int32_t binding = at_cap ? cap_binding : br.binding_at_root();
  if (excess.drops_at_chunk_jumps() && answer > 0.0) {
    auto chain = [&](double xx, Moments& m) { return excess.chain(xx, m); };
    auto actual = [&](double xx, Status* st, std::int32_t* w) { return excess(xx, mo, w, st); };
    s = certify_bound(excess, e_lo, idle_mo, answer, above, binding, iterations, chain, actual);
    if (s != kOk) return set_status(out, s);
    if (answer != br.a && answer > 0.0) {  // an earlier crossing: the moments there
      excess(answer, br.a_mo, &which, &s);
      ++iterations;
      if (s != kOk) return set_status(out, s);
    }
  }
  out.iterations = iterations;
  if (!(answer > 0.0)) {  // no positive rate meets the binding target
    fill_metrics(r, 0.0, br.a_mo, out.metrics);
    out.binding = binding;
    return set_status(out, infeasible_status(binding));
  }
  fill_metrics(r, answer, br.a_mo, out.metrics);
  out.rate = answer;
  out.binding = binding;
  return set_status(out, kOk);
}

}  // namespace inferplan

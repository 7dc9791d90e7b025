// Sizing: the largest offered rate at which one replica meets its SLOs
// (docs/model.md section 3).
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
// A metric within this relative slack of its target meets it, so that a flat
// metric (the ITL of a one-request replica) equal to its target does not
// leave the answer to rounding noise.
constexpr double kTargetSlack = 1e-12;
constexpr int kMaxIterations = 200;
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
    const double lam = rate / 1000.0;
    *status = log_slope ? evaluate_chain<true>(r_.chain, lam, mo)
                        : evaluate_chain<false>(r_.chain, lam, mo);
    if (*status != kOk) return kInf;
    const Latency l = latency(r_, lam, mo);
    double best = -kInf, value = 0.0;
    std::int32_t arg = kBindNone;
    int metric = -1;  // the binding target's metric, -1 for a percentile
    auto consider = [&](double v, double inv_target, std::int32_t code, int k) {
      const double excess = v * inv_target - 1.0 - kTargetSlack;
      if (excess > best) {
        best = excess;
        arg = code;
        metric = k;
        value = v;
      }
    };
    if (ttft_) consider(l.ro.ttft, inv_ttft_, kBindTtft, kTtftMs);
    if (itl_) consider(l.ro.itl, inv_itl_, kBindItl, kItlMs);
    if (wait_) consider(l.wait, inv_wait_, kBindWait, kWaitMs);
    if (ttft_p_) {
      // TTFT = wait + prefill + ITL, the latter two at the mean batch.
      double tt = t_.ttft_p_ms - l.ro.prefill - l.ro.itl;
      double tail = tt < 0.0 ? 1.0 : wait_ccdf(r_.chain, mo, tt);
      consider(tail, inv_ttft_tail_, kBindTtftPercentile, -1);
    }
    if (wait_p_) {
      double tail = wait_ccdf(r_.chain, mo, t_.wait_p_ms);
      consider(tail, inv_wait_tail_, kBindWaitPercentile, -1);
    }
    if (block_) consider(mo.p_block, inv_block_, kBindBlock, kPBlock);
    *which = arg;
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

 private:
  const ReplicaView& r_;
  const Targets& t_;
  bool itl_, ttft_, wait_, ttft_p_, wait_p_, block_;
  double inv_itl_, inv_ttft_, inv_wait_, inv_ttft_tail_, inv_wait_tail_, inv_block_;
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

// Halley's method in log-log coordinates, G(l) = log(f(e^l) / (T (1 + slack)))
// for the binding target, from x, safeguarded by the bracket [a, b] (a
// feasible, b not). With G' and G'' known the step is Halley's (cubic
// convergence: from the queue-free guess, usually two steps reach 1e-10);
// without G'' it is Newton's. A step that leaves the bracket, or a target
// without a slope, falls back to false position on G between the bracket ends
// (bisection while a is 0). Converged when the bracket or the step is below
// the tolerance; an infeasible last point then tries one step to just below
// the root.
// Returns the evaluations used; f records the best feasible rate as before.
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

template <class Excess>
int newton_root(const Excess& excess, double a, double ga, double b, double gb, double x,
                double gx, double slope, double curv, double& best_feasible, Moments& best_mo,
                SizeResult& out, Moments& mo, std::int32_t& which, Status& s) {
  int evaluations = 0;
  while (evaluations < kMaxIterations) {
    if (b - a <= kRateRelTol * b) break;
    bool cubic;
    const double step = halley_step(gx, slope, curv, &cubic);  // in log(rate)
    const double shrink =
        std::fabs(step) < 1e-3 ? 1.0 - step * (1.0 - step * (0.5 - step / 6.0)) : std::exp(-step);
    double cand = x * shrink;
    const bool newton_ok = slope > 0.0 && std::isfinite(cand) && cand > a && cand < b;
    if (newton_ok && std::fabs(step) <= kRateRelTol && gx <= 0.0) break;  // x is the answer
    const bool close = newton_ok && std::fabs(step) < (cubic ? kHalleyClose : kNewtonClose);
    if (close) {
      // Cubic (quadratic) convergence: the root is within ~step^3 (step^2) of
      // cand, so aim just below it, where the next point is feasible and
      // itself converged.
      cand *= 1.0 - 0.5 * kRateRelTol;
      if (!(cand > a)) break;
    } else if (!newton_ok) {
      if (a == 0.0) {
        cand = 0.5 * b;
      } else {
        const double la = std::log(a), lb = std::log(b);
        double lc = la - ga * (lb - la) / (gb - ga);
        const double guard = 1e-3 * (lb - la);
        if (!(lc > la + guard && lc < lb - guard)) lc = 0.5 * (la + lb);
        cand = std::exp(lc);
      }
    }
    // The point aimed just below the root only has to confirm it: the
    // derivatives there differ from the last ones by ~1e-4 relative, plenty to
    // test the step that remains, so it is evaluated without them (a cheaper
    // pass) and they carry over.
    double new_slope = slope, new_curv = curv;
    const double e = close ? excess(cand, mo, &which, &s)
                           : excess(cand, mo, &which, &s, &new_slope, &new_curv);
    ++evaluations;
    if (s != kOk) return evaluations;
    const double g = excess_to_g(e);
    if (e <= 0.0) {
      a = cand;
      ga = g;
      if (cand > best_feasible) {
        best_feasible = cand;
        best_mo = mo;
      }
    } else {
      b = cand;
      gb = g;
      out.binding = which;
    }
    x = cand;
    gx = g;
    slope = new_slope;
    curv = new_curv;
  }
  return evaluations;
}

// PrefillDecode reads ITL and TTFT off at c(round(B)) chunks: where the mean
// batch B rounds up to a batch split into more chunks, the prefill share jumps
// and the ITL drops, so an excess may cross zero more than once. The sized
// rate is the first crossing: the excess rises within each piece of constant
// chunks, so the first piece whose left limit at its end is positive holds
// it. Pieces end where B(lam) = b + 1/2 (B rises with lam). Returns the
// evaluations used; best_feasible moves down if an earlier crossing exists.
template <class F>
int first_crossing(const ReplicaView& r, F&& f, double e_lo, double& best_feasible,
                   double B_root) {
  if (r.service.kind != kPrefillDecode || best_feasible <= 0.0) return 0;
  const std::int64_t N = r.chain.N;
  const double b_hi = std::min(std::max(std::round(B_root), 1.0), static_cast<double>(N));
  int evaluations = 0;
  double piece_start = 0.0, e_start = e_lo;
  const double root = best_feasible;
  for (std::int64_t b = 1; b < static_cast<std::int64_t>(b_hi); ++b) {
    if (r.chunks[b] == r.chunks[b - 1]) continue;  // c(b + 1) == c(b): no jump
    // lam where B = b + 1/2, by Brent on B - (b + 1/2) over [piece_start, root].
    const double level = static_cast<double>(b) + 0.5;
    double lam_b = root;
    auto g = [&](double x) {
      Moments mo;
      evaluate_chain(r.chain, x / 1000.0, mo);
      double v = mo.in_service - level;
      if (v > 0.0 && x < lam_b) lam_b = x;
      return v;
    };
    Moments mo_root;
    evaluate_chain(r.chain, root / 1000.0, mo_root);
    evaluations += 1 + brent_root(g, piece_start, -level, root, mo_root.in_service - level,
                                  kRateRelTol);
    // Just left of the jump the read-off still uses c(b).
    const double left = lam_b * (1.0 - 1e-9);
    const double e_left = f(left);
    ++evaluations;
    if (std::isnan(e_left)) return evaluations;
    if (e_left > 0.0) {
      best_feasible = piece_start;
      evaluations += brent_root(f, piece_start, e_start, left, e_left, kRateRelTol);
      return evaluations;
    }
    piece_start = lam_b;
    e_start = f(piece_start);
    ++evaluations;
    if (std::isnan(e_start) || e_start > 0.0) {  // an upward jump crosses at lam_b
      best_feasible = left;
      return evaluations;
    }
  }
  return evaluations;
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
  std::int32_t which = kBindNone;
  if (!excess.any()) {
    s = analyze(r, cap, out.metrics);
    out.rate = cap;
    out.binding = cap_binding;
    out.iterations = 1;
    return set_status(out, s);
  }
  // best_mo: the moments at the best feasible rate so far (the idle ones first).
  Moments mo, best_mo;
  double best_feasible = 0.0;
  // Idle: a target missed even here can never be met.
  const double e_lo = excess(0.0, best_mo, &which, &s);
  if (s != kOk) return set_status(out, s);
  int iterations = 1;
  if (e_lo > 0.0) {
    fill_metrics(r, 0.0, best_mo, out.metrics);
    out.binding = which;
    out.iterations = iterations;
    return set_status(out, infeasible_status(which));
  }
  auto keep_feasible = [&](double x) {
    if (x > best_feasible) {
      best_feasible = x;
      best_mo = mo;
    }
  };
  // Newton starts from the queue-free guess where there is one (usually just
  // above the answer, so the cap need not be evaluated), else from the cap.
  double a = 0.0, ga = -std::numeric_limits<double>::infinity();
  double x = guess_rate(r, t, cap), gx = 0.0, slope = 0.0, curv = 0.0;
  if (x > 0.0) {
    const double e0 = excess(x, mo, &which, &s, &slope, &curv);
    ++iterations;
    if (s != kOk) return set_status(out, s);
    gx = excess_to_g(e0);
    if (e0 <= 0.0) {
      keep_feasible(x);
      a = x;
      ga = gx;
      x = 0.0;  // the cap decides
    } else {
      out.binding = which;
    }
  }
  double b = x, gb = gx;
  if (x == 0.0) {
    const double e_hi = excess(cap, mo, &which, &s, &slope, &curv);
    ++iterations;
    if (s != kOk) return set_status(out, s);
    if (e_hi <= 0.0) {
      fill_metrics(r, cap, mo, out.metrics);
      out.rate = cap;
      out.binding = cap_binding;
      out.iterations = iterations;
      return set_status(out, kOk);
    }
    out.binding = which;
    b = x = cap;
    gb = gx = excess_to_g(e_hi);
  }
  // f(x) = excess at x, remembering the moments of the largest feasible rate.
  auto f = [&](double xx) {
    double v = excess(xx, mo, &which, &s);
    if (s != kOk) return std::numeric_limits<double>::quiet_NaN();
    if (v <= 0.0) {
      keep_feasible(xx);
    } else {
      out.binding = which;
    }
    return v;
  };
  iterations += newton_root(excess, a, ga, b, gb, x, gx, slope, curv, best_feasible, best_mo, out,
                            mo, which, s);
  if (s != kOk) return set_status(out, s);
  const double root = best_feasible;
  iterations += first_crossing(r, f, e_lo, best_feasible, best_mo.in_service);
  if (s != kOk) return set_status(out, s);
  if (best_feasible != root) {  // an earlier crossing: its moments, its binding target
    excess(best_feasible, best_mo, &which, &s);
    ++iterations;
  }
  if (out.binding == kBindNone) excess(cap, mo, &out.binding, &s);
  fill_metrics(r, best_feasible, best_mo, out.metrics);
  out.rate = best_feasible;
  out.iterations = iterations;
  return set_status(out, kOk);
}

}  // namespace inferplan

// Admission rules: TTFT (and, for iteration-level admission, the wait and the
// response time) as seen by an arriving request, from the chain's metrics.
//
// The chain's read-off (docs/model.md 2) takes TTFT at the mean batch. Two effects
// it leaves out are added here:
// - iteration-level admission: an arrival that finds the replica busy with a
//   free slot waits for the iteration in progress, whose residual at a random
//   instant is length-biased, E[T^2] / (2 E[T]);
// - PrefillDecode: the arrival meets X * prefill neighbours in prefill
//   (Little), with half their chunks to run, and those admitted during its own
//   first c + 1 steps, instead of the per-iteration share the read-off charges.
// python/inferplan/admission.py holds the same formulas in NumPy (the fallback
// backends and the reference the tests compare with) and their derivation.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "metrics.hpp"
#include "quantile.hpp"
#include "sizing.hpp"

namespace inferplan {

enum Admission : std::int32_t {
  kAdmitChain = 0,      // the chain's read-off (docs/model.md 2)
  kAdmitImmediate = 1,  // a request that finds a free slot starts at once
  kAdmitIteration = 2,  // requests join at the next iteration boundary
};

inline bool valid_admission(std::int32_t a) { return a >= kAdmitChain && a <= kAdmitIteration; }

// E[n - N | n >= N]: the chain above N is geometric of ratio r on 0..Q
// (Q may be infinite, then r < 1).
inline double mean_queue_given_full(double r, double Q) {
  if (std::isinf(Q)) return r / (1.0 - r);
  const double s = std::log(r);
  const double t = (Q + 1.0) * s;
  if (std::fabs(t) < 1e-4) return Q / 2.0 + Q * (Q + 2.0) / 12.0 * s;
  return 1.0 / std::expm1(-s) - (Q + 1.0) / std::expm1(-t);
}

// P(n >= N), recovered from the mean queue.
inline double prob_full(double rate, double max_rate, double in_queue, double p_block, double Q) {
  double pn = 0.0;
  if (Q == 0.0) {
    pn = p_block;
  } else if (in_queue > 0.0) {
    pn = in_queue / mean_queue_given_full(rate / max_rate, Q);
  }
  if (std::isnan(pn)) return pn;
  return std::min(std::max(pn, 0.0), 1.0);
}

// Applies an admission rule to the metrics m (kNumMetrics, from analyze) in
// place: ttft_ms, and for kAdmitIteration wait_ms and response_ms. c_forced > 0
// takes PrefillDecode's chunk count as given instead of c(round(B)) (sizing's
// piece bounds, docs/model.md 3.1; m's read-off must use the same count).
// arrival_idle and arrival_full, when not NaN, are the probabilities that an arrival finds
// the replica empty and every slot taken (the arrival-stationary law of a non-Poisson
// arrival process, qbd.hpp); by default the time averages (PASTA).
inline void admit(const ReplicaView& r, std::int32_t rule, double* m, double c_forced = 0.0,
                  double arrival_idle = std::numeric_limits<double>::quiet_NaN(),
                  double arrival_full = std::numeric_limits<double>::quiet_NaN()) {
  if (rule != kAdmitImmediate && rule != kAdmitIteration) return;
  const ServiceParams& p = r.service;
  const bool pd = p.kind == kPrefillDecode;
  const double p0 = m[kP0], p_block = m[kPBlock], B = m[kInService];
  const double X = m[kThroughput] / 1000.0;  // per ms
  const double N = static_cast<double>(r.chain.N);
  const double busy = p0 < 1.0 ? 1.0 / (1.0 - p0) : 0.0;
  const double b_busy = std::min(std::max(B * busy, 1.0), N);
  const double L = pd ? p.in_tokens : 0.0, mo = p.out_tokens;
  const double c = pd ? (c_forced > 0.0 ? c_forced : chunks_at(r, B)) : 1.0;
  const double w_pre = (p.beta + p.gamma * (c + 1.0) / 2.0) * L;
  const double w_dec = p.beta * mo + p.gamma * mo * (L + (mo + 1.0) / 2.0);
  const double delta = (w_pre + w_dec) / (c + mo);
  const double chunk = w_pre / c;
  const double step_pre = m[kPrefillMs] / c;
  const double itl = m[kItlMs];
  const double charged = (c * (B - 1.0) + B) * w_pre / (c + mo);
  const double ttft = m[kTtftMs];
  if (rule == kAdmitImmediate) {
    const double overlap =
        X * c * step_pre * c / 2.0 + X * (step_pre * (c + (c * c - 1.0) / 2.0) + itl / 2.0);
    if (pd) m[kTtftMs] = ttft - charged + chunk * overlap;
    return;
  }
  const double accepted = p_block < 1.0 ? 1.0 - p_block : 1.0;
  const double full = std::isnan(arrival_full)
                          ? prob_full(m[kRate], m[kMaxRate], m[kInQueue], p_block, r.chain.Q)
                          : arrival_full;
  const double idle = std::isnan(arrival_idle) ? p0 : arrival_idle;
  // A one-request replica that is busy is full: no arrival finds a free slot
  // in a running iteration (1 - p0 - P(n >= 1) is 0, not its rounding).
  const double p_free_busy =
      r.chain.N == 1 ? 0.0 : std::min(std::max((1.0 - idle - full) / accepted, 0.0), 1.0);
  double step;
  if (p.kind == kVector) {  // tau(b) / m interpolated at the busy-time batch
    const std::int64_t lo = static_cast<std::int64_t>(b_busy);
    const double tau_b = lo >= r.chain.N
                             ? r.tau[r.chain.N - 1]
                             : r.tau[lo - 1] + (b_busy - static_cast<double>(lo)) *
                                                   (r.tau[lo] - r.tau[lo - 1]);
    step = tau_b / mo;
  } else if (p.kind == kDecodeOnly) {
    step = p.alpha + p.beta * b_busy;
  } else {
    step = p.alpha + delta * b_busy;
  }
  double residual = step / 2.0 + (pd ? X * busy * c * chunk * chunk / 2.0 : 0.0);
  if (!(p0 < 1.0)) residual = 0.0;
  const double delay = p_free_busy * residual;
  const double overlap = X * c * step_pre * (c - 1.0) / 2.0 +
                         X * (p_free_busy * residual * c + step_pre * c * (c + 1.0) / 2.0);
  m[kTtftMs] = (pd ? ttft - charged + chunk * overlap : ttft) + delay;
  m[kWaitMs] += delay;
  m[kResponseMs] += delay;
}

// analyze() under an admission rule; mo_out (if given) gets the chain's moments.
inline Status analyze_admitted(const ReplicaView& r, double rate_per_s, std::int32_t rule,
                               double* m, Moments* mo_out = nullptr) {
  if (!valid_admission(rule)) return kBadAdmission;
  const Status s = analyze(r, rate_per_s, m, mo_out);
  if (s == kOk) admit(r, rule, m);
  return s;
}

// Sizes a replica with the TTFT targets (and, for kAdmitIteration, the wait
// targets) taken under the admission rule. The other targets are solved by
// size_replica first; their rate caps a bracketed search below it for the
// rest, certified over PrefillDecode's pieces of constant chunk count like
// size_replica's (docs/model.md 3.1). Percentile targets shift the chain's
// quantile by the change of the mean.
inline Status size_admitted(const ReplicaView& r, const Targets& t, std::int32_t rule,
                            SizeResult& out) {
  out = SizeResult{};
  if (!valid_admission(rule)) return set_status(out, kBadAdmission);
  Status s = validate_targets(t);
  if (s != kOk) return set_status(out, s);
  if (const std::int32_t tiny = subnormal_target(t)) {
    out.binding = tiny;
    return set_status(out, infeasible_status(tiny));
  }
  // Without prefills, immediate admission is the chain's read-off itself.
  if (rule == kAdmitImmediate && r.service.kind != kPrefillDecode) rule = kAdmitChain;
  using detail::is_set;
  const bool it = rule == kAdmitIteration;
  const bool ttft = rule != kAdmitChain && is_set(t.ttft_ms);
  const bool ttft_p = rule != kAdmitChain && is_set(t.ttft_pq);
  const bool wait = it && is_set(t.wait_ms);
  const bool wait_p = it && is_set(t.wait_pq);
  if (!(ttft || ttft_p || wait || wait_p)) return size_replica(r, t, out);
  Targets others = t;
  if (ttft) others.ttft_ms = 0.0;
  if (ttft_p) others.ttft_pq = others.ttft_p_ms = 0.0;
  if (wait) others.wait_ms = 0.0;
  if (wait_p) others.wait_pq = others.wait_p_ms = 0.0;
  s = size_replica(r, others, out);
  if (s != kOk) return s;
  const double cap = out.rate;
  const std::int32_t cap_binding = out.binding;
  int iterations = out.iterations;

  double m[kNumMetrics];
  Moments mo;
  double work = 0.0;
  bool first_failing = false;
  // The largest excess of the refined targets at rate from the chain's moments
  // mo there (which: its binding code), with the read-off at c chunks if c > 0;
  // m holds the admitted metrics there.
  // A quantile's Erlang windows count against the work bound: the terms its
  // evaluations of the tail sum (a window the bound cannot afford is not summed).
  auto quantile = [&](double rate, const Moments& mm, double q, Status* st) {
    if (rate == 0.0) return 0.0;  // nobody waits at an idle replica
    double terms = 0.0;
    const double w =
        wait_quantile(r.chain, mm, q, &terms, std::max(0.0, (kMaxWork - work) / kWindowTermCost));
    work += kWindowTermCost * terms;
    if (work > kMaxWork || std::isnan(w)) {
      *st = kNotCertified;
      return std::numeric_limits<double>::quiet_NaN();
    }
    return w;
  };
  // The largest excess of the refined targets at rate from the chain's moments
  // mm there (which: its binding code), with the read-off at c chunks if c > 0;
  // m holds the admitted metrics there.
  auto refined = [&](double rate, const Moments& mm, double c, std::int32_t* which,
                     Status* st) {
    fill_metrics(r, rate, mm, m);
    if (c > 0.0) {
      const Latency l = latency(r, rate / 1000.0, mm);
      const ReadOff o = read_off_chunks(r, mm.in_service, l.service, l.wait, c);
      m[kPrefillMs] = o.prefill;
      m[kItlMs] = o.itl;
      m[kTtftMs] = o.ttft;
    }
    const double chain_ttft = m[kTtftMs], chain_wait = m[kWaitMs];
    admit(r, rule, m, c);
    double worst = -std::numeric_limits<double>::infinity();
    // At the idle replica the first target that fails in the reporting order
    // (docs/model.md 3) names the status; elsewhere the largest excess.
    auto consider = [&](double v, std::int32_t code) {
      const double e = v - 1.0;
      if (first_failing ? (e >= 0.0 && !(worst >= 0.0)) || (worst < 0.0 && e > worst)
                        : e > worst) {
        worst = e;
        *which = code;
      }
    };
    if (ttft) consider(m[kTtftMs] / t.ttft_ms, kBindTtft);
    if (wait) consider(m[kWaitMs] / t.wait_ms, kBindWait);
    if (ttft_p) {
      const double q = quantile(rate, mm, t.ttft_pq, st) + chain_ttft - chain_wait;
      consider((q + (m[kTtftMs] - chain_ttft)) / t.ttft_p_ms, kBindTtftPercentile);
    }
    if (wait_p) {
      const double q = quantile(rate, mm, t.wait_pq, st);
      consider((q + (m[kWaitMs] - chain_wait)) / t.wait_p_ms, kBindWaitPercentile);
    }
    return *st == kOk ? worst : std::numeric_limits<double>::quiet_NaN();
  };
  auto chain = [&](double rate, Moments& mm) {
    work += static_cast<double>(r.chain.N) + kEvaluationCost;
    if (work > kMaxWork) return kNotCertified;
    if (!(std::isfinite(rate) && rate >= 0.0)) return kBadRate;
    return evaluate_chain<true>(r.chain, rate / 1000.0, mm);
  };
  auto actual = [&](double rate, Status* st, std::int32_t* which) {
    *st = chain(rate, mo);
    if (*st != kOk) return std::numeric_limits<double>::quiet_NaN();
    return refined(rate, mo, 0.0, which, st);
  };
  auto forced = [&](double rate, const Moments& mm, double c, std::int32_t* which, Status* st) {
    return refined(rate, mm, c, which, st);
  };
  std::int32_t which = kBindNone;
  double f_hi = actual(cap, &s, &which);
  ++iterations;
  if (s != kOk) return set_status(out, s);
  double answer = cap, above = std::numeric_limits<double>::infinity();
  std::int32_t binding = cap_binding;
  Moments answer_mo = mo;
  if (f_hi > 0.0) {
    binding = which;
    first_failing = true;
    const double f_lo = actual(0.0, &s, &which);
    first_failing = false;
    ++iterations;
    if (s != kOk) return set_status(out, s);
    if (f_lo >= 0.0) {
      std::copy(m, m + kNumMetrics, out.metrics);
      out.rate = 0.0;
      out.binding = which;
      out.iterations = iterations;
      return set_status(out, infeasible_status(which));
    }
    double a = 0.0, fa = f_lo, b = cap;
    bool closed;
    // The refined percentiles are steep in the rate: a tighter bracket than
    // size_replica's keeps them within 1e-9 of their targets.
    iterations += close_bracket(actual, a, fa, b, f_hi, binding, &s, &closed, 1e-13);
    if (s != kOk) return set_status(out, s);
    if (!closed) return set_status(out, kNotCertified);
    answer = a;
    above = b;
    if (answer > 0.0) {
      s = chain(answer, answer_mo);
      ++iterations;
      if (s != kOk) return set_status(out, s);
    }
  }
  if (r.service.kind == kPrefillDecode && answer > 0.0) {
    s = certify_pieces(r, answer, answer_mo, above, binding, iterations, chain, forced, actual);
    if (s != kOk) return set_status(out, s);
  }
  if (!(answer > 0.0)) {
    out.binding = binding;
    out.iterations = iterations;
    return set_status(out, infeasible_status(binding));
  }
  // The metrics at the answer.
  actual(answer, &s, &which);
  ++iterations;
  if (s != kOk) return set_status(out, s);
  std::copy(m, m + kNumMetrics, out.metrics);
  out.rate = answer;
  out.binding = binding;
  out.iterations = iterations;
  return set_status(out, kOk);
}

}  // namespace inferplan

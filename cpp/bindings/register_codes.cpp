// The kernel's code tables as the compiler sees them: model kinds, statuses,
// metric order, binding targets and admission rules, each name mapped to the
// C++ enumerator's value. python/inferplan/_codes.py is the one source of the
// names and values; tests/test_codes.py checks that these tables equal it.
#include <cstdint>
#include <utility>

#include <pybind11/pybind11.h>

#include "inferplan/admission.hpp"

namespace py = pybind11;

namespace {

using Entry = std::pair<const char*, std::int32_t>;

template <std::size_t K>
py::dict table(const Entry (&entries)[K]) {
  py::dict d;
  for (const Entry& e : entries) d[e.first] = e.second;
  return d;
}

}  // namespace

void register_codes(py::module_& m) {
  using namespace inferplan;
  const Entry kinds[] = {
      {"decode_only", kDecodeOnly}, {"prefill_decode", kPrefillDecode}, {"service_times", kVector}};
  const Entry statuses[] = {
      {"OK", kOk},
      {"UNSTABLE", kUnstable},
      {"INFEASIBLE_ITL", kInfeasibleItl},
      {"INFEASIBLE_TTFT", kInfeasibleTtft},
      {"INFEASIBLE_TTFT_PERCENTILE", kInfeasibleTtftPercentile},
      {"INFEASIBLE_WAIT_PERCENTILE", kInfeasibleWaitPercentile},
      {"INFEASIBLE_BLOCK", kInfeasibleBlock},
      {"INFEASIBLE_TPS", kInfeasibleTps},
      {"INFEASIBLE_WAIT", kInfeasibleWait},
      {"NOT_CERTIFIED", kNotCertified},
      {"BAD_KIND", kBadKind},
      {"BAD_ALPHA", kBadAlpha},
      {"BAD_BETA", kBadBeta},
      {"BAD_GAMMA", kBadGamma},
      {"BAD_IN_TOKENS", kBadInTokens},
      {"BAD_OUT_TOKENS", kBadOutTokens},
      {"BAD_MAX_NUM_TOKENS", kBadMaxNumTokens},
      {"BAD_MAX_BATCH", kBadMaxBatch},
      {"BAD_MAX_QUEUE", kBadMaxQueue},
      {"BAD_RATE", kBadRate},
      {"BAD_TARGET_ITL", kBadTargetItl},
      {"BAD_TARGET_TTFT", kBadTargetTtft},
      {"BAD_TTFT_PERCENTILE", kBadTtftPercentile},
      {"BAD_WAIT_PERCENTILE", kBadWaitPercentile},
      {"BAD_MAX_BLOCK", kBadMaxBlock},
      {"BAD_TPS", kBadTps},
      {"BAD_SERVICE_TIME", kBadServiceTime},
      {"BAD_QUANTILE", kBadQuantile},
      {"BAD_TARGET_WAIT", kBadTargetWait},
      {"BAD_ADMISSION", kBadAdmission},
      {"BAD_ARRIVAL_CV", kBadArrivalCv},
      {"BAD_OUT_TOKENS_CV", kBadOutTokensCv},
      {"BAD_ARRIVAL_FIT", kBadArrivalFit},
      {"BAD_ARRIVAL_LEVELS", kBadArrivalLevels},
      {"BAD_ARRIVAL_COLLISIONS", kBadArrivalCollisions},
  };
  const Entry metrics[] = {
      {"rate", kRate},           {"p0", kP0},
      {"p_block", kPBlock},      {"throughput", kThroughput},
      {"in_system", kInSystem},  {"in_service", kInService},
      {"in_queue", kInQueue},    {"response_ms", kResponseMs},
      {"service_ms", kServiceMs}, {"wait_ms", kWaitMs},
      {"itl_ms", kItlMs},        {"ttft_ms", kTtftMs},
      {"prefill_ms", kPrefillMs}, {"utilization", kUtilization},
      {"max_rate", kMaxRate},
  };
  const Entry bindings[] = {
      {"none", kBindNone},
      {"itl_ms", kBindItl},
      {"ttft_ms", kBindTtft},
      {"wait_ms", kBindWait},
      {"ttft_percentile", kBindTtftPercentile},
      {"wait_percentile", kBindWaitPercentile},
      {"max_block", kBindBlock},
      {"tps", kBindTps},
  };
  const Entry admissions[] = {
      {"chain", kAdmitChain}, {"immediate", kAdmitImmediate}, {"iteration", kAdmitIteration}};
  m.attr("KINDS") = table(kinds);
  m.attr("STATUSES") = table(statuses);
  m.attr("METRICS") = table(metrics);
  m.attr("BINDINGS") = table(bindings);
  m.attr("ADMISSIONS") = table(admissions);
}

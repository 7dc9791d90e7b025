// Status codes shared by every entry point of the kernel.
//
// A batch call never throws: each row carries one of these codes, and the
// Python layer turns them into messages that name the offending field.
#pragma once

#include <cstdint>

namespace inferplan {

enum Status : std::int32_t {
  kOk = 0,
  // The analysis is defined but the chain has no steady state.
  kUnstable = 1,  // unbounded queue at or above saturation
  // Sizing: a target that even a near-idle replica cannot meet.
  kInfeasibleItl = 2,
  kInfeasibleTtft = 3,
  kInfeasibleTtftPercentile = 4,
  kInfeasibleWaitPercentile = 5,
  kInfeasibleBlock = 6,
  kInfeasibleTps = 7,
  kInfeasibleWait = 8,
  // Sizing could not certify that every target holds on [0, rate] within its
  // work bound (docs/model.md 3.1): no rate is reported.
  kNotCertified = 9,
  // Invalid input, one code per field.
  kBadKind = 20,
  kBadAlpha = 21,
  kBadBeta = 22,
  kBadGamma = 23,
  kBadInTokens = 24,
  kBadOutTokens = 25,
  kBadMaxNumTokens = 26,
  kBadMaxBatch = 27,
  kBadMaxQueue = 28,
  kBadRate = 29,
  kBadTargetItl = 30,
  kBadTargetTtft = 31,
  kBadTtftPercentile = 32,
  kBadWaitPercentile = 33,
  kBadMaxBlock = 34,
  kBadTps = 35,
  kBadServiceTime = 36,
  kBadQuantile = 37,
  kBadTargetWait = 38,
  kBadAdmission = 39,
  // Arrival and length variability (docs/model.md 6-7).
  kBadArrivalCv = 40,      // arrival_cv not finite or outside [0, 100]
  kBadOutTokensCv = 41,    // out_tokens_cv not finite or outside [0, 100] (Python batch calls)
  kBadArrivalFit = 42,     // an unknown fit code for arrival_cv > 1
  kBadArrivalLevels = 43,  // the exact non-Poisson solve is too large (levels, work)
  kBadArrivalCollisions = 44,  // the prefill-collision law is beyond the work bound
};

inline bool is_error(std::int32_t s) { return s >= 20; }

}  // namespace inferplan

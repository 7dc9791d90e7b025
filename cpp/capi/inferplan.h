/*
 * inferplan.h - the stable C interface of the inferplan kernel.
 *
 * Link with -linferplan (libinferplan.so / .dylib / inferplan.dll, shipped in the Python
 * package: `python -c "import inferplan; print(inferplan.c_library_path())"`).
 *
 * The library is a thin layer over the same header-only C++ kernel that the Python package
 * uses, so every number it returns equals the Python API's (bit for bit). Nothing C++ crosses
 * this boundary: plain structs, arrays and integer status codes; no function throws, aborts
 * or prints.
 *
 * Units: rates in requests per second, times in milliseconds.
 *
 * Language: C89 with <stdint.h> (a C99 header), C99, C11 and C++. All comments in this file
 * are C comments and it declares no inline functions or bool.
 *
 * ABI policy: INFERPLAN_ABI_VERSION changes whenever a struct layout, a function signature,
 * or the meaning of an existing status code changes. Within one ABI version only additions
 * are made (new functions, new status codes, new enum values). Compare the macro you
 * compiled against with ip_abi_version() at run time.
 */
#ifndef INFERPLAN_H
#define INFERPLAN_H

#include <stdint.h>

#define INFERPLAN_ABI_VERSION 1
/* Additions within ABI version 1 (compare with ip_abi_minor() at run time):
 * 1: arrivals beyond Poisson (ip_*_arrivals*, ip_ttft_by_batch_arrivals, IP_BAD_ARRIVAL_*,
 *    IP_FIT_*, IP_NULL_ARRIVAL_CV). */
#define INFERPLAN_ABI_MINOR 1

#if defined(_WIN32) || defined(__CYGWIN__)
#if defined(INFERPLAN_BUILDING)
#define INFERPLAN_API __declspec(dllexport)
#else
#define INFERPLAN_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) || defined(__clang__)
#define INFERPLAN_API __attribute__((visibility("default")))
#else
#define INFERPLAN_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* INFERPLAN_CDEF_BEGIN: the cffi bindings read the declarations up to INFERPLAN_CDEF_END. */

/* Service models (ip_service.kind). */
enum {
  IP_DECODE_ONLY = 0,    /* tau(b) = out_tokens * (alpha + beta * b) */
  IP_PREFILL_DECODE = 1, /* chunked prefill plus decode under a token budget */
  IP_VECTOR = 2          /* tau(1..N) given by the caller (ip_replica_new only) */
};

/* Status codes. 0 is success; 1..19 are outcomes (the inputs were valid but the analysis or
 * sizing has no answer); 20 and above are errors in the inputs or the call. */
enum {
  IP_OK = 0,
  IP_UNSTABLE = 1, /* unbounded queue at or above saturation: no steady state */
  IP_INFEASIBLE_ITL = 2,
  IP_INFEASIBLE_TTFT = 3,
  IP_INFEASIBLE_TTFT_PERCENTILE = 4,
  IP_INFEASIBLE_WAIT_PERCENTILE = 5,
  IP_INFEASIBLE_BLOCK = 6,
  IP_INFEASIBLE_TPS = 7,
  IP_INFEASIBLE_WAIT = 8,
  IP_NOT_CERTIFIED = 9, /* sizing could not certify the targets on [0, rate] within its work bound */
  IP_BAD_KIND = 20,
  IP_BAD_ALPHA = 21,
  IP_BAD_BETA = 22,
  IP_BAD_GAMMA = 23,
  IP_BAD_IN_TOKENS = 24,
  IP_BAD_OUT_TOKENS = 25,
  IP_BAD_MAX_NUM_TOKENS = 26,
  IP_BAD_MAX_BATCH = 27,
  IP_BAD_MAX_QUEUE = 28,
  IP_BAD_RATE = 29,
  IP_BAD_TARGET_ITL = 30,
  IP_BAD_TARGET_TTFT = 31,
  IP_BAD_TTFT_PERCENTILE = 32,
  IP_BAD_WAIT_PERCENTILE = 33,
  IP_BAD_MAX_BLOCK = 34,
  IP_BAD_TPS = 35,
  IP_BAD_SERVICE_TIME = 36,
  IP_BAD_QUANTILE = 37,
  IP_BAD_TARGET_WAIT = 38,
  IP_BAD_ADMISSION = 39,
  IP_BAD_ARRIVAL_CV = 40,     /* arrival_cv not finite or outside [0, 100] */
  IP_BAD_OUT_TOKENS_CV = 41,  /* out_tokens_cv outside [0, 100] (batch calls of the Python layer) */
  IP_BAD_ARRIVAL_FIT = 42,    /* fit is not IP_FIT_GAMMA or IP_FIT_BALANCED */
  IP_BAD_ARRIVAL_LEVELS = 43, /* the exact solve under arrival_cv != 1 is too large */
  IP_BAD_ARRIVAL_COLLISIONS = 44, /* the prefill-collision law (by_batch, immediate) is too large */
  /* Errors of the call itself (C interface only). */
  IP_NULL_SERVICE = 100,
  IP_NULL_REPLICA = 101,
  IP_NULL_TARGETS = 102,
  IP_NULL_OUT = 103,
  IP_NULL_TAU = 104,
  IP_NULL_MAX_BATCH = 105,
  IP_NULL_MAX_QUEUE = 106,
  IP_NULL_RATE = 107,
  IP_NULL_STATUS = 108,
  IP_BAD_ROWS = 109,
  IP_OUT_OF_MEMORY = 110,
  IP_INTERNAL_ERROR = 111,
  IP_BAD_RESERVED = 112, /* a reserved field of ip_service is not 0 */
  IP_NULL_ARRIVAL_CV = 113
};

/* Which target limits a sized rate (ip_size_result.binding). */
enum {
  IP_BIND_NONE = 0, /* nothing binds below the saturation cap */
  IP_BIND_ITL = 1,
  IP_BIND_TTFT = 2,
  IP_BIND_WAIT = 3,
  IP_BIND_TTFT_PERCENTILE = 4,
  IP_BIND_WAIT_PERCENTILE = 5,
  IP_BIND_BLOCK = 6,
  IP_BIND_TPS = 7
};

/* How a request joins the batch (ip_analyze_admitted, ip_size_admitted). */
enum {
  IP_ADMIT_CHAIN = 0,     /* the chain's read-off at the mean batch (as ip_analyze) */
  IP_ADMIT_IMMEDIATE = 1, /* a request that finds a free slot starts at once */
  IP_ADMIT_ITERATION = 2  /* requests join at the next iteration boundary */
};

/* The gap law fitted to arrival_cv > 1 (ip_*_arrivals; ignored at or below 1). */
enum {
  IP_FIT_GAMMA = 0,   /* two-phase hyperexponential with the Gamma law's first three moments */
  IP_FIT_BALANCED = 1 /* two-phase hyperexponential with balanced means (two moments) */
};

enum { IP_NUM_METRICS = 15 };

/* A service model. Zero-initialise, then set what the kind uses; ip_service_defaults fills
 * the defaults of the Python API (out_tokens 1, max_num_tokens 8192). 56 bytes. */
typedef struct ip_service {
  int32_t kind;          /* IP_DECODE_ONLY, IP_PREFILL_DECODE or IP_VECTOR */
  int32_t reserved;      /* must be 0 (IP_BAD_RESERVED otherwise) */
  double alpha;          /* ms per iteration */
  double beta;           /* ms per token in the batch (decode only) or per computed token */
  double gamma;          /* ms per token of KV cache read (prefill-decode) */
  double in_tokens;      /* mean prompt length (prefill-decode) */
  double out_tokens;     /* mean output length, >= 1e-9 */
  double max_num_tokens; /* token budget per iteration (prefill-decode), > 0 */
} ip_service;

/* Sizing targets; 0 or NaN means "not set" (as in the Python batch API, inferplan.size_many;
 * infinities and negative values are errors). 72 bytes. */
typedef struct ip_targets {
  double itl_ms;    /* mean inter-token latency */
  double ttft_ms;   /* mean time to first token */
  double wait_ms;   /* mean wait in the queue */
  double ttft_pq;   /* TTFT percentile: the quantile in (0, 1) ... */
  double ttft_p_ms; /* ... must be at most this many ms */
  double wait_pq;   /* wait percentile: the quantile in (0, 1) ... */
  double wait_p_ms; /* ... must be at most this many ms */
  double max_block; /* blocking probability, in (0, 1) */
  double tps;       /* tokens per second for the whole fleet (caps the rate at 0.9 x 0.999 x max) */
} ip_targets;

/* Steady-state metrics of one replica at an offered rate, in the order of the Python
 * inferplan.Metrics tuple. 120 bytes. */
typedef struct ip_metrics {
  double rate;        /* offered rate, req/s */
  double p0;          /* probability the replica is empty */
  double p_block;     /* probability an arrival is rejected */
  double throughput;  /* accepted rate, req/s */
  double in_system;   /* mean requests in the replica */
  double in_service;  /* mean batch occupancy */
  double in_queue;    /* mean requests waiting */
  double response_ms; /* mean time from arrival to completion */
  double service_ms;  /* mean time in service */
  double wait_ms;     /* mean wait */
  double itl_ms;      /* mean inter-token latency */
  double ttft_ms;     /* mean time to first token */
  double prefill_ms;  /* mean prefill time (0 for decode only) */
  double utilization; /* in_service / max_batch */
  double max_rate;    /* saturation throughput, req/s */
} ip_metrics;

/* Result of sizing one replica. When status is not IP_OK, rate and every metric are NaN
 * and binding names the target that cannot be met (for infeasible outcomes). 144 bytes. */
typedef struct ip_size_result {
  double rate;        /* largest offered rate (req/s) meeting every target */
  int32_t status;     /* IP_OK, an IP_INFEASIBLE_* outcome or an error */
  int32_t binding;    /* IP_BIND_* */
  int32_t iterations; /* evaluations of the chain used by the root finder */
  int32_t reserved;
  ip_metrics metrics; /* metrics at rate */
} ip_size_result;

/* A configured replica: its rate-independent arrays, prepared once. Immutable after
 * creation, so one handle may be used by several threads at once. */
typedef struct ip_replica ip_replica;

/* INFERPLAN_ABI_VERSION of the library loaded at run time. */
INFERPLAN_API int ip_abi_version(void);

/* INFERPLAN_ABI_MINOR of the library loaded at run time (the additions it has). */
INFERPLAN_API int ip_abi_minor(void);

/* Version of the inferplan package the library was built from, e.g. "0.1.0". */
INFERPLAN_API const char* ip_version(void);

/* A static, NUL-terminated sentence that explains a status code and names the parameter at
 * fault. Never NULL; unknown codes give "unknown status". */
INFERPLAN_API const char* ip_status_message(int status);

/* Fills *service with the defaults of a kind: every field 0 except out_tokens = 1 and
 * max_num_tokens = 8192. Returns IP_NULL_SERVICE or IP_BAD_KIND on error. */
INFERPLAN_API int ip_service_defaults(ip_service* service, int32_t kind);

/* Creates a replica serving at most max_batch requests at once with max_queue more waiting
 * (an integer >= 0, or INFINITY for an unbounded FCFS queue). For IP_VECTOR, tau_ms holds
 * tau(1..max_batch) in ms (copied); otherwise pass NULL. On success *out receives a handle
 * to release with ip_replica_free; on error *out is set to NULL (when out is not NULL). */
INFERPLAN_API int ip_replica_new(const ip_service* service, int64_t max_batch, double max_queue,
                                 const double* tau_ms, ip_replica** out);

/* Releases a replica; NULL is allowed. */
INFERPLAN_API void ip_replica_free(ip_replica* replica);

/* Metrics at an offered rate (req/s). Returns IP_OK, IP_UNSTABLE or an error; *out is
 * written only on IP_OK. */
INFERPLAN_API int ip_analyze(const ip_replica* replica, double rate, ip_metrics* out);

/* The largest offered rate at which every set target holds. Returns out->status (or a call
 * error, in which case *out is untouched). */
INFERPLAN_API int ip_size(const ip_replica* replica, const ip_targets* targets,
                          ip_size_result* out);

/* As ip_analyze, with ttft_ms (and, for IP_ADMIT_ITERATION, wait_ms and response_ms) as
 * seen by an arriving request under an admission rule (docs/accuracy.md). Returns
 * IP_BAD_ADMISSION for an unknown rule. */
INFERPLAN_API int ip_analyze_admitted(const ip_replica* replica, double rate, int32_t admission,
                                      ip_metrics* out);

/* As ip_size, with the TTFT targets (and, for IP_ADMIT_ITERATION, the wait targets) taken
 * under an admission rule. */
INFERPLAN_API int ip_size_admitted(const ip_replica* replica, const ip_targets* targets,
                                   int32_t admission, ip_size_result* out);

/* q-quantile (0 < q < 1) of the wait of an accepted request at rate (req/s), in ms: exact
 * for FCFS. *out_ms is written only on IP_OK. */
INFERPLAN_API int ip_wait_quantile(const ip_replica* replica, double rate, double q,
                                   double* out_ms);

/* q-quantile of TTFT in ms: the wait quantile plus prefill and one ITL at the mean batch. */
INFERPLAN_API int ip_ttft_quantile(const ip_replica* replica, double rate, double q,
                                   double* out_ms);

/* Sizes one configuration without a handle (IP_VECTOR is not accepted: use ip_replica_new).
 * Uses scratch memory owned by the calling thread, which grows to the largest max_batch seen
 * and is reused afterwards: no allocation per call. Returns out->status (or a call error,
 * in which case *out is untouched). */
INFERPLAN_API int ip_size_params(const ip_service* service, int64_t max_batch, double max_queue,
                                 const ip_targets* targets, ip_size_result* out);

/* Batch analysis of `rows` configurations: row i is (services[i], max_batch[i],
 * max_queue[i]) at rate[i]. metrics[i] receives its metrics (all NaN unless status[i] is
 * IP_OK). threads: worker threads, 0 = one per hardware thread (small batches run on the
 * calling thread). Returns IP_OK when the arguments are usable, whatever the rows' status;
 * otherwise a call error and nothing is written. IP_VECTOR rows get IP_BAD_KIND,
 * rows whose service.reserved is not 0 IP_BAD_RESERVED. */
INFERPLAN_API int ip_analyze_many(int64_t rows, const ip_service* services,
                                  const int64_t* max_batch, const double* max_queue,
                                  const double* rate, ip_metrics* metrics, int32_t* status,
                                  int threads);

/* Batch sizing: row i is (services[i], max_batch[i], max_queue[i]) under targets[i];
 * out[i] receives what ip_size_params would give. Returns as ip_analyze_many. */
INFERPLAN_API int ip_size_many(int64_t rows, const ip_service* services,
                               const int64_t* max_batch, const double* max_queue,
                               const ip_targets* targets, ip_size_result* out, int threads);

/* Arrivals beyond Poisson (ABI minor 1; docs/model.md 6): a renewal arrival process whose
 * gaps have coefficient of variation arrival_cv (1: Poisson, 0: a constant rate, above 1
 * bursty), solved exactly as a quasi-birth-death chain. With arrival_cv == 1 each call returns
 * what its Poisson counterpart returns (ip_analyze_admitted, ip_size_admitted, the quantiles
 * shifted by the admission rule's change of the mean), bit for bit. fit: IP_FIT_GAMMA or
 * IP_FIT_BALANCED. Errors: IP_BAD_ARRIVAL_CV, IP_BAD_ARRIVAL_FIT, IP_BAD_ADMISSION,
 * IP_BAD_ARRIVAL_LEVELS (a finite queue of more than 400,000 levels, or levels x phases
 * beyond the kernel's work bound), and the statuses of the Poisson calls. */

/* Metrics at rate (req/s) as ip_analyze_admitted, under arrival_cv; *out written on IP_OK. */
INFERPLAN_API int ip_analyze_arrivals(const ip_replica* replica, double rate, double arrival_cv,
                                      int32_t fit, int32_t admission, ip_metrics* out);

/* The q-quantiles (ms) of the wait and of TTFT at rate under arrival_cv; either output may be
 * NULL (not both). Written only on IP_OK. */
INFERPLAN_API int ip_quantiles_arrivals(const ip_replica* replica, double rate, double q,
                                        double arrival_cv, int32_t fit, int32_t admission,
                                        double* wait_ms, double* ttft_ms);

/* The q-quantile (ms) of TTFT with the service part at the batch each arrival joins (n + 1
 * for an arrival that finds n < max_batch, max_batch after a wait): the Python
 * arrivals.ttft_quantile(..., by_batch=True). The chain is the QBD at every arrival_cv, 1
 * included. PrefillDecode under IP_ADMIT_IMMEDIATE adds the law of the prefills that share
 * the arrival's iterations (docs/model.md 6); bursty arrivals with many prefill chunks make
 * that law long (milliseconds up to about a second): its cost is estimated first, and beyond
 * the kernel's work bound the call returns IP_BAD_ARRIVAL_COLLISIONS. *out_ms written only
 * on IP_OK. */
INFERPLAN_API int ip_ttft_by_batch_arrivals(const ip_replica* replica, double rate, double q,
                                            double arrival_cv, int32_t fit, int32_t admission,
                                            double* out_ms);

/* As ip_size_admitted under arrival_cv. Returns out->status (IP_NOT_CERTIFIED when the solves
 * exceed the kernel's work bound) or a call error (then *out is untouched). */
INFERPLAN_API int ip_size_arrivals(const ip_replica* replica, const ip_targets* targets,
                                   double arrival_cv, int32_t fit, int32_t admission,
                                   ip_size_result* out);

/* Batch forms: row i is (services[i], max_batch[i], max_queue[i]) with arrival_cv[i]; as
 * ip_analyze_many and ip_size_many otherwise. */
INFERPLAN_API int ip_analyze_arrivals_many(int64_t rows, const ip_service* services,
                                           const int64_t* max_batch, const double* max_queue,
                                           const double* rate, const double* arrival_cv,
                                           int32_t fit, int32_t admission, ip_metrics* metrics,
                                           int32_t* status, int threads);

INFERPLAN_API int ip_size_arrivals_many(int64_t rows, const ip_service* services,
                                        const int64_t* max_batch, const double* max_queue,
                                        const ip_targets* targets, const double* arrival_cv,
                                        int32_t fit, int32_t admission, ip_size_result* out,
                                        int threads);

/* INFERPLAN_CDEF_END */

#ifdef __cplusplus
}
#endif

#endif /* INFERPLAN_H */

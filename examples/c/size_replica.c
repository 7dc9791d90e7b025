/*
 * Sizes one replica through the inferplan C API and prints the sized rate and the metrics
 * there, one "name value" line each (values with 17 significant digits).
 *
 *   cc size_replica.c -I"$INC" -L"$LIBDIR" -linferplan -Wl,-rpath,"$LIBDIR" -o size_replica
 *   ./size_replica                                  # the seed's example: itl_ms=50
 *   ./size_replica kind=1 alpha=8 beta=0.02 gamma=0.0001 in_tokens=512 out_tokens=256 \
 *                  max_batch=64 max_queue=inf ttft_ms=800 itl_ms=40
 *
 * Arguments are key=value pairs naming fields of ip_service and ip_targets, plus max_batch
 * and max_queue ("inf" for an unbounded queue). Exit status: 0 sized, 1 infeasible,
 * 2 bad input.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inferplan.h"

struct field {
  const char* name;
  double* value;
};

static int parse_args(int argc, char** argv, ip_service* service, ip_targets* targets,
                      double* max_batch, double* max_queue) {
  double kind = IP_DECODE_ONLY;
  struct field fields[20];
  int nfields = 0, i, k;
#define FIELD(n, p)          \
  fields[nfields].name = n;  \
  fields[nfields].value = p; \
  ++nfields
  FIELD("kind", &kind);
  FIELD("alpha", &service->alpha);
  FIELD("beta", &service->beta);
  FIELD("gamma", &service->gamma);
  FIELD("in_tokens", &service->in_tokens);
  FIELD("out_tokens", &service->out_tokens);
  FIELD("max_num_tokens", &service->max_num_tokens);
  FIELD("max_batch", max_batch);
  FIELD("max_queue", max_queue);
  FIELD("itl_ms", &targets->itl_ms);
  FIELD("ttft_ms", &targets->ttft_ms);
  FIELD("wait_ms", &targets->wait_ms);
  FIELD("ttft_pq", &targets->ttft_pq);
  FIELD("ttft_p_ms", &targets->ttft_p_ms);
  FIELD("wait_pq", &targets->wait_pq);
  FIELD("wait_p_ms", &targets->wait_p_ms);
  FIELD("max_block", &targets->max_block);
  FIELD("tps", &targets->tps);
#undef FIELD
  for (i = 1; i < argc; ++i) {
    const char* eq = strchr(argv[i], '=');
    char* end;
    size_t len;
    if (!eq) {
      fprintf(stderr, "expected key=value, got %s\n", argv[i]);
      return 0;
    }
    len = (size_t)(eq - argv[i]);
    for (k = 0; k < nfields; ++k)
      if (strlen(fields[k].name) == len && strncmp(argv[i], fields[k].name, len) == 0) break;
    if (k == nfields) {
      fprintf(stderr, "unknown key in %s\n", argv[i]);
      return 0;
    }
    *fields[k].value = strtod(eq + 1, &end); /* accepts "inf" and "nan" */
    if (end == eq + 1 || *end != '\0') {
      fprintf(stderr, "not a number in %s\n", argv[i]);
      return 0;
    }
  }
  service->kind = (int32_t)kind;
  return 1;
}

int main(int argc, char** argv) {
#define METRIC(name) {#name, offsetof(ip_metrics, name)}
  static const struct {
    const char* name;
    size_t offset;
  } metrics[IP_NUM_METRICS] = {
      METRIC(rate),       METRIC(p0),          METRIC(p_block),    METRIC(throughput),
      METRIC(in_system),  METRIC(in_service),  METRIC(in_queue),   METRIC(response_ms),
      METRIC(service_ms), METRIC(wait_ms),     METRIC(itl_ms),     METRIC(ttft_ms),
      METRIC(prefill_ms), METRIC(utilization), METRIC(max_rate)};
#undef METRIC
  ip_service service;
  ip_targets targets;
  ip_size_result result;
  double max_batch = 48, max_queue = 152;
  int status, k;

  if (ip_abi_version() != INFERPLAN_ABI_VERSION) {
    fprintf(stderr, "libinferplan has ABI %d, this program was built for %d\n",
            ip_abi_version(), INFERPLAN_ABI_VERSION);
    return 2;
  }
  ip_service_defaults(&service, IP_DECODE_ONLY);
  service.alpha = 19;
  service.beta = 1;
  service.out_tokens = 1024;
  memset(&targets, 0, sizeof targets);
  if (!parse_args(argc, argv, &service, &targets, &max_batch, &max_queue)) return 2;
  if (argc == 1) targets.itl_ms = 50;

  status = ip_size_params(&service, (int64_t)max_batch, max_queue, &targets, &result);
  if (status != IP_OK) {
    fprintf(stderr, "inferplan %s: status %d: %s\n", ip_version(), status,
            ip_status_message(status));
    return status >= 20 ? 2 : 1;
  }
  printf("status %d\nbinding %d\niterations %d\n", result.status, result.binding,
         result.iterations);
  printf("sized_rate %.17g\n", result.rate);
  for (k = 0; k < IP_NUM_METRICS; ++k)
    printf("%s %.17g\n", metrics[k].name,
           *(const double*)((const char*)&result.metrics + metrics[k].offset));
  return 0;
}

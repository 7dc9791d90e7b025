"""Writes tests/data/formats/.

The real GuideLLM and vLLM measurements of tests/data/guidellm and tests/data/vllm-logs
re-expressed in the other formats inferplan reads, so every reader is tested on real
numbers. Run from the repository root; the files are committed.

    python scripts/make_format_samples.py
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
OUT = DATA / "formats"
PCT = ("p001", "p01", "p05", "p10", "p25", "p75", "p90", "p95", "p99")
FLAT = {  # JSON metric name -> the flat (0.3-era CSV) metric label
    "requests_per_second": "Requests per second",
    "request_concurrency": "Request concurrency",
    "request_latency": "Request latency",
    "prompt_token_count": "Prompt token count",
    "output_token_count": "Output token count",
    "time_to_first_token_ms": "Time to first token ms",
    "time_per_output_token_ms": "Time per output token ms",
    "inter_token_latency_ms": "Inter token latency ms",
    "output_tokens_per_second": "Output tokens per second",
    "tokens_per_second": "Tokens per second",
}
STATUSES = ("Successful", "Incomplete", "Errored")


def records(name):
    """Return the flat records of one GuideLLM sweep file."""
    return json.loads((DATA / "guidellm" / name).read_text())


def dist(rec, status, label):
    """Return a GuideLLM DistributionSummary (JSON) from a flat record's columns."""
    pre = f"{status} {label}"
    p = json.loads(rec[f"{pre} [min, 0.1, 1, 5, 10, 25, 75, 90, 95, 99, max]"])
    d = {
        "mean": rec[f"{pre} mean"],
        "median": rec[f"{pre} median"],
        "std_dev": rec[f"{pre} std dev"],
        "min": p[0],
        "max": p[-1],
        "count": rec[f"{status} Requests"],
        "percentiles": dict(zip(PCT, p[1:-1], strict=True)),
    }
    d["percentiles"]["p50"] = d["median"]
    return d


def guidellm_json(name, era):
    """Return a GuideLLM JSON report of the given era from flat records."""
    bench = []
    for rec in records(name):
        args = json.loads(rec["Args"])
        metrics = {k: {s.lower(): dist(rec, s, lab) for s in STATUSES} for k, lab in FLAT.items()}
        totals = {s.lower(): rec[f"{s} Requests"] for s in STATUSES}
        b = {"type_": "generative_benchmark", "id_": rec["Id"], "run_id": rec["Run Id"]}
        b.update(duration=rec["Duration"], start_time=0.0, end_time=rec["Duration"])
        if era == "0.3":
            b["args"] = {"strategy": args["strategy"], "max_duration": args["max_duration"]}
            b["request_totals"] = totals
        else:
            b["config"] = {"strategy": args["strategy"], "constraints": {}}
            metrics["request_totals"] = totals
        b["metrics"] = metrics
        bench.append(b)
    return {"benchmarks": bench}


def guidellm_csv_current(name):
    """Return the current CSV writer's layout.

    Three header rows, blocks of Mean/Median/Std Dev/Percentiles per status with data, the
    header taken from the first row only.
    """
    groups = [  # (group, units, flat label; seconds for latency)
        ("Request Latency", "Sec", "Request latency"),
        ("Time to First Token", "ms", "Time to first token ms"),
        ("Time per Output Token", "ms", "Time per output token ms"),
        ("Inter Token Latency", "ms", "Inter token latency ms"),
        ("Server Throughput", "Requests/Sec", "Requests per second"),
        ("Server Throughput", "Concurrency", "Request concurrency"),
        ("Token Metrics", "Input Tokens", "Prompt token count"),
        ("Token Metrics", "Output Tokens", "Output token count"),
        ("Token Throughput", "Output Tokens/Sec", "Output tokens per second"),
    ]
    headers, rows = None, []
    for k, rec in enumerate(records(name)):
        args = json.loads(rec["Args"])
        h = [["Run Info", "Run ID", ""], ["Run Info", "Run Index", ""],
             ["Run Info", "Profile", ""], ["Benchmark", "Type", ""],
             ["Benchmark", "Strategy", ""], ["Timings", "Duration", "Sec"]]  # fmt: skip
        v = [rec["Run Id"], k, json.dumps(args["profile"]), "generative_benchmark",
             args["strategy"]["type_"], rec["Duration"]]  # fmt: skip
        for s in ("Successful", "Incomplete", "Errored"):
            h.append(["Request Counts", s, ""])
            v.append(rec[f"{s} Requests"])
        total = rec["Total Requests"]
        h.append(["Request Counts", "Total", ""])
        v.append(total)
        for group, units, label in groups:
            for s in STATUSES:
                if rec[f"{s} Requests"] == 0 or rec[f"{s} {label} mean"] in (0, None):
                    continue
                d = dist(rec, s, label)
                pcts = [d["min"], *(d["percentiles"][p] for p in PCT), d["max"]]
                stats = (("Mean", d["mean"]), ("Median", d["median"]),
                         ("Std Dev", d["std_dev"]), ("Percentiles", str(pcts)))  # fmt: skip
                for stat, val in stats:
                    h.append([group, f"{s} {units}", stat])
                    v.append(val)
        h.append(["Scheduler State", "Node ID", ""])
        v.append(0)
        if headers is None:
            headers = h
        rows.append(v)
    path = OUT / name.replace("sweep-", "guidellm-current-").replace(".json", ".csv")
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        for i in range(3):
            w.writerow([col[i] for col in headers])
        w.writerows(rows)
    return path


def flat_csv(name):
    """Write the flat records as a GuideLLM 0.3 CSV."""
    recs = records(name)
    path = OUT / name.replace("sweep-", "guidellm-0.3-").replace(".json", ".csv")
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(recs[0]))
        w.writeheader()
        for r in recs:
            w.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else v
                        for k, v in r.items()})  # fmt: skip
    return path


def vllm_bench(name):
    """Write benchmark_serving results with the real measurements of one shape.

    benchmark_serving results (one JSON object a line, as --append-result writes) with the
    real GuideLLM measurements of one shape, constant rate read as the request rate.
    """
    lines = []
    for rec in records(name):
        args = json.loads(rec["Args"])
        st = args["strategy"]
        if st["type_"] != "constant":
            continue
        n = rec["Successful Requests"]
        ttft = json.loads(rec["Successful Time to first token ms [min, 0.1, 1, 5, 10, 25, "
                              "75, 90, 95, 99, max]"])  # fmt: skip
        itl = json.loads(rec["Successful Inter token latency ms [min, 0.1, 1, 5, 10, 25, 75, "
                             "90, 95, 99, max]"])  # fmt: skip
        lines.append({
            "date": rec["Start Time"], "backend": "vllm", "model_id": "meta-llama/Llama-3.1-8B",
            "num_prompts": n + rec["Errored Requests"], "request_rate": st["rate"],
            "burstiness": 1.0, "max_concurrency": None, "duration": rec["Duration"],
            "completed": n,
            "total_input_tokens": round(rec["Successful Prompt token count mean"] * n),
            "total_output_tokens": round(rec["Successful Output token count mean"] * n),
            "request_throughput": rec["Successful Requests per second mean"],
            "output_throughput": rec["Successful Output tokens per second mean"],
            "mean_ttft_ms": rec["Successful Time to first token ms mean"],
            "median_ttft_ms": rec["Successful Time to first token ms median"],
            "p90_ttft_ms": ttft[7], "p99_ttft_ms": ttft[9],
            "mean_tpot_ms": rec["Successful Time per output token ms mean"],
            "mean_itl_ms": rec["Successful Inter token latency ms mean"],
            "median_itl_ms": rec["Successful Inter token latency ms median"],
            "p90_itl_ms": itl[7], "p99_itl_ms": itl[9],
            "mean_e2el_ms": 1000 * rec["Successful Request latency mean"],
        })  # fmt: skip
    path = OUT / name.replace("sweep-", "vllm-bench-").replace(".json", ".jsonl")
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def engine_logs(name, n=40):
    """Write a vLLM log and Prometheus scrapes from recorded engine statistics."""
    with (DATA / "vllm-logs" / name).open(newline="") as f:
        rows = list(csv.DictReader(f))[:n]
    log, prom = [], []
    prompt_total = gen_total = 0.0
    t0 = float(rows[0]["timestamp"])
    for k, r in enumerate(rows):
        t = float(r["timestamp"]) - t0
        ms = round(t * 1000) % 1000
        sec = int(t)
        log.append(
            f"INFO 05-14 10:{(sec // 60) % 60:02d}:{sec % 60:02d}.{ms:03d} metrics.py:341] "
            f"Avg prompt throughput: {float(r['prompt_throughput']):.1f} tokens/s, "
            f"Avg generation throughput: {float(r['generation_throughput']):.1f} tokens/s, "
            f"Running: {r['num_running']} reqs, Swapped: {r['num_swapped']} reqs, "
            f"Pending: {r['num_pending']} reqs, GPU KV cache usage: "
            f"{float(r['gpu_kvcache_usage']):.1f}%, CPU KV cache usage: 0.0%."
        )
        if k:
            dt = float(r["timestamp"]) - float(rows[k - 1]["timestamp"])
            prompt_total += float(r["prompt_throughput"]) * dt
            gen_total += float(r["generation_throughput"]) * dt
        ts = round((1_700_000_000 + t) * 1000)
        prom += [
            f"# scrape {k + 1}",
            f'vllm:num_requests_running{{model_name="m"}} {r["num_running"]} {ts}',
            f'vllm:num_requests_waiting{{model_name="m"}} {r["num_pending"]} {ts}',
            f'vllm:gpu_cache_usage_perc{{model_name="m"}} '
            f"{float(r['gpu_kvcache_usage']) / 100:.6f} {ts}",
            f'vllm:prompt_tokens_total{{model_name="m"}} {prompt_total:.3f} {ts}',
            f'vllm:generation_tokens_total{{model_name="m"}} {gen_total:.3f} {ts}',
        ]
    stem = name.replace(".csv", "")
    (OUT / f"{stem}.log").write_text("\n".join(log) + "\n")
    (OUT / f"{stem}.prom").write_text(
        "# HELP vllm:num_requests_running Number of requests currently running.\n"
        "# TYPE vllm:num_requests_running gauge\n" + "\n".join(prom) + "\n"
    )


def main():
    """Write every sample."""
    OUT.mkdir(exist_ok=True)
    (OUT / "guidellm-0.3-i1024-o256.json").write_text(
        json.dumps(guidellm_json("sweep-i1024-o256.json", "0.3"), indent=1)
    )
    (OUT / "guidellm-current-i64-o64.json").write_text(
        json.dumps(guidellm_json("sweep-i64-o64.json", "current"), indent=1)
    )
    guidellm_csv_current("sweep-i1024-o4096.json")
    flat_csv("sweep-i256-o256.json")
    vllm_bench("sweep-i256-o1024.json")
    engine_logs("vllm_log_scale100_prompt500.csv")


if __name__ == "__main__":
    main()

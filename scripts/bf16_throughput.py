"""Training throughput with and without bf16 autocast: the LoRA teacher's steps/s on this CPU.

Trains the shipped teacher's recipe shape (LoRA r=32 on the e5-small-multilingual backbone, listwise
labels) for a few steps on ranking groups made of DL19 queries and their BM25 top ``--group``
passages (labels from the DL19 qrels), alternately in fp32 and with bf16 autocast
(``precision="bf16"``), and records the steps/s of each (median over ``--rounds`` interleaved
runs). A throughput measurement only: the adapters are thrown away (DL19 is an evaluation set;
nothing trained here is evaluated or shipped). bf16 needs a CPU with native bf16 (avx512_bf16/AMX).

    python scripts/bf16_throughput.py --steps 6 --rounds 2 --out results/bench/teacher_bf16.json
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optical_rerank.bench._rerank import default_data_dir, load_query_set  # noqa: E402
from optical_rerank.files import write_json_atomic  # noqa: E402
from optical_rerank.provenance import environment_info  # noqa: E402
from optical_rerank.rerank import cpu_has_native_bf16  # noqa: E402
from optical_rerank.teacher._groups import Bundle  # noqa: E402
from optical_rerank.teacher._lora import LoraTeacherConfig, train_lora_teacher  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--queries", type=int, default=16)
    p.add_argument("--group", type=int, default=8)
    p.add_argument("--batch-queries", type=int, default=2)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("results/bench/teacher_bf16.json"))
    args = p.parse_args()
    if not cpu_has_native_bf16():
        print("this CPU has no native bf16 (avx512_bf16 / amx_bf16): nothing to measure", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(args.threads)
    qs = load_query_set(default_data_dir(), args.queries, args.group)
    docs, train = {}, []
    for q in qs.queries:
        hits = qs.candidates[q.qid][: args.group]
        docs.update({h.docid: h.text for h in hits})
        train.append({"qid": q.qid, "source": "dl19", "query": q.text, "docids": [h.docid for h in hits],
                      "labels": [int(qs.qrels[q.qid].get(h.docid, 0)) for h in hits]})
    runs: dict[str, list[float]] = {"fp32": [], "bf16": []}
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Bundle(Path(tmp), docs, train, {}, {}, {}, "throughput-only")
        for r in range(args.rounds):
            for precision in (("fp32", "bf16") if r % 2 == 0 else ("bf16", "fp32")):
                cfg = LoraTeacherConfig(precision=precision, kd_weight=0.0, batch_queries=args.batch_queries,
                                        group_size=args.group, max_length=args.max_length, seed=r, save_steps=10_000)
                load0 = os.getloadavg()[0]
                t0 = time.perf_counter()
                rec = train_lora_teacher(cfg, bundle, Path(tmp) / f"{precision}-{r}", max_steps=args.steps)
                runs[precision].append(rec["steps_per_s"])
                print(f"round {r} {precision}: {rec['steps_per_s']:.3f} steps/s ({time.perf_counter() - t0:.0f}s "
                      f"with loading; load {load0:.1f})", file=sys.stderr, flush=True)
    med = {k: statistics.median(v) for k, v in runs.items()}
    write_json_atomic(args.out, {
        "what": "LoRA teacher training steps/s on CPU, fp32 vs bf16 autocast (precision='bf16')",
        "workload": {"backbone": "e5-small-multilingual", "lora_r": 32, "queries_per_step": args.batch_queries,
                     "passages_per_query": args.group, "max_length": args.max_length, "steps": args.steps,
                     "rounds": args.rounds, "threads": args.threads,
                     "data": f"DL19 first {args.queries} judged queries x BM25 top {args.group} (throughput only)"},
        "steps_per_s": runs, "median_steps_per_s": med, "speedup_bf16": round(med["bf16"] / med["fp32"], 3),
        "load_avg_1min_end": round(os.getloadavg()[0], 2),
        "note": "shared 2-core machine; the runs alternate fp32/bf16 so both see the same load",
        "command": "python scripts/bf16_throughput.py " + " ".join(sys.argv[1:]), "environment": environment_info()})
    print(med)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

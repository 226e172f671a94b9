"""Measure the CPU default reranking backend: dev nDCG@10 and pairs/s of every backend/precision.

On AfriQA English dev (the human-translated questions of every language with English gold
passages, a seeded sample of ``--questions``), BM25 top ``--depth`` over the AfriQA English
collection, reranked by the shipped teacher ``teacher-e5-lora`` with its card's e5 fusion (the
bi-encoder runs in the same backend/precision). The default of a CPU capability is the fastest
backend/precision available there whose nDCG@10 is within ``--tolerance`` of torch fp32; bf16
counts only for CPUs with native bf16. Writes ``--out`` (JSON); ``rerank._backends.CPU_DEFAULTS``
must name the same choices (a test checks it).

    python scripts/backend_default.py --questions 50 --depth 10 --out results/bench/backend_default.json
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optical_rerank.data import prepare  # noqa: E402
from optical_rerank.data.afriqa import afriqa_corpus, afriqa_file, afriqa_languages  # noqa: E402
from optical_rerank.evaluate import evaluate_run  # noqa: E402
from optical_rerank.files import write_json_atomic  # noqa: E402
from optical_rerank.first_stage import Bm25Retriever, build_index  # noqa: E402
from optical_rerank.paths import cache_dir  # noqa: E402
from optical_rerank.provenance import environment_info  # noqa: E402
from optical_rerank.rerank import CrossEncoderReranker, RerankConfig, cpu_has_native_bf16  # noqa: E402
from optical_rerank.trec_io import read_qrels, read_topics  # noqa: E402

CANDIDATES = [("torch", "fp32"), ("torch", "int8"), ("torch", "bf16"), ("onnx", "fp32"), ("onnx", "int8"),
              ("openvino", "fp32"), ("openvino", "bf16")]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="teacher-e5-lora")
    p.add_argument("--questions", type=int, default=50)
    p.add_argument("--depth", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tolerance", type=float, default=0.005)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("results/bench/backend_default.json"))
    p.add_argument("--backends", default=",".join(f"{b}:{q}" for b, q in CANDIDATES),
                   help="BACKEND:PRECISION,... to measure (torch:fp32, the reference, is always measured)")
    args = p.parse_args()

    root = cache_dir() / "prepared" / "afriqa-dev"
    if not (root / "card.json").is_file():
        prepare("afriqa", root, splits="dev", skip_missing=True)
    langs = afriqa_languages(root, "dev", pivot="en")
    queries, qrels = [], {}
    for lang in langs:
        queries += read_topics(afriqa_file(root, lang, "dev", "translated"))
        qrels.update(read_qrels(afriqa_file(root, lang, "dev", "qrels")))
    queries = sorted(random.Random(args.seed).sample(queries, min(args.questions, len(queries))), key=lambda q: q.qid)
    index = cache_dir() / "indexes" / "afriqa-en"
    build_index(afriqa_corpus(root, "en"), index, language="en", threads=args.threads)
    cands = Bm25Retriever(index).retrieve(queries, k=args.depth, threads=args.threads)
    n_pairs = sum(min(len(h), args.depth) for h in cands.values())
    native = cpu_has_native_bf16()
    rows = []
    chosen = [tuple(x.split(":")) for x in args.backends.split(",") if x]
    if ("torch", "fp32") not in chosen:
        chosen.insert(0, ("torch", "fp32"))
    for backend, precision in chosen:
        if precision == "bf16" and not native:
            continue
        cfg = RerankConfig(model=args.model, depth=args.depth, device="cpu", threads=args.threads, backend=backend,
                           quantize="int8" if precision == "int8" else "none",
                           dtype="fp32" if precision == "int8" else precision)
        reranker = CrossEncoderReranker(None, cfg)
        reranker.rerank(queries[:1], {queries[0].qid: cands[queries[0].qid]})  # warm-up
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        run = reranker.rerank(queries, cands)
        seconds = time.perf_counter() - t0
        ndcg = evaluate_run({q: qrels[q] for q in run if q in qrels}, run, ["ndcg_cut.10"]).aggregate["ndcg_cut_10"]
        rows.append({"backend": backend, "precision": precision, "ndcg@10": round(float(ndcg), 4),
                     "pairs_per_s": round(n_pairs / seconds, 2), "seconds": round(seconds, 1),
                     "load_avg": round((load0 + os.getloadavg()[0]) / 2, 2)})
        print(rows[-1], file=sys.stderr, flush=True)
        del reranker
    ref = next(r for r in rows if (r["backend"], r["precision"]) == ("torch", "fp32"))["ndcg@10"]
    for r in rows:
        r["delta_ndcg@10"] = round(r["ndcg@10"] - ref, 4)
        r["within_tolerance"] = abs(r["ndcg@10"] - ref) <= args.tolerance

    def fastest(allow_bf16: bool) -> dict:
        ok = [r for r in rows if r["within_tolerance"] and (allow_bf16 or r["precision"] != "bf16")]
        best = max(ok, key=lambda r: r["pairs_per_s"])
        return {"backend": best["backend"], "precision": best["precision"]}

    defaults = {"no-bf16": fastest(False)}
    if native:
        defaults["native-bf16"] = fastest(True)
    write_json_atomic(args.out, {
        "what": "CPU default reranking backend: fastest within tolerance of torch fp32 dev nDCG@10",
        "model": args.model, "fusion": "the model card's (e5 bi-encoder in the same backend/precision)",
        "split": "AfriQA English dev (human-translated questions), BM25 top depth over the AfriQA English collection",
        "languages": langs, "questions": len(queries), "depth": args.depth, "pairs": n_pairs, "seed": args.seed,
        "tolerance": args.tolerance, "threads": args.threads, "cpu_native_bf16": native,
        "measured": [f"{b}:{q}" for b, q in chosen], "rows": rows,
        "defaults": defaults,
        "note": "timings on one shared 2-core CPU (see load_avg); no-bf16 is chosen among the same rows without bf16",
        "command": "python scripts/backend_default.py " + " ".join(sys.argv[1:]), "environment": environment_info()})
    print(defaults)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Checking a teacher on real judgments next to BM25 (DL19, AfriQA-English) and comparing trained teachers."""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..data.afriqa import afriqa_corpus, afriqa_file
from ..errors import ConfigError
from ..evaluate import evaluate_run
from ..files import sha256_json
from ..first_stage import Bm25Retriever, load_corpus_texts
from ..models import resolve_model
from ..paths import cache_dir
from ..provenance import environment_info
from ..rerank import E5_TEMPLATES, PLAIN_TEMPLATES, CrossEncoderReranker, RerankConfig, is_e5_name, rerank_to_file
from ..trec_io import Qrels, read_qrels, read_run, read_topics
from ..types import Query
from ._config import FORMAT, TEACHER_CONFIG, _log, load_teacher_config
from ._data import _afriqa_langs, bm25_index_for, prepared_set

MEASURES = ("ndcg_cut.10", "mrr@10")


def _eval_pair(qrels: Qrels, bm25_run: Mapping, reranked: Mapping, depth: int, relevance_level: int = 1) -> dict:
    measures = list(MEASURES) + [f"recall.{depth}"]
    base = evaluate_run(qrels, bm25_run, measures, relevance_level=relevance_level)
    mine = evaluate_run(qrels, reranked, measures, relevance_level=relevance_level)
    return {"queries": base.num_queries, "bm25": base.aggregate, "teacher": mine.aggregate,
            "relevance_level": relevance_level,
            "per_query": {"bm25": base.per_query, "teacher": mine.per_query}}


def _first_n(queries: list[Query], qrels: Qrels, n: int | None) -> list[Query]:
    judged = [q for q in queries if q.qid in qrels]
    return judged if n is None else judged[:n]


def evaluate_teacher(model: str | Path, *, sets: Sequence[str] = ("dl19", "afriqa"), dl19_dir: str | Path | None = None,
                     afriqa_dir: str | Path | None = None, languages: Sequence[str] = (), max_queries: int | None = None,
                     dl19_max_queries: int | None = -1, depth: int = 20, max_length: int | None = None, batch_size: int = 32,
                     runs_dir: str | Path | None = None, threads: int | None = None, show_progress: bool = True,
                     command: str | None = None) -> dict:
    """Check a teacher on real judgments, each next to BM25.

    * ``dl19``: TREC DL19 passage, the first ``dl19_max_queries`` judged topics (``-1``: as
      ``max_queries``; ``None``: all 43); rerank the BM25
      top-``depth`` of the RankLLM BM25 top-100 (the rest keep BM25 order); nDCG@10 (graded),
      MRR@10 and recall at ``depth`` (binary with grade >= 2, the DL convention) for both runs.
    * ``afriqa``: AfriQA test, human English questions of each English-pivot language (first
      ``max_queries`` per language), BM25 (k1 0.9, b 0.4) over the AfriQA English corpus
      (BM25-English), teacher reranking its top ``depth``; the macro average over languages too.

    Returns the JSON-ready result, with ``targets`` (DL19 nDCG@10 >= 0.60; AfriQA-English
    MRR@10 >= BM25-English + 0.10, on the macro average) evaluated on the given budget.
    """
    started = time.time()
    model_dir = Path(resolve_model(str(model)))
    rec = load_teacher_config(model_dir) or {}
    qt = rec.get("query_template") or (E5_TEMPLATES if is_e5_name(str(model)) else PLAIN_TEMPLATES)[0]
    pt = rec.get("passage_template") or (E5_TEMPLATES if is_e5_name(str(model)) else PLAIN_TEMPLATES)[1]
    ml = max_length or int(rec.get("max_length") or 256)
    rcfg = RerankConfig(model=str(model_dir), max_length=ml, batch_size=batch_size, query_template=qt,
                        passage_template=pt, depth=depth, threads=threads, show_progress=show_progress)
    reranker = CrossEncoderReranker(str(model_dir), rcfg)
    dl19_n = max_queries if dl19_max_queries == -1 else dl19_max_queries
    key = sha256_json({"model": str(model_dir), "fp": rec.get("fingerprint"), "rerank": rcfg.identity(),
                        "max_queries": max_queries, "dl19_max_queries": dl19_n, "languages": list(languages)})[:12]
    runs = Path(runs_dir) if runs_dir is not None else cache_dir() / "teacher_eval" / key
    result: dict[str, Any] = {
        "format": FORMAT + "/eval", "model": str(model_dir), "teacher_fingerprint": rec.get("fingerprint"),
        "teacher_config": rec.get("config"), "teacher_dev": rec.get("dev"),
        "budget": {"max_queries": max_queries, "dl19_max_queries": dl19_n, "depth": depth, "max_length": ml, "batch_size": batch_size,
                   "aggregation": rcfg.aggregation},
        "rerank_config": rcfg.to_dict(), "command": command, "runs_dir": str(runs),
    }
    timings: dict[str, float] = {}
    if "dl19" in sets:
        t0 = time.time()
        root = Path(dl19_dir) if dl19_dir is not None else prepared_set("dl19")
        texts = load_corpus_texts(root / "corpus" / "passages" / "corpus.jsonl")
        qrels = read_qrels(root / "qrels" / "dl19.qrels")
        queries = _first_n(read_topics(root / "topics" / "dl19.tsv", "en"), qrels, dl19_n)
        bm25 = read_run(root / "runs" / "dl19.bm25.trec", with_text=texts)
        bm25 = {q.qid: bm25.get(q.qid, []) for q in queries}
        sub_qrels = {q.qid: qrels[q.qid] for q in queries}
        out = rerank_to_file(queries, bm25, runs / "dl19.teacher.trec", None, "teacher", reranker=reranker, depth=depth)
        reranked = read_run(out)
        result["dl19"] = _eval_pair(sub_qrels, bm25, reranked, depth, relevance_level=2)
        timings["dl19"] = round(time.time() - t0, 1)
        _log(f"DL19 ({len(queries)} queries, depth {depth}): nDCG@10 BM25 {result['dl19']['bm25']['ndcg_cut_10']:.4f} "
             f"teacher {result['dl19']['teacher']['ndcg_cut_10']:.4f}")
    if "afriqa" in sets:
        t0 = time.time()
        root = Path(afriqa_dir) if afriqa_dir is not None else prepared_set("afriqa")
        corpus = afriqa_corpus(root)
        texts = load_corpus_texts(corpus)
        retriever = Bm25Retriever(bm25_index_for(corpus, "en"), k1=0.9, b=0.4)
        langs = _afriqa_langs(root, languages, "test")
        per_lang: dict[str, Any] = {}
        for lang in langs:
            qrels = read_qrels(afriqa_file(root, lang, "test", "qrels"))
            queries = _first_n(read_topics(afriqa_file(root, lang, "test", "translated"), "en"), qrels, max_queries)
            bm25 = retriever.retrieve(queries, k=100, threads=threads or 2, with_text=False)
            bm25 = {qid: [dataclasses.replace(h, text=texts[h.docid]) for h in hits] for qid, hits in bm25.items()}
            out = rerank_to_file(queries, bm25, runs / f"afriqa.{lang}.test.en.teacher.trec", None, "teacher",
                                 reranker=reranker, depth=depth)
            per_lang[lang] = _eval_pair({q.qid: qrels[q.qid] for q in queries}, bm25, read_run(out), depth)
            _log(f"AfriQA {lang} test English ({len(queries)} queries): MRR@10 BM25 "
                 f"{per_lang[lang]['bm25']['mrr@10']:.4f} teacher {per_lang[lang]['teacher']['mrr@10']:.4f}")
        keys = sorted({k for v in per_lang.values() for k in v["bm25"]})
        macro = {sys_: {k: sum(v[sys_][k] for v in per_lang.values()) / len(per_lang) for k in keys}
                 for sys_ in ("bm25", "teacher")} if per_lang else {}
        result["afriqa_en"] = {"languages": langs, "per_language": per_lang, "macro": macro,
                               "queries": sum(v["queries"] for v in per_lang.values())}
        timings["afriqa"] = round(time.time() - t0, 1)
    targets: dict[str, Any] = {}
    if "dl19" in result:
        v = result["dl19"]["teacher"]["ndcg_cut_10"]
        targets["dl19_ndcg10_ge_0.60"] = {"value": v, "target": 0.60, "met": v >= 0.60}
    if result.get("afriqa_en", {}).get("macro"):
        m = result["afriqa_en"]["macro"]
        gain = m["teacher"]["mrr@10"] - m["bm25"]["mrr@10"]
        targets["afriqa_en_mrr10_ge_bm25_plus_0.10"] = {"value": m["teacher"]["mrr@10"], "bm25": m["bm25"]["mrr@10"],
                                                        "gain": gain, "target_gain": 0.10, "met": gain >= 0.10}
    result["targets"] = targets
    result["timings_seconds"] = timings
    result["wall_seconds"] = round(time.time() - started, 1)
    result["environment"] = environment_info()
    return result


def format_eval_markdown(result: Mapping[str, Any]) -> str:
    """A Markdown report of :func:`evaluate_teacher`'s result."""
    b = result["budget"]
    lines = [f"# Teacher evaluation: `{Path(result['model']).name}`", ""]
    if result.get("command"):
        lines += ["Command:", "", "```", result["command"], "```", ""]
    dl19_n = f"first {b['dl19_max_queries']}" if b.get("dl19_max_queries") else "all"
    afr_n = f"first {b['max_queries']}" if b.get("max_queries") else "all"
    lines += [(f"Budget: {dl19_n} judged DL19 queries and {afr_n} judged queries per AfriQA language; the "
               f"teacher reranks the BM25 top-{b['depth']} (rest in BM25 order), max_length {b['max_length']}, "
               f"{b['aggregation']}; wall {result.get('wall_seconds')} s."), ""]
    if "dl19" in result:
        d = result["dl19"]
        k = f"recall_{b['depth']}"
        lines += ["## TREC DL19 passage", "", f"| system | queries | nDCG@10 | MRR@10 | R@{b['depth']} |",
                  "|---|---:|---:|---:|---:|"]
        for name, key in (("BM25", "bm25"), ("teacher", "teacher")):
            a = d[key]
            lines.append(f"| {name} | {d['queries']} | {a['ndcg_cut_10']:.4f} | {a['mrr@10']:.4f} | {a.get(k, 0.0):.4f} |")
        lines.append("")
    if "afriqa_en" in result:
        a = result["afriqa_en"]
        k = f"recall_{b['depth']}"
        lines += ["## AfriQA test, human English questions (BM25-English over the AfriQA English corpus)", "",
                  ("| language | queries | BM25 nDCG@10 | teacher nDCG@10 | BM25 MRR@10 | teacher MRR@10 | "
                   f"BM25 R@{b['depth']} (rerank ceiling) |"), "|---|---:|---:|---:|---:|---:|---:|"]
        for lang, v in a["per_language"].items():
            lines.append(f"| {lang} | {v['queries']} | {v['bm25']['ndcg_cut_10']:.4f} | {v['teacher']['ndcg_cut_10']:.4f} "
                         f"| {v['bm25']['mrr@10']:.4f} | {v['teacher']['mrr@10']:.4f} | {v['bm25'].get(k, 0.0):.4f} |")
        if a.get("macro"):
            m = a["macro"]
            lines.append(f"| **macro** | {a['queries']} | {m['bm25']['ndcg_cut_10']:.4f} | {m['teacher']['ndcg_cut_10']:.4f} "
                         f"| {m['bm25']['mrr@10']:.4f} | {m['teacher']['mrr@10']:.4f} | {m['bm25'].get(k, 0.0):.4f} |")
        lines.append("")
    if result.get("targets"):
        lines += ["## Targets (on this budget)", ""]
        for name, t in result["targets"].items():
            extra = f" (BM25 {t['bm25']:.4f}, gain {t['gain']:+.4f})" if "gain" in t else ""
            lines.append(f"- `{name}`: {t['value']:.4f}{extra} → {'met' if t['met'] else 'NOT met'}")
        lines.append("")
    if result.get("teacher_dev"):
        dev = result["teacher_dev"]
        lines += ["Teacher's dev metrics (AfriQA dev, used for choices): "
                  + ", ".join(f"{k} {v:.4f}" for k, v in sorted(dev.items())), ""]
    return "\n".join(lines)


def _summarize(model_dirs: Sequence[str | Path]) -> tuple[dict, str]:
    """Dev metrics and training facts of several teachers: ``(json, markdown)``."""
    rows = []
    for d in model_dirs:
        rec = load_teacher_config(d)
        if rec is None:
            raise ConfigError(f"{d}: no {TEACHER_CONFIG}; not a trained teacher")
        cfg = rec["config"]
        steps = rec["train"]["global_step"]
        pairs_per_step = cfg["batch_size"] * (1 if cfg["loss"] == "bce" else 1 + cfg["num_negatives"])
        rows.append({"model": str(d), "loss": cfg["loss"], "steps": steps, "batch_size": cfg["batch_size"],
                     "pairs_per_step": pairs_per_step, "pairs_seen": steps * pairs_per_step,
                     "learning_rate": cfg["learning_rate"], "head_learning_rate": cfg.get("head_learning_rate"),
                     "max_length": cfg["max_length"],
                     "train_seconds": rec["train"].get("train_seconds"), "dev": rec.get("dev", {}),
                     "dev_queries": rec["data"].get("dev_queries"), "dev_depth": rec["data"].get("dev_depth"),
                     "command": rec.get("command")})
    lines = [("| teacher | loss | lr | head lr | steps | pairs/step | train s | dev queries | dev MRR@10 "
              "| dev nDCG@10 | dev MAP | BM25 MRR@10 |"), "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        dev = r["dev"]
        lines.append(f"| `{Path(r['model']).name}` | {r['loss']} | {r['learning_rate']:g} | "
                     f"{r['head_learning_rate'] if r['head_learning_rate'] is not None else '='} | "
                     f"{r['steps']} | {r['pairs_per_step']} | {r['train_seconds']} | {r['dev_queries']} | "
                     f"{dev.get('dev_mrr@10', float('nan')):.4f} | "
                     f"{dev.get('dev_ndcg@10', float('nan')):.4f} | {dev.get('dev_map', float('nan')):.4f} | "
                     f"{dev.get('dev_base_mrr@10', float('nan')):.4f} |")
    md = "\n".join(lines) + "\n\nCommands:\n\n" + "\n".join(f"- `{r['command']}`" for r in rows if r["command"]) + "\n"
    return {"teachers": rows}, md


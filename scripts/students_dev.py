"""The students' dev comparison, with and without the shipped card's e5 fusion -> results/students/dev.{json,md}.

Run after ``python -m optical_rerank.experiment configs/students-dev.yaml`` (students trained, every
system's run on the AfriQA dev questions written under ``runs/students-dev/``). The fused runs are
the pointwise interpolation the shipped teacher's card applies, ``s + weight * scale * cos_e5``
(:func:`optical_rerank.teacher._bundle_eval.fuse_runs`), of each cross-encoder run with the
experiment's own ``e5-biencoder`` run of the same candidates; they are written under
``runs/students-dev-fused/`` and scored by the experiment's scorer. Usage::

    python scripts/students_dev.py [configs/students-dev.yaml]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from optical_rerank.experiment import ExperimentConfig
from optical_rerank.experiment._scores import score
from optical_rerank.experiment._sets import DataRoot
from optical_rerank.files import write_json_atomic, write_text_atomic
from optical_rerank.models import shipped_card
from optical_rerank.teacher._bundle_eval import fuse_runs
from optical_rerank.trec_io import read_run, write_run

CROSS_ENCODERS = ("teacher-native", "kd", "kd-ctx", "optical")
MEASURES = ("ndcg_cut_10", "mrr@10")


def main(config: str = "configs/students-dev.yaml") -> int:
    cfg = ExperimentConfig.load(config)
    fusion = shipped_card(cfg.teacher["shipped"])["fusion"]
    sets = DataRoot(cfg).eval_sets()
    runs = Path(cfg.runs_dir) / cfg.name
    fused_root = Path(cfg.runs_dir) / f"{cfg.name}-fused"
    alone, fused = {}, {}
    for es in sets:
        d = runs / es.dataset / es.lang
        alone[(es.dataset, es.lang)] = {s: d / f"{s}.txt" for s in cfg.systems if (d / f"{s}.txt").is_file()}
        e5 = read_run(d / "e5-biencoder.txt")
        fd = fused_root / es.dataset / es.lang
        fused[(es.dataset, es.lang)] = {}
        for s in CROSS_ENCODERS:
            if (d / f"{s}.txt").is_file():
                out = fd / f"{s}.txt"
                write_run(out, fuse_runs(read_run(d / f"{s}.txt"), e5, fusion["weight"], fusion["scale"]),
                          tag=f"{s}+e5")
                fused[(es.dataset, es.lang)][s] = out
    report = {"config": config, "fusion": {k: fusion[k] for k in ("weight", "scale", "biencoder", "rule") if k in fusion},
              "candidates": f"BM25 {cfg.candidates} question, top {cfg.depth}",
              "queries": {f"{es.dataset}/{es.lang}": len(es.native) for es in sets},
              "students": {s: cfg.students[s] for s in cfg.students}}
    for label, paths in (("alone", alone), ("fused", fused)):
        res = score(cfg, sets, paths)
        per_lang = {k: {s: {m: round(v["aggregate"][m], 4) for m in MEASURES} for s, v in r.items() if s != "candidates"}
                    for k, r in res["sets"].items()}
        summary = res["students"]["afriqa"]
        systems = sorted({s for r in per_lang.values() for s in r})
        macro = {s: {m: round(sum(per_lang[k][s][m] for k in per_lang) / len(per_lang), 4) for m in MEASURES}
                 for s in systems if all(s in per_lang[k] for k in per_lang)}
        tests = {s: {b: {"delta": round(row[f"vs_{b}"]["diff"], 4), "p": round(row[f"vs_{b}"]["p_value"], 4),
                         "p_bonferroni": round(row[f"vs_{b}"]["p_corrected"], 4)}
                     for b in ("teacher-native", "kd") if f"vs_{b}" in row}
                 for s, row in summary["students"].items()}
        report[label] = {"per_language": per_lang, "macro": macro, "paired_tests": tests}
    Path("results/students").mkdir(parents=True, exist_ok=True)
    write_json_atomic(Path("results/students/dev.json"), report)
    write_text_atomic(Path("results/students/dev.md"), render(report))
    print(render(report))
    return 0


def render(r: dict) -> str:
    names = {"bm25-native": "BM25 native", "e5-biencoder": "e5 bi-encoder (reranker)",
             "teacher-native": "zero-shot teacher (teacher-e5-lora)", "kd": "vanilla KD", "kd-ctx": "KD in context",
             "optical": "OPTICAL (OT, layer 12, in context)"}
    n = sum(r["queries"].values())
    per = ", ".join(f"{k.split('/')[1]} {v}" for k, v in r["queries"].items())
    lines = ["# Students on AfriQA dev", "",
             f"{n} dev questions ({per}), candidates: "
             f"{r['candidates']}; macro average over the languages. \"+ e5\": the card's fusion "
             f"s + {r['fusion']['weight']} * {r['fusion']['scale']} * cos_e5. Config: `{r['config']}`; "
             "made by `python scripts/students_dev.py`.", "",
             "| system | nDCG@10 | MRR@10 | nDCG@10 + e5 | MRR@10 + e5 |", "|---|---:|---:|---:|---:|"]
    for s in r["alone"]["macro"]:
        a, f = r["alone"]["macro"][s], r["fused"]["macro"].get(s)
        fz = f"{f['ndcg_cut_10']:.4f} | {f['mrr@10']:.4f}" if f else "– | –"
        lines.append(f"| {names.get(s, s)} | {a['ndcg_cut_10']:.4f} | {a['mrr@10']:.4f} | {fz} |")
    lines += ["", "Paired t-tests on nDCG@10 pooled over all dev questions (Bonferroni over the students):", "",
              "| student | vs | Δ alone | p alone | Δ + e5 | p + e5 |", "|---|---|---:|---:|---:|---:|"]
    for s, tests in r["alone"]["paired_tests"].items():
        for b, t in tests.items():
            f = r["fused"]["paired_tests"].get(s, {}).get(b, {})
            lines.append(f"| {s} | {b} | {t['delta']:+.4f} | {t['p_bonferroni']:.3f} | "
                         f"{f.get('delta', float('nan')):+.4f} | {f.get('p_bonferroni', float('nan')):.3f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))

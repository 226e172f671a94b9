"""Scoring an experiment's runs: measures per set, significance, gap recovered, students compared."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

from ..evaluate import EvalResult, evaluate_run, paired_test
from ..trec_io import read_run
from ._config import ExperimentConfig
from ._sets import EvalSet
from ._systems import candidate_system

MAIN_MEASURE = "ndcg_cut_10"
#: gap recovered is reported only where oracle − zero-shot nDCG@10 is at least this large
MIN_GAP = 0.02


def score(cfg: ExperimentConfig, sets: Sequence[EvalSet], paths: Mapping[tuple[str, str], Mapping[str, Path]]) -> dict:
    """Every run of every set against its qrels; significance, gap recovered and the student comparison.

    The JSON-ready ``{"sets", "significance", "gap_recovered", "students"}`` part of ``results.json``:
    OPTICAL is tested against each of ``cfg.baseline_for_tests`` (paired t-test, Bonferroni over
    the languages of a dataset); the gap recovered is ``(student − zero-shot) / (oracle − zero-shot)``
    on nDCG@10, undefined where the oracle is less than :data:`MIN_GAP` above zero-shot.
    """
    measures = list(dict.fromkeys(list(cfg.measures) + [f"recall.{cfg.depth}"]))
    out: dict = {"sets": {}, "significance": {}, "gap_recovered": {}}
    by_key: dict[str, dict[str, EvalResult]] = {}
    for es in sets:
        key = f"{es.dataset}/{es.lang}"
        qrels = {q.qid: es.qrels.get(q.qid, {}) for q in es.native if q.qid in es.qrels}
        res: dict[str, EvalResult] = {}
        for system, path in paths[(es.dataset, es.lang)].items():
            run = read_run(path)
            run = {q.qid: run.get(q.qid, []) for q in es.native}
            res[system] = evaluate_run(qrels, run, measures, complete=True)
        out["sets"][key] = {s: {"aggregate": r.aggregate, "per_query": r.per_query, "num_queries": r.num_queries}
                            for s, r in res.items()}
        cand = "bm25-translated" if es.dataset == "dl19" else candidate_system(cfg.candidates)
        if cand in res:
            out["sets"][key]["candidates"] = {"system": cand, "depth": cfg.depth,
                                              f"recall_{cfg.depth}": res[cand].aggregate.get(
                                                  f"recall_{cfg.depth}")}
        by_key[key] = res
    # significance: OPTICAL against each baseline, Bonferroni over the languages of a dataset
    for dataset in sorted({es.dataset for es in sets}):
        keys = [f"{es.dataset}/{es.lang}" for es in sets if es.dataset == dataset]
        for key in keys:
            res = by_key[key]
            if "optical" in res:
                sig = {}
                for base in cfg.baseline_for_tests:
                    if base in res:
                        sig[base] = {}
                        for m in cfg.measures:
                            t = paired_test(res["optical"], res[base], m, n_comparisons=len(keys))
                            sig[base][t.measure] = asdict(t)
                out["significance"][key] = sig
            zs, orc = res.get("teacher-native"), res.get("teacher-translated")
            if zs and orc:
                gap = {}
                for student in cfg.students:
                    if student in res:
                        z, o, s = (x.aggregate[MAIN_MEASURE] for x in (zs, orc, res[student]))
                        # undefined where the oracle is not clearly above zero-shot: no gap to recover
                        gap[student] = (s - z) / (o - z) if o - z >= MIN_GAP else None
                out["gap_recovered"][key] = gap
    out["students"] = student_summary(cfg, sets, by_key)
    out["pooled"] = pooled_scores(sets, by_key)
    return out


def pooled_scores(sets: Sequence[EvalSet], by_key: Mapping[str, Mapping[str, EvalResult]]) -> dict:
    """Per dataset, each system present in every language: the mean over all queries of all languages."""
    out: dict = {}
    for dataset in sorted({es.dataset for es in sets}):
        results = [by_key[f"{es.dataset}/{es.lang}"] for es in sets if es.dataset == dataset]
        if len(results) < 2:
            continue
        block = {}
        for system in sorted(set.intersection(*[set(r) for r in results])):
            values = [v for r in results for v in r[system].per_query.values()]
            measures = sorted({m for v in values for m in v})
            block[system] = {"num_queries": len(values),
                             **{m: sum(v.get(m, 0.0) for v in values) / len(values) for m in measures}}
        out[dataset] = block
    return out


def student_summary(cfg: ExperimentConfig, sets: Sequence[EvalSet],
                    by_key: Mapping[str, Mapping[str, EvalResult]]) -> dict:
    """Per dataset, every student pooled over its languages (a sweep's comparison table).

    Means are macro averages over languages (as in the tables); the paired t-test against the
    zero-shot teacher (and against vanilla KD) pools every query of every language, one test
    per student, Bonferroni over the students compared.
    """
    out: dict = {}
    for dataset in sorted({es.dataset for es in sets}):
        keys = [f"{es.dataset}/{es.lang}" for es in sets if es.dataset == dataset]
        results = [by_key[k] for k in keys]
        students = [s for s in cfg.students if all(s in r for r in results)]
        if not students:
            continue

        def pooled(system: str) -> EvalResult | None:
            if not all(system in r for r in results):
                return None
            per_query = {f"{k}/{q}": v for k, r in zip(keys, results) for q, v in r[system].per_query.items()}
            first = results[0][system]
            return EvalResult(first.measures, per_query, {}, len(per_query))

        macro = {}
        for system in set().union(*[set(r) for r in results]):
            if all(system in r for r in results):
                macro[system] = {m: sum(r[system].aggregate.get(m, 0.0) for r in results) / len(results)
                                 for m in (MAIN_MEASURE, "mrr@10", "map")
                                 if m in results[0][system].aggregate}
        zs, kd = pooled("teacher-native"), pooled("kd")
        table = {}
        for s in students:
            row = {"macro": macro.get(s, {}), "languages": len(keys)}
            ps = pooled(s)
            for base_name, base in (("teacher-native", zs), ("kd", kd)):
                if base is not None and base_name != s:
                    t = paired_test(ps, base, MAIN_MEASURE, n_comparisons=len(students))
                    row[f"vs_{base_name}"] = asdict(t)
            z = macro.get("teacher-native", {}).get(MAIN_MEASURE)
            o = macro.get("teacher-translated", {}).get(MAIN_MEASURE)
            v = row["macro"].get(MAIN_MEASURE)
            row["gap_recovered"] = ((v - z) / (o - z) if None not in (z, o, v) and o - z >= MIN_GAP else None)
            row["config"] = dict(cfg.students[s])
            table[s] = row
        out[dataset] = {"languages": [k.split("/")[1] for k in keys], "baselines": {
            b: macro[b] for b in ("teacher-native", "teacher-translated", "bm25-translated") if b in macro},
            "students": table}
    return out

"""Evaluation of a teacher on the bundle's sets: BM25 order, the e5 bi-encoder and the teacher.

:func:`evaluate_bundle` reranks every query of every set of one split (``test``: TREC DL19 and
AfriQA English test; ``dev``: AfriQA English dev and the held-out DL21 topics) at the bundle's
depth, with the *same candidates* for every system, writes one TREC run per system and set
(``RUNS/<set>/<system>.txt``, reused while its sidecar names the same model sha256 and bundle),
and scores them with trec_eval semantics (``-c``: every judged query of the set counts):
nDCG@10 and MRR@10 per system, and a paired t-test of the teacher against the bi-encoder.
"""
from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..evaluate import evaluate_run, output_name, paired_test
from ..files import sha256_file, write_json_atomic
from ..trec_io import read_run, sort_hits, write_run
from ..types import Hit
from ._groups import Bundle
from ._lora import biencoder_scores, score_groups

__all__ = ["evaluate_bundle", "groups_run", "fuse_runs", "choose_fusion", "SUMMARY_SETS", "FUSION_GRID",
           "E5_SCALE"]

#: The e5 bi-encoder's inverse temperature: its cosine times this is on the teacher's logit scale.
E5_SCALE = 100.0
#: Interpolation weights tried on dev (0: the cross-encoder alone).
FUSION_GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)

#: The summary's name for each bundle set.
SUMMARY_SETS = {"dl19": "dl19", "afriqa-en-test": "afriqa-en", "afriqa-en-dev": "afriqa-en-dev",
                "dl21-dev": "dl21-dev"}


def groups_run(groups: Sequence[Mapping], scores: Sequence[np.ndarray] | None) -> dict[str, list[Hit]]:
    """A run from groups: ``scores`` per candidate, or the groups' own (first-stage) order when ``None``.

    Ties are broken by docid (Pyserini's convention), ranks start at 1; scores are rounded to the
    6 decimals that the run file keeps, so the in-memory and written runs rank alike.
    """
    run = {}
    for i, g in enumerate(groups):
        n = len(g["docids"])
        vals = [float(n - r) for r in range(n)] if scores is None else [round(float(s), 6) for s in scores[i]]
        run[g["qid"]] = sort_hits(Hit(g["qid"], d, v, 0) for d, v in zip(g["docids"], vals))
    return run


def fuse_runs(teacher: Mapping[str, Sequence[Hit]], e5: Mapping[str, Sequence[Hit]], weight: float,
              scale: float = E5_SCALE) -> dict[str, list[Hit]]:
    """Pointwise interpolation ``s_teacher(q, d) + weight * scale * cos_e5(q, d)`` of two runs.

    Pointwise (not normalised per query), so a pair's score does not depend on the other
    candidates. Queries or candidates missing from either run are left out.
    """
    out = {}
    for qid, hits in teacher.items():
        cos = {h.docid: h.score for h in e5.get(qid, ())}
        out[qid] = sort_hits(Hit(qid, h.docid, round(h.score + weight * scale * cos[h.docid], 6), 0)
                             for h in hits if h.docid in cos)
    return out


def choose_fusion(bundle: Bundle, dev_runs: str | Path, grid: Sequence[float] = FUSION_GRID) -> dict:
    """The interpolation weight with the best nDCG@10 averaged over the dev sets (ties: the smaller).

    ``dev_runs`` holds ``<set>/teacher.txt`` and ``<set>/e5-biencoder.txt`` for every dev set.
    Returns ``{"weight", "scale", "grid": {weight: mean dev nDCG@10}}``.
    """
    means = {}
    for w in grid:
        vals = []
        for name in sorted(bundle.dev):
            t = read_run(Path(dev_runs) / name / "teacher.txt")
            e = read_run(Path(dev_runs) / name / "e5-biencoder.txt")
            qrels = {q: v for q, v in bundle.qrels[name].items() if q in t}
            vals.append(evaluate_run(qrels, fuse_runs(t, e, w), ["ndcg_cut.10"], complete=True).aggregate["ndcg_cut_10"])
        means[w] = round(float(np.mean(vals)), 4)
    best = max(grid, key=lambda w: (means[w], -w))
    return {"weight": best, "scale": E5_SCALE, "grid": {str(w): v for w, v in means.items()},
            "rule": "pointwise s_teacher + weight * scale * cos_e5; weight with the best mean dev nDCG@10"}


def _cached(path: Path, key: Mapping[str, str]) -> dict[str, list[Hit]] | None:
    side = path.with_suffix(".json")
    if path.is_file() and side.is_file() and json.loads(side.read_text(encoding="utf-8")) == dict(key):
        return read_run(path)
    return None


def _query_order(groups: Sequence[Mapping]) -> list[int]:
    """A fixed random order of the queries (seed 0): any prefix of it is a random sample."""
    order = list(range(len(groups)))
    random.Random(0).shuffle(order)
    return order


def _resumable_run(path: Path, key: Mapping[str, str], groups: Sequence[Mapping],
                   score: Callable[[Sequence[Mapping]], list[np.ndarray]], *, chunk: int,
                   deadline: float | None, log) -> tuple[dict[str, list[Hit]], bool]:
    """Score ``groups`` into the run ``path``, appending finished queries to ``path.partial``.

    The partial file starts with ``key``; a partial file of another key is this function's own
    output for another model or bundle and is started over. Queries are scored in
    :func:`_query_order`; at ``deadline`` (a ``time.monotonic`` value) scoring stops after the
    current chunk. Returns the run of the scored queries and whether it is complete (then the
    run file and its sidecar are written and the partial file removed).
    """
    partial = path.with_name(path.name + ".partial")
    done: dict[str, list[float]] = {}
    if partial.is_file():
        lines = partial.read_text(encoding="utf-8").splitlines()
        if lines and json.loads(lines[0]) == dict(key):
            for line in lines[1:]:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:  # a torn last line of a killed run
                    break
                done[row["qid"]] = row["scores"]
        else:
            partial.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not partial.is_file():
        with open(partial, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(dict(key), sort_keys=True) + "\n")
    todo = [groups[i] for i in _query_order(groups) if groups[i]["qid"] not in done]
    if todo:
        log(f"{path}: {len(done)} of {len(groups)} queries scored before; scoring the rest")
    with open(partial, "a", encoding="utf-8") as fh:
        for s in range(0, len(todo), chunk):
            if deadline is not None and time.monotonic() > deadline:
                log(f"{path}: time budget reached with {len(done)} of {len(groups)} queries scored")
                break
            part = todo[s:s + chunk]
            for g, vals in zip(part, score(part)):
                done[g["qid"]] = [float(v) for v in vals]
                fh.write(json.dumps({"qid": g["qid"], "scores": done[g["qid"]]}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    scored = [g for g in groups if g["qid"] in done]
    run = groups_run(scored, [np.asarray(done[g["qid"]]) for g in scored])
    complete = len(scored) == len(groups)
    if complete:
        write_run(path, run, tag=key["system"])
        write_json_atomic(path.with_suffix(".json"), dict(key))
        partial.unlink()
        log(f"wrote {path}")
    return run, complete


def evaluate_bundle(bundle: Bundle, *, teacher: tuple[Any, Any, Any] | None, teacher_sha256: str,
                    encoder: tuple[Any, Any] | None, runs_dir: str | Path, split: str = "test",
                    batch_size: int = 256, bf16: bool = False, measures: Sequence[str] = ("ndcg_cut.10", "mrr@10"),
                    sets: Sequence[str] | None = None, time_budget_s: float | None = None, chunk: int = 16,
                    fusion_weight: float | None = None, log=print) -> dict:
    """Rerank and score one split of ``bundle``; returns the summary (see the module docstring).

    Parameters
    ----------
    teacher : ``(model, tokenizer, LoraTeacherConfig-like with templates and max_length)``; ``None``
        when every teacher run is already complete.
    teacher_sha256 : identifies the teacher's weights (the shipped adapter's sha256).
    encoder : ``(model, tokenizer)`` of the e5 bi-encoder (``load_encoder``); ``None`` when complete.
    sets : the sets to evaluate (default: every set of the split).
    fusion_weight : when given, also report ``teacher+e5``: :func:`fuse_runs` of the two runs with
        this weight (chosen on dev by :func:`choose_fusion`).
    time_budget_s : stop scoring after this many seconds; an unfinished set is reported on the
        queries scored so far (a seeded random sample, every system on the same queries) with
        ``"complete": false``, and the next call resumes it.
    """
    all_sets = bundle.test if split == "test" else bundle.dev
    unknown = sorted(set(sets or ()) - set(all_sets))
    if unknown:
        raise ConfigError(f"no set {unknown} in the bundle's {split} split; it has {sorted(all_sets)}")
    deadline = None if time_budget_s is None else time.monotonic() + time_budget_s
    runs_dir = Path(runs_dir)
    summary: dict[str, dict] = {}
    for name in sorted(sets or all_sets):
        groups = all_sets[name]
        depth = max(len(g["docids"]) for g in groups)
        runs: dict[str, dict[str, list[Hit]]] = {"bm25": groups_run(groups, None)}
        complete = True
        for system, sha in (("e5-biencoder", "e5-small-multilingual"), ("teacher", teacher_sha256)):
            path = runs_dir / name / f"{system}.txt"
            key = {"system": system, "model": sha, "bundle_set": _set_sha(bundle, split, name)}
            run = _cached(path, key)
            if run is None:
                if system == "teacher":
                    if teacher is None:
                        raise ConfigError(f"{path}: no complete run of this teacher; give the model to score it")
                    model, tok, cfg = teacher

                    def score(part, model=model, tok=tok, cfg=cfg):
                        return score_groups(model, tok, part, bundle.docs, config=cfg, batch_size=batch_size, bf16=bf16)
                else:
                    if encoder is None:
                        raise ConfigError(f"{path}: no complete bi-encoder run; give the encoder to score it")

                    def score(part):
                        return biencoder_scores(encoder[0], encoder[1], part, bundle.docs)
                run, done = _resumable_run(path, key, groups, score, chunk=chunk, deadline=deadline, log=log)
                complete = complete and done
            runs[system] = run
        if fusion_weight is not None:
            runs["teacher+e5"] = fuse_runs(runs["teacher"], runs["e5-biencoder"], fusion_weight)
        scored = set(runs["teacher"]) & set(runs["e5-biencoder"])
        qrels = {g["qid"]: bundle.qrels[name][g["qid"]] for g in groups
                 if g["qid"] in bundle.qrels[name] and g["qid"] in scored}
        results = {s: evaluate_run(qrels, {q: r[q] for q in scored if q in r}, measures, complete=True)
                   for s, r in runs.items()}
        entry: dict[str, Any] = {"depth": depth, "queries": len(qrels)}
        if not complete:
            entry.update({"complete": False, "queries_in_set": len(groups),
                          "sample": "the first queries of a seeded (0) random order; every system on the same queries"})
        if name.startswith("afriqa"):
            entry["languages"] = sorted({g["qid"].split("-")[0] for g in groups})
        for m in measures:
            entry[output_name(m)] = {s: round(results[s].aggregate[output_name(m)], 4) for s in runs}
        entry["per_query_ndcg_cut_10"] = {s: {q: round(v.get("ndcg_cut_10", 0.0), 4)
                                               for q, v in results[s].per_query.items()} for s in runs}
        if len(qrels) > 1:
            entry["p_teacher_vs_e5"] = round(paired_test(results["teacher"], results["e5-biencoder"],
                                                         "ndcg_cut.10").p_value, 6)
            if "teacher+e5" in results:
                entry["fusion_weight"] = fusion_weight
                entry["p_teacher+e5_vs_e5"] = round(paired_test(results["teacher+e5"], results["e5-biencoder"],
                                                                "ndcg_cut.10").p_value, 6)
        summary[SUMMARY_SETS.get(name, name)] = entry
    return summary


def _set_sha(bundle: Bundle, split: str, name: str) -> str:
    return sha256_file(bundle.root / split / f"{name}.jsonl")

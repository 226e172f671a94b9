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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..evaluate import evaluate_run, output_name, paired_test
from ..files import sha256_file, write_json_atomic
from ..trec_io import read_run, sort_hits, write_run
from ..types import Hit
from ._groups import Bundle

__all__ = ["evaluate_bundle", "groups_run", "SUMMARY_SETS"]

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


def _cached(path: Path, key: Mapping[str, str]) -> dict[str, list[Hit]] | None:
    side = path.with_suffix(".json")
    if path.is_file() and side.is_file() and json.loads(side.read_text(encoding="utf-8")) == dict(key):
        return read_run(path)
    return None


def evaluate_bundle(bundle: Bundle, *, teacher: tuple[Any, Any, Any] | None, teacher_sha256: str,
                    encoder: tuple[Any, Any] | None, runs_dir: str | Path, split: str = "test",
                    batch_size: int = 256, bf16: bool = False, measures: Sequence[str] = ("ndcg_cut.10", "mrr@10"),
                    log=print) -> dict:
    """Rerank and score one split of ``bundle``; returns the summary (see the module docstring).

    Parameters
    ----------
    teacher : ``(model, tokenizer, LoraTeacherConfig-like with templates and max_length)``; ``None``
        when every teacher run is already cached.
    teacher_sha256 : identifies the teacher's weights (the shipped adapter's sha256).
    encoder : ``(model, tokenizer)`` of the e5 bi-encoder (``load_encoder``); ``None`` when cached.
    """
    from ._lora import biencoder_scores, score_groups

    sets = bundle.test if split == "test" else bundle.dev
    runs_dir = Path(runs_dir)
    summary: dict[str, dict] = {}
    for name, groups in sorted(sets.items()):
        qrels = {g["qid"]: bundle.qrels[name][g["qid"]] for g in groups if g["qid"] in bundle.qrels[name]}
        depth = max(len(g["docids"]) for g in groups)
        runs: dict[str, dict[str, list[Hit]]] = {"bm25": groups_run(groups, None)}
        for system, sha in (("e5-biencoder", "e5-small-multilingual"), ("teacher", teacher_sha256)):
            path = runs_dir / name / f"{system}.txt"
            key = {"system": system, "model": sha, "bundle_set": _set_sha(bundle, split, name)}
            run = _cached(path, key)
            if run is None:
                if system == "teacher":
                    if teacher is None:
                        raise ValueError(f"no cached teacher run {path} and no teacher given")
                    model, tok, cfg = teacher
                    scores = score_groups(model, tok, groups, bundle.docs, config=cfg, batch_size=batch_size, bf16=bf16)
                else:
                    if encoder is None:
                        raise ValueError(f"no cached bi-encoder run {path} and no encoder given")
                    scores = biencoder_scores(encoder[0], encoder[1], groups, bundle.docs)
                run = groups_run(groups, scores)
                path.parent.mkdir(parents=True, exist_ok=True)
                write_run(path, run, tag=system)
                write_json_atomic(path.with_suffix(".json"), key)
                log(f"{name}: wrote {path}")
            runs[system] = run
        results = {s: evaluate_run(qrels, r, measures, complete=True) for s, r in runs.items()}
        entry: dict[str, Any] = {"depth": depth, "queries": len(qrels)}
        if name.startswith("afriqa"):
            entry["languages"] = sorted({g["qid"].split("-")[0] for g in groups})
        for m in measures:
            entry[output_name(m)] = {s: round(results[s].aggregate[output_name(m)], 4) for s in runs}
        entry["p_teacher_vs_e5"] = round(paired_test(results["teacher"], results["e5-biencoder"], "ndcg_cut.10").p_value, 6)
        summary[SUMMARY_SETS.get(name, name)] = entry
    return summary


def _set_sha(bundle: Bundle, split: str, name: str) -> str:
    return sha256_file(bundle.root / split / f"{name}.jsonl")

"""Reciprocal rank fusion of runs through ``pyserini.fusion`` (and the formula, for checking)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ..trec_io import Run, read_run
from ..types import Hit

#: Cormack et al.'s constant, Pyserini's default
RRF_K = 60


def rrf_scores(runs: Sequence[Mapping[str, Sequence[Hit]]], k: int = RRF_K,
               depth: int | None = None) -> dict[str, dict[str, float]]:
    """``{qid: {docid: sum over runs of 1 / (k + rank)}}``, ranks from 1 in each run's order."""
    out: dict[str, dict[str, float]] = {}
    for run in runs:
        for qid, hits in run.items():
            scores = out.setdefault(qid, {})
            for rank, h in enumerate(list(hits)[:depth] if depth else hits, 1):
                scores[h.docid] = scores.get(h.docid, 0.0) + 1.0 / (k + rank)
    return out


def rrf_fuse(run_files: Sequence[str | Path], k: int = RRF_K, depth: int | None = None,
             hits: int | None = None) -> Run:
    """RRF of TREC run files by ``pyserini.fusion.reciprocal_rank_fusion`` as a run (top ``hits`` per query).

    Each input file is read by Pyserini's ``TrecRun`` (ranks as written: the files of this package are
    sorted by ``(-score, docid)``); the fused list is ordered by ``(-score, docid)``.
    """
    from ..java import start_jvm

    start_jvm()
    from pyserini.fusion import reciprocal_rank_fusion  # heavy
    from pyserini.trectools import TrecRun  # heavy

    for f in run_files:
        read_run(f)  # our strict reader first: a malformed file is an InputFormatError naming its line
    fused = reciprocal_rank_fusion([TrecRun(str(f)) for f in run_files], rrf_k=k, depth=depth, k=None)
    out: Run = {}
    for qid, group in fused.run_data.groupby("topic", sort=False):
        ordered = sorted(((float(s), str(d)) for d, s in zip(group["docid"], group["score"])),
                         key=lambda t: (-t[0], t[1]))
        if hits:
            ordered = ordered[:hits]
        out[str(qid)] = [Hit(str(qid), d, s, i + 1) for i, (s, d) in enumerate(ordered)]
    return out

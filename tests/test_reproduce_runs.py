"""The committed first-stage runs are reproduced byte for byte by the current code (issue 12).

``python -m optical_rerank.experiment configs/afriqa-oracle20.yaml`` (the first study, 20 questions per
language; and ``configs/afriqa-dev.yaml``) wrote ``runs/<name>/<dataset>/<lang>/bm25-*.txt`` and
``runs/afriqa-oracle20/dl19/en/bm25.txt``; the realistic studies (``configs/afriqa.yaml``,
``configs/xquad-r.yaml``: every test question) keep their large first-stage runs out of git and
commit ``runs/<name>/SHA256SUMS``, which the BM25 runs regenerated here must match. These
tests load the same committed configs, point ``data_root`` and ``runs_dir`` at a temporary folder,
prepare the sets from the data mirror, build the indexes and write every first-stage run through
the experiment's own code path (:class:`~optical_rerank.experiment.Experiment`:
``DataRoot.eval_sets`` → ``Experiment.first_stage_run``), then compare the bytes with the
committed files. Every committed first-stage run of both experiments is covered (the test fails if
a committed ``bm25*.txt`` is not regenerated); reranked runs are not (their scores are floats of a
model forward and depend on the thread count).

What the experiment does (and so what this test does):

* AfriQA is prepared with ``prepare("afriqa", skip_missing=True)``: every language and split the
  mirror has, so the English collection is the pooled gold passages of all of them (issue 16,
  point 5: a set prepared for fewer languages gives a different collection and other BM25 scores).
* One English index (``index-en`` beside the corpus); BM25 ``k1=0.9, b=0.4`` (the config's
  ``bm25`` block, the defaults); depth ``max(100, depth)`` = 100.
* The queries are :func:`~optical_rerank.experiment.sample_queries` of the config's seed and
  ``max_queries_per_language`` (key ``afriqa-<lang>``, ``ntrex-<lang>``, ``dl19``); the test also
  checks them against ``results/<name>/results.json``.
* NTREX-doc: native and translated queries over the English documents, plus the native queries
  over the translated documents (``bm25-doc-translated``, an index per language).
* DL19: the official BM25 run of the prepared set (RankLLM's top-100), restricted to the sample.

Real files only: the mirror from ``$OPTICAL_RERANK_MIRROR``; about 30 s in all.
"""
from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from pathlib import Path

import pytest

from optical_rerank.experiment import Experiment, ExperimentConfig

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    """One data root for every test of this module (both experiments share ``work/data`` too)."""
    return tmp_path_factory.mktemp("reproduce-data")


def _experiment(name: str, data_root: Path, runs: Path, **datasets) -> Experiment:
    """The committed config ``configs/<name>.yaml`` with its outputs under ``runs`` and only ``datasets``."""
    cfg = ExperimentConfig.load(REPO / "configs" / f"{name}.yaml")
    keep = {key: getattr(cfg, key) if datasets.get(key) else None for key in ("afriqa", "xquad_r", "ntrex", "dl19")}
    cfg = dataclasses.replace(cfg, data_root=str(data_root), runs_dir=str(runs), results_dir=str(runs / "results"),
                              models_root=str(runs / "models"), **keep)
    return Experiment(cfg)


def _first_stage(ex: Experiment) -> tuple[dict[str, Path], dict[str, list[str]]]:
    """Every first-stage run of ``ex`` written as ``Experiment.run_set`` writes it: ``{relpath: path}``,
    and the sampled query ids of each set."""
    written: dict[str, Path] = {}
    queries: dict[str, list[str]] = {}
    for es in ex.data.eval_sets():
        d = ex.runs / es.dataset / es.lang
        systems = es.systems or ex.cfg.systems
        if es.dataset == "dl19":
            todo = [("dl19", "bm25.txt")]
        else:
            todo = [("native", "bm25-native.txt"), ("translated", "bm25-translated.txt")]
            if es.translated_index and "bm25-doc-translated" in systems:
                todo.append(("doc-translated", "bm25-doc-translated.txt"))
        for which, fname in todo:
            ex.first_stage_run(es, which, d / fname)
            written[f"{es.dataset}/{es.lang}/{fname}"] = d / fname
        queries[f"{es.dataset}/{es.lang}"] = [q.qid for q in es.native]
    return written, queries


def _committed(name: str, dataset: str) -> dict[str, Path]:
    """The committed first-stage runs of ``runs/<name>/<dataset>/``: ``{relpath: path}``."""
    root = REPO / "runs" / name
    return {str(p.relative_to(root)): p for p in sorted((root / dataset).glob("*/bm25*.txt"))}


def _assert_same_bytes(committed: Path, regenerated: Path) -> None:
    want, got = committed.read_bytes(), regenerated.read_bytes()
    if want == got:
        return
    wl, gl = want.splitlines(keepends=True), got.splitlines(keepends=True)
    for i, (w, g) in enumerate(zip(wl, gl), 1):
        if w != g:
            pytest.fail(f"{committed.relative_to(REPO)} is not reproduced: line {i} committed {w!r}, "
                        f"regenerated {g!r} ({regenerated})")
    pytest.fail(f"{committed.relative_to(REPO)} is not reproduced: {len(wl)} lines / {len(want)} bytes committed, "
                f"{len(gl)} lines / {len(got)} bytes regenerated ({regenerated})")


def _check(name: str, dataset: str, ex: Experiment) -> dict[str, Path]:
    written, queries = _first_stage(ex)
    committed = _committed(name, dataset)
    assert committed, f"no committed first-stage runs under runs/{name}/{dataset}"
    assert sorted(written) == sorted(committed), "the regenerated runs are not the committed ones"
    for rel, path in committed.items():
        _assert_same_bytes(path, written[rel])
    # the query sample is the one the committed results report
    results = json.loads((REPO / "results" / name / "results.json").read_text(encoding="utf-8"))
    recorded = {k: v for k, v in results["budget"]["queries"].items() if k.startswith(f"{dataset}/")}
    assert queries == recorded
    missing = [m for m in results["missing"] if m["dataset"] == dataset]
    assert ex.missing == missing
    return written


@pytest.mark.parametrize("name", ["afriqa-oracle20", "afriqa-dev"])
def test_afriqa_bm25_runs_reproduced(name, mirror, data_root, tmp_path):
    """runs/<name>/afriqa/<lang>/bm25-native.txt and bm25-translated.txt, every language, byte for byte."""
    ex = _experiment(name, data_root, tmp_path / "runs", afriqa=True)
    written = _check(name, "afriqa", ex)
    # the collection is the experiment's: every AfriQA language and split the mirror holds
    card = json.loads((data_root / "afriqa" / "card.json").read_text(encoding="utf-8"))
    assert card["options"]["splits"] == ["train", "dev", "test"]
    assert card["options"]["langs"] == ["bem", "fon", "hau", "ibo", "kin", "swa", "twi", "wol", "yor", "zul"]
    assert len(written) == 2 * len(ex.cfg.afriqa["languages"]) - 2 * len(ex.missing)


def test_ntrex_bm25_runs_reproduced(mirror, data_root, tmp_path):
    """runs/afriqa-oracle20/ntrex-doc/<lang>/bm25-{native,translated,doc-translated}.txt, byte for byte."""
    ex = _experiment("afriqa-oracle20", data_root, tmp_path / "runs", ntrex=True)
    written = _check("afriqa-oracle20", "ntrex-doc", ex)
    assert len(written) == 3 * len(ex.cfg.ntrex["languages"])


def test_dl19_bm25_run_reproduced(mirror, data_root, tmp_path):
    """runs/afriqa-oracle20/dl19/en/bm25.txt byte for byte; the teacher's DL19 runs rerank exactly its candidates."""
    ex = _experiment("afriqa-oracle20", data_root, tmp_path / "runs", dl19=True)
    written = _check("afriqa-oracle20", "dl19", ex)
    bm25 = written["dl19/en/bm25.txt"]

    # runs/teacher/dl19/*.txt (python -m optical_rerank.teacher report) score model floats, so they
    # are not regenerated here; their candidates per query are the BM25 top-100 just reproduced
    def docids(path: Path) -> dict[str, set[str]]:
        out: dict[str, set[str]] = defaultdict(set)
        for line in path.read_text(encoding="utf-8").splitlines():
            qid, _q0, docid, *_ = line.split()
            out[qid].add(docid)
        return dict(out)

    candidates = docids(bm25)
    for system in ("teacher", "e5-biencoder"):
        assert docids(REPO / "runs" / "teacher" / "dl19" / f"{system}.txt") == candidates, system


def _sums(name: str) -> dict[str, str]:
    """``{relpath: sha256}`` of the committed ``runs/<name>/SHA256SUMS``."""
    lines = (REPO / "runs" / name / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    return {rel: digest for digest, rel in (line.split("  ", 1) for line in lines if line.strip())}


# XQuAD-R's BM25 runs (9,520 questions, twice) take minutes: they are checked by `sha256sum -c` only
@pytest.mark.parametrize("name,dataset,systems", [
    ("afriqa", "afriqa", ("bm25-native", "oracle-bm25", "wordtrans-bm25")),
])
def test_realistic_bm25_runs_match_sha256sums(name, dataset, systems, mirror, data_root, tmp_path):
    """The full-test BM25 runs of the realistic studies (native, oracle translation, word-by-word
    translation through IBM-1 on the bitext) regenerated from the mirror have the committed sha256."""
    from optical_rerank.experiment._systems import FIRST_STAGES
    from optical_rerank.files import sha256_file

    ex = _experiment(name, data_root, tmp_path / "runs", **{dataset.replace("-", "_"): True})
    sums = _sums(name)
    checked = 0
    for es in ex.data.eval_sets():
        for system in systems:
            rel = f"{es.dataset}/{es.lang}/{system}.txt"
            path = ex.runs / rel
            ex.first_stage_run(es, FIRST_STAGES[system], path)
            assert rel in sums, f"runs/{name}/SHA256SUMS has no {rel}"
            assert sha256_file(path) == sums[rel], f"{rel} is not reproduced ({path})"
            checked += 1
    results = json.loads((REPO / "results" / name / "results.json").read_text(encoding="utf-8"))
    assert {k: len(v) for k, v in results["budget"]["queries"].items()} == {
        f"{es.dataset}/{es.lang}": len(es.native) for es in ex.data.eval_sets()}
    assert checked == len(systems) * len(results["budget"]["queries"])
    if dataset == "afriqa":
        coll = results["collections"]["afriqa"]
        assert (coll["passages"], coll["sha256"]) == (3997, "abe19028549d8a2a76105b7d477f8b1481e885a8ee4e0d16d5b273e225c5171e")

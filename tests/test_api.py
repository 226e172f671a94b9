"""The public Python API (``import optical_rerank``): cheap to import, and ``Reranker`` on real Pyserini
``LuceneSearcher`` hits gives exactly what ``python -m optical_rerank.run`` writes for the same query."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _tiny import make_tiny_bert

import optical_rerank
from optical_rerank.java import lucene_searcher_class

REPO = Path(__file__).resolve().parents[1]
DOCS = [("d1", "Berlin is the capital city of Germany."), ("d2", "Paris is a city on a river."),
        ("d3", "The people of Berlin like music and food."), ("d4", "Water and food for the school."),
        ("d5", "What is the capital of the river city?"), ("d6", "A music school in Paris."),
        ("d7", "The capital has a river, and the city has people.")]
QUERY = "capital city of Berlin"
CARD = {"query_template": "query: {text}", "passage_template": "passage: {text}", "max_length": 64}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A BM25 index of :data:`DOCS`, one topic, and a tiny cross-encoder whose card sets its templates."""
    d = tmp_path_factory.mktemp("api")
    corpus = d / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": i, "contents": t}) + "\n" for i, t in DOCS), encoding="utf-8")
    optical_rerank.build_index(corpus, d / "index", "en")
    topics = d / "topics.tsv"
    topics.write_text(f"q1\t{QUERY}\n", encoding="utf-8")
    model = make_tiny_bert(d / "teacher")
    (model / "teacher_config.json").write_text(json.dumps(CARD), encoding="utf-8")
    return d, model


def test_import_is_cheap_and_names_resolve_lazily():
    code = ("import sys, optical_rerank as o; o.Reranker, o.write_run, o.Bm25Retriever, o.evaluate_run, o.Hit;"
            "heavy = [m for m in ('torch', 'transformers', 'pyserini', 'jnius') if m in sys.modules];"
            "assert not heavy, heavy; assert 'Reranker' in dir(o) and set(o.__all__) <= set(dir(o))")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
    with pytest.raises(AttributeError):
        optical_rerank.no_such_name  # noqa: B018


def test_lucene_searcher_hits_reranked_equal_the_run_command(setup):
    d, model = setup
    searcher = lucene_searcher_class()(str(d / "index"))
    hits = searcher.search(QUERY, k=10)
    assert len(hits) >= 4 and all(hasattr(h, "docid") for h in hits)

    reranker = optical_rerank.Reranker(model, depth=3)
    assert isinstance(reranker, optical_rerank.CrossEncoderReranker) and isinstance(reranker, optical_rerank.Reranker)
    assert (reranker.config.query_template, reranker.config.max_length) == ("query: {text}", 64)  # from the card
    ranked = reranker.rerank(QUERY, hits, qid="q1")
    assert [h.rank for h in ranked] == list(range(1, len(hits) + 1))
    assert {h.docid for h in ranked} == {h.docid for h in hits}
    assert ranked == sorted(ranked, key=lambda h: (-h.score, h.docid))
    optical_rerank.write_run(d / "api.txt", {"q1": ranked}, tag="api")

    cli = d / "cli.txt"
    subprocess.run([sys.executable, "-m", "optical_rerank.run", "--topics", str(d / "topics.tsv"), "--index",
                    str(d / "index"), "--model", str(model), "--depth", "3", "--k", "10", "--threads", "1",
                    "--output", str(cli), "--tag", "api", "--backend", "torch"], check=True, cwd=REPO, capture_output=True)
    assert (d / "api.txt").read_bytes() == cli.read_bytes()
    recorded = json.loads(Path(f"{cli}.config.json").read_text())["config"]
    assert {k: recorded[k] for k in CARD} == CARD  # the command took the same defaults from the card


def test_input_forms_and_rank(setup):
    _, model = setup
    reranker = optical_rerank.Reranker(model, depth=10)
    texts = [t for _, t in DOCS]
    by_text = reranker.rerank(QUERY, texts)
    by_pair = reranker.rerank(optical_rerank.Query("q1", QUERY), DOCS)
    assert [int(h.docid) for h in by_text] == [int(h.docid[1:]) - 1 for h in by_pair]
    assert [h.score for h in by_text] == [h.score for h in by_pair]
    assert by_text[0].qid == "0" and by_pair[0].qid == "q1"
    assert optical_rerank.Reranker(model, depth=10).rerank(QUERY, by_pair) == by_pair  # Hits in, same ranking out

    ranked = reranker.rank(QUERY, texts, top_k=3, return_documents=True)
    assert [set(r) for r in ranked] == [{"corpus_id", "score", "text"}] * 3
    assert [r["corpus_id"] for r in ranked] == [int(h.docid) for h in by_text[:3]]
    assert [r["text"] for r in ranked] == [texts[r["corpus_id"]] for r in ranked]
    assert [round(r["score"], 6) for r in ranked] == pytest.approx([h.score for h in by_text[:3]], abs=2e-6)
    assert [set(r) for r in reranker.rank(QUERY, texts)] == [{"corpus_id", "score"}] * len(texts)

"""BM25 through Pyserini on tiny hand-checkable collections (English, Hindi, a fallback language)."""
from __future__ import annotations

import json

import pytest

from optical_rerank.errors import ConfigError, InputFormatError
from optical_rerank.first_stage import (Bm25Retriever, analyzer_for, build_index, candidates_from_run,
                                        hits_from_searcher_results, is_complete_index, load_corpus_texts)
from optical_rerank.trec_io import write_run
from optical_rerank.types import Hit, Query


def _corpus(path, docs):
    path.write_text("".join(json.dumps({"id": i, "contents": t}, ensure_ascii=False) + "\n" for i, t in docs),
                    encoding="utf-8")
    return path


EN = [("d1", "The cat sat on the mat."), ("d2", "Dogs are running in the park."),
      ("d3", "A dog runs quickly; the cats sleep."), ("d4", "Stock markets fell sharply on Monday.")]


@pytest.fixture(scope="module")
def en_index(tmp_path_factory):
    d = tmp_path_factory.mktemp("en")
    cfg = build_index(_corpus(d / "c.jsonl", EN), d / "idx", "en")
    assert cfg.num_docs == 4 and cfg.language == "en"
    return d / "idx"


def test_bm25_english_ranking_and_text(en_index):
    r = Bm25Retriever(en_index, k1=0.9, b=0.4)
    run = r.retrieve([Query("q1", "dog running"), Query("q2", "markets"), Query("q3", "the")], k=10)
    # Porter stemming: "running"/"runs", "dog"/"Dogs" match; d2 is shorter and holds both terms.
    assert [h.docid for h in run["q1"]] == ["d2", "d3"]
    assert run["q1"][0].text == "Dogs are running in the park."
    assert [h.rank for h in run["q1"]] == [1, 2] and run["q1"][0].score > run["q1"][1].score
    assert [h.docid for h in run["q2"]] == ["d4"]
    assert run["q3"] == []  # stopword-only query: no hits, no crash
    single = r.retrieve([Query("q1", "dog running")], k=10, threads=1)
    assert [(h.docid, h.score) for h in single["q1"]] == [(h.docid, h.score) for h in run["q1"]]


def test_bm25_parameters_change_scores(en_index):
    a = Bm25Retriever(en_index, k1=0.9, b=0.4).retrieve([Query("q", "dog running")], k=2)["q"]
    b = Bm25Retriever(en_index, k1=2.0, b=1.0).retrieve([Query("q", "dog running")], k=2)["q"]
    assert a[0].score != pytest.approx(b[0].score)
    with pytest.raises(ConfigError):
        Bm25Retriever(en_index, k1=-1)


def test_hindi_analyzer_matches_inflections(tmp_path):
    docs = [("h1", "लड़कों ने किताबें पढ़ीं।"), ("h2", "दिल्ली भारत की राजधानी है।"), ("h3", "बारिश हुई।")]
    corpus = _corpus(tmp_path / "hi.jsonl", docs)
    build_index(corpus, tmp_path / "hi", "hin")  # ISO 639-3 alias
    hits = Bm25Retriever(tmp_path / "hi").retrieve([Query("q", "लड़का किताब")], k=3)["q"]
    assert [h.docid for h in hits] == ["h1"]
    # Without the Hindi analyzer (fallback: no stemming) the inflected forms do not match.
    build_index(corpus, tmp_path / "hi-plain", "sw")
    assert Bm25Retriever(tmp_path / "hi-plain").retrieve([Query("q", "लड़का किताब")], k=3)["q"] == []


def test_fallback_language_keeps_stopword_like_tokens(tmp_path):
    docs = [("s1", "Watoto wanacheza mpira uwanjani."), ("s2", "The the the."), ("s3", "Mvua inanyesha leo.")]
    build_index(_corpus(tmp_path / "sw.jsonl", docs), tmp_path / "sw", "swa")
    r = Bm25Retriever(tmp_path / "sw")
    assert r.choice.stemming is False
    assert [h.docid for h in r.retrieve([Query("q", "mpira")], k=3)["q"]] == ["s1"]
    assert [h.docid for h in r.retrieve([Query("q", "the")], k=3)["q"]] == ["s2"]  # no English stopwords


def test_rm3_runs_and_keeps_non_latin_terms(tmp_path):
    docs = [("h1", "दिल्ली भारत की राजधानी है"), ("h2", "दिल्ली एक बड़ा शहर है राजधानी"), ("h3", "मुंबई")]
    build_index(_corpus(tmp_path / "c.jsonl", docs), tmp_path / "idx", "hi")
    r = Bm25Retriever(tmp_path / "idx", rm3=True, rm3_fb_docs=2, rm3_fb_terms=5, rm3_filter_terms=False)
    hits = r.retrieve([Query("q", "दिल्ली")], k=3)["q"]
    assert {h.docid for h in hits} == {"h1", "h2"}
    assert r.config.rm3_filter_terms is False
    assert Bm25Retriever(tmp_path / "idx", rm3=True).config.rm3_filter_terms is True  # Pyserini's --rm3


def test_unknown_language_lists_supported():
    with pytest.raises(ConfigError) as e:
        analyzer_for("xx")
    assert "unknown language code 'xx'" in str(e.value) and "hi" in str(e.value) and "sw" in str(e.value)


def test_language_spellings_come_from_data_languages():
    # one alias table (optical_rerank.data.languages): ISO 639-3, individual codes, source codes
    for spelling in ("sw", "swa", "swh", "swh_Latn", "SWA"):
        assert analyzer_for(spelling).code == "sw" and not analyzer_for(spelling).stemming
    assert analyzer_for("hin").code == "hi" and analyzer_for("hin").stemming
    assert analyzer_for("nob").code == "no" and analyzer_for("ger").code == "de"
    assert analyzer_for("fil").code == "fil" and analyzer_for("tgl").code == "tl"  # Filipino keeps its own entry
    assert analyzer_for(None).code == "en" and analyzer_for("bem").code == "bem"


def test_index_reuse_and_half_written(tmp_path, en_index):
    assert is_complete_index(en_index)
    half = tmp_path / "half"
    half.mkdir()
    (half / "_0.cfs").write_bytes(b"junk")
    with pytest.raises(ConfigError, match="half-written"):
        Bm25Retriever(half)
    with pytest.raises(ConfigError, match="does not exist"):
        Bm25Retriever(tmp_path / "missing")
    with pytest.raises(ConfigError, match="--overwrite"):
        build_index(_corpus(tmp_path / "c.jsonl", EN), half, "en")


def test_bad_corpus_is_rejected_before_java(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"id": "a", "contents": "x"}\n{"id": "a", "contents": "y"}\n')
    with pytest.raises(InputFormatError, match=r"bad.jsonl:2: duplicate"):
        build_index(p, tmp_path / "idx", "en")
    assert not (tmp_path / "idx").exists()


def test_candidates_from_run_with_corpus_text(tmp_path):
    corpus = _corpus(tmp_path / "c.jsonl", EN)
    run = tmp_path / "run.txt"
    write_run(run, {"q1": [Hit("q1", "d3", 2.0, 1), Hit("q1", "d1", 1.0, 2), Hit("q1", "d9", 0.5, 3)]})
    cands = candidates_from_run(run, [Query("q1", "x")], depth=2, texts=load_corpus_texts(corpus))
    assert [(h.docid, h.text) for h in cands["q1"]] == [("d3", EN[2][1]), ("d1", EN[0][1])]
    with pytest.raises(ConfigError, match="'d9'"):
        candidates_from_run(run, [Query("q1", "x")], depth=3, texts=load_corpus_texts(corpus))


def test_hits_from_pyserini_objects():
    class H:
        def __init__(self, docid, score, raw):
            self.docid, self.score, self.raw = docid, score, raw

    hits = hits_from_searcher_results("q", [H("b", 1.0, '{"id": "b", "contents": "B"}'), H("a", 3.0, None)])
    assert [(h.docid, h.rank, h.text) for h in hits] == [("a", 1, None), ("b", 2, "B")]

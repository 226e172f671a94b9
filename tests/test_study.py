"""The realistic first stages of the study (issue 14): the fixed AfriQA collection, the dense
first stage through Pyserini's dense stack, RRF, and the word-by-word translation baseline."""
from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from optical_rerank.data import prepare
from optical_rerank.data.afriqa import AFRIQA_COLLECTION_FILES, afriqa_corpus, collection_record
from optical_rerank.data.languages import AFRIQA_LANGUAGES
from optical_rerank.data.registry import AFRIQA_GOLD_SPLITS, AFRIQA_SPLITS
from optical_rerank.errors import ConfigError, OpticalRerankError
from optical_rerank.translate import WordTable, WordTranslator, load_freedict, read_freedict, tokenize, train_ibm1
from optical_rerank.types import Hit

from _tiny import make_tiny_bert

# ------------------------------------------------------------------ the fixed AfriQA collection


def test_collection_table_is_every_upstream_gold_file():
    """AFRIQA_COLLECTION_FILES lists every language and split with gold passages upstream, per pivot."""
    for pivot in ("en", "fr"):
        want = [(lang, s) for lang, (_n, piv) in AFRIQA_LANGUAGES.items() if piv == pivot
                for s in AFRIQA_SPLITS if s in AFRIQA_GOLD_SPLITS[lang]]
        assert list(AFRIQA_COLLECTION_FILES[pivot]) == want


def test_collection_independent_of_prepared_languages(mirror, tmp_path):
    """Hausa test alone and every language give the same English collection, recorded in the card."""
    one = prepare("afriqa", tmp_path / "hau", langs="hau", splits="test", skip_missing=True)
    full = prepare("afriqa", tmp_path / "all", skip_missing=True)
    a, b = afriqa_corpus(one.out_dir).read_bytes(), afriqa_corpus(full.out_dir).read_bytes()
    assert a == b
    rec = collection_record(afriqa_corpus(one.out_dir))
    card = json.loads((one.out_dir / "card.json").read_text(encoding="utf-8"))["collection"]["en"]
    assert {k: card[k] for k in rec} == rec
    assert rec["passages"] == len(a.splitlines()) > 3000
    # bem and kin are not in the mirror: skipped, listed, and the collection marked incomplete
    assert not card["complete"] and any("/bem/" in u for u in card["files_missing"])
    assert all(u.startswith("https://raw.githubusercontent.com/masakhane-io/afriqa/") for u in card["files"])


def test_collection_file_missing_is_an_error_naming_its_url(mirror, tmp_path):
    """Without --skip-missing a collection file absent from the mirror fails, even for another language."""
    with pytest.raises(OpticalRerankError, match=r"https://raw\.githubusercontent\.com/masakhane-io/afriqa/.*/bem/"):
        prepare("afriqa", tmp_path / "hau", langs="hau", splits="test")


# ------------------------------------------------------------------ dense first stage and RRF


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("enc") / "m", hidden_size=32, num_layers=2)


def test_dense_index_scores_equal_embed_texts(tiny_encoder, tmp_path):
    """pyserini.encode --to-faiss + FaissSearcher give the cosine of embed_texts with E5's prefixes."""
    from optical_rerank.dense import DenseConfig, DenseRetriever, dense_index
    from optical_rerank.models import embed_texts, load_encoder
    from optical_rerank.trec_io import write_corpus
    from optical_rerank.types import Document, Query

    docs = [Document("d1", "the capital of paris is a city", "paris"), Document("d2", "water in the river"),
            Document("d3", "music and food at the school"), Document("d4", "berlin is a city of people"),
            Document("d5", "a document about the query")]
    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus, docs)
    cfg = DenseConfig(model=str(tiny_encoder), max_length=64, batch_size=2, threads=1)
    idx = dense_index(corpus, tmp_path / "dense", cfg)
    assert json.loads((idx / "key.json").read_text())["passage_prefix"] == "passage:"
    assert dense_index(corpus, tmp_path / "dense", cfg) == idx  # cached by content
    queries = [Query("q1", "what city is the capital"), Query("q2", "river water")]
    run = DenseRetriever(idx, cfg).retrieve(queries, k=5)
    got_q1 = {h.docid: h.score for h in run["q1"]}

    tok, model = load_encoder(str(tiny_encoder))
    texts = [f"{d.title}\n{d.contents}" if d.title else d.contents for d in docs]
    pv = embed_texts(tok, model, [f"passage: {t}" for t in texts], max_length=64)
    for q in queries:
        qv = embed_texts(tok, model, [f"query: {q.text}"], max_length=64)[0]
        want = {d.docid: float(s) for d, s in zip(docs, pv @ qv)}
        got = {h.docid: h.score for h in run[q.qid]}
        assert set(got) == set(want)
        for d in want:
            assert got[d] == pytest.approx(want[d], abs=1e-5)
        assert [h.docid for h in run[q.qid]] == sorted(want, key=lambda d: (-want[d], d))
    # the bi-encoder as a reranker from the index's vectors: the same cosines, candidates only
    cands = {"q1": [Hit("q1", d, 0.0, i + 1) for i, d in enumerate(["d5", "d2", "d1"])]}
    again = DenseRetriever(idx, cfg).rescore(queries[:1], cands, depth=2)["q1"]
    assert {h.docid: h.score for h in again} == pytest.approx({d: got_q1[d] for d in ("d5", "d2")}, abs=1e-6)
    # another collection or another passage template is another key (encoded again, never reused)
    from optical_rerank.dense._index import index_key

    key = index_key(corpus, cfg)
    assert index_key(corpus, DenseConfig(model=str(tiny_encoder), max_length=64, passage_template="doc: {text}")) != key
    write_corpus(corpus, docs[:4])
    assert index_key(corpus, cfg) != key


def test_rrf_through_pyserini_equals_formula(tmp_path):
    from optical_rerank.dense import rrf_fuse, rrf_scores
    from optical_rerank.trec_io import write_run

    a = {"q1": [Hit("q1", d, s, i + 1) for i, (d, s) in enumerate([("x", 9.0), ("y", 5.0), ("z", 1.0)])],
         "q2": [Hit("q2", "x", 1.0, 1)]}
    b = {"q1": [Hit("q1", d, s, i + 1) for i, (d, s) in enumerate([("z", 0.9), ("w", 0.8), ("x", 0.1)])],
         "q2": [Hit("q2", "y", 0.5, 1), Hit("q2", "x", 0.4, 2)]}
    write_run(tmp_path / "a.txt", a, tag="a")
    write_run(tmp_path / "b.txt", b, tag="b")
    fused = rrf_fuse([tmp_path / "a.txt", tmp_path / "b.txt"])
    want = rrf_scores([a, b])
    assert want["q1"]["x"] == pytest.approx(1 / 61 + 1 / 63)
    for qid in want:
        assert {h.docid: h.score for h in fused[qid]} == pytest.approx(want[qid], abs=1e-12)
        assert [h.docid for h in fused[qid]] == sorted(want[qid], key=lambda d: (-want[qid][d], d))
    assert [h.docid for h in rrf_fuse([tmp_path / "a.txt", tmp_path / "b.txt"], hits=2)["q1"]] == ["x", "z"]


# ------------------------------------------------------------------ translation baseline


def test_tokenize_keeps_marks_and_apostrophes():
    assert tokenize("Ta yaya ƙasar Najeriya ta samu 'yancin kai?") == [
        "ta", "yaya", "ƙasar", "najeriya", "ta", "samu", "yancin", "kai"]
    assert tokenize("Ọdún wo ni Nàìjíríà gba òmìnira?") == ["ọdún", "wo", "ni", "nàìjíríà", "gba", "òmìnira"]
    # decomposed tone marks stay inside their word (NFC)
    assert tokenize("Ọ\u0300dún, 1960!") == ["ọ̀dún", "1960"]
    assert tokenize("Don’t stop") == ["don't", "stop"]


def test_ibm1_learns_word_translations():
    """The textbook example: EM resolves haus/buch/das/ein from co-occurrence alone."""
    pairs = [("das Haus", "the house"), ("das Buch", "the book"), ("ein Buch", "a book"),
             ("ein Haus", "a house"), ("das Haus ist klein", "the house is small"),
             ("klein", "small"), ("ist", "is")]
    table = train_ibm1(pairs, iterations=20)
    assert {f: table.best(f) for f in ("haus", "buch", "das", "ein", "klein", "ist")} == {
        "haus": "house", "buch": "book", "das": "the", "ein": "a", "klein": "small", "ist": "is"}
    probs = dict(table.table["haus"])
    assert probs["house"] > 0.8
    assert table.counts["haus"] == 3 and table.meta["pairs"] == 7
    # one EM step from uniform has not separated them yet
    assert dict(train_ibm1(pairs, iterations=1).table["haus"])["house"] < probs["house"]


def test_word_table_round_trip(tmp_path):
    table = train_ibm1([("das Haus", "the house"), ("das Buch", "the book")], iterations=5)
    table.save(tmp_path / "t.json")
    back = WordTable.load(tmp_path / "t.json")
    assert back.table == table.table and back.counts == table.counts


def _dictd(tmp_path, entries):
    b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

    def enc(n):
        s = ""
        while True:
            s = b64[n % 64] + s
            n //= 64
            if not n:
                return s

    data, index = b"", []
    for head, body in [("00databaseinfo", "header text\n")] + entries:
        raw = body.encode()
        index.append(f"{head}\t{enc(len(data))}\t{enc(len(raw))}")
        data += raw
    (tmp_path / "x.index").write_text("\n".join(index) + "\n", encoding="utf-8")
    with gzip.open(tmp_path / "x.dict.dz", "wb") as fh:
        fh.write(data)
    return tmp_path / "x.index", tmp_path / "x.dict.dz"


def test_freedict_reader_and_translator(tmp_path):
    idx, data = _dictd(tmp_path, [("baba", "baba /bˈaba/ <n>\n\nfather\n"),
                                  ("baba mdogo", "baba mdogo /x/ <n>\n\n(paternal) uncle\n father's brother\n\n"),
                                  ("baadaye", "baadaye /x/ <adv>\n\nafterwards, later\n")])
    d = read_freedict(idx, data)
    assert d == {"baba": ["father"], "baba mdogo": ["uncle"], "baadaye": ["afterwards"]}
    table = train_ibm1([("mji mkuu", "capital city"), ("mji", "city"), ("mkuu", "capital")], iterations=10)
    tr = WordTranslator(table, d)
    assert tr.translate("Baba mdogo wa Nairobi, mji mkuu") == "uncle wa nairobi city capital"
    assert WordTranslator(table).translate("mji wa Nairobi") == "city wa nairobi"


def test_freedict_missing_package_is_named(monkeypatch):
    from optical_rerank.translate import _freedict

    monkeypatch.setitem(_freedict.FREEDICT, "swa", ("dict-freedict-swh-eng", "/nonexistent/freedict-swh-eng"))
    with pytest.raises(ConfigError, match="apt-get install dict-freedict-swh-eng"):
        load_freedict("swa")
    with pytest.raises(ConfigError, match="no FreeDict"):
        load_freedict("yor")


# ------------------------------------------------------------------ the experiment's realistic rows


def test_experiment_first_stages_and_report_only(mirror, tmp_path):
    """BM25 native, word-by-word translation and the oracle on real AfriQA questions; --report-only
    rebuilds the same report from the runs present, and a removed run leaves the report."""
    from optical_rerank.experiment import Experiment, ExperimentConfig

    cfg = ExperimentConfig(name="s", data_root=str(tmp_path / "data"), runs_dir=str(tmp_path / "runs"),
                           results_dir=str(tmp_path / "results"), models_root=str(tmp_path / "models"),
                           max_queries_per_language=4, depth=5, candidates="hybrid",
                           systems=("bm25-native", "wordtrans-bm25", "oracle-bm25", "dense", "e5-rerank"),
                           measures=("ndcg_cut.10", "recall.100"), students={},
                           wordtrans={"iterations": 3, "freedict": False}, bitext={"languages": ["hau"]},
                           afriqa={"languages": ["hau"], "split": "test"})
    res = Experiment(cfg).run(only=["bm25-native", "wordtrans-bm25", "oracle-bm25"])
    row = res["sets"]["afriqa/hau"]
    assert set(row) == {"bm25-native", "wordtrans-bm25", "oracle-bm25"}  # nothing else was run
    assert all("per_query" not in r for r in row.values())
    per_query = json.loads((tmp_path / "results" / "s" / "per_query.json").read_text())
    assert len(per_query["afriqa/hau"]["wordtrans-bm25"]) == 4
    coll = res["collections"]["afriqa"]
    assert coll["passages"] == 3997 and coll["sha256"].startswith("abe19028")
    sums = (tmp_path / "runs" / "s" / "SHA256SUMS").read_text().splitlines()
    assert [line.split("  ")[1] for line in sums] == [
        "afriqa/hau/bm25-native.txt", "afriqa/hau/oracle-bm25.txt", "afriqa/hau/wordtrans-bm25.txt"]
    # the word-by-word queries are English words, not the native text
    assert row["wordtrans-bm25"]["aggregate"] != row["bm25-native"]["aggregate"]

    again = Experiment(cfg).run(report_only=True)
    assert again["sets"] == res["sets"] and again["pooled"] == res["pooled"]
    (tmp_path / "runs" / "s" / "afriqa" / "hau" / "oracle-bm25.txt").unlink()
    assert set(Experiment(cfg).run(report_only=True)["sets"]["afriqa/hau"]) == {"bm25-native", "wordtrans-bm25"}

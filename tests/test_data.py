"""Data sources, prepared sets, bitext and the leakage guard, against the real data mirror.

The mirror is read in place through ``$OPTICAL_RERANK_MIRROR`` (``make test`` sets it; see the
``mirror`` fixture of ``conftest.py``); nothing from it is copied into the repository. Downloads
are disabled except in the test that serves files from a local HTTP server.
"""
from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
from pathlib import Path

import pytest

from optical_rerank.cli import run_cli
from optical_rerank.data import (
    BitextPair,
    LeakageGuard,
    MissingDataError,
    fetch,
    filter_leakage,
    normalize_text,
    prepare,
    read_bitext,
    resolve_language,
    write_bitext,
)
from optical_rerank.data._hashes import KNOWN_FILES
from optical_rerank.data.afriqa import afriqa_corpus, afriqa_file, afriqa_languages, afriqa_topic_files
from optical_rerank.data.bitext import build_bitext, dedup_pairs, read_ciral_topics
from optical_rerank.data.commands import main
from optical_rerank.data.fetch import OFFLINE_ENV, RAW_BASE_ENV, Fetcher, cache_path, file_status
from optical_rerank.data.languages import (
    AFRIQA_LANGUAGES,
    NTREX_LANGUAGES,
    SIB200_LANGUAGES,
    TATOEBA_LANGUAGES,
    iso639_1,
    languages_of,
    source_language_codes,
)
from optical_rerank.data.registry import (
    AFRIQA_SPLIT_COUNTS,
    SOURCES,
    DataFile,
    afriqa_gold,
    afriqa_queries,
    ciral_topics,
    source_files,
    xquad_r_file,
)
from optical_rerank.errors import ConfigError, DataSourceError, InputFormatError
from optical_rerank.paths import CACHE_ENV, MIRROR_ENV
from optical_rerank.trec_io import read_corpus, read_qrels, read_run, read_topics

REPO = Path(__file__).resolve().parents[1]
MIRRORED_AFRIQA = ("fon", "hau", "ibo", "swa", "twi", "wol", "yor", "zul")


@pytest.fixture(scope="module")
def data_env(mirror, tmp_path_factory):
    """The mirror setting (the ``mirror`` fixture), a private cache, downloads off."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(MIRROR_ENV, str(mirror))
        mp.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("data-cache")))
        mp.setenv(OFFLINE_ENV, "1")
        mp.delenv(RAW_BASE_ENV, raising=False)
        yield mirror


@pytest.fixture(autouse=True)
def _offline(data_env, monkeypatch, tmp_path):
    monkeypatch.setenv(MIRROR_ENV, str(data_env))
    monkeypatch.setenv(OFFLINE_ENV, "1")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(RAW_BASE_ENV, raising=False)


@pytest.fixture(scope="module")
def sets(data_env, tmp_path_factory):
    """Every set built once from the mirror (languages the mirror lacks are skipped)."""
    out = tmp_path_factory.mktemp("sets")
    built = {
        "afriqa": prepare("afriqa", out / "afriqa", skip_missing=True),
        "xquad-r": prepare("xquad-r", out / "xquad-r", skip_missing=True),
        "ntrex-doc": prepare("ntrex-doc", out / "ntrex-doc", langs=["hau", "swa", "yor", "zho"]),
        "dl19": prepare("dl19", out / "dl19"),
        "bitext-hau": prepare("bitext", out / "bitext-hau", lang="hau", skip_missing=True),
        "bitext-swa": prepare("bitext", out / "bitext-swa", lang="swh", skip_missing=True),
    }
    return built


def _corpus_ids(path: Path) -> set[str]:
    return {d.docid for d in read_corpus(path)}


def _assert_qrels_in_corpora(prepared) -> int:
    card, root = prepared.card, prepared.out_dir
    checked = 0
    for entry in card["outputs"]["qrels"].values():
        corpus = entry["corpus"].split(" ")[0]
        ids = _corpus_ids(root / corpus)
        for qid, docs in read_qrels(root / entry["path"]).items():
            for docid in docs:
                assert docid in ids, f"{entry['path']}: {qid} judges {docid}, not in {corpus}"
                checked += 1
    return checked


# --------------------------------------------------------------------------- registry and languages
def test_registry_knows_every_mirrored_file_and_hash(data_env):
    manifest = {}
    for line in (data_env / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        repo, commit, path, size, sha = line.split("\t")
        manifest[(repo, commit, path)] = (int(size), sha)
    assert manifest == KNOWN_FILES
    registry = {(f.repo, f.commit, f.path) for name in SOURCES for f in source_files(name)}
    assert set(KNOWN_FILES) <= registry, sorted(set(KNOWN_FILES) - registry)[:5]


def test_language_tables_cover_upstream(data_env):
    ntrex = [line.split()[0] for line in
             (data_env / "MicrosoftTranslator/NTREX/8561f6a622db9edad1217683e5c83daefd8bb2bf/LANGUAGES.tsv")
             .read_text(encoding="utf-8").splitlines() if line.strip()]
    assert [c for c, _ in NTREX_LANGUAGES] == ntrex
    assert len(SIB200_LANGUAGES) == 205 and len(set(SIB200_LANGUAGES)) == 205
    assert len(TATOEBA_LANGUAGES) == 112 and len(AFRIQA_LANGUAGES) == 10
    assert len(languages_of("ntrex")) == len(ntrex) and len(languages_of("sib200")) == 205


def test_language_codes_map_to_each_source():
    swa = resolve_language("swa")
    assert swa.codes == {"afriqa": "swa", "ciral": "sw", "ntrex": "swa", "sib200": "swh_Latn",
                         "tatoeba": "swh"}
    for spelling in ("swh", "SW", "swh_Latn", "Swa"):
        assert resolve_language(spelling).key == "swa"
    assert resolve_language("zh").code("ntrex") == "zho-CN"
    assert resolve_language("zho_Hant").key == "zho-Hant"
    assert resolve_language("fil").code("sib200") == "tgl_Latn"
    assert source_language_codes("sib200", ["hau", "yor", "zul"]) == ["hau_Latn", "yor_Latn", "zul_Latn"]
    with pytest.raises(ConfigError, match="unknown language"):
        resolve_language("xx")
    with pytest.raises(ConfigError, match="tatoeba has no"):
        source_language_codes("tatoeba", ["hau"])


# --------------------------------------------------------------------------- fetch
def test_fetch_from_mirror_verifies_hash(data_env):
    got = fetch(afriqa_queries("hau", "test"))
    assert got.origin == "mirror" and got.sha256_status == "pinned"
    assert got.sha256 == afriqa_queries("hau", "test").sha256


def test_missing_file_names_its_url(data_env, capsys, tmp_path):
    f = afriqa_queries("bem", "test")  # upstream has it, the mirror does not
    assert f.sha256 is None and file_status(f) == "missing"
    with pytest.raises(MissingDataError) as err:
        fetch(f)
    assert str(err.value).startswith(f.url) and isinstance(err.value, DataSourceError)
    assert not cache_path(f).exists()
    rc = run_cli(main, ["prepare", "afriqa", "--langs", "bem", "--out", str(tmp_path / "o")])
    err_line = capsys.readouterr().err  # the fixed collection reads bem's gold passages first: one of its URLs
    assert rc == 2 and f.url.split("/data/", 1)[0] + "/data/" in err_line and "/bem/" in err_line
    assert not (tmp_path / "o").exists()
    with pytest.raises(ConfigError, match="no gold passages for swa train"):
        afriqa_gold("swa", "train")


def _copy_subset(src_root: Path, dst_root: Path, files: list[DataFile]) -> None:
    for f in files:
        dst = dst_root / f.relpath
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src_root / f.relpath, dst)


def test_corrupted_mirror_file_is_refused(data_env, tmp_path, monkeypatch):
    files = [afriqa_queries("hau", "test"), afriqa_gold("hau", "test")]
    mirror = tmp_path / "mirror"
    _copy_subset(data_env, mirror, files)
    target = mirror / files[1].relpath
    raw = bytearray(target.read_bytes())
    raw[1000] ^= 0x01
    target.write_bytes(bytes(raw))
    monkeypatch.setenv(MIRROR_ENV, str(mirror))
    assert fetch(files[0]).origin == "mirror"
    with pytest.raises(DataSourceError, match="sha256 mismatch") as err:
        fetch(files[1])
    assert files[1].url in str(err.value)
    with pytest.raises(DataSourceError, match="sha256 mismatch"):
        # skip_missing: the fixed collection's files of other languages are not in this small mirror
        prepare("afriqa", tmp_path / "out", langs="hau", splits="test", skip_missing=True)
    assert not (tmp_path / "out").exists() and not cache_path(files[1]).exists()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


def test_download_checks_sha256_and_caches(data_env, tmp_path, monkeypatch):
    served = tmp_path / "served"
    good = xquad_r_file("en")
    bad = ciral_topics("ha", "dev", True)
    _copy_subset(data_env, served, [good, bad])
    (served / bad.relpath).write_text("1\ttampered\n", encoding="utf-8")
    unknown = DataFile(good.repo, good.commit, "extra/notes.txt")  # no known hash
    (served / unknown.relpath).parent.mkdir(parents=True)
    (served / unknown.relpath).write_text("hello\n", encoding="utf-8")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.delenv(MIRROR_ENV)
        monkeypatch.delenv(OFFLINE_ENV)
        monkeypatch.setenv(RAW_BASE_ENV, f"http://127.0.0.1:{server.server_address[1]}")
        got = fetch(good)
        assert (got.origin, got.sha256_status, got.sha256) == ("download", "pinned", good.sha256)
        assert fetch(good).origin == "cache"

        with pytest.raises(DataSourceError, match="sha256 mismatch") as err:
            fetch(bad)
        assert bad.url in str(err.value) and not cache_path(bad).exists()
        assert not list(cache_path(bad).parent.glob("*.tmp"))

        first = fetch(unknown)
        assert first.sha256_status == "recorded"
        record = cache_path(unknown).with_name("notes.txt.sha256")
        assert record.read_text().strip() == first.sha256
        cache_path(unknown).write_text("changed\n", encoding="utf-8")  # tampered cache: re-downloaded
        again = fetch(unknown)
        assert again.origin == "download" and again.sha256 == first.sha256

        with pytest.raises(MissingDataError, match="HTTP 404"):
            fetch(DataFile(good.repo, good.commit, "no/such/file.json"))
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- AfriQA
def test_afriqa_counts_match_upstream(sets):
    card = sets["afriqa"].card
    per = card["counts"]["per_split"]
    for lang in MIRRORED_AFRIQA:
        for split in ("train", "dev", "test"):
            assert per[f"{lang}.{split}"]["questions"] == AFRIQA_SPLIT_COUNTS[lang][split]
    # measured from the mirror at the pinned commit: gold rows and what survives
    assert per["hau.test"]["topics"] == 300 and per["hau.train"]["gold_rows"] == 225
    assert per["swa.test"]["gold_rows"] == 295 and "topics" not in per["swa.train"]
    assert set(card["counts"]["no_gold_passages_upstream"]) == {
        "swa.train", "swa.dev", "wol.train", "wol.dev", "wol.test", "yor.dev"}
    assert card["dropped"]["empty_passages"] == 72
    skipped = {s["url"] for s in card["skipped_missing"]}
    assert skipped == {f(lang, s).url for f in (afriqa_queries, afriqa_gold)  # queries and collection files
                       for lang in ("bem", "kin") for s in ("train", "dev", "test")}


def test_afriqa_outputs_are_consistent(sets):
    prepared = sets["afriqa"]
    root, card = prepared.out_dir, prepared.card
    assert (root / "topics/afriqa.hau.test.native.tsv").is_file()
    assert (root / "topics/afriqa.fon.test.translated.tsv").is_file()
    assert not list((root / "topics").glob("afriqa.wol.*"))
    all_qids: set[str] = set()
    for key, entry in card["outputs"]["qrels"].items():
        native = read_topics(root / f"topics/afriqa.{key}.native.tsv")
        translated = read_topics(root / f"topics/afriqa.{key}.translated.tsv")
        qrels = read_qrels(root / entry["path"])
        assert [q.qid for q in native] == [q.qid for q in translated] and set(qrels) == {q.qid for q in native}
        assert all(len(v) == 1 for v in qrels.values())
        assert not all_qids & set(qrels)
        all_qids |= set(qrels)
    en, fr = _corpus_ids(root / "corpus/en/corpus.jsonl"), _corpus_ids(root / "corpus/fr/corpus.jsonl")
    assert len(en) == card["counts"]["corpus_documents"]["en"] and not en & fr
    assert _assert_qrels_in_corpora(prepared) == card["counts"]["topics"] == len(all_qids)
    texts = [d.contents for d in read_corpus(root / "corpus/en/corpus.jsonl")]
    assert all(t.strip() for t in texts) and len({" ".join(t.split()) for t in texts}) == len(texts)
    assert {f["sha256_status"] for f in card["files"]} == {"pinned"}


def test_afriqa_file_helpers_name_the_prepared_files(sets):
    root, card = sets["afriqa"].out_dir, sets["afriqa"].card
    for key, entry in card["outputs"]["qrels"].items():
        lang, split = key.split(".")
        assert afriqa_file(root, lang, split, "qrels") == root / entry["path"]
        for kind in ("native", "translated"):
            assert afriqa_file(root, lang, split, kind) == root / card["outputs"]["topics"][f"{key}.{kind}"]["path"]
    assert afriqa_corpus(root) == root / card["outputs"]["corpora"]["en"]["path"]
    assert afriqa_corpus(root, "fr") == root / card["outputs"]["corpora"]["fr"]["path"]
    test_langs = afriqa_languages(root, "test")
    assert test_langs == sorted({k.split(".")[0] for k in card["outputs"]["qrels"] if k.endswith(".test")},
                                key=list(AFRIQA_LANGUAGES).index)
    assert "fon" in test_langs and "fon" not in afriqa_languages(root, "test", pivot="en")
    assert "wol" not in test_langs and "swa" not in afriqa_languages(root, "train")
    assert afriqa_topic_files(root, "test") == sorted((root / "topics").glob("afriqa.*.test.*.tsv"))
    with pytest.raises(ConfigError, match="unknown AfriQA file kind"):
        afriqa_file(root, "hau", "test", "gold")


def test_iso639_1_covers_every_spelling():
    assert [iso639_1(c) for c in ("sw", "swa", "swh", "swh_Latn", "SWA")] == ["sw"] * 5
    assert iso639_1("nob") == "no" and iso639_1("kur") == "ku" and iso639_1("ger") == "de"
    assert iso639_1("bem") is None and iso639_1("xx") is None


# --------------------------------------------------------------------------- XQuAD-R
def test_xquad_r_counts_and_qrels(sets):
    prepared = sets["xquad-r"]
    root, card = prepared.out_dir, prepared.card
    assert set(card["counts"]["languages"]) == {"ar", "de", "en", "es", "hi", "ro", "ru", "vi", "zh"}
    assert {s["url"] for s in card["skipped_missing"]} == {xquad_r_file(x).url for x in ("el", "th", "tr")}
    assert card["counts"]["english_paragraphs"] == 240 and card["counts"]["english_sentences"] == 1180
    for lang in card["counts"]["languages"]:
        topics = read_topics(root / f"topics/xquad-r.{lang}.tsv")
        assert len(topics) == 1190
        assert card["counts"]["questions_per_language"][lang]["paragraphs"] == 240
        para = read_qrels(root / f"qrels/xquad-r.{lang}.paragraph.qrels")
        sent = read_qrels(root / f"qrels/xquad-r.{lang}.sentence.qrels")
        assert len(para) == len(sent) == 1190 and all(len(v) == 1 for v in para.values())
        for qid, docs in sent.items():  # answer sentences lie in the judged paragraph
            (pid,) = para[qid]
            assert all(sid.startswith(pid + "-s") for sid in docs)
    assert sum(len(v) > 1 for v in read_qrels(root / "qrels/xquad-r.ro.sentence.qrels").values()) == 3
    assert _assert_qrels_in_corpora(prepared) == 9 * (1190 + 1190 + 3)


# --------------------------------------------------------------------------- NTREX-doc
def test_ntrex_doc(sets):
    prepared = sets["ntrex-doc"]
    root, card = prepared.out_dir, prepared.card
    assert card["synthetic_relevance"] is True and "SYNTHETIC" in " ".join(card["notes"])
    eng = list(read_corpus(root / "corpus/eng/corpus.jsonl"))
    assert len(eng) == 123 and eng[0].docid == "bbc.381790"
    headlines = read_topics(root / "topics/ntrex-doc.eng.tsv")
    assert headlines[0].text == "Welsh AMs worried about 'looking like muppets'"
    assert not eng[0].contents.startswith("Welsh AMs")  # the headline is not in the document
    for code in ("hau", "swa", "yor", "zho-CN"):
        assert _corpus_ids(root / f"corpus/{code}/corpus.jsonl") == {d.docid for d in eng}
        assert len(read_topics(root / f"topics/ntrex-doc.{code}.tsv")) == 123
    assert _assert_qrels_in_corpora(prepared) == 5 * 123


# --------------------------------------------------------------------------- TREC DL
def test_dl19(sets):
    prepared = sets["dl19"]
    root, card = prepared.out_dir, prepared.card
    assert len(read_topics(root / "topics/dl19.tsv")) == 43
    qrels = read_qrels(root / "qrels/dl19.qrels")
    assert sum(len(v) for v in qrels.values()) == 9260
    assert set(qrels) == {q.qid for q in read_topics(root / "topics/dl19.tsv")}
    run = read_run(root / "runs/dl19.bm25.trec")
    assert len(run) == 43 and all(len(h) == 100 for h in run.values())
    corpus = _corpus_ids(root / "corpus/passages/corpus.jsonl")
    assert {h.docid for hits in run.values() for h in hits} == corpus
    assert card["counts"]["judged_passages_in_corpus"] == len({d for v in qrels.values() for d in v} & corpus)
    assert "NON-COMMERCIAL" in " ".join(card["notes"]) and "non-commercial" in card["licence"]


# --------------------------------------------------------------------------- bitext and leakage
def _afriqa_test_texts(root: Path) -> set[str]:
    texts = set()
    for lang in MIRRORED_AFRIQA:
        f = afriqa_queries(lang, "test")
        for line in (root / f.relpath).read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                texts |= {normalize_text(row["question"]), normalize_text(row["translated_question"])}
    return texts - {""}


def test_no_afriqa_test_question_in_bitext(sets, data_env):
    test_texts = _afriqa_test_texts(data_env)
    for name in ("bitext-hau", "bitext-swa"):
        prepared = sets[name]
        path = prepared.out_dir / prepared.card["outputs"]["bitext"]["path"]
        pairs = read_bitext(path)
        assert len(pairs) == prepared.card["counts"]["pairs"] > 1000
        leaked = [p for p in pairs if normalize_text(p.x) in test_texts or normalize_text(p.en) in test_texts]
        assert leaked == []
        keys = [(normalize_text(p.x), normalize_text(p.en)) for p in pairs]
        assert len(keys) == len(set(keys))
        assert prepared.card["leakage"]["guard_missing"]  # bem and kin are not mirrored: said so
    hau = sets["bitext-hau"].card
    assert hau["counts"]["pairs_by_source"]["flores"] == 1004
    assert hau["counts"]["per_source"]["tatoeba"]["status"] == "language not in source"
    assert hau["dropped"]["leakage"] > 0
    swa = sets["bitext-swa"].card["counts"]["per_source"]
    assert swa["tatoeba"]["code"] == "swh" and swa["flores"]["code"] == "swh_Latn" and swa["ciral"]["code"] == "sw"
    assert swa["ciral"]["conflicting_qids"] == 1  # sw test-b repeats qid 237 with two questions


def test_bitext_missing_source_file_is_an_error_naming_url():
    with pytest.raises(MissingDataError) as err:
        build_bitext("yor", sources=["afriqa"])  # bem/kin guard files are not mirrored
    assert "queries.afriqa." in str(err.value) and err.value.url.startswith("https://raw.githubusercontent.com/")
    with pytest.raises(ConfigError, match="never"):
        build_bitext("hau", afriqa_splits=["test"])


def test_bitext_exclude_topics_and_dedup(tmp_path):
    # line 146 of the NTREX English source, with different case and punctuation
    topics = tmp_path / "eval.tsv"
    sentence = "the death toll in Indonesia's earthquake and tsunami has climbed to 832 - the country's " \
               "disaster agency said early Sunday"
    topics.write_text(f"q1\t{sentence}\n", encoding="utf-8")
    base = build_bitext("hau", sources=["ntrex"], fetcher=Fetcher(skip_missing=True))
    guarded = build_bitext("hau", sources=["ntrex"], exclude_topics=[topics], fetcher=Fetcher(skip_missing=True))
    assert len(base.pairs) - len(guarded.pairs) == 1 == guarded.leakage.dropped_by_source["ntrex"]
    assert str(topics) in guarded.leakage.guard_origins
    pairs = [BitextPair("Sannu!", "Hello.", "a"), BitextPair("sannu", "hello", "b"), BitextPair("Yauwa", "OK", "b")]
    kept, removed = dedup_pairs(pairs)
    assert [p.source for p in kept] == ["a", "b"] and removed == {"b": 1}


def test_read_bitext_round_trip_and_errors(tmp_path):
    path = tmp_path / "b.tsv"
    pairs = [BitextPair("Ina kwana?", "Good morning?", "ntrex"), BitextPair("a\tb", "c  d", "x")]
    assert write_bitext(path, pairs) == 2
    assert read_bitext(path) == [pairs[0], BitextPair("a b", "c d", "x")]
    path.write_text("ok\tfine\tsrc\n\nonly\ttwo\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match=r"b\.tsv:3: expected 3"):
        read_bitext(path)
    path.write_text("x\t \tsrc\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match=r":1: empty English side"):
        read_bitext(path)


def test_leakage_normalisation(tmp_path):
    assert normalize_text("  Who is the\tPRESIDENT of Ghana?! ") == "who is the president of ghana"
    assert normalize_text("Ｗｈｏ ｉｓ") == "who is"  # NFKC folds full-width letters
    assert normalize_text("Straße") == normalize_text("STRASSE")  # casefold, not lower
    assert normalize_text("«Jé-sus», dit-il…") == "jé sus dit il"
    assert normalize_text("?!...") == ""
    topics = tmp_path / "t.tsv"
    topics.write_text("1\tWho is the president of Ghana?\n2\t...\n", encoding="utf-8")
    pairs = [BitextPair("Wanene shugaban Ghana?", "who is the President of GHANA", "x"),
             BitextPair("Wanene shugaban Ghana", "Who leads Ghana?", "y"),
             ("who is the president of ghana", "anything")]
    kept, report = filter_leakage(pairs, [topics])
    assert kept == [pairs[1]] and report.dropped == 2 and report.dropped_by_source == {"x": 1, "-": 1}
    guard = LeakageGuard.from_topics_files([topics])
    assert len(guard) == 1 and "WHO IS THE PRESIDENT OF GHANA" in guard


def test_ciral_topics_reader_reports_conflicts(tmp_path):
    path = tmp_path / "topics.tsv"
    path.write_text('1\ta\n2\tb\n2\tc\n3\t"quoted ""x"" "\n', encoding="utf-8")
    texts, conflicts = read_ciral_topics(path)
    assert texts == {"1": "a", "3": 'quoted "x"'} and conflicts == {"2"}


# --------------------------------------------------------------------------- CLI
def test_cli_list_json(capsys):
    assert main(["list", "--json", "--source", "afriqa", "--source", "ntrex"]) == 0
    data = json.loads(capsys.readouterr().out)
    by = {s["name"]: s for s in data["sources"]}
    assert by["afriqa"]["files_in_mirror"] == 44 and by["afriqa"]["licence"] == "CC BY 4.0"
    assert by["afriqa"]["split_counts"]["swa"]["gold_passage_splits"] == ["test"]
    assert "hau" in by["ntrex"]["languages_available"] and "bem" not in by["ntrex"]["languages_available"]
    assert len(by["ntrex"]["languages"]) == 129
    assert main(["list", "--files", "--source", "ciral"]) == 0
    out = capsys.readouterr().out
    assert "mirror   https://raw.githubusercontent.com/castorini/anserini-tools/" in out


def test_cli_prepare(tmp_path, capsys):
    out = tmp_path / "bt"
    assert main(["prepare", "bitext", "--lang", "yor", "--sources", "ntrex,flores", "--out", str(out),
                 "--skip-missing"]) == 0
    assert "bitext.yor.tsv" in capsys.readouterr().out
    card = json.loads((out / "card.json").read_text(encoding="utf-8"))
    assert card["counts"]["pairs_by_source"] == {"flores": 1004, "ntrex": card["counts"]["pairs"] - 1004}
    assert main(["prepare", "xquad-r", "--langs", "de,zh", "--out", str(tmp_path / "xq")]) == 0
    assert sorted(p.name for p in (tmp_path / "xq/topics").iterdir()) == ["xquad-r.de.tsv", "xquad-r.zh.tsv"]
    # a rebuild replaces the previous set; an unrelated non-empty directory is refused
    assert main(["prepare", "xquad-r", "--langs", "de", "--out", str(tmp_path / "xq")]) == 0
    assert sorted(p.name for p in (tmp_path / "xq/topics").iterdir()) == ["xquad-r.de.tsv"]
    (tmp_path / "other").mkdir()
    (tmp_path / "other/file.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a prepared set"):
        main(["prepare", "dl19", "--out", str(tmp_path / "other")])
    with pytest.raises(ConfigError, match="--splits"):
        main(["prepare", "xquad-r", "--splits", "test", "--out", str(tmp_path / "x2")])
    assert run_cli(main, ["prepare", "bitext", "--out", str(tmp_path / "b2")]) == 2
    assert "--lang" in capsys.readouterr().err


def test_cli_prepare_english_qa_options(tmp_path, capsys):
    with pytest.raises(ConfigError, match="english-qa has no source"):
        main(["prepare", "english-qa", "--sources", "squad,nope", "--out", str(tmp_path / "eq")])
    assert run_cli(main, ["prepare", "english-qa", "--langs", "en", "--out", str(tmp_path / "eq")]) == 2
    assert "--langs do(es) not apply to prepare english-qa" in capsys.readouterr().err
    assert not (tmp_path / "eq").exists()

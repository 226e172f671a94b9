from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optical_rerank.data._hashes import KNOWN_FILES
from optical_rerank.errors import InputFormatError
from optical_rerank.trec_io import (atomic_write, read_corpus, read_qrels, read_run, read_topics, write_corpus,
                                    write_qrels, write_run, write_topics)
from optical_rerank.types import Document, Hit, Query


def test_topics_round_trip_with_bom_crlf_and_blank_lines(tmp_path):
    p = tmp_path / "t.tsv"
    p.write_bytes("\ufeffq1\tmambo ya kale\r\n\r\nq2\tनई दिल्ली\r\n".encode())
    qs = read_topics(p, lang="sw")
    assert qs == [Query("q1", "mambo ya kale", "sw"), Query("q2", "नई दिल्ली", "sw")]
    out = tmp_path / "o.tsv"
    write_topics(out, qs)
    assert read_topics(out, "sw") == qs


@pytest.mark.parametrize("content,line,fragment", [
    ("q1\tok\nq2\n", 2, "expected 2 tab-separated columns"),
    ("q1\tok\nq1\tagain\n", 2, "duplicate query id 'q1'"),
    ("q1\t   \n", 1, "empty text"),
    ("q1\ta\tb\n", 1, "found 3"),
])
def test_topics_errors_name_file_and_line(tmp_path, content, line, fragment):
    p = tmp_path / "bad.tsv"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(InputFormatError) as e:
        read_topics(p)
    assert f"{p}:{line}:" in str(e.value)
    assert fragment in str(e.value)


def test_invalid_utf8_names_line(tmp_path):
    p = tmp_path / "bad.tsv"
    p.write_bytes(b"q1\tfine\nq2\tbad \xff byte\n")
    with pytest.raises(InputFormatError, match=r"bad.tsv:2: invalid UTF-8"):
        read_topics(p)


def test_run_writer_sorts_like_trecwriter_and_reader_round_trips(tmp_path):
    hits = [Hit("q1", "b", 1.0, 9), Hit("q1", "a", 1.0, 8), Hit("q1", "c", 2.5, 7)]
    p = tmp_path / "run.txt"
    write_run(p, {"q1": hits}, tag="t")
    lines = p.read_text().splitlines()
    assert lines == ["q1 Q0 c 1 2.500000 t", "q1 Q0 a 2 1.000000 t", "q1 Q0 b 3 1.000000 t"]
    run = read_run(p)
    assert [(h.docid, h.rank) for h in run["q1"]] == [("c", 1), ("a", 2), ("b", 3)]


@pytest.mark.parametrize("content,line,fragment", [
    ("q1 Q0 d1 1 1.0 t\nq1 Q0 d2 2 x t\n", 2, "is not a number"),
    ("q1 Q0 d1 1 1.0 t\nq1 Q0 d1 2 0.5 t\n", 2, "listed twice"),
    ("q1 Q0 d1 1 nan t\n", 1, "not finite"),
    ("q1 Q0 d1 1 1.0\n", 1, "expected 6 columns"),
])
def test_run_errors(tmp_path, content, line, fragment):
    p = tmp_path / "r.txt"
    p.write_text(content)
    with pytest.raises(InputFormatError) as e:
        read_run(p)
    assert f"{p}:{line}:" in str(e.value) and fragment in str(e.value)


def test_qrels_round_trip_and_conflict(tmp_path):
    p = tmp_path / "q.txt"
    write_qrels(p, {"q2": {"d": 0}, "q1": {"b": 2, "a": 1}})
    assert p.read_text() == "q1 0 a 1\nq1 0 b 2\nq2 0 d 0\n"
    assert read_qrels(p) == {"q1": {"a": 1, "b": 2}, "q2": {"d": 0}}
    p.write_text("q1 0 a 1\nq1 0 a 2\n")
    with pytest.raises(InputFormatError, match=r"q.txt:2: .*different relevance"):
        read_qrels(p)
    p.write_text("q1 0 a one\n")
    with pytest.raises(InputFormatError, match=r"q.txt:1: relevance 'one' is not an integer"):
        read_qrels(p)


def test_corpus_errors_and_round_trip(tmp_path):
    p = tmp_path / "c.jsonl"
    docs = [Document("d1", "text one", None), Document("d2", "two", "Title")]
    assert write_corpus(p, docs) == 2
    assert list(read_corpus(p)) == docs
    p.write_text('{"id": "d1", "contents": "x"}\n{"id": "d1", "contents": "y"}\n')
    with pytest.raises(InputFormatError, match=r"c.jsonl:2: duplicate document id 'd1'"):
        list(read_corpus(p))
    p.write_text('{"id": "d1", "contents": "x"}\n{"id": "d2", "contents": \n')
    with pytest.raises(InputFormatError, match=r"c.jsonl:2: invalid JSON"):
        list(read_corpus(p))
    p.write_text('{"id": "d 1", "contents": "x"}\n')
    with pytest.raises(InputFormatError, match="whitespace"):
        list(read_corpus(p))


def test_atomic_write_keeps_previous_file_on_failure(tmp_path):
    p = tmp_path / "out.txt"
    p.write_text("previous\n")
    with pytest.raises(OSError):
        with atomic_write(p) as fh:
            fh.write("half")
            raise OSError(28, "No space left on device")
    assert p.read_text() == "previous\n"
    assert [f.name for f in tmp_path.iterdir()] == ["out.txt"]


_ids = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(_ids, st.dictionaries(_ids, st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=5),
                       min_size=1, max_size=4))
def test_run_round_trip_property(tmp_path_factory, data):
    p = tmp_path_factory.mktemp("prop") / "run.txt"
    run = {q: [Hit(q, d, round(s, 6), 0) for d, s in docs.items()] for q, docs in data.items()}
    write_run(p, run, tag="prop")
    back = read_run(p)
    assert set(back) == set(run)
    for q, hits in back.items():
        assert sorted((h.docid, h.score) for h in hits) == sorted((h.docid, round(h.score, 6) + 0.0) for h in run[q])
        assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
        assert hits == sorted(hits, key=lambda h: (-h.score, h.docid))
    os.unlink(p)


def test_repository_topic_files_are_ours_and_valid():
    """``topics/`` holds valid topic files we wrote, never a copy of a pinned upstream file."""
    upstream = {sha for _size, sha in KNOWN_FILES.values()}
    files = sorted((Path(__file__).resolve().parents[1] / "topics").glob("*.tsv"))
    assert files
    for f in files:
        assert read_topics(f)
        assert hashlib.sha256(f.read_bytes()).hexdigest() not in upstream, f

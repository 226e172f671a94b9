"""Hardening: fuzzed parsers fail only with our clear errors; kill -9 and resume gives identical outputs."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from _tiny import make_tiny_bert
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optical_rerank.data.bitext import read_bitext
from optical_rerank.errors import InputFormatError, OpticalRerankError
from optical_rerank.first_stage import is_complete_index
from optical_rerank.rerank import CrossEncoderReranker, RerankConfig
from optical_rerank.trec_io import read_corpus, read_qrels, read_run, read_topics
from optical_rerank.types import Hit, Query

PARSERS = [read_topics, read_qrels, read_run, lambda p: list(read_corpus(p)), read_bitext]
_lines = st.lists(st.one_of(
    st.binary(max_size=40),
    st.text(max_size=40).map(lambda s: s.encode("utf-8", "ignore")),
    st.sampled_from([b"q1\tx", b"q1 Q0 d 1 1.0 t", b"q1 0 d 1", b'{"id": "a", "contents": "b"}', b"a\tb\tc",
                     b"\xef\xbb\xbf", b"\r", b"\t", b"nan", b"q1 Q0 d 1 inf t", b'{"id": 1}', b"[]"]),
), max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=_lines, parser=st.sampled_from(range(len(PARSERS))))
def test_fuzzed_inputs_raise_only_clear_errors(tmp_path, lines, parser):
    p = tmp_path / "fuzz.txt"
    p.write_bytes(b"\n".join(lines))
    try:
        PARSERS[parser](p)
    except InputFormatError as exc:
        assert str(exc).startswith(str(p)), exc  # names the file (and the line where there is one)
    except OpticalRerankError:  # pragma: no cover - any of our own errors is acceptable
        pass


def _tiny_pipeline_files(tmp_path: Path, n_queries: int = 40):
    model = make_tiny_bert(tmp_path / "tiny")
    words = ["cat", "dog", "park", "river", "stock", "market", "rain", "sun", "city", "music"]
    docs = [{"id": f"d{i}", "contents": " ".join(words[(i * 7 + j) % 10] for j in range(12 + i % 5))}
            for i in range(60)]
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in docs))
    topics = tmp_path / "t.tsv"
    topics.write_text("".join(f"q{i}\t{words[i % 10]} {words[(i * 3) % 10]}\n" for i in range(n_queries)))
    return model, corpus, topics


def _run_cmd(model, corpus, topics, index, out):
    return [sys.executable, "-m", "optical_rerank.run", "--topics", str(topics), "--index", str(index), "--corpus",
            str(corpus), "--model", str(model), "--depth", "20", "--max-length", "48", "--batch-size", "4",
            "--output", str(out), "--threads", "1", "--backend", "torch"]


def test_kill_9_during_reranking_then_resume_equals_uninterrupted(tmp_path):
    model, corpus, topics = _tiny_pipeline_files(tmp_path)
    ref = tmp_path / "ref.txt"
    subprocess.run(_run_cmd(model, corpus, topics, tmp_path / "idx", ref), check=True, capture_output=True)
    out = tmp_path / "killed.txt"
    proc = subprocess.Popen(_run_cmd(model, corpus, topics, tmp_path / "idx", out), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    done = Path(str(out) + ".partial.done")
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if done.is_file() and done.read_text().count("\n") >= 5:  # header + a few finished queries
            break
        time.sleep(0.05)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert not out.exists(), "the final run must only appear when complete"
    subprocess.run(_run_cmd(model, corpus, topics, tmp_path / "idx", out), check=True, capture_output=True)
    assert out.read_bytes() == ref.read_bytes()
    assert not Path(str(out) + ".partial").exists()


def test_kill_9_during_index_build_leaves_no_fake_index(tmp_path):
    docs = [{"id": f"d{i}", "contents": f"document number {i} " * 30} for i in range(8000)]
    corpus = tmp_path / "big.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in docs))
    index = tmp_path / "idx"
    cmd = [sys.executable, "-m", "optical_rerank.index", "--input", str(corpus), "--index", str(index)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if any(p.name.startswith(".idx.tmp-") and any(p.iterdir()) for p in tmp_path.iterdir() if p.is_dir()):
            break
        time.sleep(0.05)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert not is_complete_index(index)
    subprocess.run(cmd, check=True, capture_output=True)
    assert is_complete_index(index)
    meta = json.loads((index / "optical_rerank_index.json").read_text())
    assert meta["num_docs"] == 8000


def test_same_seed_and_config_give_byte_identical_runs(tmp_path):
    model, corpus, topics = _tiny_pipeline_files(tmp_path, n_queries=6)
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    for out in (a, b):
        subprocess.run(_run_cmd(model, corpus, topics, tmp_path / "idx", out), check=True, capture_output=True)
    assert a.read_bytes() == b.read_bytes()
    meta = json.loads(Path(str(a) + ".pipeline.json").read_text())
    assert meta["environment"]["torch"] and meta["environment"]["pyserini"] == "1.6.0"


def test_extremely_long_query_and_document_are_truncated_not_fatal(tmp_path, caplog):
    model = make_tiny_bert(tmp_path / "tiny")
    rr = CrossEncoderReranker(model, RerankConfig(model=str(model), max_length=32, batch_size=2,
                                                  query_template="{text}", passage_template="{text}"))
    long_q = Query("q", "cat " * 5000)
    hits = [Hit("q", "d1", 2.0, 1, "dog " * 20000), Hit("q", "d2", 1.0, 2, "cat park")]
    with caplog.at_level("WARNING"):
        out = rr.rerank([long_q], {"q": hits})
    assert [h.rank for h in out["q"]] == [1, 2]
    assert any("query" in r.message.lower() for r in caplog.records)

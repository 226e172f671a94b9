"""Tests of ``optical_rerank.bench rerank`` (and the reranker's fast CPU path) on a tiny random BERT."""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from _tiny import make_tiny_bert

from optical_rerank.bench import BenchResult, benchmark_rerank, build_parser, format_report, load_query_set, main
from optical_rerank.bench._rerank import add_arguments, flops_per_pair, matmul_peak
from optical_rerank.rerank import CrossEncoderReranker, RerankConfig, _fast_cpu

WORDS = ("the city of berlin is the capital and the river runs by paris people live in the school with music "
         "water food and a document about what the query asks how it was for this passage").split()
PLAIN = ("{text}", "{text}")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("models") / "tiny", seed=3, hidden_size=32, num_layers=2,
                          max_length=128)


@pytest.fixture(scope="module")
def headless(tiny: Path, tmp_path_factory) -> Path:
    """The tiny model's encoder alone (a backbone with no pooler/classifier, like e5)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = tmp_path_factory.mktemp("models") / "backbone"
    model = AutoModelForSequenceClassification.from_pretrained(str(tiny), local_files_only=True)
    model.bert.save_pretrained(str(out), safe_serialization=True)
    AutoTokenizer.from_pretrained(str(tiny), local_files_only=True).save_pretrained(str(out))
    return out


def _text(rng: np.random.Generator, n: int) -> str:
    return " ".join(rng.choice(WORDS, size=n))


@pytest.fixture(scope="module")
def query_set_dir(tmp_path_factory) -> Path:
    """A prepared-set layout (card.json + topics, qrels, BM25-like run, corpus) with 3 queries x 6 candidates."""
    root = tmp_path_factory.mktemp("set")
    rng = np.random.default_rng(0)
    for sub in ("topics", "qrels", "runs", "corpus"):
        (root / sub).mkdir()
    topics, qrels, run, corpus = [], [], [], []
    for qi in range(3):
        qid = f"q{qi}"
        topics.append(f"{qid}\t{_text(rng, 4)}\n")
        for k in range(6):
            docid = f"d{qi}_{k}"
            run.append(f"{qid} Q0 {docid} {k + 1} {10 - k:.4f} bm25\n")
            corpus.append(json.dumps({"id": docid, "contents": _text(rng, int(rng.integers(3, 40)))}) + "\n")
            qrels.append(f"{qid} 0 {docid} {int(rng.integers(0, 4))}\n")
    (root / "topics" / "t.tsv").write_text("".join(topics))
    (root / "qrels" / "t.qrels").write_text("".join(qrels))
    (root / "runs" / "t.bm25.trec").write_text("".join(run))
    (root / "corpus" / "corpus.jsonl").write_text("".join(corpus))
    card = {"name": "tiny-set", "outputs": {
        "topics": {"t": {"path": "topics/t.tsv"}}, "qrels": {"t": {"path": "qrels/t.qrels"}},
        "runs": {"t.bm25": {"path": "runs/t.bm25.trec"}}, "corpora": {"p": {"path": "corpus/corpus.jsonl"}}}}
    (root / "card.json").write_text(json.dumps(card))
    return root


def test_load_query_set(query_set_dir):
    qs = load_query_set(query_set_dir, 2, 4)
    assert qs.name == "tiny-set" and [q.qid for q in qs.queries] == ["q0", "q1"] and qs.depth == 4
    queries, passages, where = qs.pairs()
    assert len(queries) == len(passages) == len(where) == 8
    assert where[:4] == [("q0", 0), ("q0", 1), ("q0", 2), ("q0", 3)]
    assert all(h.text for h in qs.candidates["q0"][:4])
    assert set(qs.qrels) == {"q0", "q1"}


def test_benchmark_rerank_fields(tiny, query_set_dir):
    qs = load_query_set(query_set_dir, 3, 5)
    ours = [("torch", "fp32"), ("torch", "int8"), ("onnx", "int8")]
    # the worker protocol, run here with this venv's sentence-transformers in torch (the side venv runs onnx-int8)
    r = benchmark_rerank(qs, str(tiny), max_length=128, batch_size=4, repeats=2, threads=1, templates=PLAIN,
                         ours=ours, st_python=sys.executable, st_modes=("torch-fp32",))
    assert isinstance(r, BenchResult)
    assert r.trained_head and r.n_pairs == 15 and r.n_queries == 3 and r.depth == 5 and r.threads == 1
    assert r.n_tokens > 15 and r.max_tokens <= 128 and r.n_over_length == 0
    keys = {"st-torch-fp32", "st-torch-fp32-worker", "ours-torch-fp32", "ours-torch-int8", "ours-onnx-int8"}
    assert set(r.scorers) == set(r.seconds) == keys and all(len(v) == 2 for v in r.seconds.values())
    assert all(r.pairs_per_s[k] > 0 for k in keys)
    assert r.ratio("ours-onnx-int8", "st-torch-fp32") == pytest.approx(
        r.pairs_per_s["ours-onnx-int8"] / r.pairs_per_s["st-torch-fp32"])
    assert math.isnan(r.ratio("ours-onnx-int8", "st-onnx-int8"))  # not run here
    assert r.max_abs_diff["ours-torch-fp32"] <= 1e-4  # the reference equals sentence-transformers
    assert r.max_abs_diff["st-torch-fp32-worker"] <= 1e-4  # the worker scores what ST scores in-process
    assert 0 < r.max_abs_diff["ours-onnx-int8"] < 1.0
    assert set(r.ndcg10) == keys | {"bm25"} and all(0.0 <= v <= 1.0 for v in r.ndcg10.values())
    assert r.ndcg_diff("st-torch-fp32") == pytest.approx(0.0, abs=1e-9)  # identical scores rank identically
    assert r.fast_path and r.precision["ours-onnx-int8"] == "int8"
    assert r.peak_gflops["fp32"] > 0 and r.flops_per_pair > 0
    assert r.roofline("ours-torch-fp32") == pytest.approx(r.gflops("ours-torch-fp32") / r.peak_gflops["fp32"])
    text = format_report(r)
    for needle in ("ours-onnx-int8", "roofline", "target >= 3x", "load average", "not measured (skipped)"):
        assert needle in text


def test_flops_per_pair_counts_linear_and_attention():
    from types import SimpleNamespace

    cfg = SimpleNamespace(hidden_size=4, intermediate_size=8, num_hidden_layers=2, num_labels=1)
    # per layer, n=3 tokens: 3 * (4*16 + 2*4*8) + 2*9*4 = 3*128 + 72 = 456 MACs; x2 layers + head 16 + 4
    assert flops_per_pair(cfg, [3]) == 2 * (2 * 456 + 20)
    assert flops_per_pair(cfg, [3, 3]) == flops_per_pair(cfg, [3])
    assert matmul_peak("fp32", 1, seconds=0.05, size=64) > 0


def test_benchmark_headless_backbone_gets_seeded_head(headless, query_set_dir):
    qs = load_query_set(query_set_dir, 2, 3)
    r = benchmark_rerank(qs, str(headless), max_length=64, batch_size=8, repeats=1, threads=1,
                         templates=PLAIN, ours=[("torch", "fp32")])
    assert not r.trained_head
    assert r.max_abs_diff["ours-torch-fp32"] <= 1e-4
    assert "st-onnx-int8" in r.skipped and "setup_st_onnx.sh" in r.skipped["st-onnx-int8"]
    assert "head is untrained" in format_report(r)


def test_fast_path_matches_model_forward(tiny, monkeypatch):
    """The reranker's fast CPU forward scores as the Hugging Face forward (windows, padding, int8 built)."""
    rng = np.random.default_rng(1)
    queries = [_text(rng, int(rng.integers(1, 6))) for _ in range(20)]
    passages = [_text(rng, int(rng.integers(1, 90))) for _ in range(20)]  # some need several windows
    cfg = RerankConfig(model=str(tiny), max_length=48, batch_size=6, stride=8, query_template="{text}",
                       passage_template="{text}", device="cpu")
    fast = CrossEncoderReranker(str(tiny), cfg)
    assert fast._fast is not None
    monkeypatch.setenv("OPTICAL_RERANK_FAST_PATH", "0")
    slow = CrossEncoderReranker(str(tiny), cfg)
    assert slow._fast is None
    np.testing.assert_allclose(fast.score_pairs(queries, passages), slow.score_pairs(queries, passages),
                               rtol=0, atol=1e-5)
    monkeypatch.delenv("OPTICAL_RERANK_FAST_PATH")
    q8 = CrossEncoderReranker(str(tiny), RerankConfig(**{**cfg.to_dict(), "quantize": "int8"}))
    assert q8._fast is not None
    s8 = q8.score_pairs(queries, passages)
    assert s8.shape == (20,) and np.isfinite(s8).all()


@pytest.mark.parametrize("layout", ["left", "none", "right-little", "right-much"])
def test_fast_path_padding_layouts(tiny, layout):
    """Packed (much right padding) and padded (little or left padding) code paths both follow the model.

    Position 0 is what the head reads, whatever the padding side.
    """
    r = CrossEncoderReranker(str(tiny), RerankConfig(model=str(tiny), max_length=128, device="cpu"))
    gen = torch.Generator().manual_seed(0)
    B, L = 4, 30
    ids = torch.randint(5, 60, (B, L), generator=gen)
    pos = torch.arange(L)[None]
    if layout == "left":
        mask = pos >= torch.tensor([[0], [3], [9], [20]])
    elif layout == "none":
        mask = torch.ones(B, L, dtype=torch.bool)
    elif layout == "right-little":
        mask = pos < torch.tensor([[30], [30], [30], [29]])  # fill 119/120 >= 0.95: padded path
    else:
        mask = pos < torch.tensor([[30], [17], [5], [1]])
    types = (pos >= 10).long().expand(B, L)
    with torch.inference_mode():
        ref = r.model(input_ids=ids, attention_mask=mask.long(), token_type_ids=types).logits
        got = r._fast(ids, mask.long(), types)
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-5)


def test_cli_writes_report_with_command(tiny, query_set_dir, tmp_path, capsys):
    out = tmp_path / "bench" / "rerank.txt"
    threads_before = torch.get_num_threads()
    argv = ["rerank", "--model", str(tiny), "--data", str(query_set_dir), "--queries", "2", "--depth", "3", "--repeats", "1",
            "--max-length", "64", "--batch-size", "4", "--threads", "1,1", "--query-template", "{text}",
            "--passage-template", "{text}", "--ours", "torch:fp32", "--st-python", "/nonexistent/python", "--quiet",
            "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    lines = out.read_text(encoding="utf-8").splitlines()
    assert "-m optical_rerank.bench rerank" in lines[0] and "--queries 2" in lines[0]
    assert "\n".join(lines[1:]) + "\n" == printed
    assert printed.startswith("Rerank benchmark") and printed.count("Rerank benchmark") == 2
    assert "threads=1" in printed and torch.get_num_threads() == threads_before


def test_add_arguments_leaves_out_to_the_caller():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    parser.add_argument("--out", type=Path)  # what optical_rerank.bench adds to every subcommand
    args = parser.parse_args(["--queries", "5", "--out", "x.txt"])
    assert args.queries == 5 and args.depth == 10 and args.model == "teacher-e5-lora"
    assert args.threads is None
    assert build_parser().parse_args(["rerank"]).out is None
    assert build_parser().parse_args(["rerank", "--threads", "2,1"]).threads == [2, 1]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["rerank", "--threads", "0"])
    assert build_parser().parse_args(["rerank", "--ours", "onnx:int8"]).ours == [("torch", "fp32"), ("onnx", "int8")]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["rerank", "--ours", "onnx:fp16"])


def test_fast_path_dropped_when_self_check_fails(tiny, monkeypatch):
    monkeypatch.setattr(_fast_cpu, "_FAST_CHECK_TOL", -1.0)
    r = CrossEncoderReranker(str(tiny), RerankConfig(model=str(tiny), max_length=128, device="cpu"))
    assert r._fast is None
    assert np.isfinite(r.score_pairs(["the city"], ["berlin is the capital"])).all()

"""The bi-encoder fusion of the cross-encoder reranker (``score + weight * scale * cos``), on tiny random
models (offline, CPU): off by default and then byte-identical to a run without it, equal to the two
rerankers' scores combined, resolved explicit > card > default, part of the resume identity, and on
the command line (``--fusion-weight``, ``--fusion-biencoder``)."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from _tiny import DEFAULT_TINY_VOCAB, make_tiny_bert

from optical_rerank import run as run_cli
from optical_rerank.errors import ConfigError, InputFormatError
from optical_rerank.rerank import (
    DEFAULT_FUSION_BIENCODER,
    DEFAULT_FUSION_SCALE,
    BiEncoderReranker,
    CrossEncoderReranker,
    RerankConfig,
    config_sidecar_path,
    fusion_for,
    model_card,
    partial_paths,
    read_run_sidecar,
    rerank_to_file,
)
from optical_rerank.rerank._base import _assign_scores, _first_stage_order
from optical_rerank.trec_io import read_run
from optical_rerank.types import Hit, Query

BASE = dict(max_length=32, batch_size=4, stride=4, device="cpu", threads=1, depth=4)
WORDS = list(DEFAULT_TINY_VOCAB)


class Boom(RuntimeError):
    pass


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """``(cross-encoder dir, bi-encoder dir)``: two tiny random BERTs; the bi-encoder's card sets 64 tokens."""
    d = tmp_path_factory.mktemp("fusion")
    ce = make_tiny_bert(d / "ce", seed=0)
    bi = make_tiny_bert(d / "tiny-e5", seed=1)  # an "e5" name: E5's templates, as for e5-small-multilingual
    (bi / "teacher_config.json").write_text(json.dumps({"max_length": 64}), encoding="utf-8")
    return ce, bi


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


@pytest.fixture(scope="module")
def collection():
    """5 queries (q3 without candidates), 6 candidates each, some longer than one 32-token window."""
    rng = random.Random(3)
    queries = [Query(f"q{i}", _text(rng, 2 + i % 3)) for i in range(5)]
    cands = {q.qid: [Hit(q.qid, f"d{i}{j}", 10.0 - j, j + 1, _text(rng, rng.choice([3, 9, 30, 50])))
                     for j in range(6)] for i, q in enumerate(queries) if q.qid != "q3"}
    return queries, cands


def _cfg(model, **kw) -> RerankConfig:
    return RerankConfig(model=str(model), **{**BASE, **kw})


@pytest.fixture(scope="module")
def fused(models):
    ce, bi = models
    return CrossEncoderReranker(None, _cfg(ce, fusion_weight=0.5, fusion_biencoder=str(bi)))


# --------------------------------------------------------------------------- off: as before
def test_weight_zero_loads_no_biencoder_and_writes_the_same_bytes(models, collection, tmp_path):
    ce, _ = models
    queries, cands = collection
    plain = _cfg(ce)
    assert (plain.fusion_weight, plain.fusion_scale, plain.fusion_biencoder) == (0.0, None, None)
    off = _cfg(ce, fusion_weight=0, fusion_biencoder="no-such-model")  # 0: nothing is loaded
    assert off == plain and off.identity() == plain.identity()
    assert not any(k.startswith("fusion") for k in plain.identity())  # the identity of a run before fusion
    assert CrossEncoderReranker(None, off).biencoder is None
    a = rerank_to_file(queries, cands, tmp_path / "a.trec", plain, "tiny")
    b = rerank_to_file(queries, cands, tmp_path / "b.trec", off, "tiny")
    assert a.read_bytes() == b.read_bytes()
    assert config_sidecar_path(a).read_bytes() == config_sidecar_path(b).read_bytes()
    assert RerankConfig.load(config_sidecar_path(a)) == plain
    side = read_run_sidecar(a)
    assert not any(k.startswith("fusion") for k in side["config"])


# --------------------------------------------------------------------------- on: ce + w * scale * cos
def test_fused_score_is_ce_plus_weight_scale_cos(models, collection, fused):
    ce, bi = models
    queries, cands = collection
    assert isinstance(fused.biencoder, BiEncoderReranker) and fused.biencoder.config.max_length == 64
    assert (fused.config.fusion_weight, fused.config.fusion_scale) == (0.5, DEFAULT_FUSION_SCALE)
    alone = CrossEncoderReranker(None, _cfg(ce))
    cosine = BiEncoderReranker(None, RerankConfig(model=str(bi), batch_size=4, device="cpu"))
    out = fused.rerank(queries, cands)
    for q in queries:
        first = _first_stage_order(q.qid, cands.get(q.qid, ()))
        head, tail = first[:4], first[4:]
        if not head:
            assert out[q.qid] == []
            continue
        qs, ps = [q.text] * len(head), [h.text for h in head]
        s_ce = alone.score_pairs(qs, ps).astype(np.float64)
        cos = cosine.score_pairs(qs, ps).astype(np.float64)
        expected = s_ce + 0.5 * 100.0 * cos
        got = fused.score_pairs(qs, ps)
        assert got.dtype == np.float64 and np.array_equal(got, expected)
        assert out[q.qid] == _assign_scores(q.qid, head, expected, tail)
    # the interpolation changes the ranking of this random pair of models somewhere
    assert out != alone.rerank(queries, cands)
    # rank() scores with the fused score too
    q = queries[0]
    docs = [h.text for h in cands[q.qid]]
    ranked = fused.rank(q.text, docs)
    assert [r["score"] for r in ranked] == sorted(fused.score_pairs([q.text] * len(docs), docs).tolist(), reverse=True)


def test_a_card_scale_and_biencoder_are_used(models, collection, tmp_path):
    ce, bi = models
    queries, cands = collection
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    for f in Path(ce).iterdir():
        (teacher / f.name).write_bytes(f.read_bytes())
    (teacher / "teacher_config.json").write_text(json.dumps(
        {"fusion": {"weight": 0.25, "scale": 10, "biencoder": str(bi)}}), encoding="utf-8")
    rr = CrossEncoderReranker(None, _cfg(teacher))
    assert (rr.config.fusion_weight, rr.config.fusion_scale, rr.config.fusion_biencoder) == (0.25, 10.0, str(bi))
    q = queries[1]
    qs, ps = [q.text] * 6, [h.text for h in cands[q.qid]]
    s_ce = CrossEncoderReranker(None, _cfg(teacher, fusion_weight=0)).score_pairs(qs, ps).astype(np.float64)
    cos = BiEncoderReranker(None, RerankConfig(model=str(bi), batch_size=4, device="cpu")).score_pairs(qs, ps)
    assert np.array_equal(rr.score_pairs(qs, ps), s_ce + 0.25 * 10.0 * cos.astype(np.float64))


# --------------------------------------------------------------------------- resolution
def test_explicit_then_card_then_default(models, tmp_path):
    ce, bi = models
    assert fusion_for(None) == fusion_for(ce) == (0.0, None, None)
    assert fusion_for(ce, 1) == (1.0, DEFAULT_FUSION_SCALE, DEFAULT_FUSION_BIENCODER)
    assert fusion_for(ce, 1.5, str(bi), 7) == (1.5, 7.0, str(bi))

    card = tmp_path / "card"
    card.mkdir()
    (card / "teacher_config.json").write_text(json.dumps({"fusion": {"weight": 2.0, "scale": 50.0}}))
    assert model_card(card).fusion_weight == 2.0 and model_card(card).fusion_biencoder is None
    assert fusion_for(card) == (2.0, 50.0, DEFAULT_FUSION_BIENCODER)  # card, biencoder by default
    assert fusion_for(card, 0.5) == (0.5, 50.0, DEFAULT_FUSION_BIENCODER)  # explicit weight, card scale
    assert fusion_for(card, None, str(bi)) == (2.0, 50.0, str(bi))
    assert fusion_for(card, 0) == (0.0, None, None)

    cfg = RerankConfig(model=str(card))
    assert (cfg.fusion_weight, cfg.fusion_scale, cfg.fusion_biencoder) == (2.0, 50.0, DEFAULT_FUSION_BIENCODER)
    assert RerankConfig.from_json(cfg.to_json()) == cfg
    assert RerankConfig.from_dict(cfg.identity()) == cfg
    off = RerankConfig(model=str(card), fusion_weight=0)
    assert off.identity()["fusion_weight"] == 0.0  # recorded: the card alone would fuse
    assert RerankConfig.from_dict(off.identity()) == off and off.fingerprint() != cfg.fingerprint()
    assert RerankConfig(model=str(card), fusion_weight=2).fingerprint() == cfg.fingerprint()  # 2 == 2.0

    # a distill card carries no fusion; a card's fusion only from teacher_config.json
    student = tmp_path / "student"
    student.mkdir()
    (student / "distill_config.json").write_text(json.dumps({"fusion": {"weight": 1.0}}))
    assert fusion_for(student) == (0.0, None, None)

    # the shipped teacher's card
    shipped = model_card("teacher-e5-lora")
    assert (shipped.fusion_weight, shipped.fusion_scale) == (2.0, 100.0)
    assert fusion_for("teacher-e5-lora") == (2.0, 100.0, "e5-small-multilingual")

    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ConfigError, match="fusion_weight must be a finite number >= 0"):
            RerankConfig(model=str(ce), fusion_weight=bad)
    for bad in ("2", True):
        with pytest.raises(ConfigError, match="fusion_weight must be a number"):
            RerankConfig(model=str(ce), fusion_weight=bad)
    with pytest.raises(ConfigError, match="fusion_scale"):
        RerankConfig(model=str(ce), fusion_weight=1, fusion_scale=0)
    with pytest.raises(ConfigError, match="fusion_biencoder"):
        RerankConfig(model=str(ce), fusion_weight=1, fusion_biencoder="")
    (card / "teacher_config.json").write_text(json.dumps({"fusion": {"weight": -2.0}}))
    with pytest.raises(ConfigError, match="fusion_weight must be a finite number >= 0, got -2.0 \\(from"):
        RerankConfig(model=str(card))
    assert RerankConfig(model=str(card), fusion_weight=1).fusion_weight == 1.0  # an explicit value wins
    (card / "teacher_config.json").write_text(json.dumps({"fusion": {"scale": 100}}))
    with pytest.raises(InputFormatError, match='"fusion" must be'):
        fusion_for(card)
    with pytest.raises(ConfigError, match="fusion is a cross-encoder option"):
        BiEncoderReranker(None, RerankConfig(model=str(bi), fusion_weight=1))


# --------------------------------------------------------------------------- resume identity
def test_resume_refuses_another_fusion_and_resumes_the_same(models, collection, fused, tmp_path):
    ce, bi = models
    queries, cands = collection
    reference = rerank_to_file(queries, cands, tmp_path / "ref.trec", fused.config, "fused", reranker=fused)
    side = read_run_sidecar(reference)
    assert {k: side["config"][k] for k in ("fusion_weight", "fusion_scale", "fusion_biencoder")} == \
        {"fusion_weight": 0.5, "fusion_scale": 100.0, "fusion_biencoder": str(bi)}
    assert RerankConfig.load(config_sidecar_path(reference)) == fused.config

    out = tmp_path / "run.trec"
    real, calls = fused.score_pairs, []

    def crash_after_two(qs, ps, show_progress=None):
        if len(calls) >= 2:
            raise Boom("simulated crash")
        calls.append(1)
        return real(qs, ps, show_progress)

    fused.score_pairs = crash_after_two
    try:
        with pytest.raises(Boom):
            rerank_to_file(queries, cands, out, fused.config, "fused", reranker=fused)
    finally:
        del fused.score_pairs
    partial, done = partial_paths(out)
    assert len(done.read_text().splitlines()) == 1 + 2
    header = json.loads(done.read_text().splitlines()[0])
    assert header["config"]["fusion_weight"] == 0.5 and "biencoder_weights_sha256" in header
    for other in (_cfg(ce, fusion_weight=1.0, fusion_biencoder=str(bi)), _cfg(ce)):
        with pytest.raises(ConfigError, match="fusion_weight"):
            rerank_to_file(queries, cands, out, other, "fused")
    rerank_to_file(queries, cands, out, fused.config, "fused", reranker=fused)
    assert out.read_bytes() == reference.read_bytes()
    assert config_sidecar_path(out).read_bytes() == config_sidecar_path(reference).read_bytes()
    assert not partial.exists() and not done.exists()


# --------------------------------------------------------------------------- command line
def test_cli_fusion_weight_and_biencoder(models, collection, tmp_path):
    ce, bi = models
    queries, cands = collection
    topics = tmp_path / "topics.tsv"
    topics.write_text("".join(f"{q.qid}\t{q.text}\n" for q in queries if q.qid in cands), encoding="utf-8")
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": h.docid, "contents": h.text}) + "\n"
                              for hits in cands.values() for h in hits), encoding="utf-8")
    first = tmp_path / "first.txt"
    first.write_text("".join(f"{h.qid} Q0 {h.docid} {h.rank} {h.score} bm25\n"
                             for hits in cands.values() for h in hits))
    common = ["--topics", str(topics), "--candidates", str(first), "--corpus", str(corpus), "--model", str(ce),
              "--depth", "4", "--max-length", "32", "--batch-size", "4", "--device", "cpu", "--threads", "1",
              "--quiet", "--tag", "t", "--backend", "torch"]

    def run(name, *extra):
        out = tmp_path / name
        assert run_cli.main([*common, "--output", str(out), *extra]) == 0
        return out

    on = run("on.trec", "--fusion-weight", "0.5", "--fusion-biencoder", str(bi))
    cfg = _cfg(ce, stride=64, fusion_weight=0.5, fusion_biencoder=str(bi))  # the command line's default stride
    assert RerankConfig.load(config_sidecar_path(on)) == cfg
    api = CrossEncoderReranker(None, cfg).rerank([q for q in queries if q.qid in cands], cands)
    assert {q: [(h.docid, h.score, h.rank) for h in hits] for q, hits in read_run(on).items()} == \
        {q: [(h.docid, h.score, h.rank) for h in hits] for q, hits in api.items()}
    assert read_run_sidecar(on)["config"]["fusion_weight"] == 0.5
    pipeline = json.loads(Path(f"{on}.pipeline.json").read_text())["config"]["rerank"]
    assert (pipeline["fusion_weight"], pipeline["fusion_scale"], pipeline["fusion_biencoder"]) == (0.5, 100.0, str(bi))

    plain, zero = run("plain.trec"), run("zero.trec", "--fusion-weight", "0")
    assert plain.read_bytes() == zero.read_bytes() != on.read_bytes()
    assert config_sidecar_path(plain).read_bytes() == config_sidecar_path(zero).read_bytes()
    assert "fusion_weight" not in json.loads(Path(f"{plain}.pipeline.json").read_text())["config"]["rerank"]

    with pytest.raises(ConfigError, match="--fusion-weight must be >= 0"):
        run("bad.trec", "--fusion-weight", "-1")
    with pytest.raises(ConfigError, match="--fusion-weight must be a finite number"):
        run("bad.trec", "--fusion-weight", "nan")
    with pytest.raises(ConfigError, match="add --model"):
        run_cli.main(["--topics", str(topics), "--candidates", str(first), "--corpus", str(corpus),
                      "--output", str(tmp_path / "bm25.txt"), "--fusion-weight", "1"])
    assert "--fusion-weight" in run_cli.build_parser().format_help()


# --------------------------------------------------------------------------- shipped models
def test_the_merged_shipped_dir_carries_the_cards_fusion(models, tmp_path, monkeypatch):
    """The merged directory's teacher_config.json holds the card's fusion; a stamp without it is rebuilt."""
    import shutil

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from optical_rerank.models import SHIPPED_ROOT, _shipped, shipped_model_dir

    ce, _ = models
    copy = tmp_path / "teacher-e5-lora"
    shutil.copytree(SHIPPED_ROOT / "teacher-e5-lora", copy)
    card = json.loads((copy / "card.json").read_text(encoding="utf-8"))
    builds = []

    class Merged:  # the tiny model stands in for the merged e5 backbone
        def merge_and_unload(self):
            return AutoModelForSequenceClassification.from_pretrained(str(ce))

    def fake_load(card_, adapter, backbone=None):
        builds.append(adapter)
        return AutoTokenizer.from_pretrained(str(ce)), Merged()

    monkeypatch.setattr(_shipped, "load_lora_model", fake_load)
    out = shipped_model_dir(copy)
    stamp = json.loads((out / "teacher_config.json").read_text(encoding="utf-8"))
    assert stamp["fusion"] == card["fusion"] and len(builds) == 1
    assert fusion_for(out) == (card["fusion"]["weight"], card["fusion"]["scale"], DEFAULT_FUSION_BIENCODER)
    assert shipped_model_dir(copy) == out and len(builds) == 1  # reused

    del stamp["fusion"]  # a directory merged before the card had a fusion
    (out / "teacher_config.json").write_text(json.dumps(stamp), encoding="utf-8")
    assert shipped_model_dir(copy) == out and len(builds) == 2  # rebuilt
    assert json.loads((out / "teacher_config.json").read_text(encoding="utf-8"))["fusion"] == card["fusion"]

    del card["fusion"]  # a card without fusion: none in the directory either
    (copy / "card.json").write_text(json.dumps(card), encoding="utf-8")
    assert shipped_model_dir(copy) == out and len(builds) == 3
    assert "fusion" not in json.loads((out / "teacher_config.json").read_text(encoding="utf-8"))
    assert fusion_for(out) == (0.0, None, None)
    assert shipped_model_dir(copy) == out and len(builds) == 3

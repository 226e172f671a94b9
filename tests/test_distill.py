"""Tests of optical_rerank.distill on a tiny random BERT (offline, CPU, a few seconds per test)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import optical_rerank.distill._trainer as trainer_mod
from optical_rerank.distill import (
    LOSSES,
    METHODS,
    DistillConfig,
    LangPair,
    build_idf_table,
    build_parser,
    config_from_args,
    distill,
    encode_segments,
    english_anchor_loss,
    get_loss,
    load_teacher_and_student,
    main,
    mean_token_cosine,
    mse_distill_loss,
    ot_distill_loss,
    read_bitext_files,
    read_passages,
    resolve_layers,
    segment_states,
)
from optical_rerank.distill._data import Sampler
from optical_rerank.errors import ConfigError, InputFormatError, NumericalError
from optical_rerank.rerank import CrossEncoderReranker, RerankConfig
from _tiny import make_tiny_bert

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]

# "foreign" words are a fixed word-by-word mapping of English words: learnable by the student
EN = "red blue green cat dog bird runs eats sleeps big small fast slow house tree water".split()
XX = "rojo azul verde gato perro pajaro corre come duerme grande chico rapido lento casa arbol agua".split()
TO_XX = dict(zip(EN, XX))


def _sentences(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        s = " ".join(rng.choice(EN) for _ in range(rng.randint(3, 6)))
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def _pairs(sentences: list[str], lang: str = "xx") -> list[LangPair]:
    return [LangPair(" ".join(TO_XX[w] for w in s.split()), s, "toy", lang) for s in sentences]


@pytest.fixture(scope="module")
def toy() -> dict:
    sents = _sentences(80, seed=1)
    return {"train": _pairs(sents[:64]), "dev": _pairs(sents[64:])}


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("teacher") / "tiny", vocab=EN + XX + ["query", "passage"],
                          seed=3, hidden_size=32, num_layers=2)


def _cfg(teacher_dir: Path, out: Path, **kw) -> DistillConfig:
    base = {"teacher": str(teacher_dir), "output": str(out), "layers": (1, 2), "batch_size": 8, "lr": 3e-3,
            "steps": 30, "warmup": 2, "max_iter": 50, "save_every": 0, "eval_every": 0, "log_every": 1,
            "show_progress": False, "device": "cpu", "max_length": 32, "freeze_embeddings": False}
    base.update(kw)
    base["warmup"] = min(base["warmup"], base["steps"]) if base["warmup"] is not None else None
    return DistillConfig(**base)


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- config and layers
def test_config_json_roundtrip_and_validation(tmp_path):
    cfg = DistillConfig(teacher="t", output="o", layers=[4, "last", "-2"], unbalanced_tau=1, eval_topics=["a.tsv"])
    assert cfg.layers == (4, "last", -2) and cfg.unbalanced_tau == 1.0 and cfg.eval_topics == ("a.tsv",)
    assert DistillConfig.from_json(cfg.to_json()) == cfg
    cfg.save(tmp_path / "c.json")
    assert DistillConfig.load(tmp_path / "c.json") == cfg
    with pytest.raises(ConfigError, match="in_context"):
        DistillConfig(teacher="t", output="o", score_weight=1.0)
    with pytest.raises(ConfigError, match="method"):
        DistillConfig(teacher="t", output="o", method="kl")
    with pytest.raises(ConfigError, match="unknown field"):
        DistillConfig.from_dict({"teacher": "t", "output": "o", "epsilon": 1})
    with pytest.raises(ConfigError, match="layer"):
        DistillConfig(teacher="t", output="o", layers=("first",))


def test_resolve_layers():
    assert resolve_layers((4, 8, 12), 2) == (2,)
    assert resolve_layers((4, 8, 12), 12) == (4, 8, 12)
    assert resolve_layers(("last", -1, 0), 6) == (0, 6)
    assert resolve_layers((-2, -7), 6) == (0, 5)
    with pytest.raises(ConfigError, match="only 6 layers"):
        resolve_layers((-8,), 6)


# --------------------------------------------------------------------------- segments
def _tokens(tok, batch, row: int) -> list[str]:
    ids = batch.inputs["input_ids"][row][batch.segment_mask[row]]
    return tok.convert_ids_to_tokens(ids.tolist())


def test_segment_mask_query_side_excludes_specials_template_and_passage(teacher_dir):
    tok, _, _, _ = load_teacher_and_student(str(teacher_dir))
    b = encode_segments(tok, ["red cat", "big dog runs"], ["the house", "water"], side="query",
                        query_template="query: {text}", passage_template="passage: {text}")
    toks = tok.convert_ids_to_tokens(b.inputs["input_ids"][0].tolist())
    # [CLS] query : red cat [SEP] passage : t ##h ##e house [SEP]
    assert toks[:6] == ["[CLS]", "query", ":", "red", "cat", "[SEP]"]
    assert b.segment_mask[0].nonzero().flatten().tolist() == [3, 4]
    assert b.segment_mask[1].nonzero().flatten().tolist() == [3, 4, 5]
    assert _tokens(tok, b, 1) == ["big", "dog", "runs"]
    assert b.positions.tolist() == [[3, 4, 0], [3, 4, 5]]
    assert b.mask.tolist() == [[True, True, False], [True, True, True]]
    assert b.token_ids[0, 2] == 0 and b.token_ids[1].tolist() == tok.convert_tokens_to_ids(["big", "dog", "runs"])
    # padding (row 1 is shorter) is never in the segment
    assert not (b.segment_mask & ~b.inputs["attention_mask"].bool()).any()


def test_segment_mask_document_side_and_no_context(teacher_dir):
    tok, _, _, _ = load_teacher_and_student(str(teacher_dir))
    b = encode_segments(tok, ["red cat"], ["big house"], side="document",
                        query_template="query: {text}", passage_template="passage: {text}")
    toks = tok.convert_ids_to_tokens(b.inputs["input_ids"][0].tolist())
    assert toks == ["[CLS]", "query", ":", "big", "house", "[SEP]", "passage", ":", "red", "cat", "[SEP]"]
    assert b.segment_mask[0].nonzero().flatten().tolist() == [8, 9]
    # the same sentence as the query segment (the context second) and alone
    b = encode_segments(tok, ["red cat"], ["big house"], side="query", query_template="{text}",
                        passage_template="{text}")
    assert b.segment_mask[0].nonzero().flatten().tolist() == [1, 2]
    b = encode_segments(tok, ["red cat"], None, side="document", query_template="query: {text}",
                        passage_template="passage: {text}")
    toks = tok.convert_ids_to_tokens(b.inputs["input_ids"][0].tolist())
    assert toks == ["[CLS]", "passage", ":", "red", "cat", "[SEP]"]
    assert b.segment_mask[0].nonzero().flatten().tolist() == [3, 4]


def test_segment_states_shapes(teacher_dir):
    tok, teacher, _, _ = load_teacher_and_student(str(teacher_dir))
    s = segment_states(teacher, tok, ["red cat", "big dog runs"], layers=(1, 12), query_template="{text}")
    assert s.layers == (1, 2) and len(s.states) == 2
    assert s.states[0].shape == (2, 3, 32) and s.mask.shape == (2, 3) and s.logits.shape == (2, 1)
    assert (s.states[1][0, 2] == 0).all()
    with torch.no_grad():
        full = teacher(**s.batch.inputs, output_hidden_states=True).hidden_states[2]
    torch.testing.assert_close(s.states[1][1], full[1, 1:4])


# --------------------------------------------------------------------------- losses
def test_losses_zero_for_identical_states_and_gradients(teacher_dir):
    cfg = DistillConfig(teacher="t", output="o", reg=0.05, max_iter=200, tol=1e-4)
    X = torch.randn(3, 5, 8)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.bool)
    loss, info = mse_distill_loss([X], [X.clone()], mask, mask)
    assert float(loss) == pytest.approx(0.0, abs=1e-10) and info["pairs"] == 3
    Xs = X.clone().requires_grad_(True)
    loss, info = ot_distill_loss([Xs, Xs], [X + 0.3 * torch.randn_like(X), X], mask, mask, cfg)
    assert len(info["per_layer"]) == 2 and info["per_layer"][0] > info["per_layer"][1] >= 0
    loss.backward()
    assert torch.isfinite(Xs.grad).all() and Xs.grad[0, 3:].abs().sum() == 0
    # a row with no tokens on one side is left out instead of producing NaN
    empty = mask.clone()
    empty[2] = False
    loss, info = ot_distill_loss([X], [X], empty, mask, cfg)
    assert info["pairs"] == 2 and torch.isfinite(loss)


def test_mean_token_cosine_detects_collapse_and_anchor_loss():
    torch.manual_seed(0)
    X = torch.randn(2, 6, 16)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    spread = mean_token_cosine(X, mask)
    collapsed = X.clone()
    collapsed[:] = X[:, :1] + 0.01 * torch.randn_like(X)  # every token ~ the first one
    assert abs(spread) < 0.3 and mean_token_cosine(collapsed, mask) > 0.99
    X[0, 4:] = 100.0  # padding never counts
    assert mean_token_cosine(X, mask) == pytest.approx(spread)
    # by hand: row 0 has 4 real tokens -> 12 ordered pairs, row 1 has 6 -> 30
    Hn = torch.nn.functional.normalize(X, dim=-1)
    sims = [float((Hn[b] @ Hn[b].T)[i, j]) for b, n in ((0, 4), (1, 6)) for i in range(n) for j in range(n) if i != j]
    assert mean_token_cosine(X, mask) == pytest.approx(sum(sims) / len(sims), abs=1e-5)
    assert math.isnan(mean_token_cosine(X, torch.zeros_like(mask)))
    # the anchor is 0 for equal states, 1 - cos elsewhere, padding ignored, gradient finite
    assert float(english_anchor_loss([X], [X.clone()], mask)) == pytest.approx(0.0, abs=1e-6)
    Xs = X.clone().requires_grad_(True)
    loss = english_anchor_loss([Xs, Xs], [-X, X], mask)
    assert float(loss) == pytest.approx(2.0, abs=1e-5)  # layer 1: cos = -1 everywhere; layer 2: 0
    loss.backward()
    assert torch.isfinite(Xs.grad).all() and Xs.grad[0, 4:].abs().sum() == 0


def test_anchor_weight_trains_and_is_logged(teacher_dir, toy, tmp_path):
    cfg = _cfg(teacher_dir, tmp_path / "anchor", steps=3, anchor_weight=0.5)
    distill(cfg, toy["train"])
    entries = [e for e in _log(tmp_path / "anchor") if e.get("event") == "train"]
    assert entries and all(e["anchor"] >= -1e-6 and len(e["token_cos"]) == len(e["teacher_token_cos"]) for e in entries)
    with pytest.raises(ConfigError, match="anchor_weight"):
        DistillConfig(teacher="t", output="o", anchor_weight=-1)


def test_loss_registry_names_every_method(teacher_dir):
    assert METHODS == tuple(LOSSES) == ("ot", "mse", "score")
    assert all(get_loss(m).name == m for m in METHODS)
    with pytest.raises(ConfigError, match="known"):
        get_loss("kl")
    idf = DistillConfig(teacher="t", output="o", marginals="idf")
    assert get_loss("ot").needs_idf(idf) and not get_loss("mse").needs_idf(idf)
    assert not get_loss("ot").needs_idf(DistillConfig(teacher="t", output="o"))
    # a registered loss is the state loss of its file, called on two SegmentStates
    tok, teacher, student, _ = load_teacher_and_student(str(teacher_dir))
    cfg = DistillConfig(teacher="t", output="o", layers=(1, 2))
    s = segment_states(student, tok, ["rojo gato", "casa"], layers=cfg.layers)
    t = segment_states(teacher, tok, ["red cat", "house"], layers=cfg.layers)
    for method, direct in (("ot", ot_distill_loss), ("mse", mse_distill_loss)):
        via_registry, _ = get_loss(method)(s, t, cfg)
        assert float(via_registry) == float(direct(s.states, t.states, s.mask, t.mask, cfg)[0])
    zero, info = get_loss("score")(s, t, cfg)
    assert float(zero) == 0.0 and info == {"per_layer": []}


def test_idf_table(teacher_dir):
    tok, _, _, _ = load_teacher_and_student(str(teacher_dir))
    idf = build_idf_table(tok, ["red cat", "red dog", "red bird"])
    red, cat, blue = tok.convert_tokens_to_ids(["red", "cat", "blue"])
    assert idf[cat] > idf[red] > 0 and idf[blue] > idf[cat]


# --------------------------------------------------------------------------- student / teacher
def test_student_starts_as_teacher_and_teacher_is_frozen(teacher_dir):
    tok, teacher, student, _ = load_teacher_and_student(str(teacher_dir))
    assert not teacher.training and student.training
    assert all(not p.requires_grad for p in teacher.parameters())
    enc = tok(["red cat runs"], ["the big house"], return_tensors="pt")
    s_sd, t_sd = student.state_dict(), teacher.state_dict()
    assert s_sd.keys() == t_sd.keys() and all(torch.equal(s_sd[k], t_sd[k]) for k in s_sd)
    assert all(s_sd[k].data_ptr() != t_sd[k].data_ptr() for k in s_sd)  # a copy, not shared weights
    student.eval()
    with torch.no_grad():
        torch.testing.assert_close(student(**enc).logits, teacher(**enc).logits, rtol=0, atol=1e-6)
    student.train()
    cfg = DistillConfig(teacher="t", output="o", layers=(1, 2))
    s = segment_states(student, tok, ["rojo gato"], layers=cfg.layers)
    with torch.no_grad():
        t = segment_states(teacher, tok, ["red cat"], layers=cfg.layers)
    loss, _ = ot_distill_loss(s.states, t.states, s.mask, t.mask, cfg)
    loss.backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())


# --------------------------------------------------------------------------- training
def test_ot_distillation_lowers_loss_and_held_out_distance(teacher_dir, toy, tmp_path):
    before = _sha(teacher_dir / "model.safetensors")
    out = tmp_path / "ot"
    cfg = _cfg(teacher_dir, out, method="ot")
    res = distill(cfg, toy["train"], toy["dev"])
    assert res.steps == 30 and res.resumed_from is None and res.n_train_pairs == 64 and res.n_dev_pairs == 16
    assert res.layers == (1, 2)
    losses = [e["loss"] for e in _log(out) if e.get("event") == "train"]
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < 0.75 * losses[0]
    assert res.dev_after["ot"] < 0.8 * res.dev_before["ot"]
    assert res.dev_after["mse"] < res.dev_before["mse"]
    # teacher untouched; the student changed and is a normal, safe HF directory
    assert _sha(teacher_dir / "model.safetensors") == before
    model_dir = out / "model"
    assert res.model_dir == model_dir
    for name in ("config.json", "model.safetensors", "tokenizer.json", "distill_config.json", "provenance.json"):
        assert (model_dir / name).is_file(), name
    assert not list(model_dir.glob("*.bin"))
    assert DistillConfig.load(model_dir / "distill_config.json") == cfg
    prov = json.loads((model_dir / "provenance.json").read_text())
    assert prov["steps"] == 30 and prov["environment"]["torch"]
    s_w, t_w = load_file(model_dir / "model.safetensors"), load_file(teacher_dir / "model.safetensors")
    assert not torch.equal(s_w["bert.embeddings.word_embeddings.weight"], t_w["bert.embeddings.word_embeddings.weight"])
    rr = CrossEncoderReranker(str(model_dir), RerankConfig(model=str(model_dir), max_length=32, device="cpu"))
    scores = rr.score_pairs(["rojo gato"], ["red cat"])
    assert len(scores) == 1
    # rerunning the finished command does nothing
    again = distill(cfg, toy["train"], toy["dev"])
    assert again.already_done and again.dev_after == res.dev_after
    with pytest.raises(ConfigError, match="other settings"):
        distill(dataclasses.replace(cfg, reg=0.1), toy["train"], toy["dev"])


def test_mse_baseline_lowers_its_loss(teacher_dir, toy, tmp_path):
    out = tmp_path / "mse"
    res = distill(_cfg(teacher_dir, out, method="mse", steps=25), toy["train"], toy["dev"])
    losses = [e["loss"] for e in _log(out) if e.get("event") == "train"]
    assert sum(losses[-5:]) / 5 < 0.5 * losses[0]
    assert res.dev_after["mse"] < res.dev_before["mse"]


def test_options_in_context_idf_unbalanced_document_side(teacher_dir, toy, tmp_path):
    passages = {p.en: ["the big house", "water tree"] for p in toy["train"][:40]}
    cfg = _cfg(teacher_dir, tmp_path / "ctx", steps=3, in_context=True, side="document", score_weight=0.5,
               marginals="idf", unbalanced_tau=1.0, grad="unrolled", sampling="language", dev_size=4)
    res = distill(cfg, toy["train"] + _pairs(_sentences(10, seed=9), lang="yy"), passages=passages)
    assert res.n_train_pairs == 36 and res.n_dev_pairs == 4  # only the pairs with passages
    entries = [e for e in _log(tmp_path / "ctx") if e.get("event") == "train"]
    assert len(entries) == 3 and all("score" in e for e in entries)
    with pytest.raises(ConfigError, match="in_context"):
        distill(_cfg(teacher_dir, tmp_path / "x", steps=1), toy["train"], passages=passages)


def test_score_method_trains_the_score_term_alone(teacher_dir, toy, tmp_path):
    passages = {p.en: ["the big house", "water tree"] for p in toy["train"]}
    cfg = _cfg(teacher_dir, tmp_path / "score", steps=3, method="score", in_context=True, score_weight=1.0)
    res = distill(cfg, toy["train"], passages=passages)
    entries = [e for e in _log(tmp_path / "score") if e.get("event") == "train"]
    assert len(entries) == 3 and all(e["per_layer"] == [] and e["score"] >= 0 for e in entries)
    assert entries[-1]["loss"] == pytest.approx(entries[-1]["score"], rel=1e-5)  # nothing but the score term
    assert res.model_dir.is_dir()
    with pytest.raises(ConfigError, match="score term alone"):
        DistillConfig(teacher="t", output="o", method="score")


def test_sampler_is_a_function_of_seed_and_step():
    groups = ["a"] * 10 + ["b"] * 2
    s1, s2 = Sampler(groups, 7, "uniform"), Sampler(groups, 7, "uniform")
    assert s1.batch(5, 4) == s2.batch(5, 4)
    epoch = [s1.index(k) for k in range(12)]
    assert sorted(epoch) == list(range(12))  # each pair once per epoch
    bal = Sampler(groups, 7, "language")
    picks = [groups[bal.index(k)] for k in range(40)]
    assert picks.count("a") == picks.count("b") == 20


def test_resume_after_kill_matches_uninterrupted_run(teacher_dir, toy, tmp_path):
    kw = {"steps": 6, "save_every": 3, "log_every": 0}
    full = distill(_cfg(teacher_dir, tmp_path / "full", **kw), toy["train"])

    class Killed(Exception):
        pass

    def kill_at_4(step, info):
        if step == 4:
            raise Killed

    cfg = _cfg(teacher_dir, tmp_path / "part", **kw)
    with pytest.raises(Killed):
        distill(cfg, toy["train"], callback=kill_at_4)
    assert [p.name for p in (tmp_path / "part" / "checkpoints").iterdir() if not p.name.startswith(".")] == ["step-00000003"]
    assert not (tmp_path / "part" / "model").exists()
    resumed = distill(cfg, toy["train"])
    assert resumed.resumed_from == 3
    a = load_file(full.model_dir / "model.safetensors")
    b = load_file(resumed.model_dir / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-7)
    assert resumed.final_loss == pytest.approx(full.final_loss, abs=1e-6)


def test_resume_refuses_other_settings(teacher_dir, toy, tmp_path):
    cfg = _cfg(teacher_dir, tmp_path / "r", steps=4, save_every=2, log_every=0)

    def stop(step, info):
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        distill(cfg, toy["train"], callback=stop)
    with pytest.raises(ConfigError, match="lr"):
        distill(dataclasses.replace(cfg, lr=1e-2), toy["train"])
    with pytest.raises(ConfigError, match="other training"):
        distill(cfg, toy["train"][:-1])


# --------------------------------------------------------------------------- hygiene and errors
def test_leakage_pairs_are_dropped_or_refused(teacher_dir, toy, tmp_path):
    topics = tmp_path / "topics.tsv"
    leak_en = toy["train"][5].en
    leak_x = toy["train"][9].x
    topics.write_text(f"q1\t{leak_en.upper()}?\nq2\t {leak_x} \nq3\tsomething else\n", encoding="utf-8")
    cfg = _cfg(teacher_dir, tmp_path / "leak", steps=1, cost="sqeuclidean", eval_topics=(str(topics),))
    res = distill(cfg, toy["train"], toy["dev"])
    assert res.n_train_pairs == 62
    assert res.leakage["train"]["dropped"] == 2 and res.leakage["dev"]["dropped"] == 0
    with pytest.raises(ConfigError, match="2 bitext pair"):
        distill(dataclasses.replace(cfg, output=str(tmp_path / "leak2"), strict_leakage=True), toy["train"])


@pytest.mark.parametrize("method", ["ot", "mse"])
def test_nan_states_raise_numerical_error(teacher_dir, toy, tmp_path, monkeypatch, method):
    real = trainer_mod.segment_states
    calls = {"n": 0}

    def poisoned(model, *args, **kwargs):
        out = real(model, *args, **kwargs)
        if model.training:
            calls["n"] += 1
            if calls["n"] == 2:
                states = tuple(s * float("nan") for s in out.states)
                return dataclasses.replace(out, states=states)
        return out

    monkeypatch.setattr(trainer_mod, "segment_states", poisoned)
    with pytest.raises(NumericalError, match=r"step 2 .*lr=.*reg="):
        distill(_cfg(teacher_dir, tmp_path / method, method=method, steps=4), toy["train"])


# --------------------------------------------------------------------------- files and CLI
def test_read_passages_and_bitext_files(tmp_path):
    j = tmp_path / "p.jsonl"
    j.write_text('{"en": "red  cat", "passages": ["a b", "c"]}\n{"en": "red cat", "passage": "d"}\n', encoding="utf-8")
    assert read_passages(j) == {"red cat": ["a b", "c", "d"]}
    t = tmp_path / "p.tsv"
    t.write_text("red cat\tthe house\nblue dog\twater\n", encoding="utf-8")
    assert read_passages(t) == {"red cat": ["the house"], "blue dog": ["water"]}
    t.write_text("red cat\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match="p.tsv:1"):
        read_passages(t)
    b = tmp_path / "bitext.hau.tsv"
    b.write_text("rojo gato\tred cat\ttoy\n", encoding="utf-8")
    assert read_bitext_files([b]) == [LangPair("rojo gato", "red cat", "toy", "hau")]


def _write_bitext(path: Path, pairs) -> Path:
    path.write_text("".join(f"{p.x}\t{p.en}\t{p.source}\n" for p in pairs), encoding="utf-8")
    return path


def test_cli_runs_and_prints_wall_time(teacher_dir, toy, tmp_path, capsys):
    bitext = _write_bitext(tmp_path / "bitext.xx.tsv", toy["train"])
    dev = _write_bitext(tmp_path / "dev.tsv", toy["dev"])
    topics = tmp_path / "t.tsv"
    topics.write_text(f"q\t{toy['train'][0].en}\n", encoding="utf-8")
    out = tmp_path / "cli"
    rc = main(["--teacher", str(teacher_dir), "--bitext", str(bitext), "--output", str(out), "--steps", "2",
               "--layers", "1", "last", "--batch-size", "4", "--dev-bitext", str(dev), "--eval-topics", str(topics),
               "--reg", "0.1", "--unbalanced-tau", "none", "--grad-clip", "none", "--no-progress", "--device", "cpu",
               "--query-template", "{text}", "--max-length", "32"])
    assert rc == 0
    captured = capsys.readouterr()
    assert str(out / "model") in captured.out
    assert "wall time" in captured.err and "dropped 1 train" in captured.err
    cfg = DistillConfig.load(out / "model" / "distill_config.json")
    assert cfg.layers == (1, "last") and cfg.reg == 0.1 and cfg.grad_clip is None and cfg.query_template == "{text}"


def test_cli_config_file_then_explicit_options(tmp_path):
    base = DistillConfig(teacher="t0", output="o0", layers=(12,), method="mse", lr=1e-4, grad_clip=None,
                         eval_topics=("e.tsv",), show_progress=True)
    base.save(tmp_path / "c.json")
    argv = ["--teacher", "T", "--bitext", "b.tsv", "--output", "O", "--config", str(tmp_path / "c.json")]
    cfg = config_from_args(build_parser().parse_args(argv))
    assert cfg == dataclasses.replace(base, teacher="T", output="O")  # the file, with the command's paths
    cfg = config_from_args(build_parser().parse_args([*argv, "--lr", "3e-5", "--layers", "4", "last",
                                                      "--eval-topics", "x.tsv", "--no-progress"]))
    assert (cfg.lr, cfg.layers, cfg.eval_topics, cfg.show_progress) == (3e-5, (4, "last"), ("x.tsv",), False)
    assert (cfg.method, cfg.grad_clip) == ("mse", None)  # not given on the command line: from the file


def test_ddp_torchrun_two_processes(teacher_dir, toy, tmp_path):
    bitext = _write_bitext(tmp_path / "bitext.xx.tsv", toy["train"])
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    args = ["--teacher", str(teacher_dir), "--bitext", str(bitext), "--steps", "3", "--save-every", "2",
            "--batch-size", "4", "--layers", "1", "2", "--lr", "1e-3", "--warmup", "0", "--threads", "1",
            "--log-every", "1", "--tol", "1e-6", "--max-iter", "1000", "--no-progress", "--device", "cpu", "--max-length", "32"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "optical_rerank.distill", *args, "--output", str(out)]
    proc = subprocess.run(cmd, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (out / "model" / "model.safetensors").is_file()
    prov = json.loads((out / "model" / "provenance.json").read_text())
    assert prov["world_size"] == 2 and prov["steps"] == 3
    assert [e["step"] for e in _log(out) if e.get("event") == "train"] == [1, 2, 3]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-00000003"]
    # the same global batches in one process give the same losses (DDP averages the two half-batch gradients)
    assert main([*args, "--output", str(tmp_path / "single")]) == 0
    ddp_losses = [e["loss"] for e in _log(out) if e.get("event") == "train"]
    one_losses = [e["loss"] for e in _log(tmp_path / "single") if e.get("event") == "train"]
    assert ddp_losses == pytest.approx(one_losses, rel=1e-5, abs=1e-6)
    # Adam turns float noise in near-zero gradients into updates of up to lr per step, hence the loose bound
    a = load_file(out / "model" / "model.safetensors")
    b = load_file(tmp_path / "single" / "model" / "model.safetensors")
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 3 * 1e-3


def test_frozen_embeddings_stay_fixed_while_layers_learn(teacher_dir, toy, tmp_path):
    out = tmp_path / "frozen"
    cfg = _cfg(teacher_dir, out, method="ot", steps=3, freeze_embeddings=True)
    result = distill(cfg, toy["train"])
    before = load_file(str(Path(teacher_dir) / "model.safetensors"))
    after = load_file(str(Path(result.model_dir) / "model.safetensors"))
    emb = next(k for k in before if k.endswith("word_embeddings.weight"))
    assert torch.equal(before[emb], after[emb])
    assert any(not torch.equal(before[k], after[k]) for k in before if "encoder.layer" in k)


def test_bf16_option_keeps_fp32_configs_as_before():
    plain = DistillConfig(teacher="t", output="o")
    assert "bf16" not in plain.to_dict() and "bf16" not in plain.identity()  # old runs keep their identity
    fast = DistillConfig(teacher="t", output="o", bf16=True)
    assert fast.to_dict()["bf16"] is True and fast.identity() != plain.identity()
    assert DistillConfig.from_dict(fast.to_dict()) == fast
    with pytest.raises(ConfigError, match="bf16"):
        DistillConfig(teacher="t", output="o", bf16="yes")
    from optical_rerank.distill._states import SegmentStates

    states = SegmentStates(states=(torch.ones(1, 2, 3, dtype=torch.bfloat16),), mask=torch.ones(1, 2, dtype=torch.bool),
                           token_ids=torch.ones(1, 2, dtype=torch.long), logits=torch.zeros(1, 1, dtype=torch.bfloat16),
                           layers=(1,), batch=None)
    up = trainer_mod._fp32(states)  # what the losses see after a bf16 autocast forward
    assert up.states[0].dtype == torch.float32 and up.logits.dtype == torch.float32
    assert up.mask.dtype == torch.bool and up.token_ids.dtype == torch.long and up.layers == (1,)

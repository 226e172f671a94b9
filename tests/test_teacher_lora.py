"""The LoRA teacher: config checks, bundles, training + resume, shipping, merged loading, reports.

A tiny random BERT stands in for e5 (the code paths are the same); the English training sources are
read from the real data mirror.
"""
from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import numpy as np
import pytest
from _tiny import make_tiny_bert

from optical_rerank.errors import ConfigError, InputFormatError
from optical_rerank.files import sha256_file, write_json_atomic
from optical_rerank.teacher import LoraTeacherConfig, load_bundle
from optical_rerank.teacher._groups import write_groups
from optical_rerank.trec_io import write_qrels

WORDS = "berlin paris city people capital river water food music school".split()


def _bundle(root: Path, n_train: int = 12, n_eval: int = 4) -> Path:
    rng = np.random.default_rng(0)
    docs = {f"d{i}": " ".join(rng.choice(WORDS, 6)) for i in range(40)}

    def group(qid: str, source: str, k: int, labelled: bool = True) -> dict:
        ids = [f"d{j}" for j in rng.choice(40, k, replace=False)]
        labels = [1 if (j == 0 and labelled) else (0 if labelled else -1) for j in range(k)]
        return {"qid": qid, "source": source, "query": " ".join(rng.choice(WORDS, 3)), "docids": ids, "labels": labels}

    write_groups(root / "train.jsonl", [group(f"t{i}", "squad", 6, labelled=i % 3 != 0) for i in range(n_train)])
    for split, names in (("dev", ("afriqa-en-dev", "dl21-dev")), ("test", ("afriqa-en-test", "dl19"))):
        for name in names:
            gs = [group(f"{'hau-' if 'afriqa' in name else ''}{name}-{i}", name, 8) for i in range(n_eval)]
            write_groups(root / split / f"{name}.jsonl", gs)
            write_qrels(root / split / f"{name}.qrels", {g["qid"]: {g["docids"][0]: 1} for g in gs})
    with gzip.GzipFile(root / "docs.jsonl.gz", "wb", mtime=0) as raw, io.TextIOWrapper(raw, encoding="utf-8") as fh:
        for d, t in sorted(docs.items()):
            fh.write(json.dumps({"docid": d, "text": t}) + "\n")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != "bundle.json")
    write_json_atomic(root / "bundle.json", {"counts": {}, "split_rule": "test",
                                             "files": {str(p.relative_to(root)): sha256_file(p) for p in files}})
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny") / "bert", vocab=WORDS)


def _recipe(tmp: Path, tiny: Path) -> Path:
    p = tmp / "recipe.yaml"
    p.write_text(f"name: teacher-tiny\nbase: {{backbone: {tiny}, lora_r: 4, lora_alpha: 8, batch_queries: 4, "
                 "group_size: 4, max_length: 32, epochs: 1.0, query_template: '{text}', passage_template: '{text}', "
                 "lora_dropout: 0.0}\nvariants:\n  kd-label: {}\n  label-only: {kd_weight: 0.0}\n", encoding="utf-8")
    return p


def test_config_rejects_bad_values_naming_the_field():
    with pytest.raises(ConfigError, match="lora_r"):
        LoraTeacherConfig(lora_r=0)
    with pytest.raises(ConfigError, match="lr"):
        LoraTeacherConfig(lr=float("nan"))
    with pytest.raises(ConfigError, match="both be 0"):
        LoraTeacherConfig(kd_weight=0, label_weight=0)
    with pytest.raises(ConfigError, match="unknown"):
        LoraTeacherConfig.from_dict({"lora_rank": 8})


def test_bundle_refuses_a_changed_file(tmp_path):
    root = _bundle(tmp_path / "b")
    assert len(load_bundle(root).train) == 12
    (root / "dev" / "dl21-dev.qrels").write_text("x 0 d1 1\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match="sha256"):
        load_bundle(root)


def test_recipe_trains_chooses_on_dev_ships_and_reports(tmp_path, tiny, monkeypatch):
    import torch

    from optical_rerank.models import load_cross_encoder_model
    from optical_rerank.models import load_lora_model, shipped_card, shipped_model_dir
    from optical_rerank.teacher import evaluate_shipped, load_recipe, run_recipe
    from optical_rerank.teacher._lora import score_groups

    monkeypatch.setenv("OPTICAL_RERANK_E5_DIR", str(tiny))  # the bi-encoder targets come from the tiny model too
    bundle = _bundle(tmp_path / "b")
    recipe = load_recipe(_recipe(tmp_path, tiny))
    summary = run_recipe(recipe, bundle, tmp_path / "out", runs_dir=tmp_path / "runs",
                         summary_path=tmp_path / "summary.json", command="test", max_steps=3)
    assert set(summary) >= {"dl19", "afriqa-en", "teacher"}
    assert summary["dl19"]["queries"] == 4 and summary["dl19"]["depth"] == 8
    ship = tmp_path / "out" / "shipped" / "teacher-tiny"
    card = shipped_card(ship)
    devs = card["dev_all_variants"]
    assert card["variant"] == max(devs, key=lambda v: (devs[v]["mean_ndcg_cut_10"], v))
    assert card["adapter_bytes"] < 10 * 2**20
    from optical_rerank.teacher._bundle_eval import FUSION_GRID

    assert card["fusion"]["weight"] in FUSION_GRID and len(card["fusion"]["grid"]) == len(FUSION_GRID)
    assert set(summary["dl19"]["ndcg_cut_10"]) == {"bm25", "e5-biencoder", "teacher", "teacher+e5"}

    # the merged directory scores exactly as the adapter on the backbone
    b = load_bundle(bundle, train=False)
    cfg = LoraTeacherConfig.from_dict(card["config"])
    tok, lora = load_lora_model(card, ship / "adapter_model.safetensors")
    tok2, merged = load_cross_encoder_model(shipped_model_dir(ship))
    with torch.no_grad():
        a = score_groups(lora, tok, b.test["dl19"], b.docs, config=cfg)
        m = score_groups(merged, tok2, b.test["dl19"], b.docs, config=cfg)
    assert np.allclose(np.concatenate(a), np.concatenate(m), atol=1e-4)

    # the report is rebuilt from the runs alone (no model is loaded)
    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded although every run is cached")

    monkeypatch.setattr("optical_rerank.models.load_cross_encoder_model", no_model)
    monkeypatch.setattr("optical_rerank.models.load_encoder", no_model)
    again = evaluate_shipped(ship, bundle, runs_dir=tmp_path / "runs", summary_path=tmp_path / "again.json",
                             command="test")
    assert {k: v for k, v in again.items() if k != "command"} == {k: v for k, v in summary.items() if k != "command"}


def test_training_resumes_to_the_same_adapter(tmp_path, tiny, monkeypatch):
    from optical_rerank.teacher import _lora

    bundle = load_bundle(_bundle(tmp_path / "b"))
    cfg = LoraTeacherConfig(backbone=str(tiny), lora_r=4, lora_alpha=8, batch_queries=4, group_size=4, max_length=32,
                            epochs=2.0, save_steps=2, kd_weight=0.0, lora_dropout=0.0,
                            query_template="{text}", passage_template="{text}")
    whole = _lora.train_lora_teacher(cfg, bundle, tmp_path / "whole")
    real = _lora._step_loss
    calls = {"n": 0}

    def crash_at_step_4(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(_lora, "_step_loss", crash_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        _lora.train_lora_teacher(cfg, bundle, tmp_path / "resumed")
    monkeypatch.setattr(_lora, "_step_loss", real)
    resumed = _lora.train_lora_teacher(cfg, bundle, tmp_path / "resumed")
    assert resumed["steps"] == whole["steps"] == 6
    assert sha256_file(tmp_path / "whole" / "adapter_model.safetensors") == \
        sha256_file(tmp_path / "resumed" / "adapter_model.safetensors")


def test_english_qa_is_guarded_against_every_evaluation_set(mirror, tmp_path):
    from optical_rerank.data.english_qa import prepare_english_qa
    from optical_rerank.data.leakage import normalize_text
    from optical_rerank.trec_io import read_topics

    made = prepare_english_qa(tmp_path / "eq", skip_missing=True)
    counts, dropped = made.card["counts"], made.card["dropped"]
    assert counts["dl21"]["queries"] == 53 and counts["wikiqa"]["queries"] == 873
    assert dropped["squad"]["xquad_paragraph"] > 0 and dropped["squad"]["unanswerable"] > 0
    dl19 = {normalize_text(q.text) for q in
            read_topics(mirror / "castorini/anserini-tools/5b819c1a45c8a0a3ec9426f476694f44a29dfaf3/topics/topics.dl19-passage.txt")}
    for source in ("dl21", "squad", "selqa", "wikiqa", "nq-open"):
        assert not {normalize_text(q.text) for q in read_topics(tmp_path / "eq" / f"topics/{source}.tsv")} & dl19


def test_the_shipped_teacher_is_listed_checked_and_scored_with_its_card():
    from optical_rerank.models import list_models, shipped_card, shipped_models
    from optical_rerank.rerank import max_length_for, templates_for

    assert "teacher-e5-lora" in shipped_models("teacher") and "teacher-e5-lora" in list_models()
    card = shipped_card("teacher-e5-lora")  # raises when the adapter's sha256 differs from the card
    assert card["adapter_bytes"] <= 10 * 2**20 and card["kind"] == "teacher"
    assert {"command", "reproduce", "config", "dev", "environment", "bundle"} <= set(card)
    cfg = card["config"]
    assert templates_for("teacher-e5-lora") == (cfg["query_template"], cfg["passage_template"])
    assert max_length_for("teacher-e5-lora") == cfg["max_length"]


def test_a_damaged_shipped_adapter_is_refused(tmp_path):
    import shutil

    from optical_rerank.errors import ModelError
    from optical_rerank.models import SHIPPED_ROOT, shipped_card

    copy = tmp_path / "teacher-e5-lora"
    shutil.copytree(SHIPPED_ROOT / "teacher-e5-lora", copy)
    with open(copy / "adapter_model.safetensors", "r+b") as fh:
        fh.seek(-4, 2)
        fh.write(b"\0\0\0\0")
    with pytest.raises(ModelError, match="sha256"):
        shipped_card(copy)


def test_fusion_is_pointwise_interpolation_on_the_logit_scale():
    from optical_rerank.teacher._bundle_eval import fuse_runs
    from optical_rerank.types import Hit

    teacher = {"q": [Hit("q", "a", 2.0, 1), Hit("q", "b", 1.0, 2)]}
    e5 = {"q": [Hit("q", "b", 0.83, 1), Hit("q", "a", 0.80, 2)]}
    assert [h.docid for h in fuse_runs(teacher, e5, 0.0)["q"]] == ["a", "b"]
    fused = fuse_runs(teacher, e5, 1.0)["q"]  # 2 + 80 = 82 < 1 + 83 = 84
    assert [(h.docid, h.score, h.rank) for h in fused] == [("b", 84.0, 1), ("a", 82.0, 2)]

"""LoRA students on a tiny random BERT: the adapter trains alone, resumes exactly, is deterministic,
and ships as a small artifact that the zoo lists, checks and merges (offline, CPU, seconds)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from optical_rerank.distill import DistillConfig, distill, load_teacher_and_student
from optical_rerank.errors import ConfigError
from optical_rerank.files import sha256_file
from optical_rerank.models import ADAPTER_FILE
from optical_rerank.rerank import CrossEncoderReranker, RerankConfig
from _tiny import make_tiny_bert
from test_distill import EN, XX, _log, _pairs, _sentences

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def toy() -> dict:
    sents = _sentences(60, seed=1)
    return {"train": _pairs(sents[:48]), "dev": _pairs(sents[48:])}


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("teacher") / "tiny", vocab=EN + XX + ["query", "passage"],
                          seed=3, hidden_size=32, num_layers=2)


def _cfg(teacher_dir: Path, out: Path, **kw) -> DistillConfig:
    base = {"teacher": str(teacher_dir), "output": str(out), "layers": (2,), "batch_size": 8, "lr": 1e-2,
            "steps": 12, "warmup": 1, "max_iter": 50, "save_every": 0, "eval_every": 0, "log_every": 1,
            "show_progress": False, "device": "cpu", "max_length": 32, "lora_r": 4}
    base.update(kw)
    return DistillConfig(**base)


def test_lora_config_is_checked_and_keeps_old_identities():
    assert DistillConfig(teacher="t", output="o", lora_r=8).lora == (8, 16, 0.0)
    assert DistillConfig(teacher="t", output="o", lora_r=8, lora_alpha=4, lora_dropout=0.1).lora == (8, 4, 0.1)
    full = DistillConfig(teacher="t", output="o")
    assert full.lora is None and "lora_r" not in full.identity()  # runs made before the option still resume
    assert DistillConfig(teacher="t", output="o", lora_r=4).identity()["lora_r"] == 4
    for bad in ({"lora_r": -1}, {"lora_r": 2.5}, {"lora_r": 4, "lora_alpha": 0}, {"lora_r": 4, "lora_dropout": 1.0},
                {"lora_alpha": 8}, {"lora_dropout": 0.1}):
        with pytest.raises(ConfigError, match="lora"):
            DistillConfig(teacher="t", output="o", **bad)


def test_lora_student_trains_only_its_adapter(teacher_dir):
    tok, teacher, student, _ = load_teacher_and_student(str(teacher_dir), lora=(4, 8, 0.0))
    trainable = [n for n, p in student.named_parameters() if p.requires_grad]
    assert trainable and all(("lora_" in n or "modules_to_save" in n) for n in trainable)
    assert any("lora_A" in n for n in trainable) and any("classifier" in n for n in trainable)
    assert all(not p.requires_grad for p in teacher.parameters())
    enc = tok(["red cat runs"], ["the big house"], return_tensors="pt")
    student.eval()
    with torch.no_grad():  # LoRA's B starts at zero: the student starts as the teacher
        torch.testing.assert_close(student(**enc).logits, teacher(**enc).logits, rtol=0, atol=1e-6)


@pytest.mark.parametrize("method,extra", [("ot", {}), ("mse", {}), ("ot", {"in_context": True, "score_weight": 1.0}),
                                          ("score", {"in_context": True, "score_weight": 1.0})])
def test_lora_distillation_writes_adapter_and_merged_student(teacher_dir, toy, tmp_path, method, extra):
    before = sha256_file(teacher_dir / "model.safetensors")
    passages = {p.en: ["the big house", "water tree"] for p in toy["train"] + toy["dev"]} if extra else None
    out = tmp_path / method
    cfg = _cfg(teacher_dir, out, method=method, **extra)
    res = distill(cfg, toy["train"], toy["dev"], passages=passages)
    losses = [e["loss"] for e in _log(out) if e.get("event") == "train"]
    assert len(losses) == 12 and sum(losses[-3:]) / 3 < losses[0]
    assert sha256_file(teacher_dir / "model.safetensors") == before
    model_dir = res.model_dir
    adapter = load_file(model_dir / ADAPTER_FILE)
    assert adapter and all(v.dtype == torch.float16 for v in adapter.values())
    assert any(k.endswith("lora_B.weight") and v.abs().sum() > 0 for k, v in adapter.items())
    # the merged student = the teacher's weights + B A * alpha / r from the float16 adapter
    merged, base = load_file(model_dir / "model.safetensors"), load_file(teacher_dir / "model.safetensors")
    key = "bert.encoder.layer.0.attention.self.query.weight"
    a = next(v for k, v in adapter.items() if "layer.0.attention.self.query.lora_A" in k).float()
    b = next(v for k, v in adapter.items() if "layer.0.attention.self.query.lora_B" in k).float()
    torch.testing.assert_close(merged[key], base[key] + (b @ a) * (8 / 4), rtol=0, atol=1e-6)
    assert not any("lora" in k for k in merged)
    rr = CrossEncoderReranker(str(model_dir), RerankConfig(model=str(model_dir), max_length=32, device="cpu"))
    assert len(rr.score_pairs(["rojo gato"], ["red cat"])) == 1


def test_lora_resume_after_kill_matches_uninterrupted_run_and_checkpoints_are_small(teacher_dir, toy, tmp_path):
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
    ckpt = tmp_path / "part" / "checkpoints" / "step-00000003" / "model.safetensors"
    saved = load_file(ckpt)
    assert saved and all("lora_" in k or "modules_to_save" in k for k in saved)  # the adapter, not the teacher
    resumed = distill(cfg, toy["train"])
    assert resumed.resumed_from == 3
    assert sha256_file(resumed.model_dir / ADAPTER_FILE) == sha256_file(full.model_dir / ADAPTER_FILE)
    assert resumed.final_loss == pytest.approx(full.final_loss, abs=1e-6)
    with pytest.raises(ConfigError, match="lora_r"):  # another rank is another run
        distill(dataclasses.replace(cfg, lora_r=2, output=str(tmp_path / "part")), toy["train"])


def test_the_recipe_is_deterministic(teacher_dir, toy, tmp_path):
    """The same config and data give a byte-identical adapter (what a shipped card's command relies on)."""
    kw = {"steps": 5, "in_context": True, "score_weight": 1.0}
    passages = {p.en: ["the big house", "water tree", "red dog"] for p in toy["train"]}
    a = distill(_cfg(teacher_dir, tmp_path / "a", **kw), toy["train"], passages=passages)
    b = distill(_cfg(teacher_dir, tmp_path / "b", **kw), toy["train"], passages=passages)
    c = distill(_cfg(teacher_dir, tmp_path / "c", seed=1, **kw), toy["train"], passages=passages)
    assert sha256_file(a.model_dir / ADAPTER_FILE) == sha256_file(b.model_dir / ADAPTER_FILE)
    assert sha256_file(a.model_dir / ADAPTER_FILE) != sha256_file(c.model_dir / ADAPTER_FILE)
    assert json.loads((a.model_dir / "distill_config.json").read_text())["lora_r"] == 4


# --------------------------------------------------------------------------- shipping a student
@pytest.fixture()
def shipped_root(tmp_path, teacher_dir, monkeypatch) -> Path:
    """A shipped root holding a tiny LoRA teacher ``tiny-teacher`` (adapter on the tiny backbone)."""
    import optical_rerank.models._shipped as shipped
    from safetensors.torch import save_file

    from optical_rerank.files import write_json_atomic
    from optical_rerank.models import adapter_state, apply_lora, load_cross_encoder_model

    root = tmp_path / "shipped"
    monkeypatch.setattr(shipped, "SHIPPED_ROOT", root)
    torch.manual_seed(0)
    _, model = load_cross_encoder_model(str(teacher_dir), num_labels=1)
    model = apply_lora(model, 2, 4)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)
    (root / "tiny-teacher").mkdir(parents=True)
    save_file(adapter_state(model), str(root / "tiny-teacher" / ADAPTER_FILE))
    write_json_atomic(root / "tiny-teacher" / "card.json", {
        "name": "tiny-teacher", "kind": "teacher", "adapter_sha256": sha256_file(root / "tiny-teacher" / ADAPTER_FILE),
        "config": {"backbone": str(teacher_dir), "lora_r": 2, "lora_alpha": 4, "head_seed": 0, "max_length": 32,
                   "query_template": "query: {text}", "passage_template": "passage: {text}"},
        "fusion": {"weight": 0.5, "scale": 100.0, "biencoder": "e5-small-multilingual", "rule": "dev"}})
    return root


def test_a_lora_student_ships_lists_merges_and_is_checked(shipped_root, toy, tmp_path):
    from optical_rerank.errors import ModelError
    from optical_rerank.models import (
        describe_model,
        list_models,
        resolve_model,
        ship_lora_student,
        shipped_card,
        shipped_model_dir,
        shipped_models,
    )
    from optical_rerank.models.__main__ import main as models_main

    res = distill(_cfg(Path("unused"), tmp_path / "run", teacher="tiny-teacher", steps=4), toy["train"])
    with pytest.raises(ModelError, match="not a shipped teacher"):
        ship_lora_student(res.model_dir, "tiny-student", base="nope", out_root=shipped_root)
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"command": "python -m optical_rerank.distill ...", "recipe": {"block": {"method": "ot"}}}))
    assert models_main(["ship", str(res.model_dir), "--name", "tiny-student", "--base", "tiny-teacher",
                        "--extra", str(extra), "--out", str(shipped_root)]) == 0
    assert shipped_models("student") == ["tiny-student"] and "tiny-student" in list_models()
    assert "shipped student" in describe_model("tiny-student")
    card = shipped_card("tiny-student")
    teacher_card = shipped_card("tiny-teacher")
    assert card["kind"] == "student" and card["base"] == "tiny-teacher"
    assert card["base_adapter_sha256"] == teacher_card["adapter_sha256"]
    assert card["adapter_sha256"] == sha256_file(res.model_dir / ADAPTER_FILE)
    assert card["config"]["backbone"] == "tiny-teacher" and card["config"]["lora_r"] == 4
    assert card["config"]["query_template"] == "query: {text}" and card["fusion"]["weight"] == 0.5
    assert card["distill"]["teacher"] == "tiny-teacher" and card["command"].startswith("python -m")
    assert card["training"]["steps"] == 4 and card["environment"]["torch"]
    # merged on first use: exactly the run's own merged student
    merged = load_file(shipped_model_dir("tiny-student") / "model.safetensors")
    run = load_file(res.model_dir / "model.safetensors")
    assert merged.keys() == run.keys()
    for k in run:
        torch.testing.assert_close(merged[k], run[k], rtol=0, atol=1e-6)
    name_dir = resolve_model("tiny-student")
    rr = CrossEncoderReranker("tiny-student", RerankConfig(model="tiny-student", device="cpu", fusion_weight=0.0))
    assert rr.config.query_template == "query: {text}" and len(rr.score_pairs(["rojo"], ["red"])) == 1
    assert Path(name_dir).is_dir()
    # a student on another teacher adapter is refused, and so is a damaged adapter
    card_path = shipped_root / "tiny-student" / "card.json"
    bad = dict(card, base_adapter_sha256="0" * 64, adapter_sha256=card["adapter_sha256"])
    card_path.write_text(json.dumps(bad))
    with pytest.raises(ModelError, match="retrain the student"):
        shipped_model_dir("tiny-student")
    card_path.write_text(json.dumps(card))
    adapter = shipped_root / "tiny-student" / ADAPTER_FILE
    adapter.write_bytes(adapter.read_bytes()[:-8])
    with pytest.raises(ModelError, match="sha256"):
        shipped_card("tiny-student")


def test_distill_lang_takes_the_recipe_and_explicit_overrides(shipped_root, monkeypatch, tmp_path):
    import optical_rerank.distill._cli as cli
    from optical_rerank.distill._lang import recipe_of

    with pytest.raises(ConfigError, match="not a shipped student"):
        recipe_of("tiny-student")
    (shipped_root / "tiny-student").mkdir()
    (shipped_root / "tiny-student" / ADAPTER_FILE).write_bytes(b"x")
    card = {"name": "tiny-student", "kind": "student", "base": "tiny-teacher", "adapter_sha256": sha256_file(
        shipped_root / "tiny-student" / ADAPTER_FILE), "distill": {"seed": 3},
        "recipe": {"block": {"method": "ot", "layers": [12], "in_context": True, "context_k": 3, "lora_r": 16}}}
    (shipped_root / "tiny-student" / "card.json").write_text(json.dumps(card))
    assert recipe_of("tiny-student") == ("tiny-teacher", card["recipe"]["block"], 3)
    calls = []
    monkeypatch.setattr(cli, "distill_language", lambda langs, **kw: calls.append((langs, kw)) or tmp_path / "m")
    assert cli.main(["--lang", "som", "--recipe", "tiny-student", "--steps", "5", "--no-progress"]) == 0
    langs, kw = calls[-1]
    assert langs == ["som"] and kw["recipe"] == "tiny-student" and kw["output"] is None
    assert kw["overrides"] == {"steps": 5, "show_progress": False} and kw["data_root"] == Path("work/data")
    cli.main(["--lang", "som", "yor", "--output", str(tmp_path / "o"), "--lora-r", "8"])
    assert calls[-1][0] == ["som", "yor"] and calls[-1][1]["overrides"] == {"lora_r": 8}
    assert calls[-1][1]["output"] == tmp_path / "o"
    for bad, match in ((["--lang", "som", "--teacher", "t"], "recipe"), (["--lang", "som", "--eval-topics", "x"], "guard"),
                       (["--output", "o"], "--teacher, --bitext required")):
        with pytest.raises(ConfigError, match=match):
            cli.main(bad)


def test_shipped_students_of_the_package_are_listed_checked_and_small():
    """The committed students: listed, sha256-checked, on the shipped teacher, under the size limits."""
    from optical_rerank.models import SHIPPED_ROOT, list_models, shipped_card, shipped_models

    students = shipped_models("student")
    assert "optical-afriqa" in students and "optical-afriqa" in list_models()
    teacher = shipped_card("teacher-e5-lora")
    for name in students:
        card = shipped_card(name)  # raises when the adapter's sha256 differs from the card
        assert card["base"] == "teacher-e5-lora" and card["base_adapter_sha256"] == teacher["adapter_sha256"]
        assert card["adapter_bytes"] == (SHIPPED_ROOT / name / ADAPTER_FILE).stat().st_size <= 10 * 1024 * 1024
        assert card["command"] and card["recipe"]["block"]["lora_r"] > 0 and card["dev"]["alone"]
        assert card["config"]["query_template"] == "query: {text}" and card["data_cards"]
    total = sum(p.stat().st_size for p in SHIPPED_ROOT.rglob("*") if p.is_file())
    assert total < 40 * 1024 * 1024


def test_experiment_student_blocks_may_name_a_shipped_student(tmp_path):
    from optical_rerank.experiment import ExperimentConfig

    cfg = ExperimentConfig(name="x", teacher={"shipped": "teacher-e5-lora"}, students={"optical": {"shipped": "optical-afriqa"}},
                           systems=("bm25-native", "teacher-native", "optical"))
    assert cfg.students["optical"] == {"shipped": "optical-afriqa"}
    for block, match in (({"shipped": "nope"}, "shipped student"), ({"shipped": "optical-afriqa", "steps": 3}, "alone"),
                         ({"shipped": "teacher-e5-lora"}, "shipped student")):
        with pytest.raises(ConfigError, match=match):
            ExperimentConfig(name="x", students={"optical": block})
    demo = ExperimentConfig.load(Path(__file__).resolve().parents[1] / "configs" / "demo.yaml")
    assert demo.students == {"optical": {"shipped": "optical-afriqa"}} and demo.teacher == {"shipped": "teacher-e5-lora"}
    assert demo.candidates == "native" and demo.afriqa == {"languages": ["hau", "swa", "yor", "zul"], "split": "test"}

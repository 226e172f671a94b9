"""The English teacher: training through sentence-transformers, mining, leakage, resume, evaluation.

Everything runs on a tiny random BERT (``make_tiny_bert``) and hand-made collections.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from optical_rerank.errors import ConfigError
from _tiny import make_tiny_bert
from optical_rerank.teacher import (
    TEACHER_CONFIG,
    TeacherConfig,
    TrainExample,
    afriqa_training_data,
    build_train_dataset,
    ensure_teacher,
    evaluate_teacher,
    latest_checkpoint,
    load_teacher_config,
    main,
    mine_hard_negatives,
    train_teacher,
    triples_training_data,
)
from optical_rerank.trec_io import write_qrels, write_topics
from optical_rerank.types import Query

VOCAB = ("the a of is in what who where city capital river food music school people water berlin paris "
         "country president year first largest name").split()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny") / "bert", vocab=VOCAB, seed=0, hidden_size=32)


def _triples(path: Path, n: int = 24) -> Path:
    """A separable toy set: positives mention 'capital city', negatives 'food music'."""
    rows = []
    for i in range(n):
        q = ["what is the capital", "where is the city", "who is the president", "what is the river"][i % 4]
        q = f"{q} {['berlin', 'paris', 'water', 'school', 'people', 'country'][i % 6]}"
        rows.append(f"{q}\tthe capital city of the country is {i}\tfood and music of the {i}")
        rows.append(f"{q}\tthe capital city of the country is {i}\tmusic and food in a school {i}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _cfg(tiny: Path, **kw) -> TeacherConfig:
    base = dict(backbone=str(tiny), data="triples", max_length=32, batch_size=8, learning_rate=1e-3,
                num_negatives=2, mine_depth=5, warmup_ratio=0.0, save_steps=100, logging_steps=1,
                device="cpu", show_progress=False, dev_max_queries=0)
    base.update(kw)
    return TeacherConfig(**base)


# --------------------------------------------------------------------------- config
def test_config_roundtrip_validation_and_templates(tiny):
    cfg = TeacherConfig(triples="x.tsv", data="triples", languages=["hau", "zul"])
    assert cfg.languages == ("hau", "zul")
    again = TeacherConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and again.identity() == cfg.identity()
    assert cfg.templates() == ("query: {text}", "passage: {text}")  # e5 backbone: E5 prefixes
    assert TeacherConfig(backbone=str(tiny)).templates() == ("{text}", "{text}")
    # runtime knobs do not change the identity; what is trained does
    assert TeacherConfig(save_steps=5, threads=1).identity() == TeacherConfig().identity()
    assert TeacherConfig().loss == "listnet"  # the dev winner
    assert TeacherConfig(loss="bce").identity() != TeacherConfig().identity()
    with pytest.raises(ConfigError, match="unknown field"):
        TeacherConfig.from_dict({"lossy": "bce"})
    with pytest.raises(ConfigError, match="loss"):
        TeacherConfig(loss="hinge")
    with pytest.raises(ConfigError, match="triples"):
        TeacherConfig(data="triples")
    with pytest.raises(ConfigError, match="mine_depth"):
        TeacherConfig(num_negatives=8, mine_depth=8)


def test_dataset_layouts_per_loss():
    ex = [TrainExample("q1", "who", "pos", ("n1", "n2")), TrainExample("q2", "what", "pos2", ("m1",)),
          TrainExample("q3", "none", "pos3", ())]
    bce = build_train_dataset(ex, "bce", 2, ("query: {text}", "passage: {text}"))
    assert bce.column_names == ["query", "passage", "label"] and len(bce) == 3 + 2 + 1
    assert bce[0] == {"query": "query: who", "passage": "passage: pos", "label": 1.0}
    mnrl = build_train_dataset(ex, "mnrl", 2)
    assert mnrl.column_names == ["query", "positive", "negative_1", "negative_2"]
    assert len(mnrl) == 2 and mnrl[1]["negative_2"] == "m1"  # padded from its own negatives; q3 skipped
    lst = build_train_dataset(ex, "listnet", 2)
    assert lst[0]["docs"] == ["pos", "n1", "n2"] and lst[0]["labels"] == [1.0, 0.0, 0.0]


# --------------------------------------------------------------------------- training
def test_cli_train_loss_falls_and_saves_a_loadable_teacher(tmp_path, tiny):
    from transformers import AutoModelForSequenceClassification

    from optical_rerank.rerank import CrossEncoderReranker, RerankConfig

    triples = _triples(tmp_path / "triples.tsv")
    out = tmp_path / "teacher"
    rc = main(["train", "--out", str(out), "--backbone", str(tiny), "--loss", "bce", "--data", "triples",
               "--triples", str(triples),
               "--max-length", "32", "--batch-size", "8", "--learning-rate", "1e-3", "--num-negatives", "2",
               "--mine-depth", "5", "--max-steps", "24", "--warmup-ratio", "0", "--logging-steps", "1",
               "--save-steps", "8", "--device", "cpu", "--no-progress", "--dev-max-queries", "0"])
    assert rc == 0
    rec = load_teacher_config(out)
    assert rec["complete"] and rec["config"]["loss"] == "bce" and rec["train"]["global_step"] == 24
    assert rec["command"].startswith("python -m optical_rerank.teacher train")
    assert rec["environment"]["torch"] and rec["data"]["train_examples"] == 24
    losses = [h["loss"] for h in rec["log_history"] if "loss" in h]
    assert len(losses) >= 20
    assert sum(losses[-4:]) / 4 < 0.6 * sum(losses[:4]) / 4
    assert not (out / "checkpoints").exists()  # removed after success
    model = AutoModelForSequenceClassification.from_pretrained(str(out), use_safetensors=True)
    assert model.config.num_labels == 1 and (out / "model.safetensors").is_file()
    rr = CrossEncoderReranker(str(out), RerankConfig(model=str(out), max_length=64, query_template="{text}",
                                                     passage_template="{text}"))
    s = rr.score_pairs(["what is the capital berlin"] * 2,
                       ["the capital city of the country is 3", "food and music of the 3"])
    assert s[0] > s[1]
    with pytest.raises(ConfigError, match="already holds"):
        train_teacher(_cfg(tiny, triples=str(triples), max_steps=1, loss="bce"), out)


@pytest.mark.parametrize("loss", ["mnrl", "listnet", "lambda", "cmnrl"])
def test_other_losses_train(tmp_path, tiny, loss):
    cfg = _cfg(tiny, triples=str(_triples(tmp_path / "t.tsv", 8)), loss=loss, batch_size=4, max_steps=2,
               mini_batch_size=4)
    res = train_teacher(cfg, tmp_path / "m")
    assert res.global_step == 2 and res.train_loss is not None
    assert load_teacher_config(tmp_path / "m")["config"]["loss"] == loss


class _Interrupt(Exception):
    pass


def test_resume_from_latest_checkpoint(tmp_path, tiny):
    from transformers import TrainerCallback

    class StopAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 5:
                raise _Interrupt()

    cfg = _cfg(tiny, triples=str(_triples(tmp_path / "t.tsv", 16)), max_steps=6, save_steps=2)
    out = tmp_path / "m"
    with pytest.raises(_Interrupt):
        train_teacher(cfg, out, callbacks=[StopAt()])
    assert latest_checkpoint(out / "checkpoints").name == "checkpoint-4"
    assert not (out / TEACHER_CONFIG).exists()
    # another config may not resume these checkpoints
    with pytest.raises(ConfigError, match="different config"):
        train_teacher(_cfg(tiny, triples=cfg.triples, max_steps=6, save_steps=2, learning_rate=5e-4), out)
    done: list[int] = []

    class Count(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            done.append(state.global_step)

    res = train_teacher(cfg, out, callbacks=[Count()])
    assert res.resumed_from.endswith("checkpoint-4") and res.global_step == 6
    assert done == [5, 6]  # steps 1-4 were not redone
    assert [h["step"] for h in res.log_history if "loss" in h] == [1, 2, 3, 4, 5, 6]  # history restored
    assert load_teacher_config(out)["train"]["resumed_from"].endswith("checkpoint-4")


def test_ensure_teacher_trains_once(tmp_path, tiny, monkeypatch):
    from optical_rerank import teacher

    cfg = _cfg(tiny, triples=str(_triples(tmp_path / "t.tsv", 8)), max_steps=1)
    first = ensure_teacher(cfg)
    assert first.parent.name == "teachers" and (first / TEACHER_CONFIG).is_file()

    def boom(*a, **k):
        raise AssertionError("should reuse the cached teacher")

    monkeypatch.setattr(teacher, "train_teacher", boom)
    assert ensure_teacher(cfg) == first
    # a different config (or different input contents) is a different teacher
    assert TeacherConfig.fingerprint(_cfg(tiny, triples=cfg.triples, max_steps=2)) != cfg.fingerprint()


# --------------------------------------------------------------------------- data
def _write_corpus(path: Path, docs: list[tuple[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"id": i, "contents": t}) + "\n" for i, t in docs), encoding="utf-8")
    return path


def test_mined_negatives_never_include_a_positive(tmp_path):
    from optical_rerank.first_stage import Bm25Retriever, build_index, load_corpus_texts

    docs = [("pos", "Berlin is the capital city of Germany."),
            ("dup", "berlin is the capital city of germany"),  # the positive's text under another id
            ("n1", "Berlin has many rivers and a capital market."), ("n2", "The city of Berlin hosts music."),
            ("n3", "Paris is the capital of France."), ("alias", "Germany's capital city is Berlin, a large city.")]
    corpus = _write_corpus(tmp_path / "c" / "corpus.jsonl", docs)
    build_index(corpus, tmp_path / "idx", "en")
    texts = load_corpus_texts(corpus)
    r = Bm25Retriever(tmp_path / "idx")
    q = [Query("q1", "capital city of Germany Berlin")]
    for sampling in ("top", "sample"):
        negs = mine_hard_negatives(r, q, {"q1": {"pos"}}, texts, depth=10, num_negatives=5, sampling=sampling,
                                   exclude={"q1": {"alias"}})
        assert negs["q1"] and not {"pos", "dup", "alias"} & set(negs["q1"])
    top2 = mine_hard_negatives(r, q, {"q1": {"pos"}}, texts, depth=10, num_negatives=2, sampling="top")["q1"]
    run = r.retrieve(q, k=10, with_text=False)["q1"]
    assert top2 == [h.docid for h in run if h.docid not in ("pos", "dup")][:2]
    again = mine_hard_negatives(r, q, {"q1": {"pos"}}, texts, depth=10, num_negatives=2, sampling="sample", seed=3)
    assert again == mine_hard_negatives(r, q, {"q1": {"pos"}}, texts, depth=10, num_negatives=2, sampling="sample",
                                        seed=3)


def _fake_afriqa(root: Path) -> Path:
    """A prepared-AfriQA-like set: hau and zul, train/dev/test, an English corpus."""
    docs = {f"d{i}": t for i, t in enumerate([
        "Abuja is the capital city of Nigeria.", "The Niger is the largest river of Nigeria.",
        "Durban is a large city of South Africa.", "Pretoria is the capital of South Africa.",
        "Kano is an old city in the north of Nigeria.", "The Limpopo river flows through South Africa.",
        "Lagos is the largest city of Nigeria.", "Nelson Mandela was the first president of South Africa.",
        "Cape Town hosts the parliament.", "Zulu music and food are famous."])}
    _write_corpus(root / "corpus" / "en" / "corpus.jsonl", list(docs.items()))
    split_rows = {
        ("hau", "train"): [("What is the capital of Nigeria?", "d0"), ("What is the largest river in Nigeria?", "d1"),
                           ("Who was the first president of South Africa?", "d7"),  # equals a test question
                           ("Which is the largest city of Nigeria?", "d6")],        # equals a dev question
        ("zul", "train"): [("What is the capital of South Africa?", "d3"), ("Which river flows through South Africa?", "d5"),
                           ("what is the capital of nigeria", "d4")],  # same question as hau train, other gold
        ("hau", "dev"): [("Which is the largest city of Nigeria", "d6"), ("Where is Kano?", "d4")],
        ("zul", "dev"): [("Where is the parliament of South Africa?", "d8")],
        ("hau", "test"): [("Who was the first president of South Africa", "d7")],
        ("zul", "test"): [("Where is Durban?", "d2")],
    }
    for (lang, split), rows in split_rows.items():
        qs = [Query(f"{lang}-{split}-{i}", text, "en") for i, (text, _) in enumerate(rows)]
        write_topics(root / "topics" / f"afriqa.{lang}.{split}.translated.tsv", qs)
        write_topics(root / "topics" / f"afriqa.{lang}.{split}.native.tsv",
                     [Query(q.qid, f"native {lang} {i} {split}", lang) for i, q in enumerate(qs)])
        write_qrels(root / "qrels" / f"afriqa.{lang}.{split}.qrels", {q.qid: {d: 1} for q, (_, d) in zip(qs, rows)})
    (root / "card.json").write_text("{}", encoding="utf-8")
    return root


def test_afriqa_data_drops_test_and_dev_questions(tmp_path):
    root = _fake_afriqa(tmp_path / "afriqa")
    data = afriqa_training_data(root, num_negatives=3, mine_depth=8, sampling="top", dev_max_queries=10, dev_depth=5)
    qids = {e.qid for e in data.train}
    assert "hau-train-2" not in qids  # equal to a test question (normalised: case, punctuation)
    assert "hau-train-3" not in qids  # equal to a dev question
    assert qids == {"hau-train-0", "hau-train-1", "zul-train-0", "zul-train-1", "zul-train-2"}
    assert data.report["dropped_equal_to_test"] == 1 and data.report["dropped_equal_to_dev"] == 1
    assert data.report["per_language"]["hau"]["dropped_equal_to_test"] == 1
    by_qid = {e.qid: e for e in data.train}
    texts = {e.positive_id: e.positive for e in data.train}
    for e in data.train:
        assert e.positive_id not in e.negative_ids and e.positive not in e.negatives
    # the same question asked in another language: its gold passage is not a negative
    assert "d4" not in by_qid["hau-train-0"].negative_ids and "d0" not in by_qid["zul-train-2"].negative_ids
    assert texts["d0"] == "Abuja is the capital city of Nigeria."
    assert {d.qid for d in data.dev} == {"hau-dev-0", "hau-dev-1", "zul-dev-0"}
    dev = {d.qid: d for d in data.dev}
    assert dev["hau-dev-1"].positives == ("Kano is an old city in the north of Nigeria.",)
    assert len(dev["hau-dev-1"].documents) <= 5
    with pytest.raises(ConfigError, match="French|pivots"):
        afriqa_training_data(root, languages=["fon"])


def test_triples_exclude_topics_and_same_text_negatives(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("who is it\tThe answer.\tthe answer\nwho is it\tThe answer.\tother\nsecret q\tp\tn\n",
                    encoding="utf-8")
    write_topics(tmp_path / "test.tsv", [Query("1", "Secret Q?")])
    data = triples_training_data(path, num_negatives=4, exclude_topics=[tmp_path / "test.tsv"])
    assert [(e.query, e.negatives) for e in data.train] == [("who is it", ("other",))]
    assert data.report["dropped_by_leakage_guard"] == 1 and data.report["negatives_equal_to_positive_dropped"] == 1


def test_train_with_afriqa_dev_and_evaluate(tmp_path, tiny):
    root = _fake_afriqa(tmp_path / "afriqa")
    cfg = TeacherConfig(backbone=str(tiny), afriqa_dir=str(root), max_length=48, batch_size=4, learning_rate=1e-3,
                        num_negatives=2, mine_depth=6, max_steps=4, save_steps=2, warmup_ratio=0.0,
                        dev_max_queries=3, dev_depth=4, device="cpu", show_progress=False)
    res = train_teacher(cfg, tmp_path / "m")
    rec = load_teacher_config(tmp_path / "m")
    assert {"dev_mrr@10", "dev_ndcg@10"} <= set(res.dev_metrics) and rec["dev"] == res.dev_metrics
    assert any("eval_dev_mrr@10" in h for h in rec["log_history"])
    assert rec["data"]["dev_queries"] == 3 and rec["train"]["best_checkpoint"] is not None
    out = evaluate_teacher(tmp_path / "m", sets=("afriqa",), afriqa_dir=root, depth=3, max_queries=5,
                           runs_dir=tmp_path / "runs", show_progress=False, command="cmd")
    per = out["afriqa_en"]["per_language"]
    assert set(per) == {"hau", "zul"} and per["hau"]["queries"] == 1
    assert {"ndcg_cut_10", "mrr@10", "recall_3"} <= set(per["zul"]["teacher"])
    assert "afriqa_en_mrr10_ge_bm25_plus_0.10" in out["targets"]
    from optical_rerank.teacher import format_eval_markdown

    md = format_eval_markdown(out)
    assert "BM25 MRR@10" in md and "cmd" in md
    # the CLI writes STEM.json and STEM.md with the command that made them
    stem = tmp_path / "res" / "eval"
    assert main(["evaluate", str(tmp_path / "m"), "--sets", "afriqa", "--afriqa-dir", str(root), "--depth", "3",
                 "--runs-dir", str(tmp_path / "runs2"), "--output", str(stem), "--no-progress"]) == 0
    saved = json.loads((tmp_path / "res" / "eval.json").read_text())
    assert saved["command"].startswith("python -m optical_rerank.teacher evaluate")
    assert saved["afriqa_en"]["per_language"]["zul"]["queries"] == 1
    assert "python -m optical_rerank.teacher evaluate" in (tmp_path / "res" / "eval.md").read_text()
    assert main(["summarize", str(tmp_path / "m"), "--output", str(tmp_path / "res" / "dev")]) == 0
    assert "| `m` | listnet |" in (tmp_path / "res" / "dev.md").read_text()


def test_head_learning_rate_and_frozen_embeddings(tmp_path, tiny):
    from transformers import TrainerCallback

    seen = {}

    class Peek(TrainerCallback):
        def on_step_begin(self, args, state, control, model=None, optimizer=None, **kw):
            if "groups" not in seen:
                named = dict(model.named_parameters())
                ids = {id(p): n for n, p in named.items()}
                seen["groups"] = [(g["initial_lr"] if "initial_lr" in g else g["lr"], sorted(ids[id(p)] for p in g["params"]))
                                  for g in optimizer.param_groups if g["params"]]
                seen["frozen"] = sorted(n for n, p in named.items() if not p.requires_grad)

    cfg = _cfg(tiny, triples=str(_triples(tmp_path / "t.tsv", 8)), max_steps=1, head_learning_rate=0.05)
    train_teacher(cfg, tmp_path / "m", callbacks=[Peek()])
    head = [names for lr, names in seen["groups"] if lr == 0.05]
    assert head and all(("classifier" in n or "pooler" in n) for names in head for n in names)
    others = [n for lr, names in seen["groups"] if lr != 0.05 for n in names]
    assert others and not any("classifier" in n or "pooler" in n for n in others)
    assert seen["frozen"] == [n for n in seen["frozen"] if "word_embeddings" in n] and seen["frozen"]

"""The experiment runner end to end on real AfriQA data with tiny random models (no downloads)."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from optical_rerank.errors import ConfigError
from optical_rerank.experiment import ExperimentConfig, main, sample_queries
from _tiny import make_tiny_bert
from optical_rerank.types import Query


def test_sample_queries_is_seeded_and_ordered():
    qs = [Query(str(i), f"q{i}") for i in range(50)]
    a, b = sample_queries(qs, 10, 0, "k"), sample_queries(qs, 10, 0, "k")
    assert a == b and len(a) == 10 and a == sorted(a, key=lambda q: int(q.qid))
    assert sample_queries(qs, 10, 1, "k") != a
    assert sample_queries(qs, None, 0, "k") == qs


def test_config_errors(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: x\nsystems: [bm25-native, nope]\n")
    with pytest.raises(ConfigError, match="unknown systems"):
        ExperimentConfig.load(p)
    p.write_text("name: x\nfoo: 1\n")
    with pytest.raises(ConfigError, match="unknown keys"):
        ExperimentConfig.load(p)
    p.write_text("name: x\nsystems: [optical-l12]\n")  # a variant must be declared under students
    with pytest.raises(ConfigError, match="key of `students`"):
        ExperimentConfig.load(p)
    p.write_text("name: x\nsystems: [optical-l12]\nstudents: {optical-l12: {layers: [12]}}\n")
    with pytest.raises(ConfigError, match="method"):
        ExperimentConfig.load(p)
    p.write_text("name: x\nsystems: [optical-l12]\nstudents: {optical-l12: {method: ot, layers: [12]}}\n")
    assert ExperimentConfig.load(p).systems == ("optical-l12",)
    p.write_text("name: [x\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        ExperimentConfig.load(p)


def test_typos_and_bad_values_fail_at_load_naming_the_key(tmp_path):
    """Every block goes through its stage config's checked from_dict before anything trains."""
    p = tmp_path / "c.yaml"
    cases = [
        ("students: {optical: {method: ot, stepz: 10}}", r"students\.optical: DistillConfig: unknown field.*stepz"),
        ("students: {optical: {method: ot, reg: -1}}", r"students\.optical: DistillConfig: reg"),
        ("students: {optical: {method: ot, context_k: 0}}", r"students\.optical\.context_k"),
        ("students: {optical: {method: ot, output: x}}", r"students\.optical\.output is set by the experiment"),
        ("teacher: {losss: bce}", r"teacher: TeacherConfig: unknown field.*losss"),
        ("teacher: {loss: nope}", r"teacher: TeacherConfig: loss"),
        ("depth: 0", r"depth must be an integer >= 1"),
        ("depth: ten", r"depth must be an integer >= 1"),
        ("seed: -1", r"seed must be an integer >= 0"),
        ("max_queries_per_language: 2.5", r"max_queries_per_language"),
        ("bm25: {k1: fast}", r"bm25\.k1"),
        ("bm25: {k1: 0.9, b: 2}", r"bm25\.b"),
        ("bm25: {k: 1}", r"bm25 has unknown keys"),
        ("rerank: {max_lenght: 64}", r"rerank: RerankConfig: unknown field.*max_lenght"),
        ("candidates: both", r"candidates"),
        ("afriqa: {languages: [hau], splits: test}", r"afriqa has unknown keys.*splits"),
        ("afriqa: {languages: [hau], split: val}", r"afriqa\.split"),
        ("ntrex: {languages: hau}", r"ntrex\.languages"),
        ("dl19: {systems: [nope]}", r"dl19\.systems: unknown systems"),
        ("bitext: {language: [hau]}", r"bitext has unknown keys"),
        ("baseline_for_tests: [optical-l4]", r"baseline_for_tests: unknown systems"),
    ]
    for body, match in cases:
        p.write_text(f"name: x\n{body}\n")
        with pytest.raises(ConfigError, match=match):
            ExperimentConfig.load(p)
    with pytest.raises(ConfigError, match="depth"):  # overrides are checked too
        replace(ExperimentConfig(name="x"), depth=0)
    # the committed experiment configs load
    for name in ("afriqa", "afriqa-dev", "afriqa-dev-score", "demo", "students-dev"):
        assert ExperimentConfig.load(Path(__file__).resolve().parents[1] / "configs" / f"{name}.yaml").name


def test_cli_reports_a_config_typo_in_one_line(tmp_path, capsys):
    from optical_rerank.cli import run_cli

    p = tmp_path / "c.yaml"
    p.write_text("name: x\nstudents: {optical: {method: ot, layerz: [12]}}\n")
    assert run_cli(main, [str(p)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "students.optical" in err and "layerz" in err


def test_experiment_end_to_end_tiny(tmp_path, mirror, capsys):
    tiny = make_tiny_bert(tmp_path / "tiny")
    cfg = {
        "name": "t", "data_root": str(tmp_path / "data"), "models_root": str(tmp_path / "models"),
        "runs_dir": str(tmp_path / "runs"), "results_dir": str(tmp_path / "results"),
        "max_queries_per_language": 4, "depth": 3, "rerank": {"max_length": 48, "batch_size": 8},
        "systems": ["bm25-native", "bm25-translated", "teacher-native", "teacher-translated", "kd", "optical",
                    "optical-ctx"],
        "teacher": {"backbone": str(tiny), "loss": "listnet", "batch_size": 2, "mini_batch_size": 6, "max_steps": 2,
                    "max_length": 48, "dev_max_queries": 2, "max_train_queries": 10, "num_negatives": 2,
                    "languages": ["hau"]},
        "students": {"optical": {"method": "ot", "steps": 2, "batch_size": 4, "max_length": 24},
                     "kd": {"method": "mse", "steps": 2, "batch_size": 4, "max_length": 24},
                     # a sweep variant: in-context alignment on BM25 passages of the English side
                     "optical-ctx": {"method": "ot", "layers": [2], "steps": 2, "batch_size": 4, "max_length": 40,
                                     "in_context": True, "score_weight": 0.5, "context_k": 2}},
        "bitext": {"languages": ["hau"], "sources": ["afriqa", "flores"]},
        "afriqa": {"languages": ["hau", "kin"], "split": "test"},
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "## afriqa: ndcg_cut_10" in out and "OPTICAL student" in out and "kin" in out  # kin reported missing
    res = json.loads((tmp_path / "results" / "t" / "results.json").read_text())
    row = res["sets"]["afriqa/hau"]
    assert set(cfg["systems"]) <= set(row)
    assert all(r["num_queries"] == 4 for s, r in row.items() if s != "candidates")
    assert any(m["lang"] == "kin" for m in res["missing"])
    assert set(res["significance"]["afriqa/hau"]) == {"teacher-native", "kd", "bm25-native"}
    assert (tmp_path / "results" / "t" / "afriqa_ndcg10.png").stat().st_size > 1000
    assert len(res["budget"]["queries"]["afriqa/hau"]) == 4
    # the variant ran in context: its passages are BM25 hits of the bitext's English side
    ctx_files = list((tmp_path / "data" / "contexts").glob("bm25-top2-*.jsonl"))
    assert len(ctx_files) == 1
    ctx = [json.loads(line) for line in ctx_files[0].read_text().splitlines()]
    assert ctx and all(1 <= len(c["passages"]) <= 2 and c["en"] for c in ctx)
    student_cfg = json.loads(next((tmp_path / "models").glob("student-optical-ctx-*/model/distill_config.json")).read_text())
    assert student_cfg["in_context"] is True and student_cfg["layers"] == [2]
    summary = res["students"]["afriqa"]["students"]
    assert set(summary) == {"optical", "kd", "optical-ctx"}
    assert summary["optical-ctx"]["vs_teacher-native"]["n"] == 4 and "gap_recovered" in summary["optical-ctx"]
    assert "students compared" in out and "| optical-ctx | ot | [2] |" in out
    assert (tmp_path / "results" / "t" / "afriqa_students.png").stat().st_size > 1000
    records = tmp_path / "results" / "t" / "models"
    assert (records / "teacher_config.json").is_file()
    assert len(list(records.glob("student-*/distill_config.json"))) == 3
    assert len(list(records.glob("student-*/train_log.jsonl"))) == 3
    # rerun: everything cached, identical results
    first = {s: r["aggregate"] for s, r in row.items() if s != "candidates"}
    assert main([str(path)]) == 0
    again = json.loads((tmp_path / "results" / "t" / "results.json").read_text())["sets"]["afriqa/hau"]
    assert {s: r["aggregate"] for s, r in again.items() if s != "candidates"} == first
    # a changed student makes its cached run stale: reranked with the new model, the others reused
    runs = tmp_path / "runs" / "t" / "afriqa" / "hau"
    kd_mtime = (runs / "kd.txt").stat().st_mtime_ns
    old_model = json.loads((runs / "optical.txt.config.json").read_text())["config"]["model"]
    cfg["students"]["optical"]["steps"] = 3
    path.write_text(yaml.safe_dump(cfg))
    assert main([str(path)]) == 0
    new_model = json.loads((runs / "optical.txt.config.json").read_text())["config"]["model"]
    assert new_model != old_model and "student-optical-" in new_model
    assert (runs / "kd.txt").stat().st_mtime_ns == kd_mtime
    assert "is stale" in capsys.readouterr().err
    # changed BM25 settings: the cached first-stage runs are made again, never reused (issue 17)
    bm25_before = (runs / "bm25-native.txt").read_bytes()
    cfg["bm25"] = {"k1": 1.5, "b": 0.75}
    path.write_text(yaml.safe_dump(cfg))
    assert main([str(path)]) == 0
    assert "other settings or queries: retrieving again" in capsys.readouterr().err
    key = json.loads((runs / "bm25-native.txt.key.json").read_text())
    assert key["bm25"] == {"k1": 1.5, "b": 0.75}
    assert (runs / "bm25-native.txt").read_bytes() != bm25_before


def test_stale_run_detection(tmp_path):
    from optical_rerank.experiment import _stale_run

    run = tmp_path / "x.txt"
    qs = [Query("1", "a"), Query("2", "b")]
    assert _stale_run(run, "/m/student-a/model", qs, 10) is None  # absent
    run.write_text("1 Q0 d 1 1.000000 x\n")
    meta = {"config": {"model": "/elsewhere/student-a/model", "depth": 10}, "qids": ["1", "2"]}
    (tmp_path / "x.txt.config.json").write_text(json.dumps(meta))
    assert _stale_run(run, "work/models/student-a/model", qs, 10) is None  # moved checkout: same model
    assert "now" in _stale_run(run, "work/models/student-b/model", qs, 10)
    assert "depth" in _stale_run(run, "work/models/student-a/model", qs, 20)
    assert _stale_run(run, "work/models/student-a/model", qs[:1], 10) == "other queries"
    # the scoring settings recorded with the run must match too (a fused teacher is not an unfused one)
    meta["config"].update({"max_length": 160, "query_template": "query: {text}"})
    (tmp_path / "x.txt.config.json").write_text(json.dumps(meta))
    same = {"max_length": 160, "query_template": "query: {text}", "fusion_weight": 0.0}
    assert _stale_run(run, "work/models/student-a/model", qs, 10, same) is None
    assert "fusion_weight" in _stale_run(run, "work/models/student-a/model", qs, 10, {**same, "fusion_weight": 2.0})
    assert "max_length" in _stale_run(run, "work/models/student-a/model", qs, 10, {**same, "max_length": 256})
    (tmp_path / "x.txt.config.json").write_text("{")
    assert "unreadable" in _stale_run(run, "work/models/student-a/model", qs, 10)


def test_context_passages_needs_a_collection_and_k(tmp_path):
    from optical_rerank.experiment import Experiment

    exp = Experiment(ExperimentConfig(name="x", data_root=str(tmp_path), afriqa=None))
    with pytest.raises(ConfigError, match="context_corpus"):
        exp.context_passages([], 3)
    with pytest.raises(ConfigError, match="context_k"):
        exp.context_passages([], 0)


def test_student_key_depends_on_the_leakage_guard():
    from optical_rerank.experiment import student_key

    base = student_key("t", ["b.tsv"], {"method": "ot"}, 0, ["a.test.tsv"])
    assert base == student_key("t", ["b.tsv"], {"method": "ot"}, 0, ["a.test.tsv"])
    assert base != student_key("t", ["b.tsv"], {"method": "ot"}, 0, ["a.test.tsv", "ntrex.tsv"])
    assert base != student_key("t", ["b.tsv"], {"method": "mse"}, 0, ["a.test.tsv"])

"""The experiment runner end to end on real AfriQA data with tiny random models (no downloads)."""
from __future__ import annotations

import json

import pytest
import yaml

from optical_rerank.errors import ConfigError
from optical_rerank.experiment import ExperimentConfig, main, sample_queries
from optical_rerank.models import make_tiny_bert
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
    p.write_text("name: [x\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        ExperimentConfig.load(p)


def test_experiment_end_to_end_tiny(tmp_path, mirror, capsys):
    tiny = make_tiny_bert(tmp_path / "tiny")
    cfg = {
        "name": "t", "data_root": str(tmp_path / "data"), "models_root": str(tmp_path / "models"),
        "runs_dir": str(tmp_path / "runs"), "results_dir": str(tmp_path / "results"),
        "max_queries_per_language": 4, "depth": 3, "rerank": {"max_length": 48, "batch_size": 8},
        "systems": ["bm25-native", "bm25-translated", "teacher-native", "teacher-translated", "kd", "optical"],
        "teacher": {"backbone": str(tiny), "loss": "listnet", "batch_size": 2, "mini_batch_size": 6, "max_steps": 2,
                    "max_length": 48, "dev_max_queries": 2, "max_train_queries": 10, "num_negatives": 2,
                    "languages": ["hau"]},
        "students": {"optical": {"method": "ot", "steps": 2, "batch_size": 4, "max_length": 24},
                     "kd": {"method": "mse", "steps": 2, "batch_size": 4, "max_length": 24}},
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
    # rerun: everything cached, identical results
    first = {s: r["aggregate"] for s, r in row.items() if s != "candidates"}
    assert main([str(path)]) == 0
    again = json.loads((tmp_path / "results" / "t" / "results.json").read_text())["sets"]["afriqa/hau"]
    assert {s: r["aggregate"] for s, r in again.items() if s != "candidates"} == first

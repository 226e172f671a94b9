"""Reranking over a local Ray instance: 2 actors write the single process's run byte for byte."""
from __future__ import annotations

import pytest

from optical_rerank.rerank import RerankConfig, rerank_to_file
from optical_rerank.types import Hit, Query
from tests._tiny import make_tiny_bert

WORDS = "the city of berlin is the capital and the river runs by paris people live in the school with music".split()


def test_ray_run_equals_single_process_byte_for_byte(tmp_path):
    ray = pytest.importorskip("ray")
    from optical_rerank.rerank._ray import RayPool

    model = make_tiny_bert(tmp_path / "ce", hidden_size=32, num_layers=2)
    queries = [Query(f"q{i}", " ".join(WORDS[i:i + 3])) for i in range(9)]
    cands = {q.qid: [Hit(q.qid, f"d{i}_{k}", float(20 - k), k + 1, " ".join(WORDS[(i + k) % 10:(i + k) % 10 + 6]))
                     for k in range(7)] for i, q in enumerate(queries)}
    cfg = RerankConfig(model=str(model), max_length=32, batch_size=4, depth=5, device="cpu", threads=1,
                       fusion_weight=0.0)
    single = rerank_to_file(queries, cands, tmp_path / "single.txt", cfg, tag="t")
    try:
        with RayPool(cfg, "auto", workers=2, batch_queries=2) as pool:
            assert len(pool.actors) == 2
            distributed = rerank_to_file(queries, cands, tmp_path / "ray.txt", cfg, tag="t", pool=pool)
            other = RerankConfig(**{**cfg.to_dict(), "depth": 3})
            with pytest.raises(Exception, match="another config"):
                rerank_to_file(queries, cands, tmp_path / "x.txt", other, tag="t", pool=pool)
    finally:
        ray.shutdown()
    assert distributed.read_bytes() == single.read_bytes()
    assert len(single.read_text().splitlines()) == 9 * 7
    assert (tmp_path / "ray.txt.config.json").read_bytes() == (tmp_path / "single.txt.config.json").read_bytes()


def test_ray_options_are_checked():
    from optical_rerank.errors import ConfigError
    from optical_rerank.run import main

    with pytest.raises(ConfigError, match="add --model"):
        main(["--topics", "t.tsv", "--index", "i", "--ray", "auto"])

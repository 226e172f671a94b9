"""Our scores equal the trec_eval bundled in Pyserini's fatjar, on real DL19 files and on tricky runs."""
from __future__ import annotations

import random

import pytest

from optical_rerank import java
from optical_rerank.errors import ConfigError
from optical_rerank.evaluate import evaluate_run, main, paired_test
from optical_rerank.trec_io import read_qrels, read_run, write_qrels, write_run
from optical_rerank.types import Hit

MEASURES = ["map", "ndcg_cut.10", "recip_rank", "recall.100", "P.10", "ndcg_cut.20"]


def _parse_trec_eval(text):
    out = {}
    for line in text.splitlines():
        m, qid, v = line.split()
        out[(m, qid)] = float(v)
    return out


def _assert_equal_to_pyserini(qrels_path, run_path, complete):
    args = (["-c"] if complete else []) + ["-q"] + sum((["-m", m] for m in MEASURES), []) + [str(qrels_path), str(run_path)]
    ref = _parse_trec_eval(java.run_bundled_trec_eval(args))
    ours = evaluate_run(qrels_path, run_path, MEASURES, complete=complete)
    n_checked = 0
    for (m, qid), v in ref.items():
        got = ours.aggregate[m] if qid == "all" else ours.per_query[qid][m]
        assert got == pytest.approx(v, abs=5e-5), (m, qid)
        n_checked += 1
    per_query_ref = {q for (_, q) in ref if q != "all"}
    if complete:  # trec_eval -c -q prints only run queries; the others count as zero in "all"
        missing = set(read_qrels(qrels_path)) - per_query_ref
        assert set(ours.per_query) == per_query_ref | missing
        assert all(v == 0.0 for q in missing for v in ours.per_query[q].values())
    else:
        assert per_query_ref == set(ours.per_query)
    assert n_checked >= len(MEASURES) * 2


@pytest.fixture(scope="module")
def dl19(mirror):
    qrels = next(mirror.glob("castorini/anserini-tools/*/qrels/qrels.dl19-passage.txt"))
    run = next(mirror.glob("castorini/rank_llm/*/retrieve_results/BM25/trec_results_dl19.txt"))
    return qrels, run


@pytest.mark.parametrize("complete", [False, True])
def test_real_dl19_bm25_equals_pyserini_trec_eval(dl19, complete):
    _assert_equal_to_pyserini(*dl19, complete)


def test_ties_missing_queries_and_graded_labels_equal_pyserini(tmp_path, dl19):
    qrels = read_qrels(dl19[0])
    rng = random.Random(0)
    run = {}
    for qid in sorted(qrels)[:20]:  # leave the rest out: -c must count them as zero
        docs = list(qrels[qid])[:30] + [f"unjudged{i}" for i in range(10)]
        rng.shuffle(docs)
        run[qid] = [Hit(qid, d, float(rng.choice([1, 2, 3])), 0) for d in docs]  # many ties
    run_path = tmp_path / "ties.txt"
    write_run(run_path, run, tag="ties")
    _assert_equal_to_pyserini(dl19[0], run_path, complete=True)
    _assert_equal_to_pyserini(dl19[0], run_path, complete=False)
    # in-memory evaluation equals evaluating the written file
    assert evaluate_run(dl19[0], run, MEASURES).aggregate == evaluate_run(dl19[0], run_path, MEASURES).aggregate


def test_mrr_at_10_and_cli(tmp_path, capsys):
    qrels = tmp_path / "q"
    write_qrels(qrels, {"a": {"x": 1}, "b": {"y": 1}})
    run = tmp_path / "r"
    write_run(run, {"a": [Hit("a", f"d{i}", 100 - i, 0) for i in range(11)] + [Hit("a", "x", 1, 0)],
                    "b": [Hit("b", "y", 5, 0)]})
    res = evaluate_run(qrels, run, ["recip_rank", "mrr@10"])
    assert res.aggregate["recip_rank"] == pytest.approx((1 / 12 + 1) / 2)
    assert res.aggregate["mrr@10"] == pytest.approx(0.5)
    assert main([str(qrels), str(run), "-m", "mrr@10", "-q"]) == 0
    out = capsys.readouterr().out
    assert "mrr@10                \ta\t0.0000" in out and "mrr@10                \tall\t0.5000" in out
    with pytest.raises(ConfigError, match="unknown measure"):
        evaluate_run(qrels, run, ["nope"])


def test_paired_test_and_table(tmp_path, dl19, capsys):
    base = evaluate_run(dl19[0], dl19[1], ["ndcg_cut.10"])
    run = read_run(dl19[1])
    qrels = read_qrels(dl19[0])
    # an "oracle" reranking: judged-relevant first -> must be significantly better
    better = {q: [Hit(q, h.docid, float(qrels.get(q, {}).get(h.docid, 0)) + h.score / 1000, 0) for h in hits]
              for q, hits in run.items()}
    res = paired_test(evaluate_run(dl19[0], better, ["ndcg_cut.10"]), base, "ndcg_cut.10", n_comparisons=3)
    assert res.diff > 0.2 and res.p_value < 1e-6 and res.p_corrected == pytest.approx(min(1, 3 * res.p_value))
    same = paired_test(base, base, "ndcg_cut.10")
    assert same.p_value == 1.0 and same.diff == 0.0
    path = tmp_path / "better.txt"
    write_run(path, better)
    assert main([str(dl19[0]), str(dl19[1]), str(path), "-m", "ndcg_cut.10"]) == 0
    out = capsys.readouterr().out
    assert "†" in out.splitlines()[3] and "Bonferroni" in out

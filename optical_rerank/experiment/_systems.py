"""The systems an experiment compares (table in the package docstring), and the keys that let it reuse
trained students and runs across invocations.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import ConfigError
from ..files import sha256_file, sha256_json
from ..types import Query

#: first-stage systems -> what :meth:`Experiment.first_stage_run` makes for them
FIRST_STAGES = {"bm25-native": "native", "wordtrans-bm25": "wordtrans", "dense": "dense", "hybrid": "hybrid",
                "bm25-translated": "translated", "oracle-bm25": "translated", "bm25-doc-translated": "doc-translated"}
ALL_SYSTEMS = ("bm25-native", "wordtrans-bm25", "dense", "hybrid", "bm25-translated", "oracle-bm25",
               "bm25-doc-translated", "teacher-native", "teacher-wordtrans", "teacher-translated", "kd", "optical",
               "e5-biencoder", "e5-rerank")
#: the systems of a config that does not list its own (the first study's)
DEFAULT_SYSTEMS = ("bm25-native", "bm25-translated", "bm25-doc-translated", "teacher-native", "teacher-translated",
                   "kd", "optical", "e5-biencoder")
RERANKERS = ("teacher-native", "teacher-wordtrans", "teacher-translated", "kd", "optical", "e5-biencoder",
             "e5-rerank")
#: rerankers that are the e5 bi-encoder (``e5-rerank`` is the name of the realistic study)
BIENCODER_SYSTEMS = ("e5-biencoder", "e5-rerank")
#: ``candidates`` of a config: ``translated`` / ``native`` (BM25 with that query, the first study's)
#: or a first-stage system name
CANDIDATE_CHOICES = ("translated", "native", *FIRST_STAGES)


def candidate_system(candidates: str) -> str:
    """The first-stage system whose run gives the rerankers' candidates."""
    return {"translated": "bm25-translated", "native": "bm25-native"}.get(candidates, candidates)
#: the model of the ``e5-biencoder`` system
BIENCODER_MODEL = "e5-small-multilingual"
#: the systems run on DL19 (English queries only: no native query, no student)
DL19_SYSTEMS = ("teacher-translated", "e5-biencoder")


def known_systems(students: Sequence[str]) -> list[str]:
    """Every system name, in table order: the fixed systems, then student variants in config order."""
    return list(ALL_SYSTEMS) + [s for s in students if s not in ALL_SYSTEMS]


def system_order(cfg_students: Sequence[str], present: set[str] | Sequence[str]) -> list[str]:
    """The systems of ``present`` in table order (:func:`known_systems`)."""
    return [s for s in known_systems(cfg_students) if s in present]


def block_systems(block: Mapping, students: Sequence[str] = ()) -> tuple[str, ...] | None:
    """A dataset block may restrict the systems run on it (``systems: [...]``)."""
    systems = block.get("systems")
    if systems is None:
        return None
    known = known_systems(students)
    bad = sorted(set(systems) - set(known))
    if bad:
        raise ConfigError(f"unknown systems {bad}; known: {known}")
    return tuple(systems)


def short_hash(obj: object) -> str:
    """The 12-hex-digit key of ``obj`` used in the experiment's cache names (kept byte for byte)."""
    return sha256_json(obj, compact=False, ensure_ascii=True, default=str)[:12]


def student_key(teacher: str, bitext: Sequence[str], fields: Mapping, seed: int, eval_topics: Sequence[str]) -> str:
    """Cache key of a student: everything that determines its training data and weights.

    The evaluation topics are part of it because the leakage guard drops the bitext pairs that
    match them: the same student block under another set of evaluation datasets is another model.
    The teacher's weights and the bitext files are keyed by content (sha256), not only by path.
    """
    from ..models import weights_sha256  # heavy

    return short_hash({"teacher": teacher, "bitext": list(bitext), "fields": dict(fields), "seed": seed,
                       "eval_topics": sorted(eval_topics),
                       "teacher_weights": weights_sha256(teacher) if Path(teacher).is_dir() else None,
                       "bitext_sha256": [sha256_file(p) if Path(p).is_file() else None for p in bitext]})


def _model_key(model: str) -> str:
    """The last two components of a model path (``student-optical-<hash>/model``, ``teachers/<hash>``):
    content-addressed names that survive moving the checkout."""
    parts = Path(model).parts
    return "/".join(parts[-2:])


def _stale_run(path: Path, model: str, queries: Sequence[Query], depth: int,
               expected: Mapping[str, object] | None = None) -> str | None:
    """Why an existing run file no longer matches this experiment (``None``: reusable or absent).

    A run is reused only if the ``<run>.config.json`` written beside it names the same model
    (content-addressed directory name), rerank depth and queries; a changed student or budget
    therefore reranks instead of silently reporting the old run. ``expected`` adds config fields
    that must be recorded with the same value (templates, max length, fusion); a field the run
    does not record counts as its default (``None``, or 0 for ``fusion_weight``).
    """
    meta_path = Path(f"{path}.config.json")
    if not path.is_file() or not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        recorded = meta["config"]
    except (ValueError, KeyError, TypeError):
        return f"unreadable {meta_path.name}"
    if _model_key(str(recorded.get("model", ""))) != _model_key(model):
        return f"made with {recorded.get('model')}, now {model}"
    if recorded.get("depth") != depth:
        return f"depth {recorded.get('depth')}, now {depth}"
    if meta.get("qids") is not None and list(meta["qids"]) != [q.qid for q in queries]:
        return "other queries"
    for name, want in (expected or {}).items():
        have = recorded.get(name, 0.0 if name == "fusion_weight" else None)
        if name == "fusion_weight":
            have, want = float(have or 0.0), float(want or 0.0)
        if have != want:
            return f"{name} {have!r}, now {want!r}"
    return None

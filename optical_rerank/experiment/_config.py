"""The experiment's config: :class:`ExperimentConfig`, every block checked when it is built.

A typo anywhere (a top-level key, a dataset block, a teacher or student field) is one
:class:`~optical_rerank.errors.ConfigError` naming the key, raised before anything trains: the
teacher block goes through :meth:`TeacherConfig.from_dict <optical_rerank.teacher.TeacherConfig.from_dict>`,
every student block through :meth:`DistillConfig.from_dict <optical_rerank.distill.DistillConfig.from_dict>`
and the ``rerank`` block through :class:`~optical_rerank.rerank.RerankConfig`.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import from_dict, is_int, is_number, load_config_file
from ..errors import ConfigError
from ..models import shipped_models
from ..rerank import RerankConfig
from ..teacher import TeacherConfig
from ._systems import ALL_SYSTEMS, CANDIDATE_CHOICES, DEFAULT_SYSTEMS, block_systems, known_systems

#: keys of a student block that are the experiment's, not :class:`~optical_rerank.distill.DistillConfig` fields
STUDENT_EXTRAS = ("context_k", "context_corpus")
#: DistillConfig fields the experiment sets itself (a student block must not)
STUDENT_SET_BY_EXPERIMENT = ("teacher", "output", "eval_topics")
#: what each dataset block may hold
DATASET_KEYS = {"afriqa": ("languages", "split", "systems"), "xquad_r": ("languages", "systems"),
                "ntrex": ("languages", "systems"), "dl19": ("max_queries", "systems")}
#: options of ``data prepare bitext`` a ``bitext`` block may set (besides ``languages``)
BITEXT_KEYS = ("languages", "sources", "afriqa_splits", "ciral_sets")
AFRIQA_SPLITS = ("train", "dev", "test")


def _log(msg: str) -> None:
    print(f"[experiment {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def distill_fields(block: Mapping[str, Any]) -> dict[str, Any]:
    """A student block without the experiment's own keys (:data:`STUDENT_EXTRAS`): DistillConfig fields."""
    return {k: v for k, v in block.items() if k not in STUDENT_EXTRAS}


@dataclass(frozen=True)
class ExperimentConfig:
    """An experiment; read from YAML/JSON, saved next to its results.

    ``teacher`` is ``{shipped: NAME}`` (a trained teacher shipped with the package, see
    ``python -m optical_rerank.models list``) or :class:`optical_rerank.teacher.TeacherConfig` fields (trained), ``students`` maps a
    system name (``optical``, ``kd``) to :class:`optical_rerank.distill.DistillConfig` fields (plus
    ``context_k`` and ``context_corpus``) or to ``{shipped: NAME}`` (a shipped student: nothing to train), and each dataset block (``afriqa``, ``xquad_r``,
    ``ntrex``, ``dl19``) lists its languages; ``None`` leaves a dataset out. Every field is checked
    when the config is built (:meth:`check`).
    """

    name: str
    data_root: str = "work/data"
    models_root: str = "work/models"
    runs_dir: str = "runs"
    results_dir: str = "results"
    seed: int = 0
    max_queries_per_language: int | None = 30
    depth: int = 20
    candidates: str = "translated"
    bm25: dict = field(default_factory=lambda: {"k1": 0.9, "b": 0.4})
    rerank: dict = field(default_factory=lambda: {"max_length": 256, "batch_size": 32})
    measures: tuple[str, ...] = ("ndcg_cut.10", "mrr@10", "map")
    systems: tuple[str, ...] = DEFAULT_SYSTEMS
    baseline_for_tests: tuple[str, ...] = ("teacher-native", "kd", "bm25-native", "e5-biencoder")
    teacher: dict = field(default_factory=dict)
    students: dict = field(default_factory=lambda: {"optical": {"method": "ot"}, "kd": {"method": "mse"}})
    bitext: dict = field(default_factory=dict)
    afriqa: dict | None = field(default_factory=lambda: {"languages": ["hau", "ibo", "swa", "twi", "yor", "zul"],
                                                         "split": "test"})
    xquad_r: dict | None = None
    ntrex: dict | None = None
    dl19: dict | None = None
    #: the dense first stage (:class:`optical_rerank.dense.DenseConfig` fields) and the word-translation
    #: baseline (``iterations`` of IBM Model 1, ``freedict``: use the FreeDict dictionary where one is known)
    dense: dict = field(default_factory=dict)
    wordtrans: dict = field(default_factory=lambda: {"iterations": 10, "freedict": True})

    def __post_init__(self) -> None:
        for name in ("measures", "systems", "baseline_for_tests"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        self.check()

    @staticmethod
    def load(path: str | Path) -> ExperimentConfig:
        """Read and check a YAML or JSON experiment config; errors name the file and the key."""
        return load_config_file(path, ExperimentConfig.from_mapping, "experiment config")

    @staticmethod
    def from_mapping(obj: object) -> ExperimentConfig:
        """A checked config from a parsed YAML/JSON document (errors name the key)."""
        if not isinstance(obj, dict):
            raise ConfigError(f"expected a mapping at the top level, got {type(obj).__name__}")
        known = {f for f in ExperimentConfig.__dataclass_fields__}
        unknown = sorted(set(obj) - known)
        if unknown:
            raise ConfigError(f"unknown keys {unknown}; known: {sorted(known)}")
        _need("name" in obj, "name", "is required (the experiment's output folders are named by it)", None)
        return from_dict(ExperimentConfig, obj, required=("name",))

    # ------------------------------------------------------------------ checks
    def check(self) -> None:
        """Raise :class:`ConfigError` naming the first key whose value is wrong."""
        _need(isinstance(self.name, str) and bool(self.name.strip()), "name", "must be a non-empty string", self.name)
        for key in ("data_root", "models_root", "runs_dir", "results_dir"):
            _need(isinstance(getattr(self, key), str), key, "must be a path string", getattr(self, key))
        _need(is_int(self.seed) and self.seed >= 0, "seed", "must be an integer >= 0", self.seed)
        n = self.max_queries_per_language
        _need(n is None or (is_int(n) and n >= 1), "max_queries_per_language", "must be null or an integer >= 1", n)
        _need(is_int(self.depth) and self.depth >= 1, "depth", "must be an integer >= 1", self.depth)
        _need(self.candidates in CANDIDATE_CHOICES, "candidates",
              f"must be one of {', '.join(CANDIDATE_CHOICES)}", self.candidates)
        _need(isinstance(self.dense, dict), "dense", "must be a mapping of DenseConfig fields", self.dense)
        _checked("dense", lambda: _dense_config(self.dense))
        _need(isinstance(self.wordtrans, dict) and set(self.wordtrans) <= {"iterations", "freedict", "min_count"},
              "wordtrans", "must be a mapping with iterations, min_count and freedict", self.wordtrans)
        it = self.wordtrans.get("iterations", 10)
        _need(is_int(it) and it >= 1, "wordtrans.iterations", "must be an integer >= 1", it)
        mc = self.wordtrans.get("min_count", 1)
        _need(is_int(mc) and mc >= 1, "wordtrans.min_count", "must be an integer >= 1", mc)
        _need(isinstance(self.wordtrans.get("freedict", True), bool), "wordtrans.freedict", "must be true or false",
              self.wordtrans.get("freedict"))
        self._check_bm25()
        self._check_rerank()
        for key in ("measures", "systems", "baseline_for_tests"):
            value = getattr(self, key)
            _need(isinstance(value, tuple) and all(isinstance(v, str) and v for v in value), key,
                  "must be a list of names", value)
        _need(bool(self.measures), "measures", "must name at least one measure", self.measures)
        from ..evaluate import validate_measures  # heavy (pytrec_eval): the measures are checked before any work

        _checked("measures", lambda: validate_measures(self.measures))
        self._check_students()
        systems = known_systems(self.students)
        for key in ("systems", "baseline_for_tests"):
            bad = sorted(set(getattr(self, key)) - set(systems))
            if bad:
                raise ConfigError(f"{key}: unknown systems {bad}; known: {systems} (a student variant must be a key "
                                  "of `students`)")
        _need(isinstance(self.teacher, dict), "teacher",
              "must be {shipped: NAME} or a mapping of TeacherConfig fields", self.teacher)
        if "shipped" in self.teacher:
            _need(set(self.teacher) == {"shipped"} and self.teacher["shipped"] in shipped_models("teacher"),
                  "teacher.shipped", f"must be alone and name a shipped teacher ({', '.join(shipped_models('teacher'))})",
                  self.teacher)
        else:
            _checked("teacher", lambda: TeacherConfig.from_dict(self.teacher))
        self._check_bitext()
        self._check_datasets()

    def _check_bm25(self) -> None:
        _need(isinstance(self.bm25, dict), "bm25", "must be a mapping with k1 and b", self.bm25)
        unknown = sorted(set(self.bm25) - {"k1", "b"})
        _need(not unknown, "bm25", f"has unknown keys {unknown}; known: ['b', 'k1']", self.bm25)
        k1, b = self.bm25.get("k1", 0.9), self.bm25.get("b", 0.4)
        _need(is_number(k1) and k1 >= 0, "bm25.k1", "must be a number >= 0", k1)
        _need(is_number(b) and 0 <= b <= 1, "bm25.b", "must be a number in [0, 1]", b)

    def _check_rerank(self) -> None:
        _need(isinstance(self.rerank, dict), "rerank", "must be a mapping of RerankConfig fields", self.rerank)
        for key in ("model", "depth"):
            _need(key not in self.rerank, f"rerank.{key}", "is set by the experiment (the top-level depth; each "
                  "system's model)", self.rerank.get(key))
        _checked("rerank", lambda: from_dict(RerankConfig, {**self.rerank, "model": "model", "depth": self.depth}))

    def _check_students(self) -> None:
        _need(isinstance(self.students, dict), "students", "must map a student name to its fields", self.students)
        for name, block in self.students.items():
            key = f"students.{name}"
            if name in ALL_SYSTEMS and name not in ("kd", "optical"):
                raise ConfigError(f"{key}: student name {name!r} is a baseline system; use another name")
            if isinstance(block, dict) and "shipped" in block:  # a trained student shipped with the package
                _need(set(block) == {"shipped"} and block["shipped"] in shipped_models("student"), f"{key}.shipped",
                      f"must be alone and name a shipped student ({', '.join(shipped_models('student')) or 'none'})",
                      block)
                continue
            if not isinstance(block, dict) or "method" not in block:
                raise ConfigError(f"{key} must be a mapping with a `method` (ot, mse or score) or {{shipped: NAME}}")
            ctx_k = block.get("context_k", 3)
            _need(is_int(ctx_k) and ctx_k >= 1, f"{key}.context_k", "must be an integer >= 1", ctx_k)
            corpus = block.get("context_corpus")
            _need(corpus is None or isinstance(corpus, str), f"{key}.context_corpus", "must be a path", corpus)
            for own in STUDENT_SET_BY_EXPERIMENT:
                _need(own not in block, f"{key}.{own}", "is set by the experiment", block.get(own))
            _checked(key, lambda block=block: _distill_config(distill_fields(block), self.seed))

    def _check_bitext(self) -> None:
        _need(isinstance(self.bitext, dict), "bitext", "must be a mapping", self.bitext)
        unknown = sorted(set(self.bitext) - set(BITEXT_KEYS))
        _need(not unknown, "bitext", f"has unknown keys {unknown}; known: {sorted(BITEXT_KEYS)}", self.bitext)
        _check_languages("bitext.languages", self.bitext.get("languages"), optional=True)
        for key in ("sources", "afriqa_splits", "ciral_sets"):
            v = self.bitext.get(key)
            _need(v is None or (isinstance(v, str) and v.strip()) or (isinstance(v, list) and v and all(
                isinstance(x, str) and x for x in v)), f"bitext.{key}", "must be a comma-separated string or a list "
                  "of names", v)

    def _check_datasets(self) -> None:
        for name, keys in DATASET_KEYS.items():
            block = getattr(self, name)
            if block is None:
                continue
            _need(isinstance(block, dict), name, "must be a mapping (or null to leave the dataset out)", block)
            unknown = sorted(set(block) - set(keys))
            _need(not unknown, name, f"has unknown keys {unknown}; known: {sorted(keys)}", block)
            if "languages" in keys:
                _check_languages(f"{name}.languages", block.get("languages"))
            if name == "afriqa":
                split = block.get("split", "test")
                _need(split in AFRIQA_SPLITS, "afriqa.split", f"must be one of {AFRIQA_SPLITS}", split)
            if name == "dl19":
                n = block.get("max_queries")
                _need(n is None or (is_int(n) and n >= 1), "dl19.max_queries", "must be null or an integer >= 1", n)
            systems = block.get("systems")
            _need(systems is None or (isinstance(systems, list) and all(isinstance(s, str) for s in systems)),
                  f"{name}.systems", "must be a list of system names", systems)
            _checked(f"{name}.systems", lambda block=block: block_systems(block, self.students))


def _distill_config(fields: Mapping[str, Any], seed: int) -> Any:
    """The checked DistillConfig of a student's fields (``seed`` by default the experiment's).

    ``teacher`` and ``output`` are placeholders unless ``fields`` gives them (the experiment does,
    when it trains the student; a config block may not).
    """
    from ..distill import DistillConfig  # heavy

    return DistillConfig.from_dict({"seed": seed, "teacher": "teacher", "output": "output", **fields})


def _dense_config(fields: Mapping[str, Any]) -> Any:
    """The checked :class:`~optical_rerank.dense.DenseConfig` of a ``dense`` block."""
    from ..dense import DenseConfig

    return from_dict(DenseConfig, dict(fields))


def _need(cond: bool, key: str, what: str, value: object) -> None:
    if not cond:
        raise ConfigError(f"{key} {what}, got {value!r}")


def _checked(key: str, build: Any) -> None:
    """Run ``build()``; a :class:`ConfigError` it raises is re-raised prefixed with ``key``."""
    try:
        build()
    except ConfigError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def _check_languages(key: str, langs: object, optional: bool = False) -> None:
    if langs is None and optional:
        return
    _need(isinstance(langs, list) and all(isinstance(x, str) and x for x in langs), key,
          "must be a list of language codes", langs)

"""The teacher's config: :class:`TeacherConfig`, its fingerprint and the saved record's name."""
from __future__ import annotations

import dataclasses
import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import from_dict as config_from_dict
from ..config import read_config_file
from ..errors import ConfigError, OpticalRerankError
from ..files import sha256_file, sha256_json
from ..rerank import E5_TEMPLATES, PLAIN_TEMPLATES, TEACHER_CARD, is_e5_name

DEFAULT_BACKBONE = "e5-small-multilingual"
LOSSES = ("bce", "mnrl", "cmnrl", "listnet", "lambda")
DATA_SOURCES = ("afriqa", "triples", "qrels")
SAMPLING = ("top", "sample")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
TEACHER_CONFIG = TEACHER_CARD
#: Parameters of the sequence-classification head (BERT/XLM-R pooler and classifier).
HEAD_PATTERN = r"(^|\.)(classifier|pooler)\."
CHECKPOINT_DIR = "checkpoints"
FORMAT = "optical_rerank.teacher/1"
#: Fields that change how training runs, not what it produces (left out of the cache key).
RUNTIME_FIELDS = frozenset({"save_steps", "logging_steps", "device", "threads", "keep_checkpoints", "show_progress"})


def _log(msg: str) -> None:
    print(f"[teacher] {msg}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class TeacherConfig:
    """Everything that determines a trained teacher (saved as ``teacher_config.json``).

    Parameters
    ----------
    backbone : zoo name (``e5-small-multilingual``, ``minilm-l6-en``) or a local model directory.
    loss : one of :data:`LOSSES` (see the package docstring); default ``listnet``, the winner on
        AfriQA dev (``results/teacher/dev_loss_comparison.md``).
    data : ``afriqa`` | ``triples`` | ``qrels``.
    afriqa_dir : a prepared AfriQA set (``python -m optical_rerank.data prepare afriqa``);
        ``None``: prepared on first use into ``cache_dir()/prepared/afriqa``.
    languages : AfriQA languages whose train questions are used (default: every English-pivot one).
    triples : ``query<TAB>positive<TAB>negative`` file (``data="triples"``).
    topics, qrels, corpus : training topics, qrels (relevance > 0 is positive) and JsonCollection
        corpus (``data="qrels"``).
    run : candidate run to take negatives from (``data="qrels"``); without it they are mined by
        BM25 over ``index``.
    index : Lucene index for mining (``data="qrels"``), built by ``optical_rerank.index``.
    dev_topics, dev_qrels, dev_run : a dev set for the generic sources (texts from ``corpus``).
    exclude_topics : extra topics files whose questions must not be trained on.
    num_negatives : hard negatives per positive.
    mine_depth : BM25 depth the negatives are taken from.
    negative_sampling : ``top`` (the best-ranked non-positives) or ``sample`` (a seeded uniform
        sample of the mined pool, in rank order; fewer false negatives from near-duplicates).
    max_train_queries : use at most this many training queries (seeded sample); ``None``: all.
    max_length : tokens per (query, passage) input.
    query_template, passage_template : how texts are rendered (``{text}`` once); ``None``: E5's
        ``query: ``/``passage: `` prefixes for E5 backbones, none otherwise.
    freeze_embeddings : keep the word-embedding matrix fixed (faster on CPU; rows of languages
        never seen in English training stay consistent with the English ones).
    batch_size : pairs per step (``bce``) or queries per step (other losses).
    learning_rate, epochs, max_steps, warmup_ratio, weight_decay, gradient_accumulation_steps :
        optimisation (``max_steps > 0`` overrides ``epochs``).
    head_learning_rate : learning rate of the freshly initialised pooler and classifier (a
        parameter group through sentence-transformers' ``learning_rate_mapping``); ``None``: the
        same as ``learning_rate``. A larger one lets a short CPU run leave the random-head phase.
    in_batch_negatives : random in-batch negatives per query for ``mnrl``/``cmnrl`` (>= 1).
    mini_batch_size : (query, passage) pairs per forward chunk for ``cmnrl``, ``listnet``, ``lambda``
        (bounds memory; does not change the loss).
    seed : seeds the head initialisation, data order and negative sampling.
    precision : ``auto`` (bf16 on a GPU that supports it, else fp32), ``fp32``, ``bf16``, ``fp16``.
    dev_max_queries, dev_depth : dev evaluation budget (seeded sample of dev queries, each a
        reranking of its top ``dev_depth`` BM25/run candidates); ``0`` queries: no dev evaluation.
    eval_steps : evaluate dev every this many steps (``None``: at every checkpoint).
    select_best : keep the checkpoint with the best dev MRR@10 rather than the last one.
    early_stopping_patience : stop after this many dev evaluations without improvement.
    save_steps, logging_steps, device, threads, keep_checkpoints, show_progress : how the run
        goes, not what it produces (see :data:`RUNTIME_FIELDS`).
    """

    backbone: str = DEFAULT_BACKBONE
    loss: str = "listnet"
    data: str = "afriqa"
    afriqa_dir: str | None = None
    languages: tuple[str, ...] = ()
    triples: str | None = None
    topics: str | None = None
    qrels: str | None = None
    corpus: str | None = None
    run: str | None = None
    index: str | None = None
    dev_topics: str | None = None
    dev_qrels: str | None = None
    dev_run: str | None = None
    exclude_topics: tuple[str, ...] = ()
    num_negatives: int = 4
    mine_depth: int = 30
    negative_sampling: str = "sample"
    max_train_queries: int | None = None
    max_length: int = 256
    query_template: str | None = None
    passage_template: str | None = None
    freeze_embeddings: bool = True
    batch_size: int = 8
    learning_rate: float = 3e-5
    head_learning_rate: float | None = None
    epochs: float = 1.0
    max_steps: int = -1
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    gradient_accumulation_steps: int = 1
    in_batch_negatives: int = 1
    mini_batch_size: int = 16
    seed: int = 0
    precision: str = "auto"
    dev_max_queries: int = 200
    dev_depth: int = 20
    eval_steps: int | None = None
    select_best: bool = True
    early_stopping_patience: int | None = None
    save_steps: int = 100
    logging_steps: int = 10
    device: str = "auto"
    threads: int | None = None
    keep_checkpoints: bool = False
    show_progress: bool = True

    def __post_init__(self) -> None:
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise ConfigError(f"TeacherConfig: {msg}")

        def pos_int(name: str, minimum: int = 1) -> None:
            v = getattr(self, name)
            need(isinstance(v, int) and not isinstance(v, bool) and v >= minimum,
                 f"{name} must be an integer >= {minimum}, got {v!r}")

        # normalise sequences given as lists (e.g. from JSON)
        for name in ("languages", "exclude_topics"):
            v = getattr(self, name)
            if isinstance(v, str):
                v = tuple(x for x in v.replace(",", " ").split() if x)
            object.__setattr__(self, name, tuple(v or ()))
        need(isinstance(self.backbone, str) and bool(self.backbone.strip()), "backbone must be a non-empty string")
        need(self.loss in LOSSES, f"loss must be one of {LOSSES}, got {self.loss!r}")
        need(self.data in DATA_SOURCES, f"data must be one of {DATA_SOURCES}, got {self.data!r}")
        need(self.negative_sampling in SAMPLING, f"negative_sampling must be one of {SAMPLING}")
        need(self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}")
        need(self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"),
             f"device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")
        for name in ("num_negatives", "mine_depth", "max_length", "batch_size", "gradient_accumulation_steps",
                     "in_batch_negatives", "mini_batch_size", "dev_depth", "save_steps", "logging_steps"):
            pos_int(name)
        pos_int("seed", 0)
        pos_int("dev_max_queries", 0)
        need(self.max_length >= 16, f"max_length must be >= 16, got {self.max_length}")
        need(self.mine_depth > self.num_negatives,
             f"mine_depth ({self.mine_depth}) must exceed num_negatives ({self.num_negatives})")
        need(isinstance(self.max_steps, int) and (self.max_steps == -1 or self.max_steps >= 1),
             f"max_steps must be -1 (use epochs) or >= 1, got {self.max_steps!r}")
        need(self.max_train_queries is None or (isinstance(self.max_train_queries, int) and self.max_train_queries >= 1),
             "max_train_queries must be None or >= 1")
        need(self.eval_steps is None or (isinstance(self.eval_steps, int) and self.eval_steps >= 1),
             "eval_steps must be None or >= 1")
        need(self.early_stopping_patience is None or self.early_stopping_patience >= 1,
             "early_stopping_patience must be None or >= 1")
        need(self.threads is None or self.threads >= 1, "threads must be None or >= 1")
        for name, v in (("learning_rate", self.learning_rate), ("epochs", self.epochs)):
            need(isinstance(v, (int, float)) and math.isfinite(v) and v > 0, f"{name} must be > 0, got {v!r}")
        need(self.head_learning_rate is None or (isinstance(self.head_learning_rate, (int, float))
                                                  and math.isfinite(self.head_learning_rate)
                                                  and self.head_learning_rate > 0),
             f"head_learning_rate must be None or > 0, got {self.head_learning_rate!r}")
        need(0 <= self.warmup_ratio < 1, "warmup_ratio must be in [0, 1)")
        need(self.weight_decay >= 0, "weight_decay must be >= 0")
        for name in ("query_template", "passage_template"):
            t = getattr(self, name)
            need(t is None or (isinstance(t, str) and t.count("{text}") == 1),
                 f"{name} must contain '{{text}}' exactly once, got {t!r}")
        if self.data == "triples":
            need(self.triples is not None, "data='triples' needs triples=PATH")
        if self.data == "qrels":
            need(None not in (self.topics, self.qrels, self.corpus), "data='qrels' needs topics, qrels and corpus")
            need(self.run is not None or self.index is not None,
                 "data='qrels' needs run=PATH (negatives from candidates) or index=DIR (mined by BM25)")
        dev = (self.dev_topics, self.dev_qrels)
        need(all(x is None for x in dev) or all(x is not None for x in dev),
             "give dev_topics and dev_qrels together")
        if self.dev_topics is not None and self.data != "afriqa":
            need(self.corpus is not None, "a generic dev set needs corpus=PATH for passage texts")
            need(self.dev_run is not None or self.index is not None, "a generic dev set needs dev_run or index")

    # ---- templates
    def templates(self) -> tuple[str, str]:
        """The (query, passage) templates this teacher is trained and must be scored with."""
        auto = E5_TEMPLATES if is_e5_name(self.backbone) else PLAIN_TEMPLATES
        return (self.query_template or auto[0], self.passage_template or auto[1])

    # ---- serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists)."""
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> TeacherConfig:
        """Build from a dict; unknown keys are an error (typos must not be silently ignored)."""
        return config_from_dict(cls, obj)

    def identity(self) -> dict[str, Any]:
        """The fields that determine the trained model (all but :data:`RUNTIME_FIELDS`)."""
        d = self.to_dict()
        for k in RUNTIME_FIELDS:
            d.pop(k, None)
        q, p = self.templates()
        d["query_template"], d["passage_template"] = q, p
        return d

    def fingerprint(self) -> str:
        """sha256 of :meth:`identity` and of the contents of every input file it names."""
        return sha256_json({"config": self.identity(), "inputs": _input_fingerprints(self)})


def _input_fingerprints(cfg: TeacherConfig) -> dict[str, str | None]:
    """sha256 of each user-given input file (a directory: of its card.json, or of its file list)."""
    out: dict[str, str | None] = {}
    for name in ("triples", "topics", "qrels", "corpus", "run", "dev_topics", "dev_qrels", "dev_run", "afriqa_dir"):
        value = getattr(cfg, name)
        if value is None:
            continue
        p = Path(value)
        if p.is_file():
            out[name] = sha256_file(p)
        elif p.is_dir():
            card = p / "card.json"
            out[name] = sha256_file(card) if card.is_file() else sha256_json(sorted(
                [str(f.relative_to(p)), f.stat().st_size] for f in p.rglob("*") if f.is_file()))
        else:
            out[name] = None
    for i, value in enumerate(cfg.exclude_topics):
        p = Path(value)
        out[f"exclude_topics[{i}]"] = sha256_file(p) if p.is_file() else None
    out["backbone_weights"] = _backbone_weights(cfg.backbone)
    return out


def _backbone_weights(backbone: str) -> str | None:
    """sha256 of the backbone's weights, however it is named (zoo, shipped, hub cache, directory)."""
    from ..models import weights_sha256  # the zoo may convert or merge the backbone on first use

    try:
        return weights_sha256(backbone)
    except OpticalRerankError:  # not a model: training it fails with this error, the key does not matter
        return None


def load_teacher_config(model_dir: str | Path) -> dict | None:
    """The ``teacher_config.json`` of a trained teacher directory, or ``None`` if absent."""
    p = Path(model_dir) / TEACHER_CONFIG
    if not p.is_file():
        return None
    rec = read_config_file(p, "teacher config").data
    if not isinstance(rec, dict):
        raise ConfigError(f"{p}: a teacher config must be a JSON object, got {type(rec).__name__}")
    return rec

"""The monolingual English teacher: a cross-encoder fine-tuned on English relevance.

``python -m optical_rerank.teacher train --out DIR`` fine-tunes a cross-encoder from a backbone
(default the converted ``e5-small-multilingual``; ``minilm-l6-en`` or any local directory as an
option) with sentence-transformers' ``CrossEncoderTrainer``; ``evaluate MODEL_DIR`` checks it on
real judgments (TREC DL19 passage and AfriQA test with the human English questions), each
next to BM25; ``summarize`` tabulates the dev results of several trained teachers.

Why a multilingual backbone trained on English only: the student of OPTICAL starts as a copy of
the teacher and is aligned to it on bitext; a backbone whose vocabulary and layers already cover
the target languages lets the student start close to a working model.

Training data
-------------
``--data afriqa`` (default), all English, following DESIGN.md section 3:

* **train**: the human English translation of every AfriQA *train* question (English-pivot
  languages) with its gold passage as the positive;
* **dev** (choices only: checkpoint selection, early stopping, loss comparison): the dev split's
  English questions, each scored as a reranking of its BM25 top ``dev_depth`` candidates;
* **test**: never read for training. Every train question whose native or English text equals a
  test question of any language (``data.leakage.normalize_text``: NFKC, casefold, no
  punctuation) is dropped; so is one equal to a dev question, which keeps dev unseen.
* Hard negatives are mined by BM25 (Pyserini) over the AfriQA English passage corpus and never
  include a positive: the gold docid, any passage whose normalised text equals a positive's, and
  the gold passages of other train/dev questions with the same normalised English text (the same
  question asked in two languages) are all excluded.

Generic inputs for users with more data: ``--data triples`` (MS MARCO-style ``query<TAB>positive
<TAB>negative`` TSV; rows with the same query and positive are grouped) and ``--data qrels``
(topics + qrels + corpus, negatives from a candidate ``--run`` or mined by BM25 over ``--index``).
``--exclude-topics`` adds evaluation topics to the leakage guard of any source.

Losses (``--loss``)
-------------------
``bce``
    ``BinaryCrossEntropyLoss`` on (query, passage, 0/1) pairs: the positive and its hard
    negatives, ``pos_weight = num_negatives`` so both classes weigh the same.
``mnrl`` / ``cmnrl``
    ``MultipleNegativesRankingLoss`` (cached variant: ``CachedMultipleNegativesRankingLoss``) on
    (query, positive, negative_1..n) tuples plus ``in_batch_negatives`` random in-batch passages.
``listnet``
    ``ListNetLoss`` on (query, [positive, negatives...]) with labels (1, 0, ...): a softmax
    cross-entropy over each query's group, i.e. the "localized contrastive estimation" loss.
``lambda``
    ``LambdaLoss`` (NDCG-Loss2++ weighting) on the same lists.

``batch_size`` counts pairs for ``bce`` and *queries* (each with ``1 + num_negatives`` passages)
for the others; use ``batch_size_bce = (1 + n) * batch_size_listwise`` to compare losses at an
equal number of scored pairs per step.

Which loss: ``listnet`` (the default) won on AfriQA dev at an equal CPU budget (75 steps of 20
scored pairs, e5-small, ``--max-length 128``, lr 5e-5; 80 dev queries reranking BM25 top-10):
dev MRR@10 0.7175 for ``listnet`` and 0.6921 for ``bce`` (BM25 order: 0.6533); a 10x learning
rate on the new head (``--head-learning-rate 1e-3``) added +0.0075 (0.7250), within noise of
80 queries. Why: the listwise softmax over a query's positive and its own hard negatives is a
ranking objective that is invariant to a shift of all scores, so a freshly initialised head gets
a useful signal at once; BCE must first calibrate absolute scores (its loss stayed at the class-
balanced baseline, about 1.1, for all 75 steps). This matches the "localized contrastive
estimation" finding for BERT rerankers (Gao et al., 2021). See
``results/teacher/dev_loss_comparison.md`` (produced by ``summarize``) for the commands.

Outputs
-------
``OUT/`` is a normal Hugging Face directory (``config.json`` with ``num_labels = 1``,
``model.safetensors``, tokenizer files), loadable by ``AutoModelForSequenceClassification``, by
:class:`~optical_rerank.rerank.CrossEncoderReranker` and by sentence-transformers'
``CrossEncoder``. ``OUT/teacher_config.json`` holds the config, the query/passage templates to
score with, the data report (counts, leakage drops), dev metrics, the training log, wall time
and provenance; it is written last and marks the directory complete. Checkpoints go to
``OUT/checkpoints/checkpoint-N`` every ``save_steps``; a restart with the same config resumes
from the latest one automatically, and they are removed after success unless
``--keep-checkpoints``.

CPU budget
----------
Measured on this project's 2-core machine (shared with other jobs): e5-small (12 x 384) trains at
about 3-6 pairs/s at ``--max-length 128`` with the word embeddings frozen (the 250k x 384
embedding matrix is 82% of the parameters; with it trainable AdamW's step alone costs about
2 s) and scores about 5-15 pairs/s. The budget runs in ``results/teacher/`` (75 steps of 20
pairs, 80 dev queries at depth 10) took 10-15 minutes each; ``evaluate`` with all 43 DL19
queries and 6 x 25 AfriQA queries at depth 20 took 18 minutes. A GPU is used automatically when
present (bf16 where supported). Training needs ``accelerate>=1.1.0`` (the Hugging Face Trainer).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import importlib.util
import json
import math
import os
import random
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, InputFormatError, ModelError, config_fields
from .paths import cache_dir
from .provenance import environment_info
from .trec_io import (
    Qrels,
    iter_lines,
    read_qrels,
    read_run,
    read_topics,
    write_json_atomic,
    write_text_atomic,
)
from .types import Query

__all__ = [
    "DATA_SOURCES",
    "DEFAULT_BACKBONE",
    "LOSSES",
    "DevQuery",
    "TeacherConfig",
    "TeacherResult",
    "TrainExample",
    "TrainingData",
    "afriqa_training_data",
    "bm25_index_for",
    "build_parser",
    "build_train_dataset",
    "build_training_data",
    "ensure_teacher",
    "evaluate_teacher",
    "latest_checkpoint",
    "load_teacher_config",
    "main",
    "mine_hard_negatives",
    "prepared_set",
    "qrels_training_data",
    "train_teacher",
    "triples_training_data",
]

DEFAULT_BACKBONE = "e5-small-multilingual"
LOSSES = ("bce", "mnrl", "cmnrl", "listnet", "lambda")
DATA_SOURCES = ("afriqa", "triples", "qrels")
SAMPLING = ("top", "sample")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
TEACHER_CONFIG = "teacher_config.json"
#: Parameters of the sequence-classification head (BERT/XLM-R pooler and classifier).
HEAD_PATTERN = r"(^|\.)(classifier|pooler)\."
CHECKPOINT_DIR = "checkpoints"
FORMAT = "optical_rerank.teacher/1"
E5_TEMPLATES = ("query: {text}", "passage: {text}")
PLAIN_TEMPLATES = ("{text}", "{text}")
#: Fields that change how training runs, not what it produces (left out of the cache key).
RUNTIME_FIELDS = frozenset({"save_steps", "logging_steps", "device", "threads", "keep_checkpoints", "show_progress"})
#: AfriQA languages whose pivot (translation and passage) language is English.
AFRIQA_ENGLISH = ("bem", "hau", "ibo", "kin", "swa", "twi", "yor", "zul")


def _log(msg: str) -> None:
    print(f"[teacher] {msg}", file=sys.stderr, flush=True)


# =========================================================================== config
@dataclass(frozen=True)
class TeacherConfig:
    """Everything that determines a trained teacher (saved as ``teacher_config.json``).

    Parameters
    ----------
    backbone : zoo name (``e5-small-multilingual``, ``minilm-l6-en``) or a local model directory.
    loss : one of :data:`LOSSES` (see the module docstring); default ``listnet``, the winner on
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
        auto = E5_TEMPLATES if _is_e5(self.backbone) else PLAIN_TEMPLATES
        return (self.query_template or auto[0], self.passage_template or auto[1])

    # ---- serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists)."""
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> TeacherConfig:
        """Build from a dict; unknown keys are an error (typos must not be silently ignored)."""
        return cls(**config_fields(cls, obj))

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
        return _sha256_json({"config": self.identity(), "inputs": _input_fingerprints(self)})


def _is_e5(backbone: str) -> bool:
    name = backbone.strip().rstrip("/").lower()
    return name == DEFAULT_BACKBONE or "e5" in Path(name).name.split("-")


def _sha256_json(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


def _file_sha256(path: Path) -> str:
    from .models import _sha256_file  # noqa: PLC0415  (one streaming sha256 in the package)

    return _sha256_file(path)


def _input_fingerprints(cfg: TeacherConfig) -> dict[str, str | None]:
    """sha256 of each user-given input file (a directory: of its card.json, or of its file list)."""
    out: dict[str, str | None] = {}
    for name in ("triples", "topics", "qrels", "corpus", "run", "dev_topics", "dev_qrels", "dev_run", "afriqa_dir"):
        value = getattr(cfg, name)
        if value is None:
            continue
        p = Path(value)
        if p.is_file():
            out[name] = _file_sha256(p)
        elif p.is_dir():
            card = p / "card.json"
            out[name] = _file_sha256(card) if card.is_file() else _sha256_json(sorted(
                [str(f.relative_to(p)), f.stat().st_size] for f in p.rglob("*") if f.is_file()))
        else:
            out[name] = None
    for i, value in enumerate(cfg.exclude_topics):
        p = Path(value)
        out[f"exclude_topics[{i}]"] = _file_sha256(p) if p.is_file() else None
    backbone = Path(cfg.backbone)
    if backbone.is_dir() and (backbone / "model.safetensors").is_file():
        st = (backbone / "model.safetensors").stat()
        out["backbone_weights"] = f"{st.st_size}:{int(st.st_mtime)}"
    return out


def load_teacher_config(model_dir: str | Path) -> dict | None:
    """The ``teacher_config.json`` of a trained teacher directory, or ``None`` if absent."""
    p = Path(model_dir) / TEACHER_CONFIG
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputFormatError(p, exc.lineno, f"unreadable teacher config: {exc.msg}") from None


# =========================================================================== data
@dataclass(frozen=True)
class TrainExample:
    """One training query: its positive passage and hard negatives (raw texts, no templates)."""

    qid: str
    query: str
    positive: str
    negatives: tuple[str, ...]
    positive_id: str = ""
    negative_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class DevQuery:
    """A dev query: its relevant passages and its ranked first-stage candidates (raw texts and ids)."""

    qid: str
    query: str
    positives: tuple[str, ...]
    documents: tuple[str, ...]
    positive_ids: tuple[str, ...] = ()
    document_ids: tuple[str, ...] = ()


@dataclass
class TrainingData:
    """Training examples, dev queries and a JSON-ready report of how they were built."""

    train: list[TrainExample]
    dev: list[DevQuery]
    report: dict = field(default_factory=dict)


def _norm(text: str) -> str:
    from .data.leakage import normalize_text  # noqa: PLC0415

    return normalize_text(text)


def _rng_for(seed: int, key: str) -> random.Random:
    """A random generator that depends only on ``seed`` and ``key`` (order independent)."""
    return random.Random(int(hashlib.sha256(f"{seed}\t{key}".encode()).hexdigest()[:16], 16))


def _select_negatives(pool: Sequence[str], n: int, sampling: str, seed: int, qid: str) -> list[str]:
    if sampling == "top" or len(pool) <= n:
        return list(pool[:n])
    picked = sorted(_rng_for(seed, qid).sample(range(len(pool)), n))
    return [pool[i] for i in picked]


def mine_hard_negatives(retriever: Any, queries: Sequence[Query], positives: Mapping[str, Iterable[str]],
                        texts: Mapping[str, str], *, depth: int = 30, num_negatives: int = 4,
                        sampling: str = "top", seed: int = 0, exclude: Mapping[str, Iterable[str]] | None = None,
                        threads: int = 2) -> dict[str, list[str]]:
    """Hard negatives by BM25 that are never a positive.

    Parameters
    ----------
    retriever : a :class:`~optical_rerank.first_stage.Bm25Retriever` (anything with
        ``retrieve(queries, k, threads=, with_text=False)``).
    queries : the queries to mine for.
    positives : ``{qid: docids}`` judged relevant.
    texts : ``{docid: text}`` of the collection (positives and candidates).
    depth : BM25 depth.
    num_negatives : negatives per query (fewer when the pool is smaller).
    sampling : ``top`` or ``sample`` (seeded by ``seed`` and the qid, kept in rank order).
    exclude : further ``{qid: docids}`` that must not be negatives (e.g. gold passages of the
        same question asked in another language).

    Returns
    -------
    dict
        ``{qid: [docid, ...]}``. A candidate is dropped when its docid is a positive or excluded,
        when its normalised text (:func:`~optical_rerank.data.leakage.normalize_text`) equals that
        of a positive or excluded passage, or when it repeats the text of a negative already taken.
    """
    if sampling not in SAMPLING:
        raise ConfigError(f"negative sampling must be one of {SAMPLING}, got {sampling!r}")
    run = retriever.retrieve(list(queries), k=depth, threads=threads, with_text=False)
    out: dict[str, list[str]] = {}
    for q in queries:
        banned_ids = set(positives.get(q.qid, ())) | set((exclude or {}).get(q.qid, ()))
        banned_texts = {_norm(texts[d]) for d in banned_ids if d in texts}
        pool: list[str] = []
        seen_texts: set[str] = set()
        for hit in run.get(q.qid, []):
            if hit.docid in banned_ids:
                continue
            text = texts.get(hit.docid)
            if text is None:
                raise ConfigError(f"BM25 returned document {hit.docid!r}, which is not in the corpus given "
                                  "(index and corpus do not match)")
            n = _norm(text)
            if n in banned_texts or n in seen_texts:
                continue
            seen_texts.add(n)
            pool.append(hit.docid)
        out[q.qid] = _select_negatives(pool, num_negatives, sampling, seed, q.qid)
    return out


def prepared_set(name: str) -> Path:
    """A prepared data set (``afriqa``, ``dl19``) in ``cache_dir()/prepared/<name>``, built if absent."""
    from .data import prepare  # noqa: PLC0415

    out = cache_dir() / "prepared" / name
    if not (out / "card.json").is_file():
        _log(f"preparing {name} into {out}")
        prepare(name, out, skip_missing=(name == "afriqa"))
    return out


def bm25_index_for(corpus: str | Path, language: str = "en") -> Path:
    """A Lucene index of a JsonCollection file, cached under ``cache_dir()/indexes`` by content."""
    from .first_stage import build_index  # noqa: PLC0415

    corpus = Path(corpus)
    digest = _file_sha256(corpus)[:16]
    index_dir = cache_dir() / "indexes" / f"{corpus.parent.name}-{language}-{digest}"
    build_index(corpus, index_dir, language=language)
    return index_dir


def _afriqa_file(root: Path, lang: str, split: str, kind: str) -> Path:
    return root / "topics" / f"afriqa.{lang}.{split}.{kind}.tsv"


def _afriqa_langs(root: Path, requested: Sequence[str], split: str) -> list[str]:
    """English-pivot languages with ``split`` topics in the prepared set (validated against ``requested``)."""
    from .data.languages import AFRIQA_LANGUAGES  # noqa: PLC0415

    for lang in requested:
        if lang not in AFRIQA_LANGUAGES:
            raise ConfigError(f"unknown AfriQA language {lang!r}; AfriQA has {', '.join(AFRIQA_LANGUAGES)}")
        if AFRIQA_LANGUAGES[lang][1] != "en":
            raise ConfigError(f"AfriQA {lang} pivots to {AFRIQA_LANGUAGES[lang][1]!r}, not English; "
                              "the teacher is trained on English only")
    langs = list(requested) or [lang for lang in AFRIQA_ENGLISH]
    return [lang for lang in langs if _afriqa_file(root, lang, split, "translated").is_file()]


def _load_pairs(root: Path, lang: str, split: str) -> list[tuple[str, str, str]]:
    """``(qid, native, english)`` of one AfriQA language and split."""
    native = {q.qid: q.text for q in read_topics(_afriqa_file(root, lang, split, "native"))}
    english = read_topics(_afriqa_file(root, lang, split, "translated"), "en")
    return [(q.qid, native.get(q.qid, ""), q.text) for q in english]


def _sample(items: list, n: int | None, seed: int, key: Callable[[Any], str]) -> list:
    """At most ``n`` items: a seeded, order-independent sample kept in input order."""
    if n is None or len(items) <= n:
        return list(items)
    ranked = sorted(range(len(items)), key=lambda i: _rng_for(seed, key(items[i])).random())
    keep = set(ranked[:n])
    return [x for i, x in enumerate(items) if i in keep]


def _build_guard(paths: Iterable[Path]):
    from .data.leakage import LeakageGuard  # noqa: PLC0415

    guard = LeakageGuard()
    for p in paths:
        guard.add_topics_file(p)
    return guard


def afriqa_training_data(afriqa_dir: str | Path | None = None, *, languages: Sequence[str] = (),
                         num_negatives: int = 4, mine_depth: int = 30, sampling: str = "sample", seed: int = 0,
                         max_train_queries: int | None = None, dev_max_queries: int = 200, dev_depth: int = 20,
                         exclude_topics: Sequence[str | Path] = (), threads: int = 2) -> TrainingData:
    """English AfriQA training data: train questions → gold passages + BM25 hard negatives; dev queries.

    Parameters
    ----------
    afriqa_dir : a prepared AfriQA set (``None``: :func:`prepared_set` ``("afriqa")``).
    languages : English-pivot AfriQA languages (default all that have a train split).
    num_negatives, mine_depth, sampling, seed : see :func:`mine_hard_negatives`.
    max_train_queries : seeded sample of at most this many training queries.
    dev_max_queries, dev_depth : seeded sample of dev queries and their BM25 depth.
    exclude_topics : extra topics files guarded like the test splits.

    Returns
    -------
    TrainingData
        ``report`` counts queries per language and split, the questions dropped by the leakage
        guard (equal to a test question; equal to a dev question), negatives per query.
    """
    from .first_stage import Bm25Retriever, load_corpus_texts  # noqa: PLC0415

    root = Path(afriqa_dir) if afriqa_dir is not None else prepared_set("afriqa")
    corpus = root / "corpus" / "en" / "corpus.jsonl"
    if not corpus.is_file():
        raise ConfigError(f"{root} is not a prepared AfriQA set (no corpus/en/corpus.jsonl); build it with "
                          "`python -m optical_rerank.data prepare afriqa --out DIR`")
    train_langs = _afriqa_langs(root, languages, "train")
    if not train_langs:
        raise ConfigError(f"{root}: no English train topics for languages {list(languages) or 'any'}")
    dev_langs = _afriqa_langs(root, languages, "dev")

    # the leakage guard: every test question (native and translated, every language of the set)
    test_files = sorted((root / "topics").glob("afriqa.*.test.*.tsv")) + [Path(p) for p in exclude_topics]
    if not any(".test." in p.name for p in test_files):
        raise ConfigError(f"{root}: no test topics found; the leakage guard needs them")
    test_guard = _build_guard(test_files)
    dev_files = sorted((root / "topics").glob("afriqa.*.dev.*.tsv"))
    dev_guard = _build_guard(dev_files)

    texts = load_corpus_texts(corpus)
    qrels: Qrels = {}
    for lang in set(train_langs) | set(dev_langs):
        for split in ("train", "dev"):
            qf = root / "qrels" / f"afriqa.{lang}.{split}.qrels"
            if qf.is_file():
                qrels.update(read_qrels(qf))

    report: dict[str, Any] = {"source": "afriqa", "afriqa_dir": str(root), "train_languages": train_langs,
                              "dev_languages": dev_langs, "per_language": {},
                              "leakage_guard": {"test_topics_files": [str(p) for p in test_files],
                                                "test_questions": len(test_guard),
                                                "dev_questions": len(dev_guard)}}
    train_q: list[Query] = []
    dropped_test = dropped_dev = 0
    for lang in train_langs:
        rows = _load_pairs(root, lang, "train")
        kept = []
        d_test = d_dev = 0
        for qid, native, english in rows:
            if test_guard.matches(english) or (native and test_guard.matches(native)):
                d_test += 1
            elif dev_guard.matches(english) or (native and dev_guard.matches(native)):
                d_dev += 1
            elif qrels.get(qid):
                kept.append(Query(qid, english, "en"))
        report["per_language"][lang] = {"train_questions": len(rows), "dropped_equal_to_test": d_test,
                                        "dropped_equal_to_dev": d_dev, "train_kept": len(kept)}
        dropped_test += d_test
        dropped_dev += d_dev
        train_q.extend(kept)
    train_q = _sample(train_q, max_train_queries, seed, key=lambda q: q.qid)

    dev_q: list[Query] = []
    dev_dropped = 0
    for lang in dev_langs:
        rows = _load_pairs(root, lang, "dev")
        for qid, native, english in rows:
            if test_guard.matches(english) or (native and test_guard.matches(native)):
                dev_dropped += 1
            elif qrels.get(qid):
                dev_q.append(Query(qid, english, "en"))
        report["per_language"].setdefault(lang, {})["dev_questions"] = len(rows)
    dev_q = _sample(dev_q, dev_max_queries, seed, key=lambda q: q.qid) if dev_max_queries else []

    # the same question asked in several languages: its other gold passages are not negatives
    by_text: dict[str, set[str]] = {}
    for lang in set(train_langs) | set(dev_langs):
        for split in ("train", "dev"):
            if _afriqa_file(root, lang, split, "translated").is_file():
                for qid, _, english in _load_pairs(root, lang, split):
                    by_text.setdefault(_norm(english), set()).update(d for d, r in qrels.get(qid, {}).items() if r > 0)
    also = {q.qid: by_text.get(_norm(q.text), set()) for q in train_q}

    index_dir = bm25_index_for(corpus, "en")
    retriever = Bm25Retriever(index_dir)
    positives = {q.qid: {d for d, r in qrels[q.qid].items() if r > 0} for q in train_q}
    _log(f"mining BM25 hard negatives for {len(train_q)} queries (depth {mine_depth})")
    negs = mine_hard_negatives(retriever, train_q, positives, texts, depth=mine_depth, num_negatives=num_negatives,
                               sampling=sampling, seed=seed, exclude=also, threads=threads)
    train = [TrainExample(q.qid, q.text, texts[pos], tuple(texts[d] for d in negs[q.qid]), pos, tuple(negs[q.qid]))
             for q in train_q for pos in sorted(positives[q.qid])]
    dev = _dev_from_bm25(retriever, dev_q, qrels, texts, dev_depth, threads)
    report.update({"train_queries": len(train_q), "train_examples": len(train),
                   "dropped_equal_to_test": dropped_test, "dropped_equal_to_dev": dropped_dev,
                   "dev_dropped_equal_to_test": dev_dropped, "dev_queries": len(dev), "dev_depth": dev_depth,
                   "negatives_per_example": _neg_stats(train), "index": str(index_dir),
                   "negatives_excluded_as_same_question_gold": sum(len(v - positives[k]) for k, v in also.items())})
    return TrainingData(train, dev, report)


def _neg_stats(train: Sequence[TrainExample]) -> dict[str, float]:
    counts = [len(e.negatives) for e in train]
    if not counts:
        return {"min": 0, "mean": 0.0, "max": 0}
    return {"min": min(counts), "mean": round(sum(counts) / len(counts), 3), "max": max(counts)}


def _dev_from_bm25(retriever: Any, queries: Sequence[Query], qrels: Qrels, texts: Mapping[str, str],
                   depth: int, threads: int) -> list[DevQuery]:
    if not queries:
        return []
    run = retriever.retrieve(list(queries), k=depth, threads=threads, with_text=False)
    return [_dev_query(q, [h.docid for h in run.get(q.qid, [])], qrels, texts) for q in queries]


def _dev_query(q: Query, docids: Sequence[str], qrels: Qrels, texts: Mapping[str, str]) -> DevQuery:
    rel = [d for d, r in qrels.get(q.qid, {}).items() if r > 0 and d in texts]
    missing = [d for d in docids if d not in texts]
    if missing:
        raise ConfigError(f"dev query {q.qid}: candidate {missing[0]!r} is not in the corpus")
    return DevQuery(q.qid, q.text, tuple(texts[d] for d in sorted(rel)), tuple(texts[d] for d in docids),
                    tuple(sorted(rel)), tuple(docids))


def triples_training_data(path: str | Path, *, num_negatives: int = 4, sampling: str = "top", seed: int = 0,
                          max_train_queries: int | None = None, exclude_topics: Sequence[str | Path] = ()) -> TrainingData:
    """Training data from an MS MARCO-style ``query<TAB>positive<TAB>negative`` TSV.

    Rows with the same (query, positive) are grouped and their distinct negatives pooled (in file
    order; ``num_negatives`` are kept by ``sampling``). A negative whose normalised text equals
    the positive's is dropped, and so is every row whose query is in ``exclude_topics``.
    """
    path = Path(path)
    groups: dict[tuple[str, str], list[str]] = {}
    for lineno, line in iter_lines(path):
        parts = line.split("\t")
        if len(parts) != 3:
            raise InputFormatError(path, lineno, f"expected 3 tab-separated columns (query, positive, negative), "
                                                 f"found {len(parts)}")
        q, pos, neg = (" ".join(p.split()) for p in parts)
        if not q or not pos:
            raise InputFormatError(path, lineno, "empty query or positive passage")
        negs = groups.setdefault((q, pos), [])
        if neg and neg not in negs:
            negs.append(neg)
    guard = _build_guard(Path(p) for p in exclude_topics)
    train: list[TrainExample] = []
    dropped = same_text = 0
    for i, ((q, pos), negs) in enumerate(groups.items()):
        if guard.matches(q):
            dropped += 1
            continue
        npos = _norm(pos)
        clean = [n for n in negs if _norm(n) != npos]
        same_text += len(negs) - len(clean)
        qid = f"t{i}"
        chosen = _select_negatives(clean, num_negatives, sampling, seed, qid)
        train.append(TrainExample(qid, q, pos, tuple(chosen)))
    train = _sample(train, max_train_queries, seed, key=lambda e: e.qid)
    report = {"source": "triples", "path": str(path), "groups": len(groups), "train_examples": len(train),
              "dropped_by_leakage_guard": dropped, "negatives_equal_to_positive_dropped": same_text,
              "negatives_per_example": _neg_stats(train)}
    return TrainingData(train, [], report)


def qrels_training_data(topics: str | Path, qrels: str | Path, corpus: str | Path, *, run: str | Path | None = None,
                        index: str | Path | None = None, num_negatives: int = 4, mine_depth: int = 30,
                        sampling: str = "top", seed: int = 0, max_train_queries: int | None = None,
                        exclude_topics: Sequence[str | Path] = (), dev_topics: str | Path | None = None,
                        dev_qrels: str | Path | None = None, dev_run: str | Path | None = None,
                        dev_max_queries: int = 200, dev_depth: int = 20, threads: int = 2) -> TrainingData:
    """Training data from topics + qrels + corpus, negatives from a candidate run or BM25 over ``index``.

    Positives are the passages with relevance > 0. Negatives are candidates (run top
    ``mine_depth``, or BM25) that are not positive, not judged relevant and whose normalised text
    differs from every positive's. Queries in ``exclude_topics`` are dropped.
    """
    from .first_stage import Bm25Retriever, load_corpus_texts  # noqa: PLC0415

    texts = load_corpus_texts(corpus)
    queries = read_topics(topics)
    judged = read_qrels(qrels)
    guard = _build_guard(Path(p) for p in exclude_topics)
    kept = [q for q in queries if not guard.matches(q.text) and any(r > 0 for r in judged.get(q.qid, {}).values())]
    dropped = sum(1 for q in queries if guard.matches(q.text))
    kept = _sample(kept, max_train_queries, seed, key=lambda q: q.qid)
    positives = {q.qid: {d for d, r in judged[q.qid].items() if r > 0} for q in kept}
    missing = sorted({d for v in positives.values() for d in v} - texts.keys())
    retriever = Bm25Retriever(index) if index is not None else None
    if run is not None:
        cand = read_run(run)
        negs: dict[str, list[str]] = {}
        for q in kept:
            banned = {_norm(texts[d]) for d in positives[q.qid] if d in texts}
            pool, seen = [], set()
            for h in cand.get(q.qid, [])[:mine_depth]:
                if h.docid in positives[q.qid] or h.docid not in texts:
                    continue
                n = _norm(texts[h.docid])
                if n in banned or n in seen:
                    continue
                seen.add(n)
                pool.append(h.docid)
            negs[q.qid] = _select_negatives(pool, num_negatives, sampling, seed, q.qid)
    else:
        negs = mine_hard_negatives(retriever, kept, positives, texts, depth=mine_depth, num_negatives=num_negatives,
                                   sampling=sampling, seed=seed, threads=threads)
    train = [TrainExample(q.qid, q.text, texts[p], tuple(texts[d] for d in negs[q.qid]), p, tuple(negs[q.qid]))
             for q in kept for p in sorted(positives[q.qid]) if p in texts]
    dev: list[DevQuery] = []
    if dev_topics is not None and dev_qrels is not None and dev_max_queries:
        dq = read_topics(dev_topics)
        dj = read_qrels(dev_qrels)
        dq = _sample([q for q in dq if dj.get(q.qid) and not guard.matches(q.text)], dev_max_queries, seed,
                     key=lambda q: q.qid)
        if dev_run is not None:
            drun = read_run(dev_run)
            dev = [_dev_query(q, [h.docid for h in drun.get(q.qid, [])[:dev_depth]], dj, texts) for q in dq]
        else:
            dev = _dev_from_bm25(retriever, dq, dj, texts, dev_depth, threads)
    report = {"source": "qrels", "topics": str(topics), "qrels": str(qrels), "corpus": str(corpus),
              "negatives_from": "run" if run is not None else "bm25", "train_queries": len(kept),
              "train_examples": len(train), "dropped_by_leakage_guard": dropped,
              "positives_missing_from_corpus": len(missing), "dev_queries": len(dev),
              "negatives_per_example": _neg_stats(train)}
    return TrainingData(train, dev, report)


def build_training_data(config: TeacherConfig) -> TrainingData:
    """The training data ``config`` names (dispatch on ``config.data``)."""
    threads = config.threads or 2
    if config.data == "afriqa":
        return afriqa_training_data(config.afriqa_dir, languages=config.languages, num_negatives=config.num_negatives,
                                    mine_depth=config.mine_depth, sampling=config.negative_sampling, seed=config.seed,
                                    max_train_queries=config.max_train_queries,
                                    dev_max_queries=config.dev_max_queries, dev_depth=config.dev_depth,
                                    exclude_topics=config.exclude_topics, threads=threads)
    if config.data == "triples":
        data = triples_training_data(config.triples, num_negatives=config.num_negatives,
                                     sampling=config.negative_sampling, seed=config.seed,
                                     max_train_queries=config.max_train_queries, exclude_topics=config.exclude_topics)
        if config.dev_topics is not None and config.dev_max_queries:
            from .first_stage import Bm25Retriever, load_corpus_texts  # noqa: PLC0415

            texts = load_corpus_texts(config.corpus)
            dq = _sample([q for q in read_topics(config.dev_topics)], config.dev_max_queries, config.seed,
                         key=lambda q: q.qid)
            dj = read_qrels(config.dev_qrels)
            dq = [q for q in dq if dj.get(q.qid)]
            if config.dev_run is not None:
                drun = read_run(config.dev_run)
                data.dev = [_dev_query(q, [h.docid for h in drun.get(q.qid, [])[:config.dev_depth]], dj, texts)
                            for q in dq]
            else:
                data.dev = _dev_from_bm25(Bm25Retriever(config.index), dq, dj, texts, config.dev_depth, threads)
            data.report["dev_queries"] = len(data.dev)
        return data
    return qrels_training_data(config.topics, config.qrels, config.corpus, run=config.run, index=config.index,
                               num_negatives=config.num_negatives, mine_depth=config.mine_depth,
                               sampling=config.negative_sampling, seed=config.seed,
                               max_train_queries=config.max_train_queries, exclude_topics=config.exclude_topics,
                               dev_topics=config.dev_topics, dev_qrels=config.dev_qrels, dev_run=config.dev_run,
                               dev_max_queries=config.dev_max_queries, dev_depth=config.dev_depth, threads=threads)


# =========================================================================== datasets and losses
def _render(template: str, text: str) -> str:
    return template.replace("{text}", text)


def build_train_dataset(examples: Sequence[TrainExample], loss: str, num_negatives: int,
                        templates: tuple[str, str] = PLAIN_TEMPLATES, seed: int = 0) -> Any:
    """A ``datasets.Dataset`` in the column layout ``loss`` expects (templates applied).

    * ``bce``: ``query``, ``passage``, ``label`` (1.0 positive, 0.0 negative), one row per pair;
    * ``mnrl``/``cmnrl``: ``query``, ``positive``, ``negative_1..n``; an example with fewer
      than ``n`` negatives reuses its own (seeded draw with replacement); one with none is skipped;
    * ``listnet``/``lambda``: ``query``, ``docs`` (positive first), ``labels``.
    """
    from datasets import Dataset  # noqa: PLC0415

    qt, pt = templates
    if loss not in LOSSES:
        raise ConfigError(f"loss must be one of {LOSSES}, got {loss!r}")
    if loss == "bce":
        rows: dict[str, list] = {"query": [], "passage": [], "label": []}
        for e in examples:
            q = _render(qt, e.query)
            for text, label in [(e.positive, 1.0)] + [(n, 0.0) for n in e.negatives]:
                rows["query"].append(q)
                rows["passage"].append(_render(pt, text))
                rows["label"].append(label)
    elif loss in ("mnrl", "cmnrl"):
        cols = ["query", "positive"] + [f"negative_{i + 1}" for i in range(num_negatives)]
        rows = {c: [] for c in cols}
        for e in examples:
            if not e.negatives:
                continue
            negs = list(e.negatives[:num_negatives])
            rng = _rng_for(seed, "pad:" + e.qid)
            while len(negs) < num_negatives:
                negs.append(rng.choice(e.negatives))
            rows["query"].append(_render(qt, e.query))
            rows["positive"].append(_render(pt, e.positive))
            for i, n in enumerate(negs):
                rows[f"negative_{i + 1}"].append(_render(pt, n))
    else:
        rows = {"query": [], "docs": [], "labels": []}
        for e in examples:
            rows["query"].append(_render(qt, e.query))
            rows["docs"].append([_render(pt, e.positive)] + [_render(pt, n) for n in e.negatives])
            rows["labels"].append([1.0] + [0.0] * len(e.negatives))
    if not rows["query"]:
        raise ConfigError(f"no training rows for loss {loss!r} (no examples, or none with negatives)")
    return Dataset.from_dict(rows)


def _make_loss(model: Any, config: TeacherConfig) -> Any:
    import torch  # noqa: PLC0415
    from sentence_transformers.cross_encoder import losses  # noqa: PLC0415

    if config.loss == "bce":
        return losses.BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(float(config.num_negatives)))
    if config.loss == "mnrl":
        return losses.MultipleNegativesRankingLoss(model, num_negatives=config.in_batch_negatives)
    if config.loss == "cmnrl":
        return losses.CachedMultipleNegativesRankingLoss(model, num_negatives=config.in_batch_negatives,
                                                         mini_batch_size=config.mini_batch_size)
    if config.loss == "listnet":
        return losses.ListNetLoss(model, mini_batch_size=config.mini_batch_size)
    return losses.LambdaLoss(model, mini_batch_size=config.mini_batch_size)


def _dev_evaluator(dev: Sequence[DevQuery], templates: tuple[str, str], batch_size: int) -> Any:
    """A sentence-transformers evaluator scoring dev rerankings with trec_eval semantics."""
    from sentence_transformers.base.evaluation.evaluator import BaseEvaluator  # noqa: PLC0415

    class DevRerankingEvaluator(BaseEvaluator):
        """Rerank each dev query's candidates; MRR@10, nDCG@10, MAP by :func:`~optical_rerank.evaluate.evaluate_run`.

        Metrics are those of the test-time evaluation (a relevant passage outside the candidates
        counts as missed); ``dev_base_*`` are the first-stage order's. Primary metric: ``dev_mrr@10``.
        """

        def __init__(self) -> None:
            super().__init__()
            self.name = "dev"
            self.primary_metric = "mrr@10"
            qt, pt = templates
            self.pairs: list[list[str]] = []
            self.owner: list[tuple[str, str]] = []
            self.qrels: dict[str, dict[str, int]] = {}
            self.base: dict[str, list] = {}
            from .types import Hit  # noqa: PLC0415

            for d in dev:
                self.qrels[d.qid] = {pid: 1 for pid in d.positive_ids}
                self.base[d.qid] = [Hit(d.qid, doc, float(len(d.document_ids) - i), i + 1)
                                    for i, doc in enumerate(d.document_ids)]
                for doc, text in zip(d.document_ids, d.documents):
                    self.pairs.append([_render(qt, d.query), _render(pt, text)])
                    self.owner.append((d.qid, doc))

        def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
            import torch  # noqa: PLC0415

            from .evaluate import evaluate_run  # noqa: PLC0415
            from .trec_io import sort_hits  # noqa: PLC0415
            from .types import Hit  # noqa: PLC0415

            scores = model.predict(self.pairs, batch_size=batch_size, activation_fn=torch.nn.Identity(),
                                   convert_to_numpy=True, show_progress_bar=False) if self.pairs else []
            run: dict[str, list] = {qid: [] for qid in self.qrels}
            for (qid, doc), sc in zip(self.owner, scores):
                run[qid].append(Hit(qid, doc, float(sc), 0))
            run = {qid: sort_hits(h) for qid, h in run.items()}
            measures = ("mrr@10", "ndcg_cut.10", "map")
            mine = evaluate_run(self.qrels, run, measures, complete=True).aggregate
            base = evaluate_run(self.qrels, self.base, measures, complete=True).aggregate
            metrics = {"mrr@10": mine["mrr@10"], "ndcg@10": mine["ndcg_cut_10"], "map": mine["map"],
                       "base_mrr@10": base["mrr@10"], "base_ndcg@10": base["ndcg_cut_10"], "base_map": base["map"]}
            metrics = self.prefix_name_to_metrics(metrics, self.name)
            self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
            return metrics

    return DevRerankingEvaluator()


# =========================================================================== training
@dataclass(frozen=True)
class TeacherResult:
    """What :func:`train_teacher` produced."""

    model_dir: Path
    config: TeacherConfig
    global_step: int
    train_loss: float | None
    dev_metrics: dict
    wall_seconds: float
    resumed_from: str | None
    log_history: list = field(default_factory=list)


def latest_checkpoint(checkpoint_dir: str | Path) -> Path | None:
    """The complete ``checkpoint-N`` with the largest N (model weights and trainer state present)."""
    d = Path(checkpoint_dir)
    if not d.is_dir():
        return None
    found = []
    for p in d.iterdir():
        if (p.is_dir() and p.name.startswith("checkpoint-") and p.name[11:].isdigit()
                and (p / "trainer_state.json").is_file() and (p / "model.safetensors").is_file()):
            found.append((int(p.name[11:]), p))
    return max(found)[1] if found else None


def _resolve_device(config: TeacherConfig) -> str:
    import torch  # noqa: PLC0415

    if config.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if config.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={config.device!r} but torch.cuda.is_available() is False")
    return config.device


def _precision(config: TeacherConfig, device: str) -> tuple[bool, bool]:
    """``(bf16, fp16)`` flags for the trainer."""
    import torch  # noqa: PLC0415

    if device == "cpu":
        if config.precision in ("bf16", "fp16"):
            raise ConfigError(f"precision={config.precision!r} needs a GPU; use fp32 on CPU")
        return False, False
    if config.precision == "auto":
        return bool(torch.cuda.is_bf16_supported()), False
    return config.precision == "bf16", config.precision == "fp16"


def _publish_model(model: Any, out_dir: Path) -> None:
    """Save the model into ``out_dir`` (files written in a temporary sibling, then moved in)."""
    tmp = out_dir / ".final.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    for f in tmp.iterdir():
        os.replace(f, out_dir / f.name)
    shutil.rmtree(tmp, ignore_errors=True)


def _check_saved_model(out_dir: Path) -> None:
    from transformers import AutoConfig  # noqa: PLC0415

    cfg = AutoConfig.from_pretrained(str(out_dir), local_files_only=True)
    if int(cfg.num_labels) != 1:
        raise ModelError(f"{out_dir}: saved head has num_labels={cfg.num_labels}, expected 1")
    if not (out_dir / "model.safetensors").is_file() and not (out_dir / "model.safetensors.index.json").is_file():
        raise ModelError(f"{out_dir}: no safetensors weights were written")


def train_teacher(config: TeacherConfig, out_dir: str | Path, *, data: TrainingData | None = None,
                  callbacks: Sequence[Any] = (), overwrite: bool = False, command: str | None = None) -> TeacherResult:
    """Fine-tune a cross-encoder teacher with sentence-transformers' ``CrossEncoderTrainer``.

    Parameters
    ----------
    config : the teacher config.
    out_dir : the model directory to write (see the module docstring for its layout). If it
        holds checkpoints of a run with the same config, training resumes from the latest.
    data : training data already built (default :func:`build_training_data` ``(config)``).
    callbacks : extra ``transformers.TrainerCallback`` objects.
    overwrite : replace a completed teacher in ``out_dir`` (otherwise an error).
    command : the command line to record in ``teacher_config.json``.

    Returns
    -------
    TeacherResult

    Raises
    ------
    ConfigError
        ``out_dir`` holds a finished teacher (without ``overwrite``) or checkpoints of another config.
    """
    import torch  # noqa: PLC0415
    import transformers  # noqa: PLC0415
    from sentence_transformers.cross_encoder import (  # noqa: PLC0415
        CrossEncoder,
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )

    from .models import resolve_model  # noqa: PLC0415

    started = time.time()
    if importlib.util.find_spec("accelerate") is None:
        raise ConfigError("training a teacher needs the package accelerate>=1.1.0 (the Hugging Face Trainer "
                          "requires it): pip install 'accelerate>=1.1.0'")
    out_dir = Path(out_dir).expanduser().absolute()
    ckpt_dir = out_dir / CHECKPOINT_DIR
    if (out_dir / TEACHER_CONFIG).is_file():
        if not overwrite:
            raise ConfigError(f"{out_dir} already holds a trained teacher ({TEACHER_CONFIG}); pass --overwrite "
                              "or choose another --out")
        (out_dir / TEACHER_CONFIG).unlink()
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    run_cfg_path = ckpt_dir / "run_config.json"
    identity = {"format": FORMAT, "config": config.identity()}
    resume = latest_checkpoint(ckpt_dir)
    if run_cfg_path.is_file():
        old = json.loads(run_cfg_path.read_text(encoding="utf-8"))
        if old != identity:
            diff = sorted(k for k in set(old.get("config", {})) | set(identity["config"])
                          if old.get("config", {}).get(k) != identity["config"].get(k))
            if resume is not None:
                raise ConfigError(f"{ckpt_dir} holds checkpoints of a different config (differs in {diff}); "
                                  "use another --out, or delete the checkpoints to start over")
    write_json_atomic(run_cfg_path, identity)

    if config.threads is not None:
        torch.set_num_threads(config.threads)
    device = _resolve_device(config)
    bf16, fp16 = _precision(config, device)
    templates = config.templates()
    if data is None:
        data = build_training_data(config)
    if not data.train:
        raise ConfigError("no training examples (after the leakage guard); check the inputs")
    dataset = build_train_dataset(data.train, config.loss, config.num_negatives, templates, config.seed)
    _log(f"{len(data.train)} training examples -> {len(dataset)} rows for loss {config.loss!r}; "
         f"{len(data.dev)} dev queries; device {device}")

    transformers.set_seed(config.seed)
    backbone = resolve_model(config.backbone)
    model = CrossEncoder(backbone, num_labels=1, device=device, local_files_only=Path(backbone).is_dir())
    if model.num_labels != 1:
        raise ModelError(f"{config.backbone}: expected a 1-logit head, got num_labels={model.num_labels}")
    # train at config.max_length, but save the backbone's own limit so scoring may use longer inputs
    native_max = model.max_seq_length
    if native_max is not None and config.max_length > native_max:
        raise ConfigError(f"max_length={config.max_length} exceeds what {config.backbone} accepts ({native_max})")
    model.max_seq_length = config.max_length
    if config.freeze_embeddings:
        emb = model.model.get_input_embeddings()
        emb.weight.requires_grad_(False)
    loss = _make_loss(model, config)

    evaluator = _dev_evaluator(data.dev, templates, batch_size=32) if data.dev else None
    eval_steps = config.eval_steps or config.save_steps
    save_steps = config.save_steps
    if evaluator is not None and config.select_best and save_steps % eval_steps:
        raise ConfigError(f"select_best needs save_steps ({save_steps}) to be a multiple of eval_steps ({eval_steps})")
    select = evaluator is not None and config.select_best
    from sentence_transformers.base.sampler import BatchSamplers  # noqa: PLC0415

    args = CrossEncoderTrainingArguments(
        output_dir=str(ckpt_dir),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=32,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        learning_rate_mapping=({HEAD_PATTERN: float(config.head_learning_rate)}
                               if config.head_learning_rate is not None else {}),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        warmup_steps=float(config.warmup_ratio),  # transformers 5: a float < 1 is a ratio of the steps
        weight_decay=config.weight_decay,
        seed=config.seed,
        data_seed=config.seed,
        bf16=bf16,
        fp16=fp16,
        use_cpu=(device == "cpu"),
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=2,
        eval_strategy="steps" if evaluator is not None else "no",
        eval_steps=eval_steps if evaluator is not None else None,
        load_best_model_at_end=select,
        metric_for_best_model="eval_dev_mrr@10" if select else None,
        greater_is_better=True if select else None,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        report_to="none",
        disable_tqdm=not config.show_progress,
        dataloader_num_workers=0,
        batch_sampler=BatchSamplers.NO_DUPLICATES if config.loss in ("mnrl", "cmnrl") else BatchSamplers.BATCH_SAMPLER,
    )
    cbs = list(callbacks)
    if config.early_stopping_patience is not None:
        if not select:
            raise ConfigError("early_stopping_patience needs a dev set and select_best")
        cbs.append(transformers.EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=dataset, loss=loss, evaluator=evaluator,
                                  callbacks=cbs or None)
    if resume is not None:
        _log(f"resuming from {resume}")
    output = trainer.train(resume_from_checkpoint=str(resume) if resume is not None else None)
    train_seconds = time.time() - started

    dev_metrics = _final_dev_metrics(trainer, evaluator, model) if evaluator is not None else {}
    out_dir.mkdir(parents=True, exist_ok=True)
    if native_max is not None:
        model.max_seq_length = native_max
    _publish_model(model, out_dir)
    _check_saved_model(out_dir)
    wall = time.time() - started
    history = list(trainer.state.log_history)
    best = trainer.state.best_model_checkpoint
    record = {
        "format": FORMAT,
        "complete": True,
        "config": config.to_dict(),
        "identity": config.identity(),
        "fingerprint": config.fingerprint(),
        "query_template": templates[0],
        "passage_template": templates[1],
        "max_length": config.max_length,
        "backbone_resolved": backbone,
        "device": device,
        "precision": "bf16" if bf16 else "fp16" if fp16 else "fp32",
        "data": data.report,
        "train": {"global_step": int(trainer.state.global_step), "train_loss": float(output.training_loss),
                  "rows": len(dataset), "epochs_done": float(trainer.state.epoch or 0.0),
                  "resumed_from": str(resume) if resume else None,
                  "best_checkpoint": Path(best).name if best else None,
                  "train_seconds": round(train_seconds, 1)},
        "dev": dev_metrics,
        "log_history": history,
        "wall_seconds": round(wall, 1),
        "command": command,
        "environment": environment_info(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json_atomic(out_dir / TEACHER_CONFIG, record)
    if not config.keep_checkpoints:
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    _log(f"teacher saved to {out_dir} in {wall:.1f}s wall ({trainer.state.global_step} steps"
         + (f"; dev MRR@10 {dev_metrics.get('dev_mrr@10', float('nan')):.4f}" if dev_metrics else "") + ")")
    return TeacherResult(out_dir, config, int(trainer.state.global_step), float(output.training_loss), dev_metrics,
                         wall, str(resume) if resume else None, history)


def _final_dev_metrics(trainer: Any, evaluator: Any, model: Any) -> dict:
    """Dev metrics of the model being saved: read from the log when that step was evaluated, else computed."""
    state = trainer.state
    step = state.global_step
    if state.best_model_checkpoint and trainer.args.load_best_model_at_end:
        name = Path(state.best_model_checkpoint).name
        step = int(name.split("-")[-1]) if name.split("-")[-1].isdigit() else -1
    for h in reversed(state.log_history):
        if h.get("step") == step and "eval_dev_mrr@10" in h:
            return {k[5:]: float(v) for k, v in h.items() if k.startswith("eval_dev_")}
    return {k: float(v) for k, v in evaluator(model).items()}


@contextlib.contextmanager
def _exclusive(path: Path):
    """An exclusive advisory lock on ``path`` (POSIX; a no-op elsewhere)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        try:
            import fcntl  # noqa: PLC0415

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - non-POSIX
            pass
        yield


def ensure_teacher(config: TeacherConfig | None = None) -> Path:
    """A trained teacher for ``config``: reused from the cache, or trained (resuming) into it.

    The cache key is :meth:`TeacherConfig.fingerprint` (config identity + input file contents);
    the teacher lives in ``cache_dir()/teachers/<key[:16]>/``. Two processes asking for the same
    teacher wait on a lock rather than training it twice.
    """
    config = config or TeacherConfig()
    key = config.fingerprint()[:16]
    out = cache_dir() / "teachers" / key
    with _exclusive(cache_dir() / "teachers" / f".{key}.lock"):
        rec = load_teacher_config(out)
        if rec is not None and rec.get("complete") and rec.get("identity") == config.identity():
            return out
        if rec is not None:
            _log(f"{out} holds a teacher of another config; retraining")
            train_teacher(config, out, overwrite=True, command="ensure_teacher")
        else:
            train_teacher(config, out, command="ensure_teacher")
    return out


# =========================================================================== evaluation
MEASURES = ("ndcg_cut.10", "mrr@10")


def _eval_pair(qrels: Qrels, bm25_run: Mapping, reranked: Mapping, depth: int, relevance_level: int = 1) -> dict:
    from .evaluate import evaluate_run  # noqa: PLC0415

    measures = list(MEASURES) + [f"recall.{depth}"]
    base = evaluate_run(qrels, bm25_run, measures, relevance_level=relevance_level)
    mine = evaluate_run(qrels, reranked, measures, relevance_level=relevance_level)
    return {"queries": base.num_queries, "bm25": base.aggregate, "teacher": mine.aggregate,
            "relevance_level": relevance_level,
            "per_query": {"bm25": base.per_query, "teacher": mine.per_query}}


def _first_n(queries: list[Query], qrels: Qrels, n: int | None) -> list[Query]:
    judged = [q for q in queries if q.qid in qrels]
    return judged if n is None else judged[:n]


def evaluate_teacher(model: str | Path, *, sets: Sequence[str] = ("dl19", "afriqa"), dl19_dir: str | Path | None = None,
                     afriqa_dir: str | Path | None = None, languages: Sequence[str] = (), max_queries: int | None = None,
                     dl19_max_queries: int | None = -1, depth: int = 20, max_length: int | None = None, batch_size: int = 32,
                     runs_dir: str | Path | None = None, threads: int | None = None, show_progress: bool = True,
                     command: str | None = None) -> dict:
    """Check a teacher on real judgments, each next to BM25.

    * ``dl19``: TREC DL19 passage, the first ``dl19_max_queries`` judged topics (``-1``: as
      ``max_queries``; ``None``: all 43); rerank the BM25
      top-``depth`` of the RankLLM BM25 top-100 (the rest keep BM25 order); nDCG@10 (graded),
      MRR@10 and recall at ``depth`` (binary with grade >= 2, the DL convention) for both runs.
    * ``afriqa``: AfriQA test, human English questions of each English-pivot language (first
      ``max_queries`` per language), BM25 (k1 0.9, b 0.4) over the AfriQA English corpus
      (BM25-English), teacher reranking its top ``depth``; the macro average over languages too.

    Returns the JSON-ready result, with ``targets`` (DL19 nDCG@10 >= 0.60; AfriQA-English
    MRR@10 >= BM25-English + 0.10, on the macro average) evaluated on the given budget.
    """
    from .first_stage import Bm25Retriever, load_corpus_texts  # noqa: PLC0415
    from .models import resolve_model  # noqa: PLC0415
    from .rerank import CrossEncoderReranker, RerankConfig, rerank_to_file  # noqa: PLC0415

    started = time.time()
    model_dir = Path(resolve_model(str(model)))
    rec = load_teacher_config(model_dir) or {}
    qt = rec.get("query_template") or (E5_TEMPLATES if _is_e5(str(model)) else PLAIN_TEMPLATES)[0]
    pt = rec.get("passage_template") or (E5_TEMPLATES if _is_e5(str(model)) else PLAIN_TEMPLATES)[1]
    ml = max_length or int(rec.get("max_length") or 256)
    rcfg = RerankConfig(model=str(model_dir), max_length=ml, batch_size=batch_size, query_template=qt,
                        passage_template=pt, depth=depth, threads=threads, show_progress=show_progress)
    reranker = CrossEncoderReranker(str(model_dir), rcfg)
    dl19_n = max_queries if dl19_max_queries == -1 else dl19_max_queries
    key = _sha256_json({"model": str(model_dir), "fp": rec.get("fingerprint"), "rerank": rcfg.identity(),
                        "max_queries": max_queries, "dl19_max_queries": dl19_n, "languages": list(languages)})[:12]
    runs = Path(runs_dir) if runs_dir is not None else cache_dir() / "teacher_eval" / key
    result: dict[str, Any] = {
        "format": FORMAT + "/eval", "model": str(model_dir), "teacher_fingerprint": rec.get("fingerprint"),
        "teacher_config": rec.get("config"), "teacher_dev": rec.get("dev"),
        "budget": {"max_queries": max_queries, "dl19_max_queries": dl19_n, "depth": depth, "max_length": ml, "batch_size": batch_size,
                   "aggregation": rcfg.aggregation},
        "rerank_config": rcfg.to_dict(), "command": command, "runs_dir": str(runs),
    }
    timings: dict[str, float] = {}
    if "dl19" in sets:
        t0 = time.time()
        root = Path(dl19_dir) if dl19_dir is not None else prepared_set("dl19")
        texts = load_corpus_texts(root / "corpus" / "passages" / "corpus.jsonl")
        qrels = read_qrels(root / "qrels" / "dl19.qrels")
        queries = _first_n(read_topics(root / "topics" / "dl19.tsv", "en"), qrels, dl19_n)
        bm25 = read_run(root / "runs" / "dl19.bm25.trec", with_text=texts)
        bm25 = {q.qid: bm25.get(q.qid, []) for q in queries}
        sub_qrels = {q.qid: qrels[q.qid] for q in queries}
        out = rerank_to_file(queries, bm25, runs / "dl19.teacher.trec", None, "teacher", reranker=reranker, depth=depth)
        reranked = read_run(out)
        result["dl19"] = _eval_pair(sub_qrels, bm25, reranked, depth, relevance_level=2)
        timings["dl19"] = round(time.time() - t0, 1)
        _log(f"DL19 ({len(queries)} queries, depth {depth}): nDCG@10 BM25 {result['dl19']['bm25']['ndcg_cut_10']:.4f} "
             f"teacher {result['dl19']['teacher']['ndcg_cut_10']:.4f}")
    if "afriqa" in sets:
        t0 = time.time()
        root = Path(afriqa_dir) if afriqa_dir is not None else prepared_set("afriqa")
        corpus = root / "corpus" / "en" / "corpus.jsonl"
        texts = load_corpus_texts(corpus)
        retriever = Bm25Retriever(bm25_index_for(corpus, "en"), k1=0.9, b=0.4)
        langs = _afriqa_langs(root, languages, "test")
        per_lang: dict[str, Any] = {}
        for lang in langs:
            qrels = read_qrels(root / "qrels" / f"afriqa.{lang}.test.qrels")
            queries = _first_n(read_topics(_afriqa_file(root, lang, "test", "translated"), "en"), qrels, max_queries)
            bm25 = retriever.retrieve(queries, k=100, threads=threads or 2, with_text=False)
            bm25 = {qid: [dataclasses.replace(h, text=texts[h.docid]) for h in hits] for qid, hits in bm25.items()}
            out = rerank_to_file(queries, bm25, runs / f"afriqa.{lang}.test.en.teacher.trec", None, "teacher",
                                 reranker=reranker, depth=depth)
            per_lang[lang] = _eval_pair({q.qid: qrels[q.qid] for q in queries}, bm25, read_run(out), depth)
            _log(f"AfriQA {lang} test English ({len(queries)} queries): MRR@10 BM25 "
                 f"{per_lang[lang]['bm25']['mrr@10']:.4f} teacher {per_lang[lang]['teacher']['mrr@10']:.4f}")
        keys = sorted({k for v in per_lang.values() for k in v["bm25"]})
        macro = {sys_: {k: sum(v[sys_][k] for v in per_lang.values()) / len(per_lang) for k in keys}
                 for sys_ in ("bm25", "teacher")} if per_lang else {}
        result["afriqa_en"] = {"languages": langs, "per_language": per_lang, "macro": macro,
                               "queries": sum(v["queries"] for v in per_lang.values())}
        timings["afriqa"] = round(time.time() - t0, 1)
    targets: dict[str, Any] = {}
    if "dl19" in result:
        v = result["dl19"]["teacher"]["ndcg_cut_10"]
        targets["dl19_ndcg10_ge_0.60"] = {"value": v, "target": 0.60, "met": v >= 0.60}
    if result.get("afriqa_en", {}).get("macro"):
        m = result["afriqa_en"]["macro"]
        gain = m["teacher"]["mrr@10"] - m["bm25"]["mrr@10"]
        targets["afriqa_en_mrr10_ge_bm25_plus_0.10"] = {"value": m["teacher"]["mrr@10"], "bm25": m["bm25"]["mrr@10"],
                                                        "gain": gain, "target_gain": 0.10, "met": gain >= 0.10}
    result["targets"] = targets
    result["timings_seconds"] = timings
    result["wall_seconds"] = round(time.time() - started, 1)
    result["environment"] = environment_info()
    return result


def format_eval_markdown(result: Mapping[str, Any]) -> str:
    """A Markdown report of :func:`evaluate_teacher`'s result."""
    b = result["budget"]
    lines = [f"# Teacher evaluation: `{Path(result['model']).name}`", ""]
    if result.get("command"):
        lines += ["Command:", "", "```", result["command"], "```", ""]
    dl19_n = f"first {b['dl19_max_queries']}" if b.get("dl19_max_queries") else "all"
    afr_n = f"first {b['max_queries']}" if b.get("max_queries") else "all"
    lines += [(f"Budget: {dl19_n} judged DL19 queries and {afr_n} judged queries per AfriQA language; the "
               f"teacher reranks the BM25 top-{b['depth']} (rest in BM25 order), max_length {b['max_length']}, "
               f"{b['aggregation']}; wall {result.get('wall_seconds')} s."), ""]
    if "dl19" in result:
        d = result["dl19"]
        k = f"recall_{b['depth']}"
        lines += ["## TREC DL19 passage", "", f"| system | queries | nDCG@10 | MRR@10 | R@{b['depth']} |",
                  "|---|---:|---:|---:|---:|"]
        for name, key in (("BM25", "bm25"), ("teacher", "teacher")):
            a = d[key]
            lines.append(f"| {name} | {d['queries']} | {a['ndcg_cut_10']:.4f} | {a['mrr@10']:.4f} | {a.get(k, 0.0):.4f} |")
        lines.append("")
    if "afriqa_en" in result:
        a = result["afriqa_en"]
        k = f"recall_{b['depth']}"
        lines += ["## AfriQA test, human English questions (BM25-English over the AfriQA English corpus)", "",
                  ("| language | queries | BM25 nDCG@10 | teacher nDCG@10 | BM25 MRR@10 | teacher MRR@10 | "
                   f"BM25 R@{b['depth']} (rerank ceiling) |"), "|---|---:|---:|---:|---:|---:|---:|"]
        for lang, v in a["per_language"].items():
            lines.append(f"| {lang} | {v['queries']} | {v['bm25']['ndcg_cut_10']:.4f} | {v['teacher']['ndcg_cut_10']:.4f} "
                         f"| {v['bm25']['mrr@10']:.4f} | {v['teacher']['mrr@10']:.4f} | {v['bm25'].get(k, 0.0):.4f} |")
        if a.get("macro"):
            m = a["macro"]
            lines.append(f"| **macro** | {a['queries']} | {m['bm25']['ndcg_cut_10']:.4f} | {m['teacher']['ndcg_cut_10']:.4f} "
                         f"| {m['bm25']['mrr@10']:.4f} | {m['teacher']['mrr@10']:.4f} | {m['bm25'].get(k, 0.0):.4f} |")
        lines.append("")
    if result.get("targets"):
        lines += ["## Targets (on this budget)", ""]
        for name, t in result["targets"].items():
            extra = f" (BM25 {t['bm25']:.4f}, gain {t['gain']:+.4f})" if "gain" in t else ""
            lines.append(f"- `{name}`: {t['value']:.4f}{extra} → {'met' if t['met'] else 'NOT met'}")
        lines.append("")
    if result.get("teacher_dev"):
        dev = result["teacher_dev"]
        lines += ["Teacher's dev metrics (AfriQA dev, used for choices): "
                  + ", ".join(f"{k} {v:.4f}" for k, v in sorted(dev.items())), ""]
    return "\n".join(lines)


def _summarize(model_dirs: Sequence[str | Path]) -> tuple[dict, str]:
    """Dev metrics and training facts of several teachers: ``(json, markdown)``."""
    rows = []
    for d in model_dirs:
        rec = load_teacher_config(d)
        if rec is None:
            raise ConfigError(f"{d}: no {TEACHER_CONFIG}; not a trained teacher")
        cfg = rec["config"]
        steps = rec["train"]["global_step"]
        pairs_per_step = cfg["batch_size"] * (1 if cfg["loss"] == "bce" else 1 + cfg["num_negatives"])
        rows.append({"model": str(d), "loss": cfg["loss"], "steps": steps, "batch_size": cfg["batch_size"],
                     "pairs_per_step": pairs_per_step, "pairs_seen": steps * pairs_per_step,
                     "learning_rate": cfg["learning_rate"], "head_learning_rate": cfg.get("head_learning_rate"),
                     "max_length": cfg["max_length"],
                     "train_seconds": rec["train"].get("train_seconds"), "dev": rec.get("dev", {}),
                     "dev_queries": rec["data"].get("dev_queries"), "dev_depth": rec["data"].get("dev_depth"),
                     "command": rec.get("command")})
    lines = [("| teacher | loss | lr | head lr | steps | pairs/step | train s | dev queries | dev MRR@10 "
              "| dev nDCG@10 | dev MAP | BM25 MRR@10 |"), "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        dev = r["dev"]
        lines.append(f"| `{Path(r['model']).name}` | {r['loss']} | {r['learning_rate']:g} | "
                     f"{r['head_learning_rate'] if r['head_learning_rate'] is not None else '='} | "
                     f"{r['steps']} | {r['pairs_per_step']} | {r['train_seconds']} | {r['dev_queries']} | "
                     f"{dev.get('dev_mrr@10', float('nan')):.4f} | "
                     f"{dev.get('dev_ndcg@10', float('nan')):.4f} | {dev.get('dev_map', float('nan')):.4f} | "
                     f"{dev.get('dev_base_mrr@10', float('nan')):.4f} |")
    md = "\n".join(lines) + "\n\nCommands:\n\n" + "\n".join(f"- `{r['command']}`" for r in rows if r["command"]) + "\n"
    return {"teachers": rows}, md


# =========================================================================== CLI
def _command_line(argv: Sequence[str]) -> str:
    return "python -m optical_rerank.teacher " + shlex.join(list(argv))


def build_parser() -> argparse.ArgumentParser:
    """``python -m optical_rerank.teacher {train,evaluate,summarize}``."""
    d = TeacherConfig()
    p = argparse.ArgumentParser(prog="python -m optical_rerank.teacher",
                                description="Train and check the monolingual English cross-encoder teacher.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="fine-tune a cross-encoder teacher (resumes from checkpoints in --out)")
    t.add_argument("--out", required=True, help="model directory to write (checkpoints in OUT/checkpoints)")
    t.add_argument("--backbone", default=d.backbone, help=f"zoo name or model directory (default {d.backbone})")
    t.add_argument("--loss", choices=LOSSES, default=d.loss, help=f"training loss (default {d.loss})")
    t.add_argument("--data", choices=DATA_SOURCES, default=d.data, help=f"training data source (default {d.data})")
    t.add_argument("--afriqa-dir", help="prepared AfriQA set (default: prepared into the cache)")
    t.add_argument("--languages", nargs="+", default=[], help="AfriQA languages (default: all English-pivot)")
    t.add_argument("--triples", help="query<TAB>positive<TAB>negative TSV (--data triples)")
    t.add_argument("--topics", help="training topics (--data qrels)")
    t.add_argument("--qrels", help="training qrels (--data qrels)")
    t.add_argument("--corpus", help="JsonCollection corpus (--data qrels; generic dev sets)")
    t.add_argument("--run", help="candidate run for negatives (--data qrels)")
    t.add_argument("--index", help="Lucene index for BM25 mining (--data qrels without --run)")
    t.add_argument("--dev-topics", help="dev topics (generic sources)")
    t.add_argument("--dev-qrels", help="dev qrels (generic sources)")
    t.add_argument("--dev-run", help="dev candidate run (generic sources; else BM25 over --index)")
    t.add_argument("--exclude-topics", nargs="+", default=[], help="topics files never to train on")
    t.add_argument("--num-negatives", type=int, default=d.num_negatives)
    t.add_argument("--mine-depth", type=int, default=d.mine_depth)
    t.add_argument("--negative-sampling", choices=SAMPLING, default=d.negative_sampling)
    t.add_argument("--max-train-queries", type=int, default=None)
    t.add_argument("--max-length", type=int, default=d.max_length)
    t.add_argument("--query-template", default=None, help="e.g. 'query: {text}' (default: by backbone)")
    t.add_argument("--passage-template", default=None, help="e.g. 'passage: {text}' (default: by backbone)")
    t.add_argument("--train-embeddings", action="store_true", help="also train the word embeddings")
    t.add_argument("--batch-size", type=int, default=d.batch_size, help="pairs (bce) or queries (others) per step")
    t.add_argument("--learning-rate", type=float, default=d.learning_rate)
    t.add_argument("--head-learning-rate", type=float, default=None,
                   help="learning rate of the new pooler/classifier (default: --learning-rate)")
    t.add_argument("--epochs", type=float, default=d.epochs)
    t.add_argument("--max-steps", type=int, default=d.max_steps, help="stop after this many steps (-1: epochs)")
    t.add_argument("--warmup-ratio", type=float, default=d.warmup_ratio)
    t.add_argument("--weight-decay", type=float, default=d.weight_decay)
    t.add_argument("--gradient-accumulation-steps", type=int, default=d.gradient_accumulation_steps)
    t.add_argument("--in-batch-negatives", type=int, default=d.in_batch_negatives)
    t.add_argument("--mini-batch-size", type=int, default=d.mini_batch_size)
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--precision", choices=PRECISIONS, default=d.precision)
    t.add_argument("--dev-max-queries", type=int, default=d.dev_max_queries, help="0: no dev evaluation")
    t.add_argument("--dev-depth", type=int, default=d.dev_depth)
    t.add_argument("--eval-steps", type=int, default=None)
    t.add_argument("--last-checkpoint", action="store_true", help="keep the last model, not the best on dev")
    t.add_argument("--early-stopping-patience", type=int, default=None)
    t.add_argument("--save-steps", type=int, default=d.save_steps)
    t.add_argument("--logging-steps", type=int, default=d.logging_steps)
    t.add_argument("--device", default=d.device, help="auto, cpu, cuda, cuda:N")
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    t.add_argument("--keep-checkpoints", action="store_true")
    t.add_argument("--no-progress", action="store_true")
    t.add_argument("--overwrite", action="store_true", help="replace a finished teacher in --out")

    e = sub.add_parser("evaluate", help="DL19 and AfriQA-English checks of a teacher, next to BM25")
    e.add_argument("model", help="teacher directory (or any cross-encoder directory / zoo name)")
    e.add_argument("--sets", nargs="+", choices=("dl19", "afriqa"), default=["dl19", "afriqa"])
    e.add_argument("--dl19-dir", help="prepared DL19 set (default: prepared into the cache)")
    e.add_argument("--afriqa-dir", help="prepared AfriQA set (default: prepared into the cache)")
    e.add_argument("--languages", nargs="+", default=[], help="AfriQA test languages (default: all English-pivot)")
    e.add_argument("--max-queries", type=int, default=None, help="first N judged queries per set/language")
    e.add_argument("--dl19-max-queries", type=int, default=-1,
                   help="first N DL19 queries (default: as --max-queries; 0: all 43)")
    e.add_argument("--depth", type=int, default=20, help="rerank the BM25 top-N (default 20)")
    e.add_argument("--max-length", type=int, default=None, help="default: the teacher's training max_length")
    e.add_argument("--batch-size", type=int, default=32)
    e.add_argument("--threads", type=int, default=None)
    e.add_argument("--runs-dir", help="where reranked runs go (default: the cache); resumable")
    e.add_argument("--output", required=True, help="results path stem: writes STEM.json and STEM.md")
    e.add_argument("--no-progress", action="store_true")

    s = sub.add_parser("summarize", help="dev metrics of several trained teachers (loss comparison)")
    s.add_argument("models", nargs="+", help="teacher directories")
    s.add_argument("--output", required=True, help="results path stem: writes STEM.json and STEM.md")
    return p


def _config_from_args(a: argparse.Namespace) -> TeacherConfig:
    return TeacherConfig(
        backbone=a.backbone, loss=a.loss, data=a.data, afriqa_dir=a.afriqa_dir, languages=tuple(a.languages),
        triples=a.triples, topics=a.topics, qrels=a.qrels, corpus=a.corpus, run=a.run, index=a.index,
        dev_topics=a.dev_topics, dev_qrels=a.dev_qrels, dev_run=a.dev_run, exclude_topics=tuple(a.exclude_topics),
        num_negatives=a.num_negatives, mine_depth=a.mine_depth, negative_sampling=a.negative_sampling,
        max_train_queries=a.max_train_queries, max_length=a.max_length, query_template=a.query_template,
        passage_template=a.passage_template, freeze_embeddings=not a.train_embeddings, batch_size=a.batch_size,
        learning_rate=a.learning_rate, head_learning_rate=a.head_learning_rate, epochs=a.epochs, max_steps=a.max_steps, warmup_ratio=a.warmup_ratio,
        weight_decay=a.weight_decay, gradient_accumulation_steps=a.gradient_accumulation_steps,
        in_batch_negatives=a.in_batch_negatives, mini_batch_size=a.mini_batch_size, seed=a.seed,
        precision=a.precision, dev_max_queries=a.dev_max_queries, dev_depth=a.dev_depth, eval_steps=a.eval_steps,
        select_best=not a.last_checkpoint, early_stopping_patience=a.early_stopping_patience,
        save_steps=a.save_steps, logging_steps=a.logging_steps, device=a.device, threads=a.threads,
        keep_checkpoints=a.keep_checkpoints, show_progress=not a.no_progress)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    a = build_parser().parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    command = _command_line(argv)
    if a.command == "train":
        cfg = _config_from_args(a)
        started = time.time()
        res = train_teacher(cfg, a.out, overwrite=a.overwrite, command=command)
        print(json.dumps({"model_dir": str(res.model_dir), "global_step": res.global_step,
                          "train_loss": res.train_loss, "dev": res.dev_metrics,
                          "resumed_from": res.resumed_from}, indent=2))
        print(f"wall time {time.time() - started:.1f}s", file=sys.stderr)
        return 0
    if a.command == "evaluate":
        if a.max_queries is not None and a.max_queries < 1:
            raise ConfigError("--max-queries must be >= 1")
        if a.depth < 1:
            raise ConfigError("--depth must be >= 1")
        started = time.time()
        dl19_n = None if a.dl19_max_queries == 0 else a.dl19_max_queries
        res = evaluate_teacher(a.model, sets=a.sets, dl19_dir=a.dl19_dir, afriqa_dir=a.afriqa_dir,
                               languages=a.languages, max_queries=a.max_queries, dl19_max_queries=dl19_n,
                               depth=a.depth,
                               max_length=a.max_length, batch_size=a.batch_size, runs_dir=a.runs_dir,
                               threads=a.threads, show_progress=not a.no_progress, command=command)
        stem = Path(a.output)
        write_json_atomic(stem.with_name(stem.name + ".json"), res)
        md = format_eval_markdown(res)
        write_text_atomic(stem.with_name(stem.name + ".md"), md)
        sys.stdout.write(md)
        print(f"wall time {time.time() - started:.1f}s", file=sys.stderr)
        return 0
    data, md = _summarize(a.models)
    data["command"] = command
    stem = Path(a.output)
    write_json_atomic(stem.with_name(stem.name + ".json"), data)
    write_text_atomic(stem.with_name(stem.name + ".md"), "# Teacher dev comparison\n\n" + md)
    sys.stdout.write(md)
    return 0


if __name__ == "__main__":
    from .cli import run_cli

    raise SystemExit(run_cli(main))

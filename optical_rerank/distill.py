"""OPTICAL distillation: teach a cross-encoder student to read language L through bitext.

Method (DESIGN.md section 2; Huang, Yu & Allan, WSDM 2023)
------------------------------------------------------------
The teacher ``T`` is a cross-encoder trained on English relevance; the student ``S`` starts as an
exact copy of it. For a bitext pair ``(x, e)`` (``x`` in language L, ``e`` its English
translation) the student encodes ``x`` and the frozen teacher encodes ``e`` (no gradient). For each
chosen layer ``l`` the token states of the *text segment* are taken (special tokens, template
prefixes such as e5's ``"query: "``, the passage segment and padding excluded):
``X = H_S^l(x)`` of shape ``(n, h)`` and ``E = H_T^l(e)`` of shape ``(m, h)``.

* ``method="ot"``: ``L = sum_l <P*_l, C_l>`` with ``C_ij = 1 - cos(X_i, E_j)`` (or
  ``||X_i - E_j||^2 / h``), uniform (or IDF) marginals and ``P*`` the entropic OT plan from the
  batched log-domain Sinkhorn solver of :mod:`optical_rerank.ot` (balanced, or unbalanced with
  ``unbalanced_tau``). ``grad="envelope"`` detaches ``P*`` (gradient ``sum P*_ij dC_ij``);
  ``grad="unrolled"`` back-propagates through the iterations.
* ``method="mse"`` (vanilla KD baseline): ``L = sum_l ||mean(X) - mean(E)||^2``.
* ``method="score"`` (ablation): no state term, only ``score_weight * (s_S(x, d) - s_T(e, d))^2``
  in context: what the score term does on its own.
* ``in_context=True``: the bitext sentence is paired with an English passage ``d`` (e.g. a BM25
  hit of ``e``): the student reads ``[CLS] x [SEP] d [SEP]``, the teacher ``[CLS] e [SEP] d [SEP]``;
  only the ``x``/``e`` states are aligned, and ``score_weight * (s_S(x, d) - s_T(e, d))^2`` can be
  added. ``side="document"`` feeds the bitext sentence as the *second* segment (the passage) and
  the context as the first, for the other CLIR direction.
* ``anchor_weight > 0`` adds ``anchor_weight * sum_l mean_i (1 - cos(S^l(e)_i, T^l(e)_i))``: the
  student also reads the English side and must keep the teacher's token states there. The OT
  term alone can fall by pulling every foreign token toward a common direction (``token_cos`` in
  the training log shows it); the anchor is meant to keep the shared layers from collapsing in
  that way (on AfriQA dev it did not, see below). It costs one more student forward/backward per
  step.

The "no distillation" baseline is the teacher used zero-shot: nothing to train here.

Which settings work (AfriQA dev)
--------------------------------
Measured on the AfriQA **dev** split (hau ibo twi zul, 50 questions each, reranking BM25 top-10;
e5-small teacher, 100 steps of 16 pairs; ``configs/afriqa-dev.yaml``, ``results/afriqa-dev/``),
nDCG@10 against the zero-shot teacher's 0.6576 (oracle 0.7533); no difference is significant
after Bonferroni:

* **Layers**: higher is better. ``[12]`` −0.003, ``[8, 12]`` −0.004, ``[4, 8, 12]`` (the default)
  −0.012, all 12 layers −0.021, ``[4]`` alone −0.143. Aligning lower layers of the query on its own
  damages the matching the upper layers do.
* **In context** is what helps: ``in_context`` with BM25 passages of the English side and
  ``score_weight=1`` gives +0.010 with ``[4, 8, 12]`` and **+0.015 with** ``[12]`` (the best OT
  student), but vanilla KD in the same setting gives +0.019 and the score term alone
  (``method="score"``) +0.008: the in-context passages and the score term, not the OT term, carry
  the gain at this budget.
* ``lr=2e-4`` −0.034; 300 steps −0.006 (vs −0.012 at 100); ``reg=0.01`` −0.005; an English anchor
  (``anchor_weight=1``) −0.002. The training logs show why the OT students lose: the student's
  mean within-sentence token cosine (``token_cos``; the teacher's English states: 0.18/0.34/0.85
  at layers 4/8/12) ends at 0.44/0.66/0.94 with ``reg=0.01`` and 0.46/0.70/0.95 with the anchor,
  i.e. the foreign tokens collapse toward a common direction, which lowers ⟨P, C⟩ without aligning
  anything; the MSE student stays at 0.20/0.34/0.88. Neither a sharper plan nor the anchor
  prevents it.

Trainer
-------
:func:`distill` trains with AdamW and a linear warmup/decay schedule. The batch of step ``t`` is a
pure function of ``(seed, t)`` (per-epoch permutations drawn from ``(seed, epoch)``; with
``sampling="language"`` every language is drawn equally often), and the torch/numpy/random RNGs
are re-seeded from ``(seed, t, rank)`` before every step, so a run that is killed and restarted
with the same command resumes from its latest checkpoint and ends with the same weights as an
uninterrupted run. Layout of ``output``::

    output/checkpoints/step-00000200/   model.safetensors, optimizer.pt, rng.json, state.json
    output/train_log.jsonl              one JSON object per logged step / evaluation / resume
    output/model/                       final student: config.json, model.safetensors, tokenizer
                                        files, distill_config.json, provenance.json
    output/result.json                  written last: the run is complete

Checkpoint and model directories are written to a temporary directory and renamed into place.
``optimizer.pt`` holds our own optimizer/scheduler state and is read with
``torch.load(weights_only=True)``; model weights are safetensors only.

Multi-process: under ``torchrun --nproc_per_node=N`` (``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` set)
the student is wrapped in ``DistributedDataParallel`` (gloo on CPU, nccl on GPU); each rank takes
a contiguous, equal share of the global batch (``batch_size`` must be a multiple of the world
size), and only rank 0 writes checkpoints, logs and the final model.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import hashlib
import json
import math
import os
import random
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import ConfigError, InputFormatError, ModelError, NumericalError, config_fields
from .trec_io import iter_lines, write_json_atomic

__all__ = [
    "DistillConfig",
    "DistillResult",
    "LangPair",
    "SegmentBatch",
    "SegmentStates",
    "build_idf_table",
    "build_parser",
    "distill",
    "encode_segments",
    "english_anchor_loss",
    "load_teacher_and_student",
    "main",
    "mean_token_cosine",
    "mse_distill_loss",
    "ot_distill_loss",
    "read_bitext_files",
    "read_passages",
    "resolve_layers",
    "segment_states",
]

Tensor = torch.Tensor

METHODS = ("ot", "mse", "score")
COSTS = ("cosine", "sqeuclidean")
MARGINALS = ("uniform", "idf")
GRADS = ("envelope", "unrolled")
SIDES = ("query", "document")
SAMPLING = ("uniform", "language")
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
_CKPT_RE = re.compile(r"^step-(\d{8})$")
CHECKPOINT_FORMAT = "optical_rerank.distill.checkpoint/1"
RESULT_FORMAT = "optical_rerank.distill.result/1"

#: Fields that may change between a run and its resumption (they do not change the weights).
RESUME_NEUTRAL = ("output", "save_every", "eval_every", "log_every", "keep_checkpoints", "eval_topics",
                  "strict_leakage", "device", "threads", "show_progress")


# =========================================================================== configuration
def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


@dataclass(frozen=True)
class DistillConfig:
    """Everything that determines a distillation run.

    Parameters
    ----------
    teacher : zoo name or local directory of the English cross-encoder (safetensors).
    output : run directory (checkpoints, log, final model under ``output/model``).
    method : ``"ot"`` (OPTICAL), ``"mse"`` (mean-pooled vanilla KD baseline) or ``"score"`` (the
        in-context score term alone, an ablation).
    layers : hidden-state indices to align: ``0`` = embeddings, ``k`` = output of layer ``k``;
        values above the model depth are clipped to it, negative values count from the end
        (``-1`` = last layer), ``"last"`` is the last layer. Duplicates after clipping are merged.
    cost : ``"cosine"`` (``1 - cos``) or ``"sqeuclidean"`` (``||x - y||^2 / h``).
    reg : entropic regularisation ``eps`` in cost units.
    max_iter, tol : Sinkhorn iteration cap and tolerance (relative L1 marginal violation).
    unbalanced_tau : KL marginal relaxation ``tau`` (``None``: balanced OT).
    marginals : ``"uniform"`` over real tokens or ``"idf"`` (IDF of the training bitext).
    grad : ``"envelope"`` (plan detached) or ``"unrolled"``.
    side : ``"query"``: the bitext sentence is the cross-encoder's first segment (rendered with
        ``query_template``); ``"document"``: the second segment (``passage_template``).
    in_context : pair every bitext sentence with an English context text from ``passages``
        (a passage for ``side="query"``, a query for ``side="document"``).
    score_weight : weight of ``(s_S(x, d) - s_T(e, d))^2`` (needs ``in_context``).
    anchor_weight : weight of the English anchor ``sum_l mean_i (1 - cos(S^l(e)_i, T^l(e)_i))``
        (``0``: off); see the module docstring.
    query_template, passage_template : ``{text}`` is replaced by the text; use the reranker's
        templates (``"query: {text}"``/``"passage: {text}"`` for e5, ``"{text}"`` for none).
    max_length : tokens per input, special tokens included (``longest_first`` truncation).
    batch_size : pairs per optimizer step (the *global* batch; split evenly over DDP ranks).
    lr, warmup, weight_decay : AdamW learning rate, linear warmup steps (``None``: 10% of
        ``steps``; then linear decay to ``lr / (steps - warmup)`` at the last step), decoupled
        weight decay (not on biases/norms).
    steps : optimizer steps.
    grad_clip : max global gradient norm (``None``: no clipping).
    freeze_embeddings : keep the student's word-embedding matrix fixed (as the teacher's training
        does). Its 250k x 384 rows are 82% of e5-small's parameters: updating them dominates the
        step time on CPU (with them frozen the AfriQA experiment's OT student ran at ~1.4 s/step, batch 16,
        ``results/afriqa/models/*/train_log.jsonl``; trained, several times slower), and the
        transformer layers alone can map foreign tokens onto the teacher's English states.
    seed : seeds data order, dropout and the dev split.
    sampling : ``"uniform"`` over pairs (epoch permutations) or ``"language"`` (each language,
        see :class:`LangPair`, equally often, epochs within each language).
    dev_size : when no dev pairs are given, hold out this many bitext pairs (seeded) as dev.
    save_every, eval_every, log_every : checkpoint / dev evaluation / log period in steps
        (``0``: only at the end; evaluation also runs before training).
    keep_checkpoints : how many checkpoints to keep (older ones are deleted).
    eval_topics : topics files whose queries must not appear in the bitext (either side).
    strict_leakage : refuse (``ConfigError``) instead of dropping leaking pairs.
    device : ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (DDP uses ``cuda:LOCAL_RANK``).
    threads : ``torch.set_num_threads`` value (``None``: leave torch's setting).
    show_progress : tqdm progress bar on rank 0.
    """

    teacher: str
    output: str
    method: str = "ot"
    layers: tuple[int | str, ...] = (4, 8, 12)
    cost: str = "cosine"
    reg: float = 0.05
    max_iter: int = 100
    tol: float = 1e-3
    unbalanced_tau: float | None = None
    marginals: str = "uniform"
    grad: str = "envelope"
    side: str = "query"
    in_context: bool = False
    score_weight: float = 0.0
    anchor_weight: float = 0.0
    query_template: str = "query: {text}"
    passage_template: str = "passage: {text}"
    max_length: int = 128
    batch_size: int = 16
    lr: float = 2e-5
    steps: int = 1000
    warmup: int | None = None
    weight_decay: float = 0.01
    grad_clip: float | None = 1.0
    freeze_embeddings: bool = True
    seed: int = 0
    sampling: str = "uniform"
    dev_size: int = 0
    save_every: int = 200
    eval_every: int = 200
    log_every: int = 10
    keep_checkpoints: int = 1
    eval_topics: tuple[str, ...] = ()
    strict_leakage: bool = False
    device: str = "auto"
    threads: int | None = None
    show_progress: bool = True

    def __post_init__(self) -> None:
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise ConfigError(f"DistillConfig: {msg}")

        # normalise sequences (JSON gives lists, the CLI strings)
        layers = self.layers
        if isinstance(layers, (str, int)) and not isinstance(layers, bool):
            layers = (layers,)
        need(isinstance(layers, (list, tuple)) and len(layers) > 0,
             f"layers must be a non-empty sequence, got {self.layers!r}")
        norm_layers: list[int | str] = []
        for item in layers:
            if isinstance(item, str) and item.strip().lower() == "last":
                norm_layers.append("last")
            elif (isinstance(item, str) and re.fullmatch(r"-?\d+", item.strip())) or _is_int(item):
                norm_layers.append(int(item))
            else:
                raise ConfigError(f"DistillConfig: a layer must be an integer or 'last', got {item!r}")
        object.__setattr__(self, "layers", tuple(norm_layers))
        topics = self.eval_topics
        if isinstance(topics, (str, os.PathLike)):
            topics = (topics,)
        need(isinstance(topics, (list, tuple)), f"eval_topics must be a list of paths, got {topics!r}")
        object.__setattr__(self, "eval_topics", tuple(os.fspath(t) for t in topics))
        for name in ("teacher", "output"):
            v = getattr(self, name)
            if isinstance(v, os.PathLike):
                object.__setattr__(self, name, os.fspath(v))
        for name in ("reg", "tol", "lr", "weight_decay", "score_weight", "anchor_weight"):
            v = getattr(self, name)
            if _is_int(v):
                object.__setattr__(self, name, float(v))
        for name in ("grad_clip", "unbalanced_tau"):
            v = getattr(self, name)
            if _is_int(v):
                object.__setattr__(self, name, float(v))

        need(isinstance(self.teacher, str) and bool(self.teacher.strip()), "teacher must be a non-empty path or name")
        need(isinstance(self.output, str) and bool(self.output.strip()), "output must be a non-empty path")
        need(self.method in METHODS, f"method must be one of {METHODS}, got {self.method!r}")
        need(self.method != "score" or (self.in_context and self.score_weight > 0),
             "method='score' trains on the score term alone: it needs in_context=True and score_weight > 0")
        need(self.cost in COSTS, f"cost must be one of {COSTS}, got {self.cost!r}")
        need(_is_num(self.reg) and self.reg > 0, f"reg must be a finite number > 0, got {self.reg!r}")
        need(_is_int(self.max_iter) and self.max_iter >= 1, f"max_iter must be an integer >= 1, got {self.max_iter!r}")
        need(_is_num(self.tol) and self.tol >= 0, f"tol must be a number >= 0, got {self.tol!r}")
        need(self.unbalanced_tau is None or (isinstance(self.unbalanced_tau, float) and self.unbalanced_tau > 0),
             f"unbalanced_tau must be None (balanced) or a number > 0, got {self.unbalanced_tau!r}")
        need(self.marginals in MARGINALS, f"marginals must be one of {MARGINALS}, got {self.marginals!r}")
        need(self.grad in GRADS, f"grad must be one of {GRADS}, got {self.grad!r}")
        need(self.side in SIDES, f"side must be one of {SIDES}, got {self.side!r}")
        need(isinstance(self.in_context, bool), f"in_context must be a bool, got {self.in_context!r}")
        need(_is_num(self.score_weight) and self.score_weight >= 0,
             f"score_weight must be a number >= 0, got {self.score_weight!r}")
        need(_is_num(self.anchor_weight) and self.anchor_weight >= 0,
             f"anchor_weight must be a number >= 0, got {self.anchor_weight!r}")
        need(self.score_weight == 0 or self.in_context,
             "score_weight > 0 compares relevance scores of (text, context) pairs: it needs in_context=True")
        for name in ("query_template", "passage_template"):
            t = getattr(self, name)
            need(isinstance(t, str) and t.count("{text}") == 1, f"{name} must contain '{{text}}' exactly once, got {t!r}")
        need(_is_int(self.max_length) and self.max_length >= 8, f"max_length must be an integer >= 8, got {self.max_length!r}")
        need(_is_int(self.batch_size) and self.batch_size >= 1, f"batch_size must be an integer >= 1, got {self.batch_size!r}")
        need(_is_num(self.lr) and self.lr > 0, f"lr must be a finite number > 0, got {self.lr!r}")
        need(_is_int(self.steps) and self.steps >= 1, f"steps must be an integer >= 1, got {self.steps!r}")
        need(self.warmup is None or (_is_int(self.warmup) and 0 <= self.warmup <= self.steps),
             f"warmup must be None (10% of steps) or an integer in [0, steps={self.steps}], got {self.warmup!r}")
        need(_is_num(self.weight_decay) and self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay!r}")
        need(self.grad_clip is None or (_is_num(self.grad_clip) and self.grad_clip > 0),
             f"grad_clip must be None or a number > 0, got {self.grad_clip!r}")
        need(_is_int(self.seed) and self.seed >= 0, f"seed must be an integer >= 0, got {self.seed!r}")
        need(self.sampling in SAMPLING, f"sampling must be one of {SAMPLING}, got {self.sampling!r}")
        need(_is_int(self.dev_size) and self.dev_size >= 0, f"dev_size must be an integer >= 0, got {self.dev_size!r}")
        for name in ("save_every", "eval_every", "log_every"):
            v = getattr(self, name)
            need(_is_int(v) and v >= 0, f"{name} must be an integer >= 0 (0 = only at the end), got {v!r}")
        need(_is_int(self.keep_checkpoints) and self.keep_checkpoints >= 1,
             f"keep_checkpoints must be an integer >= 1, got {self.keep_checkpoints!r}")
        need(isinstance(self.strict_leakage, bool), f"strict_leakage must be a bool, got {self.strict_leakage!r}")
        need(isinstance(self.device, str) and bool(_DEVICE_RE.match(self.device)),
             f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        need(self.threads is None or (_is_int(self.threads) and self.threads >= 1),
             f"threads must be None or an integer >= 1, got {self.threads!r}")
        need(isinstance(self.show_progress, bool), f"show_progress must be a bool, got {self.show_progress!r}")

    # ---- serialisation
    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-ready dict (tuples become lists)."""
        d = dataclasses.asdict(self)
        d["layers"] = list(self.layers)
        d["eval_topics"] = list(self.eval_topics)
        return d

    def to_json(self) -> str:
        """Indented, key-sorted JSON text (the content of ``distill_config.json``)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> DistillConfig:
        """Build a config from a dict; unknown keys are an error, missing keys take defaults."""
        d = config_fields(cls, obj, required=("teacher", "output"))
        for name in ("layers", "eval_topics"):
            if isinstance(d.get(name), list):
                d[name] = tuple(d[name])
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> DistillConfig:
        """Parse :meth:`to_json` output."""
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"DistillConfig: invalid JSON: {exc.msg} (line {exc.lineno})") from None
        return cls.from_dict(obj)

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_json` atomically to ``path``."""
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> DistillConfig:
        """Read a ``distill_config.json`` file."""
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: no such config file")
        return cls.from_json(p.read_text(encoding="utf-8"))

    @property
    def warmup_steps(self) -> int:
        """Linear warmup steps: ``warmup``, or 10% of ``steps`` when it is ``None``."""
        return self.steps // 10 if self.warmup is None else self.warmup

    def identity(self) -> dict[str, Any]:
        """The fields that determine the trained weights (all but :data:`RESUME_NEUTRAL`)."""
        d = self.to_dict()
        for name in RESUME_NEUTRAL:
            d.pop(name)
        return d


def resolve_layers(layers: Sequence[int | str], num_layers: int) -> tuple[int, ...]:
    """Map a layer spec to sorted, unique ``hidden_states`` indices in ``[0, num_layers]``.

    Parameters
    ----------
    layers : integers (``0`` = embeddings, ``k`` = output of layer ``k``; larger than
        ``num_layers`` is clipped to it; negative counts from the end, ``-1`` = last) or ``"last"``.
    num_layers : depth of the model (``config.num_hidden_layers``).

    Returns
    -------
    tuple of int

    Raises
    ------
    ConfigError
        A negative index beyond the embeddings, or an unknown item.
    """
    out: set[int] = set()
    for item in layers:
        if isinstance(item, str):
            if item.strip().lower() != "last":
                raise ConfigError(f"layer {item!r}: use an integer or 'last'")
            out.add(num_layers)
        elif _is_int(item):
            k = int(item)
            if k < 0:
                k = num_layers + 1 + k
                if k < 0:
                    raise ConfigError(f"layer {item}: the model has only {num_layers} layers "
                                      f"(valid negative indices: -1 .. -{num_layers + 1})")
            out.add(min(k, num_layers))
        else:
            raise ConfigError(f"layer {item!r}: use an integer or 'last'")
    if not out:
        raise ConfigError("no layers to align")
    return tuple(sorted(out))


# =========================================================================== pairs and passages
@dataclass(frozen=True)
class LangPair:
    """A bitext pair with its language group (used by ``sampling="language"``).

    ``x`` is the foreign text, ``en`` its English translation, ``source`` where it came from and
    ``lang`` the language key (any :class:`~optical_rerank.data.bitext.BitextPair` or
    ``(x, en[, source[, lang]])`` tuple is accepted where pairs are expected; without ``lang`` the
    group is the source).
    """

    x: str
    en: str
    source: str = "-"
    lang: str = "-"


@dataclass(frozen=True)
class _Item:
    x: str
    en: str
    group: str
    source: str = "-"
    contexts: tuple[str, ...] = ()


def _context_key(text: str) -> str:
    return " ".join(text.split())


def _as_items(pairs: Iterable[Any], what: str) -> list[_Item]:
    items: list[_Item] = []
    for i, p in enumerate(pairs):
        if hasattr(p, "x") and hasattr(p, "en"):
            x, en = p.x, p.en
            source = str(getattr(p, "source", None) or "-")
            group = getattr(p, "lang", None) or getattr(p, "language", None) or source
        elif isinstance(p, Sequence) and not isinstance(p, str) and 2 <= len(p) <= 4:
            x, en = p[0], p[1]
            source = str(p[2]) if len(p) > 2 and p[2] else "-"
            group = (p[3] if len(p) > 3 else None) or source
        else:
            raise ConfigError(f"{what} pair {i}: expected an object with .x/.en or an (x, en[, source[, lang]]) "
                              f"tuple, got {type(p).__name__}")
        if not isinstance(x, str) or not isinstance(en, str) or not x.strip() or not en.strip():
            raise ConfigError(f"{what} pair {i}: both sides must be non-empty strings, got {x!r} / {en!r}")
        items.append(_Item(" ".join(x.split()), " ".join(en.split()), str(group), source))
    return items


def read_bitext_files(paths: Sequence[str | Path]) -> list[LangPair]:
    """Read ``x<TAB>en<TAB>source`` bitext files into :class:`LangPair` s.

    The language of every pair is taken from its file name: ``bitext.<lang>.tsv`` (what
    ``prepare bitext`` writes) gives ``<lang>``, any other name its stem.
    """
    from .data.bitext import read_bitext  # noqa: PLC0415

    out: list[LangPair] = []
    for path in paths:
        p = Path(path)
        m = re.fullmatch(r"bitext\.(.+)\.tsv", p.name)
        lang = m.group(1) if m else p.stem
        out.extend(LangPair(b.x, b.en, b.source, lang) for b in read_bitext(p))
    return out


def read_passages(path: str | Path) -> dict[str, list[str]]:
    """Read English context texts for in-context distillation, keyed by the English side.

    Formats
    -------
    ``*.jsonl``: one object per line, ``{"en": "...", "passages": ["...", ...]}`` (or a single
    ``"passage"``/``"text"`` string; lines with the same ``en`` accumulate).
    anything else: TSV ``en<TAB>passage`` lines (lines with the same ``en`` accumulate).

    Keys are the English side with whitespace collapsed (bitext files are stored that way).

    Raises
    ------
    InputFormatError
        Naming ``file:line``.
    """
    path = Path(path)
    out: dict[str, list[str]] = {}
    jsonl = path.suffix.lower() in (".jsonl", ".json")
    for lineno, line in iter_lines(path):
        if jsonl:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputFormatError(path, lineno, f"invalid JSON: {exc.msg}") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("en"), str):
                raise InputFormatError(path, lineno, 'expected an object with a string "en" field')
            if "passages" in obj:
                ps = obj["passages"]
                if not isinstance(ps, list) or not all(isinstance(s, str) for s in ps):
                    raise InputFormatError(path, lineno, '"passages" must be a list of strings')
            elif isinstance(obj.get("passage"), str) or isinstance(obj.get("text"), str):
                ps = [obj["passage"] if isinstance(obj.get("passage"), str) else obj["text"]]
            else:
                raise InputFormatError(path, lineno, 'expected "passages" (list) or "passage"/"text" (string)')
            en = obj["en"]
        else:
            parts = line.split("\t")
            if len(parts) != 2:
                raise InputFormatError(path, lineno, f"expected 2 tab-separated columns (en, passage), found {len(parts)}")
            en, ps = parts[0], [parts[1]]
        key = _context_key(en)
        if not key:
            raise InputFormatError(path, lineno, "empty English side")
        ps = [" ".join(s.split()) for s in ps]
        ps = [s for s in ps if s]
        if not ps:
            raise InputFormatError(path, lineno, f"no non-empty passage for {key[:60]!r}")
        out.setdefault(key, []).extend(ps)
    if not out:
        raise InputFormatError(path, None, "no passages in file")
    return out


# =========================================================================== encoding and states
def _render(template: str, text: str) -> str:
    return template.replace("{text}", text)


@dataclass(frozen=True)
class SegmentBatch:
    """A tokenized batch and the positions of the bitext text segment.

    Attributes
    ----------
    inputs : dict of Tensor, each (B, L)
        Model inputs (``input_ids``, ``attention_mask``, ``token_type_ids`` when the tokenizer has them).
    segment_mask : Tensor (B, L), bool
        True at the tokens of the text itself: not special tokens, not the template prefix/suffix,
        not the context segment, not padding.
    positions : Tensor (B, n), long
        Sequence positions of the segment tokens, left-packed (``n`` = longest segment; ``0`` in padding).
    mask : Tensor (B, n), bool
        Which entries of ``positions`` are real.
    token_ids : Tensor (B, n), long
        Token ids at ``positions`` (``0`` in padding), e.g. for IDF marginals.
    """

    inputs: dict[str, Tensor]
    segment_mask: Tensor
    positions: Tensor
    mask: Tensor
    token_ids: Tensor


@dataclass(frozen=True)
class SegmentStates:
    """Per-layer hidden states of the text segment.

    Attributes
    ----------
    states : tuple of Tensor, each (B, n, h)
        ``hidden_states[l]`` gathered at the segment positions, one per resolved layer (zero at padding).
    mask : Tensor (B, n), bool
    token_ids : Tensor (B, n), long
    logits : Tensor (B, num_labels)
    layers : tuple of int
        The resolved ``hidden_states`` indices.
    batch : SegmentBatch
    """

    states: tuple[Tensor, ...]
    mask: Tensor
    token_ids: Tensor
    logits: Tensor
    layers: tuple[int, ...]
    batch: SegmentBatch


def encode_segments(tokenizer: Any, texts: Sequence[str], passages: Sequence[str] | None = None, *,
                    side: str = "query", query_template: str = "{text}", passage_template: str = "{text}",
                    max_length: int = 128, device: torch.device | str | None = None) -> SegmentBatch:
    """Tokenize texts (optionally paired with context texts) and locate the text segment.

    Parameters
    ----------
    tokenizer : a fast (Rust) Hugging Face tokenizer (offsets and ``sequence_ids`` are needed).
    texts : B bitext sentences.
    passages : B context texts (in-context mode) or ``None``.
    side : ``"query"``: the text is rendered with ``query_template`` and is the first segment
        (the context, if any, second, with ``passage_template``); ``"document"``: the text uses
        ``passage_template`` and is the second segment after the context (first, ``query_template``).
        Without context the text is the only segment either way.
    max_length : truncation length (``longest_first`` with a context, so a short sentence keeps
        all its tokens and the passage is cut).
    device : where to put the tensors.

    Returns
    -------
    SegmentBatch
    """
    if side not in SIDES:
        raise ConfigError(f"side must be one of {SIDES}, got {side!r}")
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError("distillation needs a fast (Rust) tokenizer to locate the text segment "
                          "(offsets / sequence ids); this model's tokenizer is a slow Python one")
    texts = list(texts)
    if passages is not None and len(passages) != len(texts):
        raise ConfigError(f"{len(texts)} texts but {len(passages)} passages")
    text_tmpl = query_template if side == "query" else passage_template
    rendered = [_render(text_tmpl, t) for t in texts]
    start = text_tmpl.index("{text}")
    spans = [(start, start + len(t)) for t in texts]
    if passages is None:
        first, second, seg = rendered, None, 0
        truncation: Any = True
    elif side == "query":
        first, second, seg = rendered, [_render(passage_template, p) for p in passages], 0
        truncation = "longest_first"
    else:
        first, second, seg = [_render(query_template, p) for p in passages], rendered, 1
        truncation = "longest_first"
    enc = tokenizer(first, second, padding=True, truncation=truncation, max_length=max_length,
                    return_offsets_mapping=True, return_tensors="pt")
    offsets = enc.pop("offset_mapping")
    enc.pop("special_tokens_mask", None)
    B, L = enc["input_ids"].shape
    seg_mask = torch.zeros((B, L), dtype=torch.bool)
    for i in range(B):
        sids = enc.sequence_ids(i)
        lo, hi = spans[i]
        for j, sid in enumerate(sids):
            if sid != seg:
                continue
            a, b = int(offsets[i, j, 0]), int(offsets[i, j, 1])
            if b > a and b > lo and a < hi:
                seg_mask[i, j] = True
    seg_mask &= enc["attention_mask"].bool()
    counts = seg_mask.sum(1)
    n = max(int(counts.max()) if B else 0, 1)
    positions = torch.zeros((B, n), dtype=torch.long)
    mask = torch.zeros((B, n), dtype=torch.bool)
    for i in range(B):
        pos = seg_mask[i].nonzero().flatten()
        positions[i, :len(pos)] = pos
        mask[i, :len(pos)] = True
    token_ids = torch.where(mask, enc["input_ids"].gather(1, positions), torch.zeros_like(positions))
    inputs = {k: v for k, v in enc.items() if isinstance(v, Tensor)}
    if device is not None:
        inputs = {k: v.to(device) for k, v in inputs.items()}
        seg_mask, positions, mask, token_ids = (t.to(device) for t in (seg_mask, positions, mask, token_ids))
    return SegmentBatch(inputs, seg_mask, positions, mask, token_ids)


def _unwrap(model: Any) -> Any:
    return getattr(model, "module", model)


def segment_states(model: Any, tokenizer: Any, texts: Sequence[str], passages: Sequence[str] | None = None, *,
                   layers: Sequence[int | str] = ("last",), side: str = "query", query_template: str = "{text}",
                   passage_template: str = "{text}", max_length: int = 128) -> SegmentStates:
    """Run ``model`` on the texts and gather the text-segment states of the chosen layers.

    Gradients flow when called outside ``torch.no_grad`` (student); wrap the teacher's call in
    ``torch.no_grad()``.

    Parameters
    ----------
    model : ``AutoModelForSequenceClassification`` (or a ``DistributedDataParallel`` around one).
    tokenizer, texts, passages, side, query_template, passage_template, max_length :
        as :func:`encode_segments`.
    layers : layer spec, resolved by :func:`resolve_layers` against the model depth.

    Returns
    -------
    SegmentStates
        ``states[k]`` has shape (B, n, h); ``mask`` (B, n); ``logits`` (B, num_labels).
    """
    inner = _unwrap(model)
    resolved = resolve_layers(layers, int(inner.config.num_hidden_layers))
    device = next(inner.parameters()).device
    batch = encode_segments(tokenizer, texts, passages, side=side, query_template=query_template,
                            passage_template=passage_template, max_length=max_length, device=device)
    out = model(**batch.inputs, output_hidden_states=True)
    hidden = out.hidden_states
    if hidden is None or len(hidden) != int(inner.config.num_hidden_layers) + 1:
        raise ModelError(f"{type(inner).__name__} did not return {int(inner.config.num_hidden_layers) + 1} "
                         "hidden states with output_hidden_states=True")
    idx = batch.positions.unsqueeze(-1)
    keep = batch.mask.unsqueeze(-1)
    states = []
    for layer in resolved:
        H = hidden[layer]
        g = H.gather(1, idx.expand(-1, -1, H.shape[-1]))
        states.append(g * keep.to(g.dtype))
    return SegmentStates(tuple(states), batch.mask, batch.token_ids, out.logits, resolved, batch)


# =========================================================================== losses
def _valid_rows(s_mask: Tensor, t_mask: Tensor) -> Tensor:
    return s_mask.any(-1) & t_mask.any(-1)


def _check_layers(student_states: Sequence[Tensor], teacher_states: Sequence[Tensor]) -> None:
    if len(student_states) != len(teacher_states) or not student_states:
        raise ConfigError(f"need the same, non-zero number of student and teacher layers, got "
                          f"{len(student_states)} and {len(teacher_states)}")


@torch.no_grad()
def mean_token_cosine(states: Tensor, mask: Tensor) -> float:
    """Mean cosine between different real tokens of the same text: a collapse diagnostic.

    Parameters
    ----------
    states : Tensor (B, n, h)
    mask : Tensor (B, n), bool

    Returns
    -------
    float
        Average over all pairs ``i != j`` of real tokens within each row (``nan`` if no row has two
        tokens). Distillation that pulls every student token toward one direction shows up as this
        value rising towards 1 for the student while the teacher's stays put.
    """
    Hn = torch.nn.functional.normalize(states.float(), dim=-1)
    sim = Hn @ Hn.transpose(1, 2)
    pair = (mask[:, :, None] & mask[:, None, :]).float()
    pair = pair * (1.0 - torch.eye(sim.shape[1], device=sim.device))[None]
    total = float(pair.sum())
    return float((sim * pair).sum()) / total if total else float("nan")


def ot_distill_loss(student_states: Sequence[Tensor], teacher_states: Sequence[Tensor], s_mask: Tensor,
                    t_mask: Tensor, config: Any, *, a: Tensor | None = None,
                    b: Tensor | None = None) -> tuple[Tensor, dict[str, Any]]:
    """OPTICAL loss ``sum_l mean_batch <P*_l, C_l>``.

    Parameters
    ----------
    student_states : per layer, Tensor (B, n, h)
    teacher_states : per layer, Tensor (B, m, h) (computed without gradient)
    s_mask : Tensor (B, n), bool — real student tokens.
    t_mask : Tensor (B, m), bool — real teacher tokens.
    config : :class:`DistillConfig` (or any object with ``cost``, ``reg``, ``max_iter``, ``tol``,
        ``unbalanced_tau``, ``grad``).
    a, b : optional token weights (B, n) / (B, m) (e.g. :func:`optical_rerank.ot.idf_marginals`).

    Returns
    -------
    loss : Tensor, scalar
        Rows where either side has no token (e.g. truncated away) are left out of the mean.
    info : dict
        ``per_layer`` (floats), ``iters`` (max Sinkhorn iterations), ``not_converged`` (count of
        problems over all layers), ``pairs`` (rows used).

    Raises
    ------
    NumericalError
        From the solver when states are NaN/Inf.
    """
    from .ot import ot_loss  # noqa: PLC0415

    _check_layers(student_states, teacher_states)
    valid = _valid_rows(s_mask, t_mask)
    info: dict[str, Any] = {"per_layer": [], "iters": 0, "not_converged": 0, "pairs": int(valid.sum())}
    if not bool(valid.any()):
        zero = sum(X.sum() * 0.0 for X in student_states)
        info["per_layer"] = [0.0] * len(student_states)
        return zero, info
    sm, tm = s_mask[valid], t_mask[valid]
    av = a[valid] if a is not None else None
    bv = b[valid] if b is not None else None
    total = None
    for X, E in zip(student_states, teacher_states):
        per_pair, res = ot_loss(X[valid], E[valid].detach(), sm, tm, reg=config.reg, cost=config.cost,
                                unbalanced_tau=config.unbalanced_tau, grad=config.grad, a=av, b=bv,
                                max_iter=config.max_iter, tol=config.tol, warn=False)
        value = per_pair.mean()
        total = value if total is None else total + value
        info["per_layer"].append(float(value.detach()))
        info["iters"] = max(info["iters"], int(res.n_iter))
        info["not_converged"] += int((~res.batch_converged).sum())
    return total, info


def mse_distill_loss(student_states: Sequence[Tensor], teacher_states: Sequence[Tensor], s_mask: Tensor,
                     t_mask: Tensor, config: Any = None) -> tuple[Tensor, dict[str, Any]]:
    """Vanilla KD baseline ``sum_l mean_batch ||mean(X) - mean(E)||^2`` (means over real tokens).

    Parameters
    ----------
    student_states : per layer, Tensor (B, n, h)
    teacher_states : per layer, Tensor (B, m, h)
    s_mask, t_mask : Tensor (B, n) / (B, m), bool
    config : unused (accepted for symmetry with :func:`ot_distill_loss`).

    Returns
    -------
    loss : Tensor, scalar
    info : dict with ``per_layer`` and ``pairs``.
    """
    _check_layers(student_states, teacher_states)
    valid = _valid_rows(s_mask, t_mask)
    info: dict[str, Any] = {"per_layer": [], "pairs": int(valid.sum())}
    if not bool(valid.any()):
        info["per_layer"] = [0.0] * len(student_states)
        return sum(X.sum() * 0.0 for X in student_states), info
    sm = s_mask[valid].unsqueeze(-1)
    tm = t_mask[valid].unsqueeze(-1)
    total = None
    for X, E in zip(student_states, teacher_states):
        Xv, Ev = X[valid], E[valid].detach()
        mx = (Xv * sm.to(Xv.dtype)).sum(1) / sm.sum(1).to(Xv.dtype)
        me = (Ev * tm.to(Ev.dtype)).sum(1) / tm.sum(1).to(Ev.dtype)
        value = ((mx - me) ** 2).sum(-1).mean()
        total = value if total is None else total + value
        info["per_layer"].append(float(value.detach()))
    return total, info


def english_anchor_loss(student_states: Sequence[Tensor], teacher_states: Sequence[Tensor], mask: Tensor) -> Tensor:
    """``sum_l mean_i (1 - cos(X_l[i], E_l[i]))`` over real tokens: student and teacher on the *same* text.

    Parameters
    ----------
    student_states, teacher_states : per layer, Tensor (B, n, h), the same tokenization
    mask : Tensor (B, n), bool

    Returns
    -------
    Tensor, scalar (``0`` where no token is real).
    """
    _check_layers(student_states, teacher_states)
    m = mask.to(student_states[0].dtype)
    denom = m.sum().clamp_min(1.0)
    total = None
    for X, E in zip(student_states, teacher_states):
        cos = torch.nn.functional.cosine_similarity(X, E.detach(), dim=-1, eps=1e-8)
        value = ((1.0 - cos) * m).sum() / denom
        total = value if total is None else total + value
    return total


def _scores(logits: Tensor) -> Tensor:
    """Relevance score per row, as the reranker computes it (1 label: logit; 2: log-odds)."""
    if logits.shape[-1] == 1:
        return logits[:, 0]
    if logits.shape[-1] == 2:
        return logits[:, 1] - logits[:, 0]
    raise ConfigError(f"score_weight needs a 1- or 2-label cross-encoder, this one has {logits.shape[-1]} labels")


def build_idf_table(tokenizer: Any, texts: Iterable[str], vocab_size: int | None = None) -> Tensor:
    """IDF per token id over ``texts``: ``log((N + 1) / (df + 1)) + 1`` (tokens without special tokens).

    Returns
    -------
    Tensor (V,), float32, with ``V = max(vocab_size, len(tokenizer))``.
    """
    texts = list(texts)
    V = max(int(vocab_size or 0), len(tokenizer))
    df = torch.zeros(V, dtype=torch.float64)
    for i in range(0, len(texts), 1024):
        for ids in tokenizer(texts[i:i + 1024], add_special_tokens=False)["input_ids"]:
            u = torch.tensor(sorted(set(ids)), dtype=torch.long)
            if len(u):
                df[u] += 1
    n = float(len(texts))
    return (torch.log((n + 1.0) / (df + 1.0)) + 1.0).to(torch.float32)


# =========================================================================== models
def _num_labels(model_dir: str) -> int:
    cfg = Path(model_dir) / "config.json"
    if not cfg.is_file():
        return 1
    try:
        obj = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{cfg}: unreadable config.json: {exc}") from None
    if isinstance(obj.get("num_labels"), int):
        return obj["num_labels"]
    if isinstance(obj.get("id2label"), dict) and obj["id2label"]:
        return len(obj["id2label"])
    return 1


def load_teacher_and_student(teacher: str, device: torch.device | str = "cpu") -> tuple[Any, Any, Any, str]:
    """Load the teacher cross-encoder and make the student as an exact copy of it.

    Returns
    -------
    (tokenizer, teacher, student, resolved_path)
        The teacher is in eval mode with ``requires_grad=False`` everywhere; the student is a deep
        copy (same architecture and weights) in train mode.
    """
    from .models import load_cross_encoder_model, resolve_model  # noqa: PLC0415

    path = resolve_model(teacher)
    tokenizer, model = load_cross_encoder_model(path, num_labels=_num_labels(path))
    model = model.to(device)
    student = copy.deepcopy(model).train()
    for p in student.parameters():
        p.requires_grad_(True)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return tokenizer, model, student, path


# =========================================================================== data order
class _Sampler:
    """Pair index of global sample ``k`` as a pure function of ``(seed, k)``."""

    def __init__(self, groups: Sequence[str], seed: int, mode: str):
        self.seed, self.mode, self.n = seed, mode, len(groups)
        names = sorted(set(groups))
        self.names = names
        self.members = [np.array([i for i, g in enumerate(groups) if g == name], dtype=np.int64) for name in names]
        self._cache: dict[tuple, np.ndarray] = {}

    def _perm(self, key: tuple[int, ...], n: int) -> np.ndarray:
        p = self._cache.get(key)
        if p is None:
            if len(self._cache) > 64:
                self._cache.clear()
            p = np.random.default_rng([self.seed, *key]).permutation(n)
            self._cache[key] = p
        return p

    def index(self, k: int) -> int:
        if self.mode == "uniform":
            epoch, pos = divmod(k, self.n)
            return int(self._perm((1, epoch), self.n)[pos])
        G = len(self.names)
        cycle, j = divmod(k, G)
        g = int(self._perm((2, cycle), G)[j])
        members = self.members[g]
        epoch, pos = divmod(cycle, len(members))
        return int(members[self._perm((3, g, epoch), len(members))[pos]])

    def batch(self, step: int, batch_size: int) -> list[int]:
        return [self.index(step * batch_size + i) for i in range(batch_size)]


def _context_choice(seed: int, k: int, n: int) -> int:
    return 0 if n == 1 else int(np.random.default_rng([seed, 4, k]).integers(n))


def _seed_everything(seed: int, step: int, rank: int) -> None:
    s = int(np.random.SeedSequence([seed, 5, step, rank]).generate_state(1, dtype=np.uint32)[0])
    torch.manual_seed(s)
    random.seed(s)
    np.random.seed(s)


class _LinearSchedule:
    """LR multiplier: linear warmup over ``warmup`` steps, then linear decay (picklable state)."""

    def __init__(self, warmup: int, total: int):
        self.warmup, self.total = int(warmup), int(total)

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        return max(0.0, (self.total - step) / max(1, self.total - self.warmup))


# =========================================================================== distributed
@dataclass(frozen=True)
class _Dist:
    world: int
    rank: int
    local_rank: int
    owns_group: bool

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()


def _env_int(name: str, default: int) -> int:
    v = os.environ.get(name)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError:
        raise ConfigError(f"environment variable {name}={v!r} is not an integer") from None


def _setup_dist(device_spec: str) -> tuple[_Dist, torch.device]:
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world:
        raise ConfigError(f"inconsistent WORLD_SIZE={world} / RANK={rank}")
    if device_spec == "auto":
        device = torch.device(f"cuda:{local}" if world > 1 else "cuda") if torch.cuda.is_available() else torch.device("cpu")
    elif device_spec == "cuda" and world > 1:
        device = torch.device(f"cuda:{local}")
    else:
        device = torch.device(device_spec)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device_spec!r} requested but CUDA is not available; use --device cpu")
        torch.cuda.set_device(device)
    owns = False
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend=backend)
        owns = True
    if world > 1 and torch.distributed.get_world_size() != world:
        raise ConfigError("torch.distributed is initialised with another world size than WORLD_SIZE")
    return _Dist(world, rank, local, owns), device


def _all_flag(dist: _Dist, flag: bool, device: torch.device) -> bool:
    """True when ``flag`` is true on any rank."""
    if dist.world == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return bool(t.item() > 0)


def _mean_over_ranks(dist: _Dist, value: float, device: torch.device) -> float:
    if dist.world == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64 if device.type == "cpu" else torch.float32, device=device)
    torch.distributed.all_reduce(t)
    return float(t.item()) / dist.world


# =========================================================================== files
from .models import _fsync_dir  # noqa: E402  (one implementation of directory fsync)


@contextlib.contextmanager
def _staged_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary directory next to ``final``; on success move it to ``final`` (replacing it)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
        for p in tmp.rglob("*"):
            if p.is_file():
                with open(p, "rb") as fh:
                    os.fsync(fh.fileno())
        if final.exists():
            old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
        _fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _sha256_json(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":")).encode("utf-8")).hexdigest()


def _data_fingerprint(train: Sequence[_Item], dev: Sequence[_Item]) -> str:
    return _sha256_json({"train": [[i.x, i.en, i.group, i.source, list(i.contexts)] for i in train],
                         "dev": [[i.x, i.en, i.group, i.source, list(i.contexts)] for i in dev]})


def _checkpoints(output: Path) -> list[tuple[int, Path]]:
    root = output / "checkpoints"
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = _CKPT_RE.match(p.name)
        if m and p.is_dir() and (p / "state.json").is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def _rng_snapshot() -> dict[str, Any]:
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {"torch": torch.get_rng_state().tolist(),
            "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
            "python": [py_state[0], list(py_state[1]), py_state[2]]}


def _rng_restore(snap: Mapping[str, Any]) -> None:
    torch.set_rng_state(torch.tensor(snap["torch"], dtype=torch.uint8))
    n = snap["numpy"]
    np.random.set_state((n[0], np.array(n[1], dtype=np.uint32), n[2], n[3], n[4]))
    p = snap["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))


def _diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    keys = sorted(set(a) | set(b))
    return ", ".join(f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in keys if a.get(k) != b.get(k))


# =========================================================================== result
@dataclass(frozen=True)
class DistillResult:
    """What :func:`distill` produced.

    Attributes
    ----------
    model_dir : the final student (a normal Hugging Face directory, loadable by the reranker).
    output : the run directory.
    steps : optimizer steps of the run.
    resumed_from : step of the checkpoint the run resumed from (``None``: fresh start; equal to
        ``steps`` with ``already_done`` when the output held a finished run).
    final_loss : training loss of the last step (mean over ranks).
    dev_before, dev_after : held-out distances before/after training, ``{"ot", "mse", "pairs"}``
        (``None`` without dev pairs).
    n_train_pairs, n_dev_pairs : pairs used after leakage filtering and context matching.
    leakage : leakage report(s) (``None`` without ``eval_topics``).
    layers : resolved ``hidden_states`` indices.
    wall_time_s : wall time of this call.
    already_done : the output already held this finished run; nothing was trained.
    """

    model_dir: Path
    output: Path
    steps: int
    resumed_from: int | None
    final_loss: float | None
    dev_before: dict[str, float] | None
    dev_after: dict[str, float] | None
    n_train_pairs: int
    n_dev_pairs: int
    leakage: dict[str, Any] | None
    layers: tuple[int, ...]
    wall_time_s: float
    already_done: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["model_dir"], d["output"], d["layers"] = str(self.model_dir), str(self.output), list(self.layers)
        return d


# =========================================================================== trainer
class _Trainer:
    """State and steps of one :func:`distill` call (internal)."""

    def __init__(self, config: DistillConfig, dist: _Dist, device: torch.device, train: list[_Item],
                 dev: list[_Item]):
        self.cfg, self.dist, self.device, self.train, self.dev = config, dist, device, train, dev
        self.tokenizer, self.teacher, self.student, self.teacher_path = load_teacher_and_student(config.teacher, device)
        self.num_layers = int(self.teacher.config.num_hidden_layers)
        limit = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(limit, int) and 0 < limit < 1_000_000 and config.max_length > limit:
            raise ConfigError(f"max_length={config.max_length} exceeds what the teacher's tokenizer accepts ({limit})")
        self.layers = resolve_layers(config.layers, self.num_layers)
        self.idf: Tensor | None = None
        if config.method == "ot" and config.marginals == "idf":
            texts = [t for it in train for t in (it.x, it.en)]
            self.idf = build_idf_table(self.tokenizer, texts, int(self.teacher.config.vocab_size)).to(device)
        if config.freeze_embeddings:
            self.student.get_input_embeddings().weight.requires_grad_(False)
        trainable = [(n, p) for n, p in self.student.named_parameters() if p.requires_grad]
        decay = [p for _, p in trainable if p.ndim >= 2]
        no_decay = [p for _, p in trainable if p.ndim < 2]
        self.optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                            {"params": no_decay, "weight_decay": 0.0}], lr=config.lr)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _LinearSchedule(config.warmup_steps, config.steps))
        self.sampler = _Sampler([it.group for it in train], config.seed, config.sampling)
        self.model: Any = self.student

    def encode_kwargs(self) -> dict[str, Any]:
        cfg = self.cfg
        return {"layers": self.layers, "side": cfg.side, "query_template": cfg.query_template,
                "passage_template": cfg.passage_template, "max_length": cfg.max_length}

    # ---- one forward pass on (foreign, English, context) triples
    def batch_loss(self, model: Any, xs: list[str], es: list[str], ds: list[str] | None, *,
                   diagnostics: bool = False) -> tuple[Tensor, dict[str, Any]]:
        """Loss of one batch; with ``diagnostics`` (logged steps only) also the per-layer
        :func:`mean_token_cosine` of the student's and the teacher's states (``token_cos``,
        ``teacher_token_cos``)."""
        cfg = self.cfg
        kw = self.encode_kwargs()
        s = segment_states(model, self.tokenizer, xs, ds, **kw)
        with torch.no_grad():
            t = segment_states(self.teacher, self.tokenizer, es, ds, **kw)
        if cfg.method == "ot":
            a = b = None
            if self.idf is not None:
                from .ot import idf_marginals  # noqa: PLC0415

                a = idf_marginals(s.token_ids, s.mask, self.idf)
                b = idf_marginals(t.token_ids, t.mask, self.idf)
            loss, info = ot_distill_loss(s.states, t.states, s.mask, t.mask, cfg, a=a, b=b)
        elif cfg.method == "mse":
            loss, info = mse_distill_loss(s.states, t.states, s.mask, t.mask, cfg)
        else:  # "score": no state term, the ablation of the score term alone
            loss = sum(X.sum() * 0.0 for X in s.states)
            info = {"per_layer": []}
        if diagnostics:
            info["token_cos"] = [round(mean_token_cosine(X, s.mask), 4) for X in s.states]
            info["teacher_token_cos"] = [round(mean_token_cosine(E, t.mask), 4) for E in t.states]
        if cfg.score_weight > 0:
            diff = _scores(s.logits) - _scores(t.logits).detach()
            score_term = (diff.float() ** 2).mean()
            info["score"] = float(score_term.detach())
            loss = loss + cfg.score_weight * score_term
        if cfg.anchor_weight > 0:
            anchor = english_anchor_loss(segment_states(model, self.tokenizer, es, ds, **kw).states, t.states,
                                         t.mask)
            info["anchor"] = float(anchor.detach())
            loss = loss + cfg.anchor_weight * anchor
        return loss, info

    def step_inputs(self, step: int) -> tuple[list[int], list[str], list[str], list[str] | None]:
        cfg, dist = self.cfg, self.dist
        global_idx = self.sampler.batch(step, cfg.batch_size)
        share = cfg.batch_size // dist.world
        lo = dist.rank * share
        ks = [step * cfg.batch_size + i for i in range(lo, lo + share)]
        idx = global_idx[lo:lo + share]
        items = [self.train[i] for i in idx]
        xs = [it.x for it in items]
        es = [it.en for it in items]
        ds = None
        if cfg.in_context:
            ds = [it.contexts[_context_choice(cfg.seed, k, len(it.contexts))] for k, it in zip(ks, items)]
        return idx, xs, es, ds

    # ---- held-out distance
    def evaluate(self) -> dict[str, float] | None:
        if not self.dev:
            return None
        cfg = self.cfg
        student = self.student
        was_training = student.training
        student.eval()
        sums = {"ot": 0.0, "mse": 0.0}
        n = 0
        kw = self.encode_kwargs()
        try:
            with torch.no_grad():
                for i in range(0, len(self.dev), cfg.batch_size):
                    items = self.dev[i:i + cfg.batch_size]
                    ds = [it.contexts[0] for it in items] if cfg.in_context else None
                    s = segment_states(student, self.tokenizer, [it.x for it in items], ds, **kw)
                    t = segment_states(self.teacher, self.tokenizer, [it.en for it in items], ds, **kw)
                    a = b = None
                    if self.idf is not None:
                        from .ot import idf_marginals  # noqa: PLC0415

                        a = idf_marginals(s.token_ids, s.mask, self.idf)
                        b = idf_marginals(t.token_ids, t.mask, self.idf)
                    ot_val, info = ot_distill_loss(s.states, t.states, s.mask, t.mask, cfg, a=a, b=b)
                    mse_val, _ = mse_distill_loss(s.states, t.states, s.mask, t.mask, cfg)
                    k = info["pairs"]
                    sums["ot"] += float(ot_val) * k
                    sums["mse"] += float(mse_val) * k
                    n += k
        finally:
            student.train(was_training)
        if n == 0:
            return {"ot": float("nan"), "mse": float("nan"), "pairs": 0}
        out = {"ot": sums["ot"] / n, "mse": sums["mse"] / n, "pairs": n}
        if not (math.isfinite(out["ot"]) and math.isfinite(out["mse"])):
            raise NumericalError(f"held-out distance is not finite ({out}); the student has diverged: lower lr "
                                 f"(now {cfg.lr:g}) or raise reg (now {cfg.reg:g})")
        return out

    # ---- checkpoints
    def save_checkpoint(self, output: Path, step: int, state: dict[str, Any]) -> Path:
        from safetensors.torch import save_model  # noqa: PLC0415

        final = output / "checkpoints" / f"step-{step:08d}"
        with _staged_dir(final) as tmp:
            save_model(self.student, str(tmp / "model.safetensors"))
            torch.save({"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()},
                       tmp / "optimizer.pt")
            write_json_atomic(tmp / "rng.json", _rng_snapshot())
            write_json_atomic(tmp / "state.json", {"format": CHECKPOINT_FORMAT, "step": step, **state})
        for _, old in _checkpoints(output)[:-self.cfg.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def load_checkpoint(self, path: Path) -> None:
        from safetensors.torch import load_model  # noqa: PLC0415

        try:
            missing, unexpected = load_model(self.student, str(path / "model.safetensors"), strict=False,
                                             device=str(self.device))
            if missing or unexpected:
                raise ModelError(f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")
            blob = torch.load(path / "optimizer.pt", map_location=self.device, weights_only=True)
            self.optimizer.load_state_dict(blob["optimizer"])
            self.scheduler.load_state_dict(blob["scheduler"])
            _rng_restore(json.loads((path / "rng.json").read_text(encoding="utf-8")))
        except (OSError, RuntimeError, KeyError, ValueError, TypeError, ModelError) as exc:
            raise ModelError(f"{path}: cannot resume from this checkpoint ({exc}); delete it to resume from an "
                             "older one or start over") from exc


def _prepare_data(config: DistillConfig, bitext_pairs: Iterable[Any], dev_pairs: Iterable[Any] | None,
                  passages: Mapping[str, Sequence[str]] | Sequence[Sequence[str]] | None,
                  say: Callable[[str], None]) -> tuple[list[_Item], list[_Item], dict[str, Any] | None]:
    """Items for training and dev: leakage guard, contexts attached (pairs without any dropped), dev split."""
    train = _as_items(bitext_pairs, "bitext")
    dev = _as_items(dev_pairs, "dev") if dev_pairs is not None else []
    if not train:
        raise ConfigError("no bitext pairs to train on")

    # contexts aligned with the bitext list are attached before anything reorders it
    ctx_map: Mapping[str, Sequence[str]] | None = None
    if config.in_context:
        if passages is None:
            raise ConfigError("in_context=True needs passages (--passages FILE): English context texts per pair")
        if isinstance(passages, Mapping):
            ctx_map = {_context_key(k): v for k, v in passages.items()}
        else:
            passages = list(passages)
            if len(passages) != len(train):
                raise ConfigError(f"passages given as a list must align with the bitext: {len(passages)} lists for "
                                  f"{len(train)} pairs")
            if dev_pairs is not None:
                raise ConfigError("with explicit dev pairs, give passages as a mapping keyed by the English side")
            train = [dataclasses.replace(it, contexts=tuple(" ".join(s.split()) for s in ps if s and s.strip()))
                     for it, ps in zip(train, passages)]
    elif passages is not None:
        raise ConfigError("passages were given but in_context=False; set in_context (--in-context) to use them")

    leakage = None
    if config.eval_topics:
        from .data.leakage import LeakageGuard  # noqa: PLC0415

        guard = LeakageGuard.from_topics_files(config.eval_topics)
        kept, report = guard.filter(train)
        dev_kept, dev_report = guard.filter(dev)
        leakage = {"train": report.as_dict(), "dev": dev_report.as_dict()}
        dropped = report.dropped + dev_report.dropped
        if dropped:
            leaking = [it for it in train + dev if guard.leaks(it)][:3]
            examples = "; ".join(f"{it.x[:50]!r} / {it.en[:50]!r}" for it in leaking)
            if config.strict_leakage:
                raise ConfigError(f"{dropped} bitext pair(s) ({report.dropped} train, {dev_report.dropped} dev) "
                                  f"match evaluation queries of {', '.join(config.eval_topics)} (e.g. {examples}); "
                                  "remove them from the bitext, or drop them automatically without --strict-leakage")
            say(f"leakage guard: dropped {report.dropped} train and {dev_report.dropped} dev pair(s) matching "
                f"evaluation queries ({len(guard)} guarded texts from {len(config.eval_topics)} file(s))")
        else:
            say(f"leakage guard: no bitext pair matches the {len(guard)} evaluation queries")
        train, dev = kept, dev_kept

    if ctx_map is not None:
        def attach(items: list[_Item], what: str) -> list[_Item]:
            out = []
            for it in items:
                ps = ctx_map.get(_context_key(it.en))
                ps = tuple(" ".join(s.split()) for s in ps if s and s.strip()) if ps else ()
                if ps:
                    out.append(dataclasses.replace(it, contexts=ps))
            if len(out) < len(items):
                say(f"in-context: {len(items) - len(out)} of {len(items)} {what} pair(s) have no passage and are skipped")
            return out
        train, dev = attach(train, "train"), attach(dev, "dev")
    elif config.in_context:
        n0 = len(train)
        train = [it for it in train if it.contexts]
        if len(train) < n0:
            say(f"in-context: {n0 - len(train)} of {n0} train pair(s) have no passage and are skipped")
        dev = [it for it in dev if it.contexts]
    if dev_pairs is None and config.dev_size > 0:
        if config.dev_size >= len(train):
            raise ConfigError(f"dev_size={config.dev_size} leaves no training pairs (only {len(train)} usable pairs)")
        perm = np.random.default_rng([config.seed, 6]).permutation(len(train))
        dev_idx = set(perm[:config.dev_size].tolist())
        dev = [it for i, it in enumerate(train) if i in dev_idx]
        train = [it for i, it in enumerate(train) if i not in dev_idx]
    if not train:
        raise ConfigError("no training pairs left after leakage filtering / context matching")
    return train, dev, leakage


def distill(config: DistillConfig, bitext_pairs: Iterable[Any], dev_pairs: Iterable[Any] | None = None,
            passages: Mapping[str, Sequence[str]] | Sequence[Sequence[str]] | None = None, *,
            callback: Callable[[int, dict[str, Any]], None] | None = None) -> DistillResult:
    """Distil the teacher into a student that reads the bitext's foreign side (see the module docstring).

    Parameters
    ----------
    config : :class:`DistillConfig`.
    bitext_pairs : training pairs (:class:`LangPair`, ``BitextPair`` or ``(x, en[, source[, lang]])``).
    dev_pairs : held-out pairs for the OT/MSE distance (default: ``config.dev_size`` pairs held out
        of the bitext, or none).
    passages : in-context mode: English context texts, a mapping ``{English side: [texts]}`` or one
        list per bitext pair.
    callback : called as ``callback(step, info)`` on every rank after every optimizer step (after
        a checkpoint of that step is written); an exception it raises stops the run (the latest
        checkpoint remains for resuming).

    Returns
    -------
    DistillResult

    Raises
    ------
    NumericalError
        A non-finite loss or gradient, naming the step, the pairs and what to change.
    ConfigError
        Inconsistent options, leakage under ``strict_leakage``, or an output directory that holds
        a run with other settings or data.
    """
    started = time.perf_counter()
    if not isinstance(config, DistillConfig):
        raise ConfigError(f"config must be a DistillConfig, got {type(config).__name__}")
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    dist, device = _setup_dist(config.device)
    try:
        return _distill(config, dist, device, bitext_pairs, dev_pairs, passages, callback, started)
    finally:
        if dist.owns_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _distill(config: DistillConfig, dist: _Dist, device: torch.device, bitext_pairs: Iterable[Any],
             dev_pairs: Iterable[Any] | None, passages: Any, callback: Any, started: float) -> DistillResult:
    from tqdm import tqdm  # noqa: PLC0415

    def say(msg: str) -> None:
        if dist.main:
            tqdm.write(f"distill: {msg}", file=sys.stderr)

    if config.batch_size % dist.world:
        raise ConfigError(f"batch_size={config.batch_size} must be a multiple of the number of processes "
                          f"({dist.world}) so every rank gets an equal share")
    output = Path(config.output).expanduser().absolute()
    train, dev, leakage = _prepare_data(config, bitext_pairs, dev_pairs, passages, say)
    fingerprint = _data_fingerprint(train, dev)
    identity = config.identity()

    # ---- a finished run in this output?
    result_path = output / "result.json"
    if result_path.is_file() and (output / "model").is_dir():
        try:
            done = json.loads(result_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{result_path}: unreadable ({exc}); delete it to retrain") from None
        if done.get("identity") != identity or done.get("data_fingerprint") != fingerprint:
            what = _diff(done.get("identity") or {}, identity) or "the training data differ"
            raise ConfigError(f"{output} holds a finished distillation with other settings ({what}); "
                              "use another --output")
        r = done["result"]
        say(f"{output} already holds this finished run; nothing to do")
        return DistillResult(Path(r["model_dir"]), output, int(r["steps"]), int(r["steps"]), r["final_loss"],
                             r["dev_before"], r["dev_after"], int(r["n_train_pairs"]), int(r["n_dev_pairs"]),
                             r["leakage"], tuple(r["layers"]), time.perf_counter() - started, True)

    trainer = _Trainer(config, dist, device, train, dev)
    clipped = [x for x in config.layers if _is_int(x) and x > trainer.num_layers]
    if clipped:
        say(f"layers {clipped} exceed the teacher's depth {trainer.num_layers}: clipped")
    say(f"teacher {trainer.teacher_path} ({trainer.num_layers} layers); aligning hidden states {list(trainer.layers)} "
        f"with {config.method.upper()}; {len(train)} train / {len(dev)} dev pairs; {dist.world} process(es) on {device}")

    # ---- resume
    start_step, resumed_from, dev_before, last_loss = 0, None, None, None
    ckpts = _checkpoints(output)
    if ckpts:
        step, path = ckpts[-1]
        try:
            state = json.loads((path / "state.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelError(f"{path}/state.json: unreadable ({exc}); delete the checkpoint to resume from an older one") from None
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ModelError(f"{path}: unknown checkpoint format {state.get('format')!r}")
        if state.get("identity") != identity:
            raise ConfigError(f"{output} has a checkpoint of a run with other settings "
                              f"({_diff(state.get('identity') or {}, identity)}); rerun with the same settings to "
                              "resume it, or use another --output")
        if state.get("data_fingerprint") != fingerprint:
            raise ConfigError(f"{output} has a checkpoint of a run on other training/dev pairs (the bitext, leakage "
                              "filtering, dev split or passages changed); use the same data to resume, or another --output")
        trainer.load_checkpoint(path)
        start_step = resumed_from = int(state["step"])
        dev_before, last_loss = state.get("dev_before"), state.get("last_loss")
        say(f"resuming from {path} (step {start_step}/{config.steps})")

    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel  # noqa: PLC0415

        trainer.model = DistributedDataParallel(
            trainer.student, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True)

    if dist.main:  # temporary directories of checkpoints/models interrupted while being written
        for root in (output, output / "checkpoints"):
            if root.is_dir():
                for stale in root.iterdir():
                    if stale.is_dir() and re.fullmatch(r"\.(step-\d{8}|model)\.(tmp|old)-.+", stale.name):
                        shutil.rmtree(stale, ignore_errors=True)
    dist.barrier()

    log_path = output / "train_log.jsonl"

    def log(obj: dict[str, Any]) -> None:
        if dist.main:
            output.mkdir(parents=True, exist_ok=True)
            with open(log_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(obj, sort_keys=True) + "\n")
                fh.flush()
                os.fsync(fh.fileno())

    if resumed_from is not None:
        log({"event": "resume", "step": resumed_from})
    elif dev:
        if dist.main:
            dev_before = trainer.evaluate()
            log({"event": "eval", "step": 0, "dev": dev_before})
            say(f"dev before: OT {dev_before['ot']:.4f}  MSE {dev_before['mse']:.4f}  ({dev_before['pairs']} pairs)")
        dist.barrier()

    def checkpoint_state() -> dict[str, Any]:
        return {"identity": identity, "data_fingerprint": fingerprint, "dev_before": dev_before,
                "last_loss": last_loss, "world_size": dist.world, "time": time.time()}

    bar = tqdm(total=config.steps, initial=start_step, disable=not (dist.main and config.show_progress),
               desc=f"distill {config.method}", unit="step", file=sys.stderr, dynamic_ncols=True)
    t0 = time.perf_counter()
    try:
        for t in range(start_step, config.steps):
            step = t + 1
            _seed_everything(config.seed, t, dist.rank)
            idx, xs, es, ds = trainer.step_inputs(t)
            error: str | None = None
            loss = None
            info: dict[str, Any] = {}
            logged = bool(config.log_every) and (step % config.log_every == 0 or step == config.steps)
            try:
                loss, info = trainer.batch_loss(trainer.model, xs, es, ds, diagnostics=logged)
                if not bool(torch.isfinite(loss.detach())):
                    error = f"loss is {float(loss.detach())}"
            except NumericalError as exc:
                error = str(exc)
            if _all_flag(dist, error is not None, device):
                raise NumericalError(
                    f"non-finite loss at step {step} (rank {dist.rank}, bitext pairs {idx[:8]}"
                    f"{'...' if len(idx) > 8 else ''}): {error or 'on another rank'}. Lower the learning rate "
                    f"(lr={config.lr:g}), raise the OT regularisation (reg={config.reg:g}), or set/lower "
                    f"grad_clip ({config.grad_clip}); the latest checkpoint in {output / 'checkpoints'} is intact")
            trainer.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            params = [p for p in trainer.student.parameters() if p.grad is not None]
            max_norm = config.grad_clip if config.grad_clip is not None else math.inf
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm)) if params else 0.0
            if not math.isfinite(grad_norm):
                raise NumericalError(
                    f"non-finite gradient norm at step {step} (bitext pairs {idx[:8]}): lower the learning rate "
                    f"(lr={config.lr:g}), raise reg (reg={config.reg:g}) or set grad_clip")
            lr = trainer.scheduler.get_last_lr()[0]
            trainer.optimizer.step()
            trainer.scheduler.step()
            last_loss = float(loss.detach())
            info = {**info, "loss": last_loss, "lr": lr, "grad_norm": grad_norm}
            bar.update(1)

            if logged:
                mean_loss = _mean_over_ranks(dist, last_loss, device)
                elapsed = time.perf_counter() - t0
                entry = {"event": "train", "step": step, "loss": mean_loss, "lr": lr, "grad_norm": grad_norm,
                         "per_layer": info.get("per_layer"), "elapsed_s": round(elapsed, 3)}
                for k in ("iters", "not_converged", "score", "anchor", "token_cos", "teacher_token_cos"):
                    if k in info:
                        entry[k] = info[k]
                log(entry)
                bar.set_postfix(loss=f"{mean_loss:.4f}")
                if not config.show_progress:
                    say(f"step {step}/{config.steps} loss {mean_loss:.5f} lr {lr:.3g}")
            if dev and config.eval_every and step % config.eval_every == 0 and step != config.steps:
                if dist.main:
                    ev = trainer.evaluate()
                    log({"event": "eval", "step": step, "dev": ev})
                    say(f"step {step}: dev OT {ev['ot']:.4f}  MSE {ev['mse']:.4f}")
                dist.barrier()
            if (config.save_every and step % config.save_every == 0) or step == config.steps:
                dist.barrier()
                if dist.main:
                    trainer.save_checkpoint(output, step, checkpoint_state())
                dist.barrier()
            if callback is not None:
                callback(step, info)
    finally:
        bar.close()

    # ---- final evaluation and model
    dev_after = None
    if dev and dist.main:
        dev_after = trainer.evaluate()
        log({"event": "eval", "step": config.steps, "dev": dev_after})
        say(f"dev after: OT {dev_after['ot']:.4f}  MSE {dev_after['mse']:.4f}")
    final_loss = _mean_over_ranks(dist, last_loss, device) if last_loss is not None else None
    model_dir = output / "model"
    wall = time.perf_counter() - started
    result = DistillResult(model_dir, output, config.steps, resumed_from, final_loss, dev_before, dev_after,
                           len(train), len(dev), leakage, trainer.layers, wall)
    dist.barrier()
    if dist.main:
        from .provenance import environment_info  # noqa: PLC0415

        with _staged_dir(model_dir) as tmp:
            trainer.student.save_pretrained(str(tmp))
            trainer.tokenizer.save_pretrained(str(tmp))
            for stray in tmp.iterdir():
                if stray.suffix in (".bin", ".pt", ".pth", ".ckpt") and stray.is_file():
                    stray.unlink()
            if not (tmp / "model.safetensors").is_file() and not (tmp / "model.safetensors.index.json").is_file():
                raise ModelError(f"the student was not saved as safetensors in {tmp}")
            config.save(tmp / "distill_config.json")
            groups: dict[str, int] = {}
            for it in train:
                groups[it.group] = groups.get(it.group, 0) + 1
            write_json_atomic(tmp / "provenance.json", {
                "created_by": "optical_rerank.distill", "teacher": config.teacher,
                "teacher_resolved": trainer.teacher_path, "layers": list(trainer.layers),
                "steps": config.steps, "resumed_from": resumed_from, "world_size": dist.world,
                "device": str(device), "train_pairs": len(train), "train_pairs_by_group": groups,
                "dev_pairs": len(dev), "data_fingerprint": fingerprint, "leakage": leakage,
                "dev_before": dev_before, "dev_after": dev_after, "final_loss": final_loss,
                "wall_time_s": round(wall, 3), "environment": environment_info()})
        write_json_atomic(result_path, {"format": RESULT_FORMAT, "identity": identity,
                                        "data_fingerprint": fingerprint, "result": result.to_dict()})
        say(f"done: {config.steps} steps, model in {model_dir}; wall time {wall:.1f}s")
    dist.barrier()
    return result


# =========================================================================== CLI
def _layer_arg(value: str) -> int | str:
    v = value.strip().lower()
    if v == "last":
        return "last"
    try:
        return int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"layer must be an integer or 'last', got {value!r}") from None


def _tau_arg(value: str) -> float | None:
    if value.strip().lower() in ("none", "balanced", ""):
        return None
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0 or 'none', got {value!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"tau must be > 0, got {value!r}")
    return v


def _clip_arg(value: str) -> float | None:
    if value.strip().lower() in ("none", "0", "off"):
        return None
    return float(value)


def build_parser() -> argparse.ArgumentParser:
    """``python -m optical_rerank.distill --teacher DIR --bitext FILE... --output DIR [options]``."""
    d = DistillConfig(teacher="-", output="-")
    p = argparse.ArgumentParser(
        prog="python -m optical_rerank.distill",
        description="OPTICAL distillation of a cross-encoder teacher into a student for another language "
                    "(optimal-transport alignment of token states on bitext), or the MSE baseline. "
                    "Rerunning the same command resumes from the latest checkpoint in --output. "
                    "Runs under torchrun for several processes.")
    p.add_argument("--teacher", required=True, help="teacher cross-encoder: model directory or zoo name")
    p.add_argument("--bitext", required=True, nargs="+", type=Path, metavar="FILE",
                   help="bitext files x<TAB>en<TAB>source (bitext.<lang>.tsv: <lang> is the language group)")
    p.add_argument("--output", required=True, type=Path, help="run directory (final model in OUTPUT/model)")
    p.add_argument("--config", type=Path, default=None,
                   help="distill_config.json to start from (command-line options given explicitly override it)")
    g = p.add_argument_group("objective")
    g.add_argument("--method", choices=METHODS, default=d.method)
    g.add_argument("--layers", nargs="+", type=_layer_arg, default=list(d.layers),
                   help="hidden-state indices (0 = embeddings, -1 or 'last' = last layer; clipped to the depth). "
                        "On AfriQA dev the last layer alone with --in-context worked best (module docstring)")
    g.add_argument("--cost", choices=COSTS, default=d.cost)
    g.add_argument("--reg", type=float, default=d.reg, help="entropic regularisation epsilon")
    g.add_argument("--max-iter", type=int, default=d.max_iter, help="Sinkhorn iterations cap")
    g.add_argument("--tol", type=float, default=d.tol, help="Sinkhorn tolerance")
    g.add_argument("--unbalanced-tau", type=_tau_arg, default=d.unbalanced_tau,
                   help="KL marginal relaxation tau (default: balanced OT)")
    g.add_argument("--marginals", choices=MARGINALS, default=d.marginals)
    g.add_argument("--grad", choices=GRADS, default=d.grad)
    g.add_argument("--side", choices=SIDES, default=d.side,
                   help="feed the bitext sentence as the query (first) or document (second) segment")
    g.add_argument("--in-context", action="store_true", default=d.in_context,
                   help="pair each sentence with an English context text from --passages")
    g.add_argument("--passages", type=Path, default=None,
                   help="context texts: JSONL {en, passages:[...]} or TSV en<TAB>passage")
    g.add_argument("--score-weight", type=float, default=d.score_weight,
                   help="weight of (s_S(x,d) - s_T(e,d))^2 (needs --in-context)")
    g.add_argument("--anchor-weight", type=float, default=d.anchor_weight,
                   help="weight of the English anchor: student states on the English side = the teacher's")
    g.add_argument("--query-template", default=d.query_template)
    g.add_argument("--passage-template", default=d.passage_template)
    g.add_argument("--max-length", type=int, default=d.max_length)
    t = p.add_argument_group("training")
    t.add_argument("--batch-size", type=int, default=d.batch_size, help="global batch (split over processes)")
    t.add_argument("--lr", type=float, default=d.lr)
    t.add_argument("--steps", type=int, default=d.steps)
    t.add_argument("--warmup", type=int, default=d.warmup, help="linear warmup steps (default: 10%% of --steps)")
    t.add_argument("--weight-decay", type=float, default=d.weight_decay)
    t.add_argument("--grad-clip", type=_clip_arg, default=d.grad_clip, help="max gradient norm ('none': off)")
    t.add_argument("--train-embeddings", dest="freeze_embeddings", action="store_false", default=d.freeze_embeddings,
                   help="also update the word-embedding matrix (slow on CPU; frozen by default)")
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--sampling", choices=SAMPLING, default=d.sampling,
                   help="uniform over pairs, or balanced over languages (bitext files)")
    t.add_argument("--dev-bitext", nargs="+", type=Path, default=None, metavar="FILE",
                   help="held-out bitext for the OT/MSE distance")
    t.add_argument("--dev-size", type=int, default=d.dev_size,
                   help="without --dev-bitext: hold out this many bitext pairs as dev")
    t.add_argument("--save-every", type=int, default=d.save_every)
    t.add_argument("--eval-every", type=int, default=d.eval_every)
    t.add_argument("--log-every", type=int, default=d.log_every)
    t.add_argument("--keep-checkpoints", type=int, default=d.keep_checkpoints)
    t.add_argument("--device", default=d.device, help="auto, cpu, cuda or cuda:N")
    t.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    h = p.add_argument_group("hygiene")
    h.add_argument("--eval-topics", nargs="+", type=Path, default=[], metavar="FILE",
                   help="evaluation topics: bitext pairs matching one of their queries are dropped")
    h.add_argument("--strict-leakage", action="store_true", help="refuse (error) instead of dropping leaking pairs")
    return p


_CLI_FIELDS = {  # argparse dest -> DistillConfig field
    "method": "method", "layers": "layers", "cost": "cost", "reg": "reg", "max_iter": "max_iter", "tol": "tol",
    "unbalanced_tau": "unbalanced_tau", "marginals": "marginals", "grad": "grad", "side": "side",
    "in_context": "in_context", "score_weight": "score_weight", "anchor_weight": "anchor_weight",
    "query_template": "query_template",
    "passage_template": "passage_template", "max_length": "max_length", "batch_size": "batch_size", "lr": "lr",
    "steps": "steps", "warmup": "warmup", "weight_decay": "weight_decay", "grad_clip": "grad_clip", "seed": "seed",
    "freeze_embeddings": "freeze_embeddings",
    "sampling": "sampling", "dev_size": "dev_size", "save_every": "save_every", "eval_every": "eval_every",
    "log_every": "log_every", "keep_checkpoints": "keep_checkpoints", "device": "device", "threads": "threads",
    "strict_leakage": "strict_leakage",
}


def config_from_args(args: argparse.Namespace, argv: Sequence[str] | None = None) -> DistillConfig:
    """Build the :class:`DistillConfig` of a parsed command line (``--config`` file, then explicit options)."""
    parser = build_parser()
    base: dict[str, Any] = {}
    if args.config is not None:
        base = DistillConfig.load(args.config).to_dict()
        defaults = vars(parser.parse_args(["--teacher", "-", "--bitext", "-", "--output", "-"]))
        explicit = {k for k, v in vars(args).items() if defaults.get(k) != v}
    else:
        explicit = set(_CLI_FIELDS)
    values = dict(base)
    for dest, name in _CLI_FIELDS.items():
        if dest in explicit or name not in values:
            values[name] = getattr(args, dest)
    values["teacher"] = str(args.teacher)
    values["output"] = str(args.output)
    values["eval_topics"] = tuple(str(x) for x in args.eval_topics) or tuple(values.get("eval_topics") or ())
    if args.no_progress:
        values["show_progress"] = False
    elif "show_progress" not in values:
        values["show_progress"] = sys.stderr.isatty()
    if isinstance(values.get("layers"), list):
        values["layers"] = tuple(values["layers"])
    return DistillConfig.from_dict(values)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status. Errors are :class:`OpticalRerankError` (see ``cli.run_cli``)."""
    started = time.perf_counter()
    args = build_parser().parse_args(argv)
    config = config_from_args(args, argv)
    if args.passages is not None and not config.in_context:
        raise ConfigError("--passages needs --in-context")
    pairs = read_bitext_files(args.bitext)
    dev = read_bitext_files(args.dev_bitext) if args.dev_bitext else None
    if dev is not None and config.dev_size:
        raise ConfigError("give either --dev-bitext or --dev-size, not both")
    passages = read_passages(args.passages) if args.passages is not None else None
    result = distill(config, pairs, dev, passages)
    if _env_int("RANK", 0) == 0:
        print(result.model_dir)
        if result.dev_before and result.dev_after:
            print(f"dev OT distance {result.dev_before['ot']:.4f} -> {result.dev_after['ot']:.4f}; "
                  f"MSE {result.dev_before['mse']:.4f} -> {result.dev_after['mse']:.4f}", file=sys.stderr)
        print(f"wall time: {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    from .cli import run_cli

    raise SystemExit(run_cli(main))

"""The distillation config (:class:`DistillConfig`) and the layer spec (:func:`resolve_layers`)."""
from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..config import JsonConfig, checker, from_dict, is_device, is_int, is_number
from ..errors import ConfigError
from ..rerank import E5_TEMPLATES
from .losses import METHODS

COSTS = ("cosine", "sqeuclidean")
MARGINALS = ("uniform", "idf")
GRADS = ("envelope", "unrolled")
SIDES = ("query", "document")
SAMPLING = ("uniform", "language")

#: Fields that may change between a run and its resumption (they do not change the weights).
RESUME_NEUTRAL = ("output", "save_every", "eval_every", "log_every", "keep_checkpoints", "eval_topics",
                  "strict_leakage", "device", "threads", "show_progress")


@dataclass(frozen=True)
class DistillConfig(JsonConfig):
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
        (``0``: off); see :mod:`optical_rerank.distill`.
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
    lora_r : ``0``: the student is a full copy of the teacher and every parameter (but frozen
        embeddings) is trained; ``r > 0``: the student is the frozen teacher plus a new LoRA
        adapter of rank ``r`` (``peft``) on every attention and feed-forward projection
        (:data:`optical_rerank.models.LORA_TARGETS`), with the pooler and score head trained in full:
        only the adapter is trained, and it is what a shipped student carries (a few MB in float16).
        The final adapter is rounded to float16 before the last evaluation and the merge, so the
        run's ``model/`` is exactly the shipped student.
    lora_alpha : LoRA scaling numerator (``None``: ``2 * lora_r``).
    lora_dropout : dropout on the LoRA input (seeded per step like every dropout).
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
    bf16 : run the student's and the teacher's forward passes under bf16 autocast (opt-in; on CPUs
        with native bf16 or a GPU); the losses (OT, MSE, scores) are computed in fp32.
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
    query_template: str = E5_TEMPLATES[0]
    passage_template: str = E5_TEMPLATES[1]
    max_length: int = 128
    batch_size: int = 16
    lr: float = 2e-5
    steps: int = 1000
    warmup: int | None = None
    weight_decay: float = 0.01
    grad_clip: float | None = 1.0
    freeze_embeddings: bool = True
    lora_r: int = 0
    lora_alpha: int | None = None
    lora_dropout: float = 0.0
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
    bf16: bool = False

    def __post_init__(self) -> None:
        need = checker("DistillConfig")
        need(isinstance(self.bf16, bool), f"bf16 must be a bool, got {self.bf16!r}")

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
            elif (isinstance(item, str) and re.fullmatch(r"-?\d+", item.strip())) or is_int(item):
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
        for name in ("reg", "tol", "lr", "weight_decay", "score_weight", "anchor_weight", "lora_dropout"):
            v = getattr(self, name)
            if is_int(v):
                object.__setattr__(self, name, float(v))
        for name in ("grad_clip", "unbalanced_tau"):
            v = getattr(self, name)
            if is_int(v):
                object.__setattr__(self, name, float(v))

        need(isinstance(self.teacher, str) and bool(self.teacher.strip()), "teacher must be a non-empty path or name")
        need(isinstance(self.output, str) and bool(self.output.strip()), "output must be a non-empty path")
        need(self.method in METHODS, f"method must be one of {METHODS}, got {self.method!r}")
        need(self.method != "score" or (self.in_context and self.score_weight > 0),
             "method='score' trains on the score term alone: it needs in_context=True and score_weight > 0")
        need(self.cost in COSTS, f"cost must be one of {COSTS}, got {self.cost!r}")
        need(is_number(self.reg) and self.reg > 0, f"reg must be a finite number > 0, got {self.reg!r}")
        need(is_int(self.max_iter) and self.max_iter >= 1, f"max_iter must be an integer >= 1, got {self.max_iter!r}")
        need(is_number(self.tol) and self.tol >= 0, f"tol must be a number >= 0, got {self.tol!r}")
        need(self.unbalanced_tau is None or (isinstance(self.unbalanced_tau, float) and self.unbalanced_tau > 0),
             f"unbalanced_tau must be None (balanced) or a number > 0, got {self.unbalanced_tau!r}")
        need(self.marginals in MARGINALS, f"marginals must be one of {MARGINALS}, got {self.marginals!r}")
        need(self.grad in GRADS, f"grad must be one of {GRADS}, got {self.grad!r}")
        need(self.side in SIDES, f"side must be one of {SIDES}, got {self.side!r}")
        need(isinstance(self.in_context, bool), f"in_context must be a bool, got {self.in_context!r}")
        need(is_number(self.score_weight) and self.score_weight >= 0,
             f"score_weight must be a number >= 0, got {self.score_weight!r}")
        need(is_number(self.anchor_weight) and self.anchor_weight >= 0,
             f"anchor_weight must be a number >= 0, got {self.anchor_weight!r}")
        need(self.score_weight == 0 or self.in_context,
             "score_weight > 0 compares relevance scores of (text, context) pairs: it needs in_context=True")
        for name in ("query_template", "passage_template"):
            t = getattr(self, name)
            need(isinstance(t, str) and t.count("{text}") == 1, f"{name} must contain '{{text}}' exactly once, got {t!r}")
        need(is_int(self.max_length) and self.max_length >= 8, f"max_length must be an integer >= 8, got {self.max_length!r}")
        need(is_int(self.batch_size) and self.batch_size >= 1, f"batch_size must be an integer >= 1, got {self.batch_size!r}")
        need(is_number(self.lr) and self.lr > 0, f"lr must be a finite number > 0, got {self.lr!r}")
        need(is_int(self.steps) and self.steps >= 1, f"steps must be an integer >= 1, got {self.steps!r}")
        need(self.warmup is None or (is_int(self.warmup) and 0 <= self.warmup <= self.steps),
             f"warmup must be None (10% of steps) or an integer in [0, steps={self.steps}], got {self.warmup!r}")
        need(is_number(self.weight_decay) and self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay!r}")
        need(self.grad_clip is None or (is_number(self.grad_clip) and self.grad_clip > 0),
             f"grad_clip must be None or a number > 0, got {self.grad_clip!r}")
        need(is_int(self.lora_r) and self.lora_r >= 0,
             f"lora_r must be an integer >= 0 (0: train the whole student), got {self.lora_r!r}")
        need(self.lora_alpha is None or (is_int(self.lora_alpha) and self.lora_alpha >= 1),
             f"lora_alpha must be None (2 * lora_r) or an integer >= 1, got {self.lora_alpha!r}")
        need(is_number(self.lora_dropout) and 0 <= self.lora_dropout < 1,
             f"lora_dropout must be a number in [0, 1), got {self.lora_dropout!r}")
        need(self.lora_r > 0 or (self.lora_alpha is None and self.lora_dropout == 0),
             "lora_alpha and lora_dropout apply to a LoRA student: set lora_r > 0")
        need(is_int(self.seed) and self.seed >= 0, f"seed must be an integer >= 0, got {self.seed!r}")
        need(self.sampling in SAMPLING, f"sampling must be one of {SAMPLING}, got {self.sampling!r}")
        need(is_int(self.dev_size) and self.dev_size >= 0, f"dev_size must be an integer >= 0, got {self.dev_size!r}")
        for name in ("save_every", "eval_every", "log_every"):
            v = getattr(self, name)
            need(is_int(v) and v >= 0, f"{name} must be an integer >= 0 (0 = only at the end), got {v!r}")
        need(is_int(self.keep_checkpoints) and self.keep_checkpoints >= 1,
             f"keep_checkpoints must be an integer >= 1, got {self.keep_checkpoints!r}")
        need(isinstance(self.strict_leakage, bool), f"strict_leakage must be a bool, got {self.strict_leakage!r}")
        need(is_device(self.device),
             f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        need(self.threads is None or (is_int(self.threads) and self.threads >= 1),
             f"threads must be None or an integer >= 1, got {self.threads!r}")
        need(isinstance(self.show_progress, bool), f"show_progress must be a bool, got {self.show_progress!r}")

    # ---- serialisation (to_json, from_json, save, load: optical_rerank.config.JsonConfig)
    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-ready dict (tuples become lists; :meth:`to_json` is the content of
        ``distill_config.json``)."""
        d = dataclasses.asdict(self)
        d["layers"] = list(self.layers)
        d["eval_topics"] = list(self.eval_topics)
        if not d["bf16"]:  # fp32 runs keep the config (and identity) they had before the option existed
            d.pop("bf16")
        return d

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> DistillConfig:
        """Build a config from a dict (:func:`optical_rerank.config.from_dict`): unknown keys are an
        error, missing keys take defaults, lists become tuples."""
        return from_dict(cls, obj, required=("teacher", "output"))

    @property
    def lora(self) -> tuple[int, int, float] | None:
        """``(r, alpha, dropout)`` of a LoRA student, ``None`` for a full student."""
        if not self.lora_r:
            return None
        return self.lora_r, self.lora_alpha if self.lora_alpha is not None else 2 * self.lora_r, self.lora_dropout

    @property
    def warmup_steps(self) -> int:
        """Linear warmup steps: ``warmup``, or 10% of ``steps`` when it is ``None``."""
        return self.steps // 10 if self.warmup is None else self.warmup

    def identity(self) -> dict[str, Any]:
        """The fields that determine the trained weights (all but :data:`RESUME_NEUTRAL`)."""
        d = self.to_dict()
        for name in RESUME_NEUTRAL:
            d.pop(name)
        if not self.lora_r:  # a full student's identity is what it was before the LoRA option
            for name in ("lora_r", "lora_alpha", "lora_dropout"):
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
        elif is_int(item):
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


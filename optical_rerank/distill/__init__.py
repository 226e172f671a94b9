"""OPTICAL distillation: teach a cross-encoder student to read language L through bitext.

Method (Huang, Yu & Allan, WSDM 2023)
-------------------------------------
The teacher ``T`` is a cross-encoder trained on English relevance; the student ``S`` starts as an
exact copy of it. For a bitext pair ``(x, e)`` (``x`` in language L, ``e`` its English
translation) the student encodes ``x`` and the frozen teacher encodes ``e`` (no gradient). For each
chosen layer ``l`` the token states of the *text segment* are taken (special tokens, template
prefixes such as e5's ``"query: "``, the passage segment and padding excluded):
``X_l = H_S^l(x)`` of shape (B, n, h) and ``E_l = H_T^l(e)`` of shape (B, m, h), with masks
(B, n) / (B, m) of the real tokens (:func:`segment_states`).

* ``method="ot"`` (:func:`ot_distill_loss`)::

      C_l[i, j] = 1 - cos(X_l[i], E_l[j])     (or ||X_l[i] - E_l[j]||^2 / h)      (B, n, m)
      a = 1/n on the real tokens of x,  b = 1/m on those of e   (or IDF weights)  (B, n), (B, m)
      P*_l = argmin_{P >= 0, P 1 = a, P^T 1 = b}  <P, C_l> - eps H(P)             (B, n, m)
      L = sum_l mean_batch <P*_l, C_l>_F

  ``P*`` comes from the batched log-domain Sinkhorn solver of :mod:`optical_rerank.ot`
  (``eps = reg``); ``unbalanced_tau = tau`` replaces the hard marginals by
  ``tau KL(P 1 | a) + tau KL(P^T 1 | b)``. ``grad="envelope"`` detaches ``P*`` (gradient
  ``sum_ij P*_ij dC_ij``); ``grad="unrolled"`` back-propagates through the iterations.
* ``method="mse"`` (vanilla KD baseline, :func:`mse_distill_loss`):
  ``L = sum_l mean_batch ||mean_i X_l[i] - mean_j E_l[j]||^2``.
* ``method="score"`` (ablation): no state term, only ``score_weight * (s_S(x, d) - s_T(e, d))^2``
  in context: what the score term does on its own.
* ``in_context=True``: the bitext sentence is paired with an English passage ``d`` (e.g. a BM25
  hit of ``e``): the student reads ``[CLS] x [SEP] d [SEP]``, the teacher ``[CLS] e [SEP] d [SEP]``;
  only the ``x``/``e`` states are aligned, and ``score_weight * (s_S(x, d) - s_T(e, d))^2``
  (:func:`score_distill_loss`) can be added. ``side="document"`` feeds the bitext sentence as the
  *second* segment (the passage) and the context as the first, for the other CLIR direction.
* ``anchor_weight > 0`` adds ``anchor_weight * sum_l mean_i (1 - cos(S^l(e)_i, T^l(e)_i))``
  (:func:`english_anchor_loss`): the student also reads the English side and must keep the
  teacher's token states there, against the collapse of the foreign tokens toward a common
  direction that ``token_cos`` in the training log shows. It costs one more student
  forward/backward per step.

The "no distillation" baseline is the teacher used zero-shot: nothing to train here. Which
settings work on AfriQA dev is in the README ("Choices on dev") and ``results/afriqa-dev/``.

Where things are
----------------
``_config.py``       :class:`DistillConfig`, :func:`resolve_layers`
``_data.py``         bitext and passage files, the items of a run (leakage guard, contexts, dev
                     split), the sampler (the batch of step ``t`` is a function of ``(seed, t)``)
``_states.py``       teacher and student, text segments, per-layer segment states
``losses/``          one loss per file and the registry :data:`LOSSES` (method name -> loss)
``_trainer.py``      :func:`distill` and the :class:`Trainer`: the whole training loop
``_checkpoint.py``   the run directory: checkpoints, ``result.json``, the final student
``_distributed.py``  ``torchrun``: process group, device, collectives
``_lang.py``         ``--lang L``: a language's bitext from the registry and a shipped student's recipe
``_cli.py``          ``python -m optical_rerank.distill`` (``__main__.py``)

LoRA students (``lora_r > 0``): the student is the frozen teacher plus a new LoRA adapter
(``peft``, every attention and feed-forward projection, pooler and head), only the adapter trains
and checkpoints; ``OUTPUT/model`` holds the float16 adapter and the merged student, and
``python -m optical_rerank.models ship OUTPUT/model --name N --base TEACHER`` makes it a shipped
model (``optical_rerank/models/shipped/N/``) that ``--model N`` loads with no training.

Multi-process: under ``torchrun --nproc_per_node=N`` the student is wrapped in
``DistributedDataParallel`` (gloo on CPU, nccl on GPU); each rank takes a contiguous, equal share
of the global batch (``batch_size`` must be a multiple of the world size), and only rank 0
writes checkpoints, logs and the final model.
"""
from __future__ import annotations

from ._checkpoint import CHECKPOINT_FORMAT, RESULT_FORMAT
from ._cli import build_parser, config_from_args, main
from ._config import COSTS, GRADS, MARGINALS, RESUME_NEUTRAL, SAMPLING, SIDES, DistillConfig, resolve_layers
from ._data import LangPair, read_bitext_files, read_passages
from ._states import SegmentBatch, SegmentStates, encode_segments, load_teacher_and_student, mean_token_cosine, segment_states
from ._trainer import DistillResult, Trainer, distill
from .losses import (
    LOSSES,
    METHODS,
    DistillLoss,
    build_idf_table,
    english_anchor_loss,
    get_loss,
    mse_distill_loss,
    ot_distill_loss,
    score_distill_loss,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "COSTS",
    "GRADS",
    "LOSSES",
    "MARGINALS",
    "METHODS",
    "RESULT_FORMAT",
    "RESUME_NEUTRAL",
    "SAMPLING",
    "SIDES",
    "DistillConfig",
    "DistillLoss",
    "DistillResult",
    "LangPair",
    "SegmentBatch",
    "SegmentStates",
    "Trainer",
    "build_idf_table",
    "build_parser",
    "config_from_args",
    "distill",
    "encode_segments",
    "english_anchor_loss",
    "get_loss",
    "load_teacher_and_student",
    "main",
    "mean_token_cosine",
    "mse_distill_loss",
    "ot_distill_loss",
    "read_bitext_files",
    "read_passages",
    "resolve_layers",
    "score_distill_loss",
    "segment_states",
]

"""The in-context score term, and method ``"score"``: that term alone (an ablation)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ...errors import ConfigError
from ._common import zero_loss

if TYPE_CHECKING:
    from .._states import SegmentStates

Tensor = torch.Tensor


def relevance_scores(logits: Tensor) -> Tensor:
    """Relevance score per row, as the reranker computes it (1 label: logit; 2: log-odds).

    Parameters
    ----------
    logits : Tensor (B, num_labels)

    Returns
    -------
    Tensor (B,)
    """
    if logits.shape[-1] == 1:
        return logits[:, 0]
    if logits.shape[-1] == 2:
        return logits[:, 1] - logits[:, 0]
    raise ConfigError(f"score_weight needs a 1- or 2-label cross-encoder, this one has {logits.shape[-1]} labels")


def score_distill_loss(student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
    """``mean_batch (s_S(x, d) - s_T(e, d))^2``: the student's score of (foreign text, context)
    against the teacher's score of (English text, context), in float32.

    Parameters
    ----------
    student_logits, teacher_logits : Tensor (B, num_labels); the teacher side is detached.

    Returns
    -------
    Tensor, scalar
    """
    diff = relevance_scores(student_logits) - relevance_scores(teacher_logits).detach()
    return (diff.float() ** 2).mean()


def score_state_loss(student: SegmentStates, teacher: SegmentStates, config: Any,
                     idf: Tensor | None = None) -> tuple[Tensor, dict[str, Any]]:
    """The ``"score"`` method: no state term (a zero connected to the student's states); the
    trainer adds ``score_weight *`` :func:`score_distill_loss`, which the config requires."""
    return zero_loss(student.states), {"per_layer": []}

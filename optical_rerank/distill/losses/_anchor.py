"""The English anchor: the student keeps the teacher's token states on the English side."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from ._common import check_layers

Tensor = torch.Tensor


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
    check_layers(student_states, teacher_states)
    m = mask.to(student_states[0].dtype)
    denom = m.sum().clamp_min(1.0)
    total = None
    for X, E in zip(student_states, teacher_states):
        cos = torch.nn.functional.cosine_similarity(X, E.detach(), dim=-1, eps=1e-8)
        value = ((1.0 - cos) * m).sum() / denom
        total = value if total is None else total + value
    return total

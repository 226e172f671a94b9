"""Method ``"mse"`` (vanilla KD baseline): squared distance of the mean-pooled token states."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from ._common import check_layers, valid_rows, zero_loss

if TYPE_CHECKING:
    from .._states import SegmentStates

Tensor = torch.Tensor


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
    check_layers(student_states, teacher_states)
    valid = valid_rows(s_mask, t_mask)
    info: dict[str, Any] = {"per_layer": [], "pairs": int(valid.sum())}
    if not bool(valid.any()):
        info["per_layer"] = [0.0] * len(student_states)
        return zero_loss(student_states), info
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


def mse_state_loss(student: SegmentStates, teacher: SegmentStates, config: Any,
                   idf: Tensor | None = None) -> tuple[Tensor, dict[str, Any]]:
    """The ``"mse"`` method: :func:`mse_distill_loss` (``idf`` is not used)."""
    return mse_distill_loss(student.states, teacher.states, student.mask, teacher.mask, config)

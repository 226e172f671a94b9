"""Checks shared by the state losses."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from ...errors import ConfigError

Tensor = torch.Tensor


def valid_rows(s_mask: Tensor, t_mask: Tensor) -> Tensor:
    """(B,) bool: rows where both the student and the teacher side have a real token."""
    return s_mask.any(-1) & t_mask.any(-1)


def check_layers(student_states: Sequence[Tensor], teacher_states: Sequence[Tensor]) -> None:
    """The same, non-zero number of student and teacher layers, or :class:`ConfigError`."""
    if len(student_states) != len(teacher_states) or not student_states:
        raise ConfigError(f"need the same, non-zero number of student and teacher layers, got "
                          f"{len(student_states)} and {len(teacher_states)}")


def zero_loss(states: Sequence[Tensor]) -> Tensor:
    """A scalar 0 connected to the graph of ``states`` (gradient 0 everywhere)."""
    return sum(X.sum() * 0.0 for X in states)

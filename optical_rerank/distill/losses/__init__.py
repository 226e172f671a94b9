"""Distillation losses, one per file, and the registry of methods.

A *method* (``DistillConfig.method``) is the state loss the trainer minimises between the
student's token states of the foreign text and the frozen teacher's token states of its English
translation. :data:`LOSSES` maps each method name to a :class:`DistillLoss`; the trainer looks
the method up there (:func:`get_loss`), so a new method is a new file plus one entry.

==========  =========================  ==================================================
method      state loss                 file
==========  =========================  ==================================================
``ot``      :func:`ot_distill_loss`    ``_ot.py``: OPTICAL, entropic OT between tokens
``mse``     :func:`mse_distill_loss`   ``_mse.py``: vanilla KD, mean-pooled states
``score``   none (zero)                ``_score.py``: the score term alone (ablation)
==========  =========================  ==================================================

Terms added on top of any method, by weight: ``score_weight *`` :func:`score_distill_loss`
(in context, ``_score.py``) and ``anchor_weight *`` :func:`english_anchor_loss` (``_anchor.py``).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ...errors import ConfigError
from ._anchor import english_anchor_loss
from ._mse import mse_distill_loss, mse_state_loss
from ._ot import build_idf_table, ot_distill_loss, ot_state_loss
from ._score import relevance_scores, score_distill_loss, score_state_loss

if TYPE_CHECKING:
    from .._states import SegmentStates

__all__ = ["LOSSES", "METHODS", "DistillLoss", "build_idf_table", "english_anchor_loss", "get_loss",
           "mse_distill_loss", "ot_distill_loss", "relevance_scores", "score_distill_loss"]

Tensor = torch.Tensor
StateLoss = Callable[["SegmentStates", "SegmentStates", Any, "Tensor | None"], "tuple[Tensor, dict[str, Any]]"]


@dataclass(frozen=True)
class DistillLoss:
    """One registered method.

    Attributes
    ----------
    name : the ``DistillConfig.method`` value.
    loss : ``loss(student, teacher, config, idf) -> (loss, info)`` on two
        :class:`~optical_rerank.distill.SegmentStates` (states (B, n, h) / (B, m, h) per layer);
        ``loss`` is a scalar tensor, ``info`` a JSON-ready dict with at least ``per_layer``.
    idf_marginals : the loss weighs tokens by ``config.marginals``: with ``"idf"`` the trainer
        builds an IDF table over the training bitext and passes it as ``idf`` (else ``None``).
    """

    name: str
    loss: StateLoss
    idf_marginals: bool = False

    def __call__(self, student: SegmentStates, teacher: SegmentStates, config: Any,
                 idf: Tensor | None = None) -> tuple[Tensor, dict[str, Any]]:
        return self.loss(student, teacher, config, idf)

    def needs_idf(self, config: Any) -> bool:
        """Whether a run with ``config`` needs the IDF table (``config.marginals == "idf"``)."""
        return self.idf_marginals and config.marginals == "idf"


LOSSES: Mapping[str, DistillLoss] = {
    "ot": DistillLoss("ot", ot_state_loss, idf_marginals=True),
    "mse": DistillLoss("mse", mse_state_loss),
    "score": DistillLoss("score", score_state_loss),
}

#: The method names, in registry order (``DistillConfig.method``, ``--method``).
METHODS: tuple[str, ...] = tuple(LOSSES)


def get_loss(method: str) -> DistillLoss:
    """The registered loss of ``method``; :class:`ConfigError` naming the known ones otherwise."""
    try:
        return LOSSES[method]
    except KeyError:
        raise ConfigError(f"unknown distillation method {method!r}; known: {list(METHODS)}") from None

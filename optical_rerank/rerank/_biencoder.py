"""Bi-encoder scoring (E5 style) behind the same :class:`Reranker` interface.

Query and passage are embedded separately, each rendered through its template (E5 models get
``"query: {text}"`` / ``"passage: {text}"`` by default, see :func:`templates_for`), truncated at
``max_length`` tokens, mean-pooled over the attention mask and L2-normalised
(:func:`optical_rerank.models.embed_texts`); the score is their cosine similarity. Each query is
embedded alone and the passages of a query together, in their given order, ``batch_size`` at a
time, so a run's scores do not depend on which other queries are in it.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..models import embed_texts, load_encoder
from ._base import Reranker
from ._config import RerankConfig, render_template

__all__ = ["BiEncoderReranker"]


class BiEncoderReranker(Reranker, kind="bi-encoder"):
    """Rank candidates by the cosine similarity of mean-pooled query and passage embeddings.

    Parameters
    ----------
    model_or_path : a zoo name (e.g. ``e5-small-multilingual``), a local directory, a
        ``(tokenizer, model)`` pair of ``optical_rerank.models.load_encoder``, or ``None`` to
        load ``config.model``.
    config : :class:`RerankConfig`; ``window``, ``stride``, ``max_windows`` and ``aggregation``
        do not apply (passages are truncated at ``max_length``); ``quantize``, ``dtype`` and
        ``fusion_weight`` (a cross-encoder option) must keep their defaults.

    Attributes
    ----------
    config, tokenizer, model, device : as for :class:`CrossEncoderReranker`.
    """

    def __init__(self, model_or_path: str | Path | tuple[Any, Any] | None = None,
                 config: RerankConfig | None = None):
        import torch  # heavy

        if config is not None and (config.quantize != "none" or config.dtype != "fp32"):
            raise ConfigError("BiEncoderReranker: quantize and dtype are cross-encoder options; keep 'none'/'fp32'")
        config = self._configure(model_or_path, config)
        if config.fusion_weight > 0:
            raise ConfigError(f"BiEncoderReranker: fusion is a cross-encoder option (fusion_weight="
                              f"{config.fusion_weight} for {config.model!r}); pass fusion_weight=0")
        tokenizer, model = model_or_path if isinstance(model_or_path, tuple) else load_encoder(config.model)
        self.device = torch.device(self._device())
        self.tokenizer = tokenizer
        self.model = model.eval().to(self.device)

    def _embed(self, texts: Sequence[str], template: str) -> np.ndarray:
        cfg = self.config
        return embed_texts(self.tokenizer, self.model, [render_template(template, str(t)) for t in texts],
                           batch_size=cfg.batch_size, max_length=cfg.max_length)

    def score_pairs(self, queries: Sequence[str], passages: Sequence[str],
                    show_progress: bool | None = None) -> np.ndarray:
        """Cosine similarities of (query, passage) texts as float32, one per pair."""
        if len(queries) != len(passages):
            raise ValueError(f"score_pairs: {len(queries)} queries but {len(passages)} passages")
        groups: dict[str, list[int]] = {}
        for i, q in enumerate(queries):
            groups.setdefault(str(q), []).append(i)
        out = np.zeros(len(queries), dtype=np.float32)
        for q, idx in groups.items():
            qv = self._embed([q], self.config.query_template)[0]
            pv = self._embed([passages[i] for i in idx], self.config.passage_template)
            out[idx] = pv @ qv
        return out

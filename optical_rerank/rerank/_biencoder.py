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
from ..models import embed_texts, load_encoder, load_tokenizer, resolve_model
from ._backends import Runner, load_runner
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
        do not apply (passages are truncated at ``max_length``); ``fusion_weight`` (a
        cross-encoder option) must be 0; ``quantize`` and ``dtype`` apply with the ``onnx`` and
        ``openvino`` backends (an export that pools and normalises inside the graph, run in
        length-sorted batches), and must keep their defaults with ``torch``.

    Attributes
    ----------
    config, tokenizer, model, device : as for :class:`CrossEncoderReranker`.
    """

    def __init__(self, model_or_path: str | Path | tuple[Any, Any] | None = None,
                 config: RerankConfig | None = None):
        import torch  # heavy

        if config is not None and config.backend == "torch" and (config.quantize != "none" or config.dtype != "fp32"):
            raise ConfigError("BiEncoderReranker: with backend='torch', quantize and dtype are cross-encoder options; "
                              "keep 'none'/'fp32' (or use backend='onnx'/'openvino')")
        config = self._configure(model_or_path, config)
        if config.fusion_weight > 0:
            raise ConfigError(f"BiEncoderReranker: fusion is a cross-encoder option (fusion_weight="
                              f"{config.fusion_weight} for {config.model!r}); pass fusion_weight=0")
        self.device = torch.device(self._device())
        self._runner: Runner | None = None
        if config.backend != "torch":
            if isinstance(model_or_path, tuple):
                raise ConfigError(f"BiEncoderReranker: backend={config.backend!r} exports a model directory; "
                                  "give its name or path, not a loaded model")
            source = resolve_model(config.model)
            self.tokenizer = load_tokenizer(str(source))  # checked: never an empty vocabulary
            self.model = None
            self._runner = load_runner(source, config.backend, config.precision, "encoder", config.threads)
            return
        tokenizer, model = model_or_path if isinstance(model_or_path, tuple) else load_encoder(config.model)
        self.tokenizer = tokenizer
        self.model = model.eval().to(self.device)

    def _embed(self, texts: Sequence[str], template: str) -> np.ndarray:
        cfg = self.config
        if self._runner is not None:
            return self._embed_exported([render_template(template, str(t)) for t in texts])
        return embed_texts(self.tokenizer, self.model, [render_template(template, str(t)) for t in texts],
                           batch_size=cfg.batch_size, max_length=cfg.max_length)

    def _embed_exported(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings from the exported encoder, in length-sorted batches (each padded to its longest)."""
        cfg = self.config
        enc = self.tokenizer(list(texts), truncation=True, max_length=cfg.max_length, padding=False)
        ids = enc["input_ids"]
        order = sorted(range(len(ids)), key=lambda k: (-len(ids[k]), k))
        pad = self.tokenizer.pad_token_id or 0
        out: np.ndarray | None = None
        for start in range(0, len(order), cfg.batch_size):
            sel = order[start:start + cfg.batch_size]
            width = max(len(ids[k]) for k in sel)
            batch = {"input_ids": np.full((len(sel), width), pad, dtype=np.int64),
                     "attention_mask": np.zeros((len(sel), width), dtype=np.int64),
                     "token_type_ids": np.zeros((len(sel), width), dtype=np.int64)}
            for r, k in enumerate(sel):
                batch["input_ids"][r, :len(ids[k])] = ids[k]
                batch["attention_mask"][r, :len(ids[k])] = 1
            emb = self._runner(batch)
            if out is None:
                out = np.zeros((len(ids), emb.shape[1]), dtype=np.float32)
            out[sel] = emb
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)

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

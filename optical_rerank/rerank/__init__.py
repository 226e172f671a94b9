"""Reranking of first-stage candidates: cross-encoder and bi-encoder scorers, resumable and shardable runs.

Pipeline::

    first-stage hits (BM25 runs, Pyserini LuceneSearcher hits, texts)
        --Reranker.rerank--> ranked Hits  --rerank_to_file--> TREC run (+ <run>.config.json)

Modules
-------
- :mod:`._base` — the :class:`Reranker` interface (``rerank``, ``rank``; ``Reranker(model, ...)``
  builds one), the ranking and tie policy, the accepted candidate forms;
- :mod:`._config` — :class:`RerankConfig`, the one source of query/passage templates and max
  length (:func:`templates_for`: explicit > model card > default), the bi-encoder fusion of a
  cross-encoder (:func:`fusion_for`, the same order) and run sidecars;
- :mod:`._cross_encoder` — :class:`CrossEncoderReranker` and Hugging Face loading;
- :mod:`._fast_cpu` — the exact fast CPU forward of BERT/XLM-R classifiers;
- :mod:`._backends` — ONNX Runtime and OpenVINO exports of the same weights (fp32, bf16, int8),
  cached by the weights' sha256, and the measured CPU default (:func:`default_backend`);
- :mod:`._biencoder` — :class:`BiEncoderReranker` (E5-style cosine of mean-pooled embeddings);
- :mod:`._writer` — :func:`rerank_to_file`, resumable (``<out>.partial`` / ``.partial.done``);
- :mod:`._shards` — :func:`shard_queries` and :func:`merge_runs` (``python -m optical_rerank.merge``).

Importing this package does not import torch; building a reranker does.
"""
from __future__ import annotations

from ._backends import (
    BACKENDS,
    CPU_DEFAULTS,
    PRECISIONS,
    cpu_has_native_bf16,
    default_backend,
    export_model,
    import_openvino,
    load_runner,
)
from ._base import Reranker, RerankInputError, candidate_hits
from ._biencoder import BiEncoderReranker
from ._config import (
    DEFAULT_FUSION_BIENCODER,
    DEFAULT_FUSION_SCALE,
    DEFAULT_MAX_LENGTH,
    DISTILL_CARD,
    E5_TEMPLATES,
    PLAIN_TEMPLATES,
    TEACHER_CARD,
    ModelCard,
    RerankConfig,
    config_sidecar_path,
    fusion_for,
    is_e5_name,
    max_length_for,
    model_card,
    read_run_sidecar,
    render_template,
    templates_for,
)
from ._cross_encoder import CrossEncoderReranker, load_cross_encoder
from ._shards import merge_runs, parse_shard, shard_queries
from ._writer import model_weights_sha256, partial_paths, rerank_to_file

__all__ = [
    "Reranker", "CrossEncoderReranker", "BiEncoderReranker", "RerankConfig", "RerankInputError",
    "rerank_to_file", "model_weights_sha256", "partial_paths", "config_sidecar_path", "read_run_sidecar",
    "shard_queries", "parse_shard", "merge_runs",
    "templates_for", "max_length_for", "fusion_for", "model_card", "ModelCard", "render_template", "is_e5_name",
    "E5_TEMPLATES", "PLAIN_TEMPLATES", "DEFAULT_MAX_LENGTH", "DEFAULT_FUSION_SCALE", "DEFAULT_FUSION_BIENCODER",
    "TEACHER_CARD", "DISTILL_CARD",
    "candidate_hits", "load_cross_encoder",
    "BACKENDS", "PRECISIONS", "CPU_DEFAULTS", "cpu_has_native_bf16", "default_backend", "export_model",
    "load_runner", "import_openvino",
]

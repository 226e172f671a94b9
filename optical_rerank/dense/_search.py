"""Dense retrieval with Pyserini's ``FaissSearcher`` over a :func:`~optical_rerank.dense.dense_index`."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..models import embed_texts, load_encoder
from ..rerank._config import render_template
from ..trec_io import Run
from ..types import Hit, Query
from ._config import DenseConfig


class DenseRetriever:
    """Top-``k`` passages of a :func:`~optical_rerank.dense.dense_index` for each query.

    Queries are embedded in batches by the same model as the passages (``query: `` prefix, mean
    pooling over the attention mask, L2-normalised: :func:`optical_rerank.models.embed_texts`, which
    is what Pyserini's ``AutoQueryEncoder`` with ``pooling='mean', l2_norm=True`` computes for one
    unpadded query) and searched by Pyserini's ``FaissSearcher.batch_search`` in the flat
    inner-product index: the score is the cosine of the e5 embeddings. Results are ordered by
    ``(-score, docid)`` as every run of the package.
    """

    def __init__(self, index_dir: str | Path, config: DenseConfig | None = None):
        from ..java import start_jvm

        self.config = config or DenseConfig()
        start_jvm()  # importing pyserini.search needs the JVM (and the OpenAI placeholder)
        from pyserini.search.faiss import FaissSearcher  # heavy

        self.tokenizer, self.model = load_encoder(self.config.model)
        self.searcher = FaissSearcher(str(index_dir), None)
        self._row: dict[str, int] | None = None

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """``float32`` embeddings of the query texts (rendered through the query template)."""
        rendered = [render_template(self.config.query_template, str(t)) for t in texts]
        return embed_texts(self.tokenizer, self.model, rendered, batch_size=64, max_length=self.config.max_length)

    def retrieve(self, queries: Sequence[Query], k: int = 100) -> Run:
        if not queries:
            return {}
        emb = self.encode_queries([q.text for q in queries])
        found = self.searcher.batch_search(emb, [q.qid for q in queries], k=min(k, self.searcher.num_docs),
                                           threads=self.config.threads)
        run: Run = {}
        for q in queries:
            ordered = sorted(((float(r.score), str(r.docid)) for r in found.get(q.qid, [])),
                             key=lambda t: (-t[0], t[1]))
            run[q.qid] = [Hit(q.qid, d, s, i + 1) for i, (s, d) in enumerate(ordered)]
        return run

    def rescore(self, queries: Sequence[Query], candidates: Run, depth: int) -> Run:
        """The top ``depth`` candidates of each query rescored by the e5 cosine, the passage vectors
        read back from the index (the bi-encoder as a reranker, at the index's passage length)."""
        if self._row is None:
            self._row = {str(d): i for i, d in enumerate(self.searcher.docids)}
        emb = self.encode_queries([q.text for q in queries]) if queries else np.zeros((0, 1), np.float32)
        run: Run = {}
        for q, qv in zip(queries, emb):
            hits = list(candidates.get(q.qid, []))[:depth]
            if not hits:
                run[q.qid] = []
                continue
            pv = np.stack([self.searcher.index.reconstruct(self._row[h.docid]) for h in hits])
            ordered = sorted(((float(s), h.docid) for s, h in zip(pv @ qv, hits)), key=lambda t: (-t[0], t[1]))
            run[q.qid] = [Hit(q.qid, d, s, i + 1) for i, (s, d) in enumerate(ordered)]
        return run

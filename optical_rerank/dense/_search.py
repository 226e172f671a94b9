"""Dense retrieval with Pyserini's ``FaissSearcher`` and an ``AutoQueryEncoder`` of the same model."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..models import resolve_model
from ..trec_io import Run
from ..types import Hit, Query
from ._config import DenseConfig


class DenseRetriever:
    """Top-``k`` passages of a :func:`~optical_rerank.dense.dense_index` for each query.

    The query is encoded by Pyserini's ``AutoQueryEncoder`` (``query: `` prefix, mean pooling,
    L2-normalised) and searched in the flat inner-product index: the score is the cosine of the
    e5 embeddings. Results are ordered by ``(-score, docid)`` as every run of the package.
    """

    def __init__(self, index_dir: str | Path, config: DenseConfig | None = None):
        from ..java import start_jvm

        self.config = config or DenseConfig()
        start_jvm()  # importing pyserini.search needs the JVM (and the OpenAI placeholder)
        from pyserini.encode import AutoQueryEncoder  # heavy
        from pyserini.search.faiss import FaissSearcher  # heavy

        encoder = AutoQueryEncoder(encoder_dir=resolve_model(self.config.model), pooling="mean", l2_norm=True,
                                   prefix=self.config.query_prefix, device="cpu")
        self.searcher = FaissSearcher(str(index_dir), encoder)

    def rescore(self, queries: Sequence[Query], candidates: Run, depth: int) -> Run:
        """The top ``depth`` candidates of each query rescored by the e5 cosine, the passage vectors
        read back from the index (the bi-encoder as a reranker, at the index's passage length)."""
        import numpy as np
        import torch  # heavy

        if not hasattr(self, "_row"):
            self._row = {str(d): i for i, d in enumerate(self.searcher.docids)}
        run: Run = {}
        with torch.inference_mode():
            for q in queries:
                hits = list(candidates.get(q.qid, []))[:depth]
                if not hits:
                    run[q.qid] = []
                    continue
                qv = np.asarray(self.searcher.query_encoder.encode(q.text), dtype=np.float32)
                pv = np.stack([self.searcher.index.reconstruct(self._row[h.docid]) for h in hits])
                scores = pv @ qv
                ordered = sorted(((float(s), h.docid) for s, h in zip(scores, hits)), key=lambda t: (-t[0], t[1]))
                run[q.qid] = [Hit(q.qid, d, s, i + 1) for i, (s, d) in enumerate(ordered)]
        return run

    def retrieve(self, queries: Sequence[Query], k: int = 100) -> Run:
        import torch  # heavy

        run: Run = {}
        with torch.inference_mode():
            for q in queries:
                found = self.searcher.search(q.text, k=min(k, self.searcher.num_docs), threads=self.config.threads)
                ordered = sorted(((float(r.score), str(r.docid)) for r in found), key=lambda t: (-t[0], t[1]))
                run[q.qid] = [Hit(q.qid, d, s, i + 1) for i, (s, d) in enumerate(ordered)]
        return run

"""The :class:`Reranker` interface and the ranking/tie policy every reranker shares.

Ranking and ties
----------------
Output hits are sorted by ``(-score, docid)`` with ranks from 1 (as Pyserini writes TREC runs),
and the *written* scores (``score:.6f``) are distinct and strictly decreasing down the ranking,
so that any reader that sorts by score recovers exactly this order:

1. the top ``depth`` first-stage candidates (first-stage order is ``(-score, docid)``) are ordered
   by model score, exact ties broken by first-stage position;
2. output scores are the model scores rounded to 1e-6; where rounding makes a score equal to or
   higher than its predecessor it is lowered to 1e-6 below it (so scores may move by a few 1e-6
   on near-ties);
3. candidates beyond ``depth`` follow in first-stage order, each 1e-6 below the previous one.

Candidates
----------
:meth:`Reranker.rerank` takes the candidates of one query in any of these forms:

* texts (``list[str]``): docids ``"0"``, ``"1"``, ... in the given order;
* ``(docid, text)`` pairs, in first-stage order;
* :class:`~optical_rerank.types.Hit` objects (their scores give the first-stage order);
* Pyserini ``LuceneSearcher.search`` results (``.docid``, ``.score``; the text is read from the
  stored raw JSON document, ``title`` + ``contents`` as in a JsonCollection).
"""
from __future__ import annotations

import dataclasses
import math
from abc import ABCMeta, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from tqdm import tqdm

from ..errors import ConfigError, OpticalRerankError
from ..first_stage import hits_from_searcher_results
from ..trec_io import sort_hits
from ..types import Hit, Query
from ._config import RerankConfig

__all__ = ["Reranker", "RerankInputError", "candidate_hits"]

_SCORE_UNIT = 1_000_000  # scores are written with 6 decimals


class RerankInputError(OpticalRerankError, ValueError):
    """Candidates cannot be reranked as given (missing text, duplicate docid, qid mismatch)."""


# --------------------------------------------------------------------------- tie policy
def _first_stage_order(qid: str, hits: Iterable[Hit]) -> list[Hit]:
    hits = list(hits)
    seen: set[str] = set()
    for h in hits:
        if h.qid != qid:
            raise RerankInputError(f"candidates[{qid!r}] holds a hit of query {h.qid!r} (document {h.docid!r})")
        if h.docid in seen:
            raise RerankInputError(f"query {qid!r}: document {h.docid!r} listed twice among the candidates")
        seen.add(h.docid)
        if not math.isfinite(h.score):
            raise RerankInputError(f"query {qid!r}: document {h.docid!r} has a non-finite first-stage score")
    return sort_hits(hits)


def _assign_scores(qid: str, head: Sequence[Hit], scores: np.ndarray, tail: Sequence[Hit]) -> list[Hit]:
    """Distinct, monotone 6-decimal scores: model order (ties by first-stage position), then the tail."""
    order = sorted(range(len(head)), key=lambda i: (-float(scores[i]), i))
    out: list[Hit] = []
    prev: int | None = None
    for i in order:
        u = int(round(float(scores[i]) * _SCORE_UNIT))
        if prev is not None and u >= prev:
            u = prev - 1
        prev = u
        out.append(Hit(qid, head[i].docid, u / _SCORE_UNIT, len(out) + 1, head[i].text))
    for h in tail:
        u = int(round(h.score * _SCORE_UNIT)) if prev is None else prev - 1
        prev = u
        out.append(Hit(qid, h.docid, u / _SCORE_UNIT, len(out) + 1, h.text))
    return out


# --------------------------------------------------------------------------- candidates
def _is_search_hit(c: object) -> bool:
    return hasattr(c, "docid") and hasattr(c, "score") and not isinstance(c, Hit)


def candidate_hits(qid: str, candidates: Iterable[Any]) -> list[Hit]:
    """The candidates of one query as :class:`Hit` objects (see the module docstring for the forms).

    Texts and pairs get first-stage scores ``n, n-1, ..., 1`` so that their order is kept.
    Mixing forms is a :class:`RerankInputError`.
    """
    items = list(candidates)
    if not items:
        return []
    n = len(items)
    if all(isinstance(c, Hit) for c in items):
        return items
    if all(isinstance(c, str) for c in items):
        return [Hit(qid, str(i), float(n - i), i + 1, c) for i, c in enumerate(items)]
    if all(isinstance(c, (tuple, list)) and len(c) == 2 and isinstance(c[1], str) for c in items):
        return [Hit(qid, str(d), float(n - i), i + 1, t) for i, (d, t) in enumerate(items)]
    if all(_is_search_hit(c) for c in items):
        return hits_from_searcher_results(qid, items)
    kinds = sorted({type(c).__name__ for c in items})
    raise RerankInputError(f"query {qid!r}: candidates must be all texts, all (docid, text) pairs, all Hits or "
                           f"all search hits (.docid, .score); got {', '.join(kinds)}")


# --------------------------------------------------------------------------- interface
class _OpensModels(ABCMeta):
    """Calling :class:`Reranker` itself builds the reranker of the requested ``kind``."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is not Reranker:
            return super().__call__(*args, **kwargs)
        return _open(*args, **kwargs)


class Reranker(metaclass=_OpensModels):
    """Scores (query, passage) pairs and ranks candidates with the shared tie policy.

    ``Reranker(model, *, kind="cross-encoder", **options)`` builds one: ``model`` is a zoo
    name, a model directory, a hub id or a :class:`RerankConfig`; ``kind`` is
    ``"cross-encoder"`` (:class:`CrossEncoderReranker`) or ``"bi-encoder"``
    (:class:`BiEncoderReranker`); ``options`` are :class:`RerankConfig` fields (``depth``,
    ``batch_size``, ``device``, ``max_length``, ``query_template``, ``passage_template``,
    ``threads``, ``quantize``, ...), with the same defaults as ``python -m optical_rerank.run``.

    Subclasses implement :meth:`score_pairs` and set :attr:`config`; ``kind="..."`` in the class
    statement registers them for ``Reranker(..., kind=...)``.
    """

    kind: ClassVar[str] = ""
    _kinds: ClassVar[dict[str, type[Reranker]]] = {}
    config: RerankConfig

    def __init_subclass__(cls, kind: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if kind is not None:
            cls.kind = kind
            Reranker._kinds[kind] = cls

    def _configure(self, model_or_path: Any, config: RerankConfig | None) -> RerankConfig:
        """Set :attr:`config` from the constructor's arguments and apply its ``threads``.

        ``config`` defaults to ``RerankConfig(model=str(model_or_path))``; a path or name given
        beside a config replaces its ``model``.
        """
        import torch  # heavy

        if config is None:
            if model_or_path is None or isinstance(model_or_path, tuple):
                raise ConfigError(f"{type(self).__name__}: give a model path/name or a RerankConfig")
            config = RerankConfig(model=str(model_or_path))
        elif isinstance(model_or_path, (str, Path)) and str(model_or_path) != config.model:
            config = dataclasses.replace(config, model=str(model_or_path))
        self.config = config
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        return config

    def _device(self) -> str:
        """``config.device`` with ``"auto"`` resolved (CUDA when available and not quantizing)."""
        import torch  # heavy

        device = self.config.device
        if device == "auto":
            gpu_ok = self.config.quantize == "none" and getattr(self.config, "backend", "torch") == "torch"
            device = "cuda" if (gpu_ok and torch.cuda.is_available()) else "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"device={device!r} but torch.cuda.is_available() is False")
        return device

    @abstractmethod
    def score_pairs(self, queries: Sequence[str], passages: Sequence[str],
                    show_progress: bool | None = None) -> np.ndarray:
        """Scores of raw (query, passage) texts, one per pair (float32; float64 for a fused cross-encoder);
        templates are applied here."""

    # ---- ranking
    def rerank(self, query: str | Query | Sequence[Query], candidates: Any, depth: int | None = None,
               show_progress: bool | None = None, *, qid: str | None = None) -> Any:
        """Rerank the top ``depth`` candidates of one query, or of many.

        Parameters
        ----------
        query : one query (a string or a :class:`Query`), or a sequence of :class:`Query`.
        candidates : for one query, its candidates in any form of the module docstring; for
            many, ``{qid: hits}`` with ``Hit.text`` set for (at least) the top ``depth`` hits
            (candidates of other qids are ignored).
        depth : default ``config.depth``; candidates beyond it keep their first-stage order.
        show_progress : query progress bar; default ``config.show_progress``.
        qid : the query id of the returned hits for a string query (default: the qid of the
            candidate :class:`Hit` objects, else ``"0"``).

        Returns
        -------
        list[Hit] or dict[str, list[Hit]]
            For one query its ranked hits; for many ``{qid: hits}`` for every query (an empty
            list when it has no candidates). Hits are sorted by ``(-score, docid)``, ranks from 1,
            scores distinct and monotone at 6 decimals (see the module docstring).
        """
        if isinstance(query, (str, Query)):
            items = list(candidates)
            if isinstance(query, str):
                default = items[0].qid if items and isinstance(items[0], Hit) else "0"
                query = Query(qid if qid is not None else default, query)
            hits = candidate_hits(query.qid, items)
            return self._rerank_all([query], {query.qid: hits}, depth, show_progress)[query.qid]
        if not isinstance(candidates, Mapping):
            raise RerankInputError("rerank(queries, candidates): several queries need candidates as {qid: hits}")
        return self._rerank_all(query, candidates, depth, show_progress)

    def _rerank_all(self, queries: Sequence[Query], candidates: Mapping[str, Sequence[Hit]], depth: int | None,
                    show_progress: bool | None) -> dict[str, list[Hit]]:
        depth = self.config.depth if depth is None else depth
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ConfigError(f"depth must be an integer >= 1, got {depth!r}")
        progress = self.config.show_progress if show_progress is None else show_progress
        out: dict[str, list[Hit]] = {}
        for q in tqdm(queries, desc="rerank queries", unit="q", disable=not progress or len(queries) < 2):
            if q.qid in out:
                raise RerankInputError(f"query {q.qid!r} given twice")
            first = _first_stage_order(q.qid, candidates.get(q.qid, ()))
            head, tail = first[:depth], first[depth:]
            for h in head:
                if h.text is None:
                    raise RerankInputError(
                        f"query {q.qid!r}: document {h.docid!r} (first-stage position {first.index(h) + 1}) has no "
                        "text; attach document texts (e.g. read_run(..., with_text=...) or BM25 with stored raw "
                        "documents) before reranking")
            scores = self.score_pairs([q.text] * len(head), [h.text for h in head], show_progress=False) if head \
                else np.zeros(0, dtype=np.float32)
            out[q.qid] = _assign_scores(q.qid, head, scores, tail)
        return out

    def rank(self, query: str | Query, documents: Sequence[str], top_k: int | None = None,
             return_documents: bool = False, show_progress: bool | None = None) -> list[dict[str, Any]]:
        """Score every document for ``query``, best first, as sentence-transformers' ``CrossEncoder.rank``.

        Returns
        -------
        list of dict
            ``{"corpus_id": index in documents, "score": model score}`` (plus ``"text"`` with
            ``return_documents``), sorted by descending score, ties by ``corpus_id``; at most
            ``top_k`` entries. Scores are the raw model scores (not rounded).
        """
        text = query.text if isinstance(query, Query) else query
        docs = list(documents)
        if not all(isinstance(d, str) for d in docs):
            raise RerankInputError("rank(query, documents): documents must be texts")
        scores = self.score_pairs([text] * len(docs), docs, show_progress=show_progress)
        order = sorted(range(len(docs)), key=lambda i: (-float(scores[i]), i))
        if top_k is not None:
            order = order[:top_k]
        out = []
        for i in order:
            row: dict[str, Any] = {"corpus_id": i, "score": float(scores[i])}
            if return_documents:
                row["text"] = docs[i]
            out.append(row)
        return out


def _open(model: str | Any | RerankConfig, *, kind: str = "cross-encoder", **options: Any) -> Reranker:
    """``Reranker(model, kind=..., **options)``: the reranker of ``kind`` for ``model``."""
    if kind not in Reranker._kinds:
        raise ConfigError(f"unknown reranker kind {kind!r}; known: {sorted(Reranker._kinds)}")
    if isinstance(model, RerankConfig):
        if options:
            raise ConfigError("Reranker(config): give options in the RerankConfig, not as keywords")
        config = model
    else:
        config = RerankConfig.from_dict({"model": str(model), **{k: v for k, v in options.items() if v is not None}})
    return Reranker._kinds[kind](None, config)

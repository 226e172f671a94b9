"""Small frozen dataclasses exchanged between pipeline stages."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Query:
    """A query (topic): its id, text and optional ISO language code."""

    qid: str
    text: str
    lang: str | None = None


@dataclass(frozen=True)
class Hit:
    """One retrieved document for a query.

    ``rank`` is 1-based; ``text`` is the document's raw text when the stage that made
    the hit had it (BM25 reads it from the index), else ``None``.
    """

    qid: str
    docid: str
    score: float
    rank: int
    text: str | None = None


@dataclass(frozen=True)
class Document:
    """A collection document in Pyserini's JsonCollection form (``id``, ``contents``)."""

    docid: str
    contents: str
    title: str | None = None


@dataclass(frozen=True)
class Qrel:
    """One relevance judgement (TREC qrels line ``qid iter docid rel``)."""

    qid: str
    docid: str
    relevance: int

"""NTREX-doc: a translated news headline -> its English article (synthetic relevance).

NTREX-128 is WMT19's English news test set (1,997 sentences from 123 documents) translated
line by line into 128 languages; ``DOCUMENT_IDS.tsv`` gives each line's document. The first line
of each document is its headline (a few headlines continue on the second line, which then stays
in the body). Each headline becomes a query whose only relevant document is its own article,
without the headline.

Output (``prepare ntrex-doc --out DIR``)::

    DIR/corpus/eng/corpus.jsonl         123 English articles (id = NTREX document id, e.g.
                                        ``bbc.381790``; contents = lines 2.. joined by newlines)
    DIR/corpus/<lang>/corpus.jsonl      the same articles in the human translation of <lang>, with
                                        the same ids as the English ones ("BM25 over the translated
                                        collection" uses the same qrels)
    DIR/topics/ntrex-doc.<lang>.tsv     headlines in <lang> (qid <lang>-<document id>); eng too
    DIR/qrels/ntrex-doc.<lang>.qrels    <lang>-<document id> 0 <document id> 1
    DIR/card.json                       flags "synthetic_relevance": true

``<lang>`` is the NTREX code (``hau``, ``zho-CN``, ...).
"""
from __future__ import annotations

import statistics
from collections.abc import Iterable
from pathlib import Path

from ..errors import InputFormatError
from ..trec_io import write_corpus, write_qrels, write_topics
from ..types import Document, Query
from .card import PreparedSet, make_card, split_list, staged_output, write_card
from .fetch import Fetcher, read_text_lines
from .languages import source_language_codes
from .registry import (
    NTREX,
    NTREX_CODES,
    NTREX_DOCUMENTS,
    NTREX_SENTENCES,
    ntrex_document_ids,
    ntrex_file,
    ntrex_source_file,
)

#: NTREX codes built by default: every translation except the English references.
DEFAULT_CODES = tuple(c for c in NTREX_CODES if not c.startswith("eng-"))


def document_spans(path: Path) -> list[tuple[str, int, int]]:
    """``[(doc_id, first_line, end_line)]`` (0-based, end exclusive) from ``DOCUMENT_IDS.tsv``.

    A document whose lines are not contiguous, or an empty id, is an error naming ``file:line``.
    """
    spans: list[tuple[str, int, int]] = []
    seen: set[str] = set()
    for i, line in enumerate(read_text_lines(path)):
        doc = line.strip()
        if not doc:
            raise InputFormatError(path, i + 1, "empty document id")
        if spans and spans[-1][0] == doc:
            spans[-1] = (doc, spans[-1][1], i + 1)
            continue
        if doc in seen:
            raise InputFormatError(path, i + 1, f"document {doc!r} resumes after another document")
        seen.add(doc)
        spans.append((doc, i, i + 1))
    return spans


def _aligned(path: Path, n: int, url: str) -> list[str]:
    lines = read_text_lines(path)
    if len(lines) != n:
        raise InputFormatError(path, None, f"{len(lines)} lines, expected {n} aligned with DOCUMENT_IDS.tsv ({url})")
    return lines


def split_documents(lines: list[str], spans: list[tuple[str, int, int]]) -> tuple[dict[str, str], dict[str, str]]:
    """``({doc: headline}, {doc: body})`` with empty headlines/bodies left out."""
    heads, bodies = {}, {}
    for doc, start, end in spans:
        head = " ".join(lines[start].split())
        body = "\n".join(" ".join(x.split()) for x in lines[start + 1:end] if x.strip())
        if head:
            heads[doc] = head
        if body:
            bodies[doc] = body
    return heads, bodies


def prepare_ntrex_doc(out_dir: str | Path, *, langs: Iterable[str] | str | None = None,
                      skip_missing: bool = False) -> PreparedSet:
    """Build the NTREX headline -> article set (layout in the module docstring).

    Parameters
    ----------
    langs : languages (ISO 639-3 or NTREX codes); default every NTREX-128 translation
        (:data:`DEFAULT_CODES`, 126 + 2 additional Swiss German).
    skip_missing : skip and report languages whose file is unavailable instead of failing.
    """
    requested = split_list(langs)
    codes = list(DEFAULT_CODES) if requested is None else source_language_codes("ntrex", requested)
    fetcher = Fetcher(skip_missing=skip_missing)
    ids_file = ntrex_document_ids()
    spans = document_spans(fetcher.get(ids_file))
    n_lines = spans[-1][2] if spans else 0
    src_file = ntrex_source_file()
    src = _aligned(fetcher.get(src_file), n_lines, src_file.url)
    en_heads, en_bodies = split_documents(src, spans)
    if len(en_heads) != len(spans) or len(en_bodies) != len(spans):
        raise InputFormatError(fetcher.get(src_file), None, "an English document has no headline or no body")

    corpora: dict[str, list[Document]] = {"eng": [Document(d, en_bodies[d], None) for d, _, _ in spans]}
    topics: dict[str, list[Query]] = {"eng": [Query(f"eng-{d}", en_heads[d], "eng") for d, _, _ in spans]}
    per_lang: dict[str, dict[str, int]] = {}
    doc_of: dict[str, str] = {f"eng-{d}": d for d, _, _ in spans}
    for code in codes:
        if code == "eng":
            continue
        f = ntrex_file(code)
        path = fetcher.get_optional(f, f"NTREX-128 {code}")
        if path is None:
            continue
        heads, bodies = split_documents(_aligned(path, n_lines, f.url), spans)
        topics[code] = [Query(f"{code}-{d}", heads[d], code) for d, _, _ in spans if d in heads]
        doc_of.update((f"{code}-{d}", d) for d in heads)
        corpora[code] = [Document(d, bodies[d], None) for d, _, _ in spans if d in bodies]
        per_lang[code] = {"topics": len(topics[code]), "documents": len(corpora[code]),
                          "dropped_empty_headline": len(spans) - len(heads),
                          "dropped_empty_document": len(spans) - len(bodies)}

    head_len = statistics.mean(len(h) for h in en_heads.values())
    body_len = statistics.mean(len(x) for d, s, e in spans for x in src[s + 1:e])
    with staged_output(out_dir) as tmp:
        outputs: dict[str, object] = {"corpora": {}, "topics": {}, "qrels": {}}
        for code, docs in corpora.items():
            rel = f"corpus/{code}/corpus.jsonl"
            write_corpus(tmp / rel, docs)
            outputs["corpora"][code] = {"path": rel, "documents": len(docs), "language": code}
        for code, queries in topics.items():
            rel = f"topics/ntrex-doc.{code}.tsv"
            write_topics(tmp / rel, queries)
            outputs["topics"][code] = {"path": rel, "queries": len(queries), "language": code}
            qrels = {q.qid: {doc_of[q.qid]: 1} for q in queries}
            rel = f"qrels/ntrex-doc.{code}.qrels"
            write_qrels(tmp / rel, qrels)
            outputs["qrels"][code] = {"path": rel, "judgements": len(qrels),
                                      "corpus": "corpus/eng/corpus.jsonl (or corpus/<lang>/corpus.jsonl: same ids)"}
        card = make_card(
            "ntrex-doc",
            description="NTREX-128 headline -> article retrieval: each human-translated headline is a "
                        "query; its only relevant document is its own article (English, or the same "
                        "article in the query language).",
            fetcher=fetcher, sources=[NTREX], outputs=outputs,
            counts={"documents": len(spans), "lines": n_lines, "expected_documents": NTREX_DOCUMENTS,
                    "expected_lines": NTREX_SENTENCES, "languages": sorted(per_lang),
                    "per_language": per_lang,
                    "english_headline_mean_chars": round(head_len, 1),
                    "english_body_line_mean_chars": round(body_len, 1)},
            dropped={"empty_headlines": sum(v["dropped_empty_headline"] for v in per_lang.values()),
                     "empty_documents": sum(v["dropped_empty_document"] for v in per_lang.values())},
            notes=["SYNTHETIC RELEVANCE: relevance is by construction (a headline and its own article, "
                   "relevance 1); nothing was judged by people, and other articles on the same story "
                   "are unjudged.",
                   "Headline = the first line of each DOCUMENT_IDS.tsv document; it is removed from the "
                   "document text. A few headlines continue on the second line (e.g. a headline ending "
                   "in '.' followed by a short line), which then stays in the body.",
                   "Translated corpora keep the English document ids, so the same qrels apply to "
                   "retrieval over corpus/eng and over corpus/<lang>.",
                   "The NTREX sentences are also a bitext source: do not train on NTREX bitext when "
                   "evaluating on this set."],
            options={"langs": codes, "skip_missing": skip_missing},
            extra={"synthetic_relevance": True},
        )
        write_card(tmp, card)
    return PreparedSet("ntrex-doc", Path(out_dir), card)

"""Read and write TREC topics, qrels, runs and JsonCollection corpora, strictly and atomically.

Conventions
-----------
* Readers accept UTF-8 with or without a BOM, LF or CRLF line ends, and skip blank lines.
  Anything else that is wrong (invalid UTF-8, wrong column count, duplicate ids, non-numeric
  or non-finite scores, empty query text) raises :class:`~optical_rerank.errors.InputFormatError`
  naming ``file:line``.
* Writers go through :func:`optical_rerank.files.atomic_write` (re-exported here): a temporary file in the target directory, flushed
  and fsynced, then ``os.replace``. An interrupted or failed write (full disk, kill) leaves the
  previous file intact.
* Runs are written like Pyserini's ``TrecWriter``: per query sorted by ``(-score, docid)``,
  ranks from 1, ``score:.6f``.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from .errors import InputFormatError
from .files import atomic_write, write_json_atomic, write_text_atomic  # noqa: F401  (re-exported)
from .types import Document, Hit, Query

Run = dict[str, list[Hit]]
Qrels = dict[str, dict[str, int]]


# --------------------------------------------------------------------------- reading lines
def iter_lines(path: str | Path, keep_blank: bool = False) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` for the non-blank lines of a UTF-8 text file.

    The BOM and the line end (LF or CRLF) are stripped. Invalid UTF-8 raises
    :class:`InputFormatError` with the line of the first bad byte. ``keep_blank`` also yields
    blank lines (line-aligned corpora).
    """
    path = Path(path)
    if not path.is_file():
        raise InputFormatError(path, None, "no such file" if not path.exists() else "not a regular file")
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputFormatError(path, lineno, f"invalid UTF-8 at byte {exc.start} of the line") from None
            line = line.rstrip("\n").rstrip("\r")
            if keep_blank or line.strip():
                yield lineno, line


def _parse_float(path: Path, lineno: int, value: str, what: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise InputFormatError(path, lineno, f"{what} {value!r} is not a number") from None
    if not math.isfinite(x):
        raise InputFormatError(path, lineno, f"{what} {value!r} is not finite")
    return x


def _parse_int(path: Path, lineno: int, value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InputFormatError(path, lineno, f"{what} {value!r} is not an integer") from None


# --------------------------------------------------------------------------- topics
def read_topics(path: str | Path, lang: str | None = None) -> list[Query]:
    """Read a ``qid<TAB>text`` topics file (Anserini's TSV topic format).

    Returns the queries in file order. Duplicate qids, a missing tab, extra columns and
    empty or whitespace-only query text are errors naming ``file:line``.
    """
    path = Path(path)
    seen: dict[str, int] = {}
    out: list[Query] = []
    for lineno, line in iter_lines(path):
        parts = line.split("\t")
        if len(parts) != 2:
            raise InputFormatError(path, lineno, f"expected 2 tab-separated columns (qid, text), found {len(parts)}")
        qid, text = parts[0].strip(), parts[1].strip()
        if not qid:
            raise InputFormatError(path, lineno, "empty query id")
        if not text:
            raise InputFormatError(path, lineno, f"query {qid!r} has empty text")
        if qid in seen:
            raise InputFormatError(path, lineno, f"duplicate query id {qid!r} (first on line {seen[qid]})")
        seen[qid] = lineno
        out.append(Query(qid, text, lang))
    return out


def write_topics(path: str | Path, queries: Iterable[Query]) -> None:
    """Write queries as ``qid<TAB>text`` lines, atomically. Tabs/newlines in text become spaces."""
    with atomic_write(path) as fh:
        for q in queries:
            text = " ".join(q.text.split())
            if "\t" in q.qid or not q.qid or not text:
                raise ValueError(f"cannot write query {q!r}: empty id/text or tab in id")
            fh.write(f"{q.qid}\t{text}\n")


# --------------------------------------------------------------------------- qrels
def read_qrels(path: str | Path) -> Qrels:
    """Read TREC qrels (``qid iter docid relevance``, whitespace-separated).

    Returns ``{qid: {docid: relevance}}``. A repeated ``(qid, docid)`` with a different
    relevance is an error; an identical repeat is accepted.
    """
    path = Path(path)
    qrels: Qrels = {}
    for lineno, line in iter_lines(path):
        parts = line.split()
        if len(parts) != 4:
            raise InputFormatError(path, lineno, f"expected 4 columns (qid iter docid relevance), found {len(parts)}")
        qid, _, docid, rel = parts
        r = _parse_int(path, lineno, rel, "relevance")
        prev = qrels.setdefault(qid, {}).get(docid)
        if prev is not None and prev != r:
            raise InputFormatError(path, lineno, f"({qid}, {docid}) judged twice with different relevance ({prev} and {r})")
        qrels[qid][docid] = r
    return qrels


def write_qrels(path: str | Path, qrels: Mapping[str, Mapping[str, int]]) -> None:
    """Write ``{qid: {docid: rel}}`` as TREC qrels, atomically, in sorted order."""
    with atomic_write(path) as fh:
        for qid in sorted(qrels):
            for docid in sorted(qrels[qid]):
                fh.write(f"{qid} 0 {docid} {int(qrels[qid][docid])}\n")


# --------------------------------------------------------------------------- runs
def sort_hits(hits: Iterable[Hit]) -> list[Hit]:
    """Sort hits by ``(-score, docid)`` and renumber ranks from 1."""
    ordered = sorted(hits, key=lambda h: (-h.score, h.docid))
    return [Hit(h.qid, h.docid, h.score, i, h.text) for i, h in enumerate(ordered, start=1)]


def read_run(path: str | Path, with_text: Mapping[str, str] | None = None) -> Run:
    """Read a TREC run (``qid Q0 docid rank score tag``).

    Returns ``{qid: [Hit, ...]}`` with each list sorted by ``(-score, docid)`` and ranks
    renumbered from 1 (trec_eval ignores the rank column). Queries keep file order.
    A docid repeated within a query, a non-numeric or non-finite score and a wrong column
    count are errors naming ``file:line``. ``with_text`` maps docid to text to attach.
    """
    path = Path(path)
    raw: dict[str, list[Hit]] = {}
    seen: dict[tuple[str, str], int] = {}
    for lineno, line in iter_lines(path):
        parts = line.split()
        if len(parts) != 6:
            raise InputFormatError(path, lineno, f"expected 6 columns (qid Q0 docid rank score tag), found {len(parts)}")
        qid, _, docid, rank, score, _tag = parts
        _parse_int(path, lineno, rank, "rank")
        s = _parse_float(path, lineno, score, "score")
        key = (qid, docid)
        if key in seen:
            raise InputFormatError(path, lineno, f"document {docid!r} listed twice for query {qid!r} (first on line {seen[key]})")
        seen[key] = lineno
        text = with_text.get(docid) if with_text is not None else None
        raw.setdefault(qid, []).append(Hit(qid, docid, s, 0, text))
    return {qid: sort_hits(hits) for qid, hits in raw.items()}


def format_run_lines(qid: str, hits: Iterable[Hit], tag: str) -> list[str]:
    """TREC lines for one query, sorted by ``(-score, docid)``, ranks from 1, ``score:.6f``."""
    return [f"{qid} Q0 {h.docid} {h.rank} {h.score:.6f} {tag}\n" for h in sort_hits(hits)]


def write_run(path: str | Path, run: Mapping[str, Iterable[Hit]], tag: str = "optical_rerank") -> None:
    """Write ``{qid: hits}`` as a TREC run file, atomically, queries in mapping order."""
    if not tag or any(c.isspace() for c in tag):
        raise ValueError(f"run tag must be a non-empty word, got {tag!r}")
    with atomic_write(path) as fh:
        for qid, hits in run.items():
            fh.writelines(format_run_lines(qid, hits, tag))


# --------------------------------------------------------------------------- corpora
def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for each non-blank line of a JSONL file."""
    path = Path(path)
    for lineno, line in iter_lines(path):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputFormatError(path, lineno, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise InputFormatError(path, lineno, f"expected a JSON object, found {type(obj).__name__}")
        yield lineno, obj


def read_corpus(path: str | Path) -> Iterator[Document]:
    """Read a Pyserini JsonCollection file (``{"id", "contents"}``, optional ``"title"``).

    Missing or non-string fields, empty ids and duplicate ids are errors naming ``file:line``.
    """
    path = Path(path)
    seen: dict[str, int] = {}
    for lineno, obj in read_jsonl(path):
        docid, contents = obj.get("id"), obj.get("contents")
        if not isinstance(docid, str) or not docid.strip():
            raise InputFormatError(path, lineno, 'field "id" must be a non-empty string')
        if any(c.isspace() for c in docid):
            raise InputFormatError(path, lineno, f"document id {docid!r} contains whitespace (TREC runs cannot hold it)")
        if not isinstance(contents, str):
            raise InputFormatError(path, lineno, 'field "contents" must be a string')
        title = obj.get("title")
        if title is not None and not isinstance(title, str):
            raise InputFormatError(path, lineno, 'field "title" must be a string when present')
        if docid in seen:
            raise InputFormatError(path, lineno, f"duplicate document id {docid!r} (first on line {seen[docid]})")
        seen[docid] = lineno
        yield Document(docid, contents, title)


def write_corpus(path: str | Path, docs: Iterable[Document]) -> int:
    """Write documents as JsonCollection JSONL, atomically. Returns the number written."""
    n = 0
    with atomic_write(path) as fh:
        for d in docs:
            obj = {"id": d.docid, "contents": d.contents}
            if d.title is not None:
                obj["title"] = d.title
            fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
            n += 1
    return n

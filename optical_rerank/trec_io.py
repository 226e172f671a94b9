"""Read and write TREC topics, qrels, runs and JsonCollection corpora, strictly and atomically.

Conventions
-----------
* Readers accept UTF-8 with or without a BOM, LF or CRLF line ends, and skip blank lines.
  Anything else that is wrong (invalid UTF-8, wrong column count, duplicate ids, non-numeric
  or non-finite scores, empty query text) raises :class:`~optical_rerank.errors.InputFormatError`
  naming ``file:line``. A file with no line at all is an error too (``allow_empty=True`` accepts it).
* Identifiers and numbers are read as trec_eval reads them, or refused: columns are separated by
  ASCII whitespace (space, tab, VT, FF, CR: C's ``isspace``), and a qid or docid holding any other
  whitespace (a topic id ``q 1``, a no-break space) is an error; relevance grades and ranks are
  ASCII integers (optional sign, digits ``0-9`` only) and scores ASCII decimal numbers, so values
  such as ``1_0``, ``١`` (an Arabic-Indic digit) or ``1.0`` (a grade), which Python's ``int()``/
  ``float()`` and trec_eval's ``atol()``/``atof()`` read differently, are refused.
* Writers go through :func:`optical_rerank.files.atomic_write` (re-exported here): a temporary file in the target directory, flushed
  and fsynced, then ``os.replace``. An interrupted or failed write (full disk, kill) leaves the
  previous file intact.
* Runs are written like Pyserini's ``TrecWriter``: per query sorted by ``(-score, docid)``,
  ranks from 1, ``score:.6f``.
"""
from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from .errors import InputFormatError
from .files import atomic_write, write_json_atomic, write_text_atomic  # noqa: F401  (re-exported)
from .types import Document, Hit, Query

Run = dict[str, list[Hit]]
Qrels = dict[str, dict[str, int]]


# --------------------------------------------------------------------------- reading lines
def iter_lines(path: str | Path, keep_blank: bool = False) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` for the non-blank lines of a UTF-8 text file (gzip-compressed: ``*.gz``).

    The BOM and the line end (LF or CRLF) are stripped. Invalid UTF-8 raises
    :class:`InputFormatError` with the line of the first bad byte. ``keep_blank`` also yields
    blank lines (line-aligned corpora).
    """
    path = Path(path)
    if not path.is_file():
        raise InputFormatError(path, None, "no such file" if not path.exists() else "not a regular file")
    if path.name.endswith(".gz"):
        import gzip

        opened = gzip.open(path, "rb")
    else:
        opened = open(path, "rb")
    with opened as fh:
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


_ASCII_SPACE = re.compile(r"[ \t\v\f\r]+")  # C isspace() less the newline: trec_eval's column separators
_ASCII_INT = re.compile(r"[+-]?[0-9]+")
_ASCII_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NONFINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)


def _columns(line: str) -> list[str]:
    """The columns of a qrels/run line, split on ASCII whitespace as trec_eval splits them."""
    return [c for c in _ASCII_SPACE.split(line) if c]


def _check_id(path: Path, lineno: int, value: str, what: str) -> str:
    """``value`` if it is a usable TREC identifier (non-empty, no whitespace of any kind)."""
    if not value:
        raise InputFormatError(path, lineno, f"empty {what}")
    bad = next((c for c in value if c.isspace()), None)
    if bad is not None:
        raise InputFormatError(path, lineno, f"{what} {value!r} contains whitespace (U+{ord(bad):04X}); "
                               "TREC runs and qrels cannot hold it")
    return value


def _parse_float(path: Path, lineno: int, value: str, what: str) -> float:
    if _NONFINITE.fullmatch(value):
        raise InputFormatError(path, lineno, f"{what} {value!r} is not finite")
    if not _ASCII_FLOAT.fullmatch(value):
        raise InputFormatError(path, lineno, f"{what} {value!r} is not a number (ASCII digits, e.g. 12.5 or 1e-3)")
    x = float(value)
    if not math.isfinite(x):
        raise InputFormatError(path, lineno, f"{what} {value!r} is not finite")
    return x


def _parse_int(path: Path, lineno: int, value: str, what: str) -> int:
    if not _ASCII_INT.fullmatch(value):
        raise InputFormatError(path, lineno, f"{what} {value!r} is not an integer "
                               "(an optional sign and ASCII digits 0-9 only, as trec_eval reads it)")
    return int(value)


def _empty(path: Path, what: str) -> InputFormatError:
    return InputFormatError(path, None, f"empty {what} file (no non-blank line)")


#: First-line column names that mark a header row in a topics file (``qid<TAB>query``).
_HEADER_IDS = {"qid", "id", "query_id", "queryid", "query-id", "topic", "topic_id", "topicid", "qno", "_id", "num"}
_HEADER_TEXTS = {"query", "text", "question", "title", "query_text", "querytext", "topic", "description", "q"}


def _looks_like_header(qid: str, text: str) -> bool:
    return qid.lower() in _HEADER_IDS and text.lower() in _HEADER_TEXTS


# --------------------------------------------------------------------------- topics
#: Topic file formats, as Pyserini's ``--topics`` reads them (``*.gz`` too): ``tsv`` (``qid<TAB>text``,
#: Anserini's TsvStringTopicReader), ``trec`` (``<top> <num> <title> ...``, TrecTopicReader: the title
#: is the query), ``jsonl`` (``{"qid", "query"}`` a line, JsonStringTopicReader) and ``json``
#: (Pyserini's ``{qid: {"title": text}}``).
TOPIC_FORMATS = ("tsv", "trec", "jsonl", "json")


def topics_format_of(path: str | Path) -> str:
    """The format a topics file's name implies, as Pyserini picks it (``.trec``, ``.jsonl``, ``.json``; else ``tsv``)."""
    name = Path(path).name.lower().removesuffix(".gz")
    for suffix, fmt in ((".trec", "trec"), (".jsonl", "jsonl"), (".json", "json")):
        if name.endswith(suffix):
            return fmt
    return "tsv"


def read_topics(path: str | Path, lang: str | None = None, *, allow_empty: bool = False,
                fmt: str | None = None) -> list[Query]:
    """Read a topics file in one of :data:`TOPIC_FORMATS` (``fmt``; default from the name, :func:`topics_format_of`).

    The other formats are read by :func:`_read_other_topics` (same checks on ids and text); what
    follows is the TSV format (``qid<TAB>text``, Anserini's TSV topic format).

    Returns the queries in file order. Duplicate qids, a qid holding whitespace (``q 1``), a
    missing tab, extra columns, empty or whitespace-only query text and (unless ``allow_empty``)
    a file without any topic are errors naming ``file:line``. A first line that looks like a
    column header (``qid<TAB>query``, ``id<TAB>text``, ...) is read as a topic, with a warning on
    stderr.
    """
    path = Path(path)
    fmt = fmt or topics_format_of(path)
    if fmt not in TOPIC_FORMATS:
        raise InputFormatError(path, None, f"unknown topics format {fmt!r}; use one of {', '.join(TOPIC_FORMATS)}")
    if fmt != "tsv":
        return _read_other_topics(path, lang, fmt, allow_empty)
    seen: dict[str, int] = {}
    out: list[Query] = []
    for lineno, line in iter_lines(path):
        parts = line.split("\t")
        if len(parts) != 2:
            raise InputFormatError(path, lineno, f"expected 2 tab-separated columns (qid, text), found {len(parts)}")
        qid, text = parts[0].strip(), parts[1].strip()
        if not qid:
            raise InputFormatError(path, lineno, "empty query id")
        _check_id(path, lineno, qid, "query id")
        if not text:
            raise InputFormatError(path, lineno, f"query {qid!r} has empty text")
        if qid in seen:
            raise InputFormatError(path, lineno, f"duplicate query id {qid!r} (first on line {seen[qid]})")
        if not out and _looks_like_header(qid, text):
            print(f"warning: {path}:{lineno}: {line.strip()!r} looks like a header line; it is read as query "
                  f"{qid!r} (topics files have no header: delete the line)", file=sys.stderr)
        seen[qid] = lineno
        out.append(Query(qid, text, lang))
    if not out and not allow_empty:
        raise _empty(path, "topics")
    return out


_TREC_TOP = re.compile(r"<top>(.*?)</top>", re.S)
_TREC_NUM = re.compile(r"<num>\s*(?:Number:)?\s*(\S+)")
_TREC_TITLE = re.compile(r"<title>(.*?)(?=<desc>|<narr>|<num>|\Z)", re.S)


def _topic_entries(path: Path, fmt: str) -> Iterator[tuple[int | None, object, object]]:
    """``(line, qid, text)`` of each topic of a TREC, JSONL or JSON topics file, unchecked."""
    if fmt == "jsonl":
        for lineno, obj in read_jsonl(path):
            yield lineno, obj.get("qid"), obj.get("query")
        return
    text = "\n".join(line for _, line in iter_lines(path, keep_blank=True))
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputFormatError(path, exc.lineno, f"invalid JSON: {exc.msg}") from None
        if not isinstance(data, dict):
            raise InputFormatError(path, None, 'expected a JSON object {qid: {"title": text}} (Pyserini\'s topics)')
        for qid, value in data.items():
            yield None, qid, value.get("title") if isinstance(value, dict) else value
        return
    for block in _TREC_TOP.finditer(text):  # trec
        lineno = text.count("\n", 0, block.start()) + 1
        num, title = _TREC_NUM.search(block.group(1)), _TREC_TITLE.search(block.group(1))
        words = " ".join(title.group(1).split()) if title else ""
        yield lineno, num.group(1) if num else None, re.sub(r"^Topic:\s*", "", words)


def _read_other_topics(path: Path, lang: str | None, fmt: str, allow_empty: bool) -> list[Query]:
    seen: dict[str, int | None] = {}
    out: list[Query] = []
    for lineno, qid, text in _topic_entries(path, fmt):
        if isinstance(qid, int) and not isinstance(qid, bool):
            qid = str(qid)
        if not isinstance(qid, str) or not qid.strip():
            raise InputFormatError(path, lineno, "a topic without an id" + (' (field "qid")' if fmt == "jsonl" else ""))
        qid = qid.strip()
        _check_id(path, lineno, qid, "query id")
        if not isinstance(text, str) or not text.strip():
            raise InputFormatError(path, lineno, f"query {qid!r} has no text"
                                   + {"jsonl": ' (field "query")', "json": ' ("title")', "trec": " (<title>)"}[fmt])
        if qid in seen:
            raise InputFormatError(path, lineno, f"duplicate query id {qid!r}")
        seen[qid] = lineno
        out.append(Query(qid, " ".join(text.split()), lang))
    if not out and not allow_empty:
        raise _empty(path, f"{fmt} topics")
    return out


def write_topics(path: str | Path, queries: Iterable[Query]) -> None:
    """Write queries as ``qid<TAB>text`` lines, atomically. Tabs/newlines in text become spaces."""
    with atomic_write(path) as fh:
        for q in queries:
            text = " ".join(q.text.split())
            if not q.qid or any(c.isspace() for c in q.qid) or not text:
                raise ValueError(f"cannot write query {q!r}: empty id/text or whitespace in id")
            fh.write(f"{q.qid}\t{text}\n")


# --------------------------------------------------------------------------- qrels
def read_qrels(path: str | Path, *, allow_empty: bool = False) -> Qrels:
    """Read TREC qrels (``qid iter docid relevance``, whitespace-separated).

    Returns ``{qid: {docid: relevance}}``. A repeated ``(qid, docid)`` with a different
    relevance is an error; an identical repeat is accepted. Relevance grades are ASCII integers
    (``1_0``, ``1.0`` or non-ASCII digits are errors), ids hold no whitespace, and a file without
    any judgement is an error unless ``allow_empty``.
    """
    path = Path(path)
    qrels: Qrels = {}
    for lineno, line in iter_lines(path):
        parts = _columns(line)
        if len(parts) != 4:
            raise InputFormatError(path, lineno, f"expected 4 columns (qid iter docid relevance), found {len(parts)}")
        qid, _, docid, rel = parts
        _check_id(path, lineno, qid, "query id")
        _check_id(path, lineno, docid, "document id")
        r = _parse_int(path, lineno, rel, "relevance")
        prev = qrels.setdefault(qid, {}).get(docid)
        if prev is not None and prev != r:
            raise InputFormatError(path, lineno, f"({qid}, {docid}) judged twice with different relevance ({prev} and {r})")
        qrels[qid][docid] = r
    if not qrels and not allow_empty:
        raise _empty(path, "qrels")
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


def read_run(path: str | Path, with_text: Mapping[str, str] | None = None, *, allow_empty: bool = False) -> Run:
    """Read a TREC run (``qid Q0 docid rank score tag``).

    Returns ``{qid: [Hit, ...]}`` with each list sorted by ``(-score, docid)`` and ranks
    renumbered from 1 (trec_eval ignores the rank column). Queries keep file order.
    A docid repeated within a query, a non-numeric or non-finite score, an id holding
    whitespace, a wrong column count and (unless ``allow_empty``) a file without any line are
    errors naming ``file:line``. ``with_text`` maps docid to text to attach.
    """
    path = Path(path)
    raw: dict[str, list[Hit]] = {}
    seen: dict[tuple[str, str], int] = {}
    for lineno, line in iter_lines(path):
        parts = _columns(line)
        if len(parts) != 6:
            raise InputFormatError(path, lineno, f"expected 6 columns (qid Q0 docid rank score tag), found {len(parts)}")
        qid, _, docid, rank, score, _tag = parts
        _check_id(path, lineno, qid, "query id")
        _check_id(path, lineno, docid, "document id")
        _parse_int(path, lineno, rank, "rank")
        s = _parse_float(path, lineno, score, "score")
        key = (qid, docid)
        if key in seen:
            raise InputFormatError(path, lineno, f"document {docid!r} listed twice for query {qid!r} (first on line {seen[key]})")
        seen[key] = lineno
        text = with_text.get(docid) if with_text is not None else None
        raw.setdefault(qid, []).append(Hit(qid, docid, s, 0, text))
    if not raw and not allow_empty:
        raise _empty(path, "run")
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
    """Read a Pyserini JsonCollection file (``{"id", "contents"}``, optional ``"title"``; ``*.gz`` too).

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

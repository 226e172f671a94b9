"""First stage: Lucene indexing and BM25 (+RM3) retrieval through Pyserini, or candidates from a run.

All Java work goes through :mod:`optical_rerank.java`; nothing here starts the JVM at import.

Language handling
-----------------
``--language`` accepts every analyzer Anserini's ``AnalyzerMap`` offers (ar bn da de es fa fi
fr hi hu id it ja ko nl no pl pt ru sv te th tr uk zh) plus ``en`` (Anserini's default English
analyzer: Porter stemming, stopwords). Many languages of low-resource CLIR have no Lucene
analyzer (Swahili, Hausa, Yoruba, Igbo, Zulu, Twi, Somali, Amharic, ...): they get the
**fallback** analyzer, Lucene's standard tokenizer + lowercasing with no stemming and no
stopword list (Anserini's ``DefaultEnglishAnalyzer`` with ``-stemmer none -keepStopwords``),
applied identically at indexing and at query time. ISO 639-3 codes (``hin``, ``swa``, ...) and
the sources' own spellings are accepted (:func:`optical_rerank.data.languages.iso639_1`). The
analyzer used is recorded in the index directory (``optical_rerank_index.json``), and the
searcher reads it back so both sides always match.

Indexes built elsewhere
-----------------------
A Lucene index built by ``pyserini.index.lucene`` or Anserini has no ``optical_rerank_index.json``;
Lucene does not record the analyzer, so :func:`index_search_language` takes it from ``--language``
(English, Anserini's default, when none is given, with a note). A language that asks for another
analyzer than the one an index records is an error naming both, never silently dropped.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import sys
import time
from importlib.metadata import version
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import java
from .data.languages import iso639_1
from .errors import ConfigError, InputFormatError
from .files import staged_dir, write_json_atomic
from .trec_io import Run, read_corpus, read_run, sort_hits
from .types import Hit, Query

try:  # tqdm comes with transformers; progress bars are optional
    from tqdm import tqdm as _tqdm
except ImportError:  # pragma: no cover
    _tqdm = None

INDEX_META = "optical_rerank_index.json"

#: Languages with a Lucene analyzer in Anserini 1.7.1 (``AnalyzerMap``) plus English.
ANALYZER_LANGUAGES = (
    "ar", "bn", "da", "de", "en", "es", "fa", "fi", "fr", "hi", "hu", "id", "it", "ja", "ko",
    "nl", "no", "pl", "pt", "ru", "sv", "te", "th", "tr", "uk", "zh",
)
#: Languages indexed with the documented fallback (standard tokenizer, lowercase, no stemming).
FALLBACK_LANGUAGES = {
    "am": "Amharic", "bem": "Bemba", "el": "Greek", "fon": "Fon", "ha": "Hausa", "ig": "Igbo",
    "rw": "Kinyarwanda", "so": "Somali", "sw": "Swahili", "tl": "Tagalog", "tw": "Twi",
    "vi": "Vietnamese", "wo": "Wolof", "xh": "Xhosa", "yo": "Yoruba", "zu": "Zulu",
    "ro": "Romanian", "ee": "Ewe", "ln": "Lingala", "lg": "Ganda", "om": "Oromo", "ti": "Tigrinya",
    "st": "Sesotho", "tn": "Setswana", "sn": "Shona", "ny": "Chichewa", "mg": "Malagasy",
    "fil": "Filipino", "ur": "Urdu", "ne": "Nepali", "mr": "Marathi", "ta": "Tamil", "ml": "Malayalam",
    "kn": "Kannada", "gu": "Gujarati", "pa": "Punjabi", "ms": "Malay", "my": "Burmese", "km": "Khmer",
    "lo": "Lao", "ka": "Georgian", "hy": "Armenian", "he": "Hebrew", "cs": "Czech", "sk": "Slovak",
    "bg": "Bulgarian", "hr": "Croatian", "sr": "Serbian", "sl": "Slovenian", "lt": "Lithuanian",
    "lv": "Latvian", "et": "Estonian", "ca": "Catalan", "eu": "Basque", "gl": "Galician",
    "af": "Afrikaans", "is": "Icelandic", "ga": "Irish", "cy": "Welsh", "kk": "Kazakh", "uz": "Uzbek",
    "az": "Azerbaijani", "mn": "Mongolian", "ps": "Pashto", "ku": "Kurdish", "si": "Sinhala",
}
@dataclass(frozen=True)
class AnalyzerChoice:
    """How a language is analysed: Anserini's ``-language`` value, stemming and stopwords."""

    code: str
    anserini_language: str
    stemming: bool
    stopwords: bool
    description: str

    def index_args(self) -> list[str]:
        """Arguments for Anserini's ``IndexCollection``."""
        args = ["-language", self.anserini_language]
        if not self.stemming:
            args += ["-stemmer", "none"]
        if not self.stopwords:
            args += ["-keepStopwords"]
        return args


def supported_languages() -> list[str]:
    """Every code ``--language`` accepts (aliases excluded)."""
    return sorted(set(ANALYZER_LANGUAGES) | set(FALLBACK_LANGUAGES))


def analyzer_for(code: str | None) -> AnalyzerChoice:
    """The analyzer for a language code in any spelling (ISO 639-1, 639-3, a source's own code).

    Codes of :data:`ANALYZER_LANGUAGES` and :data:`FALLBACK_LANGUAGES` are taken as they are;
    any other spelling is mapped to its ISO 639-1 code by
    :func:`optical_rerank.data.languages.iso639_1` (``hin`` -> ``hi``, ``swh`` -> ``sw``).
    ``None`` means English.

    Raises
    ------
    ConfigError
        For an unknown code; the message lists every supported code.
    """
    raw = (code or "en").strip()
    c = raw.lower()
    if c not in ANALYZER_LANGUAGES and c not in FALLBACK_LANGUAGES:
        c = iso639_1(c) or c
    if c == "en":
        return AnalyzerChoice("en", "en", True, True, "English (Porter stemming, stopwords)")
    if c in ANALYZER_LANGUAGES:
        return AnalyzerChoice(c, c, True, True, f"Lucene analyzer for '{c}'")
    if c in FALLBACK_LANGUAGES:
        return AnalyzerChoice(c, "en", False, False,
                              f"{FALLBACK_LANGUAGES[c]}: no Lucene analyzer; fallback = standard tokenizer, "
                              "lowercase, no stemming, no stopwords")
    raise ConfigError(
        f"unknown language code {raw!r}. Lucene analyzers: {', '.join(ANALYZER_LANGUAGES)}. "
        f"Fallback (no stemming): {', '.join(sorted(FALLBACK_LANGUAGES))}. "
        "ISO 639-3 and other spellings of these languages are accepted (hin, swa, swh_Latn, ...)."
    )


# --------------------------------------------------------------------------- indexing
@dataclass(frozen=True)
class IndexConfig:
    """What an index was built from and how; saved as ``optical_rerank_index.json`` inside it."""

    corpus: list[str]
    language: str
    anserini_language: str
    stemming: bool
    stopwords: bool
    threads: int = 2
    store_raw: bool = True
    store_docvectors: bool = True
    num_docs: int = 0
    seconds: float = 0.0
    pyserini_version: str = ""


CORPUS_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz")


def _corpus_files(corpus: str | Path) -> list[Path]:
    """The JsonCollection files of a corpus: the file itself, or a directory's ``*.jsonl``, ``*.json``
    and their gzip-compressed ``*.gz`` forms (as Anserini's JsonCollection reads them), sorted by name."""
    p = Path(corpus)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.name.endswith(CORPUS_SUFFIXES) and f.is_file())
        if not files:
            raise InputFormatError(p, None, "corpus directory holds no .jsonl, .json, .jsonl.gz or .json.gz files")
        return files
    if not p.is_file():
        raise InputFormatError(p, None, "corpus file not found")
    return [p]


def build_index(corpus: str | Path, index_dir: str | Path, language: str | None = "en", threads: int = 2,
                overwrite: bool = False) -> IndexConfig:
    """Build a Lucene index from a JsonCollection (``{"id","contents"}`` JSONL file or directory).

    The corpus is validated first (``file:line`` errors for bad JSON, missing fields, duplicate
    ids). The index is built in a temporary sibling directory and renamed into place with its
    metadata only when complete, so an interrupted build never leaves a directory that looks
    like an index. An existing complete index is reused unless ``overwrite``.

    Returns
    -------
    IndexConfig
        Saved as ``optical_rerank_index.json`` in ``index_dir``.
    """
    choice = analyzer_for(language)
    index_dir = Path(index_dir)
    files = _corpus_files(corpus)
    if index_dir.exists() or index_dir.is_symlink():
        _refuse_foreign_dir(index_dir)
        if is_complete_index(index_dir) and not overwrite:
            existing = load_index_config(index_dir)
            if existing.language != choice.code:
                raise ConfigError(
                    f"{index_dir} is an existing index built for language '{existing.language}' "
                    f"({_describe_language(existing.language)}), not '{choice.code}' ({choice.description}); "
                    "pass --overwrite to rebuild it, or choose another --index")
            return existing
        if not overwrite and any(index_dir.iterdir()):
            raise ConfigError(f"{index_dir} exists and is not a complete optical_rerank index; "
                              "pass --overwrite to replace it")
    num_docs = 0
    for f in files:  # validate before Java sees it: clear file:line errors
        for _ in read_corpus(f):
            num_docs += 1
    if num_docs == 0:
        raise InputFormatError(files[0], None, "corpus holds no documents")
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_input = Path(tempfile.mkdtemp(prefix=f".{index_dir.name}.input-", dir=index_dir.parent))
    try:
        with staged_dir(index_dir) as tmp_index:
            for i, f in enumerate(files):
                base = f.name.removesuffix(".gz")
                base = base[:-len(".json")] + ".jsonl" if base.endswith(".json") else base
                os.symlink(f.resolve(), tmp_input / f"{i:04d}-{base}{'.gz' if f.name.endswith('.gz') else ''}")
            args = ["-collection", "JsonCollection", "-generator", "DefaultLuceneDocumentGenerator",
                    "-input", str(tmp_input), "-index", str(tmp_index), "-threads", str(max(1, threads)),
                    "-storePositions", "-storeDocvectors", "-storeRaw", "-quiet", *choice.index_args()]
            start = time.time()
            java.index_collection_main(args)
            seconds = time.time() - start
            reader = java.lucene_index_reader_class()(str(tmp_index))
            indexed = int(reader.stats()["documents"])
            if indexed != num_docs:
                raise ConfigError(f"Anserini indexed {indexed} of {num_docs} documents from {corpus}; see its log")
            cfg = IndexConfig(corpus=[str(f.resolve()) for f in files], language=choice.code,
                              anserini_language=choice.anserini_language, stemming=choice.stemming,
                              stopwords=choice.stopwords, threads=threads, num_docs=num_docs,
                              seconds=round(seconds, 3), pyserini_version=version("pyserini"))
            write_json_atomic(tmp_index / INDEX_META, asdict(cfg))
        return cfg
    finally:
        shutil.rmtree(tmp_input, ignore_errors=True)


def _describe_language(code: str) -> str:
    try:
        return analyzer_for(code).description
    except ConfigError:
        return "unknown analyzer"


def is_lucene_index(index_dir: str | Path) -> bool:
    """True if ``index_dir`` is a directory holding a Lucene commit (``segments_N``), whoever built it."""
    d = Path(index_dir)
    return d.is_dir() and any(d.glob("segments_*"))


def missing_index_message(index: str | Path) -> str:
    """Why ``index`` cannot be searched when it is not a directory (a prebuilt name, a typo, a file)."""
    s = str(index)
    p = Path(s)
    if p.exists() and not p.is_dir():
        return f"index {s} is a file, not a Lucene index directory"
    build = ("python -m optical_rerank.index --input CORPUS.jsonl --index DIR --language LANG "
             "(or pass --corpus here to build it)")
    if os.sep not in s and "/" not in s and not s.startswith("."):
        return (f"index {s!r} is not a directory here; if it names a Pyserini prebuilt index: prebuilt indexes "
                f"need a network; build one with {build}")
    return f"index {s} does not exist; build it with {build}"


def index_search_language(index: str | Path, language: str | None) -> tuple[str, str | None]:
    """The analyzer language to search ``index`` with, and a note to print (or ``None``).

    - An index built by :func:`build_index`: its recorded language. A ``language`` that asks for
      a different analyzer (Anserini language, stemming or stopwords) is a :class:`ConfigError`
      naming both; one with the same analyzer (``sw`` on a ``ha`` index: both the fallback) is accepted.
    - Any other Lucene index (``pyserini.index.lucene``, Anserini): ``language``, else English
      (Anserini's default analyzer) with a note saying so.

    Raises
    ------
    ConfigError
        When ``index`` is not a Lucene index (missing, a prebuilt name, half-written), or on a mismatch.
    """
    d = Path(index)
    if not d.is_dir():
        raise ConfigError(missing_index_message(index))
    if not is_lucene_index(d):
        raise ConfigError(f"{d} is not a Lucene index (no segments_N file): missing or half-written")
    if not (d / INDEX_META).is_file():
        if language is not None:
            return analyzer_for(language).code, None
        return "en", (f"{d} has no {INDEX_META} (built by Pyserini or Anserini?): searching it with English, "
                      "Anserini's default analyzer; pass --language if it was indexed with another")
    meta = load_index_config(d)
    if language is None:
        return meta.language, None
    want = analyzer_for(language)
    if (want.anserini_language, want.stemming, want.stopwords) != (meta.anserini_language, meta.stemming,
                                                                   meta.stopwords):
        raise ConfigError(
            f"--language {language} asks for the analyzer of '{want.code}' ({want.description}), but {d} was "
            f"built for language '{meta.language}' ({_describe_language(meta.language)}); drop --language to "
            "search with the index's analyzer, or build an index for that language")
    return want.code, None


@dataclass(frozen=True)
class LanguageCheck:
    """How the analyzer of a search was checked against an index (recorded in ``<run>.pipeline.json``).

    ``status``: ``"recorded"`` (an index of ours: its own record), ``"verified"`` (a foreign index
    whose stored documents the analyzer reproduces), ``"unverified"`` (a foreign index without
    stored text).
    """

    language: str
    status: str
    detail: str = ""


def _analyzer_key(choice: AnalyzerChoice) -> tuple[str, bool, bool]:
    return choice.anserini_language, choice.stemming, choice.stopwords


def _candidate_analyzers() -> dict[tuple[str, bool, bool], AnalyzerChoice]:
    """One :class:`AnalyzerChoice` per distinct analyzer (English first, then the fallback, then the others)."""
    out: dict[tuple[str, bool, bool], AnalyzerChoice] = {}
    for code in ("en", "sw", *ANALYZER_LANGUAGES):
        choice = analyzer_for(code)
        out.setdefault(_analyzer_key(choice), choice)
    return out


def check_index_language(index: str | Path, language: str | None, sample: int = 40,
                         tolerance: float = 0.02) -> LanguageCheck:
    """Check that ``language``'s analyzer (default English) is the one an index not built by us was built with.

    Up to ``sample`` stored documents (spread over the index) are analysed with every candidate
    analyzer; an analyzer's score is the share of the distinct terms it produces that the index
    holds. ``language`` passes when its score is within ``tolerance`` of the best. Without stored
    text the check cannot be made: status ``"unverified"``.

    Raises
    ------
    ConfigError
        An unknown ``language``, or a mismatch (naming the analyzer that matches).
    """
    want = analyzer_for(language)
    from pyserini.analysis import Analyzer, get_lucene_analyzer  # heavy (needs the JVM up)

    reader = java.lucene_index_reader_class()(str(index))
    n_docs = int(reader.stats()["documents"])
    texts = []
    for i in sorted({int(k * n_docs / sample) for k in range(min(sample, n_docs))}):
        try:
            docid = reader.convert_internal_docid_to_collection_docid(i)
            doc = reader.doc(docid)
        except Exception:  # noqa: BLE001  (a deleted or unreadable document: skip it)
            continue
        text = doc_text_from_raw(doc.raw(), doc.contents()) if doc is not None else None
        if text:
            texts.append(text[:2000])
    if not texts:
        return LanguageCheck(want.code, "unverified", f"{index} stores no document text: the analyzer of "
                                                      f"'{want.code}' could not be checked against it")
    present: dict[str, bool] = {}
    scores: dict[tuple[str, bool, bool], float] = {}
    candidates = _candidate_analyzers()
    candidates.setdefault(_analyzer_key(want), want)
    for key, choice in candidates.items():
        try:
            analyzer = Analyzer(get_lucene_analyzer(language=choice.anserini_language, stemming=choice.stemming,
                                                    stopwords=choice.stopwords))
            terms = {t for text in texts for t in analyzer.analyze(text)}
        except Exception:  # noqa: BLE001  (an analyzer this Java cannot run, e.g. Thai: no candidate)
            if key == _analyzer_key(want):
                raise ConfigError(f"--language {language}: the analyzer of '{want.code}' cannot run here "
                                  f"(this Java lacks what it needs)") from None
            continue
        if not terms:
            continue
        for t in terms - present.keys():
            present[t] = reader.get_term_counts(t, analyzer=None)[0] > 0
        scores[key] = sum(present[t] for t in terms) / len(terms)
    best_key = max(scores, key=lambda k: scores[k])  # insertion order breaks ties: English, fallback, others
    mine = scores.get(_analyzer_key(want), 0.0)
    detail = (f"{mine:.0%} of the terms the analyzer of '{want.code}' makes of {len(texts)} stored documents are "
              f"in the index")
    if mine >= scores[best_key] - tolerance:
        return LanguageCheck(want.code, "verified", detail)
    best = candidates[best_key]
    asked = f"--language {language}" if language else "English (the default, no --language)"
    raise ConfigError(f"{asked} does not match {index}: {detail}, against {scores[best_key]:.0%} with the analyzer "
                      f"of '{best.code}' ({best.description}); pass --language {best.code}")


def remove_duplicate_hits(hits: Sequence[Hit]) -> list[Hit]:
    """Keep the first hit of each docid (as Pyserini's ``--remove-duplicates``), ranks renumbered from 1."""
    seen: set[str] = set()
    out = []
    for h in hits:
        docid = h.docid.strip()
        if docid in seen:
            continue
        seen.add(docid)
        out.append(Hit(h.qid, h.docid, h.score, len(out) + 1, h.text))
    return out


def max_passage_hits(hits: Sequence[Hit], delimiter: str = "#", k: int = 100) -> list[Hit]:
    """Pyserini's ``--max-passage``: each document (the docid before ``delimiter``) once, at its best
    passage's score and place, ranks renumbered, the first ``k`` documents kept."""
    seen: set[str] = set()
    out: list[Hit] = []
    for h in hits:
        docid = h.docid.split(delimiter)[0] if delimiter else h.docid.strip()
        if docid in seen:
            continue
        seen.add(docid)
        out.append(Hit(h.qid, docid, h.score, len(out) + 1, h.text))
        if len(out) >= k:
            break
    return out


def _refuse_foreign_dir(index_dir: Path) -> None:
    """Refuse to build over ``index_dir`` unless it is empty or an index (ours or any Lucene index).

    Replacing is only ever done to an index (with ``overwrite``); a file, or a directory of files
    that is not an index, belongs to the user and is never removed, ``overwrite`` or not.
    """
    if not index_dir.is_dir():
        raise ConfigError(f"{index_dir} exists and is not a directory; refusing to replace it: choose another index "
                          "directory")
    if not any(index_dir.iterdir()):
        return
    if (index_dir / INDEX_META).is_file() or any(index_dir.glob("segments_*")):
        return
    raise ConfigError(f"{index_dir} is a non-empty directory that is not an index (no {INDEX_META}, no Lucene "
                      "segments_N file); refusing to replace it, even with --overwrite: choose another index "
                      "directory, or move its files away yourself")


def is_complete_index(index_dir: str | Path) -> bool:
    """True if ``index_dir`` holds our metadata and a Lucene commit (``segments_N``)."""
    d = Path(index_dir)
    return (d / INDEX_META).is_file() and any(d.glob("segments_*"))


def load_index_config(index_dir: str | Path) -> IndexConfig:
    """Read the metadata of an index built by :func:`build_index` (clear error if missing/half-written)."""
    d = Path(index_dir)
    if not d.is_dir():
        raise ConfigError(f"index directory {d} does not exist; build it with `python -m optical_rerank.index`")
    if not any(d.glob("segments_*")):
        raise ConfigError(f"{d} is not a Lucene index (no segments_N file): missing or half-written; rebuild it")
    meta = d / INDEX_META
    if not meta.is_file():
        raise ConfigError(f"{d} is a Lucene index not built by optical_rerank (no {INDEX_META}); "
                          "pass --language so the query analyzer matches the index")
    try:
        return IndexConfig(**json.loads(meta.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError) as exc:
        raise InputFormatError(meta, None, f"unreadable index metadata: {exc}") from None


# --------------------------------------------------------------------------- retrieval
@dataclass(frozen=True)
class Bm25Config:
    """BM25 (+ optional RM3) settings; saved next to every run."""

    index: str
    k1: float = 0.9
    b: float = 0.4
    language: str | None = None
    k: int = 100
    threads: int = 2
    rm3: bool = False
    rm3_fb_terms: int = 10
    rm3_fb_docs: int = 10
    rm3_original_query_weight: float = 0.5
    rm3_filter_terms: bool = True
    extra: dict = field(default_factory=dict)


def doc_text_from_raw(raw: str | None, contents: str | None = None) -> str | None:
    """Document text from a stored raw record: JsonCollection ``title\ncontents`` when JSON, else ``contents``."""
    if raw:
        try:
            obj = json.loads(raw)
        except (json.JSONDecodeError, TypeError):
            return raw
        if isinstance(obj, dict):
            for key in ("contents", "text"):
                if isinstance(obj.get(key), str):
                    title = obj.get("title")
                    return f"{title}\n{obj[key]}" if isinstance(title, str) and title else obj[key]
        return raw
    return contents if isinstance(contents, str) and contents else None


def hits_from_searcher_results(qid: str, results: Iterable, with_text: bool = True) -> list[Hit]:
    """Convert Pyserini ``LuceneSearcher`` hits to :class:`Hit`, sorted by ``(-score, docid)``, ranks from 1.

    Duck-typed: each result needs ``.docid`` and ``.score``; the text comes from ``.raw``, else
    the ``raw``/``contents`` stored fields of ``.lucene_document``, else ``.contents``; ``None``
    when none is available. A non-finite score is an error naming the query and document.
    """
    out = []
    for r in results:
        text = None
        if with_text:
            text = doc_text_from_raw(getattr(r, "raw", None))
            doc = getattr(r, "lucene_document", None)
            if text is None and doc is not None:
                text = doc_text_from_raw(doc.get("raw"), doc.get("contents"))
            if text is None:
                text = doc_text_from_raw(None, getattr(r, "contents", None))
        score = float(r.score)
        if not math.isfinite(score):
            raise ConfigError(f"query {qid!r}: document {r.docid!r} has a non-finite score {score}")
        out.append(Hit(qid, str(r.docid), score, 0, None if text is None else str(text)))
    return sort_hits(out)


class Bm25Retriever:
    """BM25 over a Lucene index through Pyserini's ``LuceneSearcher``.

    Parameters
    ----------
    index : index directory (built by :func:`build_index`, or any Lucene index with ``language`` given).
    k1, b : BM25 parameters (explicit; Anserini's defaults are 0.9 / 0.4).
    language : analyzer for queries; default: the one recorded in the index.
    rm3 : enable RM3 (``rm3_fb_terms``, ``rm3_fb_docs``, ``rm3_original_query_weight``: Pyserini's
        defaults 10, 10, 0.5).
    rm3_filter_terms : as Pyserini's ``--rm3`` (``True``, the default): expansion terms are only
        ``[a-z0-9]`` terms; ``False`` keeps every term (non-Latin scripts included).
    """

    def __init__(self, index: str | Path, k1: float = 0.9, b: float = 0.4, language: str | None = None,
                 rm3: bool = False, rm3_fb_terms: int = 10, rm3_fb_docs: int = 10,
                 rm3_original_query_weight: float = 0.5, rm3_filter_terms: bool = True):
        if k1 <= 0 or not (0.0 <= b <= 1.0):
            raise ConfigError(f"BM25 needs k1 > 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        self.index = str(index)
        if language is None:
            meta = load_index_config(index)
            choice = AnalyzerChoice(meta.language, meta.anserini_language, meta.stemming, meta.stopwords, "")
        else:
            if not Path(index).is_dir() or not any(Path(index).glob("segments_*")):
                raise ConfigError(f"{index} is not a Lucene index (no segments_N file): missing or half-written")
            choice = analyzer_for(language)
        self.choice = choice
        self.config = Bm25Config(index=self.index, k1=k1, b=b, language=choice.code, rm3=rm3,
                                 rm3_fb_terms=rm3_fb_terms, rm3_fb_docs=rm3_fb_docs,
                                 rm3_original_query_weight=rm3_original_query_weight,
                                 rm3_filter_terms=bool(rm3_filter_terms))
        searcher_cls = java.lucene_searcher_class()
        self.searcher = searcher_cls(self.index)
        if choice.stemming and choice.stopwords and choice.anserini_language != "en":
            self.searcher.set_language(choice.anserini_language)
        elif not (choice.stemming and choice.stopwords):
            from pyserini.analysis import get_lucene_analyzer  # heavy (and needs the JVM up)

            self.searcher.set_analyzer(get_lucene_analyzer(language="en", stemming=choice.stemming,
                                                           stopwords=choice.stopwords))
        self.searcher.set_bm25(float(k1), float(b))
        if rm3:
            self.searcher.set_rm3(rm3_fb_terms, rm3_fb_docs, float(rm3_original_query_weight),
                                 filter_terms=bool(rm3_filter_terms))

    def doc_text(self, docid: str) -> str | None:
        """Stored text of a document (title + contents), or ``None`` if absent."""
        doc = self.searcher.doc(docid)
        if doc is None:
            return None
        return doc_text_from_raw(doc.raw(), doc.contents())

    def retrieve(self, queries: Sequence[Query], k: int = 100, threads: int = 2, with_text: bool = True,
                 progress: bool = False) -> Run:
        """BM25 top-``k`` for every query, as ``{qid: [Hit]}`` sorted by ``(-score, docid)``.

        Queries whose analysed text is empty (only stopwords/punctuation) get an empty list.
        ``progress`` shows a tqdm bar (queries/s, ETA) on stderr; queries are then searched in
        chunks, which gives the same hits (each query is searched on its own).
        """
        if k < 1:
            raise ConfigError(f"k must be >= 1, got {k}")
        qids = [q.qid for q in queries]
        texts = [" ".join(q.text.split()) for q in queries]
        bar = None
        if progress and _tqdm is not None and queries:
            bar = _tqdm(total=len(queries), desc="bm25", unit="q", file=sys.stderr, dynamic_ncols=True)
        chunk = max(1, threads) * 32 if bar is not None else max(1, len(queries))
        run: Run = {}
        try:
            for start in range(0, len(queries), chunk):
                cq, ct = qids[start:start + chunk], texts[start:start + chunk]
                if threads > 1 and len(cq) > 1:
                    results = self.searcher.batch_search(ct, cq, k=k, threads=threads)
                else:
                    results = {qid: self.searcher.search(t, k=k) for qid, t in zip(cq, ct)}
                for qid in cq:
                    hits = results.get(qid, [])
                    run[qid] = hits_from_searcher_results(qid, hits, with_text=False)
                    if with_text:
                        run[qid] = [Hit(h.qid, h.docid, h.score, h.rank, self.doc_text(h.docid)) for h in run[qid]]
                if bar is not None:
                    bar.update(len(cq))
        finally:
            if bar is not None:
                bar.close()
        return {qid: run[qid] for qid in qids}


def candidates_from_run(run_path: str | Path, queries: Sequence[Query], depth: int,
                        texts: Mapping[str, str] | None = None, retriever: Bm25Retriever | None = None) -> Run:
    """Candidates from an existing TREC run (any first stage), cut at ``depth`` per query.

    Document text is taken from ``texts`` (docid → text, e.g. a corpus) or from an index
    through ``retriever``. A candidate whose text cannot be found is an error naming the docid.
    """
    run = read_run(run_path)
    out: Run = {}
    for q in queries:
        hits = run.get(q.qid, [])[:depth]
        filled = []
        for h in hits:
            text = texts.get(h.docid) if texts is not None else None
            if text is None and retriever is not None:
                text = retriever.doc_text(h.docid)
            if text is None and (texts is not None or retriever is not None):
                raise ConfigError(f"{run_path}: document {h.docid!r} (query {q.qid}) is in neither the corpus nor the index")
            filled.append(Hit(h.qid, h.docid, h.score, h.rank, text))
        out[q.qid] = filled
    return out


def load_corpus_texts(path: str | Path) -> dict[str, str]:
    """``{docid: text}`` from a JsonCollection file or directory (title + contents)."""
    return {d.docid: (f"{d.title}\n{d.contents}" if d.title else d.contents)
            for f in _corpus_files(path) for d in read_corpus(f)}

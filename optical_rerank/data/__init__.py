"""Pinned data sources, Pyserini-ready evaluation sets, bitext and the leakage guard.

Public API
----------
Sources and files
    :mod:`.registry` — :class:`DataFile` (repo, commit, path; ``.url``, ``.sha256``),
    :class:`Source` (licence, citation), :data:`SOURCES`, per-source file functions
    (``afriqa_queries``, ``afriqa_gold``, ``xquad_r_file``, ``ntrex_file``, ``sib200_file``,
    ``tatoeba_files``, ``ciral_topics``, ``trec_dl_files``, ...).
    :mod:`.fetch` — :func:`fetch` (mirror → cache → download, sha256-checked),
    :class:`Fetcher`, :class:`MissingDataError`, :func:`file_status`.
    :mod:`.languages` — :func:`resolve_language`, :data:`LANGUAGES` (every language of every
    source, with each source's code).
Sets
    :func:`prepare` (one of :data:`SET_NAMES`: ``afriqa``, ``xquad-r``, ``ntrex-doc``, ``dl19``,
    ``dl20``, ``bitext``, ...; the builders are listed in :data:`.prepare.BUILDERS`);
    :mod:`.card` — :class:`PreparedSet` and the ``card.json`` every set carries;
    :mod:`.afriqa` — the file names of a prepared AfriQA set (:func:`~.afriqa.afriqa_file`,
    :func:`~.afriqa.afriqa_corpus`, :func:`~.afriqa.afriqa_languages`, :func:`~.afriqa.afriqa_topic_files`).
Languages
    :mod:`.languages` also maps any spelling to ISO 639-1 (:func:`~.languages.iso639_1`, used by the
    first stage's analyzers) and picks a source's codes (:func:`~.languages.pick_languages`).
Bitext and leakage
    :class:`BitextPair`, :func:`read_bitext`, :func:`write_bitext`, :func:`build_bitext`;
    :func:`normalize_text`, :class:`LeakageGuard`, :func:`filter_leakage`.

Command line: ``python -m optical_rerank.data {list,prepare} ...`` (see :mod:`.commands`).
Importing this package reads no data and starts nothing.
"""
from __future__ import annotations

from .bitext import BitextPair, build_bitext, read_bitext, write_bitext
from .fetch import FetchedFile, Fetcher, MissingDataError, fetch, file_status
from .languages import LANGUAGES, Language, resolve_language
from .leakage import LeakageGuard, LeakageReport, filter_leakage, normalize_text
from .card import PreparedSet
from .prepare import SET_NAMES, prepare
from .registry import SOURCES, DataFile, Source

__all__ = [
    "BitextPair", "build_bitext", "read_bitext", "write_bitext",
    "Fetcher", "FetchedFile", "MissingDataError", "fetch", "file_status",
    "LANGUAGES", "Language", "resolve_language",
    "LeakageGuard", "LeakageReport", "filter_leakage", "normalize_text",
    "SET_NAMES", "PreparedSet", "prepare",
    "SOURCES", "DataFile", "Source",
]

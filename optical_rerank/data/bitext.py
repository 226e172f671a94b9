"""Bitext (language L ↔ English) for distillation: build, deduplicate, leakage-filter, read.

Sources, in priority order (the first occurrence of a duplicate pair is kept):

``afriqa``  AfriQA questions and their human English translations (``train`` by default;
            ``dev`` on request; ``test`` never). English-pivot languages only (fon and wol are
            translated into French).
``ciral``   CIRAL topics (``topics.ciral-v1.0-<l>-<set>-native.tsv``) joined by query id with their
            English versions (``test-a``, ``test-b``; ``dev`` has no English upstream).
``ntrex``   NTREX-128: the 1,997 WMT19 news sentences, line-aligned with the English source.
``flores``  FLORES-200 sentences via SIB-200 (``train``/``dev``/``test`` of ``<lang_Script>``,
            English from ``eng_Latn`` joined on ``index_id``; 1,004 sentences).
``tatoeba`` LASER's Tatoeba test pairs (``tatoeba.<l>-eng.{<l>,eng}``, line-aligned).

A source that does not have the language upstream is skipped with a note in the card; a source
that has it but whose file is unavailable is a :class:`~.fetch.MissingDataError` naming the URL
(or, with ``skip_missing``, a skip listed in the card).

Cleaning and filtering: whitespace is collapsed (tabs and newlines become spaces); a pair with
an empty side (after :func:`~.leakage.normalize_text`) is dropped; duplicates are pairs equal
after normalisation of both sides; then the leakage guard drops every pair whose foreign or
English side equals an evaluation query. The guard always holds the AfriQA **test** questions
(native and English) of **every** AfriQA language, the AfriQA **dev** questions unless dev is
used for training (the split policy: dev is for choices), and the queries of every ``exclude_topics``
file.

Output (``prepare bitext --lang L --out DIR``)::

    DIR/bitext.<key>.tsv    x<TAB>en<TAB>source, no header, UTF-8
    DIR/card.json
"""
from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, InputFormatError
from ..files import atomic_write
from ..trec_io import iter_lines
from .afriqa import read_afriqa_queries
from .card import PreparedSet, make_card, split_list, staged_output, write_card
from .fetch import Fetcher, read_text_lines
from .languages import AFRIQA_LANGUAGES, Language, resolve_language
from .leakage import LeakageGuard, LeakageReport, normalize_text
from .registry import (
    AFRIQA,
    AFRIQA_SPLITS,
    CIRAL,
    CIRAL_TRANSLATED_SETS,
    NTREX,
    SIB200,
    SIB200_SPLITS,
    TATOEBA,
    afriqa_queries,
    ciral_topics,
    ntrex_file,
    ntrex_source_file,
    sib200_file,
    tatoeba_files,
)

BITEXT_SOURCES = ("afriqa", "ciral", "ntrex", "flores", "tatoeba")
_SOURCE_OF = {"afriqa": AFRIQA, "ciral": CIRAL, "ntrex": NTREX, "flores": SIB200, "tatoeba": TATOEBA}
_SOURCE_KEY = {"afriqa": "afriqa", "ciral": "ciral", "ntrex": "ntrex", "flores": "sib200", "tatoeba": "tatoeba"}


@dataclass(frozen=True)
class BitextPair:
    """One translation pair: ``x`` in the foreign language, ``en`` its English side, and where
    it came from (``source``: ``afriqa``, ``ciral``, ``ntrex``, ``flores``, ``tatoeba``, ...)."""

    x: str
    en: str
    source: str


# --------------------------------------------------------------------------- TSV I/O
def read_bitext(path: str | Path) -> list[BitextPair]:
    """Read an ``x<TAB>en<TAB>source`` file (blank lines skipped).

    A wrong column count or an empty ``x``, ``en`` or ``source`` is an
    :class:`~optical_rerank.errors.InputFormatError` naming ``file:line``.
    """
    path = Path(path)
    out: list[BitextPair] = []
    for lineno, line in iter_lines(path):
        parts = line.split("\t")
        if len(parts) != 3:
            raise InputFormatError(path, lineno, f"expected 3 tab-separated columns (x, en, source), "
                                                 f"found {len(parts)}")
        x, en, source = (p.strip() for p in parts)
        if not x:
            raise InputFormatError(path, lineno, "empty foreign side (column 1)")
        if not en:
            raise InputFormatError(path, lineno, "empty English side (column 2)")
        if not source:
            raise InputFormatError(path, lineno, "empty source (column 3)")
        out.append(BitextPair(x, en, source))
    return out


def write_bitext(path: str | Path, pairs: Iterable[BitextPair]) -> int:
    """Write pairs as ``x<TAB>en<TAB>source`` atomically (whitespace collapsed). Returns the count."""
    n = 0
    with atomic_write(path) as fh:
        for p in pairs:
            x, en, src = (" ".join(v.split()) for v in (p.x, p.en, p.source))
            if not x or not en or not src:
                raise ValueError(f"cannot write a pair with an empty field: {p!r}")
            fh.write(f"{x}\t{en}\t{src}\n")
            n += 1
    return n


# --------------------------------------------------------------------------- cleaning
def _collapse(text: object) -> str:
    return " ".join(text.split()) if isinstance(text, str) else ""


def clean_pairs(pairs: Iterable[BitextPair]) -> tuple[list[BitextPair], int]:
    """Collapse whitespace; drop pairs with a side that is empty after normalisation."""
    kept, dropped = [], 0
    for p in pairs:
        x, en = _collapse(p.x), _collapse(p.en)
        if normalize_text(x) and normalize_text(en):
            kept.append(BitextPair(x, en, p.source))
        else:
            dropped += 1
    return kept, dropped


def dedup_pairs(pairs: Iterable[BitextPair]) -> tuple[list[BitextPair], Counter[str]]:
    """Keep the first of pairs equal after :func:`normalize_text` of both sides.

    Returns ``(kept, removed_by_source)``.
    """
    seen: set[tuple[str, str]] = set()
    kept: list[BitextPair] = []
    removed: Counter[str] = Counter()
    for p in pairs:
        key = (normalize_text(p.x), normalize_text(p.en))
        if key in seen:
            removed[p.source] += 1
            continue
        seen.add(key)
        kept.append(p)
    return kept, removed


# --------------------------------------------------------------------------- source loaders
def _aligned_pairs(xs_path: Path, en_path: Path, source: str, x_url: str, en_url: str) -> list[BitextPair]:
    xs, ens = read_text_lines(xs_path), read_text_lines(en_path)
    if len(xs) != len(ens):
        raise InputFormatError(xs_path, None, f"{len(xs)} lines but its English side {en_url} has "
                                              f"{len(ens)}: the files are not line-aligned ({x_url})")
    return [BitextPair(x, e, source) for x, e in zip(xs, ens, strict=True)]


def ntrex_pairs(code: str, fetcher: Fetcher) -> list[BitextPair] | None:
    """NTREX-128 ``code`` ↔ English source (``None`` when skipped as missing)."""
    xf, ef = ntrex_file(code), ntrex_source_file()
    xp = fetcher.get_optional(xf, f"NTREX-128 {code}")
    ep = fetcher.get_optional(ef, "NTREX-128 English source") if xp is not None else None
    if xp is None or ep is None:
        return None
    return _aligned_pairs(xp, ep, "ntrex", xf.url, ef.url)


def read_sib200(path: Path) -> dict[str, str]:
    """``{index_id: text}`` of a SIB-200 TSV (header ``index_id category text``; CSV quoting)."""
    out: dict[str, str] = {}
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:1]] != ["index_id"] or "text" not in header:
            raise InputFormatError(path, 1, f"expected a header with index_id and text, found {header!r}")
        col = header.index("text")
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise InputFormatError(path, reader.line_num, f"expected {len(header)} columns, found {len(row)}")
            if row[0] in out:
                raise InputFormatError(path, reader.line_num, f"duplicate index_id {row[0]!r}")
            out[row[0]] = row[col]
    return out


def flores_pairs(code: str, fetcher: Fetcher) -> list[BitextPair] | None:
    """FLORES-200 sentences of SIB-200 ``code`` ↔ ``eng_Latn``, joined on ``index_id``."""
    pairs: list[BitextPair] = []
    for split in SIB200_SPLITS:
        xf, ef = sib200_file(code, split), sib200_file("eng_Latn", split)
        xp = fetcher.get_optional(xf, f"SIB-200 {code} {split}")
        ep = fetcher.get_optional(ef, f"SIB-200 eng_Latn {split}") if xp is not None else None
        if xp is None or ep is None:
            return None
        xs, ens = read_sib200(xp), read_sib200(ep)
        if xs.keys() != ens.keys():
            raise InputFormatError(xp, None, f"index_ids differ from {ef.url} "
                                             f"({len(xs.keys() ^ ens.keys())} not shared)")
        pairs += [BitextPair(xs[i], ens[i], "flores") for i in xs]
    return pairs


def tatoeba_pairs(code: str, fetcher: Fetcher) -> list[BitextPair] | None:
    """Tatoeba (LASER) ``code`` ↔ English, line-aligned."""
    xf, ef = tatoeba_files(code)
    xp = fetcher.get_optional(xf, f"Tatoeba {code}")
    ep = fetcher.get_optional(ef, f"Tatoeba {code} English side") if xp is not None else None
    if xp is None or ep is None:
        return None
    return _aligned_pairs(xp, ep, "tatoeba", xf.url, ef.url)


def afriqa_pairs(code: str, splits: Sequence[str], fetcher: Fetcher) -> list[BitextPair] | None:
    """AfriQA questions ↔ their human English translations for ``splits`` (never ``test``)."""
    if "test" in splits:
        raise ConfigError("AfriQA test questions are evaluation data and never go into bitext")
    pairs: list[BitextPair] = []
    for split in splits:
        f = afriqa_queries(code, split)
        path = fetcher.get_optional(f, f"AfriQA {code} {split} queries")
        if path is None:
            return None
        for row in read_afriqa_queries(path).values():
            pairs.append(BitextPair(_collapse(row.get("question")),
                                    _collapse(row.get("translated_question")), "afriqa"))
    return pairs


def read_ciral_topics(path: Path) -> tuple[dict[str, str], set[str]]:
    """``({qid: text}, conflicting_qids)`` of a CIRAL topics TSV.

    Upstream files are not strictly clean (``sw test-b`` native repeats qid 237 with two
    different questions): a qid listed twice with different texts is reported as conflicting and
    left out; a field wrapped in double quotes is unquoted.
    """
    out: dict[str, str] = {}
    conflicts: set[str] = set()
    for lineno, line in iter_lines(path):
        parts = line.split("\t")
        if len(parts) != 2:
            raise InputFormatError(path, lineno, f"expected 2 tab-separated columns (qid, text), found {len(parts)}")
        qid, text = parts[0].strip(), parts[1].strip()
        if len(text) >= 2 and text[0] == text[-1] == '"':
            text = text[1:-1].replace('""', '"').strip()
        if qid in out and out[qid] != text:
            conflicts.add(qid)
        out.setdefault(qid, text)
    for qid in conflicts:
        out.pop(qid, None)
    return out, conflicts


def ciral_pairs(code: str, sets: Sequence[str], fetcher: Fetcher,
                stats: dict[str, int]) -> list[BitextPair] | None:
    """CIRAL native topics ↔ English topics of ``sets``, joined on query id."""
    pairs: list[BitextPair] = []
    for set_name in sets:
        nf, ef = ciral_topics(code, set_name, True), ciral_topics(code, set_name, False)
        np_ = fetcher.get_optional(nf, f"CIRAL {code} {set_name} native topics")
        ep = fetcher.get_optional(ef, f"CIRAL {code} {set_name} English topics") if np_ is not None else None
        if np_ is None or ep is None:
            return None
        native, n_conf = read_ciral_topics(np_)
        english, e_conf = read_ciral_topics(ep)
        stats["conflicting_qids"] = stats.get("conflicting_qids", 0) + len(n_conf | e_conf)
        stats["unpaired_qids"] = stats.get("unpaired_qids", 0) + len(
            (native.keys() ^ english.keys()) - n_conf - e_conf)
        pairs += [BitextPair(native[q], english[q], "ciral") for q in native if q in english]
    return pairs


def afriqa_guard_texts(splits: Sequence[str], fetcher: Fetcher) -> tuple[list[str], list[str]]:
    """Native and translated questions of ``splits`` for **every** AfriQA language.

    Returns ``(texts, missing_urls)``; a missing file raises unless the fetcher skips missing
    files, in which case its URL is returned in ``missing_urls``.
    """
    texts: list[str] = []
    missing: list[str] = []
    for lang in AFRIQA_LANGUAGES:
        for split in splits:
            f = afriqa_queries(lang, split)
            path = fetcher.get_optional(f, f"AfriQA {lang} {split} queries (leakage guard)")
            if path is None:
                missing.append(f.url)
                continue
            for row in read_afriqa_queries(path).values():
                texts += [t for t in (_collapse(row.get("question")), _collapse(row.get("translated_question"))) if t]
    return texts, missing


# --------------------------------------------------------------------------- build
@dataclass(frozen=True)
class BitextBuild:
    """A built bitext: the final pairs and everything the card reports."""

    language: Language
    pairs: list[BitextPair]
    per_source: Mapping[str, Mapping[str, object]]
    leakage: LeakageReport
    guard_missing: tuple[str, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)


def _resolve_bitext_language(lang: str) -> Language:
    language = resolve_language(lang)
    if language.key == "eng" or language.key.startswith("eng-"):
        raise ConfigError("bitext pairs a language with English: choose a non-English --lang")
    return language


def build_bitext(lang: str, *, sources: Iterable[str] | None = None,
                 exclude_topics: Iterable[str | Path] = (), afriqa_splits: Sequence[str] = ("train",),
                 ciral_sets: Sequence[str] = CIRAL_TRANSLATED_SETS, fetcher: Fetcher | None = None,
                 skip_missing: bool = False) -> BitextBuild:
    """Build the deduplicated, leakage-filtered bitext of ``lang`` (see the module docstring).

    Parameters
    ----------
    lang : the language (ISO 639-3 or any source's code; mapped per source).
    sources : subset of :data:`BITEXT_SOURCES` (default all).
    exclude_topics : evaluation ``qid<TAB>text`` topics files whose queries must not appear.
    afriqa_splits : AfriQA splits used as training pairs (``train`` and/or ``dev``; never ``test``).
    ciral_sets : CIRAL sets used (``test-a``, ``test-b``).
    fetcher : file resolver to use (its ``skip_missing`` wins); a new one when ``None``.
    skip_missing : skip and report unavailable files instead of failing.
    """
    language = _resolve_bitext_language(lang)
    fetcher = fetcher or Fetcher(skip_missing=skip_missing)
    chosen = list(BITEXT_SOURCES) if sources is None else list(sources)
    for s in chosen:
        if s not in BITEXT_SOURCES:
            raise ConfigError(f"unknown bitext source {s!r}; choose from {', '.join(BITEXT_SOURCES)}")
    for s in afriqa_splits:
        if s not in AFRIQA_SPLITS:
            raise ConfigError(f"AfriQA has no split {s!r}")
        if s == "test":
            raise ConfigError("AfriQA test questions are evaluation data and never go into bitext")
    for s in ciral_sets:
        if s not in CIRAL_TRANSLATED_SETS:
            raise ConfigError(f"CIRAL set {s!r} has no English topics upstream; use {', '.join(CIRAL_TRANSLATED_SETS)}")

    per_source: dict[str, dict[str, object]] = {}
    notes: list[str] = []
    raw: list[BitextPair] = []
    for name in BITEXT_SOURCES:
        if name not in chosen:
            continue
        code = language.code(_SOURCE_KEY[name])
        info: dict[str, object] = {"code": code}
        per_source[name] = info
        if code is None:
            info["status"] = "language not in source"
            notes.append(f"{name}: {_SOURCE_OF[name].title.split(':')[0]} has no {language.key} upstream; skipped.")
            continue
        if name == "afriqa" and AFRIQA_LANGUAGES[code][1] != "en":
            info["status"] = "pivot is French, not English"
            notes.append(f"afriqa: {code} questions are translated into French, not English; skipped.")
            continue
        if name == "ntrex":
            got = ntrex_pairs(code, fetcher)
        elif name == "flores":
            got = flores_pairs(code, fetcher)
        elif name == "tatoeba":
            got = tatoeba_pairs(code, fetcher)
        elif name == "afriqa":
            info["splits"] = list(afriqa_splits)
            got = afriqa_pairs(code, afriqa_splits, fetcher)
        else:
            info["sets"] = list(ciral_sets)
            got = ciral_pairs(code, ciral_sets, fetcher, info)  # type: ignore[arg-type]
        if got is None:
            info["status"] = "skipped: file not available (--skip-missing)"
            continue
        cleaned, empty = clean_pairs(got)
        info.update({"status": "used", "pairs_read": len(got), "dropped_empty": empty,
                     "identical_sides": sum(1 for p in cleaned if normalize_text(p.x) == normalize_text(p.en))})
        raw += cleaned

    deduped, removed = dedup_pairs(raw)
    for name, count in removed.items():
        per_source[name]["dropped_duplicate"] = count

    guard = LeakageGuard()
    guard_splits = ["test"] + (["dev"] if "dev" not in afriqa_splits else [])
    texts, missing = afriqa_guard_texts(guard_splits, fetcher)
    guard.add_texts(texts, origin=f"AfriQA {'+'.join(guard_splits)} questions, all languages")
    for path in exclude_topics:
        guard.add_topics_file(path)
    kept, report = guard.filter(deduped)
    for name, count in report.dropped_by_source.items():
        per_source[name]["dropped_leakage"] = count
    final = Counter(p.source for p in kept)
    for name, info in per_source.items():
        if info.get("status") == "used":
            info["pairs_kept"] = final.get(name, 0)
    if missing:
        notes.append(f"LEAKAGE GUARD INCOMPLETE: {len(missing)} AfriQA question file(s) were not available "
                     "(--skip-missing) and could not be guarded: see leakage.guard_missing.")
    return BitextBuild(language, kept, per_source, report, tuple(missing), tuple(notes))


def prepare_bitext(out_dir: str | Path, *, lang: str, sources: Iterable[str] | str | None = None,
                   exclude_topics: Iterable[str | Path] = (), afriqa_splits: Iterable[str] | str = ("train",),
                   ciral_sets: Iterable[str] | str = CIRAL_TRANSLATED_SETS,
                   skip_missing: bool = False) -> PreparedSet:
    """Build ``bitext.<key>.tsv`` and ``card.json`` in ``out_dir`` (see :func:`build_bitext`).

    Raises :class:`ConfigError` when no source yields a pair for the language.
    """
    language = _resolve_bitext_language(lang)
    src_list = split_list(sources)
    a_splits = split_list(afriqa_splits) or ["train"]
    c_sets = split_list(ciral_sets) or list(CIRAL_TRANSLATED_SETS)
    topics = [Path(p) for p in exclude_topics]
    fetcher = Fetcher(skip_missing=skip_missing)
    build = build_bitext(language.key, sources=src_list, exclude_topics=topics, afriqa_splits=a_splits,
                         ciral_sets=c_sets, fetcher=fetcher)
    if not build.pairs:
        detail = "; ".join(f"{n}: {i.get('status')}" for n, i in build.per_source.items())
        raise ConfigError(f"no {language.key} bitext pairs to write ({detail})")
    name = f"bitext.{language.key}.tsv"
    used = [n for n, i in build.per_source.items() if i.get("status") == "used"]
    with staged_output(out_dir) as tmp:
        n = write_bitext(tmp / name, build.pairs)
        notes = list(build.notes) + [
            "Columns: x (foreign), en (English), source. Duplicates: equal after NFKC, casefold, "
            "punctuation removal and whitespace collapsing of both sides (first kept, sources in the "
            "order afriqa, ciral, ntrex, flores, tatoeba).",
            "Leakage guard: AfriQA test questions of every language (native and English) are always "
            "removed, dev questions too unless dev is a training split, plus every --exclude-topics file.",
        ]
        if "ciral" in used:
            notes.append("CIRAL topics are CIRAL's evaluation queries: do not evaluate on CIRAL with a "
                         "model trained on this bitext (or drop the source with --sources).")
        if "ntrex" in used:
            notes.append("NTREX sentences are the ntrex-doc evaluation collection: do not evaluate on "
                         "ntrex-doc with a model trained on this bitext (or drop the source with --sources).")
        card = make_card(
            "bitext",
            description=f"{language.name or language.key} ({language.key}) - English sentence pairs for "
                        "distillation, deduplicated and filtered against evaluation queries.",
            fetcher=fetcher,
            sources=[_SOURCE_OF[s] for s in BITEXT_SOURCES if s in used or s == "afriqa"],
            outputs={"bitext": {"path": name, "pairs": n, "language": language.key,
                                "codes": dict(language.codes)}},
            counts={"pairs": n, "per_source": build.per_source,
                    "pairs_by_source": dict(sorted(Counter(p.source for p in build.pairs).items()))},
            dropped={"empty": sum(int(i.get("dropped_empty", 0)) for i in build.per_source.values()),
                     "duplicates": sum(int(i.get("dropped_duplicate", 0)) for i in build.per_source.values()),
                     "leakage": build.leakage.dropped},
            notes=notes,
            options={"lang": language.key, "sources": src_list or list(BITEXT_SOURCES),
                     "afriqa_splits": a_splits, "ciral_sets": c_sets,
                     "exclude_topics": [str(p) for p in topics], "skip_missing": skip_missing},
            extra={"leakage": {**build.leakage.as_dict(), "guard_missing": list(build.guard_missing)}},
        )
        write_card(tmp, card)
    return PreparedSet("bitext", Path(out_dir), card)

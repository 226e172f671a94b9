"""AfriQA as a cross-lingual retrieval set: native questions -> gold pivot-language passages.

Output (``prepare afriqa --out DIR``)::

    DIR/corpus/en/corpus.jsonl                      English gold passages of every language and
                                                    split upstream (:data:`AFRIQA_COLLECTION_FILES`),
                                                    deduplicated by text, whatever ``langs``/``splits``
    DIR/corpus/fr/corpus.jsonl                      French gold passages (fon; wol has none upstream)
    DIR/topics/afriqa.<lang>.<split>.native.tsv     the question as written by native speakers
    DIR/topics/afriqa.<lang>.<split>.translated.tsv its human translation into the pivot language
                                                    (the oracle translated query)
    DIR/qrels/afriqa.<lang>.<split>.qrels           the annotated gold passage, relevance 1
    DIR/card.json

:func:`afriqa_file`, :func:`afriqa_corpus`, :func:`afriqa_topic_files` and
:func:`afriqa_languages` name these files for the code that reads a prepared set (nothing
outside :mod:`optical_rerank.data` spells the file names).

The collection is fixed (issue 16): it is built from every gold-passage file of
:data:`AFRIQA_COLLECTION_FILES` (every language and split that has one upstream at the pinned
commit), independent of the languages and splits prepared, so a language's BM25 scores never
depend on what else was prepared. A file of that table that is neither mirrored nor cached nor
downloadable is an error naming its URL (with ``skip_missing`` it is skipped and listed in the
card, whose ``collection`` block records the passage count, bytes and sha256 of each corpus file:
compare that sha256 to know whether two sets have the same collection).

Query ids are ``<lang>-<split>-<AfriQA id>`` (unique across languages and splits); passage ids
are ``afriqa-<pivot>-<first 16 hex of sha256(whitespace-normalised text)>``, stable whatever
languages are built. Topics hold only questions that have a non-empty gold passage, so every
topic is judged; questions without one are counted in the card. Topic text comes from the
queries file (the gold-passage files repeat the questions with small differences).
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from ..errors import ConfigError, InputFormatError
from ..files import sha256_file
from ..trec_io import read_jsonl, write_corpus, write_qrels, write_topics
from ..types import Document, Query
from .card import PreparedSet, make_card, split_list, staged_output, write_card
from .fetch import Fetcher
from .languages import AFRIQA_LANGUAGES, pick_languages
from .registry import (
    AFRIQA,
    AFRIQA_SPLIT_COUNTS,
    AFRIQA_SPLITS,
    afriqa_gold,
    afriqa_has_gold,
    afriqa_queries,
)


#: The fixed AfriQA collections: for each pivot language, every (language, split) whose gold-passage
#: file exists upstream at the pinned commit (AFRIQA_GOLD_SPLITS), in AfriQA's language order and
#: train/dev/test order (the first occurrence of a passage gives its title). Swahili has gold passages
#: for test only, Yorùbá none for dev, Wolof none at all.
AFRIQA_COLLECTION_FILES: dict[str, tuple[tuple[str, str], ...]] = {
    "en": (("bem", "train"), ("bem", "dev"), ("bem", "test"),
           ("hau", "train"), ("hau", "dev"), ("hau", "test"),
           ("ibo", "train"), ("ibo", "dev"), ("ibo", "test"),
           ("kin", "train"), ("kin", "dev"), ("kin", "test"),
           ("swa", "test"),
           ("twi", "train"), ("twi", "dev"), ("twi", "test"),
           ("yor", "train"), ("yor", "test"),
           ("zul", "train"), ("zul", "dev"), ("zul", "test")),
    "fr": (("fon", "train"), ("fon", "dev"), ("fon", "test")),
}

#: The kinds of per-language file of a prepared set: two topic files and the qrels.
AFRIQA_FILE_KINDS = ("native", "translated", "qrels")


def _relpath(lang: str, split: str, kind: str) -> str:
    if kind == "qrels":
        return f"qrels/afriqa.{lang}.{split}.qrels"
    if kind in ("native", "translated"):
        return f"topics/afriqa.{lang}.{split}.{kind}.tsv"
    raise ConfigError(f"unknown AfriQA file kind {kind!r}; choose from {', '.join(AFRIQA_FILE_KINDS)}")


def _corpus_relpath(pivot: str) -> str:
    return f"corpus/{pivot}/corpus.jsonl"


def afriqa_file(root: str | Path, lang: str, split: str, kind: str) -> Path:
    """A per-language file of the prepared AfriQA set in ``root`` (it need not exist).

    ``kind`` is ``"native"`` (the questions as written), ``"translated"`` (their human
    translation into the pivot language) or ``"qrels"``.
    """
    return Path(root) / _relpath(lang, split, kind)


def afriqa_corpus(root: str | Path, pivot: str = "en") -> Path:
    """The corpus of gold passages in the ``pivot`` language (``en`` or ``fr``) of the set in ``root``."""
    return Path(root) / _corpus_relpath(pivot)


def afriqa_topic_files(root: str | Path, split: str) -> list[Path]:
    """Every topic file (native and translated, all languages) of ``split`` present in ``root``, sorted."""
    return sorted((Path(root) / "topics").glob(f"afriqa.*.{split}.*.tsv"))


def afriqa_languages(root: str | Path, split: str, *, pivot: str | None = None) -> list[str]:
    """The AfriQA languages whose ``split`` topics (native and translated) and qrels are in ``root``.

    In AfriQA's order; ``pivot`` (``"en"``/``"fr"``) keeps only the languages translated into it.
    """
    return [lang for lang, (_name, piv) in AFRIQA_LANGUAGES.items()
            if (pivot is None or piv == pivot)
            and all(afriqa_file(root, lang, split, kind).is_file() for kind in AFRIQA_FILE_KINDS)]


def _clean(value: object) -> str:
    """A JSON field as clean text: non-strings (``null``, ``NaN``) are empty; whitespace collapsed."""
    return " ".join(value.split()) if isinstance(value, str) else ""


def passage_id(pivot: str, text: str) -> str:
    """Stable passage id from the whitespace-normalised text."""
    digest = hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()[:16]
    return f"afriqa-{pivot}-{digest}"


def _row_id(path: Path, lineno: int, row: dict) -> str:
    """The ``id`` of an AfriQA JSONL row, as a string; a row without one is an error naming its line."""
    if "id" not in row:
        raise InputFormatError(path, lineno, 'missing field "id"')
    return str(row["id"])


def read_afriqa_queries(path: Path) -> dict[str, dict]:
    """``{id: row}`` of an AfriQA queries file; ids as strings; duplicates are errors."""
    out: dict[str, dict] = {}
    for lineno, row in read_jsonl(path):
        qid = _row_id(path, lineno, row)
        if qid in out:
            raise InputFormatError(path, lineno, f"duplicate question id {qid!r}")
        out[qid] = row
    return out


def _build_collections(fetcher: Fetcher) -> tuple[dict[str, dict[str, Document]], dict[str, int], dict[str, list[str]]]:
    """Every corpus of :data:`AFRIQA_COLLECTION_FILES`: ``({pivot: {docid: doc}}, duplicates, files)``.

    A passage is every non-empty ``context`` of a gold-passage file; the first occurrence of a
    text gives its title. ``files`` lists the URLs read per pivot.
    """
    corpora: dict[str, dict[str, Document]] = {}
    duplicates: dict[str, int] = {}
    files: dict[str, list[str]] = {}
    for pivot, entries in AFRIQA_COLLECTION_FILES.items():
        corpus = corpora.setdefault(pivot, {})
        for lang, split in entries:
            gfile = afriqa_gold(lang, split)
            gpath = fetcher.get_optional(gfile, f"AfriQA {lang} {split} gold passages (collection)")
            if gpath is None:
                continue
            files.setdefault(pivot, []).append(gfile.url)
            for _lineno, row in read_jsonl(gpath):
                text = row.get("context")
                if not isinstance(text, str) or not text.strip():
                    continue
                docid = passage_id(pivot, text)
                if docid in corpus:
                    duplicates[pivot] = duplicates.get(pivot, 0) + 1
                    continue
                title = row.get("title") if isinstance(row.get("title"), str) else None
                corpus[docid] = Document(docid, text.strip(), title.strip() if title else None)
    return corpora, duplicates, files


def collection_record(corpus: str | Path) -> dict[str, object]:
    """``{"passages", "bytes", "sha256"}`` of a collection file (``corpus.jsonl``): what identifies it."""
    path = Path(corpus)
    with open(path, "rb") as fh:
        passages = sum(1 for line in fh if line.strip())
    return {"passages": passages, "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def prepare_afriqa(out_dir: str | Path, *, langs: Iterable[str] | str | None = None,
                   splits: Iterable[str] | str | None = None, skip_missing: bool = False) -> PreparedSet:
    """Build the AfriQA retrieval set (see the module docstring for the layout).

    Parameters
    ----------
    out_dir : output directory (empty, absent, or a previous prepared set).
    langs : AfriQA languages (any code spelling); default all ten.
    splits : ``train``, ``dev``, ``test``; default all three.
    skip_missing : skip (and report in the card) files that upstream has but that are neither
        mirrored nor cached and cannot be downloaded, instead of failing.
    """
    lang_list = pick_languages(split_list(langs), list(AFRIQA_LANGUAGES), "afriqa", "AfriQA")
    split_sel = split_list(splits) or list(AFRIQA_SPLITS)
    for s in split_sel:
        if s not in AFRIQA_SPLITS:
            raise ConfigError(f"AfriQA has no split {s!r}; it has {', '.join(AFRIQA_SPLITS)}")
    fetcher = Fetcher(skip_missing=skip_missing)

    corpora, duplicates, collection_files = _build_collections(fetcher)
    topics_out: dict[str, tuple[list[Query], list[Query]]] = {}
    qrels_out: dict[str, dict[str, dict[str, int]]] = {}
    per_split: dict[str, dict[str, object]] = {}
    no_gold: list[str] = []
    totals = {"questions": 0, "topics": 0, "dropped_empty_passage": 0, "dropped_empty_question": 0,
              "dropped_no_gold_passage": 0}

    for lang in lang_list:
        pivot = AFRIQA_LANGUAGES[lang][1]
        for split in split_sel:
            key = f"{lang}.{split}"
            qfile = afriqa_queries(lang, split)
            qpath = fetcher.get_optional(qfile, f"AfriQA {lang} {split} queries")
            if qpath is None:
                continue
            queries = read_afriqa_queries(qpath)
            stats: dict[str, object] = {"questions": len(queries),
                                        "questions_in_readme": AFRIQA_SPLIT_COUNTS[lang][split]}
            totals["questions"] += len(queries)
            per_split[key] = stats
            if not afriqa_has_gold(lang, split):
                no_gold.append(key)
                stats["gold_passages_upstream"] = False
                continue
            gpath = fetcher.get_optional(afriqa_gold(lang, split), f"AfriQA {lang} {split} gold passages")
            if gpath is None:
                continue
            native: list[Query] = []
            translated: list[Query] = []
            qrels: dict[str, dict[str, int]] = {}
            seen: dict[str, int] = {}
            empty_passage = empty_question = 0
            gold_rows = 0
            for lineno, row in read_jsonl(gpath):
                gold_rows += 1
                gid = _row_id(gpath, lineno, row)
                if gid in seen:
                    raise InputFormatError(gpath, lineno, f"question id {gid!r} repeated (first on line {seen[gid]})")
                seen[gid] = lineno
                q = queries.get(gid)
                if q is None:
                    raise InputFormatError(gpath, lineno, f"question id {gid!r} is not in {qfile.url}")
                text = row.get("context")
                if not isinstance(text, str) or not text.strip():
                    empty_passage += 1
                    continue
                q_native, q_trans = _clean(q.get("question")), _clean(q.get("translated_question"))
                if not q_native or not q_trans:
                    empty_question += 1
                    continue
                docid = passage_id(pivot, text)
                # the gold file was read into the collection above (same fetcher, same bytes)
                assert docid in corpora.get(pivot, {}), (lang, split, gid)
                qid = f"{lang}-{split}-{gid}"
                native.append(Query(qid, q_native, lang))
                translated.append(Query(qid, q_trans, pivot))
                qrels[qid] = {docid: 1}
            no_gold_count = len(queries) - gold_rows
            stats.update({"gold_passages_upstream": True, "gold_rows": gold_rows, "topics": len(native),
                          "dropped_empty_passage": empty_passage,
                          "dropped_empty_question": empty_question,
                          "dropped_no_gold_passage": no_gold_count})
            totals["topics"] += len(native)
            totals["dropped_empty_passage"] += empty_passage
            totals["dropped_empty_question"] += empty_question
            totals["dropped_no_gold_passage"] += no_gold_count
            if native:
                topics_out[key] = (native, translated)
                qrels_out[key] = qrels

    with staged_output(out_dir) as tmp:
        outputs: dict[str, object] = {"corpora": {}, "topics": {}, "qrels": {}}
        collection: dict[str, object] = {}
        for pivot, docs in sorted(corpora.items()):
            if not docs:
                continue
            rel = _corpus_relpath(pivot)
            write_corpus(tmp / rel, sorted(docs.values(), key=lambda d: d.docid))
            outputs["corpora"][pivot] = {"path": rel, "documents": len(docs)}
            missing = [s["url"] for s in fetcher.skipped
                       if s["what"].endswith("(collection)") and f".{pivot}." in s["url"]]
            collection[pivot] = {"path": rel, **collection_record(tmp / rel),
                                 "files": collection_files.get(pivot, []),
                                 "files_missing": missing, "complete": not missing}
        for key, (native, translated) in topics_out.items():
            lang = key.split(".")[0]
            split = key.split(".")[1]
            corpus_rel = _corpus_relpath(AFRIQA_LANGUAGES[lang][1])
            for kind, queries in (("native", native), ("translated", translated)):
                rel = _relpath(lang, split, kind)
                write_topics(tmp / rel, queries)
                outputs["topics"][f"{key}.{kind}"] = {
                    "path": rel, "queries": len(queries),
                    "language": lang if kind == "native" else AFRIQA_LANGUAGES[lang][1],
                    "corpus": corpus_rel}
            rel = _relpath(lang, split, "qrels")
            write_qrels(tmp / rel, qrels_out[key])
            outputs["qrels"][key] = {"path": rel, "judgements": sum(len(v) for v in qrels_out[key].values()),
                                     "corpus": corpus_rel}
        notes = [
            "Pivot language: English for bem hau ibo kin swa twi yor zul, French for fon and wol; "
            "French passages are in corpus/fr, never mixed with the English corpus.",
            "Each topic has exactly one relevant passage (the annotated gold passage, relevance 1). "
            "Other passages of the corpus are unjudged, not known to be non-relevant.",
            "Upstream has no gold passages for swa train/dev, yor dev and any wol split: those "
            "splits have no topics or qrels here (their questions are counted under counts.per_split).",
            "Split policy: train for training, dev for every choice, test for "
            "reporting only; the bitext builder always removes AfriQA test questions.",
            "The collection is fixed: the gold passages of every language and split upstream "
            "(AFRIQA_COLLECTION_FILES), whatever languages and splits are prepared; its passage count, "
            "bytes and sha256 are under `collection` (files_missing lists upstream files that were "
            "not available, so such a collection is not the full upstream one).",
            "Corpus = the gold passages only (a reranking / small-pool retrieval set); for open "
            "retrieval use the AfriQA Wikipedia dumps (masakhane_wiki_100 on Hugging Face).",
        ]
        mismatched = [k for k, v in per_split.items() if v["questions"] != v["questions_in_readme"]]
        if mismatched:
            notes.append(f"Question counts differ from the AfriQA README for: {', '.join(mismatched)}.")
        card = make_card(
            "afriqa",
            description="AfriQA cross-lingual retrieval: native-language questions (and their human "
                        "pivot-language translations) against annotated gold Wikipedia passages.",
            fetcher=fetcher, sources=[AFRIQA], outputs=outputs,
            counts={"languages": lang_list, "splits": split_sel, **totals,
                    "corpus_documents": {p: len(d) for p, d in sorted(corpora.items())},
                    "per_split": per_split, "no_gold_passages_upstream": no_gold},
            dropped={"empty_passages": totals["dropped_empty_passage"],
                     "empty_questions": totals["dropped_empty_question"],
                     "questions_without_gold_passage": totals["dropped_no_gold_passage"],
                     "duplicate_passages_merged": dict(sorted(duplicates.items()))},
            notes=notes,
            options={"langs": lang_list, "splits": split_sel, "skip_missing": skip_missing},
            extra={"synthetic_relevance": False, "collection": collection},
        )
        write_card(tmp, card)
    return PreparedSet("afriqa", Path(out_dir), card)

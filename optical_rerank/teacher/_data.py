"""English training data for the teacher: AfriQA, triples or qrels; BM25 hard negatives that are never a positive."""
from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data import prepare
from ..data.afriqa import afriqa_corpus, afriqa_file, afriqa_topic_files
from ..data.languages import AFRIQA_LANGUAGES
from ..data.leakage import LeakageGuard, normalize_text
from ..errors import ConfigError, InputFormatError
from ..files import sha256_file
from ..first_stage import Bm25Retriever, build_index, load_corpus_texts
from ..paths import cache_dir
from ..trec_io import Qrels, iter_lines, read_qrels, read_run, read_topics
from ..types import Query
from ._config import SAMPLING, TeacherConfig, _log

#: AfriQA languages whose pivot (translation and passage) language is English.
AFRIQA_ENGLISH = tuple(lang for lang, (_name, pivot) in AFRIQA_LANGUAGES.items() if pivot == "en")

@dataclass(frozen=True)
class TrainExample:
    """One training query: its positive passage and hard negatives (raw texts, no templates)."""

    qid: str
    query: str
    positive: str
    negatives: tuple[str, ...]
    positive_id: str = ""
    negative_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class DevQuery:
    """A dev query: its relevant passages and its ranked first-stage candidates (raw texts and ids)."""

    qid: str
    query: str
    positives: tuple[str, ...]
    documents: tuple[str, ...]
    positive_ids: tuple[str, ...] = ()
    document_ids: tuple[str, ...] = ()


@dataclass
class TrainingData:
    """Training examples, dev queries and a JSON-ready report of how they were built."""

    train: list[TrainExample]
    dev: list[DevQuery]
    report: dict = field(default_factory=dict)


def _rng_for(seed: int, key: str) -> random.Random:
    """A random generator that depends only on ``seed`` and ``key`` (order independent)."""
    return random.Random(int(hashlib.sha256(f"{seed}\t{key}".encode()).hexdigest()[:16], 16))


def _select_negatives(pool: Sequence[str], n: int, sampling: str, seed: int, qid: str) -> list[str]:
    if sampling == "top" or len(pool) <= n:
        return list(pool[:n])
    picked = sorted(_rng_for(seed, qid).sample(range(len(pool)), n))
    return [pool[i] for i in picked]


def mine_hard_negatives(retriever: Any, queries: Sequence[Query], positives: Mapping[str, Iterable[str]],
                        texts: Mapping[str, str], *, depth: int = 30, num_negatives: int = 4,
                        sampling: str = "top", seed: int = 0, exclude: Mapping[str, Iterable[str]] | None = None,
                        threads: int = 2) -> dict[str, list[str]]:
    """Hard negatives by BM25 that are never a positive.

    Parameters
    ----------
    retriever : a :class:`~optical_rerank.first_stage.Bm25Retriever` (anything with
        ``retrieve(queries, k, threads=, with_text=False)``).
    queries : the queries to mine for.
    positives : ``{qid: docids}`` judged relevant.
    texts : ``{docid: text}`` of the collection (positives and candidates).
    depth : BM25 depth.
    num_negatives : negatives per query (fewer when the pool is smaller).
    sampling : ``top`` or ``sample`` (seeded by ``seed`` and the qid, kept in rank order).
    exclude : further ``{qid: docids}`` that must not be negatives (e.g. gold passages of the
        same question asked in another language).

    Returns
    -------
    dict
        ``{qid: [docid, ...]}``. A candidate is dropped when its docid is a positive or excluded,
        when its normalised text (:func:`~optical_rerank.data.leakage.normalize_text`) equals that
        of a positive or excluded passage, or when it repeats the text of a negative already taken.
    """
    if sampling not in SAMPLING:
        raise ConfigError(f"negative sampling must be one of {SAMPLING}, got {sampling!r}")
    run = retriever.retrieve(list(queries), k=depth, threads=threads, with_text=False)
    out: dict[str, list[str]] = {}
    for q in queries:
        banned_ids = set(positives.get(q.qid, ())) | set((exclude or {}).get(q.qid, ()))
        banned_texts = {normalize_text(texts[d]) for d in banned_ids if d in texts}
        pool: list[str] = []
        seen_texts: set[str] = set()
        for hit in run.get(q.qid, []):
            if hit.docid in banned_ids:
                continue
            text = texts.get(hit.docid)
            if text is None:
                raise ConfigError(f"BM25 returned document {hit.docid!r}, which is not in the corpus given "
                                  "(index and corpus do not match)")
            n = normalize_text(text)
            if n in banned_texts or n in seen_texts:
                continue
            seen_texts.add(n)
            pool.append(hit.docid)
        out[q.qid] = _select_negatives(pool, num_negatives, sampling, seed, q.qid)
    return out


def prepared_set(name: str) -> Path:
    """A prepared data set (``afriqa``, ``dl19``) in ``cache_dir()/prepared/<name>``, built if absent."""
    out = cache_dir() / "prepared" / name
    if not (out / "card.json").is_file():
        _log(f"preparing {name} into {out}")
        prepare(name, out, skip_missing=(name == "afriqa"))
    return out


def bm25_index_for(corpus: str | Path, language: str = "en") -> Path:
    """A Lucene index of a JsonCollection file, cached under ``cache_dir()/indexes`` by content."""
    corpus = Path(corpus)
    digest = sha256_file(corpus)[:16]
    index_dir = cache_dir() / "indexes" / f"{corpus.parent.name}-{language}-{digest}"
    build_index(corpus, index_dir, language=language)
    return index_dir


def _afriqa_langs(root: Path, requested: Sequence[str], split: str) -> list[str]:
    """English-pivot languages with ``split`` topics in the prepared set (validated against ``requested``)."""
    for lang in requested:
        if lang not in AFRIQA_LANGUAGES:
            raise ConfigError(f"unknown AfriQA language {lang!r}; AfriQA has {', '.join(AFRIQA_LANGUAGES)}")
        if AFRIQA_LANGUAGES[lang][1] != "en":
            raise ConfigError(f"AfriQA {lang} pivots to {AFRIQA_LANGUAGES[lang][1]!r}, not English; "
                              "the teacher is trained on English only")
    langs = list(requested) or [lang for lang in AFRIQA_ENGLISH]
    return [lang for lang in langs if afriqa_file(root, lang, split, "translated").is_file()]


def _load_pairs(root: Path, lang: str, split: str) -> list[tuple[str, str, str]]:
    """``(qid, native, english)`` of one AfriQA language and split."""
    native = {q.qid: q.text for q in read_topics(afriqa_file(root, lang, split, "native"))}
    english = read_topics(afriqa_file(root, lang, split, "translated"), "en")
    return [(q.qid, native.get(q.qid, ""), q.text) for q in english]


def _sample(items: list, n: int | None, seed: int, key: Callable[[Any], str]) -> list:
    """At most ``n`` items: a seeded, order-independent sample kept in input order."""
    if n is None or len(items) <= n:
        return list(items)
    ranked = sorted(range(len(items)), key=lambda i: _rng_for(seed, key(items[i])).random())
    keep = set(ranked[:n])
    return [x for i, x in enumerate(items) if i in keep]


def _build_guard(paths: Iterable[Path]):
    guard = LeakageGuard()
    for p in paths:
        guard.add_topics_file(p)
    return guard


def afriqa_training_data(afriqa_dir: str | Path | None = None, *, languages: Sequence[str] = (),
                         num_negatives: int = 4, mine_depth: int = 30, sampling: str = "sample", seed: int = 0,
                         max_train_queries: int | None = None, dev_max_queries: int = 200, dev_depth: int = 20,
                         exclude_topics: Sequence[str | Path] = (), threads: int = 2) -> TrainingData:
    """English AfriQA training data: train questions → gold passages + BM25 hard negatives; dev queries.

    Parameters
    ----------
    afriqa_dir : a prepared AfriQA set (``None``: :func:`prepared_set` ``("afriqa")``).
    languages : English-pivot AfriQA languages (default all that have a train split).
    num_negatives, mine_depth, sampling, seed : see :func:`mine_hard_negatives`.
    max_train_queries : seeded sample of at most this many training queries.
    dev_max_queries, dev_depth : seeded sample of dev queries and their BM25 depth.
    exclude_topics : extra topics files guarded like the test splits.

    Returns
    -------
    TrainingData
        ``report`` counts queries per language and split, the questions dropped by the leakage
        guard (equal to a test question; equal to a dev question), negatives per query.
    """
    root = Path(afriqa_dir) if afriqa_dir is not None else prepared_set("afriqa")
    corpus = afriqa_corpus(root)
    if not corpus.is_file():
        raise ConfigError(f"{root} is not a prepared AfriQA set (no corpus/en/corpus.jsonl); build it with "
                          "`python -m optical_rerank.data prepare afriqa --out DIR`")
    train_langs = _afriqa_langs(root, languages, "train")
    if not train_langs:
        raise ConfigError(f"{root}: no English train topics for languages {list(languages) or 'any'}")
    dev_langs = _afriqa_langs(root, languages, "dev")

    # the leakage guard: every test question (native and translated, every language of the set)
    test_files = afriqa_topic_files(root, "test") + [Path(p) for p in exclude_topics]
    if not any(".test." in p.name for p in test_files):
        raise ConfigError(f"{root}: no test topics found; the leakage guard needs them")
    test_guard = _build_guard(test_files)
    dev_files = afriqa_topic_files(root, "dev")
    dev_guard = _build_guard(dev_files)

    texts = load_corpus_texts(corpus)
    qrels: Qrels = {}
    for lang in set(train_langs) | set(dev_langs):
        for split in ("train", "dev"):
            qf = afriqa_file(root, lang, split, "qrels")
            if qf.is_file():
                qrels.update(read_qrels(qf))

    report: dict[str, Any] = {"source": "afriqa", "afriqa_dir": str(root), "train_languages": train_langs,
                              "dev_languages": dev_langs, "per_language": {},
                              "leakage_guard": {"test_topics_files": [str(p) for p in test_files],
                                                "test_questions": len(test_guard),
                                                "dev_questions": len(dev_guard)}}
    train_q: list[Query] = []
    dropped_test = dropped_dev = 0
    for lang in train_langs:
        rows = _load_pairs(root, lang, "train")
        kept = []
        d_test = d_dev = 0
        for qid, native, english in rows:
            if test_guard.matches(english) or (native and test_guard.matches(native)):
                d_test += 1
            elif dev_guard.matches(english) or (native and dev_guard.matches(native)):
                d_dev += 1
            elif qrels.get(qid):
                kept.append(Query(qid, english, "en"))
        report["per_language"][lang] = {"train_questions": len(rows), "dropped_equal_to_test": d_test,
                                        "dropped_equal_to_dev": d_dev, "train_kept": len(kept)}
        dropped_test += d_test
        dropped_dev += d_dev
        train_q.extend(kept)
    train_q = _sample(train_q, max_train_queries, seed, key=lambda q: q.qid)

    dev_q: list[Query] = []
    dev_dropped = 0
    for lang in dev_langs:
        rows = _load_pairs(root, lang, "dev")
        for qid, native, english in rows:
            if test_guard.matches(english) or (native and test_guard.matches(native)):
                dev_dropped += 1
            elif qrels.get(qid):
                dev_q.append(Query(qid, english, "en"))
        report["per_language"].setdefault(lang, {})["dev_questions"] = len(rows)
    dev_q = _sample(dev_q, dev_max_queries, seed, key=lambda q: q.qid) if dev_max_queries else []

    # the same question asked in several languages: its other gold passages are not negatives
    by_text: dict[str, set[str]] = {}
    for lang in set(train_langs) | set(dev_langs):
        for split in ("train", "dev"):
            if afriqa_file(root, lang, split, "translated").is_file():
                for qid, _, english in _load_pairs(root, lang, split):
                    by_text.setdefault(normalize_text(english), set()).update(d for d, r in qrels.get(qid, {}).items() if r > 0)
    also = {q.qid: by_text.get(normalize_text(q.text), set()) for q in train_q}

    index_dir = bm25_index_for(corpus, "en")
    retriever = Bm25Retriever(index_dir)
    positives = {q.qid: {d for d, r in qrels[q.qid].items() if r > 0} for q in train_q}
    _log(f"mining BM25 hard negatives for {len(train_q)} queries (depth {mine_depth})")
    negs = mine_hard_negatives(retriever, train_q, positives, texts, depth=mine_depth, num_negatives=num_negatives,
                               sampling=sampling, seed=seed, exclude=also, threads=threads)
    train = [TrainExample(q.qid, q.text, texts[pos], tuple(texts[d] for d in negs[q.qid]), pos, tuple(negs[q.qid]))
             for q in train_q for pos in sorted(positives[q.qid])]
    dev = _dev_from_bm25(retriever, dev_q, qrels, texts, dev_depth, threads)
    report.update({"train_queries": len(train_q), "train_examples": len(train),
                   "dropped_equal_to_test": dropped_test, "dropped_equal_to_dev": dropped_dev,
                   "dev_dropped_equal_to_test": dev_dropped, "dev_queries": len(dev), "dev_depth": dev_depth,
                   "negatives_per_example": _neg_stats(train), "index": str(index_dir),
                   "negatives_excluded_as_same_question_gold": sum(len(v - positives[k]) for k, v in also.items())})
    return TrainingData(train, dev, report)


def _neg_stats(train: Sequence[TrainExample]) -> dict[str, float]:
    counts = [len(e.negatives) for e in train]
    if not counts:
        return {"min": 0, "mean": 0.0, "max": 0}
    return {"min": min(counts), "mean": round(sum(counts) / len(counts), 3), "max": max(counts)}


def _dev_from_bm25(retriever: Any, queries: Sequence[Query], qrels: Qrels, texts: Mapping[str, str],
                   depth: int, threads: int) -> list[DevQuery]:
    if not queries:
        return []
    run = retriever.retrieve(list(queries), k=depth, threads=threads, with_text=False)
    return [_dev_query(q, [h.docid for h in run.get(q.qid, [])], qrels, texts) for q in queries]


def _dev_query(q: Query, docids: Sequence[str], qrels: Qrels, texts: Mapping[str, str]) -> DevQuery:
    rel = [d for d, r in qrels.get(q.qid, {}).items() if r > 0 and d in texts]
    missing = [d for d in docids if d not in texts]
    if missing:
        raise ConfigError(f"dev query {q.qid}: candidate {missing[0]!r} is not in the corpus")
    return DevQuery(q.qid, q.text, tuple(texts[d] for d in sorted(rel)), tuple(texts[d] for d in docids),
                    tuple(sorted(rel)), tuple(docids))


def triples_training_data(path: str | Path, *, num_negatives: int = 4, sampling: str = "top", seed: int = 0,
                          max_train_queries: int | None = None, exclude_topics: Sequence[str | Path] = ()) -> TrainingData:
    """Training data from an MS MARCO-style ``query<TAB>positive<TAB>negative`` TSV.

    Rows with the same (query, positive) are grouped and their distinct negatives pooled (in file
    order; ``num_negatives`` are kept by ``sampling``). A negative whose normalised text equals
    the positive's is dropped, and so is every row whose query is in ``exclude_topics``.
    """
    path = Path(path)
    groups: dict[tuple[str, str], list[str]] = {}
    for lineno, line in iter_lines(path):
        parts = line.split("\t")
        if len(parts) != 3:
            raise InputFormatError(path, lineno, f"expected 3 tab-separated columns (query, positive, negative), "
                                                 f"found {len(parts)}")
        q, pos, neg = (" ".join(p.split()) for p in parts)
        if not q or not pos:
            raise InputFormatError(path, lineno, "empty query or positive passage")
        negs = groups.setdefault((q, pos), [])
        if neg and neg not in negs:
            negs.append(neg)
    guard = _build_guard(Path(p) for p in exclude_topics)
    train: list[TrainExample] = []
    dropped = same_text = 0
    for i, ((q, pos), negs) in enumerate(groups.items()):
        if guard.matches(q):
            dropped += 1
            continue
        npos = normalize_text(pos)
        clean = [n for n in negs if normalize_text(n) != npos]
        same_text += len(negs) - len(clean)
        qid = f"t{i}"
        chosen = _select_negatives(clean, num_negatives, sampling, seed, qid)
        train.append(TrainExample(qid, q, pos, tuple(chosen)))
    train = _sample(train, max_train_queries, seed, key=lambda e: e.qid)
    report = {"source": "triples", "path": str(path), "groups": len(groups), "train_examples": len(train),
              "dropped_by_leakage_guard": dropped, "negatives_equal_to_positive_dropped": same_text,
              "negatives_per_example": _neg_stats(train)}
    return TrainingData(train, [], report)


def qrels_training_data(topics: str | Path, qrels: str | Path, corpus: str | Path, *, run: str | Path | None = None,
                        index: str | Path | None = None, num_negatives: int = 4, mine_depth: int = 30,
                        sampling: str = "top", seed: int = 0, max_train_queries: int | None = None,
                        exclude_topics: Sequence[str | Path] = (), dev_topics: str | Path | None = None,
                        dev_qrels: str | Path | None = None, dev_run: str | Path | None = None,
                        dev_max_queries: int = 200, dev_depth: int = 20, threads: int = 2) -> TrainingData:
    """Training data from topics + qrels + corpus, negatives from a candidate run or BM25 over ``index``.

    Positives are the passages with relevance > 0. Negatives are candidates (run top
    ``mine_depth``, or BM25) that are not positive, not judged relevant and whose normalised text
    differs from every positive's. Queries in ``exclude_topics`` are dropped.
    """
    texts = load_corpus_texts(corpus)
    queries = read_topics(topics)
    judged = read_qrels(qrels)
    guard = _build_guard(Path(p) for p in exclude_topics)
    kept = [q for q in queries if not guard.matches(q.text) and any(r > 0 for r in judged.get(q.qid, {}).values())]
    dropped = sum(1 for q in queries if guard.matches(q.text))
    kept = _sample(kept, max_train_queries, seed, key=lambda q: q.qid)
    positives = {q.qid: {d for d, r in judged[q.qid].items() if r > 0} for q in kept}
    missing = sorted({d for v in positives.values() for d in v} - texts.keys())
    retriever = Bm25Retriever(index) if index is not None else None
    if run is not None:
        cand = read_run(run)
        negs: dict[str, list[str]] = {}
        for q in kept:
            banned = {normalize_text(texts[d]) for d in positives[q.qid] if d in texts}
            pool, seen = [], set()
            for h in cand.get(q.qid, [])[:mine_depth]:
                if h.docid in positives[q.qid] or h.docid not in texts:
                    continue
                n = normalize_text(texts[h.docid])
                if n in banned or n in seen:
                    continue
                seen.add(n)
                pool.append(h.docid)
            negs[q.qid] = _select_negatives(pool, num_negatives, sampling, seed, q.qid)
    else:
        negs = mine_hard_negatives(retriever, kept, positives, texts, depth=mine_depth, num_negatives=num_negatives,
                                   sampling=sampling, seed=seed, threads=threads)
    train = [TrainExample(q.qid, q.text, texts[p], tuple(texts[d] for d in negs[q.qid]), p, tuple(negs[q.qid]))
             for q in kept for p in sorted(positives[q.qid]) if p in texts]
    dev: list[DevQuery] = []
    if dev_topics is not None and dev_qrels is not None and dev_max_queries:
        dq = read_topics(dev_topics)
        dj = read_qrels(dev_qrels)
        dq = _sample([q for q in dq if dj.get(q.qid) and not guard.matches(q.text)], dev_max_queries, seed,
                     key=lambda q: q.qid)
        if dev_run is not None:
            drun = read_run(dev_run)
            dev = [_dev_query(q, [h.docid for h in drun.get(q.qid, [])[:dev_depth]], dj, texts) for q in dq]
        else:
            dev = _dev_from_bm25(retriever, dq, dj, texts, dev_depth, threads)
    report = {"source": "qrels", "topics": str(topics), "qrels": str(qrels), "corpus": str(corpus),
              "negatives_from": "run" if run is not None else "bm25", "train_queries": len(kept),
              "train_examples": len(train), "dropped_by_leakage_guard": dropped,
              "positives_missing_from_corpus": len(missing), "dev_queries": len(dev),
              "negatives_per_example": _neg_stats(train)}
    return TrainingData(train, dev, report)


def build_training_data(config: TeacherConfig) -> TrainingData:
    """The training data ``config`` names (dispatch on ``config.data``)."""
    threads = config.threads or 2
    if config.data == "afriqa":
        return afriqa_training_data(config.afriqa_dir, languages=config.languages, num_negatives=config.num_negatives,
                                    mine_depth=config.mine_depth, sampling=config.negative_sampling, seed=config.seed,
                                    max_train_queries=config.max_train_queries,
                                    dev_max_queries=config.dev_max_queries, dev_depth=config.dev_depth,
                                    exclude_topics=config.exclude_topics, threads=threads)
    if config.data == "triples":
        data = triples_training_data(config.triples, num_negatives=config.num_negatives,
                                     sampling=config.negative_sampling, seed=config.seed,
                                     max_train_queries=config.max_train_queries, exclude_topics=config.exclude_topics)
        if config.dev_topics is not None and config.dev_max_queries:
            texts = load_corpus_texts(config.corpus)
            dq = _sample([q for q in read_topics(config.dev_topics)], config.dev_max_queries, config.seed,
                         key=lambda q: q.qid)
            dj = read_qrels(config.dev_qrels)
            dq = [q for q in dq if dj.get(q.qid)]
            if config.dev_run is not None:
                drun = read_run(config.dev_run)
                data.dev = [_dev_query(q, [h.docid for h in drun.get(q.qid, [])[:config.dev_depth]], dj, texts)
                            for q in dq]
            else:
                data.dev = _dev_from_bm25(Bm25Retriever(config.index), dq, dj, texts, config.dev_depth, threads)
            data.report["dev_queries"] = len(data.dev)
        return data
    return qrels_training_data(config.topics, config.qrels, config.corpus, run=config.run, index=config.index,
                               num_negatives=config.num_negatives, mine_depth=config.mine_depth,
                               sampling=config.negative_sampling, seed=config.seed,
                               max_train_queries=config.max_train_queries, exclude_topics=config.exclude_topics,
                               dev_topics=config.dev_topics, dev_qrels=config.dev_qrels, dev_run=config.dev_run,
                               dev_max_queries=config.dev_max_queries, dev_depth=config.dev_depth, threads=threads)


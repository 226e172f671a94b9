"""Evaluation sets: one seeded sample of queries per dataset × language, with qrels and collection.

:class:`DataRoot` prepares what an experiment reads under its ``data_root`` (AfriQA, XQuAD-R,
NTREX-doc, DL19, bitext), indexes the collections, and records every dataset × language that
has no data (reported in the results, never dropped silently).
"""
from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..data import prepare
from ..data.afriqa import afriqa_corpus, afriqa_file, afriqa_topic_files
from ..errors import ConfigError
from ..files import sha256_file
from ..first_stage import analyzer_for, build_index, is_complete_index
from ..trec_io import read_qrels, read_topics
from ..types import Query
from ._config import ExperimentConfig, _log, block_systems
from ._systems import short_hash


def sample_queries(queries: Sequence[Query], n: int | None, seed: int, key: str) -> list[Query]:
    """A seeded sample of ``n`` queries (all if ``n`` is None or larger), kept in file order."""
    if n is None or n >= len(queries):
        return list(queries)
    rng = random.Random(f"{seed}:{key}")
    chosen = set(rng.sample(range(len(queries)), n))
    return [q for i, q in enumerate(queries) if i in chosen]


@dataclass(frozen=True)
class EvalSet:
    """One dataset × language: the sampled queries (native and translated), qrels, collection."""

    dataset: str
    lang: str
    native: list[Query]
    translated: list[Query]
    qrels: dict
    index: str
    corpus: str
    translated_index: str | None = None
    systems: tuple[str, ...] | None = None


def _english_by_key(path: Path) -> dict[str, Query]:
    """English topics keyed by the part of the qid after the language prefix (``en-12`` → ``12``)."""
    return {q.qid.split("-", 1)[-1]: q for q in read_topics(path, "en")}


class DataRoot:
    """The prepared data of one experiment (``cfg.data_root``) and the list of what is missing."""

    def __init__(self, cfg: ExperimentConfig):
        self.cfg = cfg
        self.root = Path(cfg.data_root)
        self.missing: list[dict] = []

    def prepared(self, name: str, **options) -> Path:
        """``<data_root>/<name>``, prepared (``python -m optical_rerank.data prepare``) if absent."""
        out = self.root / name
        if not (out / "card.json").is_file():
            _log(f"preparing {name} into {out}")
            prepare(name, out, **options)
        return out

    def index_for(self, corpus: Path, language: str) -> str:
        """The Lucene index beside ``corpus`` (``index-<language>``), built if absent or incomplete."""
        idx = corpus.parent / f"index-{language}"
        if not is_complete_index(idx):
            _log(f"indexing {corpus} ({language})")
            build_index(corpus, idx, language, overwrite=True)
        return str(idx)

    def _missing(self, dataset: str, lang: str, why: str, note: str = "reported", **extra: str) -> None:
        """Record a dataset × language without data (it goes into the results) and say so."""
        self.missing.append({"dataset": dataset, "lang": lang, **extra, "why": why})
        _log(f"{dataset} {lang}: MISSING ({note})")

    # ------------------------------------------------------------------ sets
    def eval_sets(self) -> list[EvalSet]:
        """Every configured dataset × language that has data, in config order."""
        cfg = self.cfg
        sets: list[EvalSet] = []
        if cfg.afriqa:
            sets += self._afriqa()
        if cfg.xquad_r:
            sets += self._xquad_r()
        if cfg.ntrex:
            sets += self._ntrex()
        if cfg.dl19:
            sets += self._dl19()
        return sets

    def _english_collection(self, name: str, corpus_of: Callable[[Path], Path]) -> tuple[Path, Path, str]:
        """``(root, corpus, index)`` of a prepared set whose collection is English (indexed if needed)."""
        root = self.prepared(name, skip_missing=True)
        corpus = corpus_of(root)
        return root, corpus, self.index_for(corpus, "en")

    def _afriqa(self) -> list[EvalSet]:
        cfg, n = self.cfg, self.cfg.max_queries_per_language
        split = cfg.afriqa.get("split", "test")
        if split != "test":
            _log(f"note: AfriQA split {split!r} (reports are made on test)")
        root, corpus, index = self._english_collection("afriqa", afriqa_corpus)
        sets = []
        for lang in cfg.afriqa["languages"]:
            native_f = afriqa_file(root, lang, split, "native")
            trans_f = afriqa_file(root, lang, split, "translated")
            qrels_f = afriqa_file(root, lang, split, "qrels")
            if not (native_f.is_file() and trans_f.is_file() and qrels_f.is_file()):
                has_test = afriqa_file(root, lang, "test", "qrels").is_file()
                why = (f"upstream AfriQA has no gold passages for {lang} {split} (data card notes)"
                       if split != "test" and has_test else
                       "not in the data mirror or no English gold passages upstream "
                       "(see data card.json skipped/no_gold lists)")
                self._missing("afriqa", lang, why, "reported, not dropped silently", split=split)
                continue
            native = sample_queries(read_topics(native_f, lang), n, cfg.seed, f"afriqa-{lang}")
            tmap = {q.qid: q for q in read_topics(trans_f, "en")}
            sets.append(EvalSet("afriqa", lang, native, [tmap[q.qid] for q in native], read_qrels(qrels_f),
                                index, str(corpus), systems=block_systems(cfg.afriqa, cfg.students)))
        return sets

    def _xquad_r(self) -> list[EvalSet]:
        cfg, n = self.cfg, self.cfg.max_queries_per_language
        root, corpus, index = self._english_collection("xquad-r", lambda r: r / "corpus" / "paragraphs" / "corpus.jsonl")
        en_f = root / "topics" / "xquad-r.en.tsv"
        en = _english_by_key(en_f) if en_f.is_file() else {}
        sets = []
        for lang in cfg.xquad_r["languages"]:
            tf = root / "topics" / f"xquad-r.{lang}.tsv"
            qf = root / "qrels" / f"xquad-r.{lang}.paragraph.qrels"
            if not (tf.is_file() and qf.is_file()):
                self._missing("xquad-r", lang, "not in the data mirror")
                continue
            native = sample_queries(read_topics(tf, lang), n, cfg.seed, f"xquad-{lang}")
            translated = [Query(q.qid, en[q.qid.split("-", 1)[-1]].text, "en") if q.qid.split("-", 1)[-1] in en
                          else q for q in native]
            sets.append(EvalSet("xquad-r", lang, native, translated, read_qrels(qf), index, str(corpus),
                                systems=block_systems(cfg.xquad_r, cfg.students)))
        return sets

    def _ntrex(self) -> list[EvalSet]:
        cfg, n = self.cfg, self.cfg.max_queries_per_language
        root, corpus, index = self._english_collection("ntrex-doc", lambda r: r / "corpus" / "eng" / "corpus.jsonl")
        en = _english_by_key(root / "topics" / "ntrex-doc.eng.tsv")
        sets = []
        for lang in cfg.ntrex["languages"]:
            tf = root / "topics" / f"ntrex-doc.{lang}.tsv"
            qf = root / "qrels" / f"ntrex-doc.{lang}.qrels"
            tcorpus = root / "corpus" / lang / "corpus.jsonl"
            if not (tf.is_file() and qf.is_file() and tcorpus.is_file()):
                self._missing("ntrex-doc", lang, "not in the data mirror")
                continue
            native = sample_queries(read_topics(tf, lang), n, cfg.seed, f"ntrex-{lang}")
            translated = [Query(q.qid, en[q.qid.split("-", 1)[-1]].text, "en") for q in native]
            try:
                analyzer_lang = analyzer_for(lang).code
            except ConfigError:
                analyzer_lang = "sw"  # any fallback code: standard tokenizer, no stemming
            sets.append(EvalSet("ntrex-doc", lang, native, translated, read_qrels(qf), index, str(corpus),
                                translated_index=self.index_for(tcorpus, analyzer_lang),
                                systems=block_systems(cfg.ntrex, cfg.students)))
        return sets

    def _dl19(self) -> list[EvalSet]:
        cfg = self.cfg
        root = self.prepared("dl19")
        corpus = root / "corpus" / "passages" / "corpus.jsonl"
        topics = sample_queries(read_topics(root / "topics" / "dl19.tsv", "en"), cfg.dl19.get("max_queries"),
                                cfg.seed, "dl19")
        return [EvalSet("dl19", "en", topics, topics, read_qrels(root / "qrels" / "dl19.qrels"), "",
                        str(corpus), systems=block_systems(cfg.dl19, cfg.students))]

    def dl19_bm25_run(self) -> Path:
        """The official BM25 run of DL19 in the prepared set (the DL19 candidates)."""
        return self.root / "dl19" / "runs" / "dl19.bm25.trec"

    # ------------------------------------------------------------------ training inputs
    def eval_topic_files(self) -> list[str]:
        """Every topics file this experiment evaluates on (native and translated): the leakage guard's input."""
        files = []
        for name, block in (("afriqa", self.cfg.afriqa), ("xquad-r", self.cfg.xquad_r), ("ntrex-doc", self.cfg.ntrex)):
            topics = self.root / name / "topics"
            if block and topics.is_dir():
                found = afriqa_topic_files(self.root / name, "test") if name == "afriqa" else sorted(topics.glob("*.tsv"))
                files += [str(p) for p in found]
        return files

    def afriqa_english_corpus(self) -> Path:
        """The AfriQA English passages (prepared if needed): the teacher's and the contexts' collection."""
        return afriqa_corpus(self.prepared("afriqa", skip_missing=True))

    def bitext_files(self, languages: Sequence[str] | None = None) -> list[str]:
        """The bitext TSV files of the configured languages (or ``languages``), prepared with the leakage
        guard of :meth:`eval_topic_files`."""
        langs = languages or self.cfg.bitext.get("languages") or (self.cfg.afriqa or {}).get("languages", [])
        opts = {k: v for k, v in self.cfg.bitext.items() if k != "languages"}
        guard = self.eval_topic_files()
        # keyed by the options and the leakage guard's topics (content): other options, another guard -> another set
        key = short_hash({"options": opts, "exclude_topics": sorted(sha256_file(p) for p in guard)})
        files = []
        for lang in langs:
            out = self.root / f"bitext-{lang}-{key}"
            if not (out / "card.json").is_file():
                _log(f"preparing bitext for {lang}")
                try:
                    prepare("bitext", out, lang=lang, skip_missing=True, exclude_topics=guard, **opts)
                except ConfigError as exc:
                    self._missing("bitext", lang, str(exc))
                    continue
            files.extend(str(p) for p in sorted(out.glob("bitext.*.tsv")))
        if not files:
            raise ConfigError("no bitext could be prepared for the configured languages")
        return files

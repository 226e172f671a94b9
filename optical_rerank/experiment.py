"""``python -m optical_rerank.experiment CONFIG``: every system on the same candidates → tables and plots.

For each dataset and language of the config (AfriQA test, XQuAD-R paragraphs, NTREX-doc, DL19)
this runs, on one seeded sample of queries and one shared candidate list:

==================== ==========================================================================
system               what it is
==================== ==========================================================================
bm25-native          BM25 with the native-language query (English collection)
bm25-translated      BM25 with the human English translation (oracle query translation)
bm25-doc-translated  NTREX only: BM25 over the human translation of the collection, native query
teacher-native       the English teacher reranking native queries (zero-shot transfer)
teacher-translated   the teacher reranking the English translation (what OPTICAL aims at)
kd                   a student distilled with mean-pooled MSE (vanilla KD), native queries
optical              the OPTICAL student (token-level OT distillation), native queries
e5-biencoder         multilingual-e5-small zero-shot as a bi-encoder reranker (a strong reference)
<any student name>   every other key of ``students`` is one more student (a variant for a sweep
                     on dev, e.g. ``optical-l12: {method: ot, layers: [12]}``), run like ``optical``
==================== ==========================================================================

Student blocks take :class:`~optical_rerank.distill.DistillConfig` fields plus ``context_k``: with
``in_context: true`` every bitext pair is paired with the BM25 top-``context_k`` passages of its
English side over the AfriQA English collection (no labels; cached next to the bitext), so the
alignment happens in context, as the distillation issue suggests.

Rerankers rescore the top ``depth`` candidates of the ``candidates`` first stage (default: BM25
with the translated query, so that every reranker sees the same, reasonable candidate list; its
recall is reported). Choices are never made on test queries: models are trained on train splits
and bitext only, and the config is fixed before this runs.

Outputs: runs under ``runs/<name>/<dataset>/<lang>/<system>.txt``; ``results/<name>/results.json``
(every aggregate and per-query value, significance tests, gap recovered, the exact budget),
``results.md`` (tables) and ``*.png`` plots. Everything is resumable and cached: rerunning the
command skips finished runs and reuses trained models.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from .errors import ConfigError
from .evaluate import EvalResult, evaluate_run, paired_test
from .provenance import environment_info
from .trec_io import Run, read_qrels, read_run, read_topics, write_json_atomic, write_run, write_text_atomic
from .types import Hit, Query

ALL_SYSTEMS = ("bm25-native", "bm25-translated", "bm25-doc-translated", "teacher-native", "teacher-translated",
               "kd", "optical", "e5-biencoder")
RERANKERS = ("teacher-native", "teacher-translated", "kd", "optical", "e5-biencoder")
MAIN_MEASURE = "ndcg_cut_10"
#: gap recovered is reported only where oracle − zero-shot nDCG@10 is at least this large
MIN_GAP = 0.02


@dataclass(frozen=True)
class ExperimentConfig:
    """An experiment; read from YAML/JSON, saved next to its results.

    ``teacher`` holds :class:`optical_rerank.teacher.TeacherConfig` fields, ``students`` maps a
    system name (``optical``, ``kd``) to :class:`optical_rerank.distill.DistillConfig` fields, and
    each dataset block (``afriqa``, ``xquad_r``, ``ntrex``, ``dl19``) lists its languages; ``None``
    leaves a dataset out.
    """

    name: str
    data_root: str = "work/data"
    models_root: str = "work/models"
    runs_dir: str = "runs"
    results_dir: str = "results"
    seed: int = 0
    max_queries_per_language: int | None = 30
    depth: int = 20
    candidates: str = "translated"
    bm25: dict = field(default_factory=lambda: {"k1": 0.9, "b": 0.4})
    rerank: dict = field(default_factory=lambda: {"max_length": 256, "batch_size": 32})
    measures: tuple[str, ...] = ("ndcg_cut.10", "mrr@10", "map")
    systems: tuple[str, ...] = ALL_SYSTEMS
    baseline_for_tests: tuple[str, ...] = ("teacher-native", "kd", "bm25-native", "e5-biencoder")
    teacher: dict = field(default_factory=dict)
    students: dict = field(default_factory=lambda: {"optical": {"method": "ot"}, "kd": {"method": "mse"}})
    bitext: dict = field(default_factory=dict)
    afriqa: dict | None = field(default_factory=lambda: {"languages": ["hau", "ibo", "swa", "twi", "yor", "zul"],
                                                         "split": "test"})
    xquad_r: dict | None = None
    ntrex: dict | None = None
    dl19: dict | None = None

    @staticmethod
    def load(path: str | Path) -> ExperimentConfig:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"experiment config {p} not found")
        text = p.read_text(encoding="utf-8")
        if p.suffix in (".yaml", ".yml"):
            import yaml  # noqa: PLC0415

            try:
                obj = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                line = getattr(getattr(exc, "problem_mark", None), "line", None)
                raise ConfigError(f"{p}:{line + 1 if line is not None else '?'}: invalid YAML: {exc}") from None
        else:
            obj = json.loads(text)
        if not isinstance(obj, dict):
            raise ConfigError(f"{p}: expected a mapping at the top level")
        known = {f for f in ExperimentConfig.__dataclass_fields__}
        unknown = sorted(set(obj) - known)
        if unknown:
            raise ConfigError(f"{p}: unknown keys {unknown}; known: {sorted(known)}")
        for key in ("measures", "systems", "baseline_for_tests"):
            if key in obj:
                obj[key] = tuple(obj[key])
        cfg = ExperimentConfig(**obj)
        known_systems = _known_systems(cfg.students)
        bad = sorted(set(cfg.systems) - set(known_systems))
        if bad:
            raise ConfigError(f"{p}: unknown systems {bad}; known: {known_systems} (a student variant must be a key "
                              "of `students`)")
        for name, block in cfg.students.items():
            if name in ALL_SYSTEMS and name not in ("kd", "optical"):
                raise ConfigError(f"{p}: student name {name!r} is a baseline system; use another name")
            if not isinstance(block, dict) or "method" not in block:
                raise ConfigError(f"{p}: students.{name} must be a mapping with a `method` (ot, mse or score)")
        if cfg.candidates not in ("translated", "native"):
            raise ConfigError(f"{p}: candidates must be 'translated' or 'native'")
        return cfg


# --------------------------------------------------------------------------- helpers
def _known_systems(students: Sequence[str]) -> list[str]:
    """Every system name, in table order: the fixed systems, then student variants in config order."""
    return list(ALL_SYSTEMS) + [s for s in students if s not in ALL_SYSTEMS]


def _block_systems(block: Mapping, students: Sequence[str] = ()) -> tuple[str, ...] | None:
    """A dataset block may restrict the systems run on it (``systems: [...]``)."""
    systems = block.get("systems")
    if systems is None:
        return None
    known = _known_systems(students)
    bad = sorted(set(systems) - set(known))
    if bad:
        raise ConfigError(f"unknown systems {bad}; known: {known}")
    return tuple(systems)


def student_key(teacher: str, bitext: Sequence[str], fields: Mapping, seed: int, eval_topics: Sequence[str]) -> str:
    """Cache key of a student: everything that determines its training data and weights.

    The evaluation topics are part of it because the leakage guard drops the bitext pairs that
    match them: the same student block under another set of evaluation datasets is another model.
    """
    return _hash({"teacher": teacher, "bitext": list(bitext), "fields": dict(fields), "seed": seed,
                  "eval_topics": sorted(eval_topics)})


def _model_key(model: str) -> str:
    """The last two components of a model path (``student-optical-<hash>/model``, ``teachers/<hash>``):
    content-addressed names that survive moving the checkout."""
    parts = Path(model).parts
    return "/".join(parts[-2:])


def _stale_run(path: Path, model: str, queries: Sequence[Query], depth: int) -> str | None:
    """Why an existing run file no longer matches this experiment (``None``: reusable or absent).

    A run is reused only if the ``<run>.config.json`` written beside it names the same model
    (content-addressed directory name), rerank depth and queries; a changed student or budget
    therefore reranks instead of silently reporting the old run.
    """
    meta_path = Path(f"{path}.config.json")
    if not path.is_file() or not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        recorded = meta["config"]
    except (ValueError, KeyError, TypeError):
        return f"unreadable {meta_path.name}"
    if _model_key(str(recorded.get("model", ""))) != _model_key(model):
        return f"made with {recorded.get('model')}, now {model}"
    if recorded.get("depth") != depth:
        return f"depth {recorded.get('depth')}, now {depth}"
    if meta.get("qids") is not None and list(meta["qids"]) != [q.qid for q in queries]:
        return "other queries"
    return None


def system_order(cfg_students: Sequence[str], present: set[str] | Sequence[str]) -> list[str]:
    """The systems of ``present`` in table order (:func:`_known_systems`)."""
    return [s for s in _known_systems(cfg_students) if s in present]


def _log(msg: str) -> None:
    print(f"[experiment {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _hash(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


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


class Experiment:
    """Runs an :class:`ExperimentConfig`; see the module docstring."""

    def __init__(self, cfg: ExperimentConfig):
        self.cfg = cfg
        self.data_root = Path(cfg.data_root)
        self.runs = Path(cfg.runs_dir) / cfg.name
        self.results = Path(cfg.results_dir) / cfg.name
        self.missing: list[dict] = []
        self._rerankers: dict[str, object] = {}
        self._retrievers: dict[str, object] = {}

    # ----------------------------------------------------------------- data
    def prepared(self, name: str, **options) -> Path:
        from .data.prepare import prepare  # noqa: PLC0415

        out = self.data_root / name
        if not (out / "card.json").is_file():
            _log(f"preparing {name} into {out}")
            prepare(name, out, **options)
        return out

    def index_for(self, corpus: Path, language: str) -> str:
        from .first_stage import build_index, is_complete_index  # noqa: PLC0415

        idx = corpus.parent / f"index-{language}"
        if not is_complete_index(idx):
            _log(f"indexing {corpus} ({language})")
            build_index(corpus, idx, language, overwrite=True)
        return str(idx)

    def eval_sets(self) -> list[EvalSet]:
        cfg = self.cfg
        sets: list[EvalSet] = []
        n = cfg.max_queries_per_language
        if cfg.afriqa:
            root = self.prepared("afriqa", skip_missing=True)
            split = cfg.afriqa.get("split", "test")
            if split != "test":
                _log(f"note: AfriQA split {split!r} (reports are made on test)")
            corpus = root / "corpus" / "en" / "corpus.jsonl"
            index = self.index_for(corpus, "en")
            for lang in cfg.afriqa["languages"]:
                native_f = root / "topics" / f"afriqa.{lang}.{split}.native.tsv"
                trans_f = root / "topics" / f"afriqa.{lang}.{split}.translated.tsv"
                qrels_f = root / "qrels" / f"afriqa.{lang}.{split}.qrels"
                if not (native_f.is_file() and trans_f.is_file() and qrels_f.is_file()):
                    has_test = (root / "qrels" / f"afriqa.{lang}.test.qrels").is_file()
                    why = (f"upstream AfriQA has no gold passages for {lang} {split} (data card notes)"
                           if split != "test" and has_test else
                           "not in the data mirror or no English gold passages upstream "
                           "(see data card.json skipped/no_gold lists)")
                    self.missing.append({"dataset": "afriqa", "lang": lang, "split": split, "why": why})
                    _log(f"afriqa {lang}: MISSING (reported, not dropped silently)")
                    continue
                native = sample_queries(read_topics(native_f, lang), n, cfg.seed, f"afriqa-{lang}")
                tmap = {q.qid: q for q in read_topics(trans_f, "en")}
                sets.append(EvalSet("afriqa", lang, native, [tmap[q.qid] for q in native], read_qrels(qrels_f),
                                    index, str(corpus), systems=_block_systems(cfg.afriqa, cfg.students)))
        if cfg.xquad_r:
            root = self.prepared("xquad-r", skip_missing=True)
            corpus = root / "corpus" / "paragraphs" / "corpus.jsonl"
            index = self.index_for(corpus, "en")
            en_f = root / "topics" / "xquad-r.en.tsv"
            en = {q.qid.split("-", 1)[-1]: q for q in read_topics(en_f, "en")} if en_f.is_file() else {}
            for lang in cfg.xquad_r["languages"]:
                tf = root / "topics" / f"xquad-r.{lang}.tsv"
                qf = root / "qrels" / f"xquad-r.{lang}.paragraph.qrels"
                if not (tf.is_file() and qf.is_file()):
                    self.missing.append({"dataset": "xquad-r", "lang": lang, "why": "not in the data mirror"})
                    _log(f"xquad-r {lang}: MISSING (reported)")
                    continue
                native = sample_queries(read_topics(tf, lang), n, cfg.seed, f"xquad-{lang}")
                translated = [Query(q.qid, en[q.qid.split("-", 1)[-1]].text, "en") if q.qid.split("-", 1)[-1] in en
                              else q for q in native]
                sets.append(EvalSet("xquad-r", lang, native, translated, read_qrels(qf), index, str(corpus),
                                    systems=_block_systems(cfg.xquad_r, cfg.students)))
        if cfg.ntrex:
            root = self.prepared("ntrex-doc", skip_missing=True)
            corpus = root / "corpus" / "eng" / "corpus.jsonl"
            index = self.index_for(corpus, "en")
            en_f = root / "topics" / "ntrex-doc.eng.tsv"
            en = {q.qid.split("-", 1)[-1]: q for q in read_topics(en_f, "en")}
            for lang in cfg.ntrex["languages"]:
                tf = root / "topics" / f"ntrex-doc.{lang}.tsv"
                qf = root / "qrels" / f"ntrex-doc.{lang}.qrels"
                tcorpus = root / "corpus" / lang / "corpus.jsonl"
                if not (tf.is_file() and qf.is_file() and tcorpus.is_file()):
                    self.missing.append({"dataset": "ntrex-doc", "lang": lang, "why": "not in the data mirror"})
                    _log(f"ntrex-doc {lang}: MISSING (reported)")
                    continue
                native = sample_queries(read_topics(tf, lang), n, cfg.seed, f"ntrex-{lang}")
                translated = [Query(q.qid, en[q.qid.split("-", 1)[-1]].text, "en") for q in native]
                from .first_stage import resolve_language  # noqa: PLC0415

                try:
                    analyzer_lang = resolve_language(lang).code
                except ConfigError:
                    analyzer_lang = "sw"  # any fallback code: standard tokenizer, no stemming
                sets.append(EvalSet("ntrex-doc", lang, native, translated, read_qrels(qf), index, str(corpus),
                                    translated_index=self.index_for(tcorpus, analyzer_lang),
                                    systems=_block_systems(cfg.ntrex, cfg.students)))
        if cfg.dl19:
            root = self.prepared("dl19")
            corpus = root / "corpus" / "passages" / "corpus.jsonl"
            topics = sample_queries(read_topics(root / "topics" / "dl19.tsv", "en"), cfg.dl19.get("max_queries"),
                                    cfg.seed, "dl19")
            sets.append(EvalSet("dl19", "en", topics, topics, read_qrels(root / "qrels" / "dl19.qrels"), "",
                                str(corpus), systems=_block_systems(cfg.dl19, cfg.students)))
        return sets

    # ----------------------------------------------------------------- models
    def teacher_dir(self) -> str:
        from .teacher import TeacherConfig, ensure_teacher  # noqa: PLC0415

        fields = dict(self.cfg.teacher)
        if self.cfg.afriqa and "afriqa_dir" not in fields:
            fields["afriqa_dir"] = str(self.prepared("afriqa", skip_missing=True))
        return str(ensure_teacher(TeacherConfig(**fields)))

    def bitext_files(self) -> list[str]:
        from .data.prepare import prepare  # noqa: PLC0415

        langs = self.cfg.bitext.get("languages") or (self.cfg.afriqa or {}).get("languages", [])
        opts = {k: v for k, v in self.cfg.bitext.items() if k != "languages"}
        files = []
        for lang in langs:
            out = self.data_root / f"bitext-{lang}"
            if not (out / "card.json").is_file():
                _log(f"preparing bitext for {lang}")
                try:
                    prepare("bitext", out, lang=lang, skip_missing=True, exclude_topics=self.eval_topic_files(),
                            **opts)
                except ConfigError as exc:
                    self.missing.append({"dataset": "bitext", "lang": lang, "why": str(exc)})
                    continue
            files.extend(str(p) for p in sorted(out.glob("bitext.*.tsv")))
        if not files:
            raise ConfigError("no bitext could be prepared for the configured languages")
        return files

    def eval_topic_files(self) -> list[str]:
        """Every topics file this experiment evaluates on (native and translated): the leakage guard's input."""
        files = []
        for name, block in (("afriqa", self.cfg.afriqa), ("xquad-r", self.cfg.xquad_r), ("ntrex-doc", self.cfg.ntrex)):
            if block and (self.data_root / name / "topics").is_dir():
                files += [str(p) for p in sorted((self.data_root / name / "topics").glob("*.tsv"))
                          if name != "afriqa" or ".test." in p.name]
        return files

    def context_passages(self, bitext: list[str], k: int, corpus: str | None = None) -> Path:
        """BM25 top-``k`` English passages for the English side of every bitext pair (no labels).

        The collection is ``corpus`` (a ``corpus.jsonl``) or the AfriQA English passages; the result
        is cached as ``{en, passages}`` JSONL under ``<data_root>/contexts/`` and read back with
        :func:`optical_rerank.distill.read_passages`.
        """
        from .distill import read_bitext_files  # noqa: PLC0415
        from .first_stage import load_corpus_texts  # noqa: PLC0415

        if k < 1:
            raise ConfigError(f"context_k must be >= 1, got {k}")
        if corpus is None:
            if not self.cfg.afriqa:
                raise ConfigError("in_context students need an English collection: set `context_corpus` "
                                  "(a corpus.jsonl) in the student block or configure `afriqa`")
            corpus = str(self.prepared("afriqa", skip_missing=True) / "corpus" / "en" / "corpus.jsonl")
        key = _hash({"bitext": bitext, "corpus": corpus, "k": k, "bm25": self.cfg.bm25})
        path = self.data_root / "contexts" / f"bm25-top{k}-{key}.jsonl"
        if path.is_file():
            return path
        english = sorted({" ".join(p.en.split()) for p in read_bitext_files(bitext)})
        _log(f"in-context passages: BM25 top-{k} over {corpus} for {len(english)} English sentences")
        index = self.index_for(Path(corpus), "en")
        run = self.bm25(index).retrieve([Query(str(i), t, "en") for i, t in enumerate(english)], k=k,
                                        with_text=False)
        texts = load_corpus_texts(corpus)
        lines = []
        for i, en in enumerate(english):
            ps = [texts[h.docid] for h in run.get(str(i), []) if texts.get(h.docid, "").strip()]
            if ps:
                lines.append(json.dumps({"en": en, "passages": ps}, ensure_ascii=False))
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, "\n".join(lines) + "\n")
        return path

    def student_dir(self, system: str, teacher: str, bitext: list[str]) -> str:
        from .distill import DistillConfig, distill, read_bitext_files, read_passages  # noqa: PLC0415

        fields = dict(self.cfg.students[system])
        eval_topics = self.eval_topic_files()
        key = student_key(teacher, bitext, fields, self.cfg.seed, eval_topics)
        out = Path(self.cfg.models_root) / f"student-{system}-{key}"
        context_k = int(fields.pop("context_k", 3))
        context_corpus = fields.pop("context_corpus", None)
        fields.setdefault("seed", self.cfg.seed)
        dcfg = DistillConfig(teacher=teacher, output=str(out), eval_topics=tuple(eval_topics), **fields)
        if (out / "result.json").is_file():
            return str(out / "model")
        passages = None
        if dcfg.in_context:
            passages = read_passages(self.context_passages(bitext, context_k, context_corpus))
        _log(f"distilling {system} ({dcfg.method}{', in context' if passages else ''}) into {out}")
        result = distill(dcfg, read_bitext_files(bitext), passages=passages)
        return str(result.model_dir)

    # ----------------------------------------------------------------- runs
    def bm25(self, index: str) -> object:
        from .first_stage import Bm25Retriever  # noqa: PLC0415

        if index not in self._retrievers:
            self._retrievers[index] = Bm25Retriever(index, self.cfg.bm25.get("k1", 0.9), self.cfg.bm25.get("b", 0.4))
        return self._retrievers[index]

    def first_stage_run(self, es: EvalSet, which: str, path: Path) -> Run:
        """BM25 run for ``which`` in native | translated | doc-translated, cached on disk."""
        from .first_stage import load_corpus_texts  # noqa: PLC0415

        k = max(100, self.cfg.depth)
        if not path.is_file():
            if es.dataset == "dl19":
                root = self.data_root / "dl19"
                run = read_run(root / "runs" / "dl19.bm25.trec")
                run = {q.qid: run.get(q.qid, []) for q in es.native}
            else:
                index = es.translated_index if which == "doc-translated" else es.index
                queries = es.translated if which == "translated" else es.native
                run = self.bm25(index).retrieve(queries, k=k, with_text=False)
            write_run(path, run, tag=f"bm25-{which}")
        run = read_run(path)
        if not hasattr(self, "_texts"):
            self._texts = {}
        if es.corpus not in self._texts:
            self._texts[es.corpus] = load_corpus_texts(es.corpus)
        texts = self._texts[es.corpus]
        return {qid: [Hit(h.qid, h.docid, h.score, h.rank, texts.get(h.docid)) for h in hits]
                for qid, hits in run.items()}

    def reranker(self, model: str):
        from .rerank import CrossEncoderReranker, RerankConfig  # noqa: PLC0415

        if model not in self._rerankers:
            self._rerankers = {}  # one model in memory at a time
            rc = RerankConfig(model=model, depth=self.cfg.depth, **self.cfg.rerank)
            self._rerankers[model] = CrossEncoderReranker(model, rc)
        return self._rerankers[model]

    def biencoder_run(self, queries: Sequence[Query], candidates: Run, path: Path) -> None:
        from .models import E5_PASSAGE_PREFIX, E5_QUERY_PREFIX, embed_texts, load_encoder  # noqa: PLC0415
        from .rerank import _assign_scores  # noqa: PLC0415

        if path.is_file():
            return
        if "e5" not in self._rerankers:
            self._rerankers = {"e5": load_encoder("e5-small-multilingual")}
        tok, model = self._rerankers["e5"]
        max_len = self.cfg.rerank.get("max_length", 256)
        out = {}
        for q in queries:
            head = candidates.get(q.qid, [])[: self.cfg.depth]
            tail = candidates.get(q.qid, [])[self.cfg.depth:]
            if not head:
                out[q.qid] = []
                continue
            qv = embed_texts(tok, model, [q.text], prefix=E5_QUERY_PREFIX, max_length=max_len)
            pv = embed_texts(tok, model, [h.text or "" for h in head], prefix=E5_PASSAGE_PREFIX, max_length=max_len)
            out[q.qid] = _assign_scores(q.qid, head, (pv @ qv[0]), tail)
        write_run(path, out, tag="e5-biencoder")

    def run_set(self, es: EvalSet, models: Mapping[str, str]) -> dict[str, Path]:
        from .rerank import RerankConfig, rerank_to_file  # noqa: PLC0415

        d = self.runs / es.dataset / es.lang
        paths: dict[str, Path] = {}
        systems = es.systems or self.cfg.systems
        native_run = translated_run = None
        if es.dataset != "dl19":
            native_run = self.first_stage_run(es, "native", d / "bm25-native.txt")
            translated_run = self.first_stage_run(es, "translated", d / "bm25-translated.txt")
            paths["bm25-native"] = d / "bm25-native.txt"
            paths["bm25-translated"] = d / "bm25-translated.txt"
            if es.translated_index and "bm25-doc-translated" in systems:
                self.first_stage_run(es, "doc-translated", d / "bm25-doc-translated.txt")
                paths["bm25-doc-translated"] = d / "bm25-doc-translated.txt"
            cands = translated_run if self.cfg.candidates == "translated" else native_run
        else:
            cands = self.first_stage_run(es, "dl19", d / "bm25.txt")
            paths["bm25-translated"] = d / "bm25.txt"
        cands = {q: hits[: self.cfg.depth] for q, hits in cands.items()}
        for system in systems:
            if system not in RERANKERS and system not in self.cfg.students:
                continue
            if es.dataset == "dl19" and system not in ("teacher-translated", "e5-biencoder"):
                continue
            path = d / f"{system}.txt"
            queries = es.translated if system == "teacher-translated" else es.native
            if system == "e5-biencoder":
                self.biencoder_run(queries, cands, path)
            else:
                model = models["teacher"] if system.startswith("teacher") else models[system]
                stale = _stale_run(path, model, queries, self.cfg.depth)
                if stale:
                    _log(f"{es.dataset}/{es.lang}: {path} is stale ({stale}): reranking again")
                    path.unlink()
                if not path.is_file():
                    _log(f"{es.dataset}/{es.lang}: reranking with {system} ({len(queries)} queries × {self.cfg.depth})")
                    rc = RerankConfig(model=model, depth=self.cfg.depth, **self.cfg.rerank)
                    rerank_to_file(queries, cands, path, rc, tag=system, depth=self.cfg.depth,
                                   reranker=self.reranker(model))
            paths[system] = path
        return paths

    # ----------------------------------------------------------------- scoring
    def score(self, sets: Sequence[EvalSet], paths: Mapping[tuple[str, str], Mapping[str, Path]]) -> dict:
        measures = list(self.cfg.measures) + [f"recall.{self.cfg.depth}"]
        out: dict = {"sets": {}, "significance": {}, "gap_recovered": {}}
        for es in sets:
            key = f"{es.dataset}/{es.lang}"
            qrels = {q.qid: es.qrels.get(q.qid, {}) for q in es.native if q.qid in es.qrels}
            res: dict[str, EvalResult] = {}
            for system, path in paths[(es.dataset, es.lang)].items():
                run = read_run(path)
                run = {q.qid: run.get(q.qid, []) for q in es.native}
                res[system] = evaluate_run(qrels, run, measures, complete=True)
            out["sets"][key] = {s: {"aggregate": r.aggregate, "per_query": r.per_query, "num_queries": r.num_queries}
                                for s, r in res.items()}
            cand = "bm25-translated" if self.cfg.candidates == "translated" or es.dataset == "dl19" else "bm25-native"
            if cand in res:
                out["sets"][key]["candidates"] = {"system": cand, "depth": self.cfg.depth,
                                                  f"recall_{self.cfg.depth}": res[cand].aggregate.get(
                                                      f"recall_{self.cfg.depth}")}
            self._results_cache = getattr(self, "_results_cache", {})
            self._results_cache[key] = res
        # significance: OPTICAL against each baseline, Bonferroni over the languages of a dataset
        for dataset in sorted({es.dataset for es in sets}):
            keys = [f"{es.dataset}/{es.lang}" for es in sets if es.dataset == dataset]
            for key in keys:
                res = self._results_cache[key]
                if "optical" in res:
                    sig = {}
                    for base in self.cfg.baseline_for_tests:
                        if base in res:
                            sig[base] = {}
                            for m in self.cfg.measures:
                                t = paired_test(res["optical"], res[base], m, n_comparisons=len(keys))
                                sig[base][t.measure] = asdict(t)
                    out["significance"][key] = sig
                zs, orc = res.get("teacher-native"), res.get("teacher-translated")
                if zs and orc:
                    gap = {}
                    for student in self.cfg.students:
                        if student in res:
                            z, o, s = (x.aggregate[MAIN_MEASURE] for x in (zs, orc, res[student]))
                            # undefined where the oracle is not clearly above zero-shot: no gap to recover
                            gap[student] = (s - z) / (o - z) if o - z >= MIN_GAP else None
                    out["gap_recovered"][key] = gap
        out["students"] = self.student_summary(sets)
        return out

    def student_summary(self, sets: Sequence[EvalSet]) -> dict:
        """Per dataset, every student pooled over its languages (a sweep's comparison table).

        Means are macro averages over languages (as in the tables); the paired t-test against the
        zero-shot teacher (and against vanilla KD) pools every query of every language, one test
        per student, Bonferroni over the students compared.
        """
        out: dict = {}
        for dataset in sorted({es.dataset for es in sets}):
            keys = [f"{es.dataset}/{es.lang}" for es in sets if es.dataset == dataset]
            results = [self._results_cache[k] for k in keys]
            students = [s for s in self.cfg.students if all(s in r for r in results)]
            if not students:
                continue

            def pooled(system: str) -> EvalResult | None:
                if not all(system in r for r in results):
                    return None
                per_query = {f"{k}/{q}": v for k, r in zip(keys, results) for q, v in r[system].per_query.items()}
                first = results[0][system]
                return EvalResult(first.measures, per_query, {}, len(per_query))

            macro = {}
            for system in set().union(*[set(r) for r in results]):
                if all(system in r for r in results):
                    macro[system] = {m: sum(r[system].aggregate.get(m, 0.0) for r in results) / len(results)
                                     for m in (MAIN_MEASURE, "mrr@10", "map")
                                     if m in results[0][system].aggregate}
            zs, kd = pooled("teacher-native"), pooled("kd")
            table = {}
            for s in students:
                row = {"macro": macro.get(s, {}), "languages": len(keys)}
                ps = pooled(s)
                for base_name, base in (("teacher-native", zs), ("kd", kd)):
                    if base is not None and base_name != s:
                        t = paired_test(ps, base, MAIN_MEASURE, n_comparisons=len(students))
                        row[f"vs_{base_name}"] = asdict(t)
                z = macro.get("teacher-native", {}).get(MAIN_MEASURE)
                o = macro.get("teacher-translated", {}).get(MAIN_MEASURE)
                v = row["macro"].get(MAIN_MEASURE)
                row["gap_recovered"] = ((v - z) / (o - z) if None not in (z, o, v) and o - z >= MIN_GAP else None)
                row["config"] = dict(self.cfg.students[s])
                table[s] = row
            out[dataset] = {"languages": [k.split("/")[1] for k in keys], "baselines": {
                b: macro[b] for b in ("teacher-native", "teacher-translated", "bm25-translated") if b in macro},
                "students": table}
        return out

    # ----------------------------------------------------------------- main
    def run(self) -> dict:
        start = time.time()
        cfg = self.cfg
        sets = self.eval_sets()
        if not sets:
            raise ConfigError("no dataset/language of the config has data; see the missing list above")
        models: dict[str, str] = {}
        wanted = set().union(*[set(es.systems or cfg.systems) for es in sets])
        needs_teacher = bool(wanted & ({"teacher-native", "teacher-translated"} | set(cfg.students)))
        timings = {}
        if needs_teacher:
            t0 = time.time()
            models["teacher"] = self.teacher_dir()
            timings["teacher_s"] = round(time.time() - t0, 1)
            students = [s for s in cfg.students if s in wanted]
            if students:
                bitext = self.bitext_files()
                for s in students:
                    t0 = time.time()
                    models[s] = self.student_dir(s, models["teacher"], bitext)
                    timings[f"{s}_s"] = round(time.time() - t0, 1)
        paths = {}
        for es in sets:
            t0 = time.time()
            paths[(es.dataset, es.lang)] = self.run_set(es, models)
            timings[f"runs_{es.dataset}_{es.lang}_s"] = round(time.time() - t0, 1)
        scores = self.score(sets, paths)
        results = {"config": asdict(cfg), "models": models, "missing": self.missing, "timings": timings,
                   "budget": {"max_queries_per_language": cfg.max_queries_per_language, "depth": cfg.depth,
                              "seed": cfg.seed, "candidates": cfg.candidates,
                              "queries": {f"{es.dataset}/{es.lang}": [q.qid for q in es.native] for es in sets}},
                   "environment": environment_info(), "seconds": round(time.time() - start, 1), **scores}
        self.results.mkdir(parents=True, exist_ok=True)
        archive_model_records(models, self.results / "models")
        write_json_atomic(self.results / "results.json", results)
        write_text_atomic(self.results / "results.md", render_markdown(results))
        plot_results(results, self.results)
        _log(f"results in {self.results} ({results['seconds']:.0f}s)")
        return results


def archive_model_records(models: Mapping[str, str], out: Path) -> list[Path]:
    """Copy every model's config and training log next to the results (the weights stay in the cache).

    ``teacher_config.json`` for the teacher; ``<student dir>/distill_config.json`` and
    ``train_log.jsonl`` for each student, so that the committed results say exactly how each
    model was trained.
    """
    written = []
    for system, model in models.items():
        model_dir = Path(model)
        if system == "teacher":
            pairs = [(model_dir / "teacher_config.json", out / "teacher_config.json")]
        else:
            run_dir = model_dir.parent
            pairs = [(model_dir / "distill_config.json", out / run_dir.name / "distill_config.json"),
                     (run_dir / "train_log.jsonl", out / run_dir.name / "train_log.jsonl")]
        for src, dst in pairs:
            if src.is_file():
                dst.parent.mkdir(parents=True, exist_ok=True)
                write_text_atomic(dst, src.read_text(encoding="utf-8"))
                written.append(dst)
    return written


# --------------------------------------------------------------------------- reporting
_LABELS = {"bm25-native": "BM25 (native query)", "bm25-translated": "BM25 (English translation)",
           "bm25-doc-translated": "BM25 (translated collection)", "teacher-native": "Teacher, native (zero-shot)",
           "teacher-translated": "Teacher, English (oracle)", "kd": "Vanilla KD student",
           "optical": "OPTICAL student", "e5-biencoder": "mE5-small bi-encoder"}


def render_markdown(results: Mapping) -> str:
    """Paper-style tables: a row per language and the average, a column per system, per measure."""
    cfg = results["config"]
    lines = [f"# Experiment `{cfg['name']}`", "",
             f"Budget: up to {cfg['max_queries_per_language']} queries per language (seed {cfg['seed']}), "
             f"rerank depth {cfg['depth']} over BM25 candidates from the {cfg['candidates']} query; "
             f"measures computed with trec_eval semantics (-c). Wall time {results['seconds']:.0f}s.", ""]
    by_dataset: dict[str, list[str]] = {}
    for key in results["sets"]:
        by_dataset.setdefault(key.split("/")[0], []).append(key)
    for dataset, keys in by_dataset.items():
        systems = system_order(cfg.get("students", {}), {s for k in keys for s in results["sets"][k]})
        for measure in [m.replace(".", "_") for m in cfg["measures"]]:
            with_gap = measure == MAIN_MEASURE and "optical" in systems
            lines += [f"## {dataset}: {measure}", "",
                      "| lang | n | " + " | ".join(_LABELS.get(s, s) for s in systems) +
                      (" | gap recovered (OPTICAL) |" if with_gap else " |"),
                      "|---|---:|" + "---:|" * (len(systems) + (1 if with_gap else 0))]
            sums = {s: [] for s in systems}
            for key in keys:
                row = results["sets"][key]
                sig = results["significance"].get(key, {})
                cells = []
                for s in systems:
                    if s not in row:
                        cells.append("–")
                        continue
                    v = row[s]["aggregate"].get(measure)
                    sums[s].append(v)
                    marks = ""
                    if s == "optical":
                        better = [b for b, t in sig.items() if t.get(measure, {}).get("p_corrected", 1) < 0.05
                                  and t[measure]["diff"] > 0]
                        marks = "".join("†" if b == "teacher-native" else "‡" if b == "kd" else "" for b in better)
                    cells.append(f"{v:.4f}{marks}")
                gap = results["gap_recovered"].get(key, {}).get("optical")
                n = next(iter(row.values()))["num_queries"] if row else 0
                gap_cell = (f" | {'n/a' if gap is None else f'{gap:.2f}'} |") if with_gap else " |"
                lines.append(f"| {key.split('/')[1]} | {n} | " + " | ".join(cells) + gap_cell)
            if len(keys) > 1:
                means = {s: sum(v) / len(v) for s, v in sums.items() if v}
                avg = [f"{means[s]:.4f}" if s in means else "–" for s in systems]
                gap_cell = " |"
                if with_gap and {"optical", "teacher-native", "teacher-translated"} <= set(means):
                    z, o = means["teacher-native"], means["teacher-translated"]
                    gap_cell = f" | {(means['optical'] - z) / (o - z):.2f} |" if o - z >= MIN_GAP else " | n/a |"
                lines.append("| **avg** | | " + " | ".join(avg) + gap_cell)
            lines.append("")
    lines += ["† OPTICAL significantly better than the zero-shot teacher, ‡ than vanilla KD "
              "(paired t-test, p < 0.05 after Bonferroni over the languages of the dataset).",
              f"Gap recovered = (OPTICAL − zero-shot) / (oracle − zero-shot) on nDCG@10; n/a where the oracle is "
              f"less than {MIN_GAP} above zero-shot (no gap to recover).", ""]
    for dataset, block in (results.get("students") or {}).items():
        if len(block["students"]) < 3:
            continue  # the two default students are already in the tables above
        base = block["baselines"]
        lines += [f"## {dataset}: students compared (macro average over {', '.join(block['languages'])})", "",
                  "Zero-shot teacher nDCG@10 {:.4f}, oracle (English query) {:.4f}. p: paired t-test on nDCG@10 "
                  "pooled over all queries, Bonferroni over the {} students.".format(
                      base.get("teacher-native", {}).get(MAIN_MEASURE, float("nan")),
                      base.get("teacher-translated", {}).get(MAIN_MEASURE, float("nan")), len(block["students"])),
                  "", "| student | method | layers | what differs | nDCG@10 | MRR@10 | Δ zero-shot | p | "
                      "gap recovered |", "|---|---|---|---|---:|---:|---:|---:|---:|"]
        ref = next(iter(block["students"].values()))["config"]
        for name, row in block["students"].items():
            c = row["config"]
            diff = ", ".join(f"{k}={v}" for k, v in c.items() if k not in ("method", "layers") and ref.get(k) != v)
            vs = row.get("vs_teacher-native", {})
            m = row["macro"]
            gap = row.get("gap_recovered")
            lines.append(f"| {name} | {c.get('method')} | {c.get('layers', '')} | {diff or '–'} | "
                         f"{m.get(MAIN_MEASURE, float('nan')):.4f} | {m.get('mrr@10', float('nan')):.4f} | "
                         f"{m.get(MAIN_MEASURE, float('nan')) - base.get('teacher-native', {}).get(MAIN_MEASURE, float('nan')):+.4f}"
                         f" | {vs.get('p_corrected', float('nan')):.3f} | "
                         f"{'n/a' if gap is None else f'{gap:.2f}'} |")
        lines.append("")
    if results.get("missing"):
        lines += ["## Not run (data missing)", ""] + [f"- {m['dataset']} {m['lang']}: {m['why']}"
                                                      for m in results["missing"]] + [""]
    return "\n".join(lines)


def plot_results(results: Mapping, out_dir: Path) -> list[Path]:
    """A grouped bar chart of nDCG@10 per language and system, per dataset (PNG)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    written = []
    by_dataset: dict[str, list[str]] = {}
    for key in results["sets"]:
        by_dataset.setdefault(key.split("/")[0], []).append(key)
    for dataset, keys in by_dataset.items():
        systems = system_order(results["config"].get("students", {}), {s for k in keys for s in results["sets"][k]})
        fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(keys) + 3) + (2.5 if len(systems) > 8 else 0), 4))
        width = 0.8 / max(1, len(systems))
        colors = plt.get_cmap("tab20" if len(systems) > 10 else "tab10").colors
        for j, s in enumerate(systems):
            vals = [results["sets"][k].get(s, {}).get("aggregate", {}).get(MAIN_MEASURE, 0.0) for k in keys]
            ax.bar([i + j * width for i in range(len(keys))], vals, width, label=_LABELS.get(s, s),
                   color=colors[j % len(colors)])
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(keys))], [k.split("/")[1] for k in keys])
        ax.set_ylabel("nDCG@10")
        ax.set_title(f"{dataset}: nDCG@10 per language")
        if len(systems) > 8:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        else:
            ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        written.append(_save(fig, out_dir / f"{dataset}_ndcg10.png"))
        plt.close(fig)
    for dataset, block in (results.get("students") or {}).items():
        rows = block["students"]
        if len(rows) < 3:
            continue
        names = list(rows)
        vals = [rows[n]["macro"].get(MAIN_MEASURE, 0.0) for n in names]
        fig, ax = plt.subplots(figsize=(7, 0.35 * len(names) + 1.5))
        ax.barh(range(len(names)), vals, color=["tab:green" if rows[n]["config"].get("method") == "ot" else "tab:purple"
                                                for n in names])
        ax.set_yticks(range(len(names)), names)
        ax.invert_yaxis()
        for label, system, style in (("zero-shot teacher", "teacher-native", "--"),
                                     ("oracle (English query)", "teacher-translated", ":")):
            v = block["baselines"].get(system, {}).get(MAIN_MEASURE)
            if v is not None:
                ax.axvline(v, color="black", linestyle=style, label=f"{label} {v:.3f}")
        lo = min(vals + [block["baselines"].get("teacher-native", {}).get(MAIN_MEASURE, 1.0)])
        ax.set_xlim(max(0.0, lo - 0.05), None)
        ax.set_xlabel(f"nDCG@10, macro average over {', '.join(block['languages'])}")
        ax.set_title(f"{dataset}: students (green: OT, purple: MSE)")
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        written.append(_save(fig, out_dir / f"{dataset}_students.png"))
        plt.close(fig)
    return written


def _save(fig, path: Path) -> Path:
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    tmp.replace(path)
    return path


# --------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m optical_rerank.experiment", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="experiment YAML/JSON (e.g. configs/afriqa.yaml)")
    p.add_argument("--max-queries-per-language", type=int, help="override the config's query budget")
    p.add_argument("--depth", type=int, help="override the config's rerank depth")
    p.add_argument("--name", help="override the experiment name (output folders)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cfg = ExperimentConfig.load(args.config)
    if args.max_queries_per_language is not None:
        cfg = replace(cfg, max_queries_per_language=args.max_queries_per_language)
    if args.depth is not None:
        cfg = replace(cfg, depth=args.depth)
    if args.name:
        cfg = replace(cfg, name=args.name)
    results = Experiment(cfg).run()
    sys.stdout.write(render_markdown(results))
    return 0


if __name__ == "__main__":
    from .cli import run_cli

    raise SystemExit(run_cli(main))

"""Running an experiment: models (teacher, students), first-stage runs, reranked runs, results.

Everything is cached and resumable: the teacher by its fingerprint, each student by
:func:`~optical_rerank.experiment._systems.student_key`, each run file by its path (reranked
again only when :func:`~optical_rerank.experiment._systems._stale_run` says it no longer matches).
"""
from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

from ..errors import ConfigError
from ..files import sha256_file, write_json_atomic, write_text_atomic
from ..first_stage import Bm25Retriever, load_corpus_texts
from ..models import shipped_model_dir
from ..provenance import environment_info
from ..rerank import E5_TEMPLATES, BiEncoderReranker, CrossEncoderReranker, RerankConfig, rerank_to_file
from ..teacher import TeacherConfig, ensure_teacher
from ..trec_io import Run, read_run, write_run
from ..types import Hit, Query
from ._config import ExperimentConfig, _distill_config, _log, distill_fields
from ._report import archive_model_records, plot_results, render_markdown
from ._scores import score
from ._sets import DataRoot, EvalSet
from ._systems import (
    BIENCODER_MODEL,
    known_systems,
    BIENCODER_SYSTEMS,
    DL19_SYSTEMS,
    FIRST_STAGES,
    RERANKERS,
    _stale_run,
    candidate_system,
    short_hash,
    student_key,
)


class Experiment:
    """Runs an :class:`ExperimentConfig`; see the package docstring."""

    def __init__(self, cfg: ExperimentConfig):
        self.cfg = cfg
        self.data = DataRoot(cfg)
        self.data_root = self.data.root
        self.missing = self.data.missing
        self.runs = Path(cfg.runs_dir) / cfg.name
        self.results = Path(cfg.results_dir) / cfg.name
        self._rerankers: dict[str, object] = {}
        self._retrievers: dict[str, Bm25Retriever] = {}
        self._texts: dict[str, dict[str, str]] = {}
        self._dense: dict[str, object] = {}
        self._wordtrans: dict[tuple[str, str], list[Query]] = {}

    # ----------------------------------------------------------------- models
    def teacher_dir(self) -> str:
        """The teacher of ``cfg.teacher``: a shipped one (merged on first use), or trained once and cached."""
        fields = dict(self.cfg.teacher)
        if "shipped" in fields:
            return str(shipped_model_dir(fields["shipped"]))
        if self.cfg.afriqa and "afriqa_dir" not in fields:
            fields["afriqa_dir"] = str(self.data.prepared("afriqa", skip_missing=True))
        return str(ensure_teacher(TeacherConfig.from_dict(fields)))

    def context_passages(self, bitext: list[str], k: int, corpus: str | None = None) -> Path:
        """BM25 top-``k`` English passages for the English side of every bitext pair (no labels).

        The collection is ``corpus`` (a ``corpus.jsonl``) or the AfriQA English passages; the result
        is cached as ``{en, passages}`` JSONL under ``<data_root>/contexts/`` and read back with
        :func:`optical_rerank.distill.read_passages`.
        """
        from ..distill import read_bitext_files  # heavy

        if k < 1:
            raise ConfigError(f"context_k must be >= 1, got {k}")
        if corpus is None:
            if not self.cfg.afriqa:
                raise ConfigError("in_context students need an English collection: set `context_corpus` "
                                  "(a corpus.jsonl) in the student block or configure `afriqa`")
            corpus = str(self.data.afriqa_english_corpus())
        key = short_hash({"bitext": bitext, "corpus": corpus, "k": k, "bm25": self.cfg.bm25})
        path = self.data_root / "contexts" / f"bm25-top{k}-{key}.jsonl"
        if path.is_file():
            return path
        english = sorted({" ".join(p.en.split()) for p in read_bitext_files(bitext)})
        _log(f"in-context passages: BM25 top-{k} over {corpus} for {len(english)} English sentences")
        index = self.data.index_for(Path(corpus), "en")
        run = self.bm25(index).retrieve([Query(str(i), t, "en") for i, t in enumerate(english)], k=k,
                                        with_text=False)
        texts = load_corpus_texts(corpus)
        lines = []
        for i, en in enumerate(english):
            ps = [texts[h.docid] for h in run.get(str(i), []) if texts.get(h.docid, "").strip()]
            if ps:
                lines.append(json.dumps({"en": en, "passages": ps}, ensure_ascii=False))
        write_text_atomic(path, "\n".join(lines) + "\n")
        return path

    def student_dir(self, system: str, teacher: str, bitext: list[str], output: str | Path | None = None) -> str:
        """The student ``system`` distilled from ``teacher`` on ``bitext`` (reused when its key matches),
        in ``output`` (default ``<models_root>/student-<system>-<key>``); a ``{shipped: NAME}`` block is
        the shipped student, merged on first use, nothing trained."""
        from ..distill import distill, read_bitext_files, read_passages  # heavy

        block = self.cfg.students[system]
        if "shipped" in block:
            return str(shipped_model_dir(block["shipped"]))
        eval_topics = self.data.eval_topic_files()
        key = student_key(teacher, bitext, block, self.cfg.seed, eval_topics)
        out = Path(output) if output is not None else Path(self.cfg.models_root) / f"student-{system}-{key}"
        dcfg = _distill_config({**distill_fields(block), "teacher": teacher, "output": str(out),
                                "eval_topics": eval_topics}, self.cfg.seed)
        if (out / "result.json").is_file():
            return str(out / "model")
        passages = None
        if dcfg.in_context:
            passages = read_passages(self.context_passages(bitext, int(block.get("context_k", 3)),
                                                           block.get("context_corpus")))
        _log(f"distilling {system} ({dcfg.method}{', in context' if passages else ''}) into {out}")
        result = distill(dcfg, read_bitext_files(bitext), passages=passages)
        return str(result.model_dir)

    # ----------------------------------------------------------------- runs
    def bm25(self, index: str) -> Bm25Retriever:
        """One BM25 retriever per index, with the config's ``k1`` and ``b``."""
        if index not in self._retrievers:
            self._retrievers[index] = Bm25Retriever(index, self.cfg.bm25.get("k1", 0.9), self.cfg.bm25.get("b", 0.4))
        return self._retrievers[index]

    def first_stage_run(self, es: EvalSet, which: str, path: Path) -> Run:
        """BM25 run for ``which`` in native | translated | doc-translated, cached on disk.

        The cache is keyed by content (``<run>.key.json``: BM25 settings, depth, index, the queries'
        ids and texts): a run made with other settings or queries is made again, never reused.
        """
        if which in ("dense", "hybrid", "wordtrans"):
            return self._with_text(es, getattr(self, f"_{which}_run")(es, path))
        k = max(100, self.cfg.depth)
        queries = es.translated if which == "translated" else es.native
        key = {"which": which, "k": k, "bm25": {"k1": self.cfg.bm25.get("k1", 0.9), "b": self.cfg.bm25.get("b", 0.4)},
               "index": "dl19-rankllm" if es.dataset == "dl19" else
               Path(es.translated_index if which == "doc-translated" else es.index).name,
               "queries": short_hash([[q.qid, q.text] for q in queries])}
        if not _cache_matches(path, key):
            if path.is_file():
                _log(f"{es.dataset}/{es.lang}: {path} was made with other settings or queries: retrieving again")
                path.unlink()
            if es.dataset == "dl19":
                run = read_run(self.data.dl19_bm25_run())
                run = {q.qid: run.get(q.qid, []) for q in es.native}
            else:
                index = es.translated_index if which == "doc-translated" else es.index
                run = self.bm25(index).retrieve(queries, k=k, with_text=False)
            write_run(path, run, tag=f"bm25-{which}")
            write_json_atomic(_key_path(path), key)
        return self._with_text(es, path)

    def _with_text(self, es: EvalSet, path: Path) -> Run:
        """The run file ``path`` with each hit's passage text from the set's collection."""
        run = read_run(path)
        if es.corpus not in self._texts:
            self._texts[es.corpus] = load_corpus_texts(es.corpus)
        texts = self._texts[es.corpus]
        return {qid: [Hit(h.qid, h.docid, h.score, h.rank, texts.get(h.docid)) for h in hits]
                for qid, hits in run.items()}

    def _cached(self, path: Path, key: Mapping, make, tag: str, what: str) -> Path:
        """``path`` made by ``make() -> Run`` unless its ``.key.json`` records ``key`` already."""
        if not _cache_matches(path, key):
            if path.is_file():
                _log(f"{path} was made with other settings or inputs: making it again")
                path.unlink()
            _log(what)
            write_run(path, make(), tag=tag)
            write_json_atomic(_key_path(path), key)
        return path

    def dense_config(self):
        from ..dense import DenseConfig

        return DenseConfig(**self.cfg.dense)

    def dense_index(self, corpus: str) -> Path:
        """The FAISS index of ``corpus`` (``pyserini.encode``), cached by content under ``<data_root>/dense``."""
        from ..dense import dense_index

        _log(f"dense index of {corpus} (encoded once by pyserini.encode, then cached by content)")
        return dense_index(corpus, self.data_root / "dense", self.dense_config())

    def _dense_run(self, es: EvalSet, path: Path) -> Path:
        """e5 dense retrieval (Pyserini's FaissSearcher) with the native query, top ``max(100, depth)``."""
        index = self.dense_index(es.corpus)
        k = max(100, self.cfg.depth)
        key = {"which": "dense", "k": k, "index": index.name, "config": self.dense_config().to_dict(),
               "queries": short_hash([[q.qid, q.text] for q in es.native])}

        return self._cached(path, key, lambda: self.dense_retriever(index).retrieve(es.native, k=k), "dense",
                            f"{es.dataset}/{es.lang}: dense retrieval of {len(es.native)} queries")

    def dense_retriever(self, index: Path):
        from ..dense import DenseRetriever

        if str(index) not in self._dense:
            self._dense = {str(index): DenseRetriever(index, self.dense_config())}
        return self._dense[str(index)]

    def dense_rerank_run(self, es: EvalSet, cands: Run, path: Path) -> Path:
        """``e5-rerank``: the e5 bi-encoder rescoring the top ``depth`` candidates, its passage vectors
        those of the dense index (the same model, prefixes and pooling as ``dense``)."""
        index = self.dense_index(es.corpus)
        key = {"which": "e5-rerank", "depth": self.cfg.depth, "index": index.name,
               "config": self.dense_config().to_dict(),
               "queries": short_hash([[q.qid, q.text] for q in es.native]),
               "candidates": short_hash({q: [h.docid for h in hs[:self.cfg.depth]] for q, hs in sorted(cands.items())})}
        return self._cached(path, key, lambda: self.dense_retriever(index).rescore(es.native, cands, self.cfg.depth),
                            "e5-rerank", f"{es.dataset}/{es.lang}: e5 reranking of the top {self.cfg.depth} candidates")

    def _hybrid_run(self, es: EvalSet, path: Path) -> Path:
        """RRF (``pyserini.fusion``, k=60) of the BM25-native and dense runs, top ``max(100, depth)``."""
        from ..dense import RRF_K, rrf_fuse

        inputs = [path.parent / "bm25-native.txt", path.parent / "dense.txt"]
        self.first_stage_run(es, "native", inputs[0])
        self.first_stage_run(es, "dense", inputs[1])
        k = max(100, self.cfg.depth)
        key = {"which": "hybrid", "rrf_k": RRF_K, "k": k, "inputs": {p.name: sha256_file(p) for p in inputs}}
        return self._cached(path, key, lambda: rrf_fuse(inputs, k=RRF_K, hits=k), "hybrid",
                            f"{es.dataset}/{es.lang}: RRF of BM25-native and dense")

    def wordtrans_queries(self, es: EvalSet) -> list[Query]:
        """The native questions translated word by word (IBM-1 on the language's bitext, FreeDict where known)."""
        from ..translate import FREEDICT, WordTable, WordTranslator, load_freedict, read_bitext_pairs, train_ibm1

        if (es.dataset, es.lang) in self._wordtrans:
            return self._wordtrans[(es.dataset, es.lang)]
        files = list(self.data.bitext_files([es.lang]))
        iterations = int(self.cfg.wordtrans.get("iterations", 10))
        use_dict = bool(self.cfg.wordtrans.get("freedict", True)) and es.lang in FREEDICT
        key = short_hash({"bitext": {Path(f).name: sha256_file(f) for f in files}, "iterations": iterations})
        table_path = self.data_root / "wordtrans" / f"ibm1-{es.lang}-{key}.json"
        if table_path.is_file():
            table = WordTable.load(table_path)
        else:
            _log(f"{es.lang}: IBM Model 1 on {', '.join(Path(f).name for f in files)} ({iterations} EM iterations)")
            table = train_ibm1(read_bitext_pairs(files), iterations=iterations)
            table.save(table_path)
        translator = WordTranslator(table, load_freedict(es.lang) if use_dict else None,
                                    min_count=int(self.cfg.wordtrans.get("min_count", 1)))
        out = [Query(q.qid, translator.translate(q.text) or q.text, "en") for q in es.native]
        self._wordtrans[(es.dataset, es.lang)] = out
        return out

    def _wordtrans_run(self, es: EvalSet, path: Path) -> Path:
        """BM25 over the English collection with the word-by-word translated question."""
        k = max(100, self.cfg.depth)
        queries = self.wordtrans_queries(es)
        key = {"which": "wordtrans", "k": k, "bm25": {"k1": self.cfg.bm25.get("k1", 0.9), "b": self.cfg.bm25.get("b", 0.4)},
               "index": Path(es.index).name, "queries": short_hash([[q.qid, q.text] for q in queries])}
        return self._cached(path, key, lambda: self.bm25(es.index).retrieve(queries, k=k, with_text=False),
                            "bm25-wordtrans", f"{es.dataset}/{es.lang}: BM25 with word-by-word translations")

    def reranker(self, model: str) -> CrossEncoderReranker:
        """The cross-encoder of ``model`` (one model in memory at a time)."""
        if model not in self._rerankers:
            self._rerankers = {}
            rc = RerankConfig(model=model, depth=self.cfg.depth, **self.cfg.rerank)
            self._rerankers[model] = CrossEncoderReranker(model, rc)
        return self._rerankers[model]

    def biencoder_run(self, queries: Sequence[Query], candidates: Run, path: Path, tag: str = "e5-biencoder") -> None:
        """The ``e5-biencoder`` run: multilingual-e5-small cosine scores of the top ``depth`` candidates."""
        key = {"model": BIENCODER_MODEL, "depth": self.cfg.depth, "config": self._biencoder_config().to_dict(),
               "queries": short_hash([[q.qid, q.text] for q in queries]),
               "candidates": short_hash({q: [h.docid for h in hs[:self.cfg.depth]] for q, hs in sorted(candidates.items())})}
        if _cache_matches(path, key):
            return
        if path.is_file():
            _log(f"{path} was made with other settings, queries or candidates: scoring again")
            path.unlink()
        if "e5" not in self._rerankers:
            self._rerankers = {"e5": BiEncoderReranker(BIENCODER_MODEL, self._biencoder_config())}
        ranked = self._rerankers["e5"].rerank(list(queries), candidates, depth=self.cfg.depth)
        write_run(path, ranked, tag=tag)
        write_json_atomic(_key_path(path), key)

    def _biencoder_config(self) -> RerankConfig:
        # E5's templates, embed_texts' batch of 16 and the experiment's max_length: the scores of
        # the committed e5-biencoder runs
        return RerankConfig(model=BIENCODER_MODEL, depth=self.cfg.depth, batch_size=16,
                            max_length=self.cfg.rerank.get("max_length", 256),
                            query_template=E5_TEMPLATES[0], passage_template=E5_TEMPLATES[1])

    def run_set(self, es: EvalSet, models: Mapping[str, str], only: set[str] | None = None) -> dict[str, Path]:
        """Every system's run on one set (first stages, then reranked candidates): ``{system: path}``.

        ``only`` restricts the systems run (the first stage of the candidates is always made).
        """
        d = self.runs / es.dataset / es.lang
        paths: dict[str, Path] = {}
        systems = [s for s in (es.systems or self.cfg.systems) if only is None or s in only]
        rerankers = [s for s in systems if s in RERANKERS or s in self.cfg.students]
        if es.dataset != "dl19":
            base = ["bm25-native"] + ([] if "oracle-bm25" in (es.systems or self.cfg.systems) else ["bm25-translated"])
            cand_system = candidate_system(self.cfg.candidates)
            wanted = base + [s for s in systems if s in FIRST_STAGES] + ([cand_system] if rerankers else [])
            for system in dict.fromkeys(wanted):
                if system == "bm25-doc-translated" and not es.translated_index:
                    continue
                self.first_stage_run(es, FIRST_STAGES[system], d / f"{system}.txt")
                paths[system] = d / f"{system}.txt"
            if not rerankers:
                return paths
            cands = self._with_text(es, paths[cand_system])
        else:
            cands = self.first_stage_run(es, "dl19", d / "bm25.txt")
            paths["bm25-translated"] = d / "bm25.txt"
        cands = {q: hits[: self.cfg.depth] for q, hits in cands.items()}
        for system in rerankers:
            if es.dataset == "dl19" and system not in DL19_SYSTEMS:
                continue
            path = d / f"{system}.txt"
            queries = (es.translated if system == "teacher-translated" else
                       self.wordtrans_queries(es) if system == "teacher-wordtrans" else es.native)
            if system == "e5-rerank":
                self.dense_rerank_run(es, cands, path)
            elif system in BIENCODER_SYSTEMS:
                self.biencoder_run(queries, cands, path, tag=system)
            else:
                model = models["teacher"] if system.startswith("teacher") else models[system]
                self._rerank_run(es, system, model, queries, cands, path)
            paths[system] = path
        return paths

    def present_runs(self, es: EvalSet) -> dict[str, Path]:
        """The runs of the configured systems of ``es`` that are on disk (what ``--report-only`` scores)."""
        d = self.runs / es.dataset / es.lang
        names = list(dict.fromkeys(["bm25-native", "bm25-translated"] + list(es.systems or self.cfg.systems)))
        out = {}
        for system in names:
            path = d / ("bm25.txt" if es.dataset == "dl19" and system == "bm25-translated" else f"{system}.txt")
            if path.is_file() and (system in FIRST_STAGES or system in RERANKERS or system in self.cfg.students):
                out[system] = path
        return out

    def _rerank_run(self, es: EvalSet, system: str, model: str, queries: Sequence[Query], cands: Run,
                    path: Path) -> None:
        rc = RerankConfig(model=model, depth=self.cfg.depth, **self.cfg.rerank)
        expected = {f: getattr(rc, f) for f in ("query_template", "passage_template", "max_length", "fusion_weight")}
        stale = _stale_run(path, model, queries, self.cfg.depth, expected)
        if stale:
            _log(f"{es.dataset}/{es.lang}: {path} is stale ({stale}): reranking again")
            path.unlink()
        if not path.is_file():
            _log(f"{es.dataset}/{es.lang}: reranking with {system} ({len(queries)} queries × {self.cfg.depth})")
            rc = RerankConfig(model=model, depth=self.cfg.depth, **self.cfg.rerank)
            rerank_to_file(queries, cands, path, rc, tag=system, depth=self.cfg.depth,
                           reranker=self.reranker(model))

    # ----------------------------------------------------------------- main
    def train_models(self, sets: Sequence[EvalSet], timings: dict, only: set[str] | None = None) -> dict[str, str]:
        """The teacher and the students the systems of ``sets`` need: ``{"teacher"|student: model dir}``."""
        cfg = self.cfg
        models: dict[str, str] = {}
        wanted = set().union(*[set(es.systems or cfg.systems) for es in sets])
        if only is not None:
            wanted &= only
        if not wanted & ({"teacher-native", "teacher-wordtrans", "teacher-translated"} | set(cfg.students)):
            return models
        t0 = time.time()
        models["teacher"] = self.teacher_dir()
        timings["teacher_s"] = round(time.time() - t0, 1)
        students = [s for s in cfg.students if s in wanted]
        if students:
            trained = [s for s in students if "shipped" not in cfg.students[s]]
            bitext = self.data.bitext_files() if trained else []
            for s in students:
                t0 = time.time()
                models[s] = self.student_dir(s, models["teacher"], bitext)
                timings[f"{s}_s"] = round(time.time() - t0, 1)
        return models

    def run(self, only: Sequence[str] | None = None, report_only: bool = False) -> dict:
        """Run the systems (all, or ``only``), then write the report of every run present.

        ``report_only`` runs nothing and rebuilds ``results.json`` (aggregates), ``per_query.json``,
        ``results.md`` and the plots from the runs on disk alone.
        """
        start = time.time()
        cfg = self.cfg
        sets = self.data.eval_sets()
        if not sets:
            raise ConfigError("no dataset/language of the config has data; see the missing list above")
        chosen = None if only is None else set(only)
        if chosen is not None:
            bad = sorted(chosen - set(known_systems(cfg.students)))
            if bad:
                raise ConfigError(f"--systems: unknown systems {bad}; known: {known_systems(cfg.students)}")
        timings: dict = {}
        models: dict[str, str] = {}
        if not report_only:
            models = self.train_models(sets, timings, chosen)
            for es in sets:
                t0 = time.time()
                self.run_set(es, models, chosen)
                timings[f"runs_{es.dataset}_{es.lang}_s"] = round(time.time() - t0, 1)
        paths = {(es.dataset, es.lang): self.present_runs(es) for es in sets}
        return self.report(sets, paths, models, timings, start)

    def report(self, sets: Sequence[EvalSet], paths: Mapping, models: Mapping[str, str], timings: dict,
               start: float) -> dict:
        """Score the runs ``paths`` and write the results, per-query values, tables and plots."""
        from ..data.afriqa import collection_record

        cfg = self.cfg
        scores = score(cfg, sets, paths)
        per_query = {key: {s: row.pop("per_query") for s, row in systems.items() if isinstance(row, dict)
                           and "per_query" in row} for key, systems in scores["sets"].items()}
        collections = {}
        for es in sets:
            if es.corpus and Path(es.corpus).is_file():
                collections.setdefault(es.dataset, {"corpus": Path(es.corpus).relative_to(self.data_root).as_posix()
                                                    if Path(es.corpus).is_relative_to(self.data_root) else es.corpus,
                                                    **collection_record(es.corpus)})
        results = {"config": asdict(cfg), "models": models, "missing": self.missing, "timings": timings,
                   "budget": {"max_queries_per_language": cfg.max_queries_per_language, "depth": cfg.depth,
                              "seed": cfg.seed, "candidates": cfg.candidates,
                              "queries": {f"{es.dataset}/{es.lang}": [q.qid for q in es.native] for es in sets}},
                   "collections": collections,
                   "runs": {f"{k[0]}/{k[1]}": {s: p.as_posix() for s, p in v.items()} for k, v in paths.items()},
                   "environment": environment_info(), "seconds": round(time.time() - start, 1), **scores}
        self.results.mkdir(parents=True, exist_ok=True)
        archive_model_records(models, self.results / "models")
        write_json_atomic(self.results / "results.json", results)
        write_json_atomic(self.results / "per_query.json", per_query)
        write_text_atomic(self.results / "results.md", render_markdown(results))
        plot_results(results, self.results)
        write_run_sums(self.runs)
        _log(f"results in {self.results} ({results['seconds']:.0f}s)")
        return results


def write_run_sums(runs: Path) -> Path | None:
    """``runs/<name>/SHA256SUMS``: ``sha256  relpath`` of every run file (``*.txt``) under ``runs``.

    Large runs stay out of git (``.gitignore``); this committed list says which bytes the report
    was made from, and ``sha256sum -c`` checks a regenerated or fetched copy.
    """
    files = sorted(p for p in runs.rglob("*.txt") if p.is_file())
    if not files:
        return None
    lines = [f"{sha256_file(p)}  {p.relative_to(runs).as_posix()}" for p in files]
    path = runs / "SHA256SUMS"
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path


def _key_path(run: Path) -> Path:
    return run.with_name(run.name + ".key.json")


def _cache_matches(run: Path, key: Mapping) -> bool:
    """Whether a cached run exists and its ``.key.json`` records exactly ``key``.

    A run without a key file (made before keys were recorded) does not match: it is made again,
    which for these deterministic first-stage and bi-encoder runs gives the same bytes.
    """
    kp = _key_path(run)
    if not (run.is_file() and kp.is_file()):
        return False
    try:
        return json.loads(kp.read_text(encoding="utf-8")) == json.loads(json.dumps(dict(key)))
    except ValueError:
        return False

"""``python -m optical_rerank.run``: topics → first stage → (cross-encoder rerank) → TREC run → scores.

Stages
------
1. **Topics**: ``--topics FILE`` in Pyserini's formats (``--topics-format tsv|trec|jsonl|json``,
   by default from the file name; ``.gz`` too), or a Pyserini name (``dl19-passage``, ``dl20``, ...)
   mapped to a set ``python -m optical_rerank.data prepare`` made (:mod:`optical_rerank.data.pyserini_names`;
   ``--qrels`` alike).
2. **First stage**: BM25 (+RM3) through Pyserini over ``--index`` (built from ``--corpus`` when
   the index does not exist yet; an existing index is never rebuilt without ``--overwrite``), or
   candidates from an existing TREC run (``--candidates``), with document text from ``--corpus``
   (a JsonCollection file or directory, ``.jsonl``/``.json`` and their ``.gz``) or the index. An
   index built by ``pyserini.index.lucene`` or Anserini is searched as it is, with the analyzer of
   ``--language`` (default English), checked first against the index's stored documents (a
   mismatch is an error naming the analyzer that matches; an index without stored text is
   recorded ``unverified`` in ``pipeline.json``); an index of ours with the analyzer it records (a
   ``--language`` asking for another is an error). Pyserini's ``--hits``, ``--bm25``,
   ``--remove-duplicates``, ``--max-passage(-hits/-delimiter)`` and RM3 are accepted; ``--rm3`` is
   Pyserini's (expansion terms only ``[a-z0-9]``; ``--rm3-keep-all-terms`` keeps the others), with
   ``--fb-terms/--fb-docs/--original-query-weight``.
3. **Rerank** (with ``--model``): a cross-encoder (zoo name such as ``e5-small-multilingual``, a
   local directory, or a hub id) rescoring the top ``--depth`` candidates. Templates and
   ``--max-length`` default to what the model directory's card records (``teacher_config.json``,
   ``distill_config.json``), else E5's ``query: ``/``passage: `` for E5 models and none otherwise,
   and 256 tokens (``optical_rerank.rerank.templates_for``). ``--fusion-weight W`` adds
   ``W * scale * cos`` of the e5 bi-encoder (``--fusion-biencoder``) to each cross-encoder score;
   by default the card's ``fusion`` (the shipped ``teacher-e5-lora``: W = 2, scale 100), else none
   (``optical_rerank.rerank.fusion_for``); ``--fusion-weight 0`` turns it off. Resumable: rerun the
   same command after an interruption. ``--shard i/n`` scores a slice of the queries;
   ``python -m optical_rerank.merge`` joins the shards.
4. **Output**: a TREC run (``--output``, default ``runs/run.<TOPICS>.bm25[+rm3][.<MODEL>][.<TAG>].txt``
   as Pyserini names runs; a run of another config there is refused without ``--overwrite``), or with ``--output-format
   msmarco`` Pyserini's ``qid<TAB>docid<TAB>rank`` (a reranked run keeps its TREC form beside it as
   ``<output>.trec``); a progress bar on stderr unless ``--quiet``; the whole pipeline's config
   and package versions as ``<run>.pipeline.json`` (with the command line, the sha256 of every input
   file, the model's resolved directory and weights' sha256, and the index analyzer's check; the
   reranker's config as ``<run>.config.json``);
   with ``--qrels``, trec_eval scores printed and saved as ``<run>.metrics.json``, averaged as
   everywhere in this package (``optical_rerank.evaluate.AVERAGING``, trec_eval ``-c``): over every
   judged query among the topics that ran (after ``--max-queries`` / ``--shard``), a judged query
   without hits scoring 0; the convention is printed with the scores.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .cli import run_cli
from .config import command_line, from_args
from .errors import ConfigError
from .evaluate import AVERAGING, DEFAULT_MEASURES, EvalResult, evaluate_run, format_trec_eval, validate_measures
from .files import sha256_file, write_json_atomic
from .guard import check_number, check_output_path, refuse_overwriting_inputs
from .first_stage import (INDEX_META, Bm25Retriever, LanguageCheck, _corpus_files, _refuse_foreign_dir, analyzer_for,
                          build_index, candidates_from_run, check_index_language, index_search_language,
                          is_complete_index, is_lucene_index, load_corpus_texts, load_index_config, max_passage_hits,
                          missing_index_message, remove_duplicate_hits)
from .provenance import environment_info
from .rerank import RerankConfig, fusion_for, max_length_for, rerank_to_file, shard_queries, templates_for
from .files import atomic_write
from .data.pyserini_names import resolve_pyserini_name, run_name_part
from .trec_io import TOPIC_FORMATS, Run, read_qrels, read_run, read_topics, sort_hits, write_run
from .types import Query


DEFAULT_TAG = "optical_rerank"


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run; saved in ``<run>.pipeline.json``."""

    topics: str
    output: str
    tag: str
    index: str | None = None
    corpus: str | None = None
    candidates: str | None = None
    language: str | None = None
    k1: float = 0.9
    b: float = 0.4
    rm3: bool = False
    k: int = 100
    threads: int = 2
    model: str | None = None
    depth: int = 100
    rerank: dict = field(default_factory=dict)
    shard: str | None = None
    qrels: str | None = None
    measures: tuple[str, ...] = DEFAULT_MEASURES
    max_queries: int | None = None
    fb_terms: int = 10
    fb_docs: int = 10
    original_query_weight: float = 0.5
    rm3_keep_all_terms: bool = False
    remove_duplicates: bool = False
    max_passage: bool = False
    max_passage_hits: int = 100
    max_passage_delimiter: str = "#"
    topics_format: str | None = None
    output_format: str = "trec"
    overwrite: bool = False
    quiet: bool = False


@dataclass(frozen=True)
class RunOutcome:
    """Paths written by :func:`run_pipeline` and the aggregate metrics (if qrels were given)."""

    run_path: str
    first_stage_path: str | None
    metrics: dict | None
    seconds: float


def _warn(message: str) -> None:
    print(f"run: warning: {message}", file=sys.stderr)


def _examples(ids: Sequence[str], n: int = 5) -> str:
    return ", ".join(ids[:n]) + (", ..." if len(ids) > n else "")


def _open_index(cfg: RunConfig, rm3: bool, checks: dict | None = None) -> Bm25Retriever:
    """A retriever over ``cfg.index``: its recorded analyzer, or ``--language`` (default English) for
    an index built by Pyserini/Anserini, checked against its stored documents
    (:func:`~optical_rerank.first_stage.check_index_language`); a mismatch is an error. ``checks``
    receives the check's record for ``pipeline.json``."""
    language, note = index_search_language(cfg.index, cfg.language)
    if note:
        print(f"run: note: {note}", file=sys.stderr)
    if is_complete_index(cfg.index):
        check = LanguageCheck(language, "recorded", f"{cfg.index} records its analyzer ({INDEX_META})")
    else:
        check = check_index_language(cfg.index, cfg.language)
        if check.status == "unverified":
            _warn(check.detail)
    if checks is not None:
        checks["index_language"] = asdict(check)
    return Bm25Retriever(cfg.index, cfg.k1, cfg.b, language=None if is_complete_index(cfg.index) else language,
                         rm3=rm3, rm3_fb_terms=cfg.fb_terms, rm3_fb_docs=cfg.fb_docs,
                         rm3_original_query_weight=cfg.original_query_weight,
                         rm3_filter_terms=not cfg.rm3_keep_all_terms)


def _ensure_index(cfg: RunConfig) -> None:
    """Build ``cfg.index`` from ``cfg.corpus`` when it does not exist (or with ``--overwrite``); never
    rebuild an existing index otherwise, and refuse a ``--corpus`` that cannot apply to it."""
    idx = Path(cfg.index)
    exists = idx.exists() and (not idx.is_dir() or any(idx.iterdir()))
    if not cfg.corpus:
        if not idx.is_dir():
            raise ConfigError(missing_index_message(cfg.index))
        return
    if exists and not cfg.overwrite:
        if is_complete_index(idx):
            built_from = load_index_config(idx).corpus
            asked = [str(f.resolve()) for f in _corpus_files(cfg.corpus)]
            if asked != built_from:
                raise ConfigError(f"{idx} is an existing index built from {', '.join(built_from)}, not "
                                  f"{', '.join(asked)}; drop --corpus to search it, or pass --overwrite to rebuild it")
            return
        if is_lucene_index(idx):
            raise ConfigError(f"{idx} is an existing Lucene index not built by optical_rerank (Pyserini or Anserini?); "
                              "drop --corpus to search it as it is (--language gives its analyzer, default English), "
                              "or pass --overwrite to replace it")
        _refuse_foreign_dir(idx)  # a file or a user's directory: refused, --overwrite or not
        raise ConfigError(f"{idx} exists but is not a complete Lucene index (half-written?); "
                          "pass --overwrite to rebuild it from --corpus")
    verb = "rebuilding" if exists else "building"
    print(f"run: {verb} index {cfg.index} from {cfg.corpus} (language {cfg.language or 'en'})", file=sys.stderr)
    build_index(cfg.corpus, cfg.index, cfg.language or "en", threads=cfg.threads, overwrite=cfg.overwrite)


def first_stage(cfg: RunConfig, queries: Sequence[Query], checks: dict | None = None) -> Run:
    """BM25 over the index (building it from the corpus if needed), or candidates from a run.

    ``checks`` receives the record of the index's analyzer check (``index_language``)."""
    if cfg.candidates:
        if cfg.rm3:
            raise ConfigError("--rm3 expands BM25 queries; it does not apply to --candidates")
        texts = load_corpus_texts(cfg.corpus) if cfg.corpus else None
        retriever = None
        if texts is None and cfg.index:
            retriever = _open_index(cfg, rm3=False, checks=checks)
        if texts is None and retriever is None and cfg.model:
            raise ConfigError("--candidates needs --corpus or --index to read document text for reranking")
        run = candidates_from_run(cfg.candidates, queries, cfg.k, texts=texts, retriever=retriever)
        missing = [q.qid for q in queries if not run.get(q.qid)]
        if missing:
            _warn(f"{len(missing)} of {len(queries)} topics have no candidates in {cfg.candidates} "
                  f"({_examples(missing)}): they get empty rankings; check that the topics and the run match")
    else:
        if not cfg.index:
            raise ConfigError("give --index (and --corpus to build it) or --candidates")
        _ensure_index(cfg)
        retriever = _open_index(cfg, rm3=cfg.rm3, checks=checks)
        run = retriever.retrieve(queries, k=cfg.k, threads=cfg.threads, with_text=cfg.model is not None,
                                 progress=not cfg.quiet)
    if cfg.remove_duplicates:
        run = {qid: remove_duplicate_hits(hits) for qid, hits in run.items()}
    if cfg.max_passage:
        run = {qid: max_passage_hits(hits, cfg.max_passage_delimiter, cfg.max_passage_hits) for qid, hits in run.items()}
    return run


def _check_qrels(cfg: RunConfig, queries: Sequence[Query]) -> None:
    """Warn (before any work) when the qrels judge none of the topics: every score would be 0."""
    qrels = read_qrels(cfg.qrels)
    if not any(q.qid in qrels for q in queries):
        _warn(f"the qrels {cfg.qrels} judge none of the {len(queries)} topics (topic ids {_examples([q.qid for q in queries])}; "
              f"qrels ids {_examples(sorted(qrels))}): every score will be 0; check that topics and qrels match")


def write_msmarco_run(path: str | Path, run: Run) -> None:
    """Write ``{qid: hits}`` as Pyserini's MS MARCO run format (``qid<TAB>docid<TAB>rank``), atomically."""
    with atomic_write(path) as fh:
        for qid, hits in run.items():
            fh.writelines(f"{qid}\t{h.docid}\t{h.rank}\n" for h in sort_hits(hits))


def _first_stage_path(out: Path) -> str:
    return str(out.with_name(out.stem + ".first_stage" + out.suffix))


def check_outputs(cfg: RunConfig) -> None:
    """Refuse, before any work, an ``--output`` that cannot be written or whose files would replace an input.

    Every file the run writes (the run, its first-stage run, partial files, sidecars, metrics) is
    compared with every input (topics, qrels, candidates, corpus, index, model): the same path,
    a symlink or a hard link to it is a :class:`ConfigError`. ``--output`` must be a file path in a
    writable directory (:func:`optical_rerank.guard.check_output_path`).
    """
    out = Path(cfg.output)
    check_output_path(out)
    written = {"--output": out, "its pipeline record": Path(f"{out}.pipeline.json")}
    trec_out = out
    if cfg.output_format == "msmarco":  # the TREC run is kept beside an MS MARCO one
        trec_out = out.with_name(out.name + ".trec")
        written["its TREC run"] = trec_out
    if cfg.model:
        first = _first_stage_path(out)
        written["its first-stage run"] = Path(first)
        written["its partial run"] = Path(f"{trec_out}.partial")
        written["its partial-run log"] = Path(f"{trec_out}.partial.done")
        written["its reranking config"] = Path(f"{trec_out}.config.json")
        if cfg.qrels:
            written["its first-stage metrics"] = Path(f"{first}.metrics.json")
    if cfg.qrels:
        written["its metrics"] = Path(f"{out}.metrics.json")
    refuse_overwriting_inputs(written, {"--topics": cfg.topics, "--qrels": cfg.qrels, "--candidates": cfg.candidates,
                                        "--corpus": cfg.corpus, "--index": cfg.index, "--model": cfg.model})


def _metrics_record(run: str, qrels: str, result: EvalResult, topics_run: int) -> dict:
    return {"run": run, "qrels": qrels, "averaging": AVERAGING, "topics_run": topics_run,
            "num_queries": result.num_queries, "aggregate": result.aggregate, "per_query": result.per_query}


def averaging_line(num_judged: int, topics_run: int) -> str:
    """The averaging convention printed with the scores."""
    return f"# averaged over {num_judged} judged queries among the {topics_run} topics run ({AVERAGING})\n"


def input_record(cfg: RunConfig) -> dict:
    """Path and sha256 of every input file: topics, qrels, candidates and the corpus (each of its files)."""
    record: dict = {}
    for name in ("topics", "qrels", "candidates"):
        value = getattr(cfg, name)
        if value:
            record[name] = {"path": str(Path(value).resolve()), "sha256": sha256_file(value)}
    if cfg.corpus:
        record["corpus"] = [{"path": str(f.resolve()), "sha256": sha256_file(f)} for f in _corpus_files(cfg.corpus)]
    return record


def model_record(model: str | None) -> dict | None:
    """The model as given, the directory it resolved to and its weights' sha256 (``None`` without a model)."""
    if not model:
        return None
    from .models import resolve_model
    from .rerank import model_weights_sha256

    resolved = resolve_model(model)
    return {"name": model, "path": resolved, "weights_sha256": model_weights_sha256(resolved)}


def run_pipeline(cfg: RunConfig, *, restart: bool = False, argv: Sequence[str] | None = None,
                 ray: str | None = None, ray_workers: int = 2) -> RunOutcome:
    """Run every stage of ``cfg`` and write the run, its config and (with qrels) its metrics.

    Outputs are checked first (:func:`check_outputs`). ``restart`` discards the partial files of
    an interrupted rerank of the same output instead of resuming it. ``ray`` (``"auto"`` or an
    address) reranks over ``ray_workers`` Ray actors (:class:`~optical_rerank.rerank._ray.RayPool`):
    the run is byte-identical to a single process's, so neither is part of the run's config.
    """
    start = time.time()
    check_outputs(cfg)
    queries = read_topics(cfg.topics, cfg.language, fmt=cfg.topics_format)
    if cfg.max_queries is not None:
        queries = queries[: cfg.max_queries]
    mine = queries
    if cfg.shard:
        mine = shard_queries(queries, cfg.shard)
    if cfg.qrels:
        _check_qrels(cfg, mine)
    out = Path(cfg.output)
    msmarco = cfg.output_format == "msmarco"
    trec_out = out.with_name(out.name + ".trec") if msmarco else out  # the TREC run (reranking, scores)
    meta = {"command_line": command_line(argv, "optical_rerank.run"), "config": asdict(cfg),
            "inputs": input_record(cfg), "environment": environment_info()}
    checks: dict = {}
    candidates = first_stage(cfg, mine, checks)
    meta.update(checks)
    first_path = None
    scored: Path | Run = out
    if cfg.model:
        first_path = _first_stage_path(out)
        rcfg = RerankConfig(model=cfg.model, depth=cfg.depth, **cfg.rerank)
        # all queries + shard: the shard's sidecar records the full order, so merge restores it exactly
        pool = None
        if ray is not None:
            from .rerank._ray import RayPool

            pool = RayPool(rcfg, ray, ray_workers)
        try:
            rerank_to_file(queries, candidates, trec_out, rcfg, tag=cfg.tag, shard=cfg.shard, depth=cfg.depth,
                           restart=restart, pool=pool)
        finally:
            if pool is not None:
                pool.close()
        # written once reranking is done: a failure before it (a model that does not load) leaves nothing
        write_run(first_path, {q.qid: candidates.get(q.qid, []) for q in mine}, tag=cfg.tag + "-first")
        scored = trec_out
        if msmarco:
            write_msmarco_run(out, read_run(trec_out))
    elif msmarco:
        scored = {q.qid: candidates.get(q.qid, []) for q in mine}
        write_msmarco_run(out, scored)
    else:
        write_run(out, {q.qid: candidates.get(q.qid, []) for q in mine}, tag=cfg.tag)
    metrics = None
    if cfg.qrels:
        ran = [q.qid for q in mine]  # after --max-queries / --shard
        result = evaluate_run(cfg.qrels, scored, cfg.measures, complete=True, topics=ran)
        metrics = result.aggregate
        write_json_atomic(str(out) + ".metrics.json", _metrics_record(str(out), cfg.qrels, result, len(ran)))
        if first_path:
            first = evaluate_run(cfg.qrels, first_path, cfg.measures, complete=True, topics=ran)
            write_json_atomic(first_path + ".metrics.json", _metrics_record(first_path, cfg.qrels, first, len(ran)))
    meta["model"] = model_record(cfg.model)
    seconds = time.time() - start
    meta["seconds"] = round(seconds, 2)
    write_json_atomic(str(out) + ".pipeline.json", meta)
    return RunOutcome(str(out), first_path, metrics, seconds)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m optical_rerank.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("topics")
    g.add_argument("--topics", required=True,
                   help="topics file (format from its name: .tsv/.txt qid<TAB>text, .trec, .jsonl, .json; .gz too), "
                        "or a Pyserini name mapped to a prepared set (dl19-passage, dl20, ...)")
    g.add_argument("--topics-format", choices=TOPIC_FORMATS,
                   help="tsv, trec (<top><num><title>), jsonl ({qid, query}) or json ({qid: {title}}); "
                        "default: from the file name, as Pyserini")
    g.add_argument("--language", help="query/collection language code for the analyzer (default: from the index)")
    g.add_argument("--max-queries", type=int, help="use only the first N topics (budget runs)")
    g = p.add_argument_group("first stage")
    g.add_argument("--index", help="Lucene index directory (built from --corpus if missing)")
    g.add_argument("--corpus", help="JsonCollection JSONL: builds --index, or gives text for --candidates")
    g.add_argument("--candidates", help="existing TREC run to rerank instead of running BM25")
    g.add_argument("--k1", type=float, default=0.9, help="BM25 k1 (default 0.9)")
    g.add_argument("--b", type=float, default=0.4, help="BM25 b (default 0.4)")
    g.add_argument("--bm25", action="store_true",
                   help="BM25 ranking: the default and only first-stage model (accepted as in Pyserini)")
    g.add_argument("--rm3", action="store_true",
                   help="RM3 expansion, identical to Pyserini's --rm3 (expansion terms only [a-z0-9])")
    g.add_argument("--rm3-keep-all-terms", action="store_true",
                   help="RM3 keeping every expansion term (non-Latin scripts too), unlike Pyserini's --rm3")
    g.add_argument("--fb-terms", type=int, help="RM3 expansion terms (default 10, as Pyserini)")
    g.add_argument("--fb-docs", type=int, help="RM3 feedback documents (default 10, as Pyserini)")
    g.add_argument("--original-query-weight", type=float, help="RM3 weight of the original query (default 0.5)")
    g.add_argument("--k", "--hits", dest="k", type=int, default=100,
                   help="first-stage depth (default 100); --hits is Pyserini's name for it")
    g.add_argument("--remove-duplicates", action="store_true",
                   help="keep only the first hit of a docid per query (as Pyserini's --remove-duplicates)")
    g.add_argument("--max-passage", action="store_true",
                   help="Pyserini's --max-passage: docids are DOC<delimiter>PASSAGE; keep each DOC once, at its best "
                        "passage")
    g.add_argument("--max-passage-hits", type=int,
                   help="documents kept per query with --max-passage (default 100, as Pyserini)")
    g.add_argument("--max-passage-delimiter", help="delimiter of DOC and PASSAGE in docids (default '#')")
    g.add_argument("--overwrite", action="store_true",
                   help="rebuild an existing --index from --corpus, and replace a run of another config at the "
                        "default --output (neither is ever done without it)")
    g.add_argument("--threads", type=int, default=2, help="search/index threads")
    g = p.add_argument_group("rerank")
    g.add_argument("--model", help="cross-encoder: zoo name, local directory or hub id (omit for BM25 only)")
    g.add_argument("--depth", type=int, default=100, help="rerank the top N candidates (default 100)")
    g.add_argument("--max-length", type=int, help="tokens per query-passage window (default: the model card's, else 256)")
    g.add_argument("--batch-size", type=int, default=32)
    g.add_argument("--query-template", help='e.g. "query: {text}" (default: the model card\'s, else E5\'s for '
                                            'E5 models, else "{text}")')
    g.add_argument("--passage-template", help='e.g. "passage: {text}" (default: as --query-template)')
    g.add_argument("--fusion-weight", type=float, metavar="W",
                   help="score = cross-encoder + W * scale * cosine of a bi-encoder (pointwise; scale from the "
                        "model card, else 100); default: the model card's fusion weight (2 for teacher-e5-lora), "
                        "else 0; 0 turns fusion off (no bi-encoder is loaded)")
    g.add_argument("--fusion-biencoder", metavar="NAME",
                   help="the bi-encoder of --fusion-weight: zoo name or directory (default: the model card's, "
                        "else e5-small-multilingual)")
    g.add_argument("--backend", choices=("auto", "torch", "onnx", "openvino"), default=None,
                   help="inference engine of the same weights (exports cached by their sha256); default auto: "
                        "with no --precision either, the measured CPU default (rerank.CPU_DEFAULTS, from "
                        "results/bench/backend_default.json: OpenVINO bf16 on CPUs with native bf16, else torch fp32; torch bf16 on a GPU), else torch")
    g.add_argument("--precision", choices=("fp32", "bf16", "int8", "fp16"), default=None,
                   help="fp32, bf16 (GPU, or CPU with native bf16), int8 (CPU) or fp16 (GPU)")
    g.add_argument("--quantize", choices=("none", "int8"), default=None, help="= --precision int8 (older name)")
    g.add_argument("--dtype", choices=("fp32", "bf16", "fp16"), default=None, help="= --precision (older name)")
    g.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    g.add_argument("--shard", help="i/n: score the i-th of n query shards (0-based)")
    g.add_argument("--ray", metavar="ADDRESS",
                   help="rerank on Ray: auto (the cluster of RAY_ADDRESS / ray start, else a local instance) or "
                        "a cluster address (HOST:6379, ray://HOST:10001); byte-identical to one process")
    g.add_argument("--ray-workers", type=int, default=2, help="Ray actors, each loading the model once (default 2)")
    g.add_argument("--restart", action="store_true",
                   help="discard the partial files of an interrupted rerank of --output and start over "
                        "(default: resume it; a resume with other settings or model weights is refused)")
    g = p.add_argument_group("output")
    g.add_argument("--output", help="run file (default, as Pyserini names runs: "
                                    "runs/run.<TOPICS>.bm25[+rm3][.<MODEL>][.<TAG>].txt)")
    g.add_argument("--output-format", choices=("trec", "msmarco"), default="trec",
                   help="trec (default) or msmarco: qid<TAB>docid<TAB>rank, as Pyserini's --output-format")
    g.add_argument("--quiet", action="store_true", help="no progress bars")
    g.add_argument("--tag", default=DEFAULT_TAG, help="run tag (last column)")
    g.add_argument("--qrels", help="score the run with these qrels")
    g.add_argument("-m", "--measure", action="append", dest="measures", help="trec_eval measure (repeatable)")
    return p


def _check_numbers(args: argparse.Namespace) -> None:
    """Bad numbers and words on the command line: one :class:`ConfigError` line, before any work."""
    check_number("--k1", args.k1, minimum=0, exclusive_minimum=True)
    check_number("--b", args.b, minimum=0, maximum=1)
    check_number("--fusion-weight", args.fusion_weight, minimum=0)
    for option, value in (("--k", args.k), ("--depth", args.depth), ("--max-queries", args.max_queries),
                          ("--threads", args.threads), ("--batch-size", args.batch_size)):
        check_number(option, value, minimum=1)
    if not args.tag or any(c.isspace() for c in args.tag):
        raise ConfigError(f"--tag must be one word (no spaces: it is the last column of the run), got {args.tag!r}")
    if args.measures:
        validate_measures(args.measures)


def default_output(args: argparse.Namespace) -> str:
    """``runs/run.<TOPICS>.<FIRST STAGE>[.<MODEL>][.<TAG>][.<i>of<n>].txt``, Pyserini's way of naming runs.

    ``<FIRST STAGE>`` is ``bm25``, ``bm25+rm3`` or ``cand-<name>`` of ``--candidates``; ``<MODEL>``
    the model's name (a directory's last part); ``<TAG>`` only when ``--tag`` is not the default.
    """
    if args.candidates:
        first = "cand-" + run_name_part(args.candidates)
    else:
        first = "bm25+rm3" if args.rm3 else "bm25"
    parts = ["run", run_name_part(args.topics), first]
    if args.model:
        parts.append(Path(str(args.model).rstrip("/")).name or str(args.model))
    if args.tag != DEFAULT_TAG:
        parts.append(args.tag)
    if args.shard:
        parts.append(args.shard.replace("/", "of"))
    return str(Path("runs") / (".".join(p.replace("/", "_") for p in parts) + ".txt"))


#: Settings that do not change a run's content: a run at the default output made with other values is the same run.
_NOT_CONTENT = ("output", "overwrite", "quiet", "threads")
_NOT_CONTENT_RERANK = ("show_progress", "threads", "batch_size", "device")


def _content(config: dict) -> dict:
    """A pipeline config without the settings of :data:`_NOT_CONTENT` (for comparing two runs' configs)."""
    out = {k: v for k, v in config.items() if k not in _NOT_CONTENT}
    if isinstance(out.get("rerank"), dict):
        out["rerank"] = {k: v for k, v in out["rerank"].items() if k not in _NOT_CONTENT_RERANK}
    return out


def refuse_other_config_at_default_output(cfg: RunConfig) -> None:
    """Without ``--output``, an existing run made by another config is refused unless ``--overwrite``."""
    out = Path(cfg.output)
    if cfg.overwrite or not out.exists():
        return
    record = Path(f"{out}.pipeline.json")
    try:
        meta = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = None
    if isinstance(meta, dict) and isinstance(meta.get("config"), dict):
        if _content(meta["config"]) != _content(json.loads(json.dumps(asdict(cfg)))):
            what = "another config"
        elif meta.get("inputs") != input_record(cfg):
            what = "the same config over other input files (their sha256 differ)"
        else:
            return
    else:
        what = f"an unknown config (no readable {record.name})"
    raise ConfigError(f"{out} (the default --output) is a run of {what}; pass --overwrite to replace it, "
                      "or --output to write elsewhere")


def _backend_from_args(args: argparse.Namespace) -> tuple[str, str, str]:
    """``(backend, quantize, dtype)`` of ``--backend``/``--precision`` (and the older ``--quantize``/``--dtype``).

    Neither given (or ``--backend auto`` alone): the measured default of this machine
    (:func:`optical_rerank.rerank.default_backend`); ``--precision`` alone: torch.
    """
    from .rerank import default_backend

    precisions = {p for p in (args.precision, args.dtype, "int8" if args.quantize == "int8" else None) if p}
    if args.quantize == "none" and args.precision == "int8":
        raise ConfigError("--quantize none contradicts --precision int8")
    if len(precisions) > 1:
        raise ConfigError(f"--precision/--dtype/--quantize disagree: {sorted(precisions)}")
    precision = next(iter(precisions), None)
    backend = args.backend
    if backend in (None, "auto") and precision is None and args.quantize is None and args.model:
        device = args.device
        if device == "auto":
            import torch  # heavy

            device = "cuda" if torch.cuda.is_available() else "cpu"
        backend, precision = default_backend(device)
    elif backend in (None, "auto"):
        backend = "torch"
    precision = precision or "fp32"
    return backend, ("int8" if precision == "int8" else "none"), ("fp32" if precision == "int8" else precision)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    _check_numbers(args)
    if args.k < 1 or args.depth < 1:
        raise ConfigError("--k and --depth must be >= 1")
    rm3_given = [f"--{n.replace('_', '-')}" for n in ("fb_terms", "fb_docs", "original_query_weight")
                 if getattr(args, n) is not None] + (["--rm3-keep-all-terms"] if args.rm3_keep_all_terms else [])
    if rm3_given and not args.rm3:
        raise ConfigError(f"{', '.join(rm3_given)} set RM3 feedback: add --rm3")
    fb_terms = 10 if args.fb_terms is None else args.fb_terms
    fb_docs = 10 if args.fb_docs is None else args.fb_docs
    weight = 0.5 if args.original_query_weight is None else args.original_query_weight
    if fb_terms < 1 or fb_docs < 1 or not (0.0 <= weight <= 1.0):
        raise ConfigError(f"RM3 needs --fb-terms >= 1, --fb-docs >= 1 and 0 <= --original-query-weight <= 1, "
                          f"got {fb_terms}, {fb_docs}, {weight}")
    if args.output_format == "msmarco" and args.shard:
        raise ConfigError("--output-format msmarco cannot be used with --shard (merge joins TREC runs); "
                          "merge the shards, then convert")
    mp_given = [o for o, v in (("--max-passage-hits", args.max_passage_hits),
                                ("--max-passage-delimiter", args.max_passage_delimiter)) if v is not None]
    if mp_given and not args.max_passage:
        raise ConfigError(f"{', '.join(mp_given)} set --max-passage: add --max-passage")
    max_passage_hits_ = 100 if args.max_passage_hits is None else args.max_passage_hits
    check_number("--max-passage-hits", max_passage_hits_, minimum=1)
    delimiter = "#" if args.max_passage_delimiter is None else args.max_passage_delimiter
    if args.max_passage and not delimiter:
        raise ConfigError("--max-passage-delimiter must not be empty")
    if args.language:
        analyzer_for(args.language)  # an unknown code is an error, whatever the index
    if args.overwrite and args.output and (not args.corpus or args.candidates):
        raise ConfigError("--overwrite rebuilds --index from --corpus, or replaces a run of another config at the "
                          "default --output; neither applies here (give --corpus, or drop --output)")
    topics = resolve_pyserini_name(args.topics, "topics")
    qrels = resolve_pyserini_name(args.qrels, "qrels")
    output = args.output or default_output(args)
    if not args.model and (args.fusion_weight is not None or args.fusion_biencoder is not None):
        raise ConfigError("--fusion-weight / --fusion-biencoder fuse the scores of a reranker: add --model")
    query_template, passage_template = templates_for(args.model, args.query_template, args.passage_template)
    backend, quantize, dtype = _backend_from_args(args)
    rerank = {"max_length": max_length_for(args.model, args.max_length), "batch_size": args.batch_size,
              "query_template": query_template, "passage_template": passage_template, "quantize": quantize,
              "dtype": dtype, "device": args.device, "threads": args.threads, "show_progress": not args.quiet}
    if backend != "torch":  # recorded only when not torch (a torch run's config is as before backends)
        rerank["backend"] = backend
    if args.model:
        fusion = fusion_for(args.model, args.fusion_weight, args.fusion_biencoder)
        if fusion[0] > 0 or args.fusion_weight is not None:  # recorded when it applies or was asked for
            rerank.update(fusion_weight=fusion[0], fusion_scale=fusion[1], fusion_biencoder=fusion[2])
    return from_args(RunConfig, args, topics=topics, qrels=qrels, output=output, rerank=rerank, fb_terms=fb_terms,
                     fb_docs=fb_docs, max_passage_hits=max_passage_hits_, max_passage_delimiter=delimiter,
                     original_query_weight=weight,
                     measures=tuple(args.measures) if args.measures else DEFAULT_MEASURES)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cfg = config_from_args(args)
    if not args.output:
        refuse_other_config_at_default_output(cfg)
    if cfg.model:  # a bad reranking setting (--batch-size, --max-length, templates) fails before any work
        RerankConfig(model=cfg.model, depth=cfg.depth, **cfg.rerank)
    if args.ray is not None and not cfg.model:
        raise ConfigError("--ray distributes reranking: add --model")
    check_number("--ray-workers", args.ray_workers, minimum=1)
    outcome = run_pipeline(cfg, restart=args.restart, argv=argv, ray=args.ray, ray_workers=args.ray_workers)
    print(f"run: wrote {outcome.run_path} in {outcome.seconds:.1f}s", file=sys.stderr)
    if outcome.metrics is not None:
        record = json.loads(Path(outcome.run_path + ".metrics.json").read_text(encoding="utf-8"))
        sys.stdout.write(averaging_line(record["num_queries"], record["topics_run"]))
        if outcome.first_stage_path:
            first = json.loads(Path(outcome.first_stage_path + ".metrics.json").read_text(encoding="utf-8"))
            sys.stdout.write("# first stage\n" + format_trec_eval(
                EvalResult(cfg.measures, {}, first["aggregate"], first["num_queries"]), "all"))
            sys.stdout.write("# reranked\n")
        sys.stdout.write(format_trec_eval(EvalResult(cfg.measures, {}, outcome.metrics, 0), "all"))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))

"""``python -m optical_rerank.run``: topics → first stage → (cross-encoder rerank) → TREC run → scores.

Stages
------
1. **Topics**: ``--topics FILE`` (``qid<TAB>text``).
2. **First stage**: BM25 (+RM3) through Pyserini over ``--index`` (built from ``--corpus`` when
   the index does not exist yet), or candidates from an existing TREC run (``--candidates``),
   with document text from ``--corpus`` or the index.
3. **Rerank** (with ``--model``): a cross-encoder (zoo name such as ``e5-small-multilingual``, a
   local directory, or a hub id) rescoring the top ``--depth`` candidates. Templates and
   ``--max-length`` default to what the model directory's card records (``teacher_config.json``,
   ``distill_config.json``), else E5's ``query: ``/``passage: `` for E5 models and none otherwise,
   and 256 tokens (``optical_rerank.rerank.templates_for``). Resumable: rerun the
   same command after an interruption. ``--shard i/n`` scores a slice of the queries;
   ``python -m optical_rerank.merge`` joins the shards.
4. **Output**: a TREC run (``--output``, default ``runs/<tag>.txt``); the whole pipeline's config
   and package versions as ``<run>.pipeline.json`` (and the reranker's as ``<run>.config.json``);
   with ``--qrels``, trec_eval scores printed and saved as ``<run>.metrics.json``.
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
from .config import from_args
from .errors import ConfigError
from .evaluate import DEFAULT_MEASURES, EvalResult, evaluate_run, format_trec_eval, validate_measures
from .files import write_json_atomic
from .guard import check_number, check_output_path, refuse_overwriting_inputs
from .first_stage import Bm25Retriever, build_index, candidates_from_run, is_complete_index, load_corpus_texts
from .provenance import environment_info
from .rerank import RerankConfig, max_length_for, rerank_to_file, shard_queries, templates_for
from .trec_io import Run, read_topics, write_run
from .types import Query


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


@dataclass(frozen=True)
class RunOutcome:
    """Paths written by :func:`run_pipeline` and the aggregate metrics (if qrels were given)."""

    run_path: str
    first_stage_path: str | None
    metrics: dict | None
    seconds: float


def first_stage(cfg: RunConfig, queries: Sequence[Query]) -> Run:
    """BM25 over the index (building it from the corpus if needed), or candidates from a run."""
    if cfg.candidates:
        texts = load_corpus_texts(cfg.corpus) if cfg.corpus else None
        retriever = None
        if texts is None and cfg.index:
            retriever = Bm25Retriever(cfg.index, cfg.k1, cfg.b, language=cfg.language)
        if texts is None and retriever is None and cfg.model:
            raise ConfigError("--candidates needs --corpus or --index to read document text for reranking")
        return candidates_from_run(cfg.candidates, queries, cfg.k, texts=texts, retriever=retriever)
    if not cfg.index:
        raise ConfigError("give --index (and --corpus to build it) or --candidates")
    if not is_complete_index(cfg.index):
        if not cfg.corpus:
            raise ConfigError(f"index {cfg.index} does not exist (or is half-written): pass --corpus to build it")
        print(f"run: building index {cfg.index} from {cfg.corpus} (language {cfg.language or 'en'})", file=sys.stderr)
        build_index(cfg.corpus, cfg.index, cfg.language or "en", threads=cfg.threads, overwrite=True)
    retriever = Bm25Retriever(cfg.index, cfg.k1, cfg.b, language=None, rm3=cfg.rm3)
    return retriever.retrieve(queries, k=cfg.k, threads=cfg.threads, with_text=cfg.model is not None)


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
    if getattr(cfg, "output_format", "trec") == "msmarco":  # the TREC run is kept beside an MS MARCO one
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


def run_pipeline(cfg: RunConfig, *, restart: bool = False) -> RunOutcome:
    """Run every stage of ``cfg`` and write the run, its config and (with qrels) its metrics.

    Outputs are checked first (:func:`check_outputs`). ``restart`` discards the partial files of
    an interrupted rerank of the same output instead of resuming it.
    """
    start = time.time()
    check_outputs(cfg)
    queries = read_topics(cfg.topics, cfg.language)
    if cfg.max_queries is not None:
        queries = queries[: cfg.max_queries]
    mine = queries
    if cfg.shard:
        mine = shard_queries(queries, cfg.shard)
    out = Path(cfg.output)
    meta = {"config": asdict(cfg), "environment": environment_info()}
    candidates = first_stage(cfg, mine)
    first_path = None
    if cfg.model:
        first_path = _first_stage_path(out)
        rcfg = RerankConfig(model=cfg.model, depth=cfg.depth, **cfg.rerank)
        # all queries + shard: the shard's sidecar records the full order, so merge restores it exactly
        rerank_to_file(queries, candidates, out, rcfg, tag=cfg.tag, shard=cfg.shard, depth=cfg.depth,
                       restart=restart)
        # written once reranking is done: a failure before it (a model that does not load) leaves nothing
        write_run(first_path, {q.qid: candidates.get(q.qid, []) for q in mine}, tag=cfg.tag + "-first")
    else:
        write_run(out, {q.qid: candidates.get(q.qid, []) for q in mine}, tag=cfg.tag)
    metrics = None
    if cfg.qrels:
        result = evaluate_run(cfg.qrels, out, cfg.measures)
        metrics = result.aggregate
        write_json_atomic(str(out) + ".metrics.json", {"run": str(out), "qrels": cfg.qrels,
                                                       "aggregate": result.aggregate,
                                                       "num_queries": result.num_queries,
                                                       "per_query": result.per_query})
        if first_path:
            first = evaluate_run(cfg.qrels, first_path, cfg.measures)
            write_json_atomic(first_path + ".metrics.json", {"run": first_path, "qrels": cfg.qrels,
                                                             "aggregate": first.aggregate,
                                                             "num_queries": first.num_queries,
                                                             "per_query": first.per_query})
    seconds = time.time() - start
    meta["seconds"] = round(seconds, 2)
    write_json_atomic(str(out) + ".pipeline.json", meta)
    return RunOutcome(str(out), first_path, metrics, seconds)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m optical_rerank.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("topics")
    g.add_argument("--topics", required=True, help="qid<TAB>text topics file")
    g.add_argument("--language", help="query/collection language code for the analyzer (default: from the index)")
    g.add_argument("--max-queries", type=int, help="use only the first N topics (budget runs)")
    g = p.add_argument_group("first stage")
    g.add_argument("--index", help="Lucene index directory (built from --corpus if missing)")
    g.add_argument("--corpus", help="JsonCollection JSONL: builds --index, or gives text for --candidates")
    g.add_argument("--candidates", help="existing TREC run to rerank instead of running BM25")
    g.add_argument("--k1", type=float, default=0.9, help="BM25 k1 (default 0.9)")
    g.add_argument("--b", type=float, default=0.4, help="BM25 b (default 0.4)")
    g.add_argument("--rm3", action="store_true", help="RM3 expansion (keeps non-Latin terms)")
    g.add_argument("--k", type=int, default=100, help="first-stage depth (default 100)")
    g.add_argument("--threads", type=int, default=2, help="search/index threads")
    g = p.add_argument_group("rerank")
    g.add_argument("--model", help="cross-encoder: zoo name, local directory or hub id (omit for BM25 only)")
    g.add_argument("--depth", type=int, default=100, help="rerank the top N candidates (default 100)")
    g.add_argument("--max-length", type=int, help="tokens per query-passage window (default: the model card's, else 256)")
    g.add_argument("--batch-size", type=int, default=32)
    g.add_argument("--query-template", help='e.g. "query: {text}" (default: the model card\'s, else E5\'s for '
                                            'E5 models, else "{text}")')
    g.add_argument("--passage-template", help='e.g. "passage: {text}" (default: as --query-template)')
    g.add_argument("--quantize", choices=("none", "int8"), default="none", help="int8 dynamic quantization (CPU)")
    g.add_argument("--dtype", choices=("fp32", "bf16", "fp16"), default="fp32", help="GPU dtype")
    g.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    g.add_argument("--shard", help="i/n: score the i-th of n query shards (0-based)")
    g.add_argument("--restart", action="store_true",
                   help="discard the partial files of an interrupted rerank of --output and start over "
                        "(default: resume it; a resume with other settings or model weights is refused)")
    g = p.add_argument_group("output")
    g.add_argument("--output", help="run file (default runs/<tag>.txt)")
    g.add_argument("--tag", default="optical_rerank", help="run tag (last column)")
    g.add_argument("--qrels", help="score the run with these qrels")
    g.add_argument("-m", "--measure", action="append", dest="measures", help="trec_eval measure (repeatable)")
    return p


def _check_numbers(args: argparse.Namespace) -> None:
    """Bad numbers and words on the command line: one :class:`ConfigError` line, before any work."""
    check_number("--k1", args.k1, minimum=0, exclusive_minimum=True)
    check_number("--b", args.b, minimum=0, maximum=1)
    for option, value in (("--k", args.k), ("--depth", args.depth), ("--max-queries", args.max_queries),
                          ("--threads", args.threads), ("--batch-size", args.batch_size)):
        check_number(option, value, minimum=1)
    if not args.tag or any(c.isspace() for c in args.tag):
        raise ConfigError(f"--tag must be one word (no spaces: it is the last column of the run), got {args.tag!r}")
    if args.measures:
        validate_measures(args.measures)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    _check_numbers(args)
    if args.k < 1 or args.depth < 1:
        raise ConfigError("--k and --depth must be >= 1")
    output = args.output or str(Path("runs") / f"{args.tag}{'.' + args.shard.replace('/', 'of') if args.shard else ''}.txt")
    query_template, passage_template = templates_for(args.model, args.query_template, args.passage_template)
    rerank = {"max_length": max_length_for(args.model, args.max_length), "batch_size": args.batch_size,
              "query_template": query_template, "passage_template": passage_template, "quantize": args.quantize,
              "dtype": args.dtype, "device": args.device, "threads": args.threads}
    return from_args(RunConfig, args, output=output, rerank=rerank,
                     measures=tuple(args.measures) if args.measures else DEFAULT_MEASURES)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cfg = config_from_args(args)
    if cfg.model:  # a bad reranking setting (--batch-size, --max-length, templates) fails before any work
        RerankConfig(model=cfg.model, depth=cfg.depth, **cfg.rerank)
    outcome = run_pipeline(cfg, restart=args.restart)
    print(f"run: wrote {outcome.run_path} in {outcome.seconds:.1f}s", file=sys.stderr)
    if outcome.metrics is not None:
        if outcome.first_stage_path:
            first = json.loads(Path(outcome.first_stage_path + ".metrics.json").read_text(encoding="utf-8"))
            sys.stdout.write("# first stage\n" + format_trec_eval(
                EvalResult(cfg.measures, {}, first["aggregate"], first["num_queries"]), "all"))
            sys.stdout.write("# reranked\n")
        sys.stdout.write(format_trec_eval(EvalResult(cfg.measures, {}, outcome.metrics, 0), "all"))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))

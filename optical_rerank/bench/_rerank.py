"""``bench rerank``: reranking throughput and score equality against sentence-transformers.

The same weights and the same real query-passage pairs are scored by

* **sentence-transformers**: ``CrossEncoder(model_dir, num_labels=n, activation_fn=Identity(),
  max_length=L).predict(pairs, batch_size=B)``, the way a user calls it;
* **ours, fp32**: :class:`~optical_rerank.rerank.CrossEncoderReranker` ``.score_pairs`` with the
  same ``max_length`` and ``batch_size``;
* **ours, int8**: the same with ``quantize="int8"`` (dynamic int8 ``Linear`` layers, CPU).

Pairs are the first ``queries`` topics of a prepared TREC DL 2019 passage set (``python -m
optical_rerank.data prepare dl19``), each with its BM25 top ``depth`` candidates and their
passage text. Each scorer's scores rerank those candidates (BM25 order below ``depth``), and the
rerankings are scored with nDCG@10 against the official DL19 qrels.

Reported: pairs/s of each scorer (median of ``repeats`` timed passes over all pairs, the three
scorers interleaved in rotating order after an untimed warm-up batch, all with the same torch
thread count), the speed-up over sentence-transformers, max |score difference| (ours fp32 and
int8 against sentence-transformers), nDCG@10 of each reranking, and the machine's load average
around the timed passes. Goal: >= 2x the sentence-transformers throughput at equal scores (fp32,
max |diff| <= 1e-4) or equal nDCG@10 (int8, within 0.005 of fp32).

``--threads 2,1`` repeats the whole benchmark per thread count. On a machine shared with other
jobs, multi-threaded runs pay for every parallel kernel whose threads are not all scheduled, so
a scorer with fewer, larger kernels gains more there than its arithmetic alone explains; the
single-thread ratio is the cleaner measure of the work saved.

Model
-----
The default is the zoo's ``e5-small-multilingual`` *backbone*: it has no classification head, so
the head (pooler + classifier) is initialised from ``--seed`` (as the reranker does) and the
complete model is written once to a temporary directory that both libraries load: the weights
are identical, but the scores are untrained, so nDCG@10 then only says whether the scorers rank
alike, not how good they are. Give a trained cross-encoder directory (e.g. a teacher from
``python -m optical_rerank.teacher train``) with ``--model DIR`` for meaningful nDCG@10; the
templates its card records are used when present.
"""
from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data import prepare
from ..errors import ConfigError, InputFormatError
from ..evaluate import evaluate_run, output_name
from ..models import resolve_model
from ..paths import cache_dir
from ..rerank import E5_TEMPLATES, CrossEncoderReranker, RerankConfig, load_cross_encoder, model_card, render_template
from ..trec_io import read_corpus, read_qrels, read_run, read_topics
from ..types import Hit, Query

__all__ = ["QuerySet", "BenchResult", "default_data_dir", "load_query_set", "benchmark_rerank", "format_report",
           "add_arguments", "report"]

DEFAULT_MODEL = "e5-small-multilingual"
FP32_TOL = 1e-4
NDCG_TOL = 0.005
GOAL_SPEEDUP = 2.0
MEASURE = "ndcg_cut.10"


# --------------------------------------------------------------------------- data
@dataclass(frozen=True)
class QuerySet:
    """Queries, their first-stage candidates (with passage text) and qrels.

    Attributes
    ----------
    name : a label for the report (e.g. ``"dl19"``).
    queries : the queries, in order.
    candidates : ``{qid: hits}``, first-stage order (``(-score, docid)``), ``Hit.text`` set for
        (at least) the top ``depth`` hits.
    qrels : ``{qid: {docid: grade}}``.
    depth : how many top candidates per query are scored.
    """

    name: str
    queries: tuple[Query, ...]
    candidates: Mapping[str, tuple[Hit, ...]]
    qrels: Mapping[str, Mapping[str, int]]
    depth: int

    def pairs(self) -> tuple[list[str], list[str], list[tuple[str, int]]]:
        """Raw ``(query texts, passage texts, (qid, position))`` of every scored pair."""
        qs, ps, where = [], [], []
        for q in self.queries:
            for k, h in enumerate(self.candidates.get(q.qid, ())[: self.depth]):
                if h.text is None:
                    raise InputFormatError("<candidates>", None, f"query {q.qid!r}: candidate {h.docid!r} has no text")
                qs.append(q.text)
                ps.append(h.text)
                where.append((q.qid, k))
        return qs, ps, where


def _card_output(card: Mapping[str, Any], kind: str, root: Path) -> Path:
    entries = (card.get("outputs") or {}).get(kind) or {}
    if not entries:
        raise InputFormatError(root / "card.json", None, f"no outputs.{kind} entry")
    entry = next(iter(entries.values()))
    return root / entry["path"]


def default_data_dir() -> Path:
    """``cache_dir()/prepared/dl19``, prepared (``optical_rerank.data.prepare("dl19")``) if absent."""
    out = cache_dir() / "prepared" / "dl19"
    if not (out / "card.json").is_file():
        prepare("dl19", out)
    return out


def load_query_set(data_dir: str | Path, n_queries: int, depth: int) -> QuerySet:
    """The first ``n_queries`` judged topics of a prepared set with their top-``depth`` candidates.

    Parameters
    ----------
    data_dir : a prepared set (``card.json`` naming ``outputs.topics``, ``qrels``, ``runs`` and
        ``corpora``; the first entry of each is used), e.g. the output of
        ``python -m optical_rerank.data prepare dl19 --out DIR``.
    n_queries : topics taken in file order among those with qrels and candidates.
    depth : candidates per query (first-stage order).
    """
    root = Path(data_dir)
    card_path = root / "card.json"
    if not card_path.is_file():
        raise ConfigError(f"{root}: no card.json; prepare a set with `python -m optical_rerank.data prepare dl19 --out DIR`")
    if n_queries < 1 or depth < 1:
        raise ConfigError(f"need queries >= 1 and depth >= 1, got {n_queries} and {depth}")
    card = json.loads(card_path.read_text(encoding="utf-8"))
    topics = read_topics(_card_output(card, "topics", root))
    qrels = read_qrels(_card_output(card, "qrels", root))
    run = read_run(_card_output(card, "runs", root))
    chosen = [q for q in topics if q.qid in qrels and run.get(q.qid)][:n_queries]
    if not chosen:
        raise ConfigError(f"{root}: no topic has both qrels and candidates")
    need = {h.docid for q in chosen for h in run[q.qid][:depth]}
    texts = {d.docid: d.contents for d in read_corpus(_card_output(card, "corpora", root)) if d.docid in need}
    missing = sorted(need - set(texts))
    if missing:
        raise InputFormatError(root, None, f"{len(missing)} candidate passages have no text (e.g. {missing[0]!r})")
    candidates = {q.qid: tuple(Hit(h.qid, h.docid, h.score, h.rank, texts.get(h.docid)) for h in run[q.qid])
                  for q in chosen}
    return QuerySet(str(card.get("name") or root.name), tuple(chosen), candidates,
                    {q.qid: dict(qrels[q.qid]) for q in chosen}, depth)


# --------------------------------------------------------------------------- result
@dataclass(frozen=True)
class BenchResult:
    """What :func:`benchmark_rerank` measured.

    Attributes
    ----------
    model, model_dir : the model asked for and its resolved directory.
    trained_head : ``False`` when ``model_dir`` has no classification head: both libraries then
        loaded a temporary copy whose head was initialised from ``seed`` (scores untrained).
    data : query-set label; n_queries, depth, n_pairs : the workload.
    n_tokens, max_tokens : real (unpadded) tokens over all pairs and of the longest pair;
    n_over_length : pairs longer than ``max_length`` (truncated by sentence-transformers,
        windowed by ours: their scores may differ).
    max_length, batch_size, threads, repeats, templates : the shared settings.
    seconds : ``{"st", "fp32", "int8"}`` -> the timed passes (seconds, in run order).
    pairs_per_s : median throughput of each scorer.
    speedup : ``{"fp32", "int8"}`` -> pairs/s over sentence-transformers' pairs/s.
    max_abs_diff : ``{"fp32", "int8"}`` -> max |score - sentence-transformers score|;
        ``"int8_vs_fp32"`` too.
    ndcg10 : ``{"bm25", "st", "fp32", "int8"}`` -> mean nDCG@10 over the queries.
    fast_path : ``{"fp32", "int8"}`` -> whether the reranker used its fast CPU forward.
    load_seconds : model loading / preparation time (not in the throughput).
    score_range : min and max of the sentence-transformers scores (the scale of the differences).
    cpus, load_avg : ``os.cpu_count()`` and the 1-minute load average before and after the timed
        passes (other processes on the machine slow every scorer, multi-threaded ones most).
    versions : library versions.
    """

    model: str
    model_dir: str
    trained_head: bool
    seed: int
    data: str
    n_queries: int
    depth: int
    n_pairs: int
    n_tokens: int
    max_tokens: int
    n_over_length: int
    max_length: int
    batch_size: int
    threads: int
    repeats: int
    templates: tuple[str, str]
    seconds: dict[str, tuple[float, ...]]
    pairs_per_s: dict[str, float]
    speedup: dict[str, float]
    max_abs_diff: dict[str, float]
    ndcg10: dict[str, float]
    fast_path: dict[str, bool]
    load_seconds: float
    cpus: int = 0
    load_avg: tuple[float, float] = (float("nan"), float("nan"))
    score_range: tuple[float, float] = (float("nan"), float("nan"))
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def ndcg_diff_fp32(self) -> float:
        """nDCG@10 of ours fp32 minus sentence-transformers'."""
        return self.ndcg10["fp32"] - self.ndcg10["st"]

    @property
    def ndcg_diff_int8(self) -> float:
        """nDCG@10 of ours int8 minus ours fp32."""
        return self.ndcg10["int8"] - self.ndcg10["fp32"]

    @property
    def fp32_goal_met(self) -> bool:
        """>= 2x sentence-transformers at max |score diff| <= 1e-4."""
        return self.speedup["fp32"] >= GOAL_SPEEDUP and self.max_abs_diff["fp32"] <= FP32_TOL

    @property
    def int8_goal_met(self) -> bool:
        """>= 2x sentence-transformers at |nDCG@10 int8 - fp32| <= 0.005."""
        return self.speedup["int8"] >= GOAL_SPEEDUP and abs(self.ndcg_diff_int8) <= NDCG_TOL


# --------------------------------------------------------------------------- helpers
def _card_templates(model_dir: Path) -> tuple[str, str]:
    """The templates the model's card records (teacher or student), else E5's."""
    card = model_card(model_dir)
    if card.query_template and card.passage_template:
        return card.query_template, card.passage_template
    return E5_TEMPLATES


def _materialize(model: str, seed: int, tmp_root: str) -> tuple[Path, Path, bool]:
    """A directory with the complete cross-encoder: ``model`` itself when it has its head, else a
    copy (under ``tmp_root``) whose missing head is initialised from ``seed`` (as
    :class:`CrossEncoderReranker` does).

    Returns ``(directory to load, resolved source directory, trained_head)``.
    """
    from transformers.utils import logging as hf_logging  # heavy

    src = resolve_model(model)
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "MISSING keys" load report: expected here, and reported by us
    try:
        tokenizer, hf_model, missing = load_cross_encoder(src, head_seed=seed)
    finally:
        hf_logging.set_verbosity(level)
    if not missing:
        return Path(src), Path(src), True
    out = Path(tmp_root) / "cross-encoder"
    hf_model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    return out, Path(src), False


def _ranked(qs: QuerySet, where: Sequence[tuple[str, int]], scores: np.ndarray | None) -> dict[str, list[Hit]]:
    """Rerank the top ``depth`` by ``scores`` (ties: first-stage order), the rest below in first-stage order.

    Scores written are ``n - rank`` so that trec_eval reads exactly this order.
    """
    by_q: dict[str, list[tuple[int, float]]] = {}
    if scores is not None:
        for (qid, k), s in zip(where, scores):
            by_q.setdefault(qid, []).append((k, float(s)))
    run: dict[str, list[Hit]] = {}
    for q in qs.queries:
        hits = list(qs.candidates.get(q.qid, ()))
        if scores is not None:
            head = sorted(by_q.get(q.qid, []), key=lambda t: (-t[1], t[0]))
            order = [k for k, _ in head] + list(range(len(head), len(hits)))
            hits = [hits[k] for k in order]
        n = len(hits)
        run[q.qid] = [Hit(q.qid, h.docid, float(n - r), r + 1) for r, h in enumerate(hits)]
    return run


def _ndcg10(qs: QuerySet, run: Mapping[str, list[Hit]]) -> float:
    res = evaluate_run(qs.qrels, run, [MEASURE])
    return float(res.aggregate[output_name(MEASURE)])


def _loadavg() -> float:
    try:
        return float(os.getloadavg()[0])
    except (OSError, AttributeError):  # pragma: no cover - not on POSIX
        return float("nan")


def _versions() -> dict[str, str]:
    out = {}
    for name in ("torch", "transformers", "sentence-transformers"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "?"
    return out


# --------------------------------------------------------------------------- benchmark
def benchmark_rerank(query_set: QuerySet, model: str = DEFAULT_MODEL, *, max_length: int = 512,
                     batch_size: int = 32, repeats: int = 3, threads: int | None = None, seed: int = 0,
                     templates: tuple[str, str] | None = None, int8: bool = True,
                     log: Callable[[str], None] | None = None) -> BenchResult:
    """Time sentence-transformers' ``CrossEncoder.predict`` against ours (fp32, int8) on the same pairs.

    Parameters
    ----------
    query_set : the queries, candidates and qrels (:func:`load_query_set`).
    model : a zoo name or a model directory; a backbone without a head gets one from ``seed``.
    max_length, batch_size : shared by all scorers.
    repeats : timed passes over all pairs per scorer (median reported), interleaved in rotating
        order (ST, fp32, int8), (fp32, int8, ST), ... after one untimed warm-up batch each.
    threads : ``torch.set_num_threads`` for everything (``None``: torch's current setting, which
        is restored afterwards either way).
    seed : head initialisation seed for a headless backbone.
    templates : ``(query, passage)`` templates (``"{text}"`` once each), applied to the texts
        given to both libraries; ``None``: the templates the model's card records, else
        E5's ``("query: {text}", "passage: {text}")``.
    int8 : also time ours with ``quantize="int8"`` (otherwise its entries are NaN).
    log : progress messages (e.g. ``print`` to stderr); ``None``: silent.

    Returns
    -------
    BenchResult
    """
    import torch  # heavy

    if repeats < 1:
        raise ConfigError(f"repeats must be >= 1, got {repeats}")
    raw_q, raw_p, where = query_set.pairs()
    if not raw_q:
        raise ConfigError("no pairs to score")
    before = torch.get_num_threads()
    try:
        return _benchmark(query_set, raw_q, raw_p, where, model, max_length=max_length, batch_size=batch_size,
                          repeats=repeats, threads=before if threads is None else int(threads), seed=seed,
                          templates=templates, int8=int8, say=log or (lambda _msg: None))
    finally:
        torch.set_num_threads(before)


def _benchmark(query_set: QuerySet, raw_q: list[str], raw_p: list[str], where: list[tuple[str, int]], model: str,
               *, max_length: int, batch_size: int, repeats: int, threads: int, seed: int,
               templates: tuple[str, str] | None, int8: bool, say: Callable[[str], None]) -> BenchResult:
    """:func:`benchmark_rerank` on validated inputs (``threads`` is applied here)."""
    import torch  # heavy
    from sentence_transformers import CrossEncoder  # heavy


    torch.set_num_threads(threads)
    t_load = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-rerank-") as tmp:
        say(f"preparing model {model} ...")
        model_dir, source_dir, trained = _materialize(model, seed, tmp)
        if templates is None:
            templates = _card_templates(model_dir)
        qt, pt = templates
        base = RerankConfig(model=str(model_dir), max_length=max_length, batch_size=batch_size,
                            query_template=qt, passage_template=pt, threads=threads, device="cpu",
                            aggregation="maxp")
        ours = {"fp32": CrossEncoderReranker(str(model_dir), base)}
        if int8:
            ours["int8"] = CrossEncoderReranker(str(model_dir), RerankConfig(**{**base.to_dict(), "quantize": "int8"}))
        num_labels = ours["fp32"].num_labels
        st = CrossEncoder(str(model_dir), num_labels=num_labels, activation_fn=torch.nn.Identity(),
                          max_length=max_length, device="cpu", local_files_only=True)
        torch.set_num_threads(threads)  # nothing above may have changed it
    load_seconds = time.perf_counter() - t_load

    st_pairs = [(render_template(qt, q), render_template(pt, p)) for q, p in zip(raw_q, raw_p)]
    tok = ours["fp32"].tokenizer
    lengths = [len(ids) for ids in tok([a for a, _ in st_pairs], [b for _, b in st_pairs])["input_ids"]]

    def st_score(pairs: list[tuple[str, str]]) -> np.ndarray:
        s = np.asarray(st.predict(pairs, batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True),
                       dtype=np.float32)
        if num_labels == 2:
            s = s[:, 1] - s[:, 0]
        return s.reshape(-1)

    scorers: dict[str, Callable[[int], np.ndarray]] = {
        "st": lambda n: st_score(st_pairs[:n]),
        **{k: (lambda n, r=r: r.score_pairs(raw_q[:n], raw_p[:n], show_progress=False)) for k, r in ours.items()},
    }
    names = list(scorers)
    warm = min(len(raw_q), batch_size)
    for name in names:
        say(f"warm-up {name} ({warm} pairs)")
        scorers[name](warm)
    seconds: dict[str, list[float]] = {k: [] for k in names}
    scores: dict[str, np.ndarray] = {}
    load_before = _loadavg()
    for r in range(repeats):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            t0 = time.perf_counter()
            s = scorers[name](len(raw_q))
            dt = time.perf_counter() - t0
            seconds[name].append(dt)
            if name in scores and not np.array_equal(scores[name], s):
                say(f"note: {name} scores changed between repeats (max {np.abs(scores[name] - s).max():.2e})")
            scores.setdefault(name, s)
            say(f"repeat {r + 1}/{repeats} {name}: {dt:.2f} s ({len(raw_q) / dt:.1f} pairs/s)")

    load_after = _loadavg()
    n = len(raw_q)
    nan = float("nan")
    pps = {k: n / statistics.median(v) for k, v in seconds.items()}
    diff = {k: float(np.abs(scores[k].astype(np.float64) - scores["st"]).max()) for k in ours}
    if int8:
        diff["int8_vs_fp32"] = float(np.abs(scores["int8"].astype(np.float64) - scores["fp32"]).max())
    ndcg = {"bm25": _ndcg10(query_set, _ranked(query_set, where, None))}
    ndcg.update({k: _ndcg10(query_set, _ranked(query_set, where, s)) for k, s in scores.items()})
    for k in ("fp32", "int8"):
        pps.setdefault(k, nan)
        diff.setdefault(k, nan)
        ndcg.setdefault(k, nan)
    return BenchResult(
        model=model, model_dir=str(source_dir), trained_head=trained, seed=seed, data=query_set.name,
        n_queries=len(query_set.queries), depth=query_set.depth, n_pairs=n, n_tokens=int(sum(lengths)),
        max_tokens=int(max(lengths)), n_over_length=int(sum(x > max_length for x in lengths)),
        max_length=max_length, batch_size=batch_size, threads=threads, repeats=repeats, templates=(qt, pt),
        seconds={k: tuple(v) for k, v in seconds.items()}, pairs_per_s=pps,
        speedup={k: pps[k] / pps["st"] for k in ("fp32", "int8")}, max_abs_diff=diff, ndcg10=ndcg,
        fast_path={k: getattr(r, "_fast", None) is not None for k, r in ours.items()},
        load_seconds=load_seconds, cpus=os.cpu_count() or 0, load_avg=(load_before, load_after),
        score_range=(float(scores["st"].min()), float(scores["st"].max())),
        versions=_versions())


# --------------------------------------------------------------------------- report
def format_report(r: BenchResult) -> str:
    """Human-readable table of a :class:`BenchResult`."""
    v = r.versions
    if r.trained_head:
        model_line = f"{r.model} ({r.model_dir}): trained cross-encoder head"
        head_note = []
    else:
        model_line = (f"{r.model} ({r.model_dir}): backbone without a trained head; pooler + classifier "
                      f"initialised from seed {r.seed}, identical weights in both libraries")
        head_note = ["  NOTE     : the head is untrained, so the scores are meaningless as relevance: nDCG@10 here "
                     "only shows",
                     "             whether the scorers rank alike. Use --model DIR (a trained cross-encoder, "
                     "e.g. a teacher) for quality."]

    def fmt_fast(k: str) -> str:
        return "on" if r.fast_path.get(k) else "off"

    lines = [
        "Rerank benchmark: sentence-transformers CrossEncoder.predict vs optical_rerank CrossEncoderReranker.score_pairs",
        f"  model    : {model_line}",
        *head_note,
        f"  pairs    : {r.data}, first {r.n_queries} judged queries x BM25 top {r.depth} = {r.n_pairs} pairs; "
        f"{r.n_tokens} tokens (mean {r.n_tokens / r.n_pairs:.1f}, max {r.max_tokens}); "
        f"{r.n_over_length} longer than max_length",
        f"  settings : max_length={r.max_length}, batch_size={r.batch_size}, torch threads={r.threads} (all scorers), "
        f"CPU; templates {r.templates[0]!r} / {r.templates[1]!r}",
        f"  timing   : median of {r.repeats} passes over all pairs, scorers interleaved in rotating order, "
        "after a 1-batch warm-up each",
        f"  ST       : CrossEncoder(dir, num_labels=N, activation_fn=torch.nn.Identity(), max_length={r.max_length})"
        f".predict(pairs, batch_size={r.batch_size})",
        f"  ours     : CrossEncoderReranker(dir, RerankConfig(max_length={r.max_length}, batch_size={r.batch_size}, "
        f"quantize='none'|'int8')).score_pairs(queries, passages); fast CPU path fp32 {fmt_fast('fp32')}, "
        f"int8 {fmt_fast('int8')}",
        f"  versions : torch {v.get('torch')}, transformers {v.get('transformers')}, "
        f"sentence-transformers {v.get('sentence-transformers')}; model load {r.load_seconds:.1f} s (not timed)",
        f"  host     : {r.cpus} CPUs; 1-min load average {r.load_avg[0]:.2f} before / {r.load_avg[1]:.2f} after "
        "the timed passes (a shared machine: other jobs slow all scorers, multi-threaded runs most)",
        "",
        f"  {'scorer':26s}{'pairs/s':>9s}{'median s':>10s}{'vs ST':>8s}{'max|dscore| vs ST':>19s}{'nDCG@10':>9s}",
    ]

    def row(label: str, k: str) -> str:
        med = statistics.median(r.seconds[k]) if k in r.seconds else float("nan")
        sp = 1.0 if k == "st" else r.speedup[k]
        d = "-" if k == "st" else f"{r.max_abs_diff[k]:.2e}"
        return f"  {label:26s}{r.pairs_per_s[k]:9.2f}{med:10.2f}{sp:7.2f}x{d:>19s}{r.ndcg10[k]:9.4f}"

    lines += [row("sentence-transformers fp32", "st"), row("ours fp32", "fp32")]
    if "int8" in r.seconds:
        lines.append(row("ours int8 (dynamic)", "int8"))
    lines += [
        f"  {'BM25 (first stage)':26s}{'':54s}{r.ndcg10['bm25']:9.4f}",
        "",
        "  passes (s): " + "; ".join(f"{k} " + ", ".join(f"{t:.2f}" for t in ts) for k, ts in r.seconds.items()),
        f"  scores (sentence-transformers) range over [{r.score_range[0]:.4f}, {r.score_range[1]:.4f}]",
        f"  nDCG@10 ours fp32 - ST: {r.ndcg_diff_fp32:+.4f}",
    ]
    if "int8" in r.seconds:
        lines.append(f"  nDCG@10 ours int8 - ours fp32: {r.ndcg_diff_int8:+.4f}; max |int8 - fp32 score| "
                     f"{r.max_abs_diff['int8_vs_fp32']:.2e}")
    lines.append(f"  goal fp32 (>= {GOAL_SPEEDUP:g}x, max |dscore| <= {FP32_TOL:g}): "
                 f"{'met' if r.fp32_goal_met else 'NOT met'} ({r.speedup['fp32']:.2f}x, {r.max_abs_diff['fp32']:.2e})")
    if "int8" in r.seconds:
        lines.append(f"  goal int8 (>= {GOAL_SPEEDUP:g}x, |dnDCG@10 vs fp32| <= {NDCG_TOL:g}): "
                     f"{'met' if r.int8_goal_met else 'NOT met'} ({r.speedup['int8']:.2f}x, "
                     f"{r.ndcg_diff_int8:+.4f})")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- CLI
def _thread_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected thread counts such as 2 or 2,1, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"thread counts must be >= 1, got {text!r}")
    return values


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the ``rerank`` benchmark (``--out`` is added by the subcommand registry)."""
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"zoo name or cross-encoder directory (default {DEFAULT_MODEL}, a backbone: its head "
                        "is seeded, so nDCG is meaningless; give a trained teacher dir for quality)")
    p.add_argument("--data", type=Path, default=None,
                   help="prepared DL19 set (python -m optical_rerank.data prepare dl19 --out DIR); "
                        "default $OPTICAL_RERANK_CACHE/prepared/dl19, prepared on first use")
    p.add_argument("--queries", type=int, default=20, help="first N judged topics (default 20; DL19 has 43)")
    p.add_argument("--depth", type=int, default=10, help="BM25 candidates reranked per query (default 10)")
    p.add_argument("--max-length", type=int, default=512, help="tokens per pair, both scorers (default 512)")
    p.add_argument("--batch-size", type=int, default=32, help="pairs per forward pass, both scorers (default 32)")
    p.add_argument("--repeats", type=int, default=3, help="timed passes per scorer, median reported (default 3)")
    p.add_argument("--threads", type=_thread_list, default=None,
                   help="torch threads for all scorers (default: torch's setting); a comma list such as 2,1 "
                        "runs the whole benchmark once per value")
    p.add_argument("--seed", type=int, default=0, help="seed of a missing head (default 0)")
    p.add_argument("--query-template", default=None,
                   help="default: the model's teacher_config.json, else 'query: {text}'")
    p.add_argument("--passage-template", default=None,
                   help="default: the model's teacher_config.json, else 'passage: {text}'")
    p.add_argument("--no-int8", action="store_true", help="skip the int8 scorer")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def report(args: argparse.Namespace) -> str:
    """Run the benchmark described by parsed ``args`` and return its report (entry point of ``bench rerank``)."""
    if (args.query_template is None) != (args.passage_template is None):
        raise ConfigError("give --query-template and --passage-template together")
    templates = None if args.query_template is None else (args.query_template, args.passage_template)
    log = None if args.quiet else (lambda msg: print(f"[bench rerank] {msg}", file=sys.stderr, flush=True))
    data = args.data if args.data is not None else default_data_dir()
    qs = load_query_set(data, args.queries, args.depth)
    reports = []
    for threads in args.threads or [None]:
        result = benchmark_rerank(qs, args.model, max_length=args.max_length, batch_size=args.batch_size,
                                  repeats=args.repeats, threads=threads, seed=args.seed, templates=templates,
                                  int8=not args.no_int8, log=log)
        reports.append(format_report(result))
    return "\n".join(reports)


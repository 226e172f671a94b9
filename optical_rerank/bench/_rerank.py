"""``bench rerank``: reranking throughput of every backend against sentence-transformers, and the roofline.

The same weights and the same real query-passage pairs are scored, in one process run with
interleaved passes, by

* **sentence-transformers torch fp32**: ``CrossEncoder(dir, num_labels=n, activation_fn=Identity(),
  max_length=L).predict(pairs, batch_size=B)``, the way a user calls it;
* **sentence-transformers onnx int8**: ``CrossEncoder(dir, backend="onnx")`` quantized by its
  ``export_dynamic_quantized_onnx_model(model, "avx512_vnni", dir)``, the documented CPU int8
  path. It needs optimum-onnx, which cannot live beside transformers 5.x: it runs in the side venv
  of ``scripts/setup_st_onnx.sh`` as a long-lived worker (:mod:`._st_worker`) whose passes take
  their turn among the others (``--st-python``; skipped, and said so, when that venv is missing);
  ``--st-openvino`` adds ``CrossEncoder(dir, backend="openvino")`` the same way (needs optimum-intel);
* **ours**: :class:`~optical_rerank.rerank.CrossEncoderReranker` ``.score_pairs`` in every
  backend/precision this CPU runs (``--ours``; torch fp32/int8/bf16, ONNX Runtime fp32/int8,
  OpenVINO fp32/bf16; bf16 only with native bf16), same ``max_length``, ``batch_size`` and threads.

Pairs are the first ``queries`` topics of a prepared TREC DL 2019 passage set (``python -m
optical_rerank.data prepare dl19``), each with its BM25 top ``depth`` candidates and their
passage text. Each scorer's scores rerank those candidates and are scored with nDCG@10 against
the official DL19 qrels.

Reported per scorer: pairs/s (median of ``repeats`` timed passes, all scorers interleaved in
rotating order after an untimed warm-up), the ratio to each sentence-transformers baseline, max
|score difference| and nDCG@10 difference against our torch fp32 (itself checked against
sentence-transformers fp32), and the fraction of the machine's roofline: FLOPs per pair from the
model config and the pairs' actual token counts (:func:`flops_per_pair`: every ``Linear`` of
every layer on every token, plus the attention products; nominal, whatever a scorer skips)
times pairs/s, over the peak of a matmul of the scorer's precision measured in the same run
(:func:`matmul_peak`). Targets: our fastest scorer within 0.005 nDCG@10 of fp32 at >= 3x
sentence-transformers torch fp32, >= 1.2x its onnx int8, and >= 40% of the roofline.
The 1-minute load average is recorded around the timed passes (a shared machine slows every
scorer, multi-threaded ones most).

Model
-----
``--model`` is a trained cross-encoder: a directory, a zoo or a shipped name (default
``teacher-e5-lora``, the shipped teacher; its card's templates are used, fusion is not: the
cross-encoder alone is compared). A backbone without a head (``e5-small-multilingual``) gets one
from ``--seed``, written once to a temporary directory that both libraries load: identical
weights, untrained scores (nDCG@10 then only says whether the scorers rank alike).
"""
from __future__ import annotations

import argparse
import json
import math
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
from ..rerank import (
    BACKENDS,
    E5_TEMPLATES,
    PRECISIONS,
    CrossEncoderReranker,
    RerankConfig,
    cpu_has_native_bf16,
    load_cross_encoder,
    model_card,
    render_template,
)
from ..provenance import package_versions
from ..trec_io import read_corpus, read_qrels, read_run, read_topics
from ..types import Hit, Query

__all__ = ["QuerySet", "BenchResult", "default_data_dir", "load_query_set", "benchmark_rerank", "format_report",
           "flops_per_pair", "matmul_peak", "default_ours", "default_st_python", "add_arguments", "report"]

DEFAULT_MODEL = "teacher-e5-lora"
REFERENCE = "ours-torch-fp32"
NDCG_TOL = 0.005
GOAL_VS_ST_FP32 = 3.0
GOAL_VS_ST_INT8 = 1.2
GOAL_ROOFLINE = 0.40
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
    model, model_dir, trained_head, seed : the model asked for, its resolved directory, whether it
        had a trained head (else seeded from ``seed``).
    data, n_queries, depth, n_pairs : the workload; n_tokens, max_tokens : real (unpadded) tokens
        over all pairs and of the longest; n_over_length : pairs longer than ``max_length``.
    max_length, batch_size, threads, repeats, templates : the shared settings.
    scorers : scorer keys in run order (``st-torch-fp32``, ``st-onnx-int8``, ``ours-<backend>-<precision>``).
    precision : scorer -> ``fp32`` / ``bf16`` / ``int8``.
    seconds : scorer -> the timed passes; pairs_per_s : scorer -> median throughput.
    max_abs_diff : scorer -> max |score - reference score|, the reference being ``ours-torch-fp32``
        (and for that one, sentence-transformers torch fp32).
    ndcg10 : scorer (and ``"bm25"``) -> mean nDCG@10.
    flops_per_pair : mean nominal FLOPs of one pair (:func:`flops_per_pair`).
    peak_gflops : precision -> measured matmul peak (GFLOP/s) of this machine in this run.
    skipped : scorer -> why it did not run.
    fast_path : whether our torch fp32 used its fast CPU forward.
    load_seconds, cpus, load_avg, score_range, versions : as the report prints them.
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
    scorers: tuple[str, ...]
    precision: dict[str, str]
    seconds: dict[str, tuple[float, ...]]
    pairs_per_s: dict[str, float]
    max_abs_diff: dict[str, float]
    ndcg10: dict[str, float]
    flops_per_pair: float
    peak_gflops: dict[str, float]
    skipped: dict[str, str] = field(default_factory=dict)
    fast_path: bool = False
    load_seconds: float = 0.0
    cpus: int = 0
    load_avg: tuple[float, float] = (float("nan"), float("nan"))
    score_range: tuple[float, float] = (float("nan"), float("nan"))
    versions: dict[str, str] = field(default_factory=dict)

    def ratio(self, scorer: str, base: str) -> float:
        """pairs/s of ``scorer`` over ``base`` (NaN when either did not run)."""
        a, b = self.pairs_per_s.get(scorer), self.pairs_per_s.get(base)
        return float("nan") if a is None or b is None else a / b

    def ndcg_diff(self, scorer: str) -> float:
        """nDCG@10 of ``scorer`` minus that of the reference (our torch fp32)."""
        return self.ndcg10.get(scorer, float("nan")) - self.ndcg10.get(REFERENCE, float("nan"))

    def gflops(self, scorer: str) -> float:
        """Nominal GFLOP/s reached by ``scorer``."""
        return self.pairs_per_s.get(scorer, float("nan")) * self.flops_per_pair / 1e9

    def roofline(self, scorer: str) -> float:
        """Fraction of the measured matmul peak of the scorer's precision."""
        return self.gflops(scorer) / self.peak_gflops.get(self.precision.get(scorer, ""), float("nan"))

    def fastest_ours(self) -> str | None:
        """Our fastest scorer within :data:`NDCG_TOL` nDCG@10 of the reference."""
        ok = [k for k in self.scorers if k.startswith("ours-") and abs(self.ndcg_diff(k)) <= NDCG_TOL]
        return max(ok, key=lambda k: self.pairs_per_s[k]) if ok else None


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
    return package_versions(("torch", "transformers", "sentence-transformers", "onnxruntime", "openvino"), missing="-")


def flops_per_pair(config: Any, lengths: Sequence[int]) -> float:
    """Mean nominal FLOPs of one pair of a BERT-like encoder with a classification head.

    Per layer and token: Q, K, V and output projections (``4 H^2`` multiply-adds) and the
    feed-forward (``2 H I``); per layer and sequence of ``n`` tokens, ``Q K^T`` and ``A V``
    (``2 n^2 H``); then pooler and classifier (``H^2 + H labels``). FLOPs = 2 x multiply-adds.
    This is what a plain forward computes; a scorer that skips work (our fast path runs the last
    layer for [CLS] only) is still counted at this rate.
    """
    H = int(config.hidden_size)
    inter = int(getattr(config, "intermediate_size", 4 * H))
    layers = int(config.num_hidden_layers)
    labels = int(getattr(config, "num_labels", 1))
    total = 0.0
    for n in lengths:
        macs = layers * (n * (4 * H * H + 2 * H * inter) + 2 * n * n * H) + H * H + H * labels
        total += 2.0 * macs
    return total / max(1, len(lengths))


def matmul_peak(precision: str, threads: int, seconds: float = 1.5, size: int = 1024) -> float:
    """GFLOP/s of a ``size``-square matmul in ``precision`` on this machine (best of repeated timings).

    fp32 and bf16: ``torch.mm``; int8: ``torch._int_mm`` (int8 x int8 -> int32), the kernels the
    oneDNN / ONNX Runtime / OpenVINO integer paths are built from. NaN when the precision cannot run.
    """
    import torch  # heavy

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        gen = torch.Generator().manual_seed(0)
        if precision == "int8":
            a = torch.randint(-100, 100, (size, size), dtype=torch.int8, generator=gen)
            b = torch.randint(-100, 100, (size, size), dtype=torch.int8, generator=gen)
            op = torch._int_mm
        else:
            dtype = torch.bfloat16 if precision == "bf16" else torch.float32
            a = torch.randn(size, size, generator=gen).to(dtype)
            b = torch.randn(size, size, generator=gen).to(dtype)
            op = torch.mm
        with torch.inference_mode():
            op(a, b)
            best = float("inf")
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                op(a, b)
                best = min(best, time.perf_counter() - t0)
        return 2.0 * size ** 3 / best / 1e9
    except (RuntimeError, AttributeError):
        return float("nan")
    finally:
        torch.set_num_threads(before)


class _Worker:
    """A sentence-transformers scorer in another Python (:mod:`._st_worker`), kept alive between passes."""

    def __init__(self, python: str, model_dir: Path, mode: str, max_length: int, batch_size: int, threads: int,
                 num_labels: int, timeout: float = 1800.0):
        import subprocess

        script = Path(__file__).with_name("_st_worker.py")
        env = {**os.environ, "PYTHONNOUSERSITE": "1", "TOKENIZERS_PARALLELISM": "false"}
        env.pop("PYTHONPATH", None)
        self.proc = subprocess.Popen(
            [python, str(script), "--model", str(model_dir), "--mode", mode, "--max-length", str(max_length),
             "--batch-size", str(batch_size), "--threads", str(threads), "--num-labels", str(num_labels)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self.ready = self._read()
        if not self.ready.get("ready"):
            raise ConfigError(f"sentence-transformers worker ({python}, {mode}) did not start")

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("@@ "):
                return json.loads(line[3:])
        code = self.proc.wait()
        raise ConfigError(f"sentence-transformers worker exited ({code}) before answering")

    def score(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"pairs": [list(p) for p in pairs]}) + "\n")
        self.proc.stdin.flush()
        return np.asarray(self._read()["scores"], dtype=np.float32)

    def close(self) -> None:
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.write("\n")
                self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except Exception:  # noqa: BLE001 - a stuck worker: stop it
            self.proc.kill()
            self.proc.wait()


def _worker_key(mode: str) -> str:
    """The scorer key of a sentence-transformers worker mode (``torch-fp32`` there is a check of the worker)."""
    return "st-torch-fp32-worker" if mode == "torch-fp32" else f"st-{mode}"


def _parse_ours(text: str) -> list[tuple[str, str]]:
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        backend, _, precision = item.partition(":")
        if backend not in BACKENDS or precision not in PRECISIONS:
            raise argparse.ArgumentTypeError(f"expected BACKEND:PRECISION items ({'/'.join(BACKENDS)} : "
                                             f"{'/'.join(PRECISIONS)}), got {item!r}")
        out.append((backend, precision))
    if not out:
        raise argparse.ArgumentTypeError("--ours needs at least one BACKEND:PRECISION")
    if ("torch", "fp32") not in out:
        out.insert(0, ("torch", "fp32"))  # the reference
    return out


def default_ours() -> list[tuple[str, str]]:
    """Every backend/precision of ours that this CPU runs (bf16 only with native bf16)."""
    native = cpu_has_native_bf16()
    return [(b, p) for b, p in (("torch", "fp32"), ("torch", "int8"), ("torch", "bf16"), ("onnx", "fp32"),
                                ("onnx", "int8"), ("openvino", "fp32"), ("openvino", "bf16"))
            if p != "bf16" or native]


def default_st_python() -> str | None:
    """The side venv's Python of ``scripts/setup_st_onnx.sh`` when it exists (repository root), else ``None``."""
    p = Path(__file__).resolve().parents[2] / ".venv-st-onnx" / "bin" / "python"
    return str(p) if p.is_file() else None


# --------------------------------------------------------------------------- benchmark
def benchmark_rerank(query_set: QuerySet, model: str = DEFAULT_MODEL, *, max_length: int = 512,
                     batch_size: int = 32, repeats: int = 3, threads: int | None = None, seed: int = 0,
                     templates: tuple[str, str] | None = None, ours: Sequence[tuple[str, str]] | None = None,
                     st_python: str | None = None, st_modes: Sequence[str] = ("onnx-int8",),
                     log: Callable[[str], None] | None = None) -> BenchResult:
    """Time sentence-transformers' scorers against ours (every backend/precision) on the same pairs.

    Parameters
    ----------
    query_set : the queries, candidates and qrels (:func:`load_query_set`).
    model : a zoo or shipped name or a model directory; a backbone without a head gets one from ``seed``.
    max_length, batch_size : shared by all scorers.
    repeats : timed passes over all pairs per scorer (median reported), interleaved in rotating
        order after one untimed warm-up batch each.
    threads : threads of every scorer (torch, ONNX Runtime, OpenVINO, the workers); ``None``:
        torch's current setting (restored afterwards either way).
    seed : head initialisation seed for a headless backbone.
    templates : ``(query, passage)`` templates; ``None``: the model card's, else E5's.
    ours : ``(backend, precision)`` of our scorers (default :func:`default_ours`); torch fp32,
        the reference, is always included.
    st_python : the side venv's Python for the sentence-transformers worker scorers (``st_modes``,
        e.g. ``onnx-int8``); ``None``: they are skipped (recorded in ``skipped``).
    log : progress messages; ``None``: silent.
    """
    import torch  # heavy

    if repeats < 1:
        raise ConfigError(f"repeats must be >= 1, got {repeats}")
    raw_q, raw_p, where = query_set.pairs()
    if not raw_q:
        raise ConfigError("no pairs to score")
    ours = list(ours) if ours is not None else default_ours()
    if ("torch", "fp32") not in ours:
        ours.insert(0, ("torch", "fp32"))
    before = torch.get_num_threads()
    try:
        return _benchmark(query_set, raw_q, raw_p, where, model, max_length=max_length, batch_size=batch_size,
                          repeats=repeats, threads=before if threads is None else int(threads), seed=seed,
                          templates=templates, ours=ours, st_python=st_python, st_modes=tuple(st_modes),
                          say=log or (lambda _msg: None))
    finally:
        torch.set_num_threads(before)


def _benchmark(query_set: QuerySet, raw_q: list[str], raw_p: list[str], where: list[tuple[str, int]], model: str,
               *, max_length: int, batch_size: int, repeats: int, threads: int, seed: int,
               templates: tuple[str, str] | None, ours: list[tuple[str, str]], st_python: str | None,
               st_modes: tuple[str, ...], say: Callable[[str], None]) -> BenchResult:
    """:func:`benchmark_rerank` on validated inputs (``threads`` is applied here)."""
    import torch  # heavy
    from sentence_transformers import CrossEncoder  # heavy

    torch.set_num_threads(threads)
    t_load = time.perf_counter()
    workers: list[_Worker] = []
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-rerank-") as tmp:
        try:
            say(f"preparing model {model} ...")
            model_dir, source_dir, trained = _materialize(model, seed, tmp)
            if templates is None:
                templates = _card_templates(model_dir)
            qt, pt = templates
            base = RerankConfig(model=str(model_dir), max_length=max_length, batch_size=batch_size,
                                query_template=qt, passage_template=pt, threads=threads, device="cpu",
                                aggregation="maxp", fusion_weight=0.0)
            rerankers: dict[str, CrossEncoderReranker] = {}
            precision: dict[str, str] = {}
            for backend, prec in ours:
                key = f"ours-{backend}-{prec}"
                say(f"loading {key} (exports are cached) ...")
                try:
                    cfg = RerankConfig(**{**base.to_dict(), "backend": backend,
                                          "quantize": "int8" if prec == "int8" else "none",
                                          "dtype": "fp32" if prec == "int8" else prec})
                    rerankers[key] = CrossEncoderReranker(str(model_dir), cfg)
                    precision[key] = prec
                except ConfigError as exc:
                    skipped[key] = str(exc)
                torch.set_num_threads(threads)
            ref = rerankers[REFERENCE]
            num_labels = ref.num_labels
            st = CrossEncoder(str(model_dir), num_labels=num_labels, activation_fn=torch.nn.Identity(),
                              max_length=max_length, device="cpu", local_files_only=True)
            precision["st-torch-fp32"] = "fp32"
            for mode in st_modes:
                key = _worker_key(mode)
                if st_python is None:
                    skipped[key] = ("no side venv for sentence-transformers' ONNX/OpenVINO backends "
                                    "(bash scripts/setup_st_onnx.sh, then --st-python .venv-st-onnx/bin/python)")
                    continue
                say(f"starting the sentence-transformers worker {key} ({st_python}) ...")
                try:
                    w = _Worker(st_python, model_dir, mode, max_length, batch_size, threads, num_labels)
                except (ConfigError, OSError) as exc:
                    skipped[key] = str(exc)
                    continue
                workers.append(w)
                precision[key] = mode.rsplit("-", 1)[1]
            torch.set_num_threads(threads)
            load_seconds = time.perf_counter() - t_load

            st_pairs = [(render_template(qt, q), render_template(pt, p)) for q, p in zip(raw_q, raw_p)]
            lengths = [len(ids) for ids in ref.tokenizer([a for a, _ in st_pairs], [b for _, b in st_pairs],
                                                         truncation=True, max_length=max_length)["input_ids"]]
            full = [len(ids) for ids in ref.tokenizer([a for a, _ in st_pairs], [b for _, b in st_pairs])["input_ids"]]

            def st_score(pairs: list[tuple[str, str]]) -> np.ndarray:
                s = np.asarray(st.predict(pairs, batch_size=batch_size, show_progress_bar=False,
                                          convert_to_numpy=True), dtype=np.float32)
                if num_labels == 2:
                    s = s[:, 1] - s[:, 0]
                return s.reshape(-1)

            scorers: dict[str, Callable[[int], np.ndarray]] = {"st-torch-fp32": lambda n: st_score(st_pairs[:n])}
            for w in workers:
                scorers[_worker_key(w.ready["mode"])] = lambda n, w=w: w.score(st_pairs[:n])
            for k, r in rerankers.items():
                scorers[k] = lambda n, r=r: r.score_pairs(raw_q[:n], raw_p[:n], show_progress=False)
            names = list(scorers)
            warm = min(len(raw_q), batch_size)
            for name in names:
                say(f"warm-up {name} ({warm} pairs)")
                scorers[name](warm)
            say("measuring matmul peaks ...")
            peaks = {p: matmul_peak(p, threads) for p in sorted(set(precision.values()))}
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
                    scores.setdefault(name, s)
                    say(f"repeat {r + 1}/{repeats} {name}: {dt:.2f} s ({len(raw_q) / dt:.1f} pairs/s)")
            load_after = _loadavg()
            for p in peaks:  # the peak after the passes too: the better of the two (the machine is shared)
                peaks[p] = float(np.nanmax([peaks[p], matmul_peak(p, threads)]))
            versions = _versions()
            for w in workers:
                versions.update({f"worker {k}": v for k, v in w.ready.get("versions", {}).items()})
        finally:
            for w in workers:
                w.close()

    n = len(raw_q)
    pps = {k: n / statistics.median(v) for k, v in seconds.items()}
    ref_scores = scores[REFERENCE].astype(np.float64)
    diff = {k: float(np.abs(s.astype(np.float64) - ref_scores).max()) for k, s in scores.items() if k != REFERENCE}
    diff[REFERENCE] = float(np.abs(ref_scores - scores["st-torch-fp32"]).max())
    ndcg = {"bm25": _ndcg10(query_set, _ranked(query_set, where, None))}
    ndcg.update({k: _ndcg10(query_set, _ranked(query_set, where, s)) for k, s in scores.items()})
    return BenchResult(
        model=model, model_dir=str(source_dir), trained_head=trained, seed=seed, data=query_set.name,
        n_queries=len(query_set.queries), depth=query_set.depth, n_pairs=n, n_tokens=int(sum(lengths)),
        max_tokens=int(max(full)), n_over_length=int(sum(x > max_length for x in full)),
        max_length=max_length, batch_size=batch_size, threads=threads, repeats=repeats, templates=(qt, pt),
        scorers=tuple(names), precision=precision, seconds={k: tuple(v) for k, v in seconds.items()},
        pairs_per_s=pps, max_abs_diff=diff, ndcg10=ndcg,
        flops_per_pair=flops_per_pair(ref.model.config, lengths), peak_gflops=peaks, skipped=skipped,
        fast_path=getattr(ref, "_fast", None) is not None, load_seconds=load_seconds, cpus=os.cpu_count() or 0,
        load_avg=(load_before, load_after), score_range=(float(scores["st-torch-fp32"].min()),
                                                         float(scores["st-torch-fp32"].max())),
        versions=versions)


# --------------------------------------------------------------------------- report
def format_report(r: BenchResult) -> str:
    """Human-readable table of a :class:`BenchResult`."""
    v = r.versions
    if r.trained_head:
        model_line = f"{r.model} ({r.model_dir}): trained cross-encoder head"
        head_note = []
    else:
        model_line = (f"{r.model} ({r.model_dir}): backbone without a trained head; pooler + classifier "
                      f"initialised from seed {r.seed}, identical weights in every scorer")
        head_note = ["  NOTE     : the head is untrained, so the scores are meaningless as relevance: nDCG@10 here "
                     "only shows whether the scorers rank alike."]
    peaks = ", ".join(f"{p} {g:.0f}" for p, g in sorted(r.peak_gflops.items()))
    lines = [
        "Rerank benchmark: sentence-transformers CrossEncoder vs optical_rerank CrossEncoderReranker, every backend",
        f"  model    : {model_line}",
        *head_note,
        f"  pairs    : {r.data}, first {r.n_queries} judged queries x BM25 top {r.depth} = {r.n_pairs} pairs; "
        f"{r.n_tokens} tokens (mean {r.n_tokens / r.n_pairs:.1f}, max {r.max_tokens}); "
        f"{r.n_over_length} longer than max_length",
        f"  settings : max_length={r.max_length}, batch_size={r.batch_size}, threads={r.threads} (all scorers), "
        f"CPU; templates {r.templates[0]!r} / {r.templates[1]!r}; no fusion (cross-encoder alone)",
        f"  timing   : median of {r.repeats} passes over all pairs, all scorers interleaved in rotating order, "
        "after a 1-batch warm-up each",
        f"  roofline : {r.flops_per_pair / 1e9:.3f} GFLOP per pair (nominal, from the config and the token counts); "
        f"matmul peak GFLOP/s measured in this run: {peaks}",
        f"  versions : " + ", ".join(f"{k} {val}" for k, val in sorted(v.items())),
        f"  host     : {r.cpus} CPUs; 1-min load average {r.load_avg[0]:.2f} before / {r.load_avg[1]:.2f} after "
        "the timed passes (a shared machine: other jobs slow all scorers, multi-threaded ones most)",
        f"  reference: ours-torch-fp32 (fast CPU path {'on' if r.fast_path else 'off'}); its max |dscore| is "
        "against sentence-transformers torch fp32",
        "",
        f"  {'scorer':22s}{'pairs/s':>9s}{'vs ST fp32':>11s}{'vs ST int8':>11s}{'max|dscore|':>12s}"
        f"{'nDCG@10':>9s}{'dnDCG':>8s}{'GFLOP/s':>9s}{'roofline':>9s}",
    ]
    for k in r.scorers:
        d = r.max_abs_diff.get(k, float("nan"))
        lines.append(f"  {k:22s}{r.pairs_per_s[k]:9.2f}{r.ratio(k, 'st-torch-fp32'):10.2f}x"
                     f"{r.ratio(k, 'st-onnx-int8'):10.2f}x{d:12.2e}{r.ndcg10[k]:9.4f}{r.ndcg_diff(k):+8.4f}"
                     f"{r.gflops(k):9.1f}{100 * r.roofline(k):8.1f}%")
    lines.append(f"  {'BM25 (first stage)':22s}{'':52s}{r.ndcg10['bm25']:9.4f}")
    for k, why in r.skipped.items():
        lines.append(f"  {k:22s} not run: {why}")
    lines += ["", "  passes (s): " + "; ".join(f"{k} " + ", ".join(f"{t:.2f}" for t in ts)
                                               for k, ts in r.seconds.items())]
    best = r.fastest_ours()
    if best is None:
        lines.append(f"  targets  : no scorer of ours within {NDCG_TOL} nDCG@10 of fp32")
    else:
        st32, st8, roof = r.ratio(best, "st-torch-fp32"), r.ratio(best, "st-onnx-int8"), r.roofline(best)

        def met(ok: bool) -> str:
            return "met" if ok else "NOT met"

        lines += [
            f"  fastest of ours within {NDCG_TOL} nDCG@10 of fp32: {best} ({r.pairs_per_s[best]:.2f} pairs/s, "
            f"dnDCG@10 {r.ndcg_diff(best):+.4f})",
            f"  target >= {GOAL_VS_ST_FP32:g}x sentence-transformers torch fp32: {st32:.2f}x, {met(st32 >= GOAL_VS_ST_FP32)}",
            f"  target >= {GOAL_VS_ST_INT8:g}x sentence-transformers onnx int8: "
            + (f"{st8:.2f}x, {met(st8 >= GOAL_VS_ST_INT8)}" if math.isfinite(st8) else "not measured (skipped)"),
            f"  target >= {100 * GOAL_ROOFLINE:.0f}% of the {r.precision[best]} matmul peak: {100 * roof:.1f}%, "
            f"{met(roof >= GOAL_ROOFLINE)}",
        ]
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
                   help=f"trained cross-encoder: shipped or zoo name or directory (default {DEFAULT_MODEL}; a "
                        "backbone without a head gets a seeded one, so its nDCG is meaningless)")
    p.add_argument("--data", type=Path, default=None,
                   help="prepared DL19 set (python -m optical_rerank.data prepare dl19 --out DIR); "
                        "default $OPTICAL_RERANK_CACHE/prepared/dl19, prepared on first use")
    p.add_argument("--queries", type=int, default=20, help="first N judged topics (default 20; DL19 has 43)")
    p.add_argument("--depth", type=int, default=10, help="BM25 candidates reranked per query (default 10)")
    p.add_argument("--max-length", type=int, default=512, help="tokens per pair, all scorers (default 512)")
    p.add_argument("--batch-size", type=int, default=32, help="pairs per forward pass, all scorers (default 32)")
    p.add_argument("--repeats", type=int, default=3, help="timed passes per scorer, median reported (default 3)")
    p.add_argument("--threads", type=_thread_list, default=None,
                   help="threads of every scorer (default: torch's setting); a comma list such as 2,1 "
                        "runs the whole benchmark once per value")
    p.add_argument("--ours", type=_parse_ours, default=None,
                   help="our scorers as BACKEND:PRECISION,... (default: every one this CPU runs; torch:fp32, "
                        "the reference, is always included)")
    p.add_argument("--st-python", default=None,
                   help="Python of the side venv with sentence-transformers + optimum-onnx "
                        "(default .venv-st-onnx/bin/python when bash scripts/setup_st_onnx.sh made it)")
    p.add_argument("--st-openvino", action="store_true",
                   help="also sentence-transformers backend='openvino' in the side venv (needs optimum-intel)")
    p.add_argument("--seed", type=int, default=0, help="seed of a missing head (default 0)")
    p.add_argument("--query-template", default=None,
                   help="default: the model card's, else 'query: {text}'")
    p.add_argument("--passage-template", default=None,
                   help="default: the model card's, else 'passage: {text}'")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def report(args: argparse.Namespace) -> str:
    """Run the benchmark described by parsed ``args`` and return its report (entry point of ``bench rerank``)."""
    if (args.query_template is None) != (args.passage_template is None):
        raise ConfigError("give --query-template and --passage-template together")
    templates = None if args.query_template is None else (args.query_template, args.passage_template)
    log = None if args.quiet else (lambda msg: print(f"[bench rerank] {msg}", file=sys.stderr, flush=True))
    data = args.data if args.data is not None else default_data_dir()
    qs = load_query_set(data, args.queries, args.depth)
    st_python = args.st_python or default_st_python()
    modes = ("onnx-int8", "openvino-fp32") if args.st_openvino else ("onnx-int8",)
    reports = []
    for threads in args.threads or [None]:
        result = benchmark_rerank(qs, args.model, max_length=args.max_length, batch_size=args.batch_size,
                                  repeats=args.repeats, threads=threads, seed=args.seed, templates=templates,
                                  ours=args.ours, st_python=st_python, st_modes=modes, log=log)
        reports.append(format_report(result))
    return "\n".join(reports)

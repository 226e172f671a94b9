"""``python -m optical_rerank.experiment CONFIG``: every system on the same candidates → tables and plots.

For each dataset and language of the config (AfriQA test, XQuAD-R paragraphs, NTREX-doc, DL19)
this runs, on one seeded sample of queries and one shared candidate list:

==================== ==========================================================================
system               what it is
==================== ==========================================================================
bm25-native          BM25 with the native-language query (English collection)
wordtrans-bm25       BM25 with the question translated word by word (IBM Model 1 on the students'
                     bitext, FreeDict for Swahili: :mod:`optical_rerank.translate`)
dense                multilingual-e5-small dense retrieval: ``pyserini.encode`` + FAISS, Pyserini's
                     ``FaissSearcher`` (:mod:`optical_rerank.dense`, settings in ``dense:``)
hybrid               RRF (``pyserini.fusion``, k=60) of bm25-native and dense
bm25-translated      BM25 with the human English translation (oracle query translation)
oracle-bm25          the same run under the realistic study's name: a labelled control row
bm25-doc-translated  NTREX only: BM25 over the human translation of the collection, native query
teacher-native       the English teacher reranking native queries (zero-shot transfer)
teacher-wordtrans    the teacher reranking the word-by-word translation
teacher-translated   the teacher reranking the English translation (what OPTICAL aims at)
kd                   a student distilled with mean-pooled MSE (vanilla KD), native queries
optical              the OPTICAL student (token-level OT distillation), native queries
e5-biencoder         multilingual-e5-small zero-shot as a bi-encoder reranker (a strong reference)
e5-rerank            the same bi-encoder rescoring the candidates with the dense index's passage
                     vectors (same model, prefixes and pooling as ``dense``)
<any student name>   every other key of ``students`` is one more student (a variant for a sweep
                     on dev, e.g. ``optical-l12: {method: ot, layers: [12]}``), run like ``optical``
==================== ==========================================================================

Student blocks take :class:`~optical_rerank.distill.DistillConfig` fields plus ``context_k``: with
``in_context: true`` every bitext pair is paired with the BM25 top-``context_k`` passages of its
English side over the AfriQA English collection (no labels; cached next to the bitext), so the
alignment happens in context, as the distillation issue suggests.

Rerankers rescore the top ``depth`` candidates of the ``candidates`` first stage (``translated`` or
``native``: BM25 with that query, the first study's; or a first-stage system such as ``hybrid``,
chosen on dev; its recall is reported). ``--systems A,B`` runs only those systems now and
``--report-only`` runs nothing: either way the report covers every run present. Choices are never made on test queries: models are trained on train splits
and bitext only, and the config is fixed before this runs.

Outputs: runs under ``runs/<name>/<dataset>/<lang>/<system>.txt`` and ``runs/<name>/SHA256SUMS``;
``results/<name>/results.json`` (every aggregate, pooled over languages too, significance tests, gap
recovered, the exact budget, the collection's passage count, bytes and sha256),
``per_query.json`` (per-query values),
``results.md`` (tables) and ``*.png`` plots. Everything is resumable and cached: rerunning the
command skips finished runs and reuses trained models.

Where things live: ``_config`` (:class:`ExperimentConfig`, checked at load), ``_sets`` (evaluation
sets, prepared data), ``_systems`` (system names, cache keys), ``_runner`` (:class:`Experiment`:
models and runs), ``_scores`` (measures, significance, gap recovered), ``_report`` (tables, plots,
model records), ``_cli`` (the command line; ``__main__`` runs it).
"""
from __future__ import annotations

from ._cli import build_parser, main
from ._config import ExperimentConfig
from ._report import archive_model_records, plot_results, render_markdown
from ._runner import Experiment
from ._scores import MAIN_MEASURE, MIN_GAP, score, student_summary
from ._sets import DataRoot, EvalSet, sample_queries
from ._systems import (
    ALL_SYSTEMS,
    RERANKERS,
    _stale_run,
    block_systems,
    known_systems,
    student_key,
    system_order,
)

__all__ = [
    "ALL_SYSTEMS",
    "MAIN_MEASURE",
    "MIN_GAP",
    "RERANKERS",
    "DataRoot",
    "EvalSet",
    "Experiment",
    "ExperimentConfig",
    "archive_model_records",
    "block_systems",
    "build_parser",
    "known_systems",
    "main",
    "plot_results",
    "render_markdown",
    "sample_queries",
    "score",
    "student_key",
    "student_summary",
    "system_order",
]

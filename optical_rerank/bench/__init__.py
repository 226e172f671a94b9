"""Benchmarks: ``python -m optical_rerank.bench <subcommand> [options]``, one module per benchmark.

- ``ot`` (:mod:`._ot`): the batched masked log-domain Sinkhorn of :mod:`optical_rerank.ot`
  against a per-pair POT loop, solver alone and end to end, forward and backward
  (:func:`benchmark_ot`);
- ``rerank`` (:mod:`._rerank`): our cross-encoder reranker (fp32 and int8) against
  sentence-transformers' ``CrossEncoder.predict`` on real DL19 pairs: throughput, score
  equality and nDCG@10 (:func:`benchmark_rerank`).

The registry (:data:`SUBCOMMANDS`, in :mod:`._registry`) adds ``--out PATH`` to every
subcommand: the report is also written there, with the command line as its first line.
"""
from __future__ import annotations

from ._ot import benchmark_ot, format_ot_report
from ._registry import SUBCOMMANDS, Subcommand, build_parser, main
from ._rerank import (
    BenchResult,
    QuerySet,
    benchmark_rerank,
    default_data_dir,
    format_report,
    load_query_set,
)

__all__ = ["SUBCOMMANDS", "Subcommand", "build_parser", "main", "benchmark_ot", "format_ot_report",
           "BenchResult", "QuerySet", "benchmark_rerank", "default_data_dir", "format_report", "load_query_set"]

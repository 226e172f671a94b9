"""Merge shard runs of :func:`optical_rerank.rerank.rerank_to_file` into one run.

Usage::

    python -m optical_rerank.merge OUT SHARD [SHARD ...]

With the ``<run>.config.json`` sidecars that ``rerank_to_file`` writes, shards may be given in
any order: they must share config and tag and cover ``0/n .. n-1/n`` exactly once, and the
merged run (plus its sidecar) is byte-identical to a single-process run. Runs without sidecars
are concatenated in the order given. Overlapping query ids are an error; so is an incomplete
set of shards (exit status 2 from the shell, nothing written).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .cli import run_cli
from .rerank import merge_runs


def build_parser() -> argparse.ArgumentParser:
    """The ``optical_rerank.merge`` argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m optical_rerank.merge",
        description="Join shard runs (rerank_to_file(..., shard='i/n')) into the single-process run.")
    p.add_argument("out", metavar="OUT", help="merged TREC run to write (atomically; OUT.config.json too)")
    p.add_argument("shards", metavar="SHARD", nargs="+", help="shard run files (any order when they have sidecars)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns 0. Bad input raises :class:`~optical_rerank.errors.OpticalRerankError`
    (from the shell, :func:`optical_rerank.cli.run_cli` turns it into one line and exit status 2)."""
    args = build_parser().parse_args(argv)
    n = merge_runs(args.shards, args.out)
    print(f"merged {n} queries from {len(args.shards)} run(s) into {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))

"""The subcommand registry of ``python -m optical_rerank.bench`` and its parser.

Subcommands are registered in :data:`SUBCOMMANDS` (name -> :class:`Subcommand`); to add one,
write a module with an ``add_arguments(parser)`` function and a ``report(args) -> str``
function that returns the report text, and add an entry. :func:`main` prints the report, and
``--out PATH`` (added to every subcommand) also writes it to ``PATH`` atomically, with the
exact command line as its first line.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import command_line
from ..files import write_text_atomic
from ..guard import check_output_path
from . import _ot, _rerank

__all__ = ["SUBCOMMANDS", "Subcommand", "build_parser", "main"]


@dataclass(frozen=True)
class Subcommand:
    """A benchmark subcommand: its help line, argument definitions and entry point."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], str]


SUBCOMMANDS: dict[str, Subcommand] = {
    "ot": Subcommand(help="batched Sinkhorn vs a per-pair POT loop", add_arguments=_ot.add_arguments,
                     run=_ot.report),
    "rerank": Subcommand(help="our cross-encoder reranker vs sentence-transformers CrossEncoder.predict",
                         add_arguments=_rerank.add_arguments, run=_rerank.report),
}


def build_parser() -> argparse.ArgumentParser:
    """Parser with one sub-parser per entry of :data:`SUBCOMMANDS`."""
    parser = argparse.ArgumentParser(prog="python -m optical_rerank.bench",
                                     description="optical_rerank benchmarks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(SUBCOMMANDS) + "}")
    for name, sc in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=sc.help, description=sc.help)
        sc.add_arguments(sp)
        sp.add_argument("--out", type=Path, default=None,
                        help="also write the report here (first line: the command that made it)")
        sp.set_defaults(_run=sc.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a benchmark subcommand; print its report (and write it with ``--out``). Returns 0."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.out is not None:  # a report that cannot be written is refused before the benchmark runs
        check_output_path(args.out, "--out")
    report = args._run(args)
    sys.stdout.write(report)
    if args.out is not None:
        write_text_atomic(args.out, command_line(argv, "optical_rerank.bench") + "\n" + report)
    return 0

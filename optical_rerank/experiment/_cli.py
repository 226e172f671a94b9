"""The command line: ``python -m optical_rerank.experiment CONFIG``."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace

from ._config import ExperimentConfig
from ._report import render_markdown
from ._runner import Experiment


def build_parser() -> argparse.ArgumentParser:
    """``python -m optical_rerank.experiment CONFIG [--max-queries-per-language N] [--depth N] [--name NAME]``."""
    description = sys.modules[__package__].__doc__  # the package docstring (no import back into the package)
    p = argparse.ArgumentParser(prog="python -m optical_rerank.experiment", description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="experiment YAML/JSON (e.g. configs/afriqa.yaml)")
    p.add_argument("--max-queries-per-language", type=int, help="override the config's query budget")
    p.add_argument("--depth", type=int, help="override the config's rerank depth")
    p.add_argument("--name", help="override the experiment name (output folders)")
    p.add_argument("--systems", help="comma-separated systems to run now (default: every system of the config); "
                   "the report covers every run present")
    p.add_argument("--report-only", action="store_true",
                   help="run nothing: rebuild results.json, per_query.json, results.md and the plots from the runs "
                        "present under runs/<name>/")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the experiment of a config file; print its Markdown tables; return the exit status."""
    args = build_parser().parse_args(argv)
    cfg = ExperimentConfig.load(args.config)
    if args.max_queries_per_language is not None:
        cfg = replace(cfg, max_queries_per_language=args.max_queries_per_language)
    if args.depth is not None:
        cfg = replace(cfg, depth=args.depth)
    if args.name:
        cfg = replace(cfg, name=args.name)
    only = [s.strip() for s in args.systems.split(",") if s.strip()] if args.systems else None
    results = Experiment(cfg).run(only=only, report_only=args.report_only)
    sys.stdout.write(render_markdown(results))
    return 0

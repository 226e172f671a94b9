"""The command line of distillation (run as ``python -m optical_rerank.distill``, see ``__main__.py``).

``python -m optical_rerank.distill --teacher DIR --bitext FILE... --output DIR [options]``;
rerunning the same command resumes from the latest checkpoint in ``--output``; runs under
``torchrun`` for several processes. ``python -m optical_rerank.distill --lang L [--output DIR]``
prepares L's bitext from the registry and trains a student with a shipped student's recipe
(:mod:`._lang`; options given explicitly override the recipe's). Errors are one line on stderr, exit status 2
(:func:`optical_rerank.cli.run_cli`).
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..config import from_args
from ..errors import ConfigError
from ._config import COSTS, GRADS, MARGINALS, SAMPLING, SIDES, DistillConfig
from ._data import read_bitext_files, read_passages
from ._distributed import env_int
from ._lang import DEFAULT_RECIPE, distill_language
from ._trainer import distill
from .losses import METHODS

__all__ = ["build_parser", "config_from_args", "main"]


def _layer_arg(value: str) -> int | str:
    v = value.strip().lower()
    if v == "last":
        return "last"
    try:
        return int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"layer must be an integer or 'last', got {value!r}") from None


def _tau_arg(value: str) -> float | None:
    if value.strip().lower() in ("none", "balanced", ""):
        return None
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0 or 'none', got {value!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"tau must be > 0, got {value!r}")
    return v


def _clip_arg(value: str) -> float | None:
    if value.strip().lower() in ("none", "0", "off"):
        return None
    return float(value)


def build_parser() -> argparse.ArgumentParser:
    """``python -m optical_rerank.distill --teacher DIR --bitext FILE... --output DIR [options]``."""
    d = DistillConfig(teacher="-", output="-")
    p = argparse.ArgumentParser(
        prog="python -m optical_rerank.distill",
        description="OPTICAL distillation of a cross-encoder teacher into a student for another language "
                    "(optimal-transport alignment of token states on bitext), or the MSE baseline. "
                    "Rerunning the same command resumes from the latest checkpoint in --output. "
                    "Runs under torchrun for several processes.")
    p.add_argument("--teacher", help="teacher cross-encoder: model directory, zoo or shipped name (not with --lang)")
    p.add_argument("--bitext", nargs="+", type=Path, metavar="FILE",
                   help="bitext files x<TAB>en<TAB>source (bitext.<lang>.tsv: <lang> is the language group)")
    p.add_argument("--output", type=Path,
                   help="run directory (final model in OUTPUT/model; with --lang default work/students/<L>)")
    p.add_argument("--lang", nargs="+", default=None, metavar="L",
                   help="one command for a new language: prepare L's bitext from the registry and train with the "
                        "recipe of a shipped student (--recipe); other options given explicitly override it")
    p.add_argument("--recipe", default=DEFAULT_RECIPE, help=f"with --lang: the shipped student (default {DEFAULT_RECIPE})")
    p.add_argument("--data-root", type=Path, default=Path("work/data"),
                   help="with --lang: where the bitext and the context collection are prepared (default work/data)")
    p.add_argument("--config", type=Path, default=None,
                   help="distill_config.json to start from (command-line options given explicitly override it)")
    g = p.add_argument_group("objective")
    g.add_argument("--method", choices=METHODS, default=d.method)
    g.add_argument("--layers", nargs="+", type=_layer_arg, default=list(d.layers),
                   help="hidden-state indices (0 = embeddings, -1 or 'last' = last layer; clipped to the depth). "
                        "On AfriQA dev the last layer alone with --in-context worked best (README, choices on dev)")
    g.add_argument("--cost", choices=COSTS, default=d.cost)
    g.add_argument("--reg", type=float, default=d.reg, help="entropic regularisation epsilon")
    g.add_argument("--max-iter", type=int, default=d.max_iter, help="Sinkhorn iterations cap")
    g.add_argument("--tol", type=float, default=d.tol, help="Sinkhorn tolerance")
    g.add_argument("--unbalanced-tau", type=_tau_arg, default=d.unbalanced_tau,
                   help="KL marginal relaxation tau (default: balanced OT)")
    g.add_argument("--marginals", choices=MARGINALS, default=d.marginals)
    g.add_argument("--grad", choices=GRADS, default=d.grad)
    g.add_argument("--side", choices=SIDES, default=d.side,
                   help="feed the bitext sentence as the query (first) or document (second) segment")
    g.add_argument("--in-context", action="store_true", default=d.in_context,
                   help="pair each sentence with an English context text from --passages")
    g.add_argument("--passages", type=Path, default=None,
                   help="context texts: JSONL {en, passages:[...]} or TSV en<TAB>passage")
    g.add_argument("--score-weight", type=float, default=d.score_weight,
                   help="weight of (s_S(x,d) - s_T(e,d))^2 (needs --in-context)")
    g.add_argument("--anchor-weight", type=float, default=d.anchor_weight,
                   help="weight of the English anchor: student states on the English side = the teacher's")
    g.add_argument("--query-template", default=d.query_template)
    g.add_argument("--passage-template", default=d.passage_template)
    g.add_argument("--max-length", type=int, default=d.max_length)
    t = p.add_argument_group("training")
    t.add_argument("--batch-size", type=int, default=d.batch_size, help="global batch (split over processes)")
    t.add_argument("--lr", type=float, default=d.lr)
    t.add_argument("--steps", type=int, default=d.steps)
    t.add_argument("--warmup", type=int, default=d.warmup, help="linear warmup steps (default: 10%% of --steps)")
    t.add_argument("--weight-decay", type=float, default=d.weight_decay)
    t.add_argument("--grad-clip", type=_clip_arg, default=d.grad_clip, help="max gradient norm ('none': off)")
    t.add_argument("--train-embeddings", dest="freeze_embeddings", action="store_false", default=d.freeze_embeddings,
                   help="also update the word-embedding matrix (slow on CPU; frozen by default)")
    t.add_argument("--lora-r", type=int, default=d.lora_r,
                   help="LoRA student: rank of a new adapter on the frozen teacher (0: train the whole student)")
    t.add_argument("--lora-alpha", type=int, default=d.lora_alpha, help="LoRA alpha (default 2 * rank)")
    t.add_argument("--lora-dropout", type=float, default=d.lora_dropout)
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--sampling", choices=SAMPLING, default=d.sampling,
                   help="uniform over pairs, or balanced over languages (bitext files)")
    t.add_argument("--dev-bitext", nargs="+", type=Path, default=None, metavar="FILE",
                   help="held-out bitext for the OT/MSE distance")
    t.add_argument("--dev-size", type=int, default=d.dev_size,
                   help="without --dev-bitext: hold out this many bitext pairs as dev")
    t.add_argument("--save-every", type=int, default=d.save_every)
    t.add_argument("--eval-every", type=int, default=d.eval_every)
    t.add_argument("--log-every", type=int, default=d.log_every)
    t.add_argument("--keep-checkpoints", type=int, default=d.keep_checkpoints)
    t.add_argument("--device", default=d.device, help="auto, cpu, cuda or cuda:N")
    t.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads")
    t.add_argument("--bf16", action="store_true", default=d.bf16,
                   help="bf16 autocast of the forward passes (CPUs with native bf16, GPUs); losses stay fp32")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    h = p.add_argument_group("hygiene")
    h.add_argument("--eval-topics", nargs="+", type=Path, default=[], metavar="FILE",
                   help="evaluation topics: bitext pairs matching one of their queries are dropped")
    h.add_argument("--strict-leakage", action="store_true", help="refuse (error) instead of dropping leaking pairs")
    return p



def config_from_args(args: argparse.Namespace) -> DistillConfig:
    """Build the :class:`DistillConfig` of a parsed command line (``--config`` file, then explicit options)."""
    values: dict[str, Any] = {}
    explicit = set(vars(args)) - _NOT_CONFIG
    if args.config is not None:
        values = DistillConfig.load(args.config).to_dict()
        defaults = vars(build_parser().parse_args(["--teacher", "-", "--bitext", "-", "--output", "-"]))
        explicit = _explicit(args, defaults)
    values.update({k: v for k, v in vars(args).items() if k in explicit})
    show_progress = False if args.no_progress else values.get("show_progress", sys.stderr.isatty())
    return from_args(DistillConfig, argparse.Namespace(**values), required=("teacher", "output"),
                     teacher=str(args.teacher), output=str(args.output),
                     eval_topics=tuple(str(x) for x in args.eval_topics) or tuple(values.get("eval_topics") or ()),
                     show_progress=show_progress)


#: options of the command line that are not DistillConfig fields
_NOT_CONFIG = {"config", "bitext", "passages", "dev_bitext", "no_progress", "lang", "recipe", "data_root"}


def _explicit(args: argparse.Namespace, defaults: dict[str, Any]) -> set[str]:
    return {k for k, v in vars(args).items() if defaults.get(k) != v} - _NOT_CONFIG


def _main_lang(args: argparse.Namespace, started: float) -> int:
    """``--lang``: the recipe's student for the given languages (see :mod:`._lang`)."""
    if args.teacher is not None or args.bitext is not None or args.config is not None or args.passages is not None:
        raise ConfigError("--lang takes its teacher, bitext, config and passages from the recipe: "
                          "drop --teacher/--bitext/--config/--passages")
    defaults = vars(build_parser().parse_args(["--lang", "x"]))
    overrides = {k: getattr(args, k) for k in _explicit(args, defaults) - {"output"}}
    if "eval_topics" in overrides or "strict_leakage" in overrides:
        raise ConfigError("--lang: the leakage guard is the bitext registry's (AfriQA dev and test always); "
                          "drop --eval-topics/--strict-leakage")
    if args.no_progress:
        overrides["show_progress"] = False
    model = distill_language(args.lang, recipe=args.recipe, output=args.output, data_root=args.data_root,
                             overrides=overrides)
    print(model)
    print(f"wall time: {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status. Errors are :class:`OpticalRerankError` (see ``cli.run_cli``)."""
    started = time.perf_counter()
    args = build_parser().parse_args(argv)
    if args.lang is not None:
        return _main_lang(args, started)
    missing = [f"--{n}" for n in ("teacher", "bitext", "output") if getattr(args, n) is None]
    if missing:
        raise ConfigError(f"{', '.join(missing)} required (or --lang L to prepare a language's bitext and "
                          "use a shipped student's recipe)")
    config = config_from_args(args)
    if args.passages is not None and not config.in_context:
        raise ConfigError("--passages needs --in-context")
    pairs = read_bitext_files(args.bitext)
    dev = read_bitext_files(args.dev_bitext) if args.dev_bitext else None
    if dev is not None and config.dev_size:
        raise ConfigError("give either --dev-bitext or --dev-size, not both")
    passages = read_passages(args.passages) if args.passages is not None else None
    result = distill(config, pairs, dev, passages)
    if env_int("RANK", 0) == 0:
        print(result.model_dir)
        if result.dev_before and result.dev_after:
            print(f"dev OT distance {result.dev_before['ot']:.4f} -> {result.dev_after['ot']:.4f}; "
                  f"MSE {result.dev_before['mse']:.4f} -> {result.dev_after['mse']:.4f}", file=sys.stderr)
        print(f"wall time: {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return 0

"""The command line: ``python -m optical_rerank.teacher {train,evaluate,groups,recipe,report,summarize}``."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..config import command_line, from_args
from ..errors import ConfigError
from ..files import write_json_atomic, write_text_atomic
from ..models import CARD_FILE, shipped_card
from ._bundle_eval import choose_fusion
from ._config import DATA_SOURCES, LOSSES, PRECISIONS, SAMPLING, TeacherConfig
from ._evaluate import _summarize, evaluate_teacher, format_eval_markdown
from ._groups import build_bundle, load_bundle
from ._lora import train_lora_teacher
from ._recipe import DEFAULT_TEACHER, evaluate_shipped, load_recipe, run_recipe
from ._train import train_teacher


def build_parser() -> argparse.ArgumentParser:
    """``python -m optical_rerank.teacher {train,evaluate,summarize}``."""
    d = TeacherConfig()
    p = argparse.ArgumentParser(prog="python -m optical_rerank.teacher",
                                description="Train and check the monolingual English cross-encoder teacher.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="fine-tune a cross-encoder teacher (resumes from checkpoints in --out)")
    t.add_argument("--out", required=True, help="model directory to write (checkpoints in OUT/checkpoints)")
    t.add_argument("--backbone", default=d.backbone, help=f"zoo name or model directory (default {d.backbone})")
    t.add_argument("--loss", choices=LOSSES, default=d.loss, help=f"training loss (default {d.loss})")
    t.add_argument("--data", choices=DATA_SOURCES, default=d.data, help=f"training data source (default {d.data})")
    t.add_argument("--afriqa-dir", help="prepared AfriQA set (default: prepared into the cache)")
    t.add_argument("--languages", nargs="+", default=[], help="AfriQA languages (default: all English-pivot)")
    t.add_argument("--triples", help="query<TAB>positive<TAB>negative TSV (--data triples)")
    t.add_argument("--topics", help="training topics (--data qrels)")
    t.add_argument("--qrels", help="training qrels (--data qrels)")
    t.add_argument("--corpus", help="JsonCollection corpus (--data qrels; generic dev sets)")
    t.add_argument("--run", help="candidate run for negatives (--data qrels)")
    t.add_argument("--index", help="Lucene index for BM25 mining (--data qrels without --run)")
    t.add_argument("--dev-topics", help="dev topics (generic sources)")
    t.add_argument("--dev-qrels", help="dev qrels (generic sources)")
    t.add_argument("--dev-run", help="dev candidate run (generic sources; else BM25 over --index)")
    t.add_argument("--exclude-topics", nargs="+", default=[], help="topics files never to train on")
    t.add_argument("--num-negatives", type=int, default=d.num_negatives)
    t.add_argument("--mine-depth", type=int, default=d.mine_depth)
    t.add_argument("--negative-sampling", choices=SAMPLING, default=d.negative_sampling)
    t.add_argument("--max-train-queries", type=int, default=None)
    t.add_argument("--max-length", type=int, default=d.max_length)
    t.add_argument("--query-template", default=None, help="e.g. 'query: {text}' (default: by backbone)")
    t.add_argument("--passage-template", default=None, help="e.g. 'passage: {text}' (default: by backbone)")
    t.add_argument("--train-embeddings", action="store_true", help="also train the word embeddings")
    t.add_argument("--batch-size", type=int, default=d.batch_size, help="pairs (bce) or queries (others) per step")
    t.add_argument("--learning-rate", type=float, default=d.learning_rate)
    t.add_argument("--head-learning-rate", type=float, default=None,
                   help="learning rate of the new pooler/classifier (default: --learning-rate)")
    t.add_argument("--epochs", type=float, default=d.epochs)
    t.add_argument("--max-steps", type=int, default=d.max_steps, help="stop after this many steps (-1: epochs)")
    t.add_argument("--warmup-ratio", type=float, default=d.warmup_ratio)
    t.add_argument("--weight-decay", type=float, default=d.weight_decay)
    t.add_argument("--gradient-accumulation-steps", type=int, default=d.gradient_accumulation_steps)
    t.add_argument("--in-batch-negatives", type=int, default=d.in_batch_negatives)
    t.add_argument("--mini-batch-size", type=int, default=d.mini_batch_size)
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--precision", choices=PRECISIONS, default=d.precision)
    t.add_argument("--dev-max-queries", type=int, default=d.dev_max_queries, help="0: no dev evaluation")
    t.add_argument("--dev-depth", type=int, default=d.dev_depth)
    t.add_argument("--eval-steps", type=int, default=None)
    t.add_argument("--last-checkpoint", action="store_true", help="keep the last model, not the best on dev")
    t.add_argument("--early-stopping-patience", type=int, default=None)
    t.add_argument("--save-steps", type=int, default=d.save_steps)
    t.add_argument("--logging-steps", type=int, default=d.logging_steps)
    t.add_argument("--device", default=d.device, help="auto, cpu, cuda, cuda:N")
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    t.add_argument("--keep-checkpoints", action="store_true")
    t.add_argument("--no-progress", action="store_true")
    t.add_argument("--overwrite", action="store_true", help="replace a finished teacher in --out")

    e = sub.add_parser("evaluate", help="DL19 and AfriQA-English checks of a teacher, next to BM25")
    e.add_argument("model", help="teacher directory (or any cross-encoder directory / zoo name)")
    e.add_argument("--sets", nargs="+", choices=("dl19", "afriqa"), default=["dl19", "afriqa"])
    e.add_argument("--dl19-dir", help="prepared DL19 set (default: prepared into the cache)")
    e.add_argument("--afriqa-dir", help="prepared AfriQA set (default: prepared into the cache)")
    e.add_argument("--languages", nargs="+", default=[], help="AfriQA test languages (default: all English-pivot)")
    e.add_argument("--max-queries", type=int, default=None, help="first N judged queries per set/language")
    e.add_argument("--dl19-max-queries", type=int, default=-1,
                   help="first N DL19 queries (default: as --max-queries; 0: all 43)")
    e.add_argument("--depth", type=int, default=20, help="rerank the BM25 top-N (default 20)")
    e.add_argument("--max-length", type=int, default=None, help="default: the teacher's training max_length")
    e.add_argument("--batch-size", type=int, default=32)
    e.add_argument("--threads", type=int, default=None)
    e.add_argument("--runs-dir", help="where reranked runs go (default: the cache); resumable")
    e.add_argument("--output", required=True, help="results path stem: writes STEM.json and STEM.md")
    e.add_argument("--no-progress", action="store_true")

    g = sub.add_parser("groups", help="ranking groups of every English source (Java/BM25 here; training anywhere)")
    g.add_argument("--english-qa", required=True, help="prepared english-qa set (data prepare english-qa)")
    g.add_argument("--afriqa", required=True, help="prepared afriqa set (data prepare afriqa)")
    g.add_argument("--dl19", required=True, help="prepared dl19 set (data prepare dl19)")
    g.add_argument("--out", required=True, help="bundle directory to write")
    g.add_argument("--work", required=True, help="where the pooled BM25 indexes go")
    g.add_argument("--train-depth", type=int, default=30)
    g.add_argument("--eval-depth", type=int, default=100)

    r = sub.add_parser("recipe", help="train the recipe's LoRA variants, choose on dev, ship, report on test")
    r.add_argument("recipe", help="recipe YAML (e.g. configs/recipes/teacher-lora.yaml)")
    r.add_argument("--bundle", required=True, help="bundle directory (teacher groups)")
    r.add_argument("--out", required=True, help="work directory (variants, checkpoints, shipped/NAME)")
    r.add_argument("--runs-dir", required=True, help="where the test runs go (e.g. runs/teacher)")
    r.add_argument("--summary", required=True, help="summary JSON to write (e.g. results/teacher/summary.json)")
    r.add_argument("--max-steps", type=int, default=None, help="cap every variant's steps (smoke tests)")
    r.add_argument("--variant-budget-s", type=float, default=None,
                   help="stop a variant's training after this many seconds (its card records the steps done)")
    r.add_argument("--stop-at-step", type=int, default=None,
                   help="stop every variant after N steps, learning-rate schedule unchanged (reproduces a budget stop)")

    lt = sub.add_parser("lora-train", help="train one variant of a recipe (no evaluation): resumable, logs pairs/s")
    lt.add_argument("recipe", help="recipe YAML")
    lt.add_argument("--variant", required=True, help="the recipe's variant to train")
    lt.add_argument("--bundle", required=True, help="bundle directory (teacher groups)")
    lt.add_argument("--out", required=True, help="directory for the adapter and training.json")
    lt.add_argument("--kd-scores", help="bi-encoder scores of the training candidates (.npz written by recipe); "
                                        "default: computed")
    lt.add_argument("--max-steps", type=int, default=None)
    lt.add_argument("--stop-at-step", type=int, default=None)

    v = sub.add_parser("report", help="test summary of a shipped teacher (reuses runs made for it)")
    v.add_argument("model", nargs="?", default=None, help="shipped teacher name or directory (default: the default teacher)")
    v.add_argument("--bundle", required=True, help="bundle directory (teacher groups)")
    v.add_argument("--runs-dir", required=True, help="runs of this teacher (e.g. runs/teacher)")
    v.add_argument("--summary", required=True, help="summary JSON to write")
    v.add_argument("--sets", nargs="+", default=None, help="test sets to report (default: all: dl19 afriqa-en-test)")
    v.add_argument("--time-budget-s", type=float, default=None,
                   help="stop scoring after this many seconds; unfinished sets are reported on the queries "
                        "scored so far, marked incomplete, and resume on the next call")

    f = sub.add_parser("fusion", help="choose on dev the weight of the e5 bi-encoder interpolated with a shipped "
                                      "teacher, and record it in the teacher's card")
    f.add_argument("model", help="shipped teacher directory (its card.json is updated)")
    f.add_argument("--bundle", required=True, help="bundle directory (teacher groups)")
    f.add_argument("--dev-runs", required=True, help="DIR/<dev set>/{teacher,e5-biencoder}.txt of this teacher")

    s = sub.add_parser("summarize", help="dev metrics of several trained teachers (loss comparison)")
    s.add_argument("models", nargs="+", help="teacher directories")
    s.add_argument("--output", required=True, help="results path stem: writes STEM.json and STEM.md")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    a = build_parser().parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    command = command_line(argv, "optical_rerank.teacher", python="python")
    if a.command == "train":
        # the negated flags: --train-embeddings, --last-checkpoint, --no-progress
        cfg = from_args(TeacherConfig, a, freeze_embeddings=not a.train_embeddings, select_best=not a.last_checkpoint,
                        show_progress=not a.no_progress)
        started = time.time()
        res = train_teacher(cfg, a.out, overwrite=a.overwrite, command=command)
        print(json.dumps({"model_dir": str(res.model_dir), "global_step": res.global_step,
                          "train_loss": res.train_loss, "dev": res.dev_metrics,
                          "resumed_from": res.resumed_from}, indent=2))
        print(f"wall time {time.time() - started:.1f}s", file=sys.stderr)
        return 0
    if a.command == "evaluate":
        if a.max_queries is not None and a.max_queries < 1:
            raise ConfigError("--max-queries must be >= 1")
        if a.depth < 1:
            raise ConfigError("--depth must be >= 1")
        started = time.time()
        dl19_n = None if a.dl19_max_queries == 0 else a.dl19_max_queries
        res = evaluate_teacher(a.model, sets=a.sets, dl19_dir=a.dl19_dir, afriqa_dir=a.afriqa_dir,
                               languages=a.languages, max_queries=a.max_queries, dl19_max_queries=dl19_n,
                               depth=a.depth,
                               max_length=a.max_length, batch_size=a.batch_size, runs_dir=a.runs_dir,
                               threads=a.threads, show_progress=not a.no_progress, command=command)
        stem = Path(a.output)
        write_json_atomic(stem.with_name(stem.name + ".json"), res)
        md = format_eval_markdown(res)
        write_text_atomic(stem.with_name(stem.name + ".md"), md)
        sys.stdout.write(md)
        print(f"wall time {time.time() - started:.1f}s", file=sys.stderr)
        return 0
    if a.command == "groups":
        res = build_bundle(a.english_qa, a.afriqa, a.dl19, a.out, work=a.work, train_depth=a.train_depth,
                           eval_depth=a.eval_depth)
        print(json.dumps(res["counts"], indent=1))
        return 0
    if a.command == "recipe":
        summary = run_recipe(load_recipe(a.recipe), a.bundle, a.out, runs_dir=a.runs_dir, summary_path=a.summary,
                             command=command, max_steps=a.max_steps, variant_budget_s=a.variant_budget_s,
                             stop_at_step=a.stop_at_step)
        print(json.dumps(summary, indent=1))
        return 0
    if a.command == "lora-train":
        recipe = load_recipe(a.recipe)
        if a.variant not in recipe.variants:
            raise ConfigError(f"{a.recipe}: no variant {a.variant!r}; it has {sorted(recipe.variants)}")
        bundle = load_bundle(a.bundle)
        kd = None
        if a.kd_scores:
            z = np.load(a.kd_scores)
            kd = [z[str(i)] for i in range(len(bundle.train))]
        rec = train_lora_teacher(recipe.variants[a.variant], bundle, a.out, kd_train=kd, max_steps=a.max_steps,
                                 stop_at_step=a.stop_at_step)
        print(json.dumps({k: rec[k] for k in ("steps", "elapsed_s", "pairs_per_s", "device", "bf16", "adapter_sha256")},
                         indent=1))
        return 0
    if a.command == "fusion":
        card_path = Path(a.model) / CARD_FILE
        card = shipped_card(a.model)
        card["fusion"] = choose_fusion(load_bundle(a.bundle, train=False), a.dev_runs)
        card["fusion"]["command"] = command
        write_json_atomic(card_path, card)
        print(json.dumps(card["fusion"], indent=1))
        return 0
    if a.command == "report":
        summary = evaluate_shipped(a.model or DEFAULT_TEACHER, a.bundle, runs_dir=a.runs_dir,
                                   summary_path=a.summary, command=command, sets=a.sets,
                                   time_budget_s=a.time_budget_s)
        print(json.dumps(summary, indent=1))
        return 0
    data, md = _summarize(a.models)
    data["command"] = command
    stem = Path(a.output)
    write_json_atomic(stem.with_name(stem.name + ".json"), data)
    write_text_atomic(stem.with_name(stem.name + ".md"), "# Teacher dev comparison\n\n" + md)
    sys.stdout.write(md)
    return 0

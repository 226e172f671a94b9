"""Training the teacher with sentence-transformers' ``CrossEncoderTrainer``: datasets per loss, checkpoints, cache."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import config_diff
from ..errors import ConfigError, ModelError
from ..evaluate import evaluate_run
from ..files import dir_lock, fsync_dir, fsync_tree, write_json_atomic
from ..guard import claim_output_dir, refuse_inputs_inside
from ..models import resolve_model, shipped_model_dir
from ..paths import cache_dir
from ..provenance import environment_info
from ..rerank import PLAIN_TEMPLATES, render_template
from ..trec_io import sort_hits
from ..types import Hit
from ._config import (
    CHECKPOINT_DIR,
    FORMAT,
    HEAD_PATTERN,
    LOSSES,
    TEACHER_CONFIG,
    TeacherConfig,
    _log,
    load_teacher_config,
)
from ._data import DevQuery, TrainExample, TrainingData, _rng_for, build_training_data
from ._recipe import DEFAULT_TEACHER


def build_train_dataset(examples: Sequence[TrainExample], loss: str, num_negatives: int,
                        templates: tuple[str, str] = PLAIN_TEMPLATES, seed: int = 0) -> Any:
    """A ``datasets.Dataset`` in the column layout ``loss`` expects (templates applied).

    * ``bce``: ``query``, ``passage``, ``label`` (1.0 positive, 0.0 negative), one row per pair;
    * ``mnrl``/``cmnrl``: ``query``, ``positive``, ``negative_1..n``; an example with fewer
      than ``n`` negatives reuses its own (seeded draw with replacement); one with none is skipped;
    * ``listnet``/``lambda``: ``query``, ``docs`` (positive first), ``labels``.
    """
    from datasets import Dataset  # heavy

    qt, pt = templates
    if loss not in LOSSES:
        raise ConfigError(f"loss must be one of {LOSSES}, got {loss!r}")
    if loss == "bce":
        rows: dict[str, list] = {"query": [], "passage": [], "label": []}
        for e in examples:
            q = render_template(qt, e.query)
            for text, label in [(e.positive, 1.0)] + [(n, 0.0) for n in e.negatives]:
                rows["query"].append(q)
                rows["passage"].append(render_template(pt, text))
                rows["label"].append(label)
    elif loss in ("mnrl", "cmnrl"):
        cols = ["query", "positive"] + [f"negative_{i + 1}" for i in range(num_negatives)]
        rows = {c: [] for c in cols}
        for e in examples:
            if not e.negatives:
                continue
            negs = list(e.negatives[:num_negatives])
            rng = _rng_for(seed, "pad:" + e.qid)
            while len(negs) < num_negatives:
                negs.append(rng.choice(e.negatives))
            rows["query"].append(render_template(qt, e.query))
            rows["positive"].append(render_template(pt, e.positive))
            for i, n in enumerate(negs):
                rows[f"negative_{i + 1}"].append(render_template(pt, n))
    else:
        rows = {"query": [], "docs": [], "labels": []}
        for e in examples:
            rows["query"].append(render_template(qt, e.query))
            rows["docs"].append([render_template(pt, e.positive)] + [render_template(pt, n) for n in e.negatives])
            rows["labels"].append([1.0] + [0.0] * len(e.negatives))
    if not rows["query"]:
        raise ConfigError(f"no training rows for loss {loss!r} (no examples, or none with negatives)")
    return Dataset.from_dict(rows)


def _make_loss(model: Any, config: TeacherConfig) -> Any:
    import torch  # heavy
    from sentence_transformers.cross_encoder import losses  # heavy

    if config.loss == "bce":
        return losses.BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(float(config.num_negatives)))
    if config.loss == "mnrl":
        return losses.MultipleNegativesRankingLoss(model, num_negatives=config.in_batch_negatives)
    if config.loss == "cmnrl":
        return losses.CachedMultipleNegativesRankingLoss(model, num_negatives=config.in_batch_negatives,
                                                         mini_batch_size=config.mini_batch_size)
    if config.loss == "listnet":
        return losses.ListNetLoss(model, mini_batch_size=config.mini_batch_size)
    return losses.LambdaLoss(model, mini_batch_size=config.mini_batch_size)


def _dev_evaluator(dev: Sequence[DevQuery], templates: tuple[str, str], batch_size: int) -> Any:
    """A sentence-transformers evaluator scoring dev rerankings with trec_eval semantics."""
    from sentence_transformers.base.evaluation.evaluator import BaseEvaluator  # heavy

    class DevRerankingEvaluator(BaseEvaluator):
        """Rerank each dev query's candidates; MRR@10, nDCG@10, MAP by :func:`~optical_rerank.evaluate.evaluate_run`.

        Metrics are those of the test-time evaluation (a relevant passage outside the candidates
        counts as missed); ``dev_base_*`` are the first-stage order's. Primary metric: ``dev_mrr@10``.
        """

        def __init__(self) -> None:
            super().__init__()
            self.name = "dev"
            self.primary_metric = "mrr@10"
            qt, pt = templates
            self.pairs: list[list[str]] = []
            self.owner: list[tuple[str, str]] = []
            self.qrels: dict[str, dict[str, int]] = {}
            self.base: dict[str, list] = {}
            for d in dev:
                self.qrels[d.qid] = {pid: 1 for pid in d.positive_ids}
                self.base[d.qid] = [Hit(d.qid, doc, float(len(d.document_ids) - i), i + 1)
                                    for i, doc in enumerate(d.document_ids)]
                for doc, text in zip(d.document_ids, d.documents):
                    self.pairs.append([render_template(qt, d.query), render_template(pt, text)])
                    self.owner.append((d.qid, doc))

        def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
            import torch  # heavy

            scores = model.predict(self.pairs, batch_size=batch_size, activation_fn=torch.nn.Identity(),
                                   convert_to_numpy=True, show_progress_bar=False) if self.pairs else []
            run: dict[str, list] = {qid: [] for qid in self.qrels}
            for (qid, doc), sc in zip(self.owner, scores):
                run[qid].append(Hit(qid, doc, float(sc), 0))
            run = {qid: sort_hits(h) for qid, h in run.items()}
            measures = ("mrr@10", "ndcg_cut.10", "map")
            mine = evaluate_run(self.qrels, run, measures, complete=True).aggregate
            base = evaluate_run(self.qrels, self.base, measures, complete=True).aggregate
            metrics = {"mrr@10": mine["mrr@10"], "ndcg@10": mine["ndcg_cut_10"], "map": mine["map"],
                       "base_mrr@10": base["mrr@10"], "base_ndcg@10": base["ndcg_cut_10"], "base_map": base["map"]}
            metrics = self.prefix_name_to_metrics(metrics, self.name)
            self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
            return metrics

    return DevRerankingEvaluator()


@dataclass(frozen=True)
class TeacherResult:
    """What :func:`train_teacher` produced."""

    model_dir: Path
    config: TeacherConfig
    global_step: int
    train_loss: float | None
    dev_metrics: dict
    wall_seconds: float
    resumed_from: str | None
    log_history: list = field(default_factory=list)


def latest_checkpoint(checkpoint_dir: str | Path) -> Path | None:
    """The complete ``checkpoint-N`` with the largest N (model weights and trainer state present)."""
    d = Path(checkpoint_dir)
    if not d.is_dir():
        return None
    found = []
    for p in d.iterdir():
        if (p.is_dir() and p.name.startswith("checkpoint-") and p.name[11:].isdigit()
                and (p / "trainer_state.json").is_file() and (p / "model.safetensors").is_file()):
            found.append((int(p.name[11:]), p))
    return max(found)[1] if found else None


def _resolve_device(config: TeacherConfig) -> str:
    import torch  # heavy

    if config.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if config.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={config.device!r} but torch.cuda.is_available() is False")
    return config.device


def _precision(config: TeacherConfig, device: str) -> tuple[bool, bool]:
    """``(bf16, fp16)`` flags for the trainer."""
    import torch  # heavy

    if device == "cpu":
        if config.precision in ("bf16", "fp16"):
            raise ConfigError(f"precision={config.precision!r} needs a GPU; use fp32 on CPU")
        return False, False
    if config.precision == "auto":
        return bool(torch.cuda.is_bf16_supported()), False
    return config.precision == "bf16", config.precision == "fp16"


def _publish_model(model: Any, out_dir: Path) -> None:
    """Save the model into ``out_dir`` beside its checkpoints: written in a temporary sibling, then moved in."""
    with tempfile.TemporaryDirectory(prefix=".final.tmp-", dir=out_dir) as tmp:
        model.save_pretrained(tmp)
        fsync_tree(tmp)
        for f in Path(tmp).iterdir():
            os.replace(f, out_dir / f.name)
    fsync_dir(out_dir)


def _check_saved_model(out_dir: Path) -> None:
    from transformers import AutoConfig  # heavy

    cfg = AutoConfig.from_pretrained(str(out_dir), local_files_only=True)
    if int(cfg.num_labels) != 1:
        raise ModelError(f"{out_dir}: saved head has num_labels={cfg.num_labels}, expected 1")
    if not (out_dir / "model.safetensors").is_file() and not (out_dir / "model.safetensors.index.json").is_file():
        raise ModelError(f"{out_dir}: no safetensors weights were written")


def train_teacher(config: TeacherConfig, out_dir: str | Path, *, data: TrainingData | None = None,
                  callbacks: Sequence[Any] = (), overwrite: bool = False, command: str | None = None) -> TeacherResult:
    """Fine-tune a cross-encoder teacher with sentence-transformers' ``CrossEncoderTrainer``.

    Parameters
    ----------
    config : the teacher config.
    out_dir : the model directory to write (see the package docstring for its layout). If it
        holds checkpoints of a run with the same config, training resumes from the latest.
    data : training data already built (default :func:`build_training_data` ``(config)``).
    callbacks : extra ``transformers.TrainerCallback`` objects.
    overwrite : replace a completed teacher in ``out_dir`` (otherwise an error).
    command : the command line to record in ``teacher_config.json``.

    Returns
    -------
    TeacherResult

    Raises
    ------
    ConfigError
        ``out_dir`` holds a finished teacher (without ``overwrite``) or checkpoints of another config.
    """
    import torch  # heavy
    import transformers  # heavy
    from sentence_transformers.cross_encoder import (  # heavy
        CrossEncoder,
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )


    started = time.time()
    if importlib.util.find_spec("accelerate") is None:
        raise ConfigError("training a teacher needs the package accelerate>=1.1.0 (the Hugging Face Trainer "
                          "requires it): pip install 'accelerate>=1.1.0'")
    out_dir = Path(out_dir).expanduser().absolute()
    ckpt_dir = out_dir / CHECKPOINT_DIR
    # before any work: never into a user's folder or over an input (the backbone, the data)
    refuse_inputs_inside(out_dir, "--out", {f"--{k.replace('_', '-')}": getattr(config, k) for k in (
        "backbone", "triples", "topics", "qrels", "corpus", "run", "index", "dev_topics", "dev_qrels", "dev_run",
        "afriqa_dir") if isinstance(getattr(config, k, None), str) and Path(getattr(config, k)).exists()})
    claim_output_dir(out_dir, "teacher train", "--out", own_files=(TEACHER_CONFIG, CHECKPOINT_DIR))
    if (out_dir / TEACHER_CONFIG).is_file():
        if not overwrite:
            raise ConfigError(f"{out_dir} already holds a trained teacher ({TEACHER_CONFIG}); pass --overwrite "
                              "or choose another --out")
        (out_dir / TEACHER_CONFIG).unlink()
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    run_cfg_path = ckpt_dir / "run_config.json"
    identity = {"format": FORMAT, "config": config.identity()}
    resume = latest_checkpoint(ckpt_dir)
    if run_cfg_path.is_file():
        old = json.loads(run_cfg_path.read_text(encoding="utf-8"))
        if old != identity and resume is not None:
            diff = config_diff(old.get("config", {}), identity["config"], empty="format")
            raise ConfigError(f"{ckpt_dir} holds checkpoints of a different config ({diff}); "
                              "use another --out, or delete the checkpoints to start over")
    write_json_atomic(run_cfg_path, identity)

    if config.threads is not None:
        torch.set_num_threads(config.threads)
    device = _resolve_device(config)
    bf16, fp16 = _precision(config, device)
    templates = config.templates()
    if data is None:
        data = build_training_data(config)
    if not data.train:
        raise ConfigError("no training examples (after the leakage guard); check the inputs")
    dataset = build_train_dataset(data.train, config.loss, config.num_negatives, templates, config.seed)
    _log(f"{len(data.train)} training examples -> {len(dataset)} rows for loss {config.loss!r}; "
         f"{len(data.dev)} dev queries; device {device}")

    transformers.set_seed(config.seed)
    backbone = resolve_model(config.backbone)
    model = CrossEncoder(backbone, num_labels=1, device=device, local_files_only=Path(backbone).is_dir())
    if model.num_labels != 1:
        raise ModelError(f"{config.backbone}: expected a 1-logit head, got num_labels={model.num_labels}")
    # train at config.max_length, but save the backbone's own limit so scoring may use longer inputs
    native_max = model.max_seq_length
    if native_max is not None and config.max_length > native_max:
        raise ConfigError(f"max_length={config.max_length} exceeds what {config.backbone} accepts ({native_max})")
    model.max_seq_length = config.max_length
    if config.freeze_embeddings:
        emb = model.model.get_input_embeddings()
        emb.weight.requires_grad_(False)
    loss = _make_loss(model, config)

    evaluator = _dev_evaluator(data.dev, templates, batch_size=32) if data.dev else None
    eval_steps = config.eval_steps or config.save_steps
    save_steps = config.save_steps
    if evaluator is not None and config.select_best and save_steps % eval_steps:
        raise ConfigError(f"select_best needs save_steps ({save_steps}) to be a multiple of eval_steps ({eval_steps})")
    select = evaluator is not None and config.select_best
    from sentence_transformers.base.sampler import BatchSamplers  # heavy

    args = CrossEncoderTrainingArguments(
        output_dir=str(ckpt_dir),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=32,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        learning_rate_mapping=({HEAD_PATTERN: float(config.head_learning_rate)}
                               if config.head_learning_rate is not None else {}),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        warmup_steps=float(config.warmup_ratio),  # transformers 5: a float < 1 is a ratio of the steps
        weight_decay=config.weight_decay,
        seed=config.seed,
        data_seed=config.seed,
        bf16=bf16,
        fp16=fp16,
        use_cpu=(device == "cpu"),
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=2,
        eval_strategy="steps" if evaluator is not None else "no",
        eval_steps=eval_steps if evaluator is not None else None,
        load_best_model_at_end=select,
        metric_for_best_model="eval_dev_mrr@10" if select else None,
        greater_is_better=True if select else None,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        report_to="none",
        disable_tqdm=not config.show_progress,
        dataloader_num_workers=0,
        batch_sampler=BatchSamplers.NO_DUPLICATES if config.loss in ("mnrl", "cmnrl") else BatchSamplers.BATCH_SAMPLER,
    )
    cbs = list(callbacks)
    if config.early_stopping_patience is not None:
        if not select:
            raise ConfigError("early_stopping_patience needs a dev set and select_best")
        cbs.append(transformers.EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=dataset, loss=loss, evaluator=evaluator,
                                  callbacks=cbs or None)
    if resume is not None:
        _log(f"resuming from {resume}")
    output = trainer.train(resume_from_checkpoint=str(resume) if resume is not None else None)
    train_seconds = time.time() - started

    dev_metrics = _final_dev_metrics(trainer, evaluator, model) if evaluator is not None else {}
    out_dir.mkdir(parents=True, exist_ok=True)
    if native_max is not None:
        model.max_seq_length = native_max
    _publish_model(model, out_dir)
    _check_saved_model(out_dir)
    wall = time.time() - started
    history = list(trainer.state.log_history)
    best = trainer.state.best_model_checkpoint
    record = {
        "format": FORMAT,
        "complete": True,
        "config": config.to_dict(),
        "identity": config.identity(),
        "fingerprint": config.fingerprint(),
        "query_template": templates[0],
        "passage_template": templates[1],
        "max_length": config.max_length,
        "backbone_resolved": backbone,
        "device": device,
        "precision": "bf16" if bf16 else "fp16" if fp16 else "fp32",
        "data": data.report,
        "train": {"global_step": int(trainer.state.global_step), "train_loss": float(output.training_loss),
                  "rows": len(dataset), "epochs_done": float(trainer.state.epoch or 0.0),
                  "resumed_from": str(resume) if resume else None,
                  "best_checkpoint": Path(best).name if best else None,
                  "train_seconds": round(train_seconds, 1)},
        "dev": dev_metrics,
        "log_history": history,
        "wall_seconds": round(wall, 1),
        "command": command,
        "environment": environment_info(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json_atomic(out_dir / TEACHER_CONFIG, record)
    if not config.keep_checkpoints:
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    _log(f"teacher saved to {out_dir} in {wall:.1f}s wall ({trainer.state.global_step} steps"
         + (f"; dev MRR@10 {dev_metrics.get('dev_mrr@10', float('nan')):.4f}" if dev_metrics else "") + ")")
    return TeacherResult(out_dir, config, int(trainer.state.global_step), float(output.training_loss), dev_metrics,
                         wall, str(resume) if resume else None, history)


def _final_dev_metrics(trainer: Any, evaluator: Any, model: Any) -> dict:
    """Dev metrics of the model being saved: read from the log when that step was evaluated, else computed."""
    state = trainer.state
    step = state.global_step
    if state.best_model_checkpoint and trainer.args.load_best_model_at_end:
        name = Path(state.best_model_checkpoint).name
        step = int(name.split("-")[-1]) if name.split("-")[-1].isdigit() else -1
    for h in reversed(state.log_history):
        if h.get("step") == step and "eval_dev_mrr@10" in h:
            return {k[5:]: float(v) for k, v in h.items() if k.startswith("eval_dev_")}
    return {k: float(v) for k, v in evaluator(model).items()}


def ensure_teacher(config: TeacherConfig | None = None, *, retrain: bool = False) -> Path:
    """A teacher: the shipped default one, or a trained one for ``config``.

    With no ``config`` (and ``retrain`` false) this is the shipped teacher :data:`DEFAULT_TEACHER`
    (``python -m optical_rerank.models list``), merged into the cache on first use: nothing is
    trained. With ``retrain``, or a ``config``, the teacher of that config (default
    :class:`TeacherConfig`) is reused from the cache or trained (resuming) into it. The cache key is :meth:`TeacherConfig.fingerprint` (config identity + input file contents);
    the teacher lives in ``cache_dir()/teachers/<key[:16]>/``. Two processes asking for the same
    teacher wait on a lock rather than training it twice.
    """
    if config is None and not retrain:
        return shipped_model_dir(DEFAULT_TEACHER)
    config = config or TeacherConfig()
    key = config.fingerprint()[:16]
    out = cache_dir() / "teachers" / key
    with dir_lock(out):
        rec = load_teacher_config(out)
        if rec is not None and rec.get("complete") and rec.get("identity") == config.identity():
            return out
        if rec is not None:
            _log(f"{out} holds a teacher of another config; retraining")
            train_teacher(config, out, overwrite=True, command="ensure_teacher")
        else:
            train_teacher(config, out, command="ensure_teacher")
    return out


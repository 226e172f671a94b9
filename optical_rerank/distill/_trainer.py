"""The training loop of distillation: :func:`distill` and the :class:`Trainer` that owns a run.

Everything a run does happens in :meth:`Trainer.run`, in this order: prepare the items (leakage
guard, contexts, dev split), return early when ``output`` already holds this finished run, load
the teacher and its student copy, resume from the latest checkpoint, evaluate on dev, then for
every step ``t``: re-seed the RNGs from ``(seed, t, rank)``, take the batch of step ``t``, compute
the loss (the method's state loss from :data:`~optical_rerank.distill.losses.LOSSES`, plus the
score and anchor terms), check it is finite on every rank, clip, step AdamW and the linear
warmup/decay schedule, log, evaluate, checkpoint; last, evaluate and write the student,
``provenance.json`` and ``result.json``.

The batch of step ``t`` is a pure function of ``(seed, t)`` and the RNGs are re-seeded before
every step, so a run killed and restarted with the same command resumes from its latest
checkpoint and ends with the same weights as an uninterrupted run.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ..errors import ConfigError, NumericalError
from ..guard import claim_output_dir, refuse_inputs_inside
from ..models import round_adapter_fp16, weights_sha256
from ..provenance import environment_info
from ._checkpoint import (
    list_checkpoints,
    load_checkpoint,
    read_checkpoint_state,
    read_finished,
    remove_stale,
    save_checkpoint,
    write_model_dir,
    write_result,
)
from ._config import DistillConfig, resolve_layers
from ._data import Item, Sampler, context_choice, data_fingerprint, prepare_data
from ._distributed import Dist, setup_dist
from ._states import load_teacher_and_student, mean_token_cosine, segment_states
from .losses import LOSSES, build_idf_table, english_anchor_loss, get_loss, score_distill_loss

Tensor = torch.Tensor


def _fp32(states: Any) -> Any:
    """``states`` with its float tensors in fp32 (hidden states of a bf16 autocast forward)."""
    import dataclasses

    def up(x: Any) -> Any:
        return x.float() if isinstance(x, torch.Tensor) and x.is_floating_point() else x

    changes = {}
    for f in dataclasses.fields(states):
        v = getattr(states, f.name)
        changes[f.name] = tuple(up(x) for x in v) if isinstance(v, tuple) else up(v)
    return dataclasses.replace(states, **changes)


@dataclass(frozen=True)
class DistillResult:
    """What :func:`distill` produced.

    Attributes
    ----------
    model_dir : the final student (a normal Hugging Face directory, loadable by the reranker).
    output : the run directory.
    steps : optimizer steps of the run.
    resumed_from : step of the checkpoint the run resumed from (``None``: fresh start; equal to
        ``steps`` with ``already_done`` when the output held a finished run).
    final_loss : training loss of the last step (mean over ranks).
    dev_before, dev_after : held-out distances before/after training, ``{"ot", "mse", "pairs"}``
        (``None`` without dev pairs).
    n_train_pairs, n_dev_pairs : pairs used after leakage filtering and context matching.
    leakage : leakage report(s) (``None`` without ``eval_topics``).
    layers : resolved ``hidden_states`` indices.
    wall_time_s : wall time of this call.
    already_done : the output already held this finished run; nothing was trained.
    """

    model_dir: Path
    output: Path
    steps: int
    resumed_from: int | None
    final_loss: float | None
    dev_before: dict[str, float] | None
    dev_after: dict[str, float] | None
    n_train_pairs: int
    n_dev_pairs: int
    leakage: dict[str, Any] | None
    layers: tuple[int, ...]
    wall_time_s: float
    already_done: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["model_dir"], d["output"], d["layers"] = str(self.model_dir), str(self.output), list(self.layers)
        return d


def _seed_everything(seed: int, step: int, rank: int) -> None:
    s = int(np.random.SeedSequence([seed, 5, step, rank]).generate_state(1, dtype=np.uint32)[0])
    torch.manual_seed(s)
    random.seed(s)
    np.random.seed(s)


class _LinearSchedule:
    """LR multiplier: linear warmup over ``warmup`` steps, then linear decay (picklable state)."""

    def __init__(self, warmup: int, total: int):
        self.warmup, self.total = int(warmup), int(total)

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        return max(0.0, (self.total - step) / max(1, self.total - self.warmup))


def distill(config: DistillConfig, bitext_pairs: Iterable[Any], dev_pairs: Iterable[Any] | None = None,
            passages: Mapping[str, Sequence[str]] | Sequence[Sequence[str]] | None = None, *,
            callback: Callable[[int, dict[str, Any]], None] | None = None) -> DistillResult:
    """Distil the teacher into a student that reads the bitext's foreign side (see :mod:`optical_rerank.distill`).

    Parameters
    ----------
    config : :class:`DistillConfig`.
    bitext_pairs : training pairs (:class:`LangPair`, ``BitextPair`` or ``(x, en[, source[, lang]])``).
    dev_pairs : held-out pairs for the OT/MSE distance (default: ``config.dev_size`` pairs held out
        of the bitext, or none).
    passages : in-context mode: English context texts, a mapping ``{English side: [texts]}`` or one
        list per bitext pair.
    callback : called as ``callback(step, info)`` on every rank after every optimizer step (after
        a checkpoint of that step is written); an exception it raises stops the run (the latest
        checkpoint remains for resuming).

    Returns
    -------
    DistillResult

    Raises
    ------
    NumericalError
        A non-finite loss or gradient, naming the step, the pairs and what to change.
    ConfigError
        Inconsistent options, leakage under ``strict_leakage``, or an output directory that holds
        a run with other settings or data.
    """
    started = time.perf_counter()
    if not isinstance(config, DistillConfig):
        raise ConfigError(f"config must be a DistillConfig, got {type(config).__name__}")
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    dist = setup_dist(config.device)
    try:
        return Trainer(config, dist, callback=callback).run(bitext_pairs, dev_pairs, passages, started)
    finally:
        dist.close()


class Trainer:
    """One distillation run and all its state: data, models, optimizer, schedule, loop, outputs.

    Parameters
    ----------
    config : the run's :class:`DistillConfig`.
    dist : the processes of the run (:func:`~optical_rerank.distill._distributed.setup_dist`).
    callback : as in :func:`distill`.
    """

    #: files that mark a distillation output written before output markers existed
    OWN_FILES = ("result.json", "train_log.jsonl")

    def __init__(self, config: DistillConfig, dist: Dist, *,
                 callback: Callable[[int, dict[str, Any]], None] | None = None):
        self.cfg, self.dist, self.device, self.callback = config, dist, dist.device, callback
        self.output = Path(config.output).expanduser().absolute()
        # the resume identity: the settings and the teacher's weights (however it is named)
        self.identity = {**config.identity(), "teacher_weights": weights_sha256(config.teacher)}
        self.state_loss = get_loss(config.method)
        self.train: list[Item] = []
        self.dev: list[Item] = []
        self.leakage: dict[str, Any] | None = None
        self.fingerprint = ""
        self.resumed_from: int | None = None
        self.dev_before: dict[str, float] | None = None
        self.last_loss: float | None = None

    # ---- messages and the training log (rank 0)
    def say(self, msg: str) -> None:
        if self.dist.main:
            tqdm.write(f"distill: {msg}", file=sys.stderr)

    def log(self, obj: dict[str, Any]) -> None:
        if self.dist.main:
            self.output.mkdir(parents=True, exist_ok=True)
            with open(self.output / "train_log.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(obj, sort_keys=True) + "\n")
                fh.flush()
                os.fsync(fh.fileno())

    # ---- the run
    def run(self, bitext_pairs: Iterable[Any], dev_pairs: Iterable[Any] | None, passages: Any,
            started: float) -> DistillResult:
        """Train (or resume, or recognise a finished run) and write the student; see the module docstring."""
        cfg, dist = self.cfg, self.dist
        if cfg.batch_size % dist.world:
            raise ConfigError(f"batch_size={cfg.batch_size} must be a multiple of the number of processes "
                              f"({dist.world}) so every rank gets an equal share")
        if dist.main:  # before any work: never into a user's folder or over the teacher
            if Path(cfg.teacher).expanduser().exists():
                refuse_inputs_inside(self.output, "--output", {"--teacher": cfg.teacher})
            claim_output_dir(self.output, "distill", "--output", own_files=self.OWN_FILES, mark=False)
        self.train, self.dev, self.leakage = prepare_data(cfg, bitext_pairs, dev_pairs, passages, self.say)
        self.fingerprint = data_fingerprint(self.train, self.dev)
        done = read_finished(self.output, self.identity, self.fingerprint)
        if done is not None:
            self.say(f"{self.output} already holds this finished run; nothing to do")
            return DistillResult(Path(done["model_dir"]), self.output, int(done["steps"]), int(done["steps"]),
                                 done["final_loss"], done["dev_before"], done["dev_after"], int(done["n_train_pairs"]),
                                 int(done["n_dev_pairs"]), done["leakage"], tuple(done["layers"]),
                                 time.perf_counter() - started, True)
        self._build()
        if dist.main:  # the teacher loaded: the output directory becomes ours (marker) before its first file
            claim_output_dir(self.output, "distill", "--output", own_files=self.OWN_FILES)
        start_step = self._resume()
        self.model = dist.wrap(self.student)
        if dist.main:
            remove_stale(self.output)
        dist.barrier()
        if self.resumed_from is not None:
            self.log({"event": "resume", "step": self.resumed_from})
        elif self.dev:
            if dist.main:
                self.dev_before = self.evaluate()
                self.log({"event": "eval", "step": 0, "dev": self.dev_before})
                self.say(f"dev before: OT {self.dev_before['ot']:.4f}  MSE {self.dev_before['mse']:.4f}  "
                         f"({self.dev_before['pairs']} pairs)")
            dist.barrier()
        self._loop(start_step)
        return self._finish(started)

    def _build(self) -> None:
        """Teacher and student, layers, IDF table, frozen embeddings, AdamW, schedule, sampler."""
        cfg, device = self.cfg, self.device
        torch.manual_seed(cfg.seed)  # a LoRA student's A matrices (a resumed run loads its own)
        self.tokenizer, self.teacher, self.student, self.teacher_path = load_teacher_and_student(
            cfg.teacher, device, cfg.lora)
        self.num_layers = int(self.teacher.config.num_hidden_layers)
        limit = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(limit, int) and 0 < limit < 1_000_000 and cfg.max_length > limit:
            raise ConfigError(f"max_length={cfg.max_length} exceeds what the teacher's tokenizer accepts ({limit})")
        self.layers = resolve_layers(cfg.layers, self.num_layers)
        self.idf: Tensor | None = None
        if self.state_loss.needs_idf(cfg):
            texts = [t for it in self.train for t in (it.x, it.en)]
            self.idf = build_idf_table(self.tokenizer, texts, int(self.teacher.config.vocab_size)).to(device)
        if cfg.freeze_embeddings and cfg.lora is None:  # a LoRA student trains its adapter only
            self.student.get_input_embeddings().weight.requires_grad_(False)
        trainable = [(n, p) for n, p in self.student.named_parameters() if p.requires_grad]
        decay = [p for _, p in trainable if p.ndim >= 2]
        no_decay = [p for _, p in trainable if p.ndim < 2]
        self.optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                            {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _LinearSchedule(cfg.warmup_steps, cfg.steps))
        self.sampler = Sampler([it.group for it in self.train], cfg.seed, cfg.sampling)
        self.model: Any = self.student
        clipped = [x for x in cfg.layers if isinstance(x, int) and x > self.num_layers]
        if clipped:
            self.say(f"layers {clipped} exceed the teacher's depth {self.num_layers}: clipped")
        self.say(f"teacher {self.teacher_path} ({self.num_layers} layers); aligning hidden states {list(self.layers)} "
                 f"with {cfg.method.upper()}; {len(self.train)} train / {len(self.dev)} dev pairs; "
                 f"{self.dist.world} process(es) on {self.device}")

    def _resume(self) -> int:
        """Load the latest checkpoint of this run, if any; the step to start from."""
        ckpts = list_checkpoints(self.output)
        if not ckpts:
            return 0
        _, path = ckpts[-1]
        state = read_checkpoint_state(path, self.output, self.identity, self.fingerprint)
        load_checkpoint(path, self.student, self.optimizer, self.scheduler, self.device,
                        trainable_only=self.cfg.lora is not None)
        self.resumed_from = int(state["step"])
        self.dev_before, self.last_loss = state.get("dev_before"), state.get("last_loss")
        self.say(f"resuming from {path} (step {self.resumed_from}/{self.cfg.steps})")
        return self.resumed_from

    def _loop(self, start_step: int) -> None:
        """Steps ``start_step + 1 .. steps``: loss, checks, optimizer, log, dev evaluation, checkpoints."""
        cfg, dist = self.cfg, self.dist
        bar = tqdm(total=cfg.steps, initial=start_step, disable=not (dist.main and cfg.show_progress),
                   desc=f"distill {cfg.method}", unit="step", file=sys.stderr, dynamic_ncols=True)
        t0 = time.perf_counter()
        try:
            for t in range(start_step, cfg.steps):
                step = t + 1
                _seed_everything(cfg.seed, t, dist.rank)
                idx, xs, es, ds = self.step_inputs(t)
                error: str | None = None
                loss = None
                info: dict[str, Any] = {}
                logged = bool(cfg.log_every) and (step % cfg.log_every == 0 or step == cfg.steps)
                try:
                    loss, info = self.batch_loss(self.model, xs, es, ds, diagnostics=logged)
                    if not bool(torch.isfinite(loss.detach())):
                        error = f"loss is {float(loss.detach())}"
                except NumericalError as exc:
                    error = str(exc)
                if dist.any_rank(error is not None):
                    raise NumericalError(
                        f"non-finite loss at step {step} (rank {dist.rank}, bitext pairs {idx[:8]}"
                        f"{'...' if len(idx) > 8 else ''}): {error or 'on another rank'}. Lower the learning rate "
                        f"(lr={cfg.lr:g}), raise the OT regularisation (reg={cfg.reg:g}), or set/lower "
                        f"grad_clip ({cfg.grad_clip}); the latest checkpoint in {self.output / 'checkpoints'} is intact")
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                params = [p for p in self.student.parameters() if p.grad is not None]
                max_norm = cfg.grad_clip if cfg.grad_clip is not None else math.inf
                grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm)) if params else 0.0
                if not math.isfinite(grad_norm):
                    raise NumericalError(
                        f"non-finite gradient norm at step {step} (bitext pairs {idx[:8]}): lower the learning rate "
                        f"(lr={cfg.lr:g}), raise reg (reg={cfg.reg:g}) or set grad_clip")
                lr = self.scheduler.get_last_lr()[0]
                self.optimizer.step()
                self.scheduler.step()
                self.last_loss = float(loss.detach())
                info = {**info, "loss": self.last_loss, "lr": lr, "grad_norm": grad_norm}
                bar.update(1)
                if logged:
                    mean_loss = dist.mean(self.last_loss)
                    elapsed = time.perf_counter() - t0
                    entry = {"event": "train", "step": step, "loss": mean_loss, "lr": lr, "grad_norm": grad_norm,
                             "per_layer": info.get("per_layer"), "elapsed_s": round(elapsed, 3),
                             "steps_per_s": round((step - start_step) / max(elapsed, 1e-9), 4)}
                    for k in ("iters", "not_converged", "score", "anchor", "token_cos", "teacher_token_cos"):
                        if k in info:
                            entry[k] = info[k]
                    self.log(entry)
                    bar.set_postfix(loss=f"{mean_loss:.4f}")
                    if not cfg.show_progress:
                        self.say(f"step {step}/{cfg.steps} loss {mean_loss:.5f} lr {lr:.3g} "
                                 f"{entry['steps_per_s']:.3f} steps/s")
                if self.dev and cfg.eval_every and step % cfg.eval_every == 0 and step != cfg.steps:
                    if dist.main:
                        ev = self.evaluate()
                        self.log({"event": "eval", "step": step, "dev": ev})
                        self.say(f"step {step}: dev OT {ev['ot']:.4f}  MSE {ev['mse']:.4f}")
                    dist.barrier()
                if (cfg.save_every and step % cfg.save_every == 0) or step == cfg.steps:
                    dist.barrier()
                    if dist.main:
                        save_checkpoint(self.output, step, self.student, self.optimizer, self.scheduler,
                                        self.checkpoint_state(), self.cfg.keep_checkpoints,
                                        trainable_only=cfg.lora is not None)
                    dist.barrier()
                if self.callback is not None:
                    self.callback(step, info)
        finally:
            bar.close()

    def _finish(self, started: float) -> DistillResult:
        """Final dev evaluation, the student directory and ``result.json`` (rank 0)."""
        cfg, dist = self.cfg, self.dist
        dev_after = None
        if cfg.lora is not None:  # the adapter as shipped (float16) is what is evaluated and written
            round_adapter_fp16(self.student)
        if self.dev and dist.main:
            dev_after = self.evaluate()
            self.log({"event": "eval", "step": cfg.steps, "dev": dev_after})
            self.say(f"dev after: OT {dev_after['ot']:.4f}  MSE {dev_after['mse']:.4f}")
        final_loss = dist.mean(self.last_loss) if self.last_loss is not None else None
        model_dir = self.output / "model"
        wall = time.perf_counter() - started
        result = DistillResult(model_dir, self.output, cfg.steps, self.resumed_from, final_loss, self.dev_before,
                               dev_after, len(self.train), len(self.dev), self.leakage, self.layers, wall)
        dist.barrier()
        if dist.main:
            groups: dict[str, int] = {}
            for it in self.train:
                groups[it.group] = groups.get(it.group, 0) + 1
            write_model_dir(model_dir, self.student, self.tokenizer, cfg, {
                "created_by": "optical_rerank.distill", "teacher": cfg.teacher,
                "teacher_resolved": self.teacher_path, "layers": list(self.layers),
                "steps": cfg.steps, "resumed_from": self.resumed_from, "world_size": dist.world,
                "device": str(self.device), "train_pairs": len(self.train), "train_pairs_by_group": groups,
                "dev_pairs": len(self.dev), "data_fingerprint": self.fingerprint, "leakage": self.leakage,
                "dev_before": self.dev_before, "dev_after": dev_after, "final_loss": final_loss,
                "wall_time_s": round(wall, 3), "environment": environment_info()})
            write_result(self.output, self.identity, self.fingerprint, result.to_dict())
            self.say(f"done: {cfg.steps} steps, model in {model_dir}; wall time {wall:.1f}s")
        dist.barrier()
        return result

    def checkpoint_state(self) -> dict[str, Any]:
        """What ``state.json`` records besides the step: identity, data, dev distance, loss."""
        return {"identity": self.identity, "data_fingerprint": self.fingerprint, "dev_before": self.dev_before,
                "last_loss": self.last_loss, "world_size": self.dist.world, "time": time.time()}

    # ---- one batch
    def encode_kwargs(self) -> dict[str, Any]:
        cfg = self.cfg
        return {"layers": self.layers, "side": cfg.side, "query_template": cfg.query_template,
                "passage_template": cfg.passage_template, "max_length": cfg.max_length}

    def step_inputs(self, step: int) -> tuple[list[int], list[str], list[str], list[str] | None]:
        """This rank's share of the batch of ``step``: pair indices, foreign texts, English, contexts."""
        cfg, dist = self.cfg, self.dist
        global_idx = self.sampler.batch(step, cfg.batch_size)
        share = cfg.batch_size // dist.world
        lo = dist.rank * share
        ks = [step * cfg.batch_size + i for i in range(lo, lo + share)]
        idx = global_idx[lo:lo + share]
        items = [self.train[i] for i in idx]
        xs = [it.x for it in items]
        es = [it.en for it in items]
        ds = None
        if cfg.in_context:
            ds = [it.contexts[context_choice(cfg.seed, k, len(it.contexts))] for k, it in zip(ks, items)]
        return idx, xs, es, ds

    def _autocast(self) -> Any:
        """bf16 autocast of the forward passes when ``cfg.bf16`` (a no-op context otherwise)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bool(self.cfg.bf16))

    def batch_loss(self, model: Any, xs: list[str], es: list[str], ds: list[str] | None, *,
                   diagnostics: bool = False) -> tuple[Tensor, dict[str, Any]]:
        """Loss of one batch of (foreign, English, context) triples; with ``diagnostics`` (logged
        steps only) also the per-layer :func:`mean_token_cosine` of the student's and the
        teacher's states (``token_cos``, ``teacher_token_cos``)."""
        cfg = self.cfg
        kw = self.encode_kwargs()
        with self._autocast():
            s = _fp32(segment_states(model, self.tokenizer, xs, ds, **kw))
            with torch.no_grad():
                t = _fp32(segment_states(self.teacher, self.tokenizer, es, ds, **kw))
        loss, info = self.state_loss(s, t, cfg, self.idf)
        if diagnostics:
            info["token_cos"] = [round(mean_token_cosine(X, s.mask), 4) for X in s.states]
            info["teacher_token_cos"] = [round(mean_token_cosine(E, t.mask), 4) for E in t.states]
        if cfg.score_weight > 0:
            score_term = score_distill_loss(s.logits, t.logits)
            info["score"] = float(score_term.detach())
            loss = loss + cfg.score_weight * score_term
        if cfg.anchor_weight > 0:
            with self._autocast():
                own = _fp32(segment_states(model, self.tokenizer, es, ds, **kw))
            anchor = english_anchor_loss(own.states, t.states, t.mask)
            info["anchor"] = float(anchor.detach())
            loss = loss + cfg.anchor_weight * anchor
        return loss, info

    # ---- held-out distance
    def evaluate(self) -> dict[str, float] | None:
        """Mean OT and MSE distance of the student to the teacher on the dev pairs (no gradient)."""
        if not self.dev:
            return None
        cfg = self.cfg
        student = self.student
        was_training = student.training
        student.eval()
        sums = {"ot": 0.0, "mse": 0.0}
        n = 0
        kw = self.encode_kwargs()
        try:
            with torch.no_grad():
                for i in range(0, len(self.dev), cfg.batch_size):
                    items = self.dev[i:i + cfg.batch_size]
                    ds = [it.contexts[0] for it in items] if cfg.in_context else None
                    s = segment_states(student, self.tokenizer, [it.x for it in items], ds, **kw)
                    t = segment_states(self.teacher, self.tokenizer, [it.en for it in items], ds, **kw)
                    ot_val, info = LOSSES["ot"](s, t, cfg, self.idf)
                    mse_val, _ = LOSSES["mse"](s, t, cfg)
                    k = info["pairs"]
                    sums["ot"] += float(ot_val) * k
                    sums["mse"] += float(mse_val) * k
                    n += k
        finally:
            student.train(was_training)
        if n == 0:
            return {"ot": float("nan"), "mse": float("nan"), "pairs": 0}
        out = {"ot": sums["ot"] / n, "mse": sums["mse"] / n, "pairs": n}
        if not (math.isfinite(out["ot"]) and math.isfinite(out["mse"])):
            raise NumericalError(f"held-out distance is not finite ({out}); the student has diverged: lower lr "
                                 f"(now {cfg.lr:g}) or raise reg (now {cfg.reg:g})")
        return out

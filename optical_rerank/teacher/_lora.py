"""The distilled LoRA teacher: e5's own ranking distilled into a cross-encoder, then labels on top.

Why: a cross-encoder with a fresh head on e5 starts from nothing and, on the few thousand English
questions available here, ends below the e5 bi-encoder it was built from. This trainer makes the
cross-encoder start where the bi-encoder is and then learn from labels:

* **listwise distillation** of the bi-encoder: for every training group (a query and its
  candidates), ``KL(softmax(kd_scale * cos_e5(q, d)) || softmax(s(q, d)))``, where ``cos_e5`` is
  the untrained e5 bi-encoder's cosine (``query: ``/``passage: `` prefixes, mean pooling) and
  ``kd_scale`` is e5's inverse temperature (100);
* **listwise labels** (localized contrastive estimation): ``-sum_d p(d) log softmax(s)_d`` over the
  judged candidates, ``p ∝ 2^grade - 1``; unjudged candidates (label ``-1``) take no part;
* **LoRA** (``peft``) on every attention and feed-forward projection, plus a trained pooler and
  score head: the trained part is a few MB, shipped on top of the pip-installed backbone.

Loss = ``label_weight * L_label + kd_weight * L_kd``; ``kd_weight = 0`` is the labels-only ablation.

Everything a step needs lives in :class:`LoraTeacherConfig` (one frozen dataclass, saved beside
every output); training checkpoints every ``save_steps`` and resumes from the latest checkpoint of
the same config. The ranking groups come from :mod:`._groups` (``python -m optical_rerank.teacher
groups``), so training and evaluation run without Java on any machine with torch.
"""
from __future__ import annotations

import dataclasses
import json
import random
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import checker, fingerprint, from_dict, is_int, is_number
from ..errors import ModelError
from ..files import sha256_file, staged_dir, write_json_atomic
from ..models import (
    ADAPTER_FILE,
    E5_PASSAGE_PREFIX,
    E5_QUERY_PREFIX,
    adapter_state,
    apply_lora,
    embed_texts,
    load_cross_encoder_model,
    load_encoder,
    round_adapter_fp16,
)
from ..provenance import environment_info
from ._groups import Bundle

__all__ = ["LoraTeacherConfig", "train_lora_teacher", "score_groups", "biencoder_scores", "adapter_state"]

@dataclass(frozen=True)
class LoraTeacherConfig:
    """What determines a LoRA teacher (its fingerprint keys checkpoints and the shipped card)."""

    backbone: str = "e5-small-multilingual"
    lora_r: int = 32
    lora_alpha: int = 64
    lora_dropout: float = 0.1
    lr: float = 3e-4
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: float = 0.05
    epochs: float = 2.0
    batch_queries: int = 32
    group_size: int = 16
    max_positives: int = 4
    max_length: int = 256
    kd_weight: float = 1.0
    label_weight: float = 1.0
    kd_scale: float = 100.0
    query_template: str = "query: {text}"
    passage_template: str = "passage: {text}"
    seed: int = 0
    head_seed: int = 0
    precision: str = "auto"
    save_steps: int = 200

    def __post_init__(self) -> None:
        need = checker("LoraTeacherConfig")
        for name, low in {"lora_r": 1, "lora_alpha": 1, "batch_queries": 1, "group_size": 2, "max_positives": 1,
                          "max_length": 8, "save_steps": 1}.items():
            v = getattr(self, name)
            need(is_int(v) and v >= low, f"{name} must be an integer >= {low}, got {v!r}")
        for name in ("lr", "head_lr", "epochs", "kd_scale"):
            v = getattr(self, name)
            need(is_number(v) and v > 0, f"{name} must be a finite number > 0, got {v!r}")
        for name in ("lora_dropout", "weight_decay", "warmup", "kd_weight", "label_weight"):
            v = getattr(self, name)
            need(is_number(v) and v >= 0, f"{name} must be a finite number >= 0, got {v!r}")
        need(self.kd_weight > 0 or self.label_weight > 0, "kd_weight and label_weight cannot both be 0")
        need(self.precision in ("auto", "fp32", "bf16"), f"precision must be auto, fp32 or bf16, got {self.precision!r}")
        for name in ("query_template", "passage_template"):
            need("{text}" in getattr(self, name), f"{name} must contain {{text}}")

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> LoraTeacherConfig:
        return from_dict(cls, obj)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _log(msg: str) -> None:
    print(f"[teacher] {msg}", flush=True)


def _device(precision: str) -> tuple[Any, bool]:
    import torch  # heavy

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if precision == "fp32":
        return dev, False
    bf16 = dev.type == "cuda" and torch.cuda.is_bf16_supported()
    if precision == "bf16" and dev.type == "cpu":
        bf16 = True
    return dev, bf16


# --------------------------------------------------------------------------- scoring
def _render(template: str, text: str) -> str:
    return template.replace("{text}", text)


def score_pairs(model: Any, tokenizer: Any, pairs: Sequence[tuple[str, str]], *, max_length: int,
                batch_size: int = 256, bf16: bool = False, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Cross-encoder scores of ``(query, passage)`` pairs (already templated), length-sorted batches.

    Returns ``float32`` array ``(len(pairs),)`` in the input order.
    """
    import torch  # heavy

    device = next(model.parameters()).device
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    out = np.zeros(len(pairs), dtype=np.float32)
    model.eval()
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            enc = tokenizer([pairs[i][0] for i in idx], [pairs[i][1] for i in idx], padding=True,
                            truncation="only_second", max_length=max_length, return_tensors="pt").to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = model(**enc).logits
            out[idx] = logits.float().reshape(len(idx), -1)[:, 0].cpu().numpy()
            if progress:
                progress(len(idx))
    return out


def score_groups(model: Any, tokenizer: Any, groups: Sequence[Mapping], docs: Mapping[str, str], *,
                 config: LoraTeacherConfig, batch_size: int = 256, bf16: bool = False) -> list[np.ndarray]:
    """The cross-encoder's score of every candidate of every group (one array per group)."""
    pairs = [(_render(config.query_template, g["query"]), _render(config.passage_template, docs[d]))
             for g in groups for d in g["docids"]]
    flat = score_pairs(model, tokenizer, pairs, max_length=config.max_length, batch_size=batch_size, bf16=bf16)
    out, i = [], 0
    for g in groups:
        out.append(flat[i:i + len(g["docids"])])
        i += len(g["docids"])
    return out


def biencoder_scores(encoder: Any, tokenizer: Any, groups: Sequence[Mapping], docs: Mapping[str, str], *,
                     batch_size: int = 128, max_length: int = 512) -> list[np.ndarray]:
    """The e5 bi-encoder's cosine for every candidate of every group (one array per group)."""
    queries = sorted({g["query"] for g in groups})
    passages = sorted({d for g in groups for d in g["docids"]})
    qv = embed_texts(tokenizer, encoder, _length_sorted(queries), prefix=E5_QUERY_PREFIX,
                     batch_size=batch_size, max_length=max_length)
    pv = embed_texts(tokenizer, encoder, _length_sorted([docs[d] for d in passages]), prefix=E5_PASSAGE_PREFIX,
                     batch_size=batch_size, max_length=max_length)
    qi = {t: i for i, t in enumerate(_length_sorted(queries))}
    sorted_texts = _length_sorted([docs[d] for d in passages])
    text_row: dict[str, int] = {}
    for i, t in enumerate(sorted_texts):
        text_row.setdefault(t, i)
    return [pv[[text_row[docs[d]] for d in g["docids"]]] @ qv[qi[g["query"]]] for g in groups]


def _length_sorted(texts: Sequence[str]) -> list[str]:
    return sorted(texts, key=lambda t: (len(t), t))


# --------------------------------------------------------------------------- training
def _sample_group(g: Mapping, config: LoraTeacherConfig, rng: random.Random) -> list[int]:
    """Indices of the candidates of group ``g`` used in one step: positives first, then others."""
    labels = g["labels"]
    pos = [i for i, lab in enumerate(labels) if lab > 0]
    rng.shuffle(pos)
    pos = pos[:config.max_positives]
    rest = [i for i in range(len(labels)) if i not in set(pos)]
    rng.shuffle(rest)
    return pos + rest[:config.group_size - len(pos)]


def _step_loss(scores: Any, mask: Any, labels: Any, kd: Any, config: LoraTeacherConfig) -> tuple[Any, dict]:
    """Listwise label and distillation losses of ``(B, G)`` scores; padding masked out."""
    import torch  # heavy

    neg = torch.finfo(scores.dtype).min / 4
    logp = torch.log_softmax(scores.masked_fill(~mask, neg), dim=-1)
    total = scores.new_zeros(())
    parts = {}
    if config.kd_weight > 0:
        t = torch.softmax((kd * config.kd_scale).masked_fill(~mask, neg), dim=-1)
        l_kd = (t * (torch.log(t.clamp_min(1e-12)) - logp)).masked_fill(~mask, 0).sum(-1).mean()
        total = total + config.kd_weight * l_kd
        parts["kd"] = float(l_kd.detach())
    if config.label_weight > 0:
        judged = mask & (labels >= 0)
        gain = torch.where(judged, torch.pow(2.0, labels.clamp_min(0)) - 1, torch.zeros_like(labels))
        has = gain.sum(-1) > 0
        if bool(has.any()):
            lp = torch.log_softmax(scores.masked_fill(~judged, neg), dim=-1)
            p = gain / gain.sum(-1, keepdim=True).clamp_min(1e-12)
            l_lab = -(p * lp.masked_fill(~judged, 0)).sum(-1)[has].mean()
            total = total + config.label_weight * l_lab
            parts["label"] = float(l_lab.detach())
    return total, parts


def _checkpoints(root: Path) -> list[tuple[int, Path]]:
    out = []
    for p in root.glob("step-*"):
        if (p / "state.json").is_file():
            out.append((int(p.name[5:]), p))
    return sorted(out)


def train_lora_teacher(config: LoraTeacherConfig, bundle: Bundle, out_dir: str | Path, *,
                       kd_train: Sequence[np.ndarray] | None = None, max_steps: int | None = None,
                       time_budget_s: float | None = None, stop_at_step: int | None = None) -> dict:
    """Train a LoRA teacher on ``bundle.train``; write the adapter and its record to ``out_dir``.

    Parameters
    ----------
    kd_train : the bi-encoder cosine of every training candidate (one array per group, as
        :func:`biencoder_scores` returns); computed here when ``None`` and ``kd_weight > 0``.
    max_steps : stop after this many steps (a budget; the record says so).
    time_budget_s : stop after the first step that ends past this many seconds of training; the
        record gives the steps done (``stopped_at``), which ``stop_at_step`` reproduces.
    stop_at_step : stop after this many steps *without* changing the learning-rate schedule
        (``max_steps`` shortens the schedule instead): reproduces a time-budget stop.

    Returns
    -------
    dict : the training record (also ``out_dir/training.json``): steps, pairs/s, losses.
    """
    import torch  # heavy
    from safetensors.torch import save_file  # heavy

    out = Path(out_dir)
    fp = fingerprint(config.to_dict() | {"bundle": bundle.sha256})
    ckpt_root = out.parent / f".{out.name}.checkpoints-{fp[:12]}"
    ckpt_root.mkdir(parents=True, exist_ok=True)
    device, bf16 = _device(config.precision)
    torch.manual_seed(config.seed)
    tokenizer, model = load_cross_encoder_model(config.backbone, num_labels=1, seed=config.head_seed)
    if config.kd_weight > 0 and kd_train is None:
        enc_tok, encoder = load_encoder(config.backbone)
        kd_train = biencoder_scores(encoder.to(device), enc_tok, bundle.train, bundle.docs)
        del encoder
    model = apply_lora(model, config.lora_r, config.lora_alpha, config.lora_dropout).to(device)
    head = [p for n, p in model.named_parameters() if p.requires_grad and "lora_" not in n]
    lora = [p for n, p in model.named_parameters() if p.requires_grad and "lora_" in n]
    opt = torch.optim.AdamW([{"params": lora, "lr": config.lr}, {"params": head, "lr": config.head_lr}],
                            weight_decay=config.weight_decay)
    per_epoch = max(1, len(bundle.train) // config.batch_queries)
    total = max(1, int(round(config.epochs * per_epoch)))
    if max_steps is not None:
        total = min(total, max_steps)
    warm = max(1, int(config.warmup * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (total - s) / max(1, total - warm)) if s >= warm
        else (s + 1) / warm)
    step, log = 0, []
    done = _checkpoints(ckpt_root)
    if done:
        step, path = done[-1]
        from peft import set_peft_model_state_dict  # heavy
        from safetensors.torch import load_file  # heavy

        set_peft_model_state_dict(model, load_file(str(path / ADAPTER_FILE)))
        state = torch.load(path / "optim.pt", map_location=device, weights_only=True)
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        torch.set_rng_state(state["rng"])
        if torch.cuda.is_available() and "cuda_rng" in state:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        log = json.loads((path / "state.json").read_text())["log"]
        _log(f"resumed at step {step} from {path}")
    model.train()
    t0, pairs_seen, first_step = time.perf_counter(), 0, step
    stopped_at = None
    while step < total:
        if time_budget_s is not None and time.perf_counter() - t0 > time_budget_s:
            stopped_at = step
            _log(f"time budget of {time_budget_s:.0f}s reached at step {step}/{total}")
            break
        if stop_at_step is not None and step >= stop_at_step:
            stopped_at = step
            _log(f"stopped at step {step}/{total} (stop_at_step)")
            break
        epoch, offset = divmod(step * config.batch_queries, per_epoch * config.batch_queries)
        order = list(range(len(bundle.train)))
        random.Random(config.seed * 1000003 + epoch).shuffle(order)
        batch_ids = order[offset:offset + config.batch_queries]
        rng = random.Random(config.seed * 7919 + step)
        chosen = [_sample_group(bundle.train[i], config, rng) for i in batch_ids]
        G = max(len(c) for c in chosen)
        qs, ps = [], []
        lab = torch.full((len(batch_ids), G), -1.0)
        kd = torch.zeros((len(batch_ids), G))
        mask = torch.zeros((len(batch_ids), G), dtype=torch.bool)
        for r, (i, c) in enumerate(zip(batch_ids, chosen)):
            g = bundle.train[i]
            for j, k in enumerate(c):
                qs.append(_render(config.query_template, g["query"]))
                ps.append(_render(config.passage_template, bundle.docs[g["docids"][k]]))
                lab[r, j] = float(g["labels"][k])
                if kd_train is not None:
                    kd[r, j] = float(kd_train[i][k])
                mask[r, j] = True
        enc = tokenizer(qs, ps, padding=True, truncation="only_second", max_length=config.max_length,
                        return_tensors="pt").to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            flat = model(**enc).logits.float()[:, 0]
        scores = torch.zeros((len(batch_ids), G), device=device)
        scores[mask.to(device)] = flat
        loss, parts = _step_loss(scores, mask.to(device), lab.to(device), kd.to(device), config)
        if not torch.isfinite(loss):
            raise ModelError(f"teacher step {step}: loss is {float(loss)}; lower lr (now {config.lr})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lora + head, 1.0)
        opt.step()
        sched.step()
        step += 1
        pairs_seen += len(qs)
        if step % 20 == 0 or step == total:
            rate = pairs_seen / max(1e-9, time.perf_counter() - t0)
            steps_per_s = (step - first_step) / max(1e-9, time.perf_counter() - t0)
            log.append({"step": step, "loss": float(loss), **parts, "pairs_per_s": round(rate, 1),
                        "steps_per_s": round(steps_per_s, 4)})
            _log(f"step {step}/{total} loss {float(loss):.4f} {parts} {rate:.0f} pairs/s {steps_per_s:.3f} steps/s")
        if step % config.save_steps == 0 and step < total:
            _save_checkpoint(model, opt, sched, step, log, ckpt_root)
    elapsed = time.perf_counter() - t0
    round_adapter_fp16(model)
    record = {"config": config.to_dict(), "fingerprint": fp, "bundle_sha256": bundle.sha256,
              "steps": step, "planned_steps": total, "stopped_at": stopped_at,
              "steps_per_epoch": per_epoch, "max_steps": max_steps, "elapsed_s": round(elapsed, 1),
              "pairs_per_s": round(pairs_seen / max(1e-9, elapsed), 1),
              "steps_per_s": round((step - first_step) / max(1e-9, elapsed), 4), "device": str(device), "bf16": bf16,
              "log": log, "environment": environment_info()}
    with staged_dir(out) as tmp:
        save_file(adapter_state(model), str(tmp / ADAPTER_FILE))
        write_json_atomic(tmp / "training.json", record)
    record["adapter_sha256"] = sha256_file(out / ADAPTER_FILE)
    shutil.rmtree(ckpt_root, ignore_errors=True)
    model.eval()
    record["_model"] = model
    record["_tokenizer"] = tokenizer
    return record


def _save_checkpoint(model: Any, opt: Any, sched: Any, step: int, log: list, root: Path) -> None:
    import torch  # heavy
    from safetensors.torch import save_file  # heavy

    with staged_dir(root / f"step-{step}") as tmp:
        save_file(adapter_state(model, half=False), str(tmp / ADAPTER_FILE))
        rng = {"rng": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda_rng"] = torch.cuda.get_rng_state_all()
        torch.save({"opt": opt.state_dict(), "sched": sched.state_dict(), **rng}, tmp / "optim.pt")
        write_json_atomic(tmp / "state.json", {"step": step, "log": log})
    for s, p in _checkpoints(root)[:-1]:
        shutil.rmtree(p, ignore_errors=True)

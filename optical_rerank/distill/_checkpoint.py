"""The run directory of a distillation: checkpoints (written and read back), the finished-run
record ``result.json`` and the final student directory.

Layout of ``output``::

    output/checkpoints/step-00000200/   model.safetensors, optimizer.pt, rng.json, state.json
    output/train_log.jsonl              one JSON object per logged step / evaluation / resume
    output/model/                       final student: config.json, model.safetensors, tokenizer
                                        files, distill_config.json, provenance.json
                                        (+ adapter_model.safetensors of a LoRA student)
    output/result.json                  written last: the run is complete

A LoRA student (``lora_r > 0``) checkpoints only its trainable tensors (the adapter, pooler and
head: the rest is the frozen teacher), and its ``model/`` holds the adapter in float16
(``adapter_model.safetensors``, what a shipped student carries) next to the teacher with that
adapter merged (``model.safetensors``, what the reranker loads).

Checkpoint and model directories are written to a temporary directory and renamed into place
(:func:`optical_rerank.files.staged_dir`). ``optimizer.pt`` holds our own optimizer/scheduler
state and is read with ``torch.load(weights_only=True)``; model weights are safetensors only.
"""
from __future__ import annotations

import json
import random
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, load_model, save_file, save_model

from ..config import config_diff
from ..errors import ConfigError, ModelError
from ..files import staged_dir, write_json_atomic
from ..models import ADAPTER_FILE, adapter_state
from ..rerank import DISTILL_CARD
from ._config import DistillConfig

CHECKPOINT_FORMAT = "optical_rerank.distill.checkpoint/1"
RESULT_FORMAT = "optical_rerank.distill.result/1"
_CKPT_RE = re.compile(r"^step-(\d{8})$")
_STALE_RE = re.compile(r"\.(step-\d{8}|model)\.(tmp|old)-.+")


def list_checkpoints(output: Path) -> list[tuple[int, Path]]:
    """``(step, directory)`` of the complete checkpoints in ``output``, oldest first."""
    root = output / "checkpoints"
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = _CKPT_RE.match(p.name)
        if m and p.is_dir() and (p / "state.json").is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def remove_stale(output: Path) -> None:
    """Delete temporary directories of checkpoints/models interrupted while being written."""
    for root in (output, output / "checkpoints"):
        if root.is_dir():
            for stale in root.iterdir():
                if stale.is_dir() and _STALE_RE.fullmatch(stale.name):
                    shutil.rmtree(stale, ignore_errors=True)


def _rng_snapshot() -> dict[str, Any]:
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {"torch": torch.get_rng_state().tolist(),
            "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
            "python": [py_state[0], list(py_state[1]), py_state[2]]}


def _rng_restore(snap: Mapping[str, Any]) -> None:
    torch.set_rng_state(torch.tensor(snap["torch"], dtype=torch.uint8))
    n = snap["numpy"]
    np.random.set_state((n[0], np.array(n[1], dtype=np.uint32), n[2], n[3], n[4]))
    p = snap["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))


def _trainable(student: Any) -> dict[str, Any]:
    return {n: p for n, p in student.named_parameters() if p.requires_grad}


def save_checkpoint(output: Path, step: int, student: Any, optimizer: Any, scheduler: Any,
                    state: dict[str, Any], keep: int, trainable_only: bool = False) -> Path:
    """Write ``output/checkpoints/step-<step>`` and delete all but the ``keep`` newest checkpoints
    (``trainable_only``: the weights file holds only the parameters that train, a LoRA student's adapter)."""
    final = output / "checkpoints" / f"step-{step:08d}"
    with staged_dir(final) as tmp:
        if trainable_only:
            save_file({n: p.detach().contiguous() for n, p in _trainable(student).items()},
                      str(tmp / "model.safetensors"))
        else:
            save_model(student, str(tmp / "model.safetensors"))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, tmp / "optimizer.pt")
        write_json_atomic(tmp / "rng.json", _rng_snapshot())
        write_json_atomic(tmp / "state.json", {"format": CHECKPOINT_FORMAT, "step": step, **state})
    for _, old in list_checkpoints(output)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def read_checkpoint_state(path: Path, output: Path, identity: Mapping[str, Any], fingerprint: str) -> dict[str, Any]:
    """``state.json`` of the checkpoint ``path``, checked against this run's settings and data.

    Raises
    ------
    ModelError
        Unreadable state or unknown format.
    ConfigError
        The checkpoint belongs to a run with other settings or other data.
    """
    try:
        state = json.loads((path / "state.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}/state.json: unreadable ({exc}); delete the checkpoint to resume from an older one") from None
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ModelError(f"{path}: unknown checkpoint format {state.get('format')!r}")
    if state.get("identity") != identity:
        raise ConfigError(f"{output} has a checkpoint of a run with other settings "
                          f"({config_diff(state.get('identity') or {}, identity)}); rerun with the same settings to "
                          "resume it, or use another --output")
    if state.get("data_fingerprint") != fingerprint:
        raise ConfigError(f"{output} has a checkpoint of a run on other training/dev pairs (the bitext, leakage "
                          "filtering, dev split or passages changed); use the same data to resume, or another --output")
    return state


def load_checkpoint(path: Path, student: Any, optimizer: Any, scheduler: Any, device: torch.device,
                    trainable_only: bool = False) -> None:
    """Restore the student's weights (``trainable_only``: those that train), the optimizer/scheduler
    state and the RNGs from ``path``."""
    try:
        if trainable_only:
            saved = load_file(str(path / "model.safetensors"), device=str(device))
            params = _trainable(student)
            missing, unexpected = set(params) - set(saved), set(saved) - set(params)
            if not (missing or unexpected):
                with torch.no_grad():
                    for n, p in params.items():
                        p.copy_(saved[n])
        else:
            missing, unexpected = load_model(student, str(path / "model.safetensors"), strict=False,
                                             device=str(device))
        if missing or unexpected:
            raise ModelError(f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")
        blob = torch.load(path / "optimizer.pt", map_location=device, weights_only=True)
        optimizer.load_state_dict(blob["optimizer"])
        scheduler.load_state_dict(blob["scheduler"])
        _rng_restore(json.loads((path / "rng.json").read_text(encoding="utf-8")))
    except (OSError, RuntimeError, KeyError, ValueError, TypeError, ModelError) as exc:
        raise ModelError(f"{path}: cannot resume from this checkpoint ({exc}); delete it to resume from an "
                         "older one or start over") from exc


def read_finished(output: Path, identity: Mapping[str, Any], fingerprint: str) -> dict[str, Any] | None:
    """The recorded result of the finished run in ``output`` (``None`` when there is none).

    Raises
    ------
    ConfigError
        ``result.json`` is unreadable, or records a run with other settings or data.
    """
    result_path = output / "result.json"
    if not (result_path.is_file() and (output / "model").is_dir()):
        return None
    try:
        done = json.loads(result_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{result_path}: unreadable ({exc}); delete it to retrain") from None
    if done.get("identity") != identity or done.get("data_fingerprint") != fingerprint:
        what = config_diff(done.get("identity") or {}, identity) or "the training data differ"
        raise ConfigError(f"{output} holds a finished distillation with other settings ({what}); "
                          "use another --output")
    return done["result"]


def write_model_dir(model_dir: Path, student: Any, tokenizer: Any, config: DistillConfig,
                    provenance: Mapping[str, Any]) -> None:
    """The final student as a Hugging Face directory (safetensors only) with ``distill_config.json``
    and ``provenance.json``; a LoRA student (``config.lora_r > 0``, a ``peft`` model whose adapter
    is already rounded to float16) also gets ``adapter_model.safetensors`` and is saved merged
    (the student object is merged in place: call this last)."""
    with staged_dir(model_dir) as tmp:
        if config.lora is not None:
            save_file(adapter_state(student), str(tmp / ADAPTER_FILE))
            student = student.merge_and_unload()
        student.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        for stray in tmp.iterdir():
            if stray.suffix in (".bin", ".pt", ".pth", ".ckpt") and stray.is_file():
                stray.unlink()
        if not (tmp / "model.safetensors").is_file() and not (tmp / "model.safetensors.index.json").is_file():
            raise ModelError(f"the student was not saved as safetensors in {tmp}")
        config.save(tmp / DISTILL_CARD)
        write_json_atomic(tmp / "provenance.json", dict(provenance))


def write_result(output: Path, identity: Mapping[str, Any], fingerprint: str, result: Mapping[str, Any]) -> None:
    """``result.json``, written last: the run is complete."""
    write_json_atomic(output / "result.json", {"format": RESULT_FORMAT, "identity": identity,
                                               "data_fingerprint": fingerprint, "result": dict(result)})

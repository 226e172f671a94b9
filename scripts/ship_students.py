"""Ship the students of configs/students-dev.yaml as optical_rerank/models/shipped/<name>/ (adapter + card.json).

Each student is taken from the experiment's own cache (``Experiment.student_dir``: reused when its
key matches, trained by the same code otherwise), so this script is also the students' recipe::

    python -m optical_rerank.experiment configs/students-dev.yaml   # students + dev runs
    python scripts/students_dev.py                                  # results/students/dev.{json,md}
    python scripts/ship_students.py                                 # the shipped adapters and cards

The card records the command, the recipe (the experiment's student block), the data (the sha256 of
every bitext card and file and of the in-context passages), the seeds, the sha256 of the adapter,
the dev metrics from results/students/dev.json, the package versions, the base teacher, templates
and fusion (:func:`optical_rerank.models.ship_lora_student`).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from optical_rerank.experiment import Experiment, ExperimentConfig
from optical_rerank.files import sha256_file
from optical_rerank.models import ship_lora_student

#: system in configs/students-dev.yaml -> shipped name
SHIPPED = {"optical": "optical-afriqa", "kd": "kd-afriqa", "kd-ctx": "kd-ctx-afriqa"}
CONFIG = "configs/students-dev.yaml"


def main(*systems: str) -> int:
    cfg = ExperimentConfig.load(CONFIG)
    exp = Experiment(cfg)
    teacher = exp.teacher_dir()
    bitext = exp.data.bitext_files()
    dev_file = Path("results/students/dev.json")
    dev = json.loads(dev_file.read_text(encoding="utf-8")) if dev_file.is_file() else None
    data_cards = {}
    for f in bitext:
        root = Path(f).parent
        data_cards[root.name] = {"card_sha256": sha256_file(root / "card.json"),
                                 "files": {Path(f).name: sha256_file(f)}}
    for system in systems or tuple(SHIPPED):
        block = cfg.students[system]
        model_dir = Path(exp.student_dir(system, teacher, bitext))
        extra = {
            "command": f"python -m optical_rerank.experiment {CONFIG} && python scripts/students_dev.py && "
                       f"python scripts/ship_students.py {system}",
            "reproduce": "the same three commands from a checkout with the data mirror (OPTICAL_RERANK_MIRROR); the "
                         "recipe is deterministic (the batch of step t is a function of (seed, t), the adapter's "
                         "initialisation of the seed), see results/students/reproduction/",
            "recipe": {"config": CONFIG, "system": system, "block": block,
                       "bitext_languages": cfg.bitext["languages"]},
            "seeds": {"seed": cfg.seed, "note": "data order, dropout and context choice from (seed, step); the LoRA "
                                                "A matrices from torch.manual_seed(seed)"},
            "data_cards": data_cards,
            "dev": None if dev is None else {
                    "set": "AfriQA dev (hau ibo twi zul), " + dev["candidates"], "queries": dev["queries"],
                    "alone": dev["alone"]["macro"].get(system), "fused": dev["fused"]["macro"].get(system),
                    "zero_shot_teacher": {"alone": dev["alone"]["macro"].get("teacher-native"),
                                          "fused": dev["fused"]["macro"].get("teacher-native")},
                    "paired_tests": {"alone": dev["alone"]["paired_tests"].get(system),
                                     "fused": dev["fused"]["paired_tests"].get(system)},
                    "source": "results/students/dev.json"},
            "selected_by": ("the OPTICAL configuration chosen on AfriQA dev earlier (README, choices on dev: OT on the "
                            "last layer, in context, with the score term); test never used" if system == "optical" else
                            "a comparison baseline of optical-afriqa (same teacher, bitext, budget and LoRA rank)"),
        }
        if block.get("in_context"):
            ctx = exp.context_passages(bitext, int(block.get("context_k", 3)), block.get("context_corpus"))
            extra["contexts"] = {"file": ctx.name, "sha256": sha256_file(ctx),
                                 "rule": f"BM25 top-{block.get('context_k', 3)} AfriQA English passages of each "
                                         "bitext pair's English side"}
        out = ship_lora_student(model_dir, SHIPPED[system], base=cfg.teacher["shipped"], extra=extra)
        print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))

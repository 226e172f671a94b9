"""Retrain a shipped student from its card's recipe into a fresh folder and compare the adapters.

    python scripts/reproduce_student.py optical-afriqa [OUT]   # -> results/students/reproduction/<name>.json

The recipe (the experiment config and student block the card records) is trained through the
experiment's own code path (``Experiment.student_dir``) into ``OUT`` (default
``work/reproduction/<name>``), never into the cached run, and the float16 adapter it writes is
compared byte for byte (sha256) with the shipped one.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from optical_rerank.experiment import Experiment, ExperimentConfig
from optical_rerank.files import sha256_file, write_json_atomic
from optical_rerank.models import ADAPTER_FILE, shipped_card


def main(name: str, out: str | None = None) -> int:
    card = shipped_card(name)
    recipe = card["recipe"]
    cfg = ExperimentConfig.load(recipe["config"])
    if cfg.students[recipe["system"]] != recipe["block"]:
        raise SystemExit(f"{recipe['config']}: the block of {recipe['system']} is not the card's recipe")
    exp = Experiment(cfg)
    out_dir = Path(out or f"work/reproduction/{name}")
    started = time.perf_counter()
    model = Path(exp.student_dir(recipe["system"], exp.teacher_dir(), exp.data.bitext_files(), output=out_dir))
    got = sha256_file(model / ADAPTER_FILE)
    report = {"name": name, "recipe": recipe, "shipped_adapter_sha256": card["adapter_sha256"],
              "retrained_adapter_sha256": got, "identical": got == card["adapter_sha256"],
              "seconds": round(time.perf_counter() - started, 1), "load_average": list(os.getloadavg()),
              "command": f"python scripts/reproduce_student.py {name}"}
    write_json_atomic(Path("results/students/reproduction") / f"{name}.json", report)
    print(report["identical"], got)
    return 0 if report["identical"] else 1


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))

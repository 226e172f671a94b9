"""A student for a new language in one command: ``python -m optical_rerank.distill --lang L``.

:func:`distill_language` takes a shipped student's recipe (its card's ``recipe.block``: the
distillation fields and the in-context options it was trained with, and its ``base``, the shipped
teacher), prepares the bitext of the languages from the registry (``data prepare bitext --lang L``,
with the leakage guard that always holds the AfriQA dev and test questions), finds the in-context
English passages (BM25 over the AfriQA English collection, prepared from the mirror) and trains
the student through the experiment's own code path (:meth:`optical_rerank.experiment.Experiment.student_dir`),
so a language's student is made exactly as the shipped ones were. Rerunning the command resumes
or reuses the finished run; ``OUTPUT/lang_run.json`` records what it did and how long each part took.
"""
from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..files import write_json_atomic

__all__ = ["DEFAULT_RECIPE", "recipe_of", "distill_language"]

#: the shipped student whose recipe ``--lang`` uses by default
DEFAULT_RECIPE = "optical-afriqa"
#: the AfriQA languages whose English collection gives the in-context passages
_CONTEXT_AFRIQA = ["hau", "ibo", "swa", "twi", "yor", "zul"]


def recipe_of(recipe: str) -> tuple[str, dict[str, Any], int]:
    """``(base teacher, student block, seed)`` of a shipped student's card (its ``recipe``)."""
    from ..models import shipped_card, shipped_models  # heavy-ish: peft only when merging

    if recipe not in shipped_models("student"):
        raise ConfigError(f"--recipe {recipe!r}: not a shipped student ({', '.join(shipped_models('student')) or 'none'})")
    card = shipped_card(recipe)
    rec = card.get("recipe")
    if not isinstance(rec, Mapping) or not isinstance(rec.get("block"), Mapping):
        raise ConfigError(f"the card of {recipe} records no recipe (recipe.block): it cannot be retrained by --lang")
    return str(card["base"]), dict(rec["block"]), int(card.get("distill", {}).get("seed", 0))


def distill_language(languages: Sequence[str], *, recipe: str = DEFAULT_RECIPE, output: str | Path | None = None,
                     data_root: str | Path = "work/data", overrides: Mapping[str, Any] | None = None) -> Path:
    """Prepare the bitext of ``languages`` and distil the student of ``recipe`` on it.

    Parameters
    ----------
    languages : language codes (ISO 639-3 or any source's code) with bitext in the registry.
    recipe : a shipped student whose recipe is used.
    output : the run directory (default ``work/students/<languages>``); the student is ``output/model``.
    data_root : where the bitext, the AfriQA collection and its index are prepared (reused when present).
    overrides : DistillConfig fields that replace the recipe's (e.g. ``steps``).

    Returns
    -------
    Path : the student's model directory.
    """
    from ..experiment import Experiment, ExperimentConfig  # heavy

    langs = [str(x) for x in languages]
    if not langs:
        raise ConfigError("--lang needs at least one language")
    base, block, seed = recipe_of(recipe)
    block.update(dict(overrides or {}))
    seed = int(block.pop("seed", seed))
    name = "-".join(langs)
    out = Path(output) if output is not None else Path("work/students") / name
    cfg = ExperimentConfig(name=f"distill-{name}", data_root=str(data_root), seed=seed, teacher={"shipped": base},
                           students={"student": block}, systems=("student",), baseline_for_tests=(),
                           bitext={"languages": langs}, afriqa={"languages": list(_CONTEXT_AFRIQA), "split": "test"})
    started = time.perf_counter()
    exp = Experiment(cfg)
    teacher = exp.teacher_dir()
    t_teacher = time.perf_counter()
    bitext = exp.data.bitext_files()
    t_bitext = time.perf_counter()
    model = Path(exp.student_dir("student", teacher, bitext, output=out))
    t_done = time.perf_counter()
    write_json_atomic(out / "lang_run.json", {
        "languages": langs, "recipe": recipe, "base": base, "block": block, "seed": seed,
        "bitext_files": [os.path.relpath(f) for f in bitext], "model_dir": str(model),
        "missing": exp.missing, "seconds": {"teacher": round(t_teacher - started, 1),
                                            "bitext": round(t_bitext - t_teacher, 1),
                                            "contexts_and_training": round(t_done - t_bitext, 1),
                                            "total": round(t_done - started, 1)},
        "cpus": os.cpu_count(), "load_average": list(os.getloadavg())})
    return model

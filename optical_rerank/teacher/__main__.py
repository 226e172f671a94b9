"""``python -m optical_rerank.teacher {train,evaluate,groups,recipe,report,summarize}``: see :mod:`optical_rerank.teacher._cli`."""
from __future__ import annotations

from ..cli import run_cli
from ._cli import main

if __name__ == "__main__":
    raise SystemExit(run_cli(main))

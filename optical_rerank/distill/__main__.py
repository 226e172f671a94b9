"""``python -m optical_rerank.distill``: OPTICAL (or vanilla KD) distillation; the parser and
``main`` are in :mod:`optical_rerank.distill._cli`."""
from __future__ import annotations

from ..cli import run_cli
from ._cli import main

if __name__ == "__main__":
    raise SystemExit(run_cli(main))

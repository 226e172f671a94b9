"""``python -m optical_rerank.experiment CONFIG``: see :mod:`optical_rerank.experiment._cli`."""
from __future__ import annotations

from ..cli import run_cli
from ._cli import main

if __name__ == "__main__":
    raise SystemExit(run_cli(main))

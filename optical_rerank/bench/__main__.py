"""``python -m optical_rerank.bench ot|rerank``: see :mod:`optical_rerank.bench`."""
from __future__ import annotations

from ..cli import run_cli
from ._registry import main

if __name__ == "__main__":
    raise SystemExit(run_cli(main))

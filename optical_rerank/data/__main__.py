"""``python -m optical_rerank.data``: see :mod:`optical_rerank.data.commands`."""
from __future__ import annotations

from ..cli import run_cli
from .commands import main

if __name__ == "__main__":
    raise SystemExit(run_cli(main))

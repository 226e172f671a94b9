"""Shared entry point for the ``python -m optical_rerank.*`` commands.

``main(argv)`` functions raise :class:`~optical_rerank.errors.OpticalRerankError` on bad input;
when a command runs from the shell, :func:`run_cli` turns that into one clear line on stderr
and exit status 2 (no traceback), and Ctrl-C into status 130. Other exceptions are bugs and
keep their traceback.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from .errors import OpticalRerankError


def run_cli(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    name = spec.name.removesuffix(".__main__") if spec is not None else "optical_rerank"
    prog = f"python -m {name}"
    try:
        return int(main(argv) or 0)
    except OpticalRerankError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; partial outputs are kept for resuming", file=sys.stderr)
        return 130

"""Shared entry point for the ``python -m optical_rerank.*`` commands and the console script.

``main(argv)`` functions raise :class:`~optical_rerank.errors.OpticalRerankError` on bad input;
when a command runs from the shell, :func:`run_cli` turns that into one clear line on stderr
and exit status 2 (no traceback), and Ctrl-C into status 130. Other exceptions are bugs and
keep their traceback.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from .errors import OpticalRerankError

__all__ = ["run_cli", "console_main"]


def _prog() -> str:
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    name = spec.name.removesuffix(".__main__") if spec is not None else "optical_rerank"
    return f"python -m {name}"


def run_cli(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None,
            prog: str | None = None) -> int:
    """Run ``main(argv)`` and return its exit status; errors of the toolkit are one line, status 2.

    ``prog`` names the command in the error line (default: ``python -m <the running module>``).
    """
    prog = prog or _prog()
    try:
        return int(main(argv) or 0)
    except OpticalRerankError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; partial outputs are kept for resuming", file=sys.stderr)
        return 130


def console_main() -> int:
    """The ``optical-rerank`` console script: ``python -m optical_rerank.run`` through :func:`run_cli`."""
    from .run import main  # cycle: run imports this module

    return run_cli(main, prog="optical-rerank")

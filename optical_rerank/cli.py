"""Shared entry point for the ``python -m optical_rerank.*`` commands and the console script.

``main(argv)`` functions raise :class:`~optical_rerank.errors.OpticalRerankError` on bad input;
when a command runs from the shell, :func:`run_cli` turns that into one clear line on stderr
and exit status 2 (no traceback), and Ctrl-C into status 130. Operating-system errors
(:class:`OSError`: permission denied, is a directory, no space left on device, ...) are the
same one line, ``path: reason`` with a hint, and status 2: this is the one place they are
caught, for every command. Other exceptions are bugs and keep their traceback.
"""
from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Sequence

from .errors import OpticalRerankError

__all__ = ["run_cli", "console_main", "os_error_line"]


def _prog() -> str:
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    name = spec.name.removesuffix(".__main__") if spec is not None else "optical_rerank"
    return f"python -m {name}"


_OS_HINTS = {
    errno.ENOSPC: "free some disk space and run the same command again: finished work is kept",
    errno.EDQUOT: "free some disk space and run the same command again: finished work is kept",
    errno.EACCES: "check the permissions, or write somewhere else",
    errno.EPERM: "check the permissions, or write somewhere else",
    errno.EROFS: "the file system is read-only: write somewhere else",
    errno.EISDIR: "give a file path, not a directory",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
}


def os_error_line(exc: OSError) -> str:
    """One line for an :class:`OSError`: ``path: reason (hint)`` (``reason`` alone when no path is known)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    hint = _OS_HINTS.get(exc.errno)
    if hint:
        reason = f"{reason} ({hint})"
    if exc.filename is None:
        return reason
    where = os.fsdecode(exc.filename)
    if exc.filename2 is not None:
        where = f"{where} -> {os.fsdecode(exc.filename2)}"
    return f"{where}: {reason}"


def run_cli(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None,
            prog: str | None = None) -> int:
    """Run ``main(argv)`` and return its exit status; errors of the toolkit are one line, status 2.

    ``prog`` names the command in the error line (default: ``python -m <the running module>``).
    :class:`OSError` is reported the same way (:func:`os_error_line`), except a closed output
    pipe (``... | head``), which ends the command quietly.
    """
    prog = prog or _prog()
    try:
        return int(main(argv) or 0)
    except OpticalRerankError as exc:
        print(f"{prog}: error: {' '.join(str(exc).splitlines())}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away: stop writing without a second error at interpreter exit
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):  # stdout is not a file descriptor (captured)
            pass
        return 141
    except OSError as exc:
        print(f"{prog}: error: {os_error_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; partial outputs are kept for resuming", file=sys.stderr)
        return 130


def console_main() -> int:
    """The ``optical-rerank`` console script: ``python -m optical_rerank.run`` through :func:`run_cli`."""
    from .run import main  # cycle: run imports this module

    return run_cli(main, prog="optical-rerank")

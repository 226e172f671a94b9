"""Checks made before any work starts, so that a command never destroys what the user did not create.

* :func:`check_output_path`: an output that is a directory, lies under a regular file, or sits in
  a directory that cannot be written (read-only, permission denied) is a one-line
  :class:`~optical_rerank.errors.ConfigError` at once, not a traceback after the work is done.
* :func:`refuse_overwriting_inputs`: an output (or one of its sidecars) that is the same file as
  an input (same path, a symlink or a hard link to it) is refused, naming both options.
* :func:`check_number`: a finite number within bounds (``nan``/``inf`` are accepted by ``float()``
  and would pass a plain ``k1 <= 0`` test).
"""
from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from .errors import ConfigError

__all__ = ["same_path", "check_output_path", "refuse_overwriting_inputs", "check_number"]


def same_path(a: str | Path, b: str | Path) -> bool:
    """Whether ``a`` and ``b`` name the same file: equal absolute paths, symlinks or hard links to it."""
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    with contextlib.suppress(OSError):
        if pa.exists() and pb.exists():
            return pa.samefile(pb)
    with contextlib.suppress(OSError, RuntimeError):
        if pa.resolve() == pb.resolve():
            return True
    return os.path.abspath(pa) == os.path.abspath(pb)


def check_output_path(path: str | Path, option: str = "--output") -> None:
    """Refuse an output file path that cannot be written, before any work.

    Raises :class:`ConfigError` when ``path`` is an existing directory, when a part of it is a
    regular file, or when the nearest existing directory on it refuses a new file (read-only
    file system, no permission): a test file is created there and removed at once.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        raise ConfigError(f"{option} {p} is a directory; give the path of a file (e.g. {p / 'run.txt'})")
    parent = p.parent
    while not (parent.exists() or parent.is_symlink()) and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{option} {p}: {parent} is a file, not a directory; choose another path")
    try:
        fd, probe = tempfile.mkstemp(prefix=".optical_rerank-write-test-", dir=parent)
    except OSError as exc:
        raise ConfigError(f"{option} {p}: cannot create files in {parent}: {exc.strerror or exc}; "
                          "choose a writable directory") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def refuse_overwriting_inputs(outputs: Mapping[str, str | Path], inputs: Mapping[str, str | Path | None],
                              fix: str = "choose another --output") -> None:
    """Refuse when a path to be written is the same file as an input, before any work.

    ``outputs`` maps a description (``"--output"``, ``"its first-stage run"``) to a path that
    will be written; ``inputs`` maps an option (``"--topics"``) to its path (``None``: not
    given). Raises :class:`ConfigError` naming both and ``fix``.
    """
    for what, out in outputs.items():
        for option, inp in inputs.items():
            if inp is None or str(inp) == "":
                continue
            if same_path(out, inp):
                raise ConfigError(f"{what} {out} is the same file as {option} {inp}: writing it would destroy "
                                  f"the input; {fix}")


def check_number(option: str, value: float | int | None, *, minimum: float | None = None,
                 maximum: float | None = None, exclusive_minimum: bool = False) -> None:
    """Refuse a non-finite value, or one outside ``[minimum, maximum]`` (``(minimum, ...`` if exclusive)."""
    if value is None:
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{option} must be a finite number, got {value}")
    low_bad = minimum is not None and (value <= minimum if exclusive_minimum else value < minimum)
    high_bad = maximum is not None and value > maximum
    if low_bad or high_bad:
        if minimum is not None and maximum is not None:
            rng = f"{'>' if exclusive_minimum else '>='} {minimum:g} and <= {maximum:g}"
        elif minimum is not None:
            rng = f"{'>' if exclusive_minimum else '>='} {minimum:g}"
        else:
            rng = f"<= {maximum:g}"
        raise ConfigError(f"{option} must be {rng}, got {value}")

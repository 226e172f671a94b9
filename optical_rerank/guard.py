"""Checks made before any work starts, so that a command never destroys what the user did not create.

* :func:`check_output_path`: an output that is a directory, lies under a regular file, or sits in
  a directory that cannot be written (read-only, permission denied) is a one-line
  :class:`~optical_rerank.errors.ConfigError` at once, not a traceback after the work is done.
* :func:`refuse_overwriting_inputs`: an output (or one of its sidecars) that is the same file as
  an input (same path, a symlink or a hard link to it), or lies inside an input directory (a
  model, an index), is refused, naming both options.
* :func:`check_output_dir`: the same for an output directory (an index): a regular file there, or
  a parent that cannot be written, is refused before any work.
* :func:`refuse_inputs_inside`: an input that is, or lies inside, an output directory (which may be
  replaced), or an output directory inside an input directory, is refused.
* :func:`claim_output_dir`: a command that writes a whole directory (``teacher train --out``,
  ``distill --output``) writes only into a missing or empty directory, or one that holds its own
  marker file (:data:`OUTPUT_MARKER`, written when it is claimed) or, from before markers, its own
  files; a user's non-empty folder, or another command's output, is refused.
* :func:`check_number`: a finite number within bounds (``nan``/``inf`` are accepted by ``float()``
  and would pass a plain ``k1 <= 0`` test).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from .errors import ConfigError
from .files import write_json_atomic

__all__ = ["same_path", "check_output_path", "check_output_dir", "refuse_overwriting_inputs", "refuse_inputs_inside",
           "claim_output_dir", "OUTPUT_MARKER", "check_number"]

#: The file that marks a directory as a command's own output (JSON ``{"kind": ...}``).
OUTPUT_MARKER = ".optical_rerank_output"


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
    _probe_parent(p, option)


def _probe_parent(p: Path, option: str) -> None:
    parent = p.parent
    while not (parent.exists() or parent.is_symlink()) and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{option} {p}: {parent} is a file, not a directory; choose another path")
    target = p if p.is_dir() else parent
    try:
        fd, probe = tempfile.mkstemp(prefix=".optical_rerank-write-test-", dir=target)
    except OSError as exc:
        raise ConfigError(f"{option} {p}: cannot create files in {target}: {exc.strerror or exc}; "
                          "choose a writable directory") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def check_output_dir(path: str | Path, option: str) -> None:
    """Refuse an output directory path that is a file or cannot be written, before any work."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{option} {p} is a file, not a directory; refusing to replace it: give a new or empty directory")
    _probe_parent(p, option)


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.resolve().relative_to(parent.resolve())
        return True
    except (ValueError, OSError, RuntimeError):
        return False


def refuse_inputs_inside(out_dir: str | Path, option: str, inputs: Mapping[str, str | Path | None]) -> None:
    """Refuse an output directory that is, contains, or lies inside one of ``inputs``."""
    out = Path(out_dir).expanduser()
    for name, inp in inputs.items():
        if inp is None or str(inp) == "":
            continue
        ip = Path(inp).expanduser()
        if same_path(out, ip) or _inside(ip, out):
            raise ConfigError(f"{option} {out} holds {name} {ip}: writing it would destroy the input; "
                              f"choose another {option}")
        if ip.is_dir() and _inside(out, ip):
            raise ConfigError(f"{option} {out} lies inside {name} {ip}; choose a directory outside it")


def claim_output_dir(path: str | Path, kind: str, option: str, own_files: tuple[str, ...] = (),
                     mark: bool = True) -> Path:
    """Make ``path`` this command's output directory, or refuse it, before any work.

    Accepted: a missing or empty directory, one whose :data:`OUTPUT_MARKER` names ``kind``, or
    (outputs written before markers existed) one without a marker that holds one of ``own_files``
    (names relative to it). The marker is then written (``mark=False``: only checked, so that a
    failure before the first output leaves nothing behind). Refused with a :class:`ConfigError`: a
    file, a directory that cannot be written, another command's output (another kind) and a
    non-empty directory of someone else's files, which the command could overwrite.
    """
    p = Path(path).expanduser()
    check_output_dir(p, option)
    marker = p / OUTPUT_MARKER
    if marker.is_file():
        try:
            found = json.loads(marker.read_text(encoding="utf-8")).get("kind")
        except (ValueError, AttributeError, OSError):
            found = None
        if found != kind:
            raise ConfigError(f"{option} {p} is the output of another command ({found or 'unknown'}), not of "
                              f"{kind}; choose a new or empty directory")
    elif p.is_dir() and any(p.iterdir()) and not any((p / name).exists() for name in own_files):
        shown = ", ".join(sorted(c.name for c in p.iterdir())[:4])
        raise ConfigError(f"{option} {p} is a non-empty directory that is not an output of {kind} "
                          f"(holds {shown}, ...; no {OUTPUT_MARKER} file); its files could be overwritten: "
                          "choose a new or empty directory")
    if mark and not marker.is_file():
        p.mkdir(parents=True, exist_ok=True)
        write_json_atomic(marker, {"kind": kind})
    return p


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
            if Path(inp).expanduser().is_dir() and _inside(Path(out).expanduser(), Path(inp).expanduser()):
                raise ConfigError(f"{what} {out} lies inside {option} {inp}: writing it could destroy the input; "
                                  f"{fix}")


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

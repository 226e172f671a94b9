"""Atomic files, staged directories, locks and hashes: the one home of these helpers.

Files
    :func:`atomic_write` opens a temporary sibling; on success it is flushed, fsynced and renamed
    over the target (``os.replace``), so a reader sees the old content or the new one, never a
    torn file. :func:`write_text_atomic` and :func:`write_json_atomic` are the common cases.

Directories
    :func:`staged_dir` yields a temporary sibling directory; on success its files get the usual
    permissions, everything is fsynced and it is renamed into place (an old directory is moved
    aside first and deleted afterwards); on failure it is removed. :func:`dir_lock` serialises
    builders of one directory across processes; :func:`remove_stale` cleans what a killed build
    left behind (call it with the lock held).

Hashes
    :func:`sha256_file` streams a file; :func:`sha256_json` hashes canonical JSON (the bytes every
    cache key and fingerprint of the package is made of).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # pragma: no cover - non-POSIX: no locking
    fcntl = None  # type: ignore[assignment]

__all__ = ["atomic_write", "write_text_atomic", "write_json_atomic", "fsync_dir", "fsync_tree",
           "staged_dir", "dir_lock", "lock_file", "remove_stale", "sha256_file", "sha256_json",
           "json_text"]

_CHUNK = 1 << 20


# --------------------------------------------------------------------------- files
@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success fsync it and rename it over ``path``.

    If the body raises (or the process dies), ``path`` keeps its previous content and the
    temporary file is removed (or, after a kill, left as ``.<name>.*.tmp`` to be ignored). An
    :class:`OSError` that names no file (``write``/``fsync`` on a full disk) or only the temporary
    one is raised again naming ``path``, so the error line says which output could not be written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    binary = "b" in mode
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give outputs the usual permissions
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding,
                       newline=None if binary else "\n") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno is not None and (exc.filename is None or exc.filename == tmp):
            raise OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path)) from exc
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_write(path) as fh:
        fh.write(text)


def json_text(obj: object) -> str:
    """``obj`` as the package writes JSON files: indented, key-sorted, UTF-8, final newline."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json_atomic(path: str | Path, obj: object) -> None:
    """Write ``obj`` as indented, key-sorted JSON to ``path`` atomically."""
    write_text_atomic(path, json_text(obj))


# --------------------------------------------------------------------------- directories
def _umask() -> int:
    """The process umask, read without changing it (Linux); else via a set-and-restore."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_dir(path: str | Path) -> None:
    """fsync a directory entry (best effort: some file systems refuse it)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fsync_tree(root: str | Path) -> None:
    """fsync every file below ``root`` and the directories themselves (best effort for dirs)."""
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(dirpath)


def _publish(tmp: Path, final: Path) -> None:
    """Move a fully written ``tmp`` directory to ``final``, replacing what was there.

    ``final`` is either the old directory or the new one, never a partial one; after a kill
    between the two renames it is absent (and rebuilt on the next call). Permissions are set
    as for ordinary files (``mkdtemp``/``mkstemp`` create them private).
    """
    mask = _umask()
    for dirpath, _dirnames, filenames in os.walk(tmp):
        os.chmod(dirpath, 0o777 & ~mask)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o666 & ~mask)
    fsync_tree(tmp)
    if final.exists() or final.is_symlink():
        old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(final, old)
        os.rename(tmp, final)
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink()
    else:
        os.rename(tmp, final)
    fsync_dir(final.parent)


@contextlib.contextmanager
def staged_dir(final: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary directory beside ``final``; on success it replaces ``final``.

    The temporary sibling is ``.<name>.tmp-XXXXXXXX``. When the body returns, its files get the
    usual permissions (umask applied), every file and directory is fsynced, an existing
    ``final`` is renamed aside (``.<name>.old-XXXXXXXX``), the new directory renamed in, the old
    one deleted and the parent fsynced. When the body raises, the temporary directory is removed
    and ``final`` is untouched. Hold :func:`dir_lock` around it when several processes may build
    the same directory.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
        _publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_stale(final: str | Path) -> None:
    """Delete temporary/old siblings a killed :func:`staged_dir` of ``final`` left (hold the lock)."""
    final = Path(final)
    for pattern in (f".{final.name}.tmp-*", f".{final.name}.old-*"):
        for p in final.parent.glob(pattern):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)


def lock_file(fh: IO, *, blocking: bool = True) -> bool:
    """An exclusive advisory lock on the open file ``fh`` (released when it is closed).

    Returns ``False`` when ``blocking`` is false and another process holds the lock; ``True``
    otherwise (also on platforms without ``fcntl``, where it is a no-op).
    """
    if fcntl is None:  # pragma: no cover - non-POSIX
        return True
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def dir_lock(final: str | Path) -> Iterator[None]:
    """Exclusive inter-process lock for building ``final`` (the file ``.<name>.lock`` beside it).

    Blocks until the lock is free; a no-op where ``fcntl`` is missing.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(final.parent / f".{final.name}.lock", "a+b") as fh:
        lock_file(fh)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


# --------------------------------------------------------------------------- hashes
def sha256_file(path: str | Path) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_json(obj: object, *, compact: bool = True, ensure_ascii: bool = False,
                default: Any = None) -> str:
    """The hex sha256 of ``obj`` as key-sorted JSON, UTF-8 encoded.

    The default bytes are ``json.dumps(obj, sort_keys=True, ensure_ascii=False,
    separators=(",", ":"))``: the serialisation of every config fingerprint and cache key.
    ``compact=False`` keeps ``json``'s default separators and ``ensure_ascii``/``default`` are
    passed through, so an older key can be reproduced byte for byte (cache keys must not change).
    """
    text = json.dumps(obj, sort_keys=True, ensure_ascii=ensure_ascii, default=default,
                      separators=(",", ":") if compact else None)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

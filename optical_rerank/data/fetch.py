"""Get a pinned upstream file: local mirror, then cache, then download; always sha256-checked.

Resolution order for a :class:`~.registry.DataFile`:

1. **mirror** — ``$OPTICAL_RERANK_MIRROR/<owner>/<repo>/<commit>/<path>`` when the setting is
   given and the file is there;
2. **cache** — ``<cache>/data/<owner>/<repo>/<commit>/<path>`` (``<cache>`` is
   ``$OPTICAL_RERANK_CACHE``), filled by earlier downloads;
3. **download** — the pinned raw URL, streamed with :mod:`urllib` into a temporary file in the
   cache, then renamed into place once its sha256 checks out (:func:`optical_rerank.files.atomic_write`).

sha256 policy
-------------
* A file whose hash the project knows (:data:`._hashes.KNOWN_FILES`, from the mirror's
  ``MANIFEST.tsv``) must match it wherever it comes from. A mismatching mirror file is refused
  (:class:`~optical_rerank.errors.DataSourceError` naming both hashes, the file is never read);
  a mismatching cached file is deleted and downloaded again; a mismatching download is deleted
  before the error is raised, so nothing bad stays in the cache.
* A file whose hash is not known (languages and splits outside the mirror) is **accepted on
  first download and its sha256 recorded** in ``<file>.sha256`` next to the cached copy; every
  later use is checked against that record. Commit-pinned raw URLs are immutable, so this
  detects corruption and tampering after the first download, not before it. Cards mark such
  files ``"sha256_status": "recorded"`` instead of ``"pinned"``. A mirror file with no known
  hash is checked against the mirror's own ``MANIFEST.tsv`` when it lists the file.

Offline use
-----------
``OPTICAL_RERANK_OFFLINE=1`` disables downloads. A file that is neither mirrored nor cached then
raises :class:`MissingDataError` (a :class:`DataSourceError`) whose message starts with the URL.
``OPTICAL_RERANK_RAW_BASE`` replaces ``https://raw.githubusercontent.com`` for downloads (a proxy or
an internal mirror serving the same ``<owner>/<repo>/<commit>/<path>`` layout); cards and
messages still name the canonical URL.
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataSourceError, InputFormatError
from ..files import atomic_write, write_text_atomic
from ..files import sha256_file as _sha256_file
from ..paths import CACHE_ENV, MIRROR_ENV, cache_dir, mirror_dir
from ..trec_io import iter_lines
from .registry import RAW_URL, DataFile

OFFLINE_ENV = "OPTICAL_RERANK_OFFLINE"
RAW_BASE_ENV = "OPTICAL_RERANK_RAW_BASE"
DOWNLOAD_TIMEOUT_S = 60.0
_CHUNK = 1 << 20


class MissingDataError(DataSourceError):
    """A pinned file is neither in the mirror nor in the cache, and could not be downloaded."""

    def __init__(self, file: DataFile, message: str):
        self.file = file
        self.url = file.url
        super().__init__(message)


@dataclass(frozen=True)
class FetchedFile:
    """A resolved file: where it is on disk, its sha256 and whether that hash was pinned."""

    file: DataFile
    path: Path
    sha256: str
    sha256_status: str  # "pinned" (known in advance) or "recorded" (accepted on first download)
    origin: str  # "mirror", "cache" or "download"


# --------------------------------------------------------------------------- settings
def offline() -> bool:
    """Whether downloads are disabled (``$OPTICAL_RERANK_OFFLINE`` is set to a true value)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def download_url(file: DataFile) -> str:
    """The URL actually downloaded: the pinned raw URL, under ``$OPTICAL_RERANK_RAW_BASE`` if set."""
    base = os.environ.get(RAW_BASE_ENV, "").strip().rstrip("/") or RAW_URL
    return f"{base}/{file.relpath}"


def mirror_path(file: DataFile) -> Path | None:
    """Where the file would be in the configured mirror, or ``None`` without a mirror setting."""
    root = mirror_dir()
    return root / file.relpath if root is not None else None


def cache_path(file: DataFile) -> Path:
    """Where a downloaded copy of the file lives in the cache."""
    return cache_dir() / "data" / file.relpath


def file_status(file: DataFile) -> str:
    """``"mirror"``, ``"cache"`` or ``"missing"`` (presence only; hashes are checked on use)."""
    mp = mirror_path(file)
    if mp is not None and mp.is_file():
        return "mirror"
    if cache_path(file).is_file():
        return "cache"
    return "missing"


# --------------------------------------------------------------------------- hashing
_HASH_MEMO: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | Path) -> str:
    """The hex sha256 of a file (memoised per path, size and mtime within a process)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key in _HASH_MEMO:
        return _HASH_MEMO[key]
    digest = _sha256_file(path)
    _HASH_MEMO[key] = digest
    return digest


_MANIFEST_MEMO: dict[tuple[str, int], dict[str, str]] = {}


def _mirror_manifest_sha(root: Path, file: DataFile) -> str | None:
    """The sha256 the mirror's own ``MANIFEST.tsv`` lists for ``file``, if any."""
    manifest = root / "MANIFEST.tsv"
    if not manifest.is_file():
        return None
    key = (str(manifest), manifest.stat().st_mtime_ns)
    table = _MANIFEST_MEMO.get(key)
    if table is None:
        table = {}
        with open(manifest, encoding="utf-8") as fh:
            for line in fh:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 5 and parts[0] != "repo":
                    table[f"{parts[0]}/{parts[1]}/{parts[2]}"] = parts[4].lower()
        _MANIFEST_MEMO[key] = table
    return table.get(file.relpath)


def _mismatch(file: DataFile, where: str, expected: str, actual: str) -> str:
    return (f"{file.url}: sha256 mismatch for {where}: expected {expected}, found {actual}; "
            "the file was refused")


# --------------------------------------------------------------------------- resolution
def fetch(file: DataFile, *, timeout: float = DOWNLOAD_TIMEOUT_S) -> FetchedFile:
    """Resolve ``file`` to a verified local copy (mirror → cache → download; see the module doc).

    Raises
    ------
    DataSourceError
        On a sha256 mismatch (the file is never used).
    MissingDataError
        When the file is not mirrored or cached and cannot be downloaded; the message starts
        with the pinned URL.
    """
    known = file.sha256
    root = mirror_dir()
    if root is not None:
        mp = root / file.relpath
        if mp.is_file():
            actual = sha256_file(mp)
            expected = known or _mirror_manifest_sha(root, file)
            if expected is not None and actual != expected:
                raise DataSourceError(_mismatch(file, f"the mirror copy {mp}", expected, actual))
            status = "pinned" if known else "recorded"
            return FetchedFile(file, mp, actual, status, "mirror")

    cp = cache_path(file)
    record = cp.with_name(cp.name + ".sha256")
    if cp.is_file():
        actual = sha256_file(cp)
        expected = known or _read_record(record)
        if expected is None or actual == expected:
            if expected is None:  # cached by hand or an interrupted record: record it now
                _write_record(record, actual)
            return FetchedFile(file, cp, actual, "pinned" if known else "recorded", "cache")
        with contextlib.suppress(FileNotFoundError):  # corrupted cache entry: never use it
            cp.unlink()
        if not known:
            with contextlib.suppress(FileNotFoundError):
                record.unlink()

    digest = _download(file, cp, known, timeout)
    if not known:
        _write_record(record, digest)
    return FetchedFile(file, cp, digest, "pinned" if known else "recorded", "download")


def _read_record(record: Path) -> str | None:
    try:
        value = record.read_text(encoding="ascii").split()[0].lower()
    except (FileNotFoundError, IndexError, UnicodeDecodeError):
        return None
    return value if len(value) == 64 else None


def _write_record(record: Path, digest: str) -> None:
    write_text_atomic(record, f"{digest}\n")


def _not_available(file: DataFile, reason: str) -> MissingDataError:
    mp = mirror_path(file)
    where_mirror = f"not in the data mirror ({mp})" if mp is not None else f"no data mirror (${MIRROR_ENV} is not set)"
    return MissingDataError(file, f"{file.url} is not available: {where_mirror}, not in the cache "
                                  f"({cache_path(file)}; ${CACHE_ENV}), and {reason}")


def _download(file: DataFile, dest: Path, expected: str | None, timeout: float) -> str:
    if offline():
        raise _not_available(file, f"downloads are disabled (${OFFLINE_ENV}={os.environ.get(OFFLINE_ENV)})")
    url = download_url(file)
    h = hashlib.sha256()
    # streamed into a temporary sibling, renamed over dest only when complete and checked
    with atomic_write(dest, "wb") as out:
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "optical_rerank-data"})
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                for chunk in iter(lambda: resp.read(_CHUNK), b""):
                    h.update(chunk)
                    out.write(chunk)
        except urllib.error.HTTPError as exc:
            raise _not_available(file, f"downloading {url} failed: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise _not_available(file, f"downloading {url} failed: {reason}") from None
        digest = h.hexdigest()
        if expected is not None and digest != expected:
            raise DataSourceError(_mismatch(file, f"the download from {url}", expected, digest)
                                  + " and deleted")
    return digest


# --------------------------------------------------------------------------- readers
def read_text_lines(path: str | Path) -> list[str]:
    """All lines of a UTF-8 text file, **blank lines kept** (line-aligned corpora), ends stripped.

    A BOM is removed; the empty string after a final newline is not a line. Invalid UTF-8 is an
    :class:`InputFormatError` naming ``file:line``.
    """
    return [line for _, line in iter_lines(path, keep_blank=True)]


def read_json_file(path: str | Path) -> object:
    """Parse a whole-file JSON document; errors name the file and line."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8-sig") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise InputFormatError(path, exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    except UnicodeDecodeError as exc:
        raise InputFormatError(path, None, f"invalid UTF-8 at byte {exc.start}") from None


# --------------------------------------------------------------------------- bookkeeping
class Fetcher:
    """Fetch files for one build and remember them for its card.

    Parameters
    ----------
    skip_missing : when true, :meth:`get_optional` returns ``None`` (and records the URL) for a
        file that is not available, instead of raising :class:`MissingDataError`. Hash
        mismatches are never skipped.
    """

    def __init__(self, *, skip_missing: bool = False):
        self.skip_missing = skip_missing
        self._used: dict[str, FetchedFile] = {}
        self.skipped: list[dict[str, str]] = []

    def get(self, file: DataFile) -> Path:
        """The verified local path of ``file`` (raises when it is unavailable)."""
        got = self._used.get(file.relpath)
        if got is None:
            got = fetch(file)
            self._used[file.relpath] = got
        return got.path

    def get_optional(self, file: DataFile, what: str) -> Path | None:
        """Like :meth:`get`; with ``skip_missing`` a missing file is recorded and ``None`` returned."""
        try:
            return self.get(file)
        except MissingDataError as exc:
            if not self.skip_missing:
                raise
            self.skipped.append({"what": what, "url": exc.url})
            return None

    def card_files(self) -> list[dict[str, object]]:
        """The files used, for a card: URL, repo, commit, path, bytes, sha256 and its status."""
        rows = []
        for got in sorted(self._used.values(), key=lambda g: g.file.url):
            rows.append({
                "url": got.file.url, "repo": got.file.repo, "commit": got.file.commit,
                "path": got.file.path, "bytes": got.path.stat().st_size, "sha256": got.sha256,
                "sha256_status": got.sha256_status,
            })
        return rows

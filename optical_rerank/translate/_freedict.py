"""FreeDict dictionaries as Debian installs them (dictd format: ``NAME.index`` + ``NAME.dict.dz``)."""
from __future__ import annotations

import gzip
import re
from pathlib import Path

from ..errors import ConfigError, InputFormatError
from ._tokens import tokenize

#: language -> (Debian package, dictd base path)
FREEDICT: dict[str, tuple[str, str]] = {
    "swa": ("dict-freedict-swh-eng", "/usr/share/dictd/freedict-swh-eng"),
}
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _b64(value: str) -> int:
    n = 0
    for ch in value:
        pos = _B64.find(ch)
        if pos < 0:
            raise ValueError(f"bad dictd number {value!r}")
        n = n * 64 + pos
    return n


def freedict_paths(lang: str) -> tuple[Path, Path] | None:
    """``(index, dict.dz)`` of the FreeDict dictionary of ``lang`` when installed, else None."""
    if lang not in FREEDICT:
        return None
    base = FREEDICT[lang][1]
    index, data = Path(base + ".index"), Path(base + ".dict.dz")
    return (index, data) if index.is_file() and data.is_file() else None


def _gloss_words(entry: str, max_words: int) -> list[str]:
    """The words of an entry's first sense: the first definition line, up to its first , or ;."""
    lines = entry.split("\n")
    body = [ln.strip() for ln in lines[1:] if ln.strip()]
    if not body:
        return []
    first = re.split(r"[,;]", body[0])[0]
    first = re.sub(r"\([^)]*\)", " ", first)  # "(paternal) uncle" -> "uncle"
    return tokenize(first)[:max_words]


def read_freedict(index: str | Path, data: str | Path, max_words: int = 3) -> dict[str, list[str]]:
    """``{headword (tokenised, space-joined): English words of its first sense}`` of a dictd pair.

    Entries of the dictd header (``00database...``) are skipped; a headword listed twice keeps
    its first entry.
    """
    raw = gzip.open(data).read()
    out: dict[str, list[str]] = {}
    for lineno, line in enumerate(Path(index).read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split("\t")
        if len(parts) != 3:
            raise InputFormatError(index, lineno, "expected headword<TAB>offset<TAB>length")
        head, off, length = parts
        if head.startswith("00database") or head.startswith("00-database"):
            continue
        try:
            start, size = _b64(off), _b64(length)
        except ValueError as exc:
            raise InputFormatError(index, lineno, str(exc)) from None
        key = " ".join(tokenize(head))
        words = _gloss_words(raw[start:start + size].decode("utf-8", errors="replace"), max_words)
        if key and words and key not in out:
            out[key] = words
    return out


def load_freedict(lang: str, max_words: int = 3) -> dict[str, list[str]]:
    """The FreeDict dictionary of ``lang`` (:data:`FREEDICT`); its Debian package missing is a ConfigError naming it."""
    if lang not in FREEDICT:
        raise ConfigError(f"no FreeDict dictionary is known for {lang!r}; known: {', '.join(FREEDICT)}")
    paths = freedict_paths(lang)
    if paths is None:
        package, base = FREEDICT[lang]
        raise ConfigError(f"the FreeDict dictionary for {lang} is not installed ({base}.index / .dict.dz): "
                          f"install the Debian package {package} (apt-get install {package})")
    return read_freedict(*paths, max_words=max_words)

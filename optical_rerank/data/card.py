"""What every prepared set has: its card (``card.json``), its staged output directory, option parsing.

The set builders (:mod:`.afriqa`, :mod:`.trec_dl`, ...) import from here, and
:mod:`.prepare` imports the builders: no import circle.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..files import staged_dir, write_json_atomic
from .fetch import Fetcher
from .registry import Source

__all__ = ["CARD", "CARD_VERSION", "PreparedSet", "make_card", "staged_output", "write_card", "split_list"]

CARD = "card.json"
CARD_VERSION = 1


@dataclass(frozen=True)
class PreparedSet:
    """What a builder produced: the output directory and its card (also in ``card.json``)."""

    name: str
    out_dir: Path
    card: Mapping[str, object]


def make_card(name: str, *, description: str, fetcher: Fetcher, sources: Iterable[Source],
              outputs: Mapping[str, object], counts: Mapping[str, object],
              dropped: Mapping[str, object], notes: Iterable[str] = (),
              options: Mapping[str, object] | None = None,
              extra: Mapping[str, object] | None = None) -> dict:
    """The JSON card of a prepared set (deterministic: no timestamps, no local paths)."""
    srcs = list(sources)
    card = {
        "card_version": CARD_VERSION,
        "name": name,
        "description": description,
        "options": dict(options or {}),
        "sources": [{"name": s.name, "title": s.title, "repo": s.repo, "commit": s.commit,
                     "licence": s.licence, "citation": s.citation, "homepage": s.homepage}
                    for s in srcs],
        "licence": "; ".join(f"{s.name}: {s.licence}" for s in srcs),
        "citation": [s.citation for s in srcs],
        "files": fetcher.card_files(),
        "skipped_missing": list(fetcher.skipped),
        "outputs": dict(outputs),
        "counts": dict(counts),
        "dropped": dict(dropped),
        "notes": list(notes),
    }
    if any(f["sha256_status"] == "recorded" for f in card["files"]):
        card["notes"].append("Files with sha256_status 'recorded' have no hash known to the project: "
                             "they were accepted on first download and their sha256 recorded here "
                             "and in the cache.")
    if fetcher.skipped:
        card["notes"].append(f"{len(fetcher.skipped)} upstream file(s) were not available and were "
                             "skipped (--skip-missing): see skipped_missing. This set is incomplete.")
    if extra:
        card.update(extra)
    return card


@contextlib.contextmanager
def staged_output(out_dir: str | Path) -> Iterator[Path]:
    """Yield a temporary directory beside ``out_dir``; on success it replaces ``out_dir``.

    Refuses (``ConfigError``) an ``out_dir`` that is a file, or a non-empty directory without a
    ``card.json`` (something that is not a prepared set, which must not be clobbered). The
    staging is :func:`optical_rerank.files.staged_dir`: fsynced, renamed into place, removed on
    failure (a previous set stays intact until the new one replaces it).
    """
    out = Path(out_dir).expanduser()
    if out.exists():
        if not out.is_dir():
            raise ConfigError(f"--out {out} exists and is not a directory")
        if any(out.iterdir()) and not (out / CARD).is_file():
            raise ConfigError(f"--out {out} is not empty and holds no {CARD}: it is not a prepared set; "
                              "choose an empty or new directory")
    with staged_dir(out) as tmp:
        yield tmp


def write_card(out_dir: Path, card: Mapping[str, object]) -> None:
    """Write ``card.json`` atomically."""
    write_json_atomic(Path(out_dir) / CARD, card)


def split_list(value: str | Iterable[str] | None) -> list[str] | None:
    """``"a,b c"`` or an iterable -> ``["a", "b", "c"]``; ``None``/``"all"`` -> ``None`` (= all)."""
    if value is None:
        return None
    items = value.replace(",", " ").split() if isinstance(value, str) else [
        x for v in value for x in v.replace(",", " ").split()]
    if not items or items == ["all"]:
        return None
    return items

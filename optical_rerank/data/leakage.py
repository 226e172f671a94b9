"""Leakage guard: keep evaluation queries out of training data.

A training pair (bitext ``x``/``en``, or any text pair) *leaks* when either side equals an
evaluation query after :func:`normalize_text`: Unicode NFKC, case folding, every punctuation
character (Unicode category ``P*``) removed, whitespace collapsed. ``"Who is the President of
Ghana?"`` and ``"who is the president of ghana"`` are the same query.

Use :class:`LeakageGuard` to collect evaluation texts (topics files, or texts directly) and
:meth:`LeakageGuard.filter` / :func:`filter_leakage` to drop leaking pairs; both report how many
were dropped and from which source.
"""
from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from ..trec_io import read_topics


def normalize_text(text: str) -> str:
    """NFKC, casefold, strip punctuation (Unicode ``P*``), collapse whitespace.

    >>> normalize_text("  Who is the President\\tof Ghana? ")
    'who is the president of ghana'
    """
    t = unicodedata.normalize("NFKC", text).casefold()
    t = "".join(" " if unicodedata.category(c).startswith("P") else c for c in t)
    return " ".join(t.split())


class _Pair(Protocol):
    x: str
    en: str


P = TypeVar("P")


@dataclass(frozen=True)
class LeakageReport:
    """What a leakage filter did.

    ``checked`` pairs were tested against ``guard_size`` normalised evaluation texts from
    ``guard_origins``; ``dropped`` of them matched (``dropped_by_source`` splits that count by
    the pairs' ``source`` attribute, ``"-"`` where there is none).
    """

    checked: int
    kept: int
    dropped: int
    guard_size: int
    guard_origins: tuple[str, ...]
    dropped_by_source: Mapping[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        """JSON-ready form for cards."""
        return {"checked": self.checked, "kept": self.kept, "dropped": self.dropped,
                "guard_size": self.guard_size, "guard_origins": list(self.guard_origins),
                "dropped_by_source": dict(sorted(self.dropped_by_source.items()))}


class LeakageGuard:
    """A set of normalised evaluation texts that training pairs must not contain.

    Examples
    --------
    >>> guard = LeakageGuard()
    >>> guard.add_texts(["Who is the president of Ghana?"], origin="afriqa test")
    1
    >>> guard.matches("who is the President of Ghana")
    True
    """

    def __init__(self) -> None:
        self._texts: set[str] = set()
        self._origins: list[str] = []

    def __len__(self) -> int:
        return len(self._texts)

    def __contains__(self, text: object) -> bool:
        return isinstance(text, str) and self.matches(text)

    @property
    def origins(self) -> tuple[str, ...]:
        """Where the guarded texts came from (file paths or labels), in the order added."""
        return tuple(self._origins)

    def add_texts(self, texts: Iterable[str], origin: str) -> int:
        """Guard ``texts``; returns how many new normalised texts were added.

        Texts that normalise to the empty string (punctuation only) are ignored: they would
        match every empty side, which the bitext cleaner drops anyway.
        """
        before = len(self._texts)
        for text in texts:
            norm = normalize_text(text)
            if norm:
                self._texts.add(norm)
        if origin not in self._origins:
            self._origins.append(origin)
        return len(self._texts) - before

    def add_topics_file(self, path: str | Path) -> int:
        """Guard every query of a ``qid<TAB>text`` topics file (strictly parsed)."""
        return self.add_texts((q.text for q in read_topics(path)), origin=str(path))

    @classmethod
    def from_topics_files(cls, paths: Iterable[str | Path]) -> LeakageGuard:
        """A guard holding the queries of every topics file in ``paths``."""
        guard = cls()
        for path in paths:
            guard.add_topics_file(path)
        return guard

    def matches(self, text: str) -> bool:
        """Whether ``text`` equals a guarded evaluation text after normalisation."""
        return normalize_text(text) in self._texts

    def leaks(self, pair: object) -> bool:
        """Whether either side of ``pair`` (``.x``/``.en`` or a 2+-tuple) is guarded."""
        x, en = _sides(pair)
        return self.matches(x) or self.matches(en)

    def filter(self, pairs: Iterable[P]) -> tuple[list[P], LeakageReport]:
        """Drop every leaking pair; returns ``(kept, report)``. Order is preserved."""
        kept: list[P] = []
        dropped: Counter[str] = Counter()
        checked = 0
        for pair in pairs:
            checked += 1
            if self.leaks(pair):
                dropped[str(getattr(pair, "source", "-"))] += 1
            else:
                kept.append(pair)
        report = LeakageReport(checked, len(kept), sum(dropped.values()), len(self._texts),
                               self.origins, dict(dropped))
        return kept, report


def _sides(pair: object) -> tuple[str, str]:
    if hasattr(pair, "x") and hasattr(pair, "en"):
        return pair.x, pair.en  # type: ignore[attr-defined]
    if isinstance(pair, Sequence) and not isinstance(pair, str) and len(pair) >= 2:
        return str(pair[0]), str(pair[1])
    raise TypeError(f"a pair needs .x and .en (or be a (x, en, ...) tuple), got {type(pair).__name__}")


def filter_leakage(pairs: Iterable[P], topics_files: Iterable[str | Path] = (), *,
                   guard: LeakageGuard | None = None) -> tuple[list[P], LeakageReport]:
    """Drop pairs whose foreign or English side matches a query of ``topics_files``.

    Parameters
    ----------
    pairs : objects with ``.x`` and ``.en`` (e.g. :class:`~.bitext.BitextPair`) or ``(x, en, ...)``
        tuples.
    topics_files : ``qid<TAB>text`` evaluation topics files.
    guard : an existing guard to extend (it is modified); a new one when ``None``.

    Returns
    -------
    (kept, report) : the non-leaking pairs in order and a :class:`LeakageReport`.
    """
    guard = guard if guard is not None else LeakageGuard()
    for path in topics_files:
        guard.add_topics_file(path)
    return guard.filter(pairs)

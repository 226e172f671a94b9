"""Training data of distillation: bitext pairs, English context passages, the items a run trains
on (leakage guard, contexts, dev split) and the order they are drawn in (a pure function of the
seed and the step)."""
from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.bitext import read_bitext
from ..data.leakage import LeakageGuard
from ..errors import ConfigError, InputFormatError
from ..files import sha256_json
from ..trec_io import iter_lines
from ._config import DistillConfig


@dataclass(frozen=True)
class LangPair:
    """A bitext pair with its language group (used by ``sampling="language"``).

    ``x`` is the foreign text, ``en`` its English translation, ``source`` where it came from and
    ``lang`` the language key (any :class:`~optical_rerank.data.bitext.BitextPair` or
    ``(x, en[, source[, lang]])`` tuple is accepted where pairs are expected; without ``lang`` the
    group is the source).
    """

    x: str
    en: str
    source: str = "-"
    lang: str = "-"


@dataclass(frozen=True)
class Item:
    x: str
    en: str
    group: str
    source: str = "-"
    contexts: tuple[str, ...] = ()


def _context_key(text: str) -> str:
    return " ".join(text.split())


def _as_items(pairs: Iterable[Any], what: str) -> list[Item]:
    items: list[Item] = []
    for i, p in enumerate(pairs):
        if hasattr(p, "x") and hasattr(p, "en"):
            x, en = p.x, p.en
            source = str(getattr(p, "source", None) or "-")
            group = getattr(p, "lang", None) or getattr(p, "language", None) or source
        elif isinstance(p, Sequence) and not isinstance(p, str) and 2 <= len(p) <= 4:
            x, en = p[0], p[1]
            source = str(p[2]) if len(p) > 2 and p[2] else "-"
            group = (p[3] if len(p) > 3 else None) or source
        else:
            raise ConfigError(f"{what} pair {i}: expected an object with .x/.en or an (x, en[, source[, lang]]) "
                              f"tuple, got {type(p).__name__}")
        if not isinstance(x, str) or not isinstance(en, str) or not x.strip() or not en.strip():
            raise ConfigError(f"{what} pair {i}: both sides must be non-empty strings, got {x!r} / {en!r}")
        items.append(Item(" ".join(x.split()), " ".join(en.split()), str(group), source))
    return items


def read_bitext_files(paths: Sequence[str | Path]) -> list[LangPair]:
    """Read ``x<TAB>en<TAB>source`` bitext files into :class:`LangPair` s.

    The language of every pair is taken from its file name: ``bitext.<lang>.tsv`` (what
    ``prepare bitext`` writes) gives ``<lang>``, any other name its stem.
    """
    out: list[LangPair] = []
    for path in paths:
        p = Path(path)
        m = re.fullmatch(r"bitext\.(.+)\.tsv", p.name)
        lang = m.group(1) if m else p.stem
        out.extend(LangPair(b.x, b.en, b.source, lang) for b in read_bitext(p))
    return out


def read_passages(path: str | Path) -> dict[str, list[str]]:
    """Read English context texts for in-context distillation, keyed by the English side.

    Formats
    -------
    ``*.jsonl``: one object per line, ``{"en": "...", "passages": ["...", ...]}`` (or a single
    ``"passage"``/``"text"`` string; lines with the same ``en`` accumulate).
    anything else: TSV ``en<TAB>passage`` lines (lines with the same ``en`` accumulate).

    Keys are the English side with whitespace collapsed (bitext files are stored that way).

    Raises
    ------
    InputFormatError
        Naming ``file:line``.
    """
    path = Path(path)
    out: dict[str, list[str]] = {}
    jsonl = path.suffix.lower() in (".jsonl", ".json")
    for lineno, line in iter_lines(path):
        if jsonl:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputFormatError(path, lineno, f"invalid JSON: {exc.msg}") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("en"), str):
                raise InputFormatError(path, lineno, 'expected an object with a string "en" field')
            if "passages" in obj:
                ps = obj["passages"]
                if not isinstance(ps, list) or not all(isinstance(s, str) for s in ps):
                    raise InputFormatError(path, lineno, '"passages" must be a list of strings')
            elif isinstance(obj.get("passage"), str) or isinstance(obj.get("text"), str):
                ps = [obj["passage"] if isinstance(obj.get("passage"), str) else obj["text"]]
            else:
                raise InputFormatError(path, lineno, 'expected "passages" (list) or "passage"/"text" (string)')
            en = obj["en"]
        else:
            parts = line.split("\t")
            if len(parts) != 2:
                raise InputFormatError(path, lineno, f"expected 2 tab-separated columns (en, passage), found {len(parts)}")
            en, ps = parts[0], [parts[1]]
        key = _context_key(en)
        if not key:
            raise InputFormatError(path, lineno, "empty English side")
        ps = [" ".join(s.split()) for s in ps]
        ps = [s for s in ps if s]
        if not ps:
            raise InputFormatError(path, lineno, f"no non-empty passage for {key[:60]!r}")
        out.setdefault(key, []).extend(ps)
    if not out:
        raise InputFormatError(path, None, "no passages in file")
    return out



def prepare_data(config: DistillConfig, bitext_pairs: Iterable[Any], dev_pairs: Iterable[Any] | None,
                 passages: Mapping[str, Sequence[str]] | Sequence[Sequence[str]] | None,
                 say: Callable[[str], None]) -> tuple[list[Item], list[Item], dict[str, Any] | None]:
    """Items for training and dev: leakage guard, contexts attached (pairs without any dropped), dev split."""
    train = _as_items(bitext_pairs, "bitext")
    dev = _as_items(dev_pairs, "dev") if dev_pairs is not None else []
    if not train:
        raise ConfigError("no bitext pairs to train on")

    # contexts aligned with the bitext list are attached before anything reorders it
    ctx_map: Mapping[str, Sequence[str]] | None = None
    if config.in_context:
        if passages is None:
            raise ConfigError("in_context=True needs passages (--passages FILE): English context texts per pair")
        if isinstance(passages, Mapping):
            ctx_map = {_context_key(k): v for k, v in passages.items()}
        else:
            passages = list(passages)
            if len(passages) != len(train):
                raise ConfigError(f"passages given as a list must align with the bitext: {len(passages)} lists for "
                                  f"{len(train)} pairs")
            if dev_pairs is not None:
                raise ConfigError("with explicit dev pairs, give passages as a mapping keyed by the English side")
            train = [dataclasses.replace(it, contexts=tuple(" ".join(s.split()) for s in ps if s and s.strip()))
                     for it, ps in zip(train, passages)]
    elif passages is not None:
        raise ConfigError("passages were given but in_context=False; set in_context (--in-context) to use them")

    leakage = None
    if config.eval_topics:
        guard = LeakageGuard.from_topics_files(config.eval_topics)
        kept, report = guard.filter(train)
        dev_kept, dev_report = guard.filter(dev)
        leakage = {"train": report.as_dict(), "dev": dev_report.as_dict()}
        dropped = report.dropped + dev_report.dropped
        if dropped:
            leaking = [it for it in train + dev if guard.leaks(it)][:3]
            examples = "; ".join(f"{it.x[:50]!r} / {it.en[:50]!r}" for it in leaking)
            if config.strict_leakage:
                raise ConfigError(f"{dropped} bitext pair(s) ({report.dropped} train, {dev_report.dropped} dev) "
                                  f"match evaluation queries of {', '.join(config.eval_topics)} (e.g. {examples}); "
                                  "remove them from the bitext, or drop them automatically without --strict-leakage")
            say(f"leakage guard: dropped {report.dropped} train and {dev_report.dropped} dev pair(s) matching "
                f"evaluation queries ({len(guard)} guarded texts from {len(config.eval_topics)} file(s))")
        else:
            say(f"leakage guard: no bitext pair matches the {len(guard)} evaluation queries")
        train, dev = kept, dev_kept

    if ctx_map is not None:
        def attach(items: list[Item], what: str) -> list[Item]:
            out = []
            for it in items:
                ps = ctx_map.get(_context_key(it.en))
                ps = tuple(" ".join(s.split()) for s in ps if s and s.strip()) if ps else ()
                if ps:
                    out.append(dataclasses.replace(it, contexts=ps))
            if len(out) < len(items):
                say(f"in-context: {len(items) - len(out)} of {len(items)} {what} pair(s) have no passage and are skipped")
            return out
        train, dev = attach(train, "train"), attach(dev, "dev")
    elif config.in_context:
        n0 = len(train)
        train = [it for it in train if it.contexts]
        if len(train) < n0:
            say(f"in-context: {n0 - len(train)} of {n0} train pair(s) have no passage and are skipped")
        dev = [it for it in dev if it.contexts]
    if dev_pairs is None and config.dev_size > 0:
        if config.dev_size >= len(train):
            raise ConfigError(f"dev_size={config.dev_size} leaves no training pairs (only {len(train)} usable pairs)")
        perm = np.random.default_rng([config.seed, 6]).permutation(len(train))
        dev_idx = set(perm[:config.dev_size].tolist())
        dev = [it for i, it in enumerate(train) if i in dev_idx]
        train = [it for i, it in enumerate(train) if i not in dev_idx]
    if not train:
        raise ConfigError("no training pairs left after leakage filtering / context matching")
    return train, dev, leakage


def data_fingerprint(train: Sequence[Item], dev: Sequence[Item]) -> str:
    """sha256 of the items a run trains and evaluates on (resuming needs the same data)."""
    return sha256_json({"train": [[i.x, i.en, i.group, i.source, list(i.contexts)] for i in train],
                        "dev": [[i.x, i.en, i.group, i.source, list(i.contexts)] for i in dev]})


class Sampler:
    """Pair index of global sample ``k`` as a pure function of ``(seed, k)``."""

    def __init__(self, groups: Sequence[str], seed: int, mode: str):
        self.seed, self.mode, self.n = seed, mode, len(groups)
        names = sorted(set(groups))
        self.names = names
        self.members = [np.array([i for i, g in enumerate(groups) if g == name], dtype=np.int64) for name in names]
        self._cache: dict[tuple, np.ndarray] = {}

    def _perm(self, key: tuple[int, ...], n: int) -> np.ndarray:
        p = self._cache.get(key)
        if p is None:
            if len(self._cache) > 64:
                self._cache.clear()
            p = np.random.default_rng([self.seed, *key]).permutation(n)
            self._cache[key] = p
        return p

    def index(self, k: int) -> int:
        if self.mode == "uniform":
            epoch, pos = divmod(k, self.n)
            return int(self._perm((1, epoch), self.n)[pos])
        G = len(self.names)
        cycle, j = divmod(k, G)
        g = int(self._perm((2, cycle), G)[j])
        members = self.members[g]
        epoch, pos = divmod(cycle, len(members))
        return int(members[self._perm((3, g, epoch), len(members))[pos]])

    def batch(self, step: int, batch_size: int) -> list[int]:
        return [self.index(step * batch_size + i) for i in range(batch_size)]


def context_choice(seed: int, k: int, n: int) -> int:
    """Which of ``n`` contexts global sample ``k`` reads (a pure function of ``(seed, k)``)."""
    return 0 if n == 1 else int(np.random.default_rng([seed, 4, k]).integers(n))

"""IBM Model 1 by EM (numpy), English generated from the foreign sentence plus NULL."""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InputFormatError
from ..files import write_json_atomic
from ._tokens import tokenize

NULL = "<null>"


@dataclass(frozen=True)
class WordTable:
    """``t(e|f)``: for each foreign word its best English words, most probable first.

    ``counts`` holds how often each foreign word occurs in the bitext; ``meta`` the training
    settings and data (iterations, pairs, vocabulary sizes).
    """

    table: Mapping[str, tuple[tuple[str, float], ...]]
    counts: Mapping[str, int] = field(default_factory=dict)
    meta: Mapping[str, object] = field(default_factory=dict)

    def best(self, word: str, min_count: int = 1) -> str | None:
        """The most probable English word of ``word`` (None if unseen or seen less than ``min_count`` times)."""
        options = self.table.get(word)
        if not options or self.counts.get(word, 0) < min_count:
            return None
        return options[0][0]

    def save(self, path: str | Path) -> None:
        write_json_atomic(path, {"meta": dict(self.meta), "counts": dict(self.counts),
                                 "table": {f: [[e, p] for e, p in opts] for f, opts in self.table.items()}})

    @staticmethod
    def load(path: str | Path) -> WordTable:
        try:
            obj = json.loads(Path(path).read_text(encoding="utf-8"))
            table = {f: tuple((str(e), float(p)) for e, p in opts) for f, opts in obj["table"].items()}
            return WordTable(table, {k: int(v) for k, v in obj["counts"].items()}, obj.get("meta", {}))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputFormatError(path, None, f"not a word table: {exc}") from None


def train_ibm1(pairs: Iterable[tuple[str, str]], iterations: int = 10, keep: int = 3) -> WordTable:
    """Train IBM Model 1 on ``(foreign, english)`` sentence pairs; keep the ``keep`` best English words per foreign word.

    Every English token is aligned to one foreign token of its sentence or to NULL; EM starts
    from uniform ``t(e|f)`` over co-occurring words and runs ``iterations`` times (the expected
    counts of all pairs at once: one ``bincount`` per E and M step).
    """
    if iterations < 1 or keep < 1:
        raise ConfigError(f"iterations and keep must be >= 1, got {iterations}, {keep}")
    f_vocab: dict[str, int] = {NULL: 0}
    e_vocab: dict[str, int] = {}
    f_counts: dict[str, int] = {}
    sent_f: list[np.ndarray] = []
    sent_e: list[np.ndarray] = []
    for foreign, english in pairs:
        ft, et = tokenize(foreign), tokenize(english)
        if not ft or not et:
            continue
        for w in ft:
            f_counts[w] = f_counts.get(w, 0) + 1
        sent_f.append(np.array([0] + [f_vocab.setdefault(w, len(f_vocab)) for w in ft], dtype=np.int64))
        sent_e.append(np.array([e_vocab.setdefault(w, len(e_vocab)) for w in et], dtype=np.int64))
    if not sent_f:
        raise ConfigError("IBM Model 1 needs at least one sentence pair with words on both sides")
    # every (sentence, English position, foreign position) as a (f, e) pair id and an English-token group
    fs, es, groups = [], [], []
    g = 0
    for f_ids, e_ids in zip(sent_f, sent_e):
        fs.append(np.tile(f_ids, len(e_ids)))
        es.append(np.repeat(e_ids, len(f_ids)))
        groups.append(np.repeat(np.arange(g, g + len(e_ids)), len(f_ids)))
        g += len(e_ids)
    f_all, e_all, group = np.concatenate(fs), np.concatenate(es), np.concatenate(groups)
    n_e = len(e_vocab)
    pair_code = f_all * n_e + e_all
    codes, pair = np.unique(pair_code, return_inverse=True)
    pair_f = codes // n_e
    t = np.ones(len(codes), dtype=np.float64)
    t /= np.bincount(pair_f, weights=t)[pair_f]  # uniform over the English words seen with each f
    for _ in range(iterations):
        w = t[pair]
        delta = w / np.bincount(group, weights=w)[group]        # E: alignment posteriors
        count = np.bincount(pair, weights=delta, minlength=len(codes))
        t = count / np.bincount(pair_f, weights=count)[pair_f]   # M: renormalise per foreign word
    f_words = {i: w for w, i in f_vocab.items()}
    e_words = {i: w for w, i in e_vocab.items()}
    order = np.lexsort((-t, pair_f))  # by foreign word, then t descending
    table: dict[str, list[tuple[str, float]]] = {}
    for idx in order:
        f = f_words[int(pair_f[idx])]
        if f == NULL:
            continue
        opts = table.setdefault(f, [])
        if len(opts) < keep:
            opts.append((e_words[int(codes[idx] % n_e)], round(float(t[idx]), 6)))
    meta = {"model": "IBM Model 1", "iterations": iterations, "pairs": len(sent_f),
            "foreign_vocabulary": len(f_vocab) - 1, "english_vocabulary": n_e, "keep": keep}
    return WordTable({f: tuple(v) for f, v in table.items()}, f_counts, meta)


def read_bitext_pairs(files: Sequence[str | Path]) -> list[tuple[str, str]]:
    """``(foreign, english)`` of bitext TSV files (``x<TAB>en<TAB>source``, :mod:`optical_rerank.data.bitext`)."""
    from ..distill import read_bitext_files  # heavy (torch)

    return [(p.x, p.en) for p in read_bitext_files([str(f) for f in files])]

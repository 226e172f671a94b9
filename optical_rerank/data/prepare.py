"""``prepare NAME --out DIR``: build a Pyserini-ready set and its card from pinned sources.

Every set is written into a fresh temporary directory next to ``DIR`` and moved into place only
when complete, so an interrupted build never leaves a half-written set (a previous set in
``DIR`` stays intact until the new one replaces it). ``DIR`` must be empty, absent or a set
written before (it has a ``card.json``).

Layout shared by all sets (file names per set are listed in the card under ``outputs``)::

    DIR/card.json                          sources (URL, commit, sha256), licence, citation,
                                           counts, dropped counts, notes
    DIR/corpus/<name>/corpus.jsonl         Pyserini JsonCollection ({"id", "contents"[, "title"]});
                                           one directory per corpus, so ``-input DIR/corpus/<name>``
                                           indexes exactly one collection
    DIR/topics/<set>.<...>.tsv             qid<TAB>text
    DIR/qrels/<set>.<...>.qrels            TREC qrels (qid 0 docid rel)
    DIR/runs/<set>.<...>.trec              TREC runs (candidate runs only)
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

from ..errors import ConfigError
from .afriqa import prepare_afriqa
from .bitext import prepare_bitext
from .card import PreparedSet
from .english_qa import prepare_english_qa
from .ntrex_doc import prepare_ntrex_doc
from .trec_dl import prepare_trec_dl
from .xquad_r import prepare_xquad_r

__all__ = ["BUILDERS", "SET_NAMES", "prepare"]

#: Set name -> builder ``(out_dir, **options) -> PreparedSet``, in listing order. To add a set,
#: write a builder module (its card from :mod:`.card`) and add one entry here.
BUILDERS: Mapping[str, Callable[..., PreparedSet]] = MappingProxyType({
    "afriqa": prepare_afriqa,
    "xquad-r": prepare_xquad_r,
    "ntrex-doc": prepare_ntrex_doc,
    "dl19": lambda out, **kw: prepare_trec_dl("dl19", out, **kw),
    "dl20": lambda out, **kw: prepare_trec_dl("dl20", out, **kw),
    "bitext": prepare_bitext,
    "english-qa": prepare_english_qa,
})

SET_NAMES = tuple(BUILDERS)


def prepare(name: str, out_dir: str | Path, **options) -> PreparedSet:
    """Build set ``name`` (one of :data:`SET_NAMES`) into ``out_dir``; see each builder's options."""
    if name not in BUILDERS:
        raise ConfigError(f"unknown set {name!r}; choose from {', '.join(SET_NAMES)}")
    return BUILDERS[name](out_dir, **options)

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

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..trec_io import write_json_atomic
from .fetch import Fetcher
from .registry import Source

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
def staged_output(out_dir: str | Path):
    """Yield a temporary directory beside ``out_dir``; on success it replaces ``out_dir``.

    Refuses (``ConfigError``) an ``out_dir`` that is a file, or a non-empty directory without a
    ``card.json`` (something that is not a prepared set, which must not be clobbered).
    """
    out = Path(out_dir).expanduser()
    if out.exists():
        if not out.is_dir():
            raise ConfigError(f"--out {out} exists and is not a directory")
        if any(out.iterdir()) and not (out / CARD).is_file():
            raise ConfigError(f"--out {out} is not empty and holds no {CARD}: it is not a prepared set; "
                              "choose an empty or new directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        yield tmp
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old.{os.getpid()}")
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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


def _builders() -> dict[str, Callable[..., PreparedSet]]:
    from .afriqa import prepare_afriqa
    from .bitext import prepare_bitext
    from .ntrex_doc import prepare_ntrex_doc
    from .trec_dl import prepare_trec_dl
    from .xquad_r import prepare_xquad_r

    return {
        "afriqa": prepare_afriqa,
        "xquad-r": prepare_xquad_r,
        "ntrex-doc": prepare_ntrex_doc,
        "dl19": lambda out, **kw: prepare_trec_dl("dl19", out, **kw),
        "dl20": lambda out, **kw: prepare_trec_dl("dl20", out, **kw),
        "bitext": prepare_bitext,
    }


SET_NAMES = ("afriqa", "xquad-r", "ntrex-doc", "dl19", "dl20", "bitext")


def prepare(name: str, out_dir: str | Path, **options) -> PreparedSet:
    """Build set ``name`` (one of :data:`SET_NAMES`) into ``out_dir``; see each builder's options."""
    builders = _builders()
    if name not in builders:
        raise ConfigError(f"unknown set {name!r}; choose from {', '.join(SET_NAMES)}")
    return builders[name](out_dir, **options)

"""Pyserini's names of topics and qrels, mapped to the sets ``python -m optical_rerank.data prepare`` makes.

``run --topics dl19-passage --qrels dl19-passage`` reads ``<data root>/dl19/topics/dl19.tsv`` and
``<data root>/dl19/qrels/dl19.qrels`` (the data root: ``work/data``, the experiments' default, or
``$OPTICAL_RERANK_DATA``). A name whose set is not prepared is an error naming the command that
prepares it; Pyserini's other names (MS MARCO dev, BEIR, ...) are downloaded by Pyserini itself from
the network, which this package does not do: that is an error too, never a silent empty file.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError

__all__ = ["DATA_ENV", "PYSERINI_TOPICS", "PYSERINI_QRELS", "data_root", "resolve_pyserini_name", "run_name_part"]

DATA_ENV = "OPTICAL_RERANK_DATA"

#: Pyserini topic names → (prepared set, file inside it).
PYSERINI_TOPICS = {
    "dl19-passage": ("dl19", "topics/dl19.tsv"), "dl19": ("dl19", "topics/dl19.tsv"),
    "msmarco-passage-dl19": ("dl19", "topics/dl19.tsv"),
    "dl20": ("dl20", "topics/dl20.tsv"), "dl20-passage": ("dl20", "topics/dl20.tsv"),
    "msmarco-passage-dl20": ("dl20", "topics/dl20.tsv"),
}
#: Pyserini qrels names → (prepared set, file inside it).
PYSERINI_QRELS = {
    "dl19-passage": ("dl19", "qrels/dl19.qrels"), "dl19": ("dl19", "qrels/dl19.qrels"),
    "msmarco-passage-dl19": ("dl19", "qrels/dl19.qrels"),
    "dl20-passage": ("dl20", "qrels/dl20.qrels"), "dl20": ("dl20", "qrels/dl20.qrels"),
    "msmarco-passage-dl20": ("dl20", "qrels/dl20.qrels"),
}
_NETWORK_PREFIXES = ("msmarco-", "beir-", "dl19-doc", "dl20-doc", "dl21", "dl22", "dl23", "robust04", "mrtydi-",
                     "miracl-", "ciral-", "covid-", "ntcir", "trec-covid", "core17", "core18", "car17")


def data_root() -> Path:
    """Where prepared sets are looked for: ``$OPTICAL_RERANK_DATA`` or ``work/data``."""
    return Path(os.environ.get(DATA_ENV) or "work/data")


def resolve_pyserini_name(value: str | None, kind: str) -> str | None:
    """``value`` itself when it is an existing path (or ``None``); else the prepared file a Pyserini name stands for.

    ``kind`` is ``"topics"`` or ``"qrels"``. A Pyserini name whose set is not prepared, or one
    only Pyserini's download provides, is a :class:`ConfigError`; anything else is returned
    unchanged (the reader then reports the missing file).
    """
    if value is None or Path(value).exists():
        return value
    table = PYSERINI_TOPICS if kind == "topics" else PYSERINI_QRELS
    if value in table:
        name, rel = table[value]
        path = data_root() / name / rel
        if path.is_file():
            return str(path)
        raise ConfigError(f"--{kind} {value}: Pyserini's name for the {name.upper()} {kind}; {path} is not "
                          f"prepared: run `python -m optical_rerank.data prepare {name} --out {data_root() / name}` "
                          f"(or set ${DATA_ENV} to the folder holding {name}/)")
    if value.startswith(_NETWORK_PREFIXES) and "/" not in value and not value.endswith((".tsv", ".txt", ".trec",
                                                                                          ".jsonl", ".json", ".gz")):
        known = ", ".join(sorted(table))
        raise ConfigError(f"--{kind} {value}: Pyserini downloads these {kind} from the network, which this package "
                          f"does not do; give a file, or one of the names mapped to prepared sets ({known})")
    return value


def run_name_part(topics_arg: str) -> str:
    """The ``<TOPICS>`` part of a default run name: a Pyserini name as given, else the file's name without extensions."""
    if topics_arg in PYSERINI_TOPICS:
        return topics_arg
    name = Path(topics_arg).name
    name = name.removesuffix(".gz")
    for suffix in (".tsv", ".txt", ".trec", ".jsonl", ".json"):
        name = name.removesuffix(suffix)
    return name or "topics"

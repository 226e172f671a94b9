"""Query shards for scale-out, and merging shard runs back into the single-process run.

:func:`shard_queries` splits topics by position modulo ``n``; :func:`merge_runs` (CLI
``python -m optical_rerank.merge``) joins the shard runs of :func:`rerank_to_file` into the
single-process run, byte for byte.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError, InputFormatError
from ..files import atomic_write, write_json_atomic
from ..trec_io import iter_lines
from ..types import Query
from ._config import config_sidecar_path, read_run_sidecar

__all__ = ["parse_shard", "shard_queries", "merge_runs"]

_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(spec: str) -> tuple[int, int]:
    """Parse ``"i/n"`` (0-based ``i``, ``0 <= i < n``) into ``(i, n)``."""
    m = _SHARD_RE.match(spec) if isinstance(spec, str) else None
    if not m:
        raise ConfigError(f"shard must look like 'i/n' (0-based index i, n shards), got {spec!r}")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 0 <= i < n:
        raise ConfigError(f"shard {spec!r}: need n >= 1 and 0 <= i < n (0-based), e.g. '0/{max(n, 2)}'")
    return i, n


def shard_queries(queries: Sequence[Query], shard: str) -> list[Query]:
    """Queries whose position ``p`` (0-based, input order) has ``p % n == i`` for ``shard="i/n"``."""
    i, n = parse_shard(shard)
    return [q for p, q in enumerate(queries) if p % n == i]


# --------------------------------------------------------------------------- merging
def _run_blocks(path: Path) -> dict[str, list[str]]:
    """TREC lines of a run grouped by qid (file order); queries must be contiguous."""
    blocks: dict[str, list[str]] = {}
    last = None
    for lineno, line in iter_lines(path):
        parts = line.split()
        if len(parts) != 6:
            raise InputFormatError(path, lineno, f"expected 6 columns (qid Q0 docid rank score tag), found {len(parts)}")
        qid = parts[0]
        if qid != last and qid in blocks:
            raise InputFormatError(path, lineno, f"lines of query {qid!r} are not contiguous")
        last = qid
        blocks.setdefault(qid, []).append(line + "\n")
    return blocks


def merge_runs(paths: Sequence[str | Path], out_path: str | Path) -> int:
    """Join shard runs into one run, identical to the single-process run.

    With the ``<run>.config.json`` sidecars of :func:`rerank_to_file`, the shards (in any order)
    must share config and tag, and cover ``0/n .. n-1/n`` exactly once; queries are interleaved
    back into their original order and a merged sidecar is written. Without sidecars the runs
    are concatenated in the given order. A qid in two inputs is an error.

    Returns
    -------
    int
        The number of queries in the merged run.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ConfigError("merge_runs: no input runs")
    out_path = Path(out_path)
    if any(p.resolve() == out_path.resolve() for p in paths):
        raise ConfigError(f"merge_runs: output {out_path} is also an input")
    blocks = [_run_blocks(p) for p in paths]
    owner: dict[str, Path] = {}
    for p, b in zip(paths, blocks):
        for qid in b:
            if qid in owner:
                raise InputFormatError(p, None, f"query {qid!r} is also in {owner[qid]}; shards must not overlap")
            owner[qid] = p
    sidecars = [read_run_sidecar(p) for p in paths]
    have = [s is not None for s in sidecars]
    if any(have) and not all(have):
        missing = [str(p) for p, h in zip(paths, have) if not h]
        raise ConfigError(f"merge_runs: some inputs have a .config.json sidecar and some do not ({missing})")

    merged_sidecar = None
    if all(have):
        first = sidecars[0]
        for p, s in zip(paths, sidecars):
            for key in ("config_sha256", "tag"):
                if s.get(key) != first.get(key):
                    raise ConfigError(f"merge_runs: {p} has {key}={s.get(key)!r}, {paths[0]} has {first.get(key)!r}")
            listed = set(s["qids"])
            for qid in blocks[paths.index(p)]:
                if qid not in listed:
                    raise InputFormatError(p, None, f"query {qid!r} is not listed in its sidecar")
        specs = [s.get("shard") for s in sidecars]
        if all(sp is not None for sp in specs):
            parsed = [parse_shard(sp) for sp in specs]
            ns = {n for _, n in parsed}
            if len(ns) != 1:
                raise ConfigError(f"merge_runs: shards of different splits {sorted(specs)}")
            n = ns.pop()
            idx = [i for i, _ in parsed]
            if sorted(idx) != list(range(n)):
                missing = sorted(set(range(n)) - set(idx))
                dupes = sorted({i for i in idx if idx.count(i) > 1})
                raise ConfigError(f"merge_runs: need shards 0..{n - 1} of {n} exactly once; "
                                  f"missing {missing}, repeated {dupes}")
            by_index = {i: s["qids"] for (i, _), s in zip(parsed, sidecars)}
            qids = [by_index[i][k] for k in range(max(len(v) for v in by_index.values()))
                    for i in range(n) if k < len(by_index[i])]
        elif any(sp is not None for sp in specs):
            raise ConfigError(f"merge_runs: mixing shard runs and unsharded runs ({specs})")
        else:
            qids = [q for s in sidecars for q in s["qids"]]
        if len(set(qids)) != len(qids):
            raise ConfigError("merge_runs: a query id appears in two sidecars; shards must not overlap")
        merged_sidecar = dict(first, shard=None, qids=qids)
    else:
        qids = [q for b in blocks for q in b]

    all_blocks = {q: lines for b in blocks for q, lines in b.items()}
    with atomic_write(out_path) as fh:
        for qid in qids:
            fh.writelines(all_blocks.get(qid, ()))
    if merged_sidecar is not None:
        write_json_atomic(config_sidecar_path(out_path), merged_sidecar)
    return len(qids)


"""Resumable reranking into a TREC run, with the run's config written beside it.

:func:`rerank_to_file` appends each finished query to ``<out>.partial`` and records it in
``<out>.partial.done`` (a JSON header with the config and input fingerprints, then one JSON line
per finished query with its byte range), both fsynced. A restart skips finished queries and
discards a half-written block; the final run is byte-identical to an uninterrupted one, and
``<out>.config.json`` (:func:`~optical_rerank.rerank.read_run_sidecar`) records the config, tag,
shard and query order.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

from ..config import config_diff
from ..errors import ConfigError, InputFormatError
from ..files import atomic_write, lock_file
from ..trec_io import format_run_lines
from ..types import Hit, Query
from ._base import Reranker, RerankInputError
from ._config import RerankConfig, write_run_sidecar
from ._cross_encoder import CrossEncoderReranker
from ._shards import shard_queries

__all__ = ["rerank_to_file", "partial_paths"]

logger = logging.getLogger(__name__)

PARTIAL_FORMAT = "optical_rerank.partial/1"


def partial_paths(out_path: str | Path) -> tuple[Path, Path]:
    """``(<out>.partial, <out>.partial.done)``: the TREC lines so far and the completion log."""
    return Path(f"{out_path}.partial"), Path(f"{out_path}.partial.done")


def _inputs_fingerprint(queries: Sequence[Query], candidates: Mapping[str, Sequence[Hit]], depth: int) -> str:
    h = hashlib.sha256()
    for q in queries:
        h.update(json.dumps(["q", q.qid, q.text], ensure_ascii=False).encode("utf-8"))
        for k, hit in enumerate(sorted(candidates.get(q.qid, ()), key=lambda x: (-x.score, x.docid))):
            h.update(json.dumps([hit.docid, repr(hit.score), hit.text if k < depth else None],
                                ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()


def _fsync_append(fh: IO[bytes], data: bytes) -> None:
    fh.write(data)
    fh.flush()
    os.fsync(fh.fileno())


def _read_done(data: bytes, done: Path, partial: Path) -> tuple[dict | None, list[dict], int]:
    """Header, completed entries and the byte length of the valid prefix of the done log ``data``."""
    lines = data.split(b"\n")
    complete = lines[:-1]  # the last element is b"" or a half-written line
    if not complete:
        return None, [], 0
    try:
        header = json.loads(complete[0])
    except json.JSONDecodeError:
        raise InputFormatError(done, 1, f"unreadable header; delete {done} and {partial} to start over") from None
    if not isinstance(header, dict) or header.get("format") != PARTIAL_FORMAT:
        raise InputFormatError(done, 1, f"not an optical_rerank partial-run log; delete {done} and {partial} to start over")
    entries = []
    end = 0
    for lineno, raw in enumerate(complete[1:], start=2):
        try:
            e = json.loads(raw)
            ok = isinstance(e, dict) and isinstance(e.get("qid"), str) and e.get("start") == end \
                and isinstance(e.get("end"), int) and e["end"] >= end
        except json.JSONDecodeError:
            ok = False
        if not ok:
            raise InputFormatError(done, lineno, f"corrupt completion entry; delete {done} and {partial} to start over")
        entries.append(e)
        end = e["end"]
    return header, entries, sum(len(x) + 1 for x in complete)


def _lock(fh: IO[bytes], path: Path) -> None:
    if not lock_file(fh, blocking=False):
        raise ConfigError(f"{path} is locked: another process is writing this run")


def rerank_to_file(queries: Sequence[Query], candidates: Mapping[str, Sequence[Hit]], out_path: str | Path,
                   config: RerankConfig | None, tag: str, shard: str | None = None, *,
                   depth: int | None = None, reranker: Reranker | None = None) -> Path:
    """Rerank queries into a TREC run, resumably; write ``<out>.config.json`` beside it.

    Parameters
    ----------
    queries : all queries (input order is the run's query order); ``shard`` selects a subset.
    candidates : ``{qid: hits}`` with text (see :meth:`Reranker.rerank`).
    out_path : the run file; written atomically once every query is done.
    config : the reranking config (``None`` only with ``reranker``, whose config is then used).
    tag : run tag (one word).
    shard : ``"i/n"`` to rerank only :func:`shard_queries` ``(queries, shard)``; merge the shard
        runs with :func:`merge_runs`.
    depth : overrides ``config.depth`` (the recorded config carries the value used).
    reranker : an already built reranker, e.g. a :class:`BiEncoderReranker` (its ``config`` must
        equal ``config``, ``depth`` aside, when both are given); default: a
        :class:`CrossEncoderReranker` of ``config``, built only if a query is left to score.

    Returns
    -------
    pathlib.Path
        ``out_path``.

    Notes
    -----
    Progress lives in ``<out>.partial`` / ``<out>.partial.done`` (see :func:`partial_paths`). A
    restart with the same config (all fields but ``show_progress``), tag, shard and inputs resumes;
    anything else is refused with :class:`~optical_rerank.errors.ConfigError` naming what differs.
    """
    if not isinstance(tag, str) or not tag or any(c.isspace() for c in tag):
        raise ConfigError(f"run tag must be a non-empty word, got {tag!r}")
    if reranker is not None:
        if config is not None:
            mine, theirs = config.identity(), reranker.config.identity()
            mine.pop("depth")
            theirs.pop("depth")
            if mine != theirs:
                raise ConfigError(f"rerank_to_file: config differs from reranker.config: {config_diff(mine, theirs, '(none)')}")
        else:
            config = reranker.config
    if config is None:
        raise ConfigError("rerank_to_file: give a RerankConfig (or a reranker)")
    if depth is not None and depth != config.depth:
        config = dataclasses.replace(config, depth=depth)
    todo_queries = shard_queries(queries, shard) if shard is not None else list(queries)
    qids = [q.qid for q in todo_queries]
    if len(set(qids)) != len(qids):
        dup = next(q for q in qids if qids.count(q) > 1)
        raise RerankInputError(f"query {dup!r} given twice")
    for qid in qids:
        if not qid or any(c.isspace() for c in qid):
            raise RerankInputError(f"query id {qid!r} cannot be written to a TREC run (empty or whitespace)")

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial, done = partial_paths(out_path)
    header = {"format": PARTIAL_FORMAT, "config": config.identity(), "config_sha256": config.fingerprint(),
              "inputs_sha256": _inputs_fingerprint(todo_queries, candidates, config.depth),
              "tag": tag, "shard": shard, "n_queries": len(todo_queries)}

    if not done.exists():  # fresh start (a partial without its log holds nothing finished)
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        with atomic_write(done, "wb") as fh:
            fh.write(json.dumps(header, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n")
        partial.write_bytes(b"")

    with open(done, "r+b") as dfh:
        _lock(dfh, done)
        old, entries, valid = _read_done(dfh.read(), done, partial)
        if old is None:  # killed while creating the log: nothing was finished
            raise InputFormatError(done, 1, f"no header; delete {done} and {partial} to start over")
        _check_header(old, header, done)
        end = entries[-1]["end"] if entries else 0
        if end == 0 and not partial.exists():  # killed between creating the log and the partial
            partial.write_bytes(b"")
        if not partial.exists() or partial.stat().st_size < end:
            raise InputFormatError(partial, None, f"shorter than {done} records ({end} bytes); "
                                   "delete both to start over")
        finished = [e["qid"] for e in entries]
        if finished != qids[: len(finished)]:
            raise InputFormatError(done, None, "finished queries are not a prefix of this run's queries; "
                                   f"delete {done} and {partial} to start over")
        dfh.truncate(valid)  # drop a half-written completion line
        dfh.seek(valid)
        with open(partial, "r+b") as pfh:
            pfh.truncate(end)  # drop a half-written block
            pfh.seek(end)
            if entries:
                logger.info("resuming %s: %d/%d queries already done", out_path, len(entries), len(todo_queries))
            offset = end
            remaining = todo_queries[len(entries):]
            if remaining and reranker is None:
                reranker = CrossEncoderReranker(None, config)
            for q in tqdm(remaining, desc=f"rerank {out_path.name}", unit="q", disable=not config.show_progress):
                hits = reranker.rerank([q], candidates, depth=config.depth, show_progress=False)[q.qid]
                block = "".join(format_run_lines(q.qid, hits, tag)).encode("utf-8")
                _fsync_append(pfh, block)
                entry = {"qid": q.qid, "start": offset, "end": offset + len(block)}
                _fsync_append(dfh, json.dumps(entry, ensure_ascii=False).encode("utf-8") + b"\n")
                offset += len(block)
            pfh.seek(0)
            data = pfh.read(offset)
        if len(data) != offset:
            raise InputFormatError(partial, None, f"expected {offset} bytes, found {len(data)}")
        with atomic_write(out_path, "wb") as fh:
            fh.write(data)
        write_run_sidecar(out_path, config, tag, shard, qids)
    done.unlink()
    partial.unlink()
    return out_path


def _check_header(old: Mapping[str, Any], new: Mapping[str, Any], done: Path) -> None:
    hint = f"use the original settings, or delete {done} and {done.with_suffix('')} to start over"
    if old.get("config_sha256") != new["config_sha256"]:
        raise ConfigError(f"{done}: the partial run was made with a different config "
                          f"({config_diff(old.get('config') or {}, new['config'], '(none)')}); {hint}")
    for key in ("tag", "shard"):
        if old.get(key) != new[key]:
            raise ConfigError(f"{done}: the partial run was made with {key}={old.get(key)!r}, now {new[key]!r}; {hint}")
    if old.get("inputs_sha256") != new["inputs_sha256"]:
        raise ConfigError(f"{done}: the partial run was made from different queries/candidates; {hint}")

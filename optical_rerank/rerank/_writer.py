"""Resumable reranking into a TREC run, with the run's config written beside it.

:func:`rerank_to_file` appends each finished query to ``<out>.partial`` and records it in
``<out>.partial.done`` (a JSON header with the config and input fingerprints, then one JSON line
per finished query with its byte range), both fsynced. A restart skips finished queries and
discards a half-written block; the final run is byte-identical to an uninterrupted one, and
``<out>.config.json`` (:func:`~optical_rerank.rerank.read_run_sidecar`) records the config, tag,
shard and query order.

The header is the resume identity: the config (with its bi-encoder fusion settings, when fusing),
tag, shard, a fingerprint of the queries and candidates, and the sha256 of the model weights
however the model is named (a directory, a zoo or shipped name, a hub id in the cache:
:func:`~optical_rerank.models.weights_sha256`; with fusion, also those of the bi-encoder), so
changed weights under the same name are never mixed into one run.
A mismatch is refused once a query is finished (``restart=True``, ``--restart`` on the command
line, discards the partial files and starts over); before that the partial files are simply
replaced, and a failure before the first finished query (a model that does not load) removes them.
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
from ..models import weights_sha256 as model_weights_sha256
from ..trec_io import format_run_lines
from ..types import Hit, Query
from ._base import Reranker, RerankInputError
from ._config import RerankConfig, write_run_sidecar
from ._cross_encoder import CrossEncoderReranker
from ._shards import shard_queries

__all__ = ["rerank_to_file", "partial_paths", "model_weights_sha256"]

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


def _fsync_append(fh: IO[bytes], data: bytes, path: Path) -> None:
    try:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    except OSError as exc:
        if exc.filename is None and exc.errno is not None:  # a full disk: name the file
            raise OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path)) from exc
        raise


def _restart_hint(done: Path, partial: Path) -> str:
    return f"pass --restart (restart=True) to discard {partial.name} and {done.name} and start over"


def _read_done(data: bytes, done: Path, partial: Path) -> tuple[dict | None, list[dict], int]:
    """Header, completed entries and the byte length of the valid prefix of the done log ``data``."""
    lines = data.split(b"\n")
    complete = lines[:-1]  # the last element is b"" or a half-written line
    if not complete:
        return None, [], 0
    try:
        header = json.loads(complete[0])
    except json.JSONDecodeError:
        raise InputFormatError(done, 1, f"unreadable header; {_restart_hint(done, partial)}") from None
    if not isinstance(header, dict) or header.get("format") != PARTIAL_FORMAT:
        raise InputFormatError(done, 1, f"not an optical_rerank partial-run log; {_restart_hint(done, partial)}")
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
            raise InputFormatError(done, lineno, f"corrupt completion entry; {_restart_hint(done, partial)}")
        entries.append(e)
        end = e["end"]
    return header, entries, sum(len(x) + 1 for x in complete)


def _lock(fh: IO[bytes], path: Path) -> None:
    if not lock_file(fh, blocking=False):
        raise ConfigError(f"{path} is locked: another process is writing this run")


def _discard(partial: Path, done: Path) -> None:
    """Remove the partial files of a run (refused while another process holds the log's lock)."""
    if done.exists():
        with open(done, "r+b") as fh:
            _lock(fh, done)
            done.unlink()
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()


def _write_header(dfh: IO[bytes], header: Mapping[str, Any], done: Path) -> int:
    """Replace the whole log with ``header`` (nothing finished yet); return its byte length."""
    line = json.dumps(header, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n"
    dfh.seek(0)
    dfh.truncate(0)
    _fsync_append(dfh, line, done)
    return len(line)


def rerank_to_file(queries: Sequence[Query], candidates: Mapping[str, Sequence[Hit]], out_path: str | Path,
                   config: RerankConfig | None, tag: str, shard: str | None = None, *,
                   depth: int | None = None, reranker: Reranker | None = None, restart: bool = False,
                   pool: Any = None) -> Path:
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
    restart : discard the partial files of ``out_path`` (finished queries included) and start over.
    pool : a :class:`~optical_rerank.rerank._ray.RayPool` of this config: its actors rerank the
        queries (each one as a single process does) and the results are written here in query
        order, so the run (and its resume log) is byte-identical to a single process's.

    Returns
    -------
    pathlib.Path
        ``out_path``.

    Notes
    -----
    Progress lives in ``<out>.partial`` / ``<out>.partial.done`` (see :func:`partial_paths`). A
    restart with the same config (all fields but ``show_progress``), tag, shard, inputs and model
    weights (:func:`model_weights_sha256`) resumes; anything else is refused with
    :class:`~optical_rerank.errors.ConfigError` naming what differs and ``--restart`` once a query
    is finished (before that the partial files are replaced). A failure before the first finished
    query removes the partial files.
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
    if pool is not None and pool.config.identity() != config.identity():
        raise ConfigError("rerank_to_file: the Ray pool was built for another config: "
                          f"{config_diff(config.identity(), pool.config.identity(), '(none)')}")
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
              "weights_sha256": model_weights_sha256(config.model),
              "tag": tag, "shard": shard, "n_queries": len(todo_queries)}
    if config.fusion_weight > 0:  # only then: the header of a run without fusion is as before
        header["biencoder_weights_sha256"] = model_weights_sha256(config.fusion_biencoder)

    if restart:
        _discard(partial, done)
    if not done.exists():  # fresh start (a partial without its log holds nothing finished)
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        with atomic_write(done, "wb") as fh:
            fh.write(json.dumps(header, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n")
        partial.write_bytes(b"")

    with open(done, "r+b") as dfh:
        _lock(dfh, done)
        data = dfh.read()
        # at most a header line: nothing finished (or killed while creating the log)
        old, entries, valid = (None, [], 0) if data.count(b"\n") <= 1 else _read_done(data, done, partial)
        if not entries:  # nothing to resume: (re)start with this run's header
            line = json.dumps(header, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n"
            valid = len(line) if data == line else _write_header(dfh, header, done)
            partial.write_bytes(b"")
        else:
            _check_header(old, header, done, len(entries))
        end = entries[-1]["end"] if entries else 0
        if not partial.exists() or partial.stat().st_size < end:
            raise InputFormatError(partial, None, f"shorter than {done} records ({end} bytes); "
                                   f"{_restart_hint(done, partial)}")
        finished_qids = [e["qid"] for e in entries]
        if finished_qids != qids[: len(finished_qids)]:
            raise InputFormatError(done, None, "finished queries are not a prefix of this run's queries; "
                                   f"{_restart_hint(done, partial)}")
        dfh.truncate(valid)  # drop a half-written completion line
        dfh.seek(valid)
        with open(partial, "r+b") as pfh:
            pfh.truncate(end)  # drop a half-written block
            pfh.seek(end)
            if entries:
                logger.info("resuming %s: %d/%d queries already done", out_path, len(entries), len(todo_queries))
            offset = end
            remaining = todo_queries[len(entries):]
            n_finished = len(entries)
            try:
                if remaining and reranker is None and pool is None:
                    reranker = CrossEncoderReranker(None, config)
                if pool is not None:  # a Ray actor pool: the same per-query rerank, results in query order
                    ranked = pool.rerank_ordered(remaining, candidates)
                else:
                    ranked = ((q, reranker.rerank([q], candidates, depth=config.depth, show_progress=False)[q.qid])
                              for q in remaining)
                for q, hits in tqdm(ranked, total=len(remaining), desc=f"rerank {out_path.name}", unit="q",
                                    disable=not config.show_progress):
                    block = "".join(format_run_lines(q.qid, hits, tag)).encode("utf-8")
                    _fsync_append(pfh, block, partial)
                    entry = {"qid": q.qid, "start": offset, "end": offset + len(block)}
                    _fsync_append(dfh, json.dumps(entry, ensure_ascii=False).encode("utf-8") + b"\n", done)
                    offset += len(block)
                    n_finished += 1
            except BaseException:
                if n_finished == 0:  # nothing worth resuming: leave nothing behind (the lock is still held)
                    for p in (done, partial):
                        with contextlib.suppress(FileNotFoundError):
                            p.unlink()
                raise
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


def _check_header(old: Mapping[str, Any], new: Mapping[str, Any], done: Path, finished: int) -> None:
    hint = (f"resume with the original settings, or pass --restart (rerank_to_file(..., restart=True)) to "
            f"discard the {finished} finished quer{'y' if finished == 1 else 'ies'} ({done.with_suffix('')}, {done}) "
            "and start over")
    if old.get("config_sha256") != new["config_sha256"]:
        raise ConfigError(f"{done}: the partial run was made with a different config "
                          f"({config_diff(old.get('config') or {}, new['config'], '(none)')}); {hint}")
    for key in ("tag", "shard"):
        if old.get(key) != new[key]:
            raise ConfigError(f"{done}: the partial run was made with {key}={old.get(key)!r}, now {new[key]!r}; {hint}")
    if old.get("weights_sha256") != new["weights_sha256"]:
        was, now = old.get("weights_sha256"), new["weights_sha256"]
        what = (f"sha256 {was[:12]}... -> {now[:12]}..." if was and now
                else "the partial run does not record the weights it was scored with" if not was
                else "the model is no longer a local directory")
        raise ConfigError(f"{done}: the model weights of {new['config'].get('model')!r} changed since the partial "
                          f"run was started ({what}); {hint}")
    if old.get("biencoder_weights_sha256") != new.get("biencoder_weights_sha256"):
        raise ConfigError(f"{done}: the weights of the fusion bi-encoder "
                          f"{new['config'].get('fusion_biencoder')!r} changed since the partial run was started; {hint}")
    if old.get("inputs_sha256") != new["inputs_sha256"]:
        raise ConfigError(f"{done}: the partial run was made from different queries/candidates; {hint}")

"""Reranking over a Ray cluster: query batches mapped over an actor pool, one model per worker.

:class:`RayPool` starts ``workers`` Ray actors; each builds the reranker of a
:class:`RerankConfig` once (``CrossEncoderReranker``, in whatever backend the config names) and
reranks the queries it is sent, one query at a time exactly as a single process does
(``reranker.rerank([q], candidates)``). Batches of queries come back in submission order
(``ray.util.ActorPool.map``), so :func:`~optical_rerank.rerank.rerank_to_file` writes them, and
resumes them, as it writes a single process's: the run is byte-identical to a single process
with the same ``threads`` (each worker runs ``config.threads`` torch threads, 1 when unset).

``address``: ``"auto"`` joins the cluster of ``RAY_ADDRESS`` or of ``ray start`` on this node and
otherwise starts a local Ray instance; anything else is passed to ``ray.init(address=...)``
(``HOST:6379`` of a head node, ``ray://HOST:10001`` for Ray Client). The workers import
``optical_rerank``: on a cluster install it (and the model cache, ``OPTICAL_RERANK_CACHE``) on
every node; locally the driver's ``PYTHONPATH`` and cache settings are passed on.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..types import Hit, Query
from ._config import RerankConfig

__all__ = ["RayPool", "ray_init"]

_PASSED_ENV = ("OPTICAL_RERANK_CACHE", "OPTICAL_RERANK_MIRROR", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
               "HF_HOME", "TOKENIZERS_PARALLELISM")


def ray_init(address: str = "auto") -> Any:
    """``ray`` initialised for ``address`` (see the module docstring); reuses an initialised Ray."""
    try:
        import ray  # heavy
    except ImportError as exc:
        raise ConfigError(f"--ray needs the ray package ({exc}); pip install 'ray[default]'") from None
    if ray.is_initialized():
        return ray
    root = str(Path(__file__).resolve().parents[2])
    env = {k: os.environ[k] for k in _PASSED_ENV if k in os.environ}
    env["PYTHONPATH"] = os.pathsep.join([root, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]])
    kwargs: dict[str, Any] = {"runtime_env": {"env_vars": env}, "log_to_driver": False,
                              "include_dashboard": False, "logging_level": "ERROR"}
    if address == "auto":
        try:
            ray.init(address="auto", **kwargs)
        except ConnectionError:  # no cluster to join: a local instance
            ray.init(**kwargs)
    else:
        try:
            ray.init(address=address, **{k: v for k, v in kwargs.items() if k != "include_dashboard"})
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise ConfigError(f"--ray {address}: cannot connect to the Ray cluster ({exc})") from None
    return ray


class _Worker:
    """One Ray actor: the reranker built once, queries reranked one at a time."""

    def __init__(self, config: dict[str, Any]):
        import torch  # heavy

        from ._cross_encoder import CrossEncoderReranker

        cfg = RerankConfig.from_dict(config)
        torch.set_num_threads(cfg.threads or 1)
        self.reranker = CrossEncoderReranker(None, cfg)
        self.depth = cfg.depth

    def rerank(self, queries: list[Query], candidates: dict[str, list[Hit]]) -> list[list[Hit]]:
        return [self.reranker.rerank([q], candidates, depth=self.depth, show_progress=False)[q.qid] for q in queries]


class RayPool:
    """``workers`` Ray actors each holding the reranker of ``config`` (see the module docstring).

    Parameters
    ----------
    config : the reranking config (every worker builds ``CrossEncoderReranker(None, config)``).
    address : ``"auto"`` or a Ray address.
    workers : number of actors (>= 1); each reserves one CPU of the cluster.
    batch_queries : queries per task (the unit of work sent to an actor).
    """

    def __init__(self, config: RerankConfig, address: str = "auto", workers: int = 2, batch_queries: int = 4):
        if workers < 1 or batch_queries < 1:
            raise ConfigError(f"--ray-workers and the batch size must be >= 1, got {workers} and {batch_queries}")
        self.ray = ray_init(address)
        from ray.util import ActorPool  # heavy

        self.config = config
        self.batch_queries = batch_queries
        actor = self.ray.remote(num_cpus=1)(_Worker)
        self.actors = [actor.remote(config.to_dict()) for _ in range(workers)]
        self.pool = ActorPool(self.actors)

    def rerank_ordered(self, queries: Sequence[Query], candidates: Mapping[str, Sequence[Hit]]
                       ) -> Iterator[tuple[Query, list[Hit]]]:
        """``(query, ranked hits)`` for every query, in the given order, computed by the actors."""
        batches = [list(queries[i:i + self.batch_queries]) for i in range(0, len(queries), self.batch_queries)]
        tasks = [(b, {q.qid: list(candidates.get(q.qid, ())) for q in b}) for b in batches]
        results = self.pool.map(lambda a, t: a.rerank.remote(*t), tasks)
        for batch, ranked in zip(batches, results):
            yield from zip(batch, ranked)

    def close(self) -> None:
        """Stop the actors (the Ray instance stays up for the rest of the process)."""
        for a in self.actors:
            try:
                self.ray.kill(a)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.actors = []

    def __enter__(self) -> RayPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


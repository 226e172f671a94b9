"""Multi-process training under ``torchrun``: the process group, the device, and the collectives
the trainer needs (barrier, any-rank flag, mean over ranks, the DDP wrapper).

``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` come from the environment (one process when unset); the
backend is gloo on CPU and nccl on GPU. Only rank 0 (:attr:`Dist.main`) writes files.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from ..errors import ConfigError


@dataclass(frozen=True)
class Dist:
    """The processes of one run and this process's place among them.

    Attributes
    ----------
    world, rank, local_rank : ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``.
    owns_group : this run initialised the process group (and destroys it in :meth:`close`).
    device : where this rank computes.
    """

    world: int
    rank: int
    local_rank: int
    owns_group: bool
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()

    def any_rank(self, flag: bool) -> bool:
        """True when ``flag`` is true on any rank."""
        if self.world == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return bool(t.item() > 0)

    def mean(self, value: float) -> float:
        """``value`` averaged over the ranks."""
        if self.world == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64 if self.device.type == "cpu" else torch.float32,
                         device=self.device)
        torch.distributed.all_reduce(t)
        return float(t.item()) / self.world

    def wrap(self, model: Any) -> Any:
        """``model`` in ``DistributedDataParallel`` when there are several processes, else itself."""
        if self.world == 1:
            return model
        return DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                                       find_unused_parameters=True)

    def close(self) -> None:
        """Destroy the process group if this run created it."""
        if self.owns_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def env_int(name: str, default: int) -> int:
    """Integer environment variable ``name`` (``default`` when unset or empty)."""
    v = os.environ.get(name)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError:
        raise ConfigError(f"environment variable {name}={v!r} is not an integer") from None


def setup_dist(device_spec: str) -> Dist:
    """Read the torchrun environment, pick the device (``"auto"``, ``"cpu"``, ``"cuda"``,
    ``"cuda:N"``; ``cuda:LOCAL_RANK`` under DDP) and join the process group."""
    world = env_int("WORLD_SIZE", 1)
    rank = env_int("RANK", 0)
    local = env_int("LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world:
        raise ConfigError(f"inconsistent WORLD_SIZE={world} / RANK={rank}")
    if device_spec == "auto":
        device = torch.device(f"cuda:{local}" if world > 1 else "cuda") if torch.cuda.is_available() else torch.device("cpu")
    elif device_spec == "cuda" and world > 1:
        device = torch.device(f"cuda:{local}")
    else:
        device = torch.device(device_spec)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device_spec!r} requested but CUDA is not available; use --device cpu")
        torch.cuda.set_device(device)
    owns = False
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend=backend)
        owns = True
    if world > 1 and torch.distributed.get_world_size() != world:
        raise ConfigError("torch.distributed is initialised with another world size than WORLD_SIZE")
    return Dist(world, rank, local, owns, device)

"""torch.distributed helpers: the same code path serves one process and ``torchrun`` with N ranks.

Training splits every global mini-batch across ranks (DistributedDataParallel averages gradients), and
scoring shards the dataset across ranks and gathers the scores by position, so a run with N ranks
equals the single-process run with the same seed, up to float summation order. Launch with
``torchrun --nproc_per_node=N -m curvlib score ...``; the backend is NCCL on CUDA, gloo on CPU.
"""
from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["rank_and_world", "init_from_env", "EpochBatches", "gather_rows", "barrier"]


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) without an initialised process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_from_env(device: str) -> str:
    """Join the process group that ``torchrun`` describes in the environment, if any; return the device.

    With WORLD_SIZE > 1, initialises torch.distributed (NCCL for CUDA devices, gloo otherwise) and,
    on CUDA, pins the process to ``cuda:LOCAL_RANK``. Without torchrun, does nothing.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return device
    cuda = device.startswith("cuda")
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return f"cuda:{local}"
    return device


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if rank_and_world()[1] > 1:
        dist.barrier()


class EpochBatches:
    """Batch sampler: a seeded permutation cut into global batches, each split across ranks.

    Global batch b holds positions perm[b·B:(b+1)·B]; rank r takes every world-th of them starting at
    r. ``len(self)`` is the number of global batches, the same on every rank.
    """

    def __init__(self, n: int, batch_size: int, generator: torch.Generator):
        self.n, self.batch_size, self.generator = n, batch_size, generator
        self.rank, self.world = rank_and_world()
        if batch_size < self.world or 0 < n % batch_size < self.world:
            raise ValueError(
                f"with {self.world} ranks every global batch needs at least {self.world} samples: "
                f"batch_size={batch_size} leaves a last batch of {n % batch_size} of {n}; choose another batch size"
            )

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __iter__(self):
        perm = torch.randperm(self.n, generator=self.generator)
        for start in range(0, self.n, self.batch_size):
            batch = perm[start : start + self.batch_size]
            yield batch[self.rank :: self.world].tolist()


def gather_rows(local: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """Reassemble per-sample arrays computed on shard ``positions = arange(rank, n, world)`` of each rank.

    Every rank gets the full arrays, first axis of length ``n`` in dataset order.
    """
    rank, world = rank_and_world()
    if world == 1:
        return local
    parts: list[dict[str, np.ndarray]] = [None] * world  # type: ignore[list-item]
    dist.all_gather_object(parts, local)
    out = {}
    for name in local:
        full = np.empty((n, *local[name].shape[1:]), dtype=local[name].dtype)
        for r, part in enumerate(parts):
            full[r::world] = part[name]
        out[name] = full
    return out

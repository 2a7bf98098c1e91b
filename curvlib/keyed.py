"""Keyed randomness: random bits that are pure functions of (seed, dataset index, position).

Curvature probes (:func:`curvlib.curvature.keyed_rademacher_probes`) and example-tied dropout masks
(:func:`curvlib.tied_dropout.tied_masks`) must not depend on batching, shuffling, resumption or the rank
that computes them, so neither draws from a generator: both hash their coordinates with :func:`mix32`,
starting from the per-sample keys of :func:`index_keys`.
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["MASK32", "mix32", "index_keys"]

MASK32 = 0xFFFFFFFF


def mix32(z: Tensor) -> Tensor:
    """A 32-bit integer hash (xorshift-multiply) applied elementwise to int64 tensors holding values < 2**32.

    Example:
        >>> mix32(torch.tensor([0, 1, 2])).tolist() != [0, 1, 2]
        True
    """
    z = z ^ (z >> 16)
    z = (z * 0x7FEB352D) & MASK32
    z = z ^ (z >> 15)
    z = (z * 0x2C1B3C6D) & MASK32
    return z ^ (z >> 16)


def index_keys(index: Tensor, seed: int, salt: int) -> Tensor:
    """One 32-bit key per dataset index: mix32(mix32((seed mod 2³²) + salt) ^ (index mod 2³²)), int64 [len(index)].

    ``salt`` separates the users of the same (seed, index), so probes and dropout masks never share bits.
    Hash the key with a position (probe number, element, channel) through :func:`mix32` to get the bits.

    Example:
        >>> index_keys(torch.tensor([7, 3]), seed=0, salt=1).shape
        torch.Size([2])
    """
    key = mix32(torch.tensor(seed & MASK32, dtype=torch.int64) + salt)
    return mix32(key ^ (index.to(torch.int64).cpu() & MASK32))

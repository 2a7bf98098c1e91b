"""A literal re-implementation of the authors' released curvature algorithm, for tests and benchmarks.

Garg, Ravikumar & Roy (ICML 2024), public code: for each of n probes, draw a Rademacher tensor
with a Python loop over samples, run two forward passes (x + h v and x), and take the input
gradient of the difference of the two losses; accumulate ‖Δg‖ and (h v)ᵀΔg. That is 2n forward
and n backward passes per batch. It is kept here only to check and time
:func:`curvlib.curvature.input_loss_curvature` against; use that function for real work.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .curvature import CurvatureScores


def paper_algorithm_curvature(
    model: nn.Module, x: Tensor, y: Tensor, probes: Tensor, *, h: float = 1e-3, reduction: str = "sum"
) -> CurvatureScores:
    """The authors' algorithm, loop for loop, with given probes [n, *x.shape].

    Contract: curvature = (1/n) Σᵢ ‖∇ₓ[ℓ(x + h vᵢ) − ℓ(x)]‖ per sample, trace = (1/n) Σᵢ (h vᵢ)ᵀΔgᵢ.
    ``reduction="mean"`` reproduces the released code's batch-mean loss, which scales every score
    by 1/B (the defect curvlib fixes); ``"sum"`` gives per-sample semantics equal to
    :func:`curvlib.curvature.input_loss_curvature`. ``grad_norm`` is not part of that algorithm
    and is returned as NaN.

    Example:
        >>> ref = paper_algorithm_curvature(model, x, y, probes, h=1e-3)
    """
    was_training = model.training
    model.eval()
    batch = x.shape[0]
    curvature = torch.zeros(batch, dtype=x.dtype, device=x.device)
    trace = torch.zeros_like(curvature)
    try:
        for probe in probes:
            v = torch.empty_like(x)
            for b in range(batch):  # the released code fills the probes one sample at a time
                v[b] = probe[b].to(x.dtype)
            v = h * v
            xg = x.detach().clone().requires_grad_(True)
            loss_pos = F.cross_entropy(model(xg + v), y, reduction=reduction)
            loss_orig = F.cross_entropy(model(xg), y, reduction=reduction)
            (diff,) = torch.autograd.grad(loss_pos - loss_orig, xg)
            curvature += diff.reshape(batch, -1).norm(dim=1).detach()
            trace += (v.reshape(batch, -1) * diff.reshape(batch, -1)).sum(dim=1).detach()
    finally:
        model.train(was_training)
    n = probes.shape[0]
    return CurvatureScores(curvature / n, trace / n, torch.full_like(curvature, float("nan")))

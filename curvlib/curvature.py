"""Input-loss curvature (Garg, Ravikumar & Roy, ICML 2024, arXiv 2307.05831).

For a sample (x, y) with per-sample cross-entropy loss ℓ(x) = CE(f(x), y), the score is a
finite-difference Hutchinson estimate of the curvature of ℓ with respect to the *input*:

    Curv(x) = (1/n) Σᵢ ‖∇ₓℓ(x + h vᵢ) − ∇ₓℓ(x)‖          (‖·‖² when squared=True)

with vᵢ Rademacher probes (entries ±1, shaped like x). Since ∇ₓℓ(x + hv) − ∇ₓℓ(x) ≈ h H v,
the squared score estimates h² tr(H²). From the same passes we also return the trace
estimate (1/n) Σᵢ (h vᵢ)ᵀ Δgᵢ ≈ h² tr(H), as the authors' code accumulates it.

Departures from the authors' public code (see the book's "Departures" page):
per-sample (summed) loss instead of the batch mean, so no score depends on its batch;
∇ₓℓ(x) computed once and the n probes batched, n + 1 gradient passes instead of 2n.
"""
from __future__ import annotations

import contextlib
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .keyed import index_keys, mix32

__all__ = ["CurvatureScores", "input_loss_curvature", "input_loss_curvature_with_trace", "keyed_rademacher_probes", "probe_differences"]


class CurvatureScores(NamedTuple):
    """Per-sample outputs of one scoring call, each a float tensor of shape [B]."""

    curvature: Tensor  # mean over probes of ‖Δg‖ (or ‖Δg‖²)
    trace: Tensor  # mean over probes of (h v)ᵀ Δg  ≈ h² tr(H)
    grad_norm: Tensor  # ‖∇ₓℓ(x)‖ at the unperturbed input


def _check_inputs(model: nn.Module, x: Tensor, y: Tensor, h: float, n_probes: int) -> None:
    """Raise TypeError/ValueError naming the offending argument and the fix."""
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise TypeError("x and y must be torch tensors")
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(
            f"x has dtype {x.dtype}; finite differences at small h need float32 or float64: pass x.float()"
        )
    param = next(model.parameters(), None)
    if param is not None and param.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"model parameters have dtype {param.dtype}; convert the model with model.float()")
    if x.dim() < 2:
        raise ValueError(f"x must be batched, shape [B, ...]; got shape {tuple(x.shape)}")
    if y.dim() != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"y must have shape [B] = [{x.shape[0]}] to match x; got {tuple(y.shape)}")
    if y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8, torch.int8):
        raise TypeError(f"y must hold integer class labels; got dtype {y.dtype}")
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or infinite values: clean or impute the inputs first")
    if not (h > 0 and h == h and h != float("inf")):
        raise ValueError(f"h must be a positive finite step size; got h={h}")
    if int(n_probes) != n_probes or n_probes < 1:
        raise ValueError(f"n_probes must be an integer >= 1; got n_probes={n_probes}")


def _check_probes(probes: Tensor, n_probes: int, x: Tensor) -> None:
    expected = (n_probes, *x.shape)
    if tuple(probes.shape) != expected:
        raise ValueError(f"probes must have shape (n_probes, *x.shape) = {expected}; got {tuple(probes.shape)}")
    if not bool((probes.abs() == 1).all()):
        raise ValueError("probes must contain only +1 and -1 (Rademacher); got other values")


def _layout(x: Tensor) -> Tensor:
    """Image batches in channels-last layout, which the convolutions then follow (about 1.5-2x faster
    on CPU in our benchmarks); the model itself is not touched. Other shapes are returned as they are.

    ``Tensor.to(memory_format=...)`` rather than ``.contiguous(memory_format=...)``: for 1-channel
    images (MNIST) the latter keeps the NCHW strides, which are equally "contiguous" when C = 1,
    and oneDNN then picks a slow kernel for the first convolution's input gradient (the small CNN's
    pass ran 2x slower)."""
    return x.to(memory_format=torch.channels_last) if x.dim() == 4 else x


def _input_gradient(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """∇ₓ Σ_b CE(f(x_b), y_b): row b is the gradient of sample b's own loss (eval mode)."""
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return grad


@contextlib.contextmanager
def _exact_float_scoring(model: nn.Module, device: torch.device):
    """Eval mode, no autocast, no TF32; everything restored on exit."""
    was_training = model.training
    tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    model.eval()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        with torch.autocast(device_type=device.type, enabled=False), torch.enable_grad():
            yield
    finally:
        model.train(was_training)
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32


def input_loss_curvature_with_trace(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    h: float = 1e-3,
    n_probes: int | None = None,
    squared: bool = False,
    probes: Tensor | None = None,
    generator: torch.Generator | None = None,
    chunk_size: int | None = None,
) -> CurvatureScores:
    """Curvature, trace estimate and input-gradient norm of each sample, from n + 1 gradient passes.

    Contract (Garg et al. 2024, Eq. for Curv with the authors' unsquared default):
        Δgᵢ = ∇ₓℓ(x + h vᵢ) − ∇ₓℓ(x),   ℓ = per-sample cross-entropy of ``model(x)`` against ``y``
        curvature = mean_i ‖Δgᵢ‖ (‖Δgᵢ‖² if ``squared``),  trace = mean_i (h vᵢ)ᵀΔgᵢ,
        grad_norm = ‖∇ₓℓ(x)‖.
    The model is evaluated in eval mode (restored afterwards), in float32/float64 with autocast
    and TF32 disabled; no parameter gradient is computed or stored. Scores of a sample depend only
    on that sample and its probes, never on the rest of the batch.

    Args:
        model: classifier returning logits [B, C].
        x: inputs [B, ...] in the model's (normalised) input space, float32 or float64.
        y: integer labels [B] in [0, C).
        h: finite-difference step (> 0).
        n_probes: number of Rademacher probes n (>= 1); default ``len(probes)`` if probes are
            given, else 10 (the paper's n).
        squared: average ‖Δg‖² (the paper's equation) instead of ‖Δg‖ (the authors' code).
        probes: optional ±1 tensor [n_probes, *x.shape], used as is (any dtype).
        generator: torch.Generator for drawing probes when ``probes`` is None.
        chunk_size: probes evaluated per forward/backward pass (memory ∝ chunk_size·B);
            default max(1, 256 // B), which bounds a pass to about 256 perturbed samples (on a
            2-core CPU, larger passes were slower: their big short-lived buffers page-fault).

    Example:
        >>> s = input_loss_curvature_with_trace(model, x, y, n_probes=10)
        >>> s.curvature.shape == (x.shape[0],)
    """
    if n_probes is None:
        n_probes = 10 if probes is None else int(probes.shape[0])
    _check_inputs(model, x, y, h, n_probes)
    n_probes = int(n_probes)
    if probes is None:
        probes = torch.randint(0, 2, (n_probes, *x.shape), generator=generator, dtype=torch.int8) * 2 - 1
    else:
        _check_probes(probes, n_probes, x)
    chunk = max(1, 256 // x.shape[0]) if chunk_size is None else int(chunk_size)
    if chunk < 1:
        raise ValueError(f"chunk_size must be >= 1; got {chunk_size}")

    batch = x.shape[0]
    x = x.detach()
    with _exact_float_scoring(model, x.device):
        y = y.to(device=x.device, dtype=torch.long)
        x0 = _layout(x.clone()).requires_grad_(True)
        logits = model(x0)
        n_classes = logits.shape[-1]
        if int(y.min()) < 0 or int(y.max()) >= n_classes:
            raise ValueError(
                f"labels y must lie in [0, {n_classes}) for a model with {n_classes} outputs; "
                f"got min {int(y.min())}, max {int(y.max())}"
            )
        (g0,) = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), x0)
        g0 = g0.contiguous()
        curvature = torch.zeros(batch, dtype=x.dtype, device=x.device)
        trace = torch.zeros_like(curvature)
        for start in range(0, n_probes, chunk):
            v = probes[start : start + chunk].to(device=x.device, dtype=x.dtype)
            k = v.shape[0]
            x_pert = _layout((x.unsqueeze(0) + h * v).reshape(k * batch, *x.shape[1:]))
            g = _input_gradient(model, x_pert, y.repeat(k)).contiguous().reshape(k, batch, -1)
            diff = g - g0.reshape(1, batch, -1)
            norm_sq = diff.pow(2).sum(dim=2)
            curvature += (norm_sq if squared else norm_sq.sqrt()).sum(dim=0)
            trace += h * (v.reshape(k, batch, -1) * diff).sum(dim=2).sum(dim=0)
    return CurvatureScores(
        curvature=(curvature / n_probes).detach(),
        trace=(trace / n_probes).detach(),
        grad_norm=g0.reshape(batch, -1).norm(dim=1).detach(),
    )


def input_loss_curvature(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    h: float = 1e-3,
    n_probes: int | None = None,
    squared: bool = False,
    probes: Tensor | None = None,
    generator: torch.Generator | None = None,
    chunk_size: int | None = None,
) -> Tensor:
    """Per-sample input-loss curvature, mean_i ‖∇ₓℓ(x + h vᵢ) − ∇ₓℓ(x)‖, shape [B].

    The curvature field of :func:`input_loss_curvature_with_trace`; see it for the full contract.

    Example:
        >>> scores = input_loss_curvature(model, x, y, h=1e-3, n_probes=10)
    """
    return input_loss_curvature_with_trace(
        model, x, y, h=h, n_probes=n_probes, squared=squared, probes=probes, generator=generator, chunk_size=chunk_size
    ).curvature


def keyed_rademacher_probes(index: Tensor, n_probes: int, sample_shape: tuple[int, ...], seed: int) -> Tensor:
    """Rademacher probes that depend only on (seed, dataset index, probe number, element).

    Contract: returns an int8 tensor of ±1 with shape [n_probes, len(index), *sample_shape];
    row ``[:, b]`` is a pure function of ``(seed, index[b])``. Scores computed with these probes
    are therefore identical whatever the batching, shuffling, resumption or sharding over ranks.

    Example:
        >>> v = keyed_rademacher_probes(torch.tensor([7, 3]), 10, (1, 28, 28), seed=0)
        >>> v.shape
        torch.Size([10, 2, 1, 28, 28])
    """
    numel = 1
    for d in sample_shape:
        numel *= int(d)
    key = index_keys(index, seed, salt=0x3C6EF372).view(1, -1, 1)
    key = mix32(key ^ torch.arange(n_probes, dtype=torch.int64).view(-1, 1, 1))
    bits = mix32(key ^ torch.arange(numel, dtype=torch.int64).view(1, 1, -1)) >> 31
    return (bits.to(torch.int8) * 2 - 1).reshape(n_probes, len(index), *sample_shape)


def probe_differences(model: nn.Module, x: Tensor, y: Tensor, *, h: float, probes: Tensor) -> Tensor:
    """‖∇ₓℓ(x + h vᵢ) − ∇ₓℓ(x)‖ for each probe vᵢ separately, shape [n_probes, B].

    The per-probe terms whose mean is :func:`input_loss_curvature` (each row is that function with
    one probe, so the semantics are the same). For a twice-differentiable loss, ‖Δgᵢ‖/h → ‖H vᵢ‖ as
    h → 0; with ReLU networks Δg also jumps where x + t·h·vᵢ crosses an activation boundary.

    Example:
        >>> probes = keyed_rademacher_probes(index, 10, tuple(x.shape[1:]), seed=0)
        >>> per_probe = probe_differences(model, x, y, h=1e-3, probes=probes) / 1e-3
    """
    return torch.stack([input_loss_curvature(model, x, y, h=h, probes=probes[i : i + 1]) for i in range(probes.shape[0])])

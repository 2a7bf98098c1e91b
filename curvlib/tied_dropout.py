"""Example-tied dropout (Maini et al., "Can Neural Network Memorization Be Localized?", ICML 2023, §5).

A layer's channels split in two. The first ⌊p_gen·C⌋ *generalization* channels are always on. Each
remaining *memorization* channel is kept for example i with probability p_mem, by a mask that is a pure
function of (seed, i, channel): the same in every epoch, whatever the batch. Training thus gives each
example a few channels of its own to memorise in; dropping them all afterwards should remove what was
memorised and keep what generalises. Modes, as in the authors' code (no 1/(1−p) rescaling in training):

- ``train``: memorization channels multiplied by the example's mask (needs the examples' dataset indices);
- ``test``: memorization channels multiplied by p_mem (their expected mask);
- ``drop``: memorization channels zeroed, generalization channels multiplied by (p_gen + p_mem) / p_gen.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .keyed import index_keys, mix32

__all__ = ["ExampleTiedDropout", "ExampleTiedNet", "with_example_tied_dropout", "tied_masks", "MODES"]

MODES = ("train", "test", "drop")


def tied_masks(index: Tensor, channels: int, p_gen: float, p_mem: float, seed: int) -> Tensor:
    """Float masks [len(index), channels]: 1 on the first ⌊p_gen·channels⌋ channels; on each other channel c,
    1 where u(seed, index, c) < p_mem, u a uniform in [0, 1) hashed from its arguments, else 0.

    Example:
        >>> tied_masks(torch.tensor([4, 9]), 10, p_gen=0.5, p_mem=0.2, seed=0)[:, :5]  # always on
        tensor([[1., 1., 1., 1., 1.],
                [1., 1., 1., 1., 1.]])
    """
    key = index_keys(index, seed, salt=0x1B873593).view(-1, 1)
    uniform = mix32(key ^ torch.arange(channels, dtype=torch.int64).view(1, -1)).double() / 2**32
    keep = uniform < p_mem
    keep[:, : int(p_gen * channels)] = True
    return keep.float()


class ExampleTiedDropout(nn.Module):
    """Example-tied dropout over dimension 1 (channels of [B, C, H, W] maps, constant over space, or
    features of [B, C]). ``index`` (the batch's dataset indices) is set by :class:`ExampleTiedNet` before
    each forward pass; ``mode`` is one of :data:`MODES` and training always uses ``train``."""

    def __init__(self, p_gen: float = 0.5, p_mem: float = 0.2, seed: int = 0):
        super().__init__()
        if not (0 < p_gen < 1 and 0 < p_mem <= 1):
            raise ValueError(f"example-tied dropout needs 0 < p_gen < 1 and 0 < p_mem <= 1; got p_gen={p_gen}, p_mem={p_mem}")
        self.p_gen, self.p_mem, self.seed = p_gen, p_mem, seed
        self.mode = "test"
        self.index: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        channels = x.shape[1]
        n_gen = int(self.p_gen * channels)
        shape = (x.shape[0], channels) + (1,) * (x.dim() - 2)
        mode = "train" if self.training else self.mode
        if mode == "train":
            if self.index is None or len(self.index) != x.shape[0]:
                raise ValueError("example-tied dropout in train mode needs the batch's dataset indices: call ExampleTiedNet(x, index)")
            return x * tied_masks(self.index, channels, self.p_gen, self.p_mem, self.seed).to(x).view(shape)
        scale = torch.full((channels,), self.p_mem if mode == "test" else 0.0, dtype=x.dtype, device=x.device)
        scale[:n_gen] = 1.0 if mode == "test" else (self.p_gen + self.p_mem) / self.p_gen
        return x * scale.view((1, channels) + (1,) * (x.dim() - 2))


class ExampleTiedNet(nn.Module):
    """A network with :class:`ExampleTiedDropout` layers inside; ``forward(x, index=None)`` hands ``index``
    to them. :func:`curvlib.training.train_and_score` passes the indices (``takes_index``). ``mode`` sets
    the mode of every dropout layer (used outside training)."""

    takes_index = True

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def _dropouts(self) -> list[ExampleTiedDropout]:
        return [m for m in self.body.modules() if isinstance(m, ExampleTiedDropout)]

    @property
    def mode(self) -> str:
        return self._dropouts()[0].mode

    @mode.setter
    def mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
        for layer in self._dropouts():
            layer.mode = mode

    def forward(self, x: Tensor, index: Tensor | None = None) -> Tensor:
        for layer in self._dropouts():
            layer.index = index
        try:
            return self.body(x)
        finally:
            for layer in self._dropouts():
                layer.index = None


def with_example_tied_dropout(model: nn.Module, after: tuple[str, ...], p_gen: float = 0.5, p_mem: float = 0.2, seed: int = 0) -> ExampleTiedNet:
    """``model`` with an :class:`ExampleTiedDropout` applied to the output of each submodule named in ``after``
    (``model.named_modules()`` names: each becomes ``Sequential(module, dropout)``), wrapped in :class:`ExampleTiedNet`.

    Example:
        >>> net = with_example_tied_dropout(mlp(784, 10, (512, 256)), after=("2", "4"))  # after both hidden ReLUs
        >>> net = with_example_tied_dropout(resnet9(), after=("layer2", "layer3"))  # after the 2nd and 3rd stages
    """
    modules = dict(model.named_modules())
    unknown = [name for name in after if name not in modules or name == ""]
    if unknown or not after:
        raise ValueError(f"after must name submodules of the model; {unknown or 'none'} given, choose from {[n for n in modules if n][:12]}")
    for name in after:
        parent, _, child = name.rpartition(".")
        holder = modules[parent] if parent else model
        setattr(holder, child, nn.Sequential(modules[name], ExampleTiedDropout(p_gen, p_mem, seed)))
    return ExampleTiedNet(model)

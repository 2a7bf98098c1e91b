"""Where memorization lives in a network (Maini et al., "Can Neural Network Memorization Be Localized?", ICML 2023).

Four probes of a network trained on data with flipped labels, all over the same explicit
:func:`layer_groups` (each convolution or linear layer with its BatchNorm; the classifier its own group):

- :class:`GradientAccounting`: per epoch and group, the norms of the summed clean and noisy parts of the
  mini-batch gradients, and their cosine (attached to :func:`curvlib.training.train_and_score`'s batch hook);
- :class:`WeightHistory` and :func:`rewind`: the final model with one group set back to an earlier epoch's weights;
- :func:`retrain_group`: one group re-initialised and retrained on the clean samples, every other parameter frozen;
- :func:`flip_example`: greedy zeroing of the units that most raise one example's loss relative to its batch,
  until its prediction changes.

Example-tied dropout, which *directs* memorization into chosen channels, is :mod:`curvlib.tied_dropout`.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .distributed import rank_and_world
from .training import TrainConfig, evaluate, train_and_score

__all__ = [
    "LayerGroup", "layer_groups", "GradientAccounting", "WeightHistory", "rewind", "correct_per_sample", "retrain_group", "zero_units",
    "flip_example", "FlipOutcome",
]  # fmt: skip

_LAYERS = (nn.Conv2d, nn.Linear)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
# A BatchNorm's path from its layer's path: ResNet18 blocks (conv1/bn1, conv2/bn2; torchvision's stem too),
# the CIFAR ResNet18's stem, the shortcut / downsample pair (0 = conv, 1 = BN) and ResNet-9's conv-BN units.
_NORM_OF = (("conv1", "bn1"), ("conv2", "bn2"), ("stem", "stem_bn"), ("shortcut.0", "shortcut.1"), ("downsample.0", "downsample.1"), ("conv", "bn"))


@dataclass(frozen=True)
class LayerGroup:
    """One layer group: a convolution or linear layer (``layer``, a module path) and its BatchNorm (``norm``,
    or None). ``norm_follows``: the BatchNorm normalises the layer's output (post-activation networks) rather
    than its input (pre-activation networks, where a BatchNorm belongs to the layer that reads it)."""

    name: str
    layer: str
    norm: str | None = None
    norm_follows: bool = True

    def modules(self, model: nn.Module) -> list[nn.Module]:
        """The group's modules in ``model``: [layer] or [layer, norm]."""
        found = dict(model.named_modules())
        return [found[self.layer]] + ([found[self.norm]] if self.norm else [])

    def parameter_names(self, model: nn.Module) -> list[str]:
        """Names (as in ``model.named_parameters()``) of the group's parameters."""
        prefixes = [self.layer] + ([self.norm] if self.norm else [])
        return [n for n, _ in model.named_parameters() if n.rsplit(".", 1)[0] in prefixes]


def layer_groups(model: nn.Module) -> list[LayerGroup]:
    """The layer groups of ``model``, input first, the classifier (the last linear layer) last and named "classifier".

    Every parameter belongs to exactly one group (checked; a ValueError names any that does not):

    - MLP and small CNN (:mod:`curvlib.models`): one group per linear/conv layer, named linear1, …, conv1, ….
    - ResNet-9: each conv-BN-ReLU unit (prep, layer1.0, layer1.1.res1, …): 8 groups, and the classifier: 9.
    - CIFAR and torchvision ResNet18: the stem conv with its BN, each block's conv1/bn1 and conv2/bn2 and each
      shortcut conv with its BN (20 groups), and the classifier: 21.
    - Pre-activation ResNet18: each BatchNorm goes with the conv that reads it (bn1 with conv1, bn2 with
      conv2), the final BatchNorm with the classifier.
    - :class:`curvlib.tied_dropout.ExampleTiedNet`: the groups of the network it wraps (dropout has no parameters).

    Example:
        >>> [g.name for g in layer_groups(mlp(784, 10, (512, 256)))]
        ['linear1', 'linear2', 'classifier']
    """
    modules = dict(model.named_modules())
    layers = [name for name, m in modules.items() if isinstance(m, _LAYERS)]
    preact = bool(getattr(model, "preact", False))
    flat = len({path.rsplit(".", 1)[0] if "." in path else "" for path in layers}) == 1  # one Sequential: number the layers
    counts = {"conv": 0, "linear": 0}
    groups = []
    for path in layers[:-1]:
        norm = None
        for layer_suffix, norm_suffix in _NORM_OF:
            if path == layer_suffix or path.endswith("." + layer_suffix):
                candidate = path[: len(path) - len(layer_suffix)] + norm_suffix
                norm = candidate if isinstance(modules.get(candidate), _NORMS) else None
                break
        if flat:
            kind = "conv" if isinstance(modules[path], nn.Conv2d) else "linear"
            counts[kind] += 1
            name = f"{kind}{counts[kind]}"
        else:
            name = path.removesuffix(".conv")
        groups.append(LayerGroup(name, path, norm, norm_follows=not preact))
    final_norm = "final_bn" if isinstance(modules.get("final_bn"), _NORMS) else None
    groups.append(LayerGroup("classifier", layers[-1], final_norm, norm_follows=False))
    covered = [n for g in groups for n in g.parameter_names(model)]
    missing = sorted(set(dict(model.named_parameters())) - set(covered))
    if missing:
        raise ValueError(f"layer_groups does not know how to group {type(model).__name__}: parameters {missing[:5]} belong to no group")
    shared = sorted({n for n in covered if covered.count(n) > 1})
    if shared:
        raise ValueError(f"layer_groups does not know how to group {type(model).__name__}: parameters {shared[:5]} belong to more than one group")
    return groups


def _group_norm(tensors: dict[str, Tensor], names: list[str]) -> float:
    return float(sum(tensors[n].norm() / tensors[n].numel() ** 0.5 for n in names))


class GradientAccounting:
    """Maini et al.'s gradient accounting, as a ``train_and_score(on_batch=...)`` hook.

    Per batch, with b the batch size and ℓ_i the per-sample losses, the loss splits into
    L_clean = (1/b) Σ_{i clean} ℓ_i and L_noisy = (1/b) Σ_{i noisy} ℓ_i (each weighted by its share of the
    batch), so g_clean + g_noisy = g_total exactly, BatchNorm included (the split is of the loss, after the
    forward pass). Each part's gradient is summed per parameter over an epoch (G_clean, G_noisy);
    :meth:`end_epoch` then records per group the RMS-normalised norm Σ_p ‖G_p‖₂ / √numel(p) of the clean,
    noisy and total sums, the noisy share noisy / (clean + noisy) and the cosine between G_clean and G_noisy
    over the group's parameters. Costs two extra backward passes per batch; single process only.

    Example:
        >>> accounting = GradientAccounting(model, noisy_index=train_set.index[train_set.is_noisy])
        >>> train_and_score(model, train_set, config, on_batch=accounting, on_epoch_end=lambda e, m: accounting.end_epoch(e))
        >>> accounting.table()  # epoch, group, clean, noisy, total, noisy_share, cosine
    """

    def __init__(self, model: nn.Module, noisy_index, groups: list[LayerGroup] | None = None):
        if rank_and_world()[1] > 1:
            raise ValueError("GradientAccounting runs in a single process; launch without torchrun")
        self.model = model
        self.groups = groups or layer_groups(model)
        self.noisy_index = torch.as_tensor(np.asarray(noisy_index), dtype=torch.long)
        self.params = {n: p for n, p in model.named_parameters() if p.requires_grad}
        self.clean_sum = {n: torch.zeros_like(p) for n, p in self.params.items()}
        self.noisy_sum = {n: torch.zeros_like(p) for n, p in self.params.items()}
        self.rows: list[dict] = []

    def __call__(self, losses: Tensor, index: Tensor) -> None:
        """Add this batch's clean and noisy gradients (``losses`` per sample, summing to the batch loss)."""
        noisy = torch.isin(index.cpu(), self.noisy_index).to(losses.device)
        names = list(self.params)
        for part, sums in ((losses[~noisy].sum(), self.clean_sum), (losses[noisy].sum(), self.noisy_sum)):
            grads = torch.autograd.grad(part, [self.params[n] for n in names], retain_graph=True, allow_unused=True)
            for name, grad in zip(names, grads):
                if grad is not None:
                    sums[name] += grad.detach()

    def end_epoch(self, epoch: int) -> None:
        """Record the finished (0-based) ``epoch``'s rows, one per group, and start the next epoch's sums at zero."""
        total = {n: self.clean_sum[n] + self.noisy_sum[n] for n in self.params}
        for group in self.groups:
            names = [n for n in group.parameter_names(self.model) if n in self.params]
            clean, noisy = _group_norm(self.clean_sum, names), _group_norm(self.noisy_sum, names)
            a = torch.cat([self.clean_sum[n].flatten() for n in names])
            b = torch.cat([self.noisy_sum[n].flatten() for n in names])
            cosine = float(a @ b / (a.norm() * b.norm())) if a.norm() > 0 and b.norm() > 0 else float("nan")
            self.rows.append({
                "epoch": epoch + 1, "group": group.name, "clean": clean, "noisy": noisy, "total": _group_norm(total, names),
                "noisy_share": noisy / (clean + noisy) if clean + noisy > 0 else float("nan"), "cosine": cosine,
            })  # fmt: skip
        for sums in (self.clean_sum, self.noisy_sum):
            for value in sums.values():
                value.zero_()

    def table(self) -> pd.DataFrame:
        """One row per (epoch, group): epoch (1-based), group, clean, noisy, total, noisy_share, cosine."""
        return pd.DataFrame(self.rows)


class WeightHistory:
    """Copies of a model's parameters after chosen epochs, as a ``train_and_score(on_epoch_end=...)`` hook.

    ``epochs`` are 1-based epoch counts; 0 is the initialisation, copied when the history is created (so
    create it before training). ``weights[e]`` maps parameter names to CPU tensors. Buffers (BatchNorm
    running statistics) are not kept: rewinding swaps parameters only, as Maini et al. do.
    """

    def __init__(self, model: nn.Module, epochs):
        self.epochs = tuple(sorted(set(int(e) for e in epochs)))
        self.weights: dict[int, dict[str, Tensor]] = {}
        if 0 in self.epochs:
            self._keep(0, model)

    def _keep(self, epoch: int, model: nn.Module) -> None:
        self.weights[epoch] = {n: p.detach().cpu().clone() for n, p in model.named_parameters()}

    def __call__(self, epoch: int, model: nn.Module) -> None:
        if epoch + 1 in self.epochs:
            self._keep(epoch + 1, model)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat dict ``weights/<epoch>/<parameter>`` for ``np.savez``."""
        return {f"weights/{e}/{n}": t.numpy() for e, named in self.weights.items() for n, t in named.items()}

    @staticmethod
    def from_arrays(arrays: dict[str, np.ndarray]) -> dict[int, dict[str, Tensor]]:
        """Inverse of :meth:`to_arrays`: {epoch: {parameter name: tensor}}."""
        weights: dict[int, dict[str, Tensor]] = {}
        for key, value in arrays.items():
            if key.startswith("weights/"):
                _, epoch, name = key.split("/", 2)
                weights.setdefault(int(epoch), {})[name] = torch.from_numpy(np.asarray(value))
        return weights


def rewind(model: nn.Module, group: LayerGroup, weights: dict[str, Tensor]) -> nn.Module:
    """A copy of ``model`` whose ``group`` parameters are replaced by ``weights`` (e.g. an early epoch's from
    :class:`WeightHistory`); every other parameter and every buffer stays as in ``model``."""
    out = copy.deepcopy(model)
    params = dict(out.named_parameters())
    with torch.no_grad():
        for name in group.parameter_names(out):
            params[name].copy_(weights[name])
    return out


def correct_per_sample(model: nn.Module, dataset, config: TrainConfig, *, device: str | torch.device = "cpu") -> np.ndarray:
    """1.0 where ``model`` (eval mode, batches of ``config.score_batch_size``) predicts a sample's given label, else 0.0:
    [len(dataset)], the ``correct`` of :func:`curvlib.training.evaluate` without curvature."""
    return evaluate(model, dataset, config, epoch=0, with_curvature=False, device=torch.device(device))["correct"]


def retrain_group(
    model: nn.Module, group: LayerGroup, clean_set, config: TrainConfig, *, eval_set, seed: int = 0, device: str = "cpu",
) -> tuple[nn.Module, np.ndarray]:
    """Maini et al.'s retraining: re-initialise ``group`` (its modules' ``reset_parameters``, seeded with
    ``seed``), freeze everything else and train on ``clean_set`` only.

    Contract: returns (the retrained copy, correctness [config.epochs + 1, len(eval_set)] of ``eval_set``, eval
    mode: row 0 right after the re-initialisation, row e after epoch e). ``model`` is untouched. In the copy, every parameter outside the group and every
    buffer outside it (BatchNorm running statistics, held by momentum 0 while training) is bit-identical to
    ``model``'s. (The authors' public code froze nothing and trained on an inverted mask; this follows the paper.)
    """
    out = copy.deepcopy(model)
    own = set(group.parameter_names(out))
    torch.manual_seed(seed)
    for module in group.modules(out):
        module.reset_parameters()
    for name, param in out.named_parameters():
        param.requires_grad_(name in own)
    held = [m for m in out.modules() if isinstance(m, _NORMS) and all(m is not g for g in group.modules(out))]
    momenta = [m.momentum for m in held]
    for m in held:
        m.momentum = 0.0  # running = (1 − 0)·running + 0·batch: unchanged
    def record(epoch: int, net: nn.Module) -> None:
        correct.append(correct_per_sample(net, eval_set, config, device=device))

    correct: list[np.ndarray] = []
    record(0, out)
    train_and_score(out, clean_set, replace(config, score_every=0, seed=seed), device=device, on_epoch_end=record)
    for m, momentum in zip(held, momenta):
        m.momentum = momentum
    for param in out.parameters():
        param.requires_grad_(True)
    return out, np.stack(correct)


def _units(model: nn.Module, groups: list[LayerGroup]) -> list[tuple[LayerGroup, list[tuple[str, nn.Parameter]]]]:
    """For each hidden group, the parameters whose first axis indexes its output units (the layer's weight and
    bias; a following BatchNorm's weight and bias)."""
    out = []
    for group in groups:
        if group.name == "classifier":
            continue
        modules = group.modules(model)[: 2 if group.norm_follows else 1]
        out.append((group, [(n, p) for m in modules for n, p in m.named_parameters(recurse=False)]))
    return out


def zero_units(model: nn.Module, groups: list[LayerGroup], units: list[tuple[str, int]]) -> None:
    """Zero, in place, each unit (group name, output channel): its slice of the layer's weight and bias and,
    where a BatchNorm follows, its scale and shift, so the unit outputs exactly 0 before the nonlinearity."""
    by_name = {g.name: params for g, params in _units(model, groups)}
    with torch.no_grad():
        for group, channel in units:
            for _, param in by_name[group]:
                param[channel] = 0


@dataclass
class FlipOutcome:
    """What :func:`flip_example` did: the zeroed ``units`` (group, channel) in order, whether the prediction
    changed, the prediction before and after."""

    units: list[tuple[str, int]]
    flipped: bool
    before: int
    after: int


def flip_example(
    model: nn.Module, x: Tensor, y: Tensor, x_rest: Tensor, y_rest: Tensor, *, groups: list[LayerGroup] | None = None,
    copies: int = 5, noise: float = 0.01, max_units: int = 500, generator: torch.Generator | None = None,
) -> tuple[FlipOutcome, nn.Module]:
    """Maini et al.'s neuron flipping of one example (x [C, H, W] or [D], label y) in eval mode.

    Repeatedly: J = −ℓ(x, y) + mean ℓ over the rest of its batch (x_rest, y_rest), averaged over ``copies``
    copies of the batch with Gaussian input noise of ℓ₂ norm ``noise``·‖input‖ per sample; each hidden unit
    (output channel of a conv/linear layer, classifier excluded) scores Σ θ ⊙ ∂J/∂θ over its parameters
    (:func:`zero_units`); the unit with the largest positive score is zeroed. Stops as soon as the
    example's prediction differs from its prediction before, when no unit scores above 0, or after
    ``max_units``. A unit is never zeroed twice.

    Contract: returns (outcome, the modified copy of ``model``); ``model`` is untouched.
    """
    out = copy.deepcopy(model).eval()
    groups = groups or layer_groups(out)
    units = _units(out, groups)
    batch_x = torch.cat([x[None], x_rest]).repeat(copies, *[1] * x.dim())
    batch_y = torch.cat([y.view(1), y_rest]).repeat(copies)
    with torch.no_grad():
        before = int(out(x[None]).argmax(1))
    zeroed: list[tuple[str, int]] = []
    after = before
    while after == before and len(zeroed) < max_units:
        eps = torch.randn(batch_x.shape, generator=generator).to(batch_x.device)
        scale = noise * batch_x.flatten(1).norm(dim=1) / eps.flatten(1).norm(dim=1).clamp_min(1e-12)
        losses = F.cross_entropy(out(batch_x + eps * scale.view(-1, *[1] * x.dim())), batch_y, reduction="none").view(copies, -1)
        objective = (-losses[:, 0] + losses[:, 1:].mean(1)).mean()
        params = [p for _, named in units for _, p in named]
        grads = iter(torch.autograd.grad(objective, params))
        scores = []
        for group, named in units:
            score = sum((p * next(grads)).detach().flatten(1).sum(1) if p.dim() > 1 else (p * next(grads)).detach() for _, p in named)
            for g_name, channel in zeroed:
                if g_name == group.name:
                    score[channel] = float("-inf")
            scores.append(score)
        flat = torch.cat(scores)
        best = int(flat.argmax())
        if not flat[best] > 0:
            break
        sizes = np.cumsum([0] + [len(s) for s in scores])
        g = int(np.searchsorted(sizes, best, side="right") - 1)
        unit = (units[g][0].name, best - int(sizes[g]))
        zero_units(out, groups, [unit])
        zeroed.append(unit)
        with torch.no_grad():
            after = int(out(x[None]).argmax(1))
    return FlipOutcome(zeroed, after != before, before, after), out

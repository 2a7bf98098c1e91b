"""Feldman–Zhang memorization scores (Feldman & Zhang, NeurIPS 2020) and the tools around them.

    mem(i) = P[h(xᵢ) = yᵢ | i ∈ S] − P[h(xᵢ) = yᵢ | i ∉ S],

estimated by training K models h on random subsets S of a fraction r of the data and averaging each
sample's correctness over the models that did (in) and did not (out) see it. Small models are trained
many at a time as one vectorised ensemble (``torch.func.stack_module_state`` + ``functional_call`` +
``vmap``); models that cannot be vectorised (BatchNorm in train mode) are trained one by one. An
ensemble can also be a set of distilled students, each taught by the teacher trained on its own subset.
"""
from __future__ import annotations

import copy
import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from tqdm import tqdm

from .data import IndexedDataset
from .distributed import rank_and_world
from .results import atomic_write
from .training import Distillation, TrainConfig, augment_batch, lr_scheduler, sgd_step, train_and_score

__all__ = [
    "FZResult", "EnsembleOutputs", "feldman_zhang", "subset_membership", "train_ensemble", "load_feldman_zhang_scores",
    "align_to_torchvision", "align_imagenet_by_filename", "find_conflicting_duplicates",
]  # fmt: skip


@dataclass
class FZResult:
    """Per-sample Feldman–Zhang estimates (arrays [N] in dataset order) and the raw K×N records.

    A rate is NaN for a sample that no model had in (or out of) its subset.
    """

    index: np.ndarray  # raw dataset index of each column
    membership: np.ndarray  # [K, N] bool: sample in model k's training subset
    correct: np.ndarray  # [K, N] bool: model k predicts the given label
    test_correct: np.ndarray | None = None  # [K, N_test] bool on the test split, when one was given
    logits: np.ndarray | None = None  # [K, N, C] float32, when kept (a teacher's, for distillation)

    def _rates(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        count = mask.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = (self.correct & mask).sum(axis=0) / count
            se = np.sqrt(acc * (1 - acc) / count)
        return acc, se

    @property
    def acc_in(self) -> np.ndarray:
        """P[correct | in subset], the mean correctness over the models trained on the sample."""
        return self._rates(self.membership)[0]

    @property
    def acc_out(self) -> np.ndarray:
        """P[correct | not in subset], over the models that never saw the sample."""
        return self._rates(~self.membership)[0]

    @property
    def memorization(self) -> np.ndarray:
        """acc_in − acc_out."""
        return self.acc_in - self.acc_out

    @property
    def standard_error(self) -> np.ndarray:
        """sqrt(se_in² + se_out²) with se = sqrt(p(1−p)/count), the binomial standard error of each rate."""
        return np.sqrt(self._rates(self.membership)[1] ** 2 + self._rates(~self.membership)[1] ** 2)

    @property
    def train_accuracy(self) -> float:
        """Mean over models of the accuracy on the model's own training subset (in-sample)."""
        return float(((self.correct & self.membership).sum(1) / self.membership.sum(1)).mean())

    @property
    def test_accuracy(self) -> float:
        """Mean over models of the test accuracy (NaN without a test split)."""
        return float(self.test_correct.mean()) if self.test_correct is not None else float("nan")

    def to_table(self) -> pd.DataFrame:
        """One row per sample: index, memorization, acc_in, acc_out, standard_error, n_in, n_out."""
        return pd.DataFrame({
            "index": self.index, "memorization": self.memorization, "acc_in": self.acc_in, "acc_out": self.acc_out,
            "standard_error": self.standard_error, "n_in": self.membership.sum(0), "n_out": (~self.membership).sum(0),
        })  # fmt: skip


def subset_membership(n: int, n_models: int, fraction: float, seed: int, first: int = 0) -> np.ndarray:
    """[n_models, n] bool: model k (k = first, first+1, …) trains on round(fraction·n) samples drawn from seed (seed, k)."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1); got {fraction}")
    size = int(round(fraction * n))
    mask = np.zeros((n_models, n), dtype=bool)
    for row, k in enumerate(range(first, first + n_models)):
        mask[row, np.random.default_rng([seed, k]).choice(n, size, replace=False)] = True
    return mask


def _vectorizable(model: nn.Module) -> bool:
    return not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


class EnsembleOutputs(NamedTuple):
    """What :func:`train_ensemble` returns: correctness of each model on the data and test split, and logits."""

    correct: np.ndarray  # [K, N] bool: model k predicts the given label of sample j
    test_correct: np.ndarray | None  # [K, N_test] bool, when a test split was given
    logits: np.ndarray | None  # [K, N, C] float32, when keep_logits


def train_ensemble(
    make_model: Callable[[], nn.Module], data: IndexedDataset, membership: np.ndarray, config: TrainConfig, *,
    seed: int, first: int = 0, device: str = "cpu", vectorize: bool | None = None, test: IndexedDataset | None = None,
    keep_logits: bool = False, teacher_logits: np.ndarray | None = None, distillation: Distillation | None = None,
) -> EnsembleOutputs:
    """Train one model per row of ``membership`` on its subset; return its predictions (:class:`EnsembleOutputs`).

    Model k is initialised after ``torch.manual_seed(seed · 100003 + first + k)``. Vectorised (one
    stacked ensemble, per-model SGD with momentum and weight decay, the same learning-rate schedule)
    unless the model has BatchNorm or ``vectorize=False``; then a loop of :func:`train_and_score`.
    ``config.augment`` crops and flips every model's batch independently in both paths.
    With ``teacher_logits`` [K, N, C] (teacher k's logits on ``data``), model k minimises
    ``distillation.loss`` against teacher k instead of the cross-entropy (vectorised path only).
    """  # fmt: skip
    models = []
    for k in range(len(membership)):
        torch.manual_seed(seed * 100_003 + first + k)
        models.append(make_model().to(device))
    vectorize = _vectorizable(models[0]) if vectorize is None else vectorize
    if teacher_logits is not None and not vectorize:
        raise ValueError("distillation trains students as a vectorised ensemble: use a model without BatchNorm")
    if not vectorize:
        quiet = replace(config, score_every=0)
        for model, mask in zip(models, membership):
            train_and_score(model, data.select(np.flatnonzero(mask)), quiet, device=device)
            model.eval()
        return _predict(lambda x: torch.stack([model(x) for model in models]), data, test, config, keep_logits, device)

    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    leaves = list(params.values())
    optimizer = torch.optim.SGD(leaves, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    subsets = torch.as_tensor(np.stack([np.flatnonzero(m) for m in membership]))  # [K, m], equal sizes
    k_models, m = subsets.shape
    scheduler = lr_scheduler(optimizer, config, -(-m // config.batch_size))
    x_all, y_all = data.x.to(device), data.y.to(device)
    teacher = torch.as_tensor(teacher_logits, device=device) if teacher_logits is not None else None
    distillation = distillation or Distillation()
    rows = torch.arange(k_models, device=device)[:, None]

    def batch_loss(p, b, x, y, t):
        logits = functional_call(base, (p, b), (x,))
        return F.cross_entropy(logits, y) if t is None else distillation.loss(logits, y, t)

    for epoch in range(config.epochs):
        generator = torch.Generator().manual_seed(seed * 100_003 + first * 1_000 + epoch)
        order = torch.argsort(torch.rand(k_models, m, generator=generator), dim=1)
        perm = torch.gather(subsets, 1, order)
        for start in range(0, m, config.batch_size):
            idx = perm[:, start : start + config.batch_size].to(device)
            x = x_all[idx]  # [K, B, ...]
            if config.augment:  # every model gets its own crops and flips
                x = augment_batch(x.flatten(0, 1).cpu(), generator).view_as(x).to(device)
            t = teacher[rows, idx] if teacher is not None else None
            loss = vmap(batch_loss, in_dims=(0, 0, 0, 0, 0 if t is not None else None))(params, buffers, x, y_all[idx], t).sum()
            sgd_step(loss, optimizer, scheduler, config, end_of_epoch=False)
        sgd_step(None, optimizer, scheduler, config, end_of_epoch=True)
    forward = lambda x: vmap(lambda p, b: functional_call(base, (p, b), (x,)))(params, buffers)  # noqa: E731
    return _predict(forward, data, test, config, keep_logits, device)


def _predict(forward, data: IndexedDataset, test: IndexedDataset | None, config: TrainConfig, keep_logits: bool, device) -> EnsembleOutputs:
    """Run ``forward`` (x [B, …] -> logits [K, B, C]) over ``data`` and ``test`` in eval batches."""
    def run(part: IndexedDataset, with_logits: bool) -> tuple[np.ndarray, np.ndarray | None]:
        correct, logits = [], []
        with torch.no_grad():
            for start in range(0, len(part), config.score_batch_size):
                x = part.x[start : start + config.score_batch_size].to(device)
                out = forward(x)
                correct.append((out.argmax(-1) == part.y[start : start + len(x)].to(device)).cpu())
                if with_logits:
                    logits.append(out.float().cpu())
        return torch.cat(correct, 1).numpy(), torch.cat(logits, 1).numpy() if with_logits else None

    correct, logits = run(data, keep_logits)
    return EnsembleOutputs(correct, run(test, False)[0] if test is not None else None, logits)


def feldman_zhang(
    data: IndexedDataset, make_model: Callable[[], nn.Module], config: TrainConfig, *, n_models: int,
    fraction: float = 0.7, seed: int = 0, group_size: int = 16, checkpoint_dir: str | os.PathLike | None = None,
    device: str = "cpu", vectorize: bool | None = None, test: IndexedDataset | None = None, keep_logits: bool = False,
    teacher_logits: np.ndarray | None = None, distillation: Distillation | None = None,
) -> FZResult:
    """Feldman–Zhang memorization of every sample of ``data`` from ``n_models`` subset-trained models.

    Models are trained in groups of ``group_size`` (one vectorised ensemble per group). With
    ``checkpoint_dir``, each finished group's arrays are saved as ``group-<g>.npz`` and an
    interrupted run resumes from the groups on disk. Under torchrun, group g is trained by rank
    g mod world and all ranks return the gathered result. ``test`` adds each model's test
    correctness, ``keep_logits`` its logits on ``data``; ``teacher_logits`` [n_models, N, C] (a
    teacher ensemble's ``logits`` on the same subsets: same ``n_models``, ``fraction`` and ``seed``)
    makes model k a student distilled from teacher k (:func:`train_ensemble`).

    Example:
        >>> fz = feldman_zhang(train, lambda: mlp(784), TrainConfig(epochs=10, score_every=0), n_models=100)
        >>> fz.to_table().nlargest(10, "memorization")
    """  # fmt: skip
    if teacher_logits is not None and teacher_logits.shape[:2] != (n_models, len(data)):
        raise ValueError(f"teacher_logits must be [n_models, N, C] = [{n_models}, {len(data)}, C]; got {list(teacher_logits.shape)}")
    rank, world = rank_and_world()
    groups = [(g, g * group_size, min(group_size, n_models - g * group_size)) for g in range(-(-n_models // group_size))]
    found: dict[int, dict[str, np.ndarray]] = {}
    for g, first, size in tqdm([grp for grp in groups if grp[0] % world == rank], desc="FZ model groups", disable=None):
        path = Path(checkpoint_dir) / f"group-{g:05d}.npz" if checkpoint_dir is not None else None
        if path is not None and path.exists():
            with np.load(path) as saved:
                found[g] = {k: saved[k] for k in saved.files}
            continue
        membership = subset_membership(len(data), size, fraction, seed, first)
        out = train_ensemble(
            make_model, data, membership, config, seed=seed, first=first, device=device, vectorize=vectorize, test=test,
            keep_logits=keep_logits, distillation=distillation,
            teacher_logits=teacher_logits[first : first + size] if teacher_logits is not None else None,
        )  # fmt: skip
        arrays = {"membership": membership, **{k: v for k, v in out._asdict().items() if v is not None}}
        found[g] = arrays
        if path is not None:
            atomic_write(path, lambda tmp: _save_npz(tmp, **arrays))
    if world > 1:
        import torch.distributed as dist

        parts: list[dict] = [None] * world  # type: ignore[list-item]
        dist.all_gather_object(parts, found)
        found = {g: v for part in parts for g, v in part.items()}
    stacked = {k: np.concatenate([found[g][k] for g, _, _ in groups]) for k in found[0]}
    return FZResult(np.asarray(data.index), **stacked)


def _save_npz(path: str, **arrays: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def load_feldman_zhang_scores(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a released Feldman–Zhang score file: ``cifar100_infl_matrix.npz`` or ``imagenet_index.npz``.

    Returns {"tr_mem": [N] float, "tr_labels": [N] int, and "tr_filenames" for ImageNet}. Raises
    FileNotFoundError (with where to get it) or ValueError (with the keys found) otherwise.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found. Download the released scores from https://pluskid.github.io/influence-memorization/ "
            "(cifar100_infl_matrix.npz or imagenet_index.npz) into the data root."
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (ValueError, OSError) as err:
        raise ValueError(f"{path} is not a readable .npz file: {err}") from err
    required = {"tr_mem", "tr_labels"}
    if not required <= set(arrays):
        raise ValueError(f"{path} must hold the keys {sorted(required)} (and tr_filenames for ImageNet); found {sorted(arrays)}")
    if arrays["tr_mem"].shape != arrays["tr_labels"].shape:
        raise ValueError(f"{path}: tr_mem {arrays['tr_mem'].shape} and tr_labels {arrays['tr_labels'].shape} differ in shape")
    return {k: arrays[k] for k in ("tr_mem", "tr_labels", "tr_filenames") if k in arrays}


def _digests(images: np.ndarray) -> list[bytes]:
    images = np.ascontiguousarray(images)
    return [hashlib.blake2b(img.tobytes(), digest_size=16).digest() for img in images]


def align_to_torchvision(src_images, src_labels, dst_images, dst_labels) -> np.ndarray:
    """Permutation ``perm`` with dst[perm[j]] == src[j]: maps released (TFDS-order) scores to torchvision order.

    Images are matched by a hash of their raw bytes; among identical images (CIFAR-100 has duplicates)
    the one with the same label is taken, each destination used once. Then ``scores_tv[perm] = tr_mem``.
    Raises ValueError naming the first source image that has no match.
    """
    src_labels, dst_labels = np.asarray(src_labels), np.asarray(dst_labels)
    if len(src_images) != len(dst_images):
        raise ValueError(f"the two orders hold different numbers of images: {len(src_images)} vs {len(dst_images)}")
    buckets: dict[tuple[bytes, int], list[int]] = {}
    for j, (digest, label) in enumerate(zip(_digests(dst_images), dst_labels)):
        buckets.setdefault((digest, int(label)), []).append(j)
    perm = np.empty(len(src_images), dtype=np.int64)
    for i, (digest, label) in enumerate(zip(_digests(src_images), src_labels)):
        candidates = buckets.get((digest, int(label)))
        if not candidates:
            raise ValueError(f"source image {i} (label {int(label)}) has no identical image with that label in the destination")
        perm[i] = candidates.pop(0)
    return perm


def align_imagenet_by_filename(tr_filenames, folder_paths) -> np.ndarray:
    """Permutation mapping ``imagenet_index.npz`` rows to an ImageFolder's samples by file name (basename)."""
    position = {Path(str(p)).name: j for j, p in enumerate(folder_paths)}
    names = [Path(n.decode() if isinstance(n, bytes) else str(n)).name for n in tr_filenames]
    missing = [n for n in names if n not in position]
    if missing:
        raise ValueError(f"{len(missing)} released file names are not in the folder, e.g. {missing[0]!r}")
    return np.array([position[n] for n in names], dtype=np.int64)


def find_conflicting_duplicates(images, labels, *, tolerance: float = 0.02) -> pd.DataFrame:
    """Pairs of exact or near-exact duplicate images whose labels differ.

    Candidates share a coarse fingerprint (the image mean-pooled to at most 8×8 and quantised to 8
    levels); a pair counts when the mean absolute pixel difference (pixels scaled to [0, 1]) is at most
    ``tolerance`` (0 = exact duplicates). Returns columns first, second (positions), label_first,
    label_second, distance.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError(f"images and labels differ in length: {len(images)} vs {len(labels)}")
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    flat = images.reshape(len(images), images.shape[1], images.shape[2], -1).astype(np.float32) / scale
    h, w = flat.shape[1], flat.shape[2]
    fh, fw = max(1, h // 8), max(1, w // 8)
    pooled = flat[:, : h // fh * fh, : w // fw * fw].reshape(len(flat), h // fh, fh, w // fw, fw, -1).mean(axis=(2, 4))
    keys = np.floor(pooled * 8).astype(np.int8).reshape(len(flat), -1)
    buckets: dict[bytes, list[int]] = {}
    for i, key in enumerate(keys):
        buckets.setdefault(key.tobytes(), []).append(i)
    rows = []
    for members in buckets.values():
        for a_pos, a in enumerate(members):
            for b in members[a_pos + 1 :]:
                if labels[a] == labels[b]:
                    continue
                distance = float(np.abs(flat[a] - flat[b]).mean())
                if distance <= tolerance:
                    rows.append((a, b, int(labels[a]), int(labels[b]), distance))
    return pd.DataFrame(rows, columns=["first", "second", "label_first", "label_second", "distance"])

"""Training with per-epoch, per-sample tracking of curvature and of the usual memorization proxies.

One plain loop: SGD with momentum and weight decay, a multi-step, one-cycle or constant learning
rate, optional random crop + flip. At the end of every epoch an eval-mode, unshuffled,
un-augmented pass over the training set records per sample: loss, correctness, margin, probability
of the given label, confidence, prediction, and, every ``score_every`` epochs, the input-loss
curvature (Garg et al. 2024) with its trace estimate and input-gradient norm. Arrays are
[epochs, N] with column j belonging to raw dataset index ``index[j]``.

A checkpoint is written after every epoch; calling :func:`train_and_score` again with the same
checkpoint path resumes and ends with the same scores as an uninterrupted run. Curvature probes
are keyed by (seed, epoch, dataset index), so scores do not depend on batching or resumption.
"""
from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from .curvature import input_loss_curvature, input_loss_curvature_with_trace, keyed_rademacher_probes
from .distributed import EpochBatches, barrier, gather_rows, rank_and_world
from .results import atomic_write

__all__ = ["CHECKPOINT_SECONDS", "TrainConfig", "Distillation", "TrainRecords", "curvature_column", "scored_epochs", "progress_line", "train_and_score", "evaluate", "augment_batch", "lr_scheduler", "sgd_step", "TRACKED"]

log = logging.getLogger(__name__)

# A checkpoint holds every record so far (about 1 GB for 150 epochs of 60,000 samples, seconds to write): after the
# first epoch of a (re)start it is written again only once this many seconds have passed since the last one.
CHECKPOINT_SECONDS = 120.0

# Per-sample quantities recorded every epoch (curvature ones only on scored epochs, NaN otherwise).
TRACKED = ("loss", "correct", "margin", "prob_label", "confidence", "pred", "curvature", "curvature_trace", "grad_norm")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (and therefore its scores)."""

    epochs: int = 10  # passes over the training set
    batch_size: int = 128  # training mini-batch
    lr: float = 0.1  # initial (multistep, constant) or peak (onecycle) learning rate
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 0.0  # L2 coefficient in SGD
    schedule: str = "multistep"  # "multistep" | "onecycle" | "constant"
    milestones: tuple[int, ...] = ()  # multistep: epochs after which lr is multiplied by gamma
    gamma: float = 0.1  # multistep factor
    peak_fraction: float = 0.2  # onecycle: fraction of training spent warming up to lr
    augment: bool = False  # random crop (4-pixel zero padding) + horizontal flip
    score_every: int = 1  # curvature every k epochs (k, 2k, ..., and the last); 0 = never
    h: float = 1e-3  # finite-difference step
    n_probes: int = 10  # Rademacher probes per sample
    squared: bool = False  # average ‖Δg‖² instead of ‖Δg‖
    score_batch_size: int = 256  # samples per scoring/eval batch
    chunk_size: int | None = None  # probes per scoring pass (None = all)
    score_test: bool | str = False  # also score the test set's curvature: True = on every scored epoch, "last" = the last epoch only
    seed: int = 0  # shuffling, augmentation and probe seed
    extra_h: tuple[float, ...] = ()  # further steps scored with the same probes, recorded as curvature_h<h> (curvature_column)
    score_epochs: tuple[int, ...] = ()  # 1-based epochs to score instead of every score_every-th (empty: score_every decides)

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1 or self.score_batch_size < 1:
            raise ValueError("epochs, batch_size and score_batch_size must be >= 1")
        if self.schedule not in ("multistep", "onecycle", "constant"):
            raise ValueError(f"schedule must be 'multistep', 'onecycle' or 'constant'; got {self.schedule!r}")
        if self.score_every < 0:
            raise ValueError(f"score_every must be >= 0; got {self.score_every}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0; got {self.lr}")
        if not all(h > 0 for h in (self.h, *self.extra_h)):
            raise ValueError(f"every step h must be > 0; got h={self.h}, extra_h={self.extra_h}")
        if not all(1 <= e <= self.epochs for e in self.score_epochs):
            raise ValueError(f"score_epochs must lie in 1..{self.epochs}; got {self.score_epochs}")
        if self.score_test not in (True, False, "last"):
            raise ValueError(f"score_test must be True, False or 'last'; got {self.score_test!r}")

    @property
    def tracked(self) -> tuple[str, ...]:
        """The per-sample quantities this run records: :data:`TRACKED`, then one curvature column per ``extra_h``."""
        return (*TRACKED, *(curvature_column(h) for h in self.extra_h))

    def scored_mask(self) -> np.ndarray:
        """Boolean mask [epochs] of the scored epochs: those of ``score_epochs`` if given, else :func:`scored_epochs`."""
        if self.score_epochs:
            mask = np.zeros(self.epochs, dtype=bool)
            mask[np.asarray(self.score_epochs) - 1] = True
            return mask
        return scored_epochs(self.epochs, self.score_every)

    def scored(self, epoch: int) -> bool:
        """Whether curvature is computed at the end of (0-based) ``epoch``: see :meth:`scored_mask`."""
        return bool(self.scored_mask()[epoch])

    def scored_test(self, epoch: int) -> bool:
        """Whether the test split's curvature is computed at the end of (0-based) ``epoch`` (``score_test``)."""
        return self.scored(epoch) and (self.score_test is True or (self.score_test == "last" and epoch == self.epochs - 1))


@dataclass(frozen=True)
class Distillation:
    """Knowledge distillation (Hinton et al. 2015), per sample and averaged over the batch:

        L = (1 − w)·CE(y, s) + w·T²·KL(σ(t/T) ‖ σ(s/T)),

    s and t the student's and teacher's logits. Lukasik et al. (Table 4) use w = 1 and T = 3: the student
    learns from the teacher's soft labels only.
    """

    weight: float = 1.0  # w
    temperature: float = 3.0  # T

    def __post_init__(self):
        if not 0 <= self.weight <= 1 or not self.temperature > 0:
            raise ValueError(f"distillation needs 0 <= weight <= 1 and temperature > 0; got {self.weight}, {self.temperature}")

    def loss(self, student: Tensor, y: Tensor, teacher: Tensor) -> Tensor:
        """The batch mean of L for student logits [B, C], labels [B] and teacher logits [B, C]."""
        t = self.temperature
        log_s, log_t = F.log_softmax(student / t, -1), F.log_softmax(teacher / t, -1)
        soft = (log_t.exp() * (log_t - log_s)).sum(-1).mean()  # KL written out: vmap has no batching rule for kl_div
        return (1 - self.weight) * F.cross_entropy(student, y) + self.weight * t * t * soft


def curvature_column(h: float) -> str:
    """The record (and scores-table column) of curvature at an extra step h: ``curvature_h<h>``, e.g. ``curvature_h0.001``."""
    return f"curvature_h{h:g}"


def scored_epochs(epochs: int, every: int) -> np.ndarray:
    """Boolean mask [epochs] of the epochs scored when scoring every ``every`` epochs: 1-based epochs
    k, 2k, … and always the last one; none when ``every`` = 0.

    Example:
        >>> scored_epochs(5, 2).tolist()
        [False, True, False, True, True]
    """
    if every < 0:
        raise ValueError(f"every must be >= 0; got {every}")
    if every == 0:
        return np.zeros(epochs, dtype=bool)
    mask = (np.arange(1, epochs + 1) % every) == 0
    mask[-1] = True
    return mask


@dataclass
class TrainRecords:
    """Per-epoch, per-sample records of one run.

    ``train[name]`` / ``test[name]`` are [epochs, N] arrays of :data:`TRACKED` quantities
    (``test["probs"]`` is [epochs, N, C]); ``history[name]`` are per-epoch scalars
    (train_loss, train_acc, test_loss, test_acc, lr, seconds_train, seconds_score).
    """

    index: np.ndarray
    train: dict[str, np.ndarray]
    test_index: np.ndarray | None = None
    test: dict[str, np.ndarray] = field(default_factory=dict)
    history: dict[str, np.ndarray] = field(default_factory=dict)

    def average(self, name: str, epochs: np.ndarray | None = None, *, split: str = "train") -> np.ndarray:
        """Mean over the epochs at which ``name`` was recorded (NaN epochs skipped; NaN if none), shape [N];
        ``epochs``, a boolean mask [E], restricts the mean to those epochs (e.g. :func:`scored_epochs`);
        ``split="test"`` averages the test records."""
        records = self.train if split == "train" else self.test
        values = records[name] if epochs is None else records[name][np.asarray(epochs, dtype=bool)]
        counted = np.isfinite(values).sum(axis=0)
        return np.where(counted > 0, np.nansum(values, axis=0) / np.maximum(counted, 1), np.nan)

    def last(self, name: str) -> np.ndarray:
        """Value at the last epoch at which ``name`` was recorded, shape [N]."""
        values = self.train[name]
        rows = np.flatnonzero(np.isfinite(values).any(axis=1))
        return values[rows[-1]] if rows.size else np.full(values.shape[1], np.nan)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat dict for ``np.savez`` (keys ``train/<name>``, ``test/<name>``, ``history/<name>``)."""
        out = {"index": self.index}
        out.update({f"train/{k}": v for k, v in self.train.items()})
        out.update({f"history/{k}": v for k, v in self.history.items()})
        if self.test_index is not None:
            out["test_index"] = self.test_index
            out.update({f"test/{k}": v for k, v in self.test.items()})
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "TrainRecords":
        """Inverse of :meth:`to_arrays`."""

        def part(prefix: str) -> dict[str, np.ndarray]:
            return {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith(prefix + "/")}

        return cls(arrays["index"], part("train"), arrays.get("test_index"), part("test"), part("history"))


def augment_batch(x: Tensor, generator: torch.Generator, pad: int = 4) -> Tensor:
    """Random crop after ``pad``-pixel zero padding, and a horizontal flip with probability 1/2, per sample."""
    b, c, height, width = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    rows = (dy[:, None] + torch.arange(height))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(width))[:, None, None, :]
    out = padded[torch.arange(b)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]
    flip = torch.rand(b, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(-1), out)


def sgd_step(loss: Tensor | None, optimizer, scheduler, config: TrainConfig, *, end_of_epoch: bool) -> None:
    """Backpropagate ``loss`` and step the optimizer; advance the schedule where it advances.

    The one-cycle schedule advances after every batch, the others after every epoch: call with
    ``end_of_epoch=False`` per batch and once with ``loss=None, end_of_epoch=True`` after the epoch.
    """
    if loss is not None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if end_of_epoch == (config.schedule != "onecycle"):
        scheduler.step()


def _margin(logits: Tensor, y: Tensor) -> Tensor:
    """logit of the given label minus the largest other logit (Pleiss et al. 2020)."""
    label_logit = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.scatter(1, y[:, None], float("-inf"))
    return label_logit - others.max(dim=1).values


def evaluate(
    model: nn.Module, dataset: Dataset, config: TrainConfig, *, epoch: int, with_curvature: bool,
    device: torch.device, keep_probs: bool = False, desc: str = "eval",
) -> dict[str, np.ndarray]:
    """One eval-mode, unshuffled pass: per-sample values of ``config.tracked`` for ``dataset`` (and probs if asked).

    Curvature uses :func:`keyed_rademacher_probes` with seed (config.seed, epoch), so it is a pure
    function of the model, the sample and its dataset index; each step of ``config.extra_h`` is scored with
    the same probes (one more pass for its ∇ₓℓ(x), n for its probes). A model with ``takes_index = True`` gets the
    dataset indices as in training (example-tied dropout's own-mask mode). Under torch.distributed each rank scores
    positions rank, rank + world, … and every rank returns the gathered arrays.
    """  # fmt: skip
    rank, world = rank_and_world()
    shard = dataset if world == 1 else Subset(dataset, range(rank, len(dataset), world))
    loader = DataLoader(shard, batch_size=config.score_batch_size, shuffle=False)
    was_training = model.training
    model.eval()
    parts: dict[str, list[Tensor]] = {name: [] for name in config.tracked}
    curvature_names = ("curvature", "curvature_trace", "grad_norm", *config.tracked[len(TRACKED):])
    probs_parts: list[Tensor] = []
    for x, y, index in tqdm(loader, desc=desc, leave=False, disable=None):
        x, y = x.to(device), y.to(device)
        with torch.no_grad():
            logits = (model(x, index.to(device)) if getattr(model, "takes_index", False) else model(x)).double()
        probs = logits.softmax(dim=1)
        parts["loss"].append(F.cross_entropy(logits, y, reduction="none"))
        parts["correct"].append((logits.argmax(1) == y).double())
        parts["margin"].append(_margin(logits, y))
        parts["prob_label"].append(probs.gather(1, y[:, None]).squeeze(1))
        parts["confidence"].append(probs.max(dim=1).values)
        parts["pred"].append(logits.argmax(1).double())
        if keep_probs:
            probs_parts.append(probs.float())
        if with_curvature:
            probes = keyed_rademacher_probes(index, config.n_probes, tuple(x.shape[1:]), seed=config.seed * 100_003 + epoch)
            s = input_loss_curvature_with_trace(
                model, x, y, h=config.h, n_probes=config.n_probes, squared=config.squared,
                probes=probes, chunk_size=config.chunk_size,
            )  # fmt: skip
            parts["curvature"].append(s.curvature.double())
            parts["curvature_trace"].append(s.trace.double())
            parts["grad_norm"].append(s.grad_norm.double())
            for h in config.extra_h:
                extra = input_loss_curvature(
                    model, x, y, h=h, n_probes=config.n_probes, squared=config.squared, probes=probes, chunk_size=config.chunk_size
                )  # fmt: skip
                parts[curvature_column(h)].append(extra.double())
        else:
            nan = torch.full((x.shape[0],), float("nan"), dtype=torch.float64, device=device)
            for name in curvature_names:
                parts[name].append(nan)
    model.train(was_training)
    out = {name: torch.cat(values).cpu().numpy() for name, values in parts.items()}
    if keep_probs:
        out["probs"] = torch.cat(probs_parts).cpu().numpy()
    return gather_rows(out, len(dataset))


def progress_line(history: dict[str, np.ndarray], epoch: int, config: TrainConfig) -> str:
    """One line on a finished (0-based) ``epoch``: its training and scoring seconds, the training accuracy, and
    the time left, estimated as (mean seconds of the scored / unscored epochs so far) × (such epochs left).

    Logged by :func:`train_and_score` at INFO level on the ``curvlib.training`` logger, for runs whose output
    is not a terminal (the command line turns it on there; tqdm's bars show progress in a terminal).
    """
    scored = config.scored_mask()
    seconds = history["seconds_train"][: epoch + 1] + history["seconds_score"][: epoch + 1]
    left = 0.0
    for kind in (True, False):
        done = seconds[scored[: epoch + 1] == kind]
        todo = int((scored[epoch + 1 :] == kind).sum())
        left += todo * (done.mean() if done.size else seconds.mean())
    return (
        f"epoch {epoch + 1}/{config.epochs}: train {history['seconds_train'][epoch]:.0f} s, "
        f"{'score' if scored[epoch] else 'eval'} {history['seconds_score'][epoch]:.0f} s, "
        f"train accuracy {history['train_acc'][epoch]:.4f}; about {left / 60:.1f} min left"
    )


def lr_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int):
    """The learning-rate scheduler of ``config``: OneCycleLR stepped per batch, else MultiStepLR per epoch."""
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch, pct_start=config.peak_fraction
        )
    milestones = list(config.milestones) if config.schedule == "multistep" else []
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=config.gamma)


def _indices(dataset: Dataset) -> np.ndarray:
    index = getattr(dataset, "index", None)
    if index is not None:
        return np.asarray(index)
    return np.asarray([int(dataset[i][2]) for i in range(len(dataset))])


def train_and_score(
    model: nn.Module, train_set: Dataset, config: TrainConfig, *, test_set: Dataset | None = None,
    checkpoint: str | os.PathLike | None = None, device: str | torch.device = "cpu",
    on_epoch_end: Callable[[int, nn.Module], None] | None = None,
    on_batch: Callable[[Tensor, Tensor], None] | None = None,
) -> TrainRecords:
    """Train ``model`` on ``train_set`` (yielding (x, y, index)) and record per-sample scores every epoch.

    Contract: returns :class:`TrainRecords` with [config.epochs, N] arrays; the model is left
    trained on ``device``. With ``checkpoint`` set, state is saved after the first epoch of a (re)start and then after
    every epoch that ends at least :data:`CHECKPOINT_SECONDS` after the last save (an interruption loses at most that
    much work), and an existing checkpoint of the same config is resumed (a checkpoint of another config raises
    ValueError).
    The caller seeds the model's initialisation; shuffling and augmentation of epoch e use a
    generator seeded with (config.seed, e).

    Under torch.distributed (``torchrun``), each global batch of ``config.batch_size`` is split
    across ranks and trained with DistributedDataParallel, scoring is sharded, and only rank 0
    writes checkpoints; without augmentation the records equal a single-process run's up to float
    summation order (with augmentation, crops differ between world sizes). BatchNorm statistics
    are per rank unless the caller converts the model to SyncBatchNorm (CUDA only). ``on_epoch_end(epoch, model)`` is called after each
    epoch's records (e.g. to snapshot the model); it must not change the model. ``on_batch(losses, index)``
    is called before each step with the per-sample losses (their sum is the batch's loss, graph attached)
    and the batch's dataset indices (e.g. :class:`curvlib.localization.GradientAccounting`). A model with
    ``takes_index = True`` (:class:`curvlib.tied_dropout.ExampleTiedNet`) is called as ``model(x, index)``
    in training.

    Example:
        >>> records = train_and_score(model, train_set, TrainConfig(epochs=5), test_set=test_set)
        >>> records.average("curvature")  # the memorization score, one value per training sample
    """  # fmt: skip
    device = torch.device(device)
    model.to(device)
    rank, world = rank_and_world()
    net = model if world == 1 else DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(train_set) / config.batch_size)
    scheduler = lr_scheduler(optimizer, config, steps_per_epoch)
    n, n_test = len(train_set), len(test_set) if test_set is not None else 0
    train = {name: np.full((config.epochs, n), np.nan) for name in config.tracked}
    test = {name: np.full((config.epochs, n_test), np.nan) for name in config.tracked} if test_set is not None else {}
    if test_set is not None:
        test["probs"] = np.full((config.epochs, n_test, getattr(test_set, "num_classes", 0) or 1), np.nan, np.float32)
    history = {name: np.full(config.epochs, np.nan) for name in ("train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds_train", "seconds_score")}
    start = 0
    if checkpoint is not None and Path(checkpoint).exists():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        if state["config"] != asdict(config):
            raise ValueError(f"checkpoint {checkpoint} was written by another config; delete it or choose another path")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        train, test, history, start = state["train"], state["test"], state["history"], state["epoch"] + 1
    last_save = -math.inf

    for epoch in tqdm(range(start, config.epochs), desc="epochs", initial=start, total=config.epochs, disable=None):
        generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        torch.manual_seed(config.seed * 100_003 + epoch)  # any stochastic layer in the model
        loader = DataLoader(train_set, batch_sampler=EpochBatches(n, config.batch_size, generator))
        history["lr"][epoch] = optimizer.param_groups[0]["lr"]
        model.train()
        tic = time.perf_counter()
        for step, (x, y, index) in enumerate(tqdm(loader, desc=f"train {epoch + 1}", leave=False, disable=None)):
            x, y = x.to(device), y.to(device)
            if config.augment:
                x = augment_batch(x.cpu(), generator).to(device)
            global_batch = min(config.batch_size, n - step * config.batch_size)
            logits = net(x, index.to(device)) if getattr(model, "takes_index", False) else net(x)
            # mean over the global batch: DDP averages the ranks' gradients, hence the factor world
            losses = F.cross_entropy(logits, y, reduction="none") * (world / global_batch)
            if on_batch is not None:
                on_batch(losses, index)
            sgd_step(losses.sum(), optimizer, scheduler, config, end_of_epoch=False)
        sgd_step(None, optimizer, scheduler, config, end_of_epoch=True)
        history["seconds_train"][epoch] = time.perf_counter() - tic

        tic = time.perf_counter()
        scored = config.scored(epoch)
        row = evaluate(model, train_set, config, epoch=epoch, with_curvature=scored, device=device, desc="score train")
        for name in config.tracked:
            train[name][epoch] = row[name]
        history["train_loss"][epoch], history["train_acc"][epoch] = row["loss"].mean(), row["correct"].mean()
        if test_set is not None:
            row = evaluate(
                model, test_set, config, epoch=epoch, with_curvature=config.scored_test(epoch),
                device=device, keep_probs=True, desc="score test",
            )  # fmt: skip
            for name in (*config.tracked, "probs"):
                test[name][epoch] = row[name]
            history["test_loss"][epoch], history["test_acc"][epoch] = row["loss"].mean(), row["correct"].mean()
        history["seconds_score"][epoch] = time.perf_counter() - tic
        if on_epoch_end is not None:
            on_epoch_end(epoch, model)

        if rank == 0:
            log.info(progress_line(history, epoch, config))
        if checkpoint is not None and rank == 0 and time.perf_counter() - last_save >= CHECKPOINT_SECONDS:
            last_save = time.perf_counter()
            state = {
                "config": asdict(config), "epoch": epoch, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "train": train, "test": test, "history": history,
            }  # fmt: skip
            atomic_write(checkpoint, lambda tmp: torch.save(state, tmp))
        barrier()  # no rank runs ahead of the checkpoint

    test_index = _indices(test_set) if test_set is not None else None
    return TrainRecords(_indices(train_set), train, test_index, test, history)

"""Runners of the book's model-size part (Lukasik et al., "What do larger image classifiers memorise?", TMLR 2024).

A :class:`SizeLadder` is one model family at several widths trained on one training set. For each size,
:func:`run_fz_per_size` estimates Feldman–Zhang memorization with the vectorised ensembles of
:func:`curvlib.runs.feldman_zhang.run_feldman_zhang` (one code path for every FZ estimate in the book),
:func:`run_distilled_per_size` does the same for students distilled from the largest size, and
:func:`run_proxies_per_size` trains one model per size with per-epoch scoring for the cheap proxies.
:func:`book_ladders` holds the chapters' ladders. The method (trajectory classes, summaries per size) is
:mod:`curvlib.model_size`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from ..pipeline import PRESETS, ScoreConfig, run_scoring
from ..results import RunResult
from ..training import Distillation, TrainConfig
from .feldman_zhang import FZConfig, run_feldman_zhang

__all__ = ["SizeLadder", "run_fz_per_size", "run_distilled_per_size", "run_proxies_per_size", "book_ladders"]


@dataclass(frozen=True)
class SizeLadder:
    """One training set (``data``: dataset, subset, noise, seed) and one model family at ``widths``
    (smallest first), each size estimated with ``n_models`` models on random fractions ``fraction``."""

    data: ScoreConfig
    widths: tuple[int, ...]
    model: str = "mlp"  # a family of curvlib.models whose size is its width
    train: TrainConfig = field(default_factory=TrainConfig)  # the same recipe at every size
    n_models: int = 100  # K per size
    fraction: float = 0.7  # r
    group_size: int = 100  # models per vectorised ensemble

    def fz_config(self, width: int) -> FZConfig:
        """The FZ estimate of one size; the largest keeps its logits to teach :func:`run_distilled_per_size`'s students."""
        return FZConfig(
            self.data, model=self.model, width=width, train=replace(self.train, score_every=0), n_models=self.n_models,
            fraction=self.fraction, group_size=self.group_size, keep_logits=width == max(self.widths),
        )  # fmt: skip


def run_fz_per_size(ladder: SizeLadder, *, cache_dir: str | os.PathLike, data_root=None, device: str = "cpu") -> dict[int, RunResult]:
    """{width: cached :func:`~curvlib.runs.feldman_zhang.run_feldman_zhang` result} for every size of the ladder."""
    return {w: run_feldman_zhang(ladder.fz_config(w), cache_dir=cache_dir, data_root=data_root, device=device) for w in ladder.widths}


def run_distilled_per_size(
    ladder: SizeLadder, distillation: Distillation = Distillation(), *, cache_dir: str | os.PathLike, data_root=None,
    device: str = "cpu",
) -> dict[int, RunResult]:
    """{width: FZ estimate of students of that size}, student k distilled from the largest size's model k,
    which was trained on subset k only (so no held-out sample of student k leaks through its teacher).

    Students train with the ladder's recipe at learning rate lr / T: the T²-scaled loss has up to T times
    the cross-entropy's gradient, and at the one-hot lr the book's students collapse to one class."""
    teacher = ladder.fz_config(max(ladder.widths))
    return {
        w: run_feldman_zhang(
            replace(ladder.fz_config(w), keep_logits=False, teacher=teacher, distillation=distillation,
                    train=replace(ladder.fz_config(w).train, lr=ladder.train.lr / distillation.temperature)),
            cache_dir=cache_dir, data_root=data_root, device=device,
        )
        for w in ladder.widths
    }  # fmt: skip


def run_proxies_per_size(ladder: SizeLadder, *, cache_dir: str | os.PathLike, data_root=None, device: str = "cpu") -> dict[int, RunResult]:
    """{width: :func:`~curvlib.pipeline.run_scoring` of one model of that size on the whole training set},
    whose ``scores`` table holds curvature and the other proxies averaged over epochs."""
    return {
        w: run_scoring(replace(ladder.data, model=ladder.model, width=w, train=ladder.train), cache_dir=cache_dir,
                       data_root=data_root, device=device)
        for w in ladder.widths
    }  # fmt: skip


def book_ladders(profile: str, seed: int = 0) -> dict[str, SizeLadder]:
    """The ladders of the book's model-size chapters (one definition for the three of them).

    quick (2-core CPU): MLPs of first hidden width 2 … 128 on digits without and with 10% noise, and 2 … 64
    on a 1,000-image MNIST subset with 10% noise; digits' recipe (30 epochs, one-cycle lr 0.1, batch 32); K = 100.
    paper (a GPU): CIFAR-100 without and with 10% noise and CIFAR-10 with 10% noise (the same order: one clean
    ladder, then two noisy ones, as the chapters' text expects), the small CNN at widths 4 … 128 (no BatchNorm, so
    each size trains as one vectorised ensemble), K = 400, 450 epochs at batch 1024 with weight decay 1e-3 (Table 4).
    """
    if profile == "quick":
        digits = replace(PRESETS["digits_quick"], train=replace(PRESETS["digits_quick"].train, seed=seed))  # one seed for everything
        mnist = replace(digits, dataset="mnist", subset=1000, test_subset=2000)
        return {
            "digits": SizeLadder(replace(digits, noise=0.0, seed=seed), (2, 4, 8, 16, 32, 128), train=digits.train),
            "digits, 10% noise": SizeLadder(replace(digits, noise=0.1, seed=seed), (2, 4, 8, 16, 32, 128), train=digits.train),
            "MNIST 1,000, 10% noise": SizeLadder(replace(mnist, noise=0.1, seed=seed), (2, 4, 8, 16, 64), train=digits.train),
        }  # fmt: skip
    table4 = TrainConfig(epochs=450, batch_size=1024, lr=0.1, schedule="onecycle", peak_fraction=15 / 450, weight_decay=1e-3,
                         augment=True, score_every=1, chunk_size=10, seed=seed)  # fmt: skip
    cifar = ScoreConfig(dataset="cifar100", subset=None, model="small_cnn", train=table4, seed=seed)
    widths = (4, 8, 16, 32, 64, 128)
    return {
        "CIFAR-100": SizeLadder(replace(cifar, noise=0.0), widths, model="small_cnn", train=table4, n_models=400, group_size=16),
        "CIFAR-100, 10% noise": SizeLadder(replace(cifar, noise=0.1), widths, model="small_cnn", train=table4, n_models=400, group_size=16),
        "CIFAR-10, 10% noise": SizeLadder(replace(cifar, dataset="cifar10", noise=0.1), widths, model="small_cnn", train=table4,
                                          n_models=400, group_size=16),
    }  # fmt: skip

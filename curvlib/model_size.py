"""Memorization across model sizes (Lukasik et al., "What do larger image classifiers memorise?", TMLR 2024).

A :class:`SizeLadder` is one model family at several widths trained on one training set. For each size,
:func:`fz_per_size` estimates Feldman–Zhang memorization with the vectorised ensemble of
:func:`curvlib.experiments.run_feldman_zhang` (one code path for every FZ estimate in the book),
:func:`distilled_per_size` does the same for students distilled from the largest size, and
:func:`proxies_per_size` trains one model per size with per-epoch scoring for the cheap proxies.
:func:`trajectory_classes` then sorts each sample's memorization-by-size curve into increasing,
decreasing, cap-shaped or constant, counting a change only when it exceeds both α and what the
standard errors allow.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats

from .experiments import PRESETS, FZConfig, ScoreConfig, run_feldman_zhang, run_scoring
from .memorization import FZResult
from .results import RunResult
from .training import Distillation, TrainConfig

__all__ = [
    "TRAJECTORIES", "SizeLadder", "fz_per_size", "distilled_per_size", "proxies_per_size", "by_size", "classes_by_sample", "fz_trajectories",
    "trajectory_classes",
    "bimodality_coefficient", "size_summary", "pooled_scale", "book_ladders",
]  # fmt: skip

TRAJECTORIES = ("increasing", "decreasing", "cap", "constant")


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
        """The FZ estimate of one size; the largest keeps its logits to teach :func:`distilled_per_size`'s students."""
        return FZConfig(
            self.data, model=self.model, width=width, train=replace(self.train, score_every=0), n_models=self.n_models,
            fraction=self.fraction, group_size=self.group_size, keep_logits=width == max(self.widths),
        )  # fmt: skip


def fz_per_size(ladder: SizeLadder, *, cache_dir: str | os.PathLike, data_root=None, device: str = "cpu") -> dict[int, RunResult]:
    """{width: cached :func:`~curvlib.experiments.run_feldman_zhang` result} for every size of the ladder."""
    return {w: run_feldman_zhang(ladder.fz_config(w), cache_dir=cache_dir, data_root=data_root, device=device) for w in ladder.widths}


def distilled_per_size(
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


def proxies_per_size(ladder: SizeLadder, *, cache_dir: str | os.PathLike, data_root=None, device: str = "cpu") -> dict[int, RunResult]:
    """{width: :func:`~curvlib.experiments.run_scoring` of one model of that size on the whole training set},
    whose ``scores`` table holds curvature and the other proxies averaged over epochs."""
    return {
        w: run_scoring(replace(ladder.data, model=ladder.model, width=w, train=ladder.train), cache_dir=cache_dir,
                       data_root=data_root, device=device)
        for w in ladder.widths
    }  # fmt: skip


def by_size(runs: dict[int, RunResult], table: str, column: str) -> pd.DataFrame:
    """One ``column`` of one ``table`` of per-size runs (``"fz"`` of :func:`fz_per_size`, ``"scores"`` of
    :func:`proxies_per_size`), keyed by dataset ``index``, as a frame [samples × sizes] in the runs' order."""
    return pd.DataFrame({size: run.tables[table].set_index("index")[column] for size, run in runs.items()})


def classes_by_sample(values: pd.DataFrame, alpha: float, standard_error: pd.DataFrame | None = None) -> pd.Series:
    """:func:`trajectory_classes` of a [samples × sizes] frame (and its standard errors), indexed like ``values``."""
    se = None if standard_error is None else standard_error.to_numpy().T
    return pd.Series(trajectory_classes(values.to_numpy().T, se, alpha), index=values.index)


def fz_trajectories(runs: dict[int, RunResult], alpha: float) -> pd.Series:
    """The trajectory class of every sample's FZ memorization across the sizes of ``runs``, with its standard errors."""
    return classes_by_sample(by_size(runs, "fz", "memorization"), alpha, by_size(runs, "fz", "standard_error"))


def trajectory_classes(memorization: np.ndarray, standard_error: np.ndarray | None, alpha: float, z: float = 2.0) -> np.ndarray:
    """The trajectory class of each sample from its memorization m₁…m_S at sizes ordered small to large.

    A change from a to b counts when |m_b − m_a| ≥ max(α, z·√(se_a² + se_b²)) (``standard_error`` None: α
    alone). With P = max_s m_s at s*: **cap** if s* is interior and both P − m₁ and P − m_S count; else
    **increasing** if m_S − m₁ counts upwards; else **decreasing** if m₁ − m_S counts; else **constant**.
    A sample with a NaN estimate at any size is ``"undetermined"``. Arrays are [S, N]; returns [N] str.
    """
    m = np.asarray(memorization, dtype=float)
    se = np.zeros_like(m) if standard_error is None else np.asarray(standard_error, dtype=float)
    if m.ndim != 2 or m.shape != se.shape or m.shape[0] < 2:
        raise ValueError(f"memorization and standard_error must both be [sizes >= 2, samples]; got {m.shape} and {se.shape}")
    cols = np.arange(m.shape[1])

    def counts(b_minus_a, se_a, se_b):
        return b_minus_a >= np.maximum(alpha, z * np.sqrt(se_a**2 + se_b**2))

    peak = np.nanargmax(np.where(np.isnan(m), -np.inf, m), axis=0)
    top, se_top = m[peak, cols], se[peak, cols]
    first, last, se_first, se_last = m[0], m[-1], se[0], se[-1]
    cap = (peak > 0) & (peak < m.shape[0] - 1) & counts(top - first, se_first, se_top) & counts(top - last, se_last, se_top)
    out = np.where(cap, "cap", np.where(counts(last - first, se_first, se_last), "increasing",
                   np.where(counts(first - last, se_first, se_last), "decreasing", "constant")))  # fmt: skip
    return np.where(np.isnan(m).any(0), "undetermined", out).astype(object)


def bimodality_coefficient(values: np.ndarray) -> float:
    """Sarle's bimodality coefficient b = (g² + 1) / (k + 3(n − 1)² / ((n − 2)(n − 3))), with g the sample
    skewness and k the excess kurtosis (both bias-corrected); b > 5/9 (a uniform's value) suggests two modes.
    NaNs are dropped."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n < 4:
        raise ValueError(f"the bimodality coefficient needs at least 4 finite values; got {n}")
    g, k = stats.skew(x, bias=False), stats.kurtosis(x, bias=False)
    return float((g**2 + 1) / (k + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))))


def size_summary(results: dict[int, RunResult]) -> pd.DataFrame:
    """Per size: mean memorization and its two terms (in-sample accuracy acc_in, held-out accuracy acc_out;
    mean memorization = mean acc_in − mean acc_out over samples with both), the models' mean training-subset
    and test accuracy, the median standard error and the bimodality coefficient of the scores."""
    rows = []
    for size, run in results.items():
        models = FZResult(run.tables["fz"]["index"].to_numpy(), run.arrays["membership"], run.arrays["correct"], run.arrays.get("test_correct"))
        fz = run.tables["fz"].dropna(subset=["memorization"])
        rows.append({
            "size": size, "memorization": fz.memorization.mean(), "acc_in": fz.acc_in.mean(), "acc_out": fz.acc_out.mean(),
            "train_accuracy": models.train_accuracy, "test_accuracy": models.test_accuracy,
            "se_median": fz.standard_error.median(), "bimodality": bimodality_coefficient(fz.memorization.to_numpy()),
        })  # fmt: skip
    return pd.DataFrame(rows)


def pooled_scale(values: pd.DataFrame, q: float = 0.01) -> pd.DataFrame:
    """Map a proxy [samples × sizes] to [0, 1] with one affine map for all sizes: (v − Q_q) / (Q_{1−q} − Q_q),
    clipped, Q the quantiles of all sizes pooled. Unlike a per-size rank it keeps a trend shared by all
    samples (a proxy that falls with size for everyone still falls), so the trajectory rule can be applied."""
    lo, hi = np.nanquantile(values.to_numpy(), [q, 1 - q])
    return ((values - lo) / (hi - lo if hi > lo else 1.0)).clip(0, 1)


def book_ladders(profile: str, seed: int = 0) -> dict[str, SizeLadder]:
    """The ladders of the book's model-size chapters (one definition for the three of them).

    quick (2-core CPU): MLPs of first hidden width 2 … 128 on digits without and with 10% noise, and 2 … 64
    on a 1,000-image MNIST subset with 10% noise; digits' recipe (30 epochs, one-cycle lr 0.1, batch 32); K = 100.
    paper (a GPU): CIFAR-100 without and with 10% noise and CIFAR-10 with 10% noise (the same order: one clean
    ladder, then two noisy ones, as the chapters' text expects), the small CNN at widths 4 … 128 (no BatchNorm, so
    each size trains as one vectorised ensemble), K = 400, 450 epochs at batch 1024 with weight decay 1e-3 (Table 4).
    """
    if profile == "quick":
        digits = PRESETS["digits_quick"]
        mnist = replace(digits, dataset="mnist", subset=1000, test_subset=2000)
        return {
            "digits": SizeLadder(replace(digits, noise=0.0, seed=seed), (2, 4, 8, 16, 32, 128), train=digits.train),
            "digits, 10% noise": SizeLadder(replace(digits, noise=0.1, seed=seed), (2, 4, 8, 16, 32, 128), train=digits.train),
            "MNIST 1,000, 10% noise": SizeLadder(replace(mnist, noise=0.1, seed=seed), (2, 4, 8, 16, 64), train=digits.train),
        }  # fmt: skip
    table4 = TrainConfig(epochs=450, batch_size=1024, lr=0.1, schedule="onecycle", peak_fraction=15 / 450, weight_decay=1e-3,
                         augment=True, score_every=1, chunk_size=10)  # fmt: skip
    cifar = ScoreConfig(dataset="cifar100", subset=None, model="small_cnn", train=table4, seed=seed)
    widths = (4, 8, 16, 32, 64, 128)
    return {
        "CIFAR-100": SizeLadder(replace(cifar, noise=0.0), widths, model="small_cnn", train=table4, n_models=400, group_size=16),
        "CIFAR-100, 10% noise": SizeLadder(replace(cifar, noise=0.1), widths, model="small_cnn", train=table4, n_models=400, group_size=16),
        "CIFAR-10, 10% noise": SizeLadder(replace(cifar, dataset="cifar10", noise=0.1), widths, model="small_cnn", train=table4,
                                          n_models=400, group_size=16),
    }  # fmt: skip

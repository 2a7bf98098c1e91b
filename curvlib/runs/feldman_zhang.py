"""Runners of the book's Feldman–Zhang chapter: FZ memorization estimates, their agreement with curvature,
and the conflicting duplicates (the paper's failure mode).

- :class:`FZConfig` and :func:`run_feldman_zhang`: one code path for every FZ estimate in the book (the
  vectorised ensembles of :func:`curvlib.memorization.feldman_zhang`, with distilled students);
- :func:`fz_config_like`: an FZ estimate with an experiment's own model and recipe;
- :func:`agreement`: cosine, Pearson, Spearman and top-k overlap of curvature with FZ memorization;
- :func:`conflicting_pairs`, :func:`duplicate_outcomes`: which copies were injected, and which label the model predicts.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import inject_conflicting_duplicates
from ..memorization import feldman_zhang
from ..metrics import cosine_similarity, pearson, precision_at_k, spearman, top_k_overlap
from ..pipeline import ScoreConfig, model_factory, prepare_data
from ..results import RunResult, load_or_compute
from ..training import Distillation, TrainConfig

__all__ = ["FZConfig", "run_feldman_zhang", "fz_config_like", "agreement", "conflicting_pairs", "duplicate_outcomes"]


@dataclass(frozen=True)
class FZConfig:
    """A Feldman–Zhang estimate on the training data of ``data`` (its subset, noise and duplicates)."""

    data: ScoreConfig  # which training set (the model fields are ignored: FZ uses ``model`` below)
    model: str = "mlp"  # Feldman & Zhang's MNIST model is the MLP 784-512-256-10
    width: int | None = 512
    train: TrainConfig = field(  # their MNIST recipe: 10 epochs, lr 0.1, momentum 0.9, batch 128
        default_factory=lambda: TrainConfig(epochs=10, batch_size=128, lr=0.1, schedule="constant", score_every=0, score_batch_size=1000)
    )
    n_models: int = 100  # K
    fraction: float = 0.7  # r
    group_size: int = 25  # models trained together as one vectorised ensemble
    keep_logits: bool = False  # also save each model's logits on the training set [K, N, C] (to teach students)
    teacher: "FZConfig | None" = None  # distil each model from the teacher's model on the same subset
    distillation: Distillation = field(default_factory=Distillation)  # used only with a teacher


def run_feldman_zhang(config: FZConfig, *, cache_dir: str | os.PathLike, data_root=None, device: str = "cpu") -> RunResult:
    """FZ memorization of every training sample of ``config.data``, cached; finished model groups
    are checkpointed in the run folder, so an interrupted estimate resumes. With ``config.teacher``
    the teacher's estimate (run with ``keep_logits``) is computed or read first and model k is
    distilled from teacher k, which saw only subset k, so no held-out sample leaks into a student.

    Tables: ``fz`` (index, memorization, acc_in, acc_out, standard_error, n_in, n_out).
    Arrays: ``membership`` and ``correct`` [K, N], ``test_correct`` [K, N_test] and, with
    ``keep_logits``, ``logits`` [K, N, C].
    """  # fmt: skip
    teacher = config.teacher
    if teacher is not None and (teacher.data, teacher.n_models, teacher.fraction, teacher.keep_logits) != (
        config.data, config.n_models, config.fraction, True
    ):
        raise ValueError("the teacher must be an FZConfig of the same data, n_models and fraction, with keep_logits=True")

    def compute(run_dir: Path):
        train_set, test_set = prepare_data(config.data, data_root)
        make = model_factory(replace(config.data, model=config.model, width=config.width), train_set)
        teacher_logits = None
        if teacher is not None:
            teacher_logits = run_feldman_zhang(teacher, cache_dir=cache_dir, data_root=data_root, device=device).arrays["logits"]
        fz = feldman_zhang(
            train_set, make, config.train, n_models=config.n_models, fraction=config.fraction, seed=config.data.seed,
            group_size=config.group_size, checkpoint_dir=run_dir / "groups", device=device, test=test_set,
            keep_logits=config.keep_logits, teacher_logits=teacher_logits, distillation=config.distillation,
        )  # fmt: skip
        for path in (run_dir / "groups").glob("group-*.npz"):
            path.unlink()
        arrays = {"membership": fz.membership, "correct": fz.correct, "test_correct": fz.test_correct, "logits": fz.logits}
        return {"fz": fz.to_table()}, {k: v for k, v in arrays.items() if v is not None}

    return load_or_compute(cache_dir, f"fz-{config.data.dataset}-{config.model}", asdict(config), compute)


def agreement(curvature: np.ndarray, memorization: np.ndarray, top_k: int) -> dict[str, float]:
    """How well curvature agrees with FZ memorization: cosine and Pearson on all samples and on the
    ``top_k`` most memorised by FZ (``*_top``), Spearman, top-k overlap, and precision@k of curvature
    for the FZ-memorised samples (mem > 0.5, k = their count). Samples with NaN memorization are dropped.
    """
    keep = np.isfinite(memorization)
    c, m = curvature[keep], memorization[keep]
    top = np.argsort(-m, kind="stable")[:top_k]
    flags = m > 0.5
    return {
        "cosine": cosine_similarity(c, m), "cosine_top": cosine_similarity(c[top], m[top]),
        "pearson": pearson(c, m), "pearson_top": pearson(c[top], m[top]), "spearman": spearman(c, m),
        "top_overlap": top_k_overlap(c, m, top_k),
        "precision_at_k": precision_at_k(flags, c, int(flags.sum())) if 0 < flags.sum() < len(flags) else float("nan"),
    }  # fmt: skip


def conflicting_pairs(config: ScoreConfig, data_root=None) -> np.ndarray:
    """[k, 2] (original index, copy index) of the conflicting duplicates that ``config.duplicates`` adds."""
    train_set, _ = prepare_data(replace(config, duplicates=0), data_root)
    return inject_conflicting_duplicates(train_set, config.duplicates, config.seed)[1]


def duplicate_outcomes(result: RunResult) -> pd.Series:
    """For each conflicting copy of a duplicates run (its ``is_noisy`` rows), which label the final model
    predicts for the shared image: "original's label" (the copy's ``true_label``), "copy's label", or "another label".
    Indexed by the copy's dataset index.
    """
    table = result.tables["scores"]
    pred = result.arrays["train/pred"][-1].astype(int)
    copies = table["is_noisy"].to_numpy()
    given, original, predicted = table["label"].to_numpy()[copies], table["true_label"].to_numpy()[copies], pred[copies]
    outcome = np.where(predicted == original, "original's label", np.where(predicted == given, "copy's label", "another label"))
    return pd.Series(outcome, index=table["index"].to_numpy()[copies], name="prediction")


def fz_config_like(data: ScoreConfig, n_models: int = 100) -> FZConfig:
    """An FZ estimate on the training set of ``data`` with that experiment's own model and training recipe
    (curvature scoring off): for datasets without a published FZ recipe, such as digits. Models are
    trained in vectorised groups of up to 100 (faster than 25 for small models)."""
    train = replace(data.train, score_every=0)
    return FZConfig(data, model=data.model, width=data.width, train=train, n_models=n_models, group_size=min(n_models, 100))

"""Experiment runners: one frozen config in, one cached tidy result out.

:func:`run_scoring` loads a dataset, injects label noise, trains a model with per-epoch scoring
and returns a :class:`curvlib.results.RunResult` with tables

- ``scores``: one row per training sample, keyed by raw dataset ``index``, with ``label`` (given),
  ``true_label``, ``is_noisy`` and every score of :data:`curvlib.baselines.DYNAMICS_SCORES`;
- ``history``: one row per epoch (train/test loss and accuracy, lr, seconds spent);

and the per-epoch [epochs, N] arrays of :class:`curvlib.training.TrainRecords`. Only runners
know about caching: with ``cache_dir`` the result is computed once per config and read back.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .baselines import dynamics_scores
from .data import inject_label_noise, load_dataset
from .metrics import auroc
from .models import build_model
from .results import RunResult, load_or_compute, save_run
from .training import TrainConfig, TrainRecords, train_and_score

__all__ = ["ScoreConfig", "PRESETS", "run_scoring", "scores_table", "noisy_auroc"]


@dataclass(frozen=True)
class ScoreConfig:
    """A scoring experiment: data, noise, model and training (see :class:`TrainConfig`)."""

    dataset: str = "mnist"  # one of curvlib.data.DATASETS
    subset: int | None = 10_000  # stratified subset of the training split (None = all)
    noise: float = 0.1  # fraction of training labels moved to another class
    model: str = "small_cnn"  # one of curvlib.models.MODELS
    width: int | None = 16  # first-stage channels / first hidden size (None = model default)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0  # subset, noise and initialisation seed

    def as_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, ScoreConfig] = {
    # 2-core CPU, about 3 minutes: 10,000 MNIST images, 10% noise, a 16-channel CNN trained to memorise.
    "mnist_quick": ScoreConfig(
        train=TrainConfig(epochs=12, batch_size=128, lr=0.05, schedule="multistep", milestones=(9,), score_every=1)
    ),
    # The paper's MNIST setting (GPU): full training set, pre-activation ResNet18, 200 epochs, ×0.1 at 80/160.
    "mnist_paper": ScoreConfig(
        subset=None, model="preact_resnet18", width=64,
        train=TrainConfig(epochs=200, batch_size=128, lr=0.1, weight_decay=1e-4, milestones=(80, 160), score_every=1, score_batch_size=512),
    ),  # fmt: skip
    # scikit-learn digits: seconds on a CPU.
    "digits_quick": ScoreConfig(
        dataset="digits", subset=None, model="mlp", width=256,
        train=TrainConfig(epochs=60, batch_size=32, lr=0.05, milestones=(45,), score_every=1),
    ),  # fmt: skip
}


def scores_table(records: TrainRecords, given: np.ndarray, true: np.ndarray) -> pd.DataFrame:
    """One row per training sample: index, label, true_label, is_noisy, then every dynamics score."""
    table = pd.DataFrame({"index": records.index, "label": given, "true_label": true, "is_noisy": given != true})
    for name, values in dynamics_scores(records).items():
        table[name] = values
    return table


def noisy_auroc(table: pd.DataFrame, score: str = "curvature") -> float:
    """AUROC of ``score`` for the ``is_noisy`` flag of a scores table."""
    return auroc(table["is_noisy"].to_numpy(), table[score].to_numpy())


def _compute(config: ScoreConfig, data_root, device, checkpoint: Path | None) -> tuple[dict, dict]:
    train_set = load_dataset(config.dataset, data_root, train=True, subset=config.subset, seed=config.seed)
    test_set = load_dataset(config.dataset, data_root, train=False, seed=config.seed)
    if config.noise > 0:
        noisy, _ = inject_label_noise(train_set.y, config.noise, train_set.num_classes, config.seed)
        train_set = train_set.with_labels(noisy)
    torch.manual_seed(config.seed)
    model = build_model(config.model, input_shape=tuple(train_set.x.shape[1:]), num_classes=train_set.num_classes, width=config.width)
    records = train_and_score(model, train_set, config.train, test_set=test_set, checkpoint=checkpoint, device=device)
    table = scores_table(records, train_set.y.numpy(), train_set.true_y.numpy())
    history = pd.DataFrame({"epoch": np.arange(1, config.train.epochs + 1), **records.history})
    return {"scores": table, "history": history}, records.to_arrays()


def run_scoring(
    config: ScoreConfig, *, data_root: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None, device: str = "cpu",
) -> RunResult:
    """Train and score per :class:`ScoreConfig`; cached under ``cache_dir`` or written to ``out_dir``.

    With ``cache_dir``: load-or-compute by config hash. With ``out_dir``: always computed (resuming
    from ``out_dir/checkpoint.pt`` after an interruption) and written there. The checkpoint is
    removed once the result is saved.

    Example:
        >>> result = run_scoring(PRESETS["mnist_quick"], data_root="../shared/data", cache_dir="results/cache")
        >>> noisy_auroc(result.tables["scores"])
    """  # fmt: skip
    if (cache_dir is None) == (out_dir is None):
        raise ValueError("pass exactly one of cache_dir (load or compute) and out_dir (compute and write)")
    if cache_dir is not None:
        def compute(run_dir: Path):
            out = _compute(config, data_root, device, run_dir / "checkpoint.pt")
            (run_dir / "checkpoint.pt").unlink(missing_ok=True)
            return out

        name = f"{config.dataset}-{config.model}"
        return load_or_compute(cache_dir, name, config.as_dict(), compute)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables, arrays = _compute(config, data_root, device, out_dir / "checkpoint.pt")
    result = save_run(out_dir, tables, config.as_dict(), arrays, device=device)
    (out_dir / "checkpoint.pt").unlink(missing_ok=True)
    return result


def with_train(config: ScoreConfig, **train_changes) -> ScoreConfig:
    """A copy of ``config`` with some :class:`TrainConfig` fields changed."""
    return replace(config, train=replace(config.train, **train_changes))

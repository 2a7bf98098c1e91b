"""Runners of the book's detection chapters: mislabel detection against the baselines, the toy problem.

- :func:`run_confident_learning`, :func:`run_retraining_baselines`: confident learning (K-fold cleanlab) and SSFT,
  which need models of their own;
- :func:`run_mislabel_scores`: every mislabel score of one run, the dynamics scores and those two, one row per sample;
- :func:`run_toy`: the paper's two-class toy problem with input-space surfaces;
- :func:`detection_summary`, :func:`auroc_by_epoch`: AUROC tables of finished runs;
- :data:`REFERENCE_CIFAR_AUROC`: the third-party CIFAR reproduction the chapter compares with.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..baselines import confident_learning_scores, scores_at_epoch, ssft_scores
from ..data import make_toy_two_class
from ..metrics import aupr, auroc
from ..models import mlp
from ..pipeline import ScoreConfig, model_factory, prepare_data, run_scoring, scores_table
from ..results import RunResult, load_or_compute
from ..training import TrainConfig, TrainRecords, train_and_score

__all__ = [
    "run_confident_learning", "run_retraining_baselines", "run_mislabel_scores", "ToyConfig", "run_toy", "detection_summary", "auroc_by_epoch",
    "REFERENCE_CIFAR_AUROC",
]  # fmt: skip


def run_confident_learning(
    config: ScoreConfig, *, folds: int, cache_dir: str | os.PathLike, data_root=None, device: str = "cpu"
) -> RunResult:
    """Confident learning (K-fold cleanlab, :func:`curvlib.baselines.confident_learning_scores`) for the training set
    of ``config``, retraining its model with its training config (without curvature scoring); cached, and each
    finished fold is kept so an interrupted run resumes. Tables: ``confident_learning`` (index,
    confident_learning) and ``timing`` (seconds: the folds' training, summed over every process that computed one)."""

    def compute(run_dir: Path):
        train_set, _ = prepare_data(config, data_root)
        scores = confident_learning_scores(
            train_set, model_factory(config, train_set), config.train, folds=folds, seed=config.seed, device=device,
            checkpoint_dir=run_dir / "folds",
        )  # fmt: skip
        seconds = sum(float(path.read_text()) for path in (run_dir / "folds").glob("fold-*.seconds"))
        for path in (run_dir / "folds").glob("fold-*"):
            path.unlink()
        table = pd.DataFrame({"index": train_set.index.numpy(), "confident_learning": scores})
        return {"confident_learning": table, "timing": pd.DataFrame({"seconds": [seconds]})}, {}

    key = {**config.as_dict(), "folds": folds}
    return load_or_compute(cache_dir, f"confident-learning-{config.dataset}-{config.model}", key, compute)


def run_retraining_baselines(
    config: ScoreConfig, *, cache_dir: str | os.PathLike, data_root=None, device: str = "cpu", folds: int = 5
) -> pd.DataFrame:
    """Confident learning (:func:`run_confident_learning`, ``folds`` folds) and SSFT scores for the training set of
    ``config``, cached. Both retrain the experiment's model with its training config (without curvature scoring).
    Returns a table with columns index, confident_learning, ssft.
    """  # fmt: skip
    def compute(run_dir: Path):
        train_set, _ = prepare_data(config, data_root)
        cl = run_confident_learning(config, folds=folds, cache_dir=cache_dir, data_root=data_root, device=device)
        table = cl.tables["confident_learning"].assign(
            ssft=ssft_scores(train_set, model_factory(config, train_set), config.train, seed=config.seed, device=device)
        )
        return {"baselines": table}, {}

    key = {**config.as_dict(), "folds": folds}
    return load_or_compute(cache_dir, f"baselines-{config.dataset}-{config.model}", key, compute).tables["baselines"]


def detection_summary(tables: list[pd.DataFrame], scores: list[str], group: str = "noise") -> pd.DataFrame:
    """AUROC and AUPR of each score for ``is_noisy``, mean ± std over the tables of each ``group`` value.

    Each table is one run (a scores table with a ``group`` column, e.g. noise rate, and ``seed``).
    Returns long format: group, score, auroc_mean, auroc_std, aupr_mean, aupr_std, runs.
    """
    rows = []
    for table in tables:
        flags = table["is_noisy"].to_numpy()
        for score in scores:
            rows.append({group: table[group].iloc[0], "score": score, "auroc": auroc(flags, table[score]), "aupr": aupr(flags, table[score])})
    long = pd.DataFrame(rows)
    out = long.groupby([group, "score"], sort=False).agg(
        auroc_mean=("auroc", "mean"), auroc_std=("auroc", "std"), aupr_mean=("aupr", "mean"), aupr_std=("aupr", "std"),
        runs=("auroc", "size"),
    )  # fmt: skip
    return out.reset_index()


def auroc_by_epoch(result: RunResult, scores: list[str]) -> pd.DataFrame:
    """AUROC for ``is_noisy`` of each dynamics score read after each epoch (long format: epoch, score, auroc)."""
    records = TrainRecords.from_arrays(result.arrays)
    flags = result.tables["scores"]["is_noisy"].to_numpy()
    rows = []
    for epoch in range(records.train["loss"].shape[0]):
        values = scores_at_epoch(records, epoch)
        for score in scores:
            if np.isfinite(values[score]).all():
                rows.append({"epoch": epoch + 1, "score": score, "auroc": auroc(flags, values[score])})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class ToyConfig:
    """The paper's two-class toy problem (generator and model are our documented choices)."""

    n_per_class: int = 15  # training points per class
    test_per_class: int = 100  # clean test points per class
    flip_rate: float = 0.3  # fraction of training labels flipped
    hidden: tuple[int, ...] = (64, 64)  # tanh MLP hidden sizes
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=120, batch_size=10, lr=0.1, schedule="constant", n_probes=10)
    )
    snapshots: tuple[int, ...] = (5, 20, 60, 120)  # epochs (1-based) at which the input-space surfaces are kept
    grid: int = 120  # grid points per axis for the surfaces
    seed: int = 0


def run_toy(config: ToyConfig, *, cache_dir: str | os.PathLike) -> RunResult:
    """Train the toy MLP with per-epoch curvature and keep input-space surfaces at ``snapshots``.

    Tables: ``points`` (index, x0, x1, label, true_label, is_noisy, split) and ``scores``
    (the dynamics scores of the training points). Arrays: per-epoch records, ``grid_x0``,
    ``grid_x1`` and ``prob1`` [snapshots, grid, grid] = P(class 1 | x) at each snapshot.
    """
    def compute(run_dir: Path):
        train_set, test_set = make_toy_two_class(config.n_per_class, config.test_per_class, config.flip_rate, config.seed)
        torch.manual_seed(config.seed)
        model = mlp(2, 2, config.hidden, activation=nn.Tanh)
        g0, g1 = np.linspace(-3.5, 3.5, config.grid), np.linspace(-3, 3, config.grid)
        grid = torch.tensor(np.stack(np.meshgrid(g0, g1), -1).reshape(-1, 2), dtype=torch.float32)
        surfaces = []

        def snapshot(epoch: int, net: nn.Module) -> None:
            if epoch + 1 in config.snapshots:
                net.eval()
                with torch.no_grad():
                    surfaces.append(net(grid).softmax(1)[:, 1].reshape(config.grid, config.grid).numpy())

        records = train_and_score(model, train_set, config.train, test_set=test_set, on_epoch_end=snapshot)
        points = pd.concat([
            pd.DataFrame({"index": d.index.numpy(), "x0": d.x[:, 0].numpy(), "x1": d.x[:, 1].numpy(), "label": d.y.numpy(),
                          "true_label": d.true_y.numpy(), "is_noisy": d.is_noisy.numpy(), "split": split})
            for split, d in (("train", train_set), ("test", test_set))
        ])  # fmt: skip
        table = scores_table(records, train_set.y.numpy(), train_set.true_y.numpy())
        arrays = {**records.to_arrays(), "grid_x0": g0, "grid_x1": g1, "prob1": np.stack(surfaces)}
        return {"points": points, "scores": table}, arrays

    return load_or_compute(cache_dir, "toy", asdict(config), compute)


def run_mislabel_scores(config: ScoreConfig, *, cache_dir: str | os.PathLike, data_root=None, device: str = "cpu") -> pd.DataFrame:
    """Every mislabel score of one run (dynamics scores + confident learning + SSFT), one row per sample.

    Adds the columns ``dataset``, ``noise`` and ``seed`` so tables of several runs can be stacked.
    """
    scores = run_scoring(config, data_root=data_root, cache_dir=cache_dir, device=device).tables["scores"]
    baselines = run_retraining_baselines(config, cache_dir=cache_dir, data_root=data_root, device=device)
    table = scores.merge(baselines, on="index", validate="one_to_one")
    return table.assign(dataset=config.dataset, noise=config.noise, seed=config.seed)


# Mislabel-detection AUROC from a third-party reproduction (CIFAR, ResNet18, wd 1e-4, 200 epochs,
# h=1e-3, n=10), mean over seeds; see the book's mislabel chapter. Keys: (dataset, method) -> {noise: AUROC}.
REFERENCE_CIFAR_AUROC = {
    ("CIFAR-10", "learning time"): {0.01: .495, 0.02: .495, 0.05: .491, 0.10: .495},
    ("CIFAR-10", "in-confidence"): {0.01: .878, 0.02: .807, 0.05: .725, 0.10: .653},
    ("CIFAR-10", "confident learning"): {0.01: .865, 0.02: .891, 0.05: .887, 0.10: .855},
    ("CIFAR-10", "SSFT"): {0.01: .963, 0.02: .955, 0.05: .950, 0.10: .936},
    ("CIFAR-10", "curvature"): {0.01: .972, 0.02: .978, 0.05: .980, 0.10: .982},
    ("CIFAR-10", "CSL"): {0.01: .985, 0.02: .986, 0.05: .987, 0.10: .987},
    ("CIFAR-100", "confident learning"): {0.01: .872, 0.02: .884, 0.05: .873, 0.10: .854},
    ("CIFAR-100", "SSFT"): {0.01: .892, 0.02: .889, 0.05: .878, 0.10: .866},
    ("CIFAR-100", "curvature"): {0.01: .986, 0.02: .987, 0.05: .988, 0.10: .989},
    ("CIFAR-100", "CSL"): {0.01: .989, 0.02: .990, 0.05: .990, 0.10: .990},
}

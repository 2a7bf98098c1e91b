"""Memorization / mislabel scores from training dynamics. Higher always means "more suspicious".

All are read off the per-epoch records of one run (:class:`curvlib.training.TrainRecords`):

- ``curvature``: epoch-averaged input-loss curvature, the memorization score of Garg et al. (2024).
- ``curvature_last``: curvature at the last scored epoch only.
- ``loss_mean`` / ``loss_last``: loss averaged over epochs / at the last epoch.
- ``csl``: cumulative sample loss, loss summed over epochs (Ravikumar et al. 2024).
- ``in_confidence``: 1 − max softmax at the last epoch (Hendrycks & Gimpel 2017).
- ``learning_time``: first epoch from which the sample stays correctly classified (Jiang et al. 2021);
  never-learned samples get the number of epochs.
- ``forgetting``: forgetting events, correct → incorrect transitions between epochs (Toneva et al. 2019).
- ``aum``: minus the area under the margin, −mean over epochs of (logit of given label − largest other
  logit) (Pleiss et al. 2020).
- ``grad_norm``: epoch-averaged input-gradient norm ‖∇ₓℓ‖ (from the curvature passes).
- ``curvature_h<h>``: epoch-averaged curvature at each extra step h of the run (``TrainConfig.extra_h``).

Not a score but read off the same records: :func:`history_label`, the other class the network predicted most
often before it fitted the sample (the label a memorised sample's history suggests, when the last epoch agrees with
the given one).

Two more need models of their own: :func:`confident_learning_scores` (K-fold cleanlab) and
:func:`ssft_scores` (second-split forgetting time).
"""
from __future__ import annotations

import os
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold
from torch import nn
from tqdm import tqdm

from .data import IndexedDataset
from .results import atomic_write
from .training import TrainConfig, TrainRecords, train_and_score

__all__ = [
    "dynamics_scores", "scores_at_epoch", "learning_time", "forgetting_events", "confident_learning_scores",
    "ssft_scores", "history_label", "DYNAMICS_SCORES",
]  # fmt: skip

DYNAMICS_SCORES = (
    "curvature", "curvature_last", "loss_mean", "loss_last", "csl", "in_confidence",
    "learning_time", "forgetting", "aum", "grad_norm",
)  # fmt: skip


def learning_time(correct: np.ndarray) -> np.ndarray:
    """First epoch e such that the sample is correct at every epoch ≥ e; E if wrong at the last epoch.

    ``correct`` is [E, N] of 0/1. Example: columns [0,1,1] → 1, [1,0,1] → 2, [1,1,0] → 3.
    """
    correct = np.asarray(correct) > 0.5
    epochs = correct.shape[0]
    # number of trailing correct epochs, then subtract from E
    trailing = np.cumprod(correct[::-1], axis=0).sum(axis=0)
    return (epochs - trailing).astype(float)


def forgetting_events(correct: np.ndarray) -> np.ndarray:
    """Number of epochs e with correct[e-1] = 1 and correct[e] = 0, per sample. ``correct`` is [E, N]."""
    correct = np.asarray(correct) > 0.5
    return (correct[:-1] & ~correct[1:]).sum(axis=0).astype(float)


def history_label(pred: np.ndarray, given: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The class other than the given label that the network predicted in the most epochs before it fitted the sample
    for good (its :func:`learning_time` t: the epochs before the first from which it stays correct), and the share of
    those t epochs in which it did: (label [N], share [N]); label −1 and share 0 where it never predicted another class
    before t (t = 0: fitted from the first epoch).

    ``pred`` is [E, N] (predicted class per epoch; a non-finite entry, an epoch not recorded, counts as not fitted),
    ``given`` is [N]. Ties go to the class predicted most recently. A network that memorises a mislabeled sample
    predicts its true class until it fits the given label; after the last epoch only this history still shows that
    class, whenever in the schedule the fitting happens.

    Example: given 5 and predictions [3, 3, 3, 5, 5] over five epochs → (3, 1.0).
    """
    pred, given = np.asarray(pred, dtype=float), np.asarray(given)
    epochs, n = pred.shape
    valid = np.isfinite(pred)
    correct = valid & (pred == given[None, :])
    before = np.arange(epochs)[:, None] < learning_time(correct)[None, :]  # epochs before the sample is fitted for good
    classes = int(max(np.nanmax(pred, initial=0), given.max(initial=0))) + 1
    counts = np.zeros((n, classes))
    last_seen = np.zeros((n, classes))
    rows, cols = np.nonzero(valid & ~correct & before)
    np.add.at(counts, (cols, pred[rows, cols].astype(int)), 1.0)
    np.maximum.at(last_seen, (cols, pred[rows, cols].astype(int)), rows + 1.0)
    ranked = counts + last_seen / (epochs + 1)  # the count decides; the latest epoch only breaks ties
    label = ranked.argmax(axis=1)
    share = counts[np.arange(n), label] / np.maximum(before.sum(axis=0), 1)
    return np.where(share > 0, label, -1), share


def dynamics_scores(records: TrainRecords) -> dict[str, np.ndarray]:
    """Every score of :data:`DYNAMICS_SCORES` for each training sample, as arrays [N], then the epoch-averaged
    curvature at each extra step (records ``curvature_h<h>``, :func:`curvlib.training.curvature_column`)."""
    train = records.train
    extra = {name: records.average(name) for name in train if name.startswith("curvature_h")}
    return {
        "curvature": records.average("curvature"),
        "curvature_last": records.last("curvature"),
        "loss_mean": train["loss"].mean(axis=0),
        "loss_last": train["loss"][-1],
        "csl": train["loss"].sum(axis=0),
        "in_confidence": 1.0 - train["confidence"][-1],
        "learning_time": learning_time(train["correct"]),
        "forgetting": forgetting_events(train["correct"]),
        "aum": -train["margin"].mean(axis=0),
        "grad_norm": records.average("grad_norm"),
        **extra,
    }


def scores_at_epoch(records: TrainRecords, epoch: int) -> dict[str, np.ndarray]:
    """:func:`dynamics_scores` as if training had stopped after (0-based) ``epoch``.

    Shows how each score's quality depends on when it is read (before vs after memorization).
    """
    cut = TrainRecords(records.index, {k: v[: epoch + 1] for k, v in records.train.items()})
    return dynamics_scores(cut)


def _save_npy(path: str, array: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object, so NumPy does not append ".npy" to the temporary name
        np.save(f, array)


def confident_learning_scores(
    dataset: IndexedDataset, make_model: Callable[[], nn.Module], config: TrainConfig, *, folds: int = 5,
    seed: int = 0, device: str = "cpu", checkpoint_dir: str | os.PathLike | None = None,
) -> np.ndarray:
    """Confident learning (Northcutt et al. 2021, cleanlab) on K-fold out-of-sample probabilities.

    Trains ``folds`` models (``config`` without curvature scoring), each on K−1 folds, predicts the
    held-out fold, then scores 1 − cleanlab's self-confidence label quality of the given label:
    higher = more likely mislabeled. Returns [N] in dataset order. With ``checkpoint_dir`` each finished
    fold's held-out probabilities are kept there (``fold-<k>.npy``), with the seconds its training took
    (``fold-<k>.seconds``), so an interrupted call resumes and the time of every fold stays known.
    """  # fmt: skip
    with warnings.catch_warnings():  # cleanlab imports tqdm.auto, which warns in a notebook without ipywidgets
        warnings.filterwarnings("ignore", message="IProgress not found")
        from cleanlab.rank import get_label_quality_scores

    labels = dataset.y.numpy()
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    probs = np.zeros((len(dataset), dataset.num_classes))
    quiet = replace(config, score_every=0)
    for fold, (fit, held) in enumerate(tqdm(list(splitter.split(labels, labels)), desc="confident learning", disable=None)):
        saved = None if checkpoint_dir is None else Path(checkpoint_dir) / f"fold-{fold}.npy"
        if saved is not None and saved.exists():
            probs[held] = np.load(saved)
            continue
        torch.manual_seed(seed * 1000 + fold)
        tic = time.perf_counter()
        records = train_and_score(make_model(), dataset.select(fit), quiet, test_set=dataset.select(held), device=device)
        probs[held] = records.test["probs"][-1]
        if saved is not None:
            atomic_write(saved, lambda tmp: _save_npy(tmp, probs[held]))
            atomic_write(saved.with_suffix(".seconds"), lambda tmp: Path(tmp).write_text(f"{time.perf_counter() - tic}\n"))
    return 1.0 - get_label_quality_scores(labels, probs, method="self_confidence")


def ssft_scores(
    dataset: IndexedDataset, make_model: Callable[[], nn.Module], config: TrainConfig, *, seed: int = 0,
    device: str = "cpu",
) -> np.ndarray:
    """Second-split forgetting time (Maini et al. 2022): how fast a sample is forgotten on new data.

    Split the data in halves A and B. Train on A (``config``, no curvature), then fine-tune on B for
    ``config.epochs`` epochs, recording after each whether A's samples are still classified as their
    given label. Forgetting time = first fine-tuning epoch from which a sample stays misclassified
    (E if never). Then swap A and B. Score = E − forgetting time: higher = forgotten sooner = more
    likely mislabeled. Returns [N] in dataset order.
    """  # fmt: skip
    order = np.random.default_rng(seed).permutation(len(dataset))
    halves = (np.sort(order[: len(order) // 2]), np.sort(order[len(order) // 2 :]))
    quiet = replace(config, score_every=0)
    scores = np.zeros(len(dataset))
    for first, second in (halves, halves[::-1]):
        torch.manual_seed(seed)
        model = make_model()
        train_and_score(model, dataset.select(first), quiet, device=device)
        records = train_and_score(model, dataset.select(second), quiet, test_set=dataset.select(first), device=device)
        forgetting_time = learning_time(1.0 - records.test["correct"])
        scores[first] = quiet.epochs - forgetting_time
    return scores

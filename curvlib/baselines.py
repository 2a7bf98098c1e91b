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
"""
from __future__ import annotations

import numpy as np

from .training import TrainRecords

__all__ = ["dynamics_scores", "learning_time", "forgetting_events", "DYNAMICS_SCORES"]

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


def dynamics_scores(records: TrainRecords) -> dict[str, np.ndarray]:
    """Every score of :data:`DYNAMICS_SCORES` for each training sample, as arrays [N]."""
    train = records.train
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
    }

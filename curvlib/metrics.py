"""Detection, agreement and calibration metrics. Higher scores mean "more likely flagged".

Thin, checked wrappers over scikit-learn and SciPy where those already implement the metric.
"""
from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn import metrics as skm

__all__ = [
    "auroc", "aupr", "fpr_at_tpr", "roc_curve", "precision_at_k", "cosine_similarity", "pearson",
    "spearman", "top_k_overlap", "expected_calibration_error", "reliability_bins",
]  # fmt: skip


def _as_arrays(flags, scores) -> tuple[np.ndarray, np.ndarray]:
    flags = np.asarray(flags).astype(bool).ravel()
    scores = np.asarray(scores, dtype=float).ravel()
    if flags.shape != scores.shape:
        raise ValueError(f"flags and scores must have the same length; got {flags.size} and {scores.size}")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinite values")
    if flags.all() or not flags.any():
        raise ValueError("flags must contain both positives and negatives")
    return flags, scores


def auroc(flags, scores) -> float:
    """Area under the ROC curve for detecting ``flags`` (True = positive) by ranking on ``scores``.

    Example:
        >>> auroc([0, 0, 1], [0.1, 0.2, 0.9])
        1.0
    """
    flags, scores = _as_arrays(flags, scores)
    return float(skm.roc_auc_score(flags, scores))


def aupr(flags, scores) -> float:
    """Average precision (area under the precision–recall curve); chance level = positive rate.

    Example:
        >>> aupr([0, 0, 1], [0.1, 0.2, 0.9])
        1.0
    """
    flags, scores = _as_arrays(flags, scores)
    return float(skm.average_precision_score(flags, scores))


def roc_curve(flags, scores) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates of the ROC curve, (fpr, tpr)."""
    flags, scores = _as_arrays(flags, scores)
    fpr, tpr, _ = skm.roc_curve(flags, scores)
    return fpr, tpr


def fpr_at_tpr(flags, scores, tpr: float = 0.95) -> float:
    """Smallest false-positive rate at which the true-positive rate reaches ``tpr`` (FPR@95%TPR).

    Example:
        >>> fpr_at_tpr([0, 0, 1, 1], [0.1, 0.8, 0.7, 0.9])
        0.5
    """
    fpr, tprs = roc_curve(flags, scores)
    return float(fpr[np.searchsorted(tprs, tpr, side="left")])


def precision_at_k(flags, scores, k: int) -> float:
    """Fraction of positives among the ``k`` highest scores (ties broken by position).

    Example:
        >>> precision_at_k([1, 0, 1, 0], [0.9, 0.8, 0.1, 0.0], k=2)
        0.5
    """
    flags, scores = _as_arrays(flags, scores)
    if not 1 <= k <= flags.size:
        raise ValueError(f"k must be in [1, {flags.size}]; got {k}")
    top = np.argsort(-scores, kind="stable")[:k]
    return float(flags[top].mean())


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"both score vectors must have the same length; got {a.size} and {b.size}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("score vectors contain NaN or infinite values")
    return a, b


def cosine_similarity(a, b) -> float:
    """aᵀb / (‖a‖‖b‖). For non-negative scores it is inflated by their common mean: report Pearson too.

    Example:
        >>> cosine_similarity([1, 0], [1, 1])  # doctest: +ELLIPSIS
        0.7071...
    """
    a, b = _pair(a, b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def pearson(a, b) -> float:
    """Pearson correlation: the cosine similarity of the mean-centred vectors."""
    a, b = _pair(a, b)
    return float(stats.pearsonr(a, b).statistic)


def spearman(a, b) -> float:
    """Spearman rank correlation (Pearson of the ranks, ties averaged)."""
    a, b = _pair(a, b)
    return float(stats.spearmanr(a, b).statistic)


def top_k_overlap(a, b, k: int) -> float:
    """|top-k(a) ∩ top-k(b)| / k, the share of the k highest-scored items both rankings agree on.

    Example:
        >>> top_k_overlap([3, 2, 1, 0], [3, 0, 2, 1], k=2)
        0.5
    """
    a, b = _pair(a, b)
    if not 1 <= k <= a.size:
        raise ValueError(f"k must be in [1, {a.size}]; got {k}")
    top_a = set(np.argsort(-a, kind="stable")[:k].tolist())
    top_b = set(np.argsort(-b, kind="stable")[:k].tolist())
    return len(top_a & top_b) / k


def reliability_bins(probs, labels, n_bins: int = 15) -> dict[str, np.ndarray]:
    """Equal-width confidence bins of a classifier: count, mean confidence and accuracy per bin.

    ``probs`` is [N, C] class probabilities, ``labels`` [N]; confidence = max prob, correct = argmax == label.
    """
    probs = np.asarray(probs, dtype=float)
    labels = np.asarray(labels).ravel()
    if probs.ndim != 2 or probs.shape[0] != labels.size:
        raise ValueError(f"probs must be [N, C] with N = len(labels) = {labels.size}; got {probs.shape}")
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(float)
    which = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins).astype(float)
    with np.errstate(invalid="ignore"):
        conf = np.bincount(which, confidence, n_bins) / count
        acc = np.bincount(which, correct, n_bins) / count
    return {"count": count, "confidence": conf, "accuracy": acc, "edges": np.linspace(0, 1, n_bins + 1)}


def expected_calibration_error(probs, labels, n_bins: int = 15) -> float:
    """ECE = Σ_b (n_b / N) |acc_b − conf_b| over equal-width confidence bins (Guo et al. 2017).

    Example:
        >>> expected_calibration_error([[0.9, 0.1], [0.6, 0.4]], [0, 1], n_bins=10)  # doctest: +ELLIPSIS
        0.35...
    """
    bins = reliability_bins(probs, labels, n_bins)
    used = bins["count"] > 0
    gaps = np.abs(bins["accuracy"][used] - bins["confidence"][used])
    return float((bins["count"][used] * gaps).sum() / bins["count"].sum())

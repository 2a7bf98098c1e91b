"""Detection, agreement and calibration metrics. Higher scores mean "more likely flagged".

Thin, checked wrappers over scikit-learn and SciPy where those already implement the metric.
"""
from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn import metrics as skm

__all__ = [
    "auroc", "aupr", "fpr_at_tpr", "roc_curve", "precision_at_k", "cosine_similarity", "pearson",
    "spearman", "top_k_overlap", "expected_calibration_error", "reliability_bins", "bootstrap_aurocs",
    "bootstrap_top_k", "interval", "proportion_interval", "BOOTSTRAPS",
]  # fmt: skip

BOOTSTRAPS = 2000  # resamples behind every 95% interval of the book


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


def bootstrap_aurocs(flags, scores: dict[str, np.ndarray], *, n_boot: int = BOOTSTRAPS, seed: int = 0) -> dict[str, np.ndarray]:
    """AUROC of each score under ``n_boot`` paired, stratified bootstrap resamples of the samples: {name: [n_boot]}.

    Each resample draws the positives and the negatives with replacement (their counts kept), the same draw for every
    score, so differences between scores are paired. Computed exactly from the resample counts u (positives) and w
    (negatives): AUROC* = Σᵢ uᵢ (Σⱼ wⱼ [sⱼ < sᵢ] + ½ Σⱼ wⱼ [sⱼ = sᵢ]) / (m n), the inner sums read off a cumulative
    sum of w in the score's order; O(n_boot · N) after one sort per score.

    Example:
        >>> boot = bootstrap_aurocs(is_noisy, {"curvature": c, "aum": a})
        >>> interval(boot["curvature"] - boot["aum"])  # 95% interval of the AUROC difference
    """
    flags = np.asarray(flags).astype(bool).ravel()
    for values in scores.values():
        _as_arrays(flags, values)
    rng = np.random.default_rng(seed)
    m, n = int(flags.sum()), int((~flags).sum())
    prepared = {}
    for name, values in scores.items():
        values = np.asarray(values, dtype=float).ravel()
        pos, neg = values[flags], values[~flags]
        order = np.argsort(neg, kind="stable")
        below = np.searchsorted(neg[order], pos, side="left")  # negatives strictly below each positive
        upto = np.searchsorted(neg[order], pos, side="right")  # ... or equal to it
        prepared[name] = (order, below, upto)
    out = {name: np.empty(n_boot) for name in scores}
    for b in range(n_boot):
        u = np.bincount(rng.integers(0, m, m), minlength=m)  # resample counts of the positives
        w = np.bincount(rng.integers(0, n, n), minlength=n)  # ... and of the negatives
        for name, (order, below, upto) in prepared.items():
            cum = np.concatenate([[0], np.cumsum(w[order])])
            out[name][b] = u @ (cum[below] + 0.5 * (cum[upto] - cum[below])) / (m * n)
    return out


def bootstrap_top_k(ranks: dict[str, np.ndarray], k: int, *, n_boot: int = BOOTSTRAPS, seed: int = 0) -> dict[str, np.ndarray]:
    """How many of a list of known errors rank in each score's top ``k``, under ``n_boot`` bootstrap resamples of
    the list (drawn with replacement, the same draw for every score): {name: [n_boot]}. ``ranks[name]`` holds the
    1-based rank of each known error by that score.

    Example:
        >>> boot = bootstrap_top_k({"aum": aum_ranks, "curvature": curv_ranks}, 100)
        >>> interval(boot["aum"] - boot["curvature"])
    """
    sizes = {len(r) for r in ranks.values()}
    if len(sizes) != 1:
        raise ValueError(f"every score must rank the same known errors; got lists of sizes {sorted(sizes)}")
    size = sizes.pop()
    draws = np.random.default_rng(seed).integers(0, size, (n_boot, size))
    return {name: (np.asarray(r)[draws] <= k).sum(axis=1).astype(float) for name, r in ranks.items()}


def interval(samples, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap ``samples``: (low, high).

    Example:
        >>> interval(np.arange(101))
        (2.5, 97.5)
    """
    samples = np.asarray(samples, dtype=float)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def proportion_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a share ``k`` of ``n``: with p = k/n and z the normal quantile of ``level``,
    (p + z²/2n ± z·sqrt(p(1 − p)/n + z²/4n²)) / (1 + z²/n). It stays inside [0, 1] and is not empty at k = 0 or k = n.

    Example:
        >>> proportion_interval(6, 15)  # 40%
        (0.198..., 0.642...)
    """
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0; got k={k}, n={n}")
    z = stats.norm.ppf(0.5 + level / 2)
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))

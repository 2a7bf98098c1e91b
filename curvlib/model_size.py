"""Memorization across model sizes (Lukasik et al., "What do larger image classifiers memorise?", TMLR 2024).

Given per-size results (the runners are in :mod:`curvlib.runs.model_size`), :func:`trajectory_classes` sorts
each sample's memorization-by-size curve into increasing, decreasing, cap-shaped or constant, counting a change
only when it exceeds both α and what the standard errors allow; :func:`size_summary` gives per-size means,
:func:`pooled_scale` puts a proxy of every size on one scale and :func:`bimodality_coefficient` tells a
two-peaked score distribution.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .memorization import FZResult
from .results import RunResult

__all__ = [
    "TRAJECTORIES", "by_size", "classes_by_sample", "fz_trajectories", "trajectory_classes", "bimodality_coefficient",
    "size_summary", "pooled_scale",
]  # fmt: skip

TRAJECTORIES = ("increasing", "decreasing", "cap", "constant")


def by_size(runs: dict[int, RunResult], table: str, column: str) -> pd.DataFrame:
    """One ``column`` of one ``table`` of per-size runs (``"fz"`` of :func:`curvlib.runs.model_size.run_fz_per_size`, ``"scores"`` of
    :func:`curvlib.runs.model_size.run_proxies_per_size`), keyed by dataset ``index``, as a frame [samples × sizes] in the runs' order."""
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

"""Summaries of finished runs (no training): curvature dynamics, scoring every k epochs, calibration at
three stopping epochs, and how one per-sample score compares with a reference and with FZ memorization.

Every function reads a :class:`curvlib.results.RunResult` of :func:`curvlib.pipeline.run_scoring`
(tables ``scores``/``history`` and the per-epoch arrays ``train/<name>``, ``test/<name>``) or plain
arrays, and returns a tidy table, a mask or a dict.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .metrics import auroc, expected_calibration_error, pearson, spearman, top_k_overlap
from .results import RunResult
from .training import TrainRecords, scored_epochs

__all__ = [
    "curvature_dynamics", "turning_points", "every_k_curvature", "held_out_halves", "calibration_by_epoch", "calibration_at_epochs",
    "compare_scores", "cheapest_within", "cost_table", "mispredicted_in_top", "binned_means", "known_errors_ranking", "memorization_check",
    "STOPS", "MEMORIZED",
]  # fmt: skip


def _group_mean(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Mean over the samples selected by boolean ``rows`` of an [E, N] array, per epoch; NaN if none."""
    return values[:, rows].mean(axis=1) if rows.any() else np.full(values.shape[0], np.nan)


def curvature_dynamics(result: RunResult) -> pd.DataFrame:
    """Per epoch: mean curvature of the clean and of the noisy training samples and of the test samples,
    next to the loss and accuracy curves.

    Contract: one row per (1-based) epoch with columns ``curvature_clean``, ``curvature_noisy``,
    ``curvature_train`` (all training samples), ``curvature_test`` (each (1/|G|) Σ_{i∈G} Curv_t(xᵢ);
    NaN on unscored epochs, and for the test set unless the run had ``score_test``),
    ``noisy_fitted`` / ``clean_fitted`` (fraction of noisy / clean training samples predicted as their given
    label: the memorization curve), and the run's
    ``train_loss``, ``train_acc``, ``test_loss``, ``test_acc`` (test = the held-out split).

    Example:
        >>> curvature_dynamics(run_scoring(config, cache_dir="results/cache")).curvature_train.idxmax()
    """
    curv = result.arrays["train/curvature"]
    noisy = result.tables["scores"]["is_noisy"].to_numpy()
    test_curv = result.arrays.get("test/curvature")
    history = result.tables["history"]
    return pd.DataFrame({
        "epoch": np.arange(1, curv.shape[0] + 1),
        "curvature_clean": _group_mean(curv, ~noisy),
        "curvature_noisy": _group_mean(curv, noisy),
        "curvature_train": curv.mean(axis=1),
        "curvature_test": test_curv.mean(axis=1) if test_curv is not None and test_curv.shape[1] else np.nan,
        "noisy_fitted": _group_mean(result.arrays["train/correct"], noisy),
        "clean_fitted": _group_mean(result.arrays["train/correct"], ~noisy),
        **{name: history[name].to_numpy() for name in ("train_loss", "train_acc", "test_loss", "test_acc")},
    })  # fmt: skip


def turning_points(dynamics: pd.DataFrame) -> dict[str, int | float]:
    """Where the curves of :func:`curvature_dynamics` turn: ``peak_epoch`` (1-based epoch of the highest
    training-set mean curvature), ``epochs``, ``peak_over_last`` (that peak over the last epoch's value),
    ``noisy_over_clean_at_peak``, ``noisy_fitted_at_peak``, ``best_test_loss_epoch`` and
    ``test_over_clean_last`` (test over clean training curvature at the last epoch)."""
    peak = dynamics.curvature_train.idxmax()
    return {
        "peak_epoch": int(dynamics.epoch[peak]), "epochs": int(dynamics.epoch.iloc[-1]),
        "peak_over_last": float(dynamics.curvature_train[peak] / dynamics.curvature_train.iloc[-1]),
        "noisy_over_clean_at_peak": float(dynamics.curvature_noisy[peak] / dynamics.curvature_clean[peak]),
        "noisy_fitted_at_peak": float(dynamics.noisy_fitted[peak]),
        "best_test_loss_epoch": int(dynamics.epoch[dynamics.test_loss.idxmin()]),
        "test_over_clean_last": float(dynamics.curvature_test.iloc[-1] / dynamics.curvature_clean.iloc[-1]),
    }  # fmt: skip


def every_k_curvature(result: RunResult, every: int) -> np.ndarray:
    """The memorization score a run scored only every ``every`` epochs would give, read off a run scored
    every epoch: the mean of Curv_t over the epochs t of :func:`curvlib.training.scored_epochs`.

    Exact, not an approximation: training never depends on scoring (probes are keyed by seed, epoch and
    sample), so a run with ``score_every=every`` trains the same weights and scores the same epochs.
    Raises ValueError if one of those epochs was not scored in ``result``.
    """
    records = TrainRecords.from_arrays(result.arrays)
    epochs = scored_epochs(records.train["curvature"].shape[0], every)
    if not np.isfinite(records.train["curvature"][epochs]).all():
        raise ValueError(f"the run was not scored on every epoch that every={every} needs: pass a run with score_every=1")
    return records.average("curvature", epochs)


def held_out_halves(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (validation, evaluation) splitting n held-out samples by position: even positions
    choose an epoch, odd positions measure it, so no number is measured on the data that chose it."""
    even = np.arange(n) % 2 == 0
    return even, ~even


# The three stopping epochs of the calibration comparison, in display order.
STOPS = ("lowest validation loss", "peak training curvature", "last epoch")


def calibration_by_epoch(result: RunResult, test_labels: np.ndarray, n_bins: int = 15) -> pd.DataFrame:
    """Calibration of the model after every epoch, on held-out data split by :func:`held_out_halves`.

    Contract: one row per 1-based ``epoch`` with ``validation_loss`` (mean cross-entropy on the
    validation half) and, on the evaluation half, ``accuracy``, ``nll`` (mean cross-entropy) and ``ece``
    (:func:`curvlib.metrics.expected_calibration_error`, ``n_bins`` equal-width bins); plus
    ``train_curvature``, the mean training-set curvature (NaN on unscored epochs).
    ``test_labels`` [N_test] are the held-out labels in the run's order.
    """
    probs = result.arrays["test/probs"]
    labels = np.asarray(test_labels)
    if probs.shape[1] != labels.size:
        raise ValueError(f"test_labels has {labels.size} entries but the run recorded {probs.shape[1]} test samples")
    validation, evaluation = held_out_halves(labels.size)
    loss, correct = result.arrays["test/loss"], result.arrays["test/correct"]
    return pd.DataFrame({
        "epoch": np.arange(1, probs.shape[0] + 1),
        "validation_loss": loss[:, validation].mean(axis=1),
        "accuracy": correct[:, evaluation].mean(axis=1),
        "nll": loss[:, evaluation].mean(axis=1),
        "ece": [expected_calibration_error(p[evaluation], labels[evaluation], n_bins) for p in probs],
        "train_curvature": result.arrays["train/curvature"].mean(axis=1),
    })  # fmt: skip


def calibration_at_epochs(result: RunResult, test_labels: np.ndarray, n_bins: int = 15) -> pd.DataFrame:
    """The rows of :func:`calibration_by_epoch` at three stopping epochs (Garg et al. 2024, §6): the
    epoch of lowest validation loss, the epoch of peak mean training-set curvature, and the last epoch.

    Contract: one row per stop of :data:`STOPS` (column ``stop``); the validation half chooses the
    first epoch, the training set the second, and every number is measured on the evaluation half.
    """
    per_epoch = calibration_by_epoch(result, test_labels, n_bins)
    if not per_epoch.train_curvature.notna().any():
        raise ValueError("the run has no scored epoch: calibration at peak curvature needs curvature records")
    rows = [per_epoch.validation_loss.idxmin(), per_epoch.train_curvature.idxmax(), per_epoch.index[-1]]
    return per_epoch.loc[rows].assign(stop=list(STOPS)).reset_index(drop=True)[["stop", *per_epoch.columns]]


def compare_scores(
    table: pd.DataFrame, score: np.ndarray, *, reference: np.ndarray | None = None,
    memorization: pd.Series | None = None, top_fraction: float = 0.05,
) -> dict[str, float]:
    """How one per-sample score (aligned with the rows of a ``scores`` table) behaves.

    Contract: ``auroc`` for the table's ``is_noisy`` flag (NaN if nothing is noisy); with ``reference``
    (same rows), ``spearman_ref`` and ``top_overlap_ref`` (share of the top k = ⌈top_fraction·N⌉ both
    agree on); with ``memorization`` (FZ scores indexed by dataset index), ``fz_spearman`` and
    ``fz_pearson`` on the samples with a finite FZ value. Missing comparisons are NaN.
    """  # fmt: skip
    score = np.asarray(score, dtype=float)
    flags = table["is_noisy"].to_numpy()
    out = {"auroc": auroc(flags, score) if 0 < flags.sum() < flags.size else np.nan}
    out["spearman_ref"], out["top_overlap_ref"] = np.nan, np.nan
    if reference is not None:
        k = int(np.ceil(top_fraction * score.size))
        out["spearman_ref"], out["top_overlap_ref"] = spearman(score, reference), top_k_overlap(score, reference, k)
    out["fz_spearman"], out["fz_pearson"] = np.nan, np.nan
    if memorization is not None:
        mem = memorization.reindex(table["index"].to_numpy()).to_numpy(dtype=float)
        keep = np.isfinite(mem)
        out["fz_spearman"], out["fz_pearson"] = spearman(score[keep], mem[keep]), pearson(score[keep], mem[keep])
    return out


def cheapest_within(table: pd.DataFrame, *, cost: str, floors: dict[str, float]) -> pd.Series:
    """The row of ``table`` with the smallest ``cost`` among the rows where ``row[column] >= floor`` for
    every ``column: floor`` of ``floors`` (e.g. ``{"auroc": reference - 0.005}``).

    Raises ValueError, naming the floors, when no row qualifies.
    """
    keep = np.ones(len(table), dtype=bool)
    for column, floor in floors.items():
        keep &= table[column].to_numpy(dtype=float) >= floor
    if not keep.any():
        raise ValueError(f"no row meets the floors {floors}")
    candidates = table[keep]
    return candidates.loc[candidates[cost].idxmin()]


def cost_table(
    cost: dict, *, full_size: int = 60_000, fz_models: int = 2000, fz_epochs: int = 10, fz_fraction: float = 0.7
) -> pd.DataFrame:
    """The paper's cost table in shape, from the JSON of ``benchmarks/bench_cost.py``.

    Contract, with E epochs on S images: training per epoch t = (plain run's training seconds) / E;
    scoring per epoch s = (eval-and-score seconds of k = 1, n = 10 − the plain run's) / E; the
    memorization score costs (t + s)·E; on ``full_size`` images each is scaled by ``full_size``/S. A
    Feldman–Zhang estimate trains ``fz_models`` models for ``fz_epochs`` epochs on ``fz_fraction`` of the
    data at the same per-image cost: fz_models · fz_epochs · fz_fraction · full_size · t / S seconds.
    Full-size and FZ numbers are linear extrapolations, not measurements. Rows: training, curvature
    scoring, memorization score, FZ estimate; columns: per epoch, measured run, extrapolated.
    """
    rows = {(r["every_k"], r["n_probes"]): r for r in cost["rows"]}
    plain, reference = rows[(0, 0)], rows[(1, 10)]
    epochs, subset = cost["epochs"], cost["subset"]
    train = plain["seconds_train"] / epochs
    score = (reference["seconds_eval_and_score"] - plain["seconds_eval_and_score"]) / epochs
    scale = full_size / subset
    fz = fz_models * fz_epochs * fz_fraction * full_size * train / subset
    return pd.DataFrame(
        {
            "per epoch (s)": [train, score, train + score, np.nan],
            f"{subset} images, {epochs} epochs (s)": [train * epochs, score * epochs, (train + score) * epochs, np.nan],
            f"{full_size:,} images, extrapolated (s)": [train * epochs * scale, score * epochs * scale, (train + score) * epochs * scale, fz],
        },
        index=["training", "curvature scoring (k=1, n=10)", "memorization score (train + score)", f"FZ estimate ({fz_models:,} models)"],
    )


def mispredicted_in_top(result: RunResult, k: int, score: str = "curvature") -> float:
    """Share of the ``k`` highest-``score`` training samples that the final model predicts as a label other
    than their given one (last-epoch ``train/pred``); ties broken by position."""
    table = result.tables["scores"]
    top = np.argsort(-table[score].to_numpy(), kind="stable")[:k]
    return float((result.arrays["train/pred"][-1][top] != table["label"].to_numpy()[top]).mean())


def binned_means(x: np.ndarray, y: np.ndarray, edges: np.ndarray) -> pd.DataFrame:
    """Mean of ``x`` and mean ± standard error of ``y`` within bins of ``x`` (``np.digitize`` on ``edges``),
    for the non-empty bins: columns x, y, y_sem (NaN for single-sample bins), n. NaN pairs are dropped."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    frame = pd.DataFrame({"x": x[keep], "y": y[keep], "bin": np.digitize(x[keep], edges)})
    out = frame.groupby("bin").agg(x=("x", "mean"), y=("y", "mean"), y_sem=("y", "sem"), n=("y", "size"))
    return out.reset_index(drop=True)


def known_errors_ranking(table: pd.DataFrame, known: np.ndarray, scores: list[str], tops: tuple[int, ...] = (100, 1000)) -> pd.DataFrame:
    """How each score of a ``scores`` table ranks a list of known (real) label errors given by dataset index.

    Contract: one row per score (higher = more suspicious, ties broken by table order): ``in top <k>`` = how many of
    the ``known`` indices rank among its k highest for each k in ``tops``, and ``auroc`` for the known errors
    against every other sample. Indices of ``known`` missing from the table raise ValueError.

    Example:
        >>> known_errors_ranking(run.tables["scores"], load_label_errors()["all"], ["curvature", "loss_mean"])
    """
    index = table["index"].to_numpy()
    flags = np.isin(index, known)
    if flags.sum() != len(np.unique(known)):
        raise ValueError(f"{len(np.unique(known)) - int(flags.sum())} known errors are not in the table: was it a subset?")
    rows = []
    for score in scores:
        order = np.argsort(-table[score].to_numpy(dtype=float), kind="stable")
        rank = np.empty(len(order), dtype=int)
        rank[order] = np.arange(1, len(order) + 1)
        rows.append({"score": score, **{f"in top {k:,}": int((rank[flags] <= k).sum()) for k in tops}, "auroc": auroc(flags, table[score].to_numpy())})
    return pd.DataFrame(rows).set_index("score")


MEMORIZED = 0.99  # share of training samples fitted on their given labels below which curvature is weak


def memorization_check(table: pd.DataFrame, threshold: float = MEMORIZED) -> dict:
    """Whether the run's model memorised its training set, read off a ``scores`` table (column ``fitted``:
    correct on the given label after the last epoch; ``is_noisy``).

    Contract: ``fitted`` = share of samples fitted, ``fitted_flipped`` = share of the injected flips
    fitted (NaN without injected noise), ``memorized`` = fitted >= ``threshold``, and ``advice``: None
    when memorised, else one sentence saying what the score is then and what to change.
    Garg et al. (2024) read the epoch-averaged curvature of a model that has memorised its training set as a
    memorization score; before that it is not one. As a detector of mislabeled samples it can still be
    good, even better: the book's "Choosing the defaults" chapter measures both.
    """
    fitted = float(table["fitted"].mean())
    noisy = table["is_noisy"].to_numpy(dtype=bool)
    flipped = float(table["fitted"].to_numpy()[noisy].mean()) if noisy.any() else float("nan")
    memorized = fitted >= threshold
    advice = None if memorized else (
        f"the model fits {fitted:.1%} of its training labels (below {threshold:.0%}), so it has not memorised them and "
        "curvature is not the paper's memorization score here; it can still rank mislabeled samples well (the book's "
        "Choosing the defaults chapter); for the memorization score, train until the labels are fitted: more --epochs, "
        "a wider --width, --model mlp (the network that memorised in the book's full-scale chapter) or lower --weight-decay"
    )
    return {"fitted": fitted, "fitted_flipped": flipped, "memorized": bool(memorized), "threshold": threshold, "advice": advice}

"""Score your own data in one call, and rank the samples most likely mislabeled, duplicated or atypical.

:func:`find_suspects` trains the default preset's model on your labelled data with per-epoch scoring
(:func:`curvlib.pipeline.run_scoring`) and returns :func:`suspects_table`: one row per sample keyed
by its index, highest epoch-averaged curvature (Garg et al. 2024) first, with the other scores of the
run and cleanlab's conventions where they fit: ``given_label``, ``predicted_label``, ``label_score``
(in [0, 1], lower = more likely a label issue) and a boolean ``is_label_issue`` for the top ``budget``
share of the ranking score, with ``<score>_is_issue`` at the same budget beside every other score.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from .data import DataError, IndexedDataset
from .memorization import find_conflicting_duplicates
from .pipeline import PRESETS, ScoreConfig, prepare_data, run_scoring, with_train
from .results import atomic_write, check_run_dir, mark_pending, write_npz
from .userdata import dataset_from_arrays

__all__ = ["find_suspects", "suspects_table", "suspect_kinds", "conflicting_duplicate_pairs", "KINDS", "HISTORY_SHARE", "HISTORY_EPOCHS", "save_suspects", "kind_quality", "WHAT_TO_CHECK", "SUSPECT_SCORES", "DEFAULT_BUDGET", "DEFAULT_SCORE", "WHY_DEFAULT_SCORE"]

# Scores shown beside the ranking one (all higher = more suspicious; see curvlib.baselines).
SUSPECT_SCORES = ("curvature", "loss_mean", "in_confidence", "learning_time", "forgetting", "aum")
DEFAULT_BUDGET = 0.05  # share of samples flagged by each ``*_is_issue`` column
DEFAULT_SCORE = "aum"  # the ranking unless another is asked for; every run computes it (also with --every 0)
WHY_DEFAULT_SCORE = (  # said where a ranking by DEFAULT_SCORE is shown
    "AUM (minus the area under the margin) is the default ranking because, with the default network, it put the most"
    " of MNIST's known label errors among its top 100 and ranked injected flips best (the book's chapter \"Choosing"
    " the defaults\"); curvature, the paper's score, is in the table, and --score curvature ranks by it"
)
KINDS = ("likely mislabeled", "conflicting duplicate", "atypical")  # the paper's three kinds of high-curvature samples
# A flagged sample is likely mislabeled when the model predicts another class after the last epoch, or, before it
# fitted the sample, predicted one other class in at least HISTORY_SHARE of at least HISTORY_EPOCHS epochs (a network
# that memorises a mislabeled sample predicts its true class until it fits the given label). Measured in the book's
# chapter "Choosing the defaults", on injected flips with networks that memorise them and on MNIST's known errors.
HISTORY_SHARE = 0.5
HISTORY_EPOCHS = 2
WHAT_TO_CHECK = {
    "likely mislabeled": "the model predicts another class, or did for much of training (suggested_label): look at the image; if it shows that class, fix the label",
    "conflicting duplicate": "the same image is in the data again with another label (duplicate_of): keep one copy and one label",
    "atypical": "the model agrees with the label: check that this unusual example is valid; keep it if so (a rare case, not an error)",
}


def _top_share(values: np.ndarray, budget: float) -> np.ndarray:
    """Boolean mask of the round(budget · N) largest values (ties broken by position; NaN is never flagged)."""
    flags = np.zeros(values.size, dtype=bool)
    order = np.argsort(-values, kind="stable")
    flags[order[np.isfinite(values[order])][: int(round(budget * values.size))]] = True
    return flags


def conflicting_duplicate_pairs(dataset: IndexedDataset, tolerance: float = 0.02) -> pd.DataFrame:
    """Pairs of (near-)identical inputs with different given labels, by dataset index: columns ``first``,
    ``second`` (dataset indices), ``distance``. Images are compared in pixels (mean absolute difference of the
    [0, 1] pixels at most ``tolerance``: :func:`curvlib.memorization.find_conflicting_duplicates`); feature vectors
    only when exactly equal (their units are the data's own, so no tolerance is meaningful)."""
    if dataset.is_image:
        pixels = dataset.pixels(np.arange(len(dataset)))
    else:
        pixels, tolerance = dataset.x.numpy()[:, None, :], 0.0
    pairs = find_conflicting_duplicates(pixels, dataset.y.numpy(), tolerance=tolerance)
    index = dataset.index.numpy()
    return pd.DataFrame({"first": index[pairs["first"].to_numpy(dtype=int)], "second": index[pairs["second"].to_numpy(dtype=int)],
                         "distance": pairs["distance"].to_numpy()})  # fmt: skip


def suspect_kinds(table: pd.DataFrame, duplicates: pd.DataFrame | None, history_share: float = HISTORY_SHARE) -> pd.DataFrame:
    """Which of the paper's three kinds each sample of a :func:`suspects_table` most likely is, and what to check.

    Contract, per row: ``duplicate_of`` is the dataset index of a (near-)identical sample with another label
    (from ``duplicates``, :func:`conflicting_duplicate_pairs`; -1 if none); ``kind`` is "conflicting duplicate"
    if it has one, else "likely mislabeled" if the model's prediction after the last epoch differs from the given
    label or, before it fitted the sample (in the ``learning_time`` ≥ :data:`HISTORY_EPOCHS` epochs before it stayed
    correct), it predicted one other class in at least ``history_share`` of them (``history_label``, ``history_share``:
    :func:`curvlib.baselines.history_label`; a table without them is judged on the last epoch alone), else "atypical" (high score, label agreed); ``suggested_label`` is that other class
    for a likely mislabeled sample (the last prediction where it differs, else the history's) and the given label
    otherwise; ``what_to_check`` is :data:`WHAT_TO_CHECK` of the kind.
    The boolean columns ``is_conflicting_duplicate`` (every sample in a pair, whatever its score),
    ``is_likely_mislabeled`` and ``is_atypical`` (among the flagged ``is_label_issue`` rows) mark the suspects.
    """
    partner = pd.Series(-1, index=table.index, dtype=int)
    if duplicates is not None and len(duplicates):
        both = pd.concat([duplicates.set_axis(["a", "b", "d"], axis=1), duplicates[["second", "first", "distance"]].set_axis(["a", "b", "d"], axis=1)])
        both = both.sort_values("d", kind="stable").drop_duplicates("a").set_index("a")["b"]
        partner.loc[both.index.intersection(table.index)] = both.loc[both.index.intersection(table.index)].to_numpy()
    duplicate = partner.to_numpy() >= 0
    given, last = table["given_label"].to_numpy(), table["predicted_label"].to_numpy()
    if "history_label" in table.columns:
        long_enough = table["learning_time"].to_numpy() >= HISTORY_EPOCHS if "learning_time" in table else True
        in_history = (table["history_share"].to_numpy() >= history_share) & long_enough
        history = table["history_label"].to_numpy()
    else:  # a run scored before the history was kept
        in_history, history = np.zeros(len(table), dtype=bool), given
    mislabeled = ~duplicate & ((last != given) | in_history)
    suggested = np.where(mislabeled, np.where(last != given, last, history), given)
    kind = np.where(duplicate, KINDS[1], np.where(mislabeled, KINDS[0], KINDS[2]))
    flagged = table["is_label_issue"].to_numpy(dtype=bool)
    return pd.DataFrame({
        "kind": kind, "suggested_label": suggested, "duplicate_of": partner.to_numpy(), "is_likely_mislabeled": flagged & (kind == KINDS[0]),
        "is_conflicting_duplicate": duplicate, "is_atypical": flagged & (kind == KINDS[2]),
        "what_to_check": [WHAT_TO_CHECK[k] for k in kind],
    }, index=table.index)  # fmt: skip


def suspects_table(
    scores: pd.DataFrame, *, rank_by: str = DEFAULT_SCORE, budget: float = DEFAULT_BUDGET, duplicates: pd.DataFrame | None = None,
    history_share: float = HISTORY_SHARE,
) -> pd.DataFrame:
    """Rank a run's ``scores`` table (:func:`curvlib.pipeline.scores_table`) by ``rank_by`` (default
    :data:`DEFAULT_SCORE`, see :data:`WHY_DEFAULT_SCORE`), highest first.

    Contract: one row per sample, indexed by dataset ``index``; columns ``rank`` (1 = most suspicious),
    ``given_label``, ``predicted_label``, ``is_label_issue`` (in the top round(budget · N) by ``rank_by``),
    ``label_score`` = 1 − (rank − 1)/(N − 1) of ``rank_by`` (cleanlab's direction: lower = more likely an
    issue), the training history's other class (``history_label``, ``history_share``), the kind of suspect, the
    suggested label and what to check (:func:`suspect_kinds`, with the conflicting ``duplicates``
    pairs if given, and ``history_share``), then each score of :data:`SUSPECT_SCORES` with ``<score>_is_issue`` at the same budget, and
    ``true_label``/``is_noisy`` where noise was injected.

    Example:
        >>> table = suspects_table(result.tables["scores"], budget=0.02)
        >>> table[table.is_label_issue].index  # dataset indices to review first
    """
    if rank_by not in scores.columns:
        raise ValueError(f"unknown score {rank_by!r}; choose one of {[c for c in SUSPECT_SCORES if c in scores.columns]}")
    if not 0 <= budget <= 1:
        raise ValueError(f"budget {budget} is not a share in [0, 1]")
    if not np.isfinite(scores[rank_by].to_numpy(dtype=float)).any():
        raise ValueError(f"the run has no {rank_by} values (it scored no curvature: --every 0); rank by another score, e.g. {DEFAULT_SCORE}")
    ranked = scores.sort_values(rank_by, ascending=False, kind="stable").reset_index(drop=True)
    n = len(ranked)
    out = pd.DataFrame({
        "rank": np.arange(1, n + 1), "given_label": ranked["label"].to_numpy(), "predicted_label": ranked["prediction"].to_numpy(),
        "is_label_issue": _top_share(ranked[rank_by].to_numpy(), budget),
        "label_score": 1 - np.arange(n) / max(n - 1, 1),
    }, index=pd.Index(ranked["index"].to_numpy(), name="index"))  # fmt: skip
    for name in ("history_label", "history_share", "learning_time"):
        if name in ranked.columns:
            out[name] = ranked[name].to_numpy()
    kinds = suspect_kinds(out, duplicates, history_share)
    out = out.join(kinds)[["rank", "given_label", "suggested_label", "predicted_label", "is_label_issue", "label_score",
                           *[c for c in kinds.columns if c != "suggested_label"], *[c for c in out.columns if c.startswith("history_")]]]  # fmt: skip  (learning_time follows with the scores)
    for name in dict.fromkeys((rank_by, *SUSPECT_SCORES)):
        if name in ranked.columns:
            out[name] = ranked[name].to_numpy()
            out[f"{name}_is_issue"] = _top_share(ranked[name].to_numpy(), budget)
    if ranked["is_noisy"].any():
        out["true_label"], out["is_noisy"] = ranked["true_label"].to_numpy(), ranked["is_noisy"].to_numpy()
    return out


def kind_quality(table: pd.DataFrame, is_error: np.ndarray, true_label: np.ndarray | None = None) -> dict:
    """How well the "likely mislabeled" kind of a :func:`suspects_table` finds known label errors.

    Contract, with ``is_error`` a boolean per row (injected flips, or a list of real errors) and ``true_label`` the
    correct labels where known: ``precision`` = share of the samples called likely mislabeled (flagged ones) that are
    errors; ``recall`` = share of all errors called likely mislabeled; ``of_flagged`` = share of the flagged errors
    called likely mislabeled rather than atypical; ``suggested_correct`` = share of the errors called likely
    mislabeled whose ``suggested_label`` is the true label (NaN without ``true_label``); ``called``, ``errors`` and
    ``flagged_errors`` count them (the denominators of precision, recall and of_flagged, for an interval such as
    :func:`curvlib.metrics.proportion_interval`).

    Example:
        >>> kind_quality(table, table.is_noisy.to_numpy(), table.true_label.to_numpy())["precision"]
    """
    is_error = np.asarray(is_error, dtype=bool)
    called = table["is_likely_mislabeled"].to_numpy(dtype=bool)
    flagged = table["is_label_issue"].to_numpy(dtype=bool)
    hits = called & is_error
    suggested = float((table["suggested_label"].to_numpy()[hits] == np.asarray(true_label)[hits]).mean()) if true_label is not None and hits.any() else float("nan")
    return {
        "precision": float(is_error[called].mean()) if called.any() else float("nan"), "recall": float(called[is_error].mean()),
        "of_flagged": float(called[flagged & is_error].mean()) if (flagged & is_error).any() else float("nan"),
        "suggested_correct": suggested, "called": int(called.sum()), "errors": int(is_error.sum()), "flagged_errors": int((flagged & is_error).sum()),
    }  # fmt: skip


def save_suspects(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a :func:`suspects_table` as a CSV, one row per sample with its dataset ``index`` first, most suspicious
    first (atomically); returns the path. What ``curvlib score`` and ``curvlib report`` leave as ``OUT/suspects.csv``."""
    return atomic_write(Path(path), lambda tmp: table.to_csv(tmp, index=True, index_label="index", float_format="%.6g"))


def find_suspects(
    data, labels=None, *, preset: str = "default", out_dir: str | os.PathLike | None = None, budget: float = DEFAULT_BUDGET,
    rank_by: str | None = None, device: str = "cpu", **train_changes,
) -> pd.DataFrame:
    """Train and score ``data`` with ``preset`` (:data:`curvlib.pipeline.PRESETS`) and rank its samples.

    ``data``: the path of an image folder (one subfolder per class), an ``.npz`` with ``x`` and ``y`` or a
    CSV of ``path,label`` (:func:`curvlib.userdata.load_own_data`); or an image/feature array with
    integer ``labels`` (:func:`curvlib.userdata.dataset_from_arrays`). ``train_changes`` override the
    preset's :class:`curvlib.training.TrainConfig` fields (e.g. ``epochs=60``). With ``out_dir`` the run is
    written there (scores.csv, config.json…, for ``curvlib report``; arrays are kept as ``input.npz``); it
    resumes after an interruption. Injected noise and subsets are off: every given sample is scored.
    Returns :func:`suspects_table` with the kind of each suspect (:func:`suspect_kinds`, duplicates found by
    :func:`conflicting_duplicate_pairs`), also written to ``out_dir/suspects.csv`` (:func:`save_suspects`) when
    ``out_dir`` is given; ``table.attrs["memorization_check"]`` says whether the model memorised its training set
    (below 99% the ranking is not the paper's memorization score; it can still rank well).

    Example:
        >>> table = find_suspects("my_images", out_dir="runs/my_images")
        >>> table.head(20)
    """
    config: ScoreConfig = with_train(PRESETS[preset], **train_changes)
    config = replace(config, subset=None, noise=0.0, test_subset=None)
    with contextlib.ExitStack() as stack:
        out = Path(out_dir) if out_dir is not None else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if labels is None:
            config = replace(config, dataset=str(Path(data).expanduser().resolve()))
        else:  # kept as OUT/input.npz, so the run (and its report) can reload it
            if isinstance(data, (str, os.PathLike)):
                raise DataError("pass labels only with arrays; a path carries its own labels")
            x, y = np.asarray(data), np.asarray(labels)
            digest = dataset_from_arrays(x, y, source="arrays").fingerprint()  # checked before anything is written
            config = replace(config, dataset=str((out / "input.npz").resolve()))
            check_run_dir(out, config.as_dict(), digest)  # an interrupted run of other arrays is not resumed
            mark_pending(out, config.as_dict(), digest)
            atomic_write(out / "input.npz", lambda tmp: write_npz(tmp, {"x": x, "y": y}))
        prepared = prepare_data(config)
        result = run_scoring(config, out_dir=out, device=device, data=prepared)
    scores = result.tables["scores"]
    table = suspects_table(scores, rank_by=rank_by or DEFAULT_SCORE, budget=budget, duplicates=conflicting_duplicate_pairs(prepared[0]))
    table.attrs["memorization_check"] = result.meta["memorization_check"]
    if out_dir is not None:
        save_suspects(table, Path(out_dir) / "suspects.csv")
    return table

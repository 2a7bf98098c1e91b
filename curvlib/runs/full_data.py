"""Runners of the book's full-data part: the paper's claims on all 60,000 training images, on a 2-core CPU.

The ``full`` profile (:data:`FULL_RUNS`) trains on the whole training split of MNIST or Fashion-MNIST with the
paper's schedule shape (SGD, lr 0.1, ×0.1 at 40% and 80% of the epochs) in two regimes: the MLP the model choice
picked, until it has memorised its flipped labels, and the small CNN, which generalises. Each run scores curvature
every k epochs at the paper's h = 1e-3 and, with the same probes, at the command line's h = 1e-2, next to every
dynamics baseline; confident learning gets 3 out-of-sample folds of the same network. Such a run takes about an
hour on 2 cores, far longer than CI, so:

- :func:`run_full_data` computes it once in a cache folder, resuming from its checkpoints (``python -m
  curvlib.runs.full_data NAME ...`` runs it in the background and logs a line per epoch);
- :func:`export_full_data` writes the small result that is committed, ``results/full/<name>/``: the
  per-sample table, the per-epoch summaries, the config, the code commit, the device and the wall times,
  with a SHA-256 of every file in ``config.json``;
- :func:`load_full_data` reads that folder back for the book, checking each file against its checksum and
  the config against :data:`FULL_RUNS`, so a chapter never reruns a full-data run and never shows a stale one.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from ..analysis import curvature_dynamics, every_k_curvature
from ..metrics import auroc
from ..models import AUTO_WIDTH
from ..pipeline import ScoreConfig, run_scoring
from ..results import RunResult, atomic_write, config_hash, environment_info
from ..training import TrainConfig, TrainRecords, curvature_column
from . import scale, verdicts
from .detection import auroc_by_epoch, run_confident_learning

__all__ = [
    "memorising_recipe", "MEMORISING_EPOCHS", "MEMORISING_RECIPE", "CHOICE_CANDIDATES", "model_choice_config", "run_model_choice", "memorising_config", "FULL_RUNS", "GPU_RUNS", "GPU_CL_RUNS", "GPU_RECIPE", "H200_RATES", "GPU_JOB_LIMIT_S", "curvature_evaluations", "cl_training_epochs", "run_seconds", "estimate_seconds", "DEFAULT_RUNS", "all_runs", "EVIDENCE_RECIPE", "FULL_RESULTS", "run_config", "cl_folds", "defaults_config", "FullDataRun", "full_data_config", "run_full_data", "export_full_data", "committed_runs", "load_full_data",
    "EPOCH_SCORES", "CHOICE_FROM_RUN", "load_model_choice", "median_speeds", "first_memorising_epoch", "cpu_run_hours", "memorising_hours", "memorising_hours_by_round",
]  # fmt: skip

# Where the committed results live (the repository's results/full/).
FULL_RESULTS = Path(__file__).resolve().parents[2] / "results" / "full"

# Runs scored every epoch also keep the score of scoring every k epochs (curvlib.analysis.every_k_curvature).
EVERY_K = (2, 3)

# Scores whose mislabel AUROC is tracked epoch by epoch (as if training had stopped there).
EPOCH_SCORES = ("curvature", curvature_column(1e-2), "loss_mean", "loss_last", "in_confidence", "aum")


def full_data_config(dataset: str, noise: float, seed: int = 0) -> ScoreConfig:
    """The ``full`` profile for ``dataset`` ("mnist" or "fashion_mnist") with ``noise`` of its labels flipped.

    The whole training and test splits; ``small_cnn`` (two conv-ReLU-pool stages of 16 and 32 channels, then
    128 hidden units; it fits almost none of its flipped labels, even through the memorising recipe's 60 epochs:
    ``results/full/model_choice.csv``), the generalising contrast to :func:`memorising_config`; 30 epochs of SGD with momentum 0.9, batch 128, lr 0.1 ×0.1 after epochs 12 and 24 (40%
    and 80%), no weight decay; curvature every 3 epochs at h = 1e-3 (``curvature``) and h = 1e-2
    (``curvature_h0.01``), n = 10, on the training and the test split.
    """
    train = TrainConfig(
        epochs=30, batch_size=128, lr=0.1, milestones=(12, 24), score_every=3, h=1e-3, extra_h=(1e-2,), n_probes=10,
        score_batch_size=500, score_test=True, seed=seed,
    )  # fmt: skip
    return ScoreConfig(dataset=dataset, subset=None, noise=noise, model="small_cnn", width=16, train=train, seed=seed)


def memorising_recipe(epochs: int) -> TrainConfig:
    """The memorising recipe on a CPU over ``epochs`` epochs: the paper's schedule shape (SGD with momentum 0.9, batch
    128, lr 0.1 ×0.1 after 40% and 80% of the epochs, as its 80 and 160 of 200), no weight decay, no scoring.

    The GPU measurement (../shared/docs/gpu-notes.md: the pre-activation ResNet18 fits its flips only after the drops)
    and the first, cut-short model choice (the MLP stalled at 71% of its flips after the second drop) say flips are
    fitted in the lr-0.01 phase, so the schedule is long: 60 epochs on MNIST, 150 on Fashion-MNIST
    (:data:`MEMORISING_EPOCHS`)."""
    return TrainConfig(epochs=epochs, batch_size=128, lr=0.1, milestones=(round(0.4 * epochs), round(0.8 * epochs)), score_every=0,
                       score_batch_size=1000)  # fmt: skip


# The shortest schedule measured in which the MLP fits at least 95% of the dataset's flipped labels
# (results/full/model_choice.csv: 60 epochs fit 95.3% on MNIST but 69.3% on Fashion-MNIST).
MEMORISING_EPOCHS = {"mnist": 60, "fashion_mnist": 150}
MEMORISING_RECIPE = memorising_recipe(MEMORISING_EPOCHS["mnist"])

# The model choice's candidates: name -> (model of curvlib.models.MODELS, width), cheapest first on 2 cores.
CHOICE_CANDIDATES: dict[str, tuple[str, int]] = {
    "mlp": ("mlp", 1024), "small_cnn": ("small_cnn", 16), "small_cnn_head1024": ("small_cnn_head1024", 16),
    "resnet9": ("resnet9", 8), "preact_resnet18": ("preact_resnet18", 8),
}  # fmt: skip


def model_choice_config(dataset: str, candidate: str, epochs: int = 60) -> ScoreConfig:
    """The model choice's run of ``candidate`` (:data:`CHOICE_CANDIDATES`) on all of ``dataset`` with 10% of the
    labels flipped (seed 0): the whole schedule of :func:`memorising_recipe` over ``epochs`` epochs, no curvature
    (only the per-epoch evaluation of every training and test sample)."""
    model, width = CHOICE_CANDIDATES[candidate]
    return ScoreConfig(dataset=dataset, subset=None, noise=0.1, model=model, width=width, train=memorising_recipe(epochs), seed=0)


def run_model_choice(
    dataset: str, candidate: str, epochs: int = 60, *, cache_dir, data_root=None, device: str = "cpu"
) -> tuple[pd.DataFrame, dict]:
    """Train (or read back, or resume) ``candidate`` per :func:`model_choice_config` and return one row per epoch
    (the learning rate, the share of flipped labels fitted (predicted as their given, wrong label), the share of
    clean labels fitted, the test accuracy, and the seconds of training and of evaluation) and the environment
    the run was computed in (a cached run keeps its own, not the reader's)."""
    result = run_scoring(model_choice_config(dataset, candidate, epochs), data_root=data_root, cache_dir=cache_dir, device=device)
    flipped = result.tables["scores"]["is_noisy"].to_numpy(dtype=bool)
    correct = result.arrays["train/correct"].astype(bool)  # [epochs, N], against the given labels
    history = result.tables["history"]
    return pd.DataFrame({
        "dataset": dataset, "candidate": candidate, "schedule_epochs": epochs, "epoch": history["epoch"], "lr": history["lr"],
        "flipped_fitted": correct[:, flipped].mean(axis=1), "clean_fitted": correct[:, ~flipped].mean(axis=1),
        "test_accuracy": history["test_acc"], "seconds_train": history["seconds_train"], "seconds_eval": history["seconds_score"],
    }), result.meta["environment"]  # fmt: skip


def memorising_config(dataset: str, noise: float, seed: int = 0, candidate: str = "mlp", epochs: int | None = None) -> ScoreConfig:
    """The ``full`` profile's memorising tier for ``dataset`` with ``noise`` of its labels flipped: the network the
    model choice picked (``results/full/model_choice.csv``: the MLP 1024-512, of the candidates that fit at least 95% of
    their flipped labels the cheapest per run, scoring included: :func:`memorising_hours_by_round`) trained with
    :func:`memorising_recipe` over :data:`MEMORISING_EPOCHS` epochs on the whole training split, curvature at every
    20th of the run (every 3 epochs of 60) at h = 1e-3 (``curvature``) and h = 1e-2 (``curvature_h0.01``) with the same
    probes, n = 10, on the training and the test split; one ``seed`` for noise, initialisation, shuffling and probes.
    ``candidate`` (:data:`CHOICE_CANDIDATES`) and ``epochs`` give the same run of another network or length, as the
    model choice prices it."""
    epochs = epochs or MEMORISING_EPOCHS[dataset]
    model, width = CHOICE_CANDIDATES[candidate]
    train = replace(memorising_recipe(epochs), score_every=epochs // 20, h=1e-3, extra_h=(1e-2,), n_probes=10, score_batch_size=500,
                    score_test=True, seed=seed)  # fmt: skip
    return ScoreConfig(dataset=dataset, subset=None, noise=noise, model=model, width=width, train=train, seed=seed)


# Every full-data run, in the order they are computed: the generalising tier (the small CNN, which fits almost none of
# its flips), then the memorising tier (the MLP, which fits them), then the rest (1% and 5% noise in the memorising
# regime, where the paper's detection claims live; Fashion-MNIST's original labels with the small CNN).
FULL_RUNS: dict[str, ScoreConfig] = {
    "mnist-noise10": full_data_config("mnist", 0.1),
    "mnist-original": full_data_config("mnist", 0.0),
    "fashion_mnist-noise10": full_data_config("fashion_mnist", 0.1),
    "mnist-noise10-mlp": memorising_config("mnist", 0.1),
    "fashion_mnist-noise10-mlp": memorising_config("fashion_mnist", 0.1),
    "mnist-original-mlp": memorising_config("mnist", 0.0),
    "fashion_mnist-original": full_data_config("fashion_mnist", 0.0),
    "mnist-noise1-mlp": memorising_config("mnist", 0.01),
    "mnist-noise5-mlp": memorising_config("mnist", 0.05),
}
CL_FOLDS = 3  # confident learning's out-of-sample folds (as the CSL paper ran it)

# The paper profile on one lent GPU: one job per run (a job starts on a bare machine, keeps nothing of an earlier one
# and runs at most 10 minutes), so each run must fit GPU_JOB_LIMIT_S by estimate_seconds(). The recipe that memorised
# on the project's H200 (98% of the flipped labels fitted; ../shared/docs/gpu-notes.md): the pre-activation ResNet18
# (width 64) on the whole training split, 30 epochs (the paper's 200 shortened), lr 0.1 ×0.1 after epochs 12 and 24
# (40% and 80%, as the paper's 80 and 160 of 200), weight decay 1e-4; curvature at the paper's h = 1e-3 in exact
# float32 on all 60,000 training images at five epochs (in the lr-0.1 phase, right after each drop, half-way through
# the fitting of the flips, the last), the test split at the last epoch only. Confident learning (3 folds of the same
# recipe) does not fit beside a run: it is a job of its own (GPU_CL_RUNS).
GPU_RECIPE = TrainConfig(epochs=30, batch_size=128, lr=0.1, weight_decay=1e-4, milestones=(12, 24), score_epochs=(6, 13, 18, 25, 30),
                         h=1e-3, n_probes=10, score_batch_size=512, score_test="last")  # fmt: skip
GPU_RUNS: dict[str, ScoreConfig] = {
    f"{dataset}-{kind}-paper": ScoreConfig(dataset=dataset, subset=None, noise=noise, model="preact_resnet18", width=64, seed=0, train=GPU_RECIPE)
    for dataset, kind, noise in (("mnist", "noise10", 0.1), ("fashion_mnist", "noise10", 0.1), ("mnist", "original", 0.0))
}  # fmt: skip
GPU_CL_RUNS: dict[str, str] = {"mnist-noise10-paper-cl": "mnist-noise10-paper"}  # confident learning of a GPU run, as its own job

# What the project's H200 measured for the pre-activation ResNet18 (width 64) on MNIST (../shared/docs/gpu-notes.md,
# 2026-12-04), and what a job costs besides: the rates of estimate_seconds().
H200_RATES = {
    "startup_s": 30.0,  # a bare machine starts (measured: about 30 s)
    "setup_s": 15.0,  # importing torch and reading the data (assumed)
    "epoch_s": 115 / 30,  # one training epoch with the per-epoch evaluation of every sample (30 epochs: about 115 s)
    "score_samples_per_s": 1000.0,  # curvature at one step, n = 10, exact float32 with TF32 off (1,006–1,080 measured)
}
GPU_JOB_LIMIT_S = 480  # a job may run 600 s; two minutes stay for the copy of the tree, the transfers and surprises
_SPLITS = {"mnist": (60_000, 10_000), "fashion_mnist": (60_000, 10_000)}  # training and test images


# The recipe the defaults evidence measured: the command line's preset as it stood before the evidence chose its
# network, ranking score and scoring interval (then: scored every epoch, "auto" = the MLP for images up to 32×32×3).
# "Choosing the defaults" checks that PRESETS["default"] is this recipe with the choices it made.
EVIDENCE_RECIPE = TrainConfig(epochs=12, batch_size=128, lr=0.1, schedule="onecycle", score_every=1, h=1e-2, n_probes=10)


def defaults_config(dataset: str, model: str, noise: float, seed: int = 0, subset: int | None = None) -> ScoreConfig:
    """:data:`EVIDENCE_RECIPE` on a built-in dataset, with the network ``model`` at the width "auto" builds
    (:data:`curvlib.models.AUTO_WIDTH`: "mlp" 1024-512, "small_cnn" 16) and one ``seed`` for subset, noise,
    initialisation, shuffling and probes."""
    return ScoreConfig(dataset=dataset, subset=subset, noise=noise, seed=seed, model=model, width=AUTO_WIDTH[model],
                       train=replace(EVIDENCE_RECIPE, seed=seed))  # fmt: skip


# The evidence for the default network (the chapter "Choosing the defaults"): the shipped recipe with the MLP and
# with the small CNN, on all 60,000 MNIST training images with their original labels (real errors, and confident
# learning with the same network), and on 10,000-image subsets of MNIST and Fashion-MNIST with 10% flipped labels,
# three seeds each.
DEFAULT_RUNS: dict[str, ScoreConfig] = {
    **{f"defaults-mnist-original-{m}": defaults_config("mnist", model, 0.0) for m, model in (("mlp", "mlp"), ("cnn", "small_cnn"))},
    **{f"defaults-{ds}-noise10-s{s}-{m}": defaults_config(ds, model, 0.1, s, subset=10_000)
       for ds in ("mnist", "fashion_mnist") for s in (0, 1, 2) for m, model in (("mlp", "mlp"), ("cnn", "small_cnn"))},
}  # fmt: skip


def all_runs() -> dict[str, ScoreConfig]:
    """Every committed run by name: :data:`FULL_RUNS`, :data:`GPU_RUNS` (with :data:`GPU_CL_RUNS`, the config of the run
    whose confident learning they compute) and :data:`DEFAULT_RUNS`, as they stand now."""
    return {**FULL_RUNS, **GPU_RUNS, **{name: GPU_RUNS[base] for name, base in GPU_CL_RUNS.items()}, **DEFAULT_RUNS}


def curvature_evaluations(config: ScoreConfig) -> int:
    """How many per-sample curvature estimates a run of ``config`` (a whole-split run of :data:`_SPLITS`) computes:
    (training images × scored epochs + test images × epochs whose test split is scored) × steps h (1 + len(extra_h))."""
    n_train, n_test = _SPLITS[config.dataset]
    train = config.train
    test_epochs = sum(train.scored_test(e) for e in range(train.epochs))
    return (int(train.scored_mask().sum()) * n_train + test_epochs * n_test) * (1 + len(train.extra_h))


def cl_training_epochs(config: ScoreConfig, folds: int) -> float:
    """Confident learning's training in epochs of the whole split: folds × epochs × (folds − 1)/folds (each fold's
    network trains on (folds − 1)/folds of the data); 0 for no folds."""
    return folds * config.train.epochs * (folds - 1) / folds if folds else 0.0


def run_seconds(config: ScoreConfig, epoch_s: float, score_s: float, cl_folds: int) -> float:
    """Seconds of one run of ``config`` with ``cl_folds`` folds of confident learning, from the rates ``epoch_s``
    (one training epoch of the whole split) and ``score_s`` (one curvature estimate of one sample at one h):
    (epochs + :func:`cl_training_epochs`) × epoch_s + :func:`curvature_evaluations` × score_s.

    Example:
        >>> run_seconds(memorising_config("mnist", 0.1), epoch_s=10.0, score_s=0.001, cl_folds=3)  # (60 + 120) × 10 + 20 × 70,000 × 2 / 1,000
        4600.0
    """
    return (config.train.epochs + cl_training_epochs(config, cl_folds)) * epoch_s + curvature_evaluations(config) * score_s


def estimate_seconds(name: str) -> float:
    """Seconds the GPU run ``name`` (:data:`GPU_RUNS` or :data:`GPU_CL_RUNS`) takes as one job on the project's H200,
    from :data:`H200_RATES`: start-up + set-up + :func:`run_seconds` without confident learning; a
    confident-learning run trains only its folds: start-up + set-up + :func:`cl_training_epochs` × epoch_s.

    Raises ValueError for a run whose network has no measured rate (only the pre-activation ResNet18, width 64).

    Example:
        >>> round(estimate_seconds("mnist-noise10-paper"))
        470
    """
    config = run_config(name)
    if (config.model, config.width) != ("preact_resnet18", 64) or config.dataset not in _SPLITS:
        raise ValueError(f"no measured H200 rate for {config.model} (width {config.width}) on {config.dataset}")
    rates = H200_RATES
    fixed = rates["startup_s"] + rates["setup_s"]
    if name in GPU_CL_RUNS:
        return fixed + cl_training_epochs(config, CL_FOLDS) * rates["epoch_s"]
    return fixed + run_seconds(config, rates["epoch_s"], 1 / rates["score_samples_per_s"], cl_folds=0)


def run_config(name: str, smoke: bool = False) -> ScoreConfig:
    """The config of a committed run by name (:data:`FULL_RUNS`, :data:`GPU_RUNS`, :data:`DEFAULT_RUNS`), at smoke
    scale if asked (:func:`curvlib.runs.scale.smoke`)."""
    runs = all_runs()
    if name not in runs:
        raise ValueError(f"unknown run {name!r}; choose from {list(runs)}")
    return scale.smoke(runs[name]) if smoke else runs[name]


def cl_folds(name: str) -> int:
    """Confident learning's folds for a committed run: :data:`CL_FOLDS` for the full-data runs, the whole-split
    default runs and the GPU confident-learning runs, 0 (none) for the GPU scoring runs and the subsets."""
    if name in FULL_RUNS or name in GPU_CL_RUNS:
        return CL_FOLDS
    return 0 if name in GPU_RUNS or run_config(name).subset is not None else CL_FOLDS


def run_full_data(
    name: str, *, cache_dir: str | os.PathLike, data_root=None, device: str = "cpu", smoke: bool = False
) -> tuple[RunResult | None, RunResult | None]:
    """The scoring run and the confident-learning baseline (:func:`cl_folds`; None without) of the committed run
    ``name`` (:func:`run_config`), each computed once under ``cache_dir`` (resuming from checkpoints after an
    interruption) or read back: (scoring, confident learning or None). A run of :data:`GPU_CL_RUNS` computes only
    the confident learning of its base run: (None, confident learning)."""
    config = run_config(name, smoke)
    if name in GPU_CL_RUNS:
        return None, run_confident_learning(config, folds=cl_folds(name), cache_dir=cache_dir, data_root=data_root, device=device)
    scoring = run_scoring(config, data_root=data_root, cache_dir=cache_dir, device=device)
    if not cl_folds(name):
        return scoring, None
    return scoring, run_confident_learning(config, folds=cl_folds(name), cache_dir=cache_dir, data_root=data_root, device=device)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _epochs_table(scoring: RunResult) -> pd.DataFrame:
    """Per epoch: :func:`curvlib.analysis.curvature_dynamics` at both steps, the learning rate, the seconds spent,
    and, where labels were flipped, the AUROC of each score of :data:`EPOCH_SCORES` read after that epoch."""
    table = curvature_dynamics(scoring)
    for extra in _extra_columns(scoring):
        relabelled = RunResult(scoring.tables, {**scoring.arrays, "train/curvature": scoring.arrays[f"train/{extra}"],
                                                "test/curvature": scoring.arrays[f"test/{extra}"]})  # fmt: skip
        dynamics = curvature_dynamics(relabelled)
        for column in ("curvature_clean", "curvature_noisy", "curvature_train", "curvature_test"):
            table[column.replace("curvature", extra)] = dynamics[column]
    history = scoring.tables["history"]
    table = table.assign(lr=history["lr"].to_numpy(), seconds_train=history["seconds_train"].to_numpy(),
                         seconds_score=history["seconds_score"].to_numpy())  # fmt: skip
    if scoring.tables["scores"]["is_noisy"].any():
        scores = [score for score in EPOCH_SCORES if score in scoring.tables["scores"].columns]
        by_epoch = auroc_by_epoch(scoring, scores).pivot(index="epoch", columns="score", values="auroc")
        for score in scores:
            table[f"auroc_{score}"] = by_epoch[score].reindex(table.epoch).to_numpy()
    return table


def _extra_columns(scoring: RunResult) -> list[str]:
    """The records of curvature at extra steps in a run (``curvature_h<h>``, :func:`curvlib.training.curvature_column`)."""
    return [key.split("/", 1)[1] for key in scoring.arrays if key.startswith("train/curvature_h")]


def export_full_data(name: str, scoring: RunResult | None, cl: RunResult | None, out_root: str | os.PathLike = FULL_RESULTS) -> Path:
    """Write the committed result of the run ``name`` into ``out_root/name`` and return the folder:

    - ``scores.csv.gz``: one row per training sample (index, label, true_label, is_noisy, prediction, fitted, every
      dynamics score, ``curvature_every<k>`` for k of :data:`EVERY_K` when every epoch was scored, and
      confident_learning when it was run), 6 significant digits;
    - ``epochs.csv``: :func:`_epochs_table`;
    - ``test.csv.gz``: per test sample, the prediction and its correctness after the last epoch, and the curvature at
      each step averaged over the scored epochs (NaN where the test split was not scored);
    - ``config.json``: the config and its hash, the environment with code commit and device, the wall times of
      training, scoring and confident learning, and the SHA-256 of every file.

    A run of :data:`GPU_CL_RUNS` (``scoring`` None) writes ``confident_learning.csv.gz`` (index, confident_learning)
    and ``config.json``; :func:`load_full_data` of its base run merges it.
    """
    folder = Path(out_root) / name
    if scoring is None:
        return _export_cl_only(name, cl, folder)
    scores = scoring.tables["scores"]
    if scoring.config["train"]["score_every"] == 1:  # what scoring only every k epochs would have given (exact)
        scores = scores.assign(**{f"curvature_every{k}": every_k_curvature(scoring, k) for k in EVERY_K})
    if cl is not None:
        scores = scores.merge(cl.tables["confident_learning"], on="index", validate="one_to_one")
    records = TrainRecords.from_arrays(scoring.arrays)
    test = pd.DataFrame({
        "index": records.test_index, "prediction": records.test["pred"][-1].astype(int),
        "correct": records.test["correct"][-1].astype(bool),
        **{name: records.average(name, split="test") for name in ("curvature", *_extra_columns(scoring))},
    })  # fmt: skip
    files = {
        "scores.csv.gz": lambda tmp: scores.to_csv(tmp, index=False, float_format="%.6g", compression="gzip"),
        "test.csv.gz": lambda tmp: test.to_csv(tmp, index=False, float_format="%.6g", compression="gzip"),
        "epochs.csv": lambda tmp: _epochs_table(scoring).to_csv(tmp, index=False, float_format="%.6g"),
    }
    for file, write in files.items():
        atomic_write(folder / file, write)
    history = scoring.tables["history"]
    seconds = {
        "training": float(history["seconds_train"].sum()), "scoring_and_eval": float(history["seconds_score"].sum()),
        "confident_learning": float(cl.tables["timing"]["seconds"].iloc[0]) if cl is not None else 0.0,
    }  # fmt: skip
    _write_meta(folder, name, scoring.config, scoring.meta.get("environment", environment_info()), seconds, files)
    return folder


def _write_meta(folder: Path, name: str, config: dict, environment: dict, wall_seconds: dict, files) -> None:
    meta = {
        "name": name, "config": config, "config_hash": config_hash(config), "environment": environment, "wall_seconds": wall_seconds,
        "exported": {"git_commit": environment_info()["git_commit"], "time": time.strftime("%Y-%m-%d %H:%M:%S %Z")},
        "sha256": {file: _sha256(folder / file) for file in files},
    }  # fmt: skip
    atomic_write(folder / "config.json", lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2) + "\n"))


def _export_cl_only(name: str, cl: RunResult, folder: Path) -> Path:
    table = cl.tables["confident_learning"][["index", "confident_learning"]]
    atomic_write(folder / "confident_learning.csv.gz", lambda tmp: table.to_csv(tmp, index=False, float_format="%.6g", compression="gzip"))
    seconds = {"confident_learning": float(cl.tables["timing"]["seconds"].iloc[0])}
    config = {k: v for k, v in cl.config.items() if k != "folds"}  # the base run's config
    _write_meta(folder, name, config, cl.meta.get("environment", environment_info()), seconds, ["confident_learning.csv.gz"])
    return folder


@dataclass
class FullDataRun:
    """A committed full-data run read back by :func:`load_full_data`: ``scores`` (one row per training sample),
    ``epochs`` (one row per epoch), ``test`` (one row per test sample) and ``meta`` (its config.json)."""

    name: str
    scores: pd.DataFrame
    epochs: pd.DataFrame
    test: pd.DataFrame
    meta: dict

    @property
    def config(self) -> ScoreConfig:
        return ScoreConfig.from_dict(self.meta["config"])

    def auroc(self, score: str) -> float:
        """AUROC of ``score`` for the injected flips (``is_noisy``); NaN for a run without injected noise."""
        flags = self.scores["is_noisy"].to_numpy(dtype=bool)
        return auroc(flags, self.scores[score].to_numpy()) if flags.any() else float("nan")


def committed_runs(root: str | os.PathLike = FULL_RESULTS, runs=None) -> list[str]:
    """The names of ``runs`` (default :data:`FULL_RUNS`) that have a committed result under ``root``, in their order."""
    return [name for name in (FULL_RUNS if runs is None else runs) if (Path(root) / name / "config.json").exists()]


def _read_checked(name: str, root: str | os.PathLike) -> tuple[Path, dict]:
    """The folder and config.json of the committed run ``root/name``, every file checked against its SHA-256 and the
    config against :func:`run_config` (see :func:`load_full_data`)."""
    folder = Path(root) / name
    meta_path = folder / "config.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"{folder} holds no full-data run: compute it with `python -m curvlib.runs.full_data {name}`")
    meta = json.loads(meta_path.read_text())
    for file, digest in meta["sha256"].items():
        if _sha256(folder / file) != digest:
            raise ValueError(f"{folder / file} does not match the checksum in {meta_path}: restore it from git or recompute the run")
    expected = config_hash(run_config(name).as_dict())
    if meta["config_hash"] != expected or config_hash(meta["config"]) != expected:
        raise ValueError(
            f"{folder} was computed with config {meta['config_hash']}, but run {name!r} is now {expected}: "
            f"recompute it with `python -m curvlib.runs.full_data {name}`"
        )
    return folder, meta


def load_full_data(name: str, root: str | os.PathLike = FULL_RESULTS) -> FullDataRun:
    """Read the committed run ``root/name`` (written by :func:`export_full_data`); for a GPU run whose confident
    learning was committed as its own run (:data:`GPU_CL_RUNS`), its ``confident_learning`` column is merged in.

    Raises FileNotFoundError if it was never computed, and ValueError if a file does not match the SHA-256 in
    its ``config.json`` or the config there is not ``run_config(name)`` (the code changed since the run: recompute
    it with ``python -m curvlib.runs.full_data NAME``).
    """
    folder, meta = _read_checked(name, root)
    read = {file: pd.read_csv(folder / file) for file in ("scores.csv.gz", "epochs.csv", "test.csv.gz")}
    scores = read["scores.csv.gz"]
    for cl_name in (n for n, base in GPU_CL_RUNS.items() if base == name and (Path(root) / n / "config.json").exists()):
        cl_folder, _ = _read_checked(cl_name, root)
        scores = scores.merge(pd.read_csv(cl_folder / "confident_learning.csv.gz"), on="index", validate="one_to_one")
    return FullDataRun(name, scores, read["epochs.csv"], read["test.csv.gz"], meta)


# The model-choice run that is the memorising run itself: the MLP's 150-epoch Fashion-MNIST schedule (tested to train alike).
CHOICE_FROM_RUN = {("fashion_mnist", "mlp", 150): "fashion_mnist-noise10-mlp"}


def load_model_choice(root: str | os.PathLike = FULL_RESULTS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The committed model choice under ``root``: (the rows of :func:`run_model_choice`, one per dataset, candidate,
    schedule length and epoch, from ``model_choice.csv`` plus those of :data:`CHOICE_FROM_RUN` read off their committed
    run, whose evaluation seconds include scoring and are left out; the speeds of ``model_choice_speed.csv``, indexed
    by round of measurement and candidate)."""
    root = Path(root)
    choice = [pd.read_csv(root / "model_choice.csv")]
    for (dataset, candidate, epochs), name in CHOICE_FROM_RUN.items():
        if name in committed_runs(root, [name]):
            e = load_full_data(name, root).epochs
            choice.append(pd.DataFrame({
                "dataset": dataset, "candidate": candidate, "schedule_epochs": epochs, "epoch": e.epoch, "lr": e.lr,
                "flipped_fitted": e.noisy_fitted, "clean_fitted": e.clean_fitted, "test_accuracy": e.test_acc,
                "seconds_train": e.seconds_train, "seconds_eval": float("nan")}))  # fmt: skip
    speeds = pd.read_csv(root / "model_choice_speed.csv").set_index(["round", "candidate"])
    return pd.concat(choice, ignore_index=True), speeds


def median_speeds(speeds: pd.DataFrame) -> pd.DataFrame:
    """Each candidate's median over the rounds of :func:`load_model_choice`'s speeds, indexed by candidate."""
    return speeds.groupby(level="candidate", sort=False).median(numeric_only=True)


def first_memorising_epoch(choice: pd.DataFrame, dataset: str, candidate: str, epochs: int) -> int | None:
    """The first epoch after which ``candidate``'s ``epochs``-epoch schedule on ``dataset`` fits at least
    :data:`curvlib.runs.verdicts.MEMORISES` of its flipped labels (rows of :func:`load_model_choice`); None if none does."""
    rows = choice[(choice.dataset == dataset) & (choice.candidate == candidate) & (choice.schedule_epochs == epochs)]
    hit = rows.epoch[rows.flipped_fitted >= verdicts.MEMORISES]
    return int(hit.min()) if len(hit) else None


def cpu_run_hours(config: ScoreConfig, speeds: pd.DataFrame) -> float:
    """Hours of one core for a run of ``config`` with :data:`CL_FOLDS` folds of confident learning, at the speeds
    (indexed by candidate, as :func:`median_speeds`) of the candidate of :data:`CHOICE_CANDIDATES` with the config's
    network and width: :func:`run_seconds` with epoch_s = seconds_per_train_epoch and score_s = seconds_per_1000_scored
    / 1000, / 3600. It leaves out the per-epoch evaluation and counts one core with nothing beside it."""
    candidate = next(c for c, network in CHOICE_CANDIDATES.items() if network == (config.model, config.width))
    s = speeds.loc[candidate]
    return float(run_seconds(config, s.seconds_per_train_epoch, s.seconds_per_1000_scored / 1000, CL_FOLDS) / 3600)


def memorising_hours(choice: pd.DataFrame, speeds: pd.DataFrame) -> dict[str, dict[str, float]]:
    """{candidate: {dataset: hours}} for each candidate of :data:`CHOICE_CANDIDATES` (in its order) that memorises the
    flips of both MNIST and Fashion-MNIST (:func:`first_memorising_epoch` is not None for some measured schedule):
    :func:`cpu_run_hours` of :func:`memorising_config` at the shortest such schedule of each dataset, at ``speeds``
    (indexed by candidate). The model choice picks the candidate of the least total."""
    hours = {}
    for candidate in CHOICE_CANDIDATES:
        shortest = {}
        for dataset in ("mnist", "fashion_mnist"):
            rows = choice[(choice.dataset == dataset) & (choice.candidate == candidate)]
            memorising = [e for e in sorted(set(rows.schedule_epochs)) if first_memorising_epoch(choice, dataset, candidate, e)]
            if memorising:
                shortest[dataset] = cpu_run_hours(memorising_config(dataset, 0.1, candidate=candidate, epochs=memorising[0]), speeds)
        if len(shortest) == 2:
            hours[candidate] = shortest
    return hours


def memorising_hours_by_round(choice: pd.DataFrame, speeds: pd.DataFrame) -> pd.DataFrame:
    """The total hours (MNIST + Fashion-MNIST) of :func:`memorising_hours` at each round of :func:`load_model_choice`'s
    speeds: one row per round, one column per candidate that memorises both datasets. Its spread over the rounds is
    the timing's uncertainty; the choice is beyond it when one candidate is the cheapest in every round."""
    totals = {r: {c: sum(h.values()) for c, h in memorising_hours(choice, s.droplevel("round")).items()} for r, s in speeds.groupby(level="round")}
    return pd.DataFrame(totals).T.rename_axis("round")


def main(argv: list[str] | None = None) -> int:
    """``python -m curvlib.runs.full_data [NAME ...]``: compute (or resume) and export the named runs of
    :data:`FULL_RUNS` in order (all of them by default), logging a line per epoch."""
    from ..cli import progress_lines

    parser = argparse.ArgumentParser(prog="python -m curvlib.runs.full_data", description=main.__doc__)
    parser.add_argument("names", nargs="*", default=list(FULL_RUNS), metavar="NAME",
                        help=f"runs to compute, in order (default: {', '.join(FULL_RUNS)}; for a GPU: {', '.join([*GPU_RUNS, *GPU_CL_RUNS])}; "
                             "the evidence for the defaults: defaults-*)")
    parser.add_argument("--smoke", action="store_true", help="the same code path at toy sizes (tests the GPU run on a CPU)")
    parser.add_argument("--cache-dir", default="results/cache", help="where the runs and their checkpoints are kept")
    parser.add_argument("--data-root", default=None, help="folder holding MNIST/raw etc. (default: $CURVLIB_DATA_ROOT)")
    parser.add_argument("--out", default=str(FULL_RESULTS), help="where the committed results are written")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--estimate", action="store_true", help="only print each GPU run's estimated seconds on an H200 (estimate_seconds)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in all_runs()]
    if unknown:
        parser.error(f"unknown run(s) {unknown}; choose from {list(all_runs())}")
    for name in args.names:
        if name in GPU_RUNS or name in GPU_CL_RUNS:
            print(f"{name}: estimated {estimate_seconds(name):.0f} s on an H200 (a job may take {GPU_JOB_LIMIT_S} s)", flush=True)
    if args.estimate:
        return 0
    print(f"code {environment_info()['git_commit']}, {environment_info(args.device)['device']}", file=sys.stderr, flush=True)
    with progress_lines():
        for name in args.names:
            print(f"== {name}", file=sys.stderr, flush=True)
            scoring, cl = run_full_data(name, cache_dir=args.cache_dir, data_root=args.data_root, device=args.device, smoke=args.smoke)
            print(f"wrote {export_full_data(name, scoring, cl, args.out)}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

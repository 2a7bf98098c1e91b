"""The scoring pipeline: one frozen config in, one trained-and-scored run out.

Everything that scores data goes through here: the command line (:mod:`curvlib.cli`), :func:`curvlib.suspects.find_suspects`,
the report and every runner of the book (:mod:`curvlib.runs`).

:func:`run_scoring` loads a dataset (:func:`prepare_data`: a built-in dataset or your own files, a seeded subset,
injected label noise and conflicting duplicates), builds the model (:func:`model_factory`), trains it with per-epoch
scoring (:func:`curvlib.training.train_and_score`) and returns a :class:`curvlib.results.RunResult` with tables

- ``scores``: one row per training sample, keyed by raw dataset ``index``, with ``label`` (given),
  ``true_label``, ``is_noisy`` and every score of :data:`curvlib.baselines.DYNAMICS_SCORES` (:func:`scores_table`);
- ``history``: one row per epoch (train/test loss and accuracy, lr, seconds spent);

and the per-epoch [epochs, N] arrays of :class:`curvlib.training.TrainRecords`. With ``cache_dir`` the result is
computed once per config and read back; with ``out_dir`` it is written to a folder of the user's choosing.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from .analysis import memorization_check
from .baselines import dynamics_scores, history_label
from .data import (
    DATASETS,
    DataError,
    IndexedDataset,
    inject_conflicting_duplicates,
    inject_label_noise,
    load_dataset,
    take_subset,
)
from .distributed import rank_and_world
from .metrics import auroc
from .models import AUTO_WIDTH, auto_model, build_model
from .results import RunResult, check_run_dir, load_or_compute, mark_pending, save_run
from .training import TrainConfig, TrainRecords, train_and_score
from .userdata import describe, load_own_data

__all__ = ["ScoreConfig", "PRESETS", "scores_table", "noisy_auroc", "prepare_data", "model_factory", "run_scoring", "data_fingerprint", "with_train", "with_seed"]


# TrainConfig fields added after results were committed (results/full/), with their defaults: left out of
# ScoreConfig.as_dict while at them, so the committed results and their config hashes stay valid.
ADDED_LATER: dict[str, object] = {"score_epochs": ()}


@dataclass(frozen=True)
class ScoreConfig:
    """A scoring experiment: data, noise, model and training (see :class:`TrainConfig`)."""

    dataset: str = "mnist"  # one of curvlib.data.DATASETS, or a path: image folder, .npz or .csv (curvlib.userdata)
    subset: int | None = 10_000  # stratified subset of the training split (None = all)
    noise: float = 0.1  # fraction of training labels moved to another class
    model: str = "small_cnn"  # one of curvlib.models.MODELS, or "auto" (curvlib.models.auto_model)
    width: int | None = 16  # first-stage channels / first hidden size (None = model default; with "auto", curvlib.models.AUTO_WIDTH)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0  # subset, noise and initialisation seed
    duplicates: int = 0  # images appended again with a conflicting label (after the noise)
    test_subset: int | None = None  # stratified subset of the test split (None = all)

    def as_dict(self) -> dict:
        """The config as a plain dict (what its hash is computed from); a field of :data:`ADDED_LATER` is left out
        while it holds its default, so results computed before the field existed keep their hash."""
        values = asdict(self)
        for name, default in ADDED_LATER.items():
            if values["train"].get(name) == default:
                del values["train"][name]
        return values

    @classmethod
    def from_dict(cls, values: dict) -> "ScoreConfig":
        """Inverse of :meth:`as_dict` (e.g. the ``config`` of a run's config.json)."""
        train = {**values["train"], "milestones": tuple(values["train"]["milestones"]), "extra_h": tuple(values["train"].get("extra_h", ())),
                 "score_epochs": tuple(values["train"].get("score_epochs", ()))}
        return cls(**{**values, "train": TrainConfig(**train)})


PRESETS: dict[str, ScoreConfig] = {
    # 2-core CPU, about 1.5 minutes: 5,000 MNIST images, 10% noise, Feldman & Zhang's MLP (784-512-256-10)
    # with a one-cycle schedule, which memorises the noisy labels by the last epochs; the curvature of
    # 2,000 test images is scored too (for the dynamics and calibration chapters).
    "mnist_quick": ScoreConfig(
        subset=5000, model="mlp", width=512, test_subset=2000,
        train=TrainConfig(epochs=30, batch_size=64, lr=0.1, schedule="onecycle", score_every=1, score_test=True),
    ),  # fmt: skip
    # The paper's MNIST setting (GPU): full training set, pre-activation ResNet18, 200 epochs, ×0.1 at 80/160.
    "mnist_paper": ScoreConfig(
        subset=None, model="preact_resnet18", width=64,
        train=TrainConfig(
            epochs=200, batch_size=128, lr=0.1, weight_decay=1e-4, milestones=(80, 160), score_every=1, score_batch_size=512,
            score_test=True,
        ),
    ),  # fmt: skip
    # `curvlib score` and `find_suspects` without --preset: every sample of the data, no injected noise, the model
    # chosen by input shape (the small CNN for images), h = 1e-2 and a short one-cycle run, curvature scored every
    # 2nd epoch. The book's "Choosing the defaults" chapter gives the evidence (injected flips and MNIST's real label
    # errors) and checks that this preset is the recipe it measured with the choices it made.
    "default": ScoreConfig(
        subset=None, noise=0.0, model="auto", width=None,
        train=TrainConfig(epochs=12, batch_size=128, lr=0.1, schedule="onecycle", score_every=2, h=1e-2, n_probes=10),
    ),  # fmt: skip
    # scikit-learn digits: seconds on a CPU. 8×8 images are small enough to score all 10 probes in one pass.
    "digits_quick": ScoreConfig(
        dataset="digits", subset=None, model="mlp", width=256,
        train=TrainConfig(epochs=30, batch_size=32, lr=0.1, schedule="onecycle", score_every=1, score_test=True, chunk_size=10),
    ),  # fmt: skip
}
PRESETS["paper"] = PRESETS["mnist_paper"]  # the paper's exact setting (h = 1e-3, n = 10), under the name the CLI documents


def scores_table(records: TrainRecords, given: np.ndarray, true: np.ndarray) -> pd.DataFrame:
    """One row per training sample: index, label, true_label, is_noisy, prediction and fitted (the model's
    prediction after the last epoch, and whether it equals the given label), history_label and history_share (the
    other class predicted in the most epochs and the share of epochs it was: :func:`curvlib.baselines.history_label`),
    then every dynamics score."""
    prediction = records.last("pred").astype(int)
    other, share = history_label(records.train["pred"], given)
    table = pd.DataFrame({
        "index": records.index, "label": given, "true_label": true, "is_noisy": given != true,
        "prediction": prediction, "fitted": prediction == given, "history_label": other, "history_share": share,
    })  # fmt: skip
    for name, values in dynamics_scores(records).items():
        table[name] = values
    return table


def noisy_auroc(table: pd.DataFrame, score: str = "curvature") -> float:
    """AUROC of ``score`` for the ``is_noisy`` flag of a scores table."""
    return auroc(table["is_noisy"].to_numpy(), table[score].to_numpy())


def prepare_data(config: ScoreConfig, data_root=None) -> tuple[IndexedDataset, IndexedDataset | None]:
    """(train, test) of an experiment: the seeded subset of the training split with injected noise.

    ``config.dataset`` is a name of :data:`curvlib.data.DATASETS` or the path of your own data
    (:func:`curvlib.userdata.load_own_data`), which has no test split (test is None).
    Raises :class:`curvlib.data.DataError` for a noise rate outside [0, 1), a subset larger than the data,
    or a noise rate that flips fewer labels than there are classes.
    """
    if not 0 <= config.noise < 1:
        raise DataError(f"noise {config.noise} is not in [0, 1): it is the fraction of labels flipped, e.g. --noise 0.1 (0 for none)", "--noise")
    if config.dataset in DATASETS:
        train_set = load_dataset(config.dataset, data_root, train=True, subset=config.subset, seed=config.seed)
        test_set = load_dataset(config.dataset, data_root, train=False, subset=config.test_subset, seed=config.seed)
    else:
        train_set, test_set = take_subset(load_own_data(config.dataset), config.subset, config.seed), None
    flipped = round(config.noise * len(train_set))
    if config.noise > 0 and flipped < train_set.num_classes:
        need = int(np.ceil(train_set.num_classes / config.noise))
        raise DataError(
            f"noise {config.noise} of {len(train_set)} samples flips {flipped} labels, fewer than one per class "
            f"({train_set.num_classes} classes): use --subset {need} or more, or a larger --noise", "--subset",
        )
    if config.noise > 0:
        noisy, _ = inject_label_noise(train_set.y, config.noise, train_set.num_classes, config.seed)
        train_set = train_set.with_labels(noisy)
    if config.duplicates > 0:
        train_set, _ = inject_conflicting_duplicates(train_set, config.duplicates, config.seed)
    return train_set, test_set


def model_factory(config: ScoreConfig, data: IndexedDataset) -> Callable[[], nn.Module]:
    """A function returning a fresh, randomly initialised model of the experiment for ``data``."""
    shape = tuple(data.x.shape[1:])
    name = auto_model(shape) if config.model == "auto" else config.model
    width = AUTO_WIDTH[name] if config.model == "auto" and config.width is None else config.width
    return lambda: build_model(name, input_shape=shape, num_classes=data.num_classes, width=width)


def _compute(config: ScoreConfig, data, device, checkpoint: Path | None) -> tuple[dict, dict]:
    train_set, test_set = data
    torch.manual_seed(config.seed)
    model = model_factory(config, train_set)()
    records = train_and_score(model, train_set, config.train, test_set=test_set, checkpoint=checkpoint, device=device)
    table = scores_table(records, train_set.y.numpy(), train_set.true_y.numpy())
    history = pd.DataFrame({"epoch": np.arange(1, config.train.epochs + 1), **records.history})
    return {"scores": table, "history": history}, records.to_arrays()


def run_scoring(
    config: ScoreConfig, *, data_root: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None, device: str = "cpu", data: tuple[IndexedDataset, IndexedDataset | None] | None = None,
) -> RunResult:
    """Train and score per :class:`ScoreConfig`; cached under ``cache_dir`` or written to ``out_dir``.

    With ``cache_dir``: load-or-compute by config hash. With ``out_dir``: checked first
    (:func:`curvlib.results.check_run_dir`: empty, or a run of the same config and, for your own data, the
    same :func:`data_fingerprint`), then always computed
    (resuming from ``out_dir/checkpoint.pt`` after an interruption) and written there, with what was
    inferred about the data (:func:`curvlib.userdata.describe`), ``data_root`` and the
    :func:`curvlib.analysis.memorization_check` in its config.json. The checkpoint is removed once the
    result is saved. ``data``: the (train, test) of :func:`prepare_data`, if already loaded.

    Example:
        >>> result = run_scoring(PRESETS["mnist_quick"], data_root="../shared/data", cache_dir="results/cache")
        >>> noisy_auroc(result.tables["scores"])
    """  # fmt: skip
    if (cache_dir is None) == (out_dir is None):
        raise ValueError("pass exactly one of cache_dir (load or compute) and out_dir (compute and write)")
    if cache_dir is not None:
        def compute(run_dir: Path):
            out = _compute(config, data or prepare_data(config, data_root), device, run_dir / "checkpoint.pt")
            (run_dir / "checkpoint.pt").unlink(missing_ok=True)
            return out

        name = f"{config.dataset}-{config.model}" if config.dataset in DATASETS else f"own-{config.model}"
        return load_or_compute(cache_dir, name, config.as_dict(), compute)
    out_dir = Path(out_dir)
    data = data or prepare_data(config, data_root)
    digest = data_fingerprint(config, data[0])
    check_run_dir(out_dir, config.as_dict(), digest)
    if rank_and_world()[0] == 0:
        mark_pending(out_dir, config.as_dict(), digest)
    tables, arrays = _compute(config, data, device, out_dir / "checkpoint.pt")
    extra = {
        "data": describe(data[0]), "data_root": None if data_root is None else str(Path(data_root).resolve()),
        "memorization_check": memorization_check(tables["scores"]), "data_sha256": digest,
    }  # fmt: skip
    result = save_run(out_dir, tables, config.as_dict(), arrays, device=device, extra=extra)
    (out_dir / "checkpoint.pt").unlink(missing_ok=True)
    return result


def data_fingerprint(config: ScoreConfig, train_set: IndexedDataset) -> str | None:
    """What identifies a run's data beyond its config: None for a built-in dataset (its name, subset and seed
    fix it), else the :meth:`~curvlib.data.IndexedDataset.fingerprint` of your own data, so that a run folder is
    resumed only on the data it was started with, whatever lies at the path now."""
    return None if config.dataset in DATASETS else train_set.fingerprint()


def with_train(config: ScoreConfig, **train_changes) -> ScoreConfig:
    """A copy of ``config`` with some :class:`TrainConfig` fields changed."""
    return replace(config, train=replace(config.train, **train_changes))


def with_seed(config: ScoreConfig, seed: int) -> ScoreConfig:
    """A copy of ``config`` whose one ``seed`` reaches everything random in a run: subset, label noise and
    initialisation (``ScoreConfig.seed``) and shuffling, augmentation and probes (``TrainConfig.seed``), so that a
    spread over seeds is a spread over training, not only over data.

    Example:
        >>> with_seed(PRESETS["mnist_quick"], 2).train.seed
        2
    """
    return replace(config, seed=seed, train=replace(config.train, seed=seed))

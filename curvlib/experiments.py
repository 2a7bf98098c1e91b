"""Experiment runners: one frozen config in, one cached tidy result out.

:func:`run_scoring` loads a dataset, injects label noise, trains a model with per-epoch scoring
and returns a :class:`curvlib.results.RunResult` with tables

- ``scores``: one row per training sample, keyed by raw dataset ``index``, with ``label`` (given),
  ``true_label``, ``is_noisy`` and every score of :data:`curvlib.baselines.DYNAMICS_SCORES`;
- ``history``: one row per epoch (train/test loss and accuracy, lr, seconds spent);

and the per-epoch [epochs, N] arrays of :class:`curvlib.training.TrainRecords`. Only runners
know about caching: with ``cache_dir`` the result is computed once per config and read back.
"""
from __future__ import annotations

import os
from typing import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from .analysis import memorization_check
from .baselines import dynamics_scores
from .baselines import confident_learning_scores, scores_at_epoch, ssft_scores
from .data import (
    DATASETS, DataError, IndexedDataset, inject_conflicting_duplicates, inject_label_noise, load_dataset, make_toy_two_class,
    take_subset,
)
from .memorization import feldman_zhang
from .metrics import aupr, auroc, cosine_similarity, pearson, precision_at_k, spearman, top_k_overlap
from .models import auto_model, build_model, mlp
from .distributed import rank_and_world
from .results import RunResult, check_run_dir, load_or_compute, mark_pending, save_run
from .training import Distillation, TrainConfig, TrainRecords, train_and_score
from .userdata import describe, load_own_data

__all__ = [
    "ScoreConfig", "PRESETS", "run_scoring", "run_retraining_baselines", "run_toy", "scores_table", "noisy_auroc",
    "prepare_data", "model_factory", "with_train", "detection_summary", "auroc_by_epoch", "FZConfig", "run_feldman_zhang",
    "agreement", "conflicting_pairs", "mislabel_table", "duplicate_outcomes", "fz_config_like",
]  # fmt: skip


@dataclass(frozen=True)
class ScoreConfig:
    """A scoring experiment: data, noise, model and training (see :class:`TrainConfig`)."""

    dataset: str = "mnist"  # one of curvlib.data.DATASETS, or a path: image folder, .npz or .csv (curvlib.userdata)
    subset: int | None = 10_000  # stratified subset of the training split (None = all)
    noise: float = 0.1  # fraction of training labels moved to another class
    model: str = "small_cnn"  # one of curvlib.models.MODELS, or "auto" (curvlib.models.auto_model)
    width: int | None = 16  # first-stage channels / first hidden size (None = model default; with "auto", the MLP's only)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0  # subset, noise and initialisation seed
    duplicates: int = 0  # images appended again with a conflicting label (after the noise)
    test_subset: int | None = None  # stratified subset of the test split (None = all)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ScoreConfig":
        """Inverse of :meth:`as_dict` (e.g. the ``config`` of a run's config.json)."""
        train = {**values["train"], "milestones": tuple(values["train"]["milestones"])}
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
    # chosen by input shape, h = 1e-2 and a short one-cycle run: on MNIST and Fashion-MNIST the epoch-averaged
    # curvature ranks flipped labels best after about 12 epochs, long before the model memorises them (the book's
    # "Choosing the defaults" chapter gives the evidence).
    "default": ScoreConfig(
        subset=None, noise=0.0, model="auto", width=1024,
        train=TrainConfig(epochs=12, batch_size=128, lr=0.1, schedule="onecycle", score_every=1, h=1e-2, n_probes=10),
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
    prediction after the last epoch, and whether it equals the given label), then every dynamics score."""
    prediction = records.last("pred").astype(int)
    table = pd.DataFrame({
        "index": records.index, "label": given, "true_label": true, "is_noisy": given != true,
        "prediction": prediction, "fitted": prediction == given,
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
    width = None if config.model == "auto" and name != "mlp" else config.width  # "auto": the width is the MLP's
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
    (:func:`curvlib.results.check_run_dir`: empty, or a run of the same config), then always computed
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
    check_run_dir(out_dir, config.as_dict())
    data = data or prepare_data(config, data_root)
    if rank_and_world()[0] == 0:
        mark_pending(out_dir, config.as_dict())
    tables, arrays = _compute(config, data, device, out_dir / "checkpoint.pt")
    extra = {
        "data": describe(data[0]), "data_root": None if data_root is None else str(Path(data_root).resolve()),
        "memorization_check": memorization_check(tables["scores"]),
    }  # fmt: skip
    result = save_run(out_dir, tables, config.as_dict(), arrays, device=device, extra=extra)
    (out_dir / "checkpoint.pt").unlink(missing_ok=True)
    return result


def with_train(config: ScoreConfig, **train_changes) -> ScoreConfig:
    """A copy of ``config`` with some :class:`TrainConfig` fields changed."""
    return replace(config, train=replace(config.train, **train_changes))


def run_retraining_baselines(
    config: ScoreConfig, *, cache_dir: str | os.PathLike, data_root=None, device: str = "cpu", folds: int = 5
) -> pd.DataFrame:
    """Confident learning (K-fold cleanlab) and SSFT scores for the training set of ``config``, cached.

    Both retrain the experiment's model with its training config (without curvature scoring).
    Returns a table with columns index, confident_learning, ssft.
    """  # fmt: skip
    def compute(run_dir: Path):
        train_set, _ = prepare_data(config, data_root)
        make = model_factory(config, train_set)
        table = pd.DataFrame({
            "index": train_set.index.numpy(),
            "confident_learning": confident_learning_scores(train_set, make, config.train, folds=folds, seed=config.seed, device=device),
            "ssft": ssft_scores(train_set, make, config.train, seed=config.seed, device=device),
        })  # fmt: skip
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


def mislabel_table(config: ScoreConfig, *, cache_dir: str | os.PathLike, data_root=None, device: str = "cpu") -> pd.DataFrame:
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


@dataclass(frozen=True)
class FZConfig:
    """A Feldman–Zhang estimate on the training data of ``data`` (its subset, noise and duplicates)."""

    data: ScoreConfig  # which training set (the model fields are ignored: FZ uses ``model`` below)
    model: str = "mlp"  # Feldman & Zhang's MNIST model is the MLP 784-512-256-10
    width: int | None = 512
    train: TrainConfig = field(  # their MNIST recipe: 10 epochs, lr 0.1, momentum 0.9, batch 128
        default_factory=lambda: TrainConfig(epochs=10, batch_size=128, lr=0.1, schedule="constant", score_every=0, score_batch_size=1000)
    )
    n_models: int = 100  # K
    fraction: float = 0.7  # r
    group_size: int = 25  # models trained together as one vectorised ensemble
    keep_logits: bool = False  # also save each model's logits on the training set [K, N, C] (to teach students)
    teacher: "FZConfig | None" = None  # distil each model from the teacher's model on the same subset
    distillation: Distillation = field(default_factory=Distillation)  # used only with a teacher


def run_feldman_zhang(config: FZConfig, *, cache_dir: str | os.PathLike, data_root=None, device: str = "cpu") -> RunResult:
    """FZ memorization of every training sample of ``config.data``, cached; finished model groups
    are checkpointed in the run folder, so an interrupted estimate resumes. With ``config.teacher``
    the teacher's estimate (run with ``keep_logits``) is computed or read first and model k is
    distilled from teacher k, which saw only subset k, so no held-out sample leaks into a student.

    Tables: ``fz`` (index, memorization, acc_in, acc_out, standard_error, n_in, n_out).
    Arrays: ``membership`` and ``correct`` [K, N], ``test_correct`` [K, N_test] and, with
    ``keep_logits``, ``logits`` [K, N, C].
    """  # fmt: skip
    teacher = config.teacher
    if teacher is not None and (teacher.data, teacher.n_models, teacher.fraction, teacher.keep_logits) != (
        config.data, config.n_models, config.fraction, True
    ):
        raise ValueError("the teacher must be an FZConfig of the same data, n_models and fraction, with keep_logits=True")

    def compute(run_dir: Path):
        train_set, test_set = prepare_data(config.data, data_root)
        make = model_factory(replace(config.data, model=config.model, width=config.width), train_set)
        teacher_logits = None
        if teacher is not None:
            teacher_logits = run_feldman_zhang(teacher, cache_dir=cache_dir, data_root=data_root, device=device).arrays["logits"]
        fz = feldman_zhang(
            train_set, make, config.train, n_models=config.n_models, fraction=config.fraction, seed=config.data.seed,
            group_size=config.group_size, checkpoint_dir=run_dir / "groups", device=device, test=test_set,
            keep_logits=config.keep_logits, teacher_logits=teacher_logits, distillation=config.distillation,
        )  # fmt: skip
        for path in (run_dir / "groups").glob("group-*.npz"):
            path.unlink()
        arrays = {"membership": fz.membership, "correct": fz.correct, "test_correct": fz.test_correct, "logits": fz.logits}
        return {"fz": fz.to_table()}, {k: v for k, v in arrays.items() if v is not None}

    return load_or_compute(cache_dir, f"fz-{config.data.dataset}-{config.model}", asdict(config), compute)


def agreement(curvature: np.ndarray, memorization: np.ndarray, top_k: int) -> dict[str, float]:
    """How well curvature agrees with FZ memorization: cosine and Pearson on all samples and on the
    ``top_k`` most memorised by FZ (``*_top``), Spearman, top-k overlap, and precision@k of curvature
    for the FZ-memorised samples (mem > 0.5, k = their count). Samples with NaN memorization are dropped.
    """
    keep = np.isfinite(memorization)
    c, m = curvature[keep], memorization[keep]
    top = np.argsort(-m, kind="stable")[:top_k]
    flags = m > 0.5
    return {
        "cosine": cosine_similarity(c, m), "cosine_top": cosine_similarity(c[top], m[top]),
        "pearson": pearson(c, m), "pearson_top": pearson(c[top], m[top]), "spearman": spearman(c, m),
        "top_overlap": top_k_overlap(c, m, top_k),
        "precision_at_k": precision_at_k(flags, c, int(flags.sum())) if 0 < flags.sum() < len(flags) else float("nan"),
    }  # fmt: skip


def conflicting_pairs(config: ScoreConfig, data_root=None) -> np.ndarray:
    """[k, 2] (original index, copy index) of the conflicting duplicates that ``config.duplicates`` adds."""
    train_set, _ = prepare_data(replace(config, duplicates=0), data_root)
    return inject_conflicting_duplicates(train_set, config.duplicates, config.seed)[1]


def duplicate_outcomes(result: RunResult) -> pd.Series:
    """For each conflicting copy of a duplicates run (its ``is_noisy`` rows), which label the final model
    predicts for the shared image: "original's label" (the copy's ``true_label``), "copy's label", or "another label".
    Indexed by the copy's dataset index.
    """
    table = result.tables["scores"]
    pred = result.arrays["train/pred"][-1].astype(int)
    copies = table["is_noisy"].to_numpy()
    given, original, predicted = table["label"].to_numpy()[copies], table["true_label"].to_numpy()[copies], pred[copies]
    outcome = np.where(predicted == original, "original's label", np.where(predicted == given, "copy's label", "another label"))
    return pd.Series(outcome, index=table["index"].to_numpy()[copies], name="prediction")


def fz_config_like(data: ScoreConfig, n_models: int = 100) -> FZConfig:
    """An FZ estimate on the training set of ``data`` with that experiment's own model and training recipe
    (curvature scoring off): for datasets without a published FZ recipe, such as digits. Models are
    trained in vectorised groups of up to 100 (faster than 25 for small models)."""
    train = replace(data.train, score_every=0)
    return FZConfig(data, model=data.model, width=data.width, train=train, n_models=n_models, group_size=min(n_models, 100))

"""Runners for the book's part on where memorization lives (Maini et al. 2023), with curvature beside it.

One :class:`LocalizationConfig` (a scoring experiment of :mod:`curvlib.pipeline` plus the settings of
the probes) drives four cached results, each computed once and read back:

- :func:`run_localization`: the base run. The model is trained once with per-epoch curvature scoring,
  :class:`~curvlib.localization.GradientAccounting` and a :class:`~curvlib.localization.WeightHistory`;
  tables ``scores``, ``history``, ``accounting`` and ``rewinding``; the kept weights and the final model
  in its arrays.
- :func:`run_retraining`: each layer group re-initialised and retrained on clean samples, others frozen.
- :func:`run_flipping`: neuron flipping of fitted flipped and fitted clean samples, with their curvature.
- :func:`run_tied_dropout`: the same training with example-tied dropout; accuracy and curvature in test
  and drop modes.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ..pipeline import ScoreConfig, model_factory, prepare_data, scores_table
from ..localization import GradientAccounting, WeightHistory, correct_per_sample, flip_example, layer_groups, retrain_group, rewind
from ..results import RunResult, load_or_compute
from ..tied_dropout import with_example_tied_dropout
from ..training import TrainConfig, evaluate, train_and_score

__all__ = [
    "LocalizationConfig", "run_localization", "trained_model", "run_retraining", "run_flipping", "run_tied_dropout",
    "book_localization", "group_accuracy",
]  # fmt: skip


@dataclass(frozen=True)
class LocalizationConfig:
    """The base run (``data``: dataset, noise, model and training with per-epoch curvature) and the probes' settings."""

    data: ScoreConfig
    rewind_epochs: tuple[int, ...] = (0, 1, 2, 5, 10)  # epochs whose weights a group is rewound to (0 = initialisation)
    retrain: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=10, batch_size=64, lr=0.05, schedule="onecycle", score_every=0))
    flip_targets: int = 200  # fitted flipped and fitted clean samples each (fewer if fewer are fitted)
    flip_batch: int = 32  # the target and the rest of its batch
    flip_copies: int = 5  # noisy copies of the batch the gradient is averaged over
    flip_noise: float = 0.01  # ℓ₂ norm of the input noise relative to the input's
    max_units: int = 100  # give up (not flipped) after zeroing this many units
    flip_eval: int = 500  # training and test samples on which the accuracy lost to a flip is measured
    tied_after: tuple[str, ...] = ("2", "4")  # modules followed by example-tied dropout (the MLP's hidden ReLUs)
    p_gen: float = 0.5  # share of always-on channels
    p_mem: float = 0.2  # probability that a memorization channel is kept for an example

    def as_dict(self) -> dict:
        return asdict(self)


def book_localization(profile: str, dataset: str, seed: int = 0) -> LocalizationConfig:
    """The book's setting. ``quick``: 2,000 training images of ``dataset`` ("mnist" or "fashion_mnist"), 10%
    noise, an MLP 784-256-128-10 trained 30 epochs on MNIST, 50 on Fashion-MNIST (one-cycle, peak lr 0.1 at 20%,
    batch 64, no weight decay),
    1,000 test images; curvature is scored every epoch for seed 0 only (the seed the curvature joins use:
    scoring is most of a run's time on a CPU). ``paper``: Maini et al.'s ResNet-9 (width 64) on the full training set ("mnist" or
    "cifar10"), 50 epochs, one-cycle with peak lr 0.1 at epoch 10, batch 512, weight decay 5e-4, example-tied
    dropout after the 2nd and 3rd stages. ``seed`` seeds everything: subset, noise, initialisation, shuffling and probes."""
    if profile == "quick":
        epochs = 50 if dataset == "fashion_mnist" else 30  # Fashion-MNIST fits only ~80% of its flipped labels in 30
        train = TrainConfig(epochs=epochs, batch_size=64, lr=0.1, schedule="onecycle", score_every=1 if seed == 0 else 0, seed=seed)
        data = ScoreConfig(dataset=dataset, subset=2000, model="mlp", width=256, train=train, seed=seed, test_subset=1000)
        return LocalizationConfig(data, rewind_epochs=(0, 1, 2, 5, 10, epochs))
    if profile == "paper":
        train = TrainConfig(epochs=50, batch_size=512, lr=0.1, weight_decay=5e-4, schedule="onecycle", score_every=1, score_batch_size=512, seed=seed)
        data = ScoreConfig(dataset=dataset, subset=None, model="resnet9", width=64, train=train, seed=seed)
        retrain = TrainConfig(epochs=20, batch_size=512, lr=0.05, weight_decay=5e-4, schedule="onecycle", score_every=0, score_batch_size=512)
        return LocalizationConfig(
            data, rewind_epochs=(0, 1, 2, 5, 10, 50), retrain=retrain, flip_targets=1000, flip_batch=512, max_units=1000,
            flip_eval=5000, tied_after=("layer2", "layer3"),
        )  # fmt: skip
    raise ValueError(f"profile must be 'quick' or 'paper'; got {profile!r}")


def group_accuracy(correct: np.ndarray, is_noisy: np.ndarray) -> dict[str, float]:
    """{"clean_acc": mean of ``correct`` over clean samples, "noisy_acc": over flipped samples (on their given labels)}."""
    correct, is_noisy = np.asarray(correct, dtype=float), np.asarray(is_noisy, dtype=bool)
    return {"clean_acc": float(correct[~is_noisy].mean()), "noisy_acc": float(correct[is_noisy].mean())}


def run_localization(config: LocalizationConfig, *, cache_dir: str | os.PathLike, data_root=None, device: str = "cpu") -> RunResult:
    """The base run: train once with per-epoch scoring, gradient accounting and weight snapshots, then rewind.

    Tables: ``scores`` (per sample, :func:`curvlib.pipeline.scores_table`), ``history``, ``accounting``
    (:meth:`GradientAccounting.table`) and ``rewinding``: one row per (group, epoch e of ``rewind_epochs``)
    with the training set's clean_acc and noisy_acc (flipped samples on their given labels, eval mode) of
    the final model with that group's parameters set back to epoch e. Arrays: the per-epoch records,
    ``weights/<e>/<parameter>`` and the final ``state/<key>`` (:func:`trained_model`).
    """

    def compute(run_dir: Path):
        train_set, test_set = prepare_data(config.data, data_root)
        torch.manual_seed(config.data.seed)
        model = model_factory(config.data, train_set)()
        accounting = GradientAccounting(model, noisy_index=train_set.index[train_set.is_noisy])
        history = WeightHistory(model, config.rewind_epochs)

        def end_of_epoch(epoch: int, net) -> None:
            accounting.end_epoch(epoch)
            history(epoch, net)

        records = train_and_score(model, train_set, config.data.train, test_set=test_set, device=device, on_batch=accounting, on_epoch_end=end_of_epoch)
        noisy = train_set.is_noisy.numpy()
        rows = []
        for group in layer_groups(model):
            for epoch, weights in sorted(history.weights.items()):
                correct = correct_per_sample(rewind(model, group, weights), train_set, config.data.train, device=device)
                rows.append({"group": group.name, "epoch": epoch, **group_accuracy(correct, noisy)})
        tables = {
            "scores": scores_table(records, train_set.y.numpy(), train_set.true_y.numpy()),
            "history": pd.DataFrame({"epoch": np.arange(1, config.data.train.epochs + 1), **records.history}),
            "accounting": accounting.table(),
            "rewinding": pd.DataFrame(rows),
        }
        state = {f"state/{k}": v.cpu().numpy() for k, v in model.state_dict().items()}
        return tables, {**records.to_arrays(), **history.to_arrays(), **state}

    return load_or_compute(cache_dir, f"localization-{config.data.dataset}", config.as_dict(), compute)


def trained_model(config: LocalizationConfig, base: RunResult, train_set) -> torch.nn.Module:
    """The base run's final model, rebuilt from its saved ``state/`` arrays."""
    model = model_factory(config.data, train_set)()
    state = {k.split("/", 1)[1]: torch.from_numpy(np.asarray(v)) for k, v in base.arrays.items() if k.startswith("state/")}
    model.load_state_dict(state)
    return model.eval()


def run_retraining(config: LocalizationConfig, *, cache_dir: str | os.PathLike, data_root=None, device: str = "cpu") -> RunResult:
    """Clean-only retraining of each layer group of the base run's final model (:func:`curvlib.localization.retrain_group`,
    ``config.retrain``). Table ``retraining``: one row per (group, epoch 0…E) with clean_acc and noisy_acc on the
    whole training set; epoch 0 is right after the group's re-initialisation, before any training."""

    def compute(run_dir: Path):
        train_set, _ = prepare_data(config.data, data_root)
        model = trained_model(config, run_localization(config, cache_dir=cache_dir, data_root=data_root, device=device), train_set)
        noisy = train_set.is_noisy.numpy()
        clean_set = train_set.select(np.flatnonzero(~noisy))
        rows = []
        for k, group in enumerate(tqdm(layer_groups(model), desc="retrain groups", disable=None)):
            _, correct = retrain_group(model, group, clean_set, config.retrain, eval_set=train_set, seed=k, device=device)
            rows += [{"group": group.name, "epoch": e, **group_accuracy(c, noisy)} for e, c in enumerate(correct)]
        return {"retraining": pd.DataFrame(rows)}, {}

    return load_or_compute(cache_dir, f"retraining-{config.data.dataset}", config.as_dict(), compute)


def run_flipping(config: LocalizationConfig, *, cache_dir: str | os.PathLike, data_root=None, device: str = "cpu") -> RunResult:
    """Neuron flipping (:func:`curvlib.localization.flip_example`) of up to ``flip_targets`` fitted flipped and
    as many fitted clean samples of the base run's final model, drawn at random (seeded).

    Table ``flips``: one row per target: index, is_noisy, units (zeroed), flipped (prediction changed within
    ``max_units``), layers (the groups of the zeroed units, "|"-joined), n_layers, train_drop and test_drop
    (accuracy lost on ``flip_eval`` other training samples and test samples), and the target's epoch-averaged
    curvature and loss from the base run.
    """

    def compute(run_dir: Path):
        train_set, test_set = prepare_data(config.data, data_root)
        base = run_localization(config, cache_dir=cache_dir, data_root=data_root, device=device)
        model = trained_model(config, base, train_set)
        scores = base.tables["scores"]
        rng = np.random.default_rng(config.data.seed)
        targets = np.concatenate([
            rng.permutation(np.flatnonzero(scores["fitted"] & (scores["is_noisy"] == noisy)))[: config.flip_targets] for noisy in (True, False)
        ])  # fmt: skip
        probe_train = train_set.select(rng.choice(len(train_set), min(config.flip_eval, len(train_set)), replace=False))
        probe_test = test_set.select(np.arange(min(config.flip_eval, len(test_set))))
        before_train = correct_per_sample(model, probe_train, config.data.train, device=device).mean()
        before_test = correct_per_sample(model, probe_test, config.data.train, device=device).mean()
        rows = []
        for position in tqdm(targets, desc="flip", disable=None):
            rest = rng.choice(np.delete(np.arange(len(train_set)), position), config.flip_batch - 1, replace=False)
            outcome, flipped_model = flip_example(
                model, train_set.x[position], train_set.y[position], train_set.x[rest], train_set.y[rest], copies=config.flip_copies,
                noise=config.flip_noise, max_units=config.max_units, generator=torch.Generator().manual_seed(int(train_set.index[position])),
            )  # fmt: skip
            layers = sorted({group for group, _ in outcome.units})
            others = probe_train.index != train_set.index[position]
            rows.append({
                "index": int(train_set.index[position]), "is_noisy": bool(scores["is_noisy"].iloc[position]), "units": len(outcome.units),
                "flipped": outcome.flipped, "layers": "|".join(layers), "n_layers": len(layers),
                "train_drop": before_train - correct_per_sample(flipped_model, probe_train, config.data.train, device=device)[others.numpy()].mean(),
                "test_drop": before_test - correct_per_sample(flipped_model, probe_test, config.data.train, device=device).mean(),
                "curvature": scores["curvature"].iloc[position], "loss": scores["loss_mean"].iloc[position],
            })  # fmt: skip
        return {"flips": pd.DataFrame(rows)}, {}

    return load_or_compute(cache_dir, f"flipping-{config.data.dataset}", config.as_dict(), compute)


def run_tied_dropout(config: LocalizationConfig, *, cache_dir: str | os.PathLike, data_root=None, device: str = "cpu") -> RunResult:
    """The base run's training with example-tied dropout after ``tied_after`` (p_gen, p_mem), then, per mode
    ("test": every channel, memorization ones × p_mem; "drop": memorization channels removed):

    Table ``samples``: one row per training sample: index, is_noisy, correct_train, correct_test, correct_drop
    (on the given label; "train": each example with its own mask, as it was trained), curvature_test and
    curvature_drop (input-loss curvature of the final model in that mode, with the final epoch's probes), and
    curvature_plain: the base run's final-epoch curvature (no dropout; NaN where it scored none).
    Table ``summary``: one row per model ("tied, train", "tied, test", "tied, drop", "plain"): clean_acc,
    noisy_acc and test_acc (the test set has no own masks: "tied, train" reports test mode's).
    """

    def compute(run_dir: Path):
        train_set, test_set = prepare_data(config.data, data_root)
        base = run_localization(config, cache_dir=cache_dir, data_root=data_root, device=device)
        torch.manual_seed(config.data.seed)
        net = with_example_tied_dropout(model_factory(config.data, train_set)(), config.tied_after, config.p_gen, config.p_mem, seed=config.data.seed)
        train_config = replace(config.data.train, score_every=0)
        records = train_and_score(net, train_set, train_config, device=device)
        noisy = train_set.is_noisy.numpy()
        samples = pd.DataFrame({"index": train_set.index.numpy(), "is_noisy": noisy})
        summary = []
        for mode in ("train", "test", "drop"):
            net.mode = mode
            samples[f"correct_{mode}"] = correct_per_sample(net, train_set, train_config, device=device)
            row = {"model": f"tied, {mode}", **group_accuracy(samples[f"correct_{mode}"], noisy)}
            if mode != "train":
                # the final epoch's keyed probes, as the base run scored its last epoch
                final = config.data.train.epochs - 1
                samples[f"curvature_{mode}"] = evaluate(net, train_set, config.data.train, epoch=final, with_curvature=True, device=torch.device(device))["curvature"]
                row["test_acc"] = correct_per_sample(net, test_set, train_config, device=device).mean()
            summary.append(row)
        summary[0]["test_acc"] = summary[1]["test_acc"]
        plain = base.tables["scores"]
        summary.append({"model": "plain", **group_accuracy(plain["fitted"], noisy), "test_acc": base.tables["history"]["test_acc"].iloc[-1]})
        samples["curvature_plain"] = base.arrays["train/curvature"][-1]
        return {"samples": samples, "summary": pd.DataFrame(summary), "history": pd.DataFrame(records.history)}, {}

    return load_or_compute(cache_dir, f"tied-dropout-{config.data.dataset}", config.as_dict(), compute)

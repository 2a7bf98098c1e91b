"""Runners for the book's settings chapters: how the curvature score depends on h, n and the training
recipe, why the step h matters with ReLU networks, and the evidence behind the command line's defaults.

Each runner takes frozen :class:`curvlib.pipeline.ScoreConfig` objects, caches its runs under
``cache_dir`` (via :func:`curvlib.pipeline.run_scoring` or :func:`curvlib.results.load_or_compute`)
and returns a tidy table.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..analysis import compare_scores, every_k_curvature
from ..curvature import keyed_rademacher_probes, probe_differences
from ..metrics import pearson
from ..models import build_model
from ..pipeline import ScoreConfig, model_factory, prepare_data, run_scoring, with_seed, with_train
from ..reference import paper_algorithm_curvature
from ..metrics import auroc
from ..results import RunResult, load_or_compute
from ..training import TrainRecords, train_and_score

__all__ = ["run_sensitivity_sweep", "run_finite_difference_profile", "profile_summary", "run_detection_settings", "PrecisionConfig", "run_precision"]


def run_sensitivity_sweep(
    base: ScoreConfig, settings: dict[str, dict], *, seeds: list[int], every: tuple[int, ...] = (2, 4),
    memorization: dict[int, pd.Series] | None = None, cache_dir: str | os.PathLike, data_root=None, device: str = "cpu",
) -> pd.DataFrame:
    """How the memorization score changes with its settings, against the reference run ``base``.

    For each seed: the reference run (``base`` with that seed; it must be scored every epoch), one cached
    run per entry of ``settings`` (label -> :class:`TrainConfig` changes, e.g. ``{"h = 1e-2": {"h": 1e-2}}``),
    and, read off the reference run without retraining, ``"trace"`` (epoch-mean (h v)ᵀΔg ≈ h² tr H) and
    ``"every k epochs"`` for each k in ``every`` (:func:`curvlib.analysis.every_k_curvature`). Each score
    is compared with the reference by :func:`curvlib.analysis.compare_scores`, and with
    ``memorization[seed]`` (FZ scores by dataset index) if given.
    Returns one row per (setting, seed): setting, seed, auroc, spearman_ref, top_overlap_ref, fz_spearman,
    fz_pearson, seconds_score (the run's eval + scoring time; NaN for settings read off the reference).
    """  # fmt: skip
    if base.train.score_every != 1:
        raise ValueError(f"the reference run must be scored every epoch (score_every=1); got {base.train.score_every}")
    rows = []
    for seed in seeds:
        config = with_seed(base, seed)
        ref = run_scoring(config, data_root=data_root, cache_dir=cache_dir, device=device)
        table = ref.tables["scores"]
        reference = table["curvature"].to_numpy()
        mem = None if memorization is None else memorization[seed]

        def add(setting: str, score: np.ndarray, seconds: float) -> None:
            stats = compare_scores(table, score, reference=reference, memorization=mem)
            rows.append({"setting": setting, "seed": seed, **stats, "seconds_score": seconds})

        add("reference", reference, float(ref.tables["history"].seconds_score.sum()))
        for label, changes in settings.items():
            run = run_scoring(with_train(config, **changes), data_root=data_root, cache_dir=cache_dir, device=device)
            np.testing.assert_array_equal(run.tables["scores"]["index"].to_numpy(), table["index"].to_numpy())
            add(label, run.tables["scores"]["curvature"].to_numpy(), float(run.tables["history"].seconds_score.sum()))
        add("trace", TrainRecords.from_arrays(ref.arrays).average("curvature_trace"), float("nan"))
        for k in every:
            add(f"every {k} epochs", every_k_curvature(ref, k), float("nan"))
    return pd.DataFrame(rows)


def run_finite_difference_profile(
    config: ScoreConfig, hs: tuple[float, ...], *, n_probes: int = 20, cache_dir: str | os.PathLike, data_root=None,
    device: str = "cpu",
) -> RunResult:
    """How the finite difference behaves as h shrinks, on the final model of ``config`` (trained without scoring).

    For each h in ``hs`` and each training sample: ``fd_over_h`` = mean over ``n_probes`` keyed Rademacher
    probes of ‖∇ₓℓ(x + h v) − ∇ₓℓ(x)‖ / h (:func:`curvlib.curvature.probe_differences`; the same probes for
    every h). For a twice-differentiable loss it tends to mean ‖H v‖ and stops depending on h; where it keeps
    growing with h, the step crosses non-smooth points (ReLU activation boundaries) or higher-order terms.
    Cached. Table ``profile``: h, index, label, is_noisy, fd_over_h.
    """  # fmt: skip
    def compute(run_dir: Path):
        train_set, _ = prepare_data(config, data_root)
        torch.manual_seed(config.seed)
        model = model_factory(config, train_set)()
        train_and_score(model, train_set, replace(config.train, score_every=0), device=device)
        model.eval()
        x, y = train_set.x.to(device), train_set.y.to(device)
        probes = keyed_rademacher_probes(train_set.index, n_probes, tuple(x.shape[1:]), seed=config.seed)
        rows = []
        for h in hs:
            per_probe = torch.cat([
                probe_differences(model, x[s : s + 256], y[s : s + 256], h=h, probes=probes[:, s : s + 256]) for s in range(0, len(y), 256)
            ], dim=1)  # fmt: skip
            rows.append(pd.DataFrame({
                "h": h, "index": train_set.index.numpy(), "label": train_set.y.numpy(), "is_noisy": train_set.is_noisy.numpy(),
                "fd_over_h": (per_probe.mean(dim=0) / h).cpu().numpy(),
            }))  # fmt: skip
        return {"profile": pd.concat(rows, ignore_index=True)}, {}

    key = {**config.as_dict(), "hs": list(hs), "n_probes": n_probes}
    return load_or_compute(cache_dir, f"fd-profile-{config.model}", key, compute)


def profile_summary(profile: pd.DataFrame) -> pd.DataFrame:
    """Per h of a :func:`run_finite_difference_profile` table: median ``fd_over_h`` of clean and of flipped samples,
    their ratio, and the AUROC of ``fd_over_h`` for the flipped labels."""
    rows = []
    for h, part in profile.groupby("h"):
        flags = part["is_noisy"].to_numpy(dtype=bool)
        values = part["fd_over_h"].to_numpy()
        clean, flipped = float(np.median(values[~flags])), float(np.median(values[flags]))
        rows.append({"h": h, "clean_median": clean, "flipped_median": flipped, "ratio": flipped / clean, "auroc": auroc(flags, values)})
    return pd.DataFrame(rows)


def run_detection_settings(
    configs: dict[str, ScoreConfig], *, cache_dir: str | os.PathLike, data_root=None, device: str = "cpu"
) -> pd.DataFrame:
    """One cached run per labelled config (each with injected noise): how well it detects the flips, and at what cost.

    Returns one row per label: setting, dataset, seed, model, width, epochs, batch_size, h, n_probes,
    auroc (epoch-averaged curvature), auroc_loss_mean (the loss averaged over epochs, for comparison),
    fitted and fitted_flipped (:func:`curvlib.analysis.memorization_check`), minutes (training + scoring).
    """
    rows = []
    for label, config in configs.items():
        if config.noise <= 0:
            raise ValueError(f"{label}: detection needs injected noise (noise > 0)")
        result = run_scoring(config, data_root=data_root, cache_dir=cache_dir, device=device)
        table, history = result.tables["scores"], result.tables["history"]
        flags = table["is_noisy"].to_numpy(dtype=bool)
        fitted = table["fitted"].to_numpy(dtype=bool)
        t = config.train
        rows.append({
            "setting": label, "dataset": config.dataset, "seed": config.seed, "model": config.model, "width": config.width,
            "epochs": t.epochs, "batch_size": t.batch_size, "h": t.h, "n_probes": t.n_probes,
            "auroc": auroc(flags, table["curvature"]), "auroc_loss_mean": auroc(flags, table["loss_mean"]),
            "fitted": fitted.mean(), "fitted_flipped": fitted[flags].mean(),
            "minutes": float(history.seconds_train.sum() + history.seconds_score.sum()) / 60,
        })  # fmt: skip
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class PrecisionConfig:
    """The precision experiment: ``subset`` training images of ``dataset`` under ``model`` of ``width`` at its seeded
    initialisation, scored at each step of ``hs`` with ``n_probes`` keyed probes in every dtype of ``dtypes``."""

    dataset: str = "mnist"
    model: str = "preact_resnet18"  # the paper's MNIST network
    width: int = 8  # 64 in the paper; 8 on a CPU
    subset: int = 128  # scored images (the first of a seeded stratified subset)
    hs: tuple[float, ...] = (1e-3, 1e-2)  # finite-difference steps
    dtypes: tuple[str, ...] = ("float32", "bfloat16")  # compared with float64
    n_probes: int = 10
    seed: int = 0


def run_precision(config: PrecisionConfig, *, cache_dir: str | os.PathLike, data_root=None, device: str = "cpu") -> pd.DataFrame:
    """How far the finite difference drifts from float64 when computed in lower precision: the same network, images
    and probes, the authors' algorithm (:func:`curvlib.reference.paper_algorithm_curvature`, which runs in whatever
    dtype it is given; curvlib's estimator refuses anything below float32) in float64 and in each dtype of ``config``.

    Contract: one row per (h, dtype) with ``max_rel_err`` = max_b |c_b − c⁶⁴_b| / c⁶⁴_b, ``median_rel_err`` and
    ``pearson`` (with float64) over the scored images; cached. ∇ℓ(x + hv) − ∇ℓ(x) subtracts two nearly equal
    gradients, so its relative error is about the dtype's rounding error times ‖∇ℓ‖ / ‖Δg‖: small steps need
    float32 or better (on a GPU, TF32 convolutions cause the same cancellation; ../shared/docs/gpu-notes.md).
    """

    def compute(run_dir: Path):
        data = prepare_data(ScoreConfig(dataset=config.dataset, subset=max(config.subset, 10), noise=0.0, seed=config.seed), data_root)[0]
        x, y = data.x[: config.subset].to(device), data.y[: config.subset].to(device)
        torch.manual_seed(config.seed)
        model = build_model(config.model, input_shape=tuple(x.shape[1:]), num_classes=data.num_classes, width=config.width).to(device)
        probes = keyed_rademacher_probes(data.index[: config.subset], config.n_probes, tuple(x.shape[1:]), seed=config.seed)
        rows = []
        for h in config.hs:
            exact = paper_algorithm_curvature(model.double(), x.double(), y, probes, h=h).curvature
            for name in config.dtypes:
                dtype = getattr(torch, name)
                values = paper_algorithm_curvature(model.to(dtype), x.to(dtype), y, probes, h=h).curvature.double()
                rel = ((values - exact).abs() / exact.abs()).cpu().numpy()
                rows.append({"h": h, "dtype": name, "max_rel_err": float(rel.max()), "median_rel_err": float(np.median(rel)),
                             "pearson": pearson(values.cpu().numpy(), exact.cpu().numpy())})  # fmt: skip
        return {"precision": pd.DataFrame(rows)}, {}

    return load_or_compute(cache_dir, f"precision-{config.dataset}-{config.model}", asdict(config), compute).tables["precision"]

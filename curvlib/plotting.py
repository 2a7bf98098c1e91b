"""The book's one figure style: seaborn's colour-blind palette, image grids with index and labels."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

__all__ = ["set_style", "image_grid", "roc_axes", "score_histogram", "training_curve", "report_figure"]


def set_style() -> None:
    """Apply the book's style (seaborn ``colorblind`` palette, white grid, readable sizes)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 100, "savefig.bbox": "tight", "image.cmap": "gray"})


def image_grid(images: np.ndarray, titles: list[str], ncols: int = 8, title: str | None = None, size: float = 1.3):
    """A grid of images ([k, H, W] grey or [k, H, W, C] colour, values in [0, 1]) with one caption each.

    Returns the matplotlib Figure. Callers put the dataset index and the labels in ``titles``.
    """
    k = len(images)
    nrows = max(1, int(np.ceil(k / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size + 0.35) * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img, text in zip(axes.ravel(), images, titles):
        ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        ax.set_title(text, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def roc_axes(ax, curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str = "") -> None:
    """Draw ROC curves {name: (fpr, tpr)} on ``ax`` with the chance diagonal."""
    for name, (fpr, tpr) in curves.items():
        ax.plot(fpr, tpr, label=name, lw=1.4)
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(fontsize=7, loc="lower right")


def score_histogram(ax, values: np.ndarray, flags: np.ndarray | None = None, *, label: str = "score") -> None:
    """Histogram of a per-sample score on ``ax`` (log count axis); with boolean ``flags`` (e.g. injected
    flips) the flagged and the other samples are drawn separately."""
    bins = np.histogram_bin_edges(values, bins=40)
    if flags is not None and flags.any():
        ax.hist(values[~flags], bins=bins, alpha=0.7, label=f"other ({int((~flags).sum())})")
        ax.hist(values[flags], bins=bins, alpha=0.7, label=f"injected flips ({int(flags.sum())})")
        ax.legend(fontsize=7)
    else:
        ax.hist(values, bins=bins, alpha=0.8)
    ax.set(yscale="log", xlabel=label, ylabel="samples", title=f"distribution of {label}")


def training_curve(ax, history: pd.DataFrame) -> None:
    """Training accuracy and loss per epoch (and test accuracy where recorded) from a run's ``history``."""
    ax.plot(history.epoch, history.train_acc, marker=".", label="train accuracy (given labels)")
    if history.test_acc.notna().any():
        ax.plot(history.epoch, history.test_acc, marker=".", label="test accuracy")
    ax.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02), title="training curve")
    loss = ax.twinx()
    loss.plot(history.epoch, history.train_loss, color="grey", ls="--", label="train loss")
    loss.set(ylabel="train loss")
    loss.grid(False)
    lines = ax.get_legend_handles_labels()[0] + loss.get_legend_handles_labels()[0]
    ax.legend(lines, [line.get_label() for line in lines], fontsize=7, loc="center right")


def report_figure(images: np.ndarray | None, titles: list[str], values: np.ndarray, flags, history: pd.DataFrame, *, label: str, ncols: int = 8):
    """The overview of ``curvlib report``: the top-k images with captions (none for feature vectors:
    ``images=None``), the score histogram and the training curve, as one Figure."""
    images = np.zeros((0, 1, 1)) if images is None else images
    rows = int(np.ceil(len(images) / ncols))
    fig = plt.figure(figsize=(1.6 * ncols, 1.9 * rows + 3.4))
    grid = fig.add_gridspec(rows + 2, ncols, height_ratios=[1.9] * rows + [0.25, 3.0])
    for i, (img, text) in enumerate(zip(images, titles)):
        ax = fig.add_subplot(grid[i // ncols, i % ncols])
        ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        ax.set_title(text, fontsize=7)
        ax.axis("off")
    half = ncols // 2
    score_histogram(fig.add_subplot(grid[rows + 1, :half]), values, flags, label=label)
    training_curve(fig.add_subplot(grid[rows + 1, half:]), history)
    fig.suptitle(f"top {len(images)} samples by {label}" if len(images) else f"{label} and the training curve", fontsize=11)
    fig.tight_layout()
    return fig

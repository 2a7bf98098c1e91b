"""The book's one figure style: seaborn's colour-blind palette, image grids with index and labels."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

__all__ = ["set_style", "image_grid", "roc_axes"]


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

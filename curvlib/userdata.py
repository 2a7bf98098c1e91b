"""Your own labelled data: an image folder, an ``.npz`` file or a CSV of image paths.

:func:`load_own_data` reads any of the three into an :class:`curvlib.data.IndexedDataset` whose
``index`` is the sample's position in the source (folder: classes in sorted order, files in sorted
order within each, as torchvision's ``ImageFolder``; npz: row; CSV: row). Image size, channels and
normalisation are inferred from the data and returned by :func:`describe`, so a run can record them.

Every problem with the input raises :class:`curvlib.data.DataError` naming the file and the fix:
unreadable or truncated files, labels that are not integers or lie out of range, NaN or infinite
values, fewer than two classes.
"""
from __future__ import annotations

import os
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .data import DataError, IndexedDataset

__all__ = ["load_own_data", "load_image_folder", "load_npz", "load_image_csv", "dataset_from_arrays", "describe", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _labels(y, source: str, classes: tuple[str, ...] | None) -> torch.Tensor:
    """Integer labels [N] in [0, C): C = len(classes) if names are given, else max(y) + 1."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError(f"{source}: labels must be a 1-D array [N]; got shape {y.shape}")
    if y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.round(y)).all():
        y = y.astype(np.int64)  # whole numbers stored as floats
    if y.dtype.kind not in "iu":
        bad = next((v for v in y if not isinstance(v, (int, np.integer))), y[0] if y.size else None)
        raise DataError(
            f"{source}: labels must be integers 0..C-1; got {y.dtype} values such as {bad!r}. "
            "Map class names to integers first (e.g. pandas.factorize), or use an image folder with one subfolder per class"
        )
    if y.size and y.min() < 0:
        raise DataError(f"{source}: labels must be integers >= 0; got {int(y.min())} at sample {int(np.argmin(y))}")
    if classes is not None and y.size and y.max() >= len(classes):
        raise DataError(
            f"{source}: label {int(y.max())} at sample {int(np.argmax(y))} is out of range for the {len(classes)} class "
            f"names given; labels must lie in [0, {len(classes)})"
        )
    present = np.unique(y)
    if present.size < 2:
        raise DataError(f"{source}: all samples have label {present.tolist()}; scoring needs at least 2 classes")
    return torch.tensor(y, dtype=torch.long)


def dataset_from_arrays(x, y, *, source: str = "arrays", classes=None) -> IndexedDataset:
    """Check and normalise arrays into an IndexedDataset.

    ``x``: images [N, H, W], [N, H, W, C] (C ∈ {1, 3, 4}, NumPy/PIL layout), [N, C, H, W] (C ∈ {1, 3}),
    or feature vectors [N, D]. Integer pixels are divided by 255; every channel (image) or feature (vector) is then
    normalised with the data's own statistics, x' = (x − mean_c) / std_c (std 1 where it is constant), and those
    statistics are kept as the dataset's ``mean``/``std``. ``y``: integer
    labels [N] (see the module docstring). ``classes``: optional class names, ``classes[y]``.

    Example:
        >>> data = dataset_from_arrays(np.zeros((4, 8, 8), np.uint8), np.array([0, 1, 0, 1]))
        >>> tuple(data.x.shape)
        (4, 1, 8, 8)
    """
    x = np.asarray(x)
    classes = None if classes is None else tuple(str(c) for c in classes)
    if x.dtype.kind not in "iufb":
        raise DataError(f"{source}: x must be numeric; got dtype {x.dtype}")
    if x.ndim not in (2, 3, 4) or x.shape[0] == 0:
        raise DataError(f"{source}: x must be [N, H, W], [N, H, W, C], [N, C, H, W] or [N, D] with N > 0; got shape {x.shape}")
    if len(np.asarray(y)) != x.shape[0]:
        raise DataError(f"{source}: {x.shape[0]} samples in x but {len(np.asarray(y))} labels in y; they must match")
    finite = np.isfinite(x) if x.dtype.kind == "f" else np.ones(x.shape, dtype=bool)
    if not finite.all():
        rows = np.flatnonzero(~finite.reshape(len(x), -1).all(axis=1))
        raise DataError(
            f"{source}: x holds {int((~finite).sum())} NaN or infinite values in {rows.size} samples (first: sample {int(rows[0])}); "
            "drop or repair those samples"
        )
    labels = _labels(y, source, classes)
    values = torch.from_numpy(np.ascontiguousarray(x)).float()
    if x.dtype.kind in "iu":
        values = values / 255
    if x.ndim == 3:
        values = values.unsqueeze(1)
    elif x.ndim == 4 and (x.shape[-1] in (1, 3, 4) or x.shape[1] not in (1, 3)):
        values = values.permute(0, 3, 1, 2).contiguous()  # channels-last → [N, C, H, W]
    dims = [0] if values.dim() == 2 else [0, 2, 3]
    mean = values.mean(dim=dims)
    std = values.std(dim=dims)
    std = torch.where(std > 0, std, torch.ones_like(std))
    shape = (1, -1) if values.dim() == 2 else (1, -1, 1, 1)
    normalised = (values - mean.view(shape)) / std.view(shape)
    num_classes = len(classes) if classes is not None else int(labels.max()) + 1
    stats = (tuple(mean.tolist()), tuple(std.tolist()))  # per channel for images, per feature for vectors
    return IndexedDataset(normalised, labels, torch.arange(len(labels)), num_classes, source, None, *stats, classes)


def _read_images(files: list[Path], source: str) -> np.ndarray:
    """uint8 array [N, H, W] (all grey) or [N, H, W, 3]; images not of the most common size are resized to it."""
    from PIL import Image, UnidentifiedImageError

    images = []
    for file in files:
        try:
            with Image.open(file) as img:
                img.load()
                images.append(img.copy())
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as err:
            raise DataError(f"{file} is not a readable image ({err}): remove or replace it") from None
    if not images:
        raise DataError(f"{source}: no images found (looked for {', '.join(IMAGE_SUFFIXES)})")
    grey = all(img.mode in ("1", "L", "LA", "I", "I;16", "F") for img in images)
    size = Counter(img.size for img in images).most_common(1)[0][0]
    mode = "L" if grey else "RGB"
    return np.stack([np.asarray(img.convert(mode).resize(size) if img.size != size else img.convert(mode)) for img in images])


def load_image_folder(path: str | os.PathLike) -> IndexedDataset:
    """Images in one subfolder per class (``path/<class>/<image>``), classes named by their folders.

    Index = position in the list of files sorted by class folder, then by file name.
    """
    path = Path(path)
    classes = sorted(d.name for d in path.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        raise DataError(
            f"{path} holds {len(classes)} class folder(s) {classes}: put each class's images in its own subfolder, "
            "at least 2 classes (path/<class>/<image>)"
        )
    files, labels = [], []
    for label, name in enumerate(classes):
        found = sorted(f for f in (path / name).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith("."))
        files += found
        labels += [label] * len(found)
    empty = [name for label, name in enumerate(classes) if label not in labels]
    if empty:
        raise DataError(f"{path}: class folder(s) {empty} hold no images ({', '.join(IMAGE_SUFFIXES)}): fill or remove them")
    return dataset_from_arrays(_read_images(files, str(path)), np.asarray(labels), source=str(path), classes=classes)


def load_npz(path: str | os.PathLike) -> IndexedDataset:
    """Arrays ``x`` and ``y`` (and optionally ``classes``, the class names) from a NumPy ``.npz`` file."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = {"x", "y"} - set(archive.files)
            if missing:
                raise DataError(f"{path} has arrays {sorted(archive.files)} but needs 'x' and 'y': save it with numpy.savez(path, x=images, y=labels)")
            x, y = archive["x"], archive["y"]
            classes = archive["classes"].tolist() if "classes" in archive.files else None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        if isinstance(err, DataError):
            raise
        raise DataError(f"{path} is not a readable .npz file ({err}): save it again with numpy.savez(path, x=images, y=labels)") from None
    return dataset_from_arrays(x, y, source=str(path), classes=classes)


def load_image_csv(path: str | os.PathLike) -> IndexedDataset:
    """A CSV with columns ``path`` (image file, relative to the CSV's folder or absolute) and ``label`` (integer)."""
    path = Path(path)
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"{path} is not a readable CSV ({err}): write it with a header line 'path,label'") from None
    missing = {"path", "label"} - set(table.columns)
    if missing:
        raise DataError(f"{path} has columns {list(table.columns)} but needs 'path' and 'label' (header line 'path,label')")
    if table.empty:
        raise DataError(f"{path} lists no images: add one row 'path,label' per image under its header line")
    files = [p if p.is_absolute() else path.parent / p for p in map(Path, table["path"].astype(str))]
    absent = [str(f) for f in files if not f.is_file()]
    if absent:
        raise DataError(f"{path}: {len(absent)} image file(s) not found, first {absent[0]}: fix the 'path' column")
    labels = table["label"].to_numpy()
    if labels.dtype == object:
        raise DataError(f"{path}: column 'label' must hold integers 0..C-1; got values such as {labels[0]!r}. "
                        "Map class names to integers first, or use an image folder with one subfolder per class")
    return dataset_from_arrays(_read_images(files, str(path)), labels, source=str(path))


def load_own_data(path: str | os.PathLike) -> IndexedDataset:
    """An image folder, ``.npz`` or ``.csv`` file by what ``path`` is (see the module docstring).

    Example:
        >>> data = load_own_data("my_images")  # my_images/<class>/<image>.png
    """
    path = Path(path).expanduser()
    if path.is_dir():
        return load_image_folder(path)
    if not path.exists():
        raise DataError(f"{path} not found: give an image folder (one subfolder per class), an .npz with x and y, or a CSV of path,label")
    if path.suffix.lower() == ".npz":
        return load_npz(path)
    if path.suffix.lower() == ".csv":
        return load_image_csv(path)
    raise DataError(f"{path}: unknown kind of file; give an image folder, an .npz with x and y, or a CSV with columns path,label")


def describe(data: IndexedDataset) -> dict:
    """What was inferred about ``data``, for a run's config.json: source, samples, input shape, classes, normalisation."""
    return {
        "source": data.name, "samples": len(data), "input_shape": list(data.x.shape[1:]), "num_classes": data.num_classes,
        "classes": list(data.classes) if data.classes is not None else None,
        "normalisation": {"mean": list(data.mean), "std": list(data.std)},
    }  # fmt: skip

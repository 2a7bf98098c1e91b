"""Datasets as (x, y, index) triples, subsets, and label-noise injection.

Every dataset here yields ``(x, y, index)`` where ``index`` is the sample's position in the raw
dataset (training or test split as distributed), so per-sample scores can always be written back
to, and compared against, the original data. Images are normalised per dataset
(x − mean) / std, the input space in which the paper perturbs.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from .compat import import_torchvision

__all__ = [
    "IndexedDataset", "ImageFolderDataset", "resolve_data_root", "read_idx", "load_mnist", "load_fashion_mnist",
    "load_cifar", "load_imagenet_folder", "load_digits", "make_toy_two_class", "load_dataset", "stratified_subset",
    "inject_label_noise", "inject_conflicting_duplicates", "take_subset", "load_label_errors", "NORMALIZATION", "DATASETS", "DataError",
    "DEBIAN_FASHION_MNIST", "CLASS_NAMES",
]  # fmt: skip

# Per-channel (mean, std) of the training split in [0, 1] pixel units.
NORMALIZATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "digits": ((0.3053,), (0.3760,)),
}

# Class names by label, for the datasets whose labels are not their own names (torchvision's order).
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
}


class DataError(ValueError):
    """Bad input data or data options (a corrupt file, labels out of range, a subset too large...).

    The message names the file or option and says how to fix it; ``option`` is the command-line option
    at fault where it is not the data source itself (e.g. ``"--subset"``). The command line prints it as
    one line and exits with status 2.
    """

    def __init__(self, message: str, option: str | None = None):
        super().__init__(message)
        self.option = option


@dataclass
class IndexedDataset(Dataset):
    """In-memory dataset of normalised inputs ``x`` [N, ...], given labels ``y`` [N] and raw ``index`` [N].

    ``true_y`` holds the labels before any injected noise (equal to ``y`` for clean data);
    ``mean``/``std`` undo the normalisation for display: pixels = x · std + mean; ``classes``
    names the classes (``classes[y]``) where the data has names.
    """

    x: Tensor
    y: Tensor
    index: Tensor
    num_classes: int
    name: str = "custom"
    true_y: Tensor | None = None
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    classes: tuple[str, ...] | None = None

    def __post_init__(self):
        n = self.x.shape[0]
        if self.true_y is None:
            self.true_y = self.y.clone()
        for field in ("y", "index", "true_y"):
            value = getattr(self, field)
            if value.dim() != 1 or value.shape[0] != n:
                raise ValueError(f"{field} must have shape [{n}] to match x; got {tuple(value.shape)}")
        if n and (int(self.y.min()) < 0 or int(self.y.max()) >= self.num_classes):
            raise ValueError(f"labels must lie in [0, {self.num_classes}); got [{int(self.y.min())}, {int(self.y.max())}]")

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor, Tensor]:
        return self.x[i], self.y[i], self.index[i]

    @property
    def is_image(self) -> bool:
        """True for images [N, C, H, W]; False for feature vectors [N, D] (which have no pixels to show)."""
        return self.x.dim() == 4

    def fingerprint(self) -> str:
        """SHA-256 (hex) of the inputs, given labels and indices: equal for the same data, whatever its source path.

        Example:
            >>> data.fingerprint() == data.select(range(len(data))).fingerprint()
            True
        """
        digest = hashlib.sha256()
        for tensor in (self.x.float(), self.y.long(), self.index.long()):
            digest.update(str(tuple(tensor.shape)).encode())
            digest.update(tensor.contiguous().numpy().tobytes())
        return digest.hexdigest()

    @property
    def is_noisy(self) -> Tensor:
        """Boolean mask [N]: the given label differs from the original one."""
        return self.y != self.true_y

    def select(self, positions) -> "IndexedDataset":
        """The samples at ``positions`` (positions in this dataset, not raw indices), keeping raw indices."""
        pos = torch.as_tensor(positions, dtype=torch.long)
        return IndexedDataset(
            self.x[pos], self.y[pos], self.index[pos], self.num_classes, self.name, self.true_y[pos], self.mean, self.std,
            self.classes,
        )

    def with_labels(self, y: Tensor) -> "IndexedDataset":
        """The same samples with given labels ``y``; ``true_y`` is kept."""
        return IndexedDataset(self.x, y, self.index, self.num_classes, self.name, self.true_y, self.mean, self.std, self.classes)

    def pixels(self, positions) -> np.ndarray:
        """Un-normalised images in [0, 1], shape [k, H, W] or [k, H, W, C], for display (images only: see :attr:`is_image`)."""
        if not self.is_image:
            raise ValueError(f"{self.name} holds feature vectors of shape {tuple(self.x.shape[1:])}, not images: there are no pixels to show")
        x = self.x[torch.tensor(np.asarray(positions, dtype=np.int64))]
        mean = torch.tensor(self.mean).view(1, -1, *([1] * (x.dim() - 2)))
        std = torch.tensor(self.std).view(1, -1, *([1] * (x.dim() - 2)))
        img = (x * std + mean).clamp(0, 1).numpy()
        return img[:, 0] if img.shape[1] == 1 else np.moveaxis(img, 1, -1)


def resolve_data_root(root: str | os.PathLike | None) -> Path:
    """``root`` if given, else ``$CURVLIB_DATA_ROOT``; raises a ValueError saying how to set either."""
    root = root if root is not None else os.environ.get("CURVLIB_DATA_ROOT")
    if root is None:
        raise ValueError("no data root: pass data_root=... (CLI: --data-root DIR) or set CURVLIB_DATA_ROOT=DIR")
    return Path(root).expanduser()


def _missing(path: Path, how: str) -> FileNotFoundError:
    return FileNotFoundError(f"{path} not found (looked for it, and for its .gz, there). {how}")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST format: magic, dims, big-endian data), plain or ``.gz``.

    Looks for ``path`` and ``path + '.gz'``. Returns an array of the stored dtype and shape.
    """
    path = Path(path)
    candidates = [path, path.with_name(path.name + ".gz")] if path.suffix != ".gz" else [path, path.with_suffix("")]
    found = next((p for p in candidates if p.exists()), None)
    if found is None:
        raise _missing(path, "Download the IDX files into that folder (e.g. torchvision's MNIST(root, download=True)).")
    fix = "delete it and download it again"
    opener = gzip.open if found.suffix == ".gz" else open
    try:
        with opener(found, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:  # truncated or corrupt gzip stream
        raise DataError(f"{found} is corrupt or truncated ({err}): {fix}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{found} is not an IDX file (bad magic number): {fix}")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if data[2] not in dtypes:
        raise DataError(f"{found} has an unknown IDX data type 0x{data[2]:02x}: {fix}")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    size = np.dtype(dtypes[data[2]]).itemsize
    body = data[4 + 4 * ndim :]
    if len(body) != int(np.prod(shape)) * size:
        raise DataError(f"{found} is truncated: header says {shape}, file holds {len(body) // size} values; {fix}")
    array = np.frombuffer(body, dtype=dtypes[data[2]])
    return array.reshape(shape).astype(dtypes[data[2]][1:])


def _normalise(images: np.ndarray, name: str) -> Tensor:
    """uint8 images [N, H, W] or [N, H, W, C] → normalised float32 [N, C, H, W]."""
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255)
    x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2).contiguous()
    mean, std = NORMALIZATION[name]
    return (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)


def _from_arrays(images: np.ndarray, labels: np.ndarray, name: str, num_classes: int) -> IndexedDataset:
    mean, std = NORMALIZATION[name]
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    return IndexedDataset(_normalise(images, name), y, torch.arange(len(y)), num_classes, name, None, mean, std, CLASS_NAMES.get(name))


def _load_idx_dataset(folder: Path, train: bool, name: str, how: str) -> IndexedDataset:
    prefix = "train" if train else "t10k"
    try:
        images = read_idx(folder / f"{prefix}-images-idx3-ubyte")
        labels = read_idx(folder / f"{prefix}-labels-idx1-ubyte")
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{err} {how}") from None
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{folder}: {images.shape[0]} images but {labels.shape[0]} labels; download both files again")
    return _from_arrays(images, labels, name, 10)


def load_mnist(root: str | os.PathLike | None = None, train: bool = True, download: bool = False) -> IndexedDataset:
    """MNIST from ``<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``.

    ``root`` defaults to ``$CURVLIB_DATA_ROOT``. With ``download=True`` missing files are fetched
    by torchvision. Returns 60,000 (train) or 10,000 (test) normalised 1×28×28 images.
    """
    root = resolve_data_root(root)
    if download:
        import_torchvision().datasets.MNIST(str(root), train=train, download=True)
    how = "Get MNIST with curvlib.data.load_mnist(root, download=True) on a machine with internet."
    return _load_idx_dataset(root / "MNIST" / "raw", train, "mnist", how)


# Where Debian's package dataset-fashion-mnist installs the four IDX files.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def load_fashion_mnist(root: str | os.PathLike | None = None, train: bool = True, download: bool = False) -> IndexedDataset:
    """Fashion-MNIST from ``<root>/FashionMNIST/raw/`` (torchvision's layout, IDX files, plain or .gz),
    else from :data:`DEBIAN_FASHION_MNIST` (``apt-get install dataset-fashion-mnist``).

    ``root`` defaults to ``$CURVLIB_DATA_ROOT``; with neither set, only the Debian folder is tried.
    With ``download=True`` torchvision's FashionMNIST fetches missing files into ``root`` first.
    """
    how = (
        "Get it with curvlib.data.load_fashion_mnist(root, download=True) on a machine with internet, "
        "or `apt-get install dataset-fashion-mnist`."
    )
    prefix = "train" if train else "t10k"
    if download:
        import_torchvision().datasets.FashionMNIST(str(resolve_data_root(root)), train=train, download=True)
    folders = [] if root is None and "CURVLIB_DATA_ROOT" not in os.environ else [resolve_data_root(root) / "FashionMNIST" / "raw"]
    folders.append(DEBIAN_FASHION_MNIST)
    found = [f for f in folders if any((f / f"{prefix}-images-idx3-ubyte{gz}").exists() for gz in ("", ".gz"))]
    return _load_idx_dataset(found[0] if found else folders[0], train, "fashion_mnist", how)


def load_cifar(
    root: str | os.PathLike | None = None, name: str = "cifar10", train: bool = True, download: bool = False
) -> IndexedDataset:
    """CIFAR-10 or CIFAR-100 from torchvision's on-disk layout (the python pickle batches).

    Reads ``<root>/cifar-10-batches-py/{data_batch_1..5,test_batch}`` or
    ``<root>/cifar-100-python/{train,test}`` (fine labels). With ``download=True`` torchvision's
    CIFAR10/CIFAR100 fetch and extract the archive first.
    """
    if name not in ("cifar10", "cifar100"):
        raise ValueError(f"name must be 'cifar10' or 'cifar100'; got {name!r}")
    root = resolve_data_root(root)
    if download:
        cls = "CIFAR10" if name == "cifar10" else "CIFAR100"
        getattr(import_torchvision().datasets, cls)(str(root), train=train, download=True)
    if name == "cifar10":
        folder, files, key = root / "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "labels"
        files = files if train else ["test_batch"]
    else:
        folder, files, key = root / "cifar-100-python", ["train" if train else "test"], "fine_labels"
    images, labels = [], []
    for file in files:
        path = folder / file
        if not path.exists():
            raise FileNotFoundError(
                f"{path} not found. Get {name} with curvlib.data.load_cifar(root, {name!r}, download=True) "
                "on a machine with internet, or extract the python version of the archive under the data root."
            )
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="latin1")
        images.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.extend(batch[key])
    return _from_arrays(np.concatenate(images), np.asarray(labels), name, 10 if name == "cifar10" else 100)


class ImageFolderDataset(Dataset):
    """ImageNet-style class folders (``<root>/<split>/<class>/<image>``) read lazily by torchvision.

    Yields (x, y, index): x resized to ``image_size`` (shorter side to 8/7 of it, centre crop) and
    normalised with ImageNet statistics; index = position in torchvision's sorted file list.
    """

    def __init__(self, folder: Path, image_size: int = 224):
        tv = import_torchvision()
        t = tv.transforms
        mean, std = NORMALIZATION["imagenet"]
        self.mean, self.std, self.name = mean, std, "imagenet"
        transform = t.Compose([t.Resize(image_size * 8 // 7), t.CenterCrop(image_size), t.ToTensor(), t.Normalize(mean, std)])
        self.folder = tv.datasets.ImageFolder(str(folder), transform=transform)
        self.y = torch.as_tensor(self.folder.targets, dtype=torch.long)
        self.true_y = self.y.clone()
        self.index = torch.arange(len(self.y))
        self.num_classes = len(self.folder.classes)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor, Tensor]:
        return self.folder[i][0], self.y[i], self.index[i]


def load_imagenet_folder(root: str | os.PathLike | None = None, train: bool = True, image_size: int = 224) -> ImageFolderDataset:
    """ImageNet (or any class-folder image set) from ``<root>/imagenet/{train,val}/<class>/*``."""
    folder = resolve_data_root(root) / "imagenet" / ("train" if train else "val")
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} not found. ImageNet cannot be downloaded automatically: get it from image-net.org and "
            "arrange it as <data_root>/imagenet/{train,val}/<class>/<image> (one folder per class)."
        )
    return ImageFolderDataset(folder, image_size)


def stratified_subset(labels, size: int, seed: int) -> np.ndarray:
    """Sorted positions of a seeded subset of ``size`` samples with each class's share preserved.

    Each class gets floor(size · share) samples, then the largest remainders get one more.
    """
    labels = np.asarray(labels)
    if not 1 <= size <= labels.size:
        raise ValueError(f"subset size must be in [1, {labels.size}]; got {size}")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * size / labels.size
    take = np.floor(exact).astype(int)
    take[np.argsort(-(exact - take), kind="stable")[: size - take.sum()]] += 1
    chosen = [rng.choice(np.flatnonzero(labels == c), t, replace=False) for c, t in zip(classes, take)]
    return np.sort(np.concatenate(chosen))


def load_digits(train: bool = True, seed: int = 0) -> IndexedDataset:
    """scikit-learn's 8×8 digits (1,797 images, pixel values 0–16) as 1×8×8 images.

    There is no official split: a stratified 75% / 25% split with ``seed`` gives train / test;
    index = position in ``sklearn.datasets.load_digits()``.
    """
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    train_pos = stratified_subset(bunch.target, 1347, seed)
    pos = train_pos if train else np.setdiff1d(np.arange(len(bunch.target)), train_pos)
    data = _from_arrays((bunch.images * (255 / 16)).round().astype(np.uint8), bunch.target, "digits", 10)
    return data.select(pos)


def make_toy_two_class(
    n_per_class: int = 15, test_per_class: int = 100, flip_rate: float = 0.3, seed: int = 0
) -> tuple[IndexedDataset, IndexedDataset]:
    """The paper's toy problem (its generator is unpublished; this choice is documented in the book).

    Two 2-D Gaussian classes, centres (−1.5, 0) and (+1.5, 0), isotropic std 0.6. Returns
    (train, test): ``n_per_class`` training points per class with round(flip_rate · N) labels
    flipped by :func:`inject_label_noise`, and ``test_per_class`` clean test points per class.
    """
    rng = np.random.default_rng(seed)

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.repeat([0, 1], n)
        x = rng.normal(0.0, 0.6, size=(2 * n, 2)) + np.stack([3.0 * y - 1.5, np.zeros(2 * n)], axis=1)
        return x.astype(np.float32), y

    def as_dataset(x: np.ndarray, y: np.ndarray) -> IndexedDataset:
        y = torch.as_tensor(y, dtype=torch.long)
        return IndexedDataset(torch.from_numpy(x), y, torch.arange(len(y)), 2, "toy")

    train, test = as_dataset(*sample(n_per_class)), as_dataset(*sample(test_per_class))
    noisy, _ = inject_label_noise(train.y, flip_rate, 2, seed)
    return train.with_labels(noisy), test


def inject_label_noise(labels, rate: float, num_classes: int, seed: int) -> tuple[Tensor, Tensor]:
    """Move exactly round(rate · N) labels, chosen uniformly, to a uniformly drawn *different* class.

    Returns (new_labels, mask) where mask[i] is True for the changed labels.

    Example:
        >>> y, mask = inject_label_noise(torch.zeros(100, dtype=torch.long), 0.1, 10, seed=0)
        >>> int(mask.sum()), bool((y[mask] != 0).all())
        (10, True)
    """
    labels = torch.as_tensor(labels, dtype=torch.long)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"noise rate must be in [0, 1]; got {rate}")
    if num_classes < 2:
        raise ValueError(f"label noise needs at least 2 classes; got num_classes={num_classes}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}); got [{int(labels.min())}, {int(labels.max())}]")
    rng = np.random.default_rng(seed)
    n_noisy = int(round(rate * labels.numel()))
    chosen = torch.as_tensor(rng.choice(labels.numel(), n_noisy, replace=False), dtype=torch.long)
    shift = torch.as_tensor(rng.integers(1, num_classes, n_noisy), dtype=torch.long)
    new = labels.clone()
    new[chosen] = (labels[chosen] + shift) % num_classes
    mask = torch.zeros(labels.numel(), dtype=torch.bool)
    mask[chosen] = True
    return new, mask


def inject_conflicting_duplicates(dataset: IndexedDataset, k: int, seed: int) -> tuple[IndexedDataset, np.ndarray]:
    """Append copies of k random samples, each with a uniformly drawn label different from the original's.

    The copies get new raw indices max(index)+1, …; their ``true_y`` keeps the original label, so
    ``is_noisy`` flags exactly the copies. Returns (dataset, pairs) with pairs [k, 2] holding
    (original index, copy index).
    """
    if not 1 <= k <= len(dataset):
        raise ValueError(f"k must be in [1, {len(dataset)}]; got {k}")
    rng = np.random.default_rng(seed)
    pos = torch.as_tensor(np.sort(rng.choice(len(dataset), k, replace=False)), dtype=torch.long)
    copies = dataset.select(pos)
    new_labels, _ = inject_label_noise(copies.y, 1.0, dataset.num_classes, seed + 1)
    new_index = int(dataset.index.max()) + 1 + torch.arange(k)
    merged = IndexedDataset(
        torch.cat([dataset.x, copies.x]),
        torch.cat([dataset.y, new_labels]),
        torch.cat([dataset.index, new_index]),
        dataset.num_classes,
        dataset.name,
        torch.cat([dataset.true_y, copies.y]),
        dataset.mean,
        dataset.std,
        dataset.classes,
    )
    return merged, np.stack([dataset.index[pos].numpy(), new_index.numpy()], axis=1)


def load_label_errors(root: str | os.PathLike | None = None, name: str = "mnist") -> dict[str, np.ndarray]:
    """Known real label errors of a training split: ``<root>/label_errors/<name>_train.json`` with lists of dataset
    indices under "blatant" and "less_blatant" (the MNIST list of the confident-learning authors, checked by eye).

    Returns {"blatant": indices, "less_blatant": indices, "all": both, sorted}; FileNotFoundError names the file.

    Example:
        >>> errors = load_label_errors("../shared/data")
        >>> len(errors["all"])
        20
    """
    path = resolve_data_root(root) / "label_errors" / f"{name}_train.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: the known label errors of {name} are read from <data_root>/label_errors/")
    found = json.loads(path.read_text())
    lists = {key: np.asarray(sorted(found.get(key, [])), dtype=int) for key in ("blatant", "less_blatant")}
    return {**lists, "all": np.sort(np.concatenate(list(lists.values())))}


DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100", "digits", "imagenet")


def load_dataset(
    name: str, root: str | os.PathLike | None = None, *, train: bool = True, subset: int | None = None,
    seed: int = 0, download: bool = False,
) -> IndexedDataset | ImageFolderDataset:
    """Load one of :data:`DATASETS` by name, optionally a stratified seeded ``subset`` of it.

    Example:
        >>> train = load_dataset("mnist", "../shared/data", subset=10000, seed=0)
    """  # fmt: skip
    if name == "mnist":
        data = load_mnist(root, train, download)
    elif name == "fashion_mnist":
        data = load_fashion_mnist(root, train, download)
    elif name in ("cifar10", "cifar100"):
        data = load_cifar(root, name, train, download)
    elif name == "digits":
        data = load_digits(train, seed)
    elif name == "imagenet":
        if subset is not None:
            raise ValueError("subset is not supported for ImageNet folders; select files on disk instead")
        return load_imagenet_folder(root, train)
    else:
        raise ValueError(f"unknown dataset {name!r}; choose one of {DATASETS}")
    return take_subset(data, subset, seed)


def take_subset(data: IndexedDataset, subset: int | None, seed: int) -> IndexedDataset:
    """``data`` itself (``subset`` None or equal to its size) or a stratified seeded subset of it;
    a DataError if ``subset`` is not in [1, len(data)]."""
    if subset is None or subset == len(data):
        return data
    if not 1 <= subset <= len(data):
        raise DataError(f"subset {subset} is not in [1, {len(data)}], the size of {data.name}: use --subset all or a smaller number", "--subset")
    return data.select(stratified_subset(data.y.numpy(), subset, seed))

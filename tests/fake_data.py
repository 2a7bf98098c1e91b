"""Data that cannot exist on the CI machine, written in its real on-disk format (for the paper profile's smoke runs)."""
import os
import pickle
import shutil
import sys
from pathlib import Path

import numpy as np


def write_cifar(root: Path, name: str, train_per_class: int, test_per_class: int, seed: int = 0) -> None:
    """Random 32×32 colour images in torchvision's CIFAR python layout: ``cifar-10-batches-py/data_batch_1..5``
    and ``test_batch`` (key ``labels``), or ``cifar-100-python/train`` and ``test`` (keys ``fine_labels`` and
    ``coarse_labels``), ``train_per_class`` and ``test_per_class`` images of every class."""
    rng = np.random.default_rng(seed)
    classes = 10 if name == "cifar10" else 100

    def batch(per_class: int) -> dict:
        labels = np.repeat(np.arange(classes), per_class)
        rng.shuffle(labels)
        data = rng.integers(0, 256, (labels.size, 3 * 32 * 32), dtype=np.uint8)
        if name == "cifar10":
            return {"data": data, "labels": labels.tolist()}
        return {"data": data, "fine_labels": labels.tolist(), "coarse_labels": (labels // 5).tolist()}

    if name == "cifar10":
        folder = root / "cifar-10-batches-py"
        folder.mkdir(parents=True)
        for i in range(1, 6):  # five batches, as torchvision writes them
            (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch(max(1, train_per_class // 5))))
        (folder / "test_batch").write_bytes(pickle.dumps(batch(test_per_class)))
    else:
        folder = root / "cifar-100-python"
        folder.mkdir(parents=True)
        (folder / "train").write_bytes(pickle.dumps(batch(train_per_class)))
        (folder / "test").write_bytes(pickle.dumps(batch(test_per_class)))


def smoke_data_root(folder: Path, real_root: str | os.PathLike) -> Path:
    """A data root for the paper profile at smoke scale: the real MNIST, Fashion-MNIST and label errors of ``real_root`` (linked)
    and fake CIFAR-10 (1,500 training images) and CIFAR-100 (1,200) in their real format."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("MNIST", "FashionMNIST", "label_errors"):
        if (Path(real_root) / name).exists():
            (folder / name).symlink_to(Path(real_root).resolve() / name)
    write_cifar(folder, "cifar10", train_per_class=150, test_per_class=30)
    write_cifar(folder, "cifar100", train_per_class=12, test_per_class=3)
    return folder


if __name__ == "__main__":  # python tests/fake_data.py DIR: a fresh smoke data root (real data from $CURVLIB_DATA_ROOT)
    target = Path(sys.argv[1])
    shutil.rmtree(target, ignore_errors=True)
    print(smoke_data_root(target, os.environ.get("CURVLIB_DATA_ROOT", Path(__file__).resolve().parents[2] / "shared" / "data")))

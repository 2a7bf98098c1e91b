import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from curvlib import data


def write_idx(path, array, compress):
    codes = {np.uint8: 0x08}
    header = bytes([0, 0, codes[array.dtype.type], array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    payload = header + array.tobytes()
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


@pytest.fixture
def idx_root(tmp_path):
    rng = np.random.default_rng(0)
    for folder, compress in (("MNIST", True), ("FashionMNIST", False)):
        raw = tmp_path / folder / "raw"
        raw.mkdir(parents=True)
        for prefix, n in (("train", 30), ("t10k", 10)):
            write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), compress)
            write_idx(raw / f"{prefix}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8), compress)
    return tmp_path


def test_mnist_idx_gz_and_raw(idx_root):
    images = data.read_idx(idx_root / "MNIST" / "raw" / "train-images-idx3-ubyte")
    train = data.load_mnist(idx_root, train=True)
    assert len(train) == 30 and train.x.shape == (30, 1, 28, 28) and train.x.dtype == torch.float32
    expected = (images[3] / 255.0 - 0.1307) / 0.3081
    np.testing.assert_allclose(train.x[3, 0].numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(train.index.numpy(), np.arange(30))  # raw order kept
    np.testing.assert_allclose(train.pixels([3])[0], images[3] / 255.0, atol=1e-6)
    fashion = data.load_fashion_mnist(idx_root, train=False)
    assert len(fashion) == 10 and fashion.y.tolist() == list(range(10))


def test_data_root_from_environment(idx_root, monkeypatch):
    monkeypatch.setenv("CURVLIB_DATA_ROOT", str(idx_root))
    assert len(data.load_dataset("mnist", train=False)) == 10
    monkeypatch.delenv("CURVLIB_DATA_ROOT")
    with pytest.raises(ValueError, match="CURVLIB_DATA_ROOT"):
        data.load_mnist()


def test_missing_and_corrupt_files_explain_themselves(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"MNIST/raw/train-images-idx3-ubyte.*download=True"):
        data.load_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py.*download=True"):
        data.load_cifar(tmp_path, "cifar10")
    with pytest.raises(FileNotFoundError, match="image-net.org"):
        data.load_imagenet_folder(tmp_path)
    bad = tmp_path / "bad-idx"
    bad.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="bad magic"):
        data.read_idx(bad)


def test_cifar_pickles(tmp_path):
    rng = np.random.default_rng(0)
    c10 = tmp_path / "cifar-10-batches-py"
    c10.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 9]}
        (c10 / name).write_bytes(pickle.dumps(batch))
    c100 = tmp_path / "cifar-100-python"
    c100.mkdir()
    first = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
    (c100 / "train").write_bytes(pickle.dumps({"data": first, "fine_labels": [5, 99, 0], "coarse_labels": [1, 2, 3]}))
    train10 = data.load_cifar(tmp_path, "cifar10")
    assert train10.x.shape == (20, 3, 32, 32) and train10.num_classes == 10
    assert train10.classes[train10.y[3]] == "truck" and train10.select([3]).classes == train10.classes  # names by label, kept by a subset
    c100_train = data.load_cifar(tmp_path, "cifar100")
    assert c100_train.y.tolist() == [5, 99, 0] and c100_train.num_classes == 100 and c100_train.classes is None
    # channel-first layout of the pickles is undone: pixel (row 0, col 1) of the red plane
    np.testing.assert_allclose(c100_train.pixels([0])[0][0, 1, 0], first[0, 1] / 255.0, atol=1e-6)


def test_imagenet_folder(tmp_path):
    for cls, colour in (("n01", (255, 0, 0)), ("n02", (0, 0, 255))):
        folder = tmp_path / "imagenet" / "train" / cls
        folder.mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (40, 30), colour).save(folder / f"img{i}.png")
    ds = data.load_imagenet_folder(tmp_path, image_size=16)
    x, y, index = ds[3]
    assert x.shape == (3, 16, 16) and int(y) == 1 and int(index) == 3 and ds.num_classes == 2
    assert x[2].mean() > x[0].mean()  # blue image


def test_digits_split_and_subset():
    train, test = data.load_digits(train=True), data.load_digits(train=False)
    assert len(train) + len(test) == 1797
    assert not set(train.index.tolist()) & set(test.index.tolist())
    sub = data.stratified_subset(train.y.numpy(), 100, seed=3)
    counts = np.bincount(train.y.numpy()[sub], minlength=10)
    assert sub.size == 100 and counts.min() >= 9 and counts.max() <= 11
    np.testing.assert_array_equal(sub, data.stratified_subset(train.y.numpy(), 100, seed=3))


def test_inject_label_noise_exact_count_and_other_class():
    labels = torch.arange(1000) % 10
    noisy, mask = data.inject_label_noise(labels, 0.05, 10, seed=1)
    assert int(mask.sum()) == 50
    assert bool((noisy[mask] != labels[mask]).all()) and bool((noisy[~mask] == labels[~mask]).all())
    assert int(noisy.max()) < 10 and int(noisy.min()) >= 0
    again, _ = data.inject_label_noise(labels, 0.05, 10, seed=1)
    assert torch.equal(noisy, again)
    assert len(set(noisy[mask].tolist())) > 5  # targets spread over classes
    with pytest.raises(ValueError, match="labels must lie"):
        data.inject_label_noise(torch.tensor([0, 12]), 0.5, 10, seed=0)


def test_conflicting_duplicates():
    base = data.load_digits(train=False)
    merged, pairs = data.inject_conflicting_duplicates(base, 7, seed=0)
    assert len(merged) == len(base) + 7 and pairs.shape == (7, 2)
    pos = {int(i): p for p, i in enumerate(merged.index.tolist())}
    for orig, copy in pairs:
        assert torch.equal(merged.x[pos[orig]], merged.x[pos[copy]])
        assert merged.y[pos[orig]] != merged.y[pos[copy]]
    assert merged.is_noisy.sum() == 7 and set(merged.index[merged.is_noisy].tolist()) == set(pairs[:, 1].tolist())


def test_toy_problem():
    train, test = data.make_toy_two_class(seed=0)
    assert len(train) == 30 and len(test) == 200
    assert int(train.is_noisy.sum()) == 9 and int(test.is_noisy.sum()) == 0


def test_dataset_rejects_bad_labels():
    with pytest.raises(ValueError, match="labels must lie"):
        data.IndexedDataset(torch.zeros(2, 3), torch.tensor([0, 5]), torch.arange(2), num_classes=3)
    with pytest.raises(ValueError, match="index must have shape"):
        data.IndexedDataset(torch.zeros(2, 3), torch.tensor([0, 1]), torch.arange(3), num_classes=3)


def test_fashion_mnist_falls_back_to_debians_folder(idx_root, tmp_path, monkeypatch):
    debian = idx_root / "FashionMNIST" / "raw"  # stands in for /usr/share/datasets/fashion-mnist
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", debian)
    monkeypatch.delenv("CURVLIB_DATA_ROOT", raising=False)
    fashion = data.load_fashion_mnist(None, train=True)
    assert len(fashion) == 30 and fashion.classes[6] == "Shirt"  # no data root at all; the classes named as torchvision names them
    empty = tmp_path / "empty-root"
    empty.mkdir()
    assert len(data.load_fashion_mnist(empty, train=False)) == 10  # a data root without Fashion-MNIST
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        data.load_fashion_mnist(empty)


def test_truncated_gzip_and_subset_larger_than_the_data(idx_root):
    path = idx_root / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(data.DataError, match="corrupt or truncated.*download it again"):
        data.read_idx(path)
    with pytest.raises(data.DataError, match="subset 40 is not in \\[1, 30\\]") as err:
        data.take_subset(data.load_fashion_mnist(idx_root), 40, seed=0)
    assert err.value.option == "--subset"


def test_known_label_errors(tmp_path):
    (tmp_path / "label_errors").mkdir()
    (tmp_path / "label_errors" / "mnist_train.json").write_text('{"blatant": [9, 3], "less_blatant": [5], "caveat": "x"}')
    errors = data.load_label_errors(tmp_path)
    assert errors["blatant"].tolist() == [3, 9] and errors["all"].tolist() == [3, 5, 9]
    with pytest.raises(FileNotFoundError, match="label_errors"):
        data.load_label_errors(tmp_path, "fashion_mnist")


def test_the_shipped_mnist_errors_are_real_mnist_indices():
    root = os.environ.get("CURVLIB_DATA_ROOT")
    if root is None or not (Path(root) / "label_errors").exists():
        pytest.skip("needs the shared data (CURVLIB_DATA_ROOT)")
    errors = data.load_label_errors(root)
    mnist = data.load_mnist(root)
    assert len(errors["all"]) == 20 and errors["all"].max() < len(mnist)
    assert mnist.y[40144].item() == 5 and mnist.y[59915].item() == 4  # the README's examples: a 3 labelled 5, a 7 labelled 4

"""Own data: image folders, npz and CSV files are read in source order with inferred shape and normalisation."""
import numpy as np
import pytest
import torch
from PIL import Image

from curvlib.data import DataError
from curvlib.userdata import dataset_from_arrays, describe, load_own_data


def write_folder(root, images, labels, names=("cat", "dog", "eel"), mode="L"):
    """Save uint8 images as PNGs in root/<class name>/<i>.png; returns the folder."""
    for i, (img, y) in enumerate(zip(images, labels)):
        (root / names[y]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).convert(mode).save(root / names[y] / f"{i:03d}.png")
    return root


def test_image_folder_order_classes_and_normalisation(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (9, 6, 5), dtype=np.uint8)
    labels = np.array([2, 0, 1, 0, 2, 1, 1, 0, 2])
    data = load_own_data(write_folder(tmp_path / "imgs", images, labels))
    assert data.classes == ("cat", "dog", "eel") and data.num_classes == 3
    order = np.argsort(labels, kind="stable")  # class folders in sorted order, files sorted within each
    np.testing.assert_array_equal(data.y.numpy(), labels[order])
    np.testing.assert_array_equal(data.index.numpy(), np.arange(9))
    assert tuple(data.x.shape) == (9, 1, 6, 5)
    np.testing.assert_allclose(data.pixels(range(9)), images[order] / 255, atol=1e-6)  # normalisation undone exactly
    assert abs(float(data.x.mean())) < 1e-5 and abs(float(data.x.std()) - 1) < 1e-3
    info = describe(data)
    assert info["input_shape"] == [1, 6, 5] and info["classes"] == ["cat", "dog", "eel"]


def test_colour_images_and_odd_sizes_are_resized_to_the_common_size(tmp_path):
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for _ in range(4)] + [rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)]
    root = tmp_path / "rgb"
    for i, (img, name) in enumerate(zip(images, ["a", "a", "b", "b", "b"])):
        (root / name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / name / f"{i}.png")
    data = load_own_data(root)
    assert tuple(data.x.shape) == (5, 3, 8, 8) and len(data.mean) == 3


def test_npz_layouts(tmp_path):
    rng = np.random.default_rng(2)
    y = np.array([0, 1, 2, 1])
    nhwc = rng.integers(0, 256, (4, 6, 6, 3), dtype=np.uint8)
    np.savez(tmp_path / "a.npz", x=nhwc, y=y, classes=np.array(["x", "y", "z"]))
    data = load_own_data(tmp_path / "a.npz")
    assert tuple(data.x.shape) == (4, 3, 6, 6) and data.classes == ("x", "y", "z")
    np.testing.assert_allclose(data.pixels(range(4)), nhwc / 255, atol=1e-6)
    flat = dataset_from_arrays(rng.normal(size=(4, 5)), y.astype(float))  # features and whole-number float labels
    assert tuple(flat.x.shape) == (4, 5) and flat.y.dtype == torch.long


def test_csv_of_paths(tmp_path):
    rng = np.random.default_rng(3)
    (tmp_path / "img").mkdir()
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (5, 5), dtype=np.uint8)).save(tmp_path / "img" / f"{i}.png")
    (tmp_path / "list.csv").write_text("path,label\n" + "".join(f"img/{i}.png,{i % 2}\n" for i in (3, 1, 0, 2)))
    data = load_own_data(tmp_path / "list.csv")
    np.testing.assert_array_equal(data.y.numpy(), [1, 1, 0, 0])  # CSV row order
    assert tuple(data.x.shape) == (4, 1, 5, 5)


@pytest.mark.parametrize("x, y, message", [
    (np.zeros((3, 4, 4)), np.array([0.5, 1, 0]), "must be integers"),
    (np.zeros((3, 4, 4)), np.array([0, -1, 1]), ">= 0"),
    (np.zeros((3, 4, 4)), np.array([1, 1, 1]), "at least 2 classes"),
    (np.array([[[np.nan]], [[0.0]], [[1.0]]]), np.array([0, 1, 0]), "NaN or infinite values in 1 samples \\(first: sample 0\\)"),
    (np.zeros((3, 4, 4)), np.array([0, 1]), "3 samples in x but 2 labels"),
])  # fmt: skip
def test_bad_arrays_are_refused_with_the_fix(x, y, message):
    with pytest.raises(DataError, match=message):
        dataset_from_arrays(x, y)


def test_labels_beyond_the_class_names(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros((3, 4, 4), np.uint8), y=np.array([0, 1, 5]), classes=np.array(["a", "b", "c"]))
    with pytest.raises(DataError, match="label 5 at sample 2 is out of range for the 3 class names"):
        load_own_data(tmp_path / "a.npz")


def test_feature_vectors_record_their_per_feature_normalisation():
    """Feature vectors are normalised per feature, and that is what the dataset (and a run's config.json) records."""
    rng = np.random.default_rng(4)
    x = rng.normal(loc=[0.0, 10.0, -5.0], scale=[1.0, 3.0, 0.5], size=(200, 3))
    data = dataset_from_arrays(x, rng.integers(0, 2, 200))
    np.testing.assert_allclose(data.mean, x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(data.std, x.std(axis=0, ddof=1), rtol=1e-4)
    np.testing.assert_allclose(data.x.numpy() * np.array(data.std) + np.array(data.mean), x, atol=1e-4)
    assert describe(data)["normalisation"]["mean"] == list(data.mean) and not data.is_image
    with pytest.raises(ValueError, match="no pixels"):
        data.pixels([0])


def test_fingerprint_follows_the_data_not_the_path():
    x, y = np.arange(48, dtype=np.uint8).reshape(3, 4, 4), np.array([0, 1, 0])
    a, b = dataset_from_arrays(x, y, source="one.npz"), dataset_from_arrays(x, y, source="two.npz")
    assert a.fingerprint() == b.fingerprint()
    assert dataset_from_arrays(x, np.array([0, 1, 1])).fingerprint() != a.fingerprint()
    assert dataset_from_arrays(x[::-1].copy(), y[::-1].copy()).fingerprint() != a.fingerprint()

from dataclasses import replace

import numpy as np
import pytest
from torch import nn

from curvlib.data import inject_label_noise, load_digits
from curvlib.memorization import (
    FZResult, align_imagenet_by_filename, align_to_torchvision, feldman_zhang, find_conflicting_duplicates,
    load_feldman_zhang_scores, subset_membership, train_ensemble,
)  # fmt: skip
from curvlib.models import mlp
from curvlib.training import TrainConfig

CONFIG = TrainConfig(epochs=25, batch_size=32, lr=0.1, schedule="onecycle", score_every=0, score_batch_size=512)


def _make():
    return mlp(64, 10, hidden=(128,))


def test_rates_and_standard_error_by_hand():
    membership = np.array([[1, 0], [1, 1], [0, 1], [0, 0]], dtype=bool)
    correct = np.array([[1, 1], [1, 0], [0, 1], [1, 0]], dtype=bool)
    fz = FZResult(np.array([5, 6]), membership, correct)
    np.testing.assert_allclose(fz.acc_in, [1.0, 0.5])
    np.testing.assert_allclose(fz.acc_out, [0.5, 0.5])
    np.testing.assert_allclose(fz.memorization, [0.5, 0.0])
    np.testing.assert_allclose(fz.standard_error, [np.sqrt(0.25 / 2), np.sqrt(0.25 / 2 + 0.25 / 2)])
    assert fz.to_table()["index"].tolist() == [5, 6]


def test_membership_is_seeded_and_sized():
    a = subset_membership(100, 4, 0.7, seed=3)
    assert a.shape == (4, 100) and (a.sum(1) == 70).all()
    np.testing.assert_array_equal(a[2:], subset_membership(100, 2, 0.7, seed=3, first=2))
    assert not np.array_equal(a[0], a[1])


@pytest.fixture(scope="module")
def noisy_digits():
    data = load_digits(train=True)
    noisy, mask = inject_label_noise(data.y, 0.1, 10, seed=0)
    return data.with_labels(noisy), mask.numpy()


def test_flipped_labels_are_memorised_clean_ones_are_not(noisy_digits, tmp_path):
    data, mask = noisy_digits
    fz = feldman_zhang(data, _make, CONFIG, n_models=24, group_size=12, seed=0, checkpoint_dir=tmp_path)
    mem = fz.memorization
    assert fz.membership.shape == (24, len(data))
    assert np.isnan(mem).sum() <= 3  # NaN only where no model left the sample out (or in)
    assert np.nanmean(mem[mask]) > 0.6  # memorised when seen, predicted as the true class when not
    assert abs(np.nanmean(mem[~mask])) < 0.15  # easy clean digits are learned either way
    assert len(list(tmp_path.glob("group-*.npz"))) == 2


def test_resume_reads_finished_groups(noisy_digits, tmp_path):
    data, _ = noisy_digits
    first = feldman_zhang(data, _make, CONFIG, n_models=4, group_size=2, seed=1, checkpoint_dir=tmp_path)
    (tmp_path / "group-00001.npz").unlink()  # as if killed during the second group
    resumed = feldman_zhang(data, _make, CONFIG, n_models=4, group_size=2, seed=1, checkpoint_dir=tmp_path)
    np.testing.assert_array_equal(resumed.membership, first.membership)
    np.testing.assert_array_equal(resumed.correct, first.correct)  # the retrained group is deterministic


def test_vectorised_ensemble_matches_the_loop_statistically(noisy_digits):
    data, _ = noisy_digits
    membership = subset_membership(len(data), 3, 0.7, seed=0)
    config = TrainConfig(epochs=5, batch_size=64, lr=0.05, schedule="constant", score_every=0)
    vec = train_ensemble(_make, data, membership, config, seed=0, vectorize=True).correct
    loop = train_ensemble(_make, data, membership, config, seed=0, vectorize=False).correct
    assert vec.shape == loop.shape == (3, len(data))
    assert abs(vec.mean() - loop.mean()) < 0.05  # same recipe, different batch orders


def test_batchnorm_models_fall_back_to_the_loop(noisy_digits):
    data, _ = noisy_digits
    small = data.select(np.arange(200))
    make = lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10))  # noqa: E731
    out = train_ensemble(make, small, subset_membership(200, 2, 0.7, 0), TrainConfig(epochs=2, score_every=0), seed=0,
                         test=data.select(np.arange(200, 250)), keep_logits=True)
    assert out.correct.shape == (2, 200) and out.test_correct.shape == (2, 50) and out.logits.shape == (2, 200, 10)
    np.testing.assert_array_equal(out.logits.argmax(-1) == small.y.numpy(), out.correct)
    with pytest.raises(ValueError, match="without BatchNorm"):
        train_ensemble(make, small, subset_membership(200, 2, 0.7, 0), TrainConfig(epochs=1, score_every=0), seed=0,
                       teacher_logits=out.logits)


def test_students_learn_their_own_teachers_predictions(noisy_digits):
    """A student distilled (w = 1) from teacher k reproduces teacher k's predictions on its subset, the
    teacher's fitted wrong labels included, and so disagrees with a teacher trained on another subset."""
    data, _ = noisy_digits
    membership = subset_membership(len(data), 2, 0.7, seed=0)
    teachers = train_ensemble(_make, data, membership, CONFIG, seed=0, keep_logits=True)
    students = train_ensemble(lambda: mlp(64, 10, hidden=(64,)), data, membership, CONFIG, seed=1,
                              teacher_logits=teachers.logits, keep_logits=True)
    own = [(students.logits[k].argmax(-1) == teachers.logits[k].argmax(-1))[membership[k]].mean() for k in range(2)]
    other = (students.logits[0].argmax(-1) == teachers.logits[1].argmax(-1))[membership[0] & ~membership[1]].mean()
    assert min(own) > 0.95 and other < min(own) - 0.03
    with pytest.raises(ValueError, match="teacher_logits"):
        feldman_zhang(data, _make, CONFIG, n_models=3, teacher_logits=teachers.logits)


def test_released_score_files(tmp_path):
    path = tmp_path / "cifar100_infl_matrix.npz"
    np.savez(path, tr_mem=np.array([0.1, 0.9]), tr_labels=np.array([3, 4]))
    scores = load_feldman_zhang_scores(path)
    np.testing.assert_array_equal(scores["tr_labels"], [3, 4])
    bad = tmp_path / "bad.npz"
    np.savez(bad, something=np.zeros(2))
    with pytest.raises(ValueError, match="tr_mem"):
        load_feldman_zhang_scores(bad)
    with pytest.raises(FileNotFoundError, match="pluskid"):
        load_feldman_zhang_scores(tmp_path / "missing.npz")
    (tmp_path / "garbage.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="readable"):
        load_feldman_zhang_scores(tmp_path / "garbage.npz")


def test_alignment_by_image_hash_breaks_ties_by_label():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 4, 4, 3), dtype=np.uint8)
    images[4] = images[1]  # a duplicate image with another label, as in CIFAR-100
    labels = np.array([0, 1, 2, 3, 7, 5])
    order = np.array([3, 4, 0, 5, 1, 2])  # "torchvision" order
    perm = align_to_torchvision(images, labels, images[order], labels[order])
    np.testing.assert_array_equal(images[order][perm], images)
    np.testing.assert_array_equal(labels[order][perm], labels)
    with pytest.raises(ValueError, match="no identical image"):
        align_to_torchvision(images, labels, images[order], (labels[order] + 1) % 10)
    names = [b"n01_2.JPEG", b"n01_1.JPEG"]
    np.testing.assert_array_equal(align_imagenet_by_filename(names, ["/x/n01/n01_1.JPEG", "/x/n01/n01_2.JPEG"]), [1, 0])


def test_conflicting_duplicates_found():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (50, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 50)
    images[10] = images[3]
    labels[10] = (labels[3] + 1) % 10  # exact duplicate, conflicting label
    images[20] = images[5]
    labels[20] = labels[5]  # duplicate with the same label: not a conflict
    images[30] = np.clip(images[7].astype(int) + 1, 0, 255).astype(np.uint8)  # near-exact copy
    labels[30] = (labels[7] + 2) % 10
    found = find_conflicting_duplicates(images, labels)
    pairs = {tuple(sorted(p)) for p in found[["first", "second"]].to_numpy().tolist()}
    assert (3, 10) in pairs and (5, 20) not in pairs
    assert (7, 30) in pairs or found.empty is False
    assert len(find_conflicting_duplicates(images, labels, tolerance=0.0)) >= 1


def test_vectorised_ensemble_augments_image_batches():
    """With augment the ensemble sees crops/flips: training on 8×8 images of one pixel gives other weights."""
    from curvlib.data import IndexedDataset
    import torch

    x = torch.zeros(40, 1, 8, 8)
    x[:, 0, 2, 3] = 1.0
    data = IndexedDataset(x, torch.arange(40) % 2, torch.arange(40), 2)
    membership = subset_membership(40, 2, 0.5, seed=0)
    make = lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 2))  # noqa: E731
    config = TrainConfig(epochs=2, batch_size=8, score_every=0)
    plain = train_ensemble(make, data, membership, config, seed=0, keep_logits=True).logits
    again = train_ensemble(make, data, membership, config, seed=0, keep_logits=True).logits
    augmented = train_ensemble(make, data, membership, replace(config, augment=True), seed=0, keep_logits=True).logits
    np.testing.assert_array_equal(plain, again)
    assert not np.allclose(plain, augmented)

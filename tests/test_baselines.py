import numpy as np
import torch

from curvlib.baselines import confident_learning_scores, dynamics_scores, ssft_scores
from curvlib.data import inject_label_noise, load_digits
from curvlib.metrics import auroc
from curvlib.models import mlp
from curvlib.training import TrainConfig, TrainRecords


def test_dynamics_scores_on_hand_made_records():
    loss = np.array([[2.0, 0.5], [1.0, 0.5], [0.0, 0.5]])  # [E=3, N=2]
    records = TrainRecords(
        index=np.array([10, 11]),
        train={
            "loss": loss, "correct": np.array([[0, 1], [1, 1], [1, 0]]), "margin": np.array([[-1, 2], [1, 2], [3, -1]]),
            "confidence": np.array([[0.5, 0.9], [0.6, 0.9], [0.7, 0.4]]),
            "curvature": np.array([[np.nan, np.nan], [1.0, 3.0], [3.0, 5.0]]),
            "grad_norm": np.array([[np.nan, np.nan], [2.0, 2.0], [4.0, 2.0]]),
        },
    )  # fmt: skip
    s = dynamics_scores(records)
    np.testing.assert_allclose(s["csl"], [3.0, 1.5])
    np.testing.assert_allclose(s["loss_mean"], [1.0, 0.5])
    np.testing.assert_allclose(s["loss_last"], [0.0, 0.5])
    np.testing.assert_allclose(s["curvature"], [2.0, 4.0])  # unscored epoch skipped
    np.testing.assert_allclose(s["curvature_last"], [3.0, 5.0])
    np.testing.assert_allclose(s["aum"], [-1.0, -1.0])
    np.testing.assert_allclose(s["in_confidence"], [0.3, 0.6])
    np.testing.assert_allclose(s["learning_time"], [1.0, 3.0])
    np.testing.assert_allclose(s["forgetting"], [0.0, 1.0])


def _noisy_digits():
    train = load_digits(train=True)
    noisy, mask = inject_label_noise(train.y, 0.1, 10, seed=0)
    return train.with_labels(noisy), mask.numpy()


def _make():
    return mlp(64, 10, hidden=(128,))


CONFIG = TrainConfig(epochs=8, batch_size=32, lr=0.05, schedule="constant", score_every=0)


def test_confident_learning_finds_flipped_labels():
    data, mask = _noisy_digits()
    torch.manual_seed(0)
    scores = confident_learning_scores(data, _make, CONFIG, folds=3, seed=0)
    assert scores.shape == (len(data),) and np.isfinite(scores).all()
    assert auroc(mask, scores) > 0.9  # out-of-sample models disagree with wrong labels


def test_confident_learning_resumes_from_finished_folds(tmp_path, monkeypatch):
    """An interrupted call keeps its finished folds: the rerun trains only the missing ones and scores the same."""
    from curvlib import baselines

    data, _ = _noisy_digits()
    full = confident_learning_scores(data, _make, CONFIG, folds=3, seed=0, checkpoint_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.npy")) == ["fold-0.npy", "fold-1.npy", "fold-2.npy"]
    kept = {p.name: float(p.read_text()) for p in tmp_path.glob("*.seconds")}
    assert sorted(kept) == ["fold-0.seconds", "fold-1.seconds", "fold-2.seconds"] and min(kept.values()) > 0
    (tmp_path / "fold-1.npy").unlink()  # as if interrupted while training fold 1
    trained = []
    real = baselines.train_and_score
    monkeypatch.setattr(baselines, "train_and_score", lambda *a, **k: trained.append(1) or real(*a, **k))
    again = confident_learning_scores(data, _make, CONFIG, folds=3, seed=0, checkpoint_dir=tmp_path)
    assert len(trained) == 1
    np.testing.assert_allclose(again, full)
    assert float((tmp_path / "fold-0.seconds").read_text()) == kept["fold-0.seconds"]  # a kept fold keeps its time


def test_ssft_finds_flipped_labels():
    data, mask = _noisy_digits()
    scores = ssft_scores(data, _make, CONFIG, seed=0)
    assert scores.min() >= 0 and scores.max() <= CONFIG.epochs
    assert auroc(mask, scores) > 0.8  # memorised wrong labels are forgotten first


def test_history_label_counts_other_classes_before_the_sample_is_fitted_and_breaks_ties_by_recency():
    from curvlib.baselines import history_label

    pred = np.array([[3, 1, 2, 4], [3, 1, 4, 4], [3, 2, 2, 4], [5, 2, 4, 4], [5, np.nan, 0, 4]])
    label, share = history_label(pred, np.array([5, 1, 0, 4]))
    assert label.tolist() == [3, 2, 4, -1]  # sample 2: classes 2 and 4 twice each before it is fitted, 4 seen last
    assert share.tolist() == [1.0, 0.4, 0.5, 0.0]  # sample 0: 3 in all 3 epochs before it stays fitted; sample 1: never fitted

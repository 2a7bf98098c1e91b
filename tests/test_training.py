import numpy as np
import pytest
import torch

from curvlib.baselines import dynamics_scores, forgetting_events, learning_time
from curvlib.data import load_digits
from curvlib.models import mlp, small_cnn
from curvlib.training import Distillation, TrainConfig, TrainRecords, augment_batch, train_and_score

CONFIG = TrainConfig(epochs=4, batch_size=64, lr=0.05, milestones=(3,), score_every=2, n_probes=2, score_batch_size=128)


@pytest.fixture(scope="module")
def digits():
    train = load_digits(train=True).select(np.arange(300))
    return train, load_digits(train=False).select(np.arange(100))


def _model(seed=0):
    torch.manual_seed(seed)
    return small_cnn(10, 1, 4)


def test_records_shapes_schedule_and_index(digits):
    train, test = digits
    records = train_and_score(_model(), train, CONFIG, test_set=test)
    assert records.train["loss"].shape == (4, 300) and records.test["probs"].shape == (4, 100, 10)
    np.testing.assert_array_equal(records.index, train.index.numpy())
    scored = np.isfinite(records.train["curvature"]).all(axis=1)
    assert scored.tolist() == [False, True, False, True]  # every 2nd epoch, and the last
    assert np.isfinite(records.average("curvature")).all() and (records.average("curvature") > 0).all()
    np.testing.assert_allclose(records.average("curvature"), np.nanmean(records.train["curvature"], axis=0))
    np.testing.assert_allclose(records.history["lr"], [0.05, 0.05, 0.05, 0.005])
    assert records.history["train_loss"][-1] < records.history["train_loss"][0]  # it learns
    back = TrainRecords.from_arrays(records.to_arrays())
    np.testing.assert_array_equal(back.train["curvature"], records.train["curvature"])


def test_eval_pass_is_unaffected_by_shuffling_order(digits):
    train, _ = digits
    perm = np.random.default_rng(0).permutation(len(train))
    a = train_and_score(_model(), train, TrainConfig(epochs=1, lr=1e-12, n_probes=2))
    b = train_and_score(_model(), train.select(perm), TrainConfig(epochs=1, lr=1e-12, n_probes=2))
    # with a negligible learning rate both runs score the same model: scores follow the dataset index
    order = np.argsort(b.index)
    np.testing.assert_allclose(a.train["curvature"][0], b.train["curvature"][0][order], rtol=1e-4)


def test_interrupted_run_resumes_to_identical_scores(digits, tmp_path):
    train, test = digits
    full = train_and_score(_model(), train, CONFIG, test_set=test)

    class Interrupt(Exception):
        pass

    ckpt = tmp_path / "ckpt.pt"
    model = _model()
    calls = {"n": 0}
    original_step = torch.optim.SGD.step

    def step_then_die(self, *args, **kwargs):  # kill the run in the middle of epoch 3
        calls["n"] += 1
        if calls["n"] == 2 * 5 + 3:  # 5 batches per epoch
            raise Interrupt
        return original_step(self, *args, **kwargs)

    torch.optim.SGD.step = step_then_die
    try:
        with pytest.raises(Interrupt):
            train_and_score(model, train, CONFIG, test_set=test, checkpoint=ckpt)
    finally:
        torch.optim.SGD.step = original_step
    assert ckpt.exists()
    resumed = train_and_score(_model(seed=123), train, CONFIG, test_set=test, checkpoint=ckpt)
    for name in ("curvature", "loss", "margin"):
        np.testing.assert_array_equal(resumed.train[name], full.train[name])
    np.testing.assert_array_equal(resumed.test["probs"], full.test["probs"])


@pytest.mark.parametrize("seconds, saved_epoch", [(float("inf"), 0), (0.0, 3)])
def test_checkpoint_is_written_after_the_first_epoch_then_at_most_every_checkpoint_seconds(digits, tmp_path, monkeypatch, seconds, saved_epoch):
    from curvlib import training

    monkeypatch.setattr(training, "CHECKPOINT_SECONDS", seconds)
    train, _ = digits
    train_and_score(_model(), train, CONFIG, checkpoint=tmp_path / "ckpt.pt")
    assert torch.load(tmp_path / "ckpt.pt", weights_only=False)["epoch"] == saved_epoch


def test_checkpoint_of_other_config_is_refused(digits, tmp_path):
    train, _ = digits
    ckpt = tmp_path / "ckpt.pt"
    train_and_score(_model(), train, TrainConfig(epochs=1, score_every=0), checkpoint=ckpt)
    with pytest.raises(ValueError, match="another config"):
        train_and_score(_model(), train, TrainConfig(epochs=2, score_every=0), checkpoint=ckpt)


def test_onecycle_and_augmentation_run(digits):
    train, _ = digits
    config = TrainConfig(epochs=2, schedule="onecycle", augment=True, score_every=0, batch_size=100)
    records = train_and_score(_model(), train, config)
    assert records.history["lr"][0] < 0.1  # one-cycle starts low
    assert np.isnan(records.train["curvature"]).all()


def test_augment_batch_crops_and_flips():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4)
    out = augment_batch(x, torch.Generator().manual_seed(0), pad=0)
    for i in range(2):
        assert torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(-1))
    padded = augment_batch(x, torch.Generator().manual_seed(1), pad=2)
    assert padded.shape == x.shape


def test_bad_config_rejected():
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="cosine")
    with pytest.raises(ValueError, match="score_every"):
        TrainConfig(score_every=-1)


def test_learning_time_and_forgetting():
    correct = np.array([[0, 1, 1, 0], [1, 0, 1, 0], [1, 1, 1, 0]]).astype(float)  # [E=3, N=4]
    np.testing.assert_array_equal(learning_time(correct), [1, 2, 0, 3])
    np.testing.assert_array_equal(forgetting_events(correct), [0, 1, 0, 0])


def test_dynamics_scores_flag_noisy_labels(digits):
    train, _ = digits
    from curvlib.data import inject_label_noise
    from curvlib.metrics import auroc

    noisy, mask = inject_label_noise(train.y, 0.1, 10, seed=0)
    torch.manual_seed(0)
    model = mlp(64, 10, hidden=(128,))
    records = train_and_score(model, train.with_labels(noisy), TrainConfig(epochs=15, lr=0.05, batch_size=32, n_probes=2))
    scores = dynamics_scores(records)
    assert set(scores) >= {"curvature", "csl", "aum", "learning_time", "forgetting", "in_confidence"}
    assert auroc(mask.numpy(), scores["curvature"]) > 0.8
    assert auroc(mask.numpy(), scores["loss_mean"]) > 0.8


def test_distillation_loss_by_hand():
    student, teacher = torch.tensor([[1.0, 0.0, -1.0]]), torch.tensor([[0.0, 2.0, 0.0]])
    y = torch.tensor([2])
    t, w = 3.0, 0.25
    p_s = np.exp(student.numpy()[0] / t) / np.exp(student.numpy()[0] / t).sum()
    p_t = np.exp(teacher.numpy()[0] / t) / np.exp(teacher.numpy()[0] / t).sum()
    ce = -np.log(np.exp(student.numpy()[0])[2] / np.exp(student.numpy()[0]).sum())
    expected = (1 - w) * ce + w * t * t * (p_t * np.log(p_t / p_s)).sum()
    assert Distillation(weight=w, temperature=t).loss(student, y, teacher).item() == pytest.approx(expected, rel=1e-5)
    assert Distillation(temperature=t).loss(teacher, y, teacher).item() == pytest.approx(0.0, abs=1e-6)  # w = 1: labels unused
    with pytest.raises(ValueError, match="weight"):
        Distillation(weight=1.5)


def test_extra_steps_score_like_their_own_runs(digits):
    """curvature_h<h> of a run with extra_h equals the curvature of a run whose h is that step: same probes, and
    training never depends on scoring."""
    train, _ = digits
    both = train_and_score(_model(), train, TrainConfig(epochs=3, score_every=2, n_probes=3, h=1e-2, extra_h=(1e-3,)))
    alone = train_and_score(_model(), train, TrainConfig(epochs=3, score_every=2, n_probes=3, h=1e-3))
    np.testing.assert_allclose(both.train["curvature_h0.001"], alone.train["curvature"], rtol=1e-5, equal_nan=True)
    assert not np.allclose(both.average("curvature"), both.average("curvature_h0.001"))  # the steps differ
    assert "curvature_h0.001" in dynamics_scores(both)
    with pytest.raises(ValueError, match="h must be > 0"):
        TrainConfig(extra_h=(0.0,))

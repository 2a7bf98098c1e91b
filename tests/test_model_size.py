from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from curvlib import experiments, model_size
from curvlib.model_size import SizeLadder, bimodality_coefficient, pooled_scale, trajectory_classes
from curvlib.training import TrainConfig

# Hand-made trajectories, one column each, sizes small -> large.
HAND = np.array([
    # increasing, decreasing, cap, constant, small wiggle, peak at the end (increasing, not cap), cap too shallow on the right
    [0.0, 0.9, 0.1, 0.5, 0.50, 0.1, 0.0],
    [0.3, 0.6, 0.8, 0.5, 0.58, 0.3, 0.6],
    [0.6, 0.3, 0.7, 0.5, 0.45, 0.5, 0.7],
    [0.9, 0.1, 0.2, 0.5, 0.52, 0.9, 0.65],
])  # fmt: skip


def test_trajectory_rule_on_hand_made_curves():
    got = trajectory_classes(HAND, None, alpha=0.2)
    assert got.tolist() == ["increasing", "decreasing", "cap", "constant", "constant", "increasing", "increasing"]
    # a larger alpha turns the shallow changes into constants
    assert trajectory_classes(HAND, None, alpha=0.7).tolist() == ["increasing", "decreasing", "constant", "constant", "constant", "increasing", "constant"]


def test_standard_errors_veto_changes_alpha_would_count():
    m = np.array([[0.0, 0.0], [0.3, 0.3]])
    se = np.array([[0.02, 0.2], [0.02, 0.2]])  # second sample: z·√(2·0.04) ≈ 0.57 > its change of 0.3
    assert trajectory_classes(m, se, alpha=0.1).tolist() == ["increasing", "constant"]
    with_nan = np.array([[0.0, np.nan], [0.5, 0.5]])
    assert trajectory_classes(with_nan, None, alpha=0.1).tolist() == ["increasing", "undetermined"]
    with pytest.raises(ValueError, match="sizes >= 2"):
        trajectory_classes(np.zeros((1, 3)), None, alpha=0.1)


def test_bimodality_coefficient_separates_one_mode_from_two():
    rng = np.random.default_rng(0)
    one = rng.normal(size=4000)
    two = np.concatenate([rng.normal(-3, 0.5, 2000), rng.normal(3, 0.5, 2000)])
    assert bimodality_coefficient(one) == pytest.approx(1 / 3, abs=0.03)  # a normal: 1/3
    assert bimodality_coefficient(two) > 5 / 9 > bimodality_coefficient(one)
    with pytest.raises(ValueError, match="at least 4"):
        bimodality_coefficient([1.0, np.nan, 2.0])


def test_pooled_scale_keeps_a_shared_trend():
    values = pd.DataFrame({8: [4.0, 6.0, 8.0], 64: [2.0, 3.0, 4.0]})
    scaled = pooled_scale(values, q=0.0)
    assert scaled.to_numpy().min() == 0 and scaled.to_numpy().max() == 1
    assert (scaled[64] < scaled[8]).all()  # every sample's proxy falls with size, and still does after scaling


def test_ladder_reuses_the_ensemble_path_and_teaches_students(tmp_path, monkeypatch):
    """Two tiny sizes on digits: FZ per size comes from run_feldman_zhang (the one FZ code path), the largest
    size keeps its logits and teaches the students, and every student run names that teacher."""
    calls = []
    real = experiments.run_feldman_zhang
    monkeypatch.setattr(model_size, "run_feldman_zhang", lambda config, **kw: calls.append(config) or real(config, **kw))
    data = replace(experiments.PRESETS["digits_quick"], subset=300, noise=0.1)
    ladder = SizeLadder(data, widths=(4, 32), train=TrainConfig(epochs=3, batch_size=32, score_every=0), n_models=6)
    fz = model_size.fz_per_size(ladder, cache_dir=tmp_path)
    students = model_size.distilled_per_size(ladder, cache_dir=tmp_path)
    assert [c.width for c in calls] == [4, 32, 4, 32]
    assert "logits" in fz[32].arrays and "logits" not in fz[4].arrays
    assert all(c.teacher == ladder.fz_config(32) and c.train.lr == ladder.train.lr / 3 for c in calls[2:])
    assert model_size.fz_trajectories(fz, 0.2).index.tolist() == fz[4].tables["fz"]["index"].tolist()
    summary = model_size.size_summary(fz)
    np.testing.assert_allclose(summary.memorization, summary.acc_in - summary.acc_out, atol=1e-12)
    assert summary.test_accuracy.between(0, 1).all() and len(students[4].tables["fz"]) == 300


def test_both_profiles_have_one_clean_then_two_noisy_ladders():
    """The chapters glue numbers by ladder position: 0 is clean, 1 and 2 carry 10% noise, in both profiles."""
    for profile in ("quick", "paper"):
        ladders = list(model_size.book_ladders(profile).values())
        assert [ladder.data.noise for ladder in ladders] == [0.0, 0.1, 0.1]
        assert all(list(ladder.widths) == sorted(ladder.widths) for ladder in ladders)
